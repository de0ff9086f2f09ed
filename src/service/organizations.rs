//! Organizations: creating one with its first administrator, and listing a user's.

use sqlx::AnyConnection;

use crate::clock::Millis;
use crate::domain::ids;
use crate::domain::Permission;
use crate::error::ApiError;
use crate::store::organizations::{self, OrganizationRow};
use crate::store::roles::{self, PermissionRow, RoleRow};

/// Customer codes tried after a conflict before giving up: more than sign-ups of one name
/// ever arrive at once.
const CODE_CONFLICTS: usize = 64;

/// A customer code: the base made of the name (its letters and digits, in capitals), with
/// `n` appended from 2 on.
fn customer_code(base: &str, n: u32) -> String {
    match n {
        1 => base.to_string(),
        n => format!("{base}{n}"),
    }
}

/// Creates an organization and its `Administrator` role (`*`/`*`); answers both IDs.
pub async fn create_with_admin_role(
    conn: &mut AnyConnection,
    name: &str,
    now: Millis,
    by: Option<&str>,
) -> Result<(OrganizationRow, RoleRow), ApiError> {
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
    let mut org = OrganizationRow {
        id: ids::new_id(ids::ORGANIZATION),
        name: name.to_string(),
        customer_code: String::new(),
        created: now,
        updated: now,
        changed_by: by.map(str::to_string),
        deleted: false,
    };
    // The first code free as far as this transaction sees; one that a concurrent sign-up of
    // the same name takes first is a unique conflict, and the next one is tried.
    let mut n = 1;
    let mut conflicts = 0;
    loop {
        while organizations::customer_code_taken(conn, &customer_code(&base, n)).await? {
            n += 1;
        }
        org.customer_code = customer_code(&base, n);
        if organizations::insert_unless_code_taken(conn, &org).await? {
            break;
        }
        conflicts += 1;
        if conflicts == CODE_CONFLICTS {
            return Err(ApiError::internal(format!(
                "no free customer code for {base} after {conflicts} conflicts"
            )));
        }
        n += 1;
    }
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
