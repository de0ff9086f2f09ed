//! Who belongs to which organization with which roles: listing members page by page, and
//! giving or replacing a member's roles.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::clock::Millis;
use crate::store::organizations::COLUMNS as ORGANIZATION_COLUMNS;
use crate::store::roles::{self, HeldRole, PermissionRow, ROLE_COLUMNS};
use crate::store::users::{self, UserRow, COLUMNS as USER_COLUMNS};

/// What members are ordered by; ties are broken by user ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberOrder {
    Created,
    Updated,
    Email,
}

impl MemberOrder {
    fn column(self) -> &'static str {
        match self {
            MemberOrder::Created => "user_created",
            MemberOrder::Updated => "user_updated",
            MemberOrder::Email => "user_email_key",
        }
    }
}

/// One page of the users who are members of any of `organizations`, and whether more follow.
/// The page is chosen from the memberships index alone (the offset is skipped there, never
/// through the users table), and only its users are read, in the same statement; a user who is
/// a member of several of the organizations counts once.
pub async fn page(
    conn: &mut AnyConnection,
    organizations: &[String],
    order: MemberOrder,
    descending: bool,
    offset: i64,
    records: i64,
) -> Result<(Vec<UserRow>, bool), sqlx::Error> {
    if organizations.is_empty() {
        return Ok((Vec::new(), false));
    }
    let column = order.column();
    let direction = if descending { "DESC" } else { "ASC" };
    let ids = if organizations.len() == 1 {
        format!(
            "SELECT user_id, {column} AS k FROM memberships WHERE organization_id = $3
             ORDER BY {column} {direction}, user_id {direction} LIMIT $1 OFFSET $2"
        )
    } else {
        format!(
            "SELECT user_id, {column} AS k FROM memberships WHERE organization_id IN ({})
             GROUP BY user_id, {column}
             ORDER BY {column} {direction}, user_id {direction} LIMIT $1 OFFSET $2",
            placeholders(3, organizations.len())
        )
    };
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM ({ids}) p JOIN users u ON u.id = p.user_id
         ORDER BY p.k {direction}, p.user_id {direction}"
    );
    let mut query = sqlx::query(&sql).bind(records + 1).bind(offset);
    for o in organizations {
        query = query.bind(o);
    }
    let mut users = query
        .fetch_all(conn)
        .await?
        .iter()
        .map(users::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let more = users.len() as i64 > records;
    users.truncate(records as usize);
    Ok((users, more))
}

/// The value of a member's ordering field (`MemberOrder`): a time, or the e-mail key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderKey {
    Millis(i64),
    Text(String),
}

impl OrderKey {
    fn read(row: &AnyRow, order: MemberOrder, column: &str) -> Result<Option<Self>, sqlx::Error> {
        Ok(match order {
            MemberOrder::Created | MemberOrder::Updated => {
                row.try_get::<Option<i64>, _>(column)?.map(OrderKey::Millis)
            }
            MemberOrder::Email => row
                .try_get::<Option<String>, _>(column)?
                .map(OrderKey::Text),
        })
    }

    fn bind<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        match self {
            OrderKey::Millis(v) => query.bind(*v),
            OrderKey::Text(v) => query.bind(v.as_str()),
        }
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Every `every`-th member of an organization in ascending order (positions 0, `every`,
/// 2·`every`, …) by his ordering key and user ID, with the number of members and the
/// organization's `members_version`, all as of one moment.
#[derive(Debug, Clone)]
pub struct Anchors {
    pub every: i64,
    pub keys: Vec<(OrderKey, String)>,
    pub count: i64,
    pub version: i64,
}

/// Reads the anchors of an organization in one statement (so from one snapshot on both
/// databases). Inside the database, each anchor is found from the previous one by skipping
/// `every` entries of the order's index; only the anchors travel. (A window function,
/// `ROW_NUMBER() OVER (ORDER BY …)`, gives the same rows; on SQLite it took 4 to 5 times as long
/// for 1,000,000 members, 0.7 s against 0.15 s, and on PostgreSQL no less.) `None` when the
/// organization does not exist.
pub async fn anchors(
    conn: &mut AnyConnection,
    organization_id: &str,
    order: MemberOrder,
    every: i64,
) -> Result<Option<Anchors>, sqlx::Error> {
    let col = order.column();
    let next = |out: &str| {
        format!(
            "(SELECT m.{out} FROM memberships m
              WHERE m.organization_id = $1 AND (m.{col}, m.user_id) >= (a.k, a.u)
              ORDER BY m.{col}, m.user_id LIMIT 1 OFFSET $2)"
        )
    };
    // The last row (n = -1) carries the version and how many members there are from the last
    // anchor on (at most `every`: cheaper than counting them all).
    let sql = format!(
        "WITH RECURSIVE a (n, k, u) AS (
            SELECT CAST(0 AS BIGINT), f.k, f.u FROM (
                SELECT {col} AS k, user_id AS u FROM memberships WHERE organization_id = $1
                ORDER BY {col}, user_id LIMIT 1) f
            UNION ALL
            SELECT a.n + 1, {next_k}, {next_u} FROM a WHERE a.u IS NOT NULL
         )
         SELECT n, k, u, CAST(NULL AS BIGINT) AS version, CAST(NULL AS BIGINT) AS tail
         FROM a WHERE u IS NOT NULL
         UNION ALL
         SELECT CAST(-1 AS BIGINT), NULL, NULL,
            (SELECT o.members_version FROM organizations o WHERE o.id = $1),
            (SELECT COUNT(*) FROM memberships m
             JOIN (SELECT k, u FROM a WHERE u IS NOT NULL ORDER BY n DESC LIMIT 1) l
               ON (m.{col}, m.user_id) >= (l.k, l.u)
             WHERE m.organization_id = $1)",
        next_k = next(col),
        next_u = next("user_id"),
    );
    let rows = sqlx::query(&sql)
        .bind(organization_id)
        .bind(every)
        .fetch_all(conn)
        .await?;
    let mut keys: Vec<(i64, OrderKey, String)> = Vec::with_capacity(rows.len());
    let mut version = None;
    let mut tail = 0;
    for row in &rows {
        let n: i64 = row.try_get("n")?;
        if n < 0 {
            version = row.try_get::<Option<i64>, _>("version")?;
            tail = row.try_get::<Option<i64>, _>("tail")?.unwrap_or(0);
        } else if let (Some(k), Some(u)) = (
            OrderKey::read(row, order, "k")?,
            row.try_get::<Option<String>, _>("u")?,
        ) {
            keys.push((n, k, u));
        }
    }
    let Some(version) = version else {
        return Ok(None);
    };
    keys.sort_by_key(|(n, _, _)| *n);
    let count = match keys.len() as i64 {
        0 => 0,
        len => (len - 1) * every + tail,
    };
    Ok(Some(Anchors {
        every,
        keys: keys.into_iter().map(|(_, k, u)| (k, u)).collect(),
        count,
        version,
    }))
}

/// One page of an organization's members, read from an anchor on: the members from
/// `(key, user_id)` on in the order (down from it when `descending`), skipping `skip` of them.
/// Answers with the page's users, whether more follow, and the organization's
/// `members_version` read by the same statement (so the page and the version come from one
/// snapshot); `None` when the organization does not exist.
pub async fn page_from(
    conn: &mut AnyConnection,
    organization_id: &str,
    order: MemberOrder,
    descending: bool,
    anchor: (&OrderKey, &str),
    skip: i64,
    records: i64,
) -> Result<Option<(Vec<UserRow>, bool, i64)>, sqlx::Error> {
    let col = order.column();
    let (direction, from) = if descending {
        ("DESC", "<=")
    } else {
        ("ASC", ">=")
    };
    // The comparison of (key, user ID) pairs is a range of the order's index on both
    // databases. The organization's row is joined to the page so that an empty page still
    // reads the version; the outer ORDER BY sorts at most `records + 1` rows.
    let sql = format!(
        "SELECT o.members_version, {USER_COLUMNS} FROM organizations o
         LEFT JOIN (
            SELECT user_id, {col} AS k FROM memberships
            WHERE organization_id = $1 AND ({col}, user_id) {from} ($2, $3)
            ORDER BY {col} {direction}, user_id {direction} LIMIT $4 OFFSET $5
         ) p ON 1 = 1
         LEFT JOIN users u ON u.id = p.user_id
         WHERE o.id = $1
         ORDER BY p.k {direction}, p.user_id {direction}"
    );
    let (key, user_id) = anchor;
    let query = key
        .bind(sqlx::query(&sql).bind(organization_id))
        .bind(user_id)
        .bind(records + 1)
        .bind(skip);
    let rows = query.fetch_all(conn).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let version: i64 = first.try_get("members_version")?;
    let mut users = Vec::with_capacity(rows.len());
    for row in &rows {
        // An empty page is one row of the organization alone.
        if row.try_get::<Option<String>, _>("id")?.is_some() {
            users.push(users::from_row(row)?);
        }
    }
    let more = users.len() as i64 > records;
    users.truncate(records as usize);
    Ok(Some((users, more, version)))
}

/// The organization's `members_version`; `None` when it does not exist.
pub async fn members_version(
    conn: &mut AnyConnection,
    organization_id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT members_version FROM organizations WHERE id = $1")
        .bind(organization_id)
        .fetch_optional(conn)
        .await
}

/// Gives a user a role unless he holds it already.
pub async fn give_role(
    conn: &mut AnyConnection,
    user_id: &str,
    role_id: &str,
    organization_id: &str,
    now: Millis,
    by: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_roles (user_id, role_id, organization_id, created, changed_by)
         SELECT $1, $2, $3, $4, $5
         WHERE NOT EXISTS (SELECT 1 FROM user_roles WHERE user_id = $1 AND role_id = $2)",
    )
    .bind(user_id)
    .bind(role_id)
    .bind(organization_id)
    .bind(now)
    .bind(by)
    .execute(&mut *conn)
    .await?;
    stop_following_default(conn, user_id, organization_id).await
}

/// From now on the member holds only the roles given to him: the organization's default role
/// stops applying to him, also once his own roles are all taken away or retired.
pub async fn stop_following_default(
    conn: &mut AnyConnection,
    user_id: &str,
    organization_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE memberships SET follows_default = 0
         WHERE user_id = $1 AND organization_id = $2 AND follows_default = 1",
    )
    .bind(user_id)
    .bind(organization_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes `role_ids` the whole set of a user's own roles in an organization.
pub async fn replace_roles(
    conn: &mut AnyConnection,
    user_id: &str,
    organization_id: &str,
    role_ids: &[String],
    now: Millis,
    by: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND organization_id = $2")
        .bind(user_id)
        .bind(organization_id)
        .execute(&mut *conn)
        .await?;
    // Also with no roles at all: `roles: []` leaves him holding nothing, not the default role.
    stop_following_default(conn, user_id, organization_id).await?;
    for role_id in role_ids {
        give_role(conn, user_id, role_id, organization_id, now, by).await?;
    }
    Ok(())
}

/// The live roles of many users in the given organizations at once (each organization's
/// default role for a member who still follows it, see [`stop_following_default`]), with their live
/// permissions, in one statement whatever the number of users. A user's roles come in the
/// order of `organizations`, then by creation; a user who is not a member of an organization
/// holds nothing there.
pub async fn roles_of_users(
    conn: &mut AnyConnection,
    user_ids: &[String],
    organizations: &[String],
) -> Result<HashMap<String, Vec<HeldRole>>, sqlx::Error> {
    let mut out: HashMap<String, Vec<HeldRole>> = HashMap::new();
    if user_ids.is_empty() || organizations.is_empty() {
        return Ok(out);
    }
    let users = placeholders(1, user_ids.len());
    let orgs = placeholders(1 + user_ids.len(), organizations.len());
    // The roles held (own ones, else the default one), then each with its live permissions:
    // one row per permission, or one for a role without any.
    let sql = format!(
        "SELECT h.member_id, h.by_default, {ROLE_COLUMNS},
            p.id AS p_id, p.resource AS p_resource, p.action AS p_action,
            p.created AS p_created, p.updated AS p_updated, p.changed_by AS p_changed_by,
            p.revoked AS p_revoked, p.deleted AS p_deleted
         FROM (
            SELECT m.user_id AS member_id, ur.role_id, CAST(0 AS BIGINT) AS by_default
            FROM memberships m
            JOIN user_roles ur ON ur.user_id = m.user_id AND ur.organization_id = m.organization_id
            WHERE m.user_id IN ({users}) AND m.organization_id IN ({orgs})
            UNION ALL
            SELECT m.user_id, d.id, CAST(1 AS BIGINT)
            FROM memberships m
            JOIN roles d ON d.organization_id = m.organization_id AND d.default_role = 1
                AND d.revoked IS NULL
            WHERE m.user_id IN ({users}) AND m.organization_id IN ({orgs})
              AND m.follows_default = 1
              AND NOT EXISTS (
                SELECT 1 FROM user_roles ur JOIN roles own ON own.id = ur.role_id
                WHERE ur.user_id = m.user_id AND ur.organization_id = m.organization_id
                  AND own.revoked IS NULL)
         ) h
         JOIN roles r ON r.id = h.role_id AND r.revoked IS NULL
         LEFT JOIN permissions p ON p.role_id = r.id AND p.revoked IS NULL
         ORDER BY h.member_id, r.created, r.id, p.created, p.id"
    );
    let mut query = sqlx::query(&sql);
    for u in user_ids {
        query = query.bind(u);
    }
    for o in organizations {
        query = query.bind(o);
    }
    for row in query.fetch_all(&mut *conn).await? {
        let member: String = row.try_get("member_id")?;
        let role_id: String = row.try_get("id")?;
        let held = out.entry(member).or_default();
        if held.last().is_none_or(|h| h.role.id != role_id) {
            held.push(HeldRole {
                role: roles::role_from_row(&row)?,
                permissions: Vec::new(),
                default_returned: row.try_get::<i64, _>("by_default")? != 0,
            });
        }
        if let Some(id) = row.try_get::<Option<String>, _>("p_id")? {
            let permission = PermissionRow {
                id,
                role_id,
                resource: row.try_get("p_resource")?,
                action: row.try_get("p_action")?,
                created: row.try_get("p_created")?,
                updated: row.try_get("p_updated")?,
                changed_by: row.try_get("p_changed_by")?,
                revoked: row.try_get("p_revoked")?,
                deleted: row.try_get::<i64, _>("p_deleted")? != 0,
            };
            if let Some(h) = held.last_mut() {
                h.permissions.push(permission);
            }
        }
    }
    // By organization in the order asked (the sort is stable: creation order within each).
    for held in out.values_mut() {
        held.sort_by_key(|h| {
            organizations
                .iter()
                .position(|o| *o == h.role.organization_id)
        });
    }
    Ok(out)
}

/// `$from, $from+1, …` for `n` values.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The organizations a user is a member of, oldest membership first.
pub async fn of_member(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Vec<super::organizations::OrganizationRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {ORGANIZATION_COLUMNS} FROM organizations o JOIN memberships m ON m.organization_id = o.id
         WHERE m.user_id = $1 AND o.deleted = 0 ORDER BY m.created, o.id"
    ))
    .bind(user_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(super::organizations::from_row)
    .collect()
}

/// The organizations of many users at once, each user's oldest membership first.
pub async fn of_members(
    conn: &mut AnyConnection,
    user_ids: &[String],
) -> Result<HashMap<String, Vec<super::organizations::OrganizationRow>>, sqlx::Error> {
    let mut out: HashMap<String, Vec<_>> = HashMap::new();
    if user_ids.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT m.user_id AS member_id, {ORGANIZATION_COLUMNS}
         FROM organizations o JOIN memberships m ON m.organization_id = o.id
         WHERE m.user_id IN ({}) AND o.deleted = 0 ORDER BY m.user_id, m.created, o.id",
        placeholders(1, user_ids.len())
    );
    let mut query = sqlx::query(&sql);
    for u in user_ids {
        query = query.bind(u);
    }
    for row in query.fetch_all(conn).await? {
        out.entry(row.try_get("member_id")?)
            .or_default()
            .push(super::organizations::from_row(&row)?);
    }
    Ok(out)
}

pub async fn add_member(
    conn: &mut AnyConnection,
    user_id: &str,
    organization_id: &str,
    now: Millis,
    by: Option<&str>,
) -> Result<(), sqlx::Error> {
    // The user's ordering fields are copied for listing members (see migration 0002).
    sqlx::query(
        "INSERT INTO memberships (user_id, organization_id, created, changed_by, user_created,
            user_updated, user_email_key)
         SELECT $1, $2, $3, $4, u.created, u.updated, u.email_key FROM users u WHERE u.id = $1",
    )
    .bind(user_id)
    .bind(organization_id)
    .bind(now)
    .bind(by)
    .execute(&mut *conn)
    .await?;
    super::organizations::bump_members_version(conn, organization_id).await
}

pub async fn is_member(
    conn: &mut AnyConnection,
    user_id: &str,
    organization_id: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships WHERE user_id = $1 AND organization_id = $2",
    )
    .bind(user_id)
    .bind(organization_id)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// How many organizations the user is a member of (deleted ones included: he still belongs).
pub async fn count_of_user(conn: &mut AnyConnection, user_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(conn)
        .await
}

/// Takes the user out of every organization, with his roles there.
pub async fn remove_everywhere(conn: &mut AnyConnection, user_id: &str) -> Result<(), sqlx::Error> {
    super::organizations::bump_members_version_of_user(conn, user_id).await?;
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM memberships WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}
