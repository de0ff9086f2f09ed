//! The two ceilings each scenario is compared with, measured in the same run on the same cores:
//! how many Argon2id verifications the cores do with nothing else in the way (the limit of
//! password logins), and an empty handler behind the same HTTP stack (the limit of any request).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use axum::http::header;
use axum::routing::get;
use axum::Router;

/// Verifications per second of `hash` on `threads` threads for `seconds`.
pub fn argon2_verify_rate(hash: &str, password: &str, threads: usize, seconds: f64) -> f64 {
    let parsed = PasswordHash::new(hash).expect("the seed hash is a PHC string");
    let count = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let ok = Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok();
                    assert!(ok, "the seed hash verifies its own password");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
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
