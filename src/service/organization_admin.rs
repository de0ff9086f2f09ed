//! Organizations after their sign-up: listed, read and renamed.
//!
//! A platform administrator lists every organization; anybody else those he is a member of,
//! as `GET /v1/users/mine/organizations` shows them. Reading or renaming one takes
//! `Organizations:read` or `Organizations:update` in it; one the caller may not reach is a 404
//! (`Grant::require_on`). A bound token reaches its own organization only, whoever holds it.

use serde_json::json;

use crate::domain::OrganizationName;
use crate::error::ApiError;
use crate::service::authz::Grant;
use crate::service::change::Change;
use crate::service::App;
use crate::store::audit::AuditEvent;
use crate::store::organizations::{self, Among, OrganizationOrder, OrganizationRow};

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no organization {id}"))
}

/// A page of the organizations the caller may list, and whether more follow.
pub async fn list(
    app: &App,
    grant: &Grant,
    order: OrganizationOrder,
    descending: bool,
    offset: i64,
    records: i64,
) -> Result<(Vec<OrganizationRow>, bool), ApiError> {
    let caller = grant.caller()?;
    let among = Among {
        member: (!caller.bf_admin).then_some(caller.user_id.as_str()),
        only: caller.bound.then_some(caller.organization_id.as_str()),
    };
    let mut conn = app.store.pool().acquire().await?;
    Ok(organizations::page(&mut conn, among, order, descending, offset, records).await?)
}

/// One organization, for a caller holding `Organizations:read` in it.
pub async fn get(app: &App, grant: &Grant, id: &str) -> Result<OrganizationRow, ApiError> {
    grant.require_on(app, id, "Organizations", "read").await?;
    let mut conn = app.store.pool().acquire().await?;
    organizations::find(&mut conn, id)
        .await?
        .filter(|o| !o.deleted)
        .ok_or_else(|| not_found(id))
}

/// Renames an organization, for a caller holding `Organizations:update` in it. Its customer
/// code stays: other services of the platform know the organization by it. The same name
/// again changes nothing and records nothing.
pub async fn rename(
    app: &App,
    grant: &Grant,
    id: &str,
    name: OrganizationName,
) -> Result<OrganizationRow, ApiError> {
    let by = grant.caller()?.user_id.clone();
    grant.require_on(app, id, "Organizations", "update").await?;
    let mut change = Change::begin(app).await?;
    let now = change.now();
    let before = organizations::find(&mut change.tx, id)
        .await?
        .filter(|o| !o.deleted)
        .ok_or_else(|| not_found(id))?;
    if before.name == name.as_str() {
        return Ok(before);
    }
    // Renamed only from the name read here, so the trail's `before` is the name replaced.
    if !organizations::rename(&mut change.tx, id, &before.name, name.as_str(), now, &by).await? {
        return Err(ApiError::Conflict(
            "the organization changed meanwhile; read it again and retry".into(),
        ));
    }
    let after = OrganizationRow {
        name: name.as_str().to_string(),
        updated: now,
        changed_by: Some(by.clone()),
        ..before.clone()
    };
    change
        .audit(AuditEvent {
            actor_id: Some(&by),
            organization_id: Some(id),
            action: "organization.renamed",
            target_id: Some(id),
            details: Some(json!({
                "before": {"name": before.name},
                "after": {"name": after.name},
            })),
            ..Default::default()
        })
        .await?;
    change.commit().await?;
    Ok(after)
}
