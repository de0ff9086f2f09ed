//! The interactive documentation: Swagger UI at `/docs/`, fed by `/v1/openapi.json`. Every
//! operation says what it does, what it needs and what it answers, under a tag that says what
//! it is about; request examples work as sent; the Authorize button logs in with an e-mail and
//! a password (the OAuth2 password flow of the token endpoint); nothing sent in a URL or a form
//! is declared nullable.

use base64::Engine;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

both_stores!(
    every_operation_says_what_it_does_what_it_needs_and_where_it_belongs,
    the_document_logs_in_with_the_oauth2_password_flow_of_the_token_endpoint,
    the_token_endpoint_takes_what_swagger_uis_password_flow_sends,
    every_request_body_has_an_example_that_fits_its_schema,
    the_token_form_example_logs_in_with_the_admins_credentials,
    the_request_examples_work_as_sent,
    nothing_sent_in_a_url_or_a_form_is_declared_nullable,
);

const FORM: &str = "application/x-www-form-urlencoded";

async fn document(app: &TestApp) -> Value {
    let res = app
        .http
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Every (method, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                ops.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

/// The schema a `$ref` points to (or the schema itself).
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/schemas/")
                .expect("a local $ref");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Whether `value` is an instance of `schema`, as far as this document's schemas go: types
/// (3.1 type lists included), enums, bounds, properties (no others), required ones, items,
/// and `oneOf`/`anyOf`/`allOf`. Says where it does not fit.
fn fits(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema[key].as_array() {
            if !options.iter().any(|s| fits(doc, s, value, at).is_ok()) {
                return Err(format!("{at}: {value} fits none of {key}"));
            }
        }
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            fits(doc, s, value, at)?;
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            return Err(format!("{at}: {value} is none of {allowed:?}"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let is = |t: &str| match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    };
    if !types.is_empty() && !types.iter().any(|t| is(t)) {
        return Err(format!("{at}: {value} is not of type {types:?}"));
    }
    if let (Some(n), Some(min)) = (value.as_f64(), schema["minimum"].as_f64()) {
        if n < min {
            return Err(format!("{at}: {n} is below {min}"));
        }
    }
    if let (Some(n), Some(max)) = (value.as_f64(), schema["maximum"].as_f64()) {
        if n > max {
            return Err(format!("{at}: {n} is above {max}"));
        }
    }
    if let Some(object) = value.as_object() {
        if let Some(properties) = schema["properties"].as_object() {
            for (name, member) in object {
                let property = properties
                    .get(name)
                    .ok_or_else(|| format!("{at}: {name} is no property"))?;
                fits(doc, property, member, &format!("{at}.{name}"))?;
            }
        }
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap();
            if !object.contains_key(name) {
                return Err(format!("{at}: {name} is required"));
            }
        }
    }
    if let (Some(items), Some(item_schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            fits(doc, item_schema, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// The example of a schema or property: its own `example` or first `examples`, or that of the
/// schema it refers to.
fn example_of(doc: &Value, schema: &Value) -> Option<Value> {
    let own = schema
        .get("example")
        .cloned()
        .or_else(|| schema["examples"].get(0).cloned());
    own.or_else(|| {
        schema["$ref"]
            .is_string()
            .then(|| example_of(doc, resolve(doc, schema)))
            .flatten()
    })
}

/// The fields a form fills in from the examples of its properties, as Swagger UI's form does.
fn form_example(doc: &Value, schema: &Value) -> Vec<(String, Value)> {
    resolve(doc, schema)["properties"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, property)| {
            let example = example_of(doc, property)
                .unwrap_or_else(|| panic!("the form field {name} shows no example"));
            (name.clone(), example)
        })
        .collect()
}

/// The example an operation's request body shows for one of its media types.
fn body_example(doc: &Value, path: &str, method: &str, media_type: &str) -> Value {
    doc["paths"][path][method]["requestBody"]["content"][media_type]["example"].clone()
}

async fn every_operation_says_what_it_does_what_it_needs_and_where_it_belongs(app: TestApp) {
    let doc = document(&app).await;
    let declared: Vec<&str> = doc["tags"]
        .as_array()
        .expect("the tags are declared")
        .iter()
        .map(|tag| {
            let name = tag["name"].as_str().unwrap();
            assert!(
                tag["description"].as_str().is_some_and(|d| !d.is_empty()),
                "the tag {name} says nothing"
            );
            name
        })
        .collect();
    let ops = operations(&doc);
    assert!(ops.len() >= 47, "{} operations", ops.len());
    for (method, path, op) in &ops {
        let id = op["operationId"].as_str().unwrap_or_default();
        let summary = op["summary"].as_str().unwrap_or_default();
        assert!(
            !summary.trim().is_empty() && !summary.contains('\n') && summary.len() <= 80,
            "{method} {path} ({id}) needs a summary of one short line: {summary:?}"
        );
        let description = op["description"].as_str().unwrap_or_default();
        assert!(
            description.len() > summary.len(),
            "{method} {path} ({id}) needs a description"
        );
        // What the caller needs, in the same words everywhere.
        assert!(
            description.contains("**Needs**"),
            "{method} {path} ({id}) does not say what it needs: {description}"
        );
        let tags = op["tags"].as_array().map(Vec::as_slice).unwrap_or_default();
        assert!(!tags.is_empty(), "{method} {path} ({id}) has no tag");
        for tag in tags {
            assert!(
                declared.contains(&tag.as_str().unwrap()),
                "{method} {path} ({id}): the tag {tag} is not declared with a description"
            );
        }
    }
    for tag in &declared {
        assert!(
            ops.iter()
                .any(|(_, _, op)| op["tags"].as_array().unwrap().contains(&json!(tag))),
            "the tag {tag} groups nothing"
        );
    }
    // The grouping, as docs/DECISIONS.md writes it down.
    for (id, tag) in [
        ("getToken", "OAuth"),
        ("revokeToken", "OAuth"),
        ("getCurrentUser", "Users"),
        ("createFlexcheckUserLogin", "Users"),
        ("getLoginLimits", "Users"),
        ("inviteUserLogin", "Invitations"),
        ("linkOpenIdTokenToUser", "Invitations"),
        ("getRoleById", "Roles"),
        ("getPermissionCatalogue", "Roles"),
        ("getPrivatePermanentApiToken", "Tokens"),
        ("getTemporaryApiTokens", "Tokens"),
        ("getMyApiTokens", "Tokens"),
        ("getMySessions", "Sessions"),
        ("requestPasswordResetCode", "Password reset"),
        ("updateUserPasswordWithResetCode", "Password reset"),
        ("getAuditEvents", "Audit"),
        ("healthz", "Operations"),
    ] {
        let (_, _, op) = ops
            .iter()
            .find(|(_, _, op)| op["operationId"] == id)
            .unwrap_or_else(|| panic!("no operation {id}"));
        assert_eq!(op["tags"], json!([tag]), "{id}");
    }
    // The Python client is generated into one class nonetheless.
    assert!(doc["info"]["description"]
        .as_str()
        .unwrap()
        .contains("SET_TAGS_FOR_ALL_OPERATIONS=Security"));
}

async fn the_document_logs_in_with_the_oauth2_password_flow_of_the_token_endpoint(app: TestApp) {
    let doc = document(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearerAuth"]["type"], "http");
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    let login = &schemes["oauth2Password"];
    assert_eq!(login["type"], "oauth2");
    let flow = &login["flows"]["password"];
    assert_eq!(flow["tokenUrl"], "/v1/oauth/token");
    assert_eq!(flow["refreshUrl"], "/v1/oauth/token");
    assert!(flow["scopes"].is_object(), "{flow}");
    assert_eq!(
        login["flows"].as_object().unwrap().len(),
        1,
        "the password flow only"
    );

    // Wherever a token is taken, either scheme is: alternatives, the public operations keep
    // their empty requirement.
    let bearer = json!({"bearerAuth": []});
    let password = json!({"oauth2Password": []});
    let mut secured = 0;
    for (method, path, op) in operations(&doc) {
        let Some(security) = op["security"].as_array() else {
            continue;
        };
        // Public: no requirement, or only the empty one.
        if security
            .iter()
            .all(|r| r.as_object().is_some_and(|r| r.is_empty()))
        {
            continue;
        }
        secured += 1;
        let at = security.iter().position(|r| *r == bearer);
        let at = at.unwrap_or_else(|| panic!("{method} {path}: {security:?}"));
        assert_eq!(security.get(at + 1), Some(&password), "{method} {path}");
    }
    assert!(secured >= 40, "{secured}");
    let sign_up = &doc["paths"]["/users/flexcheck"]["post"]["security"];
    assert_eq!(*sign_up, json!([bearer, password, {}]));
    let reset = &doc["paths"]["/users/password-reset/request-reset-code"]["post"]["security"];
    assert_eq!(*reset, json!([{}]));

    // The token URL, resolved as the document's URLs are (against the server, an
    // absolute path), is the token endpoint; the refresh URL takes the refresh grant there.
    let token_url = app.url(flow["tokenUrl"].as_str().unwrap());
    let res = app
        .http
        .post(&token_url)
        .form(&[
            ("grant_type", "password"),
            ("username", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let pair: Value = res.json().await.unwrap();
    let refresh_token = pair["refresh_token"].as_str().unwrap();
    let res = app
        .http
        .post(app.url(flow["refreshUrl"].as_str().unwrap()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let refreshed: Value = res.json().await.unwrap();
    let (status, _) = app
        .get(
            "/v1/users/mine",
            refreshed["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// A form body as Swagger UI's `buildFormData` writes it: empty values left out, each value
/// as JavaScript's `encodeURIComponent` encodes it, spaces as `+`.
fn swagger_ui_form(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    fields
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The headers Swagger UI's `authorizeRequest` sends with the form.
fn swagger_ui_headers(authorization: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/json, text/plain, */*"),
    );
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(FORM));
    headers.insert(
        "X-Requested-With",
        HeaderValue::from_static("XMLHttpRequest"),
    );
    if let Some(value) = authorization {
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    }
    headers
}

/// `Authorization: Basic …` of a client ID and secret, as Swagger UI builds it.
fn basic(client_id: &str, client_secret: &str) -> String {
    let pair = format!("{client_id}:{client_secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

async fn the_token_endpoint_takes_what_swagger_uis_password_flow_sends(app: TestApp) {
    // What the Authorize dialog sends: its client credentials in the Basic header (the
    // default, with the client fields left empty: `Basic Og==`) or in the body, the scopes
    // chosen (none are declared, but a client may send some), the e-mail with its `@`
    // percent-encoded. Then what "Try it out" sends from the token form filled from the
    // examples: the fields left empty go as empty values.
    type Case<'a> = (&'a str, Option<String>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        (
            "client credentials left empty, in the Basic header",
            Some(basic("", "")),
            vec![("scope", "")],
        ),
        (
            "a client ID in the Basic header",
            Some(basic("swagger-ui", "")),
            vec![],
        ),
        (
            "a client ID and secret in the Basic header, scopes chosen",
            Some(basic("swagger-ui", "not a secret")),
            vec![("scope", "api organizations:all")],
        ),
        (
            "client credentials in the body",
            None,
            vec![
                ("client_id", "swagger-ui"),
                ("client_secret", "not a secret"),
            ],
        ),
    ];
    assert_eq!(basic("", ""), "Basic Og==");
    for (case, authorization, extra) in cases {
        let mut fields = vec![
            ("grant_type", "password"),
            ("username", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
        ];
        fields.extend(extra);
        let res = app
            .http
            .post(app.url("/v1/oauth/token"))
            .headers(swagger_ui_headers(authorization.as_deref()))
            .body(swagger_ui_form(&fields))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{case}");
        let pair: Value = res.json().await.unwrap();
        assert_eq!(pair["token_type"], "bearer", "{case}");
        // Swagger UI then sends `Authorization: Bearer <access_token>`.
        let (status, me) = app
            .get("/v1/users/mine", pair["access_token"].as_str().unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{case}");
        assert_eq!(me["results"][0]["email"], ADMIN_EMAIL, "{case}");
    }

    let tried = "grant_type=password&username=admin%40example.com&password=admin+password+1234\
                 &organizationID=&refresh_token=&assertion=&scope=&client_id=&client_secret=";
    let res = app
        .http
        .post(app.url("/v1/oauth/token"))
        .headers(swagger_ui_headers(None))
        .body(tried)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the form with empty values");

    // Client credentials change nothing: a wrong password is still refused, and a Basic
    // header is no way past the token endpoint's rules.
    let wrong = swagger_ui_form(&[
        ("grant_type", "password"),
        ("username", ADMIN_EMAIL),
        ("password", "not the password"),
    ]);
    let res = app
        .http
        .post(app.url("/v1/oauth/token"))
        .headers(swagger_ui_headers(Some(&basic("swagger-ui", ""))))
        .body(wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let refused: Value = res.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_grant");
    // A Basic header is not a bearer token anywhere else either.
    let res = app
        .http
        .get(app.url("/v1/users/mine"))
        .header(AUTHORIZATION, basic("admin@example.com", ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn every_request_body_has_an_example_that_fits_its_schema(app: TestApp) {
    let doc = document(&app).await;
    let mut shown = 0;
    for (method, path, op) in operations(&doc) {
        let Some(content) = op["requestBody"]["content"].as_object() else {
            continue;
        };
        for (media_type, body) in content {
            let at = format!("{method} {path} ({media_type})");
            if media_type == FORM {
                // Swagger UI fills a form field by field, from each property's example.
                for (name, example) in form_example(&doc, &body["schema"]) {
                    let property = &resolve(&doc, &body["schema"])["properties"][&name];
                    fits(&doc, property, &example, &format!("{at} {name}"))
                        .unwrap_or_else(|e| panic!("{e}"));
                }
            } else {
                let example = body
                    .get("example")
                    .unwrap_or_else(|| panic!("{at} shows no example"));
                fits(&doc, &body["schema"], example, &at).unwrap_or_else(|e| panic!("{e}"));
                // A field left out is absent; nothing is filled in for show.
                let text = example.to_string();
                assert!(
                    !text.contains("\"string\"") && !text.contains("organizationID"),
                    "{at}: {text}"
                );
            }
            shown += 1;
        }
    }
    assert!(shown >= 19, "{shown}");
}

async fn the_token_form_example_logs_in_with_the_admins_credentials(app: TestApp) {
    let doc = document(&app).await;
    let content = &doc["paths"]["/oauth/token"]["post"]["requestBody"]["content"];
    let form = form_example(&doc, &content[FORM]["schema"]);
    let filled: Vec<(&str, &str)> = form
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str().unwrap()))
        .filter(|(_, value)| !value.is_empty())
        .collect();
    // A password login; where the tokens act is left to the default (the user's home
    // organization), so no made-up organization is sent.
    let mut names: Vec<&str> = filled.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    assert_eq!(names, ["grant_type", "password", "username"]);
    let field = |name: &str| filled.iter().find(|(n, _)| *n == name).unwrap().1;
    assert_eq!(field("grant_type"), "password");
    assert!(field("username").contains('@'), "{filled:?}");
    let with_admin: Vec<(&str, &str)> = form
        .iter()
        .map(|(name, value)| {
            let value = match name.as_str() {
                "username" => ADMIN_EMAIL,
                "password" => ADMIN_PASSWORD,
                _ => value.as_str().unwrap(),
            };
            (name.as_str(), value)
        })
        .collect();
    // Sent as the form shows it, the empty fields included.
    let (status, pair) = app.token_form(&with_admin).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let (status, me) = app
        .get("/v1/users/mine", pair["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let home = me["results"][0]["organizationID"].clone();
    assert_eq!(pair["organizationID"], home);

    // The JSON example, likewise.
    let mut json_example = content["application/json"]["example"].clone();
    json_example["username"] = json!(ADMIN_EMAIL);
    json_example["password"] = json!(ADMIN_PASSWORD);
    let (status, pair) = app
        .call(Method::POST, "/v1/oauth/token", None, Some(json_example))
        .await;
    assert_eq!(status, StatusCode::OK, "{pair}");
}

async fn the_request_examples_work_as_sent(app: TestApp) {
    let doc = document(&app).await;
    let token = app.admin_token().await;
    let json_body = |path: &str, method: &str| {
        let content = doc["paths"][path][method]["requestBody"]["content"]
            .as_object()
            .unwrap();
        let example = content.values().next().unwrap()["example"].clone();
        assert!(example.is_object(), "{method} {path}: {example}");
        example
    };
    // Each as the administrator of a fresh install sends it from the page, one after the
    // other: what one creates, the next finds.
    let steps: Vec<(Method, &str, &str, &str)> = vec![
        (
            Method::POST,
            "/users/flexcheck",
            "post",
            "/v1/users/flexcheck",
        ),
        (Method::POST, "/users", "post", "/v1/users"),
        (Method::POST, "/users/invite", "post", "/v1/users/invite"),
        (Method::POST, "/roles", "post", "/v1/roles"),
        (Method::PUT, "/roles", "put", "/v1/roles"),
        (
            Method::PUT,
            "/users/{email}",
            "put",
            "/v1/users/bob@example.com",
        ),
        (
            Method::PUT,
            "/users/{email}/email",
            "put",
            "/v1/users/bob@example.com/email",
        ),
        (
            Method::PUT,
            "/users/{email}/password",
            "put",
            "/v1/users/ann.smith@example.com/password",
        ),
        (
            Method::POST,
            "/users/generate-permanent-api-token",
            "post",
            "/v1/users/generate-permanent-api-token",
        ),
        (
            Method::POST,
            "/users/refresh-permanent-api-token",
            "post",
            "/v1/users/refresh-permanent-api-token",
        ),
        (
            Method::POST,
            "/users/password-reset/request-reset-code",
            "post",
            "/v1/users/password-reset/request-reset-code",
        ),
        (Method::POST, "/oauth/revoke", "post", "/v1/oauth/revoke"),
    ];
    for (method, path, key, url) in steps {
        let body = json_body(path, key);
        let (status, answer) = app
            .call(method.clone(), url, Some(&token), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::OK, "{method} {url} {body}: {answer}");
    }
    // The reset request's other media type: the bare address.
    let text = body_example(
        &doc,
        "/users/password-reset/request-reset-code",
        "post",
        "text/plain",
    );
    let res = app
        .http
        .post(app.url("/v1/users/password-reset/request-reset-code"))
        .header(CONTENT_TYPE, "text/plain")
        .body(text.as_str().unwrap().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn nothing_sent_in_a_url_or_a_form_is_declared_nullable(app: TestApp) {
    let doc = document(&app).await;
    let nullable = |schema: &Value| {
        let listed = schema["type"]
            .as_array()
            .is_some_and(|types| types.contains(&json!("null")));
        let alternative = schema["oneOf"]
            .as_array()
            .is_some_and(|options| options.iter().any(|o| o["type"] == "null"));
        listed || alternative
    };
    let mut forms = 0;
    for (method, path, op) in operations(&doc) {
        for parameter in op["parameters"].as_array().into_iter().flatten() {
            let name = &parameter["name"];
            assert!(
                !nullable(&parameter["schema"]),
                "{method} {path}: the parameter {name} is declared nullable"
            );
        }
        let Some(form) = op["requestBody"]["content"].get(FORM) else {
            continue;
        };
        forms += 1;
        let properties = resolve(&doc, &form["schema"])["properties"]
            .as_object()
            .unwrap();
        for (name, property) in properties {
            assert!(
                !nullable(property),
                "{method} {path}: the form field {name} is declared nullable"
            );
        }
    }
    assert!(forms >= 2, "{forms}");
    // Answers keep `null` where they carry it, so a client validating them accepts it.
    let user = &doc["components"]["schemas"]["User"]["properties"];
    assert_eq!(user["firstName"]["type"], json!(["string", "null"]));
    let token = app.admin_token().await;
    let (status, me) = app.get("/v1/users/mine", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(me["results"][0]["firstName"].is_null(), "{me}");
}
