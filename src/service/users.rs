//! Users: as callers see them, and managing them (sign-up, creation, invitation, listing,
//! look-up, changes to names, standing, roles, e-mail and password).

use std::net::IpAddr;

use serde_json::json;

use crate::clock::Millis;
use crate::domain::{ids, Email, NewPassword, SecretString, Timezone};
use crate::domain::{CodeKind, TokenKind};
use crate::error::ApiError;
use crate::mail::messages;
use crate::security::authenticator::UserView;
use crate::security::hashing::Verdict;
use crate::security::limits::Limit;
use crate::security::{secrets, Principal};
use crate::service::authz::{self, Grant, Reach, Subject};
use crate::service::change::Change;
use crate::service::{conflict_on_unique, organizations, roles, App};
use crate::store::codes::CodeRow;
use crate::store::memberships::MemberOrder;
use crate::store::{
    self, audit::AuditEvent, organizations::OrganizationRow, roles::HeldRole, users::UserRow,
};
use std::sync::Arc;

/// A user with his live roles in those of the given organizations he is a member of.
pub async fn with_roles(
    app: &App,
    user: UserRow,
    organizations: &[String],
) -> Result<(UserRow, Vec<HeldRole>), ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    let ids = [user.id.clone()];
    let roles = store::memberships::roles_of_users(&mut conn, &ids, organizations)
        .await?
        .remove(&user.id)
        .unwrap_or_default();
    Ok((user, roles))
}

/// The caller himself with his roles in the acting organizations. Served from the node's
/// memory for at most the token cache's TTL; every change to a user forgets it.
pub async fn current(
    app: &App,
    caller: &Principal,
    organizations: &[String],
) -> Result<Arc<UserView>, ApiError> {
    app.auth
        .user_view(&caller.user_id, organizations)
        .await?
        .ok_or(ApiError::InvalidToken)
}

pub async fn organizations_of(
    app: &App,
    caller: &Principal,
) -> Result<Vec<OrganizationRow>, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    Ok(store::memberships::of_member(&mut conn, &caller.user_id).await?)
}

// ---- user management ----------------------------------------------------------------------

/// How long the code mailed to a user created without a password stays good.
pub const SET_PASSWORD_HOURS: i64 = 72;

/// A new user, for sign-up or creation, as the request gives him. The e-mail, password and
/// time zone stay raw: they are parsed after the caller's right to create is checked.
#[derive(Debug, Default)]
pub struct NewUser {
    pub email: Option<String>,
    pub password: Option<SecretString>,
    /// Names trimmed; blank ones are none.
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company_name: Option<String>,
    pub timezone: Option<String>,
    /// The organization to create him in; by default the first acting one.
    pub organization_id: Option<String>,
    /// Role IDs or names in that organization.
    pub roles: Vec<String>,
    /// Mails him a code to set his password when none is given.
    pub send_email: bool,
}

/// Changes to a user's names, time zone, standing and roles: each field present is changed.
/// The time zone stays raw: it is parsed after the caller's right to change is checked.
#[derive(Debug, Default)]
pub struct ProfileChange {
    /// `Some(None)` clears a name (given blank).
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub company_name: Option<Option<String>>,
    /// Blank clears it.
    pub timezone: Option<String>,
    pub enabled: Option<bool>,
    /// The whole new set in the first acting organization.
    pub roles: Option<Vec<String>>,
}

/// A new login e-mail, with the user's password when he changes his own.
#[derive(Debug, Default)]
pub struct EmailChange {
    pub new_email: Option<String>,
    pub password: Option<SecretString>,
}

/// A new password, with the current one when the user changes his own.
#[derive(Debug, Default)]
pub struct PasswordChange {
    pub current_password: Option<SecretString>,
    pub new_password: Option<SecretString>,
}

/// A user as an operation answers him: with his roles in the acting organizations.
pub struct Answer {
    pub user: UserRow,
    pub roles: Vec<HeldRole>,
}

fn timezone(value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => Ok(Some(Timezone::parse(v, "timezone")?.as_str().to_string())),
    }
}

pub(super) fn required_email(value: Option<&str>, field: &str) -> Result<Email, ApiError> {
    Email::parse(value.unwrap_or(""), field)
}

pub(super) fn new_user_row(
    email: &Email,
    organization_id: &str,
    now: Millis,
    by: Option<&str>,
) -> UserRow {
    UserRow {
        id: ids::new_id(ids::USER),
        organization_id: organization_id.to_string(),
        email: email.as_str().into(),
        email_key: email.key().into(),
        first_name: None,
        last_name: None,
        company_name: None,
        timezone: None,
        enabled: true,
        account_non_locked: true,
        account_non_expired: true,
        credentials_non_expired: true,
        bf_admin: false,
        password_hash: None,
        password_reset_valid_till: None,
        created: now,
        updated: now,
        changed_by: by.map(str::to_string),
    }
}

/// The organization a body names, else the first one the request acts in.
pub(super) fn target_organization<'a>(
    grant: &'a Grant,
    named: Option<&'a str>,
) -> Result<&'a str, ApiError> {
    match named.map(str::trim).filter(|o| !o.is_empty()) {
        Some(o) => Ok(o),
        None => grant
            .home()
            .map(|a| a.organization_id.as_str())
            .ok_or_else(|| ApiError::missing("organizationID")),
    }
}

/// Sign-up: a new organization with its `Administrator` role, and the user as its first
/// member holding it. Anonymous callers only when open sign-up is on, rate-limited per client
/// address.
pub async fn sign_up(
    app: &App,
    grant: &Grant,
    client: Option<IpAddr>,
    req: NewUser,
) -> Result<Answer, ApiError> {
    let now = app.clock.now();
    let anonymous = match &grant.caller {
        None if !app.settings.signup.open => {
            return Err(ApiError::Unauthorized(
                "a bearer token is required: open sign-up is off".into(),
            ))
        }
        None => {
            let key = client.map(|ip| ip.to_string()).unwrap_or_default();
            Some(app.limits.reserve(Limit::Signup, &key, now).await?)
        }
        Some(caller) => {
            let allowed = caller.bf_admin
                || grant
                    .home()
                    .is_some_and(|a| a.permissions.allows("Organizations", "create"));
            if !allowed {
                return Err(ApiError::Forbidden(
                    "this needs the permission Organizations:create".into(),
                ));
            }
            None
        }
    };
    let email = required_email(req.email.as_deref(), "email")?;
    let password = req
        .password
        .as_ref()
        .ok_or_else(|| ApiError::missing("password"))?;
    let password = NewPassword::parse(
        password,
        "password",
        &app.settings.password.policy(),
        &email,
    )?;
    let tz = timezone(req.timezone.as_deref())?;
    let company = req.company_name;
    let organization_name = company
        .clone()
        .unwrap_or_else(|| email.domain().to_string());
    let hash = match app.hasher.hash(password.secret()).await {
        Ok(hash) => hash,
        Err(e) => {
            // Refused before any work (the hashing queue full): the address may try again.
            if let Some(attempt) = anonymous {
                app.limits.give_back_now(attempt).await?;
            }
            return Err(e);
        }
    };
    let by = grant.caller.as_ref().map(|c| c.user_id.clone());
    let mut change = Change::begin_at(app, now).await?;
    let (org, role) = organizations::create_with_admin_role(
        &mut change.tx,
        &organization_name,
        now,
        by.as_deref(),
    )
    .await?;
    let mut user = new_user_row(&email, &org.id, now, by.as_deref());
    user.first_name = req.first_name;
    user.last_name = req.last_name;
    user.company_name = company;
    user.timezone = tz;
    user.password_hash = Some(hash);
    store::users::insert(&mut change.tx, &user)
        .await
        .map_err(conflict_on_unique("a user with that e-mail exists already"))?;
    store::memberships::add_member(&mut change.tx, &user.id, &org.id, now, by.as_deref()).await?;
    store::memberships::give_role(
        &mut change.tx,
        &user.id,
        &role.id,
        &org.id,
        now,
        by.as_deref(),
    )
    .await?;
    change
        .audit(AuditEvent {
            actor_id: by.as_deref(),
            organization_id: Some(&org.id),
            action: "user.signed_up",
            subject_id: Some(&user.id),
            target_id: Some(&user.id),
            details: Some(
                json!({ "organizationName": org.name, "customerCode": org.customer_code }),
            ),
            ..Default::default()
        })
        .await?;
    change.commit().await?;
    let mut conn = app.store.pool().acquire().await?;
    let roles = store::roles::held_roles(&mut conn, &user.id, &org.id).await?;
    Ok(Answer { user, roles })
}

/// Creates a user in an organization with the named roles. Without a password he cannot log
/// in until he sets one with a code, which `sendEmail` mails him.
pub async fn create(app: &App, grant: &Grant, req: NewUser) -> Result<Answer, ApiError> {
    let caller = grant.caller()?;
    let organization_id = target_organization(grant, req.organization_id.as_deref())?.to_string();
    let acting = grant
        .require_in(app, &organization_id, "Users", "create")
        .await?;
    let email = required_email(req.email.as_deref(), "email")?;
    let password = req
        .password
        .as_ref()
        .map(|p| NewPassword::parse(p, "password", &app.settings.password.policy(), &email))
        .transpose()?;
    let tz = timezone(req.timezone.as_deref())?;
    let hash = match &password {
        Some(p) => Some(app.hasher.hash(p.secret()).await?),
        None => None,
    };
    let now = app.clock.now();
    let by = Some(caller.user_id.as_str());
    let mut change = Change::begin_at(app, now).await?;
    if store::organizations::find(&mut change.tx, &organization_id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound(format!(
            "no organization {organization_id}"
        )));
    }
    let roles = roles::resolve_roles_for_grant(&mut change.tx, &acting, &req.roles).await?;
    if roles.is_empty() {
        roles::may_give_default(&mut change.tx, &acting).await?;
    }
    let mut user = new_user_row(&email, &organization_id, now, by);
    user.first_name = req.first_name;
    user.last_name = req.last_name;
    user.company_name = req.company_name;
    user.timezone = tz;
    user.password_hash = hash;
    let code = (user.password_hash.is_none() && req.send_email).then(secrets::new_code);
    if code.is_some() {
        user.password_reset_valid_till = Some(now + SET_PASSWORD_HOURS * 3_600_000);
    }
    store::users::insert(&mut change.tx, &user)
        .await
        .map_err(conflict_on_unique("a user with that e-mail exists already"))?;
    store::memberships::add_member(&mut change.tx, &user.id, &organization_id, now, by).await?;
    for role in &roles {
        store::memberships::give_role(
            &mut change.tx,
            &user.id,
            &role.id,
            &organization_id,
            now,
            by,
        )
        .await?;
    }
    if let Some(code) = &code {
        store::codes::insert(
            &mut change.tx,
            &CodeRow {
                organization_id: Some(organization_id.clone()),
                created_by: by.map(str::to_string),
                changed_by: by.map(str::to_string),
                ..CodeRow::new(
                    ids::new_id(ids::CODE),
                    CodeKind::Reset,
                    code.digest.clone(),
                    &user.id,
                    now,
                    now + SET_PASSWORD_HOURS * 3_600_000,
                )
            },
        )
        .await?;
        let mail = messages::set_password(&user.email, code.secret.expose(), SET_PASSWORD_HOURS);
        change.mail(&mail).await?;
    }
    change
        .audit(AuditEvent {
            actor_id: by,
            organization_id: Some(&organization_id),
            action: "user.created",
            subject_id: Some(&user.id),
            target_id: Some(&user.id),
            details: Some(json!({
                "roles": roles.iter().map(|r| &r.id).collect::<Vec<_>>(),
                "withPassword": user.password_hash.is_some(),
                "mailed": code.is_some(),
            })),
            ..Default::default()
        })
        .await?;
    change.commit().await?;
    answer(app, grant, user).await
}

/// The user with his roles in the acting organizations.
async fn answer(app: &App, grant: &Grant, user: UserRow) -> Result<Answer, ApiError> {
    let (user, roles) = with_roles(app, user, &grant.organization_ids()).await?;
    Ok(Answer { user, roles })
}

/// A page of the members of the acting organizations, each with his roles there.
pub async fn list(
    app: &App,
    grant: &Grant,
    order: MemberOrder,
    descending: bool,
    offset: i64,
    records: i64,
) -> Result<(Vec<(UserRow, Vec<HeldRole>)>, bool), ApiError> {
    let organizations = grant.organization_ids();
    let mut conn = app.store.pool().acquire().await?;
    let (users, more) = app
        .member_anchors
        .page(
            &mut conn,
            &organizations,
            order,
            descending,
            offset,
            records,
        )
        .await?;
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let mut roles = store::memberships::roles_of_users(&mut conn, &ids, &organizations).await?;
    let page = users
        .into_iter()
        .map(|u| {
            let held = roles.remove(&u.id).unwrap_or_default();
            (u, held)
        })
        .collect();
    Ok((page, more))
}

/// The user a path names, if the caller may see him: himself, or (with the rule's permission)
/// a member of an acting organization. Anyone else is a 404, whether he exists or not.
pub(super) async fn visible(
    app: &App,
    grant: &Grant,
    raw_email: &str,
) -> Result<UserRow, ApiError> {
    let caller = grant.caller()?;
    let email = Email::parse(raw_email, "email")?;
    let not_found = || ApiError::NotFound(format!("no user {}", email.as_str()));
    let is_self = email.key() == caller.email.to_lowercase();
    if grant.reach == Reach::SelfOnly && !is_self {
        return Err(not_found());
    }
    let mut conn = app.store.pool().acquire().await?;
    let (user, shares) =
        store::users::find_by_email_key_among(&mut conn, email.key(), &grant.organization_ids())
            .await?
            .ok_or_else(not_found)?;
    if user.id == caller.user_id || shares {
        return Ok(user);
    }
    Err(not_found())
}

pub async fn by_email(app: &App, grant: &Grant, raw_email: &str) -> Result<Answer, ApiError> {
    let user = visible(app, grant, raw_email).await?;
    answer(app, grant, user).await
}

/// For changes: the caller himself, or with `Users:update` a member of an acting organization
/// whom the caller outranks everywhere (see [`authz::act_on`]). Without the permission,
/// another user is a 403 (said without looking him up).
async fn changeable(app: &App, grant: &Grant, raw_email: &str) -> Result<Subject, ApiError> {
    let caller = grant.caller()?;
    let email = Email::parse(raw_email, "email")?;
    if grant.reach == Reach::SelfOnly && email.key() != caller.email.to_lowercase() {
        return Err(ApiError::Forbidden(
            "this needs the permission Users:update".into(),
        ));
    }
    let user = visible(app, grant, raw_email).await?;
    authz::act_on(app, grant, user, "Users", "update").await
}

/// One's own e-mail or password is changed only with one's current password (given as
/// `field`), even by an administrator: a stolen token alone must not take over the login.
async fn check_own_password(
    app: &App,
    subject: &Subject,
    given: Option<&SecretString>,
    field: &str,
) -> Result<(), ApiError> {
    if !subject.is_self() {
        return Ok(());
    }
    let given = given
        .filter(|p| !p.expose().is_empty())
        .ok_or_else(|| ApiError::missing(field))?;
    match app
        .hasher
        .verify(subject.user().password_hash.as_deref(), given)
        .await?
    {
        Verdict::Match { .. } => Ok(()),
        _ => Err(ApiError::invalid(field, format!("{field} is wrong"))),
    }
}

/// What of a user an update may change, as its audit event shows it before and after.
pub(super) fn profile(user: &UserRow) -> serde_json::Value {
    json!({
        "firstName": user.first_name,
        "lastName": user.last_name,
        "companyName": user.company_name,
        "timezone": user.timezone,
        "enabled": user.enabled,
    })
}

/// Changes the fields present: names and time zone (self, or `Users:update`), `enabled` and
/// `roles` (`Users:update`, never on oneself). Disabling ends all his tokens at once; `roles`
/// replaces his roles in the first acting organization.
pub async fn update_infos(
    app: &App,
    grant: &Grant,
    raw_email: &str,
    req: ProfileChange,
) -> Result<Answer, ApiError> {
    let caller = grant.caller()?;
    let mut subject = changeable(app, grant, raw_email).await?;
    if (req.enabled.is_some() || req.roles.is_some()) && subject.is_self() {
        return Err(ApiError::Forbidden(
            "you may not change your own roles or enabled".into(),
        ));
    }
    let before = profile(subject.user());
    let user = subject.user_mut();
    let tz = match &req.timezone {
        Some(t) => Some(timezone(Some(t))?),
        None => None,
    };
    let now = app.clock.now();
    let by = Some(caller.user_id.as_str());
    let mut changed: Vec<&str> = Vec::new();
    let mut set =
        |field: &'static str, slot: &mut Option<String>, value: Option<Option<String>>| {
            if let Some(v) = value {
                *slot = v;
                changed.push(field);
            }
        };
    set("firstName", &mut user.first_name, req.first_name);
    set("lastName", &mut user.last_name, req.last_name);
    set("companyName", &mut user.company_name, req.company_name);
    if let Some(tz) = tz {
        user.timezone = tz;
        changed.push("timezone");
    }
    let mut change = Change::begin_at(app, now).await?;
    let mut revoked = Vec::new();
    if let Some(enabled) = req.enabled {
        if enabled != user.enabled {
            user.enabled = enabled;
            if !enabled {
                (_, revoked) = end_every_token(app, &mut change, &user.id).await?;
            }
        }
        changed.push("enabled");
    }
    let mut given_roles = None;
    let mut roles_before = None;
    if let Some(keys) = &req.roles {
        let acting = grant
            .home()
            .ok_or_else(|| ApiError::missing("organizations"))?;
        if !store::memberships::is_member(&mut change.tx, &user.id, &acting.organization_id).await?
        {
            return Err(ApiError::NotFound(format!(
                "{} is not a member of organization {}",
                user.email, acting.organization_id
            )));
        }
        let roles = roles::resolve_roles_for_grant(&mut change.tx, acting, keys).await?;
        let ids: Vec<String> = roles.iter().map(|r| r.id.clone()).collect();
        roles_before = Some(
            store::roles::held_roles(&mut change.tx, &user.id, &acting.organization_id)
                .await?
                .into_iter()
                .map(|r| r.role.id)
                .collect::<Vec<_>>(),
        );
        store::memberships::replace_roles(
            &mut change.tx,
            &user.id,
            &acting.organization_id,
            &ids,
            now,
            by,
        )
        .await?;
        given_roles = Some(ids);
        changed.push("roles");
    }
    user.updated = now;
    user.changed_by = by.map(str::to_string);
    store::users::save(&mut change.tx, user).await?;
    change
        .audit(AuditEvent {
            actor_id: by,
            organization_id: grant.home().map(|a| a.organization_id.as_str()),
            action: "user.updated",
            subject_id: Some(&user.id),
            target_id: Some(&user.id),
            details: Some(json!({
                "fields": changed,
                "before": before,
                "after": profile(user),
                "rolesBefore": roles_before,
                "roles": given_roles,
                "tokensRevoked": revoked.len(),
            })),
            ..Default::default()
        })
        .await?;
    if req.enabled.is_some() || req.roles.is_some() {
        change.forget_all();
    } else {
        change.forget_views();
    }
    change.commit().await?;
    answer(app, grant, subject.into_user()).await
}

/// Changes the login e-mail: oneself with one's password, or another with `Users:update`.
/// The old address is told.
pub async fn update_email(
    app: &App,
    grant: &Grant,
    raw_email: &str,
    req: EmailChange,
) -> Result<Answer, ApiError> {
    let caller = grant.caller()?;
    let mut subject = changeable(app, grant, raw_email).await?;
    let new = required_email(req.new_email.as_deref(), "newEmail")?;
    check_own_password(app, &subject, req.password.as_ref(), "password").await?;
    let subject_is_self = subject.is_self();
    let user = subject.user_mut();
    let old = user.email.clone();
    let now = app.clock.now();
    let by = Some(caller.user_id.as_str());
    user.email = new.as_str().into();
    user.email_key = new.key().into();
    user.updated = now;
    user.changed_by = by.map(str::to_string);
    let mut change = Change::begin_at(app, now).await?;
    store::users::save(&mut change.tx, user)
        .await
        .map_err(conflict_on_unique("a user with that e-mail exists already"))?;
    // The login changed: his other sessions end, as after a password change.
    let keep = subject_is_self.then(|| caller.session_id());
    let (_, revoked) =
        store::sessions::end_of_user(&mut change.tx, sessions_of(app, &user.id, now), keep).await?;
    if old != user.email {
        change
            .mail(&messages::email_changed(&old, &user.email))
            .await?;
    }
    change
        .audit(AuditEvent {
            actor_id: by,
            organization_id: Some(&user.organization_id),
            action: "user.email_changed",
            subject_id: Some(&user.id),
            target_id: Some(&user.id),
            details: Some(json!({ "from": old, "to": user.email, "tokensRevoked": revoked.len() })),
            ..Default::default()
        })
        .await?;
    // Cached callers carry the e-mail.
    change.forget_tokens(revoked);
    change.forget_all();
    change.commit().await?;
    answer(app, grant, subject.into_user()).await
}

/// Sets a new password under the policy: oneself with the current one, or another with
/// `Users:update`. Ends the user's sessions (their access and refresh tokens), except the one
/// of the call when he changes his own.
pub async fn update_password(
    app: &App,
    grant: &Grant,
    raw_email: &str,
    req: PasswordChange,
) -> Result<Answer, ApiError> {
    let caller = grant.caller()?;
    let mut subject = changeable(app, grant, raw_email).await?;
    let email = Email::parse(&subject.user().email, "email")?;
    let new = req
        .new_password
        .as_ref()
        .ok_or_else(|| ApiError::missing("newPassword"))?;
    let new = NewPassword::parse(new, "newPassword", &app.settings.password.policy(), &email)?;
    check_own_password(
        app,
        &subject,
        req.current_password.as_ref(),
        "currentPassword",
    )
    .await?;
    let is_self = subject.is_self();
    let user = subject.user_mut();
    let hash = app.hasher.hash(new.secret()).await?;
    let now = app.clock.now();
    let by = Some(caller.user_id.as_str());
    user.password_hash = Some(hash);
    user.password_reset_valid_till = None;
    user.updated = now;
    user.changed_by = by.map(str::to_string);
    let mut change = Change::begin_at(app, now).await?;
    store::users::save(&mut change.tx, user).await?;
    let keep = is_self.then(|| caller.session_id());
    let (_, revoked) =
        store::sessions::end_of_user(&mut change.tx, sessions_of(app, &user.id, now), keep).await?;
    change
        .audit(AuditEvent {
            actor_id: by,
            organization_id: Some(&user.organization_id),
            action: "user.password_changed",
            subject_id: Some(&user.id),
            target_id: Some(&user.id),
            details: Some(json!({ "tokensRevoked": revoked.len() })),
            ..Default::default()
        })
        .await?;
    change.forget_tokens(revoked);
    change.forget_views();
    change.commit().await?;
    answer(app, grant, subject.into_user()).await
}

/// What disabling a user ends: every session (its access and refresh tokens) and every
/// permanent token, so that nothing he holds works any more. Answers the sessions ended and the
/// digests of the tokens revoked.
pub(super) async fn end_every_token(
    app: &App,
    change: &mut Change<'_>,
    user_id: &str,
) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let now = change.now();
    let (ended, mut revoked) =
        store::sessions::end_of_user(&mut change.tx, sessions_of(app, user_id, now), None).await?;
    revoked.extend(
        store::tokens::revoke_of_user(&mut change.tx, user_id, &[TokenKind::Permanent], None, now)
            .await?,
    );
    Ok((ended, revoked))
}

/// All of a user's sessions, for ending them.
pub(super) fn sessions_of<'a>(
    app: &App,
    user_id: &'a str,
    now: Millis,
) -> store::sessions::Scope<'a> {
    store::sessions::Scope {
        user_id,
        organization_id: None,
        now,
        idle_since: app.settings.tokens.session_idle_since(now),
    }
}
