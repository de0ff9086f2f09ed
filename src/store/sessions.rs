//! Sessions: a login's refresh family (or the pairs minted from a permanent token), as one
//! thing its user sees and ends. The tokens of a session are the tokens of its family.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::clock::Millis;

/// How long a session's last use is not written again: its last use is coarse on purpose, so a
/// busy client costs no write per request.
pub const TOUCH_EVERY: Millis = 60_000;

#[derive(Debug, Clone)]
pub struct SessionRow {
    /// The family ID of its tokens.
    pub id: String,
    pub user_id: String,
    pub organization_id: String,
    /// How it was opened: `password`, `openid` or `tokens` (pairs minted from a permanent
    /// token).
    pub method: String,
    pub created: Millis,
    pub last_used: Millis,
    /// Its absolute end, whatever the refreshes.
    pub ends: Millis,
    pub ended: Option<Millis>,
    pub created_address: Option<String>,
    pub created_user_agent: Option<String>,
    pub last_address: Option<String>,
    pub last_user_agent: Option<String>,
}

impl SessionRow {
    /// Whether it still works at `now`: not ended, before its absolute end, and used within
    /// `idle` milliseconds (or `last_used`, if a later use is known).
    pub fn is_live(&self, now: Millis, idle: Millis, last_used: Millis) -> bool {
        self.ended.is_none() && now < self.ends && now < last_used.max(self.last_used) + idle
    }
}

const COLUMNS: &str = "id, user_id, organization_id, method, created, last_used, ends, ended, \
    created_address, created_user_agent, last_address, last_user_agent";

fn from_row(r: &AnyRow) -> Result<SessionRow, sqlx::Error> {
    Ok(SessionRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        organization_id: r.try_get("organization_id")?,
        method: r.try_get("method")?,
        created: r.try_get("created")?,
        last_used: r.try_get("last_used")?,
        ends: r.try_get("ends")?,
        ended: r.try_get("ended")?,
        created_address: r.try_get("created_address")?,
        created_user_agent: r.try_get("created_user_agent")?,
        last_address: r.try_get("last_address")?,
        last_user_agent: r.try_get("last_user_agent")?,
    })
}

/// Opens a session. One that exists already is opened again only when it no longer works
/// (ended, past its end, or idle since `idle_since`): the pairs of a permanent token start a
/// new session after the last one ended, under the same family.
pub async fn open(
    conn: &mut AnyConnection,
    s: &SessionRow,
    idle_since: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, organization_id, method, created, last_used, ends,
            ended, created_address, created_user_agent, last_address, last_user_agent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9, $10, $11)
         ON CONFLICT (id) DO UPDATE SET
            organization_id = excluded.organization_id, method = excluded.method,
            created = excluded.created, last_used = excluded.last_used, ends = excluded.ends,
            ended = NULL, created_address = excluded.created_address,
            created_user_agent = excluded.created_user_agent,
            last_address = excluded.last_address, last_user_agent = excluded.last_user_agent
         WHERE sessions.ended IS NOT NULL OR sessions.ends <= excluded.created
            OR sessions.last_used <= $12",
    )
    .bind(&s.id)
    .bind(&s.user_id)
    .bind(&s.organization_id)
    .bind(&s.method)
    .bind(s.created)
    .bind(s.last_used)
    .bind(s.ends)
    .bind(&s.created_address)
    .bind(&s.created_user_agent)
    .bind(&s.last_address)
    .bind(&s.last_user_agent)
    .bind(idle_since)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Which of a user's sessions a listing or an ending covers.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub user_id: &'a str,
    /// Only the sessions of this organization (a caller whose token is bound to it).
    pub organization_id: Option<&'a str>,
    /// The time and the last use before which a session is idle.
    pub now: Millis,
    pub idle_since: Millis,
}

/// A page of a user's working sessions, newest first unless `descending` is false (ties by ID);
/// `limit` rows from `offset`.
pub async fn list(
    conn: &mut AnyConnection,
    scope: Scope<'_>,
    descending: bool,
    offset: i64,
    limit: i64,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    let direction = if descending { "DESC" } else { "ASC" };
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sessions
         WHERE user_id = $1 AND ($2 = '' OR organization_id = $2)
           AND ended IS NULL AND ends > $3 AND last_used > $4
         ORDER BY created {direction}, id {direction} LIMIT $5 OFFSET $6"
    ))
    .bind(scope.user_id)
    .bind(scope.organization_id.unwrap_or(""))
    .bind(scope.now)
    .bind(scope.idle_since)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// How many working sessions `scope` covers.
pub async fn count(conn: &mut AnyConnection, scope: Scope<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM sessions
         WHERE user_id = $1 AND ($2 = '' OR organization_id = $2)
           AND ended IS NULL AND ends > $3 AND last_used > $4",
    )
    .bind(scope.user_id)
    .bind(scope.organization_id.unwrap_or(""))
    .bind(scope.now)
    .bind(scope.idle_since)
    .fetch_one(conn)
    .await
}

/// Ends a user's working sessions (all of `scope`, or all but `except`) and revokes their
/// access and refresh tokens, those of families without a session row included; answers the
/// sessions ended and the digests of the tokens revoked.
pub async fn end_of_user(
    conn: &mut AnyConnection,
    scope: Scope<'_>,
    except: Option<&str>,
) -> Result<(Vec<String>, Vec<String>), sqlx::Error> {
    let ended: Vec<String> = sqlx::query_scalar(
        "UPDATE sessions SET ended = $1
         WHERE user_id = $2 AND ($3 = '' OR organization_id = $3) AND id <> $4
           AND ended IS NULL AND ends > $1 AND last_used > $5
         RETURNING id",
    )
    .bind(scope.now)
    .bind(scope.user_id)
    .bind(scope.organization_id.unwrap_or(""))
    .bind(except.unwrap_or(""))
    .bind(scope.idle_since)
    .fetch_all(&mut *conn)
    .await?;
    let digests = sqlx::query_scalar(
        "UPDATE tokens SET revoked = $1
         WHERE user_id = $2 AND ($3 = '' OR organization_id = $3)
           AND kind IN ('access', 'refresh') AND family_id IS NOT NULL AND family_id <> $4
           AND (revoked IS NULL OR revoked > $1)
         RETURNING digest",
    )
    .bind(scope.now)
    .bind(scope.user_id)
    .bind(scope.organization_id.unwrap_or(""))
    .bind(except.unwrap_or(""))
    .fetch_all(conn)
    .await?;
    Ok((ended, digests))
}

/// Marks one session ended (its tokens are revoked by the caller); answers whether it was
/// open.
pub async fn end(conn: &mut AnyConnection, id: &str, now: Millis) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE sessions SET ended = $1 WHERE id = $2 AND ended IS NULL")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a use of a session, unless one was recorded within [`TOUCH_EVERY`] (by any node);
/// answers whether it wrote.
pub async fn touch(
    conn: &mut AnyConnection,
    id: &str,
    now: Millis,
    address: Option<&str>,
    user_agent: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET last_used = $1, last_address = $2, last_user_agent = $3
         WHERE id = $4 AND last_used <= $5 AND ended IS NULL",
    )
    .bind(now)
    .bind(address)
    .bind(user_agent)
    .bind(id)
    .bind(now - TOUCH_EVERY)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the use of the sessions of rotated refresh tokens, in one statement, with the same
/// coarseness as [`touch`].
pub async fn touch_many(
    conn: &mut AnyConnection,
    ids: &[&str],
    now: Millis,
) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = (3..3 + ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "UPDATE sessions SET last_used = $1 WHERE last_used <= $2 AND id IN ({})",
        list.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(now).bind(now - TOUCH_EVERY);
    for id in ids {
        query = query.bind(*id);
    }
    query.execute(conn).await?;
    Ok(())
}
