//! Logging in with an OpenID Connect ID token of a linked identity, against a real issuer.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{StoreKind, TestApp, ADMIN_EMAIL};
use crate::issuer::{fixture, jwk, Issuer};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

async fn app_with(kind: StoreKind, issuer: &Issuer) -> Option<TestApp> {
    let (url, client_id) = (issuer.url.clone(), issuer.client_id.clone());
    TestApp::spawn_with(kind, move |s| {
        s.oidc.providers.push(bf_security::config::OidcProvider {
            issuer: url,
            client_id,
        });
    })
    .await
}

async fn grant(app: &TestApp, assertion: &str) -> (StatusCode, Value) {
    app.token_form(&[("grant_type", GRANT), ("assertion", assertion)])
        .await
}

fn now(app: &TestApp) -> i64 {
    use bf_security::clock::Clock;
    app.clock.now() / 1000
}

/// Links (issuer, subject) to the administrator, as a linked account would be.
async fn link_admin(app: &TestApp, issuer: &Issuer, subject: &str) {
    let mut conn = app.app.store.pool().acquire().await.unwrap();
    let admin = bf_security::store::users::find_by_email_key(&mut conn, ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    bf_security::store::identities::link(&mut conn, &issuer.url, subject, &admin.id, 0)
        .await
        .unwrap();
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

async fn a_linked_identity_logs_in_and_bad_tokens_are_refused(kind: StoreKind) {
    let issuer = Issuer::start().await;
    let Some(app) = app_with(kind, &issuer).await else {
        return;
    };
    let t = now(&app);
    let good = issuer.sign("rsa1", "rsa-1", &issuer.claims("subject-1", ADMIN_EMAIL, t));

    // Not linked yet.
    let (status, body) = grant(&app, &good).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    link_admin(&app, &issuer, "subject-1").await;
    let (status, body) = grant(&app, &good).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap();
    let (_, me) = app.get("/v1/users/mine", access).await;
    assert_eq!(me["results"][0]["email"], ADMIN_EMAIL);
    // EC keys work too.
    let ec = issuer.sign("ec1", "ec-1", &issuer.claims("subject-1", ADMIN_EMAIL, t));
    assert_eq!(grant(&app, &ec).await.0, StatusCode::OK);

    let mut cases: Vec<(&str, String)> = Vec::new();
    // Signed by a key the issuer does not publish, under a published key's ID.
    cases.push((
        "wrong signature",
        issuer.sign("rsa2", "rsa-1", &issuer.claims("subject-1", ADMIN_EMAIL, t)),
    ));
    let mut c = issuer.claims("subject-1", ADMIN_EMAIL, t);
    c["iss"] = json!("http://127.0.0.1:1/other");
    cases.push(("wrong iss", issuer.sign("rsa1", "rsa-1", &c)));
    let mut c = issuer.claims("subject-1", ADMIN_EMAIL, t);
    c["aud"] = json!("someone-else");
    cases.push(("wrong aud", issuer.sign("rsa1", "rsa-1", &c)));
    let mut c = issuer.claims("subject-1", ADMIN_EMAIL, t - 7200);
    c["exp"] = json!(t - 3600);
    cases.push(("expired", issuer.sign("rsa1", "rsa-1", &c)));
    let mut c = issuer.claims("subject-1", ADMIN_EMAIL, t);
    c.as_object_mut().unwrap().remove("exp");
    cases.push(("no exp", issuer.sign("rsa1", "rsa-1", &c)));
    let claims = issuer.claims("subject-1", ADMIN_EMAIL, t);
    cases.push((
        "alg none",
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "kid": "rsa-1"})),
            b64(&claims)
        ),
    ));
    // HMAC keyed with the provider's public key: verifies only where HMAC is wrongly allowed.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let public = fixture("rsa1.pub.pem");
    cases.push((
        "HMAC with the public key",
        jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(public.as_bytes()),
        )
        .unwrap(),
    ));
    cases.push(("garbage", "not.a.jwt".into()));
    cases.push(("empty", String::new()));
    for (name, token) in cases {
        let (status, body) = grant(&app, &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert!(
            matches!(
                body["error"].as_str(),
                Some("invalid_grant" | "invalid_request")
            ),
            "{name}: {body}"
        );
    }

    // The service's clock, not the system's, decides expiry.
    app.clock.advance_seconds(2 * 3600);
    assert_eq!(grant(&app, &good).await.0, StatusCode::BAD_REQUEST);
}

async fn a_rotated_key_is_fetched_at_most_once_a_minute(kind: StoreKind) {
    let issuer = Issuer::start().await;
    let Some(app) = app_with(kind, &issuer).await else {
        return;
    };
    link_admin(&app, &issuer, "subject-2").await;
    let t = now(&app);
    let first = issuer.sign("rsa1", "rsa-1", &issuer.claims("subject-2", ADMIN_EMAIL, t));
    assert_eq!(grant(&app, &first).await.0, StatusCode::OK);

    // The issuer rotates to a new key; a token signed with it names a key not yet seen.
    let rotated = issuer.sign("rsa2", "rsa-2", &issuer.claims("subject-2", ADMIN_EMAIL, t));
    assert_eq!(
        grant(&app, &rotated).await.0,
        StatusCode::BAD_REQUEST,
        "not yet published"
    );
    issuer.published.lock().unwrap().push(jwk("rsa2"));
    // Fetched less than a minute ago: not fetched again yet.
    assert_eq!(grant(&app, &rotated).await.0, StatusCode::BAD_REQUEST);
    app.clock.advance_seconds(61);
    let t = now(&app);
    let rotated = issuer.sign("rsa2", "rsa-2", &issuer.claims("subject-2", ADMIN_EMAIL, t));
    let (status, body) = grant(&app, &rotated).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn an_invited_user_links_his_identity_then_logs_in_with_it(kind: StoreKind) {
    let issuer = Issuer::start().await;
    let Some(app) = app_with(kind, &issuer).await else {
        return;
    };
    let admin = app.admin_token().await;
    let (status, body) = app
        .post(
            "/v1/users/invite",
            &admin,
            json!({"email": "fay@example.com", "sendEmail": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code = body["results"][0]["inviteCode"]
        .as_str()
        .unwrap()
        .to_string();
    let t = now(&app);
    let link = |code: Option<&str>, token: &str| {
        let mut body = json!({ "idToken": token });
        if let Some(c) = code {
            body["inviteCode"] = json!(c);
        }
        body
    };
    let call = |body: Value| {
        app.call(
            reqwest::Method::POST,
            "/v1/users/invite/openid",
            None,
            Some(body),
        )
    };

    // Each failed check is a 400 and leaves the invitation usable.
    let other = issuer.sign(
        "rsa1",
        "rsa-1",
        &issuer.claims("fay-sub", "someone@example.com", t),
    );
    let mut unverified = issuer.claims("fay-sub", "fay@example.com", t);
    unverified["email_verified"] = json!(false);
    let unverified = issuer.sign("rsa1", "rsa-1", &unverified);
    let forged = issuer.sign(
        "rsa2",
        "rsa-1",
        &issuer.claims("fay-sub", "fay@example.com", t),
    );
    let good = issuer.sign(
        "ec1",
        "ec-1",
        &issuer.claims("fay-sub", "FAY@example.com", t),
    );
    for (name, body) in [
        ("e-mail not matching", link(Some(&code), &other)),
        ("e-mail not verified", link(Some(&code), &unverified)),
        ("bad signature", link(Some(&code), &forged)),
        ("wrong invite code", link(Some("AAAAAAAAAA"), &good)),
        ("no id token", json!({ "inviteCode": code })),
        ("no invite code, no bearer", link(None, &good)),
    ] {
        let (status, body) = call(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert_eq!(body["errorType"], "ValidationError", "{name}");
    }

    let (status, body) = call(link(Some(&code), &good)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["email"], "fay@example.com");
    assert_eq!(body["results"][0]["enabled"], true);
    // The invitation is used up; the identity logs in.
    assert_eq!(
        call(link(Some(&code), &good)).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, body) = grant(&app, &good).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, me) = app
        .get("/v1/users/mine", body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me["results"][0]["email"], "fay@example.com");

    // A logged-in user links his own identity with his token; one identity, one user.
    let admin_id = issuer.sign("rsa1", "rsa-1", &issuer.claims("admin-sub", ADMIN_EMAIL, t));
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            "/v1/users/invite/openid",
            Some(&admin),
            Some(link(None, &admin_id)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(grant(&app, &admin_id).await.0, StatusCode::OK);
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/v1/users/invite/openid",
            Some(&admin),
            Some(link(None, &admin_id)),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_events WHERE action = 'identity.linked'")
            .fetch_all(app.app.store.pool())
            .await
            .unwrap();
    assert_eq!(actions.len(), 2);
}

async fn an_existing_user_joins_by_proving_his_email_not_by_the_code(kind: StoreKind) {
    let issuer = Issuer::start().await;
    let Some(app) = app_with(kind, &issuer).await else {
        return;
    };
    let (org_b, boss_role) = crate::common::create_organization(&app, "Other").await;
    crate::common::create_member(
        &app,
        &org_b,
        "boss@b.example",
        "boss password 1234",
        &[&boss_role],
    )
    .await;
    let boss = crate::common::token_of(&app, "boss@b.example", "boss password 1234").await;
    let (status, body) = app
        .post(
            "/v1/users/invite",
            &boss,
            json!({"email": ADMIN_EMAIL, "sendEmail": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code = body["results"][0]["inviteCode"]
        .as_str()
        .unwrap()
        .to_string();
    let t = now(&app);
    let call = |code: &str, token: String| {
        app.call(
            reqwest::Method::POST,
            "/v1/users/invite/openid",
            None,
            Some(json!({"inviteCode": code, "idToken": token})),
        )
    };
    // The inviter's own identity with the code he knows: answered as a wrong code.
    let own = issuer.sign(
        "rsa1",
        "rsa-1",
        &issuer.claims("boss-sub", "boss@b.example", t),
    );
    let (status, refused) = call(&code, own.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["errorParameters"], json!(["inviteCode"]));
    let (_, wrong) = call("AAAAAAAAAA", own).await;
    assert_eq!(refused, wrong);

    // The administrator's own identity proves his e-mail: he joins, his login unchanged.
    let his = issuer.sign("rsa1", "rsa-1", &issuer.claims("admin-sub", ADMIN_EMAIL, t));
    let (status, body) = call(&code, his).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let admin = app.admin_token().await;
    let (_, orgs) = app.get("/v1/users/mine/organizations", &admin).await;
    assert_eq!(orgs["recordsReturned"], 2, "{orgs}");
}

crate::stories_of_kind!(
    an_existing_user_joins_by_proving_his_email_not_by_the_code,
    a_linked_identity_logs_in_and_bad_tokens_are_refused,
    a_rotated_key_is_fetched_at_most_once_a_minute,
    an_invited_user_links_his_identity_then_logs_in_with_it
);
