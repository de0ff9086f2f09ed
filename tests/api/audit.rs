//! The audit trail: each security event recorded with its change, read back through
//! `GET /v1/audit-events` by those who may and no one else, exported as NDJSON, chained so
//! that tampering shows, and free of secrets.

use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{
    assert_invalid, create_member, create_organization, home_organization, token_of, StoreKind,
    TestApp, ADMIN_EMAIL, ADMIN_PASSWORD,
};

both_stores!(
    a_change_that_rolls_back_leaves_no_event_and_no_gap,
    events_are_read_only_in_the_callers_organizations,
    every_filter_selects_and_bad_filters_are_named,
    the_export_streams_every_matching_event_as_ndjson,
    refresh_rotations_are_recorded_in_their_batch,
    refusals_are_recorded_but_a_flood_of_them_is_not,
);
/// Stories that start a server with settings of their own.
mod own_settings {
    pub(super) use super::{
        a_whole_journey_is_recorded_without_a_secret, pruning_keeps_the_chain_verifiable,
    };
    crate::stories_of_kind!(
        a_whole_journey_is_recorded_without_a_secret,
        pruning_keeps_the_chain_verifiable
    );
}

const PASSWORD: &str = "member password 1234";
const UA: &str = "audit-test/1.0";

/// Every event the caller may read with `query`, newest first (one page of 500).
async fn events(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/v1/audit-events?records=500&{query}"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"].as_array().unwrap().clone()
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

fn find<'a>(events: &'a [Value], action: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} among {:?}", actions(events)))
}

async fn verification(app: &TestApp) -> bf_security::service::audit::Verification {
    bf_security::service::audit::verify(&app.app.store)
        .await
        .unwrap()
}

async fn login_with_agent(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value) {
    let res = app
        .http
        .post(app.url("/v1/oauth/token"))
        .header("user-agent", UA)
        .form(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn a_change_that_rolls_back_leaves_no_event_and_no_gap(app: TestApp) {
    use bf_security::service::change::Change;
    use bf_security::store::audit::AuditEvent;
    let admin = app.admin_token().await;
    let org = home_organization(&app, &admin).await;
    {
        let mut change = Change::begin(&app.app).await.unwrap();
        change
            .audit(AuditEvent {
                organization_id: Some(&org),
                action: "test.rolled_back",
                ..Default::default()
            })
            .await
            .unwrap();
        // Dropped without commit: the change, its event and its place in the chain go.
    }
    let all = events(&app, &admin, "").await;
    assert!(!actions(&all).contains(&"test.rolled_back"));
    // A request that fails after its event was added: a role whose name is taken.
    let body = json!({"name": "Twice", "permissions": [{"resource": "Users", "action": "read"}]});
    assert_eq!(
        app.post("/v1/roles", &admin, body.clone()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.post("/v1/roles", &admin, body).await.0,
        StatusCode::CONFLICT
    );
    let created = events(&app, &admin, "kind=role.created").await;
    assert_eq!(created.len(), 1);
    // The next event follows on: no gap where the rolled back one would have been.
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let report = verification(&app).await;
    assert!(report.clean(), "{report:?}");
}

async fn events_are_read_only_in_the_callers_organizations(app: TestApp) {
    let admin = app.admin_token().await;
    let (org_a, admin_role_a) = create_organization(&app, "Org A").await;
    let (org_b, admin_role_b) = create_organization(&app, "Org B").await;
    create_member(&app, &org_a, "a@a.example", PASSWORD, &[&admin_role_a]).await;
    create_member(&app, &org_b, "b@b.example", PASSWORD, &[&admin_role_b]).await;
    let a = token_of(&app, "a@a.example", PASSWORD).await;
    let b = token_of(&app, "b@b.example", PASSWORD).await;
    // An event of A, and one of no organization (an unknown e-mail's failed login).
    let (status, _) = login_with_agent(&app, "a@a.example", "wrong password 1234").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = login_with_agent(&app, "nobody@nowhere.example", "whatever 12345").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let seen_by_a = events(&app, &a, "").await;
    assert!(seen_by_a
        .iter()
        .all(|e| e["organizationID"] == org_a.as_str()));
    let failed = find(&seen_by_a, "login.failed");
    assert_eq!(failed["reason"], "wrong password");
    let seen_by_b = events(&app, &b, "").await;
    assert!(!seen_by_b.is_empty());
    assert!(
        seen_by_b
            .iter()
            .all(|e| e["organizationID"] == org_b.as_str()),
        "B reads only B's events"
    );
    // Naming A is refused; so is a member of A without AuditEvents:read.
    let (status, _) = app
        .get(&format!("/v1/audit-events?organizations={org_a}"), &b)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .post(
            "/v1/roles",
            &a,
            json!({"name": "Readers", "permissions": [{"resource": "Users", "action": "read"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let readers = body["results"][0]["id"].as_str().unwrap().to_string();
    create_member(&app, &org_a, "r@a.example", PASSWORD, &[&readers]).await;
    let r = token_of(&app, "r@a.example", PASSWORD).await;
    assert_eq!(
        app.get("/v1/audit-events", &r).await.0,
        StatusCode::FORBIDDEN
    );
    // Events of no organization: a platform administrator's only.
    assert!(!seen_by_a.iter().any(|e| e.get("organizationID").is_none()));
    let platform = events(&app, &admin, "").await;
    let unknown = platform
        .iter()
        .find(|e| e["action"] == "login.failed" && e.get("organizationID").is_none())
        .expect("the unknown e-mail's failed login");
    assert_eq!(unknown["reason"], "no such user");
    assert_eq!(unknown["details"]["email"], "nobody@nowhere.example");
    assert_eq!(unknown["userAgent"], UA);
    assert_eq!(unknown["clientAddress"], "127.0.0.1");
    // Naming organizations, he reads those only.
    let named = events(&app, &admin, &format!("organizations={org_a}")).await;
    assert!(named.iter().all(|e| e["organizationID"] == org_a.as_str()));
    assert!(!named.is_empty());
    // His permanent token acts in its organization only: no events of no organization.
    let (status, body) = app
        .post("/v1/users/generate-permanent-api-token", &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let permanent = body["access_token"].as_str().unwrap();
    let bound = events(&app, permanent, "").await;
    assert!(!bound.is_empty());
    assert!(
        bound.iter().all(|e| e.get("organizationID").is_some()),
        "a bound token reads events of no organization"
    );
}

async fn every_filter_selects_and_bad_filters_are_named(app: TestApp) {
    let admin = app.admin_token().await;
    let org = home_organization(&app, &admin).await;
    let (_, me) = app.get("/v1/users/mine", &admin).await;
    let admin_id = me["results"][0]["id"].as_str().unwrap().to_string();
    let user = crate::common::create_user(
        &app,
        &admin,
        json!({"email": "filtered@example.com", "password": PASSWORD}),
    )
    .await;
    let user_id = user["id"].as_str().unwrap().to_string();
    app.clock.advance_seconds(30);
    let start = bf_security::clock::rfc3339(bf_security::clock::Clock::now(&*app.clock));
    app.clock.advance_seconds(30);
    let (status, _) = login_with_agent(&app, "filtered@example.com", "wrong password 99").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    token_of(&app, "filtered@example.com", PASSWORD).await;

    let by_kind = events(&app, &admin, "kind=login.failed").await;
    assert!(!by_kind.is_empty() && by_kind.iter().all(|e| e["action"] == "login.failed"));
    let two_kinds = events(&app, &admin, "kind=login.failed&kind=user.created").await;
    assert!(actions(&two_kinds).contains(&"user.created"));
    let by_subject = events(&app, &admin, &format!("subject={user_id}")).await;
    assert!(by_subject
        .iter()
        .all(|e| e["subjectUserID"] == user_id.as_str()));
    assert!(actions(&by_subject).contains(&"login.succeeded"));
    let by_actor = events(&app, &admin, &format!("actor={admin_id}")).await;
    assert!(by_actor.iter().all(|e| e["actorID"] == admin_id.as_str()));
    assert!(actions(&by_actor).contains(&"user.created"));
    let failed = events(&app, &admin, "outcome=failed").await;
    assert!(!failed.is_empty() && failed.iter().all(|e| e["outcome"] == "failed"));
    let later = events(&app, &admin, &format!("from={start}")).await;
    assert!(!actions(&later).contains(&"user.created"));
    assert!(actions(&later).contains(&"login.failed"));
    let earlier = events(&app, &admin, &format!("to={start}")).await;
    assert!(actions(&earlier).contains(&"user.created"));
    assert!(!actions(&earlier).contains(&"login.failed"));
    // Newest first by default; oldest first when asked.
    let newest = events(&app, &admin, &format!("organizations={org}")).await;
    let oldest = events(&app, &admin, &format!("organizations={org}&order=ASC")).await;
    assert_eq!(newest.first(), oldest.last());
    // Paged like every list.
    let (status, page) = app.get("/v1/audit-events?records=1", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["recordsReturned"], 1);
    assert!(page["nextPage"].is_string());

    for (query, field) in [
        ("outcome=maybe", "outcome"),
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("records=0", "records"),
        ("order_by=action", "order_by"),
        ("order=sideways", "order"),
    ] {
        let (status, body) = app.get(&format!("/v1/audit-events?{query}"), &admin).await;
        assert_invalid(status, &body, field, query);
    }
}

async fn the_export_streams_every_matching_event_as_ndjson(app: TestApp) {
    use bf_security::service::change::Change;
    use bf_security::store::audit::AuditEvent;
    let admin = app.admin_token().await;
    let org = home_organization(&app, &admin).await;
    // More events than the export reads from the store at once.
    const MANY: usize = 1234;
    let mut change = Change::begin(&app.app).await.unwrap();
    for _ in 0..MANY {
        change
            .audit(AuditEvent {
                organization_id: Some(&org),
                action: "test.bulk",
                ..Default::default()
            })
            .await
            .unwrap();
    }
    change.commit().await.unwrap();
    let res = app
        .http
        .get(app.url("/v1/audit-events?kind=test.bulk"))
        .bearer_auth(&admin)
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let text = res.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(lines.len(), MANY);
    assert!(lines.iter().all(|e| e["action"] == "test.bulk"));
    let mut ids: Vec<&str> = lines.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), MANY, "no event twice");
    // The export keeps to the caller's organizations too.
    let (org_b, role_b) = create_organization(&app, "Org B").await;
    create_member(&app, &org_b, "b@b.example", PASSWORD, &[&role_b]).await;
    let b = token_of(&app, "b@b.example", PASSWORD).await;
    let text = app
        .http
        .get(app.url("/v1/audit-events"))
        .bearer_auth(&b)
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.is_empty());
    for line in text.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        assert_eq!(e["organizationID"], org_b.as_str());
    }
}

async fn refresh_rotations_are_recorded_in_their_batch(app: TestApp) {
    let admin = app.admin_token().await;
    let org = home_organization(&app, &admin).await;
    let mut refreshes = Vec::new();
    for _ in 0..8 {
        let pair = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        refreshes.push(pair["refresh_token"].as_str().unwrap().to_string());
    }
    // Sent at once, so that they are written together.
    let rotations: Vec<_> = refreshes
        .iter()
        .map(|r| {
            let request = app
                .http
                .post(app.url("/v1/oauth/token"))
                .header("user-agent", UA)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", r.as_str()),
                ]);
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    for rotation in rotations {
        assert_eq!(rotation.await.unwrap(), StatusCode::OK);
    }
    let rotated = events(&app, &admin, "kind=refresh_token.rotated").await;
    assert_eq!(rotated.len(), 8);
    for e in &rotated {
        assert_eq!(e["organizationID"], org.as_str());
        assert_eq!(
            e["userAgent"], UA,
            "the origin of each rotation's own request"
        );
        assert!(e["targetID"].as_str().unwrap().starts_with("TOK-"));
        assert!(e["details"]["successor"]
            .as_str()
            .unwrap()
            .starts_with("TOK-"));
    }
    // A reuse, past the interval of a client's retry, is recorded as failed.
    app.clock.advance_seconds(60);
    let (status, _) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refreshes[1]),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let reused = events(&app, &admin, "kind=refresh_token.reused").await;
    assert!(!reused.is_empty());
    assert_eq!(reused[0]["outcome"], "failed");
    let report = verification(&app).await;
    assert!(report.clean(), "{report:?}");
}

async fn refusals_are_recorded_but_a_flood_of_them_is_not(app: TestApp) {
    let admin = app.admin_token().await;
    let org = home_organization(&app, &admin).await;
    let (status, body) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "Readers", "permissions": [{"resource": "Users", "action": "read"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let readers = body["results"][0]["id"].as_str().unwrap().to_string();
    let reader_id = create_member(&app, &org, "reader@example.com", PASSWORD, &[&readers]).await;
    let reader = token_of(&app, "reader@example.com", PASSWORD).await;
    for _ in 0..50 {
        assert_eq!(app.get("/v1/roles", &reader).await.0, StatusCode::FORBIDDEN);
    }
    let refused = events(
        &app,
        &admin,
        &format!("kind=authorization.refused&actor={reader_id}"),
    )
    .await;
    assert_eq!(
        refused.len(),
        bf_security::service::AUDITED_REFUSALS_PER_MINUTE as usize,
        "a flood of 403s writes no more than the bound"
    );
    let e = &refused[0];
    assert_eq!(e["outcome"], "refused");
    assert_eq!(e["organizationID"], org.as_str());
    assert_eq!(e["details"]["operation"], "GET /v1/roles");
    assert!(e["reason"].as_str().unwrap().contains("Roles:read"));
    // A refusal by the operation itself (acting on a user who outranks the caller).
    app.clock.advance_seconds(61);
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/v1/users/{ADMIN_EMAIL}/password"),
            Some(&reader),
            Some(json!({"newPassword": "another password 123"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let refused = events(&app, &admin, "kind=authorization.refused").await;
    assert!(refused
        .iter()
        .any(|e| e["details"]["operation"] == "PUT /v1/users/{email}/password"));
}

async fn app_with_mail(kind: StoreKind) -> Option<(TestApp, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().to_path_buf();
    let app = TestApp::spawn_with(kind, move |s| {
        crate::common::delivering(s);
        s.mail.dir = Some(path);
    })
    .await?;
    Some((app, dir))
}

/// The code alone on a line of the newest mail to `to`.
fn mailed_code(dir: &std::path::Path, to: &str) -> String {
    for _ in 0..500 {
        let mut mails: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .map(|e| {
                (
                    e.metadata().unwrap().modified().unwrap(),
                    std::fs::read_to_string(e.path()).unwrap(),
                )
            })
            .filter(|(_, m)| m.lines().any(|l| l.trim_end() == format!("To: {to}")))
            .collect();
        mails.sort();
        if let Some(code) = mails.last().and_then(|(_, m)| {
            m.lines()
                .map(str::trim_end)
                .find(|l| l.len() == 10 && l.chars().all(|c| c.is_ascii_alphanumeric()))
                .map(str::to_string)
        }) {
            return code;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("no code mailed to {to}");
}

async fn a_whole_journey_is_recorded_without_a_secret(kind: StoreKind) {
    let Some((app, dir)) = app_with_mail(kind).await else {
        return;
    };
    let mut secrets: Vec<String> = vec![ADMIN_PASSWORD.into()];
    let admin_pair = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admin = admin_pair["access_token"].as_str().unwrap().to_string();
    secrets.push(admin.clone());
    secrets.push(admin_pair["refresh_token"].as_str().unwrap().into());
    let org = home_organization(&app, &admin).await;
    // A user, his wrong and right logins, a refresh, a permanent token, minted pair.
    let user = crate::common::create_user(
        &app,
        &admin,
        json!({"email": "journey@example.com", "password": PASSWORD}),
    )
    .await;
    let user_id = user["id"].as_str().unwrap().to_string();
    secrets.push(PASSWORD.into());
    let wrong = "wrong password 4321";
    secrets.push(wrong.into());
    let (status, _) = login_with_agent(&app, "journey@example.com", wrong).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, pair) = login_with_agent(&app, "journey@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let token = pair["access_token"].as_str().unwrap().to_string();
    let refresh = pair["refresh_token"].as_str().unwrap().to_string();
    secrets.extend([token.clone(), refresh.clone()]);
    let (status, rotated) = app
        .token_form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(status, StatusCode::OK);
    secrets.push(rotated["access_token"].as_str().unwrap().into());
    secrets.push(rotated["refresh_token"].as_str().unwrap().into());
    let (status, permanent) = app
        .post(
            "/v1/users/generate-permanent-api-token",
            &token,
            json!({"description": "ci"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{permanent}");
    let permanent = permanent["access_token"].as_str().unwrap().to_string();
    secrets.push(permanent.clone());
    let (status, minted) = app.get("/v1/users/generate-tokens", &permanent).await;
    assert_eq!(status, StatusCode::OK);
    secrets.push(minted["accessToken"].as_str().unwrap().into());
    secrets.push(minted["refreshToken"].as_str().unwrap().into());
    // A change of his profile and roles, by the administrator.
    let (status, body) = app
        .put(
            "/v1/users/journey@example.com",
            &admin,
            json!({"firstName": "Jo", "enabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A reset code asked for and used.
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/users/password-reset/request-reset-code",
            None,
            Some(json!({"email": "journey@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let code = mailed_code(dir.path(), "journey@example.com");
    secrets.push(code.clone());
    let new_password = "journey new password 1";
    secrets.push(new_password.into());
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/users/password-reset/password-update",
            None,
            Some(json!({"email": "journey@example.com", "resetCode": code,
                        "newPassword": new_password})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // An invitation sent and accepted with a password.
    let (status, body) = app
        .post(
            "/v1/users/invite",
            &admin,
            json!({"email": "invited@example.com", "sendEmail": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let invite = body["results"][0]["inviteCode"]
        .as_str()
        .unwrap()
        .to_string();
    secrets.push(invite.clone());
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/users/password-reset/password-update",
            None,
            Some(json!({"email": "invited@example.com", "resetCode": invite,
                        "newPassword": "invited password 123"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    secrets.push("invited password 123".into());
    // A token revoked.
    let (status, _) = app
        .http
        .post(app.url("/v1/oauth/revoke"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(status, StatusCode::OK);

    let all = events(&app, &admin, "").await;
    for action in [
        "user.created",
        "login.failed",
        "login.succeeded",
        "refresh_token.rotated",
        "permanent_token.issued",
        "tokens.issued",
        "user.updated",
        "password_reset.requested",
        "password_reset.used",
        "user.invited",
        "invitation.accepted",
        "token.revoked",
    ] {
        let e = find(&all, action);
        assert_eq!(e["organizationID"], org.as_str(), "{action}");
        assert!(e["sequence"].as_i64().unwrap() >= 1, "{action}");
        assert_eq!(e["digest"].as_str().unwrap().len(), 64, "{action}");
    }
    let failed = find(&all, "login.failed");
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["reason"], "wrong password");
    assert_eq!(failed["subjectUserID"], user_id.as_str());
    assert_eq!(failed["userAgent"], UA);
    assert_eq!(failed["clientAddress"], "127.0.0.1");
    let updated = find(&all, "user.updated");
    assert_eq!(updated["details"]["before"]["firstName"], Value::Null);
    assert_eq!(updated["details"]["after"]["firstName"], "Jo");
    assert_eq!(updated["subjectUserID"], user_id.as_str());
    assert!(verification(&app).await.clean());

    // No secret in clear: not in the trail (every column), nor in the metrics.
    let mut conn = app.app.store.pool().acquire().await.unwrap();
    let rows = bf_security::store::audit::recent(&mut conn, 10_000)
        .await
        .unwrap();
    drop(conn);
    let trail = format!("{rows:?}");
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let digests: Vec<String> = secrets
        .iter()
        .map(|s| bf_security::security::secrets::digest(s))
        .collect();
    for secret in secrets.iter().chain(&digests) {
        assert!(!trail.contains(secret.as_str()), "the trail holds {secret}");
        assert!(
            !metrics.contains(secret.as_str()),
            "the metrics hold {secret}"
        );
    }
}

async fn pruning_keeps_the_chain_verifiable(kind: StoreKind) {
    let Some(app) = TestApp::spawn_with(kind, |s| s.audit.retention_days = 30).await else {
        return;
    };
    let admin = app.admin_token().await;
    for _ in 0..3 {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    }
    app.clock.advance_seconds(40 * 86_400);
    let admin = {
        let _ = admin;
        app.admin_token().await
    };
    let pruned = bf_security::service::audit::prune(&app.app).await.unwrap();
    assert!(!pruned.is_empty());
    let all = events(&app, &admin, "").await;
    let marker = find(&all, "audit.pruned");
    assert!(marker["details"]["throughSequence"].as_i64().unwrap() >= 4);
    // The young event (the last login) stays; the old logins are gone.
    assert_eq!(events(&app, &admin, "kind=login.succeeded").await.len(), 1);
    let report = verification(&app).await;
    assert!(report.clean(), "{report:?}");
    // Nothing new: a second run leaves the chains alone.
    app.clock.advance_seconds(3600);
    let again = bf_security::service::audit::prune(&app.app).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
    // Tampering after a pruning is still found.
    let mut conn = app.app.store.pool().acquire().await.unwrap();
    sqlx::query("UPDATE audit_events SET reason = 'edited' WHERE action = 'login.succeeded'")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let report = verification(&app).await;
    assert!(!report.clean(), "{report:?}");
}
