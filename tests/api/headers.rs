//! Answers carry headers that keep browsers and caches from mishandling them: no sniffing, a
//! content security policy, `Cache-Control: no-store` wherever a token or personal data may be,
//! and CORS closed unless the operator names the origins.

use reqwest::header::{HeaderMap, ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL};
use reqwest::Method;

use crate::common::{StoreKind, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::stories_of_kind;

stories_of_kind!(
    every_answer_is_marked_not_to_be_sniffed_framed_or_stored,
    the_documentation_gets_a_policy_of_its_own,
    cors_is_closed_by_default,
    cors_opens_to_the_named_origins_only,
);

async fn spawn(kind: StoreKind) -> Option<TestApp> {
    TestApp::spawn(kind).await
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<none>")
}

fn assert_hardened(headers: &HeaderMap, what: &str) {
    assert_eq!(
        header(headers, "x-content-type-options"),
        "nosniff",
        "{what}"
    );
    assert_eq!(header(headers, "cache-control"), "no-store", "{what}");
    let csp = header(headers, "content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
}

async fn every_answer_is_marked_not_to_be_sniffed_framed_or_stored(kind: StoreKind) {
    let Some(app) = spawn(kind).await else {
        return;
    };
    let http = &app.http;
    // A token answer.
    let r = http
        .post(app.url("/v1/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_hardened(r.headers(), "token");
    let token = r.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Personal data, an error, a refusal, an unknown route and the operational endpoints.
    let asked = [
        (Method::GET, "/v1/users/mine", Some(&token)),
        (Method::GET, "/v1/users/USR-none", Some(&token)),
        (Method::GET, "/v1/users/mine", None),
        (Method::GET, "/v1/nowhere", None),
        (Method::GET, "/v1/openapi.json", None),
        (Method::GET, "/metrics", None),
        (Method::GET, "/healthz", None),
    ];
    for (method, path, token) in asked {
        let mut req = http.request(method, app.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let r = req.send().await.unwrap();
        assert_hardened(r.headers(), path);
    }
}

async fn the_documentation_gets_a_policy_of_its_own(kind: StoreKind) {
    let Some(app) = spawn(kind).await else {
        return;
    };
    let r = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let headers = r.headers().clone();
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert_eq!(header(&headers, "x-frame-options"), "DENY");
    let csp = header(&headers, "content-security-policy");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    // The page runs no inline script, so the policy holds it to its own files.
    let page = r.text().await.unwrap();
    assert!(!page.contains("<script>"), "{page}");
    assert!(headers.get(CACHE_CONTROL).is_none_or(|v| v != "no-store"));
}

async fn cors_is_closed_by_default(kind: StoreKind) {
    let Some(app) = spawn(kind).await else {
        return;
    };
    let preflight = app
        .http
        .request(Method::OPTIONS, app.url("/v1/users/mine"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight
        .headers()
        .get(ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());
    assert_ne!(preflight.status(), 200);
    let token = app.admin_token().await;
    let r = app
        .http
        .get(app.url("/v1/users/mine"))
        .bearer_auth(&token)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

async fn cors_opens_to_the_named_origins_only(kind: StoreKind) {
    let Some(app) = TestApp::spawn_with(kind, |s| {
        s.http.cors_origins = vec!["https://billing.example".to_string()]
            .try_into()
            .unwrap();
    })
    .await
    else {
        return;
    };
    let preflight = |origin: &'static str| {
        app.http
            .request(Method::OPTIONS, app.url("/v1/users/mine"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("https://billing.example").await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        header(allowed.headers(), "access-control-allow-origin"),
        "https://billing.example"
    );
    assert!(header(allowed.headers(), "access-control-allow-headers").contains("authorization"));
    assert!(allowed
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let token = app.admin_token().await;
    let r = app
        .http
        .get(app.url("/v1/users/mine"))
        .bearer_auth(&token)
        .header("origin", "https://billing.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(r.headers(), "access-control-allow-origin"),
        "https://billing.example"
    );
    assert_hardened(r.headers(), "cross-origin read");
}
