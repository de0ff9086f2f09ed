//! The audit trail as an operation: reading it, recording refusals, verifying its chains and
//! pruning them. Every other event is recorded by the change it describes (`Change::audit`).

use crate::clock::Millis;
use crate::error::ApiError;
use crate::security::Principal;
use crate::service::authz::Grant;
use crate::service::change::Change;
use crate::service::App;
use crate::store::audit::{self as trail, AuditEvent, Filter, Outcome, StoredEvent};
use crate::store::Store;

/// Records that `caller` was refused an operation (at most
/// [`crate::service::AUDITED_REFUSALS_PER_MINUTE`] a minute): in his own organization's chain (never in
/// the one he reached for, which could otherwise be filled by strangers).
pub async fn refused(app: &App, caller: &Principal, reason: &str, operation: &str) {
    let now = app.clock.now();
    if app.refusals.check(&caller.user_id, now).is_err() {
        tracing::info!(user = %caller.user_id, operation, "refusal not recorded: too many");
        return;
    }
    let recorded = async {
        let mut change = Change::begin_at(app, now).await?;
        change
            .audit(AuditEvent {
                actor_id: Some(&caller.user_id),
                organization_id: Some(&caller.organization_id),
                action: "authorization.refused",
                outcome: Outcome::Refused,
                reason: Some(reason),
                details: Some(serde_json::json!({
                    "operation": operation,
                    "token": caller.token_id,
                })),
                ..Default::default()
            })
            .await?;
        change.commit().await
    };
    // The caller is answered his 403 whatever becomes of its record.
    if let Err(e) = recorded.await {
        tracing::warn!(error = %crate::error::chain(&e), "a refusal could not be recorded");
    }
}

/// Whose events a caller reads: those of his acting organizations; a platform administrator
/// who names no organization also those of none, unless his token is bound to one
/// organization (a permanent token reaches that one only).
pub fn scope(grant: &Grant, named_organizations: bool) -> Result<Filter, ApiError> {
    let caller = grant.caller()?;
    Ok(Filter {
        organizations: grant.organization_ids(),
        unattached: caller.bf_admin && !caller.bound && !named_organizations,
        ..Filter::default()
    })
}

/// A page of the events `filter` selects (its organizations as [`scope`] set them); answers
/// whether more exist past it.
pub async fn list(
    app: &App,
    filter: &Filter,
    descending: bool,
    offset: i64,
    records: i64,
) -> Result<(Vec<StoredEvent>, bool), ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    let mut events = trail::list(&mut conn, filter, descending, offset, records + 1).await?;
    let more = events.len() as i64 > records;
    events.truncate(records as usize);
    Ok((events, more))
}

/// The events `filter` selects past `after`, a page of `records`: how an export streams them.
pub async fn page_after(
    store: &Store,
    filter: &Filter,
    descending: bool,
    after: Option<(Millis, String)>,
    records: i64,
) -> Result<Vec<StoredEvent>, ApiError> {
    let mut conn = store.pool().acquire().await?;
    let filter = Filter {
        past: after,
        ..filter.clone()
    };
    Ok(trail::list(&mut conn, &filter, descending, 0, records).await?)
}

/// What verification found in one chain.
#[derive(Debug, Clone)]
pub struct ChainReport {
    /// The organization of the chain; empty for the chain of no organization.
    pub chain: String,
    pub events: u64,
    /// The first altered or missing event, if any.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Verification {
    pub chains: Vec<ChainReport>,
    /// Events written before the chains existed, which nothing vouches for.
    pub unchained: i64,
}

impl Verification {
    pub fn clean(&self) -> bool {
        self.chains.iter().all(|c| c.problem.is_none())
    }
}

/// Events read at once while walking a chain.
const WALK_PAGE: i64 = 1000;

/// Walks every chain, recomputing each digest and following each link; reports the first
/// altered or missing event of each. A chain may start after a pruning: its newest
/// `audit.pruned` event says through which event and digest.
pub async fn verify(store: &Store) -> Result<Verification, ApiError> {
    let mut conn = store.pool().acquire().await?;
    let mut report = Verification {
        unchained: trail::unchained(&mut conn).await?,
        ..Default::default()
    };
    for (chain, head) in trail::chains(&mut conn).await? {
        let pruning = trail::last_pruning(&mut conn, &chain).await?;
        let start = pruning
            .as_ref()
            .and_then(StoredEvent::details_json)
            .and_then(|d| {
                Some((
                    d["throughSequence"].as_i64()?,
                    d["throughDigest"].as_str()?.to_string(),
                ))
            });
        let (mut expected_seq, mut expected_prev) = match start {
            Some((through, digest)) => (through + 1, digest),
            None => (1, String::new()),
        };
        let mut events = 0u64;
        let mut problem = None;
        let mut after = expected_seq - 1;
        'walk: loop {
            let page = trail::chain_page(&mut conn, &chain, after, WALK_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq.unwrap_or(after);
            for e in &page {
                events += 1;
                let seq = e.seq.unwrap_or_default();
                if seq != expected_seq {
                    problem = Some(format!("event {expected_seq} is missing"));
                    break 'walk;
                }
                if e.digest.as_deref() != Some(&e.compute_digest()) {
                    problem = Some(format!("event {seq} ({}) was altered", e.id));
                    break 'walk;
                }
                if e.prev_digest.as_deref() != Some(&expected_prev) {
                    problem = Some(format!(
                        "event {seq} ({}) does not follow the event before it",
                        e.id
                    ));
                    break 'walk;
                }
                expected_prev = e.digest.clone().unwrap_or_default();
                expected_seq += 1;
            }
        }
        if problem.is_none() {
            match head {
                Some(head) if head >= expected_seq => {
                    problem = Some(format!(
                        "event {expected_seq} is missing (the chain's head is at {head})"
                    ))
                }
                None => problem = Some("the chain's head is missing".into()),
                _ => {}
            }
        }
        report.chains.push(ChainReport {
            chain,
            events,
            problem,
        });
    }
    Ok(report)
}

/// What one pruning removed from a chain.
#[derive(Debug, Clone)]
pub struct Pruned {
    pub chain: String,
    pub through: i64,
    pub removed: i64,
}

/// Removes, from each chain, the whole prefix of events older than the retention, and records
/// an `audit.pruned` event at the chain's end saying through which event and digest, so
/// verification starts from there. A chain's last event is never removed, and a chain with
/// nothing new since its last pruning is left alone (an idle chain gains no event per run).
pub async fn prune(app: &App) -> Result<Vec<Pruned>, ApiError> {
    let days = app.settings.audit.retention_days;
    if days == 0 {
        return Ok(Vec::new());
    }
    let now = app.clock.now();
    let before = now - i64::from(days) * 86_400_000;
    let heads = {
        let mut conn = app.store.pool().acquire().await?;
        trail::chains(&mut conn).await?
    };
    let mut done = Vec::new();
    for (chain, head) in heads {
        let Some(head) = head else { continue };
        let mut change = Change::begin_at(app, now).await?;
        let last = trail::last_pruning(&mut change.tx, &chain).await?;
        if last.is_some_and(|p| p.seq == Some(head)) {
            continue;
        }
        let Some((through, digest, removed)) =
            trail::old_prefix(&mut change.tx, &chain, before, head - 1).await?
        else {
            continue;
        };
        // Recorded before the prefix goes, so that it follows the chain's last event.
        change
            .audit(AuditEvent {
                organization_id: (!chain.is_empty()).then_some(chain.as_str()),
                action: trail::PRUNED,
                details: Some(serde_json::json!({
                    "throughSequence": through,
                    "throughDigest": digest,
                    "removed": removed,
                    "retentionDays": days,
                })),
                ..Default::default()
            })
            .await?;
        trail::remove_prefix(&mut change.tx, &chain, through).await?;
        change.commit().await?;
        done.push(Pruned {
            chain,
            through,
            removed,
        });
    }
    Ok(done)
}
