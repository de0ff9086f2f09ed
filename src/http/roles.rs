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
    post, path = "/v1/roles", tag = "Roles", operation_id = "createRole",
    summary = "Create a role",
    description = "Creates a role in an organization (`organizationID`, else the first acting \
        one) with `permissions` (`resource:action` pairs from the permission catalogue, `*` for \
        any). With `defaultRole: true` it becomes the organization's default role, which \
        members who join without a role hold; the previous default stops being one.\n\n\
        **Needs** `Roles:create` in that organization, and every permission the role grants.\n\n\
        **Errors**\n\
        - `400`: `name` missing or invalid, a permission outside the catalogue (the answer \
        lists the valid names).\n\
        - `403`: without `Roles:create` there, not a member of it, or a permission the caller \
        lacks.\n\
        - `404`: no such organization.\n\
        - `409`: a live role of the organization has that name already.",
    request_body(content = CreateRoleRequest, content_type = "application/json",
        example = json!({"name": "Billing clerks", "description": "Reads users and roles",
            "permissions": [{"resource": "Users", "action": "read"},
                {"resource": "Roles", "action": "read"}]})),
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
    get, path = "/v1/roles", tag = "Roles", operation_id = "getAllRoles",
    summary = "List the roles of the acting organizations",
    description = "The live roles of the acting organizations with their live permissions, a \
        page at a time, ordered by `order_by` (`created`, `updated`, `name`) and `order`; \
        `include_retired=true` adds the revoked ones.\n\n\
        **Needs** `Roles:read` in every acting organization.\n\n\
        **Errors**\n\
        - `400`: `offset` below 0, `records` outside 1 to 500, an unknown `order_by` or \
        `order`, `include_retired` not `true` or `false`.\n\
        - `403`: without `Roles:read` in an acting organization, or not a member of it.",
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
    get, path = "/v1/roles/{role}", tag = "Roles", operation_id = "getRoleById",
    summary = "Find a role by ID or name",
    description = "One role of the acting organizations, `{role}` being its ID or its name, with \
        its live permissions. A revoked role is found only with `include_retired=true`.\n\n\
        **Needs** `Roles:read` in every acting organization.\n\n\
        **Errors**\n\
        - `403`: without `Roles:read` in an acting organization, or not a member of it.\n\
        - `404`: no such role in the acting organizations (or revoked, without \
        `include_retired`).",
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
    put, path = "/v1/roles", tag = "Roles", operation_id = "updateRole",
    summary = "Change a role",
    description = "Finds the live role by `id` (then `name` renames it) or else by `name`, in \
        `organizationID` or the acting organizations, and changes the fields present. \
        `permissions`, when present, is the whole new set: those missing are revoked, new ones \
        added. `defaultRole: true` makes it the organization's default role.\n\n\
        **Needs** `Roles:update` in every acting organization (in `organizationID` when it is \
        named), every permission the role holds now, and every permission it grants.\n\n\
        **Errors**\n\
        - `400`: neither `id` nor `name`, an invalid `name`, a permission outside the \
        catalogue.\n\
        - `403`: without `Roles:update`, or a permission the role holds or grants that the \
        caller lacks.\n\
        - `404`: no such live role.\n\
        - `409`: another live role has the new name, or the role or the default changed at the \
        same time (try again).",
    request_body(content = UpdateRoleRequest, content_type = "application/json",
        example = json!({"name": "Billing clerks", "description": "Reads users",
            "permissions": [{"resource": "Users", "action": "read"}]})),
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
    delete, path = "/v1/roles/{role}", tag = "Roles", operation_id = "revokeRole",
    summary = "Revoke a role",
    description = "Retires a live role of the acting organizations (`{role}`: its ID or name): \
        it is answered with `deleted: true` and `revoked` set, and its holders lose its \
        permissions at once. The role, its permissions and who held it stay on record \
        (`include_retired=true` finds it).\n\n\
        **Needs** `Roles:delete` in every acting organization, and every permission the role \
        holds.\n\n\
        **Errors**\n\
        - `403`: without `Roles:delete`, or a permission of the role the caller lacks.\n\
        - `404`: no such live role in the acting organizations.",
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
    delete, path = "/v1/roles/{role}/permission/{resource}/{action}", tag = "Roles",
    operation_id = "removePermissionFromRole",
    summary = "Take one permission away from a role",
    description = "Revokes the live permission `resource:action` (matched case-insensitively) \
        of a live role of the acting organizations; its holders lose it at once.\n\n\
        **Needs** `Roles:update` in every acting organization, and every permission the role \
        holds.\n\n\
        **Errors**\n\
        - `400`: `resource` or `action` outside the permission catalogue.\n\
        - `403`: without `Roles:update`, or a permission of the role the caller lacks.\n\
        - `404`: no such live role, or the role does not have that permission.",
    params(
        ("role" = String, Path, description = "The role's ID or name"),
        ("resource" = String, Path, description = "A resource of the catalogue, e.g. `Users`, or `*`"),
        ("action" = String, Path, description = "`read`, `create`, `update`, `delete` or `*`"),
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
