//! `/v1/users/{mine|email}/api-tokens`: a user's permanent API tokens, seen and revoked.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::envelope::Paged;
use super::extract::PathParams;
use super::params::{Order, QueryParams};
use super::sessions::OwnListParams;
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::service::authz::Grant;
use crate::service::sessions::Whose;
use crate::service::{self, AppState};
use crate::store::tokens::ApiTokenRow;

/// A permanent API token, never with its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    pub id: String,
    /// The organization it acts in (only there).
    #[serde(rename = "organizationID")]
    pub organization_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The first characters of its secret, to recognise it (`bfsp_` and four more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    pub created: String,
    pub updated: String,
    /// Who issued it.
    #[serde(rename = "changedBy", skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
    /// When it was last used, to the minute; absent if never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
    /// When it expires; absent if it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// When it stops working: a rotated token's end of grace, or the revocation in the answer
    /// of a revoking operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    /// The client address ranges it may be used from; absent: anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_ranges: Option<Vec<String>>,
}

impl From<ApiTokenRow> for ApiToken {
    fn from(t: ApiTokenRow) -> Self {
        let allowed_ranges = service::api_tokens::ranges_of(&t);
        Self {
            id: t.id,
            organization_id: t.organization_id,
            description: t.description,
            prefix: t.prefix,
            created: rfc3339(t.created),
            updated: rfc3339(t.revoked.or(t.last_used).unwrap_or(t.created)),
            changed_by: t.created_by,
            last_used: t.last_used.map(rfc3339),
            expires: t.expires.map(rfc3339),
            revoked: t.revoked.map(rfc3339),
            allowed_ranges,
        }
    }
}

async fn list(
    app: &AppState,
    grant: &Grant,
    whose: Whose<'_>,
    query: &QueryParams,
) -> Result<Json<Paged<ApiToken>>, ApiError> {
    let paging = query.paging(&["created"])?;
    let (page, more) = service::api_tokens::list(
        app,
        grant,
        whose,
        paging.order == Order::Desc,
        paging.offset,
        paging.records,
    )
    .await?;
    let tokens = page.into_iter().map(ApiToken::from).collect();
    Ok(Json(Paged::page(tokens, &paging, more)))
}

#[utoipa::path(
    get, path = "/v1/users/mine/api-tokens", tag = "Tokens", operation_id = "getMyApiTokens",
    summary = "List the caller's permanent API tokens",
    description = "The caller's working permanent tokens, newest first, never with their \
        secrets: each with its organization, the first characters of its secret (`prefix`), \
        when it was last used, its expiry and address ranges. A token bound to one \
        organization sees that organization's only.\n\n\
        **Needs** any valid token.\n\n\
        **Errors**\n\
        - `400`: `offset` below 0, `records` outside 1 to 500, an unknown `order_by` or \
        `order`.\n\
        - `403`: a permanent token used from outside its address ranges.",
    params(OwnListParams),
    responses((status = 200, description = "A page of API tokens", body = Paged<ApiToken>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "The token may not be used from this address", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_my_api_tokens(
    State(app): State<AppState>,
    grant: Grant,
    query: QueryParams,
) -> Result<Json<Paged<ApiToken>>, ApiError> {
    list(&app, &grant, Whose::Mine, &query).await
}

#[utoipa::path(
    delete, path = "/v1/users/mine/api-tokens/{token_id}", tag = "Tokens",
    operation_id = "revokeMyApiToken",
    summary = "Revoke one of the caller's permanent API tokens",
    description = "Revokes one of the caller's working permanent tokens at once, with the pairs \
        minted from it.\n\n\
        **Needs** any valid token.\n\n\
        **Errors**\n\
        - `403`: a permanent token used from outside its address ranges.\n\
        - `404`: no such working token of the caller (another user's, another organization's \
        for a bound token, or one revoked already).",
    params(("token_id" = String, Path, description = "The token's ID")),
    responses((status = 200, description = "The token revoked", body = Paged<ApiToken>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The token may not be used from this address", body = ErrorBody),
        (status = 404, description = "No such working token of the caller", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn revoke_my_api_token(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(id): PathParams<String>,
) -> Result<Json<Paged<ApiToken>>, ApiError> {
    let revoked = service::api_tokens::revoke(&app, &grant, Whose::Mine, &id).await?;
    Ok(Json(Paged::one(revoked.into())))
}

#[utoipa::path(
    get, path = "/v1/users/{email}/api-tokens", tag = "Tokens", operation_id = "getUserApiTokens",
    summary = "List a user's permanent API tokens",
    description = "The working permanent tokens of a member of the acting organizations, \
        newest first, never with their secrets.\n\n\
        **Needs** `Tokens:read` in every acting organization, and every permission the user \
        holds in every organization he belongs to.\n\n\
        **Errors**\n\
        - `400`: `offset` below 0, `records` outside 1 to 500, an unknown `order_by` or \
        `order`.\n\
        - `403`: without `Tokens:read`, or holding less than the user.\n\
        - `404`: no such user in the acting organizations.",
    params(("email" = String, Path, description = "The user's e-mail"), OwnListParams,
        super::query_docs::OrganizationsParam),
    responses((status = 200, description = "A page of API tokens", body = Paged<ApiToken>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Without `Tokens:read`, or holding less than the user", body = ErrorBody),
        (status = 404, description = "No such user in the acting organizations", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_user_api_tokens(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(email): PathParams<String>,
    query: QueryParams,
) -> Result<Json<Paged<ApiToken>>, ApiError> {
    list(&app, &grant, Whose::User(&email), &query).await
}

#[utoipa::path(
    delete, path = "/v1/users/{email}/api-tokens/{token_id}", tag = "Tokens",
    operation_id = "revokeUserApiToken",
    summary = "Revoke one of a user's permanent API tokens",
    description = "Revokes one working permanent token of a member of the acting organizations \
        at once, with the pairs minted from it.\n\n\
        **Needs** `Tokens:delete` in every acting organization, and every permission the user \
        holds in every organization he belongs to.\n\n\
        **Errors**\n\
        - `403`: without `Tokens:delete`, or holding less than the user.\n\
        - `404`: no such user in the acting organizations, or no such working token of his.",
    params(("email" = String, Path, description = "The user's e-mail"),
        ("token_id" = String, Path, description = "The token's ID"),
        super::query_docs::OrganizationsParam),
    responses((status = 200, description = "The token revoked", body = Paged<ApiToken>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Without `Tokens:delete`, or holding less than the user", body = ErrorBody),
        (status = 404, description = "No such user in the acting organizations, or no such working token of his", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn revoke_user_api_token(
    State(app): State<AppState>,
    grant: Grant,
    PathParams((email, id)): PathParams<(String, String)>,
) -> Result<Json<Paged<ApiToken>>, ApiError> {
    let revoked = service::api_tokens::revoke(&app, &grant, Whose::User(&email), &id).await?;
    Ok(Json(Paged::one(revoked.into())))
}
