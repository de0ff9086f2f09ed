//! Nodes of one PostgreSQL deployment tell each other what their caches must forget: a token
//! revoked, a user disabled or a permission removed on one node is refused on another within a
//! second, though its cache would keep the old answer for its whole lifetime (the test's clock
//! never moves here, so only the signal can end it). A node whose listening connection was
//! lost forgets everything it cached.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{
    create_member, home_organization, StoreKind, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD,
};

const PASSWORD: &str = "member password 1234";

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_token_revoked_on_one_node_is_refused_on_another_within_a_second() {
        super::a_token_revoked_on_one_node_is_refused_on_another_within_a_second().await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_user_disabled_on_one_node_is_refused_on_another_within_a_second() {
        super::a_user_disabled_on_one_node_is_refused_on_another_within_a_second().await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_permission_removed_on_one_node_is_refused_on_another_within_a_second() {
        super::a_permission_removed_on_one_node_is_refused_on_another_within_a_second().await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sessions_ended_on_one_node_are_refused_on_another_within_a_second() {
        super::sessions_ended_on_one_node_are_refused_on_another_within_a_second().await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_factor_required_on_one_node_limits_sessions_on_another_within_a_second() {
        super::a_second_factor_required_on_one_node_limits_sessions_on_another_within_a_second()
            .await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_that_lost_its_listening_connection_forgets_its_cache() {
        super::a_node_that_lost_its_listening_connection_forgets_its_cache().await
    }
}

/// Two nodes of one PostgreSQL database, or none when PostgreSQL is not configured.
async fn two_nodes() -> Option<(TestApp, TestApp)> {
    let one = TestApp::spawn(StoreKind::Postgres).await?;
    let other = one.another_node().await;
    // Both listen before the story begins.
    for node in [&one, &other] {
        wait_for(Duration::from_secs(5), || async {
            node.app.store.signals_pid().is_some()
        })
        .await
        .expect("the node listens");
    }
    Some((one, other))
}

/// Polls `done` until it holds or `within` has passed; answers how long it took.
async fn wait_for<F, Fut>(within: Duration, done: F) -> Option<Duration>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if done().await {
            return Some(started.elapsed());
        }
        if started.elapsed() > within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn status_of(node: &TestApp, path: &str, token: &str) -> StatusCode {
    node.get(path, token).await.0
}

async fn a_token_revoked_on_one_node_is_refused_on_another_within_a_second() {
    let Some((one, other)) = two_nodes().await else {
        return;
    };
    let token = one.admin_token().await;
    assert_eq!(
        status_of(&other, "/v1/users/mine", &token).await,
        StatusCode::OK
    );
    let revoked = one
        .http
        .post(one.url("/v1/oauth/revoke"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let took = wait_for(Duration::from_secs(1), || async {
        status_of(&other, "/v1/users/mine", &token).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(
        took.is_some(),
        "the other node still accepts the revoked token"
    );
}

async fn sessions_ended_on_one_node_are_refused_on_another_within_a_second() {
    let Some((one, other)) = two_nodes().await else {
        return;
    };
    let admin = one.admin_token().await;
    let org = home_organization(&one, &admin).await;
    create_member(&one, &org, "roamer@example.com", PASSWORD, &[]).await;
    let access = |login: serde_json::Value| login["access_token"].as_str().unwrap().to_string();
    let here = access(one.login("roamer@example.com", PASSWORD).await);
    let phone = access(one.login("roamer@example.com", PASSWORD).await);
    let laptop = access(one.login("roamer@example.com", PASSWORD).await);
    for token in [&here, &phone, &laptop] {
        assert_eq!(
            status_of(&other, "/v1/users/mine", token).await,
            StatusCode::OK
        );
    }
    // One session ended by its user, the rest but the current one by "everywhere else".
    let (_, listed) = one.get("/v1/users/mine/sessions", &phone).await;
    let current = listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = one
        .delete(&format!("/v1/users/mine/sessions/{current}"), &phone)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = one
        .delete("/v1/users/mine/sessions?except=current", &here)
        .await;
    assert_eq!(status, StatusCode::OK);
    for token in [&phone, &laptop] {
        let took = wait_for(Duration::from_secs(1), || async {
            status_of(&other, "/v1/users/mine", token).await == StatusCode::UNAUTHORIZED
        })
        .await;
        assert!(
            took.is_some(),
            "the other node still accepts an ended session"
        );
    }
    assert_eq!(
        status_of(&other, "/v1/users/mine", &here).await,
        StatusCode::OK
    );
}

async fn a_user_disabled_on_one_node_is_refused_on_another_within_a_second() {
    let Some((one, other)) = two_nodes().await else {
        return;
    };
    let admin = one.admin_token().await;
    let org = home_organization(&one, &admin).await;
    create_member(&one, &org, "member@example.com", PASSWORD, &[]).await;
    let member = one.login("member@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        status_of(&other, "/v1/users/mine", &member).await,
        StatusCode::OK
    );
    let (status, body) = one
        .put(
            "/v1/users/member@example.com",
            &admin,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let took = wait_for(Duration::from_secs(1), || async {
        status_of(&other, "/v1/users/mine", &member).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(
        took.is_some(),
        "the other node still accepts a disabled user"
    );
}

async fn a_permission_removed_on_one_node_is_refused_on_another_within_a_second() {
    let Some((one, other)) = two_nodes().await else {
        return;
    };
    let admin = one.admin_token().await;
    let org = home_organization(&one, &admin).await;
    let (status, body) = one
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "Reader", "permissions": [{"resource": "Roles", "action": "read"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let role = body["results"][0]["id"].as_str().unwrap().to_string();
    create_member(&one, &org, "reader@example.com", PASSWORD, &[&role]).await;
    let reader = one.login("reader@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        status_of(&other, "/v1/roles", &reader).await,
        StatusCode::OK
    );
    let (status, body) = one
        .delete(&format!("/v1/roles/{role}/permission/Roles/read"), &admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let took = wait_for(Duration::from_secs(1), || async {
        status_of(&other, "/v1/roles", &reader).await == StatusCode::FORBIDDEN
    })
    .await;
    assert!(
        took.is_some(),
        "the other node still grants a removed permission"
    );
}

async fn a_second_factor_required_on_one_node_limits_sessions_on_another_within_a_second() {
    let Some((one, other)) = two_nodes().await else {
        return;
    };
    let admin = one.admin_token().await;
    let org = home_organization(&one, &admin).await;
    create_member(&one, &org, "member@example.com", PASSWORD, &[]).await;
    let member = one.login("member@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // The other node has the session and the organization's policy in its caches.
    assert_eq!(
        status_of(&other, "/v1/users/mine/sessions", &member).await,
        StatusCode::OK
    );
    let (status, body) = one
        .put(
            &format!("/v1/organizations/{org}/mfa-policy"),
            &admin,
            json!({"required": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let took = wait_for(Duration::from_secs(1), || async {
        status_of(&other, "/v1/users/mine/sessions", &member).await == StatusCode::FORBIDDEN
    })
    .await;
    assert!(
        took.is_some(),
        "the other node still lets a session that passed no second factor act"
    );
    // It may still enrol one there.
    assert_eq!(
        status_of(&other, "/v1/users/mine/mfa", &member).await,
        StatusCode::OK
    );
}

async fn a_node_that_lost_its_listening_connection_forgets_its_cache() {
    let Some((one, other)) = two_nodes().await else {
        return;
    };
    let token = one.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        status_of(&other, "/v1/users/mine", &token).await,
        StatusCode::OK
    );
    // Revoked behind the nodes' backs, with no signal: the other node's cache still holds the
    // token, for its whole lifetime since the clock does not move.
    let digest = bf_security::security::secrets::digest(&token);
    sqlx::query("UPDATE tokens SET revoked = created WHERE digest = $1")
        .bind(&digest)
        .execute(one.app.store.pool())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        status_of(&other, "/v1/users/mine", &token).await,
        StatusCode::OK
    );
    // Its listening connection ends, as when the database restarts or the network drops it.
    let pid = other.app.store.signals_pid().expect("listening");
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(one.app.store.pool())
        .await
        .unwrap();
    assert!(ended);
    let took = wait_for(Duration::from_secs(3), || async {
        status_of(&other, "/v1/users/mine", &token).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(
        took.is_some(),
        "the node kept its cache after losing its connection"
    );
    // And it listens again: the next signal reaches it.
    let second = one.admin_token().await;
    assert_eq!(
        status_of(&other, "/v1/users/mine", &second).await,
        StatusCode::OK
    );
    one.http
        .post(one.url("/v1/oauth/revoke"))
        .form(&[("token", second.as_str())])
        .send()
        .await
        .unwrap();
    let took = wait_for(Duration::from_secs(2), || async {
        status_of(&other, "/v1/users/mine", &second).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(took.is_some(), "the node does not listen again");
}
