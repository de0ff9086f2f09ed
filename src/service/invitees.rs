//! The invitee's side of invitations: a user who is logged in sees the invitations made for
//! him, from any organization, and accepts or declines them. He sees of each only what he needs
//! to decide: which organization invites him, who did, and when; not its roles, nor anything
//! else of the organization.

use serde_json::json;

use crate::clock::Millis;
use crate::domain::InvitationEnd;
use crate::error::ApiError;
use crate::security::Principal;
use crate::service::authz::Grant;
use crate::service::change::Change;
use crate::service::invitations::accept_invitation;
use crate::service::users::{with_roles, Answer};
use crate::service::App;
use crate::store::codes::CodeRow;
use crate::store::{self, audit::AuditEvent};

/// An invitation as its invitee sees it.
pub struct InvitationForMe {
    pub id: String,
    pub organization_id: String,
    pub organization_name: String,
    /// The user who invited him, if he still exists.
    pub invited_by: Option<Inviter>,
    pub created: Millis,
    pub updated: Millis,
    pub expires: Millis,
}

pub struct Inviter {
    pub id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// The invitations the caller may still accept, oldest first.
pub async fn pending(app: &App, grant: &Grant) -> Result<Vec<InvitationForMe>, ApiError> {
    let caller = grant.caller()?;
    let now = app.clock.now();
    let mut conn = app.store.pool().acquire().await?;
    let rows = store::codes::pending_for(&mut conn, &caller.user_id, now).await?;
    let mut seen = Vec::with_capacity(rows.len());
    for row in rows
        .into_iter()
        .filter(|r| caller.reaches(r.organization_id.as_deref()))
    {
        let Some(organization_id) = row.organization_id.clone() else {
            continue;
        };
        let Some(organization) = store::organizations::find(&mut conn, &organization_id).await?
        else {
            continue;
        };
        let invited_by = match row.created_by.as_deref() {
            Some(by) => store::users::find_by_id(&mut conn, by)
                .await?
                .map(|u| Inviter {
                    id: u.id,
                    email: u.email,
                    first_name: u.first_name,
                    last_name: u.last_name,
                }),
            None => None,
        };
        seen.push(InvitationForMe {
            id: row.id,
            organization_id,
            organization_name: organization.name,
            invited_by,
            created: row.created,
            updated: row.updated,
            expires: row.expires,
        });
    }
    Ok(seen)
}

/// One of the caller's invitations that he may still accept; any other (someone else's, used,
/// expired, unknown, beyond a bound token's organization) is the same 404.
async fn pending_one(
    app: &App,
    caller: &Principal,
    id: &str,
    now: Millis,
) -> Result<CodeRow, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    store::codes::find_invitation_for(&mut conn, id.trim(), &caller.user_id)
        .await?
        .filter(|row| row.is_usable(now) && caller.reaches(row.organization_id.as_deref()))
        .ok_or_else(|| ApiError::NotFound(format!("no pending invitation {} for you", id.trim())))
}

/// The caller accepts an invitation made for him, as accepting with its code does: he joins
/// the organization with the invitation's roles (those still live). Answers him with his roles
/// there.
pub async fn accept(app: &App, grant: &Grant, id: &str) -> Result<Answer, ApiError> {
    let caller = grant.caller()?;
    let now = app.clock.now();
    let row = pending_one(app, caller, id, now).await?;
    let mut change = Change::begin_at(app, now).await?;
    let user = accept_invitation(&mut change, &row)
        .await
        .map_err(|e| match e {
            // Ended meanwhile.
            ApiError::Validation { .. } => {
                ApiError::NotFound(format!("no pending invitation {} for you", row.id))
            }
            other => other,
        })?;
    change.commit().await?;
    let joined: Vec<String> = row.organization_id.into_iter().collect();
    let (user, roles) = with_roles(app, user, &joined).await?;
    Ok(Answer { user, roles })
}

/// The caller declines an invitation made for him: its code stops working, and he stays as he
/// was.
pub async fn decline(app: &App, grant: &Grant, id: &str) -> Result<InvitationForMe, ApiError> {
    let caller = grant.caller()?;
    let now = app.clock.now();
    let row = pending_one(app, caller, id, now).await?;
    let by = Some(caller.user_id.as_str());
    let organization_id = row.organization_id.clone().unwrap_or_default();
    let mut change = Change::begin_at(app, now).await?;
    if !store::codes::end(&mut change.tx, &row.id, InvitationEnd::Declined, now, by).await? {
        return Err(ApiError::NotFound(format!(
            "no pending invitation {} for you",
            row.id
        )));
    }
    let organization = store::organizations::find(&mut change.tx, &organization_id).await?;
    change
        .audit(AuditEvent {
            actor_id: by,
            organization_id: Some(&organization_id),
            action: "invitation.declined",
            subject_id: by,
            target_id: Some(&row.id),
            details: Some(json!({ "invitation": row.id })),
            ..Default::default()
        })
        .await?;
    change.commit().await?;
    Ok(InvitationForMe {
        id: row.id,
        organization_id,
        organization_name: organization.map(|o| o.name).unwrap_or_default(),
        invited_by: None,
        created: row.created,
        updated: now,
        expires: row.expires,
    })
}
