//! Operational endpoints: liveness, readiness, metrics, the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use crate::error::{ApiError, ErrorBody};
use crate::service::AppState;

#[utoipa::path(get, path = "/healthz", tag = "Operations", operation_id = "healthz",
    responses((status = 200, description = "The process is up")))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

#[utoipa::path(get, path = "/readyz", tag = "Operations", operation_id = "readyz",
    responses((status = 200, description = "The database answers"),
        (status = 503, description = "The database does not answer", body = ErrorBody)))]
pub async fn readyz(State(app): State<AppState>) -> Result<&'static str, ApiError> {
    if app.store.ping().await {
        Ok("ready\n")
    } else {
        Err(ApiError::Unavailable(sqlx::Error::PoolTimedOut))
    }
}

pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
}
