//! Building the application from settings and serving it on a bound listener until shutdown.
//! Tests use the same functions with port 0 and a manual clock.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::service::{App, AppState};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database {url}: {source}")]
    Database { url: String, source: sqlx::Error },
    #[error("database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Settings(String),
}

/// Connects to the store, applies the migrations and builds the shared state.
pub async fn build(settings: Settings, clock: SharedClock) -> Result<AppState, StartError> {
    let store = Store::connect(&settings)
        .await
        .map_err(|source| StartError::Database {
            url: crate::telemetry::mask_url(&settings.database_url),
            source,
        })?;
    store.migrate().await?;
    let app = App::new(settings, store, clock).map_err(StartError::Settings)?;
    Ok(Arc::new(app))
}

/// Serves until `shutdown` completes, then lets requests in flight finish, with the mail
/// sender running beside it.
pub async fn serve(
    app: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The mail sender lives as long as the server: started with it, stopped after it.
    let sender = crate::mail::sender::spawn(app.clone());
    let router = crate::http::router(app);
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    if let Some(sender) = sender {
        sender.stop().await;
    }
    served
}

/// Completes on SIGTERM or Ctrl-C. The handlers are installed when this is called, not when
/// the future is first polled, so a signal that arrives during start-up is not lost.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        let terminate = async {
            match terminate.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = terminate => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}
