//! Extractors: the request body as JSON whatever its Content-Type, the authenticated caller, and
//! the organizations a request acts in. Each rejects with the contract's error body.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{header, request::Parts, StatusCode};
use serde::de::DeserializeOwned;

use super::params::QueryParams;
use crate::error::ApiError;
use crate::service::authz::{Grant, Rule};
use crate::service::{self, AppState};

/// A JSON body. Generated clients send it with no Content-Type, `*/*`, `text/plain` or
/// `application/json`; all are read as JSON. An empty body reads as `{}`, so a missing field is
/// named in the 400 rather than the body as a whole.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::invalid("body", "the request body could not be read")
        }
    })
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => b"{}",
        // serde would take an array for a struct, field by field; the contract wants an object.
        Some(b'{') => bytes,
        Some(_) if serde_json::from_slice::<serde_json::Value>(bytes).is_ok() => {
            return Err(ApiError::invalid("body", "the body must be a JSON object"));
        }
        Some(_) => bytes,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::invalid("body", format!("malformed JSON: {inner}"))
        } else if path == "." {
            ApiError::invalid("body", format!("the body does not fit: {inner}"))
        } else {
            // serde's message carries a position that means nothing to the caller once the
            // field is named.
            let message = inner.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_string();
            ApiError::invalid(path.clone(), format!("{path}: {message}"))
        }
    })
}

pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The grant of the operation's rule, left by the `authorize` middleware of its route.
impl<S: Send + Sync> FromRequestParts<S> for Grant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Grant>()
            .cloned()
            .ok_or_else(|| ApiError::internal("a route has no authorization rule"))
    }
}

/// Middleware of every `/v1` route: authenticates the caller (a bad token is a 401 even on a
/// public operation), reads `organizations=`, decides the route's [`Rule`], and leaves the
/// [`Grant`] for the handler.
pub async fn authorize(
    State((app, rule)): State<(AppState, Rule)>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let caller = match bearer_token(&parts) {
        Some(token) => Some(app.auth.authenticate(token).await?),
        None => None,
    };
    let requested = QueryParams::from_request_parts(&mut parts, &app)
        .await?
        .all("organizations");
    let grant = service::authz::authorize(&app, rule, caller, requested).await?;
    parts.extensions.insert(grant);
    req = axum::extract::Request::from_parts(parts, body);
    Ok(next.run(req).await)
}
