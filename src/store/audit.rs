//! Security audit events: who did what to whom, how it ended, from where, and when. Written in
//! the transaction of the change they describe, so an event exists exactly when the change does.
//!
//! The trail is tamper-evident: each organization's events form a chain (the events of no
//! organization one more), each event carrying its sequence number in the chain, the digest of
//! the event before it, and its own digest (SHA-256 over a canonical encoding of its fields and
//! that previous digest). Changing, removing or inserting an event breaks the chain from there
//! on; removing the last one leaves the chain's head past its end. `verify` walks the chains.

use sha2::{Digest as _, Sha256};
use sqlx::{AnyConnection, Row};

use crate::clock::Millis;
use crate::domain::ids;
use crate::origin::Origin;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Outcome {
    /// It was done.
    #[default]
    Succeeded,
    /// It was tried and did not work (a wrong password, a reused token).
    Failed,
    /// The caller was not allowed to (a 403), or was over a limit.
    Refused,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Succeeded, Outcome::Failed, Outcome::Refused];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// An event to record. Never carries a secret (password, token, token digest, code, ID token):
/// token IDs (`TOK-…`) are not secrets. The client address and user agent are not passed: they
/// are those of the request in flight (`crate::origin`).
#[derive(Debug, Clone, Default)]
pub struct AuditEvent<'a> {
    /// Who did it (a user ID); none for anonymous attempts.
    pub actor_id: Option<&'a str>,
    /// Whose chain the event joins and who may read it; none for events of no organization
    /// (e.g. a failed login of an unknown e-mail), readable by platform administrators only.
    pub organization_id: Option<&'a str>,
    /// A dotted verb, e.g. `login.succeeded`, `role.revoked`.
    pub action: &'a str,
    /// The user acted on, if any.
    pub subject_id: Option<&'a str>,
    /// The entity acted on (a role, a token ID, a code ID), if any.
    pub target_id: Option<&'a str>,
    pub outcome: Outcome,
    /// Why it failed or was refused.
    pub reason: Option<&'a str>,
    /// JSON with what changed (`before`/`after`) or more about the attempt; never a secret.
    pub details: Option<serde_json::Value>,
    /// Where the request came from, for an event written away from its request (a batch of
    /// rotations written by a task of its own); none: the request in flight.
    pub origin: Option<&'a Origin>,
}

/// The chain an event of `organization_id` joins.
pub fn chain_of(organization_id: Option<&str>) -> &str {
    organization_id.unwrap_or("")
}

/// Records one event: about two statements (the chain head's update, the insert).
pub async fn record(
    conn: &mut AnyConnection,
    now: Millis,
    e: &AuditEvent<'_>,
) -> Result<(), sqlx::Error> {
    record_many(conn, now, std::slice::from_ref(e)).await
}

/// The fields of an event as stored, in the order the digest covers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: String,
    pub occurred: Millis,
    pub chain: Option<String>,
    pub seq: Option<i64>,
    pub actor_id: Option<String>,
    pub organization_id: Option<String>,
    pub subject_id: Option<String>,
    pub action: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub target_id: Option<String>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
    pub details: Option<String>,
    pub prev_digest: Option<String>,
    pub digest: Option<String>,
}

impl StoredEvent {
    /// The digest the event should carry: SHA-256 over each field, length-prefixed (so no two
    /// different events encode alike), then the previous event's digest.
    pub fn compute_digest(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |v: Option<&str>| match v {
            None => h.update([0u8]),
            Some(s) => {
                h.update([1u8]);
                h.update((s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
        };
        field(Some("bf-audit-1"));
        field(self.chain.as_deref());
        field(self.seq.map(|s| s.to_string()).as_deref());
        field(Some(&self.id));
        field(Some(&self.occurred.to_string()));
        field(self.actor_id.as_deref());
        field(self.organization_id.as_deref());
        field(self.subject_id.as_deref());
        field(Some(&self.action));
        field(Some(&self.outcome));
        field(self.reason.as_deref());
        field(self.target_id.as_deref());
        field(self.client_address.as_deref());
        field(self.user_agent.as_deref());
        field(self.details.as_deref());
        field(self.prev_digest.as_deref());
        hex(&h.finalize())
    }

    /// The details as JSON (stored as text).
    pub fn details_json(&self) -> Option<serde_json::Value> {
        self.details
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Records events of one transaction together: per chain, one update of its head reserving
/// their sequence numbers; then one insert of them all. A batch of refresh rotations thus
/// costs a head update per organization, not per rotation.
pub async fn record_many(
    conn: &mut AnyConnection,
    now: Millis,
    events: &[AuditEvent<'_>],
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let current = crate::origin::current();
    // The chains in the order their first event comes, each with its events.
    let mut chains: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let chain = chain_of(e.organization_id);
        match chains.iter_mut().find(|(c, _)| *c == chain) {
            Some((_, members)) => members.push(i),
            None => chains.push((chain, vec![i])),
        }
    }
    let mut rows: Vec<Option<StoredEvent>> = vec![None; events.len()];
    for (chain, members) in &chains {
        let k = members.len() as i64;
        let (last, mut prev) = reserve(conn, chain, k).await?;
        let mut seq = last - k;
        for &i in members {
            seq += 1;
            let e = &events[i];
            let origin = e.origin.unwrap_or(&current);
            let mut row = StoredEvent {
                id: ids::new_id(ids::AUDIT),
                occurred: now,
                chain: Some(chain.to_string()),
                seq: Some(seq),
                actor_id: e.actor_id.map(str::to_string),
                organization_id: e.organization_id.map(str::to_string),
                subject_id: e.subject_id.map(str::to_string),
                action: e.action.to_string(),
                outcome: e.outcome.as_str().to_string(),
                reason: e.reason.map(str::to_string),
                target_id: e.target_id.map(str::to_string),
                client_address: origin.address.map(|a| a.to_string()),
                user_agent: origin.user_agent.as_deref().map(str::to_string),
                details: e.details.as_ref().map(|d| d.to_string()),
                prev_digest: Some(prev),
                digest: None,
            };
            let digest = row.compute_digest();
            row.digest = Some(digest.clone());
            prev = digest;
            rows[i] = Some(row);
        }
    }
    let rows: Vec<StoredEvent> = rows.into_iter().flatten().collect();
    insert(conn, &rows).await
}

/// Moves a chain's head `k` events on (creating it at the first event): answers the new last
/// sequence number and the digest of the event before the reserved ones ("" at the start).
/// The update holds the head's row until commit, so appenders of one chain take turns.
async fn reserve(
    conn: &mut AnyConnection,
    chain: &str,
    k: i64,
) -> Result<(i64, String), sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO audit_chains (chain, last_seq) VALUES ($1, $2)
         ON CONFLICT (chain) DO UPDATE SET last_seq = audit_chains.last_seq + excluded.last_seq
         RETURNING last_seq,
             (SELECT e.digest FROM audit_events e WHERE e.chain = $1 AND e.seq = last_seq - $2) AS prev",
    )
    .bind(chain)
    .bind(k)
    .fetch_one(&mut *conn)
    .await?;
    let last: i64 = row.try_get("last_seq")?;
    let prev: Option<String> = row.try_get("prev")?;
    let before = last - k;
    let prev = match prev {
        Some(p) => p,
        None if before < 1 => String::new(),
        // On PostgreSQL, an appender that waited for another's commit read the events as they
        // were when its statement began: the other's event is read again, now committed.
        None => sqlx::query_scalar::<_, Option<String>>(
            "SELECT digest FROM audit_events WHERE chain = $1 AND seq = $2",
        )
        .bind(chain)
        .bind(before)
        .fetch_optional(&mut *conn)
        .await?
        .flatten()
        // The last event is gone (deleted behind the service's back): the chain goes on, and
        // verification reports the gap.
        .unwrap_or_default(),
    };
    Ok((last, prev))
}

const COLUMNS: &str = "id, occurred, chain, seq, actor_id, organization_id, subject_id, action, \
     outcome, reason, target_id, client_address, user_agent, details, prev_digest, digest";

async fn insert(conn: &mut AnyConnection, rows: &[StoredEvent]) -> Result<(), sqlx::Error> {
    const PER_ROW: usize = 16;
    let values: Vec<String> = (0..rows.len())
        .map(|r| {
            let n: Vec<String> = (1..=PER_ROW)
                .map(|c| format!("${}", r * PER_ROW + c))
                .collect();
            format!("({})", n.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO audit_events ({COLUMNS}) VALUES {}",
        values.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for r in rows {
        q = q
            .bind(r.id.clone())
            .bind(r.occurred)
            .bind(r.chain.clone())
            .bind(r.seq)
            .bind(r.actor_id.clone())
            .bind(r.organization_id.clone())
            .bind(r.subject_id.clone())
            .bind(r.action.clone())
            .bind(r.outcome.clone())
            .bind(r.reason.clone())
            .bind(r.target_id.clone())
            .bind(r.client_address.clone())
            .bind(r.user_agent.clone())
            .bind(r.details.clone())
            .bind(r.prev_digest.clone())
            .bind(r.digest.clone());
    }
    q.execute(conn).await?;
    Ok(())
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<StoredEvent, sqlx::Error> {
    Ok(StoredEvent {
        id: r.try_get("id")?,
        occurred: r.try_get("occurred")?,
        chain: r.try_get("chain")?,
        seq: r.try_get("seq")?,
        actor_id: r.try_get("actor_id")?,
        organization_id: r.try_get("organization_id")?,
        subject_id: r.try_get("subject_id")?,
        action: r.try_get("action")?,
        outcome: r.try_get("outcome")?,
        reason: r.try_get("reason")?,
        target_id: r.try_get("target_id")?,
        client_address: r.try_get("client_address")?,
        user_agent: r.try_get("user_agent")?,
        details: r.try_get("details")?,
        prev_digest: r.try_get("prev_digest")?,
        digest: r.try_get("digest")?,
    })
}

/// Which events a listing wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Events of these organizations…
    pub organizations: Vec<String>,
    /// …and those of no organization.
    pub unattached: bool,
    pub actor_id: Option<String>,
    pub subject_id: Option<String>,
    /// Any of these actions.
    pub actions: Vec<String>,
    pub outcome: Option<Outcome>,
    /// From this instant on (inclusive).
    pub from: Option<Millis>,
    /// Before this instant (exclusive).
    pub to: Option<Millis>,
    /// Only events past this one (its time and ID) in the listing's order: how an export
    /// walks its pages without skipping or repeating events written meanwhile.
    pub past: Option<(Millis, String)>,
}

/// A page of events matching `filter`, by time (then ID), newest first when `descending`.
pub async fn list(
    conn: &mut AnyConnection,
    filter: &Filter,
    descending: bool,
    offset: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let mut binds: Vec<Bind> = Vec::new();
    let place = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        format!("${}", binds.len())
    };
    let mut whom: Vec<String> = Vec::new();
    if !filter.organizations.is_empty() {
        let list: Vec<String> = filter
            .organizations
            .iter()
            .map(|o| place(Bind::Text(o.clone()), &mut binds))
            .collect();
        whom.push(format!("organization_id IN ({})", list.join(", ")));
    }
    if filter.unattached {
        whom.push("organization_id IS NULL".into());
    }
    if whom.is_empty() {
        return Ok(Vec::new());
    }
    let mut clauses = vec![format!("({})", whom.join(" OR "))];
    if let Some(a) = &filter.actor_id {
        clauses.push(format!(
            "actor_id = {}",
            place(Bind::Text(a.clone()), &mut binds)
        ));
    }
    if let Some(s) = &filter.subject_id {
        clauses.push(format!(
            "subject_id = {}",
            place(Bind::Text(s.clone()), &mut binds)
        ));
    }
    if !filter.actions.is_empty() {
        let list: Vec<String> = filter
            .actions
            .iter()
            .map(|a| place(Bind::Text(a.clone()), &mut binds))
            .collect();
        clauses.push(format!("action IN ({})", list.join(", ")));
    }
    if let Some(o) = filter.outcome {
        clauses.push(format!(
            "outcome = {}",
            place(Bind::Text(o.as_str().into()), &mut binds)
        ));
    }
    if let Some(from) = filter.from {
        clauses.push(format!(
            "occurred >= {}",
            place(Bind::Int(from), &mut binds)
        ));
    }
    if let Some(to) = filter.to {
        clauses.push(format!("occurred < {}", place(Bind::Int(to), &mut binds)));
    }
    if let Some((at, id)) = &filter.past {
        let cmp = if descending { "<" } else { ">" };
        let a = place(Bind::Int(*at), &mut binds);
        let b = place(Bind::Text(id.clone()), &mut binds);
        clauses.push(format!(
            "(occurred {cmp} {a} OR (occurred = {a} AND id {cmp} {b}))"
        ));
    }
    let order = if descending { "DESC" } else { "ASC" };
    let limit_at = place(Bind::Int(limit), &mut binds);
    let offset_at = place(Bind::Int(offset), &mut binds);
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_events WHERE {}
         ORDER BY occurred {order}, id {order} LIMIT {limit_at} OFFSET {offset_at}",
        clauses.join(" AND ")
    );
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s),
            Bind::Int(i) => q.bind(i),
        };
    }
    q.fetch_all(conn).await?.iter().map(from_row).collect()
}

enum Bind {
    Text(String),
    Int(i64),
}

/// The newest events first, whatever their organization; for tests and operators.
pub async fn recent(conn: &mut AnyConnection, limit: i64) -> Result<Vec<StoredEvent>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_events ORDER BY occurred DESC, seq DESC, id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Every chain: those with a head, and any whose events have none (its head was deleted).
pub async fn chains(conn: &mut AnyConnection) -> Result<Vec<(String, Option<i64>)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT chain, last_seq FROM audit_chains
         UNION
         SELECT DISTINCT chain, CAST(NULL AS BIGINT) FROM audit_events
         WHERE chain IS NOT NULL AND chain NOT IN (SELECT chain FROM audit_chains)
         ORDER BY chain",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("chain")?, r.try_get("last_seq")?)))
        .collect()
}

/// Events of one chain after `after`, in order; a page at a time.
pub async fn chain_page(
    conn: &mut AnyConnection,
    chain: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    ))
    .bind(chain)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// The newest `audit.pruned` event of a chain: where its remaining events start.
pub async fn last_pruning(
    conn: &mut AnyConnection,
    chain: &str,
) -> Result<Option<StoredEvent>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE chain = $1 AND action = $2
         ORDER BY seq DESC LIMIT 1"
    ))
    .bind(chain)
    .bind(PRUNED)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The action of the event a pruning leaves at the end of the chain it shortened.
pub const PRUNED: &str = "audit.pruned";

/// Rows written before the chains existed: not chained, so not verifiable.
pub async fn unchained(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE chain IS NULL")
        .fetch_one(conn)
        .await
}

/// The prefix of a chain older than `before`, ending at `at_most` or earlier: the sequence
/// number and digest of its last event, and how many events it holds. Whole prefixes only: it
/// ends before the first event that is not old enough, whatever comes after.
pub async fn old_prefix(
    conn: &mut AnyConnection,
    chain: &str,
    before: Millis,
    at_most: i64,
) -> Result<Option<(i64, String, i64)>, sqlx::Error> {
    let young: Option<i64> =
        sqlx::query_scalar("SELECT MIN(seq) FROM audit_events WHERE chain = $1 AND occurred >= $2")
            .bind(chain)
            .bind(before)
            .fetch_one(&mut *conn)
            .await?;
    let through: Option<i64> = match young {
        Some(first_young) => Some(first_young - 1),
        None => {
            sqlx::query_scalar("SELECT MAX(seq) FROM audit_events WHERE chain = $1")
                .bind(chain)
                .fetch_one(&mut *conn)
                .await?
        }
    };
    let Some(through) = through.map(|t| t.min(at_most)) else {
        return Ok(None);
    };
    let row = sqlx::query(
        "SELECT (SELECT digest FROM audit_events WHERE chain = $1 AND seq = $2) AS digest,
                (SELECT COUNT(*) FROM audit_events WHERE chain = $1 AND seq <= $2) AS n",
    )
    .bind(chain)
    .bind(through)
    .fetch_one(&mut *conn)
    .await?;
    let digest: Option<String> = row.try_get("digest")?;
    let n: i64 = row.try_get("n")?;
    Ok(match digest {
        Some(d) if n > 0 => Some((through, d, n)),
        _ => None,
    })
}

/// Removes a chain's events up to `through`.
pub async fn remove_prefix(
    conn: &mut AnyConnection,
    chain: &str,
    through: i64,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM audit_events WHERE chain = $1 AND seq <= $2")
            .bind(chain)
            .bind(through)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_and_the_previous_digest_count() {
        let e = StoredEvent {
            id: "AUD-1".into(),
            occurred: 1,
            chain: Some("ORG-1".into()),
            seq: Some(1),
            actor_id: None,
            organization_id: Some("ORG-1".into()),
            subject_id: None,
            action: "a".into(),
            outcome: "succeeded".into(),
            reason: None,
            target_id: None,
            client_address: None,
            user_agent: None,
            details: None,
            prev_digest: Some(String::new()),
            digest: None,
        };
        let d = e.compute_digest();
        assert_eq!(d.len(), 64);
        let mut other = e.clone();
        other.prev_digest = Some("x".into());
        assert_ne!(other.compute_digest(), d);
        let mut other = e.clone();
        other.reason = Some(String::new());
        assert_ne!(other.compute_digest(), d, "none and empty differ");
        let mut other = e.clone();
        other.action = "a".into();
        assert_eq!(other.compute_digest(), d);
    }
}
