//! Argon2id password hashing on a fixed pool of threads of its own, so a burst of logins never
//! stalls the async workers that serve other requests. The threads live as long as the hasher:
//! each keeps reusing the memory its hashes need (7 to 19 MiB apiece), where a thread borrowed
//! per hash from a growing pool would leave a copy of it behind in every thread's allocator.
//!
//! The work waiting for those threads is bounded (`argon2.queue`): past it, a hash or a check is
//! refused at once with [`ApiError::HashingBusy`] (503 with `Retry-After`). Waiting in an endless
//! queue only makes every login slower than its client's patience, while the threads keep the
//! cores busy with hashes whose answers nobody reads any more; refused at once, the client
//! retries when the burst is over, and the rest of the service keeps its share of the cores.

use std::sync::{mpsc, Arc, Mutex};

use argon2::password_hash::{
    Output, ParamsString, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Argon2Settings;
use crate::domain::SecretString;
use crate::error::ApiError;
use crate::metrics::HashCounts;

/// Jobs that may wait for a hashing thread, per thread, unless `argon2.queue` says otherwise:
/// a login waits at most about this many hash durations before its own hash starts.
pub const QUEUE_PER_THREAD: usize = 8;

/// A piece of hashing work, lent the running thread's Argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// Work for the hashing threads; they stop when the last clone of this is dropped.
    jobs: mpsc::Sender<Job>,
    /// One permit per job running or waiting: the threads, then the queue. A job holds its
    /// permit until it has run, whether or not its caller still waits for it.
    slots: Arc<Semaphore>,
    /// Verified against when the user does not exist or has no password, so that "no such
    /// user" costs as much time as "wrong password".
    dummy_hash: Arc<str>,
    /// Argon2 runs since start, published in the metrics: the CPU spent on passwords.
    pub counts: HashCounts,
}

/// A place taken among the hashing jobs ([`PasswordHasher::place`]); given up when dropped.
pub struct Place(OwnedSemaphorePermit);

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Mismatch,
    /// The password is right; `rehash` when the stored hash uses other parameters than now.
    Match {
        rehash: bool,
    },
}

impl PasswordHasher {
    pub fn new(settings: &Argon2Settings) -> Result<Self, String> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| format!("Argon2 parameters: {e}"))?;
        let threads = if settings.threads == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            settings.threads
        };
        let threads = threads.max(1);
        let queue = settings.queue.unwrap_or(QUEUE_PER_THREAD * threads);
        let dummy_hash = hash_now(&params, "dummy password, never matched")
            .map_err(|e| format!("Argon2: {e}"))?;
        // Unbounded as a channel, bounded by `slots`.
        let (jobs, waiting) = mpsc::channel::<Job>();
        let waiting = Arc::new(Mutex::new(waiting));
        for n in 0..threads {
            let queue = waiting.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    yield_to_requests();
                    // Allocated once, reused by every hash this thread runs.
                    let mut memory: Vec<Block> = Vec::new();
                    loop {
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A panicking hash must not take its thread with it.
                            Ok(job) => {
                                let run = std::panic::AssertUnwindSafe(|| job(&mut memory));
                                let _ = std::panic::catch_unwind(run);
                            }
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| format!("Argon2 threads: {e}"))?;
        }
        Ok(Self {
            params,
            jobs,
            slots: Arc::new(Semaphore::new(
                threads.saturating_add(queue).min(Semaphore::MAX_PERMITS),
            )),
            dummy_hash: dummy_hash.into(),
            counts: HashCounts::default(),
        })
    }

    /// Argon2id of `password` with a new salt; [`ApiError::HashingBusy`] at once when the
    /// queue is full.
    pub async fn hash(&self, password: &SecretString) -> Result<String, ApiError> {
        let slot = self.slot()?;
        let params = self.params.clone();
        let password = password.clone();
        self.counts.hashes.inc();
        self.run(slot, move |memory| {
            hash_with(&params, password.expose(), memory).map_err(ApiError::internal)
        })
        .await?
    }

    /// Checks `candidate` against `stored`, or against a dummy hash when there is none;
    /// [`ApiError::HashingBusy`] at once when the queue is full. Both kinds wait in the same
    /// queue and are refused alike, so neither the time nor the refusal tells who exists.
    pub async fn verify(
        &self,
        stored: Option<&str>,
        candidate: &SecretString,
    ) -> Result<Verdict, ApiError> {
        let place = self.place()?;
        self.verify_in(place, stored, candidate).await
    }

    /// A place among the jobs running or waiting, taken before the work that leads to a check
    /// (reading the user, counting the attempt), so that a request refused for want of one has
    /// done nothing yet and costs nothing; [`ApiError::HashingBusy`] when there is none.
    pub fn place(&self) -> Result<Place, ApiError> {
        self.slot().map(Place)
    }

    /// [`PasswordHasher::verify`] in a place taken before.
    pub async fn verify_in(
        &self,
        Place(slot): Place,
        stored: Option<&str>,
        candidate: &SecretString,
    ) -> Result<Verdict, ApiError> {
        let real = stored.is_some();
        let stored: String = stored.unwrap_or(&self.dummy_hash).to_string();
        let candidate = candidate.clone();
        let params = self.params.clone();
        self.counts.verifications.inc();
        let verdict = self
            .run(slot, move |memory| {
                let Ok(parsed) = PasswordHash::new(&stored) else {
                    return Verdict::Mismatch;
                };
                if !verify_with(&parsed, candidate.expose(), memory) {
                    return Verdict::Mismatch;
                }
                Verdict::Match {
                    rehash: !uses(&parsed, &params),
                }
            })
            .await?;
        Ok(if real { verdict } else { Verdict::Mismatch })
    }

    /// A place among the jobs running or waiting, or the refusal when there is none.
    fn slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            self.counts.shed.inc();
            ApiError::HashingBusy
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        slot: OwnedSemaphorePermit,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |memory: &mut Vec<Block>| {
                let out = f(memory);
                // Freed once the hash has run (a caller who hung up does not shorten it), and
                // before the answer, so that its caller's next hash finds the place free.
                drop(slot);
                let _ = done.send(out);
            }))
            .map_err(|_| ApiError::internal("the hashing threads have stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::internal("a hashing thread failed"))
    }
}

/// How much less the hashing threads weigh with the scheduler than the threads that serve
/// requests (and the database beside them): a nice value, 0 to 19.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const HASHING_NICENESS: libc::c_int = 10;

/// Lowers the calling thread's scheduling weight. When logins keep every core busy with
/// Argon2, the scheduler still gives the request workers their turn first, so reads and
/// refreshes keep their latency; with nothing else to run, the hashes get all the CPU anyway.
/// Where the system refuses, hashing runs at the normal weight, as before.
fn yield_to_requests() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread, with no memory passed.
        let refused = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, HASHING_NICENESS)
        };
        if refused != 0 {
            tracing::debug!("the hashing threads keep the normal scheduling weight");
        }
    }
}

/// Argon2id of `password` with a new salt, as a PHC string, computed in `memory`.
fn hash_with(
    params: &Params,
    password: &str,
    memory: &mut Vec<Block>,
) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let mut out = [0u8; 32];
    fit(memory, params.block_count());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt_bytes,
            &mut out,
            &mut memory[..],
        )?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out)?),
    };
    Ok(hash.to_string())
}

/// Whether `candidate` hashes to `stored`, computed in `memory` (compared in constant time).
/// Hashes of other Argon2 variants are checked by the library, which allocates its own memory.
fn verify_with(stored: &PasswordHash<'_>, candidate: &str, memory: &mut Vec<Block>) -> bool {
    let (Some(salt), Some(expected), Ok(params)) =
        (stored.salt, stored.hash, Params::try_from(stored))
    else {
        return false;
    };
    if stored.algorithm != Algorithm::Argon2id.ident()
        || stored.version != Some(Version::V0x13.into())
    {
        return Argon2::default()
            .verify_password(candidate.as_bytes(), stored)
            .is_ok();
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    fit(memory, params.block_count());
    let computed = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            candidate.as_bytes(),
            salt_bytes,
            &mut out,
            &mut memory[..],
        );
    computed.is_ok() && Output::new(&out).is_ok_and(|o| o == expected)
}

/// Grows a thread's Argon2 memory to at least `blocks` (never shrinks: the cost only rises).
fn fit(memory: &mut Vec<Block>, blocks: usize) {
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
}

fn hash_now(params: &Params, password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
}

/// Whether a stored hash is Argon2id with exactly the current cost.
fn uses(hash: &PasswordHash<'_>, params: &Params) -> bool {
    let Ok(theirs) = Params::try_from(hash) else {
        return false;
    };
    hash.algorithm == Algorithm::Argon2id.ident()
        && hash.version == Some(Version::V0x13.into())
        && theirs.m_cost() == params.m_cost()
        && theirs.t_cost() == params.t_cost()
        && theirs.p_cost() == params.p_cost()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap(m: u32) -> PasswordHasher {
        PasswordHasher::new(&Argon2Settings {
            memory_kib: m,
            iterations: 1,
            parallelism: 1,
            threads: 1,
            queue: None,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn verifies_and_asks_for_a_rehash_when_the_cost_changed() {
        let old = cheap(64);
        let pw = SecretString::new("correct horse battery");
        let hash = old.hash(&pw).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert_eq!(
            old.verify(Some(&hash), &pw).await.unwrap(),
            Verdict::Match { rehash: false }
        );
        let new = cheap(128);
        assert_eq!(
            new.verify(Some(&hash), &pw).await.unwrap(),
            Verdict::Match { rehash: true }
        );
        let wrong = SecretString::new("wrong horse battery");
        assert_eq!(
            new.verify(Some(&hash), &wrong).await.unwrap(),
            Verdict::Mismatch
        );
        assert_eq!(new.verify(None, &pw).await.unwrap(), Verdict::Mismatch);
        assert_eq!(old.counts.hashes.get(), 1);
        assert_eq!(new.counts.verifications.get(), 3);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_takes_work_again_once_drained() {
        let hasher = PasswordHasher::new(&Argon2Settings {
            memory_kib: 8192,
            iterations: 4,
            parallelism: 1,
            threads: 1,
            queue: Some(1),
        })
        .unwrap();
        let pw = SecretString::new("correct horse battery");
        let (a, b) = (hasher.clone(), hasher.clone());
        let (pa, pb) = (pw.clone(), pw.clone());
        let running = tokio::spawn(async move { a.hash(&pa).await });
        let waiting = tokio::spawn(async move { b.verify(None, &pb).await });
        // Until both have taken their places (one running, one waiting), nothing is refused.
        while hasher.slots.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            hasher.verify(None, &pw).await,
            Err(ApiError::HashingBusy)
        ));
        assert!(matches!(hasher.hash(&pw).await, Err(ApiError::HashingBusy)));
        assert_eq!(hasher.counts.shed.get(), 2);
        assert!(running.await.unwrap().is_ok());
        assert_eq!(waiting.await.unwrap().unwrap(), Verdict::Mismatch);
        assert!(hasher.hash(&pw).await.is_ok());
    }
}
