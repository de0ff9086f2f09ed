//! The `bf-security` command itself: settings errors, migrate, bootstrap, first start.

use std::process::{Command, Output, Stdio};

/// A secrets key (`BF_SECRETS_KEY`) for the throwaway stores of these tests.
const TEST_SECRETS_KEY: &str = "dGVzdCBzZWNyZXRzIGtleSBvZiAzMiBieXRlcyEhISE=";

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

    // Named as given: by the flag typed, or by the variable.
    let out = bf(&["serve", "--listen", "not-an-address"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--listen: "),
        "{}",
        text(&out.stderr)
    );
    let out = bf(&["serve"], &[("BF_LISTEN", "not-an-address")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("BF_LISTEN: "),
        "{}",
        text(&out.stderr)
    );
}

/// A node that cannot take its address stops before the first start: no administrator is
/// created and no password is printed that nobody could use.
#[test]
fn a_taken_address_stops_the_start_before_the_first_administrator() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bf.db");
    let url = format!("sqlite://{}", db.display());
    let out = bf(&["serve", "--database-url", &url, "--listen", &addr], &[]);
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(err.contains("cannot listen"), "{err}");
    assert!(!err.contains("password"), "{err}");
    assert!(!db.exists(), "the store was not even opened");
    drop(taken);
}

/// A misspelt variable would leave its setting at the default unnoticed; it stops the start and
/// the error names the closest setting. The test suite's own `BF_TEST_*` pass.
#[test]
fn an_unknown_variable_stops_the_start_and_names_the_closest_setting() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bf.db");
    let url = format!("sqlite://{}", db.display());
    let out = bf(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("BF_DATABSE_URL", &url)],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("BF_DATABSE_URL: is not a setting (did you mean BF_DATABASE_URL?)"),
        "{err}"
    );
    assert!(!err.contains("password"), "{err}");

    let out = bf(&["migrate", "--database-url", &url], &[("BF_XYZZY", "1")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("BF_XYZZY: is not a setting"), "{err}");
    assert!(!err.contains("did you mean"), "nothing is close: {err}");
    assert!(!db.exists(), "nothing was opened");

    let out = bf(
        &["migrate", "--database-url", &url],
        &[("BF_TEST_ANYTHING", "1")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// A bad URL is named as the operator gave it: by the flag when typed, else by the variable.
#[test]
fn a_bad_database_url_is_named_by_the_flag_or_the_variable_that_gave_it() {
    let out = bf(&["migrate", "--database-url", "mysql://x"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("bf-security: --database-url: must start with"),
        "{err}"
    );

    let out = bf(&["migrate"], &[("BF_DATABASE_URL", "mysql://x")]);
    let err = text(&out.stderr);
    assert!(
        err.starts_with("bf-security: BF_DATABASE_URL: must start with"),
        "{err}"
    );

    let bad_port = "postgres://postgres@127.0.0.1:notaport/x";
    let out = bf(&["migrate", "--database-url", bad_port], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("bf-security: --database-url ({bad_port}): ")),
        "{err}"
    );
    assert!(err.contains("invalid port number"), "{err}");

    let out = bf(&["migrate"], &[("BF_DATABASE_URL", bad_port)]);
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!("bf-security: BF_DATABASE_URL ({bad_port}): ")),
        "{err}"
    );
}

/// A store that cannot be opened says why in one line, at once (not "pool timed out" after the
/// acquire timeout), and before any administrator is created or password printed.
#[test]
fn a_store_that_cannot_be_opened_is_named_with_its_cause_in_one_line() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let serve = |url: &str, as_nobody: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bf-security"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--database-url", url])
            .env_remove("BF_DATABASE_URL")
            .env_remove("BF_BOOTSTRAP_PASSWORD")
            .stdin(Stdio::null());
        // Permissions do not bind root: the read-only cases run as an unprivileged user then.
        // SAFETY: geteuid has no preconditions and cannot fail.
        if as_nobody && unsafe { libc::geteuid() } == 0 {
            use std::os::unix::process::CommandExt;
            cmd.uid(65534).gid(65534);
        }
        let out = cmd
            .env("BF_DATABASE_ACQUIRE_TIMEOUT_MS", "60000")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains("password"), "{err}");
        err
    };

    let missing = dir.path().join("no-such-dir").join("bf.db");
    let err = serve(&format!("sqlite://{}", missing.display()), false);
    assert!(
        err.contains(&format!(
            "the directory {} does not exist",
            missing.parent().unwrap().display()
        )),
        "{err}"
    );

    let err = serve(&format!("sqlite://{}", dir.path().display()), false);
    assert!(err.contains("is a directory, not a database file"), "{err}");

    // The unprivileged user must reach the files: the temporary directory is private.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let read_only = dir.path().join("read-only.db");
    std::fs::write(&read_only, b"").unwrap();
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o444)).unwrap();
    let err = serve(&format!("sqlite://{}", read_only.display()), true);
    assert!(
        err.contains(&format!(
            "the database file {} is read-only",
            read_only.display()
        )),
        "{err}"
    );

    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let err = serve(&format!("sqlite://{}/bf.db", locked.display()), true);
    assert!(
        err.contains(&format!(
            "the directory {} is not writable",
            locked.display()
        )),
        "{err}"
    );

    // A port nobody listens on: refused at once, named as refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let started = std::time::Instant::now();
    let err = serve(&format!("postgres://postgres@127.0.0.1:{port}/test"), false);
    assert!(err.contains("cannot connect: Connection refused"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "not after the acquire timeout"
    );
}

/// Runs `psql` on the test's PostgreSQL as its superuser; answers the unaligned output.
fn psql(base: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([base, "-XAtqc", sql])
        .output()
        .expect("psql");
    assert!(out.status.success(), "{sql}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// Makes a certificate authority and a server certificate for 127.0.0.1 signed by it, with
/// openssl, in `dir`: `ca.crt`, `server.crt`, `server.key`.
fn make_certificates(dir: &std::path::Path, ca_name: &str) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            text(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &[
                "req",
                "-x509",
                "-days",
                "2",
                "-subj",
                &format!("/CN={ca_name}"),
            ][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.crt"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req", "-subj", "/CN=127.0.0.1"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr"],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ]);
}

/// Puts the local PostgreSQL back on the certificate it had, whatever the test did.
struct ServerCertificate {
    base: String,
}

impl Drop for ServerCertificate {
    fn drop(&mut self) {
        for sql in [
            "ALTER SYSTEM RESET ssl_cert_file",
            "ALTER SYSTEM RESET ssl_key_file",
            "SELECT pg_reload_conf()",
        ] {
            let _ = Command::new("psql")
                .args([&self.base, "-XAtqc", sql])
                .output();
        }
    }
}

/// Managed PostgreSQL services require TLS. Against the local PostgreSQL given a certificate
/// this test makes: `sslmode=require` serves over TLS, `verify-full` with the right
/// `sslrootcert` serves, and with another authority's certificate the start stops with the
/// cause in one line.
#[tokio::test]
async fn postgresql_over_tls_with_sslmode_and_sslrootcert() {
    let Some(base) = std::env::var("BF_TEST_DATABASE_URL").ok() else {
        eprintln!("NOTE: PostgreSQL over TLS skipped: BF_TEST_DATABASE_URL is not set");
        return;
    };
    use std::os::unix::fs::PermissionsExt;
    // The server reads its certificate from its data directory, as the user it runs as.
    let data = std::path::PathBuf::from(psql(&base, "SHOW data_directory"));
    let tls = data.join("bf-security-test-tls");
    std::fs::create_dir_all(&tls).expect("the test runs beside the local PostgreSQL");
    make_certificates(&tls, "bf-security test authority");
    let owner = std::fs::metadata(&data).map(|m| {
        use std::os::unix::fs::MetadataExt;
        (m.uid(), m.gid())
    });
    let (uid, gid) = owner.unwrap();
    for f in ["server.crt", "server.key"] {
        std::os::unix::fs::chown(tls.join(f), Some(uid), Some(gid)).unwrap();
    }
    std::fs::set_permissions(
        tls.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let _restore = ServerCertificate { base: base.clone() };
    psql(&base, "ALTER SYSTEM SET ssl = on");
    psql(
        &base,
        &format!(
            "ALTER SYSTEM SET ssl_cert_file = '{}'",
            tls.join("server.crt").display()
        ),
    );
    psql(
        &base,
        &format!(
            "ALTER SYSTEM SET ssl_key_file = '{}'",
            tls.join("server.key").display()
        ),
    );
    psql(&base, "SELECT pg_reload_conf()");

    let ca = tls.join("ca.crt");
    let sep = if base.contains('?') { '&' } else { '?' };
    let verified = format!(
        "{base}{sep}sslmode=verify-full&sslrootcert={}",
        ca.display()
    );
    // The reload is asynchronous: wait until new connections get the new certificate.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // Asked with psql (libpq), so the probe itself migrates no schema.
    let verifies = || {
        Command::new("psql")
            .args([&verified, "-XAtqc", "SELECT 1"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    while !verifies() {
        assert!(
            std::time::Instant::now() < deadline,
            "PostgreSQL kept its old certificate"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    let dir = tempfile::tempdir().unwrap();
    for mode in ["require", "verify-full"] {
        let store = fresh_store(true, &dir).await.unwrap();
        let url = format!(
            "{store}&sslmode={mode}&sslrootcert={}&application_name=bf-tls-{mode}",
            ca.display()
        );
        let mut served = serve(&url, &[], None);
        let token = served.token().await;
        let me = reqwest::Client::new()
            .get(served.url("/v1/users/mine"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200, "{mode}");
        let encrypted = psql(
            &base,
            &format!(
                "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.application_name = 'bf-tls-{mode}' AND s.ssl"
            ),
        );
        assert_ne!(encrypted, "0", "{mode}: the node's connections use TLS");
        served.terminate();
        served.wait_at_most(std::time::Duration::from_secs(20));
    }

    // A certificate of another authority than the one named: refused before anything is done.
    let other = tempfile::tempdir().unwrap();
    make_certificates(other.path(), "another authority");
    let store = fresh_store(true, &dir).await.unwrap();
    let url = format!(
        "{store}&sslmode=verify-full&sslrootcert={}",
        other.path().join("ca.crt").display()
    );
    let out = bf(
        &["serve", "--listen", "127.0.0.1:0", "--database-url", &url],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot connect:") && err.contains("certificate"),
        "{err}"
    );
    assert!(!err.contains("password"), "{err}");
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

#[test]
fn a_first_start_that_fails_says_which_step_failed_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bf.db").display());
    let out = bf(
        &["serve", "--database-url", &url, "--listen", "127.0.0.1:0"],
        &[
            ("BF_ARGON2_MEMORY_KIB", "256"),
            ("BF_ARGON2_ITERATIONS", "1"),
            ("BF_BOOTSTRAP_PASSWORD", "short"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "first start: the first administrator (BF_BOOTSTRAP_EMAIL, BF_BOOTSTRAP_PASSWORD): "
        ) && err.contains("at least 10"),
        "{err}"
    );
}

/// A `bf-security serve` of the test: its address, the process, and its log lines as they come.
struct Served {
    listen: String,
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

const ADMIN: (&str, &str) = ("ops@example.com", "ops password 1234");

/// Starts `serve` on a free port and waits until it serves. `open_files`, when set, is the
/// process's limit of open files (soft and hard, so it cannot raise it).
fn serve(url: &str, env: &[(&str, &str)], open_files: Option<u64>) -> Served {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bf-security"));
    cmd.args(["serve", "--database-url", url, "--listen", &listen])
        // Required on PostgreSQL; on SQLite it stands for the generated one.
        .env("BF_SECRETS_KEY", TEST_SECRETS_KEY)
        .env("BF_ARGON2_MEMORY_KIB", "256")
        .env("BF_ARGON2_ITERATIONS", "1")
        .env("BF_BOOTSTRAP_EMAIL", ADMIN.0)
        .env("BF_BOOTSTRAP_PASSWORD", ADMIN.1)
        // Mail goes where the story says, not where the shell running the tests would send it.
        .env_remove("BF_SMTP_URL")
        .env_remove("BF_MAIL_DIR")
        .env_remove("BF_MAIL_DELIVERY")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(n) = open_files {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let mut child = cmd.spawn().expect("start bf-security");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(line) if line.contains("serving") => break,
            Ok(line) => seen.push(line),
            Err(_) => panic!("bf-security did not start: {seen:?}"),
        }
    }
    Served {
        listen,
        child,
        lines,
    }
}

impl Served {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listen)
    }

    async fn token(&self) -> String {
        let res = reqwest::Client::new()
            .post(self.url("/v1/oauth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", ADMIN.0),
                ("password", ADMIN.1),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end, at most `limit`; answers its exit status.
    fn wait_at_most(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn log(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A newcomer's first start names no mail setting: a SQLite node writes each mail into `mail/`
/// beside its database file, says so as it starts, and logs each mail's file and subject (never
/// its code or recipient); the code read from the file works.
#[tokio::test]
async fn out_of_the_box_mail_goes_into_a_folder_beside_the_sqlite_file_and_the_log_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bf.db").display());
    let served = serve(&url, &[], None);
    let folder = dir.path().join("mail");
    let http = reqwest::Client::new();
    let res = http
        .post(served.url("/v1/users/password-reset/request-reset-code"))
        .json(&serde_json::json!({ "email": ADMIN.0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let mut log = Vec::new();
    let written = loop {
        match served
            .lines
            .recv_timeout(std::time::Duration::from_secs(20))
        {
            Ok(line) if line.contains("mail written") => break line,
            Ok(line) => log.push(line),
            Err(_) => panic!("no line for the mail written: {log:?}"),
        }
    };
    let started = log
        .iter()
        .find(|l| l.contains("mail goes into a folder beside the SQLite file"))
        .unwrap_or_else(|| panic!("the start does not say where mail goes: {log:?}"));
    assert!(started.contains(&folder.display().to_string()), "{started}");

    let files: Vec<std::path::PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("no folder {}: {e}", folder.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let mail = std::fs::read_to_string(&files[0]).unwrap();
    let codes: Vec<&str> = mail
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| {
            l.len() == 10
                && l.bytes()
                    .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b))
        })
        .collect();
    assert_eq!(codes.len(), 1, "one code alone on a line: {mail}");
    let code = codes[0];

    assert!(
        written.contains(&files[0].display().to_string()),
        "the line names the file: {written}"
    );
    assert!(
        written.contains("Your BillForward password reset code"),
        "the line names the subject: {written}"
    );
    assert!(!written.contains(code), "a code reached the log: {written}");
    assert!(
        !written.contains(ADMIN.0),
        "an address reached the log: {written}"
    );

    let res = http
        .post(served.url("/v1/users/password-reset/password-update"))
        .json(&serde_json::json!({
            "email": ADMIN.0,
            "resetCode": code,
            "newPassword": "a new password 1234",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    for line in served.log() {
        assert!(!line.contains(code), "a code reached the log: {line}");
    }
}

/// A fresh store: a SQLite file in `dir`, or a fresh schema of `BF_TEST_DATABASE_URL`.
async fn fresh_store(postgres: bool, dir: &tempfile::TempDir) -> Option<String> {
    if !postgres {
        return Some(format!("sqlite://{}", dir.path().join("bf.db").display()));
    }
    let base = std::env::var("BF_TEST_DATABASE_URL").ok()?;
    let schema = format!("t_{:016x}", rand::random::<u64>());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&base).await.expect("PostgreSQL");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

#[tokio::test]
async fn sigterm_finishes_requests_in_flight_and_exits_within_the_drain_time_while_a_client_hangs()
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bf.db").display());
    let mut served = serve(
        &url,
        &[
            ("BF_HTTP_DRAIN_SECONDS", "2"),
            // Longer than the test: only the drain time can end these clients.
            ("BF_HTTP_READ_TIMEOUT_MS", "120000"),
        ],
        None,
    );
    let token = served.token().await;
    let addr = served.listen.clone();

    // Half of the headers, never more.
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(b"GET /v1/users/mine HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A token and half of a body, the rest sent after SIGTERM: it is answered.
    let body = br#"{"name": "Finished during the drain"}"#;
    let mut in_flight = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/roles HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).await.unwrap();
    in_flight.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let terminated = std::time::Instant::now();
    served.terminate();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    in_flight.write_all(&body[10..]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(3),
        in_flight.read_to_end(&mut answer),
    )
    .await
    .expect("the request in flight is answered and its connection closed")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let exit = served.wait_at_most(std::time::Duration::from_secs(8));
    let took = terminated.elapsed();
    let exit =
        exit.unwrap_or_else(|| panic!("still running {took:?} after SIGTERM: {:?}", served.log()));
    assert!(exit.success(), "{exit:?}: {:?}", served.log());
    assert!(
        took < std::time::Duration::from_millis(4500),
        "exited {took:?} after SIGTERM"
    );
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_few_file_descriptors_many_clients_get_200_or_503_and_the_server_recovers() {
    for postgres in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let Some(url) = fresh_store(postgres, &dir).await else {
            continue;
        };
        let served = serve(&url, &[], Some(64));
        let token = served.token().await;
        // A connection of its own for every client.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let mut clients = tokio::task::JoinSet::new();
        for i in 0..300 {
            let request = if i % 10 == 0 {
                http.post(served.url("/v1/oauth/token")).form(&[
                    ("grant_type", "password"),
                    ("username", ADMIN.0),
                    ("password", ADMIN.1),
                ])
            } else {
                http.get(served.url("/v1/users?records=5"))
                    .bearer_auth(&token)
            };
            clients.spawn(async move {
                match request.send().await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let retry_after = res.headers().contains_key("retry-after");
                        let body = res.text().await.unwrap_or_default();
                        Ok((status, retry_after, body))
                    }
                    Err(e) => Err(e.to_string()),
                }
            });
        }
        let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
        let mut refused = 0;
        for answer in clients.join_all().await {
            match answer {
                Ok((status, retry_after, body)) => {
                    *statuses.entry(status).or_default() += 1;
                    assert!(
                        status == 200 || status == 503,
                        "postgres: {postgres}: {status} {body}"
                    );
                    if status == 503 {
                        assert!(retry_after, "503 without Retry-After: {body}");
                        assert!(body.contains("ServiceUnavailable"), "{body}");
                    }
                }
                Err(_) => refused += 1,
            }
        }
        assert!(
            statuses.get(&200).copied().unwrap_or(0) > 0,
            "postgres: {postgres}: {statuses:?}, {refused} without an answer"
        );
        // Served again at once.
        let started = std::time::Instant::now();
        let res = http
            .get(served.url("/v1/users?records=5"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "postgres: {postgres}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}

/// A journey through a served node, then the audit trail tampered with behind its back:
/// `audit verify` finds the altered event and the deleted last one; the log of the whole run
/// holds no password, token or code.
async fn audit_verify_finds_tampering_and_the_log_holds_no_secret(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = fresh_store(postgres, &dir).await else {
        return;
    };
    let served = serve(&url, &[("RUST_LOG", "debug")], None);
    let http = reqwest::Client::new();
    let login = |username: &'static str, password: &'static str| {
        let http = http.clone();
        let url = served.url("/v1/oauth/token");
        async move {
            http.post(url)
                .form(&[
                    ("grant_type", "password"),
                    ("username", username),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let mut secrets: Vec<String> = vec![ADMIN.1.into(), "wrong password 1234".into()];
    assert_eq!(login(ADMIN.0, "wrong password 1234").await.status(), 400);
    assert_eq!(
        login("nobody@nowhere.example", "wrong password 1234")
            .await
            .status(),
        400
    );
    let pair: serde_json::Value = login(ADMIN.0, ADMIN.1).await.json().await.unwrap();
    let access = pair["access_token"].as_str().unwrap().to_string();
    let refresh = pair["refresh_token"].as_str().unwrap().to_string();
    let rotated: serde_json::Value = http
        .post(served.url("/v1/oauth/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let permanent: serde_json::Value = http
        .post(served.url("/v1/users/generate-permanent-api-token"))
        .bearer_auth(&access)
        .json(&serde_json::json!({"description": "ci"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let invited: serde_json::Value = http
        .post(served.url("/v1/users/invite"))
        .bearer_auth(&access)
        .json(&serde_json::json!({"email": "invitee@example.com", "sendEmail": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reset = http
        .post(served.url("/v1/users/password-reset/request-reset-code"))
        .json(&serde_json::json!({"email": ADMIN.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    // A second factor's secret, answered once at its enrolment.
    let enrolled: serde_json::Value = http
        .post(served.url("/v1/users/mine/mfa/totp"))
        .bearer_auth(&access)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for value in [
        &enrolled["secret"],
        &pair["access_token"],
        &pair["refresh_token"],
        &rotated["access_token"],
        &rotated["refresh_token"],
        &permanent["access_token"],
        &invited["results"][0]["inviteCode"],
    ] {
        secrets.push(value.as_str().expect("a secret").to_string());
    }
    served.terminate();
    let mut served = served;
    served.wait_at_most(std::time::Duration::from_secs(20));
    let log = served.log().join("\n");
    assert!(log.contains("request"), "the log was captured: {log}");
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "the log holds {secret}");
    }

    let out = bf(
        &["audit", "verify", "--database-url", &url],
        &[("BF_SECRETS_KEY", TEST_SECRETS_KEY)],
    );
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("intact"));

    // One event altered in the organization's chain, the last one of no organization deleted.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query(
        "UPDATE audit_events SET reason = 'nothing to see' WHERE action = 'login.succeeded'",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "DELETE FROM audit_events WHERE chain = '' AND seq =
             (SELECT MAX(seq) FROM audit_events WHERE chain = '')",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let out = bf(
        &["audit", "verify", "--database-url", &url],
        &[("BF_SECRETS_KEY", TEST_SECRETS_KEY)],
    );
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("was altered"), "{report}");
    assert!(
        report.contains("chain (no organization): event"),
        "{report}"
    );
    assert!(report.contains("is missing"), "{report}");

    // Pruning with nothing old enough removes nothing.
    let out = bf(
        &["audit", "prune", "--database-url", &url],
        &[
            ("BF_AUDIT_RETENTION_DAYS", "30"),
            ("BF_SECRETS_KEY", TEST_SECRETS_KEY),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("nothing to prune"));
}

#[tokio::test]
async fn audit_verify_on_sqlite() {
    audit_verify_finds_tampering_and_the_log_holds_no_secret(false).await;
}

#[tokio::test]
async fn audit_verify_on_postgres() {
    audit_verify_finds_tampering_and_the_log_holds_no_secret(true).await;
}
