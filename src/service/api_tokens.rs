//! Permanent API tokens as things their user, and his betters, see and revoke: what each is
//! for, where it acts, when it was last used, when it expires, where it may be used from, and
//! the first characters of its secret (never the secret or its digest).

use crate::clock::Millis;
use crate::domain::network::Cidr;
use crate::error::ApiError;
use crate::service::authz::Grant;
use crate::service::change::Change;
use crate::service::sessions::{owner, Whose};
use crate::service::App;
use crate::store::{self, audit::AuditEvent, tokens::ApiTokenRow};

/// The longest life a permanent token may be given, in days.
pub const MAX_EXPIRY_DAYS: i64 = 3650;
/// The most address ranges one token may name.
pub const MAX_RANGES: usize = 64;

/// Where and until when a new permanent token works: valid by construction.
#[derive(Debug, Clone, Default)]
pub struct TokenLimits {
    /// Days from its issue; none: no expiry.
    pub expires_in_days: Option<i64>,
    /// The client address ranges it may be used from; none: anywhere.
    pub allowed_ranges: Option<Vec<Cidr>>,
}

impl TokenLimits {
    pub fn parse(
        expires_in_days: Option<i64>,
        allowed_ranges: Option<&[String]>,
    ) -> Result<Self, ApiError> {
        if let Some(days) = expires_in_days {
            if !(1..=MAX_EXPIRY_DAYS).contains(&days) {
                return Err(ApiError::invalid(
                    "expiresInDays",
                    format!("expiresInDays must be between 1 and {MAX_EXPIRY_DAYS}"),
                ));
            }
        }
        let allowed_ranges = match allowed_ranges {
            None => None,
            Some(ranges) => {
                // An empty list would make a token no client may use.
                if ranges.is_empty() || ranges.len() > MAX_RANGES {
                    return Err(ApiError::invalid(
                        "allowedRanges",
                        format!("allowedRanges must name 1 to {MAX_RANGES} address ranges"),
                    ));
                }
                let parsed: Result<Vec<Cidr>, _> =
                    ranges.iter().map(|r| Cidr::parse(r.trim())).collect();
                Some(parsed.map_err(|e| {
                    ApiError::invalid("allowedRanges", format!("allowedRanges: {e}"))
                })?)
            }
        };
        Ok(Self {
            expires_in_days,
            allowed_ranges,
        })
    }

    /// When a token issued at `now` expires.
    pub fn expires(&self, now: Millis) -> Option<Millis> {
        self.expires_in_days.map(|d| now + d * 24 * 3600 * 1000)
    }

    /// The ranges as stored: a JSON array of CIDRs.
    pub fn stored_ranges(&self) -> Option<String> {
        self.allowed_ranges.as_ref().map(|ranges| {
            serde_json::Value::from(ranges.iter().map(|r| r.to_string()).collect::<Vec<_>>())
                .to_string()
        })
    }
}

/// The ranges of a stored token, as listed.
pub fn ranges_of(row: &ApiTokenRow) -> Option<Vec<String>> {
    row.allowed_ranges
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
}

/// A page of the user's working permanent tokens; answers whether more exist past it. Another
/// user's need `Tokens:read` and all he holds ([`crate::service::authz::act_on`]).
pub async fn list(
    app: &App,
    grant: &Grant,
    whose: Whose<'_>,
    descending: bool,
    offset: i64,
    records: i64,
) -> Result<(Vec<ApiTokenRow>, bool), ApiError> {
    let (user, organization) = owner(app, grant, whose, "Tokens", "read").await?;
    let now = app.clock.now();
    let mut conn = app.store.pool().acquire().await?;
    let mut rows = store::tokens::list_permanent(
        &mut conn,
        &user.id,
        organization.as_deref(),
        now,
        descending,
        offset,
        records + 1,
    )
    .await?;
    let more = rows.len() as i64 > records;
    rows.truncate(records as usize);
    Ok((rows, more))
}

/// Revokes one working permanent token of the user now, with the pairs minted from it (their
/// session ends); anything else is a 404. Another user's need `Tokens:delete` and all he holds.
pub async fn revoke(
    app: &App,
    grant: &Grant,
    whose: Whose<'_>,
    id: &str,
) -> Result<ApiTokenRow, ApiError> {
    let caller = grant.caller()?;
    let (user, organization) = owner(app, grant, whose, "Tokens", "delete").await?;
    let now = app.clock.now();
    let mut change = Change::begin_at(app, now).await?;
    let token = store::tokens::find_permanent(&mut change.tx, &user.id, id, now)
        .await?
        .filter(|t| {
            organization
                .as_ref()
                .is_none_or(|o| *o == t.organization_id)
        })
        .ok_or_else(|| ApiError::NotFound(format!("no API token {id}")))?;
    let digest = store::tokens::revoke_returning(&mut change.tx, &token.id, now).await?;
    let mut revoked = store::tokens::revoke_family(&mut change.tx, &token.id, now).await?;
    revoked.extend(digest);
    store::sessions::end(&mut change.tx, &token.id, now).await?;
    change
        .audit(AuditEvent {
            actor_id: Some(&caller.user_id),
            organization_id: Some(&token.organization_id),
            action: "api_token.revoked",
            subject_id: Some(&user.id),
            target_id: Some(&token.id),
            details: Some(serde_json::json!({
                "description": token.description,
                "tokensRevoked": revoked.len(),
            })),
            ..Default::default()
        })
        .await?;
    change.forget_tokens(revoked);
    change.commit().await?;
    Ok(ApiTokenRow {
        revoked: Some(now),
        ..token
    })
}
