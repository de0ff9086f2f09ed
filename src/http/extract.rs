//! Extractors: the request body as JSON whatever its Content-Type, the authenticated caller, and
//! the organizations a request acts in. Each rejects with the contract's error body.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use serde::de::DeserializeOwned;

use super::params::QueryParams;
use crate::domain::PermissionSet;
use crate::error::ApiError;
use crate::security::Principal;
use crate::service::{App, AppState};

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
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::invalid("body", format!("malformed JSON: {inner}"))
        } else if path == "." {
            ApiError::invalid("body", format!("the body must be a JSON object: {inner}"))
        } else {
            // serde's message carries a position that means nothing to the caller once the
            // field is named.
            let message = inner.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_string();
            ApiError::invalid(path.clone(), format!("{path}: {message}"))
        }
    })
}

/// The authenticated caller, from `Authorization: Bearer <token>`.
pub struct Caller(pub Arc<Principal>);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or_else(|| ApiError::Unauthorized("a bearer token is required".into()))?;
        app.auth.authenticate(token).await.map(Caller)
    }
}

pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// One organization a request acts in, with the caller's permissions there.
#[derive(Debug, Clone)]
pub struct ActingIn {
    pub organization_id: String,
    pub permissions: Arc<PermissionSet>,
}

/// The organizations named by `organizations=` (by default the one the caller's token was
/// issued for). Naming one the caller is not a member of is a 403, unless he is a platform
/// administrator.
pub async fn acting_organizations(
    app: &App,
    caller: &Principal,
    params: &QueryParams,
) -> Result<Vec<ActingIn>, ApiError> {
    let mut requested = params.all("organizations");
    if requested.is_empty() {
        requested.push(caller.organization_id.clone());
    }
    requested.dedup();
    let mut acting = Vec::with_capacity(requested.len());
    for organization_id in requested {
        let permissions = app
            .auth
            .permissions_in(caller, &organization_id)
            .await?
            .ok_or_else(|| ApiError::Forbidden(format!("not a member of organization {organization_id}")))?;
        acting.push(ActingIn {
            organization_id,
            permissions,
        });
    }
    Ok(acting)
}
