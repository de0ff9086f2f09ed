//! The two ceilings each scenario is compared with, measured in the same run on the same cores:
//! how many Argon2id verifications the cores do with nothing else in the way (the limit of
//! password logins), and an empty handler behind the same HTTP stack (the limit of any request).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use axum::http::header;
use axum::routing::get;
use axum::Router;

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
