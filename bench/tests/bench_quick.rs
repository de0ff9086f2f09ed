//! The benchmark's smoke run: `bf-bench --quick` against the real server binary, checking that
//! every scenario completes without a failed request and that the JSON carries every field.
//! Its timings mean nothing here (a debug build on a tiny seed); only that it works.
//!
//! The server is the `bf-security` binary beside `bf-bench`, which `cargo test` at the workspace
//! root builds with the service's own tests.

use std::process::Command;

use serde_json::Value;

const SCENARIO_FIELDS: &[&str] = &[
    "key",
    "name",
    "available",
    "note",
    "concurrency",
    "seconds",
    "requests",
    "errors",
    "error_samples",
    "throughput_per_s",
    "per_core_per_s",
    "server_cpu_seconds",
    "per_server_cpu_s",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "peak_rss_mb",
    "baseline",
    "baseline_per_s",
    "ratio",
    "cpu_ratio",
    "keycloak_per_core",
    "target",
    "target_met",
    "shed",
    "mix",
];

/// What a mix reports by kind of request.
const MIX_FIELDS: &[&str] = &[
    "reads_per_s",
    "reads_p99_ms",
    "refreshes_per_s",
    "refreshes_p99_ms",
    "login_connections",
    "logins_per_s",
    "logins_p99_ms",
    "logins_shed",
    "reads_p99_without_logins_ms",
    "refreshes_p99_without_logins_ms",
    "reads_p99_ratio",
    "refreshes_p99_ratio",
];

const SCENARIOS: &[&str] = &[
    "login",
    "refresh",
    "read_temporary",
    "read_permanent",
    "introspect",
    "list_first",
    "list_deep",
    "lookup",
    "mixed_quiet",
    "mixed",
];

fn has(v: &Value, path: &str) -> bool {
    path.split('.').try_fold(v, |v, k| v.get(k)).is_some()
}

#[test]
fn quick_run_completes_every_scenario_without_errors() {
    let out = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_bf-bench"))
        .args(["--quick", "--out"])
        .arg(out.path())
        // cargo built both binaries for this test: no nested build.
        .env_remove("CARGO")
        .output()
        .expect("run bf-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bf-bench failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    // The terminal gets a table that fits it; the file has every column.
    let md = std::fs::read_to_string(out.path().join("bench-sqlite.md")).expect("Markdown");
    assert!(md.contains("| Scenario |"), "no table written:\n{md}");
    assert!(
        stdout.lines().any(|l| l.starts_with("Scenario ")),
        "no table printed:\n{stdout}"
    );
    for line in stdout.lines() {
        assert!(
            line.chars().count() <= 100,
            "a printed line wider than 100 columns:\n{line}"
        );
    }
    for text in [&md, &*stdout] {
        let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            words.contains("its figures compare with nothing"),
            "a quick run does not say that its figures compare with nothing:\n{text}"
        );
    }
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("bench-sqlite.json")).expect("JSON"),
    )
    .expect("valid JSON");

    for field in [
        "tool",
        "started",
        "mode",
        "store",
        "machine.cores",
        "machine.cpu",
        "machine.memory_gib",
        "machine.kernel",
        "server.argon2_memory_kib",
        "server.argon2_iterations",
        "server.argon2_parallelism",
        "server.settings",
        "server.idle_rss_mb",
        "server.peak_rss_mb",
        "server.high_water_mb",
        "server.rss_target_mb",
        "server.rss_target_met",
        "seed.users",
        "seed.seconds",
        "seed.users_per_s",
        "seed.method",
        "baselines.argon2_threads",
        "baselines.argon2_verify_per_s",
        "baselines.argon2_verify_per_s_per_core",
        "baselines.argon2_verify_per_cpu_s",
        "baselines.argon2_verify_per_s_before_after",
        "baselines.empty_handler_per_s_before_after",
        "baselines.empty_handler",
        "baselines.rotate_batch_per_s",
        "baselines.rotate_batch_per_s_before_after",
        "baselines.rotate_batch_per_cpu_s",
        "baselines.rotate_batch_size",
        "keycloak.logins_per_s_per_vcpu",
        "keycloak.refreshes_per_s_per_vcpu",
        "keycloak.base_memory_mb",
        "keycloak.source",
        "errors",
    ] {
        assert!(has(&json, field), "the JSON lacks {field}");
    }
    assert_eq!(json["mode"], "quick");
    assert_eq!(json["store"], "sqlite");
    assert_eq!(json["errors"], 0);
    assert_eq!(json["seed"]["users"], 2000);
    assert!(json["baselines"]["argon2_verify_per_s"].as_f64().unwrap() > 0.0);
    assert!(json["baselines"]["rotate_batch_per_s"].as_f64().unwrap() > 0.0);
    assert!(json["server"]["peak_rss_mb"].as_f64().unwrap() > 0.0);

    let empty = &json["baselines"]["empty_handler"];
    for field in SCENARIO_FIELDS {
        assert!(empty.get(field).is_some(), "empty_handler lacks {field}");
    }
    assert!(empty["requests"].as_u64().unwrap() > 0);
    assert_eq!(empty["errors"], 0);

    let scenarios = json["scenarios"].as_array().expect("scenarios");
    let keys: Vec<&str> = scenarios.iter().filter_map(|s| s["key"].as_str()).collect();
    assert_eq!(keys, SCENARIOS);
    for s in scenarios {
        let key = s["key"].as_str().unwrap();
        for field in SCENARIO_FIELDS {
            assert!(s.get(field).is_some(), "{key} lacks {field}");
        }
        assert_eq!(s["errors"], 0, "{key} had errors: {}", s["error_samples"]);
        if s["available"] == true {
            assert!(s["requests"].as_u64().unwrap() > 0, "{key} made no request");
            for figure in [
                "throughput_per_s",
                "p50_ms",
                "p99_ms",
                "max_ms",
                "peak_rss_mb",
            ] {
                assert!(s[figure].as_f64().is_some(), "{key} has no {figure}");
            }
            assert!(
                s["target"].is_string() || key == "mixed_quiet",
                "{key} states no target"
            );
        } else {
            panic!("{key} did not run: {}", s["note"]);
        }
    }

    // The refreshes are judged against their ceiling measured in the same run.
    let refresh = &scenarios[1];
    assert_eq!(refresh["baseline"], "rotate_batch loop");
    assert!(refresh["ratio"].as_f64().is_some(), "refresh: no ratio");
    assert!(
        scenarios[0]["shed"].as_u64().is_some(),
        "login: no count of shed"
    );

    // The mixes report reads and refreshes on their own, with logins beside and without.
    let quiet = &scenarios[8]["mix"];
    let busy = &scenarios[9]["mix"];
    for (mix, key) in [(quiet, "mixed_quiet"), (busy, "mixed")] {
        for field in MIX_FIELDS {
            assert!(mix.get(field).is_some(), "{key}.mix lacks {field}");
        }
        assert!(mix["reads_p99_ms"].as_f64().unwrap() > 0.0, "{key}: {mix}");
        assert!(
            mix["refreshes_p99_ms"].as_f64().unwrap() > 0.0,
            "{key}: {mix}"
        );
    }
    assert_eq!(quiet["login_connections"], 0);
    assert!(busy["login_connections"].as_u64().unwrap() > 0);
    assert!(busy["logins_per_s"].as_f64().unwrap() > 0.0, "{busy}");
    assert!(busy["reads_p99_ratio"].as_f64().is_some(), "{busy}");
    assert!(busy["refreshes_p99_ratio"].as_f64().is_some(), "{busy}");
    assert!(md.contains("| Mix |"), "no table of the mixes:\n{md}");
}
