//! The contract's conventions, for every endpoint: bodies, errors, limits, the OpenAPI
//! document, and the operational endpoints.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{error_type, TestApp};

both_stores!(
    json_bodies_are_read_whatever_the_content_type,
    malformed_json_and_wrong_types_are_400_naming_the_field,
    data_after_the_json_body_is_400_on_body,
    a_path_that_is_not_utf8_answers_the_error_body,
    a_body_over_64_kib_is_413,
    unknown_routes_and_methods_answer_the_error_body,
    the_openapi_document_lists_the_seed_operations,
    the_openapi_document_lists_every_answer_and_bound,
    the_openapi_document_links_what_is_created_to_what_reads_changes_and_ends_it,
    operational_endpoints_answer,
    requests_carry_a_request_id,
);

const PERMANENT: &str = "/v1/users/generate-permanent-api-token";

async fn json_bodies_are_read_whatever_the_content_type(app: TestApp) {
    let token = app.admin_token().await;
    let body = r#"{"description": "from a generated client"}"#;
    for content_type in [
        None,
        Some("*/*"),
        Some("text/plain"),
        Some("application/json"),
    ] {
        // Each issues a fresh token: rotate the previous one away first.
        let mut req = app
            .http
            .post(app.url(PERMANENT))
            .bearer_auth(&token)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{content_type:?}");
        let (status, _) = app
            .call(
                reqwest::Method::POST,
                "/v1/users/refresh-permanent-api-token",
                Some(&token),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let current: Value = sqlx::query_scalar::<_, String>(
            "SELECT id FROM tokens WHERE kind = 'permanent' AND revoked IS NULL",
        )
        .fetch_one(app.app.store.pool())
        .await
        .map(Value::String)
        .unwrap();
        sqlx::query("UPDATE tokens SET revoked = 1 WHERE id = $1")
            .bind(current.as_str().unwrap())
            .execute(app.app.store.pool())
            .await
            .unwrap();
    }
    // No body at all reads as `{}`.
    let res = app
        .http
        .post(app.url(PERMANENT))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn malformed_json_and_wrong_types_are_400_naming_the_field(app: TestApp) {
    let token = app.admin_token().await;
    let cases: Vec<(&str, &str, &str)> = vec![
        ("malformed", r#"{"description": "#, "body"),
        ("not an object", r#"[1, 2]"#, "body"),
        ("wrong type", r#"{"organizationID": 12}"#, "organizationID"),
        (
            "wrong nested type",
            r#"{"gracePeriodSeconds": "soon"}"#,
            "gracePeriodSeconds",
        ),
    ];
    for (name, body, field) in cases {
        let res = app
            .http
            .post(app.url("/v1/users/refresh-permanent-api-token"))
            .bearer_auth(&token)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{name}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(error_type(&body), "ValidationError", "{name}");
        assert_eq!(body["errorParameters"], json!([field]), "{name}: {body}");
    }
    // Unknown fields are ignored.
    let (status, _) = app.post(PERMANENT, &token, json!({"surprise": true})).await;
    assert_eq!(status, StatusCode::OK);
}

async fn data_after_the_json_body_is_400_on_body(app: TestApp) {
    let token = app.admin_token().await;
    for (path, method, body) in [
        (
            PERMANENT,
            reqwest::Method::POST,
            r#"{"description": "a"} xx"#,
        ),
        (PERMANENT, reqwest::Method::POST, "{}{}"),
        (PERMANENT, reqwest::Method::POST, "{} []"),
        (
            "/v1/roles",
            reqwest::Method::POST,
            r#"{"name": "a"} {"name": "b"}"#,
        ),
        ("/v1/roles", reqwest::Method::PUT, r#"{"name": "a"},"#),
    ] {
        for content_type in [None, Some("application/json")] {
            let mut req = app
                .http
                .request(method.clone(), app.url(path))
                .bearer_auth(&token)
                .body(body);
            if let Some(ct) = content_type {
                req = req.header("Content-Type", ct);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path} {body}");
            let answer: Value = res.json().await.unwrap();
            assert_eq!(error_type(&answer), "ValidationError", "{path} {body}");
            assert_eq!(answer["errorParameters"], json!(["body"]), "{path} {body}");
        }
    }
    // Whitespace after the object is no data.
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            PERMANENT,
            Some(&token),
            Some(json!({"description": "fine"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let res = app
        .http
        .post(app.url("/v1/roles"))
        .bearer_auth(&token)
        .body("{\"name\": \"Trailing space\"} \r\n\t ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// `%FF` decodes to no UTF-8 text: a 400 with the error body naming the path parameter, as
/// for any bad input, not a bare text answer.
async fn a_path_that_is_not_utf8_answers_the_error_body(app: TestApp) {
    let token = app.admin_token().await;
    for (method, path, field) in [
        (reqwest::Method::GET, "/v1/users/username/%FF", "email"),
        (
            reqwest::Method::GET,
            "/v1/users/username/ann%C3%40example.com",
            "email",
        ),
        (reqwest::Method::PUT, "/v1/users/%FF", "email"),
        (reqwest::Method::PUT, "/v1/users/%FF/email", "email"),
        (reqwest::Method::PUT, "/v1/users/%FF/password", "email"),
        (reqwest::Method::GET, "/v1/roles/%FF", "role"),
        (reqwest::Method::DELETE, "/v1/roles/%FE%FF", "role"),
        (
            reqwest::Method::DELETE,
            "/v1/roles/Admin/permission/%FF/read",
            "resource",
        ),
        (
            reqwest::Method::DELETE,
            "/v1/roles/Admin/permission/Users/%FF",
            "action",
        ),
    ] {
        let body = (method == reqwest::Method::PUT).then(|| json!({}));
        let mut req = app
            .http
            .request(method.clone(), app.url(path))
            .bearer_auth(&token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{method} {path}");
        assert_eq!(
            res.headers()["content-type"],
            "application/json",
            "{method} {path}"
        );
        let answer: Value = res.json().await.unwrap();
        assert_eq!(error_type(&answer), "ValidationError", "{method} {path}");
        assert_eq!(answer["errorParameters"], json!([field]), "{method} {path}");
    }
}

async fn a_body_over_64_kib_is_413(app: TestApp) {
    let token = app.admin_token().await;
    let big = json!({ "description": "x".repeat(64 * 1024) });
    let (status, body) = app.post(PERMANENT, &token, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_type(&body), "PayloadTooLarge");
    let form = format!(
        "grant_type=password&username=a@b.c&password={}",
        "x".repeat(70 * 1024)
    );
    let res = app
        .http
        .post(app.url("/v1/oauth/token"))
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

async fn unknown_routes_and_methods_answer_the_error_body(app: TestApp) {
    let token = app.admin_token().await;
    let (status, body) = app.get("/v1/nothing-here", &token).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::NOT_FOUND, "NotFound")
    );
    // The contract's table has no type for 405: there is no such operation.
    for (method, path, allowed) in [
        (reqwest::Method::PATCH, "/v1/users/mine", "GET,HEAD"),
        (reqwest::Method::GET, "/v1/oauth/token", "POST"),
    ] {
        let res = app
            .http
            .request(method.clone(), app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(res.headers()["allow"], allowed, "{method} {path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(error_type(&body), "NotFound", "{method} {path}");
    }
}

/// The 22 operations of the seed: method, path under `/v1`, operationId.
pub const SEED_OPERATIONS: [(&str, &str, &str); 22] = [
    ("post", "/users/flexcheck", "createFlexcheckUserLogin"),
    ("post", "/roles", "createRole"),
    ("post", "/users", "createUserLogin"),
    ("get", "/roles", "getAllRoles"),
    ("get", "/users/mine", "getCurrentUser"),
    ("get", "/users/mine/organizations", "getMyOrganizations"),
    (
        "post",
        "/users/generate-permanent-api-token",
        "getPrivatePermanentApiToken",
    ),
    ("get", "/roles/{role}", "getRoleById"),
    ("get", "/users", "getSimpleAllUsers"),
    ("get", "/users/generate-tokens", "getTemporaryApiTokens"),
    ("get", "/users/username/{email}", "getUserByUsername"),
    ("post", "/users/invite", "inviteUserLogin"),
    ("post", "/users/invite/openid", "linkOpenIdTokenToUser"),
    (
        "post",
        "/users/refresh-permanent-api-token",
        "refreshPermanentApiToken",
    ),
    (
        "delete",
        "/roles/{role}/permission/{resource}/{action}",
        "removePermissionFromRole",
    ),
    (
        "post",
        "/users/password-reset/request-reset-code",
        "requestPasswordResetCode",
    ),
    ("delete", "/roles/{role}", "revokeRole"),
    ("put", "/users/{email}/email", "updateEmail"),
    ("put", "/roles", "updateRole"),
    ("put", "/users/{email}", "updateUserInfos"),
    ("put", "/users/{email}/password", "updateUserPassword"),
    (
        "post",
        "/users/password-reset/password-update",
        "updateUserPasswordWithResetCode",
    ),
];

async fn the_openapi_document_lists_the_seed_operations(app: TestApp) {
    let doc: Value = app
        .http
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["servers"][0]["url"], "/v1");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    for (method, path, operation_id) in SEED_OPERATIONS {
        let op = &doc["paths"][path][method];
        assert_eq!(op["operationId"], operation_id, "{method} {path}");
        // Grouped by subject for the reader; the client generation puts them all in
        // `SecurityApi` (see docs/DECISIONS.md).
        assert_eq!(
            op["tags"].as_array().map(Vec::len),
            Some(1),
            "{operation_id}"
        );
        if let Some(body) = op.get("requestBody") {
            assert_eq!(op["x-codegen-request-body-name"], "body", "{operation_id}");
            assert_ne!(body["required"], true, "{operation_id}");
            let schema = body["content"]
                .as_object()
                .unwrap()
                .values()
                .next()
                .unwrap()["schema"]["$ref"]
                .as_str()
                .unwrap()
                .to_string();
            let name = schema.rsplit('/').next().unwrap();
            let request = &doc["components"]["schemas"][name];
            assert!(
                request.get("required").is_none(),
                "{name} marks fields required"
            );
        }
    }
    // Operations beyond the seed keep its conventions.
    let accept = &doc["paths"]["/users/invite/accept"]["post"];
    assert_eq!(accept["tags"], json!(["Invitations"]));
    assert!(accept["summary"].is_string(), "{accept}");
    for status in ["200", "400", "401", "403", "429"] {
        assert!(accept["responses"].get(status).is_some(), "{status}");
    }
    for (path, method) in [("/users/username/{email}", "get"), ("/roles", "get")] {
        let params = doc["paths"][path][method]["parameters"].as_array().unwrap();
        let orgs = params
            .iter()
            .find(|p| p["name"] == "organizations")
            .expect("organizations");
        assert_eq!(orgs["in"], "query");
        assert!(orgs["schema"]["type"]
            .as_array()
            .map(|t| t.contains(&json!("array")))
            .unwrap_or(orgs["schema"]["type"] == "array"));
    }
    for schema in [
        "UserCreateRequest",
        "CreateRoleRequest",
        "UpdateRoleRequest",
        "UserInviteRequest",
        "OAuthToken",
        "TokensResponse",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema} missing"
        );
    }
    let ui = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(ui.status(), StatusCode::OK);
    assert!(ui.text().await.unwrap().contains("swagger"));
}

async fn operational_endpoints_answer(app: TestApp) {
    let token = app.admin_token().await;
    app.token_form(&[
        ("grant_type", "password"),
        ("username", "x@y.z"),
        ("password", "wrong password"),
    ])
    .await;
    app.get("/v1/users/mine", &token).await;
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"route="/v1/users/mine",status="200""#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"bf_security_logins_total{outcome="succeeded"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"bf_security_logins_total{outcome="failed"}"#),
        "{metrics}"
    );
    assert!(metrics.contains("bf_security_http_request_duration_seconds_bucket"));
    // With the database gone, readiness says so.
    app.app.store.pool().close().await;
    let res = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_type(&body), "ServiceUnavailable");
}

async fn requests_carry_a_request_id(app: TestApp) {
    let mut ids = std::collections::HashSet::new();
    for _ in 0..3 {
        let res = app.http.get(app.url("/healthz")).send().await.unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        assert!(ids.insert(id), "request IDs repeat");
    }
    let res = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
}

async fn document(app: &TestApp) -> Value {
    app.http
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every (path, method, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "put", "post", "delete"].contains(&method.as_str()) {
                ops.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    ops
}

async fn the_openapi_document_lists_every_answer_and_bound(app: TestApp) {
    let doc = document(&app).await;
    for (path, method, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        for (status, answer) in responses {
            assert!(
                answer["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{method} {path} {status} says nothing"
            );
        }
        // Behind the authorization middleware: every parameter is checked, a bad token is a 401
        // even where none is needed, an organization may be foreign or missing.
        if op.get("security").is_some() {
            let mut wanted = vec!["200", "400", "401", "403", "404", "503"];
            if op.get("requestBody").is_some() {
                wanted.push("413");
            }
            for status in wanted {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} does not list {status}"
                );
            }
            assert!(
                responses["401"]["headers"]
                    .get("WWW-Authenticate")
                    .is_some(),
                "{method} {path}"
            );
        }
        if let Some(limited) = responses.get("429") {
            assert!(
                limited["headers"].get("Retry-After").is_some(),
                "{method} {path}"
            );
        }
    }
    let token = &doc["paths"]["/oauth/token"]["post"]["responses"];
    for status in ["200", "400", "413", "429", "503"] {
        assert!(
            token.get(status).is_some(),
            "the token endpoint lacks {status}"
        );
    }
    assert_eq!(
        token["400"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/OAuthError"
    );
    let revoke = &doc["paths"]["/oauth/revoke"]["post"]["responses"];
    for status in ["200", "400", "413", "503"] {
        assert!(
            revoke.get(status).is_some(),
            "the revocation endpoint lacks {status}"
        );
    }
    for (path, method) in [
        ("/oauth/token", "post"),
        ("/users/generate-permanent-api-token", "post"),
        ("/users/refresh-permanent-api-token", "post"),
        ("/users/generate-tokens", "get"),
    ] {
        let headers = &doc["paths"][path][method]["responses"]["200"]["headers"];
        assert!(headers.get("Cache-Control").is_some(), "{path}");
    }
    assert!(doc["paths"]["/users/username/{email}"]["get"]["responses"]
        .get("400")
        .is_some());
    let types: Vec<_> = doc["components"]["schemas"]["ErrorType"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "ValidationError",
            "Unauthorized",
            "PermissionsError",
            "NotFound",
            "Conflict",
            "PayloadTooLarge",
            "RateLimited",
            "ServerError",
            "ServiceUnavailable",
            // Beyond the contract's table: a request body that stopped coming (408).
            "RequestTimeout"
        ]
    );

    // The bounds the server checks.
    use bf_security::http::params::MAX_RECORDS;
    use bf_security::service::{invitations::MAX_INVITE_HOURS, tokens::MAX_GRACE_SECONDS};
    for path in ["/users", "/roles"] {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        let param =
            |name: &str| params.iter().find(|p| p["name"] == name).unwrap()["schema"].clone();
        assert_eq!(param("records")["minimum"], 1, "{path}");
        assert_eq!(param("records")["maximum"], MAX_RECORDS, "{path}");
        assert_eq!(param("offset")["minimum"], 0, "{path}");
    }
    let schemas = &doc["components"]["schemas"];
    let grace =
        &schemas["UserPrivatePermanentTokenRefreshRequest"]["properties"]["gracePeriodSeconds"];
    assert_eq!(
        (&grace["minimum"], &grace["maximum"]),
        (&json!(0), &json!(MAX_GRACE_SECONDS))
    );
    let hours = &schemas["UserInviteRequest"]["properties"]["expiresInHours"];
    assert_eq!(
        (&hours["minimum"], &hours["maximum"]),
        (&json!(1), &json!(MAX_INVITE_HOURS))
    );
}

async fn the_openapi_document_links_what_is_created_to_what_reads_changes_and_ends_it(
    app: TestApp,
) {
    let doc = document(&app).await;
    let ids: Vec<String> = operations(&doc)
        .iter()
        .filter_map(|(_, _, op)| op["operationId"].as_str().map(str::to_string))
        .collect();
    for (path, method, targets) in [
        (
            "/roles",
            "post",
            &[
                "getRoleById",
                "updateRole",
                "removePermissionFromRole",
                "revokeRole",
            ][..],
        ),
        (
            "/users",
            "post",
            &[
                "getUserByUsername",
                "updateUserInfos",
                "updateEmail",
                "updateUserPassword",
            ][..],
        ),
        (
            "/users/flexcheck",
            "post",
            &["getUserByUsername", "updateUserInfos"][..],
        ),
        ("/oauth/token", "post", &["revokeToken"][..]),
        ("/users/generate-tokens", "get", &["revokeToken"][..]),
        (
            "/users/generate-permanent-api-token",
            "post",
            &["refreshPermanentApiToken", "revokeToken"][..],
        ),
        (
            "/users/refresh-permanent-api-token",
            "post",
            &["refreshPermanentApiToken", "revokeToken"][..],
        ),
    ] {
        let links = doc["paths"][path][method]["responses"]["200"]["links"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} links nothing"));
        for link in links.values() {
            let target = link["operationId"]
                .as_str()
                .expect("operationId, in camel case");
            assert!(
                ids.iter().any(|id| id == target),
                "{target} is no operation"
            );
            assert!(
                link.get("operation_id").is_none() && link.get("request_body").is_none(),
                "{link}"
            );
        }
        for target in targets {
            assert!(
                links.values().any(|l| l["operationId"] == *target),
                "{method} {path} does not link to {target}"
            );
        }
    }
    let links = &doc["paths"]["/roles"]["post"]["responses"]["200"]["links"];
    assert_eq!(
        links["read"]["parameters"]["role"],
        "$response.body#/results/0/id"
    );
    // A link's body is a string (OpenAPI Generator refuses any other): an expression, or a
    // form body with one embedded.
    assert_eq!(links["update"]["requestBody"], "$response.body#/results/0");
    let revoke = &doc["paths"]["/users/generate-tokens"]["get"]["responses"]["200"]["links"];
    assert_eq!(
        revoke["revokeRefreshToken"]["requestBody"],
        "token={$response.body#/refreshToken}"
    );
}
