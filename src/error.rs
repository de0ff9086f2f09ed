//! The one error type of the API. Every failure, including a rejected extractor, leaves the
//! service as the contract's error body: `{"errorType", "errorMessage", "errorParameters"}`.
//! Causes of 5xx answers are logged here and never sent.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Validation {
        message: String,
        parameters: Vec<String>,
    },
    /// No bearer token where one is needed (RFC 6750 §3.1: the challenge names no error).
    #[error("{0}")]
    Unauthorized(String),
    /// A bearer token that is unknown, expired or revoked, or whose user may no longer log in.
    #[error("invalid, expired or revoked token")]
    InvalidToken,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than the limit of 64 KiB")]
    PayloadTooLarge,
    #[error("this method is not allowed on this route")]
    MethodNotAllowed,
    #[error("too many attempts; try again later")]
    RateLimited { retry_after_seconds: u64 },
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("the request took too long; try again")]
    TimedOut,
    #[error("the server is at its limit of connections; try again")]
    Overloaded,
    /// The password hashing queue is full: refused before any work, to be retried shortly.
    #[error("too many passwords are being checked at once; try again")]
    HashingBusy,
    #[error("the request was not received in time")]
    RequestTimeout,
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The contract's error types, one per status of its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum ErrorType {
    ValidationError,
    Unauthorized,
    PermissionsError,
    NotFound,
    Conflict,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    /// Beyond the contract's table: 408, a client that stopped sending its request body.
    RequestTimeout,
}

/// The contract's error body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub error_type: ErrorType,
    pub error_message: String,
    pub error_parameters: Vec<String>,
}

impl ApiError {
    /// A 400 naming the field at fault.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation {
            message: message.into(),
            parameters: vec![field.into()],
        }
    }

    pub fn missing(field: &str) -> Self {
        Self::invalid(field, format!("{field} is required"))
    }

    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(e.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_)
            | ApiError::TimedOut
            | ApiError::Overloaded
            | ApiError::HashingBusy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_type(&self) -> ErrorType {
        match self {
            ApiError::Validation { .. } => ErrorType::ValidationError,
            ApiError::Unauthorized(_) | ApiError::InvalidToken => ErrorType::Unauthorized,
            ApiError::Forbidden(_) => ErrorType::PermissionsError,
            // The contract's table has no type of its own for 405: there is no such operation.
            ApiError::NotFound(_) | ApiError::MethodNotAllowed => ErrorType::NotFound,
            ApiError::Conflict(_) => ErrorType::Conflict,
            ApiError::PayloadTooLarge => ErrorType::PayloadTooLarge,
            ApiError::RateLimited { .. } => ErrorType::RateLimited,
            ApiError::Unavailable(_)
            | ApiError::TimedOut
            | ApiError::Overloaded
            | ApiError::HashingBusy => ErrorType::ServiceUnavailable,
            // Beyond the contract's table: a client that stopped sending its body.
            ApiError::RequestTimeout => ErrorType::RequestTimeout,
            ApiError::Internal(_) => ErrorType::ServerError,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error_type: self.error_type(),
            error_message: self.to_string(),
            error_parameters: match self {
                ApiError::Validation { parameters, .. } => parameters.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if lost_connection(&e) {
            return ApiError::Unavailable(e);
        }
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => ApiError::Unavailable(e),
            sqlx::Error::Database(ref d) if is_transient(d.code().as_deref()) => {
                ApiError::Unavailable(e)
            }
            e => ApiError::Internal(Box::new(e)),
        }
    }
}

/// How long a client should wait before trying again after a 503.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// Why a request was refused (a 403), left on its response.
#[derive(Debug, Clone)]
pub struct Refusal(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(cause) => tracing::error!(error = %cause, "request failed"),
            ApiError::Unavailable(cause) => tracing::warn!(error = %cause, "database unavailable"),
            ApiError::TimedOut => tracing::warn!("request timed out"),
            _ => {}
        }
        let status = self.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            ApiError::RateLimited {
                retry_after_seconds,
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            }
            // Kept for the audit trail's record of the refusal (`http::extract::authorize`).
            ApiError::Forbidden(reason) => {
                response.extensions_mut().insert(Refusal(reason));
            }
            ApiError::Unavailable(_)
            | ApiError::TimedOut
            | ApiError::Overloaded
            | ApiError::HashingBusy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            }
            // The rest of a body that never came cannot be told from the next request.
            ApiError::RequestTimeout => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

/// Whether the database gave up on a statement for want of time or resources rather than for
/// anything in the request, so that it may well succeed if tried again: a deadlock or
/// serialization failure that PostgreSQL resolved by aborting this side, a statement or lock
/// timeout, too many connections, memory or disk exhausted; SQLite still busy after its timeout,
/// or unable to open or write its files (no file descriptors left, a full disk). Nothing of the
/// transaction was written, so the answer is 503 ("try again"), not 500.
fn is_transient(code: Option<&str>) -> bool {
    match code {
        // PostgreSQL's SQLSTATEs are five characters: class 53 is insufficient resources, 57014
        // a statement timeout, 55P03 a lock timeout, 58030 an I/O error of the server.
        Some(state) if state.len() == 5 => {
            matches!(state, "40P01" | "40001" | "57014" | "55P03" | "58030")
                || state.starts_with("53")
        }
        // SQLite's result codes are numbers whose low byte is the primary code: SQLITE_BUSY,
        // SQLITE_LOCKED, SQLITE_NOMEM, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN and their
        // extended forms.
        Some(number) => number
            .parse::<u32>()
            .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 7 | 10 | 13 | 14)),
        None => false,
    }
}

/// The error and each of its causes, on one line: what start-up prints when it fails.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// True when the database refused a row because a unique index already holds its key.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// When this process last saw a database connection lost, in [`crate::clock::process_ms`]; 0
/// when never.
static LAST_LOSS_MS: AtomicU64 = AtomicU64::new(0);

/// Whether the error says the connection to the database was lost: broken on the way, or ended
/// by the server (a restart, a failover, an administrator, an idle timeout). Such an error is
/// remembered ([`last_connection_loss_ms`]): the store checks the pooled connections that sat
/// idle since before their next use, for whatever ended one has likely ended the others.
pub fn lost_connection(e: &sqlx::Error) -> bool {
    let lost = match e {
        sqlx::Error::Io(_) => true,
        // PostgreSQL's class 08 is a connection exception, 57P01-57P03 a server shutting down,
        // crashed or starting.
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            c.len() == 5 && (c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03"))
        }),
        _ => false,
    };
    if lost {
        LAST_LOSS_MS.fetch_max(crate::clock::process_ms(), Ordering::Relaxed);
    }
    lost
}

pub fn last_connection_loss_ms() -> u64 {
    LAST_LOSS_MS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aborted_transactions_are_503_and_other_database_errors_500() {
        for (code, transient) in [
            ("40P01", true),
            ("40001", true),
            ("57014", true),
            ("53300", true),
            ("5", true),
            ("517", true),
            ("6", true),
            ("14", true),
            ("19", false),
            ("2067", false),
            ("22021", false),
            ("23505", false),
            ("42601", false),
        ] {
            assert_eq!(is_transient(Some(code)), transient, "{code}");
        }
        assert!(!is_transient(None));
        assert_eq!(
            ApiError::from(sqlx::Error::PoolTimedOut).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
