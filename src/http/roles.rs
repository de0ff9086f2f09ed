//! `/v1/roles/...`: roles and their permissions.

use super::docs::{OrganizationsParam, RoleListParams, RoleLookupParams};
use super::envelope::Paged;
use super::requests::{CreateRoleRequest, UpdateRoleRequest};
use super::views::Role;
use crate::error::{ApiError, ErrorBody};

#[utoipa::path(
    post, path = "/v1/roles", tag = "Security", operation_id = "createRole",
    request_body(content = CreateRoleRequest, content_type = "application/json"),
    responses((status = 200, description = "The new role", body = Paged<Role>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn create_role() -> ApiError {
    ApiError::NotImplemented("create_role")
}

#[utoipa::path(
    get, path = "/v1/roles", tag = "Security", operation_id = "getAllRoles",
    params(RoleListParams),
    responses((status = 200, description = "Roles of the acting organizations", body = Paged<Role>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_all_roles() -> ApiError {
    ApiError::NotImplemented("get_all_roles")
}

#[utoipa::path(
    get, path = "/v1/roles/{role}", tag = "Security", operation_id = "getRoleById",
    params(("role" = String, Path, description = "The role's ID or name"), RoleLookupParams),
    responses((status = 200, description = "The role", body = Paged<Role>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_role_by_id() -> ApiError {
    ApiError::NotImplemented("get_role_by_id")
}

#[utoipa::path(
    put, path = "/v1/roles", tag = "Security", operation_id = "updateRole",
    request_body(content = UpdateRoleRequest, content_type = "application/json"),
    responses((status = 200, description = "The role", body = Paged<Role>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn update_role() -> ApiError {
    ApiError::NotImplemented("update_role")
}

#[utoipa::path(
    delete, path = "/v1/roles/{role}", tag = "Security", operation_id = "revokeRole",
    params(("role" = String, Path, description = "The role's ID or name"), OrganizationsParam),
    responses((status = 200, description = "The revoked role", body = Paged<Role>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn revoke_role() -> ApiError {
    ApiError::NotImplemented("revoke_role")
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
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn remove_permission_from_role() -> ApiError {
    ApiError::NotImplemented("remove_permission_from_role")
}
