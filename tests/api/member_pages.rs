//! Pages of an organization's members at deep offsets, read from the positions a node keeps in
//! memory (anchors, here every `EVERY`-th member), are exactly the pages of the plain listing:
//! in every order and direction, past the end, and after every kind of change to the members,
//! made on the same node or on another node of the same database.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{create_user, home_organization, StoreKind, TestApp, ADMIN_EMAIL};
use crate::stories_of_kind;

stories_of_kind!(
    deep_pages_are_the_plain_listing_through_every_change,
    a_change_made_on_another_node_is_seen_by_the_next_page,
    pages_of_several_organizations_are_the_plain_listing,
);

/// Small, so that a dozen members have several anchors.
const EVERY: i64 = 3;
const PASSWORD: &str = "correct horse battery";

async fn spawn(kind: StoreKind) -> Option<TestApp> {
    TestApp::spawn_with(kind, |s| s.users.anchor_every = EVERY).await
}

/// The e-mails of one page of `GET /v1/users?{query}`, and whether it links a next page.
async fn listing(app: &TestApp, token: &str, query: &str) -> (Vec<String>, bool) {
    let path = format!("/v1/users?{query}");
    let (status, body) = app.get(&path, token).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    let emails = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_string())
        .collect();
    (emails, body.get("nextPage").is_some())
}

/// Every page, at every offset from 0 to past the end and of 1, 2 and 5 records, in the three
/// orders and both directions, against the slice of the whole listing (read at offset 0, where
/// no anchor is used). Answers how many members are listed.
async fn every_page_matches(app: &TestApp, token: &str, organizations: &str) -> usize {
    let mut members = 0;
    for order_by in ["created", "updated", "email"] {
        for order in ["ASC", "DESC"] {
            let base = format!("order_by={order_by}&order={order}{organizations}");
            let (all, more) = listing(app, token, &format!("{base}&offset=0&records=500")).await;
            assert!(!more);
            members = all.len();
            for records in [1, 2, 5] {
                for offset in 0..=all.len() + EVERY as usize + 1 {
                    let query = format!("{base}&offset={offset}&records={records}");
                    let (page, more) = listing(app, token, &query).await;
                    let from = offset.min(all.len());
                    let to = (offset + records).min(all.len());
                    assert_eq!(page, all[from..to], "{query}");
                    assert_eq!(more, offset + records < all.len(), "{query}: more");
                }
            }
            let query = format!("{base}&offset=1000000000000000&records=5");
            assert_eq!(
                listing(app, token, &query).await,
                (vec![], false),
                "{query}"
            );
        }
    }
    members
}

/// A dozen members in an order of e-mails unlike their order of creation, some created in the
/// same second (ties broken by ID).
async fn seed(app: &TestApp, token: &str, prefix: &str) {
    for i in 0..12 {
        if i % 3 == 0 {
            app.clock.advance_seconds(1);
        }
        let email = format!("{prefix}{:02}@example.test", (i * 7) % 12);
        create_user(app, token, json!({"email": email, "password": PASSWORD})).await;
    }
}

/// Accepts an invitation as the code's recipient would.
async fn accept(app: &TestApp, code: &str) {
    use bf_security::service::change::Change;
    let digest = bf_security::security::secrets::code_digest(code);
    let mut change = Change::begin(&app.app).await.unwrap();
    let row = bf_security::store::codes::find_by_digest(&mut change.tx, &digest)
        .await
        .unwrap()
        .expect("the invitation");
    bf_security::service::invitations::accept_invitation(&mut change, &row)
        .await
        .unwrap();
    change.commit().await.unwrap();
}

async fn deep_pages_are_the_plain_listing_through_every_change(kind: StoreKind) {
    let Some(app) = spawn(kind).await else { return };
    let admin = app.admin_token().await;
    seed(&app, &admin, "m").await;
    assert_eq!(every_page_matches(&app, &admin, "").await, 13);
    // Anchors of each order were built, and are kept.
    assert_eq!(app.app.member_anchors.len(), 3);

    // Each change leaves the node's anchors in memory, out of date: the next deep pages must
    // notice, read the plain way and build them again.
    app.clock.advance_seconds(1);
    create_user(&app, &admin, json!({"email": "a-first@example.test"})).await;
    assert_eq!(app.app.member_anchors.len(), 3);
    assert_eq!(every_page_matches(&app, &admin, "").await, 14);

    // New names: he is updated last.
    app.clock.advance_seconds(1);
    let (status, _) = app
        .put(
            "/v1/users/m05@example.test",
            &admin,
            json!({"firstName": "Moved"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(every_page_matches(&app, &admin, "").await, 14);

    // A new e-mail: he moves in the e-mail order.
    app.clock.advance_seconds(1);
    let (status, body) = app
        .put(
            "/v1/users/m08@example.test/email",
            &admin,
            json!({"newEmail": "a-second@example.test"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(every_page_matches(&app, &admin, "").await, 14);

    // A member of another organization joins this one by invitation: a new membership of a
    // user created earlier than most.
    let (status, _) = app
        .post(
            "/v1/users/flexcheck",
            &admin,
            json!({"email": "partner@other.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(every_page_matches(&app, &admin, "").await, 14);
    app.clock.advance_seconds(1);
    let (status, body) = app
        .post(
            "/v1/users/invite",
            &admin,
            json!({"email": "partner@other.test", "sendEmail": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    accept(&app, body["results"][0]["inviteCode"].as_str().unwrap()).await;
    assert_eq!(every_page_matches(&app, &admin, "").await, 15);

    // A new password changes `updated` too.
    app.clock.advance_seconds(1);
    let (status, body) = app
        .put(
            "/v1/users/m01@example.test/password",
            &admin,
            json!({"newPassword": "another good password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(every_page_matches(&app, &admin, "").await, 15);
}

async fn a_change_made_on_another_node_is_seen_by_the_next_page(kind: StoreKind) {
    let Some(one) = spawn(kind).await else { return };
    let other = one.another_node().await;
    let admin = one.admin_token().await;
    seed(&one, &admin, "n").await;
    // Both nodes hold anchors of the same members.
    assert_eq!(every_page_matches(&one, &admin, "").await, 13);
    assert_eq!(every_page_matches(&other, &admin, "").await, 13);
    // Each change on the other node leaves this one's anchors in its memory, out of date.
    one.clock.advance_seconds(1);
    create_user(&other, &admin, json!({"email": "a-new@example.test"})).await;
    assert_eq!(one.app.member_anchors.len(), 3);
    // The first deep page on this node after the change is already right.
    let (page, _) = listing(&one, &admin, "order_by=email&order=ASC&offset=3&records=2").await;
    let (all, _) = listing(&one, &admin, "order_by=email&order=ASC&records=500").await;
    assert_eq!(page, all[3..5]);
    assert_eq!(every_page_matches(&one, &admin, "").await, 14);
    one.clock.advance_seconds(1);
    let (status, _) = other
        .put(
            "/v1/users/n03@example.test",
            &admin,
            json!({"lastName": "Changed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(every_page_matches(&one, &admin, "").await, 14);
    one.clock.advance_seconds(1);
    let (status, _) = other
        .put(
            "/v1/users/n10@example.test/email",
            &admin,
            json!({"newEmail": "a-renamed@example.test"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(every_page_matches(&one, &admin, "").await, 14);
    // And the other way round.
    one.clock.advance_seconds(1);
    create_user(&one, &admin, json!({"email": "a-newer@example.test"})).await;
    assert_eq!(every_page_matches(&other, &admin, "").await, 15);
}

async fn pages_of_several_organizations_are_the_plain_listing(kind: StoreKind) {
    let Some(app) = spawn(kind).await else { return };
    let admin = app.admin_token().await;
    let home = home_organization(&app, &admin).await;
    seed(&app, &admin, "h").await;
    let (status, body) = app
        .post(
            "/v1/users/flexcheck",
            &admin,
            json!({"email": "owner@second.test", "password": PASSWORD, "companyName": "Second"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = body["results"][0]["organizationID"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 0..5 {
        app.clock.advance_seconds(1);
        let email = format!("s{i}@second.test");
        create_user(
            &app,
            &admin,
            json!({"email": email, "password": PASSWORD, "organizationID": second}),
        )
        .await;
    }
    // Two members of the first join the second: listed once when acting in both.
    for email in ["h02@example.test", "h09@example.test"] {
        let (status, body) = app
            .post(
                &format!("/v1/users/invite?organizations={second}"),
                &admin,
                json!({"email": email, "sendEmail": false}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        accept(&app, body["results"][0]["inviteCode"].as_str().unwrap()).await;
    }
    let both = format!("&organizations={home},{second}");
    assert_eq!(every_page_matches(&app, &admin, &both).await, 13 + 6);
    assert_eq!(
        every_page_matches(&app, &admin, &format!("&organizations={second}")).await,
        8
    );
    assert_eq!(
        every_page_matches(&app, &admin, &format!("&organizations={home}")).await,
        13
    );
    // The lists of several organizations keep no anchors; each organization's do.
    assert_eq!(app.app.member_anchors.len(), 6);
    let (all, _) = listing(&app, &admin, &format!("records=500{both}")).await;
    assert!(all.contains(&ADMIN_EMAIL.to_string()));
}
