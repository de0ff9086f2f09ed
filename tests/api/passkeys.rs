//! Passkeys (WebAuthn) as second factors: the registration ceremony of a logged-in user, and the
//! second step of a login answered with an assertion. The authenticator is a software passkey
//! (`webauthn-authenticator-rs`), which answers the options the service gives as a browser and
//! a platform authenticator would, for the origin it is told it runs in.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::common::{
    assert_invalid, create_member, home_organization, token_of, StoreKind, TestApp,
};
use crate::stories_of_kind;

stories_of_kind!(
    a_passkey_registers_as_a_confirmed_factor_with_recovery_codes,
    a_registration_for_another_origin_or_relying_party_is_refused,
    a_registration_ceremony_serves_once_and_only_the_user_who_started_it,
    a_passkey_is_stored_sealed,
    a_login_with_a_passkey_is_finished_by_its_assertion,
    an_assertion_for_another_origin_or_relying_party_is_refused_and_counted,
    an_assertion_serves_only_the_mfa_token_it_was_made_for,
);

const MFA_GRANT: &str = "urn:billforward:params:oauth:grant-type:mfa";

const PASSWORD: &str = "member password 1234";
/// The origin of the default settings.
const ORIGIN: &str = "http://localhost:8080";

/// A software passkey that verifies its user (as a platform authenticator with a PIN or a
/// fingerprint would).
fn authenticator() -> WebauthnAuthenticator<SoftPasskey> {
    WebauthnAuthenticator::new(SoftPasskey::new(true))
}

/// A member of the administrator's home organization with no role; answers his token.
async fn member(app: &TestApp, email: &str) -> String {
    let admin = app.admin_token().await;
    let home = home_organization(app, &admin).await;
    create_member(app, &home, email, PASSWORD, &[]).await;
    token_of(app, email, PASSWORD).await
}

/// Starts a registration; answers (ceremony ID, creation options).
async fn start(app: &TestApp, token: &str) -> (String, Value) {
    let (status, body) = app
        .post(
            "/v1/users/mine/mfa/webauthn/register/start",
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["ceremonyID"].as_str().unwrap().to_string(),
        body["options"].clone(),
    )
}

/// The authenticator's answer to creation options, in a page of `origin`.
fn create(passkey: &mut WebauthnAuthenticator<SoftPasskey>, origin: &str, options: Value) -> Value {
    let options: CreationChallengeResponse = serde_json::from_value(options).unwrap();
    let credential = passkey
        .do_registration(Url::parse(origin).unwrap(), options)
        .expect("the authenticator makes a credential");
    serde_json::to_value(credential).unwrap()
}

async fn finish(
    app: &TestApp,
    token: &str,
    ceremony: &str,
    credential: &Value,
) -> (StatusCode, Value) {
    app.post(
        "/v1/users/mine/mfa/webauthn/register/finish",
        token,
        json!({ "ceremonyID": ceremony, "credential": credential, "name": "Laptop" }),
    )
    .await
}

/// Registers a passkey of the token's user; answers the finish's answer.
async fn register(
    app: &TestApp,
    token: &str,
    passkey: &mut WebauthnAuthenticator<SoftPasskey>,
) -> Value {
    let (ceremony, options) = start(app, token).await;
    let credential = create(passkey, ORIGIN, options);
    let (status, body) = finish(app, token, &ceremony, &credential).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn a_passkey_registers_as_a_confirmed_factor_with_recovery_codes(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let token = member(&app, "passkey@example.com").await;
    let (_, options) = start(&app, &token).await;
    assert_eq!(options["publicKey"]["rp"]["id"], "localhost", "{options}");
    assert_eq!(options["publicKey"]["user"]["name"], "passkey@example.com");
    let mut passkey = authenticator();
    let body = register(&app, &token, &mut passkey).await;
    assert_eq!(body["factor"]["kind"], "webauthn", "{body}");
    assert_eq!(body["factor"]["name"], "Laptop");
    assert_eq!(body["factor"]["confirmed"], true);
    assert_eq!(body["recoveryCodes"].as_array().map(Vec::len), Some(10));
    let id = body["factor"]["id"].as_str().unwrap().to_string();

    let (_, listed) = app.get("/v1/users/mine/mfa", &token).await;
    assert_eq!(listed["results"][0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed["results"][0]["kind"], "webauthn");

    // A second passkey comes without recovery codes; the one the authenticator holds
    // already is excluded from the options.
    let (_, options) = start(&app, &token).await;
    assert_eq!(
        options["publicKey"]["excludeCredentials"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{options}"
    );
    let second = register(&app, &token, &mut authenticator()).await;
    assert!(second.get("recoveryCodes").is_none(), "{second}");

    // Removed as any factor: with a proof.
    let path = format!("/v1/users/mine/mfa/{id}");
    let (status, answer) = app
        .call(Method::DELETE, &path, Some(&token), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) = app
        .call(
            Method::DELETE,
            &path,
            Some(&token),
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, listed) = app.get("/v1/users/mine/mfa", &token).await;
    assert_eq!(
        listed["results"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
}

async fn a_registration_for_another_origin_or_relying_party_is_refused(kind: StoreKind) {
    // Another origin: a page elsewhere (here another port of the host) relaying the options.
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let token = member(&app, "origin@example.com").await;
    let (ceremony, options) = start(&app, &token).await;
    let credential = create(&mut authenticator(), "http://localhost:9999", options);
    let (status, body) = finish(&app, &token, &ceremony, &credential).await;
    assert_invalid(status, &body, "credential", "another origin");
    drop(app);

    // Another relying party ID: the page is the service's, but the credential is made for its
    // parent domain, which the service's passkeys are not bound to.
    let Some(app) = TestApp::spawn_with(kind, |s| {
        s.webauthn.rp_id = "login.example.com".into();
        s.webauthn.origin = "https://login.example.com".into();
    })
    .await
    else {
        return;
    };
    let token = member(&app, "rp@example.com").await;
    let (ceremony, mut options) = start(&app, &token).await;
    assert_eq!(options["publicKey"]["rp"]["id"], "login.example.com");
    options["publicKey"]["rp"]["id"] = json!("example.com");
    let credential = create(&mut authenticator(), "https://login.example.com", options);
    let (status, body) = finish(&app, &token, &ceremony, &credential).await;
    assert_invalid(status, &body, "credential", "another relying party ID");
    let (_, listed) = app.get("/v1/users/mine/mfa", &token).await;
    assert_eq!(listed["results"], json!([]), "{listed}");
}

async fn a_registration_ceremony_serves_once_and_only_the_user_who_started_it(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let token = member(&app, "once@example.com").await;
    let other = member(&app, "other@example.com").await;
    let (ceremony, options) = start(&app, &token).await;
    let credential = create(&mut authenticator(), ORIGIN, options);

    // Another user's ceremony is not his to finish, and stays its user's.
    let (status, body) = finish(&app, &other, &ceremony, &credential).await;
    assert_invalid(status, &body, "ceremonyID", "another user's ceremony");
    let (_, listed) = app.get("/v1/users/mine/mfa", &other).await;
    assert_eq!(listed["results"], json!([]), "{listed}");

    let (status, body) = finish(&app, &token, &ceremony, &credential).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Replayed: refused.
    let (status, body) = finish(&app, &token, &ceremony, &credential).await;
    assert_invalid(status, &body, "ceremonyID", "the ceremony finished twice");

    // A refused answer spends the ceremony too; an expired one is refused.
    let (ceremony, _) = start(&app, &token).await;
    let (status, body) = finish(&app, &token, &ceremony, &json!({"id": "x"})).await;
    assert_invalid(status, &body, "credential", "not a credential");
    let (ceremony, options) = start(&app, &token).await;
    let credential = create(&mut authenticator(), ORIGIN, options);
    app.clock.advance_seconds(7 * 60);
    let (status, body) = finish(&app, &token, &ceremony, &credential).await;
    assert_invalid(status, &body, "ceremonyID", "an expired ceremony");
    for body in [json!({}), json!({"ceremonyID": ceremony})] {
        let (status, answer) = app
            .post(
                "/v1/users/mine/mfa/webauthn/register/finish",
                &token,
                body.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    }
    let (_, listed) = app.get("/v1/users/mine/mfa", &token).await;
    assert_eq!(
        listed["results"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
}

/// Every text the store holds of the tables second factors use.
async fn stored_text(app: &TestApp, kind: StoreKind) -> String {
    let mut conn = app.app.store.pool().acquire().await.unwrap();
    let tables: &[(&str, &str)] = &[
        ("second_factors", "id || kind || name || credential"),
        ("webauthn_registrations", "id || state"),
        ("mfa_challenges", "id || digest || COALESCE(webauthn, '')"),
        ("audit_events", "action || COALESCE(details, '')"),
    ];
    let mut stored = String::new();
    for (table, columns) in tables {
        let query = match kind {
            StoreKind::Postgres => format!("SELECT t::text FROM {table} t"),
            StoreKind::Sqlite => format!("SELECT {columns} FROM {table}"),
        };
        let rows: Vec<String> = sqlx::query_scalar(&query)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        stored.push_str(&rows.join("\n"));
    }
    stored
}

async fn a_passkey_is_stored_sealed(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let token = member(&app, "sealed@example.com").await;
    let (ceremony, options) = start(&app, &token).await;
    let challenge = options["publicKey"]["challenge"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!stored_text(&app, kind).await.contains(&challenge));
    let credential = create(&mut authenticator(), ORIGIN, options);
    let (status, body) = finish(&app, &token, &ceremony, &credential).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let raw_id = credential["rawId"].as_str().unwrap().to_string();
    let stored = stored_text(&app, kind).await;
    assert!(
        stored.contains("webauthn"),
        "the tables were read: {stored}"
    );
    assert!(
        !stored.contains(&raw_id),
        "the credential ID is stored in clear"
    );
    assert!(
        !stored.contains("cred_id") && !stored.contains("\"cred\""),
        "{stored}"
    );
}

/// The first step of a login of a user with a passkey: answers the mfa_token and the request
/// options.
async fn first_step(app: &TestApp, email: &str) -> (String, Value) {
    let (status, body) = app
        .token_form(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "mfa_required", "{body}");
    assert!(
        body["factors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "webauthn"),
        "{body}"
    );
    (
        body["mfa_token"].as_str().unwrap().to_string(),
        body["webauthn"].clone(),
    )
}

/// The authenticator's assertion for request options, in a page of `origin`, as JSON text.
fn assert_with(
    passkey: &mut WebauthnAuthenticator<SoftPasskey>,
    origin: &str,
    options: Value,
) -> String {
    let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
    let assertion = passkey
        .do_authentication(Url::parse(origin).unwrap(), options)
        .expect("the authenticator signs");
    serde_json::to_string(&assertion).unwrap()
}

async fn second_step(app: &TestApp, mfa_token: &str, assertion: &str) -> (StatusCode, Value) {
    app.token_form(&[
        ("grant_type", MFA_GRANT),
        ("mfa_token", mfa_token),
        ("webauthn", assertion),
    ])
    .await
}

fn invalid_grant(status: StatusCode, body: &Value, case: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {body}");
    assert_eq!(body["error"], "invalid_grant", "{case}: {body}");
}

async fn a_login_with_a_passkey_is_finished_by_its_assertion(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let token = member(&app, "login@example.com").await;
    let mut passkey = authenticator();
    register(&app, &token, &mut passkey).await;

    for round in 0..2 {
        let (mfa_token, options) = first_step(&app, "login@example.com").await;
        assert_eq!(options["publicKey"]["rpId"], "localhost", "{options}");
        assert_eq!(
            options["publicKey"]["allowCredentials"]
                .as_array()
                .map(Vec::len),
            Some(1),
            "{options}"
        );
        let assertion = assert_with(&mut passkey, ORIGIN, options);
        let (status, body) = second_step(&app, &mfa_token, &assertion).await;
        assert_eq!(status, StatusCode::OK, "round {round}: {body}");
        assert!(body["access_token"].as_str().is_some(), "{body}");
        // The same assertion again, or with the spent mfa_token: refused.
        let (status, body) = second_step(&app, &mfa_token, &assertion).await;
        invalid_grant(status, &body, "a spent mfa_token");
    }
    let (_, listed) = app.get("/v1/users/mine/mfa", &token).await;
    assert!(listed["results"][0]["lastUsed"].is_string(), "{listed}");

    // Not an assertion at all, or two kinds of code at once: refused, never a 500.
    let (mfa_token, _) = first_step(&app, "login@example.com").await;
    for bad in [
        "",
        "{}",
        "not json",
        "{\"id\": \"x\", \"type\": \"public-key\"}",
    ] {
        let (status, body) = second_step(&app, &mfa_token, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (status, body) = app
        .token_form(&[
            ("grant_type", MFA_GRANT),
            ("mfa_token", &mfa_token),
            ("webauthn", "{}"),
            ("otp", "123456"),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_request", "{body}");
}

async fn an_assertion_for_another_origin_or_relying_party_is_refused_and_counted(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let token = member(&app, "origin@example.com").await;
    let mut passkey = authenticator();
    register(&app, &token, &mut passkey).await;
    let (mfa_token, options) = first_step(&app, "origin@example.com").await;
    let assertion = assert_with(&mut passkey, "http://localhost:9999", options.clone());
    let (status, body) = second_step(&app, &mfa_token, &assertion).await;
    invalid_grant(status, &body, "another origin");
    // The mfa_token survives a few wrong answers.
    let assertion = assert_with(&mut passkey, ORIGIN, options);
    let (status, body) = second_step(&app, &mfa_token, &assertion).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    drop(app);

    // Another relying party ID; one wrong answer spends the mfa_token here.
    let Some(app) = TestApp::spawn_with(kind, |s| {
        s.webauthn.rp_id = "login.example.com".into();
        s.webauthn.origin = "https://login.example.com".into();
        s.mfa.attempts_per_token = 1;
    })
    .await
    else {
        return;
    };
    let origin = "https://login.example.com";
    let token = member(&app, "rp@example.com").await;
    let mut passkey = authenticator();
    let (ceremony, options) = start(&app, &token).await;
    let credential = create(&mut passkey, origin, options);
    let (status, body) = finish(&app, &token, &ceremony, &credential).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (mfa_token, mut options) = first_step(&app, "rp@example.com").await;
    let right = options.clone();
    options["publicKey"]["rpId"] = json!("example.com");
    let assertion = assert_with(&mut passkey, origin, options);
    let (status, body) = second_step(&app, &mfa_token, &assertion).await;
    invalid_grant(status, &body, "another relying party ID");
    let assertion = assert_with(&mut passkey, origin, right);
    let (status, body) = second_step(&app, &mfa_token, &assertion).await;
    invalid_grant(status, &body, "an mfa_token spent by a wrong answer");
}

async fn an_assertion_serves_only_the_mfa_token_it_was_made_for(kind: StoreKind) {
    let Some(app) = TestApp::spawn(kind).await else {
        return;
    };
    let token = member(&app, "bound@example.com").await;
    let mut passkey = authenticator();
    register(&app, &token, &mut passkey).await;
    let (first_token, first_options) = first_step(&app, "bound@example.com").await;
    let (second_token, second_options) = first_step(&app, "bound@example.com").await;
    assert_ne!(
        first_options["publicKey"]["challenge"],
        second_options["publicKey"]["challenge"]
    );
    let for_first = assert_with(&mut passkey, ORIGIN, first_options);
    let (status, body) = second_step(&app, &second_token, &for_first).await;
    invalid_grant(status, &body, "an assertion for another mfa_token");
    let (status, body) = second_step(&app, &first_token, &for_first).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Another user's passkey does not answer for this one.
    let other = member(&app, "stranger@example.com").await;
    let mut stranger = authenticator();
    register(&app, &other, &mut stranger).await;
    let (mfa_token, _) = first_step(&app, "bound@example.com").await;
    let (_, theirs) = first_step(&app, "stranger@example.com").await;
    let assertion = assert_with(&mut stranger, ORIGIN, theirs);
    let (status, body) = second_step(&app, &mfa_token, &assertion).await;
    invalid_grant(status, &body, "another user's passkey");
}
