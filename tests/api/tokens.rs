//! The caller himself, his organizations, and the tokens he asks for.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_stores;
use crate::common::{error_type, TestApp, ADMIN_EMAIL};

both_stores!(
    the_current_user_shows_every_change_at_once,
    the_current_user_comes_in_the_envelope_with_his_roles,
    my_organizations_lists_the_memberships,
    a_permanent_token_is_issued_once_per_organization,
    rotating_a_permanent_token_honours_the_grace_period,
    temporary_tokens_work_and_refresh,
    token_operations_refuse_a_foreign_organization,
);

async fn the_current_user_comes_in_the_envelope_with_his_roles(app: TestApp) {
    let token = app.admin_token().await;
    let (status, body) = app.get("/v1/users/mine", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["recordsReturned"], 1);
    assert_eq!(body["currentOffset"], 0);
    assert!(body["executionTime"].is_u64());
    assert!(body.get("nextPage").is_none());
    let me = &body["results"][0];
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["bfAdmin"], true);
    assert_eq!(me["enabled"], true);
    assert!(me["id"].as_str().unwrap().starts_with("USR-"));
    assert!(me["created"].as_str().unwrap().ends_with('Z'));
    let roles = me["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["name"], "Administrator");
    assert_eq!(roles[0]["permissions"][0]["resource"], "*");
    assert_eq!(roles[0]["permissions"][0]["action"], "*");
    for secret in [
        "password",
        "passwordHash",
        "password_hash",
        "resetCode",
        "inviteCode",
    ] {
        assert!(me.get(secret).is_none(), "{secret} leaked");
    }
}

async fn my_organizations_lists_the_memberships(app: TestApp) {
    let t = app.login(ADMIN_EMAIL, crate::common::ADMIN_PASSWORD).await;
    let (status, body) = app
        .get(
            "/v1/users/mine/organizations",
            t["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let orgs = body["results"].as_array().unwrap();
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["id"], t["organizationID"]);
    assert_eq!(orgs[0]["name"], "Default");
    assert_eq!(orgs[0]["customerCode"], "DEFAULT");
    assert_eq!(orgs[0]["deleted"], false);
}

async fn a_permanent_token_is_issued_once_per_organization(app: TestApp) {
    let token = app.admin_token().await;
    let (status, body) = app
        .post(
            "/v1/users/generate-permanent-api-token",
            &token,
            json!({"description": "CI"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let permanent = body["access_token"].as_str().unwrap();
    assert!(permanent.starts_with("bfsp_"));
    assert_eq!(body["token_type"], "bearer");
    assert!(body.get("expires_in").is_none());
    assert!(body.get("refresh_token").is_none());
    // It works, and never expires.
    app.clock.advance_seconds(400 * 24 * 3600);
    assert_eq!(app.get("/v1/users/mine", permanent).await.0, StatusCode::OK);
    let (status, body) = app
        .post(
            "/v1/users/generate-permanent-api-token",
            permanent,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_type(&body), "Conflict");
    assert!(body["errorMessage"]
        .as_str()
        .unwrap()
        .contains("refresh-permanent-api-token"));
}

async fn rotating_a_permanent_token_honours_the_grace_period(app: TestApp) {
    let token = app.admin_token().await;
    let (status, body) = app
        .post("/v1/users/refresh-permanent-api-token", &token, json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "nothing to rotate yet: {body}"
    );
    let (_, first) = app
        .post("/v1/users/generate-permanent-api-token", &token, json!({}))
        .await;
    let first = first["access_token"].as_str().unwrap().to_string();

    // Without a grace period the old token dies at once.
    let (status, second) = app
        .post("/v1/users/refresh-permanent-api-token", &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second = second["access_token"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    assert_eq!(
        app.get("/v1/users/mine", &first).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/v1/users/mine", &second).await.0, StatusCode::OK);

    // With one, both work until it ends.
    let (status, third) = app
        .post(
            "/v1/users/refresh-permanent-api-token",
            &token,
            json!({"gracePeriodSeconds": 60}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let third = third["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.get("/v1/users/mine", &second).await.0, StatusCode::OK);
    assert_eq!(app.get("/v1/users/mine", &third).await.0, StatusCode::OK);
    app.clock.advance_seconds(61);
    assert_eq!(
        app.get("/v1/users/mine", &second).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/v1/users/mine", &third).await.0, StatusCode::OK);

    for bad in [
        json!({"gracePeriodSeconds": -1}),
        json!({"gracePeriodSeconds": 86401}),
    ] {
        let (status, body) = app
            .post("/v1/users/refresh-permanent-api-token", &third, bad)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["errorParameters"], json!(["gracePeriodSeconds"]));
    }
}

async fn temporary_tokens_work_and_refresh(app: TestApp) {
    let token = app.admin_token().await;
    let (status, body) = app.get("/v1/users/generate-tokens", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tokenType"], "bearer");
    assert_eq!(body["expiresIn"], 3600);
    assert_eq!(body["refreshExpiresIn"], 30 * 24 * 3600);
    let access = body["accessToken"].as_str().unwrap();
    assert_eq!(app.get("/v1/users/mine", access).await.0, StatusCode::OK);
    let (status, _) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", body["refreshToken"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn token_operations_refuse_a_foreign_organization(app: TestApp) {
    // A user of his own organization only (not a platform administrator).
    let org = bf_security::service::bootstrap::create_admin(
        &app.app,
        "Other",
        "other@example.com",
        &bf_security::domain::SecretString::new("other password 1234"),
    )
    .await
    .unwrap()
    .0;
    sqlx::query("UPDATE users SET bf_admin = 0 WHERE email_key = 'other@example.com'")
        .execute(app.app.store.pool())
        .await
        .unwrap();
    let t = app.login("other@example.com", "other password 1234").await;
    assert_eq!(t["organizationID"], org.as_str());
    let other = t["access_token"].as_str().unwrap();
    let admin = app.admin_token().await;
    let (_, me) = app.get("/v1/users/mine", &admin).await;
    let admin_org = me["results"][0]["organizationID"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, body) = app
        .post(
            "/v1/users/generate-permanent-api-token",
            other,
            json!({"organizationID": admin_org}),
        )
        .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::FORBIDDEN, "PermissionsError")
    );
    let (status, _) = app
        .get(&format!("/v1/users/mine?organizations={admin_org}"), other)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            "/v1/users/generate-permanent-api-token",
            other,
            json!({"organizationID": org}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// `GET /users/mine` is served from memory between changes; every change shows on the next
/// request all the same.
async fn the_current_user_shows_every_change_at_once(app: TestApp) {
    let token = app.admin_token().await;
    let mine = |app: &TestApp, token: String| {
        let app_base = app.url("/v1/users/mine");
        let http = app.http.clone();
        async move {
            let res = http.get(app_base).bearer_auth(token).send().await.unwrap();
            let body: serde_json::Value = res.json().await.unwrap();
            body["results"][0].clone()
        }
    };
    assert!(mine(&app, token.clone()).await["firstName"].is_null());
    let (status, _) = app
        .put(
            &format!("/v1/users/{ADMIN_EMAIL}"),
            &token,
            json!({"firstName": "Ada"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine(&app, token.clone()).await["firstName"], "Ada");
    app.call(
        reqwest::Method::POST,
        "/v1/users/password-reset/request-reset-code",
        None,
        Some(json!({"email": ADMIN_EMAIL})),
    )
    .await;
    assert!(mine(&app, token.clone()).await["passwordResetValidTill"].is_string());
    let (status, role) = app
        .post(
            "/v1/roles",
            &token,
            json!({"name": "Auditor", "permissions": [{"resource": "Users", "action": "read"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{role}");
    let roles_before = mine(&app, token.clone()).await["roles"]
        .as_array()
        .unwrap()
        .len();
    let (status, _) = app
        .put(
            &format!("/v1/users/{ADMIN_EMAIL}/email"),
            &token,
            json!({"newEmail": "ada@example.com", "password": crate::common::ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let me = mine(&app, token.clone()).await;
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["roles"].as_array().unwrap().len(), roles_before);
}
