//! The caller himself, his organizations, and the tokens he asks for.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_stores;
use crate::common::{
    create_member, create_organization, error_type, token_of, TestApp, ADMIN_EMAIL,
};

both_stores!(
    the_current_user_shows_every_change_at_once,
    the_current_user_comes_in_the_envelope_with_his_roles,
    my_organizations_lists_the_memberships,
    a_permanent_token_is_issued_once_per_organization,
    rotating_a_permanent_token_honours_the_grace_period,
    temporary_tokens_work_and_refresh,
    token_operations_refuse_a_foreign_organization,
    generate_tokens_issues_the_pair_for_the_organization_named,
    answers_that_carry_a_secret_or_a_code_are_never_stored,
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

/// `organizations=` names where the pair acts: one organization of the caller's; two are a
/// 400, a foreign one a 403, and a token bound to its organization gets pairs for it alone.
/// The pair still joins the family of the token that asked for it.
async fn generate_tokens_issues_the_pair_for_the_organization_named(app: TestApp) {
    const PASSWORD: &str = "member password 1234";
    let (org_a, admin_a) = create_organization(&app, "First").await;
    let (org_b, admin_b) = create_organization(&app, "Second").await;
    let (org_c, _) = create_organization(&app, "Foreign").await;
    let user = create_member(&app, &org_a, "two@example.com", PASSWORD, &[&admin_a]).await;
    {
        use bf_security::clock::Clock as _;
        let mut tx = app.app.store.write().await.unwrap();
        let now = app.clock.now();
        bf_security::store::memberships::add_member(&mut tx, &user, &org_b, now, None)
            .await
            .unwrap();
        bf_security::store::memberships::give_role(&mut tx, &user, &admin_b, &org_b, now, None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        app.app.auth.forget_all();
    }
    let login = app.login("two@example.com", PASSWORD).await;
    let token = login["access_token"].as_str().unwrap();
    assert_eq!(login["organizationID"], org_a.as_str());

    let (status, pair) = app
        .get(
            &format!("/v1/users/generate-tokens?organizations={org_b}"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    assert_eq!(pair["organizationID"], org_b.as_str());
    let access = pair["accessToken"].as_str().unwrap();
    let (_, me) = app.get("/v1/users/mine", access).await;
    let roles: Vec<_> = me["results"][0]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["organizationID"].clone())
        .collect();
    assert_eq!(roles, vec![json!(org_b)], "the pair acts in B by default");
    let (status, body) = app
        .get(
            &format!("/v1/users/generate-tokens?organizations={org_a}&organizations={org_b}"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errorParameters"], json!(["organizations"]));
    let (status, _) = app
        .get(
            &format!("/v1/users/generate-tokens?organizations={org_c}"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A permanent token of A mints pairs for A only.
    let (_, permanent) = app
        .post(
            "/v1/users/generate-permanent-api-token",
            token,
            json!({"organizationID": org_a}),
        )
        .await;
    let permanent = permanent["access_token"].as_str().unwrap();
    let (status, _) = app
        .get(
            &format!("/v1/users/generate-tokens?organizations={org_b}"),
            permanent,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, bound) = app
        .get(
            &format!("/v1/users/generate-tokens?organizations={org_a}"),
            permanent,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bound}");
    assert_eq!(bound["organizationID"], org_a.as_str());

    // The pair for B ends with the login it came from.
    let res = app
        .http
        .post(app.url("/v1/oauth/revoke"))
        .form(&[("token", login["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.get("/v1/users/mine", access).await.0,
        StatusCode::UNAUTHORIZED
    );
    let other = token_of(&app, "two@example.com", PASSWORD).await;
    assert_eq!(app.get("/v1/users/mine", &other).await.0, StatusCode::OK);
}

/// RFC 6749 §5.1, and the contract for every answer that carries a secret: no cache keeps it.
async fn answers_that_carry_a_secret_or_a_code_are_never_stored(app: TestApp) {
    let token = app.admin_token().await;
    let no_store = |res: &reqwest::Response, what: &str| {
        assert_eq!(res.headers()["cache-control"], "no-store", "{what}");
        assert_eq!(res.headers()["pragma"], "no-cache", "{what}");
    };
    let post = |path: &'static str, body: serde_json::Value| {
        app.http
            .post(app.url(path))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let res = post("/v1/users/generate-permanent-api-token", json!({}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    no_store(&res, "generate-permanent-api-token");
    let res = post("/v1/users/refresh-permanent-api-token", json!({}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    no_store(&res, "refresh-permanent-api-token");
    let res = app
        .http
        .get(app.url("/v1/users/generate-tokens"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    no_store(&res, "generate-tokens");
    let res = post(
        "/v1/users/invite",
        json!({"email": "guest@example.com", "sendEmail": false}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    no_store(&res, "an invitation answered with its code");
    let res = post("/v1/users/invite", json!({"email": "mailed@example.com"}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Without its code it still carries personal data: no answer of the API is stored.
    assert_eq!(
        res.headers().get("cache-control").unwrap(),
        "no-store",
        "an invitation without its code"
    );
    let res = app
        .http
        .post(app.url("/v1/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", ADMIN_EMAIL),
            ("password", crate::common::ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    no_store(&res, "the token endpoint");
}
