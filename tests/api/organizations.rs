//! Organizations as entities: listed (a platform administrator all of them, a page at a time;
//! anybody else his own), read and renamed by those holding the permission in them, and by
//! nobody from outside (a foreign organization answers as one that does not exist).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{
    assert_invalid_only, create_member, create_organization, error_type, home_organization,
    token_of, TestApp,
};

both_stores!(
    a_platform_administrator_lists_every_organization_a_page_at_a_time,
    a_member_lists_only_his_own_organizations,
    an_organization_is_read_by_its_members_holding_organizations_read,
    an_organization_is_renamed_by_who_holds_organizations_update_there,
    a_bad_name_is_refused_and_changes_nothing,
    a_bound_token_reads_and_renames_only_its_own_organization,
);

const PASSWORD: &str = "member password 1234";

/// A role of `org` holding `permissions` (`Resource:action`), made by the platform
/// administrator; answers its ID.
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

/// Makes an existing user a member of `org` holding `role_ids` there, through the library.
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
            .expect("give role");
    }
    tx.commit().await.expect("commit");
    app.app.auth.forget_all();
}

/// The IDs of a page's results.
fn ids(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {body}"))
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

/// Walks `GET path` and its `nextPage` links to the end; answers every ID in the order seen.
async fn walk(app: &TestApp, token: &str, path: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next = Some(path.to_string());
    while let Some(path) = next {
        let (status, body) = app.get(&path, token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        seen.extend(ids(&body));
        next = body["nextPage"].as_str().map(str::to_string);
    }
    seen
}

/// The organization as `GET /v1/organizations/{id}` answers it to `token`.
async fn read(app: &TestApp, token: &str, id: &str) -> (StatusCode, Value) {
    app.get(&format!("/v1/organizations/{id}"), token).await
}

async fn rename(app: &TestApp, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
    app.put(&format!("/v1/organizations/{id}"), token, body)
        .await
}

/// The `organization.renamed` events of `org`, as the platform administrator reads them.
async fn renamed_events(app: &TestApp, admin: &str, org: &str) -> Vec<Value> {
    let (status, body) = app
        .get(
            &format!("/v1/audit-events?kind=organization.renamed&organizations={org}&records=500"),
            admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"].as_array().unwrap().clone()
}

async fn a_platform_administrator_lists_every_organization_a_page_at_a_time(app: TestApp) {
    let admin = app.admin_token().await;
    let home = home_organization(&app, &admin).await;
    let mut expected = BTreeSet::from([home]);
    for i in 0..11 {
        app.clock.advance_seconds(1);
        expected.insert(create_organization(&app, &format!("Org {i:02}")).await.0);
    }

    // Every organization once, walking pages of 5 in each order and direction.
    for order_by in ["created", "updated", "name"] {
        for order in ["ASC", "DESC"] {
            let path = format!("/v1/organizations?records=5&order_by={order_by}&order={order}");
            let seen = walk(&app, &admin, &path).await;
            assert_eq!(seen.len(), expected.len(), "{path}: {seen:?}");
            assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), expected);
        }
    }
    // The envelope of a page in the middle, and the order asked for.
    let (status, page) = app
        .get(
            "/v1/organizations?offset=5&records=5&order_by=name&order=ASC",
            &admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["currentOffset"], 5);
    assert_eq!(page["currentPage"], 1);
    assert_eq!(page["recordsRequested"], 5);
    assert_eq!(page["recordsReturned"], 5);
    assert!(page["nextPage"]
        .as_str()
        .is_some_and(|n| n.starts_with("/v1/organizations?") && n.contains("offset=10")));
    let names: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let first = &page["results"][0];
    for field in [
        "id",
        "name",
        "customerCode",
        "created",
        "updated",
        "deleted",
    ] {
        assert!(first.get(field).is_some(), "{field} missing: {first}");
    }
    let (_, last) = app
        .get("/v1/organizations?offset=10&records=5", &admin)
        .await;
    assert_eq!(last["recordsReturned"], 2);
    assert!(last.get("nextPage").is_none(), "{last}");

    // Paging is checked as everywhere: out of range is a 400 naming the parameter.
    for (query, field) in [
        ("records=0", "records"),
        ("records=501", "records"),
        ("offset=-1", "offset"),
        ("order_by=email", "order_by"),
        ("order=up", "order"),
    ] {
        let (status, body) = app.get(&format!("/v1/organizations?{query}"), &admin).await;
        assert_invalid_only(status, &body, field);
    }
    let (status, _) = app.call(Method::GET, "/v1/organizations", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn a_member_lists_only_his_own_organizations(app: TestApp) {
    let admin = app.admin_token().await;
    let (org_a, _) = create_organization(&app, "Alpha").await;
    let (org_b, _) = create_organization(&app, "Beta").await;
    let (org_c, _) = create_organization(&app, "Gamma").await;
    let user = create_member(&app, &org_a, "two@a.example", PASSWORD, &[]).await;
    join(&app, &user, &org_b, &[]).await;
    let token = token_of(&app, "two@a.example", PASSWORD).await;

    let seen = walk(&app, &token, "/v1/organizations?records=1").await;
    assert_eq!(
        seen.iter().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([org_a.clone(), org_b.clone()]),
        "{seen:?}"
    );
    // The same organizations, in the same shape, as his own list of memberships shows them.
    let (_, listed) = app
        .get("/v1/organizations?order_by=created&order=ASC", &token)
        .await;
    let (_, mine) = app.get("/v1/users/mine/organizations", &token).await;
    let by_id = |body: &Value| -> Vec<Value> {
        let mut all = body["results"].as_array().unwrap().clone();
        all.sort_by_key(|o| o["id"].as_str().unwrap().to_string());
        all
    };
    assert_eq!(by_id(&listed), by_id(&mine));
    assert!(!seen.contains(&org_c));
    assert!(!ids(&app.get("/v1/organizations", &admin).await.1).is_empty());
}

async fn an_organization_is_read_by_its_members_holding_organizations_read(app: TestApp) {
    let admin = app.admin_token().await;
    let home = home_organization(&app, &admin).await;
    let (org_b, admin_b) = create_organization(&app, "Beta").await;
    let reader = role(&app, &admin, &home, "Reader", &["Organizations:read"]).await;
    let others = role(
        &app,
        &admin,
        &home,
        "Others",
        &["Users:*", "Roles:*", "Tokens:*", "Organizations:update"],
    )
    .await;
    create_member(&app, &home, "reader@a.example", PASSWORD, &[&reader]).await;
    create_member(&app, &home, "others@a.example", PASSWORD, &[&others]).await;
    create_member(&app, &org_b, "boss@b.example", PASSWORD, &[&admin_b]).await;
    let reader = token_of(&app, "reader@a.example", PASSWORD).await;
    let others = token_of(&app, "others@a.example", PASSWORD).await;
    let boss_b = token_of(&app, "boss@b.example", PASSWORD).await;

    // His own: read, the same as his list of memberships shows it.
    let (status, body) = read(&app, &reader, &home).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["recordsReturned"], 1);
    let (_, mine) = app.get("/v1/users/mine/organizations", &reader).await;
    assert_eq!(body["results"][0], mine["results"][0]);
    assert_eq!(body["results"][0]["deleted"], false);

    // Without the permission: refused, he is a member and knows it exists.
    let (status, body) = read(&app, &others, &home).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::FORBIDDEN, "PermissionsError"),
        "{body}"
    );
    // A foreign one answers as one that does not exist, even to its peer's administrator.
    let (status, foreign) = read(&app, &boss_b, &home).await;
    let (_, missing) = read(&app, &boss_b, "ORG-does-not-exist").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{foreign}");
    assert_eq!(error_type(&foreign), "NotFound");
    assert_eq!(error_type(&missing), "NotFound");
    assert_eq!(read(&app, &reader, &org_b).await.0, StatusCode::NOT_FOUND);
    // Naming a foreign organization to act in is refused before anything is read.
    let (status, _) = app
        .get(
            &format!("/v1/organizations/{home}?organizations={home}"),
            &boss_b,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The platform administrator reads any; one that does not exist is a 404 to him too.
    let (status, body) = read(&app, &admin, &org_b).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["name"], "Beta");
    assert_eq!(
        read(&app, &admin, "ORG-does-not-exist").await.0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/v1/organizations/{home}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

async fn an_organization_is_renamed_by_who_holds_organizations_update_there(app: TestApp) {
    let admin = app.admin_token().await;
    let home = home_organization(&app, &admin).await;
    let (org_b, admin_b) = create_organization(&app, "Beta").await;
    let renamer = role(&app, &admin, &home, "Renamer", &["Organizations:update"]).await;
    let lesser = role(
        &app,
        &admin,
        &home,
        "Lesser",
        &["Organizations:read", "Users:*", "Roles:*"],
    )
    .await;
    let renamer_id = create_member(&app, &home, "renamer@a.example", PASSWORD, &[&renamer]).await;
    create_member(&app, &home, "lesser@a.example", PASSWORD, &[&lesser]).await;
    create_member(&app, &org_b, "boss@b.example", PASSWORD, &[&admin_b]).await;
    let renamer = token_of(&app, "renamer@a.example", PASSWORD).await;
    let lesser = token_of(&app, "lesser@a.example", PASSWORD).await;
    let boss_b = token_of(&app, "boss@b.example", PASSWORD).await;
    let (_, before) = read(&app, &admin, &home).await;
    let before = before["results"][0].clone();

    // Refused first: nothing changes.
    let (status, body) = rename(&app, &lesser, &home, json!({"name": "Lesser's"})).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::FORBIDDEN, "PermissionsError"),
        "{body}"
    );
    let (status, body) = rename(&app, &boss_b, &home, json!({"name": "Taken over"})).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::NOT_FOUND, "NotFound"),
        "{body}"
    );
    let (status, _) = rename(
        &app,
        &renamer,
        "ORG-does-not-exist",
        json!({"name": "Nowhere"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/v1/organizations/{home}"),
            None,
            Some(json!({"name": "Anonymous"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(read(&app, &admin, &home).await.1["results"][0], before);
    assert!(renamed_events(&app, &admin, &home).await.is_empty());

    // Allowed: renamed, trimmed, its customer code kept, seen by everybody after.
    app.clock.advance_seconds(5);
    let (status, body) = rename(&app, &renamer, &home, json!({"name": "  Acme Ltd  "})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after = &body["results"][0];
    assert_eq!(after["name"], "Acme Ltd");
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["customerCode"], before["customerCode"]);
    assert_eq!(after["created"], before["created"]);
    assert_ne!(after["updated"], before["updated"]);
    assert_eq!(after["changedBy"], renamer_id.as_str());
    assert_eq!(read(&app, &admin, &home).await.1["results"][0], *after);
    let (_, mine) = app.get("/v1/users/mine/organizations", &renamer).await;
    assert_eq!(mine["results"][0], *after);
    let listed = app.get("/v1/organizations?records=500", &admin).await.1;
    assert!(listed["results"].as_array().unwrap().contains(after));

    // Recorded, with the name before and after.
    let events = renamed_events(&app, &admin, &home).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["actorID"], renamer_id.as_str());
    assert_eq!(event["targetID"], home.as_str());
    assert_eq!(event["organizationID"], home.as_str());
    assert_eq!(event["outcome"], "succeeded");
    assert_eq!(event["details"]["before"]["name"], before["name"]);
    assert_eq!(event["details"]["after"]["name"], "Acme Ltd");

    // The same name again: nothing changes, nothing is recorded.
    let (status, body) = rename(&app, &renamer, &home, json!({"name": "Acme Ltd"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0], *after);
    assert_eq!(renamed_events(&app, &admin, &home).await.len(), 1);

    // The platform administrator renames any organization; the event joins its own trail.
    let (status, body) = rename(&app, &admin, &org_b, json!({"name": "Beta GmbH"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        read(&app, &boss_b, &org_b).await.1["results"][0]["name"],
        "Beta GmbH"
    );
    assert_eq!(renamed_events(&app, &admin, &org_b).await.len(), 1);
    assert_eq!(renamed_events(&app, &admin, &home).await.len(), 1);
}

async fn a_bad_name_is_refused_and_changes_nothing(app: TestApp) {
    let admin = app.admin_token().await;
    let home = home_organization(&app, &admin).await;
    let (_, before) = read(&app, &admin, &home).await;
    for body in [
        json!({}),
        json!({"name": null}),
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": 42}),
        json!({"name": "Acme\n\nYour invitation code:\n\nPHISH12345"}),
        json!({"name": "A\u{2028}B"}),
    ] {
        let (status, answer) = rename(&app, &admin, &home, body.clone()).await;
        assert_invalid_only(status, &answer, "name");
    }
    let (status, answer) = app
        .call(
            Method::PUT,
            &format!("/v1/organizations/{home}"),
            Some(&admin),
            None,
        )
        .await;
    assert_invalid_only(status, &answer, "name");
    assert_eq!(
        read(&app, &admin, &home).await.1["results"],
        before["results"]
    );
    assert!(renamed_events(&app, &admin, &home).await.is_empty());
}

async fn a_bound_token_reads_and_renames_only_its_own_organization(app: TestApp) {
    let admin = app.admin_token().await;
    let home = home_organization(&app, &admin).await;
    let (org_b, admin_b) = create_organization(&app, "Beta").await;
    let everything_a = role(&app, &admin, &home, "Everything", &["*:*"]).await;
    let user = create_member(&app, &home, "both@a.example", PASSWORD, &[&everything_a]).await;
    join(&app, &user, &org_b, &[&admin_b]).await;
    let login = token_of(&app, "both@a.example", PASSWORD).await;
    // His login reaches both organizations.
    assert_eq!(read(&app, &login, &home).await.0, StatusCode::OK);
    assert_eq!(read(&app, &login, &org_b).await.0, StatusCode::OK);

    let (status, body) = app
        .post(
            "/v1/users/generate-permanent-api-token",
            &login,
            json!({"organizationID": org_b}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bound = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(read(&app, &bound, &org_b).await.0, StatusCode::OK);
    assert_eq!(
        ids(&app.get("/v1/organizations", &bound).await.1),
        [org_b.as_str()]
    );
    let (status, body) = read(&app, &bound, &home).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = rename(&app, &bound, &home, json!({"name": "From B"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(renamed_events(&app, &admin, &home).await.is_empty());
    let (status, body) = rename(&app, &bound, &org_b, json!({"name": "Beta renamed"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A platform administrator's permanent token is bound like any other.
    let (status, body) = app
        .post("/v1/users/generate-permanent-api-token", &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let admin_bound = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        ids(&app.get("/v1/organizations", &admin_bound).await.1),
        [home.as_str()]
    );
    assert_eq!(
        read(&app, &admin_bound, &org_b).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        rename(&app, &admin_bound, &org_b, json!({"name": "Nope"}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        read(&app, &admin, &org_b).await.1["results"][0]["name"],
        "Beta renamed"
    );
}
