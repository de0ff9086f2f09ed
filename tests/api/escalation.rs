//! Nobody gets more than he holds.
//!
//! - The paths that once handed a caller someone else's access, each as a story that must now
//!   be refused: a token minted for a member who holds more, a token of one organization
//!   acting in another, a retired role falling back to the default role, a pair that outlives
//!   the login it was minted from, an organization renamed or its tokens described by a
//!   permission held in another organization.
//! - The escalation matrix: every operation that acts on another user, tried by a caller who
//!   holds strictly less than the target, by the administrator of another organization of a
//!   shared user, and by an organization's administrator on the platform administrator; and
//!   every operation that grants, tried with a permission the caller lacks. All refused, and
//!   the targets unchanged.
//! - A property: after any sequence of operations a caller is allowed, no user holds a
//!   permission the caller lacked unless he held it before, and no identity the caller can act
//!   as (a user whose password he set, or for whom he minted a token) holds anything the caller
//!   lacks.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{
    create_member, create_organization, error_type, token_of, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD,
};

both_stores!(
    minting_a_token_for_someone_needs_all_he_holds,
    a_permanent_token_acts_only_in_its_organization,
    a_minted_pair_ends_with_the_token_it_came_from,
    a_member_whose_roles_are_gone_holds_nothing,
    adding_a_member_without_roles_gives_the_default_role,
    every_operation_on_a_user_refuses_a_caller_who_holds_less,
    every_grant_refuses_a_permission_the_caller_lacks,
    an_invitation_serves_only_its_invitee_and_its_revocation_retires_nobody_in_use,
    a_permission_held_in_one_organization_neither_renames_nor_describes_another,
    no_sequence_of_allowed_operations_escalates,
);

const PASSWORD: &str = "member password 1234";

/// The platform administrator's organization, his user ID and token.
async fn platform(app: &TestApp) -> (String, String, String) {
    let admin = app.admin_token().await;
    let (_, me) = app.get("/v1/users/mine", &admin).await;
    let me = &me["results"][0];
    (
        me["organizationID"].as_str().unwrap().to_string(),
        me["id"].as_str().unwrap().to_string(),
        admin,
    )
}

/// A role made through the API by the platform administrator; answers its ID.
async fn role(app: &TestApp, admin: &str, org: &str, name: &str, perms: &[&str]) -> String {
    let permissions: Vec<Value> = perms
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
    assert_eq!(status, StatusCode::OK, "role {name}: {body}");
    body["results"][0]["id"].as_str().unwrap().to_string()
}

/// Makes a user a member of another organization with roles there, straight through the
/// library.
async fn join(app: &TestApp, user_id: &str, org: &str, role_ids: &[&str]) {
    use bf_security::clock::Clock as _;
    use bf_security::store::memberships;
    let now = app.clock.now();
    let mut tx = app.app.store.write().await.expect("begin");
    memberships::add_member(&mut tx, user_id, org, now, None)
        .await
        .expect("add member");
    for r in role_ids {
        memberships::give_role(&mut tx, user_id, r, org, now, None)
            .await
            .expect("assign");
    }
    tx.commit().await.expect("commit");
    app.app.auth.forget_all();
}

/// `Resource:action` of every permission of every role in a user answer.
fn permissions(user: &Value) -> BTreeSet<String> {
    user["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["permissions"].as_array().cloned().unwrap_or_default())
        .map(|p| {
            format!(
                "{}:{}",
                p["resource"].as_str().unwrap(),
                p["action"].as_str().unwrap()
            )
        })
        .collect()
}

/// A user's effective permissions in an organization, as the platform administrator sees them.
async fn held(app: &TestApp, admin: &str, org: &str, email: &str) -> BTreeSet<String> {
    let (status, body) = app
        .get(
            &format!("/v1/users/username/{email}?organizations={org}"),
            admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{email}: {body}");
    permissions(&body["results"][0])
}

/// Whether `set` (as `Resource:action` strings, `*` a wildcard) grants `p`.
fn covers(set: &BTreeSet<String>, p: &str) -> bool {
    let (res, act) = p.split_once(':').unwrap();
    set.iter().any(|mine| {
        let (r, a) = mine.split_once(':').unwrap();
        (r == "*" || r.eq_ignore_ascii_case(res)) && (a == "*" || a.eq_ignore_ascii_case(act))
    })
}

async fn refresh(app: &TestApp, refresh_token: &str) -> (StatusCode, Value) {
    app.token_form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ])
    .await
}

async fn revoke(app: &TestApp, token: &str) {
    let res = app
        .http
        .post(app.url("/v1/oauth/revoke"))
        .form(&[("token", token)])
        .send()
        .await
        .expect("revoke sent");
    assert_eq!(res.status(), StatusCode::OK);
}

/// A `generate-tokens` pair: (access, refresh).
async fn minted_pair(app: &TestApp, token: &str) -> (String, String) {
    let (status, body) = app.get("/v1/users/generate-tokens", token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["accessToken"].as_str().unwrap().to_string(),
        body["refreshToken"].as_str().unwrap().to_string(),
    )
}

async fn minting_a_token_for_someone_needs_all_he_holds(app: TestApp) {
    let (org, admin_id, admin) = platform(&app).await;
    let minter = role(
        &app,
        &admin,
        &org,
        "Minter",
        &["Tokens:create", "Users:read"],
    )
    .await;
    let reader = role(&app, &admin, &org, "Reader", &["Users:read"]).await;
    let auditor = role(&app, &admin, &org, "Auditor", &["Roles:read"]).await;
    let (_, everything) = {
        let (status, body) = app.get("/v1/roles/Administrator", &admin).await;
        assert_eq!(status, StatusCode::OK);
        (
            status,
            body["results"][0]["id"].as_str().unwrap().to_string(),
        )
    };
    create_member(&app, &org, "minter@corp.test", PASSWORD, &[&minter]).await;
    let reader_id = create_member(&app, &org, "reader@corp.test", PASSWORD, &[&reader]).await;
    let auditor_id = create_member(&app, &org, "auditor@corp.test", PASSWORD, &[&auditor]).await;
    create_member(&app, &org, "boss@corp.test", PASSWORD, &[&everything]).await;
    let m = token_of(&app, "minter@corp.test", PASSWORD).await;
    let boss = token_of(&app, "boss@corp.test", PASSWORD).await;

    // The platform administrator's token: not with Tokens:create, not with `*`/`*` either.
    for (caller, who) in [
        (&m, "Tokens:create"),
        (&boss, "the organization's Administrator"),
    ] {
        for path in [
            "/v1/users/generate-permanent-api-token",
            "/v1/users/refresh-permanent-api-token",
        ] {
            let (status, body) = app.post(path, caller, json!({"userID": admin_id})).await;
            assert_eq!(
                (status, error_type(&body)),
                (StatusCode::FORBIDDEN, "PermissionsError"),
                "{who} at {path}: {body}"
            );
        }
    }
    // Nor for a member holding a permission the minter lacks.
    let (status, body) = app
        .post(
            "/v1/users/generate-permanent-api-token",
            &m,
            json!({"userID": auditor_id}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // The platform administrator got no permanent token: his own first one is issued.
    let (status, body) = app
        .post("/v1/users/generate-permanent-api-token", &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A member holding no more than the minter: allowed, and the token acts as him.
    let (status, body) = app
        .post(
            "/v1/users/generate-permanent-api-token",
            &m,
            json!({"userID": reader_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let (_, me) = app.get("/v1/users/mine", token).await;
    assert_eq!(me["results"][0]["id"], reader_id.as_str());
}

async fn a_permanent_token_acts_only_in_its_organization(app: TestApp) {
    let (org_a, _, admin) = platform(&app).await;
    let (org_b, everything_b) = create_organization(&app, "Beta").await;
    let reader_a = role(&app, &admin, &org_a, "Reader", &["Users:read", "Roles:*"]).await;
    let user = create_member(&app, &org_a, "shared@corp.test", PASSWORD, &[&reader_a]).await;
    join(&app, &user, &org_b, &[&everything_b]).await;
    let answer = app.login("shared@corp.test", PASSWORD).await;
    assert_eq!(answer["scope"], "api organizations:all", "{answer}");
    let login = answer["access_token"].as_str().unwrap().to_string();

    // A login acts in every organization of its user, and says so.
    let both = format!("/v1/users?organizations={org_a}&organizations={org_b}");
    assert_eq!(app.get(&both, &login).await.0, StatusCode::OK);

    let (status, body) = app
        .post(
            "/v1/users/generate-permanent-api-token",
            &login,
            json!({"organizationID": org_b}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "api");
    let permanent = body["access_token"].as_str().unwrap().to_string();
    let (minted, minted_refresh) = minted_pair(&app, &permanent).await;
    let (status, body) = refresh(&app, &minted_refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["scope"], "api",
        "a bound pair stays bound when refreshed"
    );
    let refreshed = body["access_token"].as_str().unwrap().to_string();

    for token in [&permanent, &minted, &refreshed] {
        assert_eq!(app.get("/v1/users", token).await.0, StatusCode::OK);
        for path in [
            format!("/v1/users?organizations={org_a}"),
            format!("/v1/users/mine?organizations={org_a}"),
            format!("/v1/roles?organizations={org_a}"),
            both.clone(),
        ] {
            let (status, body) = app.get(&path, token).await;
            assert_eq!(
                (status, error_type(&body)),
                (StatusCode::FORBIDDEN, "PermissionsError"),
                "{path}: {body}"
            );
        }
        // Nor through an organization named in the body.
        let (status, body) = app
            .post(
                "/v1/roles",
                token,
                json!({"name": "Sneaky", "organizationID": org_a}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, body) = app
            .post(
                "/v1/users/generate-permanent-api-token",
                token,
                json!({"organizationID": org_a}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let (_, roles) = app
        .get(&format!("/v1/roles/Sneaky?organizations={org_a}"), &admin)
        .await;
    assert_eq!(roles["errorType"], "NotFound");
}

async fn a_minted_pair_ends_with_the_token_it_came_from(app: TestApp) {
    let (org, _, admin) = platform(&app).await;
    let reader = role(&app, &admin, &org, "Reader", &["Users:read"]).await;
    create_member(&app, &org, "pat@corp.test", PASSWORD, &[&reader]).await;

    // From a login: revoking the login (its refresh token) ends the minted pair.
    let login = app.login("pat@corp.test", PASSWORD).await;
    let (access, refresh_token) = (
        login["access_token"].as_str().unwrap(),
        login["refresh_token"].as_str().unwrap(),
    );
    let (minted, minted_refresh) = minted_pair(&app, access).await;
    assert_eq!(app.get("/v1/users/mine", &minted).await.0, StatusCode::OK);
    revoke(&app, refresh_token).await;
    assert_eq!(
        app.get("/v1/users/mine", &minted).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &minted_refresh).await.0,
        StatusCode::BAD_REQUEST
    );

    // From a permanent token: rotating it ends the pairs minted from it, with its grace.
    let login = token_of(&app, "pat@corp.test", PASSWORD).await;
    let (_, body) = app
        .post("/v1/users/generate-permanent-api-token", &login, json!({}))
        .await;
    let permanent = body["access_token"].as_str().unwrap().to_string();
    let (minted, minted_refresh) = minted_pair(&app, &permanent).await;
    let (status, body) = app
        .post(
            "/v1/users/refresh-permanent-api-token",
            &login,
            json!({"gracePeriodSeconds": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rotated = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        app.get("/v1/users/mine", &minted).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &minted_refresh).await.0,
        StatusCode::BAD_REQUEST
    );

    let (graced, graced_refresh) = minted_pair(&app, &rotated).await;
    let (status, _) = app
        .post(
            "/v1/users/refresh-permanent-api-token",
            &login,
            json!({"gracePeriodSeconds": 60}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get("/v1/users/mine", &graced).await.0, StatusCode::OK);
    app.clock.advance_seconds(61);
    assert_eq!(
        app.get("/v1/users/mine", &graced).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &graced_refresh).await.0,
        StatusCode::BAD_REQUEST
    );

    // Revoking a permanent token ends its pairs too.
    let login = token_of(&app, "pat@corp.test", PASSWORD).await;
    let (_, body) = app
        .post(
            "/v1/users/refresh-permanent-api-token",
            &login,
            json!({"gracePeriodSeconds": 0}),
        )
        .await;
    let permanent = body["access_token"].as_str().unwrap().to_string();
    let (minted, _) = minted_pair(&app, &permanent).await;
    revoke(&app, &permanent).await;
    assert_eq!(
        app.get("/v1/users/mine", &minted).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn a_member_whose_roles_are_gone_holds_nothing(app: TestApp) {
    let (org, _, admin) = platform(&app).await;
    let (status, body) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "Everyone", "defaultRole": true,
                   "permissions": [{"resource": "Users", "action": "*"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let retirer = role(
        &app,
        &admin,
        &org,
        "Retirer",
        &["Roles:read", "Roles:delete"],
    )
    .await;
    create_member(&app, &org, "ret@corp.test", PASSWORD, &[&retirer]).await;
    let t = token_of(&app, "ret@corp.test", PASSWORD).await;

    // He retires his own role: he holds nothing, not the default role's Users:*.
    let (status, body) = app.delete(&format!("/v1/roles/{retirer}"), &t).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, me) = app.get("/v1/users/mine", &t).await;
    assert_eq!(me["results"][0]["roles"], json!([]), "{me}");
    assert_eq!(app.get("/v1/users", &t).await.0, StatusCode::FORBIDDEN);
    let (status, _) = app
        .put("/v1/users/admin@example.com", &t, json!({"firstName": "X"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // `roles: []` leaves a member holding nothing either.
    let reader = role(&app, &admin, &org, "Reader", &["Users:read"]).await;
    create_member(&app, &org, "emptied@corp.test", PASSWORD, &[&reader]).await;
    let (status, body) = app
        .put("/v1/users/emptied@corp.test", &admin, json!({"roles": []}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(held(&app, &admin, &org, "emptied@corp.test")
        .await
        .is_empty());
    let e = token_of(&app, "emptied@corp.test", PASSWORD).await;
    assert_eq!(app.get("/v1/users", &e).await.0, StatusCode::FORBIDDEN);

    // A member who joined without a role holds the default role, and says so.
    create_member(&app, &org, "newbie@corp.test", PASSWORD, &[]).await;
    let n = token_of(&app, "newbie@corp.test", PASSWORD).await;
    let (_, me) = app.get("/v1/users/mine", &n).await;
    let roles = &me["results"][0]["roles"];
    assert_eq!(roles[0]["name"], "Everyone", "{me}");
    assert_eq!(roles[0]["defaultReturned"], true);
    // Once given a role of his own and had it taken away, he no longer follows the default.
    app.put(
        "/v1/users/newbie@corp.test",
        &admin,
        json!({"roles": ["Reader"]}),
    )
    .await;
    app.put("/v1/users/newbie@corp.test", &admin, json!({"roles": []}))
        .await;
    assert!(held(&app, &admin, &org, "newbie@corp.test")
        .await
        .is_empty());
}

async fn adding_a_member_without_roles_gives_the_default_role(app: TestApp) {
    let (org, _, admin) = platform(&app).await;
    let (status, _) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "Everyone", "defaultRole": true,
                   "permissions": [{"resource": "Tokens", "action": "*"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let hirer = role(&app, &admin, &org, "Hirer", &["Users:*"]).await;
    role(&app, &admin, &org, "Reader", &["Users:read"]).await;
    create_member(&app, &org, "hirer@corp.test", PASSWORD, &[&hirer]).await;
    let h = token_of(&app, "hirer@corp.test", PASSWORD).await;

    // Without roles the new member would hold the default role's Tokens:*, which the hirer
    // lacks, and the hirer knows his password.
    let (status, body) = app
        .post(
            "/v1/users",
            &h,
            json!({"email": "puppet@corp.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::FORBIDDEN, "PermissionsError"),
        "{body}"
    );
    let (status, body) = app
        .post(
            "/v1/users/invite",
            &h,
            json!({"email": "puppet2@corp.test", "sendEmail": false}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Naming a role he may give is fine.
    let (status, body) = app
        .post(
            "/v1/users",
            &h,
            json!({"email": "puppet@corp.test", "password": PASSWORD, "roles": ["Reader"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        held(&app, &admin, &org, "puppet@corp.test").await,
        BTreeSet::from(["Users:read".to_string()])
    );
}

/// An operation on another user: (method, path, body) for the target's e-mail and ID.
type OnUser = fn(&str, &str) -> (Method, String, Value);

const ON_USER: &[(&str, OnUser)] = &[
    ("change his names", |e, _| {
        (
            Method::PUT,
            format!("/v1/users/{e}"),
            json!({"firstName": "Owned"}),
        )
    }),
    ("change his time zone", |e, _| {
        (
            Method::PUT,
            format!("/v1/users/{e}"),
            json!({"timezone": "Europe/Paris"}),
        )
    }),
    ("disable him", |e, _| {
        (
            Method::PUT,
            format!("/v1/users/{e}"),
            json!({"enabled": false}),
        )
    }),
    ("take his roles", |e, _| {
        (Method::PUT, format!("/v1/users/{e}"), json!({"roles": []}))
    }),
    ("change his e-mail", |e, _| {
        (
            Method::PUT,
            format!("/v1/users/{e}/email"),
            json!({"newEmail": "attacker@evil.test"}),
        )
    }),
    ("change his password", |e, _| {
        (
            Method::PUT,
            format!("/v1/users/{e}/password"),
            json!({"newPassword": "attacker password 1234"}),
        )
    }),
    ("mint his permanent token", |_, id| {
        (
            Method::POST,
            "/v1/users/generate-permanent-api-token".into(),
            json!({"userID": id}),
        )
    }),
    ("see his login limits", |_, id| {
        (
            Method::GET,
            format!("/v1/users/{id}/login-limits"),
            json!({}),
        )
    }),
    ("clear his login limits", |_, id| {
        (
            Method::DELETE,
            format!("/v1/users/{id}/login-limits"),
            json!({}),
        )
    }),
    ("remove his second factors", |_, id| {
        (Method::DELETE, format!("/v1/users/{id}/mfa"), json!({}))
    }),
    ("rotate his permanent token", |_, id| {
        (
            Method::POST,
            "/v1/users/refresh-permanent-api-token".into(),
            json!({"userID": id}),
        )
    }),
    ("see his sessions", |e, _| {
        (Method::GET, format!("/v1/users/{e}/sessions"), json!({}))
    }),
    ("end his sessions", |e, _| {
        (Method::DELETE, format!("/v1/users/{e}/sessions"), json!({}))
    }),
    // Refused before the session is looked for: which sessions he has is his business.
    ("end one of his sessions", |e, _| {
        (
            Method::DELETE,
            format!("/v1/users/{e}/sessions/SES-any"),
            json!({}),
        )
    }),
    ("see his API tokens", |e, _| {
        (Method::GET, format!("/v1/users/{e}/api-tokens"), json!({}))
    }),
    ("revoke one of his API tokens", |e, _| {
        (
            Method::DELETE,
            format!("/v1/users/{e}/api-tokens/TOK-any"),
            json!({}),
        )
    }),
];

async fn every_operation_on_a_user_refuses_a_caller_who_holds_less(app: TestApp) {
    let (org_a, _, admin) = platform(&app).await;
    let (org_b, everything_b) = create_organization(&app, "Beta").await;
    let (_, body) = app.get("/v1/roles/Administrator", &admin).await;
    let everything_a = body["results"][0]["id"].as_str().unwrap().to_string();
    let almost = role(
        &app,
        &admin,
        &org_a,
        "Almost",
        &["Users:*", "Tokens:*", "Roles:*"],
    )
    .await;
    let reader_a = role(&app, &admin, &org_a, "Reader", &["Users:read"]).await;

    // Targets: A's Administrator; a user of A also in B; the platform administrator.
    let boss = create_member(&app, &org_a, "boss@corp.test", PASSWORD, &[&everything_a]).await;
    let shared = create_member(&app, &org_a, "shared@corp.test", PASSWORD, &[&reader_a]).await;
    join(&app, &shared, &org_b, &[]).await;
    // Callers: one holding strictly less than A's Administrator; B's administrator; A's
    // second Administrator (`*`/`*`, but not a platform administrator).
    create_member(&app, &org_a, "almost@corp.test", PASSWORD, &[&almost]).await;
    create_member(&app, &org_b, "beta@corp.test", PASSWORD, &[&everything_b]).await;
    create_member(&app, &org_a, "deputy@corp.test", PASSWORD, &[&everything_a]).await;
    let (_, me) = app.get("/v1/users/mine", &admin).await;
    let platform_id = me["results"][0]["id"].as_str().unwrap().to_string();

    let cases = [
        (
            "almost@corp.test",
            "boss@corp.test",
            boss.clone(),
            org_a.clone(),
        ),
        (
            "beta@corp.test",
            "shared@corp.test",
            shared.clone(),
            org_b.clone(),
        ),
        ("deputy@corp.test", ADMIN_EMAIL, platform_id, org_a.clone()),
    ];
    let mut before = BTreeMap::new();
    for (_, target, _, _) in &cases {
        let (_, body) = app
            .get(
                &format!("/v1/users/username/{target}?organizations={org_a}"),
                &admin,
            )
            .await;
        before.insert(*target, body["results"][0].clone());
    }
    for (caller, target, target_id, org) in &cases {
        let token = token_of(&app, caller, PASSWORD).await;
        for (what, op) in ON_USER {
            let (method, path, body) = op(target, target_id);
            let sep = if path.contains('?') { '&' } else { '?' };
            let path = format!("{path}{sep}organizations={org}");
            let (status, answer) = app.call(method, &path, Some(&token), Some(body)).await;
            assert_eq!(
                (status, error_type(&answer)),
                (StatusCode::FORBIDDEN, "PermissionsError"),
                "{caller} may not {what} of {target}: {answer}"
            );
        }
    }
    // Every target as he was: same record, same password, no permanent token minted.
    for (_, target, _, _) in &cases {
        let (_, body) = app
            .get(
                &format!("/v1/users/username/{target}?organizations={org_a}"),
                &admin,
            )
            .await;
        assert_eq!(body["results"][0], before[target], "{target} changed");
        let password = if *target == ADMIN_EMAIL {
            ADMIN_PASSWORD
        } else {
            PASSWORD
        };
        let login = token_of(&app, target, password).await;
        let (status, body) = app
            .post("/v1/users/refresh-permanent-api-token", &login, json!({}))
            .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{target} has a permanent token: {body}"
        );
    }

    // The rule is not a refusal of everything: a member who holds no more than the caller.
    create_member(&app, &org_a, "junior@corp.test", PASSWORD, &[&reader_a]).await;
    let almost = token_of(&app, "almost@corp.test", PASSWORD).await;
    let junior = app
        .get("/v1/users/username/junior@corp.test", &admin)
        .await
        .1["results"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut email = "junior@corp.test".to_string();
    for (what, op) in ON_USER {
        let (method, path, body) = op(&email, &junior);
        let (status, answer) = app.call(method, &path, Some(&almost), Some(body)).await;
        if status == StatusCode::OK && *what == "change his e-mail" {
            email = "attacker@evil.test".into();
        }
        assert!(
            status == StatusCode::OK
                // Rotating needs a token to rotate; the previous row issued one.
                || (status == StatusCode::NOT_FOUND && *what == "rotate his permanent token")
                // Past the rule, a session or token he does not have is not found.
                || (status == StatusCode::NOT_FOUND
                    && ["end one of his sessions", "revoke one of his API tokens"]
                        .contains(what)),
            "{what} of a lesser member: {status} {answer}"
        );
    }
}

async fn every_grant_refuses_a_permission_the_caller_lacks(app: TestApp) {
    let (org, _, admin) = platform(&app).await;
    let granter = role(
        &app,
        &admin,
        &org,
        "Granter",
        &["Users:*", "Roles:*", "Invitations:*"],
    )
    .await;
    role(&app, &admin, &org, "Big", &["Tokens:*"]).await;
    let (status, invited) = app
        .post(
            "/v1/users/invite",
            &admin,
            json!({"email": "big-invitee@corp.test", "roles": ["Big"], "sendEmail": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{invited}");
    let big_invitation = invited["results"][0]["id"].as_str().unwrap().to_string();
    let empty = role(&app, &admin, &org, "Empty", &[]).await;
    create_member(&app, &org, "granter@corp.test", PASSWORD, &[&granter]).await;
    create_member(&app, &org, "plain@corp.test", PASSWORD, &[&empty]).await;
    let g = token_of(&app, "granter@corp.test", PASSWORD).await;
    let tokens_create = json!([{"resource": "Tokens", "action": "create"}]);
    let attempts: Vec<(&str, Method, String, Value)> = vec![
        (
            "create a role with it",
            Method::POST,
            "/v1/roles".into(),
            json!({"name": "Mine", "permissions": tokens_create}),
        ),
        (
            "add it to a role",
            Method::PUT,
            "/v1/roles".into(),
            json!({"id": empty, "permissions": tokens_create}),
        ),
        (
            "make a role holding it the default",
            Method::PUT,
            "/v1/roles".into(),
            json!({"name": "Big", "defaultRole": true}),
        ),
        (
            "create a user with a role holding it",
            Method::POST,
            "/v1/users".into(),
            json!({"email": "new@corp.test", "password": PASSWORD, "roles": ["Big"]}),
        ),
        (
            "invite with a role holding it",
            Method::POST,
            "/v1/users/invite".into(),
            json!({"email": "inv@corp.test", "roles": ["Big"], "sendEmail": false}),
        ),
        (
            "give a member a role holding it",
            Method::PUT,
            "/v1/users/plain@corp.test".into(),
            json!({"roles": ["Big"]}),
        ),
        // Resending brings an invitation back to life: it gives its roles anew.
        (
            "resend an invitation giving a role holding it",
            Method::POST,
            format!("/v1/invitations/{big_invitation}/resend"),
            Value::Null,
        ),
    ];
    // Roles that hold more than he does are not his to change, trim or retire.
    let attempts = attempts.into_iter().chain([
        (
            "rename a role holding it",
            Method::PUT,
            "/v1/roles".into(),
            json!({"name": "Big", "description": "mine now"}),
        ),
        (
            "take a permission away from a role holding more",
            Method::PUT,
            "/v1/roles".into(),
            json!({"name": "Administrator", "permissions": []}),
        ),
        (
            "remove a permission of a role holding more",
            Method::DELETE,
            "/v1/roles/Administrator/permission/*/*".into(),
            Value::Null,
        ),
        (
            "retire a role holding more",
            Method::DELETE,
            "/v1/roles/Administrator".into(),
            Value::Null,
        ),
    ]);
    for (what, method, path, body) in attempts {
        let body = (!body.is_null()).then_some(body);
        let (status, answer) = app.call(method, &path, Some(&g), body).await;
        assert_eq!(
            (status, error_type(&answer)),
            (StatusCode::FORBIDDEN, "PermissionsError"),
            "{what}: {answer}"
        );
    }
    assert!(held(&app, &admin, &org, "plain@corp.test").await.is_empty());
    let (_, big) = app.get("/v1/roles/Big", &admin).await;
    assert_eq!(big["results"][0]["defaultRole"], false);
    assert!(big["results"][0]["description"].is_null());
    let (status, boss) = app.get("/v1/roles/Administrator", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(boss["results"][0]["permissions"][0]["resource"], "*");
    assert_eq!(
        app.get("/v1/roles/Mine", &admin).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/v1/users/username/new@corp.test", &admin).await.0,
        StatusCode::NOT_FOUND
    );
}

/// The invitation operations on the invitee's side act only for him; revoking retires only a
/// user who never used his account.
async fn an_invitation_serves_only_its_invitee_and_its_revocation_retires_nobody_in_use(
    app: TestApp,
) {
    let (org_a, _, admin) = platform(&app).await;
    let (org_b, _) = create_organization(&app, "Beta").await;
    let big = role(&app, &admin, &org_a, "Big", &["*:*"]).await;
    let revoker = role(&app, &admin, &org_a, "Revoker", &["Invitations:delete"]).await;
    create_member(&app, &org_b, "invitee@b.test", PASSWORD, &[]).await;
    create_member(&app, &org_b, "thief@b.test", PASSWORD, &[]).await;
    create_member(&app, &org_a, "revoker@corp.test", PASSWORD, &[&revoker]).await;
    let (status, invited) = app
        .post(
            "/v1/users/invite",
            &admin,
            json!({"email": "invitee@b.test", "roles": [big]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{invited}");
    let id = invited["results"][0]["id"].as_str().unwrap().to_string();
    // Someone else cannot take the invitation's roles by its ID.
    let thief = token_of(&app, "thief@b.test", PASSWORD).await;
    for what in ["accept", "decline"] {
        let (status, body) = app
            .post(
                &format!("/v1/users/mine/invitations/{id}/{what}"),
                &thief,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {body}");
    }
    let (status, _) = app
        .get(&format!("/v1/users/mine?organizations={org_a}"), &thief)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the thief joined nothing");
    // Revoking ends the invitation of a user in use, never the user.
    let r = token_of(&app, "revoker@corp.test", PASSWORD).await;
    let (status, body) = app.delete(&format!("/v1/invitations/{id}"), &r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    token_of(&app, "invitee@b.test", PASSWORD).await;
    let (status, _) = app
        .get(
            &format!("/v1/users/username/invitee@b.test?organizations={org_b}"),
            &admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let invitee = token_of(&app, "invitee@b.test", PASSWORD).await;
    let (status, _) = app
        .post(
            &format!("/v1/users/mine/invitations/{id}/accept"),
            &invitee,
            json!({}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a revoked invitation is gone"
    );
}

/// `Organizations:update` and `Tokens:introspect` held in one organization reach nothing of
/// another the caller also belongs to, and a token bound to one reaches nothing of the other
/// even when its user holds everything in both.
async fn a_permission_held_in_one_organization_neither_renames_nor_describes_another(app: TestApp) {
    let (org_a, _, admin) = platform(&app).await;
    let (org_b, everything_b) = create_organization(&app, "Beta").await;
    let reader_a = role(&app, &admin, &org_a, "Reader", &["Users:read"]).await;
    let steward_b = role(
        &app,
        &admin,
        &org_b,
        "Steward",
        &["Organizations:*", "Tokens:*"],
    )
    .await;
    let everything_a = role(&app, &admin, &org_a, "Everything", &["*:*"]).await;
    let steward = create_member(&app, &org_b, "steward@b.test", PASSWORD, &[&steward_b]).await;
    join(&app, &steward, &org_a, &[&reader_a]).await;
    let both = create_member(&app, &org_b, "both@b.test", PASSWORD, &[&everything_b]).await;
    join(&app, &both, &org_a, &[&everything_a]).await;
    create_member(&app, &org_a, "victim@corp.test", PASSWORD, &[&reader_a]).await;
    let victim = token_of(&app, "victim@corp.test", PASSWORD).await;
    let (_, before) = app.get(&format!("/v1/organizations/{org_a}"), &admin).await;

    let introspect = |caller: String, query: String| {
        let app = &app;
        let victim = victim.clone();
        async move {
            let res = app
                .http
                .post(app.url(&format!("/v1/oauth/introspect{query}")))
                .bearer_auth(caller)
                .form(&[("token", victim.as_str())])
                .send()
                .await
                .unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // The steward of B, a mere reader in A.
    let s = token_of(&app, "steward@b.test", PASSWORD).await;
    let rename_a = format!("/v1/organizations/{org_a}");
    let (status, body) = app.put(&rename_a, &s, json!({"name": "Stewarded"})).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::FORBIDDEN, "PermissionsError"),
        "{body}"
    );
    let (status, body) = introspect(s.clone(), String::new()).await;
    assert_eq!(
        (status, &body),
        (StatusCode::OK, &json!({"active": false})),
        "acting in B, A's token is not his to describe"
    );
    let (status, body) = introspect(s.clone(), format!("?organizations={org_a}")).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::FORBIDDEN, "PermissionsError"),
        "{body}"
    );

    // Everything in both, but on a token bound to B.
    let login = token_of(&app, "both@b.test", PASSWORD).await;
    let (status, body) = app
        .post("/v1/users/generate-permanent-api-token", &login, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bound = body["access_token"].as_str().unwrap().to_string();
    let (status, body) = app.put(&rename_a, &bound, json!({"name": "Bound"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = introspect(bound.clone(), String::new()).await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({"active": false})));
    let (status, _) = introspect(bound, format!("?organizations={org_a}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // His login, naming A, may: the rule is about reach, not a refusal of everything.
    let (status, body) = introspect(login, format!("?organizations={org_a}")).await;
    assert_eq!((status, &body["active"]), (StatusCode::OK, &json!(true)));

    let (_, after) = app.get(&format!("/v1/organizations/{org_a}"), &admin).await;
    assert_eq!(after["results"], before["results"], "A was not renamed");
}

// ---- the property ------------------------------------------------------------------------

const CONCRETE: [&str; 22] = [
    "AuditEvents:read",
    "Tokens:introspect",
    "Users:read",
    "Users:create",
    "Users:update",
    "Users:delete",
    "Roles:read",
    "Roles:create",
    "Roles:update",
    "Roles:delete",
    "Organizations:read",
    "Organizations:create",
    "Organizations:update",
    "Organizations:delete",
    "Tokens:read",
    "Tokens:create",
    "Tokens:update",
    "Tokens:delete",
    "Invitations:read",
    "Invitations:create",
    "Invitations:update",
    "Invitations:delete",
];
const WILDCARDS: [&str; 4] = ["Users:*", "Tokens:*", "*:read", "*:*"];

fn some_permissions(rng: &mut StdRng, at_most: usize) -> Vec<&'static str> {
    let n = rng.gen_range(0..=at_most);
    (0..n)
        .map(|_| {
            if rng.gen_bool(0.2) {
                *WILDCARDS.choose(rng).unwrap()
            } else {
                *CONCRETE.choose(rng).unwrap()
            }
        })
        .collect()
}

fn body_permissions(perms: &[&str]) -> Value {
    perms
        .iter()
        .map(|p| {
            let (resource, action) = p.split_once(':').unwrap();
            json!({"resource": resource, "action": action})
        })
        .collect()
}

/// Everyone in the organization with what he holds there, as the platform administrator sees.
async fn everyone(app: &TestApp, admin: &str, org: &str) -> BTreeMap<String, BTreeSet<String>> {
    let (status, body) = app
        .get(&format!("/v1/users?organizations={org}&records=500"), admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["email"].as_str().unwrap().to_lowercase(), permissions(u)))
        .collect()
}

async fn no_sequence_of_allowed_operations_escalates(app: TestApp) {
    let (org, _, admin) = platform(&app).await;
    for seed in 0..8u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let tag = format!("s{seed}");
        // The caller: the permissions to manage users and roles at all, and a random rest.
        let mut mine: Vec<&str> = vec![
            "Users:create",
            "Users:update",
            "Roles:create",
            "Roles:update",
        ];
        mine.extend(some_permissions(&mut rng, 5));
        let caller_role = role(&app, &admin, &org, &format!("{tag}-caller"), &mine).await;
        let caller_email = format!("{tag}-caller@corp.test");
        create_member(&app, &org, &caller_email, PASSWORD, &[&caller_role]).await;
        let caller = token_of(&app, &caller_email, PASSWORD).await;
        let caller_holds = held(&app, &admin, &org, &caller_email).await;
        // Roles and members made by the platform administrator, some holding more.
        let mut role_names: Vec<String> = Vec::new();
        for i in 0..4 {
            let name = format!("{tag}-r{i}");
            let perms = some_permissions(&mut rng, 3);
            role(&app, &admin, &org, &name, &perms).await;
            role_names.push(name);
        }
        let mut emails: Vec<String> = Vec::new();
        for i in 0..4 {
            let email = format!("{tag}-u{i}@corp.test");
            let (_, r) = app
                .get(
                    &format!("/v1/roles/{}", role_names.choose(&mut rng).unwrap()),
                    &admin,
                )
                .await;
            let role_id = r["results"][0]["id"].as_str().unwrap().to_string();
            create_member(&app, &org, &email, PASSWORD, &[&role_id]).await;
            emails.push(email);
        }
        let before = everyone(&app, &admin, &org).await;
        // Identities the caller can act as.
        let mut controlled: BTreeSet<String> = BTreeSet::from([caller_email.clone()]);
        let mut log: Vec<String> = Vec::new();

        for step in 0..40 {
            let target = emails.choose(&mut rng).unwrap().clone();
            let how_many = rng.gen_range(0..=2);
            let some_roles: Vec<String> = role_names
                .choose_multiple(&mut rng, how_many)
                .cloned()
                .collect();
            let (what, method, path, body) = match rng.gen_range(0..10) {
                0 => {
                    let name = format!("{tag}-n{step}");
                    role_names.push(name.clone());
                    (
                        "create role",
                        Method::POST,
                        "/v1/roles".to_string(),
                        json!({"name": name, "defaultRole": rng.gen_bool(0.3),
                               "permissions": body_permissions(&some_permissions(&mut rng, 3))}),
                    )
                }
                1 => (
                    "update role",
                    Method::PUT,
                    "/v1/roles".into(),
                    json!({"name": role_names.choose(&mut rng).unwrap(),
                           "defaultRole": rng.gen_bool(0.5),
                           "permissions": body_permissions(&some_permissions(&mut rng, 3))}),
                ),
                2 => (
                    "make default",
                    Method::PUT,
                    "/v1/roles".into(),
                    json!({"name": role_names.choose(&mut rng).unwrap(), "defaultRole": true}),
                ),
                3 => {
                    let email = format!("{tag}-c{step}@corp.test");
                    emails.push(email.clone());
                    (
                        "create user",
                        Method::POST,
                        "/v1/users".into(),
                        json!({"email": email, "password": PASSWORD, "roles": some_roles}),
                    )
                }
                4 => (
                    "give roles",
                    Method::PUT,
                    format!("/v1/users/{target}"),
                    json!({"roles": some_roles}),
                ),
                5 => (
                    "set password",
                    Method::PUT,
                    format!("/v1/users/{target}/password"),
                    json!({"newPassword": "caller chose this 1234"}),
                ),
                6 => {
                    let (_, u) = app
                        .get(&format!("/v1/users/username/{target}"), &admin)
                        .await;
                    (
                        "mint token",
                        Method::POST,
                        "/v1/users/generate-permanent-api-token".into(),
                        json!({"userID": u["results"][0]["id"]}),
                    )
                }
                7 => (
                    "enable or disable",
                    Method::PUT,
                    format!("/v1/users/{target}"),
                    json!({"enabled": rng.gen_bool(0.5)}),
                ),
                8 => {
                    let email = format!("{tag}-i{step}@corp.test");
                    emails.push(email.clone());
                    (
                        "invite",
                        Method::POST,
                        "/v1/users/invite".into(),
                        json!({"email": email, "roles": some_roles, "sendEmail": false}),
                    )
                }
                _ => (
                    "remove permission",
                    Method::DELETE,
                    format!(
                        "/v1/roles/{}/permission/{}",
                        role_names.choose(&mut rng).unwrap(),
                        CONCRETE.choose(&mut rng).unwrap().replace(':', "/")
                    ),
                    Value::Null,
                ),
            };
            let body = (!body.is_null()).then_some(body);
            let (status, answer) = app.call(method, &path, Some(&caller), body.clone()).await;
            log.push(format!("{what} {path} {body:?} -> {status}"));
            assert!(
                status.as_u16() < 500,
                "{what}: {status} {answer}\n{}",
                log.join("\n")
            );
            if status == StatusCode::OK {
                match what {
                    "create user" | "set password" | "mint token" => {
                        let email = if what == "create user" {
                            body.as_ref().unwrap()["email"]
                                .as_str()
                                .unwrap()
                                .to_string()
                        } else {
                            target.clone()
                        };
                        controlled.insert(email);
                    }
                    "invite" => {
                        // The caller holds the code: he can accept for the new user.
                        let email = body.as_ref().unwrap()["email"].as_str().unwrap();
                        let code = answer["results"][0]["inviteCode"].as_str().unwrap();
                        let (status, accepted) = app
                            .call(
                                Method::POST,
                                "/v1/users/password-reset/password-update",
                                None,
                                Some(json!({"email": email, "resetCode": code,
                                            "newPassword": "caller chose this 1234"})),
                            )
                            .await;
                        assert_eq!(status, StatusCode::OK, "{accepted}");
                        controlled.insert(email.to_string());
                    }
                    _ => {}
                }
            }
            let now = everyone(&app, &admin, &org).await;
            for (email, holds) in &now {
                let had = before.get(email).cloned().unwrap_or_default();
                for p in holds {
                    let fine = covers(&caller_holds, p)
                        || (!controlled.contains(email) && covers(&had, p));
                    assert!(
                        fine,
                        "seed {seed}: {email} holds {p}, which the caller ({caller_holds:?}) \
                         lacks{}\n{}",
                        if controlled.contains(email) {
                            " and can act as him"
                        } else {
                            " and he did not hold before"
                        },
                        log.join("\n")
                    );
                }
            }
        }
    }
}
