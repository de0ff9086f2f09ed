//! Logging in with a passkey alone, where the organization allows it: the start names no user,
//! the assertion says whose passkey it is, the finish answers a token pair.
//!
//! The software authenticator (`webauthn-authenticator-rs`) keeps no credential it could find
//! by itself: it signs only for a credential the options name, and answers no user handle. A
//! browser with a platform authenticator finds the passkey it keeps for the site and answers
//! the user handle kept with it. [`KeptPasskey`] stands in for that lookup alone: it names
//! the credential it registered in the options it signs, and adds the user handle it was
//! registered with to the answer (the handle is outside the signed data, as in WebAuthn).
//! Everything the service checks (challenge, origin, relying party, signature, user
//! verification) is the authenticator's own work.

use reqwest::StatusCode;
use serde_json::{json, Value};
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::common::{
    create_member, create_organization, home_organization, token_of, StoreKind, TestApp,
};
use crate::stories_of_kind;

stories_of_kind!(
    a_passkey_alone_logs_in_where_the_organization_allows_it,
    a_login_ceremony_serves_one_finish,
    an_assertion_that_is_not_right_is_refused_with_one_answer_and_counted,
    a_passkey_login_reaches_only_the_organizations_of_its_user_that_allow_it,
    bad_requests_to_a_passkey_login_are_refused_never_a_500,
    the_policy_says_whether_a_passkey_alone_logs_in,
    a_passkey_proves_its_user_for_removing_a_factor_or_making_new_recovery_codes,
);

const PASSWORD: &str = "member password 1234";
const ORIGIN: &str = "http://localhost:8080";
const START: &str = "/v1/users/mfa/webauthn/authenticate/start";
const FINISH: &str = "/v1/users/mfa/webauthn/authenticate/finish";

/// A registered passkey as an authenticator that keeps it would hold it: the credential's ID
/// and the user handle it was made with.
struct KeptPasskey {
    /// Its second factor's ID.
    factor_id: Value,
    authenticator: WebauthnAuthenticator<SoftPasskey>,
    credential_id: Value,
    user_handle: Value,
}

impl KeptPasskey {
    /// The assertion for a login's options, made in a page of `origin`.
    fn sign(&mut self, origin: &str, mut options: Value) -> Value {
        assert_eq!(
            options["publicKey"]["allowCredentials"],
            json!([]),
            "a login with a passkey alone names no credential: {options}"
        );
        options["publicKey"]["allowCredentials"] =
            json!([{"type": "public-key", "id": self.credential_id}]);
        let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
        let assertion = self
            .authenticator
            .do_authentication(Url::parse(origin).unwrap(), options)
            .expect("the authenticator signs");
        let mut assertion = serde_json::to_value(assertion).unwrap();
        assertion["response"]["userHandle"] = self.user_handle.clone();
        assertion
    }
}

/// A member of the administrator's home organization with no role; answers his token.
async fn member(app: &TestApp, email: &str) -> String {
    let admin = app.admin_token().await;
    let home = home_organization(app, &admin).await;
    create_member(app, &home, email, PASSWORD, &[]).await;
    token_of(app, email, PASSWORD).await
}

/// Registers a passkey of the token's user, made in a page of `origin`.
async fn register(app: &TestApp, token: &str, origin: &str) -> KeptPasskey {
    let (status, body) = app
        .post(
            "/v1/users/mine/mfa/webauthn/register/start",
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let options = body["options"].clone();
    // Asked for a passkey the authenticator keeps, so that it can log in alone.
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["residentKey"], "preferred",
        "{options}"
    );
    let user_handle = options["publicKey"]["user"]["id"].clone();
    let mut authenticator = WebauthnAuthenticator::new(SoftPasskey::new(true));
    let creation: CreationChallengeResponse = serde_json::from_value(options).unwrap();
    let credential = authenticator
        .do_registration(Url::parse(origin).unwrap(), creation)
        .expect("the authenticator makes a credential");
    let credential = serde_json::to_value(credential).unwrap();
    let (status, body) = app
        .post(
            "/v1/users/mine/mfa/webauthn/register/finish",
            token,
            json!({"ceremonyID": body["ceremonyID"], "credential": credential}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    KeptPasskey {
        factor_id: body["factor"]["id"].clone(),
        authenticator,
        credential_id: credential["rawId"].clone(),
        user_handle,
    }
}

/// Makes a user a member of another organization, straight through the library.
async fn join(app: &TestApp, user_id: &str, organization_id: &str) {
    use bf_security::clock::Clock as _;
    use bf_security::store::memberships;
    let now = app.clock.now();
    let mut tx = app.app.store.write().await.expect("begin");
    memberships::add_member(&mut tx, user_id, organization_id, now, None)
        .await
        .expect("add member");
    tx.commit().await.expect("commit");
    app.app.auth.forget_all();
}

/// Lets (or not) the organization's members log in with a passkey alone.
async fn allow(app: &TestApp, organization_id: &str, allowed: bool) {
    let admin = app.admin_token().await;
    let (status, body) = app
        .put(
            &format!("/v1/organizations/{organization_id}/mfa-policy"),
            &admin,
            json!({"passkeyLogin": allowed}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["passkeyLogin"], allowed, "{body}");
}

/// Starts a login; answers (ceremony ID, request options).
async fn start(app: &TestApp) -> (String, Value) {
    let (status, body) = app.call(reqwest::Method::POST, START, None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["ceremonyID"].as_str().unwrap().to_string(),
        body["options"].clone(),
    )
}

async fn finish(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.call(reqwest::Method::POST, FINISH, None, Some(body))
        .await
}

/// A whole login with the passkey, into `organization` (the home one if `None`).
async fn log_in(
    app: &TestApp,
    passkey: &mut KeptPasskey,
    organization: Option<&str>,
) -> (StatusCode, Value) {
    let (ceremony, options) = start(app).await;
    let assertion = passkey.sign(ORIGIN, options);
    let mut body = json!({"ceremonyID": ceremony, "credential": assertion});
    if let Some(organization) = organization {
        body["organizationID"] = json!(organization);
    }
    finish(app, body).await
}

fn refused(status: StatusCode, body: &Value, case: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {body}");
    assert_eq!(body["error"], "invalid_grant", "{case}: {body}");
}

/// The audit events of an action, newest first, as the platform administrator sees them.
async fn events(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let (status, body) = app
        .get(
            &format!("/v1/audit-events?kind={action}&records=100"),
            admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"].as_array().cloned().unwrap_or_default()
}

async fn a_passkey_alone_logs_in_where_the_organization_allows_it(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let token = member(&app, "alone@example.com").await;
    let mut passkey = register(&app, &token, ORIGIN).await;
    let admin = app.admin_token().await;
    let home = home_organization(&app, &admin).await;

    // Not allowed by default: the passkey was right, the organization says no.
    let (status, body) = log_in(&app, &mut passkey, None).await;
    refused(status, &body, "an organization that does not allow it");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("organization"),
        "{body}"
    );

    allow(&app, &home, true).await;
    let (ceremony, options) = start(&app).await;
    assert_eq!(options["publicKey"]["rpId"], "localhost", "{options}");
    assert_eq!(
        options["publicKey"]["userVerification"], "required",
        "{options}"
    );
    assert!(options.get("mediation").is_none(), "{options}");
    let assertion = passkey.sign(ORIGIN, options);
    let (status, body) = finish(
        &app,
        json!({"ceremonyID": ceremony, "credential": assertion}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "bearer", "{body}");
    assert_eq!(body["organizationID"], home.as_str(), "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    let (status, me) = app.get("/v1/users/mine", &access).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["results"][0]["email"], "alone@example.com", "{me}");
    // The refresh token works as any login's.
    let (status, refreshed) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");

    // A session of its own kind, which passed a second factor: where the organization
    // requires one too, the token acts there in full.
    let (_, sessions) = app.get("/v1/users/mine/sessions", &access).await;
    assert!(
        sessions["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["method"] == "passkey" && s["current"] == true),
        "{sessions}"
    );
    // The trail says how the login was made, and never the assertion.
    let succeeded = events(&app, &admin, "login.succeeded").await;
    let passkey_logins: Vec<&Value> = succeeded
        .iter()
        .filter(|e| e["details"]["method"] == "passkey")
        .collect();
    assert_eq!(passkey_logins.len(), 1, "{succeeded:?}");
    assert_eq!(passkey_logins[0]["details"]["secondFactor"], "passkey");
    let trail = serde_json::to_string(&succeeded).unwrap();
    assert!(!trail.contains(passkey.credential_id.as_str().unwrap()));

    let (status, body) = app
        .put(
            &format!("/v1/organizations/{home}/mfa-policy"),
            &admin,
            json!({"required": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["passkeyLogin"], true, "left as it was: {body}");
    let (status, body) = log_in(&app, &mut passkey, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "api organizations:all", "{body}");
    let body_refresh = body["refresh_token"].as_str().unwrap().to_string();
    let access = body["access_token"].as_str().unwrap().to_string();
    let (status, body) = app
        .get(&format!("/v1/organizations/{home}/mfa-policy"), &access)
        .await;
    assert_eq!(status, StatusCode::OK, "not limited to enrolling: {body}");
    let (status, refreshed) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", body_refresh.as_str()),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(refreshed["scope"], "api organizations:all", "{refreshed}");
    // His password alone still asks for the factor.
    let (status, body) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", "alone@example.com"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "mfa_required", "{body}");
}

async fn a_login_ceremony_serves_one_finish(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let token = member(&app, "once@example.com").await;
    let mut passkey = register(&app, &token, ORIGIN).await;
    let admin = app.admin_token().await;
    allow(&app, &home_organization(&app, &admin).await, true).await;

    let (ceremony, options) = start(&app).await;
    let assertion = passkey.sign(ORIGIN, options);
    let body = json!({"ceremonyID": ceremony, "credential": assertion});
    let (status, answer) = finish(&app, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // Replayed, as sent or with the ceremony ID in standard base64: refused.
    let (status, answer) = finish(&app, body).await;
    refused(status, &answer, "a replay");
    let standard = ceremony.replace('-', "+").replace('_', "/");
    let (status, answer) = finish(
        &app,
        json!({"ceremonyID": standard, "credential": assertion}),
    )
    .await;
    refused(status, &answer, "a replay in another spelling");

    // A refused answer spends the ceremony too.
    let (ceremony, options) = start(&app).await;
    let (status, answer) = finish(
        &app,
        json!({"ceremonyID": ceremony, "credential": {"id": "x", "type": "public-key"}}),
    )
    .await;
    refused(status, &answer, "not an assertion");
    let assertion = passkey.sign(ORIGIN, options);
    let (status, answer) = finish(
        &app,
        json!({"ceremonyID": ceremony, "credential": assertion}),
    )
    .await;
    refused(status, &answer, "a ceremony spent by a refusal");

    // An assertion answers only the ceremony it was made for.
    let (first, first_options) = start(&app).await;
    let (second, _) = start(&app).await;
    let for_first = passkey.sign(ORIGIN, first_options);
    let (status, answer) =
        finish(&app, json!({"ceremonyID": second, "credential": for_first})).await;
    refused(status, &answer, "another ceremony's assertion");
    let (status, answer) =
        finish(&app, json!({"ceremonyID": first, "credential": for_first})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // An expired one is refused.
    let (ceremony, options) = start(&app).await;
    let assertion = passkey.sign(ORIGIN, options);
    app.clock.advance_seconds(7 * 60);
    let (status, answer) = finish(
        &app,
        json!({"ceremonyID": ceremony, "credential": assertion}),
    )
    .await;
    refused(status, &answer, "an expired ceremony");

    // Neither a registration's ceremony ID, nor one changed by a byte, nor one sealed by
    // another deployment is a login's.
    let (status, registration) = app
        .post(
            "/v1/users/mine/mfa/webauthn/register/start",
            &token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{registration}");
    let (ceremony, options) = start(&app).await;
    let assertion = passkey.sign(ORIGIN, options);
    let mut changed = ceremony.clone().into_bytes();
    changed[10] = if changed[10] == b'A' { b'B' } else { b'A' };
    for forged in [
        registration["ceremonyID"].as_str().unwrap().to_string(),
        String::from_utf8(changed).unwrap(),
        "AAAA".repeat(40),
        "not base64 at all!".into(),
    ] {
        let (status, answer) =
            finish(&app, json!({"ceremonyID": forged, "credential": assertion})).await;
        refused(status, &answer, &forged);
    }
    let Some(other) = TestApp::spawn(kind).await else {
        return;
    };
    let (foreign, _) = start(&other).await;
    let (status, answer) = finish(
        &app,
        json!({"ceremonyID": foreign, "credential": assertion}),
    )
    .await;
    refused(status, &answer, "another deployment's ceremony");
}

async fn an_assertion_that_is_not_right_is_refused_with_one_answer_and_counted(kind: StoreKind) {
    let Some(app) = TestApp::spawn_with(kind, |s| {
        s.login.failures_per_address_per_hour = 6;
    })
    .await
    else {
        return;
    };
    let admin = app.admin_token().await;
    let home = home_organization(&app, &admin).await;
    allow(&app, &home, true).await;
    let token = member(&app, "right@example.com").await;
    let mut passkey = register(&app, &token, ORIGIN).await;
    let other_token = member(&app, "other@example.com").await;
    let other = register(&app, &other_token, ORIGIN).await;

    let mut answers = Vec::new();
    // Made in another origin.
    let (ceremony, options) = start(&app).await;
    let assertion = passkey.sign("http://localhost:9999", options);
    answers.push(
        finish(
            &app,
            json!({"ceremonyID": ceremony, "credential": assertion}),
        )
        .await,
    );
    // Claiming another user's handle.
    let (ceremony, options) = start(&app).await;
    let mut assertion = passkey.sign(ORIGIN, options);
    assertion["response"]["userHandle"] = other.user_handle.clone();
    answers.push(
        finish(
            &app,
            json!({"ceremonyID": ceremony, "credential": assertion}),
        )
        .await,
    );
    // Without a user handle.
    let (ceremony, options) = start(&app).await;
    let mut assertion = passkey.sign(ORIGIN, options);
    assertion["response"]
        .as_object_mut()
        .unwrap()
        .remove("userHandle");
    answers.push(
        finish(
            &app,
            json!({"ceremonyID": ceremony, "credential": assertion}),
        )
        .await,
    );
    // A passkey nobody registered, claiming the user's handle.
    let mut stranger = KeptPasskey {
        factor_id: json!(null),
        authenticator: WebauthnAuthenticator::new(SoftPasskey::new(true)),
        credential_id: json!(null),
        user_handle: passkey.user_handle.clone(),
    };
    let (status, body) = app
        .post(
            "/v1/users/mine/mfa/webauthn/register/start",
            &other_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let creation: CreationChallengeResponse =
        serde_json::from_value(body["options"].clone()).unwrap();
    let made = stranger
        .authenticator
        .do_registration(Url::parse(ORIGIN).unwrap(), creation)
        .unwrap();
    stranger.credential_id = serde_json::to_value(made).unwrap()["rawId"].clone();
    let (ceremony, options) = start(&app).await;
    let assertion = stranger.sign(ORIGIN, options);
    answers.push(
        finish(
            &app,
            json!({"ceremonyID": ceremony, "credential": assertion}),
        )
        .await,
    );
    // A user whose passkeys an administrator removed.
    let (status, body) = app
        .call(
            reqwest::Method::DELETE,
            &format!(
                "/v1/users/{}/mfa",
                app.get("/v1/users/mine", &other_token).await.1["results"][0]["id"]
                    .as_str()
                    .unwrap()
            ),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut other = other;
    let (ceremony, options) = start(&app).await;
    let assertion = other.sign(ORIGIN, options);
    answers.push(
        finish(
            &app,
            json!({"ceremonyID": ceremony, "credential": assertion}),
        )
        .await,
    );

    let descriptions: Vec<&Value> = answers
        .iter()
        .map(|(_, b)| &b["error_description"])
        .collect();
    for (status, body) in &answers {
        refused(*status, body, "a wrong assertion");
        assert_eq!(
            &body["error_description"], descriptions[0],
            "one answer for all"
        );
    }
    // Each counted against the client address, as a wrong password: the sixth is the last.
    let (ceremony, options) = start(&app).await;
    let assertion = passkey.sign("http://localhost:9999", options);
    let (status, body) = finish(
        &app,
        json!({"ceremonyID": ceremony, "credential": assertion}),
    )
    .await;
    refused(status, &body, "the sixth failure");
    let (ceremony, options) = start(&app).await;
    let assertion = passkey.sign(ORIGIN, options);
    let (status, body) = finish(
        &app,
        json!({"ceremonyID": ceremony, "credential": assertion}),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (status, body) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", "right@example.com"),
            ("password", "a wrong password"),
        ])
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the same limit: {body}"
    );

    // Each refusal is in the trail, with its reason; a known user's under his name.
    let failed = events(&app, &admin, "login.failed").await;
    let by_passkey: Vec<&Value> = failed
        .iter()
        .filter(|e| e["details"]["method"] == "passkey")
        .collect();
    assert_eq!(by_passkey.len(), 6, "{failed:?}");

    // Disabled: refused, once the window is over.
    app.clock.advance_seconds(3601);
    let admin = app.admin_token().await;
    let (status, body) = app
        .put(
            "/v1/users/right@example.com",
            &admin,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = log_in(&app, &mut passkey, None).await;
    refused(status, &body, "a disabled user");
    assert_eq!(body["error_description"], descriptions[0].clone());
}

async fn a_passkey_login_reaches_only_the_organizations_of_its_user_that_allow_it(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let admin = app.admin_token().await;
    let home = home_organization(&app, &admin).await;
    let user_id = create_member(&app, &home, "two@example.com", PASSWORD, &[]).await;
    let token = token_of(&app, "two@example.com", PASSWORD).await;
    let mut passkey = register(&app, &token, ORIGIN).await;
    let (second, _) = create_organization(&app, "Second").await;
    let (foreign, _) = create_organization(&app, "Foreign").await;
    join(&app, &user_id, &second).await;
    allow(&app, &foreign, true).await;

    // Home allows it, the second organization does not: neither a login into it nor a
    // login into home acting in it reaches it.
    allow(&app, &home, true).await;
    let (status, body) = log_in(&app, &mut passkey, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    let in_second = format!("/v1/organizations/{second}/mfa-policy");
    let (status, body) = app.get(&in_second, &access).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["errorMessage"].as_str().unwrap().contains("passkey"),
        "{body}"
    );
    // His password login reaches it.
    let (status, body) = app.get(&in_second, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = log_in(&app, &mut passkey, Some(&second)).await;
    refused(
        status,
        &body,
        "a member's organization that does not allow it",
    );
    allow(&app, &second, true).await;
    let (status, body) = app.get(&in_second, &access).await;
    assert_eq!(status, StatusCode::OK, "allowed now: {body}");

    // A permanent token made by such a login stands as the login did: it stops where passkey
    // logins stop being allowed.
    let (status, body) = app
        .post(
            "/v1/users/generate-permanent-api-token",
            &access,
            json!({"organizationID": second}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let permanent = body["access_token"].as_str().unwrap().to_string();
    let (status, body) = app.get(&in_second, &permanent).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    allow(&app, &second, false).await;
    let (status, body) = app.get(&in_second, &permanent).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Introspection tells the other services the same: the permanent token acts nowhere.
    for (token, active) in [(&permanent, false), (&access, true)] {
        let (status, body) = app
            .post("/v1/oauth/introspect", &admin, json!({"token": token}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["active"], active, "{body}");
    }
    allow(&app, &second, true).await;
    let (status, body) = log_in(&app, &mut passkey, Some(&second)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["organizationID"], second.as_str());
    // Allowing it does not open an organization he is not a member of.
    let (status, body) = log_in(&app, &mut passkey, Some(&foreign)).await;
    refused(status, &body, "an organization he is not a member of");
    let (status, body) = log_in(&app, &mut passkey, Some("ORG-none")).await;
    refused(status, &body, "no such organization");
}

async fn bad_requests_to_a_passkey_login_are_refused_never_a_500(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let (ceremony, _) = start(&app).await;
    for body in [
        json!({}),
        json!({"ceremonyID": ceremony}),
        json!({"credential": {}}),
        json!({"ceremonyID": "", "credential": {}}),
        json!({"ceremonyID": ceremony, "credential": "a string"}),
        json!({"ceremonyID": ceremony, "credential": [1, 2]}),
        json!({"ceremonyID": 7, "credential": {}}),
        json!({"ceremonyID": ceremony, "credential": {}, "extra": true}),
        json!([]),
    ] {
        let (status, answer) = finish(&app, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"], "invalid_request", "{body}: {answer}");
    }
    let res = app
        .http
        .post(app.url(FINISH))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // A start takes no parameters but an object.
    let (status, answer) = app
        .call(reqwest::Method::POST, START, None, Some(json!([1])))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    // Every start is a new challenge, and the same answer for everybody.
    let (first, first_options) = start(&app).await;
    let (second, second_options) = start(&app).await;
    assert_ne!(first, second);
    assert_ne!(
        first_options["publicKey"]["challenge"],
        second_options["publicKey"]["challenge"]
    );
}

async fn the_policy_says_whether_a_passkey_alone_logs_in(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let admin = app.admin_token().await;
    let home = home_organization(&app, &admin).await;
    let path = format!("/v1/organizations/{home}/mfa-policy");
    let (status, body) = app.get(&path, &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["passkeyLogin"], false, "{body}");
    assert_eq!(body["required"], false, "{body}");

    // Each field alone changes only itself.
    let (_, body) = app.put(&path, &admin, json!({"passkeyLogin": true})).await;
    assert_eq!(
        (&body["required"], &body["passkeyLogin"]),
        (&json!(false), &json!(true))
    );
    let (_, body) = app
        .put(
            &path,
            &admin,
            json!({"required": false, "passkeyLogin": false}),
        )
        .await;
    assert_eq!(
        (&body["required"], &body["passkeyLogin"]),
        (&json!(false), &json!(false))
    );
    let changes = events(&app, &admin, "mfa_policy.updated").await;
    assert_eq!(
        changes[0]["details"]["before"]["passkeyLogin"], true,
        "{changes:?}"
    );
    assert_eq!(
        changes[0]["details"]["after"]["passkeyLogin"], false,
        "{changes:?}"
    );

    for bad in [
        json!({}),
        json!({"passkeyLogin": "yes"}),
        json!({"passkeyLogin": null}),
        json!({"passkey_login": true}),
    ] {
        let (status, body) = app.put(&path, &admin, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    // A member without `Organizations:update` may not let passkeys in.
    let token = member(&app, "plain@example.com").await;
    let (status, body) = app.put(&path, &token, json!({"passkeyLogin": true})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, body) = app.get(&path, &admin).await;
    assert_eq!(body["passkeyLogin"], false, "{body}");
    let (_, body) = app.put(&path, &admin, json!({"required": true})).await;
    assert_eq!(
        (&body["required"], &body["passkeyLogin"]),
        (&json!(true), &json!(false))
    );
}

async fn a_passkey_proves_its_user_for_removing_a_factor_or_making_new_recovery_codes(
    kind: StoreKind,
) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let token = member(&app, "proof@example.com").await;
    let mut passkey = register(&app, &token, ORIGIN).await;
    let mut second = register(&app, &token, ORIGIN).await;
    let other_token = member(&app, "someone@example.com").await;
    let mut other = register(&app, &other_token, ORIGIN).await;
    // The organization does not let a passkey alone log in: a proof is no login.
    const CODES: &str = "/v1/users/mine/mfa/recovery-codes";

    let (ceremony, options) = start(&app).await;
    let assertion = passkey.sign(ORIGIN, options);
    let proof = json!({"ceremonyID": ceremony, "credential": assertion});
    let (status, body) = app.post(CODES, &token, proof.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["recoveryCodes"].as_array().map(Vec::len), Some(10));

    // Spent; another user's passkey; another origin; half a proof: refused.
    let (status, body) = app.post(CODES, &token, proof).await;
    crate::common::assert_invalid(status, &body, "credential", "a spent ceremony");
    let (ceremony, options) = start(&app).await;
    let assertion = other.sign(ORIGIN, options);
    let (status, body) = app
        .post(
            CODES,
            &token,
            json!({"ceremonyID": ceremony, "credential": assertion}),
        )
        .await;
    crate::common::assert_invalid(status, &body, "credential", "another user's passkey");
    let (ceremony, options) = start(&app).await;
    let assertion = passkey.sign("http://localhost:9999", options);
    let (status, body) = app
        .post(
            CODES,
            &token,
            json!({"ceremonyID": ceremony, "credential": assertion}),
        )
        .await;
    crate::common::assert_invalid(status, &body, "credential", "another origin");
    let (ceremony, _) = start(&app).await;
    let (status, body) = app
        .post(CODES, &token, json!({"ceremonyID": ceremony}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Removing a passkey with the other one's proof; the refused ones are in the trail.
    let (ceremony, options) = start(&app).await;
    let assertion = second.sign(ORIGIN, options);
    let path = format!("/v1/users/mine/mfa/{}", passkey.factor_id.as_str().unwrap());
    let (status, body) = app
        .call(
            reqwest::Method::DELETE,
            &path,
            Some(&token),
            Some(json!({"ceremonyID": ceremony, "credential": assertion})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, listed) = app.get("/v1/users/mine/mfa", &token).await;
    assert_eq!(
        listed["results"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let admin = app.admin_token().await;
    let refused = events(&app, &admin, "mfa.recovery_codes_regenerated").await;
    assert_eq!(
        refused
            .iter()
            .filter(|e| e["reason"] == "passkey refused")
            .count(),
        3,
        "{refused:?}"
    );
}
