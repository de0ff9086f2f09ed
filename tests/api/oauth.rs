//! The OAuth endpoints speak OAuth in every answer (RFC 6749, RFC 7009), and a bad bearer
//! token is challenged as RFC 6750 says.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{error_type, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

both_stores!(
    the_token_endpoint_refuses_every_bad_request_in_oauth_terms,
    unknown_parameters_are_ignored_and_empty_ones_are_absent,
    the_revocation_endpoint_answers_as_rfc_7009_says,
    a_bad_bearer_token_is_challenged_with_invalid_token,
);

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

/// Sends a raw body to `path` (with its query); answers status, headers and the JSON body.
async fn send(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let res = app
        .http
        .post(app.url(path))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn login_form() -> String {
    format!("grant_type=password&username={ADMIN_EMAIL}&password={ADMIN_PASSWORD}")
}

fn assert_oauth_refusal(
    what: &str,
    (status, headers, body): &(StatusCode, reqwest::header::HeaderMap, Value),
    expected: (StatusCode, &str),
) {
    assert_eq!(
        (*status, body["error"].as_str()),
        (expected.0, Some(expected.1)),
        "{what}: {body}"
    );
    assert!(body["error_description"].is_string(), "{what}: {body}");
    assert!(body.get("errorType").is_none(), "{what}: {body}");
    assert_eq!(headers["cache-control"], "no-store", "{what}");
    assert_eq!(headers["pragma"], "no-cache", "{what}");
}

async fn the_token_endpoint_refuses_every_bad_request_in_oauth_terms(app: TestApp) {
    let login = login_form();
    let cases: Vec<(&str, &str, &str, String)> = vec![
        (
            "a repeated parameter",
            "",
            FORM,
            format!("{login}&password=other"),
        ),
        (
            "a repeated grant_type",
            "",
            FORM,
            format!("{login}&grant_type=password"),
        ),
        (
            "a parameter under both its names",
            "",
            FORM,
            format!("{login}&organizationID=ORG-a&organization_id=ORG-b"),
        ),
        (
            "a repeated JSON member",
            "",
            JSON,
            r#"{"grant_type": "password", "grant_type": "password"}"#.into(),
        ),
        ("malformed JSON", "", JSON, r#"{"grant_type": "#.into()),
        (
            "data after the JSON object",
            "",
            JSON,
            r#"{"grant_type": "password"} x"#.into(),
        ),
        (
            "a number for a string",
            "",
            JSON,
            r#"{"grant_type": 1}"#.into(),
        ),
        (
            "a list for a string",
            "",
            JSON,
            format!(
                r#"{{"grant_type": "password", "username": ["{ADMIN_EMAIL}"], "password": "x"}}"#
            ),
        ),
        (
            "an empty password",
            "",
            FORM,
            format!("grant_type=password&username={ADMIN_EMAIL}&password="),
        ),
        ("an empty grant_type", "", FORM, "grant_type=".into()),
        (
            "an empty refresh token",
            "",
            FORM,
            "grant_type=refresh_token&refresh_token=".into(),
        ),
        (
            "NUL in a parameter",
            "",
            FORM,
            format!("grant_type=password&username=a%00{ADMIN_EMAIL}&password=x"),
        ),
        (
            "the password in the URL, with a body",
            "?password=x",
            FORM,
            login.clone(),
        ),
        ("no parameter at all", "", FORM, String::new()),
    ];
    for (what, query, content_type, body) in cases {
        let path = format!("/v1/oauth/token{query}");
        let answer = send(&app, &path, content_type, body).await;
        assert_oauth_refusal(what, &answer, (StatusCode::BAD_REQUEST, "invalid_request"));
    }
    let in_url = format!("/v1/oauth/token?{login}");
    let answer = send(&app, &in_url, FORM, "").await;
    assert_oauth_refusal(
        "credentials in the URL",
        &answer,
        (StatusCode::BAD_REQUEST, "invalid_request"),
    );
    let answer = send(&app, "/v1/oauth/token", FORM, "x".repeat(65 * 1024)).await;
    assert_oauth_refusal(
        "a body over the limit",
        &answer,
        (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request"),
    );
    let answer = send(
        &app,
        "/v1/oauth/token",
        FORM,
        format!("grant_type=password&username={ADMIN_EMAIL}&password=wrong"),
    )
    .await;
    assert_oauth_refusal(
        "a wrong password",
        &answer,
        (StatusCode::BAD_REQUEST, "invalid_grant"),
    );
    let answer = send(&app, "/v1/oauth/token", FORM, "grant_type=Password").await;
    assert_oauth_refusal(
        "a grant type spelled otherwise",
        &answer,
        (StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    );
    let (status, headers, body) = send(&app, "/v1/oauth/token", FORM, login).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
}

/// RFC 6749 §3.1 and §3.2: unknown parameters are ignored, whatever they hold; a parameter
/// sent without a value is as if it was not sent.
async fn unknown_parameters_are_ignored_and_empty_ones_are_absent(app: TestApp) {
    let body = format!("{}&foo=%00&foo=again&organizationID=&scope=", login_form());
    let (status, _, answer) = send(&app, "/v1/oauth/token", FORM, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let body = json!({"grant_type": "password", "username": ADMIN_EMAIL,
                      "password": ADMIN_PASSWORD, "organizationID": null, "extra": [1, 2]});
    let (status, _, answer) = send(&app, "/v1/oauth/token", JSON, body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // A query that names no parameter of the endpoint is not a credential.
    let (status, _, answer) = send(&app, "/v1/oauth/token?tenant=x", FORM, login_form()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn the_revocation_endpoint_answers_as_rfc_7009_says(app: TestApp) {
    let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let access = t["access_token"].as_str().unwrap();
    for (what, query, content_type, body) in [
        ("no token", "", FORM, String::new()),
        ("an empty token", "", FORM, "token=".to_string()),
        (
            "a repeated token",
            "",
            FORM,
            format!("token={access}&token=x"),
        ),
        (
            "the token in the URL",
            "?token=x",
            FORM,
            format!("token={access}"),
        ),
        ("a number for the token", "", JSON, r#"{"token": 7}"#.into()),
        ("malformed JSON", "", JSON, r#"{"token": "#.into()),
    ] {
        let answer = send(
            &app,
            &format!("/v1/oauth/revoke{query}"),
            content_type,
            body,
        )
        .await;
        assert_oauth_refusal(what, &answer, (StatusCode::BAD_REQUEST, "invalid_request"));
    }
    assert_eq!(app.get("/v1/users/mine", access).await.0, StatusCode::OK);
    // Whatever the token is, once it is there, the answer is 200 (RFC 7009 §2.2).
    for token in [
        "bfsa_never_issued",
        "not-a-token-of-ours",
        "bfsr_\u{00e9}t\u{00e9}",
    ] {
        let (status, headers, _) = send(
            &app,
            "/v1/oauth/revoke",
            JSON,
            json!({"token": token, "token_type_hint": "whatever"}).to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{token}");
        assert_eq!(headers["cache-control"], "no-store");
    }
    let (status, _, _) = send(
        &app,
        "/v1/oauth/revoke",
        FORM,
        format!("token={access}&token_type_hint=refresh_token"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get("/v1/users/mine", access).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// RFC 6750 §3.1: a request without a token is told which scheme to use; one with a token that
/// is not (or no longer) good is told `invalid_token`.
async fn a_bad_bearer_token_is_challenged_with_invalid_token(app: TestApp) {
    let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let revoked = t["access_token"].as_str().unwrap().to_string();
    let res = app
        .http
        .post(app.url("/v1/oauth/revoke"))
        .form(&[("token", revoked.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let expired = app.admin_token().await;
    let refresh = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    app.clock
        .advance_seconds(app.settings.tokens.access_ttl_seconds + 1);
    const INVALID: &str = r#"Bearer error="invalid_token""#;
    let cases: Vec<(&str, &str, Option<String>, &str)> = vec![
        ("no token", "/v1/users/mine", None, "Bearer"),
        (
            "unknown",
            "/v1/users/mine",
            Some("bfsa_unknown".into()),
            INVALID,
        ),
        ("revoked", "/v1/users/mine", Some(revoked), INVALID),
        ("expired", "/v1/roles", Some(expired), INVALID),
        ("a refresh token", "/v1/users", Some(refresh), INVALID),
        (
            "unknown, on an operation that needs none",
            "/v1/users/password-reset/request-reset-code",
            Some("bfsa_unknown".into()),
            INVALID,
        ),
    ];
    for (what, path, token, challenge) in cases {
        let mut req = if path.contains("request-reset-code") {
            app.http
                .post(app.url(path))
                .json(&json!({"email": ADMIN_EMAIL}))
        } else {
            app.http.get(app.url(path))
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(res.headers()["www-authenticate"], challenge, "{what}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(error_type(&body), "Unauthorized", "{what}");
    }
}
