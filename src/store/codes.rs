//! Single-use codes mailed to people (password reset, invitation), kept only as digests.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::clock::Millis;
pub use crate::domain::CodeKind;

#[derive(Debug, Clone)]
pub struct CodeRow {
    pub id: String,
    pub kind: CodeKind,
    pub digest: String,
    pub user_id: String,
    pub organization_id: Option<String>,
    /// For invitations: the JSON array of role IDs the user receives.
    pub role_ids: Option<String>,
    pub created: Millis,
    pub expires: Millis,
    pub used: Option<Millis>,
    pub failed_attempts: i64,
    pub created_by: Option<String>,
    /// An invitation that created its user (or renewed, from the same organization, one that
    /// did): the only kind that may set his first password and enable him.
    pub enables_user: bool,
}

impl CodeRow {
    /// Whether the code may still be used at `now`.
    pub fn is_usable(&self, now: Millis) -> bool {
        self.used.is_none() && now < self.expires
    }

    /// The role IDs an invitation gives; none for anything else.
    pub fn role_ids(&self) -> Vec<String> {
        self.role_ids
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default()
    }
}

const COLUMNS: &str = "id, kind, digest, user_id, organization_id, role_ids, created, expires, \
    used, failed_attempts, created_by, enables_user";

fn kind(stored: String) -> Result<CodeKind, sqlx::Error> {
    CodeKind::parse(&stored)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown code kind {stored:?}").into()))
}

fn from_row(r: &AnyRow) -> Result<CodeRow, sqlx::Error> {
    Ok(CodeRow {
        id: r.try_get("id")?,
        kind: kind(r.try_get("kind")?)?,
        digest: r.try_get("digest")?,
        user_id: r.try_get("user_id")?,
        organization_id: r.try_get("organization_id")?,
        role_ids: r.try_get("role_ids")?,
        created: r.try_get("created")?,
        expires: r.try_get("expires")?,
        used: r.try_get("used")?,
        failed_attempts: r.try_get("failed_attempts")?,
        created_by: r.try_get("created_by")?,
        enables_user: r.try_get::<i64, _>("enables_user")? != 0,
    })
}

pub async fn insert(conn: &mut AnyConnection, c: &CodeRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO codes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&c.id)
    .bind(c.kind.as_str())
    .bind(&c.digest)
    .bind(&c.user_id)
    .bind(&c.organization_id)
    .bind(&c.role_ids)
    .bind(c.created)
    .bind(c.expires)
    .bind(c.used)
    .bind(c.failed_attempts)
    .bind(&c.created_by)
    .bind(super::flag(c.enables_user))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find_by_digest(
    conn: &mut AnyConnection,
    digest: &str,
) -> Result<Option<CodeRow>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM codes WHERE digest = $1"))
        .bind(digest)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Marks a live code used; answers whether this call was the one that did, so two concurrent
/// uses of one code cannot both succeed, nor one that was replaced or expired meanwhile.
pub async fn consume(conn: &mut AnyConnection, id: &str, now: Millis) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE codes SET used = $1 WHERE id = $2 AND used IS NULL AND expires > $1")
            .bind(now)
            .bind(id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether an invitation of this organization created the user (used or not).
pub async fn invited_into_being(
    conn: &mut AnyConnection,
    user_id: &str,
    organization_id: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM codes
         WHERE user_id = $1 AND organization_id = $2 AND kind = 'invite' AND enables_user = 1",
    )
    .bind(user_id)
    .bind(organization_id)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// Ends a user's unused codes of a kind (for an organization, when given), e.g. when a newer
/// invitation replaces them.
pub async fn retire_unused(
    conn: &mut AnyConnection,
    user_id: &str,
    kind: CodeKind,
    organization_id: Option<&str>,
    now: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE codes SET used = $1
         WHERE user_id = $2 AND kind = $3 AND used IS NULL AND (organization_id = $4 OR $4 = '')",
    )
    .bind(now)
    .bind(user_id)
    .bind(kind.as_str())
    .bind(organization_id.unwrap_or(""))
    .execute(conn)
    .await?;
    Ok(())
}

/// A user's codes that may still be tried at `now`: unused and unexpired, of any kind.
pub async fn live_of_user(
    conn: &mut AnyConnection,
    user_id: &str,
    now: Millis,
) -> Result<Vec<CodeRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM codes WHERE user_id = $1 AND used IS NULL AND expires > $2"
    ))
    .bind(user_id)
    .bind(now)
    .fetch_all(conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Counts a wrong try against a code; at `limit` tries it dies (marked used). Answers whether
/// it died now.
pub async fn record_failure(
    conn: &mut AnyConnection,
    id: &str,
    limit: i64,
    now: Millis,
) -> Result<bool, sqlx::Error> {
    let killed: Option<i64> = sqlx::query_scalar(
        "UPDATE codes SET failed_attempts = failed_attempts + 1,
             used = CASE WHEN failed_attempts + 1 >= $1 THEN $2 ELSE used END
         WHERE id = $3 AND used IS NULL
         RETURNING used",
    )
    .bind(limit)
    .bind(now)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .flatten();
    Ok(killed.is_some())
}
