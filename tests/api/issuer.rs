//! A real OpenID Connect issuer for the tests: serves its discovery document and JWKS over HTTP
//! on loopback, and signs ID tokens with its own RSA and EC keys (tests/fixtures/oidc).

use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oidc");

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture")
}

pub fn jwk(name: &str) -> Value {
    serde_json::from_str(&fixture(&format!("{name}.jwk.json"))).unwrap()
}

pub struct Issuer {
    pub url: String,
    pub client_id: String,
    /// The keys the JWKS publishes now; change it to rotate.
    pub published: Arc<Mutex<Vec<Value>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Issuer {
    /// Starts an issuer publishing `rsa1` and `ec1`.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let published = Arc::new(Mutex::new(vec![jwk("rsa1"), jwk("ec1")]));
        let discovery = json!({
            "issuer": url,
            "jwks_uri": format!("{url}/jwks"),
            "authorization_endpoint": format!("{url}/authorize"),
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        });
        let keys = published.clone();
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { Json(discovery) }),
            )
            .route(
                "/jwks",
                get(move || async move { Json(json!({ "keys": keys.lock().unwrap().clone() })) }),
            );
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            client_id: "bf-security-tests".into(),
            published,
            _server: server,
        }
    }

    /// Standard claims for `subject` with `email`, valid now (by the system clock) for an hour.
    pub fn claims(&self, subject: &str, email: &str, now: i64) -> Value {
        json!({
            "iss": self.url,
            "aud": self.client_id,
            "sub": subject,
            "email": email,
            "email_verified": true,
            "iat": now,
            "exp": now + 3600,
        })
    }

    /// Signs `claims` with the fixture key `key` (`rsa1`, `rsa2`, `ec1`) under `kid`.
    pub fn sign(&self, key: &str, kid: &str, claims: &Value) -> String {
        let pem = fixture(&format!("{key}.pem"));
        let (alg, encoding) = if key.starts_with("ec") {
            (
                Algorithm::ES256,
                EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
            )
        } else {
            (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            )
        };
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &encoding).unwrap()
    }
}
