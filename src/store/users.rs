//! Users. A user has one home organization and is a member of one or more.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::flag;
use crate::clock::Millis;

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub email_key: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company_name: Option<String>,
    pub timezone: Option<String>,
    pub enabled: bool,
    pub account_non_locked: bool,
    pub account_non_expired: bool,
    pub credentials_non_expired: bool,
    pub bf_admin: bool,
    /// Argon2id PHC string; never leaves the service.
    pub password_hash: Option<String>,
    pub password_reset_valid_till: Option<Millis>,
    pub created: Millis,
    pub updated: Millis,
    pub changed_by: Option<String>,
}

impl UserRow {
    /// Whether the account may log in at all, whatever the credential.
    pub fn may_log_in(&self) -> bool {
        self.enabled && self.account_non_locked && self.account_non_expired
    }
}

pub(crate) const COLUMNS: &str = "u.id, u.organization_id, u.email, u.email_key, u.first_name, \
    u.last_name, u.company_name, u.timezone, u.enabled, u.account_non_locked, \
    u.account_non_expired, u.credentials_non_expired, u.bf_admin, u.password_hash, \
    u.password_reset_valid_till, u.created, u.updated, u.changed_by";

pub(crate) fn from_row(r: &AnyRow) -> Result<UserRow, sqlx::Error> {
    let b = |name: &str| r.try_get::<i64, _>(name).map(|v| v != 0);
    Ok(UserRow {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        email: r.try_get("email")?,
        email_key: r.try_get("email_key")?,
        first_name: r.try_get("first_name")?,
        last_name: r.try_get("last_name")?,
        company_name: r.try_get("company_name")?,
        timezone: r.try_get("timezone")?,
        enabled: b("enabled")?,
        account_non_locked: b("account_non_locked")?,
        account_non_expired: b("account_non_expired")?,
        credentials_non_expired: b("credentials_non_expired")?,
        bf_admin: b("bf_admin")?,
        password_hash: r.try_get("password_hash")?,
        password_reset_valid_till: r.try_get("password_reset_valid_till")?,
        created: r.try_get("created")?,
        updated: r.try_get("updated")?,
        changed_by: r.try_get("changed_by")?,
    })
}

/// Fails with a unique violation when the e-mail is taken.
pub async fn insert(conn: &mut AnyConnection, u: &UserRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO users (id, organization_id, email, email_key, first_name, last_name,
            company_name, timezone, enabled, account_non_locked, account_non_expired,
            credentials_non_expired, bf_admin, password_hash, password_reset_valid_till,
            created, updated, changed_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(&u.id)
    .bind(&u.organization_id)
    .bind(&u.email)
    .bind(&u.email_key)
    .bind(&u.first_name)
    .bind(&u.last_name)
    .bind(&u.company_name)
    .bind(&u.timezone)
    .bind(flag(u.enabled))
    .bind(flag(u.account_non_locked))
    .bind(flag(u.account_non_expired))
    .bind(flag(u.credentials_non_expired))
    .bind(flag(u.bf_admin))
    .bind(&u.password_hash)
    .bind(u.password_reset_valid_till)
    .bind(u.created)
    .bind(u.updated)
    .bind(&u.changed_by)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find_by_email_key(
    conn: &mut AnyConnection,
    key: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM users u WHERE u.email_key = $1"
    ))
    .bind(key)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The user with this e-mail key, and whether he is a member of any of `organizations`, in one
/// statement.
pub async fn find_by_email_key_among(
    conn: &mut AnyConnection,
    key: &str,
    organizations: &[String],
) -> Result<Option<(UserRow, bool)>, sqlx::Error> {
    let shares = if organizations.is_empty() {
        "CAST(0 AS BIGINT)".to_string()
    } else {
        let list: Vec<String> = (2..2 + organizations.len())
            .map(|i| format!("${i}"))
            .collect();
        format!(
            "(SELECT COUNT(*) FROM memberships m
              WHERE m.user_id = u.id AND m.organization_id IN ({}))",
            list.join(", ")
        )
    };
    let sql = format!("SELECT {COLUMNS}, {shares} AS shares FROM users u WHERE u.email_key = $1");
    let mut query = sqlx::query(&sql).bind(key);
    for o in organizations {
        query = query.bind(o);
    }
    let Some(row) = query.fetch_optional(conn).await? else {
        return Ok(None);
    };
    Ok(Some((
        from_row(&row)?,
        row.try_get::<i64, _>("shares")? > 0,
    )))
}

pub async fn find_by_id(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM users u WHERE u.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Users by e-mail (their lower-cased key), the next `limit` after `after` (`""`: from the
/// first): everyone, or the members of one organization. Keyset pages, so that listing a
/// million users reads each index entry once.
pub async fn page_by_email(
    conn: &mut AnyConnection,
    organization_id: Option<&str>,
    after: &str,
    limit: i64,
) -> Result<Vec<UserRow>, sqlx::Error> {
    let sql = match organization_id {
        None => format!(
            "SELECT {COLUMNS} FROM users u WHERE u.email_key > $1 ORDER BY u.email_key LIMIT $2"
        ),
        Some(_) => format!(
            "SELECT {COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.organization_id = $3 AND m.user_email_key > $1
             ORDER BY m.user_email_key LIMIT $2"
        ),
    };
    let mut query = sqlx::query(&sql).bind(after).bind(limit);
    if let Some(organization_id) = organization_id {
        query = query.bind(organization_id);
    }
    query.fetch_all(conn).await?.iter().map(from_row).collect()
}

/// Writes back what a user may change (e-mail, names, time zone, standing, password, reset
/// deadline, `updated`, `changed_by`), and the members' copy of his ordering fields. A new
/// e-mail that is taken fails with a unique violation.
pub async fn save(conn: &mut AnyConnection, u: &UserRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET email = $1, email_key = $2, first_name = $3, last_name = $4,
            company_name = $5, timezone = $6, enabled = $7, password_hash = $8,
            password_reset_valid_till = $9, updated = $10, changed_by = $11
         WHERE id = $12",
    )
    .bind(&u.email)
    .bind(&u.email_key)
    .bind(&u.first_name)
    .bind(&u.last_name)
    .bind(&u.company_name)
    .bind(&u.timezone)
    .bind(flag(u.enabled))
    .bind(&u.password_hash)
    .bind(u.password_reset_valid_till)
    .bind(u.updated)
    .bind(&u.changed_by)
    .bind(&u.id)
    .execute(&mut *conn)
    .await?;
    // The members' copies of the ordering fields (migration 0002) follow the user.
    sqlx::query("UPDATE memberships SET user_updated = $1, user_email_key = $2 WHERE user_id = $3")
        .bind(u.updated)
        .bind(&u.email_key)
        .bind(&u.id)
        .execute(&mut *conn)
        .await?;
    super::organizations::bump_members_version_of_user(conn, &u.id).await
}

/// Only if the stored hash is still `old`: a concurrent password change wins over a rehash.
pub async fn upgrade_password_hash(
    conn: &mut AnyConnection,
    user_id: &str,
    old: &str,
    new: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
        .bind(new)
        .bind(user_id)
        .bind(old)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes a user who left nothing behind: no memberships, codes, tokens or identities refer
/// to him any more (the store refuses otherwise).
pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
