//! `/v1/audit-events`: the audit trail of the acting organizations, a page at a time or
//! exported whole as NDJSON.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use super::envelope::Paged;
use super::params::{Order, QueryParams};
use crate::clock::{rfc3339, Millis};
use crate::error::{ApiError, ErrorBody};
use crate::service::authz::Grant;
use crate::service::{self, AppState};
use crate::store::audit::{Filter, Outcome, StoredEvent};

pub const NDJSON: &str = "application/x-ndjson";

/// Events of an export read from the store at once.
const EXPORT_PAGE: i64 = 500;

/// One recorded event. Never carries a secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    pub id: String,
    /// The organization whose chain holds the event; absent for events of no organization.
    #[serde(rename = "organizationID", skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// When it happened (RFC 3339).
    pub occurred: String,
    /// Same as `occurred`, as every entity carries it.
    pub created: String,
    pub updated: String,
    /// The user who did it; absent for anonymous attempts.
    #[serde(rename = "actorID", skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
    /// What happened: a dotted verb such as `login.failed` or `role.updated`.
    pub action: String,
    /// `succeeded`, `failed` or `refused`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The user acted on.
    #[serde(rename = "subjectUserID", skip_serializing_if = "Option::is_none")]
    pub subject_user_id: Option<String>,
    /// The entity acted on (a user, role, token or code ID).
    #[serde(rename = "targetID", skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// What changed (`before`/`after`) or more about the attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
    /// Its place in its organization's chain; absent for events older than the chains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl From<StoredEvent> for AuditEventView {
    fn from(e: StoredEvent) -> Self {
        let at = rfc3339(e.occurred);
        let details = e.details_json();
        Self {
            id: e.id,
            organization_id: e.organization_id,
            occurred: at.clone(),
            created: at.clone(),
            updated: at,
            changed_by: e.actor_id.clone(),
            actor_id: e.actor_id,
            action: e.action,
            outcome: e.outcome,
            reason: e.reason,
            subject_user_id: e.subject_id,
            target_id: e.target_id,
            client_address: e.client_address,
            user_agent: e.user_agent,
            details,
            sequence: e.seq,
            previous_digest: e.prev_digest,
            digest: e.digest,
        }
    }
}

/// The query of `GET /v1/audit-events`, for the OpenAPI document (parsed in [`filter`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditEventListParams {
    /// The organizations whose events to list (repeat the parameter); by default the token's.
    /// A platform administrator naming none also sees the events of no organization.
    organizations: Option<Vec<String>>,
    /// Only events done by this user (an ID).
    actor: Option<String>,
    /// Only events about this user (an ID).
    subject: Option<String>,
    /// Only these actions (repeat the parameter), e.g. `login.failed`.
    kind: Option<Vec<String>>,
    /// `succeeded`, `failed` or `refused`.
    outcome: Option<String>,
    /// From this instant on (RFC 3339, inclusive).
    from: Option<String>,
    /// Before this instant (RFC 3339, exclusive).
    to: Option<String>,
    #[param(default = 0, minimum = 0)]
    offset: Option<i64>,
    /// 1 to 500.
    #[param(default = 10, minimum = 1, maximum = 500)]
    records: Option<i64>,
    /// `created` (when the event happened).
    #[param(default = "created")]
    order_by: Option<String>,
    /// `ASC` or `DESC` (newest first).
    #[param(default = "DESC")]
    order: Option<String>,
}

/// An instant given as RFC 3339; a 400 naming `name` otherwise.
fn instant(query: &QueryParams, name: &str) -> Result<Option<Millis>, ApiError> {
    let Some(raw) = query.get(name) else {
        return Ok(None);
    };
    let t = time::OffsetDateTime::parse(raw.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            ApiError::invalid(
                name,
                format!("{name} must be an RFC 3339 time, e.g. 2026-11-28T20:23:58Z"),
            )
        })?;
    Ok(Some((t.unix_timestamp_nanos() / 1_000_000) as Millis))
}

/// The filters of the query, within the organizations the caller may read.
fn filter(grant: &Grant, query: &QueryParams) -> Result<Filter, ApiError> {
    let named = !query.all("organizations").is_empty();
    let mut filter = service::audit::scope(grant, named)?;
    filter.actor_id = query.get("actor").map(|a| a.trim().to_string());
    filter.subject_id = query.get("subject").map(|s| s.trim().to_string());
    filter.actions = query.all("kind");
    filter.outcome = match query.get("outcome") {
        None => None,
        Some(o) => Some(Outcome::parse(o).ok_or_else(|| {
            ApiError::invalid("outcome", "outcome must be succeeded, failed or refused")
        })?),
    };
    filter.from = instant(query, "from")?;
    filter.to = instant(query, "to")?;
    Ok(filter)
}

#[utoipa::path(
    get, path = "/v1/audit-events", tag = "Audit", operation_id = "getAuditEvents",
    summary = "Read the audit trail of the acting organizations",
    description = "The events of the acting organizations, newest first by default, narrowed by \
        `actor`, `subject`, `kind`, `outcome`, `from` and `to`. With \
        `Accept: application/x-ndjson`, every matching event (paging aside) is streamed, one \
        JSON object per line. A platform administrator naming no organization also sees the \
        events of none (e.g. failed logins of unknown e-mails).\n\n\
        **Needs** `AuditEvents:read` in every acting organization.\n\n\
        **Errors**\n\
        - `400`: a bad filter (`outcome`, a `from` or `to` that is not RFC 3339) or paging \
        parameter.\n\
        - `403`: without `AuditEvents:read` in an acting organization, or not a member of it.",
    params(AuditEventListParams),
    responses(
        (status = 200, description = "A page of events", body = Paged<AuditEventView>,
            content((Paged<AuditEventView> = "application/json"), (AuditEventView = "application/x-ndjson"))),
        (status = 400, description = "A bad filter (`errorParameters` names it)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The caller lacks `AuditEvents:read` in an acting organization, \
            or is not a member of it", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_audit_events(
    State(app): State<AppState>,
    grant: Grant,
    query: QueryParams,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let paging = query.paging(&["created"])?;
    let filter = filter(&grant, &query)?;
    let descending = paging.order == Order::Desc;
    let wants_ndjson = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains(NDJSON));
    if wants_ndjson {
        return Ok(export(app, filter, descending));
    }
    let (events, more) =
        service::audit::list(&app, &filter, descending, paging.offset, paging.records).await?;
    let events = events.into_iter().map(AuditEventView::from).collect();
    Ok(Json(Paged::page(events, &paging, more)).into_response())
}

/// Streams every event `filter` selects, a page from the store at a time, as NDJSON: never
/// the whole export in memory. A failure midway ends the stream early (the status is sent).
fn export(app: AppState, filter: Filter, descending: bool) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        let mut after = None;
        loop {
            let page =
                service::audit::page_after(&app.store, &filter, descending, after, EXPORT_PAGE)
                    .await;
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %crate::error::chain(&e), "an audit export failed");
                    let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
                    return;
                }
            };
            let Some(last) = page.last() else { return };
            after = Some((last.occurred, last.id.clone()));
            let full = page.len() as i64 == EXPORT_PAGE;
            let mut lines = Vec::new();
            for e in page {
                // A view always serializes.
                if serde_json::to_writer(&mut lines, &AuditEventView::from(e)).is_ok() {
                    lines.push(b'\n');
                }
            }
            // The client hung up: stop reading.
            if tx.send(Ok(Bytes::from(lines))).await.is_err() || !full {
                return;
            }
        }
    });
    let mut response = Body::new(Lines(rx)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    response
}

/// A body fed by the export task.
struct Lines(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl hyper::body::Body for Lines {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|next| next.map(|r| r.map(hyper::body::Frame::data)))
    }
}
