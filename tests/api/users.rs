//! Managing users: sign-up, creation, invitation, listing, look-up and changes.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{
    assert_invalid_only, error_type, home_organization, token_of, StoreKind, TestApp, ADMIN_EMAIL,
    ADMIN_PASSWORD,
};
use bf_security::clock::Clock;
use bf_security::domain::ids;
use bf_security::store::roles::{self, PermissionRow, RoleRow};

both_stores!(
    sign_up_needs_a_token_while_open_sign_up_is_off,
    open_sign_up_lets_anonymous_callers_in_at_a_limited_rate,
    an_administrator_creates_a_user_with_named_roles,
    creating_a_user_refuses_bad_input_with_the_field_named,
    a_user_created_without_a_password_is_mailed_a_code,
    nobody_gives_roles_holding_more_than_he_holds,
    paging_walks_every_member_once_in_both_orders,
    bad_paging_parameters_are_400_naming_the_parameter,
    users_are_looked_up_by_an_email_with_a_plus_raw_or_encoded,
    a_user_sees_only_himself_without_users_read,
    a_user_changes_his_names_but_not_his_own_roles_or_standing,
    disabling_a_user_ends_his_tokens_and_logins,
    roles_are_replaced_in_the_acting_organization,
    changing_the_email_needs_the_password_and_tells_the_old_address,
    changing_the_password_checks_the_current_one_and_the_policy,
    an_invitation_of_a_user_of_another_organization_adds_him_when_accepted,
    an_invitation_of_a_new_email_creates_a_user_enabled_on_acceptance,
    invitations_refuse_bad_input,
    an_invitation_never_takes_over_an_existing_login,
    another_organizations_invitation_never_sets_a_waiting_users_password,
    an_invitation_answers_the_same_for_a_known_and_an_unknown_email,
    sign_ups_of_one_company_at_once_on_two_nodes_each_get_a_code,
);

const PASSWORD: &str = "correct horse battery";

fn kind_of(app: &TestApp) -> StoreKind {
    if app.settings.database_url.starts_with("sqlite:") {
        StoreKind::Sqlite
    } else {
        StoreKind::Postgres
    }
}

/// `/v1/users/...` with the e-mail percent-encoded as a path segment.
fn encoded(email: &str) -> String {
    email.replace('+', "%2B").replace('@', "%40")
}

fn user_of(body: &Value) -> &Value {
    &body["results"][0]
}

fn role_names(user: &Value) -> Vec<String> {
    user["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

/// A role with the given permissions, written straight to the store.
async fn make_role(
    app: &TestApp,
    organization_id: &str,
    name: &str,
    perms: &[(&str, &str)],
) -> String {
    let now = app.clock.now();
    let mut tx = app.app.store.write().await.unwrap();
    let role = RoleRow {
        id: ids::new_id(ids::ROLE),
        organization_id: organization_id.into(),
        name: name.into(),
        description: None,
        default_role: false,
        created: now,
        updated: now,
        changed_by: None,
        revoked: None,
        deleted: false,
    };
    roles::insert_role(&mut tx, &role).await.unwrap();
    for (resource, action) in perms {
        roles::insert_permission(
            &mut tx,
            &PermissionRow {
                id: ids::new_id(ids::PERMISSION),
                role_id: role.id.clone(),
                resource: resource.to_string(),
                action: action.to_string(),
                created: now,
                updated: now,
                changed_by: None,
                revoked: None,
                deleted: false,
            },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    role.id
}

/// Creates a user with a password and roles; answers the user.
async fn create_user(app: &TestApp, token: &str, email: &str, roles: &[&str]) -> Value {
    let body = json!({"email": email, "password": PASSWORD, "roles": roles});
    crate::common::create_user(app, token, body).await
}

async fn sign_up_needs_a_token_while_open_sign_up_is_off(app: TestApp) {
    let body =
        json!({"email": "founder@acme.test", "password": PASSWORD, "companyName": "Acme Ltd"});
    let (status, err) = app
        .call(
            Method::POST,
            "/v1/users/flexcheck",
            None,
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
    let admin = app.admin_token().await;
    let (status, created) = app.post("/v1/users/flexcheck", &admin, body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let user = user_of(&created);
    assert_eq!(user["email"], "founder@acme.test");
    assert_eq!(user["companyName"], "Acme Ltd");
    assert_eq!(role_names(user), vec!["Administrator"]);
    assert_eq!(user["roles"][0]["permissions"][0]["resource"], "*");
    // He logs in to his new organization, its only member.
    let token = token_of(&app, "founder@acme.test", PASSWORD).await;
    let (_, orgs) = app.get("/v1/users/mine/organizations", &token).await;
    assert_eq!(orgs["recordsReturned"], 1);
    assert_eq!(orgs["results"][0]["name"], "Acme Ltd");
    assert_eq!(orgs["results"][0]["customerCode"], "ACMELTD");
    assert_eq!(orgs["results"][0]["id"], user["organizationID"]);
    // A caller without Organizations:create may not.
    let org = home_organization(&app, &admin).await;
    let clerk = make_role(&app, &org, "Clerk", &[("Users", "read")]).await;
    create_user(&app, &admin, "clerk@example.com", &[&clerk]).await;
    let clerk_token = token_of(&app, "clerk@example.com", PASSWORD).await;
    let (status, err) = app
        .post(
            "/v1/users/flexcheck",
            &clerk_token,
            json!({"email": "x@y.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    // Taken e-mail.
    let (status, err) = app
        .post(
            "/v1/users/flexcheck",
            &admin,
            json!({"email": "FOUNDER@acme.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
}

/// Sign-ups naming one company, sent together to two nodes of one database, all succeed, each
/// organization with a customer code of its own: the next free one.
async fn sign_ups_of_one_company_at_once_on_two_nodes_each_get_a_code(app: TestApp) {
    let other = app.another_node().await;
    let admin = app.admin_token().await;
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..12 {
        let node = if i % 2 == 0 { &app } else { &other };
        let request = node
            .http
            .post(node.url("/v1/users/flexcheck"))
            .bearer_auth(&admin)
            .json(
                &json!({"email": format!("founder{i}@shop.test"), "password": PASSWORD,
                          "companyName": "Shop Test"}),
            );
        racers.spawn(async move {
            let res = request.send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        });
    }
    for (status, body) in racers.join_all().await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let codes: HashSet<String> =
        sqlx::query_scalar("SELECT customer_code FROM organizations WHERE name = $1")
            .bind("Shop Test")
            .fetch_all(app.app.store.pool())
            .await
            .unwrap()
            .into_iter()
            .collect();
    let expected: HashSet<String> = std::iter::once("SHOPTEST".to_string())
        .chain((2..=12).map(|n| format!("SHOPTEST{n}")))
        .collect();
    assert_eq!(codes, expected);
}

async fn open_sign_up_lets_anonymous_callers_in_at_a_limited_rate(app: TestApp) {
    let kind = kind_of(&app);
    drop(app);
    let app = TestApp::spawn_with(kind, |s| {
        s.signup.open = true;
        s.signup.per_address_per_hour = 2;
    })
    .await
    .unwrap();
    let sign_up = |body: Value| app.call(Method::POST, "/v1/users/flexcheck", None, Some(body));
    let (status, body) = sign_up(json!({"email": "first@shop.test", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // No company name: the organization is named after the e-mail's domain.
    let token = token_of(&app, "first@shop.test", PASSWORD).await;
    let (_, orgs) = app.get("/v1/users/mine/organizations", &token).await;
    assert_eq!(orgs["results"][0]["name"], "shop.test");
    assert_eq!(orgs["results"][0]["customerCode"], "SHOPTEST");
    // The password is required, under the policy.
    let (status, body) = sign_up(json!({"email": "second@shop.test"})).await;
    assert_invalid_only(status, &body, "password");
    // Two attempts an hour from one address.
    let (status, body) = sign_up(json!({"email": "third@shop.test", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(error_type(&body), "RateLimited");
    let res = app
        .http
        .post(app.url("/v1/users/flexcheck"))
        .json(&json!({"email": "third@shop.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    app.clock.advance_seconds(3600);
    let (status, body) = sign_up(json!({"email": "third@shop.test", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Same company name: a distinct customer code.
    let (_, orgs) = app
        .get(
            "/v1/users/mine/organizations",
            &token_of(&app, "third@shop.test", PASSWORD).await,
        )
        .await;
    assert_eq!(orgs["results"][0]["customerCode"], "SHOPTEST2");
}

async fn an_administrator_creates_a_user_with_named_roles(app: TestApp) {
    let admin = app.admin_token().await;
    let org = home_organization(&app, &admin).await;
    let support = make_role(&app, &org, "Support", &[("Users", "read")]).await;
    let (status, body) = app
        .post(
            "/v1/users",
            &admin,
            json!({
                "email": " Bea.Lee@Example.com ", "password": PASSWORD, "firstName": "Bea",
                "lastName": "Lee", "companyName": "Example", "timezone": "europe/berlin",
                "roles": ["Administrator", support],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["recordsReturned"], 1);
    let user = user_of(&body);
    assert_eq!(user["email"], "Bea.Lee@Example.com");
    assert_eq!(user["timezone"], "Europe/Berlin");
    assert_eq!(user["enabled"], true);
    assert_eq!(user["organizationID"], org.as_str());
    let mut names = role_names(user);
    names.sort();
    assert_eq!(names, vec!["Administrator", "Support"]);
    assert!(user.get("inviteCode").is_none());
    // He logs in, case-insensitively.
    token_of(&app, "bea.lee@example.com", PASSWORD).await;
    let (status, _) = app
        .post(
            "/v1/users",
            &admin,
            json!({"email": "BEA.LEE@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Audited.
    let mut conn = app.app.store.pool().acquire().await.unwrap();
    let events = bf_security::store::audit::recent(&mut conn, 20)
        .await
        .unwrap();
    assert!(events
        .iter()
        .any(|e| e.action == "user.created" && e.target_id.as_deref() == user["id"].as_str()));
}

async fn creating_a_user_refuses_bad_input_with_the_field_named(app: TestApp) {
    let admin = app.admin_token().await;
    for (body, field) in [
        (json!({}), "email"),
        (json!({"email": "not-an-address"}), "email"),
        (
            json!({"email": "a@b.test", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "a@b.test", "password": "a@b.test"}),
            "password",
        ),
        (
            json!({"email": "a@b.test", "timezone": "Mars/Olympus"}),
            "timezone",
        ),
        (json!({"email": "a@b.test", "roles": ["Nobody"]}), "roles"),
        (
            json!({"email": "a@b.test", "roles": "Administrator"}),
            "roles",
        ),
        (json!({"email": 7}), "email"),
    ] {
        let (status, err) = app.post("/v1/users", &admin, body.clone()).await;
        assert_invalid_only(status, &err, field);
    }
    let (_, err) = app
        .post(
            "/v1/users",
            &admin,
            json!({"email": "a@b.test", "password": "short"}),
        )
        .await;
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("at least 10"),
        "{err}"
    );
    // Nothing was created by the refusals.
    let (_, body) = app.get("/v1/users", &admin).await;
    assert_eq!(body["recordsReturned"], 1);
    // An organization that does not exist: 404, even for a platform administrator.
    let (status, _) = app
        .post(
            "/v1/users",
            &admin,
            json!({"email": "x@y.test", "organizationID": "ORG-nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_user_created_without_a_password_is_mailed_a_code(app: TestApp) {
    let admin = app.admin_token().await;
    let (status, body) = app
        .post(
            "/v1/users",
            &admin,
            json!({"email": "nopass@example.com", "sendEmail": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(user_of(&body)["passwordResetValidTill"].is_string());
    // He cannot log in yet.
    let (status, _) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", "nopass@example.com"),
            ("password", ""),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (text,): (String,) =
        sqlx::query_as("SELECT body_text FROM mail_outbox WHERE recipient = $1")
            .bind("nopass@example.com")
            .fetch_one(app.app.store.pool())
            .await
            .unwrap();
    let code = text
        .lines()
        .find(|l| l.len() == 10 && l.chars().all(|c| c.is_ascii_alphanumeric()))
        .expect("a code alone on a line");
    let (kind, digest): (String, String) = sqlx::query_as("SELECT kind, digest FROM codes")
        .fetch_one(app.app.store.pool())
        .await
        .unwrap();
    assert_eq!(kind, "reset");
    assert_eq!(digest, bf_security::security::secrets::code_digest(code));
    assert!(!text.contains(&digest));
    // Without sendEmail nothing is mailed.
    app.post("/v1/users", &admin, json!({"email": "quiet@example.com"}))
        .await;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM mail_outbox")
        .fetch_one(app.app.store.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
}

async fn nobody_gives_roles_holding_more_than_he_holds(app: TestApp) {
    let admin = app.admin_token().await;
    let org = home_organization(&app, &admin).await;
    let hr = make_role(&app, &org, "HR", &[("Users", "*")]).await;
    make_role(&app, &org, "Reader", &[("Users", "read")]).await;
    create_user(&app, &admin, "hr@example.com", &["HR"]).await;
    let hr_token = token_of(&app, "hr@example.com", PASSWORD).await;
    let (status, err) = app
        .post(
            "/v1/users",
            &hr_token,
            json!({"email": "boss@example.com", "roles": ["Administrator"]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert!(err["errorMessage"]
        .as_str()
        .unwrap()
        .contains("Administrator"));
    let (status, body) = app
        .post(
            "/v1/users",
            &hr_token,
            json!({"email": "reader@example.com", "roles": ["Reader", hr]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Nor by invitation, nor by changing roles.
    let (status, _) = app
        .post(
            "/v1/users/invite",
            &hr_token,
            json!({"email": "boss@example.com", "roles": ["Administrator"]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .put(
            "/v1/users/reader@example.com",
            &hr_token,
            json!({"roles": ["Administrator"]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Without Users:create at all: 403.
    let reader = create_user(&app, &admin, "r2@example.com", &["Reader"]).await;
    let reader_token = token_of(&app, reader["email"].as_str().unwrap(), PASSWORD).await;
    let (status, _) = app
        .post(
            "/v1/users",
            &reader_token,
            json!({"email": "z@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn paging_walks_every_member_once_in_both_orders(app: TestApp) {
    let admin = app.admin_token().await;
    for i in 0..12 {
        // Some share a creation time, so ties must be broken by ID.
        if i % 3 == 0 {
            app.clock.advance_seconds(1);
        }
        let email = format!("member{:02}@{}.test", (i * 7) % 12, i % 2);
        app.post("/v1/users", &admin, json!({"email": email})).await;
    }
    // A user of another organization is not listed.
    app.post(
        "/v1/users/flexcheck",
        &admin,
        json!({"email": "outsider@other.test", "password": PASSWORD}),
    )
    .await;
    // Touch a few, so `updated` differs from `created`.
    app.clock.advance_seconds(10);
    app.put(
        "/v1/users/member03@1.test",
        &admin,
        json!({"firstName": "Zed"}),
    )
    .await;
    for order_by in ["created", "updated", "email"] {
        let mut orders = Vec::new();
        for order in ["ASC", "DESC"] {
            let mut seen = Vec::new();
            let mut path = format!("/v1/users?records=5&order_by={order_by}&order={order}");
            loop {
                let (status, body) = app.get(&path, &admin).await;
                assert_eq!(status, StatusCode::OK, "{path}: {body}");
                let results = body["results"].as_array().unwrap();
                for u in results {
                    assert!(u["roles"].is_array());
                    seen.push((
                        u["email"].as_str().unwrap().to_string(),
                        u[order_by].as_str().unwrap_or("").to_string(),
                    ));
                }
                match body.get("nextPage") {
                    Some(next) => {
                        assert_eq!(results.len(), 5);
                        path = next.as_str().unwrap().to_string();
                    }
                    None => break,
                }
            }
            assert_eq!(seen.len(), 13, "{order_by} {order}: {seen:?}");
            let unique: HashSet<_> = seen.iter().map(|(e, _)| e.clone()).collect();
            assert_eq!(unique.len(), 13, "{order_by} {order}: each once");
            assert!(!unique.contains("outsider@other.test"));
            let keys: Vec<&String> = seen.iter().map(|(_, k)| k).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            if order == "DESC" {
                sorted.reverse();
            }
            if order_by == "email" {
                let emails: Vec<&String> = seen.iter().map(|(e, _)| e).collect();
                let mut s = emails.clone();
                s.sort();
                if order == "DESC" {
                    s.reverse();
                }
                assert_eq!(emails, s, "{order}");
            } else {
                assert_eq!(keys, sorted, "{order_by} {order}");
            }
            orders.push(seen);
        }
        let mut reversed = orders[1].clone();
        reversed.reverse();
        assert_eq!(orders[0], reversed, "{order_by}: DESC is ASC reversed");
    }
    // The admin's own view of the first page of the default order.
    let (_, body) = app.get("/v1/users", &admin).await;
    assert_eq!(body["recordsRequested"], 10);
    assert_eq!(body["recordsReturned"], 10);
    assert_eq!(body["nextPage"], "/v1/users?offset=10&records=10");
}

async fn bad_paging_parameters_are_400_naming_the_parameter(app: TestApp) {
    let admin = app.admin_token().await;
    for (query, field) in [
        ("offset=-1", "offset"),
        ("offset=ten", "offset"),
        ("records=0", "records"),
        ("records=501", "records"),
        ("order_by=name", "order_by"),
        ("order=sideways", "order"),
    ] {
        let (status, body) = app.get(&format!("/v1/users?{query}"), &admin).await;
        assert_invalid_only(status, &body, field);
    }
    let (status, body) = app.get("/v1/users?offset=1000", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["recordsReturned"], 0);
}

async fn users_are_looked_up_by_an_email_with_a_plus_raw_or_encoded(app: TestApp) {
    let admin = app.admin_token().await;
    create_user(&app, &admin, "ann+billing@example.com", &[]).await;
    for path in [
        "/v1/users/username/ann+billing@example.com".to_string(),
        format!("/v1/users/username/{}", encoded("ann+billing@example.com")),
        "/v1/users/username/ann+billing%40example.com".to_string(),
        "/v1/users/username/ANN+Billing@Example.com".to_string(),
    ] {
        let (status, body) = app.get(&path, &admin).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(user_of(&body)["email"], "ann+billing@example.com");
    }
    // A plus is not a space.
    let (status, _) = app
        .get("/v1/users/username/ann%20billing@example.com", &admin)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .get("/v1/users/username/nobody@example.com", &admin)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The e-mail in the other paths too.
    let (status, body) = app
        .put(
            &format!("/v1/users/{}", encoded("ann+billing@example.com")),
            &admin,
            json!({"lastName": "Plus"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .put(
            "/v1/users/ann+billing@example.com/password",
            &admin,
            json!({"newPassword": "another good password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    token_of(&app, "ann+billing@example.com", "another good password").await;
}

async fn a_user_sees_only_himself_without_users_read(app: TestApp) {
    let admin = app.admin_token().await;
    create_user(&app, &admin, "plain@example.com", &[]).await;
    create_user(&app, &admin, "other@example.com", &[]).await;
    let token = token_of(&app, "plain@example.com", PASSWORD).await;
    let (status, body) = app
        .get("/v1/users/username/plain@example.com", &token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app
        .get("/v1/users/username/other@example.com", &token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get("/v1/users", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A user of another organization is not visible even to a reader here.
    app.post(
        "/v1/users/flexcheck",
        &admin,
        json!({"email": "elsewhere@other.test", "password": PASSWORD}),
    )
    .await;
    let org = home_organization(&app, &admin).await;
    make_role(&app, &org, "Reader", &[("Users", "read")]).await;
    create_user(&app, &admin, "reader@example.com", &["Reader"]).await;
    let reader = token_of(&app, "reader@example.com", PASSWORD).await;
    let (status, _) = app
        .get("/v1/users/username/elsewhere@other.test", &reader)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get("/v1/users/username/other@example.com", &reader)
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn a_user_changes_his_names_but_not_his_own_roles_or_standing(app: TestApp) {
    let admin = app.admin_token().await;
    create_user(&app, &admin, "self@example.com", &[]).await;
    create_user(&app, &admin, "neighbour@example.com", &[]).await;
    let token = token_of(&app, "self@example.com", PASSWORD).await;
    let (status, body) = app
        .put(
            "/v1/users/self@example.com",
            &token,
            json!({"firstName": "Sam", "timezone": "America/New_York"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user = user_of(&body);
    assert_eq!(user["firstName"], "Sam");
    assert_eq!(user["timezone"], "America/New_York");
    assert!(user["lastName"].is_null(), "absent fields are left alone");
    let (status, body) = app
        .put(
            "/v1/users/self@example.com",
            &token,
            json!({"timezone": "Nowhere/Land"}),
        )
        .await;
    assert_invalid_only(status, &body, "timezone");
    for change in [
        json!({"enabled": false}),
        json!({"roles": ["Administrator"]}),
    ] {
        let (status, _) = app
            .put("/v1/users/self@example.com", &token, change.clone())
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{change}");
        // Not even an administrator changes his own.
        let (status, _) = app
            .put(&format!("/v1/users/{ADMIN_EMAIL}"), &admin, change.clone())
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{change}");
    }
    // Nor anything of another user without Users:update.
    let (status, _) = app
        .put(
            "/v1/users/neighbour@example.com",
            &token,
            json!({"firstName": "X"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn disabling_a_user_ends_his_tokens_and_logins(app: TestApp) {
    let admin = app.admin_token().await;
    create_user(&app, &admin, "leaver@example.com", &[]).await;
    let token = token_of(&app, "leaver@example.com", PASSWORD).await;
    let (status, _) = app.get("/v1/users/mine", &token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .put(
            "/v1/users/leaver@example.com",
            &admin,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(user_of(&body)["enabled"], false);
    let (status, _) = app.get("/v1/users/mine", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", "leaver@example.com"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (revoked,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE u.email_key = 'leaver@example.com' AND t.revoked IS NULL",
    )
    .fetch_one(app.app.store.pool())
    .await
    .unwrap();
    assert_eq!(revoked, 0);
    let (status, _) = app
        .put(
            "/v1/users/leaver@example.com",
            &admin,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    token_of(&app, "leaver@example.com", PASSWORD).await;
}

async fn roles_are_replaced_in_the_acting_organization(app: TestApp) {
    let admin = app.admin_token().await;
    let org = home_organization(&app, &admin).await;
    make_role(&app, &org, "Reader", &[("Users", "read")]).await;
    make_role(&app, &org, "Writer", &[("Users", "update")]).await;
    create_user(&app, &admin, "worker@example.com", &["Reader"]).await;
    let (status, body) = app
        .put(
            "/v1/users/worker@example.com",
            &admin,
            json!({"roles": ["Writer"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(role_names(user_of(&body)), vec!["Writer"]);
    let (status, body) = app
        .put(
            "/v1/users/worker@example.com",
            &admin,
            json!({"roles": ["Ghost"]}),
        )
        .await;
    assert_invalid_only(status, &body, "roles");
    let token = token_of(&app, "worker@example.com", PASSWORD).await;
    let (status, _) = app.get("/v1/users", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "Reader was taken away");
}

async fn changing_the_email_needs_the_password_and_tells_the_old_address(app: TestApp) {
    let admin = app.admin_token().await;
    create_user(&app, &admin, "old+tag@example.com", &[]).await;
    create_user(&app, &admin, "taken@example.com", &[]).await;
    let token = token_of(&app, "old+tag@example.com", PASSWORD).await;
    let path = format!("/v1/users/{}/email", encoded("old+tag@example.com"));
    let (status, body) = app
        .put(&path, &token, json!({"newEmail": "new@example.com"}))
        .await;
    assert_invalid_only(status, &body, "password");
    let (status, body) = app
        .put(
            &path,
            &token,
            json!({"newEmail": "new@example.com", "password": "wrong password!"}),
        )
        .await;
    assert_invalid_only(status, &body, "password");
    let (status, body) = app
        .put(
            &path,
            &token,
            json!({"newEmail": "bad address", "password": PASSWORD}),
        )
        .await;
    assert_invalid_only(status, &body, "newEmail");
    let (status, _) = app
        .put(
            &path,
            &token,
            json!({"newEmail": "Taken@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = app
        .put(
            &path,
            &token,
            json!({"newEmail": "new@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(user_of(&body)["email"], "new@example.com");
    token_of(&app, "new@example.com", PASSWORD).await;
    let (status, _) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", "old+tag@example.com"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (subject, text): (String, String) =
        sqlx::query_as("SELECT subject, body_text FROM mail_outbox WHERE recipient = $1")
            .bind("old+tag@example.com")
            .fetch_one(app.app.store.pool())
            .await
            .unwrap();
    assert!(subject.contains("changed"), "{subject}");
    assert!(text.contains("new@example.com"));
    // An administrator needs no password for another user.
    let (status, body) = app
        .put(
            "/v1/users/new@example.com/email",
            &admin,
            json!({"newEmail": "newer@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app
        .get("/v1/users/username/newer@example.com", &admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    // The listing orders by the new address.
    let (_, body) = app
        .get("/v1/users?order_by=email&order=DESC&records=1", &admin)
        .await;
    assert_eq!(user_of(&body)["email"], "taken@example.com");
}

async fn changing_the_password_checks_the_current_one_and_the_policy(app: TestApp) {
    let admin = app.admin_token().await;
    create_user(&app, &admin, "pw@example.com", &[]).await;
    let first = token_of(&app, "pw@example.com", PASSWORD).await;
    let second = token_of(&app, "pw@example.com", PASSWORD).await;
    let path = "/v1/users/pw@example.com/password";
    let (status, body) = app
        .put(
            path,
            &first,
            json!({"currentPassword": "not it at all", "newPassword": "a fine new password"}),
        )
        .await;
    assert_invalid_only(status, &body, "currentPassword");
    let (status, body) = app
        .put(path, &first, json!({"newPassword": "a fine new password"}))
        .await;
    assert_invalid_only(status, &body, "currentPassword");
    for (new, rule) in [("short", "at least 10"), ("pw@example.com", "e-mail")] {
        let (status, body) = app
            .put(
                path,
                &first,
                json!({"currentPassword": PASSWORD, "newPassword": new}),
            )
            .await;
        assert_invalid_only(status, &body, "newPassword");
        assert!(
            body["errorMessage"].as_str().unwrap().contains(rule),
            "{body}"
        );
    }
    let (status, body) = app
        .put(
            path,
            &first,
            json!({"currentPassword": PASSWORD, "newPassword": "a fine new password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The calling token goes on; his other tokens end.
    let (status, _) = app.get("/v1/users/mine", &first).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/v1/users/mine", &second).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    token_of(&app, "pw@example.com", "a fine new password").await;
    // An administrator sets another's without knowing the current one.
    let (status, body) = app
        .put(path, &admin, json!({"newPassword": "set by the admin"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.get("/v1/users/mine", &first).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    token_of(&app, "pw@example.com", "set by the admin").await;
    let _ = ADMIN_PASSWORD;
}

const PASSWORD_UPDATE: &str = "/v1/users/password-reset/password-update";
const ACCEPT: &str = "/v1/users/invite/accept";

/// Sets a password with a code, anonymously, as an invitee (or anybody) would.
async fn set_password(
    app: &TestApp,
    email: &str,
    code: &str,
    password: &str,
) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        PASSWORD_UPDATE,
        None,
        Some(json!({"email": email, "resetCode": code, "newPassword": password})),
    )
    .await
}

/// Invites with `sendEmail: false`; answers the invitation as answered.
async fn invite(app: &TestApp, token: &str, mut body: Value) -> Value {
    body["sendEmail"] = json!(false);
    let (status, answer) = app.post("/v1/users/invite", token, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    user_of(&answer).clone()
}

fn code_of(invitation: &Value) -> String {
    invitation["inviteCode"].as_str().unwrap().to_string()
}

async fn organization_ids(app: &TestApp, token: &str) -> Vec<String> {
    let (status, body) = app.get("/v1/users/mine/organizations", token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

async fn an_invitation_of_a_user_of_another_organization_adds_him_when_accepted(app: TestApp) {
    let admin = app.admin_token().await;
    let default_org = home_organization(&app, &admin).await;
    let (status, body) = app
        .post(
            "/v1/users/flexcheck",
            &admin,
            json!({"email": "bob@partner.test", "password": PASSWORD, "companyName": "Partner"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let partner_org = user_of(&body)["organizationID"]
        .as_str()
        .unwrap()
        .to_string();
    make_role(&app, &default_org, "Reader", &[("Users", "read")]).await;
    let (status, body) = app
        .post(
            "/v1/users/invite",
            &admin,
            json!({"email": "BOB@partner.test", "roles": ["Reader"], "sendEmail": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let invited = user_of(&body);
    // The invitation, as the inviter asked for it; not Bob's own record.
    assert_eq!(invited["email"], "BOB@partner.test");
    assert_eq!(invited["enabled"], false);
    assert_eq!(invited["organizationID"], default_org.as_str());
    assert!(
        invited["id"].as_str().unwrap().starts_with("COD-"),
        "{invited}"
    );
    assert_eq!(role_names(invited), vec!["Reader"]);
    let code = invited["inviteCode"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 10);
    // Nothing was mailed, and only the digest is stored.
    let (mails,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM mail_outbox")
        .fetch_one(app.app.store.pool())
        .await
        .unwrap();
    assert_eq!(mails, 0);
    let stored: Vec<String> = sqlx::query_scalar("SELECT digest FROM codes WHERE kind = 'invite'")
        .fetch_all(app.app.store.pool())
        .await
        .unwrap();
    assert_eq!(
        stored,
        vec![bf_security::security::secrets::code_digest(&code)]
    );
    // Not a member before accepting.
    let bob = token_of(&app, "bob@partner.test", PASSWORD).await;
    let (_, orgs) = app.get("/v1/users/mine/organizations", &bob).await;
    assert_eq!(orgs["recordsReturned"], 1);
    let (status, _) = app.get("/v1/users/username/bob@partner.test", &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not visible in Default yet");
    app.clock.advance_seconds(1);
    // He accepts as himself.
    let (status, body) = app
        .post(ACCEPT, &bob, json!({"inviteCode": code.to_lowercase()}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(user_of(&body)["email"], "bob@partner.test");
    assert_eq!(role_names(user_of(&body)), vec!["Reader"]);
    let (status, body) = app.post(ACCEPT, &bob, json!({"inviteCode": code})).await;
    assert_invalid_only(status, &body, "inviteCode");
    let (_, orgs) = app.get("/v1/users/mine/organizations", &bob).await;
    let ids: Vec<&str> = orgs["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![partner_org.as_str(), default_org.as_str()]);
    // He acts in both: with the invitation's role in Default.
    let (status, body) = app
        .get(
            &format!("/v1/users/mine?organizations={default_org}&organizations={partner_org}"),
            &bob,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut names = role_names(user_of(&body));
    names.sort();
    assert_eq!(names, vec!["Administrator", "Reader"]);
    let (status, body) = app
        .get(&format!("/v1/users?organizations={default_org}"), &bob)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["recordsReturned"], 2);
    // Acting in both, he is listed once, with his roles in both.
    let (status, body) = app
        .get(
            &format!("/v1/users?organizations={default_org}&organizations={partner_org}&order_by=email&order=ASC"),
            &bob,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let emails: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec![ADMIN_EMAIL, "bob@partner.test"]);
    let mut names = role_names(&body["results"][1]);
    names.sort();
    assert_eq!(names, vec!["Administrator", "Reader"]);
    let in_default = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", "bob@partner.test"),
            ("password", PASSWORD),
            ("organizationID", &default_org),
        ])
        .await;
    assert_eq!(in_default.0, StatusCode::OK);
    // Invited again where he is a member: 409.
    let (status, _) = app
        .post(
            "/v1/users/invite",
            &admin,
            json!({"email": "bob@partner.test"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn an_invitation_of_a_new_email_creates_a_user_enabled_on_acceptance(app: TestApp) {
    let admin = app.admin_token().await;
    let (status, body) = app
        .post(
            "/v1/users/invite",
            &admin,
            json!({"email": "newbie@example.com", "firstName": "New", "roles": ["Administrator"],
                   "expiresInHours": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user = user_of(&body);
    assert_eq!(user["enabled"], false);
    assert_eq!(user["firstName"], "New");
    assert!(user.get("inviteCode").is_none(), "mailed, not shown");
    let (subject, text): (String, String) =
        sqlx::query_as("SELECT subject, body_text FROM mail_outbox WHERE recipient = $1")
            .bind("newbie@example.com")
            .fetch_one(app.app.store.pool())
            .await
            .unwrap();
    assert!(subject.contains("Default"), "{subject}");
    let code = text
        .lines()
        .find(|l| l.len() == 10 && l.chars().all(|c| c.is_ascii_alphanumeric()))
        .expect("the code alone on a line")
        .to_string();
    let mut conn = app.app.store.pool().acquire().await.unwrap();
    let events = bf_security::store::audit::recent(&mut conn, 10)
        .await
        .unwrap();
    drop(conn);
    for action in ["user.invited", "mail.queued"] {
        assert!(events.iter().any(|e| e.action == action), "{action}");
    }
    // A second invitation replaces the first.
    let (status, body) = app
        .post(
            "/v1/users/invite",
            &admin,
            json!({"email": "newbie@example.com", "sendEmail": false, "roles": ["Administrator"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = user_of(&body)["inviteCode"].as_str().unwrap().to_string();
    let (status, body) = set_password(&app, "newbie@example.com", &code, PASSWORD).await;
    assert_invalid_only(status, &body, "resetCode");
    // Expired after its hours.
    app.clock.advance_seconds(73 * 3600);
    let (status, body) = set_password(&app, "newbie@example.com", &second, PASSWORD).await;
    assert_invalid_only(status, &body, "resetCode");
    let admin = app.admin_token().await;
    let (_, body) = app
        .post(
            "/v1/users/invite",
            &admin,
            json!({"email": "newbie@example.com", "sendEmail": false, "roles": ["Administrator"]}),
        )
        .await;
    let third = user_of(&body)["inviteCode"].as_str().unwrap().to_string();
    // Renewed by the organization whose invitation created him, it still sets his password.
    let (status, body) = set_password(&app, "newbie@example.com", &third, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app
        .get("/v1/users/username/newbie@example.com", &admin)
        .await;
    let user = user_of(&body);
    assert_eq!(user["enabled"], true);
    assert_eq!(role_names(user), vec!["Administrator"]);
}

async fn invitations_refuse_bad_input(app: TestApp) {
    let admin = app.admin_token().await;
    for (body, field) in [
        (json!({}), "email"),
        (json!({"email": "nope"}), "email"),
        (
            json!({"email": "a@b.test", "expiresInHours": 721}),
            "expiresInHours",
        ),
        (
            json!({"email": "a@b.test", "expiresInHours": 0}),
            "expiresInHours",
        ),
        (json!({"email": "a@b.test", "roles": ["Ghost"]}), "roles"),
        (
            json!({"email": "a@b.test", "sendEmail": "yes"}),
            "sendEmail",
        ),
    ] {
        let (status, err) = app.post("/v1/users/invite", &admin, body).await;
        assert_invalid_only(status, &err, field);
    }
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/users/invite",
            None,
            Some(json!({"email": "a@b.test"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn an_invitation_never_takes_over_an_existing_login(app: TestApp) {
    let kind = kind_of(&app);
    drop(app);
    let app = TestApp::spawn_with(kind, |s| s.signup.open = true)
        .await
        .unwrap();
    let before = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admin = before["access_token"].as_str().unwrap().to_string();
    let admin_orgs = organization_ids(&app, &admin).await;

    // Open sign-up gives the attacker an organization of his own, where he may invite.
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/users/flexcheck",
            None,
            Some(json!({"email": "mallory@evil.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mallory = token_of(&app, "mallory@evil.test", PASSWORD).await;
    let invitation = invite(&app, &mallory, json!({"email": ADMIN_EMAIL})).await;
    let code = code_of(&invitation);

    // The code does not set the administrator's password: the one generic 400.
    let (status, refused) = set_password(&app, ADMIN_EMAIL, &code, "mallory owns it now").await;
    assert_invalid_only(status, &refused, "resetCode");
    let (_, wrong) = set_password(&app, ADMIN_EMAIL, "0000000000", "mallory owns it now").await;
    assert_eq!(refused, wrong, "answered as a wrong code");
    let (status, _) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", ADMIN_EMAIL),
            ("password", "mallory owns it now"),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (status, _) = app.get("/v1/users/mine", &admin).await;
    assert_eq!(status, StatusCode::OK, "his tokens still work");
    let (status, body) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", before["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Nor does the attacker accept it for him.
    let (status, body) = app
        .post(ACCEPT, &mallory, json!({"inviteCode": code}))
        .await;
    assert_invalid_only(status, &body, "inviteCode");
    assert_eq!(organization_ids(&app, &mallory).await.len(), 1);
    assert_eq!(organization_ids(&app, &admin).await, admin_orgs);

    // The administrator himself may.
    let (status, body) = app.post(ACCEPT, &admin, json!({"inviteCode": code})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(user_of(&body)["email"], ADMIN_EMAIL);
    assert_eq!(organization_ids(&app, &admin).await.len(), 2);
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
}

async fn another_organizations_invitation_never_sets_a_waiting_users_password(app: TestApp) {
    let admin = app.admin_token().await;
    let org_a = home_organization(&app, &admin).await;
    let (org_b, boss_role) = crate::common::create_organization(&app, "Other").await;
    crate::common::create_member(&app, &org_b, "boss@b.example", PASSWORD, &[&boss_role]).await;
    let boss = token_of(&app, "boss@b.example", PASSWORD).await;

    // A's invitation creates him; B invites him too while he waits.
    let from_a = code_of(&invite(&app, &admin, json!({"email": "wait@example.com"})).await);
    let from_b = code_of(&invite(&app, &boss, json!({"email": "wait@example.com"})).await);
    let (status, body) = set_password(&app, "wait@example.com", &from_b, "b chose this one").await;
    assert_invalid_only(status, &body, "resetCode");
    let (_, body) = app.get("/v1/users/username/wait@example.com", &admin).await;
    assert_eq!(user_of(&body)["enabled"], false, "{body}");

    // A's invitation, the one that created him, sets it; B's he accepts as himself.
    let (status, body) = set_password(&app, "wait@example.com", &from_a, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(user_of(&body)["enabled"], true);
    let waited = token_of(&app, "wait@example.com", PASSWORD).await;
    assert_eq!(organization_ids(&app, &waited).await, vec![org_a.clone()]);
    let (status, body) = app
        .post(ACCEPT, &waited, json!({"inviteCode": from_b}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(organization_ids(&app, &waited).await, vec![org_a, org_b]);
}

async fn an_invitation_answers_the_same_for_a_known_and_an_unknown_email(app: TestApp) {
    let admin = app.admin_token().await;
    let (status, body) = app
        .put(
            &format!("/v1/users/{ADMIN_EMAIL}"),
            &admin,
            json!({"firstName": "Rootsy", "lastName": "Adminson", "timezone": "Europe/Paris"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let admin_user = user_of(&body).clone();
    app.clock.advance_seconds(10);
    let (org_b, boss_role) = crate::common::create_organization(&app, "Curious").await;
    crate::common::create_member(&app, &org_b, "boss@b.example", PASSWORD, &[&boss_role]).await;
    let boss = token_of(&app, "boss@b.example", PASSWORD).await;

    let known = invite(
        &app,
        &boss,
        json!({"email": ADMIN_EMAIL, "firstName": "Given"}),
    )
    .await;
    let unknown = invite(
        &app,
        &boss,
        json!({"email": "nobody@b.example", "firstName": "Given"}),
    )
    .await;
    let keys = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<String>>()
    };
    assert_eq!(keys(&known), keys(&unknown));
    for (field, value) in [
        ("organizationID", json!(org_b)),
        ("firstName", json!("Given")),
        ("lastName", Value::Null),
        ("companyName", Value::Null),
        ("timezone", Value::Null),
        ("enabled", json!(false)),
        ("bfAdmin", json!(false)),
        ("roles", json!([])),
    ] {
        assert_eq!(known[field], value, "{field}: {known}");
        assert_eq!(unknown[field], value, "{field}: {unknown}");
    }
    assert_eq!(known["email"], ADMIN_EMAIL);
    assert!(known["passwordResetValidTill"].is_string(), "{known}");
    // The code shown once is not to be kept by caches on the way.
    let res = app
        .http
        .post(app.url("/v1/users/invite"))
        .bearer_auth(&boss)
        .json(&json!({"email": "third@b.example", "sendEmail": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    let text = known.to_string();
    for foreign in [
        "id",
        "organizationID",
        "firstName",
        "lastName",
        "timezone",
        "created",
    ] {
        let theirs = admin_user[foreign].as_str().unwrap();
        assert!(!text.contains(theirs), "{foreign} {theirs} shows in {text}");
    }
}
