//! Every operation of the API, tried by four callers:
//!
//! - (a) a member of organization A holding exactly the permission the operation needs;
//! - (b) a member of A holding every permission of the catalogue but that one;
//! - (c) the administrator (`*`/`*`, not a platform administrator) of organization B, acting on
//!   A's entity from B (404: its existence is not revealed), naming A in `organizations=`
//!   (403), or naming A as the body's `organizationID` (403);
//! - (d) nobody: no token (401 for everything but the public operations).
//!
//! The table must list exactly the operations of the OpenAPI document: an operation added to
//! the API without a row here fails the test.
//!
//! An organization that does not exist, named in `organizations=` or as the body's
//! `organizationID`, is a 404 to a platform administrator (who may name any organization) and
//! the same 403 as any foreign organization to everybody else, so that its existence is told
//! to nobody else.
//!

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{create_member, create_organization, token_of, TestApp};

both_stores!(
    every_operation_keeps_to_its_callers_and_its_organization,
    an_organization_that_does_not_exist_is_404_to_a_platform_administrator_and_403_to_others,
);

const PASSWORD: &str = "member password 1234";
const RESOURCES: [&str; 6] = [
    "Users",
    "Roles",
    "Organizations",
    "Tokens",
    "AuditEvents",
    "Invitations",
];
const ACTIONS: [&str; 4] = ["read", "create", "update", "delete"];

/// Who decides a request, which tells the checks that hold before the handler is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// No token needed; the handler decides everything (the middleware still refuses a
    /// foreign organization named in `organizations=`).
    Public,
    /// No middleware at all: `/v1/oauth/*` and the operational endpoints.
    Open,
    /// Any valid token.
    Token,
    /// The permission, checked by the middleware.
    Permission,
    /// The permission, or the caller acting on himself: the handler decides the rest.
    PermissionOrSelf,
    /// Any valid token for the middleware; the handler checks the permission in the
    /// organization the path names.
    InPath,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cross {
    /// B's administrator sends (a)'s very request, acting in B.
    Entity,
    /// …with `organizations=A` added.
    NameOrg,
    /// …with `organizationID: A` in the body.
    BodyOrg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    None,
    /// (a) and (b) hold a permanent token already (to rotate it).
    PermanentTokens,
    /// The target is logged in and holds a permanent token: a session and a token to end.
    TargetSignedIn,
}

/// What a row's request is built from.
struct Fixture {
    /// A fresh role of A holding the operation's permission (`Users:read` when it needs none):
    /// a role (a) may manage, since he holds all it holds.
    role_id: String,
    /// A fresh member of A holding no role.
    target_email: String,
    /// Unique in the run, for names and e-mails a request creates.
    fresh: String,
    /// A pending invitation of A to a fresh e-mail, giving the fresh role: not (a)'s, (b)'s or
    /// anyone's of B.
    invitation_id: String,
}

/// The target's session and permanent token, when the row's setup made them.
#[derive(Default)]
struct Signed {
    session_id: String,
    token_id: String,
}

type Body = fn(&Fixture) -> Option<Value>;

struct Op {
    method: Method,
    /// As routed; `{role}`, `{email}`, `{resource}`, `{action}`, `{id}` (an invitation) are
    /// filled in from the fixture.
    path: &'static str,
    access: Access,
    /// What (a) holds and (b) lacks; `None` when no permission is involved.
    needs: Option<(&'static str, &'static str)>,
    with: StatusCode,
    without: StatusCode,
    cross: &'static [(Cross, StatusCode)],
    anonymous: StatusCode,
    setup: Setup,
    body: Body,
}

const OK: StatusCode = StatusCode::OK;
const BAD: StatusCode = StatusCode::BAD_REQUEST;
const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;
const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;

const NAMING_ORG: &[(Cross, StatusCode)] = &[(Cross::NameOrg, FORBIDDEN)];
const ON_ENTITY: &[(Cross, StatusCode)] =
    &[(Cross::Entity, NOT_FOUND), (Cross::NameOrg, FORBIDDEN)];
const INTO_ORG: &[(Cross, StatusCode)] =
    &[(Cross::NameOrg, FORBIDDEN), (Cross::BodyOrg, FORBIDDEN)];
const ON_ENTITY_INTO_ORG: &[(Cross, StatusCode)] = &[
    (Cross::Entity, NOT_FOUND),
    (Cross::NameOrg, FORBIDDEN),
    (Cross::BodyOrg, FORBIDDEN),
];

fn no_body(_: &Fixture) -> Option<Value> {
    None
}

fn table() -> Vec<Op> {
    use Access::*;
    let op = |method: Method, path: &'static str, access: Access| Op {
        method,
        path,
        access,
        needs: None,
        with: OK,
        without: OK,
        cross: NAMING_ORG,
        anonymous: UNAUTHORIZED,
        setup: Setup::None,
        body: no_body,
    };
    let guarded = |method: Method, path: &'static str, needs: (&'static str, &'static str)| Op {
        needs: Some(needs),
        without: FORBIDDEN,
        ..op(method, path, Permission)
    };
    let on_user = |method: Method, path: &'static str, needs: (&'static str, &'static str)| Op {
        needs: Some(needs),
        without: FORBIDDEN,
        cross: ON_ENTITY,
        ..op(method, path, PermissionOrSelf)
    };
    let open = |method: Method, path: &'static str| Op {
        cross: &[],
        anonymous: OK,
        ..op(method, path, Open)
    };
    vec![
        // Roles.
        Op {
            cross: INTO_ORG,
            body: |f| Some(json!({"name": format!("made {}", f.fresh)})),
            ..guarded(Method::POST, "/v1/roles", ("Roles", "create"))
        },
        guarded(Method::GET, "/v1/roles", ("Roles", "read")),
        // The audit trail: B's administrator reads B's events, never A's (`audit.rs`).
        guarded(Method::GET, "/v1/audit-events", ("AuditEvents", "read")),
        Op {
            cross: ON_ENTITY,
            ..guarded(Method::GET, "/v1/roles/{role}", ("Roles", "read"))
        },
        Op {
            cross: ON_ENTITY_INTO_ORG,
            body: |f| Some(json!({"id": f.role_id, "description": "changed"})),
            ..guarded(Method::PUT, "/v1/roles", ("Roles", "update"))
        },
        Op {
            cross: ON_ENTITY,
            ..guarded(Method::DELETE, "/v1/roles/{role}", ("Roles", "delete"))
        },
        Op {
            cross: ON_ENTITY,
            ..guarded(
                Method::DELETE,
                "/v1/roles/{role}/permission/{resource}/{action}",
                ("Roles", "update"),
            )
        },
        // An organization's invitations: B's administrator neither sees nor touches A's.
        guarded(Method::GET, "/v1/invitations", ("Invitations", "read")),
        Op {
            cross: ON_ENTITY,
            ..guarded(
                Method::POST,
                "/v1/invitations/{id}/resend",
                ("Invitations", "update"),
            )
        },
        Op {
            cross: ON_ENTITY,
            ..guarded(
                Method::DELETE,
                "/v1/invitations/{id}",
                ("Invitations", "delete"),
            )
        },
        // The invitee's own: an invitation made for someone else is a 404 to everybody.
        op(Method::GET, "/v1/users/mine/invitations", Token),
        Op {
            with: NOT_FOUND,
            without: NOT_FOUND,
            cross: &[(Cross::Entity, NOT_FOUND), (Cross::NameOrg, FORBIDDEN)],
            ..op(
                Method::POST,
                "/v1/users/mine/invitations/{id}/accept",
                Token,
            )
        },
        Op {
            with: NOT_FOUND,
            without: NOT_FOUND,
            cross: &[(Cross::Entity, NOT_FOUND), (Cross::NameOrg, FORBIDDEN)],
            ..op(
                Method::POST,
                "/v1/users/mine/invitations/{id}/decline",
                Token,
            )
        },
        // The caller himself and his tokens: any valid token.
        op(Method::GET, "/v1/users/mine", Token),
        op(Method::GET, "/v1/users/mine/organizations", Token),
        op(Method::GET, "/v1/permissions/catalogue", Token),
        op(Method::GET, "/v1/users/generate-tokens", Token),
        Op {
            cross: INTO_ORG,
            body: |_| Some(json!({"description": "isolation"})),
            ..op(
                Method::POST,
                "/v1/users/generate-permanent-api-token",
                Token,
            )
        },
        Op {
            cross: INTO_ORG,
            setup: Setup::PermanentTokens,
            body: |_| Some(json!({})),
            ..op(Method::POST, "/v1/users/refresh-permanent-api-token", Token)
        },
        // One's own sessions and API tokens; another user's (the target's) are not found, for
        // everybody, B's administrator included.
        op(Method::GET, "/v1/users/mine/sessions", Token),
        op(
            Method::DELETE,
            "/v1/users/mine/sessions?except=current",
            Token,
        ),
        Op {
            with: NOT_FOUND,
            without: NOT_FOUND,
            cross: ON_ENTITY,
            setup: Setup::TargetSignedIn,
            ..op(
                Method::DELETE,
                "/v1/users/mine/sessions/{session_id}",
                Token,
            )
        },
        op(Method::GET, "/v1/users/mine/api-tokens", Token),
        Op {
            with: NOT_FOUND,
            without: NOT_FOUND,
            cross: ON_ENTITY,
            setup: Setup::TargetSignedIn,
            ..op(
                Method::DELETE,
                "/v1/users/mine/api-tokens/{token_id}",
                Token,
            )
        },
        // Another user's sessions and API tokens.
        Op {
            cross: ON_ENTITY,
            setup: Setup::TargetSignedIn,
            ..guarded(
                Method::GET,
                "/v1/users/{email}/sessions",
                ("Users", "update"),
            )
        },
        Op {
            cross: ON_ENTITY,
            setup: Setup::TargetSignedIn,
            ..guarded(
                Method::DELETE,
                "/v1/users/{email}/sessions",
                ("Users", "update"),
            )
        },
        Op {
            cross: ON_ENTITY,
            setup: Setup::TargetSignedIn,
            ..guarded(
                Method::DELETE,
                "/v1/users/{email}/sessions/{session_id}",
                ("Users", "update"),
            )
        },
        Op {
            cross: ON_ENTITY,
            setup: Setup::TargetSignedIn,
            ..guarded(
                Method::GET,
                "/v1/users/{email}/api-tokens",
                ("Tokens", "read"),
            )
        },
        Op {
            cross: ON_ENTITY,
            setup: Setup::TargetSignedIn,
            ..guarded(
                Method::DELETE,
                "/v1/users/{email}/api-tokens/{token_id}",
                ("Tokens", "delete"),
            )
        },
        // One's own second factors; another user's (the fixture's `{id}` is no factor of
        // anybody's) are not found.
        op(Method::GET, "/v1/users/mine/mfa", Token),
        Op {
            body: |_| Some(json!({})),
            ..op(Method::POST, "/v1/users/mine/mfa/totp", Token)
        },
        Op {
            with: NOT_FOUND,
            without: NOT_FOUND,
            cross: ON_ENTITY,
            body: |_| Some(json!({"code": "123456"})),
            ..op(Method::POST, "/v1/users/mine/mfa/totp/{id}/confirm", Token)
        },
        Op {
            body: |_| Some(json!({})),
            ..op(
                Method::POST,
                "/v1/users/mine/mfa/webauthn/register/start",
                Token,
            )
        },
        // A ceremony no one started, with no credential: the same 400 for everybody.
        Op {
            with: BAD,
            without: BAD,
            body: |_| Some(json!({"ceremonyID": "WAR-none", "credential": {}})),
            ..op(
                Method::POST,
                "/v1/users/mine/mfa/webauthn/register/finish",
                Token,
            )
        },
        Op {
            with: NOT_FOUND,
            without: NOT_FOUND,
            cross: ON_ENTITY,
            body: |_| Some(json!({"password": "irrelevant"})),
            ..op(Method::DELETE, "/v1/users/mine/mfa/{id}", Token)
        },
        // Without a confirmed factor there are no recovery codes to replace.
        Op {
            with: StatusCode::CONFLICT,
            without: StatusCode::CONFLICT,
            body: |_| Some(json!({"password": "irrelevant"})),
            ..op(Method::POST, "/v1/users/mine/mfa/recovery-codes", Token)
        },
        Op {
            cross: ON_ENTITY,
            ..guarded(
                Method::DELETE,
                "/v1/users/{user_id}/mfa",
                ("Users", "update"),
            )
        },
        // An organization's policy: its members see it; `Organizations:update` there changes
        // it (set off here, so that the rows after this one are not limited by it).
        Op {
            cross: ON_ENTITY,
            ..op(
                Method::GET,
                "/v1/organizations/{organization_id}/mfa-policy",
                InPath,
            )
        },
        Op {
            needs: Some(("Organizations", "update")),
            without: FORBIDDEN,
            cross: ON_ENTITY,
            body: |_| Some(json!({"required": false})),
            ..op(
                Method::PUT,
                "/v1/organizations/{organization_id}/mfa-policy",
                InPath,
            )
        },
        // User management.
        Op {
            cross: INTO_ORG,
            body: |f| {
                Some(json!({"email": format!("new-{}@a.example", f.fresh),
                            "password": "new member password 1"}))
            },
            ..guarded(Method::POST, "/v1/users", ("Users", "create"))
        },
        Op {
            cross: INTO_ORG,
            body: |f| {
                Some(json!({"email": format!("invited-{}@a.example", f.fresh),
                            "sendEmail": false}))
            },
            ..guarded(Method::POST, "/v1/users/invite", ("Users", "create"))
        },
        Op {
            ..guarded(Method::GET, "/v1/users", ("Users", "read"))
        },
        // Without `Users:read` another user is not visible at all.
        Op {
            without: NOT_FOUND,
            ..on_user(Method::GET, "/v1/users/username/{email}", ("Users", "read"))
        },
        Op {
            body: |_| Some(json!({"firstName": "Renamed"})),
            ..on_user(Method::PUT, "/v1/users/{email}", ("Users", "update"))
        },
        Op {
            body: |f| Some(json!({"newEmail": format!("moved-{}@a.example", f.fresh)})),
            ..on_user(Method::PUT, "/v1/users/{email}/email", ("Users", "update"))
        },
        Op {
            body: |_| Some(json!({"newPassword": "a brand new password 99"})),
            ..on_user(
                Method::PUT,
                "/v1/users/{email}/password",
                ("Users", "update"),
            )
        },
        // A user's limits, by his ID.
        Op {
            cross: ON_ENTITY,
            ..guarded(
                Method::GET,
                "/v1/users/{user_id}/login-limits",
                ("Users", "read"),
            )
        },
        Op {
            cross: ON_ENTITY,
            ..guarded(
                Method::DELETE,
                "/v1/users/{user_id}/login-limits",
                ("Users", "update"),
            )
        },
        // Sign-up: `Organizations:create`, anonymous only when open sign-up is on (it is off).
        Op {
            needs: Some(("Organizations", "create")),
            without: FORBIDDEN,
            body: |f| {
                Some(json!({"email": format!("founder-{}@b.example", f.fresh),
                            "password": "founder password 1234",
                            "companyName": format!("Founded {}", f.fresh)}))
            },
            ..op(Method::POST, "/v1/users/flexcheck", Public)
        },
        // Accepting an invitation as oneself: a code not made for the caller (here none at
        // all) is the same 400 for everybody, B's administrator included.
        Op {
            with: BAD,
            without: BAD,
            cross: &[(Cross::Entity, BAD), (Cross::NameOrg, FORBIDDEN)],
            body: |_| Some(json!({"inviteCode": "WRONGCODE1"})),
            ..op(Method::POST, "/v1/users/invite/accept", Token)
        },
        // The invite code or the caller's token is the credential; an ID token no provider
        // signed fails every check, for everybody.
        Op {
            with: BAD,
            without: BAD,
            anonymous: BAD,
            body: |_| Some(json!({"idToken": "not.a.token"})),
            ..op(Method::POST, "/v1/users/invite/openid", Public)
        },
        // Password reset: public, the same answer for everybody.
        Op {
            anonymous: OK,
            body: |f| Some(json!({"email": f.target_email})),
            ..op(
                Method::POST,
                "/v1/users/password-reset/request-reset-code",
                Public,
            )
        },
        Op {
            with: BAD,
            without: BAD,
            anonymous: BAD,
            body: |f| {
                Some(json!({"email": f.target_email, "resetCode": "WRONGCODE1",
                            "newPassword": "a brand new password 99"}))
            },
            ..op(
                Method::POST,
                "/v1/users/password-reset/password-update",
                Public,
            )
        },
        // A login with a passkey alone: public; a ceremony no one started is the same refusal
        // for everybody.
        Op {
            anonymous: OK,
            body: |_| Some(json!({})),
            ..op(
                Method::POST,
                "/v1/users/mfa/webauthn/authenticate/start",
                Public,
            )
        },
        Op {
            with: BAD,
            without: BAD,
            anonymous: BAD,
            body: |_| Some(json!({"ceremonyID": "none", "credential": {}})),
            ..op(
                Method::POST,
                "/v1/users/mfa/webauthn/authenticate/finish",
                Public,
            )
        },
        // Organizations: the list is the caller's own; one the path names needs the permission
        // in it, and B's administrator does not find A.
        op(Method::GET, "/v1/organizations", Token),
        Op {
            needs: Some(("Organizations", "read")),
            without: FORBIDDEN,
            cross: ON_ENTITY,
            ..op(Method::GET, "/v1/organizations/{organization_id}", InPath)
        },
        Op {
            needs: Some(("Organizations", "update")),
            without: FORBIDDEN,
            cross: ON_ENTITY,
            body: |f| Some(json!({"name": format!("Renamed {}", f.fresh)})),
            ..op(Method::PUT, "/v1/organizations/{organization_id}", InPath)
        },
        // Introspection needs the permission; a token of another organization is described
        // as inactive (`introspection.rs`).
        Op {
            body: |_| Some(json!({"token": "bfsa_unknown"})),
            ..guarded(
                Method::POST,
                "/v1/oauth/introspect",
                ("Tokens", "introspect"),
            )
        },
        // Beyond the seed: OAuth 2.0 and the operational endpoints need no token.
        Op {
            body: |f| {
                Some(json!({"grant_type": "password", "username": f.target_email,
                            "password": PASSWORD}))
            },
            ..open(Method::POST, "/v1/oauth/token")
        },
        Op {
            body: |_| Some(json!({"token": "bfsa_unknown"})),
            ..open(Method::POST, "/v1/oauth/revoke")
        },
        open(Method::GET, "/healthz"),
        open(Method::GET, "/readyz"),
    ]
}

fn all_permissions_but(needs: (&str, &str)) -> Vec<Value> {
    RESOURCES
        .iter()
        .flat_map(|r| ACTIONS.iter().map(move |a| (*r, *a)))
        .filter(|p| *p != needs)
        .map(|(r, a)| json!({"resource": r, "action": a}))
        .collect()
}

async fn role_with(app: &TestApp, admin: &str, name: &str, permissions: Vec<Value>) -> String {
    let (status, body) = app
        .post(
            "/v1/roles",
            admin,
            json!({"name": name, "permissions": permissions}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"][0]["id"].as_str().unwrap().to_string()
}

/// Logs the target in and issues him a permanent token; answers their IDs, as the platform
/// administrator sees them.
async fn signed_in(app: &TestApp, admin: &str, email: &str) -> Signed {
    let token = token_of(app, email, PASSWORD).await;
    let (status, body) = app
        .post("/v1/users/generate-permanent-api-token", &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id_at = |body: Value| body["results"][0]["id"].as_str().unwrap().to_string();
    Signed {
        session_id: id_at(
            app.get(&format!("/v1/users/{email}/sessions"), admin)
                .await
                .1,
        ),
        token_id: id_at(
            app.get(&format!("/v1/users/{email}/api-tokens"), admin)
                .await
                .1,
        ),
    }
}

/// The (method, path) of every operation the OpenAPI document lists, paths as routed.
async fn documented(app: &TestApp) -> BTreeSet<(String, String)> {
    let doc: Value = app
        .http
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let base = doc["servers"][0]["url"].as_str().unwrap_or("").to_string();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let server = item["servers"][0]["url"].as_str().unwrap_or(&base);
        let full = format!("{}{path}", server.trim_end_matches('/'));
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), full.clone()));
            }
        }
    }
    ops
}

struct Outcome {
    check: String,
    status: StatusCode,
    expected: StatusCode,
    body: Value,
}

async fn every_operation_keeps_to_its_callers_and_its_organization(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, me) = app.get("/v1/users/mine", &admin).await;
    let org_a = me["results"][0]["organizationID"]
        .as_str()
        .unwrap()
        .to_string();
    let (org_b, admin_role_b) = create_organization(&app, "Elsewhere").await;
    create_member(&app, &org_b, "boss@b.example", PASSWORD, &[&admin_role_b]).await;
    let other = token_of(&app, "boss@b.example", PASSWORD).await;

    let table = table();
    let listed: BTreeSet<(String, String)> = table
        .iter()
        .map(|op| {
            let path = op.path.split('?').next().unwrap_or(op.path);
            (op.method.to_string(), path.to_string())
        })
        .collect();
    assert_eq!(listed.len(), table.len(), "an operation is listed twice");
    let documented = documented(&app).await;
    let undocumented: Vec<_> = listed.difference(&documented).collect();
    let untested: Vec<_> = documented.difference(&listed).collect();
    assert!(
        untested.is_empty() && undocumented.is_empty(),
        "the table must list exactly the documented operations; \
         documented but not in the table: {untested:?}; in the table but not documented: \
         {undocumented:?}"
    );

    let mut failures = Vec::new();
    for (i, op) in table.iter().enumerate() {
        let (resource, action) = op.needs.unwrap_or(("Users", "read"));
        let role_id = role_with(
            &app,
            &admin,
            &format!("target {i}"),
            vec![json!({"resource": resource, "action": action})],
        )
        .await;
        let (status, invited) = app
            .post(
                "/v1/users/invite",
                &admin,
                json!({"email": format!("invitee-{i}@a.example"), "roles": [role_id],
                       "sendEmail": false}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{invited}");
        let fixture = Fixture {
            role_id,
            target_email: format!("target-{i}@a.example"),
            fresh: format!("{i}"),
            invitation_id: invited["results"][0]["id"].as_str().unwrap().to_string(),
        };
        let target_id = create_member(&app, &org_a, &fixture.target_email, PASSWORD, &[]).await;
        let (with_roles, without_roles) = match op.needs {
            Some(needs) => (
                vec![
                    role_with(
                        &app,
                        &admin,
                        &format!("with {i}"),
                        vec![json!({"resource": needs.0, "action": needs.1})],
                    )
                    .await,
                ],
                vec![
                    role_with(
                        &app,
                        &admin,
                        &format!("without {i}"),
                        all_permissions_but(needs),
                    )
                    .await,
                ],
            ),
            None => (Vec::new(), Vec::new()),
        };
        let with_email = format!("with-{i}@a.example");
        let without_email = format!("without-{i}@a.example");
        create_member(
            &app,
            &org_a,
            &with_email,
            PASSWORD,
            &with_roles.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await;
        create_member(
            &app,
            &org_a,
            &without_email,
            PASSWORD,
            &without_roles.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await;
        let with = token_of(&app, &with_email, PASSWORD).await;
        let without = token_of(&app, &without_email, PASSWORD).await;
        if op.setup == Setup::PermanentTokens {
            for token in [&with, &without] {
                let (status, body) = app
                    .post("/v1/users/generate-permanent-api-token", token, json!({}))
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        }

        let signed = match op.setup {
            Setup::TargetSignedIn => signed_in(&app, &admin, &fixture.target_email).await,
            _ => Signed::default(),
        };
        let path = op
            .path
            .replace("{session_id}", &signed.session_id)
            .replace("{token_id}", &signed.token_id)
            .replace("{role}", &fixture.role_id)
            .replace("{email}", &fixture.target_email)
            .replace("{user_id}", &target_id)
            .replace("{id}", &fixture.invitation_id)
            .replace("{organization_id}", &org_a)
            .replace("{resource}", resource)
            .replace("{action}", action);
        let body = (op.body)(&fixture);
        let send = |token: Option<&str>, path: String, body: Option<Value>| {
            let method = op.method.clone();
            let app = &app;
            let token = token.map(str::to_string);
            async move { app.call(method, &path, token.as_deref(), body).await }
        };

        // Refused ones first: they change nothing, so (a) still finds what it acts on.
        let mut outcomes = Vec::new();
        let (status, answer) = send(None, path.clone(), body.clone()).await;
        outcomes.push(Outcome {
            check: "anonymous".into(),
            status,
            expected: op.anonymous,
            body: answer,
        });
        for (cross, expected) in op.cross {
            let (path, body) = match cross {
                Cross::Entity => (path.clone(), body.clone()),
                Cross::NameOrg => {
                    let sep = if path.contains('?') { '&' } else { '?' };
                    (format!("{path}{sep}organizations={org_a}"), body.clone())
                }
                Cross::BodyOrg => {
                    let mut b = body.clone().unwrap_or_else(|| json!({}));
                    b["organizationID"] = json!(org_a);
                    (path.clone(), Some(b))
                }
            };
            let (status, answer) = send(Some(&other), path, body).await;
            outcomes.push(Outcome {
                check: format!("cross {cross:?}"),
                status,
                expected: *expected,
                body: answer,
            });
        }
        let (status, answer) = send(Some(&without), path.clone(), body.clone()).await;
        outcomes.push(Outcome {
            check: "without".into(),
            status,
            expected: op.without,
            body: answer,
        });
        let (status, answer) = send(Some(&with), path.clone(), body.clone()).await;
        outcomes.push(Outcome {
            check: "with".into(),
            status,
            expected: op.with,
            body: answer,
        });

        for o in outcomes {
            let as_expected = if o.expected == OK {
                o.status.is_success()
            } else {
                o.status == o.expected
            };
            if !as_expected {
                failures.push(format!(
                    "{} {} ({}, guarded as {:?}): expected {}, got {}: {}",
                    op.method, op.path, o.check, op.access, o.expected, o.status, o.body
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn an_organization_that_does_not_exist_is_404_to_a_platform_administrator_and_403_to_others(
    app: TestApp,
) {
    const NOWHERE: &str = "ORG-does-not-exist";
    let admin = app.admin_token().await;
    let (org_b, admin_role_b) = create_organization(&app, "Elsewhere").await;
    create_member(&app, &org_b, "boss@b.example", PASSWORD, &[&admin_role_b]).await;
    let other = token_of(&app, "boss@b.example", PASSWORD).await;
    let fixture = Fixture {
        role_id: role_with(
            &app,
            &admin,
            "target",
            vec![json!({"resource": "Users", "action": "read"})],
        )
        .await,
        target_email: "target@b.example".into(),
        fresh: "nowhere".into(),
        invitation_id: "COD-nowhere".into(),
    };
    let target_id = create_member(&app, &org_b, &fixture.target_email, PASSWORD, &[]).await;

    let mut failures = Vec::new();
    for op in table().iter().filter(|op| op.access != Access::Open) {
        let path = op
            .path
            .replace("{session_id}", "SES-none")
            .replace("{token_id}", "TOK-none")
            .replace("{role}", &fixture.role_id)
            .replace("{email}", &fixture.target_email)
            .replace("{id}", &fixture.invitation_id)
            .replace("{user_id}", &target_id)
            .replace("{organization_id}", &org_b)
            .replace("{resource}", "Users")
            .replace("{action}", "read");
        let body = (op.body)(&fixture);
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut requests = vec![(
            "organizations=",
            format!("{path}{sep}organizations={NOWHERE}"),
            body.clone(),
        )];
        if op.cross.iter().any(|(c, _)| *c == Cross::BodyOrg) {
            let mut named = body.clone().unwrap_or_else(|| json!({}));
            named["organizationID"] = json!(NOWHERE);
            requests.push(("organizationID", path.clone(), Some(named)));
        }
        for (how, path, body) in requests {
            for (who, token, expected) in [
                ("a platform administrator", &admin, NOT_FOUND),
                ("another organization's administrator", &other, FORBIDDEN),
            ] {
                let (status, answer) = app
                    .call(op.method.clone(), &path, Some(token), body.clone())
                    .await;
                if status != expected {
                    failures.push(format!(
                        "{} {} naming it in {how}, as {who}: expected {expected}, got {status}: \
                         {answer}",
                        op.method, op.path
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
