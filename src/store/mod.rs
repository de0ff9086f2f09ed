//! Where rows are read and written. One set of migrations and one set of queries serves SQLite
//! and PostgreSQL through sqlx's `Any` driver: the SQL here is the dialect both understand
//! (`$n` placeholders, partial indexes, `RETURNING`), and the few differences live in this file.

pub mod audit;
pub mod codes;
pub mod identities;
pub mod memberships;
pub mod organizations;
pub mod outbox;
pub mod roles;
pub mod tokens;
pub mod users;

use std::borrow::Cow;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AnyPool, Connection, Executor, Transaction};

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
];

/// How long a pooled PostgreSQL connection may sit idle before it is pinged ahead of its use.
const PING_WHEN_IDLE: Duration = Duration::from_secs(5);

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
}

/// A write transaction: everything a request changes commits together or not at all.
pub type Tx = Transaction<'static, Any>;

impl Store {
    pub async fn connect(settings: &Settings) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let url = settings.database_url.as_str();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
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
                let options: AnyConnectOptions = url.parse()?;
                let sqlite_pool = |connections: u32| {
                    AnyPoolOptions::new()
                        .max_connections(connections)
                        .min_connections(1)
                        .acquire_timeout(Duration::from_secs(10))
                        // A local file cannot go stale: no ping before each use.
                        .test_before_acquire(false)
                        .after_connect(move |conn, _| {
                            Box::pin(async move {
                                conn.execute("PRAGMA journal_mode = WAL").await?;
                                conn.execute(&*format!("PRAGMA synchronous = {synchronous}"))
                                    .await?;
                                conn.execute("PRAGMA foreign_keys = ON").await?;
                                conn.execute("PRAGMA busy_timeout = 5000").await?;
                                Ok(())
                            })
                        })
                };
                let pool = sqlite_pool(8).connect_with(options.clone()).await?;
                // SQLite has one writer at a time. Writers queue for this one connection in
                // order, instead of several connections racing for the lock and sleeping in
                // SQLite's busy handler, which collapses write throughput under load.
                let writer = sqlite_pool(1).connect_with(options).await?;
                (pool, writer)
            }
            Backend::Postgres => {
                let options: AnyConnectOptions = url.parse()?;
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(5))
                    // sqlx pings a connection before each use by default: one more round trip
                    // per request. Only a connection that sat idle a while may have been
                    // closed by the server or on the way; one in steady use proves itself on
                    // each statement. A failed ping discards the connection and takes another.
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for >= PING_WHEN_IDLE {
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
        Ok(Self {
            pool,
            writer,
            backend,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
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
        let before = self.applied_versions().await.unwrap_or_default();
        migrator.run(&self.pool).await?;
        Ok(MIGRATIONS
            .iter()
            .filter(|(v, _, _)| !before.contains(v))
            .map(|(v, d, _)| format!("{v:04}_{d}"))
            .collect())
    }

    async fn applied_versions(&self) -> Result<Vec<i64>, sqlx::Error> {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
            .fetch_all(&self.pool)
            .await
    }

    /// Starts a write transaction. On SQLite it runs on the one writer connection and takes the
    /// write lock at once (`BEGIN IMMEDIATE`), so a writer of another process makes it wait on
    /// the busy timeout instead of failing midway.
    pub async fn write(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.writer.begin().await,
        }
    }

    /// Whether the database answers now.
    pub async fn ping(&self) -> bool {
        tokio::time::timeout(Duration::from_secs(2), self.pool.execute("SELECT 1"))
            .await
            .map(|r| r.is_ok())
            .unwrap_or(false)
    }
}

/// Booleans are stored as 0/1 on both databases.
pub(crate) fn flag(b: bool) -> i64 {
    b as i64
}
