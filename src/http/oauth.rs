//! `POST /v1/oauth/token` (RFC 6749) and `POST /v1/oauth/revoke` (RFC 7009).

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{parse_form, parse_json, read_body};
use super::views::{token_scope, OAuthToken};
use crate::domain::SecretString;
use crate::error::{ApiError, ErrorBody};
use crate::service::login::{self, GrantError};
use crate::service::AppState;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The token endpoint's parameters, form-encoded (or JSON).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `password`, `refresh_token` or `urn:ietf:params:oauth:grant-type:jwt-bearer`.
    pub grant_type: Option<String>,
    pub username: Option<String>,
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
    #[serde(rename = "organizationID", alias = "organization_id")]
    pub organization_id: Option<String>,
    #[schema(value_type = Option<String>)]
    pub refresh_token: Option<SecretString>,
    #[schema(value_type = Option<String>)]
    pub assertion: Option<SecretString>,
    pub scope: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RevokeRequest {
    #[schema(value_type = Option<String>)]
    pub token: Option<SecretString>,
    pub token_type_hint: Option<String>,
}

/// RFC 6749 §5.2.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    pub error: String,
    pub error_description: String,
}

impl IntoResponse for GrantError {
    fn into_response(self) -> Response {
        let (error, description) = match self {
            GrantError::InvalidRequest(d) => ("invalid_request", d),
            GrantError::InvalidGrant(d) => ("invalid_grant", d.to_string()),
            GrantError::UnsupportedGrantType => (
                "unsupported_grant_type",
                "grant_type must be password, refresh_token or urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
            ),
            GrantError::Api(e) => return e.into_response(),
        };
        let mut response = (
            StatusCode::BAD_REQUEST,
            Json(OAuthError {
                error: error.into(),
                error_description: description,
            }),
        )
            .into_response();
        no_store(response.headers_mut());
        response
    }
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Form-encoded as RFC 6749 says, or JSON when the body is a JSON object.
async fn form_or_json<T: serde::de::DeserializeOwned>(
    req: Request,
    state: &AppState,
) -> Result<T, ApiError> {
    let bytes = read_body(req, state).await?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        parse_json(&bytes)
    } else {
        parse_form(&bytes)
    }
}

#[utoipa::path(
    post, path = "/v1/oauth/token", tag = "OAuth", operation_id = "getToken",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = OAuthToken),
        (status = 400, description = "RFC 6749 error", body = OAuthError),
        (status = 429, description = "Too many failed password logins for this e-mail; see Retry-After", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn token(State(app): State<AppState>, req: Request) -> Result<Response, GrantError> {
    let form: TokenRequest = form_or_json(req, &app).await?;
    let pair = match form.grant_type.as_deref().map(str::trim) {
        Some("password") => {
            login::password_grant(
                &app,
                form.username.as_deref(),
                form.password.as_ref(),
                form.organization_id.as_deref(),
            )
            .await?
        }
        Some("refresh_token") => login::refresh_grant(&app, form.refresh_token.as_ref()).await?,
        Some(JWT_BEARER) => {
            login::id_token_grant(
                &app,
                form.assertion.as_ref(),
                form.organization_id.as_deref(),
            )
            .await?
        }
        None | Some("") => return Err(GrantError::InvalidRequest("grant_type is required".into())),
        Some(_) => return Err(GrantError::UnsupportedGrantType),
    };
    let mut response = Json(OAuthToken {
        access_token: pair.access.expose().to_string(),
        token_type: "bearer".into(),
        expires_in: Some(pair.access_expires_in),
        refresh_token: Some(pair.refresh.expose().to_string()),
        scope: token_scope(pair.bound).into(),
        organization_id: pair.organization_id,
    })
    .into_response();
    no_store(response.headers_mut());
    Ok(response)
}

#[utoipa::path(
    post, path = "/v1/oauth/revoke", tag = "OAuth", operation_id = "revokeToken",
    request_body(content = RevokeRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Revoked, or unknown: the answer is the same"))
)]
pub async fn revoke(State(app): State<AppState>, req: Request) -> Result<StatusCode, ApiError> {
    let form: RevokeRequest = form_or_json(req, &app).await?;
    login::revoke(&app, form.token.as_ref()).await?;
    Ok(StatusCode::OK)
}
