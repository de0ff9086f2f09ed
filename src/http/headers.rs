//! Headers every answer carries so that browsers and caches handle it safely, and the CORS
//! policy (closed unless the operator names origins).

use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::CorsOrigins;

/// The API answers JSON only: it never loads, frames or runs anything.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; \
                          form-action 'none'";
/// Swagger UI loads its own scripts, styles and images from this server and calls the API
/// here; it styles elements inline and draws icons from `data:` URIs. Nothing else, from
/// nowhere else, and never in a frame.
const DOCS_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' \
                           'unsafe-inline'; img-src 'self' data:; font-src 'self'; \
                           connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
                           form-action 'none'";

/// Marks every answer: no MIME sniffing, a content security policy, and, for everything but
/// the documentation's static files, `Cache-Control: no-store`. Nearly every answer of the API
/// carries a token or personal data; one rule for all of them cannot forget one.
pub async fn harden(req: Request, next: Next) -> Response {
    let docs = req.uri().path().starts_with("/docs");
    let mut response = next.run(req).await;
    mark(response.headers_mut(), docs);
    response
}

fn mark(headers: &mut HeaderMap, docs: bool) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let policy = if docs { DOCS_POLICY } else { API_POLICY };
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    if docs {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    } else {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The CORS layer for the configured origins; none when no origin is named, so preflights get
/// the 405 of any unknown method and answers carry no `Access-Control-*` header. Bearer tokens
/// travel in `Authorization`, so credentials (cookies) are never allowed across origins.
pub fn cors(origins: &CorsOrigins) -> Option<CorsLayer> {
    if origins.as_slice().is_empty() {
        return None;
    }
    let allowed: Vec<HeaderValue> = origins
        .as_slice()
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
            .expose_headers([
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
                HeaderName::from_static("x-request-id"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}
