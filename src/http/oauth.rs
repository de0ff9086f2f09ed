//! `POST /v1/oauth/token` (RFC 6749) and `POST /v1/oauth/revoke` (RFC 7009).
//!
//! Both read their parameters as RFC 6749 §3.2 says, from the body only (form-encoded, or a
//! JSON object of strings), each at most once, an empty one as absent, unknown ones ignored.
//! Every answer carries `Cache-Control: no-store` and `Pragma: no-cache`; every refusal of the
//! request itself is an RFC 6749 §5.2 error body.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::extract::{read_body, text_kind};
use super::views::{scope_of, OAuthToken};
use crate::domain::{text, SecretString};
use crate::error::{ApiError, ErrorBody};
use crate::service::login::{self, GrantError};
use crate::service::token_pairs::IssuedPair;
use crate::service::AppState;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The second step of a login whose user has a second factor (docs/DECISIONS.md says why this
/// name).
pub const MFA_GRANT: &str = "urn:billforward:params:oauth:grant-type:mfa";

/// The token endpoint's parameters, form-encoded (or a JSON object of strings). The examples
/// are a password login as a form sends it: the fields the login leaves out are empty, so
/// that a form filled from them (Swagger UI's) sends nothing in their place.
#[derive(Debug, Default, ToSchema)]
#[allow(dead_code)]
pub struct TokenRequest {
    /// `password`, `refresh_token` or `urn:ietf:params:oauth:grant-type:jwt-bearer`.
    #[schema(value_type = Option<GrantType>)]
    grant_type: Option<String>,
    /// The user's e-mail (`password` grant).
    #[schema(example = "admin@localhost")]
    username: Option<String>,
    /// The user's password (`password` grant).
    #[schema(value_type = Option<String>, format = Password, example = "correct horse battery staple")]
    password: Option<String>,
    /// The organization the tokens act in by default (`password` and `jwt-bearer` grants), of
    /// which the user must be a member; leave it out for his home organization.
    #[schema(rename = "organizationID", example = "")]
    organization_id: Option<String>,
    /// The refresh token to spend (`refresh_token` grant).
    #[schema(example = "")]
    refresh_token: Option<String>,
    /// An OpenID Connect ID token of a linked identity (`jwt-bearer` grant).
    #[schema(example = "")]
    assertion: Option<String>,
    /// Ignored: a token grants what its user's roles allow.
    #[schema(example = "")]
    scope: Option<String>,
    /// Ignored: no client is registered (RFC 6749 §2.3.1 credentials in the HTTP Basic
    /// `Authorization` header are ignored too).
    #[schema(example = "")]
    client_id: Option<String>,
    /// Ignored, as `client_id`.
    #[schema(value_type = Option<String>, format = Password, example = "")]
    client_secret: Option<String>,
    /// What the first step answered with `mfa_required` (`urn:billforward:params:oauth:grant-type:mfa`
    /// grant).
    #[schema(value_type = Option<String>, format = Password, example = "")]
    mfa_token: Option<String>,
    /// A current code of the user's TOTP factor (`mfa` grant).
    #[schema(value_type = Option<String>, format = Password, example = "")]
    otp: Option<String>,
    /// One of the user's recovery codes, instead of `otp` (`mfa` grant).
    #[schema(value_type = Option<String>, format = Password, example = "")]
    recovery_code: Option<String>,
    /// A passkey's assertion, instead of `otp`: the `PublicKeyCredential` that
    /// `navigator.credentials.get()` answered to the `webauthn` options of `mfa_required`, as
    /// JSON (`toJSON()`; byte strings in base64url) (`mfa` grant).
    #[schema(value_type = Option<String>, example = "")]
    webauthn: Option<String>,
}

#[derive(ToSchema)]
#[schema(example = "password")]
#[allow(dead_code)]
enum GrantType {
    #[schema(rename = "password")]
    Password,
    #[schema(rename = "refresh_token")]
    RefreshToken,
    #[schema(rename = "urn:ietf:params:oauth:grant-type:jwt-bearer")]
    JwtBearer,
    #[schema(rename = "urn:billforward:params:oauth:grant-type:mfa")]
    Mfa,
}

/// The revocation endpoint's parameters, form-encoded (or a JSON object of strings).
#[derive(Debug, Default, ToSchema)]
#[allow(dead_code)]
pub struct RevokeRequest {
    /// An access, refresh or permanent token.
    #[schema(example = "bfsr_Pt3cpvQ9ONwt2Smh5arflgCpzKve9XruwfcmN9XOEUA")]
    token: Option<String>,
    /// Ignored: every kind of token is looked for.
    #[schema(example = "refresh_token")]
    token_type_hint: Option<String>,
    /// Ignored: no client is registered.
    #[schema(example = "")]
    client_id: Option<String>,
    /// Ignored, as `client_id`.
    #[schema(value_type = Option<String>, format = Password, example = "")]
    client_secret: Option<String>,
}

const TOKEN_PARAMETERS: &[&str] = &[
    "grant_type",
    "username",
    "password",
    "organizationID",
    "refresh_token",
    "assertion",
    "scope",
    "client_id",
    "client_secret",
    "mfa_token",
    "otp",
    "recovery_code",
    "webauthn",
];
const REVOKE_PARAMETERS: &[&str] = &["token", "token_type_hint", "client_id", "client_secret"];

/// RFC 6749 §5.2's error codes, as far as these endpoints use them.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidGrant,
    UnsupportedGrantType,
    /// The credential was right; a second factor is needed (the `mfa` grant).
    MfaRequired,
}

/// RFC 6749 §5.2.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    pub error: OAuthErrorCode,
    pub error_description: String,
}

/// A right credential of a user with a second factor: the login goes on with the `mfa` grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequiredBody {
    /// `mfa_required`.
    pub error: OAuthErrorCode,
    pub error_description: String,
    /// Short-lived and single-use: send it back with the `mfa` grant, from the same client.
    /// Never a bearer token.
    pub mfa_token: String,
    /// The user's confirmed second factors.
    pub factors: Vec<MfaFactor>,
    /// When the user has a passkey: the `CredentialRequestOptions` of the authentication
    /// started with this `mfa_token`, for `navigator.credentials.get()` (WebAuthn Level 3; byte
    /// strings in base64url). Its assertion goes back as `webauthn` with the `mfa` grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub webauthn: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MfaFactor {
    pub id: String,
    /// `totp` or `webauthn` (a passkey).
    pub kind: String,
}

/// Why an OAuth request was not answered with success: an RFC 6749 error about the request, or
/// the service's own error body where no OAuth error fits (429, 503, 500).
pub enum Refusal {
    OAuth {
        status: StatusCode,
        error: OAuthErrorCode,
        description: String,
    },
    Service(ApiError),
    MfaRequired(MfaRequiredBody),
}

impl Refusal {
    pub(super) fn invalid_request(description: impl Into<String>) -> Self {
        Refusal::OAuth {
            status: StatusCode::BAD_REQUEST,
            error: OAuthErrorCode::InvalidRequest,
            description: description.into(),
        }
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Validation { message, .. } => Refusal::invalid_request(message),
            ApiError::PayloadTooLarge => Refusal::OAuth {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                error: OAuthErrorCode::InvalidRequest,
                description: ApiError::PayloadTooLarge.to_string(),
            },
            e => Refusal::Service(e),
        }
    }
}

impl From<GrantError> for Refusal {
    fn from(e: GrantError) -> Self {
        let (error, description) = match e {
            GrantError::InvalidRequest(d) => (OAuthErrorCode::InvalidRequest, d),
            GrantError::InvalidGrant(d) => (OAuthErrorCode::InvalidGrant, d.to_string()),
            GrantError::UnsupportedGrantType => (
                OAuthErrorCode::UnsupportedGrantType,
                format!("grant_type must be password, refresh_token, {JWT_BEARER} or {MFA_GRANT}"),
            ),
            GrantError::MfaRequired(required) => {
                return Refusal::MfaRequired(MfaRequiredBody {
                    error: OAuthErrorCode::MfaRequired,
                    error_description: format!(
                        "a second factor is required: send mfa_token with otp, \
                         recovery_code or webauthn as grant_type {MFA_GRANT}"
                    ),
                    mfa_token: required.token.expose().to_string(),
                    factors: required
                        .factors
                        .into_iter()
                        .map(|(id, kind)| MfaFactor { id, kind })
                        .collect(),
                    webauthn: required.webauthn,
                })
            }
            GrantError::Api(e) => return e.into(),
        };
        Refusal::OAuth {
            status: StatusCode::BAD_REQUEST,
            error,
            description,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = match self {
            Refusal::OAuth {
                status,
                error,
                description,
            } => (
                status,
                Json(OAuthError {
                    error,
                    error_description: description,
                }),
            )
                .into_response(),
            Refusal::Service(e) => e.into_response(),
            Refusal::MfaRequired(body) => (StatusCode::BAD_REQUEST, Json(body)).into_response(),
        };
        no_store(response.headers_mut());
        response
    }
}

/// RFC 6749 §5.1's answer: a token pair, never stored by a cache.
pub fn token_answer(pair: IssuedPair) -> Response {
    NoStore(Json(OAuthToken {
        access_token: pair.access.expose().to_string(),
        token_type: "bearer".into(),
        expires_in: Some(pair.access_expires_in),
        refresh_token: Some(pair.refresh.expose().to_string()),
        scope: scope_of(pair.bound, pair.enrol_only).into(),
        organization_id: pair.organization_id,
    }))
    .into_response()
}

/// RFC 6749 §5.1: an answer that carries a secret is never stored by a cache.
pub fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// An answer that carries a secret or a code: `Cache-Control: no-store`, `Pragma: no-cache`.
pub struct NoStore<T>(pub T);

impl<T: IntoResponse> IntoResponse for NoStore<T> {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        no_store(response.headers_mut());
        response
    }
}

/// The parameters an endpoint reads, each present at most once and never empty.
pub(super) struct Params(Vec<(&'static str, SecretString)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.secret(name).map(SecretString::expose)
    }

    pub(super) fn secret(&self, name: &str) -> Option<&SecretString> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// A parameter's name as the endpoint reads it; `None` for one it does not know.
fn known(known: &'static [&'static str], name: &str) -> Option<&'static str> {
    let name = if name == "organization_id" {
        "organizationID"
    } else {
        name
    };
    known.iter().copied().find(|k| *k == name)
}

/// The members of a JSON object in order, repeats kept (a map would keep only the last).
struct Members(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Each;
        impl<'de> Visitor<'de> for Each {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Each)
    }
}

/// Reads the parameters in `names` from the body, form-encoded or a JSON object when it starts
/// with `{`. Any of them in the URL is refused, even with a body: a URL ends up in logs and
/// browser histories (RFC 6749 §2.3.1, RFC 6750 §5.3).
pub(super) async fn read_params(
    req: Request,
    app: &AppState,
    names: &'static [&'static str],
) -> Result<Params, Refusal> {
    let query = req.uri().query().unwrap_or("");
    if let Some((name, _)) =
        form_urlencoded::parse(query.as_bytes()).find(|(n, _)| known(names, n).is_some())
    {
        return Err(Refusal::invalid_request(format!(
            "{name} belongs in the request body, never in the URL"
        )));
    }
    let bytes = read_body(req, app).await?;
    let pairs: Vec<(String, Value)> =
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            let mut de = serde_json::Deserializer::from_slice(&bytes);
            Members::deserialize(&mut de)
                .and_then(|m| de.end().map(|()| m.0))
                .map_err(|e| Refusal::invalid_request(format!("malformed JSON: {e}")))?
        } else {
            form_urlencoded::parse(&bytes)
                .map(|(n, v)| (n.into_owned(), Value::String(v.into_owned())))
                .collect()
        };
    let mut params: Vec<(&'static str, SecretString)> = Vec::new();
    let mut seen: Vec<&'static str> = Vec::new();
    for (name, value) in pairs {
        let Some(name) = known(names, &name) else {
            continue;
        };
        if seen.contains(&name) {
            return Err(Refusal::invalid_request(format!(
                "{name} is repeated; each parameter may be sent once"
            )));
        }
        seen.push(name);
        let value = match value {
            Value::String(s) => s,
            Value::Null => continue,
            _ => return Err(Refusal::invalid_request(format!("{name} must be a string"))),
        };
        if let Some(why) = text::fault(text_kind(name), &value) {
            return Err(Refusal::invalid_request(format!("{name} {why}")));
        }
        // RFC 6749 §3.1: a parameter sent without a value is omitted.
        if !value.is_empty() {
            params.push((name, SecretString::new(value)));
        }
    }
    Ok(Params(params))
}

#[utoipa::path(
    post, path = "/v1/oauth/token", tag = "OAuth", operation_id = "getToken",
    summary = "Log in or refresh: get a token pair (RFC 6749)",
    description = "Issues an access token and a refresh token. `grant_type` says how:\n\
        - `password`: `username` (an e-mail) and `password`. `organizationID` names the \
        organization the tokens act in by default; left out, the user's home organization.\n\
        - `refresh_token`: `refresh_token`, which is spent: the answer carries the next one. A \
        spent one presented again ends the whole login, unless it comes back within a few \
        seconds (a retry), which is answered the same pair.\n\
        - `urn:ietf:params:oauth:grant-type:jwt-bearer`: `assertion`, an OpenID Connect ID \
        token of an identity linked to a user (`linkOpenIdTokenToUser`), and optionally \
        `organizationID`.\n\n\
        Parameters are read from the body only, form-encoded or a JSON object of strings, each \
        at most once; an empty one counts as absent, unknown ones are ignored. No client is \
        registered: `client_id` and `client_secret`, in the body or as HTTP Basic credentials, \
        are ignored, and so is `scope`. Every answer carries `Cache-Control: no-store`.\n\n\
        **Needs** nothing: no token.\n\n\
        **Errors** (RFC 6749 §5.2 bodies, `{\"error\", \"error_description\"}`)\n\
        - `400` `invalid_request`: a parameter missing, repeated, of the wrong type or in the \
        URL; malformed JSON.\n\
        - `400` `invalid_grant`: an unknown e-mail, a wrong password, a disabled or locked user \
        (one answer for all); a spent, revoked or unknown refresh token; an ID token linked to \
        nobody; an organization the user is not a member of.\n\
        - `400` `unsupported_grant_type`: another `grant_type`.\n\
        - `413`: the body is over 64 KiB.\n\
        - `429` (the error body): too many failed password logins with this e-mail from a \
        client its user never logged in from, or from this client address.\n\
        - `503` (the error body): the database is unavailable, or too many passwords are being \
        checked at once.",
    request_body(content(
        (TokenRequest = "application/x-www-form-urlencoded"),
        (TokenRequest = "application/json", example = json!({"grant_type": "password",
            "username": "admin@localhost", "password": "correct horse battery staple"})),
    )),
    responses(
        (status = 200, description = "A new token pair", body = OAuthToken, headers(
            ("Cache-Control" = String, description = "`no-store`"),
            ("Pragma" = String, description = "`no-cache`"),
            ("Set-Cookie" = String, description = "After a password login, `bf_device`: \
                presented back in `Cookie`, it lets later password logins of this user from \
                this device through while strangers' failures with his e-mail hold them back"),
        ), links(
            ("revokeRefreshToken" = (operation_id = "revokeToken",
                request_body = "token={$response.body#/refresh_token}",
                description = "Ends the login: the refresh token and every token of its family")),
            ("revokeAccessToken" = (operation_id = "revokeToken",
                request_body = "token={$response.body#/access_token}",
                description = "Ends the access token alone")),
        )),
        (status = 400, description = "RFC 6749 §5.2: `invalid_request` (a parameter missing, \
            repeated, of the wrong type or in the URL; malformed JSON), `invalid_grant` (wrong \
            credentials, a spent or unknown refresh token, an ID token not linked to anyone, an \
            organization not the user's, an unknown, expired or spent `mfa_token`, a wrong second \
            factor code), `unsupported_grant_type`; or `mfa_required` (`MfaRequiredBody`): the \
            password or ID token was right and the user's second factor is asked for with the \
            `urn:billforward:params:oauth:grant-type:mfa` grant", body = OAuthError, headers(
            ("Cache-Control" = String, description = "`no-store`"),
            ("Pragma" = String, description = "`no-cache`"),
        )),
        (status = 413, description = "The body is over 64 KiB (`invalid_request`)", body = OAuthError),
        (status = 429, description = "Too many failed password logins for this e-mail (from \
            a client its user never logged in from) or from this client address; see Retry-After",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The database is unavailable, or too many passwords are \
            being checked at once (the password grant, refused before its password is checked); \
            see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn token(State(app): State<AppState>, req: Request) -> Result<Response, Refusal> {
    let device = device_cookie(req.headers());
    let params = read_params(req, &app, TOKEN_PARAMETERS).await?;
    let mut set_device = None;
    let pair = match params.get("grant_type") {
        Some("password") => {
            let login = login::password_grant(
                &app,
                params.get("username"),
                params.secret("password"),
                params.get("organizationID"),
                device.as_deref(),
                params.get("client_id"),
            )
            .await?;
            set_device = login.device;
            login.pair
        }
        Some(MFA_GRANT) => {
            let login = login::mfa_grant(
                &app,
                params.secret("mfa_token"),
                params.secret("otp"),
                params.secret("recovery_code"),
                params.get("webauthn"),
                device.as_deref(),
                params.get("client_id"),
            )
            .await?;
            set_device = login.device;
            login.pair
        }
        Some("refresh_token") => login::refresh_grant(&app, params.secret("refresh_token")).await?,
        Some(JWT_BEARER) => {
            login::id_token_grant(
                &app,
                params.secret("assertion"),
                params.get("organizationID"),
                params.get("client_id"),
            )
            .await?
        }
        None => return Err(Refusal::invalid_request("grant_type is required")),
        Some(_) => return Err(GrantError::UnsupportedGrantType.into()),
    };
    let mut response = token_answer(pair);
    if let Some(device) = set_device {
        let cookie = format!(
            "{DEVICE_COOKIE}={device}; Max-Age={}; Path={TOKEN_PATH}; HttpOnly; Secure; \
             SameSite=Strict",
            app.limits.known_for_seconds()
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// The cookie that tells a device a user has logged in from (see `security::limits`): sent
/// only to the token endpoint, never readable by scripts.
pub const DEVICE_COOKIE: &str = "bf_device";
const TOKEN_PATH: &str = "/v1/oauth/token";

/// The device cookie of the request, if it carries a well-formed one.
fn device_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == DEVICE_COOKIE)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
}
#[utoipa::path(
    post, path = "/v1/oauth/revoke", tag = "OAuth", operation_id = "revokeToken",
    summary = "Revoke a token: log out (RFC 7009)",
    description = "Revokes an access, refresh or permanent token. A refresh token takes its \
        whole family along (the login ends); a permanent token, the pairs minted from it. A \
        token that is unknown, expired, revoked already or not a token of this service is \
        answered the same 200 (RFC 7009 §2.2). Parameters are read as at the token endpoint; \
        `token_type_hint` and client credentials are ignored.\n\n\
        **Needs** nothing but the token itself.\n\n\
        **Errors**\n\
        - `400` `invalid_request`: `token` missing, repeated, of the wrong type or in the URL; \
        malformed JSON.\n\
        - `413`: the body is over 64 KiB.\n\
        - `503` (the error body): the database is unavailable.",
    request_body(content(
        (RevokeRequest = "application/x-www-form-urlencoded"),
        (RevokeRequest = "application/json", example = json!({
            "token": "bfsr_Pt3cpvQ9ONwt2Smh5arflgCpzKve9XruwfcmN9XOEUA"})),
    )),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke: the answer is the same", headers(
            ("Cache-Control" = String, description = "`no-store`"),
        )),
        (status = 400, description = "`invalid_request`: `token` missing, empty, repeated, of \
            the wrong type or in the URL; malformed JSON", body = OAuthError),
        (status = 413, description = "The body is over 64 KiB (`invalid_request`)", body = OAuthError),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn revoke(State(app): State<AppState>, req: Request) -> Result<Response, Refusal> {
    let params = read_params(req, &app, REVOKE_PARAMETERS).await?;
    let Some(token) = params.secret("token") else {
        return Err(Refusal::invalid_request("token is required"));
    };
    login::revoke(&app, Some(token)).await?;
    Ok(NoStore(StatusCode::OK).into_response())
}
