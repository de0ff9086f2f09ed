//! Logging in with a passkey alone, no password, where the organization allows it (its policy's
//! `passkeyLogin`).
//!
//! The start names no user: the authenticator offers the passkeys it keeps for this relying
//! party, and the assertion says whose it is. So a start reveals nothing about who exists and
//! costs no row: its state travels sealed in the ceremony ID it answers (under the secrets key,
//! with its expiry), and any node can finish it. A finish spends the ceremony, whatever its
//! outcome, and counts against the same per-address limit as a wrong password until it
//! succeeds.
//!
//! Such a login passed a second factor: a passkey is something the user has, and the service
//! asks the authenticator to verify its user (a PIN or biometrics) before it signs.

use serde::{Deserialize, Serialize};
use serde_json::json;
use webauthn_rs::prelude::DiscoverableAuthentication;

use crate::clock::Millis;
use crate::error::ApiError;
use crate::origin;
use crate::security::limits::Limit;
use crate::security::passkeys::{self, Passkey};
use crate::security::secrets;
use crate::service::change::Change;
use crate::service::login::{open_session, GrantError};
use crate::service::mfa;
use crate::service::sessions::Method;
use crate::service::token_pairs::IssuedPair;
use crate::service::App;
use crate::store::{
    self,
    audit::{AuditEvent, Outcome},
    factors::FactorRow,
    users::UserRow,
};

/// Life of a login's ceremony: the five minutes `webauthn-rs` gives the authenticator, and a
/// little for the way back.
const CEREMONY_TTL_MS: Millis = 6 * 60 * 1000;
/// What a ceremony's state is sealed for: nothing sealed for a factor, a registration or a
/// login's second step opens as one.
const SEALED_FOR: &str = "passkey login";
/// One answer for every refusal of an assertion, so that it tells nothing of which check failed.
const REFUSED: &str = "the passkey is not accepted, or the ceremony is unknown, expired or spent";

/// A login with a passkey started: what `navigator.credentials.get()` is called with, and the
/// ceremony ID to finish it with.
pub struct Started {
    pub ceremony_id: String,
    pub options: serde_json::Value,
    pub expires_in: i64,
}

/// What the ceremony ID carries, sealed.
#[derive(Serialize, Deserialize)]
struct Ceremony {
    expires: Millis,
    state: DiscoverableAuthentication,
}

/// Starts a login with a passkey alone. Anybody may; it writes nothing.
pub fn start(app: &App) -> Result<Started, ApiError> {
    let (options, state) = app.passkeys.start_login()?;
    let expires = app.clock.now() + CEREMONY_TTL_MS;
    let sealed = passkeys::seal(&app.sealer, SEALED_FOR, &Ceremony { expires, state })?;
    Ok(Started {
        // The sealer's base64 may hold `+` and `/`; the ID is URL-safe, for clients that put
        // it anywhere.
        ceremony_id: sealed.replace('+', "-").replace('/', "_"),
        options: serde_json::to_value(options).map_err(ApiError::internal)?,
        expires_in: CEREMONY_TTL_MS / 1000,
    })
}

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

/// A login's assertion that verified: its user, the factor of the passkey, and the passkey as
/// its signature counter moved on.
struct Checked {
    user: UserRow,
    factor: FactorRow,
    passkey: Passkey,
}

/// Why an assertion was refused (for the trail and the log, never the answer), and whose
/// passkey it claimed to be when that is known.
type Refusal = (&'static str, Option<UserRow>);

/// Spends the ceremony and checks the assertion against it.
async fn check(
    app: &App,
    ceremony_id: &str,
    credential: &serde_json::Value,
    now: Millis,
) -> Result<Result<Checked, Refusal>, ApiError> {
    let sealed = ceremony_id.replace('-', "+").replace('_', "/");
    let Ok(ceremony) = passkeys::open::<Ceremony>(&app.sealer, SEALED_FOR, &sealed) else {
        return Ok(Err(("not a ceremony this service started", None)));
    };
    if ceremony.expires <= now {
        return Ok(Err(("the ceremony expired", None)));
    }
    // Spent at once, on its own (each statement stands alone): a refused assertion spends it
    // too.
    let spent = {
        // Of the form that opened: a ceremony ID sent again with `+` for `-` is the same one.
        let digest = secrets::digest(&format!("{SEALED_FOR} {sealed}"));
        let mut conn = app.store.pool().acquire().await?;
        !store::factors::spend_passkey_login(&mut conn, &digest, ceremony.expires, now).await?
    };
    if spent {
        return Ok(Err(("the ceremony was spent already", None)));
    }
    let presented = match app.passkeys.identify(credential) {
        Ok(presented) => presented,
        Err(_) => return Ok(Err(("not an assertion of a discoverable passkey", None))),
    };
    let factor = {
        let mut conn = app.store.pool().acquire().await?;
        store::factors::by_lookup(&mut conn, &presented.lookup).await?
    };
    let Some(factor) = factor else {
        return Ok(Err(("no passkey of anyone's has that credential", None)));
    };
    let user = {
        let mut conn = app.store.pool().acquire().await?;
        store::users::find_by_id(&mut conn, &factor.user_id).await?
    };
    let Some(user) = user else {
        return Ok(Err(("the passkey's user is gone", None)));
    };
    if !passkeys::is_handle_of(&presented.user_handle, &user.id) {
        return Ok(Err((
            "the user handle is not the passkey's user's",
            Some(user),
        )));
    }
    let Ok(mut passkey) = passkeys::open::<Passkey>(&app.sealer, &factor.id, &factor.credential)
    else {
        return Ok(Err(("the passkey does not open", Some(user))));
    };
    let result = match app
        .passkeys
        .finish_login(&presented, ceremony.state, &passkey)
    {
        Ok(result) => result,
        Err(reason) => {
            tracing::info!(%reason, factor = %factor.id, "a passkey login's assertion is refused");
            return Ok(Err(("the assertion does not verify", Some(user))));
        }
    };
    if !user.may_log_in() {
        return Ok(Err(("the user may not log in", Some(user))));
    }
    passkey.update_credential(&result);
    Ok(Ok(Checked {
        user,
        factor,
        passkey,
    }))
}

/// A passkey's assertion that proved its user, for an act that asks for a proof (removing a
/// factor, making new recovery codes); the passkey as its signature counter moved on, to be
/// kept with the act.
pub struct Proved {
    factor_id: String,
    sealed: String,
}

/// Whether a passkey's assertion for a ceremony started with `startPasskeyLogin` proves the
/// caller is `user_id`: the ceremony is spent, and the passkey must be one of his. Checked
/// before the act's change begins (the ceremony is spent on a connection of its own).
pub async fn prove(
    app: &App,
    user_id: &str,
    ceremony_id: &str,
    credential: &serde_json::Value,
) -> Result<Option<Proved>, ApiError> {
    let now = app.clock.now();
    match check(app, ceremony_id.trim(), credential, now).await? {
        Ok(checked) if checked.user.id == user_id => Ok(Some(Proved {
            sealed: passkeys::seal(&app.sealer, &checked.factor.id, &checked.passkey)?,
            factor_id: checked.factor.id,
        })),
        Ok(_) => {
            tracing::info!(user = %user_id, "a proof by another user's passkey is refused");
            Ok(None)
        }
        Err((reason, _)) => {
            tracing::info!(%reason, user = %user_id, "a proof by passkey is refused");
            Ok(None)
        }
    }
}

impl Proved {
    /// Keeps the passkey's counter with the act it proved.
    pub async fn keep(self, change: &mut Change<'_>) -> Result<(), ApiError> {
        let now = change.now();
        store::factors::update_credential(&mut change.tx, &self.factor_id, &self.sealed, now)
            .await?;
        Ok(())
    }
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
