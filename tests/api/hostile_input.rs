//! Text no field should hold: NUL (which PostgreSQL refuses) anywhere, and control characters
//! in names, IDs, addresses, codes and query values, in every kind of input of every
//! operation. Each is a 400 naming the field, never a 500 (the OAuth endpoints name it in an
//! RFC 6749 `invalid_request`).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{create_member, error_type, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

both_stores!(
    nul_and_control_characters_are_400_naming_the_field_in_every_input,
    descriptions_keep_their_lines_and_passwords_their_tabs,
);

enum Body {
    None,
    Json(&'static str),
    Form(&'static str),
    Plain(&'static [u8]),
}

use Body::{Form, Json, Plain};

const PERMANENT: &str = "/v1/users/generate-permanent-api-token";
const GOOD_PASSWORD: &str = "long enough password";

/// (method, path, body, the field the 400 must name)
const CASES: &[(Method, &str, Body, &str)] = &[
    // JSON bodies: every field of every kind, in lists and nested objects too.
    (
        Method::POST,
        "/v1/roles",
        Json(r#"{"name": "Sup\u0000port"}"#),
        "name",
    ),
    (
        Method::POST,
        "/v1/roles",
        Json(r#"{"name": "Ops", "description": "a\u0000b"}"#),
        "description",
    ),
    (
        Method::POST,
        "/v1/roles",
        Json(r#"{"name": "Ops", "description": "a\u001b[2Jb"}"#),
        "description",
    ),
    (
        Method::POST,
        "/v1/roles",
        Json(
            r#"{"name": "Ops", "permissions": [{"resource": "Users", "action": "read"}, {"resource": "Roles\u0000", "action": "read"}]}"#,
        ),
        "permissions[1].resource",
    ),
    (
        Method::POST,
        "/v1/roles",
        Json(r#"{"name": "Ops", "organizationID": "ORG-\u0000"}"#),
        "organizationID",
    ),
    (
        Method::PUT,
        "/v1/roles",
        Json(r#"{"id": "ROL-\u0000"}"#),
        "id",
    ),
    (
        Method::PUT,
        "/v1/roles",
        Json(r#"{"name": "Support", "description": "x\u0000"}"#),
        "description",
    ),
    (
        Method::POST,
        "/v1/users",
        Json(r#"{"email": "new\u0000@example.com"}"#),
        "email",
    ),
    (
        Method::POST,
        "/v1/users",
        Json(r#"{"email": "new@example.com", "firstName": "A\u0000"}"#),
        "firstName",
    ),
    (
        Method::POST,
        "/v1/users",
        Json(r#"{"email": "new@example.com", "lastName": "A\nB"}"#),
        "lastName",
    ),
    (
        Method::POST,
        "/v1/users",
        Json(r#"{"email": "new@example.com", "companyName": "A\u2028B"}"#),
        "companyName",
    ),
    (
        Method::POST,
        "/v1/users",
        Json(r#"{"email": "new@example.com", "roles": ["Support", "Sup\u0000port"]}"#),
        "roles[1]",
    ),
    (
        Method::POST,
        "/v1/users",
        Json(r#"{"email": "new@example.com", "password": "long enough\u0000password"}"#),
        "password",
    ),
    (
        Method::POST,
        "/v1/users",
        Json(r#"{"email": "new@example.com", "timezone": "UTC\u0000"}"#),
        "timezone",
    ),
    (
        Method::POST,
        "/v1/users",
        Json(r#"{"email": "new@example.com", "organizationID": "ORG\u0000"}"#),
        "organizationID",
    ),
    (
        Method::POST,
        "/v1/users/flexcheck",
        Json(
            r#"{"email": "shop@example.com", "password": "long enough password", "companyName": "Acme\n\nYour invitation code:\n\nPHISH12345"}"#,
        ),
        "companyName",
    ),
    (
        Method::POST,
        "/v1/users/invite",
        Json(r#"{"email": "in\u0000@example.com"}"#),
        "email",
    ),
    (
        Method::POST,
        "/v1/users/invite",
        Json(r#"{"email": "in@example.com", "firstName": "\u0007"}"#),
        "firstName",
    ),
    (
        Method::POST,
        "/v1/users/invite",
        Json(r#"{"email": "in@example.com", "roles": ["\u0000"]}"#),
        "roles[0]",
    ),
    (
        Method::PUT,
        "/v1/users/ann@example.com",
        Json(r#"{"firstName": "A\u0000"}"#),
        "firstName",
    ),
    (
        Method::PUT,
        "/v1/users/ann@example.com",
        Json(r#"{"timezone": "\u0000"}"#),
        "timezone",
    ),
    (
        Method::PUT,
        "/v1/users/ann@example.com/email",
        Json(r#"{"newEmail": "b\u0000@example.com"}"#),
        "newEmail",
    ),
    (
        Method::PUT,
        "/v1/users/ann@example.com/password",
        Json(r#"{"newPassword": "new password\u0000 123"}"#),
        "newPassword",
    ),
    (
        Method::POST,
        PERMANENT,
        Json(r#"{"description": "a\u0000"}"#),
        "description",
    ),
    (
        Method::POST,
        PERMANENT,
        Json(r#"{"organizationID": "ORG\u0000"}"#),
        "organizationID",
    ),
    (
        Method::POST,
        PERMANENT,
        Json(r#"{"userID": "USR-\u0000"}"#),
        "userID",
    ),
    (
        Method::POST,
        PERMANENT,
        Json(r#"{"surprise": "\u0000"}"#),
        "surprise",
    ),
    (Method::POST, PERMANENT, Json(r#"{"a\u0000": 1}"#), "body"),
    (
        Method::POST,
        "/v1/users/refresh-permanent-api-token",
        Json(r#"{"organizationID": "\u0000"}"#),
        "organizationID",
    ),
    (
        Method::POST,
        "/v1/users/password-reset/request-reset-code",
        Json(r#"{"email": "ann\u0000@example.com"}"#),
        "email",
    ),
    (
        Method::POST,
        "/v1/users/password-reset/request-reset-code",
        Plain(b"ann\0@example.com"),
        "email",
    ),
    (
        Method::POST,
        "/v1/users/password-reset/password-update",
        Json(
            r#"{"email": "ann@example.com", "resetCode": "ABCDE\u000012345", "newPassword": "long enough password"}"#,
        ),
        "resetCode",
    ),
    (
        Method::POST,
        "/v1/users/invite/openid",
        Json(r#"{"inviteCode": "\u0000", "idToken": "x"}"#),
        "inviteCode",
    ),
    (
        Method::POST,
        "/v1/oauth/token",
        Json(r#"{"grant_type": "password", "username": "ann\u0000@example.com", "password": "x"}"#),
        "username",
    ),
    (
        Method::POST,
        "/v1/oauth/token",
        Json(
            r#"{"grant_type": "password", "username": "ann@example.com", "password": "x", "organizationID": "ORG\u0000"}"#,
        ),
        "organizationID",
    ),
    // Form bodies.
    (
        Method::POST,
        "/v1/oauth/token",
        Form("grant_type=refresh_token&refresh_token=bfsr_%00"),
        "refresh_token",
    ),
    (
        Method::POST,
        "/v1/oauth/token",
        Form("grant_type=password&username=ann%40example.com&password=x%00y"),
        "password",
    ),
    (
        Method::POST,
        "/v1/oauth/token",
        Form("grant_type=password&username=ann%40example.com&password=x&organizationID=ORG%0A"),
        "organizationID",
    ),
    (Method::POST, "/v1/oauth/revoke", Form("token=%00"), "token"),
    // Query parameters.
    (
        Method::GET,
        "/v1/roles?organizations=%00",
        Body::None,
        "organizations",
    ),
    (
        Method::GET,
        "/v1/users?organizations=ORG%0A",
        Body::None,
        "organizations",
    ),
    (
        Method::GET,
        "/v1/users/mine?organizations=ORG-1,%00",
        Body::None,
        "organizations",
    ),
    (
        Method::GET,
        "/v1/roles?order_by=name%00",
        Body::None,
        "order_by",
    ),
    (
        Method::GET,
        "/v1/roles/Support?include_retired=true%00",
        Body::None,
        "include_retired",
    ),
    (Method::GET, "/v1/users?x%00=1", Body::None, "query"),
    // Path segments.
    (Method::GET, "/v1/roles/Sup%00port", Body::None, "role"),
    (Method::DELETE, "/v1/roles/Sup%0Aport", Body::None, "role"),
    (
        Method::DELETE,
        "/v1/roles/Support/permission/Users%00/read",
        Body::None,
        "resource",
    ),
    (
        Method::DELETE,
        "/v1/roles/Support/permission/Users/read%00",
        Body::None,
        "action",
    ),
    (
        Method::GET,
        "/v1/users/username/ann%00%40example.com",
        Body::None,
        "email",
    ),
    (
        Method::GET,
        "/v1/users/username/ann%09%40example.com",
        Body::None,
        "email",
    ),
    (
        Method::PUT,
        "/v1/users/ann%00@example.com",
        Json(r#"{"firstName": "A"}"#),
        "email",
    ),
    (
        Method::PUT,
        "/v1/users/ann%00@example.com/email",
        Json(r#"{"newEmail": "x@example.com"}"#),
        "email",
    ),
    (
        Method::PUT,
        "/v1/users/ann%00@example.com/password",
        Json(r#"{"newPassword": "long enough password"}"#),
        "email",
    ),
];

async fn send(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: &Body,
) -> (StatusCode, String) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    req = match body {
        Body::None => req,
        Json(text) => req.header("Content-Type", "application/json").body(*text),
        Form(text) => req
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(*text),
        Plain(bytes) => req
            .header("Content-Type", "text/plain")
            .body(bytes.to_vec()),
    };
    let res = req.send().await.expect("request sent");
    (res.status(), res.text().await.unwrap_or_default())
}

async fn nul_and_control_characters_are_400_naming_the_field_in_every_input(app: TestApp) {
    let token = app.admin_token().await;
    let org = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["organizationID"]
        .as_str()
        .unwrap()
        .to_string();
    create_member(&app, &org, "ann@example.com", GOOD_PASSWORD, &[]).await;
    let (status, body) = app
        .post(
            "/v1/roles",
            &token,
            json!({"name": "Support", "permissions": [{"resource": "Users", "action": "read"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut failures = Vec::new();
    for (method, path, body, field) in CASES {
        let (status, text) = send(&app, &token, method.clone(), path, body).await;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        // The OAuth endpoints answer in RFC 6749's terms, naming the field in the description.
        let named = if path.starts_with("/v1/oauth/") {
            answer["error"] == "invalid_request"
                && answer["error_description"]
                    .as_str()
                    .is_some_and(|d| d.starts_with(&format!("{field} ")))
        } else {
            error_type(&answer) == "ValidationError" && answer["errorParameters"] == json!([field])
        };
        if status != StatusCode::BAD_REQUEST || !named {
            failures.push(format!("{method} {path} ({field}): {status} {text}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // Nothing of it was written.
    let (_, roles) = app.get("/v1/roles?records=500", &token).await;
    let names: Vec<&str> = roles["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"Ops"), "{names:?}");
    let (status, _) = app.get("/v1/users/username/new@example.com", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn descriptions_keep_their_lines_and_passwords_their_tabs(app: TestApp) {
    let token = app.admin_token().await;
    let (status, body) = app
        .post(
            "/v1/roles",
            &token,
            json!({"name": "Ops", "description": "Runs the night shift.\r\n\tAsk before paging."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["results"][0]["description"],
        "Runs the night shift.\r\n\tAsk before paging."
    );
    let (status, body) = app
        .post(
            "/v1/users",
            &token,
            json!({"email": "tab@example.com", "password": "with\ta tab inside", "firstName": "Zoë"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.login("tab@example.com", "with\ta tab inside").await;
}
