//! Logging in with a passkey alone, no password, where the organization allows it (its policy's
//! `passkeyLogin`), through the ceremony of `passkey_ceremony`. A finish counts against the
//! same per-address limit as a wrong password until it succeeds.
//!
//! Such a login passed a second factor: a passkey is something the user has, and the service
//! asks the authenticator to verify its user (a PIN or biometrics) before it signs.

use serde_json::json;

use crate::clock::Millis;
use crate::error::ApiError;
use crate::origin;
use crate::security::limits::Limit;
use crate::security::passkeys;
use crate::service::change::Change;
use crate::service::login::{open_session, GrantError};
use crate::service::mfa;
use crate::service::passkey_ceremony::{check, Checked};
use crate::service::sessions::Method;
use crate::service::token_pairs::IssuedPair;
use crate::service::App;
use crate::store::{
    self,
    audit::{AuditEvent, Outcome},
    users::UserRow,
};

/// One answer for every refusal of an assertion, so that it tells nothing of which check failed.
const REFUSED: &str = "the passkey is not accepted, or the ceremony is unknown, expired or spent";

/// Finishes a login with a passkey alone: the ceremony started, the authenticator's assertion,
/// and the organization the tokens act in (the user's home one if left out), which must allow
/// a passkey alone and count the user among its members.
pub async fn finish(
    app: &App,
    ceremony_id: Option<&str>,
    credential: Option<&serde_json::Value>,
    organization_id: Option<&str>,
) -> Result<IssuedPair, GrantError> {
    let ceremony_id = ceremony_id.map(str::trim).filter(|c| !c.is_empty());
    let (Some(ceremony_id), Some(credential)) = (ceremony_id, credential) else {
        return Err(GrantError::InvalidRequest(
            "ceremonyID and credential are required".into(),
        ));
    };
    if !credential.is_object() {
        return Err(GrantError::InvalidRequest(
            "credential must be the PublicKeyCredential object the authenticator answered".into(),
        ));
    }
    let address = origin::address();
    let from = address.map(|ip| ip.to_string()).unwrap_or_default();
    let now = app.clock.now();
    // Counted before any work, as a password is: a refused attempt stays counted.
    let reserved = app
        .limits
        .reserve_all(&[(Limit::LoginAddress, from.as_str())], now)
        .await?;
    let checked = match check(app, ceremony_id, credential, now).await? {
        Ok(checked) => checked,
        Err((reason, user)) => {
            refused(app, reason, user.as_ref(), now).await?;
            return Err(GrantError::InvalidGrant(REFUSED));
        }
    };
    let Checked {
        user,
        factor,
        passkey,
    } = checked;
    let organization_id = organization_id
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .unwrap_or(&user.organization_id)
        .to_string();
    let mut change = Change::begin_at(app, now).await?;
    // The passkey was right: the refusals below reveal nothing to a stranger.
    for attempt in reserved {
        app.limits.give_back(&mut change.tx, attempt).await?;
    }
    if !store::memberships::is_member(&mut change.tx, &user.id, &organization_id).await? {
        change.commit().await?;
        return Err(GrantError::InvalidGrant(
            "the user is not a member of that organization",
        ));
    }
    if !store::factors::policy_of(&mut change.tx, &organization_id)
        .await?
        .passkey_login
    {
        change
            .audit(AuditEvent {
                organization_id: Some(&organization_id),
                action: "login.failed",
                subject_id: Some(&user.id),
                target_id: Some(&user.id),
                outcome: Outcome::Failed,
                reason: Some("the organization does not allow a passkey alone"),
                details: Some(json!({ "method": Method::Passkey.as_str(), "factor": factor.id })),
                ..Default::default()
            })
            .await?;
        change.commit().await?;
        app.metrics.login(false);
        return Err(GrantError::InvalidGrant(
            "that organization does not allow logging in with a passkey alone",
        ));
    }
    let sealed = passkeys::seal(&app.sealer, &factor.id, &passkey)?;
    store::factors::update_credential(&mut change.tx, &factor.id, &sealed, now).await?;
    let details = json!({ "method": Method::Passkey.as_str(), "factor": factor.id });
    open_session(
        app,
        change,
        &user,
        Some(&organization_id),
        Method::Passkey,
        Some(details),
        Some(mfa::PASSKEY),
    )
    .await
}

/// Audits a refused login with a passkey.
async fn refused(
    app: &App,
    reason: &'static str,
    user: Option<&UserRow>,
    now: Millis,
) -> Result<(), ApiError> {
    app.metrics.login(false);
    let mut change = Change::begin_at(app, now).await?;
    change
        .audit(AuditEvent {
            organization_id: user.map(|u| u.organization_id.as_str()),
            action: "login.failed",
            subject_id: user.map(|u| u.id.as_str()),
            target_id: user.map(|u| u.id.as_str()),
            outcome: Outcome::Failed,
            reason: Some(reason),
            details: Some(json!({ "method": Method::Passkey.as_str() })),
            ..Default::default()
        })
        .await?;
    change.commit().await?;
    Ok(())
}
