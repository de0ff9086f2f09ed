//! Roles, their permissions, and who holds them.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::flag;
use crate::clock::Millis;
use crate::domain::{Permission, PermissionSet};

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

/// A role with its live permissions, and whether the user holds it only as the default.
#[derive(Debug, Clone)]
pub struct HeldRole {
    pub role: RoleRow,
    pub permissions: Vec<PermissionRow>,
    pub default_returned: bool,
}

/// The live roles a user holds in an organization; the organization's default role when he
/// joined without one and was never given one since (see migration 0004).
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
             JOIN memberships m ON m.organization_id = r.organization_id
             WHERE r.organization_id = $1 AND r.default_role = 1 AND r.revoked IS NULL
               AND m.user_id = $2 AND m.follows_default = 1"
        ))
        .bind(organization_id)
        .bind(user_id)
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

/// The organization's live default role, if it has one.
pub async fn default_of(
    conn: &mut AnyConnection,
    organization_id: &str,
) -> Result<Option<RoleRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {ROLE_COLUMNS} FROM roles r
         WHERE r.organization_id = $1 AND r.default_role = 1 AND r.revoked IS NULL"
    ))
    .bind(organization_id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(role_from_row)
    .transpose()
}

/// What a user may do in an organization: the permissions of the roles he holds there (none
/// for a non-member).
pub async fn permissions_of(
    conn: &mut AnyConnection,
    user_id: &str,
    organization_id: &str,
) -> Result<PermissionSet, sqlx::Error> {
    let held = held_roles(conn, user_id, organization_id).await?;
    Ok(PermissionSet::new(
        held.into_iter()
            .flat_map(|h| h.permissions)
            .map(|p| Permission::from_stored(p.resource, p.action))
            .collect(),
    ))
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

/// What roles are listed by; ties are broken by role ID, so pages never repeat or skip one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleOrder {
    Created,
    Updated,
    Name,
}

impl RoleOrder {
    fn column(self) -> &'static str {
        match self {
            RoleOrder::Created => "r.created",
            RoleOrder::Updated => "r.updated",
            RoleOrder::Name => "r.name",
        }
    }
}

/// `$first, $first+1, …` for an `IN (…)` list of `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One page of the roles of `organizations` (revoked ones too when asked), and whether more
/// follow.
pub async fn page(
    conn: &mut AnyConnection,
    organizations: &[String],
    include_revoked: bool,
    order: RoleOrder,
    descending: bool,
    offset: i64,
    records: i64,
) -> Result<(Vec<RoleRow>, bool), sqlx::Error> {
    if organizations.is_empty() {
        return Ok((Vec::new(), false));
    }
    let column = order.column();
    let direction = if descending { "DESC" } else { "ASC" };
    let live = if include_revoked {
        ""
    } else {
        "AND r.revoked IS NULL"
    };
    let sql = format!(
        "SELECT {ROLE_COLUMNS} FROM roles r WHERE r.organization_id IN ({}) {live}
         ORDER BY {column} {direction}, r.id {direction} LIMIT $1 OFFSET $2",
        placeholders(3, organizations.len())
    );
    let mut query = sqlx::query(&sql).bind(records + 1).bind(offset);
    for o in organizations {
        query = query.bind(o);
    }
    let mut roles: Vec<RoleRow> = query
        .fetch_all(conn)
        .await?
        .iter()
        .map(role_from_row)
        .collect::<Result<_, _>>()?;
    let more = roles.len() as i64 > records;
    roles.truncate(records as usize);
    Ok((roles, more))
}

/// A role of one of `organizations` (tried in order) by ID, or else by exact name. Live roles
/// only unless `include_revoked`; by name a live role wins, then the most recently revoked.
pub async fn find(
    conn: &mut AnyConnection,
    organizations: &[String],
    key: &str,
    include_revoked: bool,
) -> Result<Option<RoleRow>, sqlx::Error> {
    let live = if include_revoked {
        ""
    } else {
        "AND r.revoked IS NULL"
    };
    let sql = format!(
        "SELECT {ROLE_COLUMNS} FROM roles r
         WHERE r.organization_id = $1 AND (r.id = $2 OR r.name = $3) {live}
         ORDER BY CASE WHEN r.revoked IS NULL THEN 0 ELSE 1 END, r.revoked DESC, r.id DESC
         LIMIT 1"
    );
    for organization_id in organizations {
        let row = sqlx::query(&sql)
            .bind(organization_id)
            .bind(key)
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = row {
            return role_from_row(&row).map(Some);
        }
    }
    Ok(None)
}

/// The live permissions of each of `role_ids`, oldest first.
pub async fn live_permissions_of(
    conn: &mut AnyConnection,
    role_ids: &[String],
) -> Result<HashMap<String, Vec<PermissionRow>>, sqlx::Error> {
    let mut by_role: HashMap<String, Vec<PermissionRow>> = HashMap::new();
    if role_ids.is_empty() {
        return Ok(by_role);
    }
    let sql = format!(
        "SELECT id, role_id, resource, action, created, updated, changed_by, revoked, deleted
         FROM permissions WHERE role_id IN ({}) AND revoked IS NULL ORDER BY created, id",
        placeholders(1, role_ids.len())
    );
    let mut query = sqlx::query(&sql);
    for id in role_ids {
        query = query.bind(id);
    }
    for row in query.fetch_all(conn).await? {
        let p = permission_from_row(&row)?;
        by_role.entry(p.role_id.clone()).or_default().push(p);
    }
    Ok(by_role)
}

/// Writes a role's name and description, and when and by whom it last changed. Fails with a
/// unique violation when another live role of the organization has the name.
pub async fn update(conn: &mut AnyConnection, r: &RoleRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE roles SET name = $1, description = $2, updated = $3, changed_by = $4 WHERE id = $5",
    )
    .bind(&r.name)
    .bind(&r.description)
    .bind(r.updated)
    .bind(&r.changed_by)
    .bind(&r.id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes a role the organization's default, or stops it being one. Making it the default takes
/// the mark from any other live role of the organization; answers the IDs of those.
pub async fn set_default(
    conn: &mut AnyConnection,
    role: &RoleRow,
    default: bool,
    now: Millis,
    by: Option<&str>,
) -> Result<Vec<String>, sqlx::Error> {
    let previous = if default {
        sqlx::query_scalar::<_, String>(
            "UPDATE roles SET default_role = 0, updated = $1, changed_by = $2
             WHERE organization_id = $3 AND default_role = 1 AND revoked IS NULL AND id <> $4
             RETURNING id",
        )
        .bind(now)
        .bind(by)
        .bind(&role.organization_id)
        .bind(&role.id)
        .fetch_all(&mut *conn)
        .await?
    } else {
        Vec::new()
    };
    sqlx::query("UPDATE roles SET default_role = $1, updated = $2, changed_by = $3 WHERE id = $4")
        .bind(flag(default))
        .bind(now)
        .bind(by)
        .bind(&role.id)
        .execute(conn)
        .await?;
    Ok(previous)
}

/// Soft-deletes a live role; false when it was not live any more.
pub async fn revoke(
    conn: &mut AnyConnection,
    role_id: &str,
    now: Millis,
    by: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE roles SET revoked = $1, deleted = 1, updated = $2, changed_by = $3
         WHERE id = $4 AND revoked IS NULL",
    )
    .bind(now)
    .bind(now)
    .bind(by)
    .bind(role_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes one live permission; false when it was not live any more.
pub async fn revoke_permission(
    conn: &mut AnyConnection,
    permission_id: &str,
    now: Millis,
    by: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE permissions SET revoked = $1, deleted = 1, updated = $2, changed_by = $3
         WHERE id = $4 AND revoked IS NULL",
    )
    .bind(now)
    .bind(now)
    .bind(by)
    .bind(permission_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
