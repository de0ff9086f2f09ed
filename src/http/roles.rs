//! `/v1/roles/...`: roles and their permissions.

use axum::extract::State;
use axum::Json;

use super::envelope::Paged;
use super::extract::{JsonBody, PathParams};
use super::params::{Order, QueryParams};
use super::query_docs::{OrganizationsParam, RoleListParams, RoleLookupParams};
use super::requests::{CreateRoleRequest, UpdateRoleRequest};
use super::views::Role;
use crate::error::{ApiError, ErrorBody};
use crate::service::authz::Grant;
use crate::service::{self, AppState};
use crate::store::roles::RoleOrder;

#[utoipa::path(
    post, path = "/v1/roles", tag = "Security", operation_id = "createRole",
    request_body(content = CreateRoleRequest, content_type = "application/json"),
    responses((status = 200, description = "The new role", body = Paged<Role>, links(
            ("read" = (operation_id = "getRoleById", parameters(
                ("role" = "$response.body#/results/0/id"),
                ("organizations" = "$response.body#/results/0/organizationID"),
            ))),
            ("update" = (operation_id = "updateRole", request_body = "$response.body#/results/0",
                description = "The role as it is answered is a request to change it (found by `id`, \
                    in its `organizationID`)")),
            ("removePermission" = (operation_id = "removePermissionFromRole", parameters(
                ("role" = "$response.body#/results/0/id"),
                ("resource" = "$response.body#/results/0/permissions/0/resource"),
                ("action" = "$response.body#/results/0/permissions/0/action"),
                ("organizations" = "$response.body#/results/0/organizationID"),
            ))),
            ("revoke" = (operation_id = "revokeRole", parameters(
                ("role" = "$response.body#/results/0/id"),
                ("organizations" = "$response.body#/results/0/organizationID"),
            ))),
        )),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn create_role(
    State(app): State<AppState>,
    grant: Grant,
    JsonBody(body): JsonBody<CreateRoleRequest>,
) -> Result<Json<Paged<Role>>, ApiError> {
    let role = service::roles::create(&app, &grant, body.parse(&app.catalogue)?).await?;
    Ok(Json(Paged::one(role.into())))
}

#[utoipa::path(
    get, path = "/v1/roles", tag = "Security", operation_id = "getAllRoles",
    params(RoleListParams),
    responses((status = 200, description = "Roles of the acting organizations", body = Paged<Role>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_all_roles(
    State(app): State<AppState>,
    grant: Grant,
    query: QueryParams,
) -> Result<Json<Paged<Role>>, ApiError> {
    let paging = query.paging(&["created", "updated", "name"])?;
    let include_retired = query.flag("include_retired")?;
    let order = match paging.order_by {
        "updated" => RoleOrder::Updated,
        "name" => RoleOrder::Name,
        _ => RoleOrder::Created,
    };
    let (roles, more) = service::roles::list(
        &app,
        &grant,
        include_retired,
        order,
        paging.order == Order::Desc,
        paging.offset,
        paging.records,
    )
    .await?;
    let roles = roles.into_iter().map(Role::from).collect();
    Ok(Json(Paged::page(roles, &paging, more)))
}

#[utoipa::path(
    get, path = "/v1/roles/{role}", tag = "Security", operation_id = "getRoleById",
    params(("role" = String, Path, description = "The role's ID or name"), RoleLookupParams),
    responses((status = 200, description = "The role", body = Paged<Role>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_role_by_id(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(role): PathParams<String>,
    query: QueryParams,
) -> Result<Json<Paged<Role>>, ApiError> {
    let include_retired = query.flag("include_retired")?;
    let role = service::roles::get(&app, &grant, &role, include_retired).await?;
    Ok(Json(Paged::one(role.into())))
}

#[utoipa::path(
    put, path = "/v1/roles", tag = "Security", operation_id = "updateRole",
    request_body(content = UpdateRoleRequest, content_type = "application/json"),
    responses((status = 200, description = "The role", body = Paged<Role>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn update_role(
    State(app): State<AppState>,
    grant: Grant,
    JsonBody(body): JsonBody<UpdateRoleRequest>,
) -> Result<Json<Paged<Role>>, ApiError> {
    let role = service::roles::update(&app, &grant, body.parse(&app.catalogue)?).await?;
    Ok(Json(Paged::one(role.into())))
}

#[utoipa::path(
    delete, path = "/v1/roles/{role}", tag = "Security", operation_id = "revokeRole",
    params(("role" = String, Path, description = "The role's ID or name"), OrganizationsParam),
    responses((status = 200, description = "The revoked role", body = Paged<Role>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn revoke_role(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(role): PathParams<String>,
) -> Result<Json<Paged<Role>>, ApiError> {
    let role = service::roles::revoke(&app, &grant, &role).await?;
    Ok(Json(Paged::one(role.into())))
}

#[utoipa::path(
    delete, path = "/v1/roles/{role}/permission/{resource}/{action}", tag = "Security",
    operation_id = "removePermissionFromRole",
    params(
        ("role" = String, Path, description = "The role's ID or name"),
        ("resource" = String, Path), ("action" = String, Path),
        OrganizationsParam
    ),
    responses((status = 200, description = "The role", body = Paged<Role>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn remove_permission_from_role(
    State(app): State<AppState>,
    grant: Grant,
    PathParams((role, resource, action)): PathParams<(String, String, String)>,
) -> Result<Json<Paged<Role>>, ApiError> {
    let role = service::roles::remove_permission(&app, &grant, &role, &resource, &action).await?;
    Ok(Json(Paged::one(role.into())))
}
