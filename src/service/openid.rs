//! Linking an OpenID Connect identity to a user: the invited user (by his invitation code) or
//! the caller (by his token). The ID token must be valid for a configured provider and carry
//! the user's e-mail, verified by the provider. Any failed check is a 400 and uses nothing up.

use crate::domain::SecretString;
use crate::error::ApiError;
use crate::oidc::Identity;
use crate::security::secrets;
use crate::service::authz::Grant;
use crate::service::users::{self, Answer};
use crate::service::{conflict_on_unique, App};
use crate::store::codes::CodeKind;
use crate::store::{self, audit::AuditEvent, users::UserRow};

const WRONG_INVITE: &str = "the invitation code is wrong, used or expired";

pub async fn link(
    app: &App,
    grant: &Grant,
    invite_code: Option<&SecretString>,
    id_token: Option<&SecretString>,
) -> Result<Answer, ApiError> {
    let id_token = id_token
        .filter(|t| !t.expose().trim().is_empty())
        .ok_or_else(|| ApiError::missing("idToken"))?;
    let invite_code = invite_code.filter(|c| !c.expose().trim().is_empty());
    if invite_code.is_none() && grant.caller.is_none() {
        return Err(ApiError::invalid(
            "inviteCode",
            "inviteCode is required without a bearer token",
        ));
    }
    let identity = app
        .oidc
        .verify(id_token.expose())
        .await
        .map_err(|e| ApiError::invalid("idToken", e.to_string()))?;
    let now = app.clock.now();
    let mut tx = app.store.write().await?;
    let (user, organization_id) = match invite_code {
        Some(code) => {
            let wrong = || ApiError::invalid("inviteCode", WRONG_INVITE);
            let row = store::codes::find_by_digest(&mut tx, &secrets::code_digest(code.expose()))
                .await?
                .filter(|c| c.kind == CodeKind::Invite.as_str() && c.is_usable(now))
                .ok_or_else(wrong)?;
            let invited = store::users::find_by_id(&mut tx, &row.user_id)
                .await?
                .ok_or_else(wrong)?;
            matches(&identity, &invited)?;
            let accepted = users::accept_invitation(&mut tx, &row, now).await?;
            let organization_id = row.organization_id.clone();
            (accepted, organization_id)
        }
        None => {
            let caller = grant.caller()?;
            let user = store::users::find_by_id(&mut tx, &caller.user_id)
                .await?
                .ok_or_else(|| {
                    ApiError::Unauthorized("invalid, expired or revoked token".into())
                })?;
            matches(&identity, &user)?;
            (user, Some(caller.organization_id.clone()))
        }
    };
    store::identities::link(&mut tx, &identity.issuer, &identity.subject, &user.id, now)
        .await
        .map_err(conflict_on_unique(
            "this OpenID identity is linked to a user already",
        ))?;
    store::audit::record(
        &mut tx,
        now,
        &AuditEvent {
            actor_id: Some(&user.id),
            organization_id: organization_id.as_deref(),
            action: "identity.linked",
            target_id: Some(&user.id),
            details: Some(serde_json::json!({ "issuer": identity.issuer })),
        },
    )
    .await?;
    tx.commit().await?;
    app.auth.forget_all();
    let organizations: Vec<String> = organization_id.into_iter().collect();
    let (user, roles) = users::with_roles(app, user, &organizations).await?;
    Ok(Answer {
        user,
        roles,
        invite_code: None,
    })
}

/// The provider must vouch for the user's own e-mail.
fn matches(identity: &Identity, user: &UserRow) -> Result<(), ApiError> {
    let same = identity
        .email
        .as_deref()
        .is_some_and(|e| e.trim().to_lowercase() == user.email_key);
    if !same {
        return Err(ApiError::invalid(
            "idToken",
            "the ID token's e-mail is not the user's",
        ));
    }
    if !identity.email_verified {
        return Err(ApiError::invalid(
            "idToken",
            "the ID token's e-mail is not verified by the provider",
        ));
    }
    Ok(())
}
