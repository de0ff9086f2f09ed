//! Roles and their permissions: the six operations, their bad inputs, paging, default roles,
//! no escalation, changes that hold from the very next request, and no leak between
//! organizations.

use std::collections::HashSet;
use std::sync::Arc;

use bf_security::domain::permission::Catalogue;
use bf_security::domain::PermissionSet;
use bf_security::error::ApiError;
use bf_security::service::authz::ActingIn;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{
    assert_invalid, create_member, create_organization, error_type, home_organization, token_of,
    TestApp,
};

both_stores!(
    a_role_is_created_found_and_changed,
    creating_a_role_checks_its_input,
    updating_a_role_checks_its_input,
    a_revoked_role_is_hidden_unless_retired_ones_are_asked_for,
    one_permission_is_removed_from_a_role,
    unknown_roles_are_not_found,
    paging_walks_every_role_once_in_both_orders,
    bad_paging_parameters_are_400_naming_them,
    an_organization_has_at_most_one_default_role,
    nobody_grants_a_permission_he_does_not_hold,
    a_revoked_role_stops_working_on_the_very_next_request,
    a_removed_permission_stops_working_on_the_very_next_request,
    roles_of_another_organization_are_never_found,
    every_role_change_is_audited_with_before_and_after,
    roles_for_a_grant_are_resolved_by_id_or_name_within_what_the_caller_holds,
);

const PASSWORD: &str = "member password 1234";

async fn create_role(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, answer) = app.post("/v1/roles", token, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["results"][0].clone()
}

fn perms(role: &Value) -> HashSet<String> {
    role["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}:{}",
                p["resource"].as_str().unwrap(),
                p["action"].as_str().unwrap()
            )
        })
        .collect()
}

fn set(items: &[&str]) -> HashSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn a_role_is_created_found_and_changed(app: TestApp) {
    let token = app.admin_token().await;
    let org = home_organization(&app, &token).await;
    let (status, body) = app
        .post(
            "/v1/roles",
            &token,
            json!({
                "name": " my role ",
                "description": "Reads users",
                "permissions": [
                    {"resource": "users", "action": "READ"},
                    {"resource": "Roles", "action": "read"},
                    {"resource": "Users", "action": "read"},
                ],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["recordsReturned"], 1);
    let role = &body["results"][0];
    let id = role["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ROL-"));
    assert_eq!(role["name"], "my role");
    assert_eq!(role["description"], "Reads users");
    assert_eq!(role["organizationID"], org.as_str());
    assert_eq!(role["defaultRole"], false);
    assert_eq!(role["defaultReturned"], false);
    assert_eq!(role["deleted"], false);
    assert!(role["revoked"].is_null());
    assert!(role["created"].as_str().unwrap().ends_with('Z'));
    assert!(role["changedBy"].as_str().unwrap().starts_with("USR-"));
    // Spelled as the catalogue spells them, repeats once.
    assert_eq!(perms(role), set(&["Users:read", "Roles:read"]));
    for p in role["permissions"].as_array().unwrap() {
        assert!(p["id"].as_str().unwrap().starts_with("PRM-"));
        assert_eq!(p["roleID"], id.as_str());
        assert_eq!(p["roleName"], "my role");
    }

    // By ID, by name, and by a percent-encoded name.
    for path in [format!("/v1/roles/{id}"), "/v1/roles/my%20role".to_string()] {
        let (status, body) = app.get(&path, &token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["results"][0]["id"], id.as_str(), "{path}");
    }
    let (_, all) = app.get("/v1/roles?order_by=name&order=ASC", &token).await;
    let names: Vec<&str> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Administrator", "my role"]);

    // `permissions` becomes the whole set: a kept permission stays as it was (same ID).
    let users_read = role["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["resource"] == "Users")
        .unwrap()["id"]
        .clone();
    let (status, body) = app
        .put(
            "/v1/roles",
            &token,
            json!({
                "id": id,
                "name": "Support",
                "description": "Helps users",
                "permissions": [
                    {"resource": "Users", "action": "read"},
                    {"resource": "Users", "action": "update"},
                ],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let role = &body["results"][0];
    assert_eq!(role["id"], id.as_str());
    assert_eq!(role["name"], "Support");
    assert_eq!(role["description"], "Helps users");
    assert_eq!(perms(role), set(&["Users:read", "Users:update"]));
    let kept = role["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["action"] == "read")
        .unwrap();
    assert_eq!(kept["id"], users_read);
    assert_eq!(kept["roleName"], "Support");

    // Found by name; only the fields present change.
    let (status, body) = app
        .put(
            "/v1/roles",
            &token,
            json!({"name": "Support", "description": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let role = &body["results"][0];
    assert!(role["description"].is_null());
    assert_eq!(perms(role), set(&["Users:read", "Users:update"]));
    // An empty set takes every permission away.
    let (status, body) = app
        .put("/v1/roles", &token, json!({"id": id, "permissions": []}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["results"][0]["permissions"]
        .as_array()
        .unwrap()
        .is_empty());
    // The old name is free, the new one is found.
    let (status, _) = app.get("/v1/roles/my%20role", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get("/v1/roles/Support", &token).await;
    assert_eq!(status, StatusCode::OK);
}

async fn creating_a_role_checks_its_input(app: TestApp) {
    let token = app.admin_token().await;
    create_role(&app, &token, json!({"name": "Taken"})).await;
    let long = "x".repeat(101);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("empty body", json!({}), "name"),
        ("blank name", json!({"name": "  "}), "name"),
        ("name too long", json!({"name": long}), "name"),
        ("name like an ID", json!({"name": "ROL-1"}), "name"),
        ("name of a wrong type", json!({"name": 7}), "name"),
        (
            "unknown resource",
            json!({"name": "r", "permissions": [{"resource": "Gadgets", "action": "read"}]}),
            "permissions[0].resource",
        ),
        (
            "unknown action",
            json!({"name": "r", "permissions": [
                {"resource": "Users", "action": "read"},
                {"resource": "Users", "action": "fly"}]}),
            "permissions[1].action",
        ),
        (
            "missing resource",
            json!({"name": "r", "permissions": [{"action": "read"}]}),
            "permissions[0].resource",
        ),
        (
            "missing action",
            json!({"name": "r", "permissions": [{"resource": "Users"}]}),
            "permissions[0].action",
        ),
        (
            "permissions not a list",
            json!({"name": "r", "permissions": "all"}),
            "permissions",
        ),
        (
            "description too long",
            json!({"name": "r", "description": "d".repeat(1001)}),
            "description",
        ),
    ];
    for (case, body, field) in cases {
        let (status, answer) = app.post("/v1/roles", &token, body).await;
        assert_invalid(status, &answer, field, case);
    }
    let (status, body) = app
        .post(
            "/v1/roles",
            &token,
            json!({"name": "r", "permissions": [{"resource": "Gadgets", "action": "read"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errorMessage"].as_str().unwrap().contains("Gadgets"));

    let (status, body) = app
        .post("/v1/roles", &token, json!({"name": "Taken"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_type(&body), "Conflict");
    // Names are compared exactly: another spelling is another role.
    create_role(&app, &token, json!({"name": "taken"})).await;
    // Resources configured by the operator are in the catalogue; wildcards are too.
    let (status, _) = app
        .post(
            "/v1/roles",
            &token,
            json!({"name": "w", "permissions": [{"resource": "*", "action": "*"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // A platform administrator may act anywhere, but not in an organization that does not exist.
    let (status, body) = app
        .post(
            "/v1/roles",
            &token,
            json!({"name": "elsewhere", "organizationID": "ORG-nowhere"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app
        .post(
            "/v1/roles?organizations=ORG-nowhere",
            &token,
            json!({"name": "elsewhere"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

async fn updating_a_role_checks_its_input(app: TestApp) {
    let token = app.admin_token().await;
    let role = create_role(&app, &token, json!({"name": "One"})).await;
    create_role(&app, &token, json!({"name": "Two"})).await;
    let id = role["id"].as_str().unwrap();
    let (status, body) = app.put("/v1/roles", &token, json!({})).await;
    assert_invalid(status, &body, "id", "neither id nor name");
    assert_invalid(status, &body, "name", "neither id nor name");
    let cases: Vec<(&str, Value, &str)> = vec![
        ("blank new name", json!({"id": id, "name": " "}), "name"),
        (
            "unknown resource",
            json!({"id": id, "permissions": [{"resource": "Gadgets", "action": "read"}]}),
            "permissions[0].resource",
        ),
        (
            "wrong type",
            json!({"id": id, "defaultRole": "yes"}),
            "defaultRole",
        ),
    ];
    for (case, body, field) in cases {
        let (status, answer) = app.put("/v1/roles", &token, body).await;
        assert_invalid(status, &answer, field, case);
    }
    let (status, body) = app
        .put("/v1/roles", &token, json!({"id": id, "name": "Two"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = app
        .put("/v1/roles", &token, json!({"id": "ROL-none", "name": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.put("/v1/roles", &token, json!({"name": "Three"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nothing failed half-way: the role is as it was.
    let (_, body) = app.get(&format!("/v1/roles/{id}"), &token).await;
    assert_eq!(body["results"][0]["name"], "One");
}

async fn a_revoked_role_is_hidden_unless_retired_ones_are_asked_for(app: TestApp) {
    let token = app.admin_token().await;
    let role = create_role(
        &app,
        &token,
        json!({"name": "Old", "permissions": [{"resource": "Users", "action": "read"}]}),
    )
    .await;
    let id = role["id"].as_str().unwrap();
    let (status, body) = app.delete(&format!("/v1/roles/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let revoked = &body["results"][0];
    assert_eq!(revoked["deleted"], true);
    assert!(revoked["revoked"].as_str().unwrap().ends_with('Z'));
    // History kept: the permissions it granted are still on record.
    assert_eq!(perms(revoked), set(&["Users:read"]));

    for path in [format!("/v1/roles/{id}"), "/v1/roles/Old".into()] {
        let (status, body) = app.get(&path, &token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_type(&body), "NotFound");
        let (status, body) = app
            .get(&format!("{path}?include_retired=true"), &token)
            .await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body["results"][0]["id"], id);
        assert_eq!(body["results"][0]["deleted"], true);
    }
    let (status, body) = app.get("/v1/roles/Old?include_retired=maybe", &token).await;
    assert_invalid(status, &body, "include_retired", "bad flag");
    let ids = |body: &Value| -> Vec<String> {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, live) = app.get("/v1/roles", &token).await;
    assert!(!ids(&live).contains(&id.to_string()));
    let (_, all) = app.get("/v1/roles?include_retired=true", &token).await;
    assert!(ids(&all).contains(&id.to_string()));
    // Revoked once; a revoked role cannot be changed.
    let (status, _) = app.delete(&format!("/v1/roles/{id}"), &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .put("/v1/roles", &token, json!({"id": id, "description": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The name is free again; by name the live role wins over the revoked one.
    let new = create_role(&app, &token, json!({"name": "Old"})).await;
    let (_, body) = app.get("/v1/roles/Old?include_retired=true", &token).await;
    assert_eq!(body["results"][0]["id"], new["id"]);
}

async fn one_permission_is_removed_from_a_role(app: TestApp) {
    let token = app.admin_token().await;
    let role = create_role(
        &app,
        &token,
        json!({"name": "Pair", "permissions": [
            {"resource": "Users", "action": "read"},
            {"resource": "Roles", "action": "*"}]}),
    )
    .await;
    let id = role["id"].as_str().unwrap();
    // Case-insensitive, and the role found by its name.
    let (status, body) = app
        .delete("/v1/roles/Pair/permission/users/READ", &token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(perms(&body["results"][0]), set(&["Roles:*"]));
    let (status, body) = app
        .delete(&format!("/v1/roles/{id}/permission/Users/read"), &token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "removed twice: {body}");
    // A wildcard is removed only as itself.
    let (status, _) = app
        .delete(&format!("/v1/roles/{id}/permission/Roles/read"), &token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .delete(&format!("/v1/roles/{id}/permission/Roles/*"), &token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["results"][0]["permissions"]
        .as_array()
        .unwrap()
        .is_empty());
    // Outside the catalogue: 400 naming it.
    let (status, body) = app
        .delete(&format!("/v1/roles/{id}/permission/Gadgets/read"), &token)
        .await;
    assert_invalid(status, &body, "resource", "unknown resource");
    let (status, body) = app
        .delete(&format!("/v1/roles/{id}/permission/Users/fly"), &token)
        .await;
    assert_invalid(status, &body, "action", "unknown action");
    let (status, _) = app
        .delete("/v1/roles/Nobody/permission/Users/read", &token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The history keeps the revoked permissions; the role shows only live ones.
    let (_, body) = app.get(&format!("/v1/roles/{id}"), &token).await;
    assert!(body["results"][0]["permissions"]
        .as_array()
        .unwrap()
        .is_empty());
    let revoked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM permissions WHERE role_id = $1 AND revoked IS NOT NULL AND deleted = 1",
    )
    .bind(id)
    .fetch_one(app.app.store.pool())
    .await
    .unwrap();
    assert_eq!(revoked, 2);
}

async fn unknown_roles_are_not_found(app: TestApp) {
    let token = app.admin_token().await;
    for (method, path) in [
        (reqwest::Method::GET, "/v1/roles/ROL-nothing"),
        (reqwest::Method::GET, "/v1/roles/no%20such%20role"),
        (reqwest::Method::DELETE, "/v1/roles/ROL-nothing"),
        (reqwest::Method::DELETE, "/v1/roles/nothing"),
        (
            reqwest::Method::DELETE,
            "/v1/roles/ROL-nothing/permission/Users/read",
        ),
    ] {
        let (status, body) = app.call(method.clone(), path, Some(&token), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        assert_eq!(error_type(&body), "NotFound");
    }
}

/// Follows `nextPage` from `first` to the end; answers the IDs in the order seen.
async fn walk(app: &TestApp, token: &str, first: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next = Some(first.to_string());
    let mut pages = 0;
    while let Some(path) = next {
        pages += 1;
        assert!(pages < 50, "paging does not end");
        let (status, body) = app.get(&path, token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let results = body["results"].as_array().unwrap();
        assert_eq!(body["recordsReturned"], results.len());
        seen.extend(
            results
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string()),
        );
        next = body["nextPage"].as_str().map(str::to_string);
        if next.is_some() {
            assert_eq!(body["recordsReturned"], body["recordsRequested"]);
        }
    }
    seen
}

async fn paging_walks_every_role_once_in_both_orders(app: TestApp) {
    let token = app.admin_token().await;
    // Created in the same millisecond (the test clock stands still), with names that repeat
    // nothing but sort differently from creation: ties must be broken by ID.
    for i in 0..22 {
        create_role(
            &app,
            &token,
            json!({"name": format!("role {:02}", (i * 7) % 22)}),
        )
        .await;
    }
    let (_, all) = app.get("/v1/roles?records=500", &token).await;
    let everything: HashSet<String> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(everything.len(), 23);
    assert!(all.get("nextPage").is_none());
    for order_by in ["created", "updated", "name"] {
        let mut orders = Vec::new();
        for order in ["ASC", "desc"] {
            let seen = walk(
                &app,
                &token,
                &format!("/v1/roles?records=5&order_by={order_by}&order={order}"),
            )
            .await;
            assert_eq!(seen.len(), 23, "{order_by} {order}: {seen:?}");
            let unique: HashSet<String> = seen.iter().cloned().collect();
            assert_eq!(unique, everything, "{order_by} {order}");
            orders.push(seen);
        }
        let mut reversed = orders[1].clone();
        reversed.reverse();
        assert_eq!(orders[0], reversed, "{order_by}: DESC is ASC reversed");
    }
    // The link keeps the other parameters.
    let (_, body) = app
        .get("/v1/roles?records=5&order_by=name&offset=5", &token)
        .await;
    assert_eq!(body["currentOffset"], 5);
    assert_eq!(body["currentPage"], 1);
    let next = body["nextPage"].as_str().unwrap();
    assert!(next.starts_with("/v1/roles?"), "{next}");
    assert!(
        next.contains("order_by=name") && next.contains("offset=10"),
        "{next}"
    );
    // Past the end: an empty page, no link.
    let (status, body) = app.get("/v1/roles?offset=100", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["recordsReturned"], 0);
    assert!(body.get("nextPage").is_none());
}

async fn bad_paging_parameters_are_400_naming_them(app: TestApp) {
    let token = app.admin_token().await;
    for (query, field) in [
        ("offset=-1", "offset"),
        ("offset=ten", "offset"),
        ("records=0", "records"),
        ("records=501", "records"),
        ("records=many", "records"),
        ("order=sideways", "order"),
        ("order_by=email", "order_by"),
        ("include_retired=perhaps", "include_retired"),
    ] {
        let (status, body) = app.get(&format!("/v1/roles?{query}"), &token).await;
        assert_invalid(status, &body, field, query);
    }
}

async fn an_organization_has_at_most_one_default_role(app: TestApp) {
    let token = app.admin_token().await;
    let org = home_organization(&app, &token).await;
    let first = create_role(
        &app,
        &token,
        json!({"name": "First", "defaultRole": true,
               "permissions": [{"resource": "Users", "action": "read"}]}),
    )
    .await;
    assert_eq!(first["defaultRole"], true);
    let second = create_role(
        &app,
        &token,
        json!({"name": "Second", "defaultRole": true,
               "permissions": [{"resource": "Roles", "action": "read"}]}),
    )
    .await;
    let default_of = |body: &Value| -> Vec<String> {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["defaultRole"] == true)
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, all) = app.get("/v1/roles", &token).await;
    assert_eq!(default_of(&all), vec!["Second"]);

    // A member with no role of his own gets the default role's permissions.
    create_member(&app, &org, "plain@example.com", PASSWORD, &[]).await;
    let plain = token_of(&app, "plain@example.com", PASSWORD).await;
    let (status, me) = app.get("/v1/users/mine", &plain).await;
    assert_eq!(status, StatusCode::OK);
    let roles = me["results"][0]["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["name"], "Second");
    assert_eq!(roles[0]["defaultReturned"], true);
    let (status, _) = app.get("/v1/roles", &plain).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "Roles:read through the default role"
    );

    // Moving the mark back takes it from the other one, at once.
    let (status, body) = app
        .put(
            "/v1/roles",
            &token,
            json!({"id": first["id"], "defaultRole": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, all) = app.get("/v1/roles", &token).await;
    assert_eq!(default_of(&all), vec!["First"]);
    let (status, _) = app.get("/v1/roles", &plain).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the default moved away");
    let (status, _) = app
        .put(
            "/v1/roles",
            &token,
            json!({"id": first["id"], "defaultRole": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, all) = app.get("/v1/roles", &token).await;
    assert!(default_of(&all).is_empty());
    let (_, me) = app.get("/v1/users/mine", &plain).await;
    assert!(me["results"][0]["roles"].as_array().unwrap().is_empty());
    assert_eq!(second["defaultRole"], true);
}

async fn nobody_grants_a_permission_he_does_not_hold(app: TestApp) {
    let admin = app.admin_token().await;
    let org = home_organization(&app, &admin).await;
    let creator = create_role(
        &app,
        &admin,
        json!({"name": "Creator", "permissions": [
            {"resource": "Roles", "action": "create"},
            {"resource": "Users", "action": "read"}]}),
    )
    .await;
    create_member(
        &app,
        &org,
        "creator@example.com",
        PASSWORD,
        &[creator["id"].as_str().unwrap()],
    )
    .await;
    let token = token_of(&app, "creator@example.com", PASSWORD).await;
    for (resource, action) in [
        ("*", "*"),
        ("Tokens", "create"),
        ("Users", "*"),
        ("*", "read"),
        ("Roles", "delete"),
    ] {
        let (status, body) = app
            .post(
                "/v1/roles",
                &token,
                json!({"name": format!("{resource}{action}"),
                       "permissions": [{"resource": resource, "action": action}]}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{resource}:{action}: {body}");
        assert_eq!(error_type(&body), "PermissionsError");
    }
    // What he holds he may give.
    let (status, body) = app
        .post(
            "/v1/roles",
            &token,
            json!({"name": "Readers", "permissions": [
                {"resource": "users", "action": "read"},
                {"resource": "Roles", "action": "create"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Changing a role: new permissions and making it the default are grants too.
    let updater = create_role(
        &app,
        &admin,
        json!({"name": "Updater", "permissions": [
            {"resource": "Roles", "action": "update"},
            {"resource": "Users", "action": "read"}]}),
    )
    .await;
    create_member(
        &app,
        &org,
        "updater@example.com",
        PASSWORD,
        &[updater["id"].as_str().unwrap()],
    )
    .await;
    let token = token_of(&app, "updater@example.com", PASSWORD).await;
    let strong = create_role(
        &app,
        &admin,
        json!({"name": "Strong", "permissions": [{"resource": "Tokens", "action": "read"}]}),
    )
    .await;
    let (status, body) = app
        .put(
            "/v1/roles",
            &token,
            json!({"id": updater["id"], "permissions": [
                {"resource": "Roles", "action": "update"},
                {"resource": "Users", "action": "read"},
                {"resource": "Tokens", "action": "create"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app
        .put(
            "/v1/roles",
            &token,
            json!({"id": strong["id"], "defaultRole": true}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A role holding what he lacks is not his to change at all, not even to take away from.
    for change in [
        json!({"id": strong["id"], "description": "mine"}),
        json!({"id": strong["id"], "permissions": []}),
    ] {
        let (status, body) = app.put("/v1/roles", &token, change).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    // Within what he holds, taking away, or keeping what is there, is no grant.
    let weak = create_role(
        &app,
        &admin,
        json!({"name": "Weak", "permissions": [{"resource": "Users", "action": "read"}]}),
    )
    .await;
    let (status, body) = app
        .put(
            "/v1/roles",
            &token,
            json!({"id": weak["id"], "description": "kept",
                   "permissions": [{"resource": "Users", "action": "read"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .put(
            "/v1/roles",
            &token,
            json!({"id": weak["id"], "permissions": []}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Nothing was granted by the refused requests.
    let (_, body) = app.get("/v1/roles?records=50", &admin).await;
    let roles = body["results"].as_array().unwrap();
    let names: HashSet<&str> = roles.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        HashSet::from([
            "Administrator",
            "Creator",
            "Readers",
            "Updater",
            "Strong",
            "Weak"
        ])
    );
    for r in roles {
        assert_eq!(r["defaultRole"], false, "{}", r["name"]);
        if r["name"] == "Updater" {
            assert_eq!(perms(r), set(&["Roles:update", "Users:read"]));
        }
        if r["name"] == "Strong" {
            assert_eq!(perms(r), set(&["Tokens:read"]));
            assert!(r["description"].is_null());
        }
    }
}

async fn a_revoked_role_stops_working_on_the_very_next_request(app: TestApp) {
    let admin = app.admin_token().await;
    let org = home_organization(&app, &admin).await;
    let readers = create_role(
        &app,
        &admin,
        json!({"name": "Readers", "permissions": [{"resource": "Roles", "action": "read"}]}),
    )
    .await;
    create_member(
        &app,
        &org,
        "reader@example.com",
        PASSWORD,
        &[readers["id"].as_str().unwrap()],
    )
    .await;
    let token = token_of(&app, "reader@example.com", PASSWORD).await;
    // Twice, so the permission is cached when the role goes.
    for _ in 0..2 {
        let (status, _) = app.get("/v1/roles", &token).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = app
        .delete(
            &format!("/v1/roles/{}", readers["id"].as_str().unwrap()),
            &admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get("/v1/roles", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // His token still works for what needs no permission; he simply holds no role now.
    let (status, me) = app.get("/v1/users/mine", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(me["results"][0]["roles"].as_array().unwrap().is_empty());
}

async fn a_removed_permission_stops_working_on_the_very_next_request(app: TestApp) {
    let admin = app.admin_token().await;
    let org = home_organization(&app, &admin).await;
    let role = create_role(
        &app,
        &admin,
        json!({"name": "Helpers", "permissions": [
            {"resource": "Roles", "action": "read"},
            {"resource": "Users", "action": "read"}]}),
    )
    .await;
    let id = role["id"].as_str().unwrap();
    create_member(&app, &org, "helper@example.com", PASSWORD, &[id]).await;
    let token = token_of(&app, "helper@example.com", PASSWORD).await;
    let (status, _) = app.get(&format!("/v1/roles/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .delete(&format!("/v1/roles/{id}/permission/Roles/read"), &admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get(&format!("/v1/roles/{id}"), &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // And an added one works at once too.
    let (status, _) = app
        .put(
            "/v1/roles",
            &admin,
            json!({"id": id, "permissions": [
                {"resource": "Users", "action": "read"},
                {"resource": "Roles", "action": "read"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get(&format!("/v1/roles/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK);
}

async fn roles_of_another_organization_are_never_found(app: TestApp) {
    let admin = app.admin_token().await;
    let org_a = home_organization(&app, &admin).await;
    let secret = create_role(
        &app,
        &admin,
        json!({"name": "Secret", "permissions": [{"resource": "Users", "action": "read"}]}),
    )
    .await;
    let secret_id = secret["id"].as_str().unwrap();
    let (org_b, admin_b) = create_organization(&app, "Other").await;
    create_member(&app, &org_b, "boss@other.example", PASSWORD, &[&admin_b]).await;
    let other = token_of(&app, "boss@other.example", PASSWORD).await;

    let (status, body) = app.get("/v1/roles?include_retired=true", &other).await;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<&Value> = body["results"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["organizationID"], org_b.as_str());
    // By name he finds his own Administrator, never the first organization's.
    let (_, body) = app.get("/v1/roles/Administrator", &other).await;
    assert_eq!(body["results"][0]["id"], admin_b.as_str());

    let not_found: Vec<(reqwest::Method, String, Option<Value>)> = vec![
        (reqwest::Method::GET, format!("/v1/roles/{secret_id}"), None),
        (reqwest::Method::GET, "/v1/roles/Secret".into(), None),
        (
            reqwest::Method::GET,
            format!("/v1/roles/{secret_id}?include_retired=true"),
            None,
        ),
        (
            reqwest::Method::PUT,
            "/v1/roles".into(),
            Some(json!({"id": secret_id, "name": "Mine now"})),
        ),
        (
            reqwest::Method::PUT,
            "/v1/roles".into(),
            Some(json!({"name": "Secret", "description": "x"})),
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/roles/{secret_id}"),
            None,
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/roles/{secret_id}/permission/Users/read"),
            None,
        ),
    ];
    for (method, path, body) in not_found {
        let (status, answer) = app.call(method.clone(), &path, Some(&other), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
    }
    // Naming the first organization is refused outright.
    let forbidden: Vec<(reqwest::Method, String, Option<Value>)> = vec![
        (
            reqwest::Method::GET,
            format!("/v1/roles?organizations={org_a}"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/v1/roles/{secret_id}?organizations={org_a}"),
            None,
        ),
        (
            reqwest::Method::POST,
            "/v1/roles".into(),
            Some(json!({"name": "Planted", "organizationID": org_a})),
        ),
        (
            reqwest::Method::PUT,
            "/v1/roles".into(),
            Some(json!({"id": secret_id, "organizationID": org_a, "name": "x"})),
        ),
    ];
    for (method, path, body) in forbidden {
        let (status, answer) = app.call(method.clone(), &path, Some(&other), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
    }
    // Untouched.
    let (_, body) = app.get(&format!("/v1/roles/{secret_id}"), &admin).await;
    assert_eq!(body["results"][0]["name"], "Secret");
    assert_eq!(perms(&body["results"][0]), set(&["Users:read"]));

    // A platform administrator acting in both sees both.
    let (status, body) = app
        .get(
            &format!("/v1/roles?organizations={org_a}&organizations={org_b}&records=50"),
            &admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let orgs: HashSet<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["organizationID"].as_str().unwrap())
        .collect();
    assert_eq!(orgs, HashSet::from([org_a.as_str(), org_b.as_str()]));
}

async fn every_role_change_is_audited_with_before_and_after(app: TestApp) {
    let token = app.admin_token().await;
    let role = create_role(
        &app,
        &token,
        json!({"name": "Audited", "permissions": [{"resource": "Users", "action": "read"}]}),
    )
    .await;
    let id = role["id"].as_str().unwrap();
    app.put(
        "/v1/roles",
        &token,
        json!({"id": id, "name": "Audited 2",
               "permissions": [{"resource": "Users", "action": "read"},
                               {"resource": "Roles", "action": "read"}]}),
    )
    .await;
    app.delete(&format!("/v1/roles/{id}/permission/Users/read"), &token)
        .await;
    app.delete(&format!("/v1/roles/{id}"), &token).await;
    let events: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT action, actor_id, details FROM audit_events WHERE target_id = $1
         ORDER BY occurred, id",
    )
    .bind(id)
    .fetch_all(app.app.store.pool())
    .await
    .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "role.created",
            "role.updated",
            "role.permission_removed",
            "role.revoked"
        ]
    );
    let details: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str(e.2.as_deref().unwrap()).unwrap())
        .collect();
    assert!(events.iter().all(|e| e.1.is_some()));
    assert!(details[0]["before"].is_null());
    assert_eq!(details[0]["after"]["permissions"], json!(["Users:read"]));
    assert_eq!(details[1]["before"]["name"], "Audited");
    assert_eq!(details[1]["after"]["name"], "Audited 2");
    assert_eq!(
        details[1]["after"]["permissions"],
        json!(["Users:read", "Roles:read"])
    );
    assert_eq!(details[2]["permission"], "Users:read");
    assert_eq!(details[2]["after"]["permissions"], json!(["Roles:read"]));
    assert!(details[3]["before"]["revoked"].is_null());
    assert!(details[3]["after"]["revoked"].is_i64());
    // A change that changes nothing leaves no event.
    let other = create_role(&app, &token, json!({"name": "Still"})).await;
    app.put(
        "/v1/roles",
        &token,
        json!({"id": other["id"], "name": "Still"}),
    )
    .await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE target_id = $1")
        .bind(other["id"].as_str().unwrap())
        .fetch_one(app.app.store.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
}

async fn roles_for_a_grant_are_resolved_by_id_or_name_within_what_the_caller_holds(app: TestApp) {
    let token = app.admin_token().await;
    let org = home_organization(&app, &token).await;
    let readers = create_role(
        &app,
        &token,
        json!({"name": "Readers", "permissions": [{"resource": "Users", "action": "read"}]}),
    )
    .await;
    let writers = create_role(
        &app,
        &token,
        json!({"name": "Writers", "permissions": [{"resource": "Users", "action": "*"}]}),
    )
    .await;
    let (_, admin_b) = create_organization(&app, "Other").await;
    let catalogue = Catalogue::new(&[]);
    let acting = |permissions: Vec<(&str, &str)>| ActingIn {
        organization_id: org.clone(),
        permissions: Arc::new(PermissionSet::new(
            permissions
                .into_iter()
                .map(|(r, a)| catalogue.parse(r, a).unwrap())
                .collect(),
        )),
    };
    let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut conn = app.app.store.pool().acquire().await.unwrap();
    let resolve = bf_security::service::roles::resolve_roles_for_grant;

    let found = resolve(
        &mut conn,
        &acting(vec![("Users", "*")]),
        &keys(&[readers["id"].as_str().unwrap(), "Writers", " Readers "]),
    )
    .await
    .unwrap();
    let names: Vec<&str> = found.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["Readers", "Writers"]);
    assert_eq!(found[1].id, writers["id"].as_str().unwrap());

    match resolve(
        &mut conn,
        &acting(vec![("Users", "read")]),
        &keys(&["Writers"]),
    )
    .await
    {
        Err(ApiError::Forbidden(_)) => {}
        other => panic!("giving more than held: {other:?}"),
    }
    for unknown in ["Nobody", admin_b.as_str()] {
        match resolve(&mut conn, &acting(vec![("*", "*")]), &keys(&[unknown])).await {
            Err(ApiError::Validation { parameters, .. }) => assert_eq!(parameters, vec!["roles"]),
            other => panic!("{unknown}: {other:?}"),
        }
    }
}

/// Other services of the platform guard resources of their own, named in configuration.
async fn configured_resources_join_the_catalogue(kind: crate::common::StoreKind) {
    let Some(app) =
        TestApp::spawn_with(kind, |s| s.permissions.resources = vec!["Invoices".into()]).await
    else {
        return;
    };
    let admin = app.admin_token().await;
    let (status, body) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "Billing", "permissions": [{"resource": "invoices", "action": "READ"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let p = &body["results"][0]["permissions"][0];
    assert_eq!(
        (p["resource"].as_str(), p["action"].as_str()),
        (Some("Invoices"), Some("read"))
    );
    let (status, body) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "Gadgets", "permissions": [{"resource": "Gadgets", "action": "read"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(message.contains("Gadgets"), "{body}");
    // The refusal lists what may be named instead.
    for known in ["Users", "Roles", "Invoices", "*"] {
        assert!(message.contains(known), "{known}: {message}");
    }
    let (status, body) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "Flyers", "permissions": [{"resource": "Users", "action": "fly"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["errorMessage"].as_str().unwrap();
    for known in ["read", "create", "update", "delete"] {
        assert!(message.contains(known), "{known}: {message}");
    }
    // The catalogue is published, the configured resources after the service's own; any valid
    // token reads it, none is refused.
    let (status, body) = app.get("/v1/permissions/catalogue", &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entries = body["results"].as_array().unwrap();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["resource"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Users",
            "Roles",
            "Organizations",
            "Tokens",
            "AuditEvents",
            "Invitations",
            "Invoices"
        ]
    );
    assert_eq!(entries[0]["builtIn"], true);
    assert_eq!(entries[6]["builtIn"], false);
    assert_eq!(
        entries[6]["actions"],
        json!(["read", "create", "update", "delete"])
    );
    let (status, _) = app
        .call(
            reqwest::Method::GET,
            "/v1/permissions/catalogue",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

mod configured {
    crate::stories_of_kind!(configured_resources_join_the_catalogue);
    use super::configured_resources_join_the_catalogue;
}
