//! Password hashing under a burst: past its bounded queue, work that needs Argon2 is refused at
//! once with 503 and `Retry-After`, never 500 and never after a long wait, while requests that
//! need no hash keep being served.
//!
//! No assertion here is a bare timing: the refused answers are compared with a hash duration
//! measured on the same machine in the same test, with a wide margin.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bf_security::domain::SecretString;
use bf_security::error::ApiError;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::common::{error_type, StoreKind, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

crate::stories_of_kind!(
    a_burst_of_logins_past_the_queue_is_refused_at_once_while_reads_go_on,
    every_password_operation_answers_503_while_the_hashing_queue_is_full,
);

/// One hashing thread, one place in its queue, and a cost that takes a while even in an
/// optimised build, so a burst finds them taken.
async fn tiny_pool(kind: StoreKind) -> Option<TestApp> {
    TestApp::spawn_with(kind, |s| {
        s.argon2.memory_kib = 16 * 1024;
        s.argon2.iterations = 3;
        s.argon2.threads = 1;
        s.argon2.queue = Some(1);
    })
    .await
}

/// Logins sent at once.
const BURST: usize = 8;

/// An answer of the token endpoint with what this test looks at.
struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
    took: Duration,
}

async fn password_grant(app: &TestApp, username: &str, password: &str) -> Answer {
    let started = Instant::now();
    let res = app
        .http
        .post(app.url("/v1/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .expect("request sent");
    let status = res.status();
    let retry_after = res
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = res.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        body,
        took: started.elapsed(),
    }
}

fn assert_shed(answer: &Answer, what: &str) {
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {}",
        answer.body
    );
    assert_eq!(
        error_type(&answer.body),
        "ServiceUnavailable",
        "{what}: {}",
        answer.body
    );
    assert_eq!(answer.retry_after.as_deref(), Some("1"), "{what}");
}

async fn a_burst_of_logins_past_the_queue_is_refused_at_once_while_reads_go_on(kind: StoreKind) {
    let Some(app) = tiny_pool(kind).await else {
        return;
    };
    // What one login costs here, queue empty: a hash and the rest of the request.
    let started = Instant::now();
    let token = app.admin_token().await;
    let one_login = started.elapsed();

    let app = Arc::new(app);
    let answered = Arc::new(AtomicUsize::new(0));
    let mut logins = tokio::task::JoinSet::new();
    for i in 0..BURST {
        let app = app.clone();
        let answered = answered.clone();
        logins.spawn(async move {
            // Half the right password, half unknown users (checked against the dummy hash):
            // both wait in the same queue and are refused alike.
            let answer = match i % 2 {
                0 => password_grant(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await,
                _ => {
                    let nobody = format!("nobody{i}@example.com");
                    password_grant(&app, &nobody, "some password").await
                }
            };
            answered.fetch_add(1, Ordering::SeqCst);
            answer
        });
    }
    // Reads need no hash: they are answered while logins still wait for theirs.
    let mut reads_during_burst = 0;
    while answered.load(Ordering::SeqCst) < BURST && reads_during_burst < 3 {
        let (status, body) = app.get("/v1/users/mine", &token).await;
        assert_eq!(status, StatusCode::OK, "a read during the burst: {body}");
        if answered.load(Ordering::SeqCst) < BURST {
            reads_during_burst += 1;
        }
    }
    let mut answers = Vec::new();
    while let Some(joined) = logins.join_next().await {
        answers.push(joined.expect("a login task"));
    }
    let (shed, served): (Vec<&Answer>, Vec<&Answer>) = answers
        .iter()
        .partition(|a| a.status == StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        !shed.is_empty(),
        "{BURST} logins at once on 1 thread and 1 place: some are refused"
    );
    assert!(!served.is_empty(), "the first ones are served");
    for a in &shed {
        assert_shed(a, "a login past the queue");
        // The password grant keeps its own headers on the service's error body.
        assert!(a.body["error"].is_null(), "{}", a.body);
        // Refused before any hash: far sooner than one login takes.
        assert!(
            a.took < one_login,
            "refused after {:?}; one login takes {one_login:?}",
            a.took
        );
    }
    for a in &served {
        assert!(
            a.status == StatusCode::OK || a.status == StatusCode::BAD_REQUEST,
            "an admitted login is answered as usual: {} {}",
            a.status,
            a.body
        );
    }
    assert!(
        reads_during_burst > 0,
        "no read was answered while logins were in the queue"
    );
    // Nothing refused was counted as a failed guess, and the queue drains: the next login works.
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, metrics) = metrics(&app).await;
    assert!(
        metrics.contains("bf_security_password_hashing_shed_total"),
        "{metrics}"
    );
}

async fn metrics(app: &TestApp) -> (StatusCode, String) {
    let res = app.http.get(app.url("/metrics")).send().await.unwrap();
    (res.status(), res.text().await.unwrap_or_default())
}

/// Keeps the hashing thread and its queue taken, with hashes made straight through the
/// library, until dropped.
struct Saturation {
    stop: Arc<AtomicBool>,
}

impl Saturation {
    async fn start(app: &TestApp) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        for _ in 0..4 {
            let hasher = app.app.hasher.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let pw = SecretString::new("keeps the hashing thread busy");
                while !stop.load(Ordering::Relaxed) {
                    if let Err(ApiError::HashingBusy) = hasher.verify(None, &pw).await {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            });
        }
        // Taken once a check of our own is refused.
        let pw = SecretString::new("probe");
        while !matches!(
            app.app.hasher.verify(None, &pw).await,
            Err(ApiError::HashingBusy)
        ) {}
        Self { stop }
    }
}

impl Drop for Saturation {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Sends `attempt(n)` until it is refused with 503 (a place can free up between two hashes
/// of the saturation, so one may get through); none may answer 500.
async fn refused_at_some_point<F, Fut>(what: &str, attempt: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = (StatusCode, Value)>,
{
    for n in 0..20 {
        let (status, body) = attempt(n).await;
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{what}: {body}");
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(error_type(&body), "ServiceUnavailable", "{what}: {body}");
            return;
        }
    }
    panic!("{what}: never refused while the hashing queue was full");
}

async fn every_password_operation_answers_503_while_the_hashing_queue_is_full(kind: StoreKind) {
    let Some(app) = tiny_pool(kind).await else {
        return;
    };
    let admin = app.admin_token().await;
    let busy = Saturation::start(&app).await;

    refused_at_some_point("password login", |_| async {
        let a = password_grant(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        if a.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_shed(&a, "password login");
        }
        (a.status, a.body)
    })
    .await;
    refused_at_some_point("login of an unknown user", |_| async {
        let a = password_grant(&app, "nobody@example.com", "some password").await;
        (a.status, a.body)
    })
    .await;
    refused_at_some_point("sign-up", |n| {
        let body =
            json!({"email": format!("founder{n}@shop.test"), "password": "a fine password 1"});
        let admin = admin.clone();
        let app = &app;
        async move { app.post("/v1/users/flexcheck", &admin, body).await }
    })
    .await;
    refused_at_some_point("a user created with a password", |n| {
        let body =
            json!({"email": format!("member{n}@example.com"), "password": "a fine password 1"});
        let admin = admin.clone();
        let app = &app;
        async move { app.post("/v1/users", &admin, body).await }
    })
    .await;
    refused_at_some_point("one's own password change", |_| async {
        let body = json!({"currentPassword": ADMIN_PASSWORD, "newPassword": ADMIN_PASSWORD});
        app.put(&format!("/v1/users/{ADMIN_EMAIL}/password"), &admin, body)
            .await
    })
    .await;

    // Reads go on meanwhile.
    let (status, body) = app.get("/v1/users/mine", &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    drop(busy);
    // Once the burst is over, the same login works: the refusals were not counted as guesses.
    let mut served = false;
    for _ in 0..100 {
        let a = password_grant(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        if a.status == StatusCode::OK {
            served = true;
            break;
        }
        assert_shed(&a, "a login while the saturation winds down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "logins are served again once the queue drains");
}
