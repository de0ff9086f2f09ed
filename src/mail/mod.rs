//! Where mail leaves. A change that causes a mail writes it to the outbox in its own
//! transaction ([`outbox::enqueue`]); the [`sender`] task, running for the server's lifetime,
//! delivers it over SMTP (or into a directory of `.eml` files: by default, on SQLite, a `mail`
//! folder beside the database file) with retries, and marks it sent.
//! So a mail exists exactly when its change does, survives restarts, and is never sent twice
//! once marked; request handlers never wait on SMTP, so its timing reveals nothing.

pub mod messages;
pub mod outbox;
pub mod sender;
pub mod transport;

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::Notify;

use crate::metrics::OutcomeLabels;

/// A plain-text mail to one recipient.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    /// Any code in it stands alone on a line of its own.
    pub text: String,
}

/// What the rest of the service needs of the mail system: to say that mail was queued (after
/// the transaction that queued it committed), and the transport the sender uses.
pub struct Mailer {
    pub(crate) wake: Arc<Notify>,
    counts: Family<OutcomeLabels, Counter>,
    pub(crate) transport: Option<transport::Transport>,
    /// Where the transport sends mail, or why there is none.
    pub destination: transport::Destination,
}

impl Mailer {
    pub fn new(
        settings: &crate::config::Settings,
        counts: Family<OutcomeLabels, Counter>,
    ) -> Result<Self, String> {
        let (transport, destination) = transport::Transport::from_settings(settings)?;
        Ok(Self {
            wake: Arc::new(Notify::new()),
            counts,
            transport,
            destination,
        })
    }

    /// Counts `n` mails queued by a committed transaction and wakes the sender.
    pub fn queued(&self, n: u64) {
        if n > 0 {
            self.count("queued", n);
            self.wake.notify_one();
            // The one trace of a mail nobody will receive: its API answer said it was sent.
            if self.destination == transport::Destination::Nowhere {
                tracing::warn!(
                    mails = n,
                    "mail queued but not delivered: set BF_SMTP_URL or BF_MAIL_DIR"
                );
            }
        }
    }

    pub(crate) fn count(&self, outcome: &str, n: u64) {
        self.counts
            .get_or_create(&OutcomeLabels {
                outcome: outcome.into(),
            })
            .inc_by(n);
    }
}
