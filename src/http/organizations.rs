//! `/v1/organizations/...`: organizations as entities, listed, read and renamed. The
//! permission a read or a rename needs is checked in the organization the path names, which
//! the route's rule cannot see (`Grant::require_on`).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::envelope::Paged;
use super::extract::{JsonBody, PathParams};
use super::params::{Order, QueryParams};
use super::views::Organization;
use crate::domain::OrganizationName;
use crate::error::{ApiError, ErrorBody};
use crate::service::authz::Grant;
use crate::service::{self, AppState};
use crate::store::organizations::OrganizationOrder;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateOrganizationRequest {
    /// The new name: trimmed, not blank, one line. The customer code stays as it is.
    #[schema(example = "Acme Ltd")]
    pub name: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct OrganizationListParams {
    #[param(default = 0, minimum = 0)]
    offset: Option<i64>,
    /// 1 to 500.
    #[param(default = 10, minimum = 1, maximum = 500)]
    records: Option<i64>,
    /// `created`, `updated` or `name`.
    #[param(default = "created")]
    order_by: Option<String>,
    /// `ASC` or `DESC`.
    #[param(default = "DESC")]
    order: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/organizations", tag = "Organizations", operation_id = "getOrganizations",
    summary = "List organizations",
    description = "A platform administrator gets every organization; anybody else the \
        organizations he is a member of, as `getMyOrganizations` answers them. A token bound \
        to its organization (a permanent token, or a pair minted from one) gets that one \
        alone, a platform administrator's too. Paged and ordered like the other lists \
        (`order_by`: `created`, `updated`, `name`).\n\n\
        **Needs** a valid token, nothing more: each caller sees only what he belongs to.\n\n\
        **Errors**\n\
        - `400`: `offset` below 0, `records` outside 1 to 500, an unknown `order_by` or \
        `order`.\n\
        - `401`: no valid token.",
    params(OrganizationListParams),
    responses(
        (status = 200, description = "A page of organizations", body = Paged<Organization>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn get_organizations(
    State(app): State<AppState>,
    grant: Grant,
    query: QueryParams,
) -> Result<Json<Paged<Organization>>, ApiError> {
    let paging = query.paging(&["created", "updated", "name"])?;
    let order = match paging.order_by {
        "updated" => OrganizationOrder::Updated,
        "name" => OrganizationOrder::Name,
        _ => OrganizationOrder::Created,
    };
    let (organizations, more) = service::organization_admin::list(
        &app,
        &grant,
        order,
        paging.order == Order::Desc,
        paging.offset,
        paging.records,
    )
    .await?;
    let organizations = organizations.into_iter().map(Organization::from).collect();
    Ok(Json(Paged::page(organizations, &paging, more)))
}

#[utoipa::path(
    get, path = "/v1/organizations/{organization_id}", tag = "Organizations",
    operation_id = "getOrganizationById",
    summary = "Read an organization",
    description = "The organization, as `getMyOrganizations` answers it.\n\n\
        **Needs** `Organizations:read` in it (a platform administrator holds it everywhere).\n\n\
        **Errors**\n\
        - `401`: no valid token.\n\
        - `403`: a member without `Organizations:read` in it.\n\
        - `404`: no such organization, one the caller is not a member of, or another than its \
        own for a bound token: the same answer, so an ID tells a stranger nothing.",
    params(("organization_id" = String, Path, description = "The organization's ID")),
    responses(
        (status = 200, description = "The organization", body = Paged<Organization>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn get_organization_by_id(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(id): PathParams<String>,
) -> Result<Json<Paged<Organization>>, ApiError> {
    let organization = service::organization_admin::get(&app, &grant, &id).await?;
    Ok(Json(Paged::one(organization.into())))
}

#[utoipa::path(
    put, path = "/v1/organizations/{organization_id}", tag = "Organizations",
    operation_id = "updateOrganization",
    summary = "Rename an organization",
    description = "Renames it. The name is checked as a sign-up's `companyName` is; the \
        customer code does not change. Recorded in the organization's audit trail \
        (`organization.renamed`, with the name before and after); the same name again changes \
        nothing.\n\n\
        **Needs** `Organizations:update` in it (a platform administrator holds it \
        everywhere).\n\n\
        **Errors**\n\
        - `400`: `name` missing, blank or not one line of text.\n\
        - `401`: no valid token.\n\
        - `403`: a member without `Organizations:update` in it.\n\
        - `404`: an organization the caller may not reach, as at reading.\n\
        - `409`: renamed by someone else meanwhile: read it again.",
    params(("organization_id" = String, Path, description = "The organization's ID")),
    request_body(content = UpdateOrganizationRequest, content_type = "application/json",
        example = json!({"name": "Acme Billing"})),
    responses(
        (status = 200, description = "The organization, renamed", body = Paged<Organization>),
        (status = 400, description = "`name` missing, blank or not one line of text", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Renamed by someone else meanwhile: read it again", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn update_organization(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<UpdateOrganizationRequest>,
) -> Result<Json<Paged<Organization>>, ApiError> {
    let name = OrganizationName::parse(body.name.as_deref().unwrap_or(""), "name")?;
    let organization = service::organization_admin::rename(&app, &grant, &id, name).await?;
    Ok(Json(Paged::one(organization.into())))
}
