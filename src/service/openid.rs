//! Linking an OpenID Connect identity to a user: the invited user (by his invitation code) or
//! the caller (by his token). The ID token must be valid for a configured provider and carry
//! the user's e-mail, verified by the provider: that proof, not the code (which the inviter
//! knows), is what lets an invitation of a user who exists already be accepted here. Any failed
//! check is a 400 and uses nothing up; a wrong code is one generic 400, counted against the
//! client address. Every failed attempt, with a code or a token, counts against the client
//! address's link attempts.

use std::net::IpAddr;

use crate::domain::CodeKind;
use crate::domain::SecretString;
use crate::error::ApiError;
use crate::oidc::Identity;
use crate::security::limits::Limit;
use crate::security::secrets;
use crate::service::authz::Grant;
use crate::service::change::Change;
use crate::service::code_attempts::CodeAttempt;
use crate::service::invitations;
use crate::service::users::{self, Answer};
use crate::service::{conflict_on_unique, App};
use crate::store::{self, audit::AuditEvent, users::UserRow};

pub async fn link(
    app: &App,
    grant: &Grant,
    client: Option<IpAddr>,
    invite_code: Option<&SecretString>,
    id_token: Option<&SecretString>,
) -> Result<Answer, ApiError> {
    let invite_code = invite_code.filter(|c| !c.expose().trim().is_empty());
    // Every attempt is counted against the client address before anything is checked (a
    // verification may fetch a provider's keys); one with a code, against its code tries too.
    let linking = CodeAttempt::start_of(app, Limit::OpenIdLink, client).await?;
    let attempt = match invite_code {
        Some(_) => Some(CodeAttempt::start(app, client).await?),
        None => None,
    };
    let id_token = id_token
        .filter(|t| !t.expose().trim().is_empty())
        .ok_or_else(|| ApiError::missing("idToken"))?;
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
    let mut change = Change::begin_at(app, now).await?;
    let (user, organization_id) = match invite_code {
        Some(code) => {
            // Checked before the code, so that it says nothing about the code.
            verified(&identity)?;
            let wrong = || ApiError::invalid("inviteCode", invitations::WRONG_INVITE);
            let row =
                store::codes::find_by_digest(&mut change.tx, &secrets::code_digest(code.expose()))
                    .await?
                    .filter(|c| c.kind == CodeKind::Invite && c.is_usable(now));
            let invited = match row.as_ref().and_then(|r| r.user_id.as_deref()) {
                Some(user_id) => store::users::find_by_id(&mut change.tx, user_id).await?,
                None => None,
            };
            // A code of someone else's invitation is answered as a wrong one.
            let (Some(row), Some(_)) = (row, invited.filter(|u| same_email(&identity, u))) else {
                return Err(wrong());
            };
            let accepted = invitations::accept_invitation(&mut change, &row)
                .await
                .map_err(|e| match e {
                    ApiError::Validation { .. } => wrong(),
                    other => other,
                })?;
            let organization_id = row.organization_id.clone();
            (accepted, organization_id)
        }
        None => {
            let caller = grant.caller()?;
            let user = store::users::find_by_id(&mut change.tx, &caller.user_id)
                .await?
                .ok_or(ApiError::InvalidToken)?;
            matches(&identity, &user)?;
            (user, Some(caller.organization_id.clone()))
        }
    };
    store::identities::link(
        &mut change.tx,
        &identity.issuer,
        &identity.subject,
        &user.id,
        now,
    )
    .await
    .map_err(conflict_on_unique(
        "this OpenID identity is linked to a user already",
    ))?;
    change
        .audit(AuditEvent {
            actor_id: Some(&user.id),
            organization_id: organization_id.as_deref(),
            action: "identity.linked",
            target_id: Some(&user.id),
            subject_id: Some(&user.id),
            details: Some(
                serde_json::json!({ "issuer": identity.issuer, "subject": identity.subject }),
            ),
            ..Default::default()
        })
        .await?;
    change.forget_all();
    linking.succeeded(&mut change.tx).await?;
    if let Some(attempt) = attempt {
        attempt.succeeded(&mut change.tx).await?;
    }
    change.commit().await?;
    let organizations: Vec<String> = organization_id.into_iter().collect();
    let (user, roles) = users::with_roles(app, user, &organizations).await?;
    Ok(Answer { user, roles })
}

/// The provider must vouch for the user's own e-mail.
fn matches(identity: &Identity, user: &UserRow) -> Result<(), ApiError> {
    if !same_email(identity, user) {
        return Err(ApiError::invalid(
            "idToken",
            "the ID token's e-mail is not the user's",
        ));
    }
    verified(identity)
}

fn same_email(identity: &Identity, user: &UserRow) -> bool {
    identity
        .email
        .as_deref()
        .is_some_and(|e| e.trim().to_lowercase() == user.email_key)
}

fn verified(identity: &Identity) -> Result<(), ApiError> {
    if !identity.email_verified {
        return Err(ApiError::invalid(
            "idToken",
            "the ID token's e-mail is not verified by the provider",
        ));
    }
    Ok(())
}
