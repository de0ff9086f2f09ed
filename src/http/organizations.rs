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
        alone, a platform administrator's too. Paged and ordered like the other lists.",
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
    description = "Needs `Organizations:read` in it (a platform administrator holds it \
        everywhere). An organization the caller is not a member of, or another than its own \
        for a bound token, is a 404 as one that does not exist.",
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
    description = "Needs `Organizations:update` in it (a platform administrator holds it \
        everywhere); one the caller may not reach is a 404, as at reading. The name is checked \
        as a sign-up's `companyName` is; the customer code does not change. Recorded in the \
        organization's audit trail (`organization.renamed`, with the name before and after); \
        the same name again changes nothing.",
    params(("organization_id" = String, Path, description = "The organization's ID")),
    request_body(content = UpdateOrganizationRequest, content_type = "application/json"),
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
