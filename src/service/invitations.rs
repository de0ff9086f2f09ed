//! Invitations: inviting an e-mail into an organization with roles, and accepting. An
//! invitation's code accepts it for the user it created (with a first password, see `reset`),
//! or with proof of who accepts: his own login, or an OpenID ID token of his e-mail (`openid`).
//! The code alone never changes an existing user's credentials: the inviter knows it.

use std::net::IpAddr;

use serde_json::json;

use crate::clock::Millis;
use crate::domain::{ids, CodeKind, InvitationEnd, InvitationState, SecretString};
use crate::error::ApiError;
use crate::mail::messages;
use crate::security::limits::Limit;
use crate::security::secrets;
use crate::service::authz::Grant;
use crate::service::change::Change;
use crate::service::code_attempts::CodeAttempt;
use crate::service::users::{
    new_user_row, required_email, target_organization, with_roles, Answer,
};
use crate::service::{conflict_on_unique, roles, App};
use crate::store::codes::{CodeRow, InvitationOrder};
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
        let how = messages::Acceptance {
            invitation_id: &code_id,
            new_login: creates,
            openid: !app.settings.oidc.providers.is_empty(),
        };
        let mail = messages::invitation(
            &user.email,
            &organization.name,
            code.secret.expose(),
            hours,
            how,
        );
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
        .filter(|c| c.kind == CodeKind::Invite && c.is_for(&caller.user_id) && c.is_usable(now))
        .filter(|c| caller.reaches(c.organization_id.as_deref()));
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

// ---- the inviting organization's invitations ----------------------------------------------------

/// How an organization's invitations are listed.
#[derive(Debug, Clone)]
pub struct InvitationQuery {
    /// Only these states; all when empty.
    pub states: Vec<InvitationState>,
    pub order: InvitationOrder,
    pub descending: bool,
    pub offset: i64,
    pub records: i64,
}

/// A page of the acting organizations' invitations, with where each stands now, and whether
/// more follow. The rule (`Invitations:read` in each) was checked before.
pub async fn list(
    app: &App,
    grant: &Grant,
    query: &InvitationQuery,
) -> Result<(Vec<(CodeRow, InvitationState)>, bool), ApiError> {
    let now = app.clock.now();
    let mut conn = app.store.pool().acquire().await?;
    let (rows, more) = store::codes::page_of_invitations(
        &mut conn,
        &grant.organization_ids(),
        &query.states,
        now,
        query.order,
        query.descending,
        query.offset,
        query.records,
    )
    .await?;
    Ok((
        rows.into_iter()
            .map(|r| {
                let state = r.state(now);
                (r, state)
            })
            .collect(),
        more,
    ))
}

/// One of the acting organizations' invitations; any other is a 404 (its existence is not
/// revealed).
async fn find_acting(app: &App, grant: &Grant, id: &str) -> Result<CodeRow, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    store::codes::find_invitation(&mut conn, id.trim(), &grant.organization_ids())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no invitation {}", id.trim())))
}

/// 409 unless the invitation has not ended (pending, or expired and so still renewable).
fn not_ended(row: &CodeRow, now: Millis) -> Result<(), ApiError> {
    match row.state(now) {
        InvitationState::Pending | InvitationState::Expired => Ok(()),
        ended => Err(ApiError::Conflict(format!(
            "the invitation was {}; invite again instead",
            ended.as_str()
        ))),
    }
}

/// Mails an invitation again with a new code; the old code stops working at once. Its life
/// starts again, as long as it was first given. Resending hands its roles out anew (an
/// expired invitation comes back to life), so the caller must be able to give them, as when
/// inviting; the code is never answered, only mailed to the invitee. Limited per invitation.
pub async fn resend(app: &App, grant: &Grant, id: &str) -> Result<CodeRow, ApiError> {
    let caller = grant.caller()?;
    let row = find_acting(app, grant, id).await?;
    let now = app.clock.now();
    not_ended(&row, now)?;
    let organization_id = row.organization_id.clone().unwrap_or_default();
    let acting = grant
        .acting
        .iter()
        .find(|a| a.organization_id == organization_id)
        .ok_or_else(|| ApiError::NotFound(format!("no invitation {}", row.id)))?;
    let user_id = row
        .user_id
        .clone()
        .ok_or_else(|| ApiError::Conflict("the invitation was revoked".into()))?;
    {
        let mut conn = app.store.pool().acquire().await?;
        let organizations = [organization_id.clone()];
        let mut live = Vec::new();
        for role_id in row.role_ids() {
            if store::roles::find(&mut conn, &organizations, &role_id, false)
                .await?
                .is_some()
            {
                live.push(role_id);
            }
        }
        roles::resolve_roles_for_grant(&mut conn, acting, &live).await?;
        if live.is_empty() {
            roles::may_give_default(&mut conn, acting).await?;
        }
    }
    app.limits
        .count(Limit::InvitationResend, &row.id, now)
        .await?;
    let lifetime = (row.expires - row.sent).clamp(3_600_000, MAX_INVITE_HOURS * 3_600_000);
    let hours = (lifetime + 3_599_999) / 3_600_000;
    let expires = now + lifetime;
    let code = secrets::new_code();
    let by = Some(caller.user_id.as_str());
    let mut change = Change::begin_at(app, now).await?;
    let user = store::users::find_by_id(&mut change.tx, &user_id)
        .await?
        .ok_or_else(|| ApiError::Conflict("the invitation was revoked".into()))?;
    let organization = store::organizations::find(&mut change.tx, &organization_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no invitation {}", row.id)))?;
    if !store::codes::renew(&mut change.tx, &row.id, &code.digest, expires, now, by).await? {
        return Err(ApiError::Conflict(
            "the invitation ended meanwhile; invite again instead".into(),
        ));
    }
    let how = messages::Acceptance {
        invitation_id: &row.id,
        new_login: creates(&row, &user),
        openid: !app.settings.oidc.providers.is_empty(),
    };
    let mail = messages::invitation_resent(
        &user.email,
        &organization.name,
        code.secret.expose(),
        hours,
        how,
    );
    change.mail(&mail).await?;
    change
        .audit(AuditEvent {
            actor_id: by,
            organization_id: Some(&organization_id),
            action: "invitation.resent",
            subject_id: Some(&user_id),
            target_id: Some(&row.id),
            details: Some(json!({ "invitation": row.id, "expiresInHours": hours })),
            ..Default::default()
        })
        .await?;
    change.commit().await?;
    let mut conn = app.store.pool().acquire().await?;
    store::codes::find_invitation(&mut conn, &row.id, &[organization_id])
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no invitation {}", row.id)))
}

/// Revokes an invitation not yet ended: its code stops working. A user the invitation created
/// who never used his account (no password, never enabled, no identity), belongs to no other
/// organization and awaits no other invitation is retired with it: nothing of him stays but
/// the revoked invitation and the audit trail, and his e-mail is free again. Nobody else is
/// touched.
pub async fn revoke(app: &App, grant: &Grant, id: &str) -> Result<(CodeRow, bool), ApiError> {
    let caller = grant.caller()?;
    let row = find_acting(app, grant, id).await?;
    let now = app.clock.now();
    not_ended(&row, now)?;
    let organization_id = row.organization_id.clone().unwrap_or_default();
    let by = Some(caller.user_id.as_str());
    let mut change = Change::begin_at(app, now).await?;
    if !store::codes::end(&mut change.tx, &row.id, InvitationEnd::Revoked, now, by).await? {
        return Err(ApiError::Conflict("the invitation ended meanwhile".into()));
    }
    let mut retired = false;
    if let Some(user_id) = row.user_id.as_deref() {
        if let Some(user) = store::users::find_by_id(&mut change.tx, user_id).await? {
            if creates(&row, &user)
                && store::memberships::count_of_user(&mut change.tx, user_id).await? <= 1
                && !store::identities::any_of(&mut change.tx, user_id).await?
                && !store::tokens::any_of(&mut change.tx, user_id).await?
                && !store::codes::invited_elsewhere(&mut change.tx, user_id, &organization_id)
                    .await?
            {
                store::codes::forget_user(&mut change.tx, user_id).await?;
                store::memberships::remove_everywhere(&mut change.tx, user_id).await?;
                store::users::delete(&mut change.tx, user_id).await?;
                change.forget_all();
                retired = true;
            }
        }
    }
    change
        .audit(AuditEvent {
            actor_id: by,
            organization_id: Some(&organization_id),
            action: "invitation.revoked",
            subject_id: row.user_id.as_deref(),
            target_id: Some(&row.id),
            details: Some(json!({ "invitation": row.id, "userRetired": retired })),
            ..Default::default()
        })
        .await?;
    change.commit().await?;
    let mut conn = app.store.pool().acquire().await?;
    let row = store::codes::find_invitation(&mut conn, &row.id, &[organization_id])
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no invitation {}", row.id)))?;
    Ok((row, retired))
}
