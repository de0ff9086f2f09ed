//! Invitations: inviting an e-mail into an organization with roles, and accepting. An
//! invitation's code accepts it for the user it created (with a first password, see `reset`),
//! or with proof of who accepts: his own login, or an OpenID ID token of his e-mail (`openid`).
//! The code alone never changes an existing user's credentials: the inviter knows it.

use std::net::IpAddr;

use serde_json::json;

use crate::clock::Millis;
use crate::domain::{ids, CodeKind, SecretString};
use crate::error::ApiError;
use crate::mail::messages;
use crate::security::secrets;
use crate::service::authz::Grant;
use crate::service::change::Change;
use crate::service::code_attempts::CodeAttempt;
use crate::service::users::{
    new_user_row, required_email, target_organization, with_roles, Answer,
};
use crate::service::{conflict_on_unique, roles, App};
use crate::store::codes::CodeRow;
use crate::store::{self, audit::AuditEvent, roles::HeldRole, users::UserRow};

pub const DEFAULT_INVITE_HOURS: i64 = 72;
pub const MAX_INVITE_HOURS: i64 = 720;

const WRONG_CODE: &str = "the code is wrong, used or expired";
/// What every failed use of an invitation code is answered.
pub const WRONG_INVITE: &str = "the invitation code is wrong, used or expired";

/// An invitation as its inviter sees it: what he asked for, never the record of a user who
/// exists already (he may belong to organizations the inviter knows nothing of).
pub struct Invitation {
    pub id: String,
    pub organization_id: String,
    /// As the inviter typed it.
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub roles: Vec<HeldRole>,
    pub created: Millis,
    pub expires: Millis,
    pub created_by: String,
    /// Only with `sendEmail: false`, for the inviter to deliver himself.
    pub code: Option<SecretString>,
}

/// An invitation as the inviter asks for it. The e-mail and the hours stay raw: they are
/// checked after his right to invite into the organization.
#[derive(Debug)]
pub struct NewInvitation {
    pub email: Option<String>,
    /// Role IDs or names in the organization.
    pub roles: Vec<String>,
    /// By default the first acting organization.
    pub organization_id: Option<String>,
    /// Names trimmed; blank ones are none.
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Otherwise the code is answered, for the inviter to deliver himself.
    pub send_email: bool,
    /// By default [`DEFAULT_INVITE_HOURS`], at most [`MAX_INVITE_HOURS`].
    pub expires_in_hours: Option<i64>,
}

/// Invites an e-mail into an organization with roles. A user who exists already is added when
/// he accepts; otherwise one is created now, a member but not enabled until he accepts.
pub async fn invite(app: &App, grant: &Grant, req: NewInvitation) -> Result<Invitation, ApiError> {
    let caller = grant.caller()?;
    let organization_id = target_organization(grant, req.organization_id.as_deref())?.to_string();
    let acting = grant
        .require_in(app, &organization_id, "Users", "create")
        .await?;
    let email = required_email(req.email.as_deref(), "email")?;
    let hours = req.expires_in_hours.unwrap_or(DEFAULT_INVITE_HOURS);
    if !(1..=MAX_INVITE_HOURS).contains(&hours) {
        return Err(ApiError::invalid(
            "expiresInHours",
            format!("expiresInHours must be between 1 and {MAX_INVITE_HOURS}"),
        ));
    }
    let send_email = req.send_email;
    let first_name = req.first_name;
    let last_name = req.last_name;
    let now = app.clock.now();
    let by = Some(caller.user_id.as_str());
    let mut change = Change::begin_at(app, now).await?;
    let organization = store::organizations::find(&mut change.tx, &organization_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no organization {organization_id}")))?;
    let roles = roles::resolve_roles_for_grant(&mut change.tx, &acting, &req.roles).await?;
    if roles.is_empty() {
        roles::may_give_default(&mut change.tx, &acting).await?;
    }
    let (user, creates, created) =
        match store::users::find_by_email_key(&mut change.tx, email.key()).await? {
            Some(user) => {
                let waiting = !user.enabled && user.password_hash.is_none();
                if !waiting
                    && store::memberships::is_member(&mut change.tx, &user.id, &organization_id)
                        .await?
                {
                    return Err(ApiError::Conflict(format!(
                        "{} is a member of this organization already",
                        email.as_str()
                    )));
                }
                // Only the organization whose invitation created him renews that invitation; any
                // other invitation asks him to join, and he accepts it as himself.
                let creates = waiting
                    && user.organization_id == organization_id
                    && store::codes::invited_into_being(&mut change.tx, &user.id, &organization_id)
                        .await?;
                (user, creates, false)
            }
            None => {
                let mut user = new_user_row(&email, &organization_id, now, by);
                user.enabled = false;
                user.first_name = first_name.clone();
                user.last_name = last_name.clone();
                store::users::insert(&mut change.tx, &user)
                    .await
                    .map_err(conflict_on_unique("a user with that e-mail exists already"))?;
                store::memberships::add_member(&mut change.tx, &user.id, &organization_id, now, by)
                    .await?;
                (user, true, true)
            }
        };
    // A newer invitation into the organization replaces an older one not yet accepted.
    store::codes::retire_unused(
        &mut change.tx,
        &user.id,
        CodeKind::Invite,
        Some(&organization_id),
        now,
    )
    .await?;
    let code = secrets::new_code();
    let role_ids: Vec<&String> = roles.iter().map(|r| &r.id).collect();
    let code_id = ids::new_id(ids::CODE);
    let expires = now + hours * 3_600_000;
    store::codes::insert(
        &mut change.tx,
        &CodeRow {
            organization_id: Some(organization_id.clone()),
            role_ids: Some(json!(role_ids).to_string()),
            created_by: by.map(str::to_string),
            changed_by: by.map(str::to_string),
            enables_user: creates,
            email: Some(email.as_str().to_string()),
            ..CodeRow::new(
                code_id.clone(),
                CodeKind::Invite,
                code.digest.clone(),
                &user.id,
                now,
                expires,
            )
        },
    )
    .await?;
    if send_email {
        let mail =
            messages::invitation(&user.email, &organization.name, code.secret.expose(), hours);
        change.mail(&mail).await?;
    }
    change
        .audit(AuditEvent {
            actor_id: by,
            organization_id: Some(&organization_id),
            action: "user.invited",
            subject_id: Some(&user.id),
            target_id: Some(&user.id),
            details: Some(json!({
                "invitation": code_id,
                "roles": role_ids,
                "newUser": created,
                "expiresInHours": hours,
                "mailed": send_email,
            })),
            ..Default::default()
        })
        .await?;
    let mut held = Vec::with_capacity(roles.len());
    for role in roles {
        let permissions = store::roles::live_permissions(&mut change.tx, &role.id).await?;
        held.push(HeldRole {
            role,
            permissions,
            default_returned: false,
        });
    }
    change.commit().await?;
    Ok(Invitation {
        id: code_id,
        organization_id,
        email: email.as_str().to_string(),
        first_name,
        last_name,
        roles: held,
        created: now,
        expires,
        created_by: caller.user_id.clone(),
        code: (!send_email).then_some(code.secret),
    })
}

/// Whether an invitation stands for its user's creation: it created him (or renewed, from the
/// same organization, the one that did) and he has neither a password nor been enabled since.
/// Only such an invitation may set his password and enable him: an invitation of anyone else
/// is a request to join, which he accepts as himself.
pub fn creates(code: &CodeRow, user: &UserRow) -> bool {
    code.kind == CodeKind::Invite
        && code.enables_user
        && code.is_for(&user.id)
        && !user.enabled
        && user.password_hash.is_none()
        && code.organization_id.as_deref() == Some(user.organization_id.as_str())
}

/// Accepts an invitation (its code row, found by the digest of the code the person typed):
/// makes the user a member of the organization with the invitation's roles (those still live),
/// enables him if the invitation [`creates`] him, and uses the code up. Run it in the
/// change that also does whatever accepting comes with (setting a password, linking an
/// identity). A code that is not a usable invitation: 400.
pub async fn accept_invitation(
    change: &mut Change<'_>,
    code: &CodeRow,
) -> Result<UserRow, ApiError> {
    let now = change.now();
    // Memberships and roles change: every cached resolution is stale.
    change.forget_all();
    let conn = &mut *change.tx;
    let wrong = || ApiError::invalid("code", WRONG_CODE);
    if code.kind != CodeKind::Invite || !code.is_usable(now) {
        return Err(wrong());
    }
    let organization_id = code.organization_id.clone().ok_or_else(wrong)?;
    let user_id = code.user_id.as_deref().ok_or_else(wrong)?;
    let mut user = store::users::find_by_id(conn, user_id)
        .await?
        .ok_or_else(wrong)?;
    let enables = creates(code, &user);
    let by = Some(user_id);
    if !store::codes::accept(conn, &code.id, now, by).await? {
        return Err(wrong());
    }
    if !store::memberships::is_member(conn, user_id, &organization_id).await? {
        store::memberships::add_member(conn, user_id, &organization_id, now, by).await?;
    }
    let mut given = Vec::new();
    for role_id in code.role_ids() {
        let organizations = [organization_id.clone()];
        if let Some(role) = store::roles::find(conn, &organizations, &role_id, false).await? {
            store::memberships::give_role(conn, user_id, &role.id, &organization_id, now, by)
                .await?;
            given.push(role.id);
        }
    }
    if enables {
        user.enabled = true;
        user.updated = now;
        user.changed_by = Some(user.id.clone());
        store::users::save(conn, &user).await?;
    }
    change
        .audit(AuditEvent {
            actor_id: Some(&user.id),
            organization_id: Some(&organization_id),
            action: "invitation.accepted",
            target_id: Some(&user.id),
            subject_id: Some(&user.id),
            details: Some(json!({ "invitation": code.id, "roles": given })),
            ..Default::default()
        })
        .await?;
    Ok(user)
}

/// The caller accepts an invitation made for him: how a user who exists already joins an
/// organization (besides proving his e-mail with an OpenID ID token). The code alone never
/// does it, since the inviter knows it. Any failure is one 400, counted against the client
/// address. Answers him with his roles in the organization he joined.
pub async fn accept(
    app: &App,
    grant: &Grant,
    client: Option<IpAddr>,
    invite_code: Option<&SecretString>,
) -> Result<Answer, ApiError> {
    let caller = grant.caller()?;
    let code = invite_code
        .filter(|c| !c.expose().trim().is_empty())
        .ok_or_else(|| ApiError::missing("inviteCode"))?;
    let attempt = CodeAttempt::start(app, client).await?;
    let wrong = || ApiError::invalid("inviteCode", WRONG_INVITE);
    let digest = secrets::code_digest(code.expose());
    let now = app.clock.now();
    let mut conn = app.store.pool().acquire().await?;
    let row = store::codes::find_by_digest(&mut conn, &digest)
        .await?
        .filter(|c| c.kind == CodeKind::Invite && c.is_for(&caller.user_id) && c.is_usable(now));
    drop(conn);
    let Some(row) = row else {
        return Err(wrong());
    };
    let mut change = Change::begin_at(app, now).await?;
    let user = accept_invitation(&mut change, &row)
        .await
        .map_err(|e| match e {
            ApiError::Validation { .. } => wrong(),
            other => other,
        })?;
    attempt.succeeded(&mut change.tx).await?;
    change.commit().await?;
    let joined: Vec<String> = row.organization_id.into_iter().collect();
    let (user, roles) = with_roles(app, user, &joined).await?;
    Ok(Answer { user, roles })
}
