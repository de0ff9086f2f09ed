//! Password reset by a mailed code, and accepting an invitation with a password. Mail is read
//! where the service's own mail path writes it (a directory of `.eml` files).

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{error_type, StoreKind, TestApp};

const PASSWORD: &str = "first password 123";
const NEW_PASSWORD: &str = "second password 456";
const RESET: &str = "/v1/users/password-reset/request-reset-code";
const UPDATE: &str = "/v1/users/password-reset/password-update";

async fn app_with_mail(kind: StoreKind) -> Option<(TestApp, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let app = TestApp::spawn_with(kind, move |s| {
        crate::common::delivering(s);
        s.mail.dir = Some(path);
    })
    .await?;
    Some((app, dir))
}

/// The newest code mailed to `to`: the line of the plain-text part that is a code alone.
async fn mailed_code(dir: &std::path::Path, to: &str, nth: usize) -> String {
    for _ in 0..500 {
        let mut mails: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .map(|e| (e.metadata().unwrap().modified().unwrap(), e.path()))
            .collect();
        mails.sort();
        let codes: Vec<String> = mails
            .iter()
            .map(|(_, p)| std::fs::read_to_string(p).unwrap())
            .filter(|m| m.lines().any(|l| l.trim_end() == format!("To: {to}")))
            .filter_map(|m| {
                m.lines()
                    .map(|l| l.trim_end())
                    .find(|l| {
                        l.len() == 10
                            && l.chars()
                                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
                    })
                    .map(str::to_string)
            })
            .collect();
        if codes.len() >= nth {
            return codes[nth - 1].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no mail number {nth} with a code to {to}");
}

async fn create_user(app: &TestApp, email: &str) {
    let admin = app.admin_token().await;
    let body = json!({"email": email, "password": PASSWORD});
    crate::common::create_user(app, &admin, body).await;
}

async fn request(app: &TestApp, email: &str) -> (StatusCode, Value) {
    app.call(
        reqwest::Method::POST,
        RESET,
        None,
        Some(json!({ "email": email })),
    )
    .await
}

async fn use_code(app: &TestApp, email: &str, code: &str, password: &str) -> (StatusCode, Value) {
    app.call(
        reqwest::Method::POST,
        UPDATE,
        None,
        Some(json!({"email": email, "resetCode": code, "newPassword": password})),
    )
    .await
}

async fn the_whole_reset_journey(kind: StoreKind) {
    let Some((app, dir)) = app_with_mail(kind).await else {
        return;
    };
    create_user(&app, "ann@example.com").await;
    let before = app.login("ann@example.com", PASSWORD).await;

    let (status, body) = request(&app, "Ann@Example.com").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let admin = app.admin_token().await;
    let (_, ann) = app.get("/v1/users/username/ann@example.com", &admin).await;
    assert!(
        ann["results"][0]["passwordResetValidTill"].is_string(),
        "{ann}"
    );

    let code = mailed_code(dir.path(), "ann@example.com", 1).await;
    // Typed loosely: lower case, with a space.
    let typed = format!("{} {}", &code[..5].to_lowercase(), &code[5..]);
    let (status, body) = use_code(&app, "ann@example.com", &typed, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["email"], "ann@example.com");
    assert!(body["results"][0]["passwordResetValidTill"].is_null());

    app.login("ann@example.com", NEW_PASSWORD).await;
    let (status, _) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", "ann@example.com"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the old password is gone");
    let (status, _) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", before["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the old refresh token is dead"
    );
    let (status, _) = app
        .get("/v1/users/mine", before["access_token"].as_str().unwrap())
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old access token is dead"
    );

    // Used once: never again.
    let (status, body) = use_code(&app, "ann@example.com", &code, "third password 789").await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::BAD_REQUEST, "ValidationError")
    );
}

async fn an_unknown_address_gets_the_same_answer(kind: StoreKind) {
    let Some((app, _dir)) = app_with_mail(kind).await else {
        return;
    };
    create_user(&app, "bob@example.com").await;
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("executionTime");
        v.to_string()
    };
    let raw = |email: &'static str, content_type: Option<&'static str>, body: String| {
        let mut req = app.http.post(app.url(RESET)).body(body);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        let _ = email;
        req
    };
    let mut answers = Vec::new();
    for email in ["bob@example.com", "nobody@example.com"] {
        for (ct, body) in [
            (
                Some("application/json"),
                json!({ "email": email }).to_string(),
            ),
            (None, json!({ "email": email }).to_string()),
            (Some("*/*"), json!({ "email": email }).to_string()),
            (Some("text/plain"), email.to_string()),
            (
                Some("text/plain; charset=utf-8"),
                json!({ "email": email }).to_string(),
            ),
        ] {
            let res = raw(email, ct, body).send().await.unwrap();
            let status = res.status();
            let text = res.text().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{email} {ct:?}: {text}");
            answers.push(strip(serde_json::from_str(&text).unwrap()));
        }
    }
    for a in &answers {
        assert_eq!(a, &answers[0]);
    }
    // Bad input is still a 400.
    let (status, body) = request(&app, "not an address").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorParameters"], json!(["email"]));
    let (status, _) = app
        .call(reqwest::Method::POST, RESET, None, Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn wrong_expired_and_guessed_codes_fail_alike(kind: StoreKind) {
    let Some((app, dir)) = app_with_mail(kind).await else {
        return;
    };
    create_user(&app, "cat@example.com").await;

    request(&app, "cat@example.com").await;
    let code = mailed_code(dir.path(), "cat@example.com", 1).await;
    let (status, wrong) = use_code(&app, "cat@example.com", "ZZZZZZZZZZ", NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, unknown) = use_code(&app, "nobody@example.com", &code, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong, unknown, "one generic answer");
    // A weak password is named, and costs no try.
    let (status, body) = use_code(&app, "cat@example.com", &code, "short").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorParameters"], json!(["newPassword"]));

    // Expired: the clock moves past 15 minutes.
    app.clock.advance_seconds(16 * 60);
    let (status, _) = use_code(&app, "cat@example.com", &code, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A new code; five wrong tries kill it, so the sixth, right, one fails.
    request(&app, "cat@example.com").await;
    let code = mailed_code(dir.path(), "cat@example.com", 2).await;
    for _ in 0..5 {
        let (status, _) = use_code(&app, "cat@example.com", "0000000000", NEW_PASSWORD).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, _) = use_code(&app, "cat@example.com", &code, NEW_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "killed after five wrong tries"
    );
    app.login("cat@example.com", PASSWORD).await;

    // A newer code replaces the older one.
    request(&app, "cat@example.com").await;
    let older = mailed_code(dir.path(), "cat@example.com", 3).await;
    request(&app, "cat@example.com").await;
    let newer = mailed_code(dir.path(), "cat@example.com", 4).await;
    assert_eq!(
        use_code(&app, "cat@example.com", &older, NEW_PASSWORD)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        use_code(&app, "cat@example.com", &newer, NEW_PASSWORD)
            .await
            .0,
        StatusCode::OK
    );

    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_events WHERE action LIKE 'password_reset.%'")
            .fetch_all(app.app.store.pool())
            .await
            .unwrap();
    for a in [
        "password_reset.requested",
        "password_reset.failed",
        "password_reset.code_killed",
        "password_reset.used",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} not audited: {actions:?}"
        );
    }
}

async fn requests_are_rate_limited_known_or_not(kind: StoreKind) {
    let Some((app, _dir)) = app_with_mail(kind).await else {
        return;
    };
    create_user(&app, "dan@example.com").await;
    for email in ["dan@example.com", "ghost@example.com"] {
        for _ in 0..5 {
            assert_eq!(request(&app, email).await.0, StatusCode::OK);
        }
        let res = app
            .http
            .post(app.url(RESET))
            .json(&json!({ "email": email }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{email}");
        assert!(res.headers().get("retry-after").is_some());
    }
}

async fn an_invitation_is_accepted_with_a_password(kind: StoreKind) {
    let Some((app, dir)) = app_with_mail(kind).await else {
        return;
    };
    let admin = app.admin_token().await;
    let (status, body) = app
        .post(
            "/v1/users/invite",
            &admin,
            json!({"email": "eve@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["enabled"], false);
    let code = mailed_code(dir.path(), "eve@example.com", 1).await;
    let (status, body) = use_code(&app, "eve@example.com", &code, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["enabled"], true);
    let t = app.login("eve@example.com", NEW_PASSWORD).await;
    let (_, orgs) = app
        .get(
            "/v1/users/mine/organizations",
            t["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(orgs["results"][0]["name"], "Default");
}

/// Argon2 hashes of new passwords the node has computed, as its metrics publish them.
async fn hashes(app: &TestApp) -> u64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("bf_security_password_hashes_total "))
        .unwrap_or_else(|| panic!("no hash counter in {text}"))
        .trim()
        .parse()
        .unwrap()
}

async fn wrong_guesses_cost_the_guessing_address_not_the_invitation(kind: StoreKind) {
    let Some((app, dir)) = app_with_mail(kind).await else {
        return;
    };
    let admin = app.admin_token().await;
    let (status, body) = app
        .post(
            "/v1/users/invite",
            &admin,
            json!({"email": "ivy@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code = mailed_code(dir.path(), "ivy@example.com", 1).await;
    // More wrong guesses than would kill a reset code: the invitation lives on.
    for _ in 0..6 {
        let (status, _) = use_code(&app, "ivy@example.com", "0000000000", NEW_PASSWORD).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, body) = use_code(&app, "ivy@example.com", &code, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["enabled"], true);

    // Failed uses from one address, known e-mails or not, up to the hour's limit (20)…
    for i in 6..20 {
        let email = if i % 2 == 0 {
            "ivy@example.com"
        } else {
            "ghost@example.com"
        };
        let (status, _) = use_code(&app, email, "0000000000", NEW_PASSWORD).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "failure {i}");
    }
    // …then every operation that takes a code refuses this address before looking at it.
    request(&app, "ivy@example.com").await;
    let reset = mailed_code(dir.path(), "ivy@example.com", 2).await;
    let res = app
        .http
        .post(app.url(UPDATE))
        .json(&json!({"email": "ivy@example.com", "resetCode": reset, "newPassword": "third password 789"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_type(&body), "RateLimited");
    let (status, _) = app
        .post(
            "/v1/users/invite/accept",
            &admin,
            json!({"inviteCode": "0000000000"}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/v1/users/invite/openid",
            None,
            Some(json!({"inviteCode": "0000000000", "idToken": "not.a.token"})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The hour over, the code works.
    app.clock.advance_seconds(3600);
    let (status, body) = use_code(&app, "ivy@example.com", &reset, "third password 789").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "expired meanwhile: {body}");
    request(&app, "ivy@example.com").await;
    let reset = mailed_code(dir.path(), "ivy@example.com", 3).await;
    let (status, body) = use_code(&app, "ivy@example.com", &reset, "third password 789").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn only_a_matching_code_costs_a_password_hash(kind: StoreKind) {
    let Some((app, dir)) = app_with_mail(kind).await else {
        return;
    };
    create_user(&app, "hal@example.com").await;
    request(&app, "hal@example.com").await;
    let code = mailed_code(dir.path(), "hal@example.com", 1).await;
    let before = hashes(&app).await;
    for (email, code, password) in [
        ("hal@example.com", "0000000000", NEW_PASSWORD),
        ("nobody@example.com", "0000000000", NEW_PASSWORD),
        ("nobody@example.com", code.as_str(), NEW_PASSWORD),
        ("hal@example.com", code.as_str(), "short"),
    ] {
        let (status, _) = use_code(&app, email, code, password).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{email} {code} {password}");
    }
    assert_eq!(hashes(&app).await, before, "no hash for a failed use");
    let (status, body) = use_code(&app, "hal@example.com", &code, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(hashes(&app).await, before + 1);
}

crate::stories_of_kind!(
    a_reset_code_serves_only_to_reset,
    wrong_guesses_cost_the_guessing_address_not_the_invitation,
    guesses_sent_at_once_are_checked_no_more_often_than_the_limit,
    only_a_matching_code_costs_a_password_hash,
    the_whole_reset_journey,
    an_unknown_address_gets_the_same_answer,
    wrong_expired_and_guessed_codes_fail_alike,
    requests_are_rate_limited_known_or_not,
    an_invitation_is_accepted_with_a_password,
    a_reset_ends_every_session
);

async fn guesses_sent_at_once_are_checked_no_more_often_than_the_limit(kind: StoreKind) {
    let Some((app, _dir)) = app_with_mail(kind).await else {
        return;
    };
    // Forty wrong guesses from one address at once, against a limit of twenty an hour: each
    // is counted before its code is looked at, so no more than twenty are checked.
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (http, url) = (app.http.clone(), app.url(UPDATE));
        let body = json!({"email": format!("guess{}@example.com", i % 3),
                          "resetCode": "0000000000", "newPassword": NEW_PASSWORD});
        guesses.spawn(async move { http.post(url).json(&body).send().await.unwrap().status() });
    }
    let statuses = guesses.join_all().await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (20, 20), "{statuses:?}");
}

/// A reset code is no invitation: offered where an invitation is accepted, it is one generic
/// 400 and is not used up.
async fn a_reset_code_serves_only_to_reset(kind: StoreKind) {
    let Some((app, dir)) = app_with_mail(kind).await else {
        return;
    };
    create_user(&app, "ann@example.com").await;
    let token = crate::common::token_of(&app, "ann@example.com", PASSWORD).await;
    request(&app, "ann@example.com").await;
    let code = mailed_code(dir.path(), "ann@example.com", 1).await;
    let (status, body) = app
        .post(
            "/v1/users/invite/accept",
            &token,
            json!({"inviteCode": code}),
        )
        .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::BAD_REQUEST, "ValidationError"),
        "{body}"
    );
    let (_, orgs) = app.get("/v1/users/mine/organizations", &token).await;
    assert_eq!(orgs["recordsReturned"], 1, "joined nothing");
    let (status, body) = use_code(&app, "ann@example.com", &code, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "the code still resets: {body}");
}

async fn a_reset_ends_every_session(kind: StoreKind) {
    let Some((app, dir)) = app_with_mail(kind).await else {
        return;
    };
    create_user(&app, "lost@example.com").await;
    let one = app.login("lost@example.com", PASSWORD).await;
    let two = app.login("lost@example.com", PASSWORD).await;
    let (status, _) = request(&app, "lost@example.com").await;
    assert_eq!(status, StatusCode::OK);
    let code = mailed_code(dir.path(), "lost@example.com", 1).await;
    let (status, body) = use_code(&app, "lost@example.com", &code, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for login in [&one, &two] {
        let access = login["access_token"].as_str().unwrap();
        let (status, _) = app.get("/v1/users/mine", access).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "a session of before the reset"
        );
        let (status, _) = app
            .token_form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", login["refresh_token"].as_str().unwrap()),
            ])
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let admin = app.admin_token().await;
    let (status, listed) = app.get("/v1/users/lost@example.com/sessions", &admin).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["recordsReturned"], 0, "{listed}");
}
