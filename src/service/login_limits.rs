//! An administrator's view of the limits bound to a user's e-mail (failed password logins from
//! clients he never logged in from, reset requests), and clearing them: for a user who was
//! held back while strangers guessed, or who asked for too many codes.

use crate::error::ApiError;
use crate::security::limits::EmailLimits;
use crate::service::authz::{self, Grant};
use crate::service::change::Change;
use crate::service::App;
use crate::store::{self, audit::AuditEvent, users::UserRow};

/// The user a path names by ID, if the caller may act on him with `Users:<action>`: a member
/// of an acting organization (anyone else is a 404, whether he exists or not) whom the caller
/// outranks everywhere (else a 403, see [`authz::act_on`]).
async fn subject(
    app: &App,
    grant: &Grant,
    user_id: &str,
    action: &str,
) -> Result<UserRow, ApiError> {
    let caller = grant.caller()?;
    let not_found = || ApiError::NotFound(format!("no user {user_id}"));
    let mut conn = app.store.pool().acquire().await?;
    let user = store::users::find_by_id(&mut conn, user_id)
        .await?
        .ok_or_else(not_found)?;
    let mut shares = user.id == caller.user_id;
    for organization in grant.organization_ids() {
        if shares {
            break;
        }
        shares = store::memberships::is_member(&mut conn, &user.id, &organization).await?;
    }
    drop(conn);
    if !shares {
        return Err(not_found());
    }
    Ok(authz::act_on(app, grant, user, "Users", action)
        .await?
        .into_user())
}

pub async fn of_user(
    app: &App,
    grant: &Grant,
    user_id: &str,
) -> Result<(UserRow, EmailLimits), ApiError> {
    let user = subject(app, grant, user_id, "read").await?;
    let limits = app
        .limits
        .of_email(&user.email_key, app.clock.now())
        .await?;
    Ok((user, limits))
}

/// Clears them, with an audit event; answers what is left (nothing counted).
pub async fn clear(
    app: &App,
    grant: &Grant,
    user_id: &str,
) -> Result<(UserRow, EmailLimits), ApiError> {
    let caller = grant.caller()?;
    let user = subject(app, grant, user_id, "update").await?;
    let mut change = Change::begin(app).await?;
    let now = change.now();
    app.limits
        .clear_email(&mut change.tx, &user.email_key)
        .await?;
    change
        .audit(AuditEvent {
            actor_id: Some(&caller.user_id),
            organization_id: Some(&caller.organization_id),
            action: "login_limits.cleared",
            target_id: Some(&user.id),
            ..Default::default()
        })
        .await?;
    change.commit().await?;
    let limits = app.limits.of_email(&user.email_key, now).await?;
    Ok((user, limits))
}
