//! Building the application from settings and serving it on a bound listener until shutdown.
//! Tests use the same functions with port 0 and a manual clock.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::error::ApiError;
use crate::service::{App, AppState};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database {url}: {source}")]
    Database {
        url: String,
        source: crate::store::OpenError,
    },
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

/// Serves until `shutdown` completes, then lets requests in flight finish within the drain time
/// (`http.drain_seconds`), with the mail sender running beside it.
pub async fn serve(
    app: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The mail sender lives as long as the server: started with it, stopped after it.
    let sender = crate::mail::sender::spawn(crate::mail::sender::Parts {
        store: app.store.clone(),
        clock: app.clock.clone(),
        mailer: app.mail.clone(),
        poll_millis: app.settings.mail.poll_millis,
    });
    let signals = listen_for_signals(app.clone());
    let limits = ConnectionLimits::of(&app);
    tracing::debug!(
        served = limits.served,
        waiting = limits.waiting,
        "connections at once"
    );
    let pruner = (app.settings.audit.retention_days > 0).then(|| {
        let app = app.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PRUNE_EVERY);
            loop {
                every.tick().await;
                if let Err(e) = crate::service::audit::prune(&app).await {
                    tracing::warn!(error = %crate::error::chain(&e), "pruning the audit trail failed");
                }
            }
        })
    });
    let router = crate::http::router(app.clone());
    accept(listener, router, &app.settings, limits, shutdown).await;
    if let Some(pruner) = pruner {
        pruner.abort();
    }
    if let Some(sender) = sender {
        sender.stop().await;
    }
    if let Some(signals) = signals {
        signals.abort();
    }
    Ok(())
}

/// How long the listener waits before connecting again to a database it could not reach.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// On PostgreSQL, forgets what other nodes made stale as soon as they say so. A node that
/// lost its listening connection may have missed signals: it forgets everything it cached,
/// and again once it listens anew.
fn listen_for_signals(app: AppState) -> Option<tokio::task::JoinHandle<()>> {
    use crate::store::signals::Heard;
    if app.store.backend() != crate::store::Backend::Postgres {
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            let mut listener = match app.store.listen().await {
                Some(Ok(listener)) => listener,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "cannot listen for other nodes' changes");
                    app.auth.forget_all();
                    tokio::time::sleep(LISTEN_RETRY).await;
                    continue;
                }
                None => return,
            };
            app.auth.forget_all();
            loop {
                match listener.next().await {
                    Ok(Heard::Signal(signal)) => app.auth.forget(&signal),
                    Ok(Heard::Lost) => {
                        tracing::warn!("listening for other nodes' changes was interrupted");
                        app.auth.forget_all();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for other nodes' changes failed");
                        app.auth.forget_all();
                        tokio::time::sleep(LISTEN_RETRY).await;
                    }
                }
            }
        }
    }))
}

/// How often `serve` prunes the audit trail of events past their retention.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How long accepting pauses after the system refused a connection for want of resources (file
/// descriptors, memory), so that connections may end meanwhile, rather than trying again at once
/// in a loop.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// Open files the process needs besides client connections and the store's: standard
/// streams, the listener, the runtime's, mail and OpenID providers' keys.
const RESERVED_FILES: u64 = 32;

/// Client connections at once: `served` go to the router; beyond them up to `waiting` more wait
/// [`WAIT_FOR_PLACE`] for one to end, else are answered 503 and closed; further clients wait in
/// the listen backlog.
#[derive(Debug, Clone, Copy)]
struct ConnectionLimits {
    served: usize,
    waiting: usize,
}

/// How long a connection beyond the limit waits for a place before it is answered 503.
const WAIT_FOR_PLACE: Duration = Duration::from_millis(500);

/// How long a client beyond the limit may take to send the request it is answered 503 to.
const REFUSED_READ_TIMEOUT: Duration = Duration::from_secs(1);

impl ConnectionLimits {
    fn of(app: &App) -> Self {
        let configured = app.settings.http.max_connections;
        let served = if configured > 0 {
            configured
        } else {
            let files = open_files_limit();
            let reserved = RESERVED_FILES + u64::from(app.store.open_files());
            let spare = files.saturating_sub(reserved);
            if spare < 16 {
                tracing::warn!(
                    open_files = files,
                    "the limit of open files leaves room for few connections"
                );
            }
            usize::try_from(spare - spare / 8).unwrap_or(usize::MAX)
        };
        let served = served.clamp(1, crate::config::MAX_CONNECTIONS);
        Self {
            served,
            waiting: (served / 8).max(1),
        }
    }
}

/// The soft limit of open files of the process.
fn open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    limit.rlim_cur
}

/// Raises the soft limit of open files to the hard limit, which is what the system allows the
/// process; every client connection takes one. Answers the limit before and after.
pub fn raise_open_files_limit() -> (u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return (0, 0);
        }
        let before = limit.rlim_cur;
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return (before, raised.rlim_cur);
            }
        }
        (before, before)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// No new requests; those in flight finish, idle connections close.
    Draining,
    /// The drain time is over: connections still open are dropped.
    Stopped,
}

/// A connection's place, held while it is open: served, or waiting for a place.
struct Slot {
    waiting: bool,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    /// Waits until a connection may be accepted.
    async fn next(served: &Arc<Semaphore>, waiting: &Arc<Semaphore>) -> Slot {
        let slot = |waiting, permit: Result<OwnedSemaphorePermit, _>| Slot {
            waiting,
            _permit: permit.expect("never closed"),
        };
        if let Ok(permit) = served.clone().try_acquire_owned() {
            return slot(false, Ok(permit));
        }
        tokio::select! {
            permit = served.clone().acquire_owned() => slot(false, permit),
            permit = waiting.clone().acquire_owned() => slot(true, permit),
        }
    }

    /// Whether the connection is served: at once, or once a place came free within
    /// [`WAIT_FOR_PLACE`].
    async fn served(&mut self, served: &Arc<Semaphore>) -> bool {
        if self.waiting {
            if let Ok(Ok(permit)) =
                tokio::time::timeout(WAIT_FOR_PLACE, served.clone().acquire_owned()).await
            {
                *self = Slot {
                    waiting: false,
                    _permit: permit,
                };
            }
        }
        !self.waiting
    }
}

/// Accepts connections until `shutdown`, then drains them.
async fn accept(
    listener: TcpListener,
    router: axum::Router,
    settings: &Settings,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let served = Arc::new(Semaphore::new(limits.served));
    let waiting = Arc::new(Semaphore::new(limits.waiting));
    let (phase_tx, phase) = watch::channel(Phase::Serving);
    let read_timeout = Duration::from_millis(settings.http.read_timeout_ms);
    let mut shutdown = pin!(shutdown);
    let mut warned = Throttle::default();
    let mut full = Throttle::default();
    loop {
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = Slot::next(&served, &waiting) => slot,
        };
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                if slot.waiting && full.due() {
                    tracing::warn!(
                        max_connections = limits.served,
                        "at the limit of connections: new ones wait, then get 503"
                    );
                }
                tokio::spawn(connection(
                    stream,
                    peer,
                    slot,
                    served.clone(),
                    router.clone(),
                    read_timeout,
                    phase.clone(),
                ));
            }
            // The client gave up before it was accepted.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionRefused
                ) => {}
            // Out of file descriptors or memory: the connection stays in the backlog.
            Err(e) => {
                if warned.due() {
                    tracing::warn!(error = %e, "cannot accept connections for now");
                }
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(ACCEPT_PAUSE) => {}
                }
            }
        }
    }
    drop(listener);
    phase_tx.send_replace(Phase::Draining);
    let drained = async {
        let _all = served.acquire_many(limits.served as u32).await;
        let _all = waiting.acquire_many(limits.waiting as u32).await;
    };
    let drain = Duration::from_secs(settings.http.drain_seconds);
    if tokio::time::timeout(drain, drained).await.is_err() {
        let open = (limits.served - served.available_permits())
            + (limits.waiting - waiting.available_permits());
        tracing::warn!(
            connections = open,
            "drain time over: closing the connections still open"
        );
        phase_tx.send_replace(Phase::Stopped);
    }
}

/// Lets a warning through at most once a second.
#[derive(Default)]
struct Throttle(Option<Instant>);

impl Throttle {
    fn due(&mut self) -> bool {
        let due = self
            .0
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
        if due {
            self.0 = Some(Instant::now());
        }
        due
    }
}

/// Serves one connection: hyper reads each request's headers within the read timeout (a
/// kept-alive connection idle that long is closed as well); the router bounds the rest.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    mut slot: Slot,
    served: Arc<Semaphore>,
    router: axum::Router,
    read_timeout: Duration,
    mut phase: watch::Receiver<Phase>,
) {
    let refuse = !slot.served(&served).await;
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            if refuse {
                Ok(ApiError::Overloaded.into_response())
            } else {
                router.oneshot(req).await
            }
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(if refuse {
            read_timeout.min(REFUSED_READ_TIMEOUT)
        } else {
            read_timeout
        })
        .keep_alive(!refuse);
    let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            changed = phase.changed() => {
                let now = *phase.borrow_and_update();
                match now {
                    _ if changed.is_err() => break,
                    Phase::Draining => conn.as_mut().graceful_shutdown(),
                    Phase::Stopped => break,
                    Phase::Serving => {}
                }
            }
        }
    }
    drop(slot);
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
