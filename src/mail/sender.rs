//! The background sender: claims due mails from the outbox, delivers them, and marks them sent
//! (blanking the body, which may hold a code) or schedules a retry with exponential backoff.
//! Due-ness is read from the application clock, so tests move time instead of waiting.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::{Millis, SharedClock};
use crate::mail::transport::{Destination, Transport};
use crate::mail::Mailer;
use crate::store::Store;
use crate::store::{self, outbox::OutboxRow};

/// Mails claimed at once.
const BATCH: i64 = 10;
/// How long a claim holds unless renewed: a sender that dies with claimed mails leaves them to
/// another node (or to itself, started again) this much later.
pub const LEASE_MS: Millis = 15 * 1000;
/// How often a sender renews the lease of the mails it still holds (a delivery may take up to
/// the transport's SMTP timeout, a batch several of them).
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// The first retry waits this long; each further one twice as long, up to `MAX_BACKOFF_MS`.
const FIRST_BACKOFF_MS: Millis = 30 * 1000;
const MAX_BACKOFF_MS: Millis = 60 * 60 * 1000;
/// After this many failed attempts (about a day with the backoff above) the mail is given up.
pub const MAX_ATTEMPTS: i64 = 30;
/// The sender running beside the server; stop it when the server stops.
pub struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    /// Asks the sender to stop and waits for it: a delivery in progress finishes first.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// What the sender works with, and nothing more of the application.
#[derive(Clone)]
pub struct Parts {
    pub store: Store,
    pub clock: SharedClock,
    pub mailer: Arc<Mailer>,
    /// How often to look for mail due for a retry; new mail wakes the sender at once.
    pub poll_millis: u64,
}

/// Says where mail goes and starts the sender; none without a transport (mail then waits in
/// the outbox).
pub fn spawn(app: Parts) -> Option<Running> {
    match &app.mailer.destination {
        Destination::Smtp(url) => tracing::info!(smtp = %url, "mail goes through SMTP"),
        Destination::Dir(dir) => tracing::info!(
            folder = %dir.display(),
            "mail goes into a folder (BF_MAIL_DIR), one .eml file per mail"
        ),
        Destination::BesideDatabase(dir) => tracing::info!(
            folder = %dir.display(),
            "mail goes into a folder beside the SQLite file, one .eml file per mail \
             (BF_SMTP_URL sends it instead, BF_MAIL_DIR names another folder)"
        ),
        Destination::Held => {
            tracing::info!("mail stays in the outbox table, never delivered (BF_MAIL_DELIVERY)")
        }
        Destination::Nowhere => tracing::warn!(
            "no BF_SMTP_URL or BF_MAIL_DIR: mail stays in the outbox undelivered until one \
             is set and the node restarted"
        ),
    }
    app.mailer.transport.as_ref()?;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(run(app, stopped));
    Some(Running { stop, task })
}

async fn run(app: Parts, mut stopped: watch::Receiver<bool>) {
    let poll = Duration::from_millis(app.poll_millis.max(1));
    loop {
        loop {
            if *stopped.borrow() {
                return;
            }
            match deliver_due(&app).await {
                Ok(claimed) if claimed < BATCH as usize => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "mail outbox unavailable; trying again later");
                    break;
                }
            }
        }
        tokio::select! {
            _ = stopped.changed() => return,
            _ = app.mailer.wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// Claims the mails due now and delivers them, renewing the lease of those not yet done while
/// it works; answers how many it claimed.
async fn deliver_due(app: &Parts) -> Result<usize, sqlx::Error> {
    let Some(transport) = app.mailer.transport.as_ref() else {
        return Ok(0);
    };
    let now = app.clock.now();
    let lease = now + LEASE_MS;
    let mut tx = app.store.write().await?;
    let claimed = store::outbox::claim_due(&mut tx, now, lease, BATCH).await?;
    tx.commit().await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let held = Mutex::new(Held {
        ids: claimed.iter().map(|r| r.id.clone()).collect(),
        lease,
    });
    let deliveries = async {
        for row in &claimed {
            // Lost to another sender while this one could not renew: that one delivers it.
            if !held
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .ids
                .contains(&row.id)
            {
                continue;
            }
            deliver_one(app, transport, row).await?;
            held.lock()
                .unwrap_or_else(|p| p.into_inner())
                .ids
                .remove(&row.id);
        }
        Ok::<_, sqlx::Error>(())
    };
    let renewals = async {
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            if let Err(e) = renew(app, &held).await {
                tracing::warn!(error = %e, "could not renew the lease of mail being sent");
            }
        }
    };
    tokio::select! {
        done = deliveries => done?,
        // Renewals never end; they stop with the deliveries.
        _ = renewals => {}
    }
    Ok(claimed.len())
}

/// The mails a sender claimed and has not finished with, and until when it holds them.
struct Held {
    ids: HashSet<String>,
    lease: Millis,
}

async fn renew(app: &Parts, held: &Mutex<Held>) -> Result<(), sqlx::Error> {
    let (ids, lease) = {
        let held = held.lock().unwrap_or_else(|p| p.into_inner());
        (held.ids.iter().cloned().collect::<Vec<_>>(), held.lease)
    };
    let until = app.clock.now() + LEASE_MS;
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut tx = app.store.write().await?;
    let renewed = store::outbox::renew_leases(&mut tx, &ids, lease, until).await?;
    tx.commit().await?;
    let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
    // Those finished meanwhile are gone already; those not renewed are no longer this node's.
    held.ids.retain(|id| renewed.contains(id));
    held.lease = until;
    Ok(())
}

/// Delivers one claimed mail and marks it sent, failed (to be retried) or given up.
async fn deliver_one(
    app: &Parts,
    transport: &Transport,
    row: &OutboxRow,
) -> Result<(), sqlx::Error> {
    let outcome = transport.deliver(row).await;
    let now = app.clock.now();
    let mut tx = app.store.write().await?;
    match outcome {
        Ok(written) => {
            store::outbox::mark_sent(&mut tx, &row.id, now).await?;
            tx.commit().await?;
            app.mailer.count("sent", 1);
            // Never the recipient (the log keeps e-mail addresses out) nor the body (it may
            // hold a code): the file is where to read it.
            match written {
                Some(file) => tracing::info!(
                    mail = %row.id,
                    file = %file.display(),
                    subject = ?row.subject,
                    "mail written"
                ),
                None => tracing::info!(mail = %row.id, attempts = row.attempts, "mail sent"),
            }
        }
        Err(failure) => {
            let error: String = failure.message.chars().take(500).collect();
            if failure.permanent || row.attempts >= MAX_ATTEMPTS {
                store::outbox::give_up(&mut tx, &row.id, now, &error).await?;
                tracing::warn!(mail = %row.id, attempts = row.attempts, %error, "mail given up");
            } else {
                let next = now + backoff(row.attempts);
                store::outbox::mark_failed(&mut tx, &row.id, next, &error).await?;
                tracing::warn!(mail = %row.id, attempts = row.attempts, %error, "mail failed; will retry");
            }
            tx.commit().await?;
            app.mailer.count("failed", 1);
        }
    }
    Ok(())
}

/// The wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, … up to an hour.
pub fn backoff(attempts: i64) -> Millis {
    let doublings = (attempts.max(1) - 1).min(20) as u32;
    (FIRST_BACKOFF_MS.saturating_mul(1 << doublings)).min(MAX_BACKOFF_MS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(super::backoff(1), 30_000);
        assert_eq!(super::backoff(2), 60_000);
        assert_eq!(super::backoff(3), 120_000);
        assert_eq!(super::backoff(12), 3_600_000);
        assert_eq!(super::backoff(1000), 3_600_000);
    }
}
