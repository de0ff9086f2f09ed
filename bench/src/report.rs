//! The results: one JSON document for machines and one Markdown table for people.

use std::fmt::Write as _;

use serde::Serialize;

use crate::load::Outcome;

/// Keycloak's published sizing (Keycloak documentation, "Concepts for sizing CPU and memory
/// resources"): what one vCPU serves, and the memory of a Pod at rest.
pub const KEYCLOAK_LOGINS_PER_VCPU: f64 = 15.0;
pub const KEYCLOAK_REFRESHES_PER_VCPU: f64 = 120.0;
pub const KEYCLOAK_BASE_MEMORY_MB: f64 = 1250.0;

pub const RSS_TARGET_MB: f64 = 100.0;

#[derive(Serialize)]
pub struct Report {
    pub tool: String,
    pub started: String,
    /// `full` or `quick` (a smoke run: tiny seed, cheap Argon2, one-second scenarios).
    pub mode: String,
    pub store: String,
    pub machine: Machine,
    pub server: ServerFacts,
    pub seed: SeedFacts,
    pub baselines: Baselines,
    pub scenarios: Vec<Scenario>,
    pub keycloak: Keycloak,
    /// Failed requests over the whole run: must be 0 for the figures to mean anything.
    pub errors: u64,
}

#[derive(Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub memory_gib: f64,
    pub kernel: String,
}

impl Machine {
    pub fn this() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        Self {
            cores: cores(),
            cpu,
            memory_gib: round(memory_kib / 1024.0 / 1024.0, 1),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
        }
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[derive(Serialize)]
pub struct ServerFacts {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Settings given with `--set`, beyond the defaults.
    pub settings: Vec<String>,
    /// Resident memory once started and bootstrapped, before any load.
    pub idle_rss_mb: f64,
    /// The highest resident memory sampled during the scenarios.
    pub peak_rss_mb: f64,
    /// The kernel's high-water mark (VmHWM) at the end of the run.
    pub high_water_mb: f64,
    pub rss_target_mb: f64,
    pub rss_target_met: bool,
}

#[derive(Serialize)]
pub struct SeedFacts {
    pub users: u64,
    pub seconds: f64,
    pub users_per_s: f64,
    pub method: String,
}

#[derive(Serialize)]
pub struct Baselines {
    pub argon2_threads: usize,
    pub argon2_verify_per_s: f64,
    pub argon2_verify_per_s_per_core: f64,
    /// Per second of CPU time the hashing threads got.
    pub argon2_verify_per_cpu_s: f64,
    /// The two halves, measured right before and right after the password logins.
    pub argon2_verify_per_s_before_after: [f64; 2],
    /// The two halves, measured right before the refreshes and right after the reads.
    pub empty_handler_per_s_before_after: [f64; 2],
    /// Refreshes per second of the store's own refresh statements in a bare loop (the server's
    /// `rotate_batch`, no HTTP), in batches of one refresh token per connection of the refresh
    /// scenario: the ceiling of refresh grants.
    pub rotate_batch_per_s: f64,
    /// The two halves, measured right before and right after the refresh grants.
    pub rotate_batch_per_s_before_after: [f64; 2],
    /// Per second of the benchmark process's CPU time over the loop.
    pub rotate_batch_per_cpu_s: Option<f64>,
    /// Refresh tokens rotated per batch.
    pub rotate_batch_size: usize,
    /// Both halves together.
    pub empty_handler: Scenario,
}

#[derive(Serialize)]
pub struct Keycloak {
    pub logins_per_s_per_vcpu: f64,
    pub refreshes_per_s_per_vcpu: f64,
    pub base_memory_mb: f64,
    pub source: String,
}

impl Default for Keycloak {
    fn default() -> Self {
        Self {
            logins_per_s_per_vcpu: KEYCLOAK_LOGINS_PER_VCPU,
            refreshes_per_s_per_vcpu: KEYCLOAK_REFRESHES_PER_VCPU,
            base_memory_mb: KEYCLOAK_BASE_MEMORY_MB,
            source: "Keycloak documentation, Concepts for sizing CPU and memory resources".into(),
        }
    }
}

/// One scenario's figures. Every field is always present; the figures are null when the
/// scenario could not run (`available: false`, e.g. an endpoint answering 501).
#[derive(Serialize, Clone)]
pub struct Scenario {
    pub key: String,
    pub name: String,
    pub available: bool,
    pub note: Option<String>,
    pub concurrency: usize,
    pub seconds: Option<f64>,
    pub requests: Option<u64>,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub throughput_per_s: Option<f64>,
    /// Throughput divided by the machine's cores (client and server share them).
    pub per_core_per_s: Option<f64>,
    /// CPU time the server process used in the measured window.
    pub server_cpu_seconds: Option<f64>,
    /// Requests per second of server CPU time: what one fully busy core of the server serves,
    /// the figure comparable with "per vCPU" sizing, and steady whoever else shares the machine.
    pub per_server_cpu_s: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub peak_rss_mb: Option<f64>,
    pub baseline: Option<String>,
    pub baseline_per_s: Option<f64>,
    /// Throughput over the baseline's.
    pub ratio: Option<f64>,
    /// Requests per server CPU-second over the baseline's per CPU-second.
    pub cpu_ratio: Option<f64>,
    pub keycloak_per_core: Option<f64>,
    pub target: Option<String>,
    pub target_met: Option<bool>,
    /// Logins refused at once (503) because the server's hashing queue was full, in the
    /// measured window (the login scenarios only).
    pub shed: Option<u64>,
    /// The mixes: figures by kind of request.
    pub mix: Option<Mix>,
}

/// Reads and refreshes of a mix, each on its own, with or without logins beside them.
#[derive(Serialize, Clone)]
pub struct Mix {
    pub reads_per_s: f64,
    pub reads_p99_ms: f64,
    pub refreshes_per_s: f64,
    pub refreshes_p99_ms: f64,
    /// Connections logging in beside the mix, as fast as answered (0: none).
    pub login_connections: usize,
    pub logins_per_s: Option<f64>,
    pub logins_p99_ms: Option<f64>,
    /// Logins refused at once (503) in the window.
    pub logins_shed: Option<u64>,
    /// The same mix without logins, run right before, and the p99s over its.
    pub reads_p99_without_logins_ms: Option<f64>,
    pub refreshes_p99_without_logins_ms: Option<f64>,
    pub reads_p99_ratio: Option<f64>,
    pub refreshes_p99_ratio: Option<f64>,
}

impl Mix {
    pub fn of(reads: &Outcome, refreshes: &Outcome) -> Self {
        Self {
            reads_per_s: round(reads.throughput(), 1),
            reads_p99_ms: round(reads.quantile_ms(0.99), 3),
            refreshes_per_s: round(refreshes.throughput(), 1),
            refreshes_p99_ms: round(refreshes.quantile_ms(0.99), 3),
            login_connections: 0,
            logins_per_s: None,
            logins_p99_ms: None,
            logins_shed: None,
            reads_p99_without_logins_ms: None,
            refreshes_p99_without_logins_ms: None,
            reads_p99_ratio: None,
            refreshes_p99_ratio: None,
        }
    }

    /// With the logins that ran beside it, compared with the mix `quiet` measured without.
    pub fn beside(
        mut self,
        connections: usize,
        logins: &Outcome,
        shed: u64,
        quiet: Option<&Mix>,
    ) -> Self {
        self.login_connections = connections;
        self.logins_per_s = Some(round(logins.throughput(), 1));
        self.logins_p99_ms = Some(round(logins.quantile_ms(0.99), 3));
        self.logins_shed = Some(shed);
        if let Some(q) = quiet {
            self.reads_p99_without_logins_ms = Some(q.reads_p99_ms);
            self.refreshes_p99_without_logins_ms = Some(q.refreshes_p99_ms);
            let ratio = |with: f64, without: f64| (without > 0.0).then(|| round(with / without, 2));
            self.reads_p99_ratio = ratio(self.reads_p99_ms, q.reads_p99_ms);
            self.refreshes_p99_ratio = ratio(self.refreshes_p99_ms, q.refreshes_p99_ms);
        }
        self
    }
}

impl Scenario {
    pub fn measured(
        key: &str,
        name: &str,
        concurrency: usize,
        outcome: &Outcome,
        peak_rss_mb: f64,
    ) -> Self {
        let throughput = outcome.throughput();
        Self {
            key: key.into(),
            name: name.into(),
            available: true,
            note: None,
            concurrency,
            seconds: Some(round(outcome.seconds, 2)),
            requests: Some(outcome.requests),
            errors: outcome.errors,
            error_samples: outcome.error_samples.clone(),
            throughput_per_s: Some(round(throughput, 1)),
            per_core_per_s: Some(round(throughput / cores() as f64, 1)),
            server_cpu_seconds: outcome.server_cpu_seconds.map(|c| round(c, 2)),
            per_server_cpu_s: outcome.per_server_cpu_second().map(|r| round(r, 1)),
            p50_ms: Some(round(outcome.quantile_ms(0.5), 3)),
            p99_ms: Some(round(outcome.quantile_ms(0.99), 3)),
            max_ms: Some(round(outcome.max_ms(), 3)),
            peak_rss_mb: Some(round(peak_rss_mb, 1)),
            baseline: None,
            baseline_per_s: None,
            ratio: None,
            cpu_ratio: None,
            keycloak_per_core: None,
            target: None,
            target_met: None,
            shed: None,
            mix: None,
        }
    }

    pub fn unavailable(key: &str, name: &str, concurrency: usize, why: &str) -> Self {
        Self {
            key: key.into(),
            name: name.into(),
            available: false,
            note: Some(why.into()),
            concurrency,
            seconds: None,
            requests: None,
            errors: 0,
            error_samples: Vec::new(),
            throughput_per_s: None,
            per_core_per_s: None,
            server_cpu_seconds: None,
            per_server_cpu_s: None,
            p50_ms: None,
            p99_ms: None,
            max_ms: None,
            peak_rss_mb: None,
            baseline: None,
            baseline_per_s: None,
            ratio: None,
            cpu_ratio: None,
            keycloak_per_core: None,
            target: None,
            target_met: None,
            shed: None,
            mix: None,
        }
    }

    /// Sets the baseline this scenario is compared with (its throughput and its rate per
    /// CPU-second), and the ratios to it.
    pub fn against(mut self, name: &str, per_s: f64, per_cpu_s: Option<f64>) -> Self {
        self.baseline = Some(name.into());
        self.baseline_per_s = Some(round(per_s, 1));
        self.ratio = self
            .throughput_per_s
            .filter(|_| per_s > 0.0)
            .map(|t| round(t / per_s, 3));
        self.cpu_ratio = self
            .per_server_cpu_s
            .zip(per_cpu_s.filter(|&b| b > 0.0))
            .map(|(s, b)| round(s / b, 3));
        self
    }

    pub fn with_shed(mut self, shed: u64) -> Self {
        self.shed = Some(shed);
        self
    }

    pub fn with_mix(mut self, mix: Mix) -> Self {
        self.mix = Some(mix);
        self
    }

    pub fn keycloak(mut self, per_core: f64) -> Self {
        self.keycloak_per_core = Some(per_core);
        self
    }

    /// States the target and whether it was met (unknown while the scenario cannot run).
    pub fn target(mut self, text: &str, met: impl FnOnce(&Scenario) -> Option<bool>) -> Self {
        self.target_met = if self.available { met(&self) } else { None };
        self.target = Some(text.into());
        self
    }
}

pub fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) => format!("{v:.digits$}"),
        None => "—".into(),
    }
}

fn thousands(v: Option<f64>) -> String {
    let Some(v) = v else { return "—".into() };
    if v < 100.0 {
        return format!("{v:.1}");
    }
    let digits = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "—",
    }
}

/// The width of the terminal a run prints for.
const TERMINAL_COLUMNS: usize = 100;

/// A scenario's name in the terminal's narrower table: the Argon2 cost and the organization's
/// size in the full name are said above the table already.
fn short_name(sc: &Scenario) -> String {
    match sc.key.as_str() {
        "read_temporary" => "GET /users/mine, temporary".into(),
        "read_permanent" => "GET /users/mine, permanent".into(),
        "introspect" => "POST /oauth/introspect".into(),
        "mixed_quiet" => "Mix, no logins".into(),
        "mixed" => "Mix + logins".into(),
        _ => sc.name.split(" (").next().unwrap_or(&sc.name).into(),
    }
}

/// `text` with every line longer than `width` broken between words.
fn wrap(text: &str, width: usize) -> String {
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| {
            if line.chars().count() <= width {
                return line.to_string();
            }
            let mut out = String::new();
            let mut current = 0;
            for word in line.split(' ') {
                let len = word.chars().count();
                if current > 0 && current + 1 + len > width {
                    out.push('\n');
                    current = 0;
                } else if current > 0 {
                    out.push(' ');
                    current += 1;
                }
                out.push_str(word);
                current += len;
            }
            out
        })
        .collect();
    lines.join("\n")
}

/// The Markdown of the prose for a terminal: no emphasis, lines that fit.
fn plain(md: &str) -> String {
    wrap(&md.replace("**", ""), TERMINAL_COLUMNS)
}

impl Report {
    /// The table with every column, and the facts around it (the files in `target/bench/`).
    pub fn markdown(&self) -> String {
        let mut md = self.intro();
        md.push_str(
            "| Scenario | Conn. | Req/s | Per server CPU-s | Keycloak per vCPU | p50 ms | p99 ms \
             | max ms | Errors | Peak RSS MB | × baseline: throughput, per CPU-s | Target | Met |\n",
        );
        md.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|\n");
        for sc in &self.scenarios {
            let name = if sc.available {
                sc.name.clone()
            } else {
                format!(
                    "{} (not available: {})",
                    sc.name,
                    sc.note.as_deref().unwrap_or("")
                )
            };
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                sc.concurrency,
                thousands(sc.throughput_per_s),
                thousands(sc.per_server_cpu_s),
                sc.keycloak_per_core
                    .map(|k| format!("{k:.0}"))
                    .unwrap_or_else(|| "—".into()),
                num(sc.p50_ms, 2),
                num(sc.p99_ms, 2),
                num(sc.max_ms, 1),
                if sc.available {
                    sc.errors.to_string()
                } else {
                    "—".into()
                },
                num(sc.peak_rss_mb, 1),
                ratios(sc),
                sc.target.as_deref().unwrap_or("—"),
                verdict(sc.target_met),
            );
        }
        md.push_str(&self.mix_table());
        md.push_str(&self.closing());
        md
    }

    /// The mixes by kind of request in sentences, for a terminal.
    fn mix_lines(&self) -> String {
        let mut out = String::new();
        for sc in &self.scenarios {
            let Some(m) = &sc.mix else { continue };
            let times =
                |r: Option<f64>| r.map_or(String::new(), |r| format!(", {r:.2} × without logins"));
            let _ = write!(
                out,
                "\n{}: reads p99 {} ms{}; refreshes p99 {} ms{}",
                short_name(sc),
                num(Some(m.reads_p99_ms), 2),
                times(m.reads_p99_ratio),
                num(Some(m.refreshes_p99_ms), 2),
                times(m.refreshes_p99_ratio),
            );
            if let (Some(rate), Some(shed)) = (m.logins_per_s, m.logins_shed) {
                let _ = write!(out, "; logins {rate:.1}/s, {shed} refused at once (503)");
            }
            out.push_str(".\n");
        }
        out
    }

    /// The mixes by kind of request: how reads and refreshes fare while logins keep the hashing
    /// threads busy, beside the same mix without logins.
    fn mix_table(&self) -> String {
        let mixes: Vec<(&Scenario, &Mix)> = self
            .scenarios
            .iter()
            .filter_map(|s| s.mix.as_ref().map(|m| (s, m)))
            .collect();
        if mixes.is_empty() {
            return String::new();
        }
        let mut md = String::from(
            "\n| Mix | Login conn. | Reads/s | Reads p99 ms | × without logins | Refreshes/s \
             | Refreshes p99 ms | × without logins | Logins/s | Logins shed (503) |\n\
             |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
        );
        for (sc, m) in mixes {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                short_name(sc),
                m.login_connections,
                thousands(Some(m.reads_per_s)),
                num(Some(m.reads_p99_ms), 2),
                num(m.reads_p99_ratio, 2),
                thousands(Some(m.refreshes_per_s)),
                num(Some(m.refreshes_p99_ms), 2),
                num(m.refreshes_p99_ratio, 2),
                num(m.logins_per_s, 1),
                m.logins_shed.map_or("—".into(), |n| n.to_string()),
            );
        }
        md
    }

    /// What a run prints: the same facts for a terminal of about 100 columns, with the table's
    /// main columns; `full` names the Markdown file that has all of them.
    pub fn terminal(&self, full: &std::path::Path) -> String {
        let mut out = plain(&self.intro());
        let header = [
            "Scenario",
            "Conn.",
            "Req/s",
            "Per CPU-s",
            "p50 ms",
            "p99 ms",
            "RSS MB",
            "× baseline",
            "Met",
        ];
        let mut rows = vec![header.map(String::from)];
        for sc in &self.scenarios {
            rows.push([
                short_name(sc),
                sc.concurrency.to_string(),
                thousands(sc.throughput_per_s),
                thousands(sc.per_server_cpu_s),
                num(sc.p50_ms, 2),
                num(sc.p99_ms, 2),
                num(sc.peak_rss_mb, 1),
                ratios(sc).split(" of ").next().unwrap_or("—").to_string(),
                verdict(sc.target_met).replace("**", ""),
            ]);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(c, cell)| {
                    let pad = " ".repeat(widths[c] - cell.chars().count());
                    // Names and verdicts to the left, figures to the right.
                    if c == 0 || c == header.len() - 1 {
                        format!("{cell}{pad}")
                    } else {
                        format!("{pad}{cell}")
                    }
                })
                .collect();
            padded.join("  ").trim_end().to_string()
        };
        let _ = writeln!(out, "{}", line(&rows[0]));
        let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
        let _ = writeln!(out, "{}", line(&rule));
        for row in &rows[1..] {
            let _ = writeln!(out, "{}", line(row));
        }
        for sc in self.scenarios.iter().filter(|s| !s.available) {
            let _ = writeln!(
                out,
                "{}",
                plain(&format!(
                    "{}: not available: {}",
                    sc.name,
                    sc.note.as_deref().unwrap_or("")
                ))
            );
        }
        let _ = writeln!(
            out,
            "\n{}",
            plain(&format!(
                "Per CPU-s: requests per second of the server's CPU time. × baseline: throughput, \
                 then per CPU-second, over the baseline's (raw Argon2id for the logins, the bare \
                 rotate_batch loop for the refreshes, the empty handler for the rest). Every column, with the targets, Keycloak's figures and the \
                 errors: {}",
                full.display()
            ))
        );
        out.push_str(&plain(&self.mix_lines()));
        out.push_str(&plain(&self.closing()));
        out
    }

    /// The facts above the table, ending with an empty line.
    fn intro(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let s = &self.server;
        let b = &self.baselines;
        let _ = writeln!(
            md,
            "Store: **{}** · mode: {} · {} · {} cores ({}), {} GiB · seed: {} users in {:.1} s",
            self.store,
            self.mode,
            self.started,
            m.cores,
            m.cpu,
            m.memory_gib,
            thousands(Some(self.seed.users as f64)),
            self.seed.seconds
        );
        if self.mode == "quick" {
            let _ = writeln!(
                md,
                "\nA quick run is a smoke test (a small seed, a cheap Argon2id cost, about a second \
                 per scenario): its figures compare with nothing, neither with Keycloak's, nor \
                 with the targets, nor with full runs."
            );
        }
        if !s.settings.is_empty() {
            let _ = writeln!(
                md,
                "\nServer settings beyond the defaults: {}.",
                s.settings.join(", ")
            );
        }
        let _ = writeln!(
            md,
            "\nServer Argon2id: m={} KiB, t={}, p={}. Baselines, each the mean of a measurement \
             right before and one right after the scenarios compared with it: raw Argon2id \
             verify {} /s on {} threads ({} and {}; {} per CPU-second); empty axum handler {} /s \
             at {} connections ({} and {}; {} per CPU-second of its server; p99 {} ms).\n",
            s.argon2_memory_kib,
            s.argon2_iterations,
            s.argon2_parallelism,
            thousands(Some(b.argon2_verify_per_s)),
            b.argon2_threads,
            thousands(Some(b.argon2_verify_per_s_before_after[0])),
            thousands(Some(b.argon2_verify_per_s_before_after[1])),
            thousands(Some(b.argon2_verify_per_cpu_s)),
            thousands(b.empty_handler.throughput_per_s),
            b.empty_handler.concurrency,
            thousands(Some(b.empty_handler_per_s_before_after[0])),
            thousands(Some(b.empty_handler_per_s_before_after[1])),
            thousands(b.empty_handler.per_server_cpu_s),
            num(b.empty_handler.p99_ms, 2),
        );
        let _ = writeln!(
            md,
            "Refresh ceiling: the store's `rotate_batch` in a bare loop, {} refresh tokens a \
             batch, {} /s ({} and {}; {} per CPU-second of the loop).\n",
            b.rotate_batch_size,
            thousands(Some(b.rotate_batch_per_s)),
            thousands(Some(b.rotate_batch_per_s_before_after[0])),
            thousands(Some(b.rotate_batch_per_s_before_after[1])),
            thousands(b.rotate_batch_per_cpu_s),
        );
        md
    }

    /// The facts below the table, starting with an empty line.
    fn closing(&self) -> String {
        let mut md = String::new();
        let s = &self.server;
        let _ = writeln!(
            md,
            "\nServer memory: {:.1} MB at rest (Keycloak: {:.0} MB), peak {:.1} MB under load, \
             high-water mark {:.1} MB. Target under {:.0} MB: {}.",
            s.idle_rss_mb,
            self.keycloak.base_memory_mb,
            s.peak_rss_mb,
            s.high_water_mb,
            s.rss_target_mb,
            verdict(Some(s.rss_target_met)),
        );
        let _ = writeln!(
            md,
            "Errors over the run: {}.{}",
            self.errors,
            if self.errors == 0 {
                ""
            } else {
                " The figures of a run with errors are not valid."
            }
        );
        for sc in self
            .scenarios
            .iter()
            .filter(|s| !s.error_samples.is_empty())
        {
            let _ = writeln!(md, "\n{}: {}", sc.name, sc.error_samples.join("; "));
        }
        md
    }
}

/// Throughput and per CPU-second over the baseline's, and which baseline.
fn ratios(sc: &Scenario) -> String {
    match (&sc.ratio, &sc.baseline) {
        (Some(r), Some(b)) => format!(
            "{r:.2}, {} of {b}",
            sc.cpu_ratio
                .map(|c| format!("{c:.2}"))
                .unwrap_or_else(|| "—".into())
        ),
        _ => "—".into(),
    }
}
