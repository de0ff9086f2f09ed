//! `bf-bench`: measures the real `bf-security` server, started as a child process on a fresh
//! store, against two ceilings measured in the same run on the same cores, and writes the
//! results as a Markdown table and a JSON document (see BENCHMARKS.md).
//!
//!     cargo run --release -p bf-bench -- [--database-url postgres://…] [--quick] [--out DIR]

mod api;
mod baseline;
mod load;
mod report;
mod scenarios;
mod seed;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use time::format_description::well_known::Rfc3339;

use bf_security::config::{Argon2Settings, DatabaseSettings, Settings};
use bf_security::domain::SecretString;
use bf_security::security::PasswordHasher;
use bf_security::store::Store;

use api::Api;
use bf_security::service::rotation::MAX_BATCH;
use load::Window;
use report::{Mix, Report, Scenario};
use scenarios::Credential;
use server::{RssWatch, Served};

#[derive(Parser)]
#[command(
    name = "bf-bench",
    about = "Benchmarks bf-security against the raw Argon2id rate and an empty handler"
)]
struct Cli {
    /// Run on this PostgreSQL (in a fresh schema, dropped at the end) instead of a temporary
    /// SQLite file.
    #[arg(long)]
    database_url: Option<String>,
    /// A smoke run: 2,000 users, a cheap Argon2 cost, about a second per scenario.
    #[arg(long)]
    quick: bool,
    /// Where the Markdown table and the JSON document go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Users in the seeded organization (default 1,000,000; 2,000 with --quick).
    #[arg(long)]
    users: Option<u64>,
    /// Seconds measured per scenario (default 10; 1 with --quick).
    #[arg(long)]
    seconds: Option<f64>,
    /// A further server setting as its environment variable, e.g. `--set
    /// BF_SQLITE_SYNCHRONOUS=normal`; repeatable, recorded in the results.
    #[arg(long = "set", value_name = "BF_NAME=VALUE", value_parser = server_setting)]
    set: Vec<(String, String)>,
    /// Serves the empty baseline handler on this address (the benchmark starts itself so).
    #[arg(long, hide = true)]
    serve_empty: Option<SocketAddr>,
}

/// The settings the benchmark itself chooses for the server.
const OWN_SETTINGS: &[&str] = &[
    "BF_LISTEN",
    "BF_DATABASE_URL",
    "BF_BOOTSTRAP_EMAIL",
    "BF_BOOTSTRAP_PASSWORD",
    "BF_ARGON2_MEMORY_KIB",
    "BF_ARGON2_ITERATIONS",
    "BF_ARGON2_PARALLELISM",
];

fn server_setting(raw: &str) -> Result<(String, String), String> {
    let (key, value) = raw.split_once('=').ok_or("expected BF_NAME=VALUE")?;
    if !key.starts_with("BF_") {
        return Err(format!("{key} is not a server setting (BF_...)"));
    }
    if OWN_SETTINGS.contains(&key) {
        return Err(format!("{key} is chosen by the benchmark itself"));
    }
    Ok((key.to_string(), value.to_string()))
}

/// Keycloak's default Argon2id cost, so the login figure compares with its published one.
const KEYCLOAK_ARGON2: (u32, u32, u32) = (7168, 5, 1);
/// A cheap cost for the smoke run.
const QUICK_ARGON2: (u32, u32, u32) = (1024, 1, 1);

const ADMIN_EMAIL: &str = "bench-admin@bench.example.com";
const ADMIN_PASSWORD: &str = "bench admin password 1";

/// Concurrent connections: logins are bounded by the cores anyway; the reads are measured at
/// 64 as promised; lists and look-ups at a moderate 16, where latency is the figure.
const LOGIN_CONNECTIONS: usize = 16;
const CONNECTIONS: usize = 64;
const LIST_CONNECTIONS: usize = 16;
const DEEP_OFFSET: u64 = 900_000;
const PAGE: u64 = 10;

struct Profile {
    users: u64,
    window: Window,
    argon2: (u32, u32, u32),
    argon2_seconds: f64,
}

impl Profile {
    fn of(cli: &Cli) -> Self {
        let (users, seconds, warmup, argon2, argon2_seconds) = if cli.quick {
            (2_000, 1.0, 0.0, QUICK_ARGON2, 0.5)
        } else {
            (1_000_000, 10.0, 1.0, KEYCLOAK_ARGON2, 5.0)
        };
        Self {
            users: cli.users.unwrap_or(users).max(2 * CONNECTIONS as u64),
            window: Window {
                warmup: Duration::from_secs_f64(warmup),
                measure: Duration::from_secs_f64(cli.seconds.unwrap_or(seconds).max(0.1)),
            },
            argon2,
            argon2_seconds,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(addr) = cli.serve_empty {
        return baseline::serve_empty(addr);
    }
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
    match runtime.block_on(run(&cli)) {
        Ok(report) => {
            // The full table is in the file; a terminal gets the columns that fit.
            let md_path = cli.out.join(format!("bench-{}.md", report.store));
            println!("{}", report.terminal(&md_path));
            if report.errors > 0 {
                eprintln!("bf-bench: {} requests failed", report.errors);
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bf-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A store nobody else uses, removed at the end.
enum Fresh {
    Sqlite,
    Postgres { admin_url: String, schema: String },
}

impl Fresh {
    async fn create(cli: &Cli, dir: &tempfile::TempDir) -> Result<(Self, String), String> {
        let Some(base) = &cli.database_url else {
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            return Ok((Fresh::Sqlite, url));
        };
        sqlx::any::install_default_drivers();
        let schema = format!("bench_{:016x}", rand::random::<u64>());
        let pool = sqlx::AnyPool::connect(base)
            .await
            .map_err(|e| format!("--database-url: {e}"))?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await
            .map_err(|e| format!("--database-url: cannot create a schema: {e}"))?;
        pool.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        Ok((
            Fresh::Postgres {
                admin_url: base.clone(),
                schema,
            },
            url,
        ))
    }

    fn name(&self) -> &'static str {
        match self {
            Fresh::Sqlite => "sqlite",
            Fresh::Postgres { .. } => "postgres",
        }
    }

    async fn remove(self) {
        if let Fresh::Postgres { admin_url, schema } = self {
            if let Ok(pool) = sqlx::AnyPool::connect(&admin_url).await {
                let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&pool)
                    .await;
                pool.close().await;
            }
        }
    }
}

async fn run(cli: &Cli) -> Result<Report, String> {
    let profile = Profile::of(cli);
    let started = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    let machine = report::Machine::this();
    let cores = machine.cores;
    let server_exe = server::server_binary()?;
    std::fs::create_dir_all(&cli.out).map_err(|e| format!("{}: {e}", cli.out.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("bf-bench")
        .tempdir()
        .map_err(|e| format!("temporary folder: {e}"))?;
    let (fresh, database_url) = Fresh::create(cli, &dir).await?;
    let store_name = fresh.name();
    let outcome = measure(cli, &profile, &server_exe, &dir, &database_url, cores).await;
    fresh.remove().await;
    let (seed, server, baselines, scenarios) = outcome?;
    let errors = scenarios.iter().map(|s| s.errors).sum::<u64>() + baselines.empty_handler.errors;
    let report = Report {
        tool: format!("bf-bench {}", env!("CARGO_PKG_VERSION")),
        started,
        mode: if cli.quick { "quick" } else { "full" }.into(),
        store: store_name.into(),
        machine,
        server,
        seed,
        baselines,
        scenarios,
        keycloak: report::Keycloak::default(),
        errors,
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    let json_path = cli.out.join(format!("bench-{store_name}.json"));
    let md_path = cli.out.join(format!("bench-{store_name}.md"));
    std::fs::write(&json_path, json).map_err(|e| format!("{}: {e}", json_path.display()))?;
    std::fs::write(&md_path, report.markdown())
        .map_err(|e| format!("{}: {e}", md_path.display()))?;
    eprintln!(
        "bf-bench: wrote {} and {}",
        md_path.display(),
        json_path.display()
    );
    Ok(report)
}

type Measured = (
    report::SeedFacts,
    report::ServerFacts,
    report::Baselines,
    Vec<Scenario>,
);

async fn measure(
    cli: &Cli,
    profile: &Profile,
    server_exe: &std::path::Path,
    dir: &tempfile::TempDir,
    database_url: &str,
    cores: usize,
) -> Result<Measured, String> {
    let (m, t, p) = profile.argon2;
    let addr = server::free_loopback_addr()?;
    let env: Vec<(String, String)> = [
        ("BF_LISTEN", addr.to_string()),
        ("BF_DATABASE_URL", database_url.to_string()),
        ("BF_BOOTSTRAP_EMAIL", ADMIN_EMAIL.to_string()),
        ("BF_BOOTSTRAP_PASSWORD", ADMIN_PASSWORD.to_string()),
        // Required on PostgreSQL; the store is thrown away after the run, and its key with it.
        (
            "BF_SECRETS_KEY",
            "YmVuY2ggc2VjcmV0cyBrZXkgb2YgMzIgYnl0ZXMhISE=".to_string(),
        ),
        ("BF_ARGON2_MEMORY_KIB", m.to_string()),
        ("BF_ARGON2_ITERATIONS", t.to_string()),
        ("BF_ARGON2_PARALLELISM", p.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(cli.set.iter().cloned())
    .collect();
    eprintln!(
        "bf-bench: starting {} on {addr} ({})",
        server_exe.display(),
        if cli.database_url.is_some() {
            "a fresh PostgreSQL schema"
        } else {
            "a fresh SQLite file"
        }
    );
    let mut served = Served::start(
        server_exe,
        &["serve".to_string()],
        &env,
        addr,
        "/readyz",
        dir.path().join("server.log"),
    )
    .await?;
    let server_pid = served.pid();
    let rss = RssWatch::start(server_pid);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_rss_mb = rss.current_mb();
    let api = Api::new(&served.base, CONNECTIONS);
    let admin = api.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;

    // The seed: the bench opens the store the server created, with the library itself.
    let argon2 = Argon2Settings {
        memory_kib: m,
        iterations: t,
        parallelism: p,
        threads: 1,
        queue: None,
    };
    let hasher = PasswordHasher::new(&argon2)?;
    let seed_hash = hasher
        .hash(&SecretString::new(seed::SEED_PASSWORD))
        .await
        .map_err(|e| format!("hashing the seed password: {e}"))?;
    let store = open_store(database_url).await?;
    eprintln!(
        "bf-bench: seeding {} users into the organization {}",
        profile.users, admin.organization_id
    );
    let seeded = seed::users(&store, &admin.organization_id, profile.users, &seed_hash).await?;
    store.pool().close().await;
    let seed_facts = report::SeedFacts {
        users: seeded.users,
        seconds: report::round(seeded.seconds, 1),
        users_per_s: report::round(seeded.users as f64 / seeded.seconds.max(1e-3), 0),
        method: "bulk multi-row INSERTs into users and memberships through the library's store, \
                 every user with one shared Argon2id hash of the seed password made with the \
                 server's parameters"
            .into(),
    };

    // Each baseline is measured right before AND right after the scenarios compared with it,
    // and the ratios use both halves: the machine's load drifts, and a ratio is only fair
    // between measurements that saw the same drift.
    let argon2_half = |label: &'static str| {
        eprintln!("bf-bench: raw Argon2id verify rate on {cores} threads ({label})");
        let hash = seed_hash.clone();
        let seconds = profile.argon2_seconds / 2.0;
        tokio::task::spawn_blocking(move || {
            baseline::argon2_verify_rate(&hash, seed::SEED_PASSWORD, cores, seconds)
        })
    };

    let mut results = Vec::new();
    let window = profile.window;
    let users = profile.users;

    // Password logins, between two halves of the raw Argon2id rate.
    let argon2_before = argon2_half("before").await.map_err(|e| e.to_string())?;
    rss.reset();
    let (outcomes, _) = {
        let api = api.clone();
        load::drive_kinds(
            "password login",
            window,
            server_pid,
            (0..LOGIN_CONNECTIONS as u64).collect(),
            2,
            move |next| scenarios::login(api.clone(), users, LOGIN_CONNECTIONS as u64, next),
        )
        .await
    };
    results.push(
        Scenario::measured(
            "login",
            &format!("Password login (Argon2id m={m} t={t} p={p})"),
            LOGIN_CONNECTIONS,
            &outcomes[scenarios::LOGGED_IN],
            rss.peak_mb(),
        )
        .with_shed(outcomes[scenarios::SHED].requests),
    );
    alive(&mut served)?;
    let argon2_after = argon2_half("after").await.map_err(|e| e.to_string())?;
    let argon2_rate = (argon2_before.per_s + argon2_after.per_s) / 2.0;
    let argon2_per_cpu_s = (argon2_before.per_cpu_s + argon2_after.per_cpu_s) / 2.0;

    // The empty handler, same client and concurrency as the reads, on either side of the
    // refreshes and reads.
    let empty_server = EmptyServer::start(dir).await?;
    let empty_before = empty_server
        .measure(&admin.access_token, window, "before")
        .await;

    // The refresh ceiling: the store's own refresh statements in a bare loop, on chains of
    // refresh tokens of other users than the scenario's, before and after the refresh grants.
    let mut chains: Vec<SecretString> =
        scenarios::members(&api, CONNECTIONS as u64, CONNECTIONS as u64)
            .await?
            .into_iter()
            .map(|m| SecretString::new(m.pair.refresh_token))
            .collect();
    let store = open_store(database_url).await?;
    let tokens = Settings::default().tokens;
    let ceiling_half = |label: &str| {
        eprintln!("bf-bench: refresh ceiling, rotate_batch in a bare loop ({label})");
    };
    ceiling_half("before");
    let rotate_before = baseline::rotate_batch_rate(
        &store,
        &tokens,
        &mut chains,
        profile.window.measure.as_secs_f64() / 2.0,
    )
    .await?;

    // Refresh-token rotation, each member his own chain.
    let members = scenarios::members(&api, 0, CONNECTIONS as u64).await?;
    rss.reset();
    let (outcome, members) = {
        let api = api.clone();
        load::drive(
            "refresh-token grant",
            window,
            server_pid,
            members,
            move |m| scenarios::refresh(api.clone(), m),
        )
        .await
    };
    results.push(Scenario::measured(
        "refresh",
        "Refresh-token grant (rotation)",
        CONNECTIONS,
        &outcome,
        rss.peak_mb(),
    ));
    alive(&mut served)?;
    ceiling_half("after");
    let rotate_after = baseline::rotate_batch_rate(
        &store,
        &tokens,
        &mut chains,
        profile.window.measure.as_secs_f64() / 2.0,
    )
    .await?;
    store.pool().close().await;
    let rotate_rate = (rotate_before.per_s + rotate_after.per_s) / 2.0;
    let rotate_per_cpu_s = rotate_before
        .per_cpu_s
        .zip(rotate_after.per_cpu_s)
        .map(|(a, b)| (a + b) / 2.0);

    // Authenticated reads, with the access token, then with a permanent token.
    let mut members = members;
    scenarios::with_permanent_tokens(&api, &mut members).await?;
    let mut members = Some(members);
    for (key, name, credential) in [
        (
            "read_temporary",
            "GET /users/mine, temporary token",
            Credential::Temporary,
        ),
        (
            "read_permanent",
            "GET /users/mine, permanent token",
            Credential::Permanent,
        ),
    ] {
        rss.reset();
        let api = api.clone();
        let (outcome, back) = load::drive(
            name,
            window,
            server_pid,
            members.take().unwrap_or_default(),
            move |m| scenarios::read_mine(api.clone(), m, credential),
        )
        .await;
        members = Some(back);
        results.push(Scenario::measured(
            key,
            name,
            CONNECTIONS,
            &outcome,
            rss.peak_mb(),
        ));
        alive(&mut served)?;
    }
    // Introspection of the members' access tokens, asked by one service's token (the
    // administrator's: it holds `Tokens:introspect`), beside the reads it should cost no more
    // than.
    let key = "introspect";
    let name = "POST /oauth/introspect, temporary token";
    rss.reset();
    let (outcome, members) = {
        let api = api.clone();
        let caller: std::sync::Arc<str> = admin.access_token.as_str().into();
        load::drive(
            name,
            window,
            server_pid,
            members.unwrap_or_default(),
            move |m| {
                let (api, caller) = (api.clone(), caller.clone());
                async move { scenarios::introspect(api, m, &caller).await }
            },
        )
        .await
    };
    results.push(Scenario::measured(
        key,
        name,
        CONNECTIONS,
        &outcome,
        rss.peak_mb(),
    ));
    alive(&mut served)?;
    let empty_after = empty_server
        .measure(&admin.access_token, window, "after")
        .await;
    let (empty_before_rate, empty_after_rate) =
        (empty_before.throughput(), empty_after.throughput());
    let empty = Scenario::measured(
        "empty_handler",
        "Empty axum handler (baseline)",
        CONNECTIONS,
        &empty_before.merge(empty_after),
        empty_server.rss.peak_mb(),
    );
    drop(empty_server);
    let empty_rate = empty.throughput_per_s.unwrap_or(0.0);
    let empty_per_cpu_s = empty.per_server_cpu_s;

    // Lists and look-ups in the big organization, with the administrator's token.
    let deep = DEEP_OFFSET.min(users / 10 * 9);
    let org_size = if users >= 1_000_000 {
        format!("{},000,000", users / 1_000_000)
    } else {
        users.to_string()
    };
    let list_cases: [(&str, String, String, Listing); 3] = [
        (
            "list_first",
            format!("GET /users page 1 ({org_size} users)"),
            format!("/v1/users?offset=0&records={PAGE}"),
            Listing::Page(0),
        ),
        (
            "list_deep",
            format!("GET /users offset {deep} ({org_size} users)"),
            format!("/v1/users?offset={deep}&records={PAGE}"),
            Listing::Page(deep),
        ),
        (
            "lookup",
            format!("GET /users/username/{{email}} ({org_size} users)"),
            format!("/v1/users/username/{}", seed::email(0)),
            Listing::Lookup,
        ),
    ];
    for (key, name, probe, listing) in list_cases {
        let (status, _) = api.get(&probe, &admin.access_token).await?;
        if status == 501 {
            results.push(Scenario::unavailable(
                key,
                &name,
                LIST_CONNECTIONS,
                "the server answers 501 Not Implemented",
            ));
            continue;
        }
        rss.reset();
        let api = api.clone();
        let token = admin.access_token.clone();
        let (outcome, _) = load::drive(
            &name,
            window,
            server_pid,
            (0..LIST_CONNECTIONS as u64).collect(),
            move |n: u64| {
                let api = api.clone();
                let token = token.clone();
                async move {
                    let r = match listing {
                        Listing::Page(offset) => {
                            scenarios::list_page(api, &token, offset, PAGE).await
                        }
                        // Spread over the whole organization, a different user each step.
                        Listing::Lookup => {
                            scenarios::lookup(api, &token, n.wrapping_mul(104_729) % users).await
                        }
                    };
                    (n + LIST_CONNECTIONS as u64, r)
                }
            },
        )
        .await;
        results.push(Scenario::measured(
            key,
            &name,
            LIST_CONNECTIONS,
            &outcome,
            rss.peak_mb(),
        ));
        alive(&mut served)?;
    }

    // The mix of reads and refreshes, alone, then while logins keep the hashing threads busy.
    rss.reset();
    let (quiet, members) = {
        let api = api.clone();
        load::drive_kinds("mix, no logins", window, server_pid, members, 2, move |m| {
            scenarios::reads_and_refreshes(api.clone(), m)
        })
        .await
    };
    let quiet_mix = Mix::of(&quiet[scenarios::READ], &quiet[scenarios::REFRESH]);
    results.push(
        Scenario::measured(
            "mixed_quiet",
            "Mix without logins: 16 reads to 3 refreshes",
            CONNECTIONS,
            &load::combined(&quiet),
            rss.peak_mb(),
        )
        .with_mix(quiet_mix.clone()),
    );
    alive(&mut served)?;

    rss.reset();
    let (mixed, logins) = {
        let (api_mix, api_logins) = (api.clone(), api.clone());
        tokio::join!(
            load::drive_kinds("mix + logins", window, server_pid, members, 2, move |m| {
                scenarios::reads_and_refreshes(api_mix.clone(), m)
            }),
            load::drive_kinds(
                "logins beside the mix",
                window,
                server_pid,
                (0..LOGIN_CONNECTIONS as u64).collect(),
                2,
                move |next| {
                    scenarios::login(api_logins.clone(), users, LOGIN_CONNECTIONS as u64, next)
                }
            ),
        )
    };
    let (mixed, logins) = (mixed.0, logins.0);
    let mix = Mix::of(&mixed[scenarios::READ], &mixed[scenarios::REFRESH]).beside(
        LOGIN_CONNECTIONS,
        &logins[scenarios::LOGGED_IN],
        logins[scenarios::SHED].requests,
        Some(&quiet_mix),
    );
    let mut with_logins = load::combined(&mixed);
    // The logins' failures are the run's failures too (their latencies are in the mix's own row).
    with_logins.errors += logins[scenarios::LOGGED_IN].errors;
    with_logins
        .error_samples
        .extend(logins[scenarios::LOGGED_IN].error_samples.iter().cloned());
    results.push(
        Scenario::measured(
            "mixed",
            &format!(
                "Same mix while {LOGIN_CONNECTIONS} connections log in (hashing threads saturated)"
            ),
            CONNECTIONS,
            &with_logins,
            rss.peak_mb(),
        )
        .with_mix(mix),
    );
    alive(&mut served)?;

    let results: Vec<Scenario> = results
        .into_iter()
        .map(|s| {
            judge(
                s,
                (argon2_rate, argon2_per_cpu_s),
                (rotate_rate, rotate_per_cpu_s),
                (empty_rate, empty_per_cpu_s),
            )
        })
        .collect();
    let peak_rss_mb = results
        .iter()
        .filter_map(|s| s.peak_rss_mb)
        .fold(idle_rss_mb, f64::max);
    let server_facts = report::ServerFacts {
        argon2_memory_kib: m,
        argon2_iterations: t,
        argon2_parallelism: p,
        settings: cli.set.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        idle_rss_mb: report::round(idle_rss_mb, 1),
        peak_rss_mb: report::round(peak_rss_mb, 1),
        high_water_mb: report::round(rss.high_water_mb(), 1),
        rss_target_mb: report::RSS_TARGET_MB,
        rss_target_met: peak_rss_mb < report::RSS_TARGET_MB,
    };
    let baselines = report::Baselines {
        argon2_threads: cores,
        argon2_verify_per_s: report::round(argon2_rate, 1),
        argon2_verify_per_s_per_core: report::round(argon2_rate / cores as f64, 1),
        argon2_verify_per_cpu_s: report::round(argon2_per_cpu_s, 1),
        argon2_verify_per_s_before_after: [
            report::round(argon2_before.per_s, 1),
            report::round(argon2_after.per_s, 1),
        ],
        empty_handler_per_s_before_after: [
            report::round(empty_before_rate, 1),
            report::round(empty_after_rate, 1),
        ],
        empty_handler: empty,
        rotate_batch_per_s: report::round(rotate_rate, 1),
        rotate_batch_per_s_before_after: [
            report::round(rotate_before.per_s, 1),
            report::round(rotate_after.per_s, 1),
        ],
        rotate_batch_per_cpu_s: rotate_per_cpu_s.map(|r| report::round(r, 1)),
        rotate_batch_size: CONNECTIONS.min(MAX_BATCH),
    };
    Ok((seed_facts, server_facts, baselines, results))
}

/// Each scenario's baseline, its figure beside Keycloak's, and its target. The targets are
/// ratios to ceilings measured in the same run, which hold on any machine; figures per server
/// CPU-second are shown but move with the machine's other load.
fn judge(
    s: Scenario,
    argon2: (f64, f64),
    rotate: (f64, Option<f64>),
    empty: (f64, Option<f64>),
) -> Scenario {
    const ARGON2: &str = "raw Argon2id";
    const ROTATE: &str = "rotate_batch loop";
    const EMPTY: &str = "empty handler";
    match s.key.as_str() {
        "login" => s
            .against(ARGON2, argon2.0, Some(argon2.1))
            .keycloak(report::KEYCLOAK_LOGINS_PER_VCPU)
            .target("≥ 0.9 × raw Argon2id per CPU-s", |s| {
                s.cpu_ratio.map(|r| r >= 0.9)
            }),
        "refresh" => s
            .against(ROTATE, rotate.0, rotate.1)
            .keycloak(report::KEYCLOAK_REFRESHES_PER_VCPU)
            .target("≥ 0.8 × rotate_batch loop", |s| {
                s.ratio.map(|r| r >= 0.8)
            }),
        "read_temporary" | "read_permanent" | "introspect" => s
            .against(EMPTY, empty.0, empty.1)
            .target("≥ 0.5 × empty handler, p99 < 5 ms", |s| {
                Some(s.ratio? >= 0.5 && s.p99_ms? < 5.0)
            }),
        "list_first" | "list_deep" | "lookup" => s
            .against(EMPTY, empty.0, empty.1)
            .target("p99 < 10 ms", |s| s.p99_ms.map(|p| p < 10.0)),
        "mixed" => s
            .against(EMPTY, empty.0, empty.1)
            .target("reads p99 ≤ 2 × without logins", |s| {
                s.mix.as_ref()?.reads_p99_ratio.map(|r| r <= 2.0)
            }),
        _ => s.against(EMPTY, empty.0, empty.1),
    }
}

/// The store the server created, opened by the benchmark itself with the library.
async fn open_store(database_url: &str) -> Result<Store, String> {
    Store::connect(&Settings {
        database_url: database_url.to_string(),
        // Bulk inserts and the vacuum after them take longer than a request's statement may.
        database: DatabaseSettings {
            statement_timeout_ms: 3_600_000,
            ..DatabaseSettings::default()
        },
        ..Settings::default()
    })
    .await
    .map_err(|e| format!("opening the store: {e}"))
}

/// This binary serving the empty handler as a child process, for the second baseline.
struct EmptyServer {
    _child: Served,
    pid: u32,
    client: Api,
    rss: RssWatch,
}

impl EmptyServer {
    async fn start(dir: &tempfile::TempDir) -> Result<Self, String> {
        let addr = server::free_loopback_addr()?;
        let me = std::env::current_exe().map_err(|e| e.to_string())?;
        let child = Served::start(
            &me,
            &["--serve-empty".to_string(), addr.to_string()],
            &[],
            addr,
            baseline::EMPTY_PATH,
            dir.path().join("empty.log"),
        )
        .await?;
        let rss = RssWatch::start(child.pid());
        let client = Api::new(&child.base, CONNECTIONS);
        Ok(Self {
            pid: child.pid(),
            _child: child,
            client,
            rss,
        })
    }

    /// The empty handler under the reads' load, with the same bearer header they send.
    async fn measure(&self, token: &str, window: Window, when: &str) -> load::Outcome {
        let client = self.client.clone();
        let token = token.to_string();
        let (outcome, _) = load::drive(
            &format!("empty handler ({when})"),
            window,
            self.pid,
            vec![(); CONNECTIONS],
            move |()| {
                let client = client.clone();
                let token = token.clone();
                async move {
                    let r = client
                        .get_ok(baseline::EMPTY_PATH, &token)
                        .await
                        .map(|_| ());
                    ((), r)
                }
            },
        )
        .await;
        outcome
    }
}

#[derive(Clone, Copy)]
enum Listing {
    Page(u64),
    Lookup,
}

/// A scenario whose server died is no measurement: stop with what the server said.
fn alive(served: &mut Served) -> Result<(), String> {
    if served.alive() {
        Ok(())
    } else {
        Err(format!(
            "the server stopped during the run:\n{}",
            served.log_tail()
        ))
    }
}
