//! The `bf-security` command itself: settings errors, migrate, bootstrap, first start.

use std::process::{Command, Output, Stdio};

fn bf(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bf-security"));
    cmd.args(args).stdin(Stdio::null());
    for key in [
        "BF_CONFIG",
        "BF_DATABASE_URL",
        "BF_LISTEN",
        "BF_BOOTSTRAP_EMAIL",
        "BF_BOOTSTRAP_PASSWORD",
    ] {
        cmd.env_remove(key);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run bf-security")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_bad_setting_stops_the_start_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let out = bf(
        &["serve", "--database-url", &url],
        &[("BF_ARGON2_ITERATIONS", "many")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("BF_ARGON2_ITERATIONS"), "{err}");

    let config = dir.path().join("bf.toml");
    std::fs::write(&config, "[tokens]\naccess_ttl = 5\n").unwrap();
    let out = bf(&["serve", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("access_ttl"),
        "{}",
        text(&out.stderr)
    );

    let out = bf(&["serve", "--listen", "not-an-address"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("BF_LISTEN"));
}

#[test]
fn migrate_says_what_it_did_and_bootstrap_refuses_a_taken_email() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bf.db").display());
    let cheap = [
        ("BF_ARGON2_MEMORY_KIB", "256"),
        ("BF_ARGON2_ITERATIONS", "1"),
    ];

    let out = bf(&["migrate", "--database-url", &url], &cheap);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("0001_initial"),
        "{}",
        text(&out.stdout)
    );
    let out = bf(&["migrate", "--database-url", &url], &cheap);
    assert!(
        text(&out.stdout).contains("up to date"),
        "{}",
        text(&out.stdout)
    );

    let args = [
        "bootstrap",
        "--database-url",
        &url,
        "--organization",
        "ACME",
        "--email",
        "ops@acme.test",
        "--password",
        "a long enough password",
    ];
    let out = bf(&args, &cheap);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ops@acme.test"));
    let out = bf(&args, &cheap);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("exists already"),
        "{}",
        text(&out.stderr)
    );

    let weak = [
        "bootstrap",
        "--database-url",
        &url,
        "--organization",
        "X",
        "--email",
        "x@acme.test",
        "--password",
        "short",
    ];
    let out = bf(&weak, &cheap);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("at least 10"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn the_first_serve_prints_a_password_once_and_sigterm_stops_cleanly() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bf.db").display());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let start = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bf-security"));
        cmd.args(["serve", "--database-url", &url, "--listen", &listen])
            .env("RUST_LOG", "debug")
            .env("BF_ARGON2_MEMORY_KIB", "256")
            .env("BF_ARGON2_ITERATIONS", "1")
            .env_remove("BF_BOOTSTRAP_EMAIL")
            .env_remove("BF_BOOTSTRAP_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    let mut child = start();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut password = None;
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if let Some(rest) = line.split("with password ").nth(1) {
            password = Some(rest.trim().to_string());
        }
        if line.contains("serving") {
            break;
        }
    }
    let password = password.unwrap_or_else(|| panic!("no password printed: {seen:?}"));
    assert!(seen.iter().any(|l| l.contains("admin@localhost")));
    assert!(seen.iter().any(|l| l.contains("change it")));
    let http = reqwest::Client::new();
    let res = http
        .post(format!("http://{listen}/v1/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "admin@localhost"),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let collector =
        std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<String>>());
    let token: serde_json::Value = res.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let res = http
        .get(format!("http://{listen}/v1/users/mine"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    http.post(format!("http://{listen}/v1/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "admin@localhost"),
            ("password", "wrong but logged?"),
        ])
        .send()
        .await
        .unwrap();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    // What the service logged while serving holds no secret.
    let logs = collector.join().unwrap();
    assert!(
        logs.iter().any(|l| l.contains("/v1/users/mine")),
        "requests are logged: {logs:?}"
    );
    for line in &logs {
        for secret in [password.as_str(), token.as_str(), "wrong but logged?"] {
            assert!(!line.contains(secret), "a secret reached the log: {line}");
        }
    }

    // A second start on the same store creates nothing and prints no password.
    let mut child = start();
    let mut seen = Vec::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("serving") {
            break;
        }
        seen.push(line);
    }
    let drain = std::thread::spawn(move || lines.count());
    assert!(!seen.iter().any(|l| l.contains("password")), "{seen:?}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    drain.join().unwrap();
}
