//! Operational endpoints: liveness, readiness, metrics, the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use crate::error::{ApiError, ErrorBody};
use crate::service::AppState;

#[utoipa::path(get, path = "/healthz", tag = "Operations", operation_id = "healthz",
    summary = "Is the process up?",
    description = "Answers `ok` as long as the process serves requests, without asking the \
        database: for a liveness probe.\n\n\
        **Needs** nothing: no token.",
    responses((status = 200, description = "The process is up")))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

#[utoipa::path(get, path = "/readyz", tag = "Operations", operation_id = "readyz",
    summary = "Can the node serve requests?",
    description = "Answers `ready` when the database answers: for a readiness probe.\n\n\
        **Needs** nothing: no token.\n\n\
        **Errors**\n\
        - `503`: the database does not answer.",
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
