//! API tokens a logged-in user asks for: his permanent private token per organization, and
//! temporary access/refresh pairs.
//!
//! A permanent token is an organization's API credential: it acts only in its organization
//! (it is "bound"), and so do the pairs minted from it, which end with it. A pair minted from a
//! login's token joins that login's family and ends with it.

use crate::domain::{ids, SecretString};
use crate::error::ApiError;
use crate::security::secrets::{self, TokenKind};
use crate::service::api_tokens::TokenLimits;
use crate::service::authz::{self, Grant};
use crate::service::change::Change;
use crate::service::mfa;
use crate::service::sessions::{self, Method};
use crate::service::token_pairs::{issue_pair, IssuedPair, Lineage};
use crate::service::{conflict_on_unique, App};
use crate::store::{self, audit::AuditEvent, tokens::TokenRow};

pub const MAX_GRACE_SECONDS: i64 = 86_400;

pub struct IssuedPermanent {
    pub secret: SecretString,
    pub organization_id: String,
    /// Seconds until it expires, if it does.
    pub expires_in: Option<i64>,
}

/// Whose token, for which organization: the caller's own unless `user_id` names another user
/// of that organization, whom the caller must outrank with `Tokens:create` (see
/// [`authz::act_on`]): a token acts as its user, so minting one for him is acting on him.
async fn target(
    app: &App,
    grant: &Grant,
    organization_id: Option<&str>,
    user_id: Option<&str>,
) -> Result<(String, String), ApiError> {
    let caller = grant.caller()?;
    let organization_id = organization_id
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .unwrap_or(&caller.organization_id)
        .to_string();
    grant.member_of(app, &organization_id).await?;
    let user_id = match user_id.map(str::trim).filter(|u| !u.is_empty()) {
        None => caller.user_id.clone(),
        Some(u) if u == caller.user_id => caller.user_id.clone(),
        Some(other) => {
            grant
                .require_in(app, &organization_id, "Tokens", "create")
                .await?;
            let not_found = || ApiError::NotFound(format!("no user {other}"));
            let mut conn = app.store.pool().acquire().await?;
            if !store::memberships::is_member(&mut conn, other, &organization_id).await? {
                return Err(not_found());
            }
            let user = store::users::find_by_id(&mut conn, other)
                .await?
                .ok_or_else(not_found)?;
            drop(conn);
            authz::act_on(app, grant, user, "Tokens", "create")
                .await?
                .into_user()
                .id
        }
    };
    Ok((user_id, organization_id))
}

/// The one live permanent token of a user in an organization; 409 if he has one already.
pub async fn issue_permanent(
    app: &App,
    grant: &Grant,
    organization_id: Option<&str>,
    user_id: Option<&str>,
    description: Option<&str>,
    limits: &TokenLimits,
) -> Result<IssuedPermanent, ApiError> {
    let (user_id, organization_id) = target(app, grant, organization_id, user_id).await?;
    let caller = grant.caller()?;
    mfa::require_passed(app, caller, &organization_id).await?;
    let now = app.clock.now();
    let token = secrets::new_token(TokenKind::Permanent);
    let mut change = Change::begin_at(app, now).await?;
    const EXISTS: &str = "a permanent token exists already for this user and organization; \
                          rotate it with POST /v1/users/refresh-permanent-api-token";
    if store::tokens::current_permanent(&mut change.tx, &user_id, &organization_id)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(EXISTS.into()));
    }
    let id = ids::new_id(ids::TOKEN);
    store::tokens::insert(
        &mut change.tx,
        &[TokenRow {
            id: id.clone(),
            kind: TokenKind::Permanent,
            digest: token.digest,
            user_id: user_id.clone(),
            organization_id: organization_id.clone(),
            family_id: None,
            description: description.map(str::to_string),
            created: now,
            expires: limits.expires(now),
            revoked: None,
            created_by: Some(caller.user_id.clone()),
            bound: true,
            successor_salt: None,
        }],
    )
    .await
    .map_err(conflict_on_unique(EXISTS))?;
    mark_second_factor(&mut change, caller, &id).await?;
    let prefix = recognisable(&token.secret);
    store::tokens::describe_permanent(
        &mut change.tx,
        &id,
        &prefix,
        limits.stored_ranges().as_deref(),
    )
    .await?;
    change
        .audit(AuditEvent {
            actor_id: Some(&caller.user_id),
            organization_id: Some(&organization_id),
            action: "permanent_token.issued",
            subject_id: Some(&user_id),
            target_id: Some(&id),
            details: Some(serde_json::json!({
                "userID": user_id,
                "prefix": prefix,
                "expires": limits.expires(now),
                "allowedRanges": limits.stored_ranges(),
            })),
            ..Default::default()
        })
        .await?;
    change.commit().await?;
    Ok(IssuedPermanent {
        secret: token.secret,
        organization_id,
        expires_in: limits.expires(now).map(|e| (e - now) / 1000),
    })
}

/// A permanent token made by a login that passed a second factor keeps that on its row: an
/// organization requiring a factor accepts it, and the pairs minted from it (which stand as it
/// does); one made by any other login it refuses.
async fn mark_second_factor(
    change: &mut Change<'_>,
    caller: &crate::security::Principal,
    token_id: &str,
) -> Result<(), ApiError> {
    // As the login stood: a token made by a login with a passkey alone reaches, as it did,
    // only the organizations allowing that.
    if let Some(state) = caller
        .second_factor
        .as_deref()
        .filter(|_| caller.second_factor_passed())
    {
        store::factors::mark_token(&mut change.tx, token_id, state).await?;
    }
    Ok(())
}

/// The first characters of a secret, kept to recognise it: the kind's prefix and four
/// characters of its 256 random bits, which tell nothing useful about the rest.
fn recognisable(secret: &SecretString) -> String {
    secret.expose().chars().take(9).collect()
}

/// Issues a new permanent token and ends the old one now or after `grace_seconds`.
pub async fn rotate_permanent(
    app: &App,
    grant: &Grant,
    organization_id: Option<&str>,
    user_id: Option<&str>,
    grace_seconds: i64,
) -> Result<IssuedPermanent, ApiError> {
    if !(0..=MAX_GRACE_SECONDS).contains(&grace_seconds) {
        return Err(ApiError::invalid(
            "gracePeriodSeconds",
            format!("gracePeriodSeconds must be between 0 and {MAX_GRACE_SECONDS}"),
        ));
    }
    let (user_id, organization_id) = target(app, grant, organization_id, user_id).await?;
    let caller = grant.caller()?;
    mfa::require_passed(app, caller, &organization_id).await?;
    let now = app.clock.now();
    let token = secrets::new_token(TokenKind::Permanent);
    let mut change = Change::begin_at(app, now).await?;
    let Some(old) =
        store::tokens::current_permanent(&mut change.tx, &user_id, &organization_id).await?
    else {
        return Err(ApiError::NotFound(
            "no permanent token to rotate; issue one with POST /v1/users/generate-permanent-api-token".into(),
        ));
    };
    let ends = now + grace_seconds * 1000;
    store::tokens::revoke_at(&mut change.tx, &old.id, ends).await?;
    // The pairs minted from the old token end with it.
    let mut forgotten = store::tokens::revoke_family(&mut change.tx, &old.id, ends).await?;
    forgotten.push(old.digest.clone());
    let id = ids::new_id(ids::TOKEN);
    store::tokens::insert(
        &mut change.tx,
        &[TokenRow {
            id: id.clone(),
            kind: TokenKind::Permanent,
            digest: token.digest,
            user_id: user_id.clone(),
            organization_id: organization_id.clone(),
            family_id: None,
            description: old.description.clone(),
            created: now,
            // The new token keeps the old one's life (from now) and ranges: rotating changes
            // the secret, not what the token may do; and an expired token is rotated, not
            // issued again (it is still the one of its user and organization).
            expires: old.expires.map(|e| now + (e - old.created)),
            revoked: None,
            created_by: Some(caller.user_id.clone()),
            bound: true,
            successor_salt: None,
        }],
    )
    .await
    .map_err(conflict_on_unique(
        "the permanent token was rotated concurrently; try again",
    ))?;
    mark_second_factor(&mut change, caller, &id).await?;
    let (ranges, _) = store::tokens::reach_of(&mut change.tx, &old.id).await?;
    store::tokens::describe_permanent(
        &mut change.tx,
        &id,
        &recognisable(&token.secret),
        ranges.as_deref(),
    )
    .await?;
    change
        .audit(AuditEvent {
            actor_id: Some(&caller.user_id),
            organization_id: Some(&organization_id),
            action: "permanent_token.rotated",
            target_id: Some(&id),
            subject_id: Some(&old.user_id),
            details: Some(
                serde_json::json!({ "previous": old.id, "gracePeriodSeconds": grace_seconds }),
            ),
            ..Default::default()
        })
        .await?;
    change.forget_tokens(forgotten);
    change.commit().await?;
    Ok(IssuedPermanent {
        secret: token.secret,
        organization_id,
        expires_in: old.expires.map(|e| (e - old.created) / 1000),
    })
}

/// A short-lived access token and a refresh token for the caller in the organization he acts
/// in (`organizations=`, by default his token's; more than one is a 400: a pair acts by default
/// in one). The pair joins the family of the token that asked for it (a permanent token's own
/// ID for the pairs minted from it), reaches no further than it, and ends with it: it cannot
/// outlive the login or the permanent token it came from.
pub async fn issue_temporary(app: &App, grant: &Grant) -> Result<IssuedPair, ApiError> {
    let caller = grant.caller()?;
    // The authorization middleware checked the caller's standing there, and kept a bound token
    // to its own organization.
    let organization_id = match grant.acting.as_slice() {
        [one] => one.organization_id.clone(),
        _ => {
            return Err(ApiError::invalid(
                "organizations",
                "a token pair is issued for one organization: name at most one",
            ))
        }
    };
    let now = app.clock.now();
    let mut change = Change::begin_at(app, now).await?;
    let lineage = Lineage {
        family: caller.family_id.as_deref().unwrap_or(&caller.token_id),
        bound: caller.bound,
    };
    let pair = issue_pair(
        &app.settings.tokens,
        &mut change.tx,
        &caller.user_id,
        &organization_id,
        lineage,
        now,
    )
    .await?;
    // A login's pairs join its session; a permanent token's open one of their own, named
    // after it (again, once the last one ended).
    if caller.token_kind == TokenKind::Permanent {
        let row = sessions::new_row(
            app,
            lineage.family,
            &caller.user_id,
            &organization_id,
            Method::Tokens,
            now,
        );
        let idle_since = app.settings.tokens.session_idle_since(now);
        store::sessions::open(&mut change.tx, &row, idle_since).await?;
    }
    change
        .audit(AuditEvent {
            actor_id: Some(&caller.user_id),
            organization_id: Some(&organization_id),
            action: "tokens.issued",
            subject_id: Some(&caller.user_id),
            target_id: Some(lineage.family),
            details: Some(serde_json::json!({ "by": caller.token_id, "bound": caller.bound })),
            ..Default::default()
        })
        .await?;
    change.commit().await?;
    Ok(pair)
}
