//! `POST /v1/oauth/introspect` (RFC 7662): what a token is and may do, for the other services
//! of the platform. The caller authenticates with his own bearer token and needs
//! `Tokens:introspect` (route rule); the token asked about is read as `/oauth/revoke` reads it.

use std::collections::BTreeSet;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::oauth::{read_params, NoStore, OAuthError, Refusal};
use super::views::scope_of;
use crate::error::ErrorBody;
use crate::service::authz::Grant;
use crate::service::introspection::{self, Described};
use crate::service::AppState;

/// The introspection endpoint's parameters, form-encoded (or a JSON object of strings).
#[derive(Debug, Default, ToSchema)]
#[allow(dead_code)]
pub struct IntrospectRequest {
    /// An access or permanent token (a refresh token is never a bearer token: inactive).
    #[schema(example = "bfsa_Pt3cpvQ9ONwt2Smh5arflgCpzKve9XruwfcmN9XOEUA")]
    token: Option<String>,
    /// Ignored: a token's first characters tell its kind.
    #[schema(example = "access_token")]
    token_type_hint: Option<String>,
}

/// A refused introspection request: RFC 6749 §5.2's error body for its parameters, or the
/// service's own for a bad query parameter, read before the operation runs.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum IntrospectionRefusal {
    OAuth(OAuthError),
    Service(ErrorBody),
}

const INTROSPECT_PARAMETERS: &[&str] = &["token", "token_type_hint", "client_id", "client_secret"];

/// A permission the token holds where it was issued.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
pub struct IntrospectedPermission {
    #[schema(example = "Users")]
    pub resource: String,
    #[schema(example = "read")]
    pub action: String,
}

/// RFC 7662 §2.2. An inactive token is `{"active": false}` and nothing else, whatever the
/// reason. There is never a `client_id`: this service issues tokens to users, not to
/// registered clients.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct TokenIntrospection {
    /// Whether the token works now and the caller may be told about it.
    pub active: bool,
    /// The user the token acts as, by ID (`USR-…`), as `userID` and `changedBy` name users.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "USR-0190f5c2-8d1e-7b1a-9c4e-3f2a1b0c9d8e")]
    pub sub: Option<String>,
    /// His login e-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub username: Option<String>,
    /// The organization the token was issued for, where it acts by default.
    #[serde(rename = "organizationID", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub organization_id: Option<String>,
    /// `api` for a token bound to its organization; `api organizations:all` for a login's,
    /// which acts in every organization of its user; `mfa:enrol` for one that may only see
    /// its user and enrol a second factor (its organization requires one its login did not
    /// pass), which then has no `permissions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub scope: Option<String>,
    /// `bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub token_type: Option<String>,
    /// `access` or `permanent`.
    #[serde(rename = "tokenKind", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub token_kind: Option<String>,
    /// When it stops working by itself (seconds since the epoch): its expiry, a revocation
    /// set for later, or its session's end, whichever is first. Absent for a permanent token
    /// without any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub exp: Option<i64>,
    /// When it was issued (seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub iat: Option<i64>,
    /// Its effective permissions in `organizationID`, as its holder's roles there give them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub permissions: Option<Vec<IntrospectedPermission>>,
    /// The client address ranges a permanent token is limited to, if any: the service asking
    /// enforces them against its own client, since this one never sees that client.
    #[serde(rename = "allowedRanges", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = json!(["203.0.113.0/24"]))]
    pub allowed_ranges: Option<Vec<String>>,
}

impl From<Described> for TokenIntrospection {
    fn from(d: Described) -> Self {
        let t = &d.token;
        // A token limited to enrolling a second factor may do nothing else there.
        let held = if d.enrol_only {
            Vec::new()
        } else {
            d.permissions.iter().collect()
        };
        let permissions: BTreeSet<IntrospectedPermission> = held
            .into_iter()
            .map(|p| IntrospectedPermission {
                resource: p.resource().to_string(),
                action: p.action().to_string(),
            })
            .collect();
        Self {
            active: true,
            sub: Some(t.user_id.clone()),
            username: Some(t.email.clone()),
            organization_id: Some(t.organization_id.clone()),
            scope: Some(scope_of(t.bound, d.enrol_only).into()),
            token_type: Some("bearer".into()),
            token_kind: Some(t.token_kind.as_str().into()),
            exp: t.ends().map(|ms| ms / 1000),
            iat: Some(t.issued / 1000),
            permissions: Some(permissions.into_iter().collect()),
            allowed_ranges: t
                .allowed_ranges
                .as_ref()
                .map(|ranges| ranges.iter().map(|r| r.to_string()).collect()),
        }
    }
}

#[utoipa::path(
    post, path = "/v1/oauth/introspect", tag = "OAuth", operation_id = "introspectToken",
    summary = "Describe a token: whether it works, whose it is, what it may do (RFC 7662)",
    description = "For the other services of the platform, to check a token presented to \
        them. The caller authenticates with his own bearer token and needs `Tokens:introspect` \
        in the organizations he acts in (`organizations=`, by default his token's). A live \
        access or permanent token of one of those organizations (of any, for a platform \
        administrator on a token not bound to an organization) is described; any other token \
        (unknown, malformed, expired, revoked, of an ended session, a refresh token, another \
        organization's) answers `{\"active\": false}` alone, the same 200 whatever the reason. \
        Parameters are read as at the token endpoint. Costs what one request made with the \
        token costs: the same cache resolves it.\n\n\
        **Needs** `Tokens:introspect` in the acting organizations, or a platform \
        administrator.\n\n\
        **Errors**\n\
        - `400`: `invalid_request`: `token` missing, empty, repeated, of the wrong type or in \
        the URL; malformed JSON; a bad `organizations=` gets the service's error body.\n\
        - `401`: the caller's own token missing, invalid, expired or revoked.\n\
        - `403`: without `Tokens:introspect`, or an organization the caller may not act in.\n\
        - `413`: a body over 64 KiB.",
    request_body(content(
        (IntrospectRequest = "application/x-www-form-urlencoded"),
        (IntrospectRequest = "application/json", example = json!({
            "token": "bfsa_Pt3cpvQ9ONwt2Smh5arflgCpzKve9XruwfcmN9XOEUA"})),
    )),
    responses(
        (status = 200, description = "The token described, or `{\"active\": false}`", body = TokenIntrospection, headers(
            ("Cache-Control" = String, description = "`no-store`"),
            ("Pragma" = String, description = "`no-cache`"),
        )),
        (status = 400, description = "`invalid_request` (RFC 6749 §5.2): `token` missing, \
            empty, repeated, of the wrong type or in the URL; malformed JSON. A bad query \
            parameter (`organizations=`) gets the service's error body", body = IntrospectionRefusal),
        (status = 401, description = "The caller's own bearer token is missing, invalid, \
            expired or revoked", body = ErrorBody),
        (status = 403, description = "The caller lacks `Tokens:introspect`, or names an \
            organization he may not act in", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`invalid_request`)", body = OAuthError),
    ),
    security(("bearerAuth" = []))
)]
pub async fn introspect(
    State(app): State<AppState>,
    grant: Grant,
    req: Request,
) -> Result<Response, Refusal> {
    let params = read_params(req, &app, INTROSPECT_PARAMETERS).await?;
    let Some(token) = params.secret("token") else {
        return Err(Refusal::invalid_request("token is required"));
    };
    let answer = match introspection::introspect(&app, &grant, token).await? {
        Some(described) => TokenIntrospection::from(described),
        None => TokenIntrospection::default(),
    };
    Ok(NoStore(Json(answer)).into_response())
}
