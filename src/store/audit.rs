//! Security audit events: who did what to what, and when. Written in the transaction of the
//! change they describe, so an event exists exactly when the change does.

use sqlx::AnyConnection;

use crate::clock::Millis;
use crate::domain::ids;

#[derive(Debug, Clone, Default)]
pub struct AuditEvent<'a> {
    pub actor_id: Option<&'a str>,
    pub organization_id: Option<&'a str>,
    /// A dotted verb, e.g. `login.succeeded`, `role.revoked`.
    pub action: &'a str,
    pub target_id: Option<&'a str>,
    /// JSON with what changed (before/after); never a secret.
    pub details: Option<serde_json::Value>,
}

pub async fn record(
    conn: &mut AnyConnection,
    now: Millis,
    e: &AuditEvent<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_events (id, occurred, actor_id, organization_id, action, target_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ids::new_id(ids::AUDIT))
    .bind(now)
    .bind(e.actor_id)
    .bind(e.organization_id)
    .bind(e.action)
    .bind(e.target_id)
    .bind(e.details.as_ref().map(|d| d.to_string()))
    .execute(conn)
    .await?;
    Ok(())
}

/// The newest events first; for tests and operators.
pub async fn recent(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<(String, Option<String>, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT action, actor_id, target_id FROM audit_events ORDER BY occurred DESC, id DESC LIMIT $1")
        .bind(limit)
        .fetch_all(conn)
        .await
}
