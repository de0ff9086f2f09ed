//! Organizations (tenants) and who belongs to them.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor, Row};

use crate::clock::Millis;

#[derive(Debug, Clone)]
pub struct OrganizationRow {
    pub id: String,
    pub name: String,
    pub customer_code: String,
    pub created: Millis,
    pub updated: Millis,
    pub changed_by: Option<String>,
    pub deleted: bool,
}

pub(super) const COLUMNS: &str =
    "o.id, o.name, o.customer_code, o.created, o.updated, o.changed_by, o.deleted";

pub(super) fn from_row(r: &AnyRow) -> Result<OrganizationRow, sqlx::Error> {
    Ok(OrganizationRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        customer_code: r.try_get("customer_code")?,
        created: r.try_get("created")?,
        updated: r.try_get("updated")?,
        changed_by: r.try_get("changed_by")?,
        deleted: r.try_get::<i64, _>("deleted")? != 0,
    })
}

pub async fn insert(conn: &mut AnyConnection, o: &OrganizationRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO organizations (id, name, customer_code, created, updated, changed_by, deleted)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&o.id)
    .bind(&o.name)
    .bind(&o.customer_code)
    .bind(o.created)
    .bind(o.updated)
    .bind(&o.changed_by)
    .bind(super::flag(o.deleted))
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts the organization unless its customer code is taken, which it answers with `false`.
/// The insert runs under a savepoint: on PostgreSQL a failed statement aborts the whole
/// transaction, and the code may be taken by a transaction that committed after this one looked.
pub async fn insert_unless_code_taken(
    conn: &mut AnyConnection,
    o: &OrganizationRow,
) -> Result<bool, sqlx::Error> {
    conn.execute("SAVEPOINT organization_insert").await?;
    let inserted = match insert(conn, o).await {
        Ok(()) => true,
        Err(e) if crate::error::is_unique_violation(&e) => {
            conn.execute("ROLLBACK TO SAVEPOINT organization_insert")
                .await?;
            false
        }
        Err(e) => return Err(e),
    };
    conn.execute("RELEASE SAVEPOINT organization_insert")
        .await?;
    Ok(inserted)
}

pub async fn find(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<OrganizationRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM organizations o WHERE o.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The organizations called exactly `name` that are not deleted (names need not be unique).
pub async fn find_by_name(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Vec<OrganizationRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM organizations o WHERE o.name = $1 AND o.deleted = 0 ORDER BY o.id"
    ))
    .bind(name)
    .fetch_all(conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Organizations in the order they were created (their IDs sort so), the next `limit` after
/// `after` (`""`: from the first), each with its number of members.
pub async fn page_with_members(
    conn: &mut AnyConnection,
    after: &str,
    limit: i64,
) -> Result<Vec<(OrganizationRow, i64)>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS},
            (SELECT COUNT(*) FROM memberships m WHERE m.organization_id = o.id) AS members
         FROM organizations o WHERE o.id > $1 ORDER BY o.id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|r| Ok((from_row(r)?, r.try_get("members")?)))
    .collect()
}

/// How a page of organizations is ordered (ties broken by ID, in the same direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrganizationOrder {
    Created,
    Updated,
    Name,
}

impl OrganizationOrder {
    fn column(self) -> &'static str {
        match self {
            OrganizationOrder::Created => "o.created",
            OrganizationOrder::Updated => "o.updated",
            OrganizationOrder::Name => "o.name",
        }
    }
}

/// Which organizations a page is taken from.
#[derive(Debug, Clone, Copy)]
pub struct Among<'a> {
    /// Only those this user is a member of; none: every organization.
    pub member: Option<&'a str>,
    /// Only this one (a token bound to it).
    pub only: Option<&'a str>,
}

/// One page of the live organizations `among` allows, and whether more follow.
pub async fn page(
    conn: &mut AnyConnection,
    among: Among<'_>,
    order: OrganizationOrder,
    descending: bool,
    offset: i64,
    records: i64,
) -> Result<(Vec<OrganizationRow>, bool), sqlx::Error> {
    let direction = if descending { "DESC" } else { "ASC" };
    let mut filters = String::new();
    let mut next = 3;
    if among.member.is_some() {
        filters.push_str(&format!(
            " AND o.id IN (SELECT organization_id FROM memberships WHERE user_id = ${next})"
        ));
        next += 1;
    }
    if among.only.is_some() {
        filters.push_str(&format!(" AND o.id = ${next}"));
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM organizations o WHERE o.deleted = 0{filters}
         ORDER BY {} {direction}, o.id {direction} LIMIT $1 OFFSET $2",
        order.column()
    );
    let mut query = sqlx::query(&sql).bind(records + 1).bind(offset);
    for value in [among.member, among.only].into_iter().flatten() {
        query = query.bind(value);
    }
    let mut organizations: Vec<OrganizationRow> = query
        .fetch_all(conn)
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<_, _>>()?;
    let more = organizations.len() as i64 > records;
    organizations.truncate(records as usize);
    Ok((organizations, more))
}

/// Renames a live organization if its name is still `before`; answers whether it did (not: it
/// changed meanwhile, or is gone).
pub async fn rename(
    conn: &mut AnyConnection,
    id: &str,
    before: &str,
    name: &str,
    now: Millis,
    by: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE organizations SET name = $1, updated = $2, changed_by = $3
         WHERE id = $4 AND name = $5 AND deleted = 0",
    )
    .bind(name)
    .bind(now)
    .bind(by)
    .bind(id)
    .bind(before)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether a customer code is taken (codes are derived from names and must stay unique).
pub async fn customer_code_taken(
    conn: &mut AnyConnection,
    code: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organizations WHERE customer_code = $1")
        .bind(code)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

pub async fn count(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM organizations")
        .fetch_one(conn)
        .await
}

/// Marks the organization's members as changed (see migration 0003), so that every node's
/// positions of its members are known to be out of date. Run it in the transaction of the change.
pub async fn bump_members_version(
    conn: &mut AnyConnection,
    organization_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE organizations SET members_version = members_version + 1 WHERE id = $1")
        .bind(organization_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks the members of every organization the user belongs to as changed: after a change to
/// the ordering fields of his memberships.
pub async fn bump_members_version_of_user(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE organizations SET members_version = members_version + 1
         WHERE id IN (SELECT organization_id FROM memberships WHERE user_id = $1)",
    )
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(())
}
