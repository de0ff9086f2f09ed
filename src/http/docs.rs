//! The OpenAPI document, generated from the handlers' annotations, and the query parameters as
//! the seed names them (parsed for real in `params.rs`).

use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::{IntoParams, Modify, OpenApi};

use super::{oauth, ops, roles, users};

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
    #[param(default = 0)]
    offset: Option<i64>,
    /// 1 to 500.
    #[param(default = 10)]
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
    #[param(default = 0)]
    offset: Option<i64>,
    /// 1 to 500.
    #[param(default = 10)]
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

#[derive(OpenApi)]
#[openapi(
    info(title = "BillForward Security API", description = "Logins, organizations, roles and API tokens."),
    paths(
        users::create_flexcheck_user_login,
        roles::create_role,
        users::create_user_login,
        roles::get_all_roles,
        users::get_current_user,
        users::get_my_organizations,
        users::get_private_permanent_api_token,
        roles::get_role_by_id,
        users::get_simple_all_users,
        users::get_temporary_api_tokens,
        users::get_user_by_username,
        users::invite_user_login,
        users::accept_invitation,
        users::link_open_id_token_to_user,
        users::refresh_permanent_api_token,
        roles::remove_permission_from_role,
        users::request_password_reset_code,
        roles::revoke_role,
        users::update_email,
        roles::update_role,
        users::update_user_infos,
        users::update_user_password,
        users::update_user_password_with_reset_code,
        oauth::token,
        oauth::revoke,
        ops::healthz,
        ops::readyz,
    ),
    modifiers(&SeedConventions),
)]
pub struct ApiDoc;

/// What generated clients rely on beyond the annotations: the bearer scheme, and the body
/// parameter named `body` (without the extension, OpenAPI Generator names it after the schema).
struct SeedConventions;

impl Modify for SeedConventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // Paths relative to the `/v1` server, as the seed's clients are configured
        // (`host=https://…/v1`); the operational endpoints keep a server of their own.
        openapi.servers = Some(vec![Server::new("/v1")]);
        let paths = std::mem::take(&mut openapi.paths.paths);
        for (path, mut item) in paths {
            let path = match path.strip_prefix("/v1") {
                Some(rest) => rest.to_string(),
                None => {
                    item.servers = Some(vec![Server::new("/")]);
                    path
                }
            };
            openapi.paths.paths.insert(path, item);
        }
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                if let Some(body) = &mut op.request_body {
                    // The seed's examples may send no body at all.
                    body.required = Some(utoipa::openapi::Required::False);
                    let ext = ExtensionsBuilder::new()
                        .add("x-codegen-request-body-name", "body")
                        .build();
                    match &mut op.extensions {
                        Some(existing) => existing.merge(ext),
                        None => op.extensions = Some(ext),
                    }
                }
            }
        }
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
