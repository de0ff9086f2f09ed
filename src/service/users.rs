//! Users as callers see them.

use crate::error::ApiError;
use crate::security::Principal;
use crate::service::App;
use crate::store::{self, organizations::OrganizationRow, roles::HeldRole, users::UserRow};

/// A user with his live roles in the given organizations.
pub async fn with_roles(
    app: &App,
    user: UserRow,
    organizations: &[String],
) -> Result<(UserRow, Vec<HeldRole>), ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    let mut roles = Vec::new();
    for organization_id in organizations {
        roles.extend(store::roles::held_roles(&mut conn, &user.id, organization_id).await?);
    }
    Ok((user, roles))
}

/// The caller himself, as stored now.
pub async fn current(app: &App, caller: &Principal) -> Result<UserRow, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    store::users::find_by_id(&mut conn, &caller.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("invalid, expired or revoked token".into()))
}

pub async fn organizations_of(
    app: &App,
    caller: &Principal,
) -> Result<Vec<OrganizationRow>, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    Ok(store::organizations::of_member(&mut conn, &caller.user_id).await?)
}
