#![allow(dead_code)]
//! Starts the real server (the library's router behind a real listener on a loopback port) on
//! a fresh store, and talks to it over HTTP.
//!
//! Every story runs on SQLite (a fresh file) and on PostgreSQL (a fresh schema of the database
//! named by `BF_TEST_DATABASE_URL`). Without that variable the PostgreSQL runs announce that
//! they are skipped; with it set and the database unreachable, they fail.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use bf_security::clock::ManualClock;
use bf_security::config::{MailDelivery, Settings};
use bf_security::service::{bootstrap, AppState};
use bf_security::startup;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin password 1234";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub app: AppState,
    pub clock: Arc<ManualClock>,
    pub settings: Settings,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

/// Settings for tests: a cheap Argon2 cost so the suite stays fast.
pub fn test_settings() -> Settings {
    let mut s = Settings::default();
    s.argon2.memory_kib = 256;
    s.argon2.iterations = 1;
    s.argon2.parallelism = 1;
    s.bootstrap.email = Some(ADMIN_EMAIL.into());
    s.bootstrap.password = Some(ADMIN_PASSWORD.into());
    // Mail stays in the outbox, where the stories read the codes it holds; those about
    // delivery say where it goes (`delivering`).
    s.mail.delivery = MailDelivery::Outbox;
    s
}

/// Settings that deliver mail as a deployment does, for the stories about delivery.
pub fn delivering(s: &mut Settings) {
    s.mail.delivery = MailDelivery::Auto;
}

/// A fresh store of the kind; `None` (counted, and told at the end of the run) when PostgreSQL
/// is not configured.
pub async fn database_url(kind: StoreKind, dir: &tempfile::TempDir) -> Option<String> {
    match kind {
        StoreKind::Sqlite => Some(format!("sqlite://{}", dir.path().join("bf.db").display())),
        StoreKind::Postgres => {
            let Ok(base) = std::env::var("BF_TEST_DATABASE_URL") else {
                skipped_on_postgres();
                return None;
            };
            let schema = format!("t_{}", uuid_like());
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&base).await.unwrap_or_else(|e| {
                panic!("BF_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
            });
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await
                .expect("create a schema for the test");
            pool.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
        }
    }
}

/// Stories skipped on PostgreSQL for want of `BF_TEST_DATABASE_URL`, told once the run is over.
static SKIPPED_ON_POSTGRES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn skipped_on_postgres() {
    if SKIPPED_ON_POSTGRES.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
        // At exit, after the harness's summary, so that it is among the run's last lines;
        // straight to the process's stderr, which the harness does not capture.
        extern "C" fn tell() {
            let n = SKIPPED_ON_POSTGRES.load(std::sync::atomic::Ordering::SeqCst);
            let _ = writeln!(
                std::io::stderr(),
                "NOTE: {n} stories skipped on PostgreSQL (they passed without running): \
                 BF_TEST_DATABASE_URL is not set; .ci/run sets it"
            );
        }
        // SAFETY: registers a function that only reads an atomic and writes to stderr.
        unsafe {
            libc::atexit(tell);
        }
    }
}

/// A random secrets key (`BF_SECRETS_KEY`) for one store.
pub fn test_secrets_key() -> bf_security::config::SecretsKey {
    bf_security::config::SecretsKey::new(rand::random())
}

fn uuid_like() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{n:016x}")
}

impl TestApp {
    pub async fn spawn(kind: StoreKind) -> Option<Self> {
        Self::spawn_with(kind, |_| {}).await
    }

    /// Starts with the test settings changed by `adjust`.
    pub async fn spawn_with(kind: StoreKind, adjust: impl FnOnce(&mut Settings)) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = test_settings();
        settings.database_url = database_url(kind, &dir).await?;
        if kind == StoreKind::Postgres {
            // Required there (nodes share no file to keep a generated one in); SQLite runs
            // make theirs beside the database, as a deployment without the setting does.
            settings.secrets_key = Some(test_secrets_key());
        }
        adjust(&mut settings);
        let clock = ManualClock::starting_now();
        let mut app = Self {
            base: String::new(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: reqwest::Client::new(),
            app: startup::build(settings.clone(), clock.clone())
                .await
                .expect("build the app"),
            clock,
            settings,
            shutdown: None,
            server: None,
            _dir: Some(dir),
        };
        bootstrap::on_first_start(&app.app)
            .await
            .expect("first start");
        app.listen().await;
        Some(app)
    }

    async fn listen(&mut self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        self.addr = listener.local_addr().unwrap();
        self.base = format!("http://{}", self.addr);
        let (tx, rx) = oneshot::channel::<()>();
        let app = self.app.clone();
        self.server = Some(tokio::spawn(async move {
            startup::serve(app, listener, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        }));
        self.shutdown = Some(tx);
    }

    /// Stops the server and starts a new one on the same store, as after a process restart.
    pub async fn restart(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server stopped");
        }
        self.app.store.pool().close().await;
        self.app = startup::build(self.settings.clone(), self.clock.clone())
            .await
            .expect("rebuild the app");
        bootstrap::on_first_start(&self.app)
            .await
            .expect("first start");
        self.listen().await;
    }

    /// Another server on the same store, as another node of one deployment (same settings,
    /// own memory). It lives no longer than this one's store (the SQLite file's folder).
    pub async fn another_node(&self) -> TestApp {
        let mut node = Self {
            base: String::new(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: reqwest::Client::new(),
            app: startup::build(self.settings.clone(), self.clock.clone())
                .await
                .expect("build the other node"),
            clock: self.clock.clone(),
            settings: self.settings.clone(),
            shutdown: None,
            server: None,
            _dir: None,
        };
        node.listen().await;
        node
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request; answers the status and the body as JSON (`Value::Null` when empty or
    /// not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// `POST /v1/oauth/token`, form-encoded.
    pub async fn token_form(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let res = self
            .http
            .post(self.url("/v1/oauth/token"))
            .form(form)
            .send()
            .await
            .expect("request sent");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Logs in with a password; panics unless it succeeds. Answers the OAuthToken.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let (status, body) = self
            .token_form(&[
                ("grant_type", "password"),
                ("username", email),
                ("password", password),
            ])
            .await;
        assert_eq!(status, StatusCode::OK, "login of {email} failed: {body}");
        body
    }

    /// An access token of the bootstrap administrator.
    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Declares each story once and runs it on both stores:
/// `both_stores!(story_a, story_b);` with `async fn story_a(app: TestApp)` in scope.
#[macro_export]
macro_rules! both_stores {
    ($($story:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let app = $crate::common::TestApp::spawn($crate::common::StoreKind::Sqlite)
                        .await
                        .expect("sqlite app");
                    super::$story(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let Some(app) = $crate::common::TestApp::spawn($crate::common::StoreKind::Postgres).await else {
                        return;
                    };
                    super::$story(app).await;
                }
            )*
        }
    };
}

/// The error body's `errorType`, for short assertions.
pub fn error_type(body: &Value) -> &str {
    body["errorType"].as_str().unwrap_or("<no errorType>")
}

/// Like [`both_stores!`], for stories that start their own server (with settings of their own):
/// `async fn story(kind: StoreKind)`.
#[macro_export]
macro_rules! stories_of_kind {
    ($($story:ident),* $(,)?) => {
        mod sqlite { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $story() { super::$story($crate::common::StoreKind::Sqlite).await }
        )* }
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $story() { super::$story($crate::common::StoreKind::Postgres).await }
        )* }
    };
}

/// Test fixture: a user made straight through the library (not through the API), enabled,
/// with a password, a member of `organization_id` holding `role_ids` there. Answers his ID.
pub async fn create_member(
    app: &TestApp,
    organization_id: &str,
    email: &str,
    password: &str,
    role_ids: &[&str],
) -> String {
    use bf_security::clock::Clock as _;
    use bf_security::domain::{ids, SecretString};
    use bf_security::store::{memberships, users};

    let hash = app
        .app
        .hasher
        .hash(&SecretString::new(password))
        .await
        .expect("hash the password");
    let now = app.clock.now();
    let user = users::UserRow {
        id: ids::new_id(ids::USER),
        organization_id: organization_id.to_string(),
        email: email.to_string(),
        email_key: email.to_lowercase(),
        first_name: None,
        last_name: None,
        company_name: None,
        timezone: None,
        enabled: true,
        account_non_locked: true,
        account_non_expired: true,
        credentials_non_expired: true,
        bf_admin: false,
        password_hash: Some(hash),
        password_reset_valid_till: None,
        created: now,
        updated: now,
        changed_by: None,
    };
    let mut tx = app.app.store.write().await.expect("begin");
    users::insert(&mut tx, &user).await.expect("insert user");
    memberships::add_member(&mut tx, &user.id, organization_id, now, None)
        .await
        .expect("add member");
    for role_id in role_ids {
        memberships::give_role(&mut tx, &user.id, role_id, organization_id, now, None)
            .await
            .expect("assign role");
    }
    tx.commit().await.expect("commit");
    app.app.auth.forget_all();
    user.id
}

/// Test fixture: another organization with its `Administrator` role (`*`/`*`), made straight
/// through the library. Answers (organization ID, Administrator role ID).
pub async fn create_organization(app: &TestApp, name: &str) -> (String, String) {
    use bf_security::clock::Clock as _;
    let now = app.clock.now();
    let mut tx = app.app.store.write().await.expect("begin");
    let (org, role) =
        bf_security::service::organizations::create_with_admin_role(&mut tx, name, now, None)
            .await
            .expect("create the organization");
    tx.commit().await.expect("commit");
    (org.id, role.id)
}

/// Logs a user in and answers his access token.
pub async fn token_of(app: &TestApp, email: &str, password: &str) -> String {
    app.login(email, password).await["access_token"]
        .as_str()
        .expect("an access token")
        .to_string()
}

/// The organization a token acts in by default: its user's answer's `organizationID`.
pub async fn home_organization(app: &TestApp, token: &str) -> String {
    let (_, me) = app.get("/v1/users/mine", token).await;
    me["results"][0]["organizationID"]
        .as_str()
        .expect("an organizationID")
        .to_string()
}

/// Creates a user through the API (`POST /v1/users` with `body`); answers the user.
pub async fn create_user(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, answer) = app.post("/v1/users", token, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["results"][0].clone()
}

/// A 400 `ValidationError` whose `errorParameters` name `field` (among others).
pub fn assert_invalid(status: StatusCode, body: &Value, field: &str, case: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {body}");
    assert_eq!(error_type(body), "ValidationError", "{case}");
    assert!(
        body["errorParameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p == field)),
        "{case}: expected {field} in {body}"
    );
}

/// A 400 `ValidationError` naming `field` and nothing else.
pub fn assert_invalid_only(status: StatusCode, body: &Value, field: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_type(body), "ValidationError");
    assert_eq!(
        body["errorParameters"],
        serde_json::json!([field]),
        "{body}"
    );
}

/// Settings of a deployment behind a proxy on loopback: tests name the client's address in
/// `X-Forwarded-For`, as such a proxy would.
pub fn behind_proxy(s: &mut Settings) {
    s.http.trusted_proxies =
        vec![bf_security::domain::network::Cidr::parse("127.0.0.0/8").unwrap()];
}

/// What a password login from a client answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<u64>,
    /// The device cookie's value it set.
    pub device: Option<String>,
    pub set_cookie: Option<String>,
    pub body: Value,
}

/// A password login from the client at `from` (sent as `X-Forwarded-For`), presenting the
/// device cookie `device` if given.
pub async fn login_from(
    app: &TestApp,
    from: &str,
    username: &str,
    password: &str,
    device: Option<&str>,
) -> Answer {
    let mut req = app
        .http
        .post(app.url("/v1/oauth/token"))
        .header("x-forwarded-for", from)
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ]);
    if let Some(d) = device {
        req = req.header("cookie", format!("other=1; bf_device={d}"));
    }
    let res = req.send().await.expect("request sent");
    let status = res.status();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let set_cookie = res
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string());
    let device = set_cookie.as_deref().and_then(|c| {
        c.split(';')
            .next()?
            .strip_prefix("bf_device=")
            .map(str::to_string)
    });
    let body = res.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        device,
        set_cookie,
        body,
    }
}
