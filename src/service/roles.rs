//! Roles and their permissions: creating, listing, finding, changing and revoking them.
//!
//! Two rules hold whatever the operation. A role is found only among the roles of the
//! organizations the request acts in: any other role is a 404, whether it exists or not. And
//! nobody grants, through a role, a permission he does not hold in the role's organization
//! (403). Every change commits with its audit event, and the node forgets its cached
//! permissions at once, so the change holds from the very next request.

use serde_json::{json, Value};
use sqlx::AnyConnection;

use crate::domain::permission;
use crate::domain::{ids, Permission, PermissionSet, RoleName};
use crate::error::ApiError;
use crate::service::authz::{ActingIn, Grant};
use crate::service::change::Change;
use crate::service::{conflict_on_unique, App};
use crate::store::roles::{HeldRole, PermissionRow, RoleOrder, RoleRow};
use crate::store::{self, audit::AuditEvent};

const NAME_TAKEN: &str = "a live role of this organization has that name already";
const DEFAULT_RACE: &str = "another default role was set at the same time; try again";
const CHANGED_MEANWHILE: &str = "the role was changed at the same time; try again";

fn not_found(key: &str) -> ApiError {
    ApiError::NotFound(format!("no role {key:?}"))
}

fn stored(p: &PermissionRow) -> Permission {
    Permission::from_stored(p.resource.clone(), p.action.clone())
}

/// 403 unless the caller holds every one of `granted` in the organization.
fn may_grant<'a>(
    held: &PermissionSet,
    organization_id: &str,
    granted: impl IntoIterator<Item = &'a Permission>,
) -> Result<(), ApiError> {
    for p in granted {
        if !held.includes(p) {
            return Err(ApiError::Forbidden(format!(
                "granting {}:{} needs that permission, which you do not hold in organization \
                 {organization_id}",
                p.resource(),
                p.action()
            )));
        }
    }
    Ok(())
}

/// Changing, retiring or trimming a role acts on everyone who holds it, so it needs every
/// permission the role holds (403 otherwise): a lesser administrator must not strip, rename
/// or retire the role of those above him.
fn may_manage(
    acting: &ActingIn,
    role: &RoleRow,
    permissions: &[PermissionRow],
) -> Result<(), ApiError> {
    match permissions
        .iter()
        .map(stored)
        .find(|p| !acting.permissions.includes(p))
    {
        Some(p) => Err(ApiError::Forbidden(format!(
            "role {} holds {}:{}, which you do not hold in organization {}; only those who \
             hold all of a role's permissions may change it",
            role.name,
            p.resource(),
            p.action(),
            acting.organization_id
        ))),
        None => Ok(()),
    }
}

/// What the audit trail keeps of a role, before and after a change.
fn snapshot(role: &RoleRow, permissions: &[PermissionRow]) -> Value {
    json!({
        "name": role.name,
        "description": role.description,
        "defaultRole": role.default_role,
        "revoked": role.revoked,
        "permissions": permissions
            .iter()
            .map(|p| format!("{}:{}", p.resource, p.action))
            .collect::<Vec<_>>(),
    })
}

async fn held(conn: &mut AnyConnection, role: RoleRow) -> Result<HeldRole, ApiError> {
    let permissions = store::roles::live_permissions(conn, &role.id).await?;
    Ok(HeldRole {
        role,
        permissions,
        default_returned: false,
    })
}

fn new_permission_row(role_id: &str, p: &Permission, now: i64, by: &str) -> PermissionRow {
    PermissionRow {
        id: ids::new_id(ids::PERMISSION),
        role_id: role_id.to_string(),
        resource: p.resource().to_string(),
        action: p.action().to_string(),
        created: now,
        updated: now,
        changed_by: Some(by.to_string()),
        revoked: None,
        deleted: false,
    }
}

/// The acting organization a found role belongs to, with the caller's permissions there.
fn acting_for<'a>(grant: &'a Grant, role: &RoleRow) -> Result<&'a ActingIn, ApiError> {
    grant
        .acting
        .iter()
        .find(|a| a.organization_id == role.organization_id)
        .ok_or_else(|| not_found(&role.id))
}

/// A new role, parsed.
#[derive(Debug)]
pub struct NewRole {
    pub name: RoleName,
    /// Trimmed; blank is none.
    pub description: Option<String>,
    /// In the order given, without repeats.
    pub permissions: Vec<Permission>,
    pub default_role: bool,
    /// Trimmed; none is the first acting organization.
    pub organization_id: Option<String>,
}

/// Changes to a live role, parsed: each field present is changed.
#[derive(Debug)]
pub struct RoleChange {
    /// Finds the role: its ID, else its name.
    pub key: String,
    pub new_name: Option<RoleName>,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
    /// The whole new set, in the order given, without repeats.
    pub permissions: Option<Vec<Permission>>,
    pub default_role: Option<bool>,
    /// Trimmed; none looks among all acting organizations.
    pub organization_id: Option<String>,
}

/// Creates a role in the organization the body names (checked for `Roles:create` there), else
/// in the first acting organization.
pub async fn create(app: &App, grant: &Grant, req: NewRole) -> Result<HeldRole, ApiError> {
    let caller = grant.caller()?;
    let NewRole {
        name,
        description,
        permissions,
        default_role,
        organization_id,
    } = req;
    let acting = match organization_id.as_deref() {
        Some(o) => grant.require_in(app, o, "Roles", "create").await?,
        None => grant
            .home()
            .cloned()
            .ok_or_else(|| ApiError::missing("organizationID"))?,
    };
    may_grant(&acting.permissions, &acting.organization_id, &permissions)?;

    let by = caller.user_id.as_str();
    let mut change = Change::begin(app).await?;
    let now = change.now();
    // Only a platform administrator gets this far for an organization he is not a member of.
    if store::organizations::find(&mut change.tx, &acting.organization_id)
        .await?
        .is_none_or(|o| o.deleted)
    {
        return Err(ApiError::NotFound(format!(
            "no organization {}",
            acting.organization_id
        )));
    }
    let mut role = RoleRow {
        id: ids::new_id(ids::ROLE),
        organization_id: acting.organization_id.clone(),
        name: name.as_str().to_string(),
        description,
        default_role: false,
        created: now,
        updated: now,
        changed_by: Some(by.to_string()),
        revoked: None,
        deleted: false,
    };
    store::roles::insert_role(&mut change.tx, &role)
        .await
        .map_err(conflict_on_unique(NAME_TAKEN))?;
    let mut rows = Vec::with_capacity(permissions.len());
    for p in &permissions {
        let row = new_permission_row(&role.id, p, now, by);
        store::roles::insert_permission(&mut change.tx, &row).await?;
        rows.push(row);
    }
    let mut previous_default = Vec::new();
    if default_role {
        previous_default = store::roles::set_default(&mut change.tx, &role, true, now, Some(by))
            .await
            .map_err(conflict_on_unique(DEFAULT_RACE))?;
        role.default_role = true;
    }
    change
        .audit(AuditEvent {
            actor_id: Some(by),
            organization_id: Some(&role.organization_id),
            action: "role.created",
            target_id: Some(&role.id),
            details: Some(json!({
                "before": Value::Null,
                "after": snapshot(&role, &rows),
                "previousDefault": previous_default,
            })),
            ..Default::default()
        })
        .await?;
    change.forget_all();
    change.commit().await?;
    Ok(HeldRole {
        role,
        permissions: rows,
        default_returned: false,
    })
}

/// A page of the roles of the acting organizations, each with its live permissions.
pub async fn list(
    app: &App,
    grant: &Grant,
    include_revoked: bool,
    order: RoleOrder,
    descending: bool,
    offset: i64,
    records: i64,
) -> Result<(Vec<HeldRole>, bool), ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    let (roles, more) = store::roles::page(
        &mut conn,
        &grant.organization_ids(),
        include_revoked,
        order,
        descending,
        offset,
        records,
    )
    .await?;
    let ids: Vec<String> = roles.iter().map(|r| r.id.clone()).collect();
    let mut permissions = store::roles::live_permissions_of(&mut conn, &ids).await?;
    let page = roles
        .into_iter()
        .map(|role| HeldRole {
            permissions: permissions.remove(&role.id).unwrap_or_default(),
            role,
            default_returned: false,
        })
        .collect();
    Ok((page, more))
}

/// A role of the acting organizations by ID or name; revoked ones only when asked.
pub async fn get(
    app: &App,
    grant: &Grant,
    key: &str,
    include_revoked: bool,
) -> Result<HeldRole, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    let role = store::roles::find(&mut conn, &grant.organization_ids(), key, include_revoked)
        .await?
        .ok_or_else(|| not_found(key))?;
    held(&mut conn, role).await
}

/// Changes the fields present of the live role that `id` (else `name`) finds. `permissions`,
/// when present, is the whole new set: missing ones are revoked, new ones added, kept ones left
/// as they are.
pub async fn update(app: &App, grant: &Grant, req: RoleChange) -> Result<HeldRole, ApiError> {
    let caller = grant.caller()?;
    let RoleChange {
        key,
        new_name,
        description,
        permissions: wanted,
        default_role,
        organization_id,
    } = req;
    let named = match organization_id.as_deref() {
        Some(o) => Some(grant.require_in(app, o, "Roles", "update").await?),
        None => None,
    };
    let organizations = match &named {
        Some(a) => vec![a.organization_id.clone()],
        None => grant.organization_ids(),
    };

    let by = caller.user_id.as_str();
    let mut change = Change::begin(app).await?;
    let now = change.now();
    let before = store::roles::find(&mut change.tx, &organizations, &key, false)
        .await?
        .ok_or_else(|| not_found(&key))?;
    let acting = match named {
        Some(a) => a,
        None => acting_for(grant, &before)?.clone(),
    };
    let existing = store::roles::live_permissions(&mut change.tx, &before.id).await?;
    may_manage(&acting, &before, &existing)?;
    let mut role = before.clone();
    let mut changed = false;

    if let Some(name) = new_name.filter(|n| n.as_str() != role.name) {
        role.name = name.as_str().to_string();
        changed = true;
    }
    if let Some(description) = description.filter(|d| *d != role.description) {
        role.description = description;
        changed = true;
    }

    let mut kept = existing.clone();
    let mut added = Vec::new();
    if let Some(wanted) = &wanted {
        let current: Vec<Permission> = existing.iter().map(stored).collect();
        let diff = permission::diff(&current, wanted);
        may_grant(&acting.permissions, &role.organization_id, &diff.added)?;
        kept = diff.kept.iter().map(|&i| existing[i].clone()).collect();
        for &i in &diff.removed {
            store::roles::revoke_permission(&mut change.tx, &existing[i].id, now, Some(by)).await?;
            changed = true;
        }
        for p in &diff.added {
            let row = new_permission_row(&role.id, p, now, by);
            store::roles::insert_permission(&mut change.tx, &row)
                .await
                .map_err(conflict_on_unique(CHANGED_MEANWHILE))?;
            added.push(row);
            changed = true;
        }
    }
    let permissions: Vec<PermissionRow> = kept.into_iter().chain(added).collect();

    let mut previous_default = Vec::new();
    if let Some(default) = default_role.filter(|d| *d != role.default_role) {
        if default {
            // The default role's permissions go to every member without a role of his own:
            // making it the default grants them as surely as giving it to each.
            may_grant(
                &acting.permissions,
                &role.organization_id,
                permissions.iter().map(stored).collect::<Vec<_>>().iter(),
            )?;
        }
        previous_default = store::roles::set_default(&mut change.tx, &role, default, now, Some(by))
            .await
            .map_err(conflict_on_unique(DEFAULT_RACE))?;
        role.default_role = default;
        changed = true;
    }

    if !changed {
        return Ok(HeldRole {
            role,
            permissions,
            default_returned: false,
        });
    }
    role.updated = now;
    role.changed_by = Some(by.to_string());
    store::roles::update(&mut change.tx, &role)
        .await
        .map_err(conflict_on_unique(NAME_TAKEN))?;
    change
        .audit(AuditEvent {
            actor_id: Some(by),
            organization_id: Some(&role.organization_id),
            action: "role.updated",
            target_id: Some(&role.id),
            details: Some(json!({
                "before": snapshot(&before, &existing),
                "after": snapshot(&role, &permissions),
                "previousDefault": previous_default,
            })),
            ..Default::default()
        })
        .await?;
    change.forget_all();
    change.commit().await?;
    Ok(HeldRole {
        role,
        permissions,
        default_returned: false,
    })
}

/// Soft-deletes a live role of the acting organizations: its holders lose its permissions at
/// once; the role, its permissions and who held it stay on record.
pub async fn revoke(app: &App, grant: &Grant, key: &str) -> Result<HeldRole, ApiError> {
    let caller = grant.caller()?;
    let by = caller.user_id.as_str();
    let mut change = Change::begin(app).await?;
    let now = change.now();
    let before = store::roles::find(&mut change.tx, &grant.organization_ids(), key, false)
        .await?
        .ok_or_else(|| not_found(key))?;
    let permissions = store::roles::live_permissions(&mut change.tx, &before.id).await?;
    may_manage(acting_for(grant, &before)?, &before, &permissions)?;
    if !store::roles::revoke(&mut change.tx, &before.id, now, Some(by)).await? {
        return Err(not_found(key));
    }
    let mut role = before.clone();
    role.revoked = Some(now);
    role.deleted = true;
    role.updated = now;
    role.changed_by = Some(by.to_string());
    change
        .audit(AuditEvent {
            actor_id: Some(by),
            organization_id: Some(&role.organization_id),
            action: "role.revoked",
            target_id: Some(&role.id),
            details: Some(json!({
                "before": snapshot(&before, &permissions),
                "after": snapshot(&role, &permissions),
            })),
            ..Default::default()
        })
        .await?;
    change.forget_all();
    change.commit().await?;
    Ok(HeldRole {
        role,
        permissions,
        default_returned: false,
    })
}

/// Revokes one live permission of a live role of the acting organizations. A permission the
/// role does not have is a 404; a name outside the catalogue (that no role could have) a 400.
pub async fn remove_permission(
    app: &App,
    grant: &Grant,
    key: &str,
    resource: &str,
    action: &str,
) -> Result<HeldRole, ApiError> {
    let caller = grant.caller()?;
    let by = caller.user_id.as_str();
    let mut change = Change::begin(app).await?;
    let now = change.now();
    let before = store::roles::find(&mut change.tx, &grant.organization_ids(), key, false)
        .await?
        .ok_or_else(|| not_found(key))?;
    let existing = store::roles::live_permissions(&mut change.tx, &before.id).await?;
    may_manage(acting_for(grant, &before)?, &before, &existing)?;
    // Matched as stored, so a permission whose resource has since left the catalogue can
    // still be taken away.
    let target = Permission::from_stored(resource.trim().into(), action.trim().into());
    let Some(found) = existing.iter().find(|e| stored(e).same_as(&target)) else {
        app.catalogue.parse(resource, action)?;
        return Err(ApiError::NotFound(format!(
            "role {:?} has no permission {}:{}",
            before.name,
            resource.trim(),
            action.trim()
        )));
    };
    if !store::roles::revoke_permission(&mut change.tx, &found.id, now, Some(by)).await? {
        return Err(not_found(key));
    }
    let permissions: Vec<PermissionRow> = existing
        .iter()
        .filter(|e| e.id != found.id)
        .cloned()
        .collect();
    let mut role = before.clone();
    role.updated = now;
    role.changed_by = Some(by.to_string());
    store::roles::update(&mut change.tx, &role).await?;
    change
        .audit(AuditEvent {
            actor_id: Some(by),
            organization_id: Some(&role.organization_id),
            action: "role.permission_removed",
            target_id: Some(&role.id),
            details: Some(json!({
                "before": snapshot(&before, &existing),
                "after": snapshot(&role, &permissions),
                "permission": format!("{}:{}", found.resource, found.action),
            })),
            ..Default::default()
        })
        .await?;
    change.forget_all();
    change.commit().await?;
    Ok(HeldRole {
        role,
        permissions,
        default_returned: false,
    })
}

/// For operations that give users roles: the live roles of `acting`'s organization named by
/// ID or name (unknown: 400 naming `roles`), each of which the caller may give (see
/// [`may_give`]). Repeats count once.
pub async fn resolve_roles_for_grant(
    conn: &mut AnyConnection,
    acting: &ActingIn,
    names_or_ids: &[String],
) -> Result<Vec<RoleRow>, ApiError> {
    let organizations = [acting.organization_id.clone()];
    let mut found: Vec<RoleRow> = Vec::with_capacity(names_or_ids.len());
    for key in names_or_ids {
        let key = key.trim();
        let role = store::roles::find(conn, &organizations, key, false)
            .await?
            .ok_or_else(|| {
                ApiError::invalid(
                    "roles",
                    format!(
                        "roles: no role {key:?} in organization {}",
                        acting.organization_id
                    ),
                )
            })?;
        if found.iter().any(|r| r.id == role.id) {
            continue;
        }
        may_give(conn, acting, &role, "giving role").await?;
        found.push(role);
    }
    Ok(found)
}

/// A member who joins without a role of his own holds the organization's default role, so
/// adding him gives it: the caller must be able to give it (403 otherwise; he can name a
/// lesser role instead).
pub async fn may_give_default(conn: &mut AnyConnection, acting: &ActingIn) -> Result<(), ApiError> {
    match store::roles::default_of(conn, &acting.organization_id).await? {
        Some(default) => {
            may_give(
                conn,
                acting,
                &default,
                "a member without roles holds the default role; giving role",
            )
            .await
        }
        None => Ok(()),
    }
}

/// 403 unless the caller holds, in the role's organization, every live permission of `role`.
async fn may_give(
    conn: &mut AnyConnection,
    acting: &ActingIn,
    role: &RoleRow,
    what: &str,
) -> Result<(), ApiError> {
    let permissions: Vec<Permission> = store::roles::live_permissions(conn, &role.id)
        .await?
        .iter()
        .map(stored)
        .collect();
    match permissions.iter().find(|p| !acting.permissions.includes(p)) {
        Some(p) => Err(ApiError::Forbidden(format!(
            "{what} {} needs the permission {}:{}, which you do not hold in organization {}",
            role.name,
            p.resource(),
            p.action(),
            acting.organization_id
        ))),
        None => Ok(()),
    }
}
