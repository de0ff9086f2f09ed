//! The counters of the abuse limits, and the clients users have logged in from. Each counter
//! is one row, named by a digest, changed by one statement at a time so that nodes counting
//! together never both pass the last place of a window.
//!
//! These writes record no audit event and make nothing stale: a counter is not a change of
//! anyone's account (the first refusal of a window is audited by the rule that counts, see
//! `security::limits`).

use sqlx::AnyConnection;

use crate::clock::Millis;

/// One limit's count for one subject, in its current (or last) window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub started: Millis,
    pub ends: Millis,
    pub count: i64,
    /// When the last attempt was counted.
    pub latest: Millis,
    /// Whether the window refused an attempt already.
    pub hit: bool,
}

type Row = (i64, i64, i64, i64, i64);

fn counter((started, ends, count, latest, hit): Row) -> Counter {
    Counter {
        started,
        ends,
        count,
        latest,
        hit: hit != 0,
    }
}

pub async fn find(conn: &mut AnyConnection, key: &str) -> Result<Option<Counter>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT started, ends, count, latest, hit FROM limit_counters WHERE key = $1",
    )
    .bind(key)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(counter))
}

/// Counts one attempt at `now` unless the window already holds `max`: one statement, so of
/// attempts counted at once by any number of nodes no more than `max` get a place. A window
/// that has ended starts again at `now`, lasting `window`. Answers the counter with the attempt
/// counted, or `None` when it was full.
pub async fn count(
    conn: &mut AnyConnection,
    key: &str,
    now: Millis,
    window: Millis,
    max: i64,
) -> Result<Option<Counter>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "INSERT INTO limit_counters (key, started, ends, count, latest, hit)
         VALUES ($1, $2, $3, 1, $2, 0)
         ON CONFLICT (key) DO UPDATE SET
             started = CASE WHEN limit_counters.ends <= $2 THEN $2 ELSE limit_counters.started END,
             ends = CASE WHEN limit_counters.ends <= $2 THEN $3 ELSE limit_counters.ends END,
             count = CASE WHEN limit_counters.ends <= $2 THEN 1 ELSE limit_counters.count + 1 END,
             hit = CASE WHEN limit_counters.ends <= $2 THEN 0 ELSE limit_counters.hit END,
             latest = $2
         WHERE limit_counters.ends <= $2 OR limit_counters.count < $4
         RETURNING started, ends, count, latest, hit",
    )
    .bind(key)
    .bind(now)
    .bind(now + window)
    .bind(max)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(counter))
}

/// Takes back one attempt counted in the window that started at `started`, if that window is
/// still the counter's (one given back later takes nothing from the next window).
pub async fn uncount(
    conn: &mut AnyConnection,
    key: &str,
    started: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE limit_counters SET count = count - 1 WHERE key = $1 AND started = $2 AND count > 0",
    )
    .bind(key)
    .bind(started)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the live window of `key` as having refused an attempt; answers whether this was the
/// first refusal (so that only it is audited).
pub async fn mark_hit(
    conn: &mut AnyConnection,
    key: &str,
    now: Millis,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE limit_counters SET hit = 1 WHERE key = $1 AND hit = 0 AND ends > $2")
            .bind(key)
            .bind(now)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Forgets these counters.
pub async fn clear(conn: &mut AnyConnection, keys: &[String]) -> Result<u64, sqlx::Error> {
    let mut cleared = 0;
    for key in keys {
        cleared += sqlx::query("DELETE FROM limit_counters WHERE key = $1")
            .bind(key)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(cleared)
}

/// Deletes the counters whose window has ended and the known clients that have expired.
pub async fn prune(conn: &mut AnyConnection, now: Millis) -> Result<u64, sqlx::Error> {
    let counters = sqlx::query("DELETE FROM limit_counters WHERE ends <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let clients = sqlx::query("DELETE FROM known_clients WHERE expires <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(counters + clients)
}

/// How many counters there are (for tests and operators).
pub async fn counters(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM limit_counters")
        .fetch_one(conn)
        .await
}

/// Whether the user has logged in from a client of these digests, and it has not expired.
pub async fn is_known(
    conn: &mut AnyConnection,
    user_id: &str,
    digests: &[String],
    now: Millis,
) -> Result<bool, sqlx::Error> {
    for digest in digests {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM known_clients WHERE user_id = $1 AND digest = $2 AND expires > $3",
        )
        .bind(user_id)
        .bind(digest)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        if found.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Remembers that the user logged in from the client of `digest`, until `expires`.
pub async fn remember(
    conn: &mut AnyConnection,
    user_id: &str,
    digest: &str,
    expires: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO known_clients (user_id, digest, expires) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, digest) DO UPDATE SET expires = $3",
    )
    .bind(user_id)
    .bind(digest)
    .bind(expires)
    .execute(conn)
    .await?;
    Ok(())
}
