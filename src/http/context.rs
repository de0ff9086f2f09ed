//! Facts about the request in flight that the response envelope needs (when it started, what
//! was asked), kept in a task-local set by a middleware so handlers need not pass them along.

use std::time::Instant;

use axum::http::Uri;

#[derive(Clone)]
pub struct RequestContext {
    pub started: Instant,
    /// What was asked; cloning it shares the request's bytes.
    pub uri: Uri,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

pub async fn scope<F: std::future::Future>(ctx: RequestContext, f: F) -> F::Output {
    CONTEXT.scope(ctx, f).await
}

pub fn current() -> Option<RequestContext> {
    CONTEXT.try_with(|c| c.clone()).ok()
}

/// Milliseconds since the request arrived.
pub fn elapsed_ms() -> u64 {
    current()
        .map(|c| c.started.elapsed().as_millis() as u64)
        .unwrap_or(0)
}
