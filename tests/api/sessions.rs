//! Sessions (each login's tokens as one thing) and permanent API tokens, seen and ended by
//! their user and by those who outrank him; what ends them by itself.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{
    create_member, create_organization, error_type, home_organization, token_of, TestApp,
    ADMIN_EMAIL, ADMIN_PASSWORD,
};

both_stores!(
    signing_out_everywhere_else_keeps_only_the_current_session,
    ending_one_session_ends_its_tokens_and_nothing_else,
    an_administrator_lists_and_ends_a_users_sessions,
    a_foreign_or_lesser_caller_cannot_end_sessions,
    password_and_email_changes_and_disabling_end_sessions,
    last_use_is_recorded_at_most_once_a_minute,
    pairs_minted_from_a_permanent_token_are_a_session,
    api_tokens_are_listed_without_their_secrets,
    a_token_used_outside_its_address_ranges_is_refused,
    an_api_token_expires,
    a_revoked_api_token_and_its_pairs_stop_at_once,
    bad_api_token_limits_are_refused,
);

const PASSWORD: &str = "member password 1234";
const MINE: &str = "/v1/users/mine/sessions";

/// A login of `email`: its access token and refresh token.
async fn login(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let body = app.login(email, password).await;
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

/// Whether an access or permanent token still works.
async fn works(app: &TestApp, token: &str) -> bool {
    let (status, body) = app.get("/v1/users/mine", token).await;
    assert!(
        status == StatusCode::OK || status == StatusCode::UNAUTHORIZED,
        "{status}: {body}"
    );
    status == StatusCode::OK
}

/// Refreshes; answers the new pair, or `None` when refused.
async fn refresh(app: &TestApp, refresh: &str) -> Option<(String, String)> {
    let (status, body) = app
        .token_form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    match status {
        StatusCode::OK => Some((
            body["access_token"].as_str().unwrap().to_string(),
            body["refresh_token"].as_str().unwrap().to_string(),
        )),
        StatusCode::BAD_REQUEST => {
            assert_eq!(body["error"], "invalid_grant", "{body}");
            None
        }
        other => panic!("refresh answered {other}: {body}"),
    }
}

/// The sessions a token lists at `path`.
async fn sessions(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let (status, body) = app.get(path, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"].as_array().unwrap().clone()
}

/// A member of the administrator's organization holding no role.
async fn member(app: &TestApp, admin: &str, email: &str) -> String {
    let org = home_organization(app, admin).await;
    create_member(app, &org, email, PASSWORD, &[]).await
}

/// Audit events of `action` the platform administrator reads.
async fn events(app: &TestApp, action: &str) -> Vec<Value> {
    let admin = app.admin_token().await;
    let (status, body) = app
        .get(
            &format!("/v1/audit-events?records=500&kind={action}"),
            &admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"].as_array().unwrap().clone()
}

async fn signing_out_everywhere_else_keeps_only_the_current_session(app: TestApp) {
    let admin = app.admin_token().await;
    member(&app, &admin, "many@example.com").await;
    let (here, here_refresh) = login(&app, "many@example.com", PASSWORD).await;
    let (phone, phone_refresh) = login(&app, "many@example.com", PASSWORD).await;
    let (laptop, laptop_refresh) = login(&app, "many@example.com", PASSWORD).await;
    let listed = sessions(&app, MINE, &here).await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    let current: Vec<&Value> = listed.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "exactly one is the caller's: {listed:?}");
    assert_eq!(current[0]["method"], "password");
    assert!(current[0]["id"].as_str().unwrap().starts_with("SES-"));

    let (status, body) = app.delete(&format!("{MINE}?except=current"), &here).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["recordsReturned"], 2, "{body}");

    for token in [&phone, &laptop] {
        assert!(!works(&app, token).await, "another session's access token");
    }
    for token in [&phone_refresh, &laptop_refresh] {
        assert!(
            refresh(&app, token).await.is_none(),
            "another session's refresh"
        );
    }
    assert!(works(&app, &here).await, "the current session goes on");
    let (next, _) = refresh(&app, &here_refresh)
        .await
        .expect("its refresh works");
    assert!(works(&app, &next).await);
    let listed = sessions(&app, MINE, &next).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["current"], true, "a refresh stays in its session");
    assert!(!events(&app, "sessions.ended").await.is_empty());

    // `except` means only `current`; without it, the caller's own session ends too.
    let (status, body) = app.delete(&format!("{MINE}?except=others"), &next).await;
    crate::common::assert_invalid_only(status, &body, "except");
    let (status, _) = app.delete(MINE, &next).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!works(&app, &next).await, "signed out everywhere");
}

async fn ending_one_session_ends_its_tokens_and_nothing_else(app: TestApp) {
    let admin = app.admin_token().await;
    member(&app, &admin, "two@example.com").await;
    let (first, _) = login(&app, "two@example.com", PASSWORD).await;
    let (second, second_refresh) = login(&app, "two@example.com", PASSWORD).await;
    let listed = sessions(&app, MINE, &first).await;
    let other = listed.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = app.delete(&format!("{MINE}/{other}"), &first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["id"], other.as_str());
    assert!(body["results"][0]["ended"].is_string(), "{body}");
    assert!(!works(&app, &second).await);
    assert!(refresh(&app, &second_refresh).await.is_none());
    assert!(works(&app, &first).await);
    // Ended, or never one of his: the same 404.
    for id in [other.as_str(), "SES-does-not-exist"] {
        let (status, body) = app.delete(&format!("{MINE}/{id}"), &first).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {body}");
    }
    // Another user's session is not his to end.
    let admin_session = sessions(&app, MINE, &admin).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = app.delete(&format!("{MINE}/{admin_session}"), &first).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(works(&app, &admin).await);
    let ended = events(&app, "session.ended").await;
    assert!(ended.iter().any(|e| e["targetID"] == other.as_str()));
}

async fn an_administrator_lists_and_ends_a_users_sessions(app: TestApp) {
    let admin = app.admin_token().await;
    member(&app, &admin, "watched@example.com").await;
    let (one, _) = login(&app, "watched@example.com", PASSWORD).await;
    let (two, two_refresh) = login(&app, "watched@example.com", PASSWORD).await;
    let path = "/v1/users/watched@example.com/sessions";
    let listed = sessions(&app, path, &admin).await;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|s| s["current"] == false));
    assert!(listed.iter().all(|s| s["createdAddress"] == "127.0.0.1"));
    let id = listed[0]["id"].as_str().unwrap();
    let (status, body) = app.delete(&format!("{path}/{id}"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(sessions(&app, path, &admin).await.len(), 1);
    let (status, body) = app.delete(path, &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for token in [&one, &two] {
        assert!(!works(&app, token).await);
    }
    assert!(refresh(&app, &two_refresh).await.is_none());
    assert!(sessions(&app, path, &admin).await.is_empty());
    assert!(
        works(&app, &admin).await,
        "the administrator's own session goes on"
    );
    // A session of somebody else under this user's path.
    let mine = sessions(&app, MINE, &admin).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = app.delete(&format!("{path}/{mine}"), &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(works(&app, &admin).await);
}

async fn a_foreign_or_lesser_caller_cannot_end_sessions(app: TestApp) {
    let admin = app.admin_token().await;
    let org_a = home_organization(&app, &admin).await;
    let (_, everything) = app.get("/v1/roles/Administrator", &admin).await;
    let everything = everything["results"][0]["id"].as_str().unwrap().to_string();
    let (status, body) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "Helpdesk", "permissions": [
                {"resource": "Users", "action": "update"},
                {"resource": "Users", "action": "read"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let helpdesk = body["results"][0]["id"].as_str().unwrap().to_string();
    create_member(&app, &org_a, "boss@a.example", PASSWORD, &[&everything]).await;
    create_member(&app, &org_a, "help@a.example", PASSWORD, &[&helpdesk]).await;
    let (org_b, admin_b) = create_organization(&app, "Elsewhere").await;
    create_member(&app, &org_b, "chief@b.example", PASSWORD, &[&admin_b]).await;
    let (boss, _) = login(&app, "boss@a.example", PASSWORD).await;
    let boss_session = sessions(&app, MINE, &boss).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let help = token_of(&app, "help@a.example", PASSWORD).await;
    let chief = token_of(&app, "chief@b.example", PASSWORD).await;
    let path = "/v1/users/boss@a.example/sessions";

    // Holding less than the boss: refused, and nothing ends.
    for (status, body) in [
        app.get(path, &help).await,
        app.delete(path, &help).await,
        app.delete(&format!("{path}/{boss_session}"), &help).await,
    ] {
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(error_type(&body), "PermissionsError");
    }
    // Another organization's administrator: the user is not there for him.
    for (status, body) in [
        app.get(path, &chief).await,
        app.delete(path, &chief).await,
        app.delete(&format!("{path}/{boss_session}"), &chief).await,
        app.delete(&format!("{MINE}/{boss_session}"), &chief).await,
    ] {
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    assert!(works(&app, &boss).await, "the boss's session is untouched");
}

async fn password_and_email_changes_and_disabling_end_sessions(app: TestApp) {
    let admin = app.admin_token().await;
    member(&app, &admin, "mover@example.com").await;
    let (here, here_refresh) = login(&app, "mover@example.com", PASSWORD).await;
    let (there, there_refresh) = login(&app, "mover@example.com", PASSWORD).await;

    // His own password change: every other session ends, his own goes on.
    let (status, body) = app
        .put(
            "/v1/users/mover@example.com/password",
            &here,
            json!({"currentPassword": PASSWORD, "newPassword": "second password 5678"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!works(&app, &there).await);
    assert!(refresh(&app, &there_refresh).await.is_none());
    assert!(works(&app, &here).await);
    let (here, here_refresh) = refresh(&app, &here_refresh).await.expect("his own refresh");

    // His own e-mail change: the same.
    let (other, _) = login(&app, "mover@example.com", "second password 5678").await;
    let (status, body) = app
        .put(
            "/v1/users/mover@example.com/email",
            &here,
            json!({"newEmail": "moved@example.com", "password": "second password 5678"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!works(&app, &other).await);
    assert!(works(&app, &here).await);

    // An administrator's change of his password: every session ends.
    let (status, body) = app
        .put(
            "/v1/users/moved@example.com/password",
            &admin,
            json!({"newPassword": "third password 91011"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!works(&app, &here).await);
    assert!(refresh(&app, &here_refresh).await.is_none());

    // Disabling: every session ends.
    let (again, again_refresh) = login(&app, "moved@example.com", "third password 91011").await;
    let (status, body) = app
        .put(
            "/v1/users/moved@example.com",
            &admin,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!works(&app, &again).await);
    assert!(refresh(&app, &again_refresh).await.is_none());
    assert!(
        sessions(&app, "/v1/users/moved@example.com/sessions", &admin)
            .await
            .is_empty()
    );
    // Enabled again, nothing of before comes back.
    let (status, _) = app
        .put(
            "/v1/users/moved@example.com",
            &admin,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!works(&app, &again).await);
    assert!(refresh(&app, &again_refresh).await.is_none());
}

async fn last_use_is_recorded_at_most_once_a_minute(app: TestApp) {
    let admin = app.admin_token().await;
    member(&app, &admin, "busy@example.com").await;
    let (token, refresh_token) = login(&app, "busy@example.com", PASSWORD).await;
    let path = "/v1/users/busy@example.com/sessions";
    let opened = last_used(&app, &admin).await;
    app.clock.advance_seconds(30);
    for _ in 0..20 {
        assert!(works(&app, &token).await);
    }
    assert_eq!(
        last_used(&app, &admin).await,
        opened,
        "uses within a minute are not written"
    );
    app.clock.advance_seconds(31);
    assert!(works(&app, &token).await);
    let written = last_used(&app, &admin).await;
    assert_ne!(written, opened, "the first use past a minute is written");
    app.clock.advance_seconds(20);
    for _ in 0..20 {
        assert!(works(&app, &token).await);
    }
    assert!(refresh(&app, &refresh_token).await.is_some());
    assert_eq!(
        last_used(&app, &admin).await,
        written,
        "nor the minute after it"
    );
    // The user agent of the last recorded use is kept with it.
    let listed = sessions(&app, path, &admin).await;
    assert_eq!(listed[0]["lastAddress"], "127.0.0.1");
}

async fn pairs_minted_from_a_permanent_token_are_a_session(app: TestApp) {
    let admin = app.admin_token().await;
    member(&app, &admin, "robot@example.com").await;
    let (login_token, _) = login(&app, "robot@example.com", PASSWORD).await;
    let (status, body) = app
        .post(
            "/v1/users/generate-permanent-api-token",
            &login_token,
            json!({"description": "robot"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let permanent = body["access_token"].as_str().unwrap().to_string();
    let (status, pair) = app.get("/v1/users/generate-tokens", &permanent).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let minted = pair["accessToken"].as_str().unwrap().to_string();
    let listed = sessions(&app, MINE, &login_token).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let tokens = listed.iter().find(|s| s["method"] == "tokens").unwrap();
    let id = tokens["id"].as_str().unwrap();
    let (status, _) = app.delete(&format!("{MINE}/{id}"), &login_token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !works(&app, &minted).await,
        "the minted pair ends with its session"
    );
    assert!(
        works(&app, &permanent).await,
        "the permanent token is not a session's"
    );
    // It mints again: a new session under its name.
    let (status, pair) = app.get("/v1/users/generate-tokens", &permanent).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let again = pair["accessToken"].as_str().unwrap();
    assert!(works(&app, again).await);
}

/// The last use of the one session of busy@example.com, as the administrator sees it.
async fn last_used(app: &TestApp, admin: &str) -> String {
    let listed = sessions(app, "/v1/users/busy@example.com/sessions", admin).await;
    assert_eq!(listed.len(), 1);
    listed[0]["lastUsed"].as_str().unwrap().to_string()
}

/// Issues the caller's permanent token with `body`; answers its secret.
async fn issue(app: &TestApp, token: &str, body: Value) -> String {
    let (status, answer) = app
        .post("/v1/users/generate-permanent-api-token", token, body)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["access_token"].as_str().unwrap().to_string()
}

async fn api_tokens_are_listed_without_their_secrets(app: TestApp) {
    let admin = app.admin_token().await;
    member(&app, &admin, "keys@example.com").await;
    let login_token = token_of(&app, "keys@example.com", PASSWORD).await;
    let secret = issue(
        &app,
        &login_token,
        json!({"description": "deploys", "expiresInDays": 30, "allowedRanges": ["127.0.0.0/8"]}),
    )
    .await;
    assert!(works(&app, &secret).await, "loopback is in its range");
    for (path, token) in [
        ("/v1/users/mine/api-tokens", &login_token),
        ("/v1/users/keys@example.com/api-tokens", &admin),
    ] {
        let (status, body) = app.get(path, token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let text = body.to_string();
        assert!(
            !text.contains(&secret[9..]),
            "{path} shows the secret: {text}"
        );
        assert!(!text.contains("digest"), "{text}");
        let listed = &body["results"][0];
        assert_eq!(body["recordsReturned"], 1);
        assert_eq!(listed["description"], "deploys");
        assert_eq!(listed["prefix"], &secret[..9]);
        assert!(listed["prefix"].as_str().unwrap().starts_with("bfsp_"));
        assert_eq!(listed["allowedRanges"], json!(["127.0.0.0/8"]));
        assert!(listed["expires"].is_string());
        assert!(
            listed["lastUsed"].is_string(),
            "its use was recorded: {listed}"
        );
        assert!(listed["id"].as_str().unwrap().starts_with("TOK-"));
    }
}

async fn a_token_used_outside_its_address_ranges_is_refused(app: TestApp) {
    let admin = app.admin_token().await;
    member(&app, &admin, "fenced@example.com").await;
    let login_token = token_of(&app, "fenced@example.com", PASSWORD).await;
    let secret = issue(
        &app,
        &login_token,
        json!({"allowedRanges": ["10.0.0.0/8", "192.168.0.0/16"]}),
    )
    .await;
    for path in [
        "/v1/users/mine",
        "/v1/users/generate-tokens",
        "/v1/users/mine/api-tokens",
    ] {
        let (status, body) = app.get(path, &secret).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(error_type(&body), "PermissionsError");
    }
    let refused = events(&app, "authorization.refused").await;
    assert!(
        refused.iter().any(|e| e["reason"]
            .as_str()
            .unwrap_or("")
            .contains("client address")),
        "{refused:?}"
    );
    // Rotating keeps its ranges.
    let (status, body) = app
        .post(
            "/v1/users/refresh-permanent-api-token",
            &login_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rotated = body["access_token"].as_str().unwrap();
    let (status, _) = app.get("/v1/users/mine", rotated).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn an_api_token_expires(app: TestApp) {
    let admin = app.admin_token().await;
    member(&app, &admin, "brief@example.com").await;
    let (status, body) = app
        .post(
            "/v1/users/generate-permanent-api-token",
            &admin,
            json!({"expiresInDays": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], 86_400);
    let secret = body["access_token"].as_str().unwrap().to_string();
    assert!(works(&app, &secret).await);
    app.clock.advance_seconds(86_400 + 1);
    let (status, _) = app.get("/v1/users/mine", &secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let admin = token_of(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, listed) = app.get("/v1/users/mine/api-tokens", &admin).await;
    assert_eq!(
        listed["recordsReturned"], 0,
        "an expired token is not listed: {listed}"
    );
    // Rotated, it lives as long again.
    let (status, body) = app
        .post("/v1/users/refresh-permanent-api-token", &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], 86_400);
    assert!(works(&app, body["access_token"].as_str().unwrap()).await);
}

async fn a_revoked_api_token_and_its_pairs_stop_at_once(app: TestApp) {
    let admin = app.admin_token().await;
    member(&app, &admin, "done@example.com").await;
    let login_token = token_of(&app, "done@example.com", PASSWORD).await;
    let secret = issue(&app, &login_token, json!({})).await;
    let (_, pair) = app.get("/v1/users/generate-tokens", &secret).await;
    let minted = pair["accessToken"].as_str().unwrap().to_string();
    let (_, listed) = app.get("/v1/users/mine/api-tokens", &login_token).await;
    let id = listed["results"][0]["id"].as_str().unwrap().to_string();
    let (status, body) = app
        .delete(&format!("/v1/users/mine/api-tokens/{id}"), &login_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!works(&app, &secret).await);
    assert!(!works(&app, &minted).await);
    let (status, _) = app
        .delete(&format!("/v1/users/mine/api-tokens/{id}"), &login_token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!events(&app, "api_token.revoked").await.is_empty());

    // An administrator revokes a user's token; another user's token is not under his path.
    let secret = issue(&app, &login_token, json!({})).await;
    let path = "/v1/users/done@example.com/api-tokens";
    let (_, listed) = app.get(path, &admin).await;
    let id = listed["results"][0]["id"].as_str().unwrap().to_string();
    issue(&app, &admin, json!({})).await;
    let (_, own) = app.get("/v1/users/mine/api-tokens", &admin).await;
    let admins = own["results"][0]["id"].as_str().unwrap().to_string();
    let (status, _) = app.delete(&format!("{path}/{admins}"), &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .delete(&format!("/v1/users/mine/api-tokens/{admins}"), &login_token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.delete(&format!("{path}/{id}"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!works(&app, &secret).await);
    // Revoked, a new one may be issued (one live per user and organization).
    issue(&app, &login_token, json!({})).await;
}

async fn bad_api_token_limits_are_refused(app: TestApp) {
    let admin = app.admin_token().await;
    for (body, field) in [
        (json!({"expiresInDays": 0}), "expiresInDays"),
        (json!({"expiresInDays": 3651}), "expiresInDays"),
        (json!({"allowedRanges": []}), "allowedRanges"),
        (json!({"allowedRanges": ["not a range"]}), "allowedRanges"),
        (json!({"allowedRanges": ["10.0.0.0/33"]}), "allowedRanges"),
    ] {
        let (status, answer) = app
            .post(
                "/v1/users/generate-permanent-api-token",
                &admin,
                body.clone(),
            )
            .await;
        crate::common::assert_invalid(status, &answer, field, &body.to_string());
    }
    let (_, listed) = app.get("/v1/users/mine/api-tokens", &admin).await;
    assert_eq!(listed["recordsReturned"], 0, "nothing was issued");
}
