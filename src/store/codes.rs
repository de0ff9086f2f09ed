//! Single-use codes mailed to people (password reset, invitation), kept only as digests. An
//! invitation is its code's row: it keeps its ID when resent (a new digest) and stays, with how
//! it ended, after its code is spent.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::clock::Millis;
pub use crate::domain::CodeKind;
use crate::domain::{InvitationEnd, InvitationState};

#[derive(Debug, Clone)]
pub struct CodeRow {
    pub id: String,
    pub kind: CodeKind,
    pub digest: String,
    /// None only for an invitation whose user was retired when it was revoked.
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
    /// For invitations: the JSON array of role IDs the user receives.
    pub role_ids: Option<String>,
    pub created: Millis,
    pub expires: Millis,
    pub used: Option<Millis>,
    pub failed_attempts: i64,
    pub created_by: Option<String>,
    /// An invitation that created its user (or renewed, from the same organization, one that
    /// did): the only kind that may set his first password and enable him.
    pub enables_user: bool,
    /// For invitations: the address invited, as typed.
    pub email: Option<String>,
    /// For invitations: how it ended (at `used`).
    pub outcome: Option<InvitationEnd>,
    /// When the code was last made: at the invitation or its latest resend.
    pub sent: Millis,
    pub updated: Millis,
    pub changed_by: Option<String>,
}

impl CodeRow {
    /// A new code of `kind` for a user, made at `now`, with nothing else said.
    pub fn new(
        id: String,
        kind: CodeKind,
        digest: String,
        user_id: &str,
        now: Millis,
        expires: Millis,
    ) -> Self {
        Self {
            id,
            kind,
            digest,
            user_id: Some(user_id.to_string()),
            organization_id: None,
            role_ids: None,
            created: now,
            expires,
            used: None,
            failed_attempts: 0,
            created_by: None,
            enables_user: false,
            email: None,
            outcome: None,
            sent: now,
            updated: now,
            changed_by: None,
        }
    }

    /// Whether the code may still be used at `now`.
    pub fn is_usable(&self, now: Millis) -> bool {
        self.used.is_none() && now < self.expires
    }

    /// The role IDs an invitation gives; none for anything else.
    pub fn role_ids(&self) -> Vec<String> {
        self.role_ids
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default()
    }

    /// Where an invitation stands at `now`.
    pub fn state(&self, now: Millis) -> InvitationState {
        InvitationState::of(self.outcome, self.is_usable(now))
    }

    /// Whether the code was made for this user.
    pub fn is_for(&self, user_id: &str) -> bool {
        self.user_id.as_deref() == Some(user_id)
    }
}

const COLUMNS: &str = "id, kind, digest, user_id, organization_id, role_ids, created, expires, \
    used, failed_attempts, created_by, enables_user, email, outcome, sent, updated, changed_by";

/// The same columns read from `codes c` joined with its user `u`: an invitation made before
/// its address was kept answers its user's.
const JOINED: &str = "c.id, c.kind, c.digest, c.user_id, c.organization_id, c.role_ids, \
    c.created, c.expires, c.used, c.failed_attempts, c.created_by, c.enables_user, \
    COALESCE(c.email, u.email) AS email, c.outcome, c.sent, c.updated, c.changed_by";

fn outcome(stored: Option<String>) -> Result<Option<InvitationEnd>, sqlx::Error> {
    stored
        .map(|o| {
            InvitationEnd::parse(&o)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown outcome {o:?}").into()))
        })
        .transpose()
}

fn kind(stored: String) -> Result<CodeKind, sqlx::Error> {
    CodeKind::parse(&stored)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown code kind {stored:?}").into()))
}

fn from_row(r: &AnyRow) -> Result<CodeRow, sqlx::Error> {
    Ok(CodeRow {
        id: r.try_get("id")?,
        kind: kind(r.try_get("kind")?)?,
        digest: r.try_get("digest")?,
        user_id: r.try_get("user_id")?,
        organization_id: r.try_get("organization_id")?,
        role_ids: r.try_get("role_ids")?,
        created: r.try_get("created")?,
        expires: r.try_get("expires")?,
        used: r.try_get("used")?,
        failed_attempts: r.try_get("failed_attempts")?,
        created_by: r.try_get("created_by")?,
        enables_user: r.try_get::<i64, _>("enables_user")? != 0,
        email: r.try_get("email")?,
        outcome: outcome(r.try_get("outcome")?)?,
        sent: r.try_get("sent")?,
        updated: r.try_get("updated")?,
        changed_by: r.try_get("changed_by")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, c: &CodeRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO codes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
            $15, $16, $17)"
    ))
    .bind(&c.id)
    .bind(c.kind.as_str())
    .bind(&c.digest)
    .bind(&c.user_id)
    .bind(&c.organization_id)
    .bind(&c.role_ids)
    .bind(c.created)
    .bind(c.expires)
    .bind(c.used)
    .bind(c.failed_attempts)
    .bind(&c.created_by)
    .bind(super::flag(c.enables_user))
    .bind(&c.email)
    .bind(c.outcome.map(InvitationEnd::as_str))
    .bind(c.sent)
    .bind(c.updated)
    .bind(&c.changed_by)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find_by_digest(
    conn: &mut AnyConnection,
    digest: &str,
) -> Result<Option<CodeRow>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM codes WHERE digest = $1"))
        .bind(digest)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Marks a live code used; answers whether this call was the one that did, so two concurrent
/// uses of one code cannot both succeed, nor one that was replaced or expired meanwhile.
pub async fn consume(conn: &mut AnyConnection, id: &str, now: Millis) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE codes SET used = $1 WHERE id = $2 AND used IS NULL AND expires > $1")
            .bind(now)
            .bind(id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether an invitation of this organization created the user (used or not).
pub async fn invited_into_being(
    conn: &mut AnyConnection,
    user_id: &str,
    organization_id: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM codes
         WHERE user_id = $1 AND organization_id = $2 AND kind = 'invite' AND enables_user = 1",
    )
    .bind(user_id)
    .bind(organization_id)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// Ends a user's unused codes of a kind (for an organization, when given), e.g. when a newer
/// invitation replaces them.
pub async fn retire_unused(
    conn: &mut AnyConnection,
    user_id: &str,
    kind: CodeKind,
    organization_id: Option<&str>,
    now: Millis,
) -> Result<(), sqlx::Error> {
    // A replaced invitation says so; a reset code has no outcome.
    let outcome = (kind == CodeKind::Invite).then_some(InvitationEnd::Replaced.as_str());
    sqlx::query(
        "UPDATE codes SET used = $1, updated = $1, outcome = $5
         WHERE user_id = $2 AND kind = $3 AND used IS NULL AND (organization_id = $4 OR $4 = '')",
    )
    .bind(now)
    .bind(user_id)
    .bind(kind.as_str())
    .bind(organization_id.unwrap_or(""))
    .bind(outcome)
    .execute(conn)
    .await?;
    Ok(())
}

/// A user's codes that may still be tried at `now`: unused and unexpired, of any kind.
pub async fn live_of_user(
    conn: &mut AnyConnection,
    user_id: &str,
    now: Millis,
) -> Result<Vec<CodeRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM codes WHERE user_id = $1 AND used IS NULL AND expires > $2"
    ))
    .bind(user_id)
    .bind(now)
    .fetch_all(conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Counts a wrong try against a code; at `limit` tries it dies (marked used). Answers whether
/// it died now.
pub async fn record_failure(
    conn: &mut AnyConnection,
    id: &str,
    limit: i64,
    now: Millis,
) -> Result<bool, sqlx::Error> {
    let killed: Option<i64> = sqlx::query_scalar(
        "UPDATE codes SET failed_attempts = failed_attempts + 1,
             used = CASE WHEN failed_attempts + 1 >= $1 THEN $2 ELSE used END
         WHERE id = $3 AND used IS NULL
         RETURNING used",
    )
    .bind(limit)
    .bind(now)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .flatten();
    Ok(killed.is_some())
}

// ---- invitations ------------------------------------------------------------------------------

/// Uses an invitation's code up as accepted; answers whether this call was the one that did
/// (see [`consume`]).
pub async fn accept(
    conn: &mut AnyConnection,
    id: &str,
    now: Millis,
    by: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE codes SET used = $1, updated = $1, outcome = 'accepted', changed_by = $3
         WHERE id = $2 AND kind = 'invite' AND used IS NULL AND expires > $1",
    )
    .bind(now)
    .bind(id)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends an invitation not yet ended (expired or not): its code stops working. Answers whether
/// this call ended it.
pub async fn end(
    conn: &mut AnyConnection,
    id: &str,
    how: InvitationEnd,
    now: Millis,
    by: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE codes SET used = $1, updated = $1, outcome = $3, changed_by = $4
         WHERE id = $2 AND kind = 'invite' AND used IS NULL",
    )
    .bind(now)
    .bind(id)
    .bind(how.as_str())
    .bind(by)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives an invitation not yet ended a new code (the old digest stops matching) and a new
/// life. Answers whether it was still there to renew.
pub async fn renew(
    conn: &mut AnyConnection,
    id: &str,
    digest: &str,
    expires: Millis,
    now: Millis,
    by: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE codes SET digest = $1, expires = $2, sent = $3, updated = $3, changed_by = $4,
             failed_attempts = 0
         WHERE id = $5 AND kind = 'invite' AND used IS NULL",
    )
    .bind(digest)
    .bind(expires)
    .bind(now)
    .bind(by)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An invitation of one of `organizations`, by its ID.
pub async fn find_invitation(
    conn: &mut AnyConnection,
    id: &str,
    organizations: &[String],
) -> Result<Option<CodeRow>, sqlx::Error> {
    if organizations.is_empty() {
        return Ok(None);
    }
    let sql = format!(
        "SELECT {JOINED} FROM codes c LEFT JOIN users u ON u.id = c.user_id
         WHERE c.id = $1 AND c.kind = 'invite' AND c.organization_id IN ({})",
        placeholders(2, organizations.len())
    );
    let mut query = sqlx::query(&sql).bind(id);
    for o in organizations {
        query = query.bind(o);
    }
    query
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// An invitation made for this user, by its ID.
pub async fn find_invitation_for(
    conn: &mut AnyConnection,
    id: &str,
    user_id: &str,
) -> Result<Option<CodeRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {JOINED} FROM codes c LEFT JOIN users u ON u.id = c.user_id
         WHERE c.id = $1 AND c.kind = 'invite' AND c.user_id = $2"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The invitations made for this user that he may still accept at `now`, oldest first.
pub async fn pending_for(
    conn: &mut AnyConnection,
    user_id: &str,
    now: Millis,
) -> Result<Vec<CodeRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {JOINED} FROM codes c LEFT JOIN users u ON u.id = c.user_id
         WHERE c.user_id = $1 AND c.kind = 'invite' AND c.used IS NULL AND c.expires > $2
         ORDER BY c.created, c.id"
    ))
    .bind(user_id)
    .bind(now)
    .fetch_all(conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// How invitations are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationOrder {
    Created,
    Updated,
    Email,
}

/// One page of the invitations of `organizations`, in the given states (all when none), and
/// whether more follow. Ties are broken by ID, so pages never skip or repeat one.
#[allow(clippy::too_many_arguments)]
pub async fn page_of_invitations(
    conn: &mut AnyConnection,
    organizations: &[String],
    states: &[InvitationState],
    now: Millis,
    order: InvitationOrder,
    descending: bool,
    offset: i64,
    records: i64,
) -> Result<(Vec<CodeRow>, bool), sqlx::Error> {
    if organizations.is_empty() {
        return Ok((Vec::new(), false));
    }
    let mut clauses = vec![format!(
        "c.kind = 'invite' AND c.organization_id IN ({})",
        placeholders(1, organizations.len())
    )];
    // The instant follows the organizations, bound only when a state asks for it (PostgreSQL
    // refuses a parameter it cannot place).
    let at = format!("${}", organizations.len() + 1);
    if !states.is_empty() {
        let each: Vec<String> = states
            .iter()
            .map(|s| match s {
                InvitationState::Pending => {
                    format!("(c.outcome IS NULL AND c.used IS NULL AND c.expires > {at})")
                }
                InvitationState::Expired => {
                    format!("(c.outcome IS NULL AND (c.used IS NOT NULL OR c.expires <= {at}))")
                }
                InvitationState::Accepted => "c.outcome = 'accepted'".into(),
                InvitationState::Declined => "c.outcome = 'declined'".into(),
                InvitationState::Revoked => "c.outcome IN ('revoked', 'replaced')".into(),
            })
            .collect();
        clauses.push(format!("({})", each.join(" OR ")));
    }
    let timed = states
        .iter()
        .any(|s| matches!(s, InvitationState::Pending | InvitationState::Expired));
    let column = match order {
        InvitationOrder::Created => "c.created",
        InvitationOrder::Updated => "c.updated",
        InvitationOrder::Email => "LOWER(COALESCE(c.email, u.email, ''))",
    };
    let direction = if descending { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {JOINED} FROM codes c LEFT JOIN users u ON u.id = c.user_id
         WHERE {}
         ORDER BY {column} {direction}, c.id {direction}
         LIMIT {} OFFSET {}",
        clauses.join(" AND "),
        records + 1,
        offset
    );
    let mut query = sqlx::query(&sql);
    for o in organizations {
        query = query.bind(o);
    }
    if timed {
        query = query.bind(now);
    }
    let mut rows = query
        .fetch_all(conn)
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let more = rows.len() as i64 > records;
    rows.truncate(records as usize);
    Ok((rows, more))
}

/// `$first, $first+1, …` for an `IN (…)` list of `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the user has a live invitation of another organization than `organization_id`.
pub async fn invited_elsewhere(
    conn: &mut AnyConnection,
    user_id: &str,
    organization_id: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM codes
         WHERE user_id = $1 AND kind = 'invite' AND used IS NULL AND organization_id <> $2",
    )
    .bind(user_id)
    .bind(organization_id)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// Lets go of a user about to be retired: his invitations stay, without him (their e-mail
/// kept); any other code of his goes.
pub async fn forget_user(conn: &mut AnyConnection, user_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE codes SET email = COALESCE(email, (SELECT u.email FROM users u WHERE u.id = $1)),
             user_id = NULL
         WHERE user_id = $1 AND kind = 'invite'",
    )
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM codes WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}
