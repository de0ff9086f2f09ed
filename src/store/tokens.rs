//! Bearer tokens, stored as digests of their secrets.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::audit::AuditEvent;
use crate::clock::Millis;
use crate::domain::TokenKind;
use crate::origin::Origin;

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: String,
    pub kind: TokenKind,
    pub digest: String,
    pub user_id: String,
    pub organization_id: String,
    pub family_id: Option<String>,
    pub description: Option<String>,
    pub created: Millis,
    pub expires: Option<Millis>,
    pub revoked: Option<Millis>,
    pub created_by: Option<String>,
    /// Acts only in `organization_id`; else in every organization of its user (a login's).
    pub bound: bool,
    /// A refresh token's: with its secret, derives the pair that succeeds it at rotation
    /// (`secrets::successors`).
    pub successor_salt: Option<String>,
}

impl TokenRow {
    /// Whether the token works at `now`: not expired, not (yet) revoked.
    pub fn is_live(&self, now: Millis) -> bool {
        self.expires.is_none_or(|e| now < e) && self.revoked.is_none_or(|r| now < r)
    }
}

const COLUMNS: &str = "t.id, t.kind, t.digest, t.user_id, t.organization_id, t.family_id, \
    t.description, t.created, t.expires, t.revoked, t.created_by, t.bound, t.successor_salt";

fn kind(stored: String) -> Result<TokenKind, sqlx::Error> {
    TokenKind::parse(&stored)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown token kind {stored:?}").into()))
}

fn from_row(r: &AnyRow) -> Result<TokenRow, sqlx::Error> {
    Ok(TokenRow {
        id: r.try_get("id")?,
        kind: kind(r.try_get("kind")?)?,
        digest: r.try_get("digest")?,
        user_id: r.try_get("user_id")?,
        organization_id: r.try_get("organization_id")?,
        family_id: r.try_get("family_id")?,
        description: r.try_get("description")?,
        created: r.try_get("created")?,
        expires: r.try_get("expires")?,
        revoked: r.try_get("revoked")?,
        created_by: r.try_get("created_by")?,
        bound: r.try_get::<i64, _>("bound")? != 0,
        successor_salt: r.try_get("successor_salt")?,
    })
}

/// Inserts tokens in one statement. Fails with a unique violation for a second live permanent
/// token of a user and organization.
pub async fn insert(conn: &mut AnyConnection, tokens: &[TokenRow]) -> Result<(), sqlx::Error> {
    if tokens.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..tokens.len())
        .map(|i| {
            let n = i * 13;
            let params: Vec<String> = (1..=13).map(|k| format!("${}", n + k)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO tokens (id, kind, digest, user_id, organization_id, family_id, description,
            created, expires, revoked, created_by, bound, successor_salt)
         VALUES {}",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for t in tokens {
        query = query
            .bind(&t.id)
            .bind(t.kind.as_str())
            .bind(&t.digest)
            .bind(&t.user_id)
            .bind(&t.organization_id)
            .bind(&t.family_id)
            .bind(&t.description)
            .bind(t.created)
            .bind(t.expires)
            .bind(t.revoked)
            .bind(&t.created_by)
            .bind(super::flag(t.bound))
            .bind(&t.successor_salt);
    }
    query.execute(conn).await?;
    Ok(())
}

pub async fn find_by_digest(
    conn: &mut AnyConnection,
    digest: &str,
) -> Result<Option<TokenRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tokens t WHERE t.digest = $1"
    ))
    .bind(digest)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// What a consumed refresh token carries over to its successor.
#[derive(Debug)]
pub struct Consumed {
    pub digest: String,
    pub id: String,
    pub user_id: String,
    pub organization_id: String,
    pub family_id: Option<String>,
    pub bound: bool,
    pub successor_salt: Option<String>,
    /// Its pair may only enrol a second factor in its organization (see [`ENROL_ONLY`]).
    pub enrol_only: bool,
}

/// Whether a token of `tokens` may only enrol a second factor in its organization, as the
/// bearer check and introspection decide it (`Principal::enrol_only`, `service::authz`): its
/// login was limited so (`enrol`), or passed no factor (neither `passed` nor `passkey`) and the organization
/// requires one now. The login's standing is its session's, else that of the permanent token
/// its family is named after (as `factors::standing` reads it). In SQL so that a refresh
/// learns it in the statement that consumes the token.
const ENROL_ONLY: &str = "CAST(CASE COALESCE(
        (SELECT s.second_factor FROM sessions s WHERE s.id = tokens.family_id),
        (SELECT p.second_factor FROM tokens p
         WHERE p.id = tokens.family_id AND p.kind = 'permanent'))
    WHEN 'enrol' THEN 1
    WHEN 'passed' THEN 0
    WHEN 'passkey' THEN 0
    ELSE (CASE WHEN EXISTS (
        SELECT 1 FROM mfa_policies m
        WHERE m.organization_id = tokens.organization_id AND m.required <> 0) THEN 1 ELSE 0 END)
    END AS BIGINT)";

/// Marks used, in one statement, each live and unexpired refresh token among `digests` whose
/// user may still log in and is still a member of the token's organization; answers what they
/// carried. A digest absent from the answer (unknown, expired, used before, or its user barred)
/// is for the caller to look up, to tell reuse from the rest. Concurrent calls with one token:
/// exactly one gets it.
///
/// The user condition is `UserRow::may_log_in` in SQL: kept here so that the common case, a
/// refresh that succeeds, costs one statement before the new pair is written.
///
/// A token of a session that no longer works (ended, past its absolute end, or unused since
/// `idle_since`) is not consumed either. Whether its successors may only enrol a second factor
/// is read in the same statement.
pub async fn consume_refreshes(
    conn: &mut AnyConnection,
    digests: &[&str],
    now: Millis,
    idle_since: Millis,
) -> Result<Vec<Consumed>, sqlx::Error> {
    if digests.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = (3..3 + digests.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "UPDATE tokens SET revoked = $1
         WHERE digest IN ({}) AND kind = 'refresh' AND revoked IS NULL
           AND (expires IS NULL OR expires > $1)
           AND EXISTS (
               SELECT 1 FROM users u
               JOIN memberships m ON m.user_id = u.id AND m.organization_id = tokens.organization_id
               WHERE u.id = tokens.user_id
                 AND u.enabled = 1 AND u.account_non_locked = 1 AND u.account_non_expired = 1)
           AND NOT EXISTS (
               SELECT 1 FROM sessions s
               WHERE s.id = tokens.family_id
                 AND (s.ended IS NOT NULL OR s.ends <= $1 OR s.last_used <= $2))
         RETURNING digest, id, user_id, organization_id, family_id, bound, successor_salt,
             {ENROL_ONLY} AS enrol_only",
        list.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(now).bind(idle_since);
    for d in digests {
        query = query.bind(*d);
    }
    query
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| {
            Ok(Consumed {
                digest: r.try_get("digest")?,
                id: r.try_get("id")?,
                user_id: r.try_get("user_id")?,
                organization_id: r.try_get("organization_id")?,
                family_id: r.try_get("family_id")?,
                bound: r.try_get::<i64, _>("bound")? != 0,
                successor_salt: r.try_get("successor_salt")?,
                enrol_only: r.try_get::<i64, _>("enrol_only")? != 0,
            })
        })
        .collect()
}

/// Rotates refresh tokens as a group commit: in one transaction, consumes the live ones among
/// `digests` (see [`consume_refreshes`]), inserts the rows `successors` builds from what they
/// carried, records a `refresh_token.rotated` event for each (from the request of
/// `origins`, in step with `digests`), and commits once (on SQLite one fsync for every rotation
/// of the moment). The events cost one chain-head update per organization of the batch and one
/// insert; the sessions' last use, one update (`idle_since`: see [`consume_refreshes`]).
pub async fn rotate_batch(
    store: &super::Store,
    digests: &[&str],
    origins: &[Origin],
    now: Millis,
    idle_since: Millis,
    successors: impl FnOnce(Vec<Consumed>) -> Vec<TokenRow>,
) -> Result<(), sqlx::Error> {
    let mut tx = store.write().await?;
    let consumed = consume_refreshes(&mut tx, digests, now, idle_since).await?;
    // What the events say, kept before `successors` takes the rows.
    let spent: Vec<(usize, String, String, String, String)> = consumed
        .iter()
        .filter_map(|c| {
            let at = digests.iter().position(|d| *d == c.digest)?;
            let family = c.family_id.clone().unwrap_or_else(|| c.id.clone());
            Some((
                at,
                c.id.clone(),
                c.user_id.clone(),
                c.organization_id.clone(),
                family,
            ))
        })
        .collect();
    let rows = successors(consumed);
    insert(&mut tx, &rows).await?;
    let families: Vec<&str> = spent.iter().map(|s| s.4.as_str()).collect();
    super::sessions::touch_many(&mut tx, &families, now).await?;
    let details: Vec<serde_json::Value> = spent
        .iter()
        .map(|(_, _, _, _, family)| {
            let successor = rows
                .iter()
                .find(|r| r.kind == TokenKind::Refresh && r.family_id.as_deref() == Some(family))
                .map(|r| r.id.as_str());
            serde_json::json!({ "family": family, "successor": successor })
        })
        .collect();
    let events: Vec<AuditEvent<'_>> = spent
        .iter()
        .zip(details)
        .map(|((at, id, user, organization, _), details)| AuditEvent {
            actor_id: Some(user),
            organization_id: Some(organization),
            action: "refresh_token.rotated",
            subject_id: Some(user),
            target_id: Some(id),
            details: Some(details),
            origin: origins.get(*at),
            ..Default::default()
        })
        .collect();
    super::audit::record_many(&mut tx, now, &events).await?;
    tx.commit().await
}

/// Revokes every token of a family that still works at `at` (now, or the end of a rotated
/// permanent token's grace, when the pairs minted from it end too); answers their digests (to
/// forget them in caches).
pub async fn revoke_family(
    conn: &mut AnyConnection,
    family_id: &str,
    at: Millis,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE tokens SET revoked = $1
         WHERE family_id = $2 AND (revoked IS NULL OR revoked > $1) RETURNING digest",
    )
    .bind(at)
    .bind(family_id)
    .fetch_all(conn)
    .await
}

/// Revokes one token now (if it still works); answers whether it did.
pub async fn revoke(conn: &mut AnyConnection, id: &str, now: Millis) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE tokens SET revoked = $1 WHERE id = $2 AND (revoked IS NULL OR revoked > $1)",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets when a token stops working (now, or later for a grace period); answers its digest.
pub async fn revoke_at(conn: &mut AnyConnection, id: &str, at: Millis) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tokens SET revoked = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The user's permanent token for an organization that has not been rotated or revoked.
pub async fn current_permanent(
    conn: &mut AnyConnection,
    user_id: &str,
    organization_id: &str,
) -> Result<Option<TokenRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tokens t
         WHERE t.user_id = $1 AND t.organization_id = $2 AND t.kind = 'permanent' AND t.revoked IS NULL"
    ))
    .bind(user_id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Revokes a user's tokens of the given kinds, except one; answers their digests.
pub async fn revoke_of_user(
    conn: &mut AnyConnection,
    user_id: &str,
    kinds: &[TokenKind],
    except_id: Option<&str>,
    now: Millis,
) -> Result<Vec<String>, sqlx::Error> {
    let mut digests = Vec::new();
    for kind in kinds {
        let mut some: Vec<String> = sqlx::query_scalar(
            "UPDATE tokens SET revoked = $1
             WHERE user_id = $2 AND kind = $3 AND id <> $4 AND (revoked IS NULL OR revoked > $1)
             RETURNING digest",
        )
        .bind(now)
        .bind(user_id)
        .bind(kind.as_str())
        .bind(except_id.unwrap_or(""))
        .fetch_all(&mut *conn)
        .await?;
        digests.append(&mut some);
    }
    Ok(digests)
}

/// Whether any token, live or not, was ever issued to the user.
pub async fn any_of(conn: &mut AnyConnection, user_id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

/// What a permanent token is besides its row: the first characters of its secret, to
/// recognise it, and the client address ranges it may be used from (a JSON array of CIDRs).
pub async fn describe_permanent(
    conn: &mut AnyConnection,
    id: &str,
    prefix: &str,
    allowed_ranges: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tokens SET prefix = $1, allowed_ranges = $2 WHERE id = $3")
        .bind(prefix)
        .bind(allowed_ranges)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A permanent token as its user and his administrators see it: never its secret or digest.
#[derive(Debug, Clone)]
pub struct ApiTokenRow {
    pub id: String,
    pub organization_id: String,
    pub description: Option<String>,
    pub prefix: Option<String>,
    pub allowed_ranges: Option<String>,
    pub created: Millis,
    pub expires: Option<Millis>,
    /// When it stops working, if it was rotated with a grace period.
    pub revoked: Option<Millis>,
    pub last_used: Option<Millis>,
    pub created_by: Option<String>,
}

const API_TOKEN_COLUMNS: &str = "id, organization_id, description, prefix, allowed_ranges, \
    created, expires, revoked, last_used, created_by";

fn api_token_from_row(r: &AnyRow) -> Result<ApiTokenRow, sqlx::Error> {
    Ok(ApiTokenRow {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        description: r.try_get("description")?,
        prefix: r.try_get("prefix")?,
        allowed_ranges: r.try_get("allowed_ranges")?,
        created: r.try_get("created")?,
        expires: r.try_get("expires")?,
        revoked: r.try_get("revoked")?,
        last_used: r.try_get("last_used")?,
        created_by: r.try_get("created_by")?,
    })
}

/// A page of a user's permanent tokens that still work at `now` (of one organization, when
/// `organization_id` names one), newest first unless `descending` is false.
pub async fn list_permanent(
    conn: &mut AnyConnection,
    user_id: &str,
    organization_id: Option<&str>,
    now: Millis,
    descending: bool,
    offset: i64,
    limit: i64,
) -> Result<Vec<ApiTokenRow>, sqlx::Error> {
    let direction = if descending { "DESC" } else { "ASC" };
    sqlx::query(&format!(
        "SELECT {API_TOKEN_COLUMNS} FROM tokens
         WHERE user_id = $1 AND kind = 'permanent' AND ($2 = '' OR organization_id = $2)
           AND (revoked IS NULL OR revoked > $3) AND (expires IS NULL OR expires > $3)
         ORDER BY created {direction}, id {direction} LIMIT $4 OFFSET $5"
    ))
    .bind(user_id)
    .bind(organization_id.unwrap_or(""))
    .bind(now)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?
    .iter()
    .map(api_token_from_row)
    .collect()
}

/// One permanent token of a user, if it still works at `now`.
pub async fn find_permanent(
    conn: &mut AnyConnection,
    user_id: &str,
    id: &str,
    now: Millis,
) -> Result<Option<ApiTokenRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {API_TOKEN_COLUMNS} FROM tokens
         WHERE id = $1 AND user_id = $2 AND kind = 'permanent'
           AND (revoked IS NULL OR revoked > $3) AND (expires IS NULL OR expires > $3)"
    ))
    .bind(id)
    .bind(user_id)
    .bind(now)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(api_token_from_row)
    .transpose()
}

/// The address ranges a token may be used from (a JSON array of CIDRs), if limited, and its
/// last use.
pub async fn reach_of(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<(Option<String>, Option<Millis>), sqlx::Error> {
    let row = sqlx::query("SELECT allowed_ranges, last_used FROM tokens WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(r) => Ok((r.try_get("allowed_ranges")?, r.try_get("last_used")?)),
        None => Ok((None, None)),
    }
}

/// Records a use of a permanent token, unless one was recorded within
/// [`super::sessions::TOUCH_EVERY`]; answers whether it wrote.
pub async fn touch(conn: &mut AnyConnection, id: &str, now: Millis) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE tokens SET last_used = $1 WHERE id = $2 AND (last_used IS NULL OR last_used <= $3)",
    )
    .bind(now)
    .bind(id)
    .bind(now - super::sessions::TOUCH_EVERY)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes one token now (if it still works); answers its digest, to forget it in caches.
pub async fn revoke_returning(
    conn: &mut AnyConnection,
    id: &str,
    now: Millis,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE tokens SET revoked = $1 WHERE id = $2 AND (revoked IS NULL OR revoked > $1)
         RETURNING digest",
    )
    .bind(now)
    .bind(id)
    .fetch_optional(conn)
    .await
}
