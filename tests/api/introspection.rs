//! `POST /v1/oauth/introspect` (RFC 7662): a live access or permanent token is described, with
//! what its holder may do; anything else, another organization's token included, is
//! `{"active": false}` and nothing more; only a caller holding `Tokens:introspect` asks.

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{
    create_member, create_organization, error_type, home_organization, token_of, TestApp,
};

both_stores!(
    a_live_access_token_is_described_with_its_permissions,
    an_expired_token_is_inactive,
    a_revoked_or_ended_token_is_inactive,
    what_is_no_access_token_is_inactive,
    another_organizations_token_is_inactive_to_all_but_a_platform_administrator,
    only_a_caller_holding_tokens_introspect_may_ask,
    a_permanent_api_token_is_described,
    a_request_without_a_token_is_refused_in_oauth_terms,
);

const PASSWORD: &str = "member password 1234";
const INTROSPECT: &str = "/v1/oauth/introspect";

/// Introspects `token` as `caller`, form-encoded; answers status, headers and the JSON body.
async fn introspect_at(
    app: &TestApp,
    path: &str,
    caller: Option<&str>,
    token: &str,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = app.http.post(app.url(path)).form(&[("token", token)]);
    if let Some(caller) = caller {
        req = req.bearer_auth(caller);
    }
    let res = req.send().await.expect("request sent");
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// What introspecting `token` answers `caller`, which must be a 200.
async fn described(app: &TestApp, caller: &str, token: &str) -> Value {
    let (status, headers, body) = introspect_at(app, INTROSPECT, Some(caller), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    body
}

/// Whether `token` is described as inactive, and with nothing else.
async fn inactive(app: &TestApp, caller: &str, token: &str) -> bool {
    let body = described(app, caller, token).await;
    assert!(
        body == json!({"active": false}) || body["active"] == true,
        "an inactive token is described with nothing else: {body}"
    );
    body == json!({"active": false})
}

/// A role of `org` holding `permissions` (`Resource:action`); answers its ID.
async fn role(app: &TestApp, admin: &str, org: &str, name: &str, permissions: &[&str]) -> String {
    let permissions: Vec<Value> = permissions
        .iter()
        .map(|p| {
            let (resource, action) = p.split_once(':').unwrap();
            json!({"resource": resource, "action": action})
        })
        .collect();
    let (status, body) = app
        .post(
            "/v1/roles",
            admin,
            json!({"name": name, "organizationID": org, "permissions": permissions}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"][0]["id"].as_str().unwrap().to_string()
}

/// The home organization with an inspector (`Tokens:introspect` alone) and a member holding
/// `Users:read` and `Roles:*`: (organization, inspector's token, member's ID).
async fn setting(app: &TestApp, admin: &str) -> (String, String, String) {
    let org = home_organization(app, admin).await;
    let inspector = role(app, admin, &org, "Inspector", &["Tokens:introspect"]).await;
    let worker = role(app, admin, &org, "Worker", &["Users:read", "Roles:*"]).await;
    create_member(app, &org, "inspector@a.example", PASSWORD, &[&inspector]).await;
    let member = create_member(app, &org, "worker@a.example", PASSWORD, &[&worker]).await;
    let inspector = token_of(app, "inspector@a.example", PASSWORD).await;
    (org, inspector, member)
}

/// A permanent token of the user behind `login`, issued with `body`.
async fn permanent(app: &TestApp, login: &str, body: Value) -> String {
    let (status, answer) = app
        .post("/v1/users/generate-permanent-api-token", login, body)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["access_token"].as_str().unwrap().to_string()
}

async fn revoke(app: &TestApp, token: &str) {
    let res = app
        .http
        .post(app.url("/v1/oauth/revoke"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

fn now_seconds(app: &TestApp) -> i64 {
    use bf_security::clock::Clock as _;
    app.clock.now() / 1000
}

async fn a_live_access_token_is_described_with_its_permissions(app: TestApp) {
    let admin = app.admin_token().await;
    let (org, inspector, member) = setting(&app, &admin).await;
    let issued = now_seconds(&app);
    let login = app.login("worker@a.example", PASSWORD).await;
    let access = login["access_token"].as_str().unwrap();

    let body = described(&app, &inspector, access).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(
        body["sub"],
        member.as_str(),
        "the user's ID, as userID names him"
    );
    assert_eq!(body["username"], "worker@a.example");
    assert_eq!(body["organizationID"], org.as_str());
    assert_eq!(body["scope"], login["scope"]);
    assert_eq!(body["scope"], "api organizations:all");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["tokenKind"], "access");
    assert_eq!(body["iat"], issued);
    assert_eq!(
        body["exp"],
        issued + app.settings.tokens.access_ttl_seconds,
        "{body}"
    );
    assert_eq!(
        body["permissions"],
        json!([{"resource": "Roles", "action": "*"}, {"resource": "Users", "action": "read"}])
    );
    for absent in ["client_id", "allowedRanges"] {
        assert!(body.get(absent).is_none(), "{absent}: {body}");
    }
    // The user's ID is the one his own answer carries.
    let (_, me) = app.get("/v1/users/mine", access).await;
    assert_eq!(me["results"][0]["id"], body["sub"]);

    // A JSON body asks the same; the hint changes nothing.
    let res = app
        .http
        .post(app.url(INTROSPECT))
        .bearer_auth(&inspector)
        .json(&json!({"token": access, "token_type_hint": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), body);

    // A role change shows at once, as it does on the token's own requests.
    let (status, answer) = app
        .put(
            "/v1/roles",
            &admin,
            json!({"name": "Worker", "permissions": [{"resource": "Users", "action": "read"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        described(&app, &inspector, access).await["permissions"],
        json!([{"resource": "Users", "action": "read"}])
    );
    // A platform administrator's token holds everything.
    let body = described(&app, &inspector, &admin).await;
    assert_eq!(
        body["permissions"],
        json!([{"resource": "*", "action": "*"}])
    );
    // The platform administrator may ask too, and a caller may ask about his own token.
    assert_eq!(described(&app, &admin, access).await["active"], true);
    assert_eq!(
        described(&app, &inspector, &inspector).await["active"],
        true
    );
}

async fn an_expired_token_is_inactive(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, inspector, _) = setting(&app, &admin).await;
    // The caller keeps a permanent token, which outlives the clock's move.
    let inspector = permanent(&app, &inspector, json!({})).await;
    let access = token_of(&app, "worker@a.example", PASSWORD).await;
    assert!(!inactive(&app, &inspector, &access).await);
    app.clock
        .advance_seconds(app.settings.tokens.access_ttl_seconds - 1);
    assert!(!inactive(&app, &inspector, &access).await, "not yet");
    app.clock.advance_seconds(1);
    assert!(inactive(&app, &inspector, &access).await, "expired");
    // A permanent token that expires ends the same way.
    let login = token_of(&app, "worker@a.example", PASSWORD).await;
    let expiring = permanent(&app, &login, json!({"expiresInDays": 1})).await;
    assert_eq!(
        described(&app, &inspector, &expiring).await["exp"],
        now_seconds(&app) + 86_400
    );
    app.clock.advance_seconds(86_400);
    assert!(inactive(&app, &inspector, &expiring).await);
}

async fn a_revoked_or_ended_token_is_inactive(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, inspector, _) = setting(&app, &admin).await;

    // Revoked itself.
    let access = token_of(&app, "worker@a.example", PASSWORD).await;
    revoke(&app, &access).await;
    assert!(inactive(&app, &inspector, &access).await, "revoked");

    // Logged out: the refresh token revoked, its family with it.
    let login = app.login("worker@a.example", PASSWORD).await;
    let access = login["access_token"].as_str().unwrap();
    assert!(!inactive(&app, &inspector, access).await);
    revoke(&app, login["refresh_token"].as_str().unwrap()).await;
    assert!(inactive(&app, &inspector, access).await, "logged out");

    // Its session ended by its user from another login.
    let ended = token_of(&app, "worker@a.example", PASSWORD).await;
    let other = token_of(&app, "worker@a.example", PASSWORD).await;
    let (_, sessions) = app.get("/v1/users/mine/sessions", &ended).await;
    let session = sessions["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!inactive(&app, &inspector, &ended).await);
    let (status, body) = app
        .delete(&format!("/v1/users/mine/sessions/{session}"), &other)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(inactive(&app, &inspector, &ended).await, "session ended");
    assert!(!inactive(&app, &inspector, &other).await);

    // Its user disabled.
    let (status, body) = app
        .put(
            "/v1/users/worker@a.example",
            &admin,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(inactive(&app, &inspector, &other).await, "user disabled");
}

async fn what_is_no_access_token_is_inactive(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, inspector, _) = setting(&app, &admin).await;
    let login = app.login("worker@a.example", PASSWORD).await;
    let refresh = login["refresh_token"].as_str().unwrap();
    let access = login["access_token"].as_str().unwrap();
    assert!(inactive(&app, &inspector, refresh).await, "a refresh token");
    for garbage in [
        "garbage",
        "bfsa_",
        "bfsa_unknown",
        "bfsp_unknown",
        "Bearer x",
        &access[..access.len() - 1],
        format!("{access}x").as_str(),
        access.replacen("bfsa_", "bfsp_", 1).as_str(),
        "x".repeat(4_000).as_str(),
    ] {
        assert!(inactive(&app, &inspector, garbage).await, "{garbage}");
    }
    // Asked about, the refresh token still works as a refresh token.
    let (status, body) = app
        .token_form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn another_organizations_token_is_inactive_to_all_but_a_platform_administrator(app: TestApp) {
    let admin = app.admin_token().await;
    let (org_a, inspector_a, _) = setting(&app, &admin).await;
    let (org_b, admin_b) = create_organization(&app, "Beta").await;
    create_member(&app, &org_b, "boss@b.example", PASSWORD, &[&admin_b]).await;
    let boss_b = token_of(&app, "boss@b.example", PASSWORD).await;
    let token_a = token_of(&app, "worker@a.example", PASSWORD).await;

    // B's administrator holds `*`/`*` in B: A's token is as unknown to him as garbage.
    let foreign = described(&app, &boss_b, &token_a).await;
    assert_eq!(foreign, json!({"active": false}));
    assert_eq!(foreign, described(&app, &boss_b, "bfsa_unknown").await);
    // Naming A to act in is refused: he is no member there.
    let (status, _, body) = introspect_at(
        &app,
        &format!("{INTROSPECT}?organizations={org_a}"),
        Some(&boss_b),
        &token_a,
    )
    .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::FORBIDDEN, "PermissionsError"),
        "{body}"
    );
    // Nor does A's inspector learn of B's tokens.
    assert!(inactive(&app, &inspector_a, &boss_b).await);

    // A member of both, allowed in both, sees a token of the organizations he acts in.
    let both = role(&app, &admin, &org_a, "Both A", &["Tokens:introspect"]).await;
    let both_b = role(&app, &admin, &org_b, "Both B", &["Tokens:introspect"]).await;
    let user = create_member(&app, &org_b, "both@b.example", PASSWORD, &[&both_b]).await;
    {
        use bf_security::clock::Clock as _;
        use bf_security::store::memberships;
        let now = app.clock.now();
        let mut tx = app.app.store.write().await.unwrap();
        memberships::add_member(&mut tx, &user, &org_a, now, None)
            .await
            .unwrap();
        memberships::give_role(&mut tx, &user, &both, &org_a, now, None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        app.app.auth.forget_all();
    }
    let both = token_of(&app, "both@b.example", PASSWORD).await;
    assert!(inactive(&app, &both, &token_a).await, "acting in B only");
    let (status, _, body) = introspect_at(
        &app,
        &format!("{INTROSPECT}?organizations={org_a}"),
        Some(&both),
        &token_a,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["organizationID"], org_a.as_str());
    // Bound to B, his permanent token never sees A's.
    let bound = permanent(&app, &both, json!({})).await;
    assert!(inactive(&app, &bound, &token_a).await);
    assert!(!inactive(&app, &bound, &boss_b).await);

    // The platform administrator sees every organization's, but not on a bound token.
    let body = described(&app, &admin, &boss_b).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["organizationID"], org_b.as_str());
    let admin_bound = permanent(&app, &admin, json!({})).await;
    assert!(inactive(&app, &admin_bound, &boss_b).await);
    assert!(!inactive(&app, &admin_bound, &token_a).await);
}

async fn only_a_caller_holding_tokens_introspect_may_ask(app: TestApp) {
    let admin = app.admin_token().await;
    let (org, inspector, _) = setting(&app, &admin).await;
    let every_other = role(
        &app,
        &admin,
        &org,
        "Tokens but introspect",
        &[
            "Tokens:read",
            "Tokens:create",
            "Tokens:update",
            "Tokens:delete",
            "Users:*",
            "Roles:create",
        ],
    )
    .await;
    let wildcard = role(&app, &admin, &org, "Tokens wildcard", &["Tokens:*"]).await;
    create_member(&app, &org, "other@a.example", PASSWORD, &[&every_other]).await;
    create_member(&app, &org, "wild@a.example", PASSWORD, &[&wildcard]).await;
    let other = token_of(&app, "other@a.example", PASSWORD).await;
    let wild = token_of(&app, "wild@a.example", PASSWORD).await;
    let token = token_of(&app, "worker@a.example", PASSWORD).await;

    let (status, _, body) = introspect_at(&app, INTROSPECT, Some(&other), &token).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::FORBIDDEN, "PermissionsError"),
        "{body}"
    );
    assert!(body["errorMessage"]
        .as_str()
        .unwrap()
        .contains("Tokens:introspect"));
    // The one asked about does not matter: garbage is refused the same.
    let (status, _, _) = introspect_at(&app, INTROSPECT, Some(&other), "garbage").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // `Tokens:*` covers it.
    assert!(!inactive(&app, &wild, &token).await);

    // Anonymous, or with a token that is no bearer token: challenged.
    let login = app.login("inspector@a.example", PASSWORD).await;
    for (what, caller, challenge) in [
        ("anonymous", None, "Bearer"),
        (
            "a refresh token",
            login["refresh_token"].as_str(),
            r#"Bearer error="invalid_token""#,
        ),
        (
            "an unknown token",
            Some("bfsa_unknown"),
            r#"Bearer error="invalid_token""#,
        ),
    ] {
        let (status, headers, body) = introspect_at(&app, INTROSPECT, caller, &token).await;
        assert_eq!(
            (status, error_type(&body)),
            (StatusCode::UNAUTHORIZED, "Unauthorized"),
            "{what}: {body}"
        );
        assert_eq!(headers["www-authenticate"], challenge, "{what}");
    }
    assert!(!inactive(&app, &inspector, &token).await);

    // The catalogue offers `introspect` on `Tokens` alone.
    let (_, catalogue) = app.get("/v1/permissions/catalogue", &admin).await;
    for entry in catalogue["results"].as_array().unwrap() {
        let offers = entry["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("introspect"));
        assert_eq!(offers, entry["resource"] == "Tokens", "{entry}");
    }
    let (status, body) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "Odd", "permissions": [{"resource": "Users", "action": "introspect"}]}),
        )
        .await;
    crate::common::assert_invalid(status, &body, "permissions[0].action", "Users:introspect");
    // Granting it is bounded like any other permission: one who lacks it cannot give it.
    let (status, body) = app
        .post(
            "/v1/roles",
            &other,
            json!({"name": "Mine", "permissions": [{"resource": "Tokens", "action": "introspect"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

async fn a_permanent_api_token_is_described(app: TestApp) {
    let admin = app.admin_token().await;
    let (org, inspector, member) = setting(&app, &admin).await;
    let login = token_of(&app, "worker@a.example", PASSWORD).await;
    let issued = now_seconds(&app);
    let api_token = permanent(
        &app,
        &login,
        json!({"description": "deploys", "allowedRanges": ["10.0.0.0/8"]}),
    )
    .await;

    let body = described(&app, &inspector, &api_token).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["sub"], member.as_str());
    assert_eq!(body["organizationID"], org.as_str());
    assert_eq!(body["tokenKind"], "permanent");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "api", "bound to its organization");
    assert_eq!(body["iat"], issued);
    assert!(body.get("exp").is_none(), "it does not expire: {body}");
    assert_eq!(body["allowedRanges"], json!(["10.0.0.0/8"]));
    assert_eq!(
        body["permissions"],
        json!([{"resource": "Roles", "action": "*"}, {"resource": "Users", "action": "read"}])
    );

    // Rotated with a grace period: it ends then, and says so.
    app.clock.advance_seconds(10);
    let (status, answer) = app
        .post(
            "/v1/users/refresh-permanent-api-token",
            &login,
            json!({"gracePeriodSeconds": 60}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let rotated = answer["access_token"].as_str().unwrap().to_string();
    let body = described(&app, &inspector, &api_token).await;
    assert_eq!(body["exp"], now_seconds(&app) + 60, "{body}");
    app.clock.advance_seconds(60);
    assert!(
        inactive(&app, &inspector, &api_token).await,
        "past its grace"
    );
    // Its successor is live until revoked.
    assert_eq!(described(&app, &inspector, &rotated).await["active"], true);
    revoke(&app, &rotated).await;
    assert!(inactive(&app, &inspector, &rotated).await, "revoked");
}

async fn a_request_without_a_token_is_refused_in_oauth_terms(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, inspector, _) = setting(&app, &admin).await;
    let token = token_of(&app, "worker@a.example", PASSWORD).await;
    for (what, path, body) in [
        ("no token", INTROSPECT.to_string(), String::new()),
        ("an empty token", INTROSPECT.to_string(), "token=".into()),
        (
            "a repeated token",
            INTROSPECT.to_string(),
            format!("token={token}&token={token}"),
        ),
        (
            "the token in the URL",
            format!("{INTROSPECT}?token={token}"),
            format!("token={token}"),
        ),
    ] {
        let res = app
            .http
            .post(app.url(&path))
            .bearer_auth(&inspector)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
        assert_eq!(res.headers()["cache-control"], "no-store", "{what}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{what}: {body}");
    }
}
