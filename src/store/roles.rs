//! Roles, their permissions, and who holds them.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::flag;
use crate::clock::Millis;

#[derive(Debug, Clone)]
pub struct RoleRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub description: Option<String>,
    pub default_role: bool,
    pub created: Millis,
    pub updated: Millis,
    pub changed_by: Option<String>,
    pub revoked: Option<Millis>,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub struct PermissionRow {
    pub id: String,
    pub role_id: String,
    pub resource: String,
    pub action: String,
    pub created: Millis,
    pub updated: Millis,
    pub changed_by: Option<String>,
    pub revoked: Option<Millis>,
    pub deleted: bool,
}

pub(crate) const ROLE_COLUMNS: &str = "r.id, r.organization_id, r.name, r.description, \
    r.default_role, r.created, r.updated, r.changed_by, r.revoked, r.deleted";

pub(crate) fn role_from_row(r: &AnyRow) -> Result<RoleRow, sqlx::Error> {
    Ok(RoleRow {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        default_role: r.try_get::<i64, _>("default_role")? != 0,
        created: r.try_get("created")?,
        updated: r.try_get("updated")?,
        changed_by: r.try_get("changed_by")?,
        revoked: r.try_get("revoked")?,
        deleted: r.try_get::<i64, _>("deleted")? != 0,
    })
}

pub(crate) fn permission_from_row(r: &AnyRow) -> Result<PermissionRow, sqlx::Error> {
    Ok(PermissionRow {
        id: r.try_get("id")?,
        role_id: r.try_get("role_id")?,
        resource: r.try_get("resource")?,
        action: r.try_get("action")?,
        created: r.try_get("created")?,
        updated: r.try_get("updated")?,
        changed_by: r.try_get("changed_by")?,
        revoked: r.try_get("revoked")?,
        deleted: r.try_get::<i64, _>("deleted")? != 0,
    })
}

/// Fails with a unique violation when a live role of the organization has the name already.
pub async fn insert_role(conn: &mut AnyConnection, r: &RoleRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO roles (id, organization_id, name, description, default_role, created, updated,
            changed_by, revoked, deleted)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&r.id)
    .bind(&r.organization_id)
    .bind(&r.name)
    .bind(&r.description)
    .bind(flag(r.default_role))
    .bind(r.created)
    .bind(r.updated)
    .bind(&r.changed_by)
    .bind(r.revoked)
    .bind(flag(r.deleted))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_permission(
    conn: &mut AnyConnection,
    p: &PermissionRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO permissions (id, role_id, resource, action, created, updated, changed_by,
            revoked, deleted)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&p.id)
    .bind(&p.role_id)
    .bind(&p.resource)
    .bind(&p.action)
    .bind(p.created)
    .bind(p.updated)
    .bind(&p.changed_by)
    .bind(p.revoked)
    .bind(flag(p.deleted))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn assign(
    conn: &mut AnyConnection,
    user_id: &str,
    role_id: &str,
    organization_id: &str,
    now: Millis,
    by: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_roles (user_id, role_id, organization_id, created, changed_by)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user_id)
    .bind(role_id)
    .bind(organization_id)
    .bind(now)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

/// A role with its live permissions, and whether the user holds it only as the default.
#[derive(Debug, Clone)]
pub struct HeldRole {
    pub role: RoleRow,
    pub permissions: Vec<PermissionRow>,
    pub default_returned: bool,
}

/// The live roles a user holds in an organization; the organization's default role when he
/// holds none of his own there.
pub async fn held_roles(
    conn: &mut AnyConnection,
    user_id: &str,
    organization_id: &str,
) -> Result<Vec<HeldRole>, sqlx::Error> {
    let own: Vec<RoleRow> = sqlx::query(&format!(
        "SELECT {ROLE_COLUMNS} FROM roles r JOIN user_roles ur ON ur.role_id = r.id
         WHERE ur.user_id = $1 AND ur.organization_id = $2 AND r.revoked IS NULL
         ORDER BY r.created, r.id"
    ))
    .bind(user_id)
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(role_from_row)
    .collect::<Result<_, _>>()?;
    let (roles, default_returned) = if own.is_empty() {
        let default: Vec<RoleRow> = sqlx::query(&format!(
            "SELECT {ROLE_COLUMNS} FROM roles r
             WHERE r.organization_id = $1 AND r.default_role = 1 AND r.revoked IS NULL"
        ))
        .bind(organization_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(role_from_row)
        .collect::<Result<_, _>>()?;
        (default, true)
    } else {
        (own, false)
    };
    let mut held = Vec::with_capacity(roles.len());
    for role in roles {
        let permissions = live_permissions(&mut *conn, &role.id).await?;
        held.push(HeldRole {
            role,
            permissions,
            default_returned,
        });
    }
    Ok(held)
}

pub async fn live_permissions(
    conn: &mut AnyConnection,
    role_id: &str,
) -> Result<Vec<PermissionRow>, sqlx::Error> {
    sqlx::query(
        "SELECT id, role_id, resource, action, created, updated, changed_by, revoked, deleted
         FROM permissions WHERE role_id = $1 AND revoked IS NULL ORDER BY created, id",
    )
    .bind(role_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(permission_from_row)
    .collect()
}
