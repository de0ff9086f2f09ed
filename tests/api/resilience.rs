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

use crate::common::{self, error_type, StoreKind, TestApp};

crate::stories_of_kind!(
    a_statement_that_runs_too_long_answers_503_within_its_bound,
    two_nodes_starting_together_on_an_empty_store_create_one_administrator,
);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_the_database_terminated_answer_success_or_503_never_500() {
        super::connections_the_database_terminated_answer_success_or_503_never_500().await
    }
}

/// A connection of the test's own to the store of `app`, beside the service's pools.
async fn side_connection(app: &TestApp) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(&app.settings.database_url)
        .await
        .expect("a connection of the test's own")
}

/// A 503 must carry the error body and say when to try again.
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
    let (lock, path) = match kind {
        StoreKind::Sqlite => ("BEGIN IMMEDIATE", "/v1/roles"),
        StoreKind::Postgres => (
            "BEGIN; LOCK TABLE roles IN ACCESS EXCLUSIVE MODE",
            "/v1/roles",
        ),
    };
    other.execute(lock).await.expect("take the lock");
    let started = Instant::now();
    let (status, body) = tokio::time::timeout(
        Duration::from_secs(4),
        app.post(path, &token, json!({"name": "Waits"})),
    )
    .await
    .expect("the request answers within the statement timeout");
    let took = started.elapsed();
    assert_unavailable(status, &body, "a statement past its timeout");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    other.execute("ROLLBACK").await.unwrap();
    let (status, body) = app.post(path, &token, json!({"name": "Waits"})).await;
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

async fn two_nodes_starting_together_on_an_empty_store_create_one_administrator(kind: StoreKind) {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let Some(url) = common::database_url(kind, &dir).await else {
            return;
        };
        let mut settings = common::test_settings();
        settings.database_url = url;
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
