//! Request bodies, named as the seed names them. No field is required in the schema (the seed's
//! examples build them empty); the operations check presence and answer 400 naming the field.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::SecretString;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserCreateRequest {
    pub email: Option<String>,
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company_name: Option<String>,
    /// An IANA time zone name, e.g. `Europe/London`.
    pub timezone: Option<String>,
    /// The organization to create the user in; by default the caller's.
    #[serde(rename = "organizationID")]
    pub organization_id: Option<String>,
    /// Role IDs or names in that organization.
    pub roles: Option<Vec<String>>,
    /// Mails the user a code to set his password (when none is given).
    pub send_email: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserInviteRequest {
    pub email: Option<String>,
    pub roles: Option<Vec<String>>,
    #[serde(rename = "organizationID")]
    pub organization_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Default true; with false the response carries `inviteCode` once.
    pub send_email: Option<bool>,
    /// Default 72, at most 720.
    #[schema(minimum = 1, maximum = 720)]
    pub expires_in_hours: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenIdUserLinkRequest {
    #[schema(value_type = Option<String>)]
    pub invite_code: Option<SecretString>,
    #[schema(value_type = Option<String>)]
    pub id_token: Option<SecretString>,
}

/// Accepting an invitation as oneself (beyond the seed).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteAcceptRequest {
    /// The code of an invitation made for the caller.
    #[schema(value_type = Option<String>)]
    pub invite_code: Option<SecretString>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUserInfoRequest {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company_name: Option<String>,
    pub timezone: Option<String>,
    pub enabled: Option<bool>,
    pub roles: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateEmailRequest {
    pub new_email: Option<String>,
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePasswordRequest {
    #[schema(value_type = Option<String>, format = Password)]
    pub current_password: Option<SecretString>,
    #[schema(value_type = Option<String>, format = Password)]
    pub new_password: Option<SecretString>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordResetCodeRequest {
    pub email: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordUpdateWithResetCodeRequest {
    pub email: Option<String>,
    #[schema(value_type = Option<String>)]
    pub reset_code: Option<SecretString>,
    #[schema(value_type = Option<String>, format = Password)]
    pub new_password: Option<SecretString>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserPrivatePermanentTokenRequest {
    /// By default the organization of the caller's token.
    #[serde(rename = "organizationID")]
    pub organization_id: Option<String>,
    pub description: Option<String>,
    /// Another user to issue the token for (needs `Tokens:create`).
    #[serde(rename = "userID")]
    pub user_id: Option<String>,
    /// Days until the token expires (1 to 3650); by default it does not.
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<i64>,
    /// The client address ranges (CIDR, e.g. `10.0.0.0/8`) it may be used from; by default
    /// anywhere. A use from elsewhere is refused with 403.
    pub allowed_ranges: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserPrivatePermanentTokenRefreshRequest {
    #[serde(rename = "organizationID")]
    pub organization_id: Option<String>,
    /// How long the old token keeps working: 0 (default) to 86400 seconds.
    #[schema(minimum = 0, maximum = 86400)]
    pub grace_period_seconds: Option<i64>,
    #[serde(rename = "userID")]
    pub user_id: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionRequest {
    pub resource: Option<String>,
    pub action: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoleRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub default_role: Option<bool>,
    #[serde(rename = "organizationID")]
    pub organization_id: Option<String>,
    pub permissions: Option<Vec<PermissionRequest>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRoleRequest {
    /// Finds the role by ID…
    pub id: Option<String>,
    /// …or by name (then also the new name when `id` is given).
    pub name: Option<String>,
    pub description: Option<String>,
    pub default_role: Option<bool>,
    #[serde(rename = "organizationID")]
    pub organization_id: Option<String>,
    /// When present, the whole new set.
    pub permissions: Option<Vec<PermissionRequest>>,
}
