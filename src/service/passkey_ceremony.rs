//! The ceremony of a passkey presented alone, naming no user: the start of a login with a
//! passkey alone, and the check of its assertion, for that login or as the proof a user gives
//! for an act that asks for one (removing a factor, making new recovery codes).
//!
//! The start names no user: the authenticator offers the passkeys it keeps for this relying
//! party, and the assertion says whose it is. So a start reveals nothing about who exists and
//! costs no row: its state travels sealed in the ceremony ID it answers (under the secrets key,
//! with its expiry), and any node can finish it. A check spends the ceremony, whatever its
//! outcome.

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::DiscoverableAuthentication;

use crate::clock::Millis;
use crate::error::ApiError;
use crate::security::passkeys::{self, Passkey};
use crate::security::secrets;
use crate::service::change::Change;
use crate::service::App;
use crate::store::{self, factors::FactorRow, users::UserRow};

/// Life of a login's ceremony: the five minutes `webauthn-rs` gives the authenticator, and a
/// little for the way back.
const CEREMONY_TTL_MS: Millis = 6 * 60 * 1000;
/// What a ceremony's state is sealed for: nothing sealed for a factor, a registration or a
/// login's second step opens as one.
const SEALED_FOR: &str = "passkey login";

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

/// A login's assertion that verified: its user, the factor of the passkey, and the passkey as
/// its signature counter moved on.
pub struct Checked {
    pub user: UserRow,
    pub factor: FactorRow,
    pub passkey: Passkey,
}

/// Why an assertion was refused (for the trail and the log, never the answer), and whose
/// passkey it claimed to be when that is known.
pub type Refusal = (&'static str, Option<UserRow>);

/// Spends the ceremony and checks the assertion against it.
pub async fn check(
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
