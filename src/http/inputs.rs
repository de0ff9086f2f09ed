//! The request bodies turned into what each operation takes. What can be refused here without
//! changing which error a bad request meets first is parsed here (a role's name, description and
//! permissions); what is checked only after the caller's right to act (a user's e-mail, password
//! and time zone, an invitation's hours) is handed on raw for the operation to parse.

use crate::domain::permission::Catalogue;
use crate::domain::role::parse_description;
use crate::domain::{Permission, RoleName};
use crate::error::ApiError;
use crate::service::invitations::NewInvitation;
use crate::service::roles::{NewRole, RoleChange};
use crate::service::users::{EmailChange, NewUser, PasswordChange, ProfileChange};

use super::requests::{
    CreateRoleRequest, PermissionRequest, UpdateEmailRequest, UpdatePasswordRequest,
    UpdateRoleRequest, UpdateUserInfoRequest, UserCreateRequest, UserInviteRequest,
};

/// Trimmed, and none when blank.
fn text(value: Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

impl From<UserCreateRequest> for NewUser {
    fn from(req: UserCreateRequest) -> Self {
        NewUser {
            email: req.email,
            password: req.password,
            first_name: text(req.first_name),
            last_name: text(req.last_name),
            company_name: text(req.company_name),
            timezone: req.timezone,
            organization_id: req.organization_id,
            roles: req.roles.unwrap_or_default(),
            send_email: req.send_email == Some(true),
        }
    }
}

impl From<UserInviteRequest> for NewInvitation {
    fn from(req: UserInviteRequest) -> Self {
        NewInvitation {
            email: req.email,
            roles: req.roles.unwrap_or_default(),
            organization_id: req.organization_id,
            first_name: text(req.first_name),
            last_name: text(req.last_name),
            send_email: req.send_email.unwrap_or(true),
            expires_in_hours: req.expires_in_hours,
        }
    }
}

impl From<UpdateUserInfoRequest> for ProfileChange {
    fn from(req: UpdateUserInfoRequest) -> Self {
        // A name given blank clears it.
        let name = |v: Option<String>| v.map(|v| text(Some(v)));
        ProfileChange {
            first_name: name(req.first_name),
            last_name: name(req.last_name),
            company_name: name(req.company_name),
            timezone: req.timezone,
            enabled: req.enabled,
            roles: req.roles,
        }
    }
}

impl From<UpdateEmailRequest> for EmailChange {
    fn from(req: UpdateEmailRequest) -> Self {
        EmailChange {
            new_email: req.new_email,
            password: req.password,
        }
    }
}

impl From<UpdatePasswordRequest> for PasswordChange {
    fn from(req: UpdatePasswordRequest) -> Self {
        PasswordChange {
            current_password: req.current_password,
            new_password: req.new_password,
        }
    }
}

impl CreateRoleRequest {
    /// Checks the name, then the description, then the permissions.
    pub fn parse(self, catalogue: &Catalogue) -> Result<NewRole, ApiError> {
        let name = RoleName::parse(self.name.as_deref().unwrap_or(""), "name")?;
        let description = match self.description.as_deref() {
            Some(d) => parse_description(d, "description")?,
            None => None,
        };
        let permissions = permissions(catalogue, self.permissions.as_deref().unwrap_or_default())?;
        Ok(NewRole {
            name,
            description,
            permissions,
            default_role: self.default_role == Some(true),
            organization_id: text(self.organization_id),
        })
    }
}

impl UpdateRoleRequest {
    /// Checks that the role is named by `id` or `name`, then the name, the description and the
    /// permissions.
    pub fn parse(self, catalogue: &Catalogue) -> Result<RoleChange, ApiError> {
        let (key, new_name) = match (text(self.id), self.name.as_deref()) {
            (Some(id), name) => (id, name.map(|n| RoleName::parse(n, "name")).transpose()?),
            (None, Some(name)) => (RoleName::parse(name, "name")?.as_str().to_string(), None),
            (None, None) => {
                return Err(ApiError::Validation {
                    message: "id or name is required to find the role".into(),
                    parameters: vec!["id".into(), "name".into()],
                })
            }
        };
        let description = self
            .description
            .as_deref()
            .map(|d| parse_description(d, "description"))
            .transpose()?;
        let permissions = self
            .permissions
            .as_deref()
            .map(|p| permissions(catalogue, p))
            .transpose()?;
        Ok(RoleChange {
            key,
            new_name,
            description,
            permissions,
            default_role: self.default_role,
            organization_id: text(self.organization_id),
        })
    }
}

/// Parses the permissions of a request, in order and without repeats; a name outside the
/// catalogue is a 400 naming the entry, e.g. `permissions[2].action`.
fn permissions(
    catalogue: &Catalogue,
    requested: &[PermissionRequest],
) -> Result<Vec<Permission>, ApiError> {
    let mut parsed: Vec<Permission> = Vec::with_capacity(requested.len());
    for (i, p) in requested.iter().enumerate() {
        let field = |part: &str| format!("permissions[{i}].{part}");
        let resource = p
            .resource
            .as_deref()
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| ApiError::missing(&field("resource")))?;
        let action = p
            .action
            .as_deref()
            .filter(|a| !a.trim().is_empty())
            .ok_or_else(|| ApiError::missing(&field("action")))?;
        let permission = catalogue.parse(resource, action).map_err(|e| match e {
            ApiError::Validation {
                message,
                parameters,
            } => ApiError::Validation {
                message: format!("permissions[{i}]: {message}"),
                parameters: parameters.iter().map(|p| field(p)).collect(),
            },
            other => other,
        })?;
        if !parsed.contains(&permission) {
            parsed.push(permission);
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permission(resource: &str, action: &str) -> PermissionRequest {
        PermissionRequest {
            resource: Some(resource.into()),
            action: Some(action.into()),
        }
    }

    fn fields(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Validation { parameters, .. } => parameters,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn a_new_role_names_the_permission_entry_that_is_wrong() {
        let req = CreateRoleRequest {
            name: Some("Clerk".into()),
            permissions: Some(vec![
                permission("Users", "read"),
                PermissionRequest {
                    resource: Some("Users".into()),
                    action: Some(" ".into()),
                },
            ]),
            ..Default::default()
        };
        let e = req.parse(&Catalogue::new(&[])).unwrap_err();
        assert_eq!(fields(e), ["permissions[1].action"]);
    }

    #[test]
    fn a_new_role_keeps_its_permissions_in_order_without_repeats() {
        let req = CreateRoleRequest {
            name: Some("Clerk".into()),
            permissions: Some(vec![
                permission("Users", "read"),
                permission("Roles", "read"),
                permission("Users", "read"),
            ]),
            organization_id: Some("  ".into()),
            ..Default::default()
        };
        let role = req.parse(&Catalogue::new(&[])).unwrap();
        let names: Vec<_> = role
            .permissions
            .iter()
            .map(|p| format!("{}:{}", p.resource(), p.action()))
            .collect();
        assert_eq!(names, ["Users:read", "Roles:read"]);
        assert_eq!(role.organization_id, None);
    }

    #[test]
    fn a_role_change_finds_the_role_by_id_or_name() {
        let e = UpdateRoleRequest::default()
            .parse(&Catalogue::new(&[]))
            .unwrap_err();
        assert_eq!(fields(e), ["id", "name"]);
        let by_name = UpdateRoleRequest {
            name: Some("Clerk".into()),
            ..Default::default()
        };
        let change = by_name.parse(&Catalogue::new(&[])).unwrap();
        assert_eq!(change.key, "Clerk");
        assert!(change.new_name.is_none());
    }

    #[test]
    fn a_name_given_blank_clears_it_and_one_left_out_stays() {
        let change = ProfileChange::from(UpdateUserInfoRequest {
            first_name: Some("  ".into()),
            last_name: Some(" Smith ".into()),
            ..Default::default()
        });
        assert_eq!(change.first_name, Some(None));
        assert_eq!(change.last_name, Some(Some("Smith".into())));
        assert_eq!(change.company_name, None);
    }
}
