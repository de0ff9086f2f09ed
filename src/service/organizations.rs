//! Organizations: creating one with its first administrator, and listing a user's.

use sqlx::AnyConnection;

use crate::clock::Millis;
use crate::domain::ids;
use crate::domain::Permission;
use crate::error::ApiError;
use crate::store::organizations::{self, OrganizationRow};
use crate::store::roles::{self, PermissionRow, RoleRow};

/// A customer code from a name: upper-case letters and digits, made unique with a suffix.
pub async fn unique_customer_code(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<String, sqlx::Error> {
    let base: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .take(24)
        .collect();
    let base = if base.is_empty() {
        "ORG".to_string()
    } else {
        base
    };
    let mut candidate = base.clone();
    let mut n = 1;
    while organizations::customer_code_taken(conn, &candidate).await? {
        n += 1;
        candidate = format!("{base}{n}");
    }
    Ok(candidate)
}

/// Creates an organization and its `Administrator` role (`*`/`*`); answers both IDs.
pub async fn create_with_admin_role(
    conn: &mut AnyConnection,
    name: &str,
    now: Millis,
    by: Option<&str>,
) -> Result<(OrganizationRow, RoleRow), ApiError> {
    let org = OrganizationRow {
        id: ids::new_id(ids::ORGANIZATION),
        name: name.to_string(),
        customer_code: unique_customer_code(conn, name).await?,
        created: now,
        updated: now,
        changed_by: by.map(str::to_string),
        deleted: false,
    };
    organizations::insert(conn, &org).await?;
    let role = RoleRow {
        id: ids::new_id(ids::ROLE),
        organization_id: org.id.clone(),
        name: "Administrator".into(),
        description: Some("Everything in this organization".into()),
        default_role: false,
        created: now,
        updated: now,
        changed_by: by.map(str::to_string),
        revoked: None,
        deleted: false,
    };
    roles::insert_role(conn, &role).await?;
    let all = Permission::all();
    roles::insert_permission(
        conn,
        &PermissionRow {
            id: ids::new_id(ids::PERMISSION),
            role_id: role.id.clone(),
            resource: all.resource().into(),
            action: all.action().into(),
            created: now,
            updated: now,
            changed_by: by.map(str::to_string),
            revoked: None,
            deleted: false,
        },
    )
    .await?;
    Ok((org, role))
}
