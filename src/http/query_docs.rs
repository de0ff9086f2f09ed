//! The query parameters as the seed names them, for the OpenAPI document: the handlers declare
//! them, `docs.rs` gathers the handlers. They are parsed for real in `params.rs`, so the fields
//! here are never read.

use utoipa::IntoParams;

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct OrganizationsParam {
    /// The organizations to act in (repeat the parameter); by default the token's.
    organizations: Option<Vec<String>>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct UserListParams {
    organizations: Option<Vec<String>>,
    #[param(default = 0, minimum = 0)]
    offset: Option<i64>,
    /// 1 to 500.
    #[param(default = 10, minimum = 1, maximum = 500)]
    records: Option<i64>,
    /// `created`, `updated` or `email`.
    #[param(default = "created")]
    order_by: Option<String>,
    /// `ASC` or `DESC`.
    #[param(default = "DESC")]
    order: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RoleListParams {
    organizations: Option<Vec<String>>,
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
    /// Adds revoked roles.
    #[param(default = false)]
    include_retired: Option<bool>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RoleLookupParams {
    organizations: Option<Vec<String>>,
    #[param(default = false)]
    include_retired: Option<bool>,
}
