//! Token introspection (RFC 7662): what a token presented to another service of the platform
//! is and may do, told to a caller allowed to ask (`Tokens:introspect`, checked by the route).
//!
//! The token is resolved exactly as a bearer token of this service is, through the same
//! caches (`Authenticator::authenticate`, `Authenticator::permissions_in`), so asking about a
//! token costs no more than one request made with it. A token this service would refuse as a
//! bearer token (unknown, malformed, expired, revoked, of an ended session, of a user who may
//! no longer log in, a refresh token, a login with a passkey alone where that is no longer
//! allowed) is inactive. So is a token of an organization the caller
//! does not act in, unless he is a platform administrator on an unbound token: the answer is
//! the same as for a token that does not exist, so nobody learns whether another
//! organization's token does. Asking is a read: it records no use of the token (the session's
//! last address would be the asking service's) and no audit event. A token that may only
//! enrol a second factor where it was issued is told apart: its scope is `mfa:enrol` and it
//! has no permissions there, as the other services must treat it.

use std::sync::Arc;

use crate::domain::{PermissionSet, SecretString};
use crate::error::ApiError;
use crate::security::Principal;
use crate::service::authz::Grant;
use crate::service::App;

/// A live token the caller may be told about.
#[derive(Debug, Clone)]
pub struct Described {
    /// Who the token acts as, and how.
    pub token: Arc<Principal>,
    /// What it may do in the organization it was issued for.
    pub permissions: Arc<PermissionSet>,
    /// It may there only see its user and enrol a second factor: its login was limited so,
    /// or the organization requires a factor its login did not pass.
    pub enrol_only: bool,
}

/// The token behind `secret`, if it is live and the caller may be told about it.
pub async fn introspect(
    app: &App,
    grant: &Grant,
    secret: &SecretString,
) -> Result<Option<Described>, ApiError> {
    let caller = grant.caller()?;
    let token = match app.auth.authenticate(secret.expose()).await {
        Ok(token) => token,
        Err(ApiError::InvalidToken) => return Ok(None),
        Err(e) => return Err(e),
    };
    let sees_every_organization = caller.bf_admin && !caller.bound;
    if !sees_every_organization
        && !grant
            .acting
            .iter()
            .any(|a| a.organization_id == token.organization_id)
    {
        return Ok(None);
    }
    // A token whose user is no longer a member where it was issued acts nowhere as issued.
    let Some(permissions) = app
        .auth
        .permissions_in(&token, &token.organization_id)
        .await?
    else {
        return Ok(None);
    };
    // Nor does a login with a passkey alone where that is no longer allowed.
    if token.passkey_alone() && !app.auth.policy(&token.organization_id).await?.passkey_login {
        return Ok(None);
    }
    let enrol_only = token.enrol_only()
        || (!token.second_factor_passed()
            && app
                .auth
                .second_factor_required(&token.organization_id)
                .await?);
    Ok(Some(Described {
        token,
        permissions,
        enrol_only,
    }))
}
