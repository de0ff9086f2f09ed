//! Extractors: the request body as JSON whatever its Content-Type, the authenticated caller, and
//! the organizations a request acts in. Each rejects with the contract's error body.

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{
    FromRequest, FromRequestParts, MatchedPath, Path, RawPathParams, Request, State,
};
use axum::http::{header, request::Parts, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::params::QueryParams;
use crate::domain::{text, TextKind};
use crate::error::{ApiError, Refusal};
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

/// How long a client may take to send a request's body, set on each request by the router.
#[derive(Clone, Copy)]
pub struct BodyReadTimeout(pub std::time::Duration);

/// The whole body, read within the router's body read timeout: a client that stops sending
/// midway gets 408 and its connection closed.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let limit = req.extensions().get::<BodyReadTimeout>().copied();
    let read = Bytes::from_request(req, state);
    let read = match limit {
        Some(limit) => tokio::time::timeout(limit.0, read)
            .await
            .map_err(|_| ApiError::RequestTimeout)?,
        None => read.await,
    };
    read.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::invalid("body", "the request body could not be read")
        }
    })
}

/// A JSON object, read whole: anything after it (`{}{}`, `{} x`) is a 400 on `body`, never
/// ignored. Every string in it, keys included, is checked as [`text_kind`] says for its field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid("body", format!("malformed JSON: {e}")))?;
    // serde would take an array for a struct, field by field; the contract wants an object.
    if !value.is_object() {
        return Err(ApiError::invalid("body", "the body must be a JSON object"));
    }
    check_strings(&value, &mut Vec::new(), "body")?;
    // Read again from the bytes rather than the tree, so a repeated field is still refused.
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

/// What text a field may hold, by its name in bodies, forms and queries (in a list, the
/// list's name: each of `roles` is a role name or ID).
pub fn text_kind(field: &str) -> TextKind {
    match field {
        "description" => TextKind::MultiLine,
        "password" | "currentPassword" | "newPassword" => TextKind::Secret,
        _ => TextKind::SingleLine,
    }
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The path of a JSON value as serde_path_to_error spells it: `permissions[1].action`.
fn spell(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Every string under `value`, checked against the rule of `field`, the nearest key above it.
fn check_strings<'a>(
    value: &'a Value,
    path: &mut Vec<Step<'a>>,
    field: &str,
) -> Result<(), ApiError> {
    match value {
        Value::String(s) => match text::fault(text_kind(field), s) {
            None => Ok(()),
            Some(why) => {
                let at = spell(path);
                Err(ApiError::invalid(at.clone(), format!("{at} {why}")))
            }
        },
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                check_strings(item, path, field)?;
                path.pop();
            }
            Ok(())
        }
        Value::Object(members) => {
            for (key, item) in members {
                // A key may be no field of ours, so its fault is the body's.
                text::check("body", TextKind::SingleLine, key)?;
                path.push(Step::Key(key));
                check_strings(item, path, key)?;
                path.pop();
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Path parameters, percent-decoded (`my%20role` is `my role`, `a%2Bb%40x.com` is `a+b@x.com`).
/// A parameter that is not UTF-8 or holds a control character is a 400 naming it.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let bad = |e: PathRejection| match e {
            PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
                ErrorKind::InvalidUtf8InPathParam { key } => {
                    ApiError::invalid(key.clone(), format!("{key} is not valid UTF-8"))
                }
                _ => ApiError::invalid("path", format!("the path could not be read: {e}")),
            },
            e => ApiError::internal(format!("the path could not be read: {e}")),
        };
        let Path(value) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(bad)?;
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid("path", e.body_text()))?;
        for (name, text) in &raw {
            text::check(name, TextKind::SingleLine, text)?;
        }
        Ok(PathParams(value))
    }
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
    let operation = format!(
        "{} {}",
        parts.method,
        parts
            .extensions
            .get::<MatchedPath>()
            .map_or("", |p| p.as_str())
    );
    // A token of a login that must enrol a second factor first reaches nothing else. Decided
    // on every request from the resolution, which carries the limit: no cached answer can
    // let it act fully.
    if let Some(caller) = caller.as_ref().filter(|c| c.enrol_only()) {
        if !service::mfa::allowed_while_enrolling(&operation) {
            let reason = "a second factor must be enrolled first: this organization requires \
                          one (POST /v1/users/mine/mfa/totp), then log in again"
                .to_string();
            service::audit::refused(&app, caller, &reason, &operation).await;
            return Err(ApiError::Forbidden(reason));
        }
    }
    let enrolling = service::mfa::allowed_while_enrolling(&operation);
    let grant =
        match service::authz::authorize(&app, rule, caller.clone(), requested, enrolling).await {
            Err(ApiError::Forbidden(reason)) => {
                if let Some(caller) = &caller {
                    service::audit::refused(&app, caller, &reason, &operation).await;
                }
                return Err(ApiError::Forbidden(reason));
            }
            grant => grant?,
        };
    if let Some(caller) = &caller {
        service::sessions::record_use(&app, caller).await;
    }
    parts.extensions.insert(grant);
    req = axum::extract::Request::from_parts(parts, body);
    let response = next.run(req).await;
    // Refused by the operation itself (e.g. acting on a user who outranks the caller).
    if let (Some(refusal), Some(caller)) = (response.extensions().get::<Refusal>(), &caller) {
        service::audit::refused(&app, caller, &refusal.0, &operation).await;
    }
    Ok(response)
}
