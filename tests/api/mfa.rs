//! Second factors: TOTP enrolment and confirmation, the two steps of a login, recovery codes,
//! the `mfa_token`, the organizations that require a factor, and an administrator removing a
//! user's factors. Codes are computed here from the secret the enrolment answered, by a small
//! RFC 6238 of the test's own, at the time of the test's clock.

use bf_security::clock::Clock as _;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{
    behind_proxy, create_member, create_organization, delivering, error_type, home_organization,
    login_from, token_of, StoreKind, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD,
};
use crate::stories_of_kind;

stories_of_kind!(
    a_totp_factor_is_pending_until_a_right_first_code,
    a_login_with_a_factor_takes_two_steps_and_each_code_serves_once,
    a_code_one_step_off_is_accepted_and_two_steps_off_refused,
    recovery_codes_serve_once_and_new_ones_replace_the_old,
    the_mfa_token_serves_once_expires_and_is_nothing_else,
    wrong_codes_spend_the_mfa_token_and_count_against_the_login_limits,
    an_organization_requiring_a_factor_limits_a_member_without_one_to_enrolling,
    only_an_administrator_holding_all_the_user_holds_removes_his_factors,
    a_password_reset_does_not_remove_or_bypass_the_factor,
    secrets_are_neither_stored_nor_logged_in_clear,
    removing_a_factor_needs_a_code_or_the_password,
    a_login_that_passed_no_factor_acts_in_no_organization_requiring_one,
    turning_the_policy_on_limits_open_sessions_at_once,
    a_token_limited_to_enrolling_reaches_nothing_else,
    the_last_factor_stays_while_an_organization_requires_one,
    wrong_proofs_count_against_the_login_limits_and_right_ones_do_not,
    a_stolen_token_guessing_from_a_stranger_address_counts_against_the_email,
    wrong_first_codes_count_against_the_login_limits,
    removing_a_confirmed_factor_and_making_new_codes_are_mailed,
    a_token_limited_to_enrolling_says_so_in_its_scope,
);

const PASSWORD: &str = "member password 1234";
const MFA_GRANT: &str = "urn:billforward:params:oauth:grant-type:mfa";

async fn app_with_mail(kind: StoreKind) -> Option<(TestApp, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let app = TestApp::spawn_with(kind, move |s| {
        s.mail.dir = Some(path);
        delivering(s);
    })
    .await?;
    Some((app, dir))
}

/// RFC 4648 base32, as the enrolment answers the secret.
fn unbase32(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base32") as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// RFC 6238 with SHA-1, 6 digits, 30 s: the code at the test clock's time, `offset` steps off.
fn code(app: &TestApp, secret: &str, offset: i64) -> String {
    let step = app.clock.now().div_euclid(30_000) + offset;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&unbase32(secret)).unwrap();
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = (h[19] & 15) as usize;
    let n = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]) % 1_000_000;
    format!("{n:06}")
}

/// A member of the administrator's home organization with no role.
async fn member(app: &TestApp, email: &str) -> String {
    let admin = app.admin_token().await;
    let home = home_organization(app, &admin).await;
    create_member(app, &home, email, PASSWORD, &[]).await
}

/// Enrols a TOTP factor; answers (factor ID, base32 secret).
async fn enrol(app: &TestApp, token: &str) -> (String, String) {
    let (status, body) = app.post("/v1/users/mine/mfa/totp", token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["factor"]["id"].as_str().unwrap().to_string(),
        body["secret"].as_str().unwrap().to_string(),
    )
}

/// Enrols and confirms a factor; answers (factor ID, secret, recovery codes). Moves the clock
/// on a step, so that the next code asked for is a fresh one.
async fn with_factor(app: &TestApp, token: &str) -> (String, String, Vec<String>) {
    let (id, secret) = enrol(app, token).await;
    let (status, body) = app
        .post(
            &format!("/v1/users/mine/mfa/totp/{id}/confirm"),
            token,
            json!({ "code": code(app, &secret, 0) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let codes = body["recoveryCodes"]
        .as_array()
        .expect("recovery codes with the first factor")
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    app.clock.advance_seconds(30);
    (id, secret, codes)
}

/// The first step of a login that must go on: answers the mfa_token.
async fn first_step(app: &TestApp, email: &str) -> String {
    let (status, body) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "mfa_required", "{body}");
    assert_eq!(body["factors"][0]["kind"], "totp", "{body}");
    assert!(body.get("access_token").is_none());
    body["mfa_token"].as_str().unwrap().to_string()
}

async fn second_step(
    app: &TestApp,
    mfa_token: &str,
    field: &str,
    code: &str,
) -> (StatusCode, Value) {
    app.token_form(&[
        ("grant_type", MFA_GRANT),
        ("mfa_token", mfa_token),
        (field, code),
    ])
    .await
}

fn invalid_grant(status: StatusCode, body: &Value, case: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {body}");
    assert_eq!(body["error"], "invalid_grant", "{case}: {body}");
}

async fn a_totp_factor_is_pending_until_a_right_first_code(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    member(&app, "pending@example.com").await;
    let token = token_of(&app, "pending@example.com", PASSWORD).await;
    let (status, body) = app
        .post("/v1/users/mine/mfa/totp", &token, json!({"name": "phone"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["factor"]["id"].as_str().unwrap().to_string();
    let secret = body["secret"].as_str().unwrap().to_string();
    let uri = body["uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/BillForward:pending%40example.com?secret="),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={secret}")) && uri.contains("issuer=BillForward"));
    assert!(body["qrCodeSvg"].as_str().unwrap().contains("<svg"));
    assert_eq!(body["factor"]["confirmed"], false);

    // Pending: listed without its secret, and not asked for at a login.
    let (_, listed) = app.get("/v1/users/mine/mfa", &token).await;
    assert_eq!(listed["results"][0]["id"], id.as_str());
    assert_eq!(listed["results"][0]["confirmed"], false);
    assert!(!listed.to_string().contains(&secret));
    token_of(&app, "pending@example.com", PASSWORD).await;

    // A wrong first code, or none, confirms nothing.
    let confirm = format!("/v1/users/mine/mfa/totp/{id}/confirm");
    let wrong = if code(&app, &secret, 0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    for body in [
        json!({"code": wrong}),
        json!({}),
        json!({"code": code(&app, &secret, 5)}),
    ] {
        let (status, answer) = app.post(&confirm, &token, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(error_type(&answer), "ValidationError");
    }
    token_of(&app, "pending@example.com", PASSWORD).await;
    // Someone else's factor is not found.
    member(&app, "other@example.com").await;
    let other = token_of(&app, "other@example.com", PASSWORD).await;
    let (status, _) = app
        .post(&confirm, &other, json!({"code": code(&app, &secret, 0)}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = app
        .post(&confirm, &token, json!({"code": code(&app, &secret, 0)}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["factor"]["confirmed"], true);
    let codes = body["recoveryCodes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    let (status, _) = app
        .post(&confirm, &token, json!({"code": code(&app, &secret, 1)}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, listed) = app.get("/v1/users/mine/mfa", &token).await;
    assert_eq!(listed["results"][0]["confirmed"], true);
    assert!(listed["results"][0]["lastUsed"].is_string());
    first_step(&app, "pending@example.com").await;
}

async fn a_login_with_a_factor_takes_two_steps_and_each_code_serves_once(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let user_id = member(&app, "two@example.com").await;
    let token = token_of(&app, "two@example.com", PASSWORD).await;
    let (factor, secret, _) = with_factor(&app, &token).await;

    let mfa_token = first_step(&app, "two@example.com").await;
    let otp = code(&app, &secret, 0);
    let (status, pair) = second_step(&app, &mfa_token, "otp", &otp).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let access = pair["access_token"].as_str().unwrap();
    let (status, me) = app.get("/v1/users/mine", access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["results"][0]["id"], user_id.as_str());
    // The refresh token works as any login's.
    let (status, _) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", pair["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(status, StatusCode::OK);
    // The session says how it was opened.
    let (_, sessions) = app.get("/v1/users/mine/sessions", access).await;
    assert_eq!(sessions["results"][0]["method"], "password");

    // The same code again, within its window, with a fresh first step: refused.
    let again = first_step(&app, "two@example.com").await;
    let (status, body) = second_step(&app, &again, "otp", &otp).await;
    invalid_grant(status, &body, "a replayed code");
    // An earlier step's code than the one used: refused too.
    let (status, body) = second_step(&app, &again, "otp", &code(&app, &secret, -1)).await;
    invalid_grant(status, &body, "a code older than the one used");
    // The next step's code serves.
    app.clock.advance_seconds(30);
    let (status, body) = second_step(&app, &again, "otp", &code(&app, &secret, 0)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, listed) = app.get("/v1/users/mine/mfa", &token).await;
    assert_eq!(listed["results"][0]["id"], factor.as_str());
}

async fn a_code_one_step_off_is_accepted_and_two_steps_off_refused(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    member(&app, "drift@example.com").await;
    let token = token_of(&app, "drift@example.com", PASSWORD).await;
    let (_, secret, _) = with_factor(&app, &token).await;
    // Past the steps the confirmation may have spent.
    app.clock.advance_seconds(90);
    for offset in [2, -2] {
        let mfa_token = first_step(&app, "drift@example.com").await;
        let (status, body) =
            second_step(&app, &mfa_token, "otp", &code(&app, &secret, offset)).await;
        invalid_grant(status, &body, &format!("{offset} steps off"));
    }
    let mfa_token = first_step(&app, "drift@example.com").await;
    let (status, body) = second_step(&app, &mfa_token, "otp", &code(&app, &secret, -1)).await;
    assert_eq!(status, StatusCode::OK, "one step behind: {body}");
    let mfa_token = first_step(&app, "drift@example.com").await;
    let (status, body) = second_step(&app, &mfa_token, "otp", &code(&app, &secret, 1)).await;
    assert_eq!(status, StatusCode::OK, "one step ahead: {body}");
}

async fn recovery_codes_serve_once_and_new_ones_replace_the_old(kind: StoreKind) {
    let Some((app, dir)) = app_with_mail(kind).await else {
        return;
    };
    member(&app, "recover@example.com").await;
    let token = token_of(&app, "recover@example.com", PASSWORD).await;
    let (_, secret, codes) = with_factor(&app, &token).await;
    let mfa_token = first_step(&app, "recover@example.com").await;
    let (status, body) = second_step(&app, &mfa_token, "recovery_code", &codes[0]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Typed loosely: lower case, without dashes.
    let loose = codes[1].replace('-', "").to_lowercase();
    let mfa_token = first_step(&app, "recover@example.com").await;
    let (status, body) = second_step(&app, &mfa_token, "recovery_code", &loose).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Used once: refused.
    let mfa_token = first_step(&app, "recover@example.com").await;
    let (status, body) = second_step(&app, &mfa_token, "recovery_code", &codes[0]).await;
    invalid_grant(status, &body, "a recovery code used before");
    // The user was told, by mail.
    let mailed = wait_for_mail(dir.path(), "recover@example.com", "recovery code").await;
    assert!(mailed.contains("recovery codes"), "{mailed}");

    // New codes need a proof; then the old ones stop working.
    let (status, _) = app
        .post("/v1/users/mine/mfa/recovery-codes", &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .post(
            "/v1/users/mine/mfa/recovery-codes",
            &token,
            json!({"password": "wrong password 99"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = app
        .post(
            "/v1/users/mine/mfa/recovery-codes",
            &token,
            json!({"code": code(&app, &secret, 0)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fresh: Vec<String> = body["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(fresh.len(), 10);
    let mfa_token = first_step(&app, "recover@example.com").await;
    let (status, body) = second_step(&app, &mfa_token, "recovery_code", &codes[2]).await;
    invalid_grant(status, &body, "an old recovery code");
    let (status, body) = second_step(&app, &mfa_token, "recovery_code", &fresh[0]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The use is audited.
    let admin = app.admin_token().await;
    let (_, events) = app
        .get("/v1/audit-events?action=mfa.recovery_code_used", &admin)
        .await;
    assert!(
        events.to_string().contains("mfa.recovery_code_used"),
        "{events}"
    );
}

/// The text of the newest mail to `to` whose subject holds `subject`.
async fn wait_for_mail(dir: &std::path::Path, to: &str, subject: &str) -> String {
    for _ in 0..500 {
        let found = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .find(|m| {
                m.lines().any(|l| l.trim_end() == format!("To: {to}"))
                    && m.lines()
                        .any(|l| l.starts_with("Subject:") && l.contains(subject))
            });
        if let Some(mail) = found {
            return mail;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no mail about {subject} to {to}");
}

async fn the_mfa_token_serves_once_expires_and_is_nothing_else(kind: StoreKind) {
    let Some((app, dir)) = app_with_mail(kind).await else {
        return;
    };
    member(&app, "token@example.com").await;
    let token = token_of(&app, "token@example.com", PASSWORD).await;
    let (_, secret, _) = with_factor(&app, &token).await;

    // Never a bearer token.
    let mfa_token = first_step(&app, "token@example.com").await;
    let (status, _) = app.get("/v1/users/mine", &mfa_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Not a reset code, nor an invitation code.
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/users/password-reset/password-update",
            None,
            Some(json!({"email": "token@example.com", "resetCode": mfa_token,
                        "newPassword": "another password 42"})),
        )
        .await;
    assert!(
        status.is_client_error() && status != StatusCode::OK,
        "{status} {body}"
    );
    let (status, body) = app
        .post(
            "/v1/users/invite/accept",
            &token,
            json!({"inviteCode": mfa_token}),
        )
        .await;
    assert!(status.is_client_error(), "{status} {body}");
    // Not a refresh token.
    let (status, body) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &mfa_token),
        ])
        .await;
    invalid_grant(status, &body, "an mfa_token as a refresh token");
    // And neither a reset code nor any token stands for an mfa_token.
    app.call(
        Method::POST,
        "/v1/users/password-reset/request-reset-code",
        None,
        Some(json!({"email": "token@example.com"})),
    )
    .await;
    let reset_code = wait_for_mail(dir.path(), "token@example.com", "reset")
        .await
        .lines()
        .map(str::trim_end)
        .find(|l| l.len() == 10 && l.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap()
        .to_string();
    let otp = code(&app, &secret, 0);
    for stand_in in [reset_code.as_str(), token.as_str(), "bfsm_made-up"] {
        let (status, body) = second_step(&app, stand_in, "otp", &otp).await;
        invalid_grant(status, &body, "a stand-in for an mfa_token");
    }

    // Once.
    let (status, body) = second_step(&app, &mfa_token, "otp", &otp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.clock.advance_seconds(30);
    let (status, body) = second_step(&app, &mfa_token, "otp", &code(&app, &secret, 0)).await;
    invalid_grant(status, &body, "an mfa_token used before");

    // Within its life only (5 minutes by default).
    let late = first_step(&app, "token@example.com").await;
    app.clock.advance_seconds(301);
    let (status, body) = second_step(&app, &late, "otp", &code(&app, &secret, 0)).await;
    invalid_grant(status, &body, "an expired mfa_token");

    // Both codes at once, or neither, is a bad request.
    let fresh = first_step(&app, "token@example.com").await;
    let (status, body) = app
        .token_form(&[("grant_type", MFA_GRANT), ("mfa_token", &fresh)])
        .await;
    assert_eq!(body["error"], "invalid_request", "{status} {body}");
}

async fn wrong_codes_spend_the_mfa_token_and_count_against_the_login_limits(kind: StoreKind) {
    let Some(app) = TestApp::spawn_with(kind, |s| {
        s.login.failures_per_address_per_hour = 8;
    })
    .await
    else {
        return;
    };
    member(&app, "guess@example.com").await;
    let token = token_of(&app, "guess@example.com", PASSWORD).await;
    let (_, secret, _) = with_factor(&app, &token).await;
    let right = code(&app, &secret, 0);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);

    // Five wrong codes spend the mfa_token: the right one no longer helps.
    let mfa_token = first_step(&app, "guess@example.com").await;
    for _ in 0..5 {
        let (status, body) = second_step(&app, &mfa_token, "otp", &wrong).await;
        invalid_grant(status, &body, "a wrong code");
    }
    let (status, body) = second_step(&app, &mfa_token, "otp", &right).await;
    invalid_grant(status, &body, "the right code after too many wrong ones");

    // And they counted against the address's limit of failed logins, as wrong passwords do.
    let next = first_step(&app, "guess@example.com").await;
    for _ in 0..3 {
        second_step(&app, &next, "otp", &wrong).await;
    }
    let (status, body) = second_step(&app, &next, "otp", &right).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (status, _) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", "guess@example.com"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let admin_token = {
        // The administrator's address is the same loopback: wait for the hour to pass.
        app.clock.advance_seconds(3601);
        app.admin_token().await
    };
    let (_, events) = app
        .get("/v1/audit-events?action=login.failed", &admin_token)
        .await;
    assert!(
        events.to_string().contains("wrong second factor code"),
        "{events}"
    );
}

async fn an_organization_requiring_a_factor_limits_a_member_without_one_to_enrolling(
    kind: StoreKind,
) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let admin = app.admin_token().await;
    let home = home_organization(&app, &admin).await;
    member(&app, "limited@example.com").await;
    let policy = format!("/v1/organizations/{home}/mfa-policy");

    // A member without Organizations:update sees the policy but may not change it.
    let plain = token_of(&app, "limited@example.com", PASSWORD).await;
    let (status, body) = app.get(&policy, &plain).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["required"], false);
    let (status, _) = app.put(&policy, &plain, json!({"required": true})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A foreign organization's administrator does not even see it.
    let (other_org, other_admin_role) = create_organization(&app, "Other").await;
    create_member(
        &app,
        &other_org,
        "foreign@example.com",
        PASSWORD,
        &[&other_admin_role],
    )
    .await;
    let foreign = token_of(&app, "foreign@example.com", PASSWORD).await;
    assert_eq!(app.get(&policy, &foreign).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        app.put(&policy, &foreign, json!({"required": true}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = app.put(&policy, &admin, json!({"required": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["required"], true);

    // The member logs in, with a token limited to enrolling.
    let limited = token_of(&app, "limited@example.com", PASSWORD).await;
    let (status, _) = app.get("/v1/users/mine", &limited).await;
    assert_eq!(status, StatusCode::OK);
    for (method, path) in [
        (Method::GET, "/v1/users/mine/sessions".to_string()),
        (Method::GET, "/v1/users/mine/organizations".to_string()),
        (Method::GET, policy.clone()),
        (
            Method::POST,
            "/v1/users/generate-permanent-api-token".to_string(),
        ),
        (Method::GET, "/v1/users/generate-tokens".to_string()),
    ] {
        for _ in 0..2 {
            // Twice: the second answer comes from the node's cache of the token.
            let (status, body) = app.call(method.clone(), &path, Some(&limited), None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
            assert!(
                body["errorMessage"]
                    .as_str()
                    .unwrap()
                    .contains("second factor"),
                "{body}"
            );
        }
    }
    // A refresh keeps the limit.
    let pair = app.login("limited@example.com", PASSWORD).await;
    let (_, refreshed) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", pair["refresh_token"].as_str().unwrap()),
        ])
        .await;
    let refreshed = refreshed["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/v1/users/mine/sessions", refreshed).await.0,
        StatusCode::FORBIDDEN
    );
    // It may enrol.
    let (_, secret, _) = with_factor(&app, &limited).await;
    // The limited session stays limited; a new login with the factor acts fully.
    assert_eq!(
        app.get("/v1/users/mine/sessions", &limited).await.0,
        StatusCode::FORBIDDEN
    );
    let mfa_token = first_step(&app, "limited@example.com").await;
    let (status, pair) = second_step(&app, &mfa_token, "otp", &code(&app, &secret, 0)).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let full = pair["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/v1/users/mine/sessions", full).await.0,
        StatusCode::OK
    );
    // Revoking works for the limited token too.
    let res = app
        .http
        .post(app.url("/v1/oauth/revoke"))
        .form(&[("token", limited.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // A permanent token needs a second factor passed at this login: the administrator, who has
    // none, may no longer make one in this organization.
    let admin_again = app.admin_token().await;
    let (status, body) = app
        .post(
            "/v1/users/generate-permanent-api-token",
            &admin_again,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

async fn only_an_administrator_holding_all_the_user_holds_removes_his_factors(kind: StoreKind) {
    let Some((app, dir)) = app_with_mail(kind).await else {
        return;
    };
    let admin = app.admin_token().await;
    let home = home_organization(&app, &admin).await;
    let target = member(&app, "lost@example.com").await;
    let token = token_of(&app, "lost@example.com", PASSWORD).await;
    with_factor(&app, &token).await;
    let path = format!("/v1/users/{target}/mfa");

    // A foreign organization's administrator: not found.
    let (other_org, other_admin_role) = create_organization(&app, "Elsewhere").await;
    create_member(
        &app,
        &other_org,
        "stranger@example.com",
        PASSWORD,
        &[&other_admin_role],
    )
    .await;
    let stranger = token_of(&app, "stranger@example.com", PASSWORD).await;
    assert_eq!(app.delete(&path, &stranger).await.0, StatusCode::NOT_FOUND);
    // A fellow member without Users:update, or the user himself: refused.
    member(&app, "peer@example.com").await;
    let peer = token_of(&app, "peer@example.com", PASSWORD).await;
    assert_eq!(app.delete(&path, &peer).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.delete(&path, &token).await.0, StatusCode::FORBIDDEN);
    // One holding Users:update but less than the user: refused.
    let (status, role) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "user updater", "permissions": [{"resource": "Users", "action": "update"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{role}");
    let role_id = role["results"][0]["id"].as_str().unwrap().to_string();
    let (status, wide) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "wide", "permissions": [{"resource": "Roles", "action": "read"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{wide}");
    let wide_id = wide["results"][0]["id"].as_str().unwrap().to_string();
    let outranked = create_member(&app, &home, "updater@example.com", PASSWORD, &[&role_id]).await;
    let _ = outranked;
    let mut tx = app.app.store.write().await.unwrap();
    bf_security::store::memberships::give_role(
        &mut tx,
        &target,
        &wide_id,
        &home,
        app.clock.now(),
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.app.auth.forget_all();
    let updater = token_of(&app, "updater@example.com", PASSWORD).await;
    assert_eq!(app.delete(&path, &updater).await.0, StatusCode::FORBIDDEN);
    first_step(&app, "lost@example.com").await;

    // The administrator may.
    let (status, body) = app.delete(&path, &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["removed"], 1);
    token_of(&app, "lost@example.com", PASSWORD).await;
    wait_for_mail(dir.path(), "lost@example.com", "second factors").await;
    let (_, events) = app.get("/v1/audit-events?action=mfa.reset", &admin).await;
    assert!(events.to_string().contains(&target), "{events}");
}

async fn a_password_reset_does_not_remove_or_bypass_the_factor(kind: StoreKind) {
    let Some((app, dir)) = app_with_mail(kind).await else {
        return;
    };
    member(&app, "forgot@example.com").await;
    let token = token_of(&app, "forgot@example.com", PASSWORD).await;
    with_factor(&app, &token).await;
    app.call(
        Method::POST,
        "/v1/users/password-reset/request-reset-code",
        None,
        Some(json!({"email": "forgot@example.com"})),
    )
    .await;
    let reset_code = wait_for_mail(dir.path(), "forgot@example.com", "reset")
        .await
        .lines()
        .map(str::trim_end)
        .find(|l| l.len() == 10 && l.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap()
        .to_string();
    let new_password = "a brand new password 77";
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/users/password-reset/password-update",
            None,
            Some(
                json!({"email": "forgot@example.com", "resetCode": reset_code,
                        "newPassword": new_password}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", "forgot@example.com"),
            ("password", new_password),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "mfa_required");
}

async fn secrets_are_neither_stored_nor_logged_in_clear(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    member(&app, "sealed@example.com").await;
    let token = token_of(&app, "sealed@example.com", PASSWORD).await;
    let (_, secret, codes) = with_factor(&app, &token).await;
    let mfa_token = first_step(&app, "sealed@example.com").await;
    let raw_secret = unbase32(&secret);
    let mut conn = app.app.store.pool().acquire().await.unwrap();
    let mut stored = String::new();
    for table in [
        "second_factors",
        "recovery_codes",
        "mfa_challenges",
        "audit_events",
        "mail_outbox",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
        stored.push_str(&rows.join("\n"));
    }
    // SQLite has no row-to-text cast: read the columns one by one there.
    if kind == StoreKind::Sqlite {
        for (table, columns) in [
            ("second_factors", "id || kind || name || credential"),
            ("recovery_codes", "id || digest"),
            ("mfa_challenges", "id || digest || client"),
            ("audit_events", "action || COALESCE(details, '')"),
        ] {
            let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT {columns} FROM {table}"))
                .fetch_all(&mut *conn)
                .await
                .unwrap();
            stored.push_str(&rows.join("\n"));
        }
    }
    assert!(stored.contains("MFA-"), "the tables were read: {stored}");
    assert!(
        !stored.contains(&secret),
        "the base32 secret is stored in clear"
    );
    let hex: String = raw_secret.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!stored.to_lowercase().contains(&hex));
    for c in &codes {
        assert!(
            !stored.contains(c.as_str()),
            "a recovery code is stored in clear"
        );
    }
    assert!(
        !stored.contains(&mfa_token),
        "the mfa_token is stored in clear"
    );
    // The sealed secret does not open with another key.
    let credential: String = sqlx::query_scalar("SELECT credential FROM second_factors")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let other = bf_security::security::sealing::Sealer::new(&crate::common::test_secrets_key());
    assert!(other.open("MFA-x", &credential).is_err());
}

async fn removing_a_factor_needs_a_code_or_the_password(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    member(&app, "remove@example.com").await;
    let token = token_of(&app, "remove@example.com", PASSWORD).await;
    let (id, secret, codes) = with_factor(&app, &token).await;
    let path = format!("/v1/users/mine/mfa/{id}");
    for body in [
        json!({}),
        json!({"password": "not the password 1"}),
        json!({"code": "123"}),
    ] {
        let (status, answer) = app
            .call(Method::DELETE, &path, Some(&token), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    }
    // A recovery code is no proof for removing: it stands in at a login only.
    let (status, _) = app
        .call(
            Method::DELETE,
            &path,
            Some(&token),
            Some(json!({"code": codes[0]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    first_step(&app, "remove@example.com").await;
    let (status, body) = app
        .call(
            Method::DELETE,
            &path,
            Some(&token),
            Some(json!({"code": code(&app, &secret, 0)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    token_of(&app, "remove@example.com", PASSWORD).await;
    let (_, listed) = app.get("/v1/users/mine/mfa", &token).await;
    assert_eq!(listed["results"], json!([]));
    // With the password, too.
    let (id, _, _) = with_factor(&app, &token).await;
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/v1/users/mine/mfa/{id}"),
            Some(&token),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let _ = (ADMIN_EMAIL, ADMIN_PASSWORD);
}

/// Makes a user a member of another organization, holding a role there.
async fn join(app: &TestApp, user_id: &str, organization_id: &str, role_id: &str) {
    use bf_security::store::memberships;
    let now = app.clock.now();
    let mut tx = app.app.store.write().await.expect("begin");
    memberships::add_member(&mut tx, user_id, organization_id, now, None)
        .await
        .expect("add member");
    memberships::give_role(&mut tx, user_id, role_id, organization_id, now, None)
        .await
        .expect("assign role");
    tx.commit().await.expect("commit");
    app.app.auth.forget_all();
}

/// A password login into an organization, answering its access token.
async fn login_into(app: &TestApp, email: &str, organization_id: &str) -> String {
    let (status, body) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", PASSWORD),
            ("organizationID", organization_id),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// Asserts a refusal for want of a second factor, twice: the second answer comes from the
/// node's caches.
async fn refused_for_a_factor(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) {
    for _ in 0..2 {
        let (status, answer) = app
            .call(method.clone(), path, Some(token), body.clone())
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        assert!(
            answer["errorMessage"]
                .as_str()
                .unwrap_or_default()
                .contains("second factor"),
            "{method} {path}: {answer}"
        );
    }
}

async fn introspected(app: &TestApp, caller: &str, organization_id: &str, token: &str) -> Value {
    let (status, body) = app
        .post(
            &format!("/v1/oauth/introspect?organizations={organization_id}"),
            caller,
            json!({ "token": token }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn a_login_that_passed_no_factor_acts_in_no_organization_requiring_one(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let admin = app.admin_token().await;
    let (org_a, role_a) = create_organization(&app, "Alpha").await;
    let (org_b, role_b) = create_organization(&app, "Beta").await;
    let email = "both@example.com";
    let user = create_member(&app, &org_a, email, PASSWORD, &[&role_a]).await;
    join(&app, &user, &org_b, &role_b).await;

    // Before the policy: a session in B, and a permanent token made there by a login that
    // passed no factor.
    let in_b = login_into(&app, email, &org_b).await;
    let (status, body) = app
        .post("/v1/users/generate-permanent-api-token", &in_b, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let old_permanent = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.get("/v1/users", &old_permanent).await.0, StatusCode::OK);

    let (status, body) = app
        .put(
            &format!("/v1/organizations/{org_b}/mfa-policy"),
            &admin,
            json!({"required": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Logged into A, where no factor is required: he acts in A, not in B.
    let in_a = token_of(&app, email, PASSWORD).await;
    let (status, body) = app
        .get(&format!("/v1/users?organizations={org_a}"), &in_a)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for path in [
        format!("/v1/users?organizations={org_b}"),
        format!("/v1/users?organizations={org_a}&organizations={org_b}"),
        format!("/v1/roles?organizations={org_b}"),
        format!("/v1/audit-events?organizations={org_b}"),
        format!("/v1/organizations/{org_b}"),
        format!("/v1/organizations/{org_b}/mfa-policy"),
    ] {
        refused_for_a_factor(&app, Method::GET, &path, &in_a, None).await;
    }
    // Nor does a body naming B take him there.
    refused_for_a_factor(
        &app,
        Method::POST,
        "/v1/users/generate-permanent-api-token",
        &in_a,
        Some(json!({"organizationID": org_b})),
    )
    .await;
    refused_for_a_factor(
        &app,
        Method::PUT,
        &format!("/v1/organizations/{org_b}/mfa-policy"),
        &in_a,
        Some(json!({"required": false})),
    )
    .await;
    // The session opened in B before the policy, the permanent token made then, and the pairs
    // minted from it: limited at once.
    refused_for_a_factor(&app, Method::GET, "/v1/users", &in_b, None).await;
    assert_eq!(app.get("/v1/users/mine", &in_b).await.0, StatusCode::OK);
    refused_for_a_factor(&app, Method::GET, "/v1/users", &old_permanent, None).await;
    refused_for_a_factor(
        &app,
        Method::GET,
        "/v1/users/generate-tokens",
        &old_permanent,
        None,
    )
    .await;
    // A platform administrator's login passed no factor either.
    refused_for_a_factor(
        &app,
        Method::GET,
        &format!("/v1/users?organizations={org_b}"),
        &admin,
        None,
    )
    .await;

    // With a factor (enrolled from A), the login asks for it, into A too; then B is open.
    let (_, secret, _) = with_factor(&app, &in_a).await;
    let mfa_token = first_step(&app, email).await;
    let (status, pair) = second_step(&app, &mfa_token, "otp", &code(&app, &secret, 0)).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let full = pair["access_token"].as_str().unwrap().to_string();
    let (status, body) = app
        .get(&format!("/v1/users?organizations={org_b}"), &full)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A refresh keeps what the login passed.
    let (status, refreshed) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", pair["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let refreshed = refreshed["access_token"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/users?organizations={org_b}"), refreshed)
            .await
            .0,
        StatusCode::OK
    );
    // Introspection tells the old permanent token apart: it may only enrol there.
    let described = introspected(&app, &full, &org_b, &old_permanent).await;
    assert_eq!(described["active"], true, "{described}");
    assert_eq!(described["scope"], "mfa:enrol", "{described}");
    assert_eq!(described["permissions"], json!([]), "{described}");
    // Rotated by the login that passed one, the permanent token works there again.
    let (status, body) = app
        .post(
            &format!("/v1/users/refresh-permanent-api-token?organizations={org_b}"),
            &full,
            json!({"organizationID": org_b}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rotated = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.get("/v1/users", &rotated).await.0, StatusCode::OK);
    let (status, minted) = app.get("/v1/users/generate-tokens", &rotated).await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    let minted = minted["accessToken"].as_str().unwrap();
    assert_eq!(app.get("/v1/users", minted).await.0, StatusCode::OK);
    let described = introspected(&app, &full, &org_b, &rotated).await;
    assert_eq!(described["scope"], "api", "{described}");
    assert_ne!(described["permissions"], json!([]), "{described}");
}

async fn turning_the_policy_on_limits_open_sessions_at_once(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let admin = app.admin_token().await;
    let home = home_organization(&app, &admin).await;
    member(&app, "open@example.com").await;
    let open = token_of(&app, "open@example.com", PASSWORD).await;
    for _ in 0..2 {
        // Twice: the answer is cached.
        assert_eq!(
            app.get("/v1/users/mine/sessions", &open).await.0,
            StatusCode::OK
        );
    }
    let policy = format!("/v1/organizations/{home}/mfa-policy");
    let (status, body) = app.put(&policy, &admin, json!({"required": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // At once, not at the next login: the session may only see its user and enrol.
    refused_for_a_factor(&app, Method::GET, "/v1/users/mine/sessions", &open, None).await;
    assert_eq!(app.get("/v1/users/mine", &open).await.0, StatusCode::OK);
    assert_eq!(app.get("/v1/users/mine/mfa", &open).await.0, StatusCode::OK);
    enrol(&app, &open).await;
    // The platform administrator who turned it on is no exception, not even to turn it off.
    refused_for_a_factor(&app, Method::GET, "/v1/users/mine/sessions", &admin, None).await;
    refused_for_a_factor(
        &app,
        Method::PUT,
        &policy,
        &admin,
        Some(json!({"required": false})),
    )
    .await;
}

async fn a_token_limited_to_enrolling_reaches_nothing_else(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let admin = app.admin_token().await;
    let (home, role) = create_organization(&app, "Guarded").await;
    let email = "enrolling@example.com";
    create_member(&app, &home, email, PASSWORD, &[]).await;
    create_member(&app, &home, "watcher@example.com", PASSWORD, &[&role]).await;
    let (status, body) = app
        .put(
            &format!("/v1/organizations/{home}/mfa-policy"),
            &admin,
            json!({"required": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let limited = token_of(&app, email, PASSWORD).await;
    let (other_org, _) = create_organization(&app, "Elsewhere").await;
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/users/generate-permanent-api-token".to_string(),
            json!({}),
        ),
        (
            Method::GET,
            "/v1/users/generate-tokens".to_string(),
            Value::Null,
        ),
        (
            Method::POST,
            "/v1/users/mine/invitations/COD-none/accept".to_string(),
            json!({}),
        ),
        (
            Method::PUT,
            format!("/v1/users/{email}/email"),
            json!({"email": "new@example.com"}),
        ),
        (
            Method::PUT,
            format!("/v1/users/{email}/password"),
            json!({"password": "another password 1234"}),
        ),
        (
            Method::POST,
            "/v1/users/invite/openid".to_string(),
            json!({"assertion": "x"}),
        ),
        (Method::GET, "/v1/audit-events".to_string(), Value::Null),
        (
            Method::POST,
            "/v1/oauth/introspect".to_string(),
            json!({"token": "bfsa_x"}),
        ),
        (
            Method::GET,
            format!("/v1/users/mine?organizations={other_org}"),
            Value::Null,
        ),
    ] {
        let body = (!body.is_null()).then_some(body);
        let (status, answer) = app.call(method.clone(), &path, Some(&limited), body).await;
        assert!(
            status == StatusCode::FORBIDDEN,
            "{method} {path}: {status} {answer}"
        );
    }
    // Its refresh token gives no more than it.
    let pair = app.login(email, PASSWORD).await;
    let (status, refreshed) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", pair["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let refreshed = refreshed["access_token"].as_str().unwrap();
    refused_for_a_factor(
        &app,
        Method::GET,
        "/v1/users/mine/sessions",
        refreshed,
        None,
    )
    .await;

    // Introspected by someone who passed a factor, it is told apart.
    let watcher_token = token_of(&app, "watcher@example.com", PASSWORD).await;
    let (_, secret, _) = with_factor(&app, &watcher_token).await;
    let mfa_token = first_step(&app, "watcher@example.com").await;
    let (status, pair) = second_step(&app, &mfa_token, "otp", &code(&app, &secret, 0)).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let full = pair["access_token"].as_str().unwrap().to_string();
    let described = introspected(&app, &full, &home, &limited).await;
    assert_eq!(described["active"], true, "{described}");
    assert_eq!(described["scope"], "mfa:enrol", "{described}");
    assert_eq!(described["permissions"], json!([]), "{described}");

    // An mfa_token is no token to revoke or describe: revoking it leaves it working.
    let mfa_token = first_step(&app, "watcher@example.com").await;
    let revoked = app
        .http
        .post(app.url("/v1/oauth/revoke"))
        .form(&[("token", mfa_token.as_str())])
        .send()
        .await
        .expect("request sent");
    assert_eq!(revoked.status(), StatusCode::OK);
    let described = introspected(&app, &full, &home, &mfa_token).await;
    assert_eq!(described["active"], false, "{described}");
    let (status, pair) = second_step(&app, &mfa_token, "otp", &code(&app, &secret, 1)).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
}

async fn the_last_factor_stays_while_an_organization_requires_one(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let admin = app.admin_token().await;
    let home = home_organization(&app, &admin).await;
    let email = "keeper@example.com";
    member(&app, email).await;
    let token = token_of(&app, email, PASSWORD).await;
    let (first, secret, _) = with_factor(&app, &token).await;
    let (status, body) = app
        .put(
            &format!("/v1/organizations/{home}/mfa-policy"),
            &admin,
            json!({"required": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let remove = |id: &str| format!("/v1/users/mine/mfa/{id}");
    let (status, body) = app
        .call(
            Method::DELETE,
            &remove(&first),
            Some(&token),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // The factor still works.
    let mfa_token = first_step(&app, email).await;
    let (status, pair) = second_step(&app, &mfa_token, "otp", &code(&app, &secret, 0)).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let full = pair["access_token"].as_str().unwrap().to_string();
    // With another confirmed first, the old one goes.
    app.clock.advance_seconds(30);
    let (second, second_secret) = enrol(&app, &full).await;
    let (status, body) = app
        .post(
            &format!("/v1/users/mine/mfa/totp/{second}/confirm"),
            &full,
            json!({ "code": code(&app, &second_secret, 0) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .call(
            Method::DELETE,
            &remove(&first),
            Some(&full),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .call(
            Method::DELETE,
            &remove(&second),
            Some(&full),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

/// A request with a proof, from the client at `from` (sent as `X-Forwarded-For`, behind a
/// trusted proxy), or from the test's own loopback address.
async fn proving(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
    from: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = app
        .http
        .request(method, app.url(path))
        .bearer_auth(token)
        .json(&body);
    if let Some(from) = from {
        req = req.header("x-forwarded-for", from);
    }
    let res = req.send().await.expect("request sent");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Removing a factor and making new recovery codes take a proof: each one counts against the
/// limit of failed password logins from the client's address before it is checked, a right
/// one is given back, and over the limit even the right one is refused unchecked, as a login
/// is. Wrong ones are audited.
async fn wrong_proofs_count_against_the_login_limits_and_right_ones_do_not(kind: StoreKind) {
    let Some(app) = TestApp::spawn_with(kind, |s| {
        s.login.failures_per_address_per_hour = 4;
    })
    .await
    else {
        return;
    };
    let email = "prover@example.com";
    member(&app, email).await;
    let token = token_of(&app, email, PASSWORD).await;
    let (id, secret, _) = with_factor(&app, &token).await;
    let remove = format!("/v1/users/mine/mfa/{id}");
    let codes = "/v1/users/mine/mfa/recovery-codes";

    // Right proofs, more than the limit allows failures: each is given back.
    for _ in 0..5 {
        let (status, body) = app
            .post(codes, &token, json!({ "password": PASSWORD }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Requests refused before any proof is checked count for nothing either.
    for _ in 0..5 {
        let (status, _) = app
            .call(
                Method::DELETE,
                "/v1/users/mine/mfa/MFA-none",
                Some(&token),
                Some(json!({ "password": "a wrong password 1" })),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app
            .call(Method::DELETE, &remove, Some(&token), Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    // Wrong ones count, the password's and the codes' alike, at both operations.
    let right = code(&app, &secret, 0);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
    for (method, path, body) in [
        (
            Method::DELETE,
            remove.as_str(),
            json!({"password": "a wrong password 1"}),
        ),
        (Method::DELETE, remove.as_str(), json!({ "code": wrong })),
        (
            Method::POST,
            codes,
            json!({"password": "a wrong password 2"}),
        ),
        (Method::POST, codes, json!({ "code": wrong })),
    ] {
        let (status, answer) = app
            .call(method.clone(), path, Some(&token), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {body}: {answer}");
        assert_eq!(error_type(&answer), "ValidationError", "{answer}");
    }
    // Over the limit: refused before the proof is looked at, right or not.
    for (method, path, body) in [
        (
            Method::DELETE,
            remove.as_str(),
            json!({ "password": PASSWORD }),
        ),
        (Method::DELETE, remove.as_str(), json!({ "code": right })),
        (Method::POST, codes, json!({ "password": PASSWORD })),
    ] {
        let (status, answer) = app
            .call(method.clone(), path, Some(&token), Some(body.clone()))
            .await;
        assert_eq!(
            status,
            StatusCode::TOO_MANY_REQUESTS,
            "{method} {body}: {answer}"
        );
        assert_eq!(error_type(&answer), "RateLimited", "{answer}");
    }
    // The right code was not spent, and the factor is still there.
    let (_, listed) = app.get("/v1/users/mine/mfa", &token).await;
    assert_eq!(listed["results"][0]["id"], id.as_str(), "{listed}");
    // The limit is the password login's own: from this address, logins are refused too.
    let (status, _) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // The hour over, the right proof serves.
    app.clock.advance_seconds(3601);
    let mfa_token = first_step(&app, email).await;
    let (status, pair) = second_step(&app, &mfa_token, "otp", &code(&app, &secret, 0)).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let token = pair["access_token"].as_str().unwrap();
    let (status, body) = app
        .call(
            Method::DELETE,
            &remove,
            Some(token),
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Each wrong proof is in the audit trail as a failure of what it was for.
    let admin = app.admin_token().await;
    for (action, failures) in [("mfa.removed", 2), ("mfa.recovery_codes_regenerated", 2)] {
        let (status, events) = app
            .get(
                &format!("/v1/audit-events?kind={action}&outcome=failed"),
                &admin,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{events}");
        let events = events["results"].as_array().unwrap();
        assert_eq!(events.len(), failures, "{action}: {events:?}");
        let reasons: Vec<&str> = events
            .iter()
            .map(|e| e["reason"].as_str().unwrap_or_default())
            .collect();
        assert!(reasons.contains(&"wrong password"), "{reasons:?}");
        assert!(reasons.contains(&"wrong or used code"), "{reasons:?}");
    }
    let (_, events) = app
        .get(
            "/v1/audit-events?kind=mfa.removed&outcome=succeeded",
            &admin,
        )
        .await;
    assert_eq!(events["results"].as_array().unwrap().len(), 1, "{events}");
}

/// A token used from an address its user never logged in from with his password is a
/// stranger's: its wrong proofs count against his e-mail as a stranger's wrong passwords do,
/// and hold back the token endpoint's password logins of strangers, never his own from home.
async fn a_stolen_token_guessing_from_a_stranger_address_counts_against_the_email(kind: StoreKind) {
    let Some(app) = TestApp::spawn_with(kind, |s| {
        behind_proxy(s);
        s.login.failures_per_email_per_hour = 3;
        s.login.delay_after_failures = 3;
    })
    .await
    else {
        return;
    };
    const HOME: &str = "198.51.100.10";
    const THIEF: &str = "203.0.113.66";
    const ELSEWHERE: &str = "192.0.2.44";
    let email = "stolen@example.com";
    member(&app, email).await;
    let home = login_from(&app, HOME, email, PASSWORD, None).await;
    assert_eq!(home.status, StatusCode::OK, "{:?}", home.body);
    let token = home.body["access_token"].as_str().unwrap().to_string();
    let (id, _, _) = with_factor(&app, &token).await;
    let remove = format!("/v1/users/mine/mfa/{id}");
    for guess in ["guess one 1234", "guess two 1234", "guess three 1234"] {
        let (status, body) = proving(
            &app,
            Method::DELETE,
            &remove,
            &token,
            json!({ "password": guess }),
            Some(THIEF),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    // Over the e-mail's limit, from any address its user never logged in from.
    for from in [THIEF, ELSEWHERE] {
        let (status, body) = proving(
            &app,
            Method::DELETE,
            &remove,
            &token,
            json!({ "password": PASSWORD }),
            Some(from),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{from}: {body}");
        let a = login_from(&app, from, email, PASSWORD, None).await;
        assert_eq!(
            a.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{from}: {:?}",
            a.body
        );
    }
    // From home the user is not held back, neither at a login nor with a proof.
    let a = login_from(&app, HOME, email, PASSWORD, None).await;
    assert_eq!(a.body["error"], "mfa_required", "{:?}", a.body);
    let (status, body) = proving(
        &app,
        Method::DELETE,
        &remove,
        &token,
        json!({ "password": PASSWORD }),
        Some(HOME),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The first code of a pending factor counts as a proof does: wrong ones against the limits,
/// over them the right one refused unchecked; a right one given back.
async fn wrong_first_codes_count_against_the_login_limits(kind: StoreKind) {
    let Some(app) = TestApp::spawn_with(kind, |s| {
        s.login.failures_per_address_per_hour = 3;
    })
    .await
    else {
        return;
    };
    let email = "fumble@example.com";
    member(&app, email).await;
    let token = token_of(&app, email, PASSWORD).await;
    let (_, first, _) = with_factor(&app, &token).await;
    // Right first codes, more than the limit allows failures: given back.
    for _ in 0..3 {
        let (id, secret) = enrol(&app, &token).await;
        let (status, body) = app
            .post(
                &format!("/v1/users/mine/mfa/totp/{id}/confirm"),
                &token,
                json!({ "code": code(&app, &secret, 0) }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (id, secret) = enrol(&app, &token).await;
    let confirm = format!("/v1/users/mine/mfa/totp/{id}/confirm");
    let right = code(&app, &secret, 0);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
    for _ in 0..3 {
        let (status, body) = app.post(&confirm, &token, json!({ "code": wrong })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, body) = app.post(&confirm, &token, json!({ "code": right })).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (_, listed) = app.get("/v1/users/mine/mfa", &token).await;
    let pending = listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id.as_str())
        .cloned();
    assert_eq!(pending.unwrap()["confirmed"], false, "{listed}");
    // The hour over, a new login's token confirms it.
    app.clock.advance_seconds(3601);
    let mfa_token = first_step(&app, email).await;
    let (status, pair) = second_step(&app, &mfa_token, "otp", &code(&app, &first, 0)).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let token = pair["access_token"].as_str().unwrap();
    let (status, body) = app
        .post(&confirm, token, json!({ "code": code(&app, &secret, 0) }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The mails queued for `to`, oldest first: (subject, text).
async fn outbox(app: &TestApp, to: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT subject, body_text FROM mail_outbox WHERE recipient = $1 ORDER BY created, id",
    )
    .bind(to)
    .fetch_all(app.app.store.pool())
    .await
    .unwrap()
}

/// The user is told when one of his confirmed factors is removed and when new recovery codes
/// are made (by him, or by whoever holds his token and password): what, when, and what to do
/// if it was not him; never a code or a secret. Removing a pending factor, which never guarded
/// a login, is not mailed.
async fn removing_a_confirmed_factor_and_making_new_codes_are_mailed(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let email = "told@example.com";
    member(&app, email).await;
    let token = token_of(&app, email, PASSWORD).await;
    let (first, secret, old_codes) = with_factor(&app, &token).await;
    let when = |app: &TestApp| {
        bf_security::clock::rfc3339(app.clock.now())
            .replace('T', " ")
            .replace('Z', " UTC")
    };

    // A pending factor goes unmailed.
    let (status, body) = app
        .post(
            "/v1/users/mine/mfa/totp",
            &token,
            json!({"name": "Spare phone"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pending = body["factor"]["id"].as_str().unwrap().to_string();
    let pending_secret = body["secret"].as_str().unwrap().to_string();
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/v1/users/mine/mfa/{pending}"),
            Some(&token),
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(outbox(&app, email).await, Vec::new());

    // New recovery codes: mailed, without them.
    let (status, body) = app
        .post(
            "/v1/users/mine/mfa/recovery-codes",
            &token,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new_codes: Vec<String> = body["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let mails = outbox(&app, email).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let (subject, text) = &mails[0];
    assert_eq!(
        subject,
        "New recovery codes were made for your BillForward login"
    );
    assert!(text.contains(&format!("at {}", when(&app))), "{text}");
    assert!(text.contains("no longer work"), "{text}");
    assert!(text.contains("If it was not you"), "{text}");

    // The last confirmed factor removed: mailed, saying the login lost its second factor.
    app.clock.advance_seconds(30);
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/v1/users/mine/mfa/{first}"),
            Some(&token),
            Some(json!({ "code": code(&app, &secret, 0) })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mails = outbox(&app, email).await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    let (subject, text) = &mails[1];
    assert_eq!(
        subject,
        "A second factor of your BillForward login was removed"
    );
    assert!(
        text.contains("“Authenticator app” (an authenticator app)"),
        "{text}"
    );
    assert!(text.contains(&format!("at {}", when(&app))), "{text}");
    assert!(text.contains("It was the last one"), "{text}");
    assert!(text.contains("If it was not you"), "{text}");
    for (_, text) in &mails {
        for secret in old_codes
            .iter()
            .chain(&new_codes)
            .chain([&secret, &pending_secret])
        {
            assert!(!text.contains(secret.as_str()), "{secret} in {text}");
        }
        assert!(!text.contains(&code(&app, &secret, 0)), "{text}");
    }
}

/// A refresh at the token endpoint; answers the new pair.
async fn refreshed(app: &TestApp, refresh_token: &str) -> Value {
    let (status, pair) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    pair
}

/// The token endpoint's answer says what its token may do: `mfa:enrol` for a login limited
/// to enrolling a second factor, in the words introspection uses, and so do its refreshes
/// (their retries too) while the limit lasts; a login that passed a factor has the login's
/// usual scope. A session opened before its organization required a factor is limited from
/// then on, and its next refresh says so.
async fn a_token_limited_to_enrolling_says_so_in_its_scope(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let admin = app.admin_token().await;
    let (home, role) = create_organization(&app, "Guarded").await;
    let email = "scoped@example.com";
    create_member(&app, &home, email, PASSWORD, &[]).await;
    create_member(&app, &home, "early@example.com", PASSWORD, &[]).await;
    create_member(&app, &home, "watcher@example.com", PASSWORD, &[&role]).await;
    let early = app.login("early@example.com", PASSWORD).await;
    assert_eq!(early["scope"], "api organizations:all", "{early}");
    let (status, body) = app
        .put(
            &format!("/v1/organizations/{home}/mfa-policy"),
            &admin,
            json!({"required": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A member without a factor: limited, and told so.
    let limited = app.login(email, PASSWORD).await;
    assert_eq!(limited["scope"], "mfa:enrol", "{limited}");
    assert_eq!(limited["organizationID"], home.as_str(), "{limited}");
    let once = refreshed(&app, limited["refresh_token"].as_str().unwrap()).await;
    assert_eq!(once["scope"], "mfa:enrol", "{once}");
    // A retry of that refresh is answered the same pair, with the same scope.
    let again = refreshed(&app, limited["refresh_token"].as_str().unwrap()).await;
    assert_eq!(again["access_token"], once["access_token"], "{again}");
    assert_eq!(again["scope"], "mfa:enrol", "{again}");
    // Enrolling does not lift the session's limit: its refreshes still say so.
    let (_, secret, _) = with_factor(&app, limited["access_token"].as_str().unwrap()).await;
    let twice = refreshed(&app, once["refresh_token"].as_str().unwrap()).await;
    assert_eq!(twice["scope"], "mfa:enrol", "{twice}");

    // The session opened before the policy is limited now: its refresh says so, as
    // introspection does of its tokens.
    let early = refreshed(&app, early["refresh_token"].as_str().unwrap()).await;
    assert_eq!(early["scope"], "mfa:enrol", "{early}");
    let watcher = token_of(&app, "watcher@example.com", PASSWORD).await;
    let (_, watcher_secret, _) = with_factor(&app, &watcher).await;
    let mfa_token = first_step(&app, "watcher@example.com").await;
    let (status, pair) =
        second_step(&app, &mfa_token, "otp", &code(&app, &watcher_secret, 0)).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let watcher = pair["access_token"].as_str().unwrap();
    for token in [&twice, &early] {
        let described = introspected(
            &app,
            watcher,
            &home,
            token["access_token"].as_str().unwrap(),
        )
        .await;
        assert_eq!(described["scope"], "mfa:enrol", "{described}");
    }

    // The next login passes the factor: the usual scope, refreshes and retries alike.
    let mfa_token = first_step(&app, email).await;
    let (status, full) = second_step(&app, &mfa_token, "otp", &code(&app, &secret, 0)).await;
    assert_eq!(status, StatusCode::OK, "{full}");
    assert_eq!(full["scope"], "api organizations:all", "{full}");
    let next = refreshed(&app, full["refresh_token"].as_str().unwrap()).await;
    assert_eq!(next["scope"], "api organizations:all", "{next}");
    let retry = refreshed(&app, full["refresh_token"].as_str().unwrap()).await;
    assert_eq!(retry["scope"], "api organizations:all", "{retry}");
    let described =
        introspected(&app, watcher, &home, next["access_token"].as_str().unwrap()).await;
    assert_eq!(described["scope"], "api organizations:all", "{described}");
}
