//! The few calls of the Security API the scenarios make, over one keep-alive HTTP client.

use axum::body::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde::Deserialize;
use serde_json::Value;

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

/// What a password or refresh grant answers.
#[derive(Debug, Clone, Deserialize)]
pub struct Pair {
    pub access_token: String,
    pub refresh_token: String,
    #[serde(rename = "organizationID")]
    pub organization_id: String,
}

/// What a login answered: a pair, or "too busy hashing, come back after `retry_after` s".
pub enum Granted {
    Pair(Pair),
    Shed { retry_after: u64 },
}

/// A status the caller did not expect, with the start of the body to say why.
fn unexpected(what: &str, status: reqwest::StatusCode, body: &[u8]) -> String {
    let body = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    format!("{what}: {status} {body}")
}

impl Api {
    /// `connections` keep-alive connections are kept for the concurrency the scenarios use.
    pub fn new(base: &str, connections: usize) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .tcp_nodelay(true)
            .build()
            .expect("an HTTP client without TLS builds");
        Self {
            http,
            base: base.to_string(),
        }
    }

    async fn token_grant(&self, what: &str, form: String) -> Result<Pair, String> {
        match self.token_grant_or_shed(what, form).await? {
            Granted::Pair(pair) => Ok(pair),
            Granted::Shed { retry_after } => Err(format!(
                "{what}: 503 Service Unavailable (Retry-After: {retry_after} s)"
            )),
        }
    }

    /// A grant, or the server's refusal to hash now (503 with `Retry-After`).
    async fn token_grant_or_shed(&self, what: &str, form: String) -> Result<Granted, String> {
        let response = self
            .http
            .post(format!("{}/v1/oauth/token", self.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body = response.bytes().await.map_err(|e| format!("{what}: {e}"))?;
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            if let Some(retry_after) = retry_after {
                return Ok(Granted::Shed { retry_after });
            }
        }
        if !status.is_success() {
            return Err(unexpected(what, status, &body));
        }
        serde_json::from_slice(&body)
            .map(Granted::Pair)
            .map_err(|e| format!("{what}: {e}"))
    }

    fn login_form(email: &str, password: &str) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "password")
            .append_pair("username", email)
            .append_pair("password", password)
            .finish()
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<Pair, String> {
        self.token_grant("login", Self::login_form(email, password))
            .await
    }

    /// A login that the server may refuse at once because its password hashing is full.
    pub async fn login_or_shed(&self, email: &str, password: &str) -> Result<Granted, String> {
        self.token_grant_or_shed("login", Self::login_form(email, password))
            .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<Pair, String> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", refresh_token)
            .finish();
        self.token_grant("refresh", form).await
    }

    /// A GET with a bearer token: the status and the body, whatever the status.
    pub async fn get(&self, path: &str, token: &str) -> Result<(u16, Bytes), String> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        Ok((status.as_u16(), body))
    }

    /// A GET that must succeed.
    pub async fn get_ok(&self, path: &str, token: &str) -> Result<Bytes, String> {
        let (status, body) = self.get(path, token).await?;
        if !(200..300).contains(&status) {
            let status = reqwest::StatusCode::from_u16(status).unwrap_or_default();
            return Err(unexpected(&format!("GET {path}"), status, &body));
        }
        Ok(body)
    }

    /// A POST of a form-encoded body with a bearer token that must succeed; the raw answer.
    pub async fn post_form_ok(
        &self,
        path: &str,
        token: &str,
        form: String,
    ) -> Result<Bytes, String> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        if !status.is_success() {
            return Err(unexpected(&format!("POST {path}"), status, &bytes));
        }
        Ok(bytes)
    }

    /// A POST of a JSON body with a bearer token that must succeed; the JSON answer.
    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> Result<Value, String> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .json(body)
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        if !status.is_success() {
            return Err(unexpected(&format!("POST {path}"), status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("POST {path}: {e}"))
    }
}
