//! Entities as they go over the wire. Built from store rows here, so no response can carry a
//! password hash, a code or a stored token: these types have no field for them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::rfc3339;
use crate::service::invitations::Invitation;
use crate::store::organizations::OrganizationRow;
use crate::store::roles::{HeldRole, PermissionRow, RoleRow};
use crate::store::users::UserRow;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub customer_code: String,
    pub created: String,
    pub updated: String,
    pub changed_by: Option<String>,
    pub deleted: bool,
}

impl From<OrganizationRow> for Organization {
    fn from(o: OrganizationRow) -> Self {
        Self {
            id: o.id,
            name: o.name,
            customer_code: o.customer_code,
            created: rfc3339(o.created),
            updated: rfc3339(o.updated),
            changed_by: o.changed_by,
            deleted: o.deleted,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    pub id: String,
    #[serde(rename = "roleID")]
    pub role_id: String,
    pub role_name: String,
    pub resource: String,
    pub action: String,
    pub created: String,
    pub updated: String,
    pub changed_by: Option<String>,
    pub revoked: Option<String>,
    pub deleted: bool,
}

impl Permission {
    fn new(p: PermissionRow, role_name: &str) -> Self {
        Self {
            id: p.id,
            role_id: p.role_id,
            role_name: role_name.to_string(),
            resource: p.resource,
            action: p.action,
            created: rfc3339(p.created),
            updated: rfc3339(p.updated),
            changed_by: p.changed_by,
            revoked: p.revoked.map(rfc3339),
            deleted: p.deleted,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    pub id: String,
    #[serde(rename = "organizationID")]
    pub organization_id: String,
    pub name: String,
    pub description: Option<String>,
    pub default_role: bool,
    /// True when the user holds this role only because it is the organization's default.
    pub default_returned: bool,
    pub permissions: Vec<Permission>,
    pub created: String,
    pub updated: String,
    pub changed_by: Option<String>,
    pub revoked: Option<String>,
    pub deleted: bool,
}

impl Role {
    pub fn new(r: RoleRow, permissions: Vec<PermissionRow>, default_returned: bool) -> Self {
        let permissions = permissions
            .into_iter()
            .map(|p| Permission::new(p, &r.name))
            .collect();
        Self {
            id: r.id,
            organization_id: r.organization_id,
            name: r.name,
            description: r.description,
            default_role: r.default_role,
            default_returned,
            permissions,
            created: rfc3339(r.created),
            updated: rfc3339(r.updated),
            changed_by: r.changed_by,
            revoked: r.revoked.map(rfc3339),
            deleted: r.deleted,
        }
    }
}

impl From<HeldRole> for Role {
    fn from(h: HeldRole) -> Self {
        Role::new(h.role, h.permissions, h.default_returned)
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    /// The user's home organization.
    #[serde(rename = "organizationID")]
    pub organization_id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company_name: Option<String>,
    pub timezone: Option<String>,
    pub enabled: bool,
    pub account_non_locked: bool,
    pub account_non_expired: bool,
    pub credentials_non_expired: bool,
    pub bf_admin: bool,
    /// Live roles in the acting organizations, each with its permissions.
    pub roles: Vec<Role>,
    pub password_reset_valid_till: Option<String>,
    pub created: String,
    pub updated: String,
    pub changed_by: Option<String>,
    /// Only in the answer to an invitation made with `sendEmail: false`, once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_code: Option<String>,
}

impl From<Invitation> for User {
    /// An invitation in the shape the seed's clients read for it: its own ID, the inviting
    /// organization, the e-mail and names as the inviter gave them, not enabled, the
    /// invitation's roles, and its end as `passwordResetValidTill`. Whether the e-mail belongs
    /// to someone already does not show.
    fn from(i: Invitation) -> Self {
        Self {
            id: i.id,
            organization_id: i.organization_id,
            email: i.email,
            first_name: i.first_name,
            last_name: i.last_name,
            company_name: None,
            timezone: None,
            enabled: false,
            account_non_locked: true,
            account_non_expired: true,
            credentials_non_expired: true,
            bf_admin: false,
            roles: i.roles.into_iter().map(Role::from).collect(),
            password_reset_valid_till: Some(rfc3339(i.expires)),
            created: rfc3339(i.created),
            updated: rfc3339(i.created),
            changed_by: Some(i.created_by),
            invite_code: i.code.map(|c| c.expose().to_string()),
        }
    }
}

impl User {
    pub fn new(u: UserRow, roles: Vec<HeldRole>) -> Self {
        Self {
            id: u.id,
            organization_id: u.organization_id,
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            company_name: u.company_name,
            timezone: u.timezone,
            enabled: u.enabled,
            account_non_locked: u.account_non_locked,
            account_non_expired: u.account_non_expired,
            credentials_non_expired: u.credentials_non_expired,
            bf_admin: u.bf_admin,
            roles: roles.into_iter().map(Role::from).collect(),
            password_reset_valid_till: u.password_reset_valid_till.map(rfc3339),
            created: rfc3339(u.created),
            updated: rfc3339(u.updated),
            changed_by: u.changed_by,
            invite_code: None,
        }
    }
}

/// RFC 6749 §5.1, spelled as that RFC spells it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthToken {
    #[schema(example = "bfsa_9mY2kVxQe3TzL0pW8rN4cJ6hD1fG5sA7uB2oK8iE3xM")]
    pub access_token: String,
    /// Always `bearer`.
    #[schema(example = "bearer")]
    pub token_type: String,
    /// Seconds; absent for a permanent token that does not expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = 3600)]
    pub expires_in: Option<i64>,
    /// Absent for a permanent token.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        example = "bfsr_Pt3cpvQ9ONwt2Smh5arflgCpzKve9XruwfcmN9XOEUA"
    )]
    pub refresh_token: Option<String>,
    /// `api` for a token bound to its organization (a permanent token); `api
    /// organizations:all` for a login's, which acts in every organization of its user;
    /// `mfa:enrol` for a login's that may only see its user and enrol a second factor (its
    /// organization requires one the login did not pass): its refreshes say so too while that
    /// lasts. Either of the first two grants what the holder's roles allow where it acts.
    #[schema(example = "api organizations:all")]
    pub scope: String,
    #[serde(rename = "organizationID")]
    pub organization_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokensResponse {
    #[schema(example = "bfsa_9mY2kVxQe3TzL0pW8rN4cJ6hD1fG5sA7uB2oK8iE3xM")]
    pub access_token: String,
    #[schema(example = "bearer")]
    pub token_type: String,
    /// Seconds.
    #[schema(example = 3600)]
    pub expires_in: i64,
    #[schema(example = "bfsr_Pt3cpvQ9ONwt2Smh5arflgCpzKve9XruwfcmN9XOEUA")]
    pub refresh_token: String,
    /// Seconds.
    #[schema(example = 2592000)]
    pub refresh_expires_in: i64,
    #[serde(rename = "organizationID")]
    pub organization_id: String,
}

/// What a token grants: everything the holder's roles allow where it acts. A token bound to its
/// organization (a permanent token, a pair minted from one) says `api`; a login's, which acts
/// in every organization of its user, says so with `organizations:all` beside it.
pub fn token_scope(bound: bool) -> &'static str {
    if bound {
        "api"
    } else {
        "api organizations:all"
    }
}

/// The scope of a token that may only see its user and enrol a second factor where it was
/// issued: it grants nothing else there.
pub const ENROL_SCOPE: &str = "mfa:enrol";

/// The scope of a token as its own answer and introspection tell it: [`ENROL_SCOPE`] while it
/// may only enrol a second factor, else how far it reaches ([`token_scope`]).
pub fn scope_of(bound: bool, enrol_only: bool) -> &'static str {
    if enrol_only {
        ENROL_SCOPE
    } else {
        token_scope(bound)
    }
}

/// The limits bound to a user's e-mail, in their current window.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginLimits {
    #[serde(rename = "userID")]
    pub user_id: String,
    /// Failed password logins with his e-mail this hour, from clients he never logged in from
    /// (clients he did log in from are not held back by them).
    pub failed_logins: u32,
    /// How many of those the hour allows before such clients are refused until it ends.
    pub failed_logins_allowed: u32,
    /// Until when such clients are refused (a growing delay, or the hour's end); absent when
    /// they are not.
    pub refused_until: Option<String>,
    /// Password reset codes asked for this hour.
    pub reset_requests: u32,
    pub reset_requests_allowed: u32,
    /// When the current hour of these counts ends; absent when nothing is counted.
    pub window_ends: Option<String>,
}

impl LoginLimits {
    pub fn new(user: &UserRow, l: crate::security::limits::EmailLimits) -> Self {
        Self {
            user_id: user.id.clone(),
            failed_logins: l.login_failures,
            failed_logins_allowed: l.login_failures_allowed,
            refused_until: l.refused_until.map(rfc3339),
            reset_requests: l.reset_requests,
            reset_requests_allowed: l.reset_requests_allowed,
            window_ends: l.window_ends.map(rfc3339),
        }
    }
}
