//! What a change made stale, told to every node of a PostgreSQL deployment, so that a node
//! drops what its caches hold about it at once rather than when the entries expire.
//!
//! The signal is a `NOTIFY` sent inside the change's transaction: PostgreSQL delivers it when,
//! and only if, the transaction commits. A node hears it on a connection of its own that
//! `LISTEN`s. A node whose listening connection is lost cannot know what it missed: it forgets
//! everything when it notices (see `startup`), and the caches' lifetime bounds the rest.
//! SQLite has one node: nothing to tell.

use sqlx::postgres::PgListener;
use sqlx::{AnyConnection, Executor};

/// The channel every node of a deployment listens on is this, then the schema the deployment
/// lives in: deployments sharing a database in schemas of their own do not hear each other.
const CHANNEL: &str = "bf_security_stale";

/// PostgreSQL refuses payloads of 8000 bytes or more; beyond this many tokens, a change says
/// "everything" instead (a revocation that large is rare).
const MAX_TOKENS: usize = 100;

/// What the caches must forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Roles, memberships or a user's standing changed: every resolution.
    Everything,
    /// A user's row changed: how callers see themselves.
    Views,
    /// These tokens (by digest, which is no secret) were revoked.
    Tokens(Vec<String>),
}

impl Signal {
    fn encode(&self) -> String {
        match self {
            Signal::Everything => "all".into(),
            Signal::Views => "views".into(),
            Signal::Tokens(digests) if digests.len() > MAX_TOKENS => "all".into(),
            Signal::Tokens(digests) => format!("tokens:{}", digests.join(",")),
        }
    }

    /// A payload this version does not know is taken as "everything": forgetting too much is
    /// only slower.
    fn decode(payload: &str) -> Self {
        match payload {
            "views" => Signal::Views,
            _ => match payload.strip_prefix("tokens:") {
                Some(list) if !list.is_empty() => {
                    Signal::Tokens(list.split(',').map(String::from).collect())
                }
                _ => Signal::Everything,
            },
        }
    }
}

/// Sends `signal` with the transaction `conn` is in: delivered when it commits.
pub async fn send(conn: &mut AnyConnection, signal: &Signal) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1 || '.' || current_schema(), $2)")
        .bind(CHANNEL)
        .bind(signal.encode())
        .execute(conn)
        .await?;
    Ok(())
}

/// What a listening node heard.
pub enum Heard {
    Signal(Signal),
    /// The connection was lost (and taken again): signals may have been missed.
    Lost,
}

/// A node's own connection that listens for signals.
pub struct Listener {
    inner: PgListener,
}

impl Listener {
    /// Connects with `url` (a PostgreSQL URL, named for `pg_stat_activity`) and listens.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let mut inner = PgListener::connect(url).await?;
        let schema: String = (&mut inner)
            .fetch_one("SELECT current_schema()")
            .await
            .and_then(|row| sqlx::Row::try_get(&row, 0))?;
        inner.listen(&format!("{CHANNEL}.{schema}")).await?;
        Ok(Self { inner })
    }

    /// The next signal; an error when the database cannot be reached (call again to retry).
    pub async fn next(&mut self) -> Result<Heard, sqlx::Error> {
        match self.inner.try_recv().await? {
            Some(n) => Ok(Heard::Signal(Signal::decode(n.payload()))),
            None => Ok(Heard::Lost),
        }
    }

    /// The backend process of the listening connection, for operators and tests.
    pub async fn backend_pid(&mut self) -> Result<i32, sqlx::Error> {
        (&mut self.inner)
            .fetch_one("SELECT pg_backend_pid()")
            .await
            .and_then(|row| sqlx::Row::try_get(&row, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_survive_their_encoding() {
        for s in [
            Signal::Everything,
            Signal::Views,
            Signal::Tokens(vec!["a".into(), "b".into()]),
        ] {
            assert_eq!(Signal::decode(&s.encode()), s);
        }
        let many = Signal::Tokens((0..=MAX_TOKENS).map(|i| i.to_string()).collect());
        assert_eq!(Signal::decode(&many.encode()), Signal::Everything);
        assert_eq!(Signal::decode("something new"), Signal::Everything);
    }
}
