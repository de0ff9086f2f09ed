//! One unit of work. A change is opened once (its write transaction and the time it happens
//! at), records its audit events and queues its mails on itself, and says which cached
//! resolutions it makes stale. Its commit then does, in this order and in this one place:
//! commit the transaction, with a signal of what it made stale to the other nodes (on
//! PostgreSQL, delivered only if it commits), forget that here (so the very next request on
//! this node sees the change), wake the mail sender (so no mail is sent for a change that did not
//! commit). A change dropped without commit is rolled back, with none of the three.
//!
//! Every write of the service goes through one. Two writes lie below this layer and mail
//! nothing and make nothing stale: the group commit of many callers' refresh rotations
//! (`store::tokens::rotate_batch`, which records their events in its own transaction), and the
//! mail sender's bookkeeping (which records none).

use crate::clock::Millis;
use crate::error::ApiError;
use crate::mail::{outbox, Mail};
use crate::service::App;
use crate::store::signals::{self, Signal};
use crate::store::{self, audit::AuditEvent, Backend, Tx};

pub struct Change<'a> {
    app: &'a App,
    /// The transaction, for the store's functions: `&mut change.tx`.
    pub tx: Tx,
    now: Millis,
    stale: Stale,
    mails: u64,
}

/// What a change makes stale in the node's caches.
#[derive(Default)]
struct Stale {
    /// Roles, memberships or a user's standing: every cached resolution.
    everything: bool,
    /// A user's row: how callers see themselves.
    views: bool,
    /// Tokens revoked, by digest.
    tokens: Vec<String>,
}

impl Stale {
    /// What the other nodes must forget, sent with the transaction.
    fn signals(&self) -> Vec<Signal> {
        if self.everything {
            return vec![Signal::Everything];
        }
        let mut signals = Vec::new();
        if !self.tokens.is_empty() {
            signals.push(Signal::Tokens(self.tokens.clone()));
        }
        if self.views {
            signals.push(Signal::Views);
        }
        signals
    }
}

impl<'a> Change<'a> {
    /// Opens a change happening now.
    pub async fn begin(app: &'a App) -> Result<Self, ApiError> {
        let now = app.clock.now();
        Self::begin_at(app, now).await
    }

    /// Opens a change at a time read before (e.g. before a password was hashed).
    pub async fn begin_at(app: &'a App, now: Millis) -> Result<Self, ApiError> {
        Ok(Self {
            app,
            tx: app.store.write().await?,
            now,
            stale: Stale::default(),
            mails: 0,
        })
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    /// Records an audit event of this change, which exists exactly when the change does.
    pub async fn audit(&mut self, event: AuditEvent<'_>) -> Result<(), ApiError> {
        store::audit::record(&mut self.tx, self.now, &event).await?;
        Ok(())
    }

    /// Queues a mail, sent once the change has committed.
    pub async fn mail(&mut self, mail: &Mail) -> Result<(), ApiError> {
        outbox::enqueue(&mut self.tx, mail, self.now).await?;
        self.mails += 1;
        Ok(())
    }

    /// Roles, memberships or a user's standing changed: every cached resolution is stale.
    pub fn forget_all(&mut self) {
        self.stale.everything = true;
    }

    /// A user's row changed: how callers see themselves is stale.
    pub fn forget_views(&mut self) {
        self.stale.views = true;
    }

    /// These tokens (by digest) were revoked.
    pub fn forget_tokens(&mut self, digests: impl IntoIterator<Item = String>) {
        self.stale.tokens.extend(digests);
    }

    /// Commits, then forgets what the change made stale, then wakes the mail sender.
    pub async fn commit(self) -> Result<(), ApiError> {
        let Self {
            app,
            tx,
            stale,
            mails,
            ..
        } = self;
        let mut tx = tx;
        if app.store.backend() == Backend::Postgres {
            for signal in stale.signals() {
                signals::send(&mut tx, &signal).await?;
            }
        }
        tx.commit().await?;
        if stale.everything {
            app.auth.forget_all();
        } else {
            if !stale.tokens.is_empty() {
                app.auth.forget_tokens(&stale.tokens);
            }
            if stale.views {
                app.auth.forget_views();
            }
        }
        app.mail.queued(mails);
        Ok(())
    }
}
