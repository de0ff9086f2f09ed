//! Writing mail to the outbox, inside the caller's transaction.

use sqlx::AnyConnection;

use super::Mail;
use crate::clock::Millis;
use crate::domain::ids;
use crate::store::{self, audit::AuditEvent};

/// Queues a mail in the transaction of the change that causes it, with its audit event. After
/// that transaction commits, call [`super::Mailer::queued`] to count it and wake the sender.
pub async fn enqueue(
    conn: &mut AnyConnection,
    mail: &Mail,
    now: Millis,
) -> Result<String, sqlx::Error> {
    let id = ids::new_id(ids::MAIL);
    store::outbox::insert(conn, &id, &mail.to, &mail.subject, &mail.text, now).await?;
    store::audit::record(
        conn,
        now,
        &AuditEvent {
            action: "mail.queued",
            target_id: Some(&id),
            // Never the body: it may hold a code.
            details: Some(serde_json::json!({ "to": mail.to, "subject": mail.subject })),
            ..Default::default()
        },
    )
    .await?;
    Ok(id)
}
