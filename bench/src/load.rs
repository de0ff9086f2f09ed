//! The load generator: one tokio task per virtual user, each looping over its step on a shared
//! keep-alive HTTP client until the time is up, timing every step into a latency histogram.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};

use crate::server::cpu_seconds;

/// How long a scenario runs: a warm-up whose steps are not counted, then the measured window.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub warmup: Duration,
    pub measure: Duration,
}

/// What one scenario measured.
pub struct Outcome {
    /// Steps completed in the measured window.
    pub requests: u64,
    /// Failed steps, warm-up included: any failure makes the run suspect.
    pub errors: u64,
    /// A few of the failures, to say what went wrong.
    pub error_samples: Vec<String>,
    pub seconds: f64,
    /// CPU time the server process used over the measured window.
    pub server_cpu_seconds: Option<f64>,
    /// Microseconds.
    pub latency: Histogram<u64>,
}

impl Outcome {
    pub fn throughput(&self) -> f64 {
        if self.seconds > 0.0 {
            self.requests as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The latency at quantile `q` (0..=1), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// Steps per second of server CPU time: what one fully busy core of the server would serve.
    pub fn per_server_cpu_second(&self) -> Option<f64> {
        self.server_cpu_seconds
            .filter(|&c| c > 0.0)
            .map(|c| self.requests as f64 / c)
    }

    pub fn max_ms(&self) -> f64 {
        self.latency.max() as f64 / 1000.0
    }

    /// Two measurements of the same thing as one.
    pub fn merge(mut self, other: Outcome) -> Outcome {
        self.latency
            .add(&other.latency)
            .expect("histograms of the same bounds");
        self.requests += other.requests;
        self.errors += other.errors;
        self.error_samples.extend(other.error_samples);
        self.error_samples.truncate(5);
        self.seconds += other.seconds;
        self.server_cpu_seconds = self
            .server_cpu_seconds
            .zip(other.server_cpu_seconds)
            .map(|(a, b)| a + b);
        self
    }
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 60 s at 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Runs `step` over every virtual user until the window closes; gives the users back, in order,
/// with whatever state their steps left them in (rotated tokens, for instance).
pub async fn drive<V, F, Fut>(
    label: &str,
    window: Window,
    server_pid: u32,
    users: Vec<V>,
    step: F,
) -> (Outcome, Vec<V>)
where
    V: Send + 'static,
    F: Fn(V) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (V, Result<(), String>)> + Send + 'static,
{
    let step = Arc::new(step);
    let (mut outcomes, users) = drive_kinds(label, window, server_pid, users, 1, move |v| {
        let step = step.clone();
        async move {
            let (v, result) = step(v).await;
            (v, 0, result)
        }
    })
    .await;
    (outcomes.remove(0), users)
}

/// Like [`drive`], for steps of `kinds` kinds (a read, a refresh…), each step saying its kind:
/// one outcome per kind, each with its own latencies, over the same window and server CPU time.
pub async fn drive_kinds<V, F, Fut>(
    label: &str,
    window: Window,
    server_pid: u32,
    users: Vec<V>,
    kinds: usize,
    step: F,
) -> (Vec<Outcome>, Vec<V>)
where
    V: Send + 'static,
    F: Fn(V) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (V, usize, Result<(), String>)> + Send + 'static,
{
    let step = Arc::new(step);
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let measure_from = start + window.warmup;
    let until = measure_from + window.measure;

    let bar = ProgressBar::new((window.warmup + window.measure).as_millis() as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>28} [{bar:30}] {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    let ticker = {
        let bar = bar.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                let now = Instant::now();
                bar.set_position(now.duration_since(start).as_millis() as u64);
                if now < measure_from {
                    bar.set_message("warming up");
                } else {
                    let n = done.load(Ordering::Relaxed);
                    let secs = now.duration_since(measure_from).as_secs_f64().max(1e-3);
                    bar.set_message(format!("{n} requests, {:.0}/s", n as f64 / secs));
                }
            }
        })
    };

    // The server's CPU time over the measured window, from its start to the last answer.
    let cpu_at_start = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        cpu_seconds(server_pid)
    });

    let mut tasks = tokio::task::JoinSet::new();
    for (index, user) in users.into_iter().enumerate() {
        let step = step.clone();
        let done = done.clone();
        tasks.spawn(async move {
            let mut user = user;
            let mut latency: Vec<Histogram<u64>> = (0..kinds).map(|_| histogram()).collect();
            let mut errors = vec![0u64; kinds];
            let mut samples = Vec::new();
            loop {
                let began = Instant::now();
                if began >= until {
                    break;
                }
                let (next, kind, result) = step(user).await;
                user = next;
                let kind = kind.min(kinds - 1);
                if let Err(e) = result {
                    errors[kind] += 1;
                    if samples.len() < 3 {
                        samples.push((kind, e));
                    }
                }
                if began >= measure_from {
                    latency[kind].saturating_record((began.elapsed().as_micros() as u64).max(1));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            (index, user, latency, errors, samples)
        });
    }

    let mut latency: Vec<Histogram<u64>> = (0..kinds).map(|_| histogram()).collect();
    let mut errors = vec![0u64; kinds];
    let mut error_samples: Vec<Vec<String>> = vec![Vec::new(); kinds];
    let mut back = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (index, user, h, e, samples) = joined.expect("a virtual user panicked");
        for kind in 0..kinds {
            latency[kind]
                .add(&h[kind])
                .expect("histograms of the same bounds");
            errors[kind] += e[kind];
        }
        for (kind, sample) in samples {
            error_samples[kind].push(sample);
        }
        back.push((index, user));
    }
    let seconds = Instant::now()
        .saturating_duration_since(measure_from)
        .as_secs_f64();
    let server_cpu_seconds = match (cpu_at_start.await.ok().flatten(), cpu_seconds(server_pid)) {
        (Some(start), Some(end)) => Some(end - start),
        _ => None,
    };
    ticker.abort();
    bar.finish_and_clear();
    back.sort_by_key(|(i, _)| *i);
    let outcomes = latency
        .into_iter()
        .zip(errors)
        .zip(error_samples)
        .map(|((latency, errors), mut error_samples)| {
            error_samples.truncate(5);
            Outcome {
                requests: latency.len(),
                errors,
                error_samples,
                seconds,
                server_cpu_seconds,
                latency,
            }
        })
        .collect();
    (outcomes, back.into_iter().map(|(_, u)| u).collect())
}

/// Several outcomes of one window as one: their requests and latencies together.
pub fn combined(outcomes: &[Outcome]) -> Outcome {
    let mut all = Outcome {
        requests: 0,
        errors: 0,
        error_samples: Vec::new(),
        seconds: outcomes.first().map_or(0.0, |o| o.seconds),
        server_cpu_seconds: outcomes.first().and_then(|o| o.server_cpu_seconds),
        latency: histogram(),
    };
    for o in outcomes {
        all.latency
            .add(&o.latency)
            .expect("histograms of the same bounds");
        all.errors += o.errors;
        all.error_samples.extend(o.error_samples.iter().cloned());
    }
    all.requests = all.latency.len();
    all.error_samples.truncate(5);
    all
}
