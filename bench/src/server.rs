//! The processes under test: the real `bf-security` binary, or this binary's empty server,
//! started as children on a free loopback port, and their memory read from `/proc`.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A free port on the loopback interface (free a moment ago: the child binds it next).
pub fn free_loopback_addr() -> Result<SocketAddr, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free loopback port: {e}"))?;
    listener
        .local_addr()
        .map_err(|e| format!("no free loopback port: {e}"))
}

/// The `bf-security` binary beside this one. When cargo started us (`cargo run`), it is built
/// first in the same profile, so the figures are those of the current source, never of a stale
/// binary left from an earlier build. It is built as `cargo build` at the workspace root builds
/// it: with this package selected too, the crates both use get the same features, so this build
/// and the user's own find each other's work done.
pub fn server_binary() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("where am I: {e}"))?;
    let dir = me.parent().ok_or("this binary has no folder")?;
    if let (Some(cargo), Some(manifest_dir)) = (
        std::env::var_os("CARGO"),
        std::env::var_os("CARGO_MANIFEST_DIR"),
    ) {
        let mut build = Command::new(cargo);
        build
            .args([
                "build",
                "--quiet",
                "--package",
                "bf-security",
                "--package",
                env!("CARGO_PKG_NAME"),
                "--bin",
                "bf-security",
                "--manifest-path",
            ])
            .arg(Path::new(&manifest_dir).join("Cargo.toml"));
        match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => {}
            Some("release") => {
                build.arg("--release");
            }
            Some(profile) => {
                build.args(["--profile", profile]);
            }
            None => {}
        }
        if let Some(target_dir) = dir.parent() {
            build.arg("--target-dir").arg(target_dir);
        }
        // The variables `cargo run` set for this process describe this package, not the build
        // cargo is asked for now; build scripts track some of them (ring's CARGO_MANIFEST_DIR),
        // so a build that saw them would redo what the user's own `cargo build` did, and the
        // next `cargo build` would redo it again.
        for (key, _) in std::env::vars_os() {
            if set_by_cargo_run(&key.to_string_lossy()) {
                build.env_remove(key);
            }
        }
        let status = build
            .status()
            .map_err(|e| format!("cargo build --bin bf-security: {e}"))?;
        if !status.success() {
            return Err(format!("cargo build --bin bf-security: {status}"));
        }
    }
    let server = dir.join(format!("bf-security{}", std::env::consts::EXE_SUFFIX));
    if !server.is_file() {
        return Err(format!(
            "{} not found; build it first (cargo build --release)",
            server.display()
        ));
    }
    Ok(server)
}

/// Whether `cargo run` (or `cargo test`) sets the variable `key` for the program it runs: the
/// ones cargo documents as set for crates, none of the user's own settings (`CARGO_HOME`,
/// `CARGO_TARGET_DIR`, `CARGO_PROFILE_*`, `RUSTFLAGS`, ...), which the nested build must share.
fn set_by_cargo_run(key: &str) -> bool {
    matches!(
        key,
        "CARGO"
            | "CARGO_MANIFEST_DIR"
            | "CARGO_MANIFEST_PATH"
            | "CARGO_MANIFEST_LINKS"
            | "CARGO_CRATE_NAME"
            | "CARGO_BIN_NAME"
            | "CARGO_PRIMARY_PACKAGE"
            | "CARGO_TARGET_TMPDIR"
            | "CARGO_RUSTC_CURRENT_DIR"
            | "OUT_DIR"
    ) || key.starts_with("CARGO_PKG_")
}

/// A child process serving HTTP; killed when dropped.
pub struct Served {
    child: Child,
    pub base: String,
    log: PathBuf,
}

impl Served {
    /// Starts `program` with `args` and `env` (every inherited `BF_*` variable removed first),
    /// its output going to `log`, and waits until `ready_path` answers 200.
    pub async fn start(
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        addr: SocketAddr,
        ready_path: &str,
        log: PathBuf,
    ) -> Result<Self, String> {
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("BF_") {
                command.env_remove(key);
            }
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let child = command
            .spawn()
            .map_err(|e| format!("{}: {e}", program.display()))?;
        let mut served = Self {
            child,
            base: format!("http://{addr}"),
            log,
        };
        served.wait_ready(ready_path).await?;
        Ok(served)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self, path: &str) -> Result<(), String> {
        let http = reqwest::Client::new();
        let url = format!("{}{path}", self.base);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "the server exited ({status}) before it was ready:\n{}",
                    self.log_tail()
                ));
            }
            if let Ok(r) = http.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the server was not ready after 120 s:\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines the process wrote, to explain a failure.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Whether it is still running (a crash under load must not pass for slowness).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The CPU time (user and system) a process, or with `/proc/thread-self` the calling thread, has
/// used so far, in seconds.
pub fn cpu_seconds_at(stat_path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // The command name is in parentheses and may hold spaces: count fields after it.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // /proc reports clock ticks of USER_HZ, 100 per second on Linux.
    Some((utime + stime) / 100.0)
}

pub fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_seconds_at(&format!("/proc/{pid}/stat"))
}

/// Samples a process's resident memory every 20 ms and keeps the peak since the last reset.
pub struct RssWatch {
    pid: u32,
    peak_kib: Arc<AtomicU64>,
    sampler: tokio::task::JoinHandle<()>,
}

impl RssWatch {
    pub fn start(pid: u32) -> Self {
        let peak_kib = Arc::new(AtomicU64::new(0));
        let sampler = {
            let peak = peak_kib.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                loop {
                    tick.tick().await;
                    if let Some((rss, _)) = memory_kib(pid) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                }
            })
        };
        Self {
            pid,
            peak_kib,
            sampler,
        }
    }

    /// Starts a new peak from the current size.
    pub fn reset(&self) {
        let now = memory_kib(self.pid).map(|(rss, _)| rss).unwrap_or(0);
        self.peak_kib.store(now, Ordering::Relaxed);
    }

    pub fn peak_mb(&self) -> f64 {
        let last = memory_kib(self.pid).map(|(rss, _)| rss).unwrap_or(0);
        self.peak_kib.fetch_max(last, Ordering::Relaxed);
        mib(self.peak_kib.load(Ordering::Relaxed))
    }

    /// The kernel's own high-water mark since the process started.
    pub fn high_water_mb(&self) -> f64 {
        memory_kib(self.pid).map(|(_, hwm)| mib(hwm)).unwrap_or(0.0)
    }

    pub fn current_mb(&self) -> f64 {
        memory_kib(self.pid).map(|(rss, _)| mib(rss)).unwrap_or(0.0)
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.sampler.abort();
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
