//! `/v1/permissions/...`: what roles may name.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::envelope::Paged;
use crate::domain::permission::{actions_of, BUILT_IN_RESOURCES, WILDCARD};
use crate::error::{ApiError, ErrorBody};
use crate::service::AppState;

/// A resource of the catalogue and the actions a permission may name on it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogueEntry {
    /// As roles spell it (names are matched case-insensitively).
    #[schema(example = "Users")]
    resource: String,
    #[schema(example = json!(["read", "create", "update", "delete"]))]
    actions: Vec<String>,
    /// Guarded by this service; the others are other services' of the platform, named in
    /// `permissions.resources`.
    built_in: bool,
}

#[utoipa::path(
    get, path = "/v1/permissions/catalogue", tag = "Roles", operation_id = "getPermissionCatalogue",
    summary = "List the resources and actions permissions may name",
    description = "Every resource a role's permission may name, with its actions: this \
        service's own, then those of other services the operator configured. `*` stands for \
        any resource or any action.\n\n\
        **Needs** any valid token.\n\n\
        **Errors**\n\
        - `401`: no token, or one that is invalid, expired or revoked.",
    responses(
        (status = 200, description = "The catalogue, one entry a resource", body = Paged<CatalogueEntry>),
        (status = 401, body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn get_permission_catalogue(
    State(app): State<AppState>,
) -> Result<Json<Paged<CatalogueEntry>>, ApiError> {
    let entries = app
        .catalogue
        .resources()
        .iter()
        .filter(|r| r.as_str() != WILDCARD)
        .map(|r| CatalogueEntry {
            resource: r.clone(),
            actions: actions_of(r).iter().map(|a| a.to_string()).collect(),
            built_in: BUILT_IN_RESOURCES.contains(&r.as_str()),
        })
        .collect();
    Ok(Json(Paged::all(entries)))
}
