//! OpenID Connect ID tokens from the configured providers: discovery, a cached JWKS fetched
//! again (at most once a minute) when a token names a key it does not hold, and the checks of
//! OpenID Connect Core §3.1.3.7 — signature, `iss`, `aud`, `exp`, `iat`.
//!
//! Only asymmetric algorithms are accepted: `none` cannot be parsed, and HMAC is refused, since
//! an HMAC "signed" with a provider's public key would otherwise verify.

use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::clock::{Millis, SharedClock};
use crate::config::OidcProvider;
use crate::domain::url::acceptable_url;

/// How long after a fetch a token naming an unknown key may cause another.
const REFETCH_AFTER: Millis = 60_000;
/// Clock skew tolerated on `exp` and `iat`, in seconds.
const LEEWAY_SECONDS: i64 = 60;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OidcError {
    #[error("the ID token is not a signed JWT")]
    Malformed,
    #[error("the ID token's algorithm is not accepted")]
    Algorithm,
    #[error("the ID token's issuer is not a configured provider")]
    UnknownIssuer,
    #[error("the provider could not be reached")]
    Unreachable,
    #[error("the ID token is signed with a key the provider does not publish")]
    UnknownKey,
    #[error("the ID token's signature or claims are invalid")]
    Invalid,
    #[error("the ID token has expired")]
    Expired,
}

/// A verified identity: who the provider says the bearer is.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
}

pub struct OpenIdProviders {
    providers: Vec<Provider>,
    http: reqwest::Client,
    clock: SharedClock,
}

struct Provider {
    issuer: String,
    client_id: String,
    keys: Mutex<KeyCache>,
}

#[derive(Default)]
struct KeyCache {
    jwks_uri: Option<String>,
    keys: Vec<Jwk>,
    fetched: Option<Millis>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: Option<i64>,
    iat: Option<i64>,
    email: Option<String>,
    /// Some providers send `"true"` as a string.
    email_verified: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct UnverifiedIssuer {
    iss: Option<String>,
}

impl OpenIdProviders {
    pub fn new(configured: &[OidcProvider], clock: SharedClock) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            providers: configured
                .iter()
                .map(|p| Provider {
                    issuer: p.issuer.trim_end_matches('/').to_string(),
                    client_id: p.client_id.clone(),
                    keys: Mutex::new(KeyCache::default()),
                })
                .collect(),
            http,
            clock,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    pub async fn verify(&self, token: &str) -> Result<Identity, OidcError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| OidcError::Malformed)?;
        let alg = header.alg;
        use Algorithm::*;
        if !matches!(
            alg,
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 | ES256 | ES384
        ) {
            return Err(OidcError::Algorithm);
        }
        let issuer = unverified_issuer(token)?;
        let provider = self
            .providers
            .iter()
            .find(|p| p.issuer == issuer.trim_end_matches('/'))
            .ok_or(OidcError::UnknownIssuer)?;
        let jwk = provider
            .key(&self.http, header.kid.as_deref(), alg, self.clock.now())
            .await?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| OidcError::UnknownKey)?;
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&provider.issuer, &format!("{}/", provider.issuer)]);
        validation.set_audience(&[&provider.client_id]);
        validation.set_required_spec_claims(&["iss", "aud", "sub"]);
        // Expiry is checked below against the service's clock, not the system's.
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|_| OidcError::Invalid)?
            .claims;
        let now = self.clock.now() / 1000;
        let (Some(exp), Some(iat)) = (claims.exp, claims.iat) else {
            return Err(OidcError::Invalid);
        };
        if now > exp + LEEWAY_SECONDS {
            return Err(OidcError::Expired);
        }
        if iat > now + LEEWAY_SECONDS {
            return Err(OidcError::Invalid);
        }
        let email_verified = match claims.email_verified {
            Some(serde_json::Value::Bool(b)) => b,
            Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        Ok(Identity {
            issuer: provider.issuer.clone(),
            subject: claims.sub,
            email: claims.email,
            email_verified,
        })
    }
}

/// The `iss` claim before verification, only to choose whose keys verify the token.
fn unverified_issuer(token: &str) -> Result<String, OidcError> {
    use base64::Engine;
    let payload = token.split('.').nth(1).ok_or(OidcError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| OidcError::Malformed)?;
    let claims: UnverifiedIssuer =
        serde_json::from_slice(&bytes).map_err(|_| OidcError::Malformed)?;
    claims.iss.ok_or(OidcError::Invalid)
}

impl Provider {
    /// The key that signed a token: from the cache, else from a fresh JWKS if the last fetch is
    /// more than a minute old.
    async fn key(
        &self,
        http: &reqwest::Client,
        kid: Option<&str>,
        alg: Algorithm,
        now: Millis,
    ) -> Result<Jwk, OidcError> {
        let mut cache = self.keys.lock().await;
        if let Some(k) = find_key(&cache.keys, kid, alg) {
            return Ok(k);
        }
        if cache.fetched.is_some_and(|f| now - f < REFETCH_AFTER) {
            return Err(OidcError::UnknownKey);
        }
        cache.fetched = Some(now);
        let jwks_uri = match &cache.jwks_uri {
            Some(u) => u.clone(),
            None => {
                let url = format!("{}/.well-known/openid-configuration", self.issuer);
                let discovery: Discovery = fetch(http, &url).await?;
                if discovery.issuer.trim_end_matches('/') != self.issuer {
                    tracing::warn!(issuer = %self.issuer, "discovery document names another issuer");
                    return Err(OidcError::Unreachable);
                }
                acceptable_url(&discovery.jwks_uri).map_err(|e| {
                    tracing::warn!(issuer = %self.issuer, error = %e, "unacceptable jwks_uri");
                    OidcError::Unreachable
                })?;
                cache.jwks_uri = Some(discovery.jwks_uri.clone());
                discovery.jwks_uri
            }
        };
        let set: JwkSet = fetch(http, &jwks_uri).await?;
        cache.keys = set.keys;
        find_key(&cache.keys, kid, alg).ok_or(OidcError::UnknownKey)
    }
}

fn find_key(keys: &[Jwk], kid: Option<&str>, alg: Algorithm) -> Option<Jwk> {
    let fits = |k: &&Jwk| {
        let alg_ok = match k.common.key_algorithm {
            Some(a) => format!("{a:?}") == format!("{alg:?}"),
            None => true,
        };
        alg_ok && kid.is_none_or(|kid| k.common.key_id.as_deref() == Some(kid))
    };
    let mut candidates = keys.iter().filter(fits);
    let first = candidates.next()?.clone();
    // Without a `kid`, only an unambiguous key will do.
    if kid.is_none() && candidates.next().is_some() {
        return None;
    }
    Some(first)
}

async fn fetch<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, OidcError> {
    let res = http.get(url).send().await.map_err(|e| {
        tracing::warn!(%url, error = %e, "OpenID provider unreachable");
        OidcError::Unreachable
    })?;
    if !res.status().is_success() {
        tracing::warn!(%url, status = %res.status(), "OpenID provider answered an error");
        return Err(OidcError::Unreachable);
    }
    res.json().await.map_err(|e| {
        tracing::warn!(%url, error = %e, "OpenID provider answered something unreadable");
        OidcError::Unreachable
    })
}
