//! Where rows are read and written. One set of migrations and one set of queries serves SQLite
//! and PostgreSQL through sqlx's `Any` driver: the SQL here is the dialect both understand
//! (`$n` placeholders, partial indexes, `RETURNING`), and the few differences live in this file.

pub mod audit;
pub mod codes;
pub mod factors;
pub mod identities;
pub mod limits;
pub mod memberships;
pub mod organizations;
pub mod outbox;
pub mod roles;
pub mod sessions;
pub mod signals;
pub mod tokens;
pub mod users;

use std::borrow::Cow;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};

use crate::config::{Settings, SqliteSynchronous};

/// The migrations, compiled into the binary, in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/0001_initial.sql"),
    ),
    (2, "users", include_str!("../../migrations/0002_users.sql")),
    (
        3,
        "member_anchors",
        include_str!("../../migrations/0003_member_anchors.sql"),
    ),
    (
        4,
        "token_reach_and_default_roles",
        include_str!("../../migrations/0004_token_reach_and_default_roles.sql"),
    ),
    (
        5,
        "refresh_successors",
        include_str!("../../migrations/0005_refresh_successors.sql"),
    ),
    (
        6,
        "limit_counters",
        include_str!("../../migrations/0006_limit_counters.sql"),
    ),
    (
        7,
        "audit_chains",
        include_str!("../../migrations/0007_audit_chains.sql"),
    ),
    (
        8,
        "sessions_and_api_tokens",
        include_str!("../../migrations/0008_sessions_and_api_tokens.sql"),
    ),
    (
        9,
        "invitations",
        include_str!("../../migrations/0009_invitations.sql"),
    ),
    (
        10,
        "second_factors",
        include_str!("../../migrations/0010_second_factors.sql"),
    ),
    (
        11,
        "passkeys",
        include_str!("../../migrations/0011_passkeys.sql"),
    ),
    (
        12,
        "passkey_login",
        include_str!("../../migrations/0012_passkey_login.sql"),
    ),
];

const SQLITE_READERS: u32 = 8;
const POSTGRES_CONNECTIONS: u32 = 16;

/// How long a pooled PostgreSQL connection may sit idle before it is pinged ahead of its use.
const PING_WHEN_IDLE: Duration = Duration::from_secs(5);

/// How often a write transaction is begun again on another connection when the one it got had
/// been lost (its `BEGIN` failed, so nothing of it ran).
const BEGIN_ATTEMPTS: usize = 3;

/// How long migrations wait for SQLite's write lock, held by another process migrating.
const MIGRATION_BUSY_TIMEOUT_MS: u64 = 600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where write transactions run: on SQLite a pool of one connection, on PostgreSQL `pool`.
    writer: AnyPool,
    backend: Backend,
    /// Files the store may hold open.
    open_files: u32,
    /// On PostgreSQL, where the node listens for what other nodes made stale.
    signals_url: Option<String>,
    /// The backend process of that connection once it listens (0 before).
    signals_pid: Arc<AtomicI32>,
}

/// A write transaction: everything a request changes commits together or not at all.
pub type Tx = Transaction<'static, Any>;

/// Why the store could not be opened, in one line an operator can act on: sqlx alone would say
/// "unable to open database file" for a missing directory, and "pool timed out" after retrying
/// a read-only file or a refused connection until the acquire timeout.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The SQLite file, or its directory, cannot be used as given.
    #[error("{0}")]
    File(String),
    /// PostgreSQL did not take a first connection.
    #[error("cannot connect: {0}")]
    Unreachable(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Store {
    pub async fn connect(settings: &Settings) -> Result<Self, OpenError> {
        sqlx::any::install_default_drivers();
        let url = settings.database_url.as_str();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let acquire_timeout = Duration::from_millis(settings.database.acquire_timeout_ms);
        let statement_timeout_ms = settings.database.statement_timeout_ms;
        let mut signals_url = None;
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                // Created if missing; WAL lets readers run beside the one writer.
                let url = if url.contains('?') {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                };
                let synchronous = match settings.sqlite.synchronous {
                    SqliteSynchronous::Full => "FULL",
                    SqliteSynchronous::Normal => "NORMAL",
                };
                sqlite_file_usable(&url)?;
                let options: AnyConnectOptions = url.parse()?;
                let sqlite_pool = |connections: u32| {
                    AnyPoolOptions::new()
                        .max_connections(connections)
                        // Every file is opened at start and kept: a node short of file
                        // descriptors under load still has its database.
                        .min_connections(connections)
                        .idle_timeout(None)
                        .max_lifetime(None)
                        .acquire_timeout(acquire_timeout)
                        // A local file cannot go stale: no ping before each use.
                        .test_before_acquire(false)
                        .after_connect(move |conn, _| {
                            Box::pin(async move {
                                conn.execute("PRAGMA journal_mode = WAL").await?;
                                conn.execute(&*format!("PRAGMA synchronous = {synchronous}"))
                                    .await?;
                                conn.execute("PRAGMA foreign_keys = ON").await?;
                                conn.execute(&*format!(
                                    "PRAGMA busy_timeout = {statement_timeout_ms}"
                                ))
                                .await?;
                                Ok(())
                            })
                        })
                };
                let pool = sqlite_pool(SQLITE_READERS)
                    .connect_with(options.clone())
                    .await?;
                // SQLite has one writer at a time. Writers queue for this one connection in
                // order, instead of several connections racing for the lock and sleeping in
                // SQLite's busy handler, which collapses write throughput under load.
                let writer = sqlite_pool(1).connect_with(options).await?;
                (pool, writer)
            }
            Backend::Postgres => {
                signals_url = Some(signals_url_of(url)?);
                let options: AnyConnectOptions =
                    postgres_url(url, statement_timeout_ms)?.as_str().parse()?;
                first_connection(&options, acquire_timeout).await?;
                let pool = AnyPoolOptions::new()
                    .max_connections(POSTGRES_CONNECTIONS)
                    .acquire_timeout(acquire_timeout)
                    // sqlx pings a connection before each use by default: one more round trip
                    // per request. Only a connection that sat idle a while, or since another
                    // was found lost, may have been closed by the server or on the way; one in
                    // steady use proves itself on each statement. A failed ping discards the
                    // connection and takes another.
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            let idle_since = crate::clock::process_ms()
                                .saturating_sub(meta.idle_for.as_millis() as u64);
                            if meta.idle_for >= PING_WHEN_IDLE
                                || crate::error::last_connection_loss_ms() >= idle_since
                            {
                                conn.ping().await?;
                            }
                            Ok(true)
                        })
                    })
                    .connect_with(options)
                    .await?;
                (pool.clone(), pool)
            }
        };
        let open_files = match backend {
            // The database and its log per connection, and the shared memory index.
            Backend::Sqlite => 2 * (SQLITE_READERS + 1) + 1,
            Backend::Postgres => POSTGRES_CONNECTIONS,
        };
        Ok(Self {
            pool,
            writer,
            backend,
            open_files,
            signals_url,
            signals_pid: Arc::default(),
        })
    }

    /// On PostgreSQL, a connection of its own listening for what other nodes made stale.
    pub async fn listen(&self) -> Option<Result<signals::Listener, sqlx::Error>> {
        let url = self.signals_url.as_deref()?;
        let listener = signals::Listener::connect(url).await;
        Some(match listener {
            Ok(mut listener) => {
                if let Ok(pid) = listener.backend_pid().await {
                    self.signals_pid.store(pid, Ordering::Relaxed);
                }
                Ok(listener)
            }
            Err(e) => Err(e),
        })
    }

    /// The backend process the node first listened on, if it does.
    pub fn signals_pid(&self) -> Option<i32> {
        Some(self.signals_pid.load(Ordering::Relaxed)).filter(|pid| *pid != 0)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Files (sockets included) the store may hold open at once.
    pub fn open_files(&self) -> u32 {
        self.open_files
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies the migrations not applied yet; answers the versions it applied.
    pub async fn migrate(&self) -> Result<Vec<String>, sqlx::migrate::MigrateError> {
        let migrations: Vec<Migration> = MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                )
            })
            .collect();
        let migrator = Migrator {
            migrations: Cow::Owned(migrations),
            ignore_missing: false,
            locking: true,
            no_tx: false,
        };
        // On a connection of its own, closed afterwards: a migration may take longer than a
        // statement may, and may wait for another node's.
        let mut conn = self.pool.acquire().await?.detach();
        let before;
        match self.backend {
            // sqlx holds PostgreSQL's advisory lock of the database meanwhile.
            Backend::Postgres => {
                conn.execute("SET statement_timeout = 0").await?;
                before = applied_versions(&mut conn).await.unwrap_or_default();
                migrator.run_direct(&mut conn).await?;
            }
            // SQLite has no such lock: all migrations run in one transaction holding the write
            // lock, so another process waits for them and then finds them applied.
            Backend::Sqlite => {
                conn.execute(&*format!(
                    "PRAGMA busy_timeout = {MIGRATION_BUSY_TIMEOUT_MS}"
                ))
                .await?;
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
                before = applied_versions(&mut tx).await.unwrap_or_default();
                migrator.run_direct(&mut *tx).await?;
                tx.commit().await?;
            }
        }
        let _ = conn.close().await;
        Ok(MIGRATIONS
            .iter()
            .filter(|(v, _, _)| !before.contains(v))
            .map(|(v, d, _)| format!("{v:04}_{d}"))
            .collect())
    }

    /// Starts a write transaction. On SQLite it runs on the one writer connection and takes the
    /// write lock at once (`BEGIN IMMEDIATE`), so a writer of another process makes it wait on
    /// the busy timeout instead of failing midway. A connection found lost at `BEGIN` is
    /// replaced: nothing of the transaction ran on it.
    pub async fn write(&self) -> Result<Tx, sqlx::Error> {
        let mut attempt = 1;
        loop {
            let begun = match self.backend {
                Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
                Backend::Postgres => self.writer.begin().await,
            };
            match begun {
                Err(e) if attempt < BEGIN_ATTEMPTS && crate::error::lost_connection(&e) => {
                    attempt += 1
                }
                begun => return begun,
            }
        }
    }

    /// Makes the first start of nodes sharing one database take turns: on PostgreSQL a lock
    /// held to the end of `tx`; on SQLite the write lock `tx` holds already.
    pub async fn lock_first_start(&self, tx: &mut Tx) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))")
                .bind(FIRST_START_LOCK)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Whether the database answers now.
    pub async fn ping(&self) -> bool {
        tokio::time::timeout(Duration::from_secs(2), self.pool.execute("SELECT 1"))
            .await
            .map(|r| r.is_ok())
            .unwrap_or(false)
    }
}

/// The first of the two keys of the first start's advisory lock; the second is the schema's.
const FIRST_START_LOCK: i32 = 0x6266_7331;

async fn applied_versions(conn: &mut AnyConnection) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(conn)
        .await
}

/// The PostgreSQL URL with the statement timeout of every connection, and a name by which
/// the database's operators find them (`pg_stat_activity.application_name`) unless it has one.
/// Checks that the file of a SQLite URL can be opened for writing, as the pool will open it,
/// and says why not: a missing directory, a read-only file or directory, a directory in the
/// file's place. Opening creates a missing file (an empty file is an empty database), as
/// SQLite's `mode=rwc` would. In-memory and read-only URLs are left to SQLite.
fn sqlite_file_usable(url: &str) -> Result<(), OpenError> {
    use std::io::ErrorKind;
    use std::str::FromStr;

    if url.contains("mode=memory") || url.contains("mode=ro") {
        return Ok(());
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
    let path = options.get_filename();
    if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
        return Ok(());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let existed = path.exists();
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path);
    let Err(e) = opened else { return Ok(()) };
    let (file, dir) = (path.display(), dir.display());
    Err(OpenError::File(match e.kind() {
        ErrorKind::NotFound => format!("the directory {dir} does not exist"),
        ErrorKind::PermissionDenied if existed => {
            format!("the database file {file} is read-only for this user ({e})")
        }
        ErrorKind::PermissionDenied => {
            format!("cannot create {file}: the directory {dir} is not writable for this user ({e})")
        }
        ErrorKind::ReadOnlyFilesystem => {
            format!("the database file {file} is on a read-only file system ({e})")
        }
        ErrorKind::IsADirectory => format!("{file} is a directory, not a database file"),
        ErrorKind::NotADirectory => format!("a part of {dir} is not a directory"),
        _ => format!("cannot open {file} for writing: {e}"),
    }))
}

/// Makes one connection before the pool does, so that a refused or unanswered connection is
/// reported as such at once instead of being retried until the pool's acquire timeout.
async fn first_connection(options: &AnyConnectOptions, within: Duration) -> Result<(), OpenError> {
    use sqlx::ConnectOptions;

    match tokio::time::timeout(within, options.connect()).await {
        Ok(Ok(conn)) => {
            // Closing politely is best effort: the answer was the connection itself.
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(sqlx::Error::Io(e))) => Err(OpenError::Unreachable(e.to_string())),
        Ok(Err(sqlx::Error::Tls(e))) => Err(OpenError::Unreachable(format!("TLS: {e}"))),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(OpenError::Unreachable(format!(
            "no answer within {} ms (BF_DATABASE_ACQUIRE_TIMEOUT_MS)",
            within.as_millis()
        ))),
    }
}

fn postgres_url(url: &str, statement_timeout_ms: u64) -> Result<url::Url, sqlx::Error> {
    let mut url = url::Url::parse(url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
    let named = url.query_pairs().any(|(k, _)| k == "application_name");
    let mut query = url.query_pairs_mut();
    if !named {
        query.append_pair("application_name", "bf-security");
    }
    query.append_pair(
        "options",
        &format!("-c statement_timeout={statement_timeout_ms}"),
    );
    drop(query);
    Ok(url)
}

/// The URL of the listening connection: named apart from the pool's, so operators tell it in
/// `pg_stat_activity`.
fn signals_url_of(url: &str) -> Result<String, sqlx::Error> {
    let mut url = url::Url::parse(url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "application_name")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("application_name", "bf-security-signals");
    Ok(url.into())
}

/// Booleans are stored as 0/1 on both databases.
pub(crate) fn flag(b: bool) -> i64 {
    b as i64
}
