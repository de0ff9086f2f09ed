//! The ceilings each scenario is compared with, measured in the same run on the same cores: how
//! many Argon2id verifications the cores do with nothing else in the way (the limit of password
//! logins), an empty handler behind the same HTTP stack (the limit of any request), and the
//! store's refresh statements in a bare loop (the limit of refresh grants).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use axum::http::header;
use axum::routing::get;
use axum::Router;

use bf_security::clock::{Clock, SystemClock};
use bf_security::config::TokenSettings;
use bf_security::domain::SecretString;
use bf_security::origin::Origin;
use bf_security::security::secrets;
use bf_security::service::rotation::MAX_BATCH;
use bf_security::service::token_pairs::{pair_rows, Lineage};
use bf_security::store::{self, Store};

use crate::server::cpu_seconds_at;

/// Verifications of `hash` on `threads` threads for `seconds`: the Argon2id work alone, each
/// thread reusing its own memory, so neither the allocator nor page faults count.
pub struct Argon2Rate {
    pub per_s: f64,
    /// Per second of CPU time the threads got: what one fully busy core does, whoever else
    /// shares the machine.
    pub per_cpu_s: f64,
}

pub fn argon2_verify_rate(hash: &str, password: &str, threads: usize, seconds: f64) -> Argon2Rate {
    let parsed = PasswordHash::new(hash).expect("the seed hash is a PHC string");
    let params = Params::try_from(&parsed).expect("Argon2 parameters in the seed hash");
    let mut salt_buf = [0u8; 64];
    let salt = parsed
        .salt
        .expect("a salt in the seed hash")
        .decode_b64(&mut salt_buf)
        .expect("a base64 salt");
    let expected = parsed.hash.expect("an output in the seed hash");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let count = AtomicU64::new(0);
    let cpu_micros = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let cpu_start = cpu_seconds_at("/proc/thread-self/stat");
                let mut memory = vec![Block::default(); params.block_count()];
                let mut out = vec![0u8; expected.len()];
                while !stop.load(Ordering::Relaxed) {
                    argon2
                        .hash_password_into_with_memory(
                            password.as_bytes(),
                            salt,
                            &mut out,
                            &mut memory,
                        )
                        .expect("Argon2id with the seed's parameters");
                    assert_eq!(out, expected.as_bytes(), "the seed hash verifies");
                    count.fetch_add(1, Ordering::Relaxed);
                }
                if let (Some(a), Some(b)) = (cpu_start, cpu_seconds_at("/proc/thread-self/stat")) {
                    cpu_micros.fetch_add(((b - a) * 1e6) as u64, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    let count = count.load(Ordering::Relaxed) as f64;
    let cpu = cpu_micros.load(Ordering::Relaxed) as f64 / 1e6;
    Argon2Rate {
        per_s: count / started.elapsed().as_secs_f64(),
        per_cpu_s: if cpu > 0.0 { count / cpu } else { 0.0 },
    }
}

/// Refreshes the store can write, measured with nothing but its own statements.
pub struct RotateRate {
    pub per_s: f64,
    /// Per second of CPU time of this process (for SQLite, the database's own work too).
    pub per_cpu_s: Option<f64>,
}

/// Rotates the refresh tokens `chains` (one per connection of the refresh scenario) for
/// `seconds` with exactly what the server runs for refresh grants, without HTTP: the store's
/// `rotate_batch` (consume the tokens, insert their successor pairs, commit), their successors
/// derived and their rows built as `service::rotation` does, in batches of all the chains (at
/// most its `MAX_BATCH`): the batch the server forms when every connection's refresh arrives
/// while the one before is written. Leaves each chain at its newest refresh token.
pub async fn rotate_batch_rate(
    store: &Store,
    tokens: &TokenSettings,
    chains: &mut [SecretString],
    seconds: f64,
) -> Result<RotateRate, String> {
    let clock = SystemClock;
    let cpu_start = cpu_seconds_at("/proc/self/stat");
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let mut rotated = 0u64;
    let origin = Origin::new(Some([127, 0, 0, 1].into()), Some("bf-bench"));
    while Instant::now() < until {
        for batch in chains.chunks_mut(MAX_BATCH) {
            let now = clock.now();
            let digests: Vec<String> = batch.iter().map(|s| secrets::digest(s.expose())).collect();
            let refs: Vec<&str> = digests.iter().map(String::as_str).collect();
            // Each rotation's audit event carries its request's origin, as the server's do.
            let origins = vec![origin.clone(); batch.len()];
            let mut next: Vec<Option<SecretString>> = Vec::new();
            store::tokens::rotate_batch(
                store,
                &refs,
                &origins,
                now,
                tokens.session_idle_since(now),
                |consumed| {
                    let mut consumed: std::collections::HashMap<_, _> = consumed
                        .into_iter()
                        .map(|c| (c.digest.clone(), c))
                        .collect();
                    let mut rows = Vec::with_capacity(batch.len() * 2);
                    for (secret, digest) in batch.iter().zip(&digests) {
                        let Some(used) = consumed.remove(digest) else {
                            next.push(None);
                            continue;
                        };
                        let salt = used.successor_salt.as_deref().unwrap_or_default();
                        let (access, refresh) = secrets::successors(secret.expose(), salt);
                        let lineage = Lineage {
                            family: used.family_id.as_deref().unwrap_or(&used.id),
                            bound: used.bound,
                        };
                        rows.extend(pair_rows(
                            tokens,
                            &used.user_id,
                            &used.organization_id,
                            lineage,
                            [&access.digest, &refresh.digest],
                            now,
                        ));
                        next.push(Some(refresh.secret));
                    }
                    rows
                },
            )
            .await
            .map_err(|e| format!("rotate_batch: {e}"))?;
            for (chain, new) in batch.iter_mut().zip(next) {
                *chain = new.ok_or("rotate_batch: a refresh token of a chain was not consumed")?;
                rotated += 1;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_start
        .zip(cpu_seconds_at("/proc/self/stat"))
        .map(|(a, b)| b - a)
        .filter(|&c| c > 0.0);
    Ok(RotateRate {
        per_s: rotated as f64 / elapsed,
        per_cpu_s: cpu.map(|c| rotated as f64 / c),
    })
}

/// The path the empty server answers, the same the authenticated-read scenarios call.
pub const EMPTY_PATH: &str = "/v1/users/mine";

/// Serves `EMPTY_PATH` with a constant tiny JSON body, on a runtime like the server's.
pub fn serve_empty(addr: SocketAddr) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bf-bench: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let router = Router::new().route(
            EMPTY_PATH,
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], "{}") }),
        );
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("bf-bench: cannot listen on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        match axum::serve(listener, router).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bf-bench: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
