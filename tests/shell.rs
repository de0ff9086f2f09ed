//! Administration from the shell (`bf-security user …`, `bf-security organization …`): the real
//! binary on a store a served node uses at the same time, on SQLite and on PostgreSQL. What the
//! commands change holds over HTTP at once (logins, tokens, refreshes), and the audit trail names
//! the command and stays intact.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Cheap Argon2id, for the commands and the node alike; and a secrets key, which PostgreSQL
/// nodes must be given.
const CHEAP: [(&str, &str); 3] = [
    ("BF_ARGON2_MEMORY_KIB", "256"),
    ("BF_ARGON2_ITERATIONS", "1"),
    (
        "BF_SECRETS_KEY",
        "dGVzdCBzZWNyZXRzIGtleSBvZiAzMiBieXRlcyEhISE=",
    ),
];

/// Runs `bf-security` on `url` with `stdin` as its standard input.
fn bf(url: &str, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bf-security"));
    cmd.args(args)
        .args(["--database-url", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for key in [
        "BF_CONFIG",
        "BF_DATABASE_URL",
        "BF_BOOTSTRAP_EMAIL",
        "BF_BOOTSTRAP_PASSWORD",
    ] {
        cmd.env_remove(key);
    }
    cmd.envs(CHEAP);
    let mut child = cmd.spawn().expect("run bf-security");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A command that succeeded: its standard output.
fn ok(url: &str, args: &[&str], stdin: &str) -> String {
    let out = bf(url, args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {:?} {}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A command that answered one JSON document.
fn json(url: &str, args: &[&str], stdin: &str) -> Value {
    let stdout = ok(url, args, stdin);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// A command refused as every command refuses: status 2, nothing on standard output, one line
/// on standard error holding `why`.
fn refused(url: &str, args: &[&str], stdin: &str, why: &str) {
    let out = bf(url, args, stdin);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("bf-security: "), "{args:?}: {err}");
    assert!(err.contains(why), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
}

const ADMIN: (&str, &str) = ("ops@example.com", "ops password 1234");

/// A `bf-security serve` of the test on the same store as the commands.
struct Served {
    listen: String,
    child: std::process::Child,
}

fn serve(url: &str, cache_ttl_seconds: u32) -> Served {
    use std::io::{BufRead, BufReader};
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bf-security"))
        .args(["serve", "--database-url", url, "--listen", &listen])
        .envs(CHEAP)
        .env_remove("BF_CONFIG")
        .env("BF_BOOTSTRAP_EMAIL", ADMIN.0)
        .env("BF_BOOTSTRAP_PASSWORD", ADMIN.1)
        .env("BF_TOKEN_CACHE_TTL_SECONDS", cache_ttl_seconds.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bf-security");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.contains("serving") => break,
            Ok(line) => seen.push(line),
            Err(_) => panic!("bf-security did not start: {seen:?}"),
        }
    }
    Served { listen, child }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listen)
    }

    /// A password login: its status and body.
    async fn login(&self, email: &str, password: &str) -> (u16, Value) {
        let res = reqwest::Client::new()
            .post(self.url("/v1/oauth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", email),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A password login that must work: its access and refresh tokens.
    async fn tokens(&self, email: &str, password: &str) -> (String, String) {
        let (status, body) = self.login(email, password).await;
        assert_eq!(status, 200, "{email}: {body}");
        (
            body["access_token"].as_str().unwrap().to_string(),
            body["refresh_token"].as_str().unwrap().to_string(),
        )
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let res = reqwest::Client::new()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let res = reqwest::Client::new()
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn refresh(&self, refresh_token: &str) -> u16 {
        reqwest::Client::new()
            .post(self.url("/v1/oauth/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Waits until the token is refused (401); answers how long that took.
    async fn refused_within(&self, token: &str, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let (status, body) = self.get("/v1/users/mine", token).await;
            if status == 401 {
                return started.elapsed();
            }
            assert_eq!(status, 200, "{body}");
            assert!(
                started.elapsed() < limit,
                "the token still works after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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

/// The audit events the shell wrote: actor, action, subject and user agent, oldest first.
async fn shell_events(url: &str) -> Vec<(String, String, Option<String>, String)> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let rows = sqlx::query(
        "SELECT actor_id, action, subject_id, user_agent FROM audit_events
         WHERE actor_id LIKE 'cli:%' ORDER BY occurred, id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| {
            (
                r.get("actor_id"),
                r.get("action"),
                r.get("subject_id"),
                r.get::<Option<String>, _>("user_agent").unwrap_or_default(),
            )
        })
        .collect()
}

async fn shell_story(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = fresh_store(postgres, &dir).await else {
        return;
    };
    let url = url.as_str();
    // On PostgreSQL the node hears each change as it commits, however long it may cache; a
    // SQLite node started apart sees it when its cache entries expire.
    let cache_ttl = if postgres { 60 } else { 1 };
    let node = serve(url, cache_ttl);
    let (admin_token, _) = node.tokens(ADMIN.0, ADMIN.1).await;

    // Organizations.
    let acme = json(
        url,
        &["organization", "create", "--name", "ACME", "--json"],
        "",
    );
    assert_eq!(acme["name"], "ACME");
    assert_eq!(acme["customerCode"], "ACME");
    assert_eq!(acme["changedBy"], "cli:organization create");
    assert!(acme["administratorRoleID"]
        .as_str()
        .unwrap()
        .starts_with("ROL-"));
    let acme_id = acme["id"].as_str().unwrap().to_string();
    let human = ok(url, &["organization", "create", "--name", "Beta"], "");
    assert!(
        human.starts_with("created organization Beta (ORG-")
            && human.contains("customer code BETA"),
        "{human}"
    );
    let listed = ok(url, &["organization", "list"], "");
    for expected in [
        "CUSTOMER CODE",
        "Default",
        "ACME",
        "Beta",
        "3 organizations",
    ] {
        assert!(listed.contains(expected), "{expected}: {listed}");
    }
    let listed = json(url, &["organization", "list", "--json"], "");
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0]["name"], "Default");
    assert_eq!(listed[0]["members"], 1);
    assert_eq!(listed[1]["id"].as_str(), Some(acme_id.as_str()));
    assert_eq!(listed[1]["members"], 0);

    // A user with a generated password, shown once, who logs in with it.
    let ann = json(
        url,
        &[
            "user",
            "create",
            "--email",
            "Ann@ACME.test",
            "--organization",
            "ACME",
            "--role",
            "Administrator",
            "--json",
        ],
        "",
    );
    assert_eq!(ann["email"], "Ann@ACME.test");
    assert_eq!(ann["organizationID"].as_str(), Some(acme_id.as_str()));
    assert_eq!(ann["enabled"], true);
    assert_eq!(ann["roles"][0]["name"], "Administrator");
    assert_eq!(ann["organizations"][0]["name"], "ACME");
    assert_eq!(ann["changedBy"], "cli:user create");
    let generated = ann["password"].as_str().unwrap().to_string();
    assert!(generated.len() >= 24, "{generated}");
    node.tokens("ann@acme.test", &generated).await;

    // One with a password from standard input, named by organization ID, in human words.
    let bob_password = "bob password 1234";
    let human = ok(
        url,
        &[
            "user",
            "create",
            "--email",
            "bob@acme.test",
            "--organization",
            &acme_id,
            "--password-stdin",
        ],
        &format!("{bob_password}\n"),
    );
    assert!(
        human.starts_with("created user bob@acme.test (USR-") && human.contains("ACME: no role"),
        "{human}"
    );
    assert!(!human.contains("password"), "nothing to show: {human}");
    node.tokens("bob@acme.test", bob_password).await;

    // Refusals: one line, status 2, nothing written.
    let create =
        |email: &'static str| ["user", "create", "--email", email, "--organization", "ACME"];
    refused(
        url,
        &create("ann@acme.test"),
        "",
        "a user with e-mail ann@acme.test exists already",
    );
    refused(
        url,
        &create("not-an-email"),
        "",
        "email must look like local@domain",
    );
    let mut weak = create("carl@acme.test").to_vec();
    weak.push("--password-stdin");
    refused(
        url,
        &weak,
        "short\n",
        "password must be at least 10 characters long",
    );
    refused(url, &weak, "", "standard input held no password");
    refused(
        url,
        &[
            "user",
            "create",
            "--email",
            "carl@acme.test",
            "--organization",
            "Nowhere",
        ],
        "",
        "no organization Nowhere",
    );
    refused(
        url,
        &["user", "create", "--email", "carl@acme.test"],
        "",
        "organization is required",
    );
    refused(
        url,
        &[
            "user",
            "create",
            "--email",
            "carl@acme.test",
            "--organization",
            "ACME",
            "--role",
            "Nope",
        ],
        "",
        "no role \"Nope\"",
    );
    for command in ["set-password", "disable", "enable", "show"] {
        refused(
            url,
            &["user", command, "--email", "nobody@acme.test"],
            "",
            "no user nobody@acme.test",
        );
        refused(
            url,
            &["user", command, "--email", "nobody"],
            "",
            "email must look like local@domain",
        );
    }
    refused(
        url,
        &[
            "user",
            "set-password",
            "--email",
            "bob@acme.test",
            "--password-stdin",
        ],
        "bob@acme.test\n",
        "password must not be the e-mail address",
    );
    refused(
        url,
        &[
            "user",
            "set-password",
            "--email",
            "nobody@acme.test",
            "--password-stdin",
        ],
        "a long enough password\n",
        "no user nobody@acme.test",
    );
    refused(
        url,
        &["organization", "create", "--name", " "],
        "",
        "name is required",
    );
    refused(
        url,
        &[
            "organization",
            "create",
            "--name",
            "Gamma",
            "--admin-email",
            "nobody@acme.test",
        ],
        "",
        "no user nobody@acme.test",
    );
    assert_eq!(
        json(url, &["user", "list", "--json"], "")
            .as_array()
            .unwrap()
            .len(),
        3,
        "no refused command created anyone"
    );

    // A lost password: set from the shell, the old one and the sessions opened with it end.
    let (ann_access, ann_refresh) = node.tokens("ann@acme.test", &generated).await;
    assert_eq!(node.get("/v1/users/mine", &ann_access).await.0, 200);
    let new_password = "ann's new password 5678";
    let human = ok(
        url,
        &[
            "user",
            "set-password",
            "--email",
            "ann@acme.test",
            "--password-stdin",
        ],
        &format!("{new_password}\r\n"),
    );
    assert!(
        human.starts_with("set the password of Ann@ACME.test (USR-")
            && human.contains("ended 2 sessions"),
        "{human}"
    );
    assert_eq!(node.login("ann@acme.test", &generated).await.0, 400);
    assert_eq!(node.refresh(&ann_refresh).await, 400);
    node.tokens("ann@acme.test", new_password).await;
    let took = node
        .refused_within(&ann_access, Duration::from_secs(10))
        .await;
    if postgres {
        assert!(took < Duration::from_secs(5), "heard after {took:?}");
    }
    // Generated, as one JSON document.
    let set = json(
        url,
        &["user", "set-password", "--email", "ann@acme.test", "--json"],
        "",
    );
    assert_eq!(set["email"], "Ann@ACME.test");
    assert_eq!(set["sessionsEnded"], 1);
    assert_eq!(set["changedBy"], "cli:user set-password");
    let generated = set["password"].as_str().unwrap().to_string();
    assert_eq!(node.login("ann@acme.test", new_password).await.0, 400);
    node.tokens("ann@acme.test", &generated).await;

    // Disabled: no login, no refresh, and the token he holds is refused.
    let (bob_access, bob_refresh) = node.tokens("bob@acme.test", bob_password).await;
    assert_eq!(node.get("/v1/users/mine", &bob_access).await.0, 200);
    let human = ok(url, &["user", "disable", "--email", "bob@acme.test"], "");
    assert!(
        human.starts_with("disabled bob@acme.test (USR-")
            && human.contains("ended 2 sessions and revoked 4 tokens"),
        "{human}"
    );
    // Logins and refreshes are refused at once, on every store.
    assert_eq!(node.login("bob@acme.test", bob_password).await.0, 400);
    assert_eq!(node.refresh(&bob_refresh).await, 400);
    let took = node
        .refused_within(&bob_access, Duration::from_secs(10))
        .await;
    if postgres {
        assert!(took < Duration::from_secs(5), "heard after {took:?}");
    }
    let again = json(
        url,
        &["user", "disable", "--email", "bob@acme.test", "--json"],
        "",
    );
    assert_eq!(again["changed"], false);
    assert_eq!(again["enabled"], false);
    let human = ok(url, &["user", "disable", "--email", "bob@acme.test"], "");
    assert!(
        human.contains("was disabled already; nothing changed"),
        "{human}"
    );
    let shown = ok(url, &["user", "show", "--email", "BOB@acme.test"], "");
    for expected in [
        "bob@acme.test (USR-",
        "state:                  disabled",
        "platform administrator: no",
        "working sessions:       0",
        "second factors:         none",
        "by cli:user disable",
    ] {
        assert!(shown.contains(expected), "{expected}: {shown}");
    }
    // The API sees him so too.
    let (status, body) = node
        .get(
            &format!("/v1/users/username/bob@acme.test?organizations={acme_id}"),
            &admin_token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["enabled"], false);

    // Enabled again: he logs in.
    let enabled = json(
        url,
        &["user", "enable", "--email", "bob@acme.test", "--json"],
        "",
    );
    assert_eq!(enabled["changed"], true);
    assert_eq!(enabled["enabled"], true);
    let (bob_access, _) = node.tokens("bob@acme.test", bob_password).await;
    assert_eq!(node.get("/v1/users/mine", &bob_access).await.0, 200);
    let shown = json(
        url,
        &["user", "show", "--email", "bob@acme.test", "--json"],
        "",
    );
    assert_eq!(shown["enabled"], true);
    assert_eq!(shown["sessions"], 1);
    assert_eq!(shown["apiTokens"], 0);
    assert_eq!(shown["secondFactors"], serde_json::json!([]));
    assert_eq!(
        shown["organizations"][0]["id"].as_str(),
        Some(acme_id.as_str())
    );

    // A user who lost his second factor: the shell removes it, and he logs in with his
    // password alone again.
    let (status, enrolled) = node
        .post(
            "/v1/users/mine/mfa/totp",
            &bob_access,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{enrolled}");
    let secret = unbase32(enrolled["secret"].as_str().unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let code =
        bf_security::domain::totp::code_at_step(&secret, bf_security::domain::totp::step_at(now));
    let (status, body) = node
        .post(
            &format!(
                "/v1/users/mine/mfa/totp/{}/confirm",
                enrolled["factor"]["id"].as_str().unwrap()
            ),
            &bob_access,
            serde_json::json!({ "code": code }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = node.login("bob@acme.test", bob_password).await;
    assert_eq!(
        (status, &body["error"]),
        (400, &serde_json::json!("mfa_required"))
    );
    let shown = json(
        url,
        &["user", "show", "--email", "bob@acme.test", "--json"],
        "",
    );
    assert_eq!(shown["secondFactors"], serde_json::json!(["totp"]));
    let human = ok(
        url,
        &["user", "remove-second-factors", "--email", "bob@acme.test"],
        "",
    );
    assert!(
        human.starts_with("removed 1 second factor and the recovery codes of bob@acme.test"),
        "{human}"
    );
    node.tokens("bob@acme.test", bob_password).await;
    let again = json(
        url,
        &[
            "user",
            "remove-second-factors",
            "--email",
            "bob@acme.test",
            "--json",
        ],
        "",
    );
    assert_eq!(again["changed"], false);
    assert_eq!(again["secondFactorsRemoved"], 0);
    refused(
        url,
        &[
            "user",
            "remove-second-factors",
            "--email",
            "nobody@acme.test",
        ],
        "",
        "nobody@acme.test",
    );

    // An existing user made the administrator of a new organization.
    let gamma = json(
        url,
        &[
            "organization",
            "create",
            "--name",
            "Gamma",
            "--admin-email",
            "bob@acme.test",
            "--json",
        ],
        "",
    );
    assert_eq!(gamma["administrator"]["email"], "bob@acme.test");
    let roles: Vec<&str> = gamma["administrator"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["Administrator"]);

    // Lists.
    let listed = ok(url, &["user", "list"], "");
    let lines: Vec<&str> = listed.lines().collect();
    assert!(lines[0].starts_with("EMAIL"), "{listed}");
    assert!(lines[1].starts_with("Ann@ACME.test"), "{listed}");
    assert!(lines[1].contains("ACME: Administrator"), "{listed}");
    assert!(
        lines[2].starts_with("bob@acme.test")
            && lines[2].contains("ACME: no role; Gamma: Administrator"),
        "{listed}"
    );
    assert!(
        lines[3].starts_with("ops@example.com") && lines[3].contains("platform administrator"),
        "{listed}"
    );
    assert_eq!(lines[4], "3 users");
    let members = json(
        url,
        &["user", "list", "--organization", "ACME", "--json"],
        "",
    );
    let emails: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["Ann@ACME.test", "bob@acme.test"]);
    let none = ok(url, &["user", "list", "--organization", "Beta"], "");
    assert!(none.ends_with("0 users\n"), "{none}");

    // The trail names each command, and where it ran.
    let events = shell_events(url).await;
    // The first administrator came with the node's first start, itself a command.
    let (first, events) = events.split_first().expect("events");
    assert_eq!(
        (first.0.as_str(), first.1.as_str()),
        ("cli:serve", "bootstrap.administrator_created")
    );
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|(actor, action, _, _)| (actor.as_str(), action.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("cli:organization create", "organization.created"),
            ("cli:organization create", "organization.created"),
            ("cli:user create", "user.created"),
            ("cli:user create", "user.created"),
            ("cli:user set-password", "user.password_changed"),
            ("cli:user set-password", "user.password_changed"),
            ("cli:user disable", "user.updated"),
            ("cli:user enable", "user.updated"),
            ("cli:user remove-second-factors", "mfa.reset"),
            ("cli:organization create", "organization.created"),
        ]
    );
    for (_, _, _, agent) in events {
        assert!(
            agent.starts_with("bf-security/") && agent.contains("(shell; uid "),
            "{agent}"
        );
    }
    // And the API shows them to an administrator.
    let (status, body) = node
        .get(
            &format!("/v1/audit-events?organizations={acme_id}&actor=cli:user%20disable"),
            &admin_token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let found = &body["results"][0];
    assert_eq!(found["action"], "user.updated");
    assert_eq!(found["actorID"], "cli:user disable");
    assert_eq!(found["details"]["after"]["enabled"], false);
    // Two sessions: an access and a refresh token each.
    assert_eq!(found["details"]["tokensRevoked"], 4);

    let verified = ok(url, &["audit", "verify"], "");
    assert!(verified.contains("the audit trail is intact"), "{verified}");
}

#[tokio::test]
async fn shell_commands_on_sqlite() {
    shell_story(false).await;
}

#[tokio::test]
async fn shell_commands_on_postgres() {
    shell_story(true).await;
}

#[test]
fn every_shell_command_says_what_it_does() {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_bf-security"))
            .args(args)
            .arg("--help")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        text(&out.stdout)
    };
    let top = help(&[]);
    for line in [
        "Manages users on the store directly",
        "Manages organizations on the store directly",
    ] {
        assert!(top.contains(line), "{line}: {top}");
    }
    let users = help(&["user"]);
    for command in [
        "create",
        "set-password",
        "disable",
        "enable",
        "remove-second-factors",
        "list",
        "show",
    ] {
        assert!(
            users.contains(&format!("  {command} ")),
            "{command}: {users}"
        );
    }
    for (args, says) in [
        (&["user", "create"][..], "Creates a user with a password"),
        (
            &["user", "set-password"],
            "e.g. the administrator's when it was lost",
        ),
        (&["user", "disable"], "he can no longer log in or refresh"),
        (&["user", "enable"], "he may log in again"),
        (
            &["user", "remove-second-factors"],
            "e.g. the administrator's when he lost them",
        ),
        (&["user", "list"], "Lists users by e-mail"),
        (&["user", "show"], "whether he is disabled"),
        (&["organization", "list"], "Lists every organization"),
        (
            &["organization", "create"],
            "Creates an organization with its `Administrator` role",
        ),
    ] {
        let text = help(args);
        assert!(text.contains(says), "{args:?}: {text}");
        assert!(text.contains("--json"), "{args:?}: {text}");
        assert!(text.contains("--database-url"), "{args:?}: {text}");
    }
    for args in [&["user", "create"][..], &["user", "set-password"]] {
        let text = help(args);
        assert!(text.contains("--password-stdin"), "{args:?}: {text}");
        assert!(
            !text.contains("--password "),
            "no password as an argument: {text}"
        );
    }
}

#[test]
fn a_password_is_never_an_argument() {
    let out = Command::new(env!("CARGO_BIN_EXE_bf-security"))
        .args([
            "user",
            "set-password",
            "--email",
            "a@b.test",
            "--password",
            "x",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unexpected argument '--password'"));
}

/// RFC 4648 base32, as a TOTP enrolment answers the secret.
fn unbase32(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base32") as u32;
        value = (value << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
            value &= (1 << bits) - 1;
        }
    }
    out
}
