//! Logging in, refreshing, revoking, and what a bearer token must be.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{
    behind_proxy, error_type, login_from, StoreKind, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD,
};

both_stores!(
    a_password_login_answers_an_oauth_token,
    every_failed_login_gets_the_same_invalid_grant,
    a_login_may_choose_an_organization_of_the_user,
    refresh_tokens_rotate_and_reuse_revokes_the_family,
    a_refresh_token_is_not_a_bearer_token,
    a_barred_users_refresh_is_refused_and_not_spent,
    concurrent_refreshes_with_one_token_on_two_nodes_all_get_one_pair,
    a_refresh_repeated_within_the_reuse_interval_answers_the_same_pair,
    a_refresh_repeated_after_the_reuse_interval_revokes_the_family,
    a_repeat_after_the_new_token_was_used_revokes_the_family,
    with_no_reuse_interval_a_repeat_revokes_the_family_at_once,
    concurrent_refreshes_of_many_tokens_all_rotate,
    bad_tokens_are_401_with_www_authenticate,
    an_expired_access_token_is_401,
    a_revoked_token_dies_on_the_next_request,
    the_token_endpoint_takes_json_too_and_names_bad_grants,
    a_restart_keeps_everything,
    a_login_upgrades_a_hash_of_old_parameters,
    password_guessing_is_limited_per_email,
    a_flood_of_made_up_usernames_does_not_lift_a_victims_limit,
    concurrent_guesses_are_checked_no_more_often_than_the_limit,
);

async fn a_password_login_answers_an_oauth_token(app: TestApp) {
    let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(t["token_type"], "bearer");
    assert_eq!(t["expires_in"], 3600);
    assert!(t["access_token"].as_str().unwrap().starts_with("bfsa_"));
    assert!(t["refresh_token"].as_str().unwrap().starts_with("bfsr_"));
    assert!(t["organizationID"].as_str().unwrap().starts_with("ORG-"));
    // The e-mail is matched trimmed and case-insensitively.
    app.login("  Admin@Example.COM ", ADMIN_PASSWORD).await;
}

async fn every_failed_login_gets_the_same_invalid_grant(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, me) = app.get("/v1/users/mine", &admin).await;
    let user_id = me["results"][0]["id"].as_str().unwrap().to_string();
    let attempts: Vec<(&str, &str)> = vec![
        (ADMIN_EMAIL, "wrong password 1234"),
        ("nobody@example.com", ADMIN_PASSWORD),
        ("not an e-mail", ADMIN_PASSWORD),
    ];
    let mut answers = Vec::new();
    for (username, password) in &attempts {
        let (status, body) = app
            .token_form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ])
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{username}");
        answers.push(body);
    }
    // A disabled user: the right password, the same answer.
    sqlx::query("UPDATE users SET enabled = 0 WHERE id = $1")
        .bind(&user_id)
        .execute(app.app.store.pool())
        .await
        .unwrap();
    let (status, body) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    answers.push(body);
    for a in &answers {
        assert_eq!(a, &answers[0], "answers differ");
    }
    assert_eq!(answers[0]["error"], "invalid_grant");
    let (status, body) = app
        .token_form(&[("grant_type", "password"), ("username", ADMIN_EMAIL)])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

async fn a_login_may_choose_an_organization_of_the_user(app: TestApp) {
    let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let org = t["organizationID"].as_str().unwrap();
    let (status, chosen) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("organizationID", org),
        ])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(chosen["organizationID"], org);
    let (status, body) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("organizationID", "ORG-not-mine"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

async fn refresh(app: &TestApp, refresh_token: &str) -> (StatusCode, Value) {
    app.token_form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ])
    .await
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_family(app: TestApp) {
    let first = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let (status, second) = refresh(&app, r1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    let a2 = second["access_token"].as_str().unwrap();
    assert_eq!(app.get("/v1/users/mine", a2).await.0, StatusCode::OK);
    // Another login is another family, untouched by what follows.
    let other = app.admin_token().await;

    // r1 again, past the interval for retries: it leaked. The family dies: r2 and the access
    // tokens issued with it.
    app.clock.advance_seconds(reuse_interval(&app));
    let (status, body) = refresh(&app, r1).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(refresh(&app, r2).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get("/v1/users/mine", a2).await.0,
        StatusCode::UNAUTHORIZED
    );
    let a1 = first["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/v1/users/mine", a1).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/v1/users/mine", &other).await.0, StatusCode::OK);

    // An expired refresh token is refused.
    let third = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    app.clock
        .advance_seconds(app.settings.tokens.refresh_ttl_seconds + 1);
    let (status, _) = refresh(&app, third["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refresh(&app, "bfsr_unknown").await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, body) = app.token_form(&[("grant_type", "refresh_token")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

/// A refresh that owns what it needs, to run in a task of its own beside others.
fn refresh_apart(
    app: &TestApp,
    token: String,
) -> impl std::future::Future<Output = (StatusCode, Value)> + Send + 'static {
    let (http, url) = (app.http.clone(), app.url("/v1/oauth/token"));
    async move {
        let res = http
            .post(url)
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
            .send()
            .await
            .unwrap();
        (res.status(), res.json::<Value>().await.unwrap())
    }
}

async fn a_barred_users_refresh_is_refused_and_not_spent(app: TestApp) {
    let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let r1 = t["refresh_token"].as_str().unwrap();
    let pool = app.app.store.pool().clone();
    let set_enabled = |enabled: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query("UPDATE users SET enabled = $1 WHERE email_key = $2")
                .bind(enabled)
                .bind(ADMIN_EMAIL)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    set_enabled(0).await;
    let (status, body) = refresh(&app, r1).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // Refused is not used: enabled again, the same token still rotates, and it was not taken
    // for a leaked one (its access token still works).
    set_enabled(1).await;
    let (status, body) = refresh(&app, r1).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let a1 = t["access_token"].as_str().unwrap();
    assert_eq!(app.get("/v1/users/mine", a1).await.0, StatusCode::OK);
}

/// A client's retries of one refresh, sent at once (here to two nodes), all get the one pair
/// the rotation made, and the family lives on.
async fn concurrent_refreshes_with_one_token_on_two_nodes_all_get_one_pair(app: TestApp) {
    let other = app.another_node().await;
    let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let r1 = t["refresh_token"].as_str().unwrap().to_string();
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..8 {
        let node = if i % 2 == 0 { &app } else { &other };
        racers.spawn(refresh_apart(node, r1.clone()));
    }
    let answers = racers.join_all().await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["access_token"], answers[0].1["access_token"]);
        assert_eq!(body["refresh_token"], answers[0].1["refresh_token"]);
    }
    let pair = &answers[0].1;
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(app.get("/v1/users/mine", access).await.0, StatusCode::OK);
    let a1 = t["access_token"].as_str().unwrap();
    assert_eq!(app.get("/v1/users/mine", a1).await.0, StatusCode::OK);
    let (status, body) = refresh(&app, pair["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The interval within which a spent refresh token is taken for a retry, not a theft.
fn reuse_interval(app: &TestApp) -> i64 {
    app.settings.tokens.refresh_reuse_interval_seconds
}

/// A client that did not get the answer to its refresh sends it again: it gets the same pair,
/// not a second one, and keeps its login. The repeat reaches no further than the family: once
/// that is revoked, repeating answers nothing.
async fn a_refresh_repeated_within_the_reuse_interval_answers_the_same_pair(app: TestApp) {
    let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let r1 = t["refresh_token"].as_str().unwrap();
    let (status, first) = refresh(&app, r1).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    app.clock.advance_seconds(reuse_interval(&app) - 1);
    let (status, again) = refresh(&app, r1).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["access_token"], first["access_token"]);
    assert_eq!(again["refresh_token"], first["refresh_token"]);
    assert_eq!(again["organizationID"], first["organizationID"]);
    let expires_in = again["expires_in"].as_i64().unwrap();
    assert!(
        (3600 - reuse_interval(&app)..=3600).contains(&expires_in),
        "{expires_in}"
    );
    let access = again["access_token"].as_str().unwrap();
    assert_eq!(app.get("/v1/users/mine", access).await.0, StatusCode::OK);
    let a1 = t["access_token"].as_str().unwrap();
    assert_eq!(app.get("/v1/users/mine", a1).await.0, StatusCode::OK);
    // Logging out ends what the repeats answered, and they answer nothing more.
    let res = app
        .http
        .post(app.url("/v1/oauth/revoke"))
        .form(&[("token", again["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.get("/v1/users/mine", access).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = refresh(&app, r1).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

async fn a_refresh_repeated_after_the_reuse_interval_revokes_the_family(app: TestApp) {
    let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let r1 = t["refresh_token"].as_str().unwrap();
    let (status, second) = refresh(&app, r1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    app.clock.advance_seconds(reuse_interval(&app));
    let (status, body) = refresh(&app, r1).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let a2 = second["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/v1/users/mine", a2).await.0,
        StatusCode::UNAUTHORIZED
    );
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&app, r2).await.0, StatusCode::BAD_REQUEST);
}

/// Only the latest rotation is repeated: once its new token is used in turn, the old token is
/// no retry any more, even within the interval, and it revokes the family.
async fn a_repeat_after_the_new_token_was_used_revokes_the_family(app: TestApp) {
    let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let r1 = t["refresh_token"].as_str().unwrap();
    let (_, second) = refresh(&app, r1).await;
    let (status, third) = refresh(&app, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!(refresh(&app, r1).await.0, StatusCode::BAD_REQUEST);
    let a3 = third["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/v1/users/mine", a3).await.0,
        StatusCode::UNAUTHORIZED
    );
    let r3 = third["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&app, r3).await.0, StatusCode::BAD_REQUEST);
}

async fn with_no_reuse_interval_a_repeat_revokes_the_family_at_once(app: TestApp) {
    let kind = kind_of(&app);
    drop(app);
    let app = TestApp::spawn_with(kind, |s| s.tokens.refresh_reuse_interval_seconds = 0)
        .await
        .expect("app");
    let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let r1 = t["refresh_token"].as_str().unwrap();
    let (status, second) = refresh(&app, r1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(refresh(&app, r1).await.0, StatusCode::BAD_REQUEST);
    let a2 = second["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/v1/users/mine", a2).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// Rotations arriving together are written together; each must still get its own pair, and
/// each pair must work.
async fn concurrent_refreshes_of_many_tokens_all_rotate(app: TestApp) {
    let mut logins = Vec::new();
    for _ in 0..24 {
        logins.push(app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await);
    }
    let mut racers = tokio::task::JoinSet::new();
    for (i, t) in logins.iter().enumerate() {
        let refresh = refresh_apart(&app, t["refresh_token"].as_str().unwrap().to_string());
        racers.spawn(async move {
            let (status, body) = refresh.await;
            (i, status, body)
        });
    }
    let mut answers = racers.join_all().await;
    answers.sort_by_key(|(i, _, _)| *i);
    let mut seen = std::collections::HashSet::new();
    for (i, status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{i}: {body}");
        let access = body["access_token"].as_str().unwrap();
        let next = body["refresh_token"].as_str().unwrap();
        assert!(seen.insert(access.to_string()) && seen.insert(next.to_string()));
        assert_eq!(app.get("/v1/users/mine", access).await.0, StatusCode::OK);
        // The new refresh token rotates in turn; the old one is spent.
        assert_eq!(refresh(&app, next).await.0, StatusCode::OK);
        let old = logins[*i]["refresh_token"].as_str().unwrap();
        assert_eq!(refresh(&app, old).await.0, StatusCode::BAD_REQUEST);
    }
}

async fn a_refresh_token_is_not_a_bearer_token(app: TestApp) {
    let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (status, _) = app
        .get("/v1/users/mine", t["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn bad_tokens_are_401_with_www_authenticate(app: TestApp) {
    const INVALID: &str = r#"Bearer error="invalid_token""#;
    let cases: Vec<(&str, Option<&str>, &str)> = vec![
        ("missing", None, "Bearer"),
        ("malformed header", Some("Basic dXNlcjpwYXNz"), "Bearer"),
        ("empty bearer", Some("Bearer "), "Bearer"),
        (
            "unknown",
            Some("Bearer bfsa_thisTokenWasNeverIssuedByTheServer000000000"),
            INVALID,
        ),
        (
            "not ours",
            Some("Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"),
            INVALID,
        ),
    ];
    for (name, header, challenge) in cases {
        let mut req = app.http.get(app.url("/v1/users/mine"));
        if let Some(h) = header {
            req = req.header("Authorization", h);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(res.headers()["www-authenticate"], challenge, "{name}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(error_type(&body), "Unauthorized", "{name}");
    }
}

async fn an_expired_access_token_is_401(app: TestApp) {
    let token = app.admin_token().await;
    assert_eq!(app.get("/v1/users/mine", &token).await.0, StatusCode::OK);
    app.clock
        .advance_seconds(app.settings.tokens.access_ttl_seconds + 1);
    assert_eq!(
        app.get("/v1/users/mine", &token).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn a_revoked_token_dies_on_the_next_request(app: TestApp) {
    let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(app.get("/v1/users/mine", access).await.0, StatusCode::OK);
    let res = app
        .http
        .post(app.url("/v1/oauth/revoke"))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.get("/v1/users/mine", access).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Revoking the refresh token takes its family along; an unknown token is still 200.
    let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(app.get("/v1/users/mine", access).await.0, StatusCode::OK);
    for token in [t["refresh_token"].as_str().unwrap(), "bfsr_never_issued"] {
        let res = app
            .http
            .post(app.url("/v1/oauth/revoke"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(
        app.get("/v1/users/mine", access).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, t["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::BAD_REQUEST
    );
}

async fn the_token_endpoint_takes_json_too_and_names_bad_grants(app: TestApp) {
    let res = app
        .http
        .post(app.url("/v1/oauth/token"))
        .json(
            &json!({"grant_type": "password", "username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let (status, body) = app
        .token_form(&[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    let (status, body) = app.token_form(&[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

async fn a_restart_keeps_everything(mut app: TestApp) {
    let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let access = t["access_token"].as_str().unwrap().to_string();
    let (status, permanent) = app
        .post("/v1/users/generate-permanent-api-token", &access, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let permanent = permanent["access_token"].as_str().unwrap().to_string();
    let (_, before) = app.get("/v1/users/mine", &access).await;
    app.restart().await;
    let (status, after) = app.get("/v1/users/mine", &access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after["results"], before["results"]);
    assert_eq!(
        app.get("/v1/users/mine", &permanent).await.0,
        StatusCode::OK
    );
    assert_eq!(
        refresh(&app, t["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::OK
    );
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // The first start happens once: a restart does not bootstrap again.
    let (_, orgs) = app.get("/v1/users/mine/organizations", &access).await;
    assert_eq!(orgs["results"].as_array().unwrap().len(), 1);
}

async fn a_login_upgrades_a_hash_of_old_parameters(mut app: TestApp) {
    let stored = |app: &TestApp| {
        let pool = app.app.store.pool().clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT password_hash FROM users WHERE email_key = $1")
                .bind(ADMIN_EMAIL)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert!(stored(&app).await.contains("m=256,t=1,p=1"));
    app.settings.argon2.memory_kib = 512;
    app.settings.argon2.iterations = 2;
    app.restart().await;
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let upgraded = stored(&app).await;
    assert!(upgraded.contains("m=512,t=2,p=1"), "{upgraded}");
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // A wrong password upgrades nothing.
    app.settings.argon2.memory_kib = 1024;
    app.restart().await;
    app.token_form(&[
        ("grant_type", "password"),
        ("username", ADMIN_EMAIL),
        ("password", "wrong password 99"),
    ])
    .await;
    assert_eq!(stored(&app).await, upgraded);
}

/// Past the limit of failures, an e-mail's logins are refused before any password is checked,
/// for an e-mail nobody has just as for a real one; other e-mails are not affected, and the
/// hour's end lifts it.
async fn password_guessing_is_limited_per_email(app: TestApp) {
    let kind = kind_of(&app);
    drop(app);
    let app = TestApp::spawn_with(kind, |s| {
        crate::common::behind_proxy(s);
        s.login.delay_after_failures = s.login.failures_per_email_per_hour;
    })
    .await
    .expect("app");
    let limit = app.settings.login.failures_per_email_per_hour;
    let org = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["organizationID"]
        .as_str()
        .unwrap()
        .to_string();
    crate::common::create_member(&app, &org, "bystander@example.com", ADMIN_PASSWORD, &[]).await;
    // From a client the admin never logged in from.
    let attempt = |username: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let a = crate::common::login_from(app, STRANGER, username, password, None).await;
            (a.status, a.body)
        }
    };
    for who in [ADMIN_EMAIL, "nobody-here@example.com"] {
        for i in 0..limit {
            let (status, body) = attempt(who, "not the password").await;
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_grant")),
                "{who}, attempt {i}"
            );
        }
        let res = app
            .http
            .post(app.url("/v1/oauth/token"))
            .header("x-forwarded-for", STRANGER)
            .form(&[
                ("grant_type", "password"),
                ("username", who),
                ("password", ADMIN_PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{who}");
        let wait: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3600).contains(&wait), "{wait}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(error_type(&body), "RateLimited");
    }
    // The limit is the e-mail's, however it is typed.
    let (status, _) = attempt("  ADMIN@Example.COM ", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Someone else logs in as usual, and so does the admin from where he logged in before;
    // the hour over, strangers may try again.
    let t = app.login("bystander@example.com", ADMIN_PASSWORD).await;
    assert!(t["access_token"].as_str().is_some());
    let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(t["access_token"].as_str().is_some());
    app.clock.advance_seconds(3601);
    let (status, body) = attempt(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

const STRANGER: &str = "203.0.113.200";

fn kind_of(app: &TestApp) -> StoreKind {
    if app.settings.database_url.starts_with("sqlite:") {
        StoreKind::Sqlite
    } else {
        StoreKind::Postgres
    }
}

/// Guesses sent all at once are counted as they arrive, before any is checked: no more wrong
/// ones than the limit are ever checked against the hash, and the right password among them
/// gets in only if it arrived while the limit was not reached. The guesser's address is a
/// stranger's throughout; the right password comes from another address, which its success
/// makes known (and known clients are not held back by strangers' failures, see limits.rs).
async fn concurrent_guesses_are_checked_no_more_often_than_the_limit(app: TestApp) {
    const GUESSER: &str = "203.0.113.66";
    const OWNER: &str = "198.51.100.10";
    let kind = kind_of(&app);
    drop(app);
    let app = TestApp::spawn_with(kind, |s| {
        behind_proxy(s);
        s.login.failures_per_email_per_hour = 5;
        s.login.delay_after_failures = 5;
        // Hashes slow enough that many guesses are in flight at once, all of them queued.
        s.argon2.memory_kib = 4096;
        s.argon2.queue = Some(64);
    })
    .await
    .expect("app");
    let verifications = || app.app.hasher.counts.verifications.get();
    let before = verifications();
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (from, password) = match i {
            20 => (OWNER, ADMIN_PASSWORD),
            _ => (GUESSER, "not the password"),
        };
        let (http, url) = (app.http.clone(), app.url("/v1/oauth/token"));
        racers.spawn(async move {
            http.post(url)
                .header("x-forwarded-for", from)
                .form(&[
                    ("grant_type", "password"),
                    ("username", ADMIN_EMAIL),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    let answers = racers.join_all().await;
    let count = |status: StatusCode| answers.iter().filter(|s| **s == status).count();
    let (ok, wrong, refused) = (
        count(StatusCode::OK),
        count(StatusCode::BAD_REQUEST),
        count(StatusCode::TOO_MANY_REQUESTS),
    );
    assert_eq!(ok + wrong + refused, 40, "{answers:?}");
    // The right password, if it came early enough, held a place and gave it back.
    assert!(wrong <= 5, "{ok} in, {wrong} wrong: {answers:?}");
    let checked = verifications() - before;
    assert_eq!(checked, (ok + wrong) as u64, "{answers:?}");
    // The failures used up the hour: from the stranger's address the right password now waits
    // too.
    if wrong == 5 {
        let status = login_from(&app, GUESSER, ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
        assert_eq!(status.status, StatusCode::TOO_MANY_REQUESTS, "{answers:?}");
    }
}

/// Far more made-up e-mails than anyone could remember, each failing once, do not make the
/// store forget an e-mail that is over its limit; once their hour is over they are deleted, so
/// the counters stay bounded.
async fn a_flood_of_made_up_usernames_does_not_lift_a_victims_limit(app: TestApp) {
    let kind = kind_of(&app);
    drop(app);
    let app = TestApp::spawn_with(kind, |s| {
        s.login.failures_per_address_per_hour = 1000;
        s.login.delay_after_failures = s.login.failures_per_email_per_hour;
    })
    .await
    .expect("app");
    let fail = |username: String| {
        let app = &app;
        async move {
            app.token_form(&[
                ("grant_type", "password"),
                ("username", &username),
                ("password", "not the password"),
            ])
            .await
            .0
        }
    };
    for _ in 0..app.settings.login.failures_per_email_per_hour {
        assert_eq!(fail(ADMIN_EMAIL.into()).await, StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        fail(ADMIN_EMAIL.into()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    for i in 0..200 {
        let status = fail(format!("made-up-{i}@example.com")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "made-up {i}");
    }
    let (status, _) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
        ])
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let counters = || async {
        let mut conn = app.app.store.pool().acquire().await.unwrap();
        bf_security::store::limits::counters(&mut conn)
            .await
            .unwrap()
    };
    assert!(counters().await >= 200);
    // The hour over, the next count deletes the ended windows.
    app.clock.advance_seconds(3601);
    assert_eq!(
        fail("one-more@example.com".into()).await,
        StatusCode::BAD_REQUEST
    );
    assert!(counters().await <= 2, "{}", counters().await);
}
