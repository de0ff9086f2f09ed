//! OpenID Connect identities (issuer, subject) linked to users.

use sqlx::AnyConnection;

use crate::clock::Millis;

pub async fn user_of(
    conn: &mut AnyConnection,
    issuer: &str,
    subject: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT user_id FROM identities WHERE issuer = $1 AND subject = $2")
        .bind(issuer)
        .bind(subject)
        .fetch_optional(conn)
        .await
}

/// Fails with a unique violation when the identity is linked already.
pub async fn link(
    conn: &mut AnyConnection,
    issuer: &str,
    subject: &str,
    user_id: &str,
    now: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO identities (issuer, subject, user_id, created) VALUES ($1, $2, $3, $4)",
    )
    .bind(issuer)
    .bind(subject)
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether any identity is linked to the user.
pub async fn any_of(conn: &mut AnyConnection, user_id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM identities WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}
