//! The one authorization rule. Every operation declares what it needs (a [`Rule`], next to its
//! route in `http/mod.rs`); [`authorize`] decides, from the caller's effective permissions in
//! the acting organizations, and hands the operation a [`Grant`]. No handler decides on its own.
//!
//! Effective permissions in an organization: those of the caller's own live roles there, or
//! the organization's default role's if he joined without a role and was never given one; a
//! platform administrator (`bfAdmin`) holds everything everywhere. An organization the caller
//! is not a member of is a 403 when named in `organizations=`, whether it exists or not; an
//! entity of such an organization is a 404 (its existence is not revealed). A platform
//! administrator naming an organization that does not exist gets a 404. A bound token (a
//! permanent token, or a pair minted from one) acts only in its own organization: naming
//! another is a 403.
//!
//! Acting on another user (his credentials, standing, roles, profile, tokens for him) needs
//! more than the operation's permission: [`act_on`] hands out the [`Subject`] such an
//! operation writes through only if the caller outranks that user everywhere he is a member.
//! The whole model is written down in `docs/AUTHORIZATION.md`.

use std::sync::Arc;

use crate::domain::PermissionSet;
use crate::error::ApiError;
use crate::security::Principal;
use crate::service::App;
use crate::store::{self, users::UserRow};

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anybody, with or without a token.
    Public,
    /// Any valid token.
    Authenticated,
    /// `resource:action` in every acting organization.
    Permission(&'static str, &'static str),
    /// `resource:action`, or else the caller acting on himself only.
    PermissionOrSelf(&'static str, &'static str),
}

/// One organization a request acts in, with the caller's permissions there.
#[derive(Debug, Clone)]
pub struct ActingIn {
    pub organization_id: String,
    pub permissions: Arc<PermissionSet>,
}

/// How far a granted operation may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Whatever the rule's permission covers in the acting organizations.
    Full,
    /// Only the caller himself (a `PermissionOrSelf` rule without the permission).
    SelfOnly,
}

/// Proof that the rule of an operation was checked: the caller (none for public operations),
/// the organizations he acts in, and the reach.
#[derive(Debug, Clone)]
pub struct Grant {
    pub caller: Option<Arc<Principal>>,
    pub acting: Vec<ActingIn>,
    pub reach: Reach,
}

impl Grant {
    /// The caller; public operations have none and get a 401 here.
    pub fn caller(&self) -> Result<&Arc<Principal>, ApiError> {
        self.caller
            .as_ref()
            .ok_or_else(|| ApiError::Unauthorized("a bearer token is required".into()))
    }

    pub fn organization_ids(&self) -> Vec<String> {
        self.acting
            .iter()
            .map(|a| a.organization_id.clone())
            .collect()
    }

    /// The first acting organization: where a new entity goes unless the body names another.
    pub fn home(&self) -> Option<&ActingIn> {
        self.acting.first()
    }

    /// The caller's standing in an organization named by the body; not a member: 403.
    pub async fn member_of(&self, app: &App, organization_id: &str) -> Result<ActingIn, ApiError> {
        acting_in(app, self.caller()?, organization_id).await
    }

    /// The caller's standing in the organization a path names as the entity acted on. One the
    /// caller may not reach (not a member, another than its own for a bound token, or none
    /// such) is a 404, as any entity of a foreign organization is; one requiring a second
    /// factor the caller's login did not pass is a 403.
    pub async fn on(&self, app: &App, organization_id: &str) -> Result<ActingIn, ApiError> {
        let caller = self.caller()?;
        let acting = match standing_in(app, caller, organization_id).await {
            Err(ApiError::Forbidden(_)) => {
                return Err(ApiError::NotFound(format!(
                    "no organization {organization_id}"
                )))
            }
            acting => acting?,
        };
        second_factor_in(app, caller, organization_id).await?;
        Ok(acting)
    }

    /// Checks `resource:action` in an organization named by the body rather than the query
    /// (e.g. `organizationID` of a new user). Not a member: 403.
    pub async fn require_in(
        &self,
        app: &App,
        organization_id: &str,
        resource: &str,
        action: &str,
    ) -> Result<ActingIn, ApiError> {
        let caller = self.caller()?;
        let acting = acting_in(app, caller, organization_id).await?;
        if acting.permissions.allows(resource, action) {
            Ok(acting)
        } else {
            Err(forbidden(resource, action))
        }
    }

    /// Checks `resource:action` in the organization a path names as the entity acted on. One
    /// the caller may not reach (not a member, another than its own for a bound token, or none
    /// such) is a 404, as any entity of a foreign organization is; a member lacking the
    /// permission gets a 403.
    pub async fn require_on(
        &self,
        app: &App,
        organization_id: &str,
        resource: &str,
        action: &str,
    ) -> Result<ActingIn, ApiError> {
        let acting = self.on(app, organization_id).await?;
        if acting.permissions.allows(resource, action) {
            Ok(acting)
        } else {
            Err(forbidden(resource, action))
        }
    }
}

fn forbidden(resource: &str, action: &str) -> ApiError {
    ApiError::Forbidden(format!("this needs the permission {resource}:{action}"))
}

/// The caller's standing in an organization he acts in: a member (or a platform
/// administrator), reached by his token, and, where the organization requires a second
/// factor, by a login that passed one.
async fn acting_in(
    app: &App,
    caller: &Principal,
    organization_id: &str,
) -> Result<ActingIn, ApiError> {
    let acting = standing_in(app, caller, organization_id).await?;
    second_factor_in(app, caller, organization_id).await?;
    Ok(acting)
}

/// An organization requiring a second factor refuses a token whose login passed none, whatever
/// organization that login was in and whoever the caller is (a platform administrator too): a
/// session's, a permanent token's (made by such a login, see `service::tokens`), a pair
/// minted from either. Decided on every request from the policy as it stands now (cached, and
/// forgotten on every node when it changes), so turning it on limits open sessions at once.
///
/// A login with a passkey alone acts only in organizations that allow it, wherever it was
/// opened: an organization that does not want such logins is not reached through another one's
/// (its `organizations=`, a path or a body naming it).
async fn second_factor_in(
    app: &App,
    caller: &Principal,
    organization_id: &str,
) -> Result<(), ApiError> {
    if !caller.second_factor_passed() {
        if !app.auth.second_factor_required(organization_id).await? {
            return Ok(());
        }
        return Err(ApiError::Forbidden(format!(
            "organization {organization_id} requires a second factor: log in again and pass \
             one (without a factor, enrol one first: POST /v1/users/mine/mfa/totp)"
        )));
    }
    if caller.passkey_alone() && !app.auth.policy(organization_id).await?.passkey_login {
        return Err(ApiError::Forbidden(format!(
            "organization {organization_id} does not allow logins with a passkey alone: log \
             in with the password"
        )));
    }
    Ok(())
}

/// The caller's membership of an organization, as his token reaches it; second factors aside.
async fn standing_in(
    app: &App,
    caller: &Principal,
    organization_id: &str,
) -> Result<ActingIn, ApiError> {
    if caller.bound && caller.organization_id != organization_id {
        return Err(ApiError::Forbidden(format!(
            "this token acts only in organization {}",
            caller.organization_id
        )));
    }
    let permissions = app
        .auth
        .permissions_in(caller, organization_id)
        .await?
        .ok_or_else(|| {
            // Only a platform administrator may learn whether an organization exists.
            if caller.bf_admin {
                ApiError::NotFound(format!("no organization {organization_id}"))
            } else {
                ApiError::Forbidden(format!("not a member of organization {organization_id}"))
            }
        })?;
    Ok(ActingIn {
        organization_id: organization_id.to_string(),
        permissions,
    })
}

/// Decides `rule` for `caller` acting in `requested` organizations (none: the token's). A
/// token limited to client address ranges is refused from anywhere else, whatever the rule.
/// `enrolling`: the operation is one a login without its second factor may call (seeing
/// oneself, one's second factors), which an organization's requirement of one does not refuse.
pub async fn authorize(
    app: &App,
    rule: Rule,
    caller: Option<Arc<Principal>>,
    requested: Vec<String>,
    enrolling: bool,
) -> Result<Grant, ApiError> {
    let Some(caller) = caller else {
        return match rule {
            Rule::Public => Ok(Grant {
                caller: None,
                acting: Vec::new(),
                reach: Reach::Full,
            }),
            _ => Err(ApiError::Unauthorized("a bearer token is required".into())),
        };
    };
    if let Some(ranges) = &caller.allowed_ranges {
        let from = crate::origin::address();
        if !from.is_some_and(|a| ranges.iter().any(|r| r.contains(a))) {
            return Err(ApiError::Forbidden(
                "this token may not be used from this client address".into(),
            ));
        }
    }
    let mut requested = requested;
    if requested.is_empty() {
        requested.push(caller.organization_id.clone());
    }
    requested.dedup();
    let mut acting = Vec::with_capacity(requested.len());
    for organization_id in &requested {
        acting.push(match enrolling {
            true => standing_in(app, &caller, organization_id).await?,
            false => acting_in(app, &caller, organization_id).await?,
        });
    }
    let reach = match rule {
        Rule::Public | Rule::Authenticated => Reach::Full,
        Rule::Permission(resource, action) => {
            if !acting
                .iter()
                .all(|a| a.permissions.allows(resource, action))
            {
                return Err(forbidden(resource, action));
            }
            Reach::Full
        }
        Rule::PermissionOrSelf(resource, action) => {
            if acting
                .iter()
                .all(|a| a.permissions.allows(resource, action))
            {
                Reach::Full
            } else {
                Reach::SelfOnly
            }
        }
    };
    Ok(Grant {
        caller: Some(caller),
        acting,
        reach,
    })
}

/// Proof that the caller may act on a user: on himself, or on another user whom he outranks
/// (see [`act_on`]). Only this module makes one, so an operation that changes a user or mints
/// a credential for him cannot reach its write without having asked.
#[derive(Debug)]
pub struct Subject {
    user: UserRow,
    is_self: bool,
}

impl Subject {
    pub fn user(&self) -> &UserRow {
        &self.user
    }

    /// The user's row, to change and then save.
    pub fn user_mut(&mut self) -> &mut UserRow {
        &mut self.user
    }

    pub fn into_user(self) -> UserRow {
        self.user
    }

    /// Whether the caller acts on himself.
    pub fn is_self(&self) -> bool {
        self.is_self
    }
}

/// The one rule for acting on another user. In every organization that user is a member of,
/// the caller must hold `resource:action` and every permission the user holds there; and only
/// a platform administrator acts on a platform administrator. Otherwise a 403, which names no
/// organization the caller is not a member of.
///
/// Why everywhere and not only where the request acts: a login is global, so whoever changes a
/// user's password, e-mail or standing, or holds a token for him, reaches every organization
/// he belongs to; and an organization must not rewrite a profile another one shows.
pub async fn act_on(
    app: &App,
    grant: &Grant,
    user: UserRow,
    resource: &str,
    action: &str,
) -> Result<Subject, ApiError> {
    let caller = grant.caller()?;
    if user.id == caller.user_id {
        return Ok(Subject {
            user,
            is_self: true,
        });
    }
    if user.bf_admin && !caller.bf_admin {
        return Err(ApiError::Forbidden(
            "only a platform administrator may act on a platform administrator".into(),
        ));
    }
    let outranked = || {
        ApiError::Forbidden(format!(
            "you may act on {} only while holding {resource}:{action} and every permission he \
             holds, in every organization he belongs to",
            user.email
        ))
    };
    let mut conn = app.store.pool().acquire().await?;
    let organizations = store::memberships::of_member(&mut conn, &user.id).await?;
    for organization in &organizations {
        let mine = match standing_in(app, caller, &organization.id).await {
            Ok(mine) => mine.permissions,
            Err(ApiError::Forbidden(_)) => return Err(outranked()),
            Err(e) => return Err(e),
        };
        // Where the user's organization requires a second factor, so does acting on him.
        second_factor_in(app, caller, &organization.id).await?;
        if !mine.allows(resource, action) {
            return Err(outranked());
        }
        let theirs = store::roles::permissions_of(&mut conn, &user.id, &organization.id).await?;
        if !theirs.iter().all(|p| mine.includes(p)) {
            return Err(outranked());
        }
    }
    Ok(Subject {
        user,
        is_self: false,
    })
}
