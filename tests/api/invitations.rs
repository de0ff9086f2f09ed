//! Invitations as objects: an organization lists them by state, resends and revokes them; the
//! invitee lists, accepts and declines the invitations made for him.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{
    create_member, create_organization, error_type, home_organization, token_of, TestApp,
};

both_stores!(
    invitations_are_listed_by_state,
    resending_kills_the_old_code_and_mails_a_new_one,
    resending_is_limited_per_invitation,
    revoking_kills_the_code_and_retires_only_a_waiting_user,
    the_invitee_accepts_and_declines_as_himself,
    other_organizations_and_lesser_members_are_refused,
    a_token_bound_to_one_organization_reaches_no_invitation_into_another,
);

const PASSWORD: &str = "member password 1234";
const PASSWORD_UPDATE: &str = "/v1/users/password-reset/password-update";

/// Invites `email` as the caller; answers (invitation ID, code when not mailed).
async fn invite(app: &TestApp, token: &str, body: Value) -> (String, Option<String>) {
    let (status, answer) = app.post("/v1/users/invite", token, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let r = &answer["results"][0];
    (
        r["id"].as_str().unwrap().to_string(),
        r["inviteCode"].as_str().map(str::to_string),
    )
}

async fn set_password(app: &TestApp, email: &str, code: &str) -> StatusCode {
    app.call(
        Method::POST,
        PASSWORD_UPDATE,
        None,
        Some(json!({"email": email, "resetCode": code, "newPassword": PASSWORD})),
    )
    .await
    .0
}

/// The codes mailed to `to`, oldest first.
async fn mailed_codes(app: &TestApp, to: &str) -> Vec<String> {
    let mails: Vec<(String,)> = sqlx::query_as(
        "SELECT body_text FROM mail_outbox WHERE recipient = $1 ORDER BY created, id",
    )
    .bind(to)
    .fetch_all(app.app.store.pool())
    .await
    .unwrap();
    mails
        .iter()
        .map(|(text,)| {
            text.lines()
                .find(|l| l.len() == 10 && l.chars().all(|c| c.is_ascii_alphanumeric()))
                .expect("a code alone on a line")
                .to_string()
        })
        .collect()
}

async fn users_with_email(app: &TestApp, email: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE email_key = $1")
        .bind(email.to_lowercase())
        .fetch_one(app.app.store.pool())
        .await
        .unwrap();
    n
}

/// The IDs of a page of invitations.
fn ids(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

async fn invitations_are_listed_by_state(app: TestApp) {
    let admin = app.admin_token().await;
    let org = home_organization(&app, &admin).await;
    let (accepted, code) = invite(
        &app,
        &admin,
        json!({"email": "accepted@a.example", "sendEmail": false}),
    )
    .await;
    assert_eq!(
        set_password(&app, "accepted@a.example", &code.unwrap()).await,
        StatusCode::OK
    );
    let (revoked, _) = invite(&app, &admin, json!({"email": "revoked@a.example"})).await;
    let (status, body) = app
        .delete(&format!("/v1/invitations/{revoked}"), &admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (expired, _) = invite(
        &app,
        &admin,
        json!({"email": "expired@a.example", "expiresInHours": 1}),
    )
    .await;
    let (pending, _) = invite(
        &app,
        &admin,
        json!({"email": "pending@a.example", "expiresInHours": 48}),
    )
    .await;
    create_member(&app, &org, "declines@a.example", PASSWORD, &[]).await;
    let (b, _) = create_organization(&app, "Decliners").await;
    let (declined, _) = invite(
        &app,
        &admin,
        json!({"email": "declines@a.example", "organizationID": b}),
    )
    .await;
    let decliner = token_of(&app, "declines@a.example", PASSWORD).await;
    let (status, body) = app
        .post(
            &format!("/v1/users/mine/invitations/{declined}/decline"),
            &decliner,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The test's clock, not a sleep: an hour and a bit later the one-hour invitation expired.
    app.clock.advance_seconds(3_700);
    let admin = app.admin_token().await;

    for (state, want) in [
        ("pending", &pending),
        ("accepted", &accepted),
        ("expired", &expired),
        ("revoked", &revoked),
    ] {
        let (status, body) = app
            .get(&format!("/v1/invitations?state={state}"), &admin)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(ids(&body), vec![want.clone()], "{state}: {body}");
        assert_eq!(body["results"][0]["state"], state);
        assert!(body["results"][0].get("inviteCode").is_none());
    }
    let (_, body) = app
        .get(
            &format!("/v1/invitations?state=declined&organizations={b}"),
            &admin,
        )
        .await;
    assert_eq!(ids(&body), vec![declined.clone()], "{body}");
    // Several states, and all of them paged: newest first, ties by ID.
    let (_, body) = app
        .get("/v1/invitations?state=pending,EXPIRED", &admin)
        .await;
    assert_eq!(ids(&body), vec![pending.clone(), expired.clone()]);
    let (_, first) = app.get("/v1/invitations?records=2", &admin).await;
    assert_eq!(ids(&first), vec![pending.clone(), expired.clone()]);
    assert!(first["nextPage"].is_string());
    let (_, rest) = app
        .get("/v1/invitations?records=2&offset=2&order=DESC", &admin)
        .await;
    assert_eq!(ids(&rest), vec![revoked.clone(), accepted.clone()]);
    assert!(rest.get("nextPage").is_none());
    let (_, by_email) = app
        .get("/v1/invitations?order_by=email&order=ASC", &admin)
        .await;
    assert_eq!(by_email["results"][0]["email"], "accepted@a.example");
    let (status, body) = app.get("/v1/invitations?state=lost", &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorParameters"], json!(["state"]));
    let (status, _) = app.get("/v1/invitations?order_by=name", &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn resending_kills_the_old_code_and_mails_a_new_one(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, _) = invite(&app, &admin, json!({"email": "again@a.example"})).await;
    let before = mailed_codes(&app, "again@a.example").await;
    assert_eq!(before.len(), 1);
    // Later, even past its end: it lives again for as long as it was first given.
    app.clock.advance_seconds(73 * 3600);
    let admin = app.admin_token().await;
    let (status, body) = app
        .post(&format!("/v1/invitations/{id}/resend"), &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["id"], id.as_str());
    assert_eq!(body["results"][0]["state"], "pending");
    assert!(body["results"][0].get("inviteCode").is_none());
    let codes = mailed_codes(&app, "again@a.example").await;
    assert_eq!(codes.len(), 2, "a new mail");
    assert_ne!(codes[0], codes[1]);
    assert_eq!(
        set_password(&app, "again@a.example", &codes[0]).await,
        StatusCode::BAD_REQUEST,
        "the old code is dead"
    );
    assert_eq!(
        set_password(&app, "again@a.example", &codes[1]).await,
        StatusCode::OK
    );
    token_of(&app, "again@a.example", PASSWORD).await;
    // Accepted: nothing to resend or revoke.
    for (method, path) in [
        (Method::POST, format!("/v1/invitations/{id}/resend")),
        (Method::DELETE, format!("/v1/invitations/{id}")),
    ] {
        let (status, body) = app.call(method, &path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {body}");
    }
    // The trail says who resent it.
    let (_, events) = app
        .get("/v1/audit-events?kind=invitation.resent", &admin)
        .await;
    assert_eq!(events["results"][0]["targetID"], id.as_str());
}

async fn resending_is_limited_per_invitation(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, _) = invite(&app, &admin, json!({"email": "often@a.example"})).await;
    let (other, _) = invite(&app, &admin, json!({"email": "other@a.example"})).await;
    for _ in 0..3 {
        let (status, body) = app
            .post(&format!("/v1/invitations/{id}/resend"), &admin, json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = app
        .post(&format!("/v1/invitations/{id}/resend"), &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(mailed_codes(&app, "often@a.example").await.len(), 4);
    // Per invitation: another one is not held back.
    let (status, _) = app
        .post(
            &format!("/v1/invitations/{other}/resend"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.clock.advance_seconds(3_601);
    let admin = app.admin_token().await;
    let (status, body) = app
        .post(&format!("/v1/invitations/{id}/resend"), &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn revoking_kills_the_code_and_retires_only_a_waiting_user(app: TestApp) {
    let admin = app.admin_token().await;
    let org = home_organization(&app, &admin).await;
    // A user the invitation created, who never used his account: retired with it.
    let (id, code) = invite(
        &app,
        &admin,
        json!({"email": "waiting@a.example", "sendEmail": false}),
    )
    .await;
    let (status, body) = app.delete(&format!("/v1/invitations/{id}"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["state"], "revoked");
    assert_eq!(body["results"][0]["email"], "waiting@a.example");
    assert_eq!(
        set_password(&app, "waiting@a.example", &code.unwrap()).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(users_with_email(&app, "waiting@a.example").await, 0);
    let (status, _) = app
        .get("/v1/users/username/waiting@a.example", &admin)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Revoked twice: a conflict. Its e-mail is free again.
    let (status, _) = app.delete(&format!("/v1/invitations/{id}"), &admin).await;
    assert_eq!(status, StatusCode::CONFLICT);
    invite(&app, &admin, json!({"email": "waiting@a.example"})).await;
    let (_, events) = app
        .get("/v1/audit-events?kind=invitation.revoked", &admin)
        .await;
    assert_eq!(events["results"][0]["targetID"], id.as_str());
    assert_eq!(events["results"][0]["details"]["userRetired"], true);

    // A user with a password, of another organization: only the invitation ends.
    let (b, _) = create_organization(&app, "Elsewhere").await;
    create_member(&app, &b, "settled@b.example", PASSWORD, &[]).await;
    let (id, _) = invite(&app, &admin, json!({"email": "settled@b.example"})).await;
    let (status, _) = app.delete(&format!("/v1/invitations/{id}"), &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(users_with_email(&app, "settled@b.example").await, 1);
    token_of(&app, "settled@b.example", PASSWORD).await;

    // A user the invitation created who since belongs elsewhere too: kept.
    let (id, _) = invite(&app, &admin, json!({"email": "shared@a.example"})).await;
    let (user_id,): (String,) = sqlx::query_as("SELECT id FROM users WHERE email_key = $1")
        .bind("shared@a.example")
        .fetch_one(app.app.store.pool())
        .await
        .unwrap();
    {
        use bf_security::clock::Clock as _;
        let mut tx = app.app.store.write().await.unwrap();
        bf_security::store::memberships::add_member(&mut tx, &user_id, &b, app.clock.now(), None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let (status, _) = app.delete(&format!("/v1/invitations/{id}"), &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(users_with_email(&app, "shared@a.example").await, 1);
    let (status, _) = app
        .get(
            &format!("/v1/users/username/shared@a.example?organizations={b}"),
            &admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // A user the invitation created who has set a password meanwhile is no longer waiting:
    // a later invitation's revocation leaves him be.
    let (_, code) = invite(
        &app,
        &admin,
        json!({"email": "started@a.example", "sendEmail": false}),
    )
    .await;
    assert_eq!(
        set_password(&app, "started@a.example", &code.unwrap()).await,
        StatusCode::OK
    );
    let (c, _) = create_organization(&app, "Third").await;
    let (id, _) = invite(
        &app,
        &admin,
        json!({"email": "started@a.example", "organizationID": c}),
    )
    .await;
    let (status, _) = app
        .delete(&format!("/v1/invitations/{id}?organizations={c}"), &admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(users_with_email(&app, "started@a.example").await, 1);
    token_of(&app, "started@a.example", PASSWORD).await;
    let _ = org;
}

async fn the_invitee_accepts_and_declines_as_himself(app: TestApp) {
    let admin = app.admin_token().await;
    let org_a = home_organization(&app, &admin).await;
    let (org_b, _) = create_organization(&app, "Beta Corp").await;
    let (org_c, _) = create_organization(&app, "Gamma Corp").await;
    create_member(&app, &org_b, "invitee@b.example", PASSWORD, &[]).await;
    create_member(&app, &org_b, "bystander@b.example", PASSWORD, &[]).await;
    let (status, role) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "Readers", "permissions": [{"resource": "Roles", "action": "read"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{role}");
    let (to_a, _) = invite(
        &app,
        &admin,
        json!({"email": "Invitee@b.example", "roles": ["Readers"]}),
    )
    .await;
    let (to_c, _) = invite(
        &app,
        &admin,
        json!({"email": "invitee@b.example", "organizationID": org_c}),
    )
    .await;
    let me = token_of(&app, "invitee@b.example", PASSWORD).await;
    let other = token_of(&app, "bystander@b.example", PASSWORD).await;

    let (status, mine) = app.get("/v1/users/mine/invitations", &me).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(ids(&mine), vec![to_a.clone(), to_c.clone()]);
    let first = &mine["results"][0];
    assert_eq!(first["organizationID"], org_a.as_str());
    assert!(first["organizationName"].is_string());
    assert!(first["invitedByID"].is_string());
    assert!(first["created"].is_string() && first["expires"].is_string());
    assert!(first.get("roleIDs").is_none() && first.get("email").is_none());
    // Nobody else sees them, accepts or declines them.
    let (_, theirs) = app.get("/v1/users/mine/invitations", &other).await;
    assert_eq!(ids(&theirs), Vec::<String>::new());
    for what in ["accept", "decline"] {
        let (status, body) = app
            .post(
                &format!("/v1/users/mine/invitations/{to_a}/{what}"),
                &other,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {body}");
    }
    let (status, _) = app
        .get(&format!("/v1/users/mine?organizations={org_a}"), &other)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = app
        .post(
            &format!("/v1/users/mine/invitations/{to_a}/accept"),
            &me,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let roles: Vec<&str> = body["results"][0]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(roles, vec!["Readers"]);
    let (status, _) = app
        .get(&format!("/v1/roles?organizations={org_a}"), &me)
        .await;
    assert_eq!(status, StatusCode::OK, "he holds the invitation's role");
    let (status, body) = app
        .post(
            &format!("/v1/users/mine/invitations/{to_c}/decline"),
            &me,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["organizationID"], org_c.as_str());
    let (status, _) = app
        .get(&format!("/v1/users/mine?organizations={org_c}"), &me)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "declining joins nothing");
    // Both ended: neither listed, nor accepted again.
    let (_, mine) = app.get("/v1/users/mine/invitations", &me).await;
    assert_eq!(ids(&mine), Vec::<String>::new());
    for id in [&to_a, &to_c] {
        let (status, _) = app
            .post(
                &format!("/v1/users/mine/invitations/{id}/accept"),
                &me,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (_, listed) = app
        .get(&format!("/v1/invitations?organizations={org_c}"), &admin)
        .await;
    assert_eq!(listed["results"][0]["state"], "declined");
    let (_, events) = app
        .get(
            &format!("/v1/audit-events?kind=invitation.declined&organizations={org_c}"),
            &admin,
        )
        .await;
    assert_eq!(events["results"][0]["targetID"], to_c.as_str());
}

async fn other_organizations_and_lesser_members_are_refused(app: TestApp) {
    let admin = app.admin_token().await;
    let org_a = home_organization(&app, &admin).await;
    let (org_b, admin_b) = create_organization(&app, "Beta").await;
    create_member(&app, &org_b, "boss@b.example", PASSWORD, &[&admin_b]).await;
    let boss_b = token_of(&app, "boss@b.example", PASSWORD).await;
    let (status, reader) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "Invitation readers", "permissions": [
                {"resource": "Invitations", "action": "read"},
                {"resource": "Invitations", "action": "create"},
                {"resource": "Users", "action": "*"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reader}");
    let reader = reader["results"][0]["id"].as_str().unwrap().to_string();
    create_member(&app, &org_a, "reader@a.example", PASSWORD, &[&reader]).await;
    let lesser = token_of(&app, "reader@a.example", PASSWORD).await;
    let (id, code) = invite(
        &app,
        &admin,
        json!({"email": "target@a.example", "sendEmail": false}),
    )
    .await;

    // B's administrator: A's invitations are not there for him.
    let (status, listed) = app.get("/v1/invitations", &boss_b).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!ids(&listed).contains(&id));
    for (method, path) in [
        (Method::POST, format!("/v1/invitations/{id}/resend")),
        (Method::DELETE, format!("/v1/invitations/{id}")),
    ] {
        let (status, body) = app.call(method.clone(), &path, Some(&boss_b), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        let named = format!("{path}?organizations={org_a}");
        let (status, _) = app.call(method, &named, Some(&boss_b), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{named}");
    }
    let (status, _) = app
        .get(&format!("/v1/invitations?organizations={org_a}"), &boss_b)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A member holding Invitations:read and create but neither update nor delete.
    let (status, listed) = app.get("/v1/invitations", &lesser).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ids(&listed).contains(&id));
    for (method, path) in [
        (Method::POST, format!("/v1/invitations/{id}/resend")),
        (Method::DELETE, format!("/v1/invitations/{id}")),
    ] {
        let (status, body) = app.call(method, &path, Some(&lesser), None).await;
        assert_eq!(
            (status, error_type(&body)),
            (StatusCode::FORBIDDEN, "PermissionsError"),
            "{path}"
        );
    }
    // An unknown invitation is the same 404 as a foreign one.
    let (status, _) = app.delete("/v1/invitations/COD-nothing", &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nothing happened: the code still works.
    assert_eq!(
        set_password(&app, "target@a.example", &code.unwrap()).await,
        StatusCode::OK
    );
}

/// A permanent API token acts in its organization only: it neither sees, accepts nor declines
/// its user's invitations into another (a leaked integration token must not move its user
/// between organizations). His own login does.
async fn a_token_bound_to_one_organization_reaches_no_invitation_into_another(app: TestApp) {
    let admin = app.admin_token().await;
    let org_a = home_organization(&app, &admin).await;
    let (org_b, _) = create_organization(&app, "Bound Corp").await;
    create_member(&app, &org_a, "bound@a.example", PASSWORD, &[]).await;
    let (to_b, code) = invite(
        &app,
        &admin,
        json!({"email": "bound@a.example", "organizationID": org_b, "sendEmail": false}),
    )
    .await;
    let code = code.expect("the code, not mailed");
    let login = token_of(&app, "bound@a.example", PASSWORD).await;
    let (status, made) = app
        .post("/v1/users/generate-permanent-api-token", &login, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let bound = made["access_token"].as_str().unwrap().to_string();

    let (status, mine) = app.get("/v1/users/mine/invitations", &bound).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(ids(&mine), Vec::<String>::new());
    for what in ["accept", "decline"] {
        let (status, body) = app
            .post(
                &format!("/v1/users/mine/invitations/{to_b}/{what}"),
                &bound,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {body}");
    }
    let (status, body) = app
        .post(
            "/v1/users/invite/accept",
            &bound,
            json!({ "inviteCode": code }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Still pending: his own login sees it and accepts it.
    let (_, mine) = app.get("/v1/users/mine/invitations", &login).await;
    assert_eq!(ids(&mine), vec![to_b.clone()]);
    let (status, body) = app
        .post(
            &format!("/v1/users/mine/invitations/{to_b}/accept"),
            &login,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
