//! When the database or the clients misbehave: connections the server killed, statements and
//! requests that would never end, clients that never finish sending, nodes starting together.
//! Nothing of it may answer 500; what cannot be served answers 503 (408 for a client too slow)
//! with the error body.

use std::time::{Duration, Instant};

use bf_security::clock::ManualClock;
use bf_security::service::bootstrap;
use bf_security::startup;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{self, error_type, StoreKind, TestApp};

crate::stories_of_kind!(
    a_statement_that_runs_too_long_answers_503_within_its_bound,
    a_request_that_runs_too_long_answers_503_with_the_error_body,
    two_nodes_starting_together_on_an_empty_store_create_one_administrator,
    half_sent_headers_and_bodies_are_timed_out,
    connections_beyond_the_limit_answer_503_with_retry_after,
);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_the_database_terminated_answer_success_or_503_never_500() {
        super::connections_the_database_terminated_answer_success_or_503_never_500().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_database_that_stops_answering_bounds_each_request_and_is_used_again_after() {
        super::a_database_that_stops_answering_bounds_each_request_and_is_used_again_after().await
    }
}

/// A connection of the test's own to the store of `app`, beside the service's pools.
async fn side_connection(app: &TestApp) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(&app.settings.database_url)
        .await
        .expect("a connection of the test's own")
}

/// A 503 with the error body.
fn assert_unavailable(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    assert_eq!(error_type(body), "ServiceUnavailable", "{what}: {body}");
}

async fn a_statement_that_runs_too_long_answers_503_within_its_bound(kind: StoreKind) {
    let Some(app) = TestApp::spawn_with(kind, |s| {
        s.database.statement_timeout_ms = 300;
        s.http.request_timeout_ms = 60_000;
    })
    .await
    else {
        return;
    };
    let token = app.admin_token().await;
    // Another client holds a lock the next request needs: a write lock on SQLite, the roles
    // table on PostgreSQL.
    let mut other = side_connection(&app).await;
    let lock = match kind {
        StoreKind::Sqlite => "BEGIN IMMEDIATE",
        StoreKind::Postgres => "BEGIN; LOCK TABLE roles IN ACCESS EXCLUSIVE MODE",
    };
    other.execute(lock).await.expect("take the lock");
    let started = Instant::now();
    let (status, body) = tokio::time::timeout(
        Duration::from_secs(4),
        app.post("/v1/roles", &token, json!({"name": "Waits"})),
    )
    .await
    .expect("the request answers within the statement timeout");
    let took = started.elapsed();
    assert_unavailable(status, &body, "a statement past its timeout");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    other.execute("ROLLBACK").await.unwrap();
    let (status, body) = app
        .post("/v1/roles", &token, json!({"name": "Waits"}))
        .await;
    assert_eq!(status, StatusCode::OK, "served again: {body}");
}

async fn a_request_that_runs_too_long_answers_503_with_the_error_body(kind: StoreKind) {
    let Some(app) = TestApp::spawn_with(kind, |s| {
        s.database.statement_timeout_ms = 60_000;
        s.http.request_timeout_ms = 300;
    })
    .await
    else {
        return;
    };
    let token = app.admin_token().await;
    let mut other = side_connection(&app).await;
    let lock = match kind {
        StoreKind::Sqlite => "BEGIN IMMEDIATE",
        StoreKind::Postgres => "BEGIN; LOCK TABLE roles IN ACCESS EXCLUSIVE MODE",
    };
    other.execute(lock).await.expect("take the lock");
    let started = Instant::now();
    let res = tokio::time::timeout(
        Duration::from_secs(4),
        app.http
            .post(app.url("/v1/roles"))
            .bearer_auth(&token)
            .json(&json!({"name": "Waits"}))
            .send(),
    )
    .await
    .expect("the request answers within the request timeout")
    .expect("an answer");
    let took = started.elapsed();
    let status = res.status();
    assert!(
        res.headers().contains_key("retry-after"),
        "{:?}",
        res.headers()
    );
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_unavailable(status, &body, "a request past its timeout");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    other.execute("ROLLBACK").await.unwrap();
    let (status, body) = app
        .post("/v1/roles", &token, json!({"name": "Later"}))
        .await;
    assert_eq!(status, StatusCode::OK, "served again: {body}");
}

/// `application_name` of the service's PostgreSQL connections, so the test finds them.
fn named_connections(s: &mut bf_security::config::Settings, name: &str) {
    s.database_url
        .push_str(&format!("&application_name={name}"));
}

async fn connections_the_database_terminated_answer_success_or_503_never_500() {
    let name = format!("bf_terminated_{}", rand::random::<u32>());
    let Some(app) = TestApp::spawn_with(StoreKind::Postgres, |s| named_connections(s, &name)).await
    else {
        return;
    };
    let token = app.admin_token().await;
    let mut other = side_connection(&app).await;
    for round in 0..3 {
        // Several requests at once, so that the pool holds several connections.
        for (status, body) in at_once(&app, &token, 8, |_| Call::List).await {
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let terminated: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE pid <> pg_backend_pid() AND datname = current_database() \
             AND application_name = $1",
        )
        .bind(&name)
        .fetch_all(&mut other)
        .await
        .expect("terminate the service's connections");
        assert!(
            !terminated.is_empty(),
            "the service's connections are named"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;

        let answers = at_once(&app, &token, 12, |i| match i % 3 {
            0 => Call::List,
            1 => Call::CreateRole(format!("Role {round} {i}")),
            _ => Call::Login,
        })
        .await;
        for (status, body) in &answers {
            if *status != StatusCode::OK {
                assert_unavailable(*status, body, "a request on a terminated connection");
            }
        }
        // Every dead connection is gone: the next requests are served.
        for _ in 0..4 {
            let (status, body) = app.get("/v1/users?records=5", &token).await;
            assert_eq!(status, StatusCode::OK, "round {round}: {body}");
        }
    }
}

enum Call {
    List,
    CreateRole(String),
    Login,
}

/// `n` requests sent at once; answers their statuses and bodies.
async fn at_once(
    app: &TestApp,
    token: &str,
    n: usize,
    call: impl Fn(usize) -> Call,
) -> Vec<(StatusCode, Value)> {
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..n {
        let request = match call(i) {
            Call::List => app
                .http
                .get(app.url("/v1/users?records=5"))
                .bearer_auth(token),
            Call::CreateRole(name) => app
                .http
                .post(app.url("/v1/roles"))
                .bearer_auth(token)
                .json(&json!({ "name": name })),
            Call::Login => app.http.post(app.url("/v1/oauth/token")).form(&[
                ("grant_type", "password"),
                ("username", common::ADMIN_EMAIL),
                ("password", common::ADMIN_PASSWORD),
            ]),
        };
        calls.spawn(async move {
            let res = request.send().await.expect("an answer");
            let status = res.status();
            (status, res.json().await.unwrap_or(Value::Null))
        });
    }
    calls.join_all().await
}

/// Forwards TCP connections to PostgreSQL; while `paused`, holds every byte back, as a network
/// that silently drops packets does, and delivers them once it is lifted.
struct Partition {
    addr: std::net::SocketAddr,
    paused: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Partition {
    async fn start(upstream: String) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let paused = std::sync::Arc::new(AtomicBool::new(false));
        let flag = paused.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                for (mut from, mut to) in [
                    (
                        Box::new(cr) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                        Box::new(sw) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
                    ),
                    (Box::new(sr), Box::new(cw)),
                ] {
                    let paused = flag.clone();
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match from.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            while paused.load(Ordering::SeqCst) {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                            if to.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown().await;
                    });
                }
            }
        });
        Self { addr, paused }
    }

    fn set(&self, paused: bool) {
        self.paused
            .store(paused, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn a_database_that_stops_answering_bounds_each_request_and_is_used_again_after() {
    let Ok(base) = std::env::var("BF_TEST_DATABASE_URL") else {
        return;
    };
    let upstream = url::Url::parse(&base).expect("BF_TEST_DATABASE_URL is a URL");
    let partition = Partition::start(format!(
        "{}:{}",
        upstream.host_str().unwrap_or("127.0.0.1"),
        upstream.port().unwrap_or(5432)
    ))
    .await;
    let proxy = partition.addr;
    let Some(app) = TestApp::spawn_with(StoreKind::Postgres, |s| {
        let mut url = url::Url::parse(&s.database_url).unwrap();
        url.set_port(Some(proxy.port())).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        s.database_url = url.to_string();
        s.http.request_timeout_ms = 500;
        s.database.acquire_timeout_ms = 300;
    })
    .await
    else {
        return;
    };
    let token = app.admin_token().await;
    let (status, _) = app.get("/v1/users?records=5", &token).await;
    assert_eq!(status, StatusCode::OK);

    partition.set(true);
    for i in 0..4 {
        let started = Instant::now();
        let (status, body) = tokio::time::timeout(
            Duration::from_secs(5),
            app.post("/v1/roles", &token, json!({"name": format!("Cut {i}")})),
        )
        .await
        .expect("a request ends while the database is silent");
        assert_unavailable(status, &body, "a silent database");
        assert!(
            started.elapsed() < Duration::from_millis(2000),
            "took {:?}",
            started.elapsed()
        );
    }
    partition.set(false);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = app.get("/v1/users?records=5", &token).await;
        if status == StatusCode::OK {
            break;
        }
        assert_unavailable(status, &body, "while connections recover");
        assert!(Instant::now() < deadline, "never served again: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn two_nodes_starting_together_on_an_empty_store_create_one_administrator(kind: StoreKind) {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let Some(url) = common::database_url(kind, &dir).await else {
            return;
        };
        let mut settings = common::test_settings();
        settings.database_url = url;
        if kind == StoreKind::Postgres {
            settings.secrets_key = Some(common::test_secrets_key());
        }
        let nodes: Vec<_> = (0..2)
            .map(|_| {
                let settings = settings.clone();
                tokio::spawn(async move {
                    let app = startup::build(settings, ManualClock::starting_now())
                        .await
                        .map_err(|e| format!("build: {e}"))?;
                    bootstrap::on_first_start(&app)
                        .await
                        .map_err(|e| format!("first start: {e}"))?;
                    Ok::<_, String>(app)
                })
            })
            .collect();
        let mut apps = Vec::new();
        for node in nodes {
            match node.await.unwrap() {
                Ok(app) => apps.push(app),
                Err(e) => panic!("round {round}: a node failed to start: {e}"),
            }
        }
        let mut conn = apps[0].store.pool().acquire().await.unwrap();
        let organizations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organizations")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let administrators: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE bf_admin = 1")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_eq!((organizations, administrators), (1, 1), "round {round}");
        drop(conn);
        for app in apps {
            app.store.pool().close().await;
        }
    }
}

async fn half_sent_headers_and_bodies_are_timed_out(kind: StoreKind) {
    let Some(app) = TestApp::spawn_with(kind, |s| s.http.read_timeout_ms = 300).await else {
        return;
    };
    let token = app.admin_token().await;

    // Half of the headers, then nothing: the connection is closed.
    let mut half_headers = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    half_headers
        .write_all(b"GET /v1/users/mine HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(3), half_headers.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "half-sent headers hold the connection open past {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_millis(2000));

    // A valid token and half of a body: 408 with the error body.
    let mut half_body = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /v1/roles HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\": "
    );
    half_body.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(3), half_body.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "a half-sent body holds the connection open past {:?}",
        started.elapsed()
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "a half-sent body: {answer}"
    );
    assert!(
        answer.contains("\"errorType\":\"RequestTimeout\""),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_millis(2000));

    // Others are served meanwhile and after.
    let (status, _) = app.get("/v1/users/mine", &token).await;
    assert_eq!(status, StatusCode::OK);
}

async fn connections_beyond_the_limit_answer_503_with_retry_after(kind: StoreKind) {
    let Some(app) = TestApp::spawn_with(kind, |s| s.http.max_connections = 1).await else {
        return;
    };
    // One client holds the only place (and the one to wait for it), sending nothing.
    let _holder = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _waiter = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let started = Instant::now();
    let res = tokio::time::timeout(
        Duration::from_secs(5),
        reqwest::Client::new().get(app.url("/healthz")).send(),
    )
    .await
    .expect("answered, not left waiting")
    .expect("an answer");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        res.headers().contains_key("retry-after"),
        "{:?}",
        res.headers()
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_type(&body), "ServiceUnavailable", "{body}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // Once the place is free, the next client is served.
    drop(_holder);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let res = reqwest::Client::new()
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
