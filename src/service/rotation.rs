//! Refresh-token rotation, written in batches.
//!
//! A rotation is a tiny write (mark one token used, insert two), and what it costs is not the
//! rows but the transaction around them: a commit (on SQLite an fsync, on one writer
//! connection) and the statements' round trips. So rotations that arrive while one is being
//! written wait for it and are then written together: one transaction, one `UPDATE` consuming
//! all their tokens, one `INSERT` of all the new pairs, one commit. Alone, a rotation is written
//! at once, as before; under load, the cost of a commit is shared (group commit). Each caller
//! gets its answer only after the commit, so nothing is acknowledged that could be lost.
//!
//! A batch that fails (a deadlock abort, a full disk) is retried one rotation per transaction,
//! so one rotation's trouble is never another's answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::clock::SharedClock;
use crate::config::TokenSettings;
use crate::domain::SecretString;
use crate::error::ApiError;
use crate::origin::Origin;
use crate::security::secrets::{self, TokenKind};
use crate::service::token_pairs::{pair_rows, Lineage};
use crate::store::{self, Store};

/// The most rotations written in one transaction (the `INSERT` binds 26 values per rotation).
pub const MAX_BATCH: usize = 256;

/// The new pair, and what it carried over from the consumed token.
pub struct Rotated {
    pub user_id: String,
    pub organization_id: String,
    pub bound: bool,
    /// The pair may only enrol a second factor in its organization.
    pub enrol_only: bool,
    pub access: SecretString,
    pub refresh: SecretString,
}

/// A rotation asked for: the presented refresh token, from which its successors are derived.
struct Job {
    secret: SecretString,
    /// The digest of `secret`.
    used: String,
    /// Where the request came from, for its audit event (written by another task).
    origin: Origin,
    reply: oneshot::Sender<Result<Option<Rotated>, ApiError>>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Whether a task is writing batches now (and will take what is queued when done).
    draining: bool,
}

#[derive(Clone)]
pub struct Rotations {
    queue: Arc<Mutex<Queue>>,
    store: Store,
    clock: SharedClock,
    tokens: TokenSettings,
}

impl Rotations {
    pub fn new(store: Store, clock: SharedClock, tokens: TokenSettings) -> Self {
        Self {
            queue: Arc::default(),
            store,
            clock,
            tokens,
        }
    }

    /// Consumes the refresh token `secret` if it is live and its user may still log in there,
    /// and stores its successors in its family; `None` if the token was not consumed (the
    /// caller finds out why). Answers once committed.
    pub async fn rotate(&self, secret: &SecretString) -> Result<Option<Rotated>, ApiError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            used: secrets::digest(secret.expose()),
            secret: secret.clone(),
            origin: crate::origin::current(),
            reply,
        };
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.jobs.push(job);
            !std::mem::replace(&mut queue.draining, true)
        };
        if start {
            // A task of its own, not this request's future: a caller who hangs up must not
            // take the batch of the others down with him.
            let this = self.clone();
            tokio::spawn(async move { this.drain().await });
        }
        answer
            .await
            .map_err(|_| ApiError::Internal("the rotation was dropped unanswered".into()))?
    }

    /// Writes batches until nothing is queued.
    async fn drain(self) {
        // Should this task ever end early (a panic), the next rotation starts another one
        // instead of queueing behind a writer that is gone.
        struct Drainer {
            queue: Arc<Mutex<Queue>>,
            done: bool,
        }
        impl Drop for Drainer {
            fn drop(&mut self) {
                if !self.done {
                    self.queue
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .draining = false;
                }
            }
        }
        let mut drainer = Drainer {
            queue: self.queue.clone(),
            done: false,
        };
        loop {
            let batch: Vec<Job> = {
                let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                if queue.jobs.is_empty() {
                    // Under the lock: a rotation queued after this starts a new task.
                    queue.draining = false;
                    drainer.done = true;
                    return;
                }
                let take = queue.jobs.len().min(MAX_BATCH);
                queue.jobs.drain(..take).collect()
            };
            match self.write(&batch).await {
                Ok(outcomes) => reply_all(batch, outcomes.into_iter().map(Ok)),
                Err(e) if batch.len() == 1 => reply_all(batch, [Err(e.into())]),
                Err(_) => {
                    for job in batch {
                        let outcome = match self.write(std::slice::from_ref(&job)).await {
                            Ok(mut one) => Ok(one.pop().flatten()),
                            Err(e) => Err(e.into()),
                        };
                        let _ = job.reply.send(outcome);
                    }
                }
            }
        }
    }

    /// One transaction for the whole batch; answers each job's outcome, in order.
    async fn write(&self, jobs: &[Job]) -> Result<Vec<Option<Rotated>>, sqlx::Error> {
        let now = self.clock.now();
        let digests: Vec<&str> = jobs.iter().map(|j| j.used.as_str()).collect();
        let origins: Vec<Origin> = jobs.iter().map(|j| j.origin.clone()).collect();
        let mut outcomes = Vec::with_capacity(jobs.len());
        let idle_since = self.tokens.session_idle_since(now);
        store::tokens::rotate_batch(
            &self.store,
            &digests,
            &origins,
            now,
            idle_since,
            |consumed| {
                let mut consumed: HashMap<String, store::tokens::Consumed> = consumed
                    .into_iter()
                    .map(|c| (c.digest.clone(), c))
                    .collect();
                let mut rows = Vec::with_capacity(jobs.len() * 2);
                for job in jobs {
                    // The same token twice in a batch: the first job has it; the second finds it
                    // spent once this commits, and is answered as a repeat.
                    let Some(used) = consumed.remove(&job.used) else {
                        outcomes.push(None);
                        continue;
                    };
                    let lineage = Lineage {
                        family: used.family_id.as_deref().unwrap_or(&used.id),
                        bound: used.bound,
                    };
                    let (access, refresh) = match &used.successor_salt {
                        Some(salt) => secrets::successors(job.secret.expose(), salt),
                        // Issued before successors were derived: its repeat cannot be answered.
                        None => (
                            secrets::new_token(TokenKind::Access),
                            secrets::new_token(TokenKind::Refresh),
                        ),
                    };
                    rows.extend(pair_rows(
                        &self.tokens,
                        &used.user_id,
                        &used.organization_id,
                        lineage,
                        [&access.digest, &refresh.digest],
                        now,
                    ));
                    outcomes.push(Some(Rotated {
                        user_id: used.user_id,
                        organization_id: used.organization_id,
                        bound: used.bound,
                        enrol_only: used.enrol_only,
                        access: access.secret,
                        refresh: refresh.secret,
                    }));
                }
                rows
            },
        )
        .await?;
        Ok(outcomes)
    }
}

fn reply_all(
    jobs: Vec<Job>,
    outcomes: impl IntoIterator<Item = Result<Option<Rotated>, ApiError>>,
) {
    for (job, outcome) in jobs.into_iter().zip(outcomes) {
        // A caller who hung up no longer waits; his rotation stands, like any committed write.
        let _ = job.reply.send(outcome);
    }
}
