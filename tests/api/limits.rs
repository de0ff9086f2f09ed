//! Abuse limits as clients meet them: counted in the store every node shares, binding
//! strangers rather than the user whose e-mail they try, and keyed by the client address a
//! trusted proxy names.

use bf_security::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{
    behind_proxy, create_member, create_organization, error_type, login_from, token_of, StoreKind,
    TestApp, ADMIN_EMAIL, ADMIN_PASSWORD,
};

const VICTIM: &str = "victim@corp.test";
const PASSWORD: &str = "victim password 1234";
const WRONG: &str = "not the password";
/// The victim's usual address, an attacker's, and others.
const HOME: &str = "198.51.100.10";
const ATTACKER: &str = "203.0.113.66";
const ELSEWHERE: &str = "192.0.2.44";

async fn spawn(kind: StoreKind, adjust: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    TestApp::spawn_with(kind, |s| {
        behind_proxy(s);
        adjust(s);
    })
    .await
}

/// A victim in the administrator's organization; answers his ID and the admin's token.
async fn victim(app: &TestApp) -> (String, String) {
    let admin = app.admin_token().await;
    let (_, me) = app.get("/v1/users/mine", &admin).await;
    let org = me["results"][0]["organizationID"].as_str().unwrap();
    let id = create_member(app, org, VICTIM, PASSWORD, &[]).await;
    (id, admin)
}

async fn limit_hits(app: &TestApp) -> usize {
    let mut conn = app.app.store.pool().acquire().await.unwrap();
    bf_security::store::audit::recent(&mut conn, 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == "limit.hit")
        .count()
}

/// Strangers failing with the victim's e-mail are refused once over the limit, the right
/// password included; the victim, from an address he logged in from before, is not. The hour
/// over, strangers may try again. The first refusal alone is audited.
async fn a_known_address_logs_in_while_strangers_are_refused(kind: StoreKind) {
    let Some(app) = spawn(kind, |s| {
        s.login.failures_per_email_per_hour = 4;
        s.login.delay_after_failures = 4;
    })
    .await
    else {
        return;
    };
    victim(&app).await;
    assert_eq!(
        login_from(&app, HOME, VICTIM, PASSWORD, None).await.status,
        StatusCode::OK
    );
    for i in 0..4 {
        let a = login_from(&app, ATTACKER, VICTIM, WRONG, None).await;
        assert_eq!(
            a.status,
            StatusCode::BAD_REQUEST,
            "failure {i}: {:?}",
            a.body
        );
        assert_eq!(a.body["error"], "invalid_grant");
    }
    let hits = limit_hits(&app).await;
    for from in [ATTACKER, ELSEWHERE, ATTACKER] {
        let a = login_from(&app, from, VICTIM, PASSWORD, None).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{from}");
        assert_eq!(error_type(&a.body), "RateLimited");
        assert!((3000..=3600).contains(&a.retry_after.unwrap()), "{a:?}");
    }
    assert_eq!(limit_hits(&app).await, hits + 1, "one event per window");
    let a = login_from(&app, HOME, VICTIM, PASSWORD, None).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    // A wrong password from home is a plain failure, not a refusal.
    let a = login_from(&app, HOME, VICTIM, WRONG, None).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    app.clock.advance_seconds(3601);
    let a = login_from(&app, ELSEWHERE, VICTIM, PASSWORD, None).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
}

/// The device cookie of a successful login lets its user in from any address while strangers
/// are refused; another user's cookie, or a made-up one, does not.
async fn a_known_device_logs_in_from_a_new_address(kind: StoreKind) {
    let Some(app) = spawn(kind, |s| {
        s.login.failures_per_email_per_hour = 3;
        s.login.delay_after_failures = 3;
    })
    .await
    else {
        return;
    };
    victim(&app).await;
    let home = login_from(&app, HOME, VICTIM, PASSWORD, None).await;
    assert_eq!(home.status, StatusCode::OK);
    let cookie = home.set_cookie.clone().unwrap();
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/v1/oauth/token",
        "Max-Age=7776000",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let device = home.device.unwrap();
    // The attacker has a login of his own, and so a cookie of his own.
    let org = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["organizationID"]
        .as_str()
        .unwrap()
        .to_string();
    create_member(&app, &org, "mallory@corp.test", PASSWORD, &[]).await;
    let own = login_from(&app, ATTACKER, "mallory@corp.test", PASSWORD, None).await;
    let own = own.device.unwrap();
    assert_ne!(own, device);
    for _ in 0..3 {
        let a = login_from(&app, ATTACKER, VICTIM, WRONG, Some(&own)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    }
    for cookie in [None, Some(own.as_str()), Some("made-up-device")] {
        let a = login_from(&app, ELSEWHERE, VICTIM, PASSWORD, cookie).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{cookie:?}");
    }
    let a = login_from(&app, ELSEWHERE, VICTIM, PASSWORD, Some(&device)).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    // The same device keeps its cookie.
    assert_eq!(a.device.as_deref(), Some(device.as_str()));
}

/// Past the soft threshold each failure doubles the wait strangers are given before the
/// e-mail's next attempt is even looked at: 429 meanwhile, whoever asks, without a password
/// being checked; the user from home is not held back.
async fn strangers_wait_twice_as_long_after_each_failure(kind: StoreKind) {
    let Some(app) = spawn(kind, |s| {
        s.login.failures_per_email_per_hour = 10;
        s.login.delay_after_failures = 2;
    })
    .await
    else {
        return;
    };
    victim(&app).await;
    assert_eq!(
        login_from(&app, HOME, VICTIM, PASSWORD, None).await.status,
        StatusCode::OK
    );
    for _ in 0..2 {
        assert_eq!(
            login_from(&app, ATTACKER, VICTIM, WRONG, None).await.status,
            StatusCode::BAD_REQUEST
        );
    }
    let checked = || app.app.hasher.counts.verifications.get();
    for wait in [2, 4, 8, 16] {
        assert_eq!(
            login_from(&app, ATTACKER, VICTIM, WRONG, None).await.status,
            StatusCode::BAD_REQUEST
        );
        let before = checked();
        for from in [ATTACKER, ELSEWHERE] {
            let a = login_from(&app, from, VICTIM, PASSWORD, None).await;
            assert_eq!(
                (a.status, a.retry_after),
                (StatusCode::TOO_MANY_REQUESTS, Some(wait)),
                "{from}"
            );
        }
        assert_eq!(checked(), before, "no password checked while waiting");
        assert_eq!(
            login_from(&app, HOME, VICTIM, PASSWORD, None).await.status,
            StatusCode::OK
        );
        app.clock.advance_seconds(wait as i64 - 1);
        let a = login_from(&app, ATTACKER, VICTIM, WRONG, None).await;
        assert_eq!(
            (a.status, a.retry_after),
            (StatusCode::TOO_MANY_REQUESTS, Some(1))
        );
        app.clock.advance_seconds(1);
    }
    let a = login_from(&app, ELSEWHERE, VICTIM, PASSWORD, None).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
}

/// Two nodes on one store share every budget: failures on one count on the other.
async fn two_nodes_share_one_budget(kind: StoreKind) {
    let Some(app) = spawn(kind, |s| {
        s.login.failures_per_email_per_hour = 4;
        s.login.delay_after_failures = 4;
        s.codes.requests_per_email_per_hour = 3;
    })
    .await
    else {
        return;
    };
    victim(&app).await;
    let other = app.another_node().await;
    for i in 0..4 {
        let node = if i % 2 == 0 { &app } else { &other };
        assert_eq!(
            login_from(node, ATTACKER, VICTIM, WRONG, None).await.status,
            StatusCode::BAD_REQUEST
        );
    }
    for node in [&app, &other] {
        let a = login_from(node, ELSEWHERE, VICTIM, PASSWORD, None).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    }
    let reset = |node: &TestApp| {
        let (http, url) = (
            node.http.clone(),
            node.url("/v1/users/password-reset/request-reset-code"),
        );
        async move {
            http.post(url)
                .header("x-forwarded-for", ATTACKER)
                .json(&json!({"email": VICTIM}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for node in [&app, &other, &app] {
        assert_eq!(reset(node).await, StatusCode::OK);
    }
    assert_eq!(reset(&other).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reset(&app).await, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance_seconds(3601);
    assert_eq!(reset(&other).await, StatusCode::OK);
}

/// One address trying one password across many e-mails is stopped, whoever the e-mails
/// belong to; other addresses are not, and the hour's end lifts it.
async fn spraying_across_emails_from_one_address_is_limited(kind: StoreKind) {
    let Some(app) = spawn(kind, |s| s.login.failures_per_address_per_hour = 5).await else {
        return;
    };
    victim(&app).await;
    for i in 0..5 {
        let a = login_from(&app, ATTACKER, &format!("user{i}@corp.test"), WRONG, None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{i}");
    }
    let a = login_from(&app, ATTACKER, VICTIM, PASSWORD, None).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!((3000..=3600).contains(&a.retry_after.unwrap()));
    assert_eq!(
        login_from(&app, ELSEWHERE, VICTIM, PASSWORD, None)
            .await
            .status,
        StatusCode::OK
    );
    app.clock.advance_seconds(3601);
    assert_eq!(
        login_from(&app, ATTACKER, VICTIM, PASSWORD, None)
            .await
            .status,
        StatusCode::OK
    );
}

/// A client given an IPv6 /64 picks any address in it: hopping between them buys no further
/// guesses. Another /64 has a budget of its own.
async fn an_ipv6_client_is_counted_by_its_64(kind: StoreKind) {
    let Some(app) = spawn(kind, |s| s.login.failures_per_address_per_hour = 3).await else {
        return;
    };
    victim(&app).await;
    for i in 1..=3 {
        let from = format!("2001:db8:1:2::{i:x}");
        let a = login_from(&app, &from, &format!("user{i}@corp.test"), WRONG, None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{from}");
    }
    let a = login_from(&app, "2001:db8:1:2:ffff::9", VICTIM, PASSWORD, None).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "the same /64");
    let a = login_from(&app, "2001:db8:1:3::1", VICTIM, PASSWORD, None).await;
    assert_eq!(a.status, StatusCode::OK, "another /64");
}

/// An e-mail nobody has meets the very same answers as a user's: statuses, bodies, waits.
async fn an_unknown_email_is_answered_like_a_known_one(kind: StoreKind) {
    let Some(app) = spawn(kind, |s| {
        s.login.failures_per_email_per_hour = 4;
        s.login.delay_after_failures = 2;
    })
    .await
    else {
        return;
    };
    victim(&app).await;
    let mut answers: Vec<Vec<(StatusCode, Option<u64>, Value)>> = Vec::new();
    for email in [VICTIM, "nobody@corp.test"] {
        let mut seen = Vec::new();
        for step in 0..8 {
            let a = login_from(&app, ATTACKER, email, WRONG, None).await;
            let mut body = a.body.clone();
            body.as_object_mut().map(|b| b.remove("executionTime"));
            seen.push((a.status, a.retry_after, body));
            if step % 2 == 1 {
                app.clock.advance_seconds(2);
            }
        }
        app.clock.advance_seconds(3601);
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1]);
    assert!(answers[0]
        .iter()
        .any(|(s, _, _)| *s == StatusCode::TOO_MANY_REQUESTS));
}

/// `X-Forwarded-For` counts only from a trusted proxy: from an untrusted peer every request is
/// the peer's, whatever it claims; from a trusted one each named client has its own budget, and
/// a malformed header falls back to the peer.
async fn only_a_trusted_proxy_names_the_client(kind: StoreKind) {
    for trusted in [false, true] {
        let Some(app) = TestApp::spawn_with(kind, |s| {
            if trusted {
                behind_proxy(s);
            }
            s.login.failures_per_address_per_hour = 3;
            s.login.delay_after_failures = 20;
        })
        .await
        else {
            return;
        };
        let statuses: Vec<StatusCode> = {
            let mut v = Vec::new();
            for i in 0..4 {
                let from = format!("203.0.113.{i}");
                v.push(
                    login_from(&app, &from, "x@corp.test", WRONG, None)
                        .await
                        .status,
                );
            }
            v
        };
        let expected = if trusted {
            vec![StatusCode::BAD_REQUEST; 4]
        } else {
            let mut v = vec![StatusCode::BAD_REQUEST; 3];
            v.push(StatusCode::TOO_MANY_REQUESTS);
            v
        };
        assert_eq!(statuses, expected, "trusted: {trusted}");
        if trusted {
            // Malformed: the peer (127.0.0.1) it is, with a budget of its own.
            for i in 0..3 {
                let a = login_from(&app, "unknown", "x@corp.test", WRONG, None).await;
                assert_eq!(a.status, StatusCode::BAD_REQUEST, "{i}");
            }
            let a = login_from(&app, "not, an address", "x@corp.test", WRONG, None).await;
            assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
            // The client cannot pass for another by writing the left of the chain itself.
            let a = login_from(
                &app,
                "203.0.113.77, 203.0.113.0",
                "x@corp.test",
                WRONG,
                None,
            )
            .await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST);
            let a = login_from(
                &app,
                "203.0.113.78, 203.0.113.0",
                "x@corp.test",
                WRONG,
                None,
            )
            .await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST);
            let a = login_from(&app, "203.0.113.0", "x@corp.test", WRONG, None).await;
            assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        }
    }
}

/// An administrator sees a user's counts and clears them; clearing lets strangers in at once.
/// A caller without the permission, one holding less than the user, and one of another
/// organization are refused.
async fn an_administrator_sees_and_clears_a_users_counts(kind: StoreKind) {
    let Some(app) = spawn(kind, |s| {
        s.login.failures_per_email_per_hour = 5;
        s.login.delay_after_failures = 2;
    })
    .await
    else {
        return;
    };
    let (id, admin) = victim(&app).await;
    let path = format!("/v1/users/{id}/login-limits");
    let (status, body) = app.get(&path, &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen = &body["results"][0];
    assert_eq!(
        (
            &seen["userID"],
            &seen["failedLogins"],
            &seen["failedLoginsAllowed"]
        ),
        (&json!(id), &json!(0), &json!(5))
    );
    assert!(seen["refusedUntil"].is_null() && seen["windowEnds"].is_null());
    for _ in 0..3 {
        login_from(&app, ATTACKER, VICTIM, WRONG, None).await;
    }
    let (_, body) = app.get(&path, &admin).await;
    let seen = &body["results"][0];
    assert_eq!(seen["failedLogins"], 3);
    assert!(
        seen["refusedUntil"].is_string() && seen["windowEnds"].is_string(),
        "{seen}"
    );
    assert_eq!(
        login_from(&app, ELSEWHERE, VICTIM, PASSWORD, None)
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Refused: without the permission; holding less than the user; another organization.
    let org = body_org(&app, &admin).await;
    let (status, r) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "Readers", "permissions": [{"resource": "Users", "action": "read"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let reader_role = r["results"][0]["id"].as_str().unwrap().to_string();
    let (_, r) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "Plain", "permissions": []}),
        )
        .await;
    let plain_role = r["results"][0]["id"].as_str().unwrap().to_string();
    create_member(&app, &org, "plain@corp.test", PASSWORD, &[&plain_role]).await;
    create_member(&app, &org, "reader@corp.test", PASSWORD, &[&reader_role]).await;
    let (_, r) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "Updaters", "permissions": [{"resource": "Users", "action": "update"}]}),
        )
        .await;
    let updater_role = r["results"][0]["id"].as_str().unwrap().to_string();
    // The victim holds Users:update, the reader does not: the reader holds less.
    let (status, r) = app
        .put(
            &format!("/v1/users/{VICTIM}"),
            &admin,
            json!({"roles": ["Updaters"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let _ = updater_role;
    let plain = token_of(&app, "plain@corp.test", PASSWORD).await;
    let reader = token_of(&app, "reader@corp.test", PASSWORD).await;
    let (org_b, admin_b) = create_organization(&app, "Elsewhere").await;
    create_member(&app, &org_b, "boss@b.test", PASSWORD, &[&admin_b]).await;
    let boss_b = token_of(&app, "boss@b.test", PASSWORD).await;
    for (who, token, method, expected) in [
        ("plain", &plain, Method::GET, StatusCode::FORBIDDEN),
        ("plain", &plain, Method::DELETE, StatusCode::FORBIDDEN),
        ("reader", &reader, Method::GET, StatusCode::FORBIDDEN),
        ("reader", &reader, Method::DELETE, StatusCode::FORBIDDEN),
        (
            "other organization",
            &boss_b,
            Method::GET,
            StatusCode::NOT_FOUND,
        ),
        (
            "other organization",
            &boss_b,
            Method::DELETE,
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, body) = app.call(method.clone(), &path, Some(token), None).await;
        assert_eq!(status, expected, "{who} {method}: {body}");
    }
    let (status, _) = app
        .get("/v1/users/USR-does-not-exist/login-limits", &admin)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = app.get(&path, &admin).await;
    assert_eq!(
        body["results"][0]["failedLogins"], 3,
        "nothing cleared by refusals"
    );

    let (status, body) = app.delete(&path, &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["failedLogins"], 0);
    assert!(body["results"][0]["refusedUntil"].is_null());
    assert_eq!(
        login_from(&app, ELSEWHERE, VICTIM, PASSWORD, None)
            .await
            .status,
        StatusCode::OK
    );
    let mut conn = app.app.store.pool().acquire().await.unwrap();
    let recent = bf_security::store::audit::recent(&mut conn, 50)
        .await
        .unwrap();
    assert!(
        recent
            .iter()
            .any(|e| e.action == "login_limits.cleared"
                && e.target_id.as_deref() == Some(id.as_str()))
    );
}

async fn body_org(app: &TestApp, token: &str) -> String {
    let (_, me) = app.get("/v1/users/mine", token).await;
    me["results"][0]["organizationID"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Failed OpenID link attempts are limited per client address, and recover with the hour;
/// another address is not affected.
async fn openid_link_attempts_are_limited_per_address(kind: StoreKind) {
    let Some(app) = spawn(kind, |s| s.oidc.link_failures_per_address_per_hour = 3).await else {
        return;
    };
    let link = |from: &'static str| {
        let (http, url) = (app.http.clone(), app.url("/v1/users/invite/openid"));
        async move {
            let res = http
                .post(url)
                .header("x-forwarded-for", from)
                .json(&json!({"idToken": "not.a.token"}))
                .send()
                .await
                .unwrap();
            let retry = res.headers().get("retry-after").is_some();
            (res.status(), retry)
        }
    };
    for _ in 0..3 {
        assert_eq!(link(ATTACKER).await.0, StatusCode::BAD_REQUEST);
    }
    assert_eq!(link(ATTACKER).await, (StatusCode::TOO_MANY_REQUESTS, true));
    assert_eq!(link(ELSEWHERE).await.0, StatusCode::BAD_REQUEST);
    app.clock.advance_seconds(3601);
    assert_eq!(link(ATTACKER).await.0, StatusCode::BAD_REQUEST);
}

/// Failed code uses are limited per client address across nodes, and recover with the hour.
async fn code_failures_are_limited_per_address_on_every_node(kind: StoreKind) {
    let Some(app) = spawn(kind, |s| s.codes.failures_per_address_per_hour = 3).await else {
        return;
    };
    let other = app.another_node().await;
    let use_code = |node: &TestApp, from: &'static str| {
        let (http, url) = (
            node.http.clone(),
            node.url("/v1/users/password-reset/password-update"),
        );
        async move {
            http.post(url)
                .header("x-forwarded-for", from)
                .json(&json!({"email": VICTIM, "resetCode": "0000000000",
                              "newPassword": "a brand new password 99"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for node in [&app, &other, &app] {
        assert_eq!(use_code(node, ATTACKER).await, StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        use_code(&other, ATTACKER).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(use_code(&app, ELSEWHERE).await, StatusCode::BAD_REQUEST);
    app.clock.advance_seconds(3601);
    assert_eq!(use_code(&other, ATTACKER).await, StatusCode::BAD_REQUEST);
}

/// A reset request's per-e-mail budget binds strangers: the user, from an address he logged in
/// from, still gets his code after strangers used it up.
async fn strangers_cannot_spend_a_users_reset_requests(kind: StoreKind) {
    let Some(app) = spawn(kind, |s| s.codes.requests_per_email_per_hour = 2).await else {
        return;
    };
    victim(&app).await;
    assert_eq!(
        login_from(&app, HOME, VICTIM, PASSWORD, None).await.status,
        StatusCode::OK
    );
    let request = |from: &'static str| {
        let (http, url) = (
            app.http.clone(),
            app.url("/v1/users/password-reset/request-reset-code"),
        );
        async move {
            http.post(url)
                .header("x-forwarded-for", from)
                .json(&json!({"email": VICTIM}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for _ in 0..2 {
        assert_eq!(request(ATTACKER).await, StatusCode::OK);
    }
    assert_eq!(request(ELSEWHERE).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(request(HOME).await, StatusCode::OK);
}

crate::stories_of_kind!(
    a_known_address_logs_in_while_strangers_are_refused,
    a_known_device_logs_in_from_a_new_address,
    strangers_wait_twice_as_long_after_each_failure,
    two_nodes_share_one_budget,
    spraying_across_emails_from_one_address_is_limited,
    an_unknown_email_is_answered_like_a_known_one,
    only_a_trusted_proxy_names_the_client,
    an_administrator_sees_and_clears_a_users_counts,
    openid_link_attempts_are_limited_per_address,
    code_failures_are_limited_per_address_on_every_node,
    strangers_cannot_spend_a_users_reset_requests,
    a_client_that_keeps_no_cookie_leaves_no_device_behind,
    an_ipv6_client_is_counted_by_its_64,
);

/// A script logging in again and again from one place, keeping no cookie, is known by its
/// address after its first login: it gets one device cookie then, and no new device is
/// remembered for it at each later login, so what is kept per user stays bounded.
async fn a_client_that_keeps_no_cookie_leaves_no_device_behind(kind: StoreKind) {
    let Some(app) = spawn(kind, |_| {}).await else {
        return;
    };
    let (id, _) = victim(&app).await;
    let first = login_from(&app, HOME, VICTIM, PASSWORD, None).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.device.is_some(), "a first login gets a device cookie");
    for _ in 0..5 {
        let again = login_from(&app, HOME, VICTIM, PASSWORD, None).await;
        assert_eq!(again.status, StatusCode::OK);
        assert!(again.device.is_none(), "{:?}", again.set_cookie);
    }
    // Presented back, the cookie is renewed, not replaced.
    let with_cookie = login_from(&app, HOME, VICTIM, PASSWORD, first.device.as_deref()).await;
    assert_eq!(with_cookie.device, first.device);
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM known_clients WHERE user_id = $1")
        .bind(&id)
        .fetch_one(app.app.store.pool())
        .await
        .unwrap();
    assert_eq!(kept, 2, "its address and its one device");
}
