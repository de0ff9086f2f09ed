//! The mail outbox: rows written in the transaction of the change that causes the mail, claimed
//! and marked by the sender.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::clock::Millis;

#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub created: Millis,
    pub attempts: i64,
}

fn from_row(r: &AnyRow) -> Result<OutboxRow, sqlx::Error> {
    Ok(OutboxRow {
        id: r.try_get("id")?,
        recipient: r.try_get("recipient")?,
        subject: r.try_get("subject")?,
        body_text: r.try_get("body_text")?,
        created: r.try_get("created")?,
        attempts: r.try_get("attempts")?,
    })
}

pub async fn insert(
    conn: &mut AnyConnection,
    id: &str,
    recipient: &str,
    subject: &str,
    body_text: &str,
    now: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mail_outbox (id, recipient, subject, body_text, created, attempts, next_attempt)
         VALUES ($1, $2, $3, $4, $5, 0, $5)",
    )
    .bind(id)
    .bind(recipient)
    .bind(subject)
    .bind(body_text)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims up to `limit` mails due at `now` for this sender until `lease_until`, counting the
/// attempt. The condition is checked again by the UPDATE itself, so when several nodes claim
/// at once each row goes to one of them; a claim whose sender dies runs out with its lease and
/// the mail is tried again.
pub async fn claim_due(
    conn: &mut AnyConnection,
    now: Millis,
    lease_until: Millis,
    limit: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query(
        "UPDATE mail_outbox SET next_attempt = $1, attempts = attempts + 1
         WHERE id IN (SELECT id FROM mail_outbox
                      WHERE sent IS NULL AND gave_up IS NULL AND next_attempt <= $2
                      ORDER BY next_attempt, id LIMIT $3)
           AND sent IS NULL AND gave_up IS NULL AND next_attempt <= $2
         RETURNING id, recipient, subject, body_text, created, attempts",
    )
    .bind(lease_until)
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Moves the lease of the mails among `ids` still held until `lease` on to `until`; answers those
/// renewed. One missing was taken over by another sender (this one's lease ran out) or is done.
pub async fn renew_leases(
    conn: &mut AnyConnection,
    ids: &[&str],
    lease: Millis,
    until: Millis,
) -> Result<Vec<String>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = (3..3 + ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "UPDATE mail_outbox SET next_attempt = $1
         WHERE id IN ({}) AND next_attempt = $2 AND sent IS NULL AND gave_up IS NULL
         RETURNING id",
        list.join(", ")
    );
    let mut query = sqlx::query_scalar(&sql).bind(until).bind(lease);
    for id in ids {
        query = query.bind(*id);
    }
    query.fetch_all(conn).await
}

/// Marks a mail sent and blanks its body, which may hold a code.
pub async fn mark_sent(conn: &mut AnyConnection, id: &str, now: Millis) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE mail_outbox SET sent = $1, body_text = '', last_error = NULL WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Schedules the next attempt after a failure.
pub async fn mark_failed(
    conn: &mut AnyConnection,
    id: &str,
    next_attempt: Millis,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE mail_outbox SET next_attempt = $1, last_error = $2 WHERE id = $3")
        .bind(next_attempt)
        .bind(error)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Gives up on a mail for good, and blanks its body.
pub async fn give_up(
    conn: &mut AnyConnection,
    id: &str,
    now: Millis,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE mail_outbox SET gave_up = $1, last_error = $2, body_text = '' WHERE id = $3",
    )
    .bind(now)
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}
