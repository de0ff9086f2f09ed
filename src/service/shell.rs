//! Administration from the shell: what an operator with access to the store may do without
//! logging in (creating users and organizations, setting a lost password, removing lost second
//! factors, disabling and enabling a user, looking users up). There is no caller and no grant: whoever can run the
//! command can read the database settings, and so could change the rows by hand anyway. The
//! rules are those of the API all the same (the e-mail and the password policy, Argon2id,
//! ending sessions), every change goes through a [`Change`] and its audit event names the
//! command as its actor ([`Operator`]).

use base64::Engine;
use rand::RngCore;
use serde_json::json;
use sqlx::AnyConnection;

use crate::domain::{Email, NewPassword, PasswordPolicy, SecretString, TextKind};
use crate::error::ApiError;
use crate::service::change::Change;
use crate::service::{conflict_on_unique, mfa, organizations, users, App};
use crate::store::organizations::OrganizationRow;
use crate::store::roles::{HeldRole, RoleRow};
use crate::store::{self, audit::AuditEvent, users::UserRow};

/// What an actor of the shell is called in the audit trail and in `changedBy`: `cli:` and the
/// command, e.g. `cli:user set-password`. A user ID never starts so (`USR-…`), so the trail
/// tells a change made at the shell from one made through the API at a glance, and
/// `GET /v1/audit-events?actor=cli:user%20disable` finds them.
pub const ACTOR_PREFIX: &str = "cli:";

/// The command acting, as its changes name it.
#[derive(Debug, Clone)]
pub struct Operator {
    actor: String,
}

impl Operator {
    /// `command` as typed after `bf-security`, e.g. `user set-password`.
    pub fn new(command: &str) -> Self {
        Self {
            actor: format!("{ACTOR_PREFIX}{command}"),
        }
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }
}

/// Where a new password comes from.
pub enum PasswordSource {
    /// Typed or piped in by the operator: checked against the policy.
    Given(SecretString),
    /// Made up here, to be shown to the operator once.
    Generated,
}

/// A user with the organizations he is a member of and his live roles there.
pub struct Member {
    pub user: UserRow,
    pub organizations: Vec<OrganizationRow>,
    pub roles: Vec<HeldRole>,
}

/// Characters of a generated password: 24 of URL-safe base64 are 144 random bits. More when
/// the policy asks for more, fewer when it allows fewer bytes.
const GENERATED_CHARS: usize = 24;

/// A password made of the OS random source, of a length the policy accepts.
fn generated_password(policy: &PasswordPolicy) -> SecretString {
    let length = GENERATED_CHARS.max(policy.min_length).min(policy.max_bytes);
    // Four characters of base64 per three bytes.
    let mut random = vec![0u8; length.div_ceil(4) * 3];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let mut text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
    text.truncate(length);
    SecretString::new(text)
}

/// The new password checked against the policy and hashed; the generated one besides, to be
/// shown once.
async fn new_password(
    app: &App,
    source: PasswordSource,
    email: &Email,
) -> Result<(String, Option<SecretString>), ApiError> {
    let policy = app.settings.password.policy();
    let (given, generated) = match source {
        PasswordSource::Given(p) => (p, false),
        PasswordSource::Generated => (generated_password(&policy), true),
    };
    let password = NewPassword::parse(&given, "password", &policy, email)?;
    let hash = app.hasher.hash(password.secret()).await?;
    Ok((hash, generated.then_some(given)))
}

/// The user with this e-mail, anywhere.
pub async fn user(app: &App, raw_email: &str) -> Result<UserRow, ApiError> {
    let email = Email::parse(raw_email, "email")?;
    let mut conn = app.store.pool().acquire().await?;
    store::users::find_by_email_key(&mut conn, email.key())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user {}", email.as_str())))
}

/// The organization `key` names: its ID, else its exact name, which must then be one
/// organization's only.
pub async fn organization(app: &App, key: &str) -> Result<OrganizationRow, ApiError> {
    let key = key.trim();
    if key.is_empty() {
        return Err(ApiError::missing("organization"));
    }
    let mut conn = app.store.pool().acquire().await?;
    // A deleted organization is none, as through the API.
    if let Some(org) = store::organizations::find(&mut conn, key)
        .await?
        .filter(|o| !o.deleted)
    {
        return Ok(org);
    }
    let mut named = store::organizations::find_by_name(&mut conn, key).await?;
    match named.len() {
        0 => Err(ApiError::NotFound(format!("no organization {key}"))),
        1 => Ok(named.remove(0)),
        _ => Err(ApiError::invalid(
            "organization",
            format!(
                "organization: several organizations are named {key} ({}); give its ID",
                named
                    .iter()
                    .map(|o| o.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The organization a new user joins: the one named, else the only one there is.
async fn target_organization(app: &App, named: Option<&str>) -> Result<OrganizationRow, ApiError> {
    if let Some(key) = named {
        return organization(app, key).await;
    }
    let mut conn = app.store.pool().acquire().await?;
    let page = store::organizations::page_with_members(&mut conn, "", 2).await?;
    match <[_; 1]>::try_from(page) {
        Ok([(org, _)]) if !org.deleted => Ok(org),
        _ => Err(ApiError::invalid(
            "organization",
            "organization is required when there is not exactly one organization",
        )),
    }
}

/// Users and their organizations and roles, in a few statements whatever their number.
async fn members(app: &App, users: Vec<UserRow>) -> Result<Vec<Member>, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let mut organizations = store::memberships::of_members(&mut conn, &ids).await?;
    let mut every: Vec<String> = organizations
        .values()
        .flatten()
        .map(|o| o.id.clone())
        .collect();
    every.sort();
    every.dedup();
    let mut roles = store::memberships::roles_of_users(&mut conn, &ids, &every).await?;
    Ok(users
        .into_iter()
        .map(|user| Member {
            organizations: organizations.remove(&user.id).unwrap_or_default(),
            roles: roles.remove(&user.id).unwrap_or_default(),
            user,
        })
        .collect())
}

async fn member(app: &App, user: UserRow) -> Result<Member, ApiError> {
    let mut found = members(app, vec![user]).await?;
    found
        .pop()
        .ok_or_else(|| ApiError::internal("a user read was lost"))
}

/// A new user as the operator gives him.
pub struct NewMember {
    pub email: String,
    /// ID or name; by default the only organization there is.
    pub organization: Option<String>,
    /// Role IDs or names in that organization; none: its default role, as through the API.
    pub roles: Vec<String>,
    pub password: PasswordSource,
}

/// A user created, with the password made up for him, if it was.
pub struct Created {
    pub member: Member,
    pub generated_password: Option<SecretString>,
}

/// Creates a user with a password in an organization, with the named roles. Any role of the
/// organization may be given: the operator stands above every administrator.
pub async fn create_user(app: &App, op: &Operator, req: NewMember) -> Result<Created, ApiError> {
    let (email, org) =
        check_new_user(app, &req.email, req.organization.as_deref(), &req.roles).await?;
    let (hash, generated_password) = new_password(app, req.password, &email).await?;
    let now = app.clock.now();
    let by = Some(op.actor());
    let mut change = Change::begin_at(app, now).await?;
    // Again in the change: a role may have been revoked while the password was hashed.
    let roles = resolve_roles(&mut change.tx, &org.id, &req.roles).await?;
    let mut user = users::new_user_row(&email, &org.id, now, by);
    user.password_hash = Some(hash);
    store::users::insert(&mut change.tx, &user)
        .await
        .map_err(conflict_on_unique(&format!(
            "a user with e-mail {} exists already",
            email.as_str()
        )))?;
    store::memberships::add_member(&mut change.tx, &user.id, &org.id, now, by).await?;
    for role in &roles {
        store::memberships::give_role(&mut change.tx, &user.id, &role.id, &org.id, now, by).await?;
    }
    change
        .audit(AuditEvent {
            actor_id: by,
            organization_id: Some(&org.id),
            action: "user.created",
            subject_id: Some(&user.id),
            target_id: Some(&user.id),
            details: Some(json!({
                "roles": roles.iter().map(|r| &r.id).collect::<Vec<_>>(),
                "withPassword": true,
                "passwordGenerated": generated_password.is_some(),
                "mailed": false,
            })),
            ..Default::default()
        })
        .await?;
    change.commit().await?;
    Ok(Created {
        member: member(app, user).await?,
        generated_password,
    })
}

/// Whether a user could be created so: a valid e-mail nobody has, the organization and its
/// roles; answers the e-mail and the organization. Asked before a password is asked for or
/// hashed, so that a typo costs the operator no typing and no hash; the write checks again.
pub async fn check_new_user(
    app: &App,
    raw_email: &str,
    organization: Option<&str>,
    roles: &[String],
) -> Result<(Email, OrganizationRow), ApiError> {
    let email = Email::parse(raw_email, "email")?;
    let org = target_organization(app, organization).await?;
    let mut conn = app.store.pool().acquire().await?;
    if store::users::find_by_email_key(&mut conn, email.key())
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "a user with e-mail {} exists already",
            email.as_str()
        )));
    }
    resolve_roles(&mut conn, &org.id, roles).await?;
    Ok((email, org))
}

/// The live roles of the organization named by ID or name; repeats count once.
async fn resolve_roles(
    conn: &mut AnyConnection,
    organization_id: &str,
    keys: &[String],
) -> Result<Vec<RoleRow>, ApiError> {
    let organizations = [organization_id.to_string()];
    let mut found: Vec<RoleRow> = Vec::with_capacity(keys.len());
    for key in keys {
        let key = key.trim();
        let role = store::roles::find(conn, &organizations, key, false)
            .await?
            .ok_or_else(|| {
                ApiError::invalid(
                    "role",
                    format!("role: no role {key:?} in organization {organization_id}"),
                )
            })?;
        if !found.iter().any(|r| r.id == role.id) {
            found.push(role);
        }
    }
    Ok(found)
}

/// What setting a password did.
pub struct PasswordSet {
    pub member: Member,
    pub sessions_ended: usize,
    pub tokens_revoked: usize,
    pub generated_password: Option<SecretString>,
}

/// Sets a user's password under the policy, as an administrator does through the API: his
/// sessions end (their access and refresh tokens), his permanent tokens stay, and a reset
/// deadline still running is dropped. A disabled user stays disabled.
pub async fn set_password(
    app: &App,
    op: &Operator,
    raw_email: &str,
    source: PasswordSource,
) -> Result<PasswordSet, ApiError> {
    let mut user = user(app, raw_email).await?;
    let email = Email::parse(&user.email, "email")?;
    let (hash, generated_password) = new_password(app, source, &email).await?;
    let now = app.clock.now();
    user.password_hash = Some(hash);
    user.password_reset_valid_till = None;
    user.updated = now;
    user.changed_by = Some(op.actor().to_string());
    let mut change = Change::begin_at(app, now).await?;
    store::users::save(&mut change.tx, &user).await?;
    let (ended, revoked) =
        store::sessions::end_of_user(&mut change.tx, users::sessions_of(app, &user.id, now), None)
            .await?;
    change
        .audit(AuditEvent {
            actor_id: Some(op.actor()),
            organization_id: Some(&user.organization_id),
            action: "user.password_changed",
            subject_id: Some(&user.id),
            target_id: Some(&user.id),
            details: Some(json!({
                "tokensRevoked": revoked.len(),
                "sessionsEnded": ended.len(),
                "passwordGenerated": generated_password.is_some(),
            })),
            ..Default::default()
        })
        .await?;
    let tokens_revoked = revoked.len();
    change.forget_tokens(revoked);
    change.forget_views();
    change.commit().await?;
    Ok(PasswordSet {
        member: member(app, user).await?,
        sessions_ended: ended.len(),
        tokens_revoked,
        generated_password,
    })
}

/// What enabling or disabling did.
pub struct Standing {
    pub member: Member,
    /// False when the user already stood so: nothing was written.
    pub changed: bool,
    pub sessions_ended: usize,
    pub tokens_revoked: usize,
}

/// Enables or disables a user, as `PUT /v1/users/{email}` with `enabled` does: a disabled user
/// cannot log in or refresh, and every session and permanent token he holds ends at once (on
/// this node and, through PostgreSQL, on every other; a SQLite node started apart sees it
/// within its token cache's lifetime). A user who already stands so is left alone, with no
/// event.
pub async fn set_enabled(
    app: &App,
    op: &Operator,
    raw_email: &str,
    enabled: bool,
) -> Result<Standing, ApiError> {
    let mut user = user(app, raw_email).await?;
    if user.enabled == enabled {
        return Ok(Standing {
            member: member(app, user).await?,
            changed: false,
            sessions_ended: 0,
            tokens_revoked: 0,
        });
    }
    let before = users::profile(&user);
    let now = app.clock.now();
    let mut change = Change::begin_at(app, now).await?;
    let (ended, revoked) = if enabled {
        (Vec::new(), Vec::new())
    } else {
        users::end_every_token(app, &mut change, &user.id).await?
    };
    user.enabled = enabled;
    user.updated = now;
    user.changed_by = Some(op.actor().to_string());
    store::users::save(&mut change.tx, &user).await?;
    change
        .audit(AuditEvent {
            actor_id: Some(op.actor()),
            organization_id: Some(&user.organization_id),
            action: "user.updated",
            subject_id: Some(&user.id),
            target_id: Some(&user.id),
            details: Some(json!({
                "fields": ["enabled"],
                "before": before,
                "after": users::profile(&user),
                "tokensRevoked": revoked.len(),
                "sessionsEnded": ended.len(),
            })),
            ..Default::default()
        })
        .await?;
    let tokens_revoked = revoked.len();
    change.forget_tokens(revoked);
    change.forget_all();
    change.commit().await?;
    Ok(Standing {
        member: member(app, user).await?,
        changed: true,
        sessions_ended: ended.len(),
        tokens_revoked,
    })
}

/// What removing a user's second factors did.
pub struct FactorsRemoved {
    pub member: Member,
    /// Factors removed, pending ones included; 0: he had none, and nothing was written.
    pub removed: u64,
}

/// Removes every second factor and recovery code of a user who lost them, as
/// `DELETE /v1/users/{user_id}/mfa` does: audited as `mfa.reset`, and mailed to him. The way
/// back in for the one administrator who lost his, when nobody is left to do it through the
/// API. His sessions stay: removing a factor grants nothing.
pub async fn remove_second_factors(
    app: &App,
    op: &Operator,
    raw_email: &str,
) -> Result<FactorsRemoved, ApiError> {
    let user = user(app, raw_email).await?;
    let now = app.clock.now();
    let mut change = Change::begin_at(app, now).await?;
    let removed =
        mfa::remove_all(&mut change, &user, op.actor(), Some(&user.organization_id)).await?;
    change.commit().await?;
    Ok(FactorsRemoved {
        member: member(app, user).await?,
        removed,
    })
}

/// A user as `user show` answers him.
pub struct Details {
    pub member: Member,
    /// Sessions that still work.
    pub sessions: i64,
    /// Permanent API tokens that still work.
    pub api_tokens: i64,
    /// The kinds of his confirmed second factors (`totp`), one per factor.
    pub second_factors: Vec<String>,
}

/// The most permanent tokens counted for one user: one live per organization, and those
/// rotated with a grace period.
const TOKENS_COUNTED: i64 = 10_000;

pub async fn show(app: &App, raw_email: &str) -> Result<Details, ApiError> {
    let user = user(app, raw_email).await?;
    let now = app.clock.now();
    let (sessions, api_tokens, second_factors) = {
        let mut conn = app.store.pool().acquire().await?;
        let sessions =
            store::sessions::count(&mut conn, users::sessions_of(app, &user.id, now)).await?;
        let tokens =
            store::tokens::list_permanent(&mut conn, &user.id, None, now, true, 0, TOKENS_COUNTED)
                .await?;
        let factors = store::factors::of_user(&mut conn, &user.id).await?;
        let second_factors = factors
            .into_iter()
            .filter(|f| f.confirmed.is_some())
            .map(|f| f.kind)
            .collect();
        (sessions, tokens.len() as i64, second_factors)
    };
    Ok(Details {
        member: member(app, user).await?,
        sessions,
        api_tokens,
        second_factors,
    })
}

/// The next `limit` users by e-mail after `after` (`""`: from the first), everyone or the
/// members of one organization (an ID).
pub async fn users_page(
    app: &App,
    organization_id: Option<&str>,
    after: &str,
    limit: i64,
) -> Result<Vec<Member>, ApiError> {
    let page = {
        let mut conn = app.store.pool().acquire().await?;
        store::users::page_by_email(&mut conn, organization_id, after, limit).await?
    };
    members(app, page).await
}

/// The next `limit` organizations after `after` (an ID; `""`: from the first), oldest first,
/// each with its number of members.
pub async fn organizations_page(
    app: &App,
    after: &str,
    limit: i64,
) -> Result<Vec<(OrganizationRow, i64)>, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    Ok(store::organizations::page_with_members(&mut conn, after, limit).await?)
}

/// An organization created, with its `Administrator` role and the user made its administrator,
/// if one was named.
pub struct NewOrganization {
    pub organization: OrganizationRow,
    pub administrator_role: RoleRow,
    pub administrator: Option<Member>,
}

/// Creates an organization with its `Administrator` role (`*`/`*`), as sign-up does, with a
/// customer code made of its name. `admin_email` names an existing user who becomes a member
/// holding that role (a new user is created with `user create --role Administrator` after).
pub async fn create_organization(
    app: &App,
    op: &Operator,
    name: &str,
    admin_email: Option<&str>,
) -> Result<NewOrganization, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::missing("name"));
    }
    crate::domain::text::check("name", TextKind::SingleLine, name)?;
    let admin = match admin_email {
        Some(email) => Some(user(app, email).await?),
        None => None,
    };
    let now = app.clock.now();
    let by = Some(op.actor());
    let mut change = Change::begin_at(app, now).await?;
    let (org, role) = organizations::create_with_admin_role(&mut change.tx, name, now, by).await?;
    if let Some(admin) = &admin {
        store::memberships::add_member(&mut change.tx, &admin.id, &org.id, now, by).await?;
        store::memberships::give_role(&mut change.tx, &admin.id, &role.id, &org.id, now, by)
            .await?;
    }
    change
        .audit(AuditEvent {
            actor_id: by,
            organization_id: Some(&org.id),
            action: "organization.created",
            subject_id: admin.as_ref().map(|a| a.id.as_str()),
            target_id: Some(&org.id),
            details: Some(json!({
                "name": org.name,
                "customerCode": org.customer_code,
                "administratorRoleID": role.id,
            })),
            ..Default::default()
        })
        .await?;
    if admin.is_some() {
        change.forget_all();
    }
    change.commit().await?;
    let administrator = match admin {
        Some(a) => Some(member(app, a).await?),
        None => None,
    };
    Ok(NewOrganization {
        organization: org,
        administrator_role: role,
        administrator,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_password_meets_the_policy_whatever_its_bounds() {
        let email = Email::parse("someone@example.com", "email").unwrap();
        for (min_length, max_bytes, length) in [
            (1, 1024, 24),
            (10, 1024, 24),
            (25, 1024, 25),
            (101, 1024, 101),
            (10, 16, 16),
        ] {
            let policy = PasswordPolicy {
                min_length,
                max_bytes,
            };
            let p = generated_password(&policy);
            assert_eq!(p.expose().len(), length, "{min_length}..{max_bytes}");
            assert!(NewPassword::parse(&p, "password", &policy, &email).is_ok());
            assert_ne!(p.expose(), generated_password(&policy).expose());
        }
    }

    #[test]
    fn the_actor_names_the_command_and_is_no_user_id() {
        let op = Operator::new("user set-password");
        assert_eq!(op.actor(), "cli:user set-password");
        assert!(!op.actor().starts_with(crate::domain::ids::USER));
    }
}
