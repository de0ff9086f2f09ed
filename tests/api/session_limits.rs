//! Sessions end by themselves: after a stretch unused (`BF_SESSION_IDLE_DAYS`), and at their
//! absolute end (`BF_SESSION_MAX_DAYS`) however often they are refreshed.

use reqwest::StatusCode;

use crate::common::{StoreKind, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

crate::stories_of_kind!(
    an_unused_session_ends_after_the_idle_days,
    a_session_ends_at_its_absolute_end_however_used
);

const DAY: i64 = 24 * 3600;

/// A server whose sessions idle out after 2 days and end after 5, with access tokens that
/// outlive both (so it is the session that ends them).
async fn spawn(kind: StoreKind) -> Option<TestApp> {
    TestApp::spawn_with(kind, |s| {
        s.tokens.session_idle_days = 2;
        s.tokens.session_max_days = 5;
        s.tokens.access_ttl_seconds = 30 * DAY;
        s.tokens.refresh_ttl_seconds = 30 * DAY;
    })
    .await
}

async fn login(app: &TestApp) -> (String, String) {
    let body = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

async fn refreshed(app: &TestApp, refresh: &str) -> Option<(String, String)> {
    let (status, body) = app
        .token_form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    (status == StatusCode::OK).then(|| {
        (
            body["access_token"].as_str().unwrap().to_string(),
            body["refresh_token"].as_str().unwrap().to_string(),
        )
    })
}

async fn status(app: &TestApp, token: &str) -> StatusCode {
    app.get("/v1/users/mine", token).await.0
}

async fn an_unused_session_ends_after_the_idle_days(kind: StoreKind) {
    let Some(app) = spawn(kind).await else { return };
    let (access, refresh) = login(&app).await;
    let (other, other_refresh) = login(&app).await;
    // Used within the idle days, by a request or by a refresh, a session goes on.
    app.clock.advance_seconds(DAY + 3600);
    assert_eq!(status(&app, &access).await, StatusCode::OK);
    let (_, other_refresh) = refreshed(&app, &other_refresh)
        .await
        .expect("refreshed in time");
    app.clock.advance_seconds(DAY + 3600);
    assert_eq!(status(&app, &access).await, StatusCode::OK);
    assert!(refreshed(&app, &other_refresh).await.is_some());
    // Two days unused: its access token and refresh token are refused.
    let (idle, idle_refresh) = login(&app).await;
    app.clock.advance_seconds(2 * DAY + 60);
    assert_eq!(status(&app, &idle).await, StatusCode::UNAUTHORIZED);
    assert!(refreshed(&app, &idle_refresh).await.is_none());
    let (_, listed) = app
        .get("/v1/users/mine/sessions?records=50", &login(&app).await.0)
        .await;
    assert!(
        listed["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["createdAddress"] == "127.0.0.1"),
        "{listed}"
    );
    let _ = (other, refresh);
}

async fn a_session_ends_at_its_absolute_end_however_used(kind: StoreKind) {
    let Some(app) = spawn(kind).await else { return };
    let (mut access, mut refresh) = login(&app).await;
    let opened_ends = {
        let (_, listed) = app.get("/v1/users/mine/sessions", &access).await;
        listed["results"][0]["ends"].as_str().unwrap().to_string()
    };
    for _ in 0..4 {
        app.clock.advance_seconds(DAY);
        assert_eq!(status(&app, &access).await, StatusCode::OK);
        (access, refresh) = refreshed(&app, &refresh).await.expect("refreshed in time");
    }
    let (_, listed) = app.get("/v1/users/mine/sessions", &access).await;
    assert_eq!(
        listed["results"][0]["ends"],
        opened_ends.as_str(),
        "refreshes move no end"
    );
    app.clock.advance_seconds(DAY + 60);
    assert_eq!(status(&app, &access).await, StatusCode::UNAUTHORIZED);
    assert!(refreshed(&app, &refresh).await.is_none());
}
