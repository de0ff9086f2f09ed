//! Second factors: a user's TOTP factors and recovery codes, the second step of a login that
//! asks for one, and the organizations that require one of their members.
//!
//! A factor is pending from its enrolment until a first valid code confirms it; only confirmed
//! factors are asked for at a login. Each TOTP code is accepted once (the factor remembers the
//! last step accepted). Removing a factor or making new recovery codes needs a current code or
//! the password: a stolen token alone must not strip the login of its second factor. Every such
//! proof, and every first code of a pending factor, counts against the limits of password
//! logins, as a guess at the token endpoint does.

use rand::RngCore;
use serde_json::json;

use crate::clock::Millis;
use crate::domain::{ids, totp, SecretString};
use crate::error::ApiError;
use crate::mail::messages;
use crate::origin;
use crate::security::hashing::Verdict;
use crate::security::limits::Reserved;
use crate::security::passkeys::{self, Passkey};
use crate::security::secrets;
use crate::security::Principal;
use crate::service::authz::{self, Grant};
use crate::service::change::Change;
use crate::service::passkey_ceremony;
use crate::service::App;
use crate::store::{
    self,
    audit::{AuditEvent, Outcome},
    factors::{ChallengeRow, FactorRow, RegistrationRow},
    users::UserRow,
};

/// The prefix of second factors' IDs.
pub const FACTOR: &str = "MFA";
/// The prefix of `mfa_token`s: recognisable by secret scanners, and told apart from every
/// bearer token (`bfsa_`, `bfsr_`, `bfsp_`) before anything is looked up.
pub const MFA_TOKEN_PREFIX: &str = "bfsm_";
pub const TOTP: &str = "totp";
pub const WEBAUTHN: &str = "webauthn";
/// The prefix of passkey registrations' IDs.
pub const CEREMONY: &str = "WAR";
/// Life of a passkey registration between its start and its finish: the five minutes
/// `webauthn-rs` gives the authenticator, and a little for the way back.
const CEREMONY_TTL_MS: i64 = 6 * 60 * 1000;
/// Recovery codes made at a time.
pub const RECOVERY_CODES: usize = 10;
/// Crockford's base32, as the other codes people type.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// 16 symbols of 5 bits: 80 bits, shown as four groups of four.
const RECOVERY_SYMBOLS: usize = 16;
/// Factors one user may have, pending or confirmed.
const MAX_FACTORS: usize = 5;

/// How a session's login stood to second factors.
pub const PASSED: &str = "passed";
/// Logged in with a passkey alone: passed, where the organization allows such logins.
pub const PASSKEY: &str = "passkey";
pub const ENROL: &str = "enrol";

/// A new TOTP factor, pending: what the authenticator app is set up with.
pub struct Enrolment {
    pub factor: FactorRow,
    pub secret: SecretString,
    pub uri: SecretString,
    pub qr_svg: String,
}

/// The caller's own row.
async fn me(app: &App, caller: &Principal) -> Result<UserRow, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    store::users::find_by_id(&mut conn, &caller.user_id)
        .await?
        .ok_or(ApiError::InvalidToken)
}

/// Starts a TOTP factor for the caller. A pending factor left from an earlier enrolment is
/// replaced: only the one being set up waits for its first code.
pub async fn enrol_totp(
    app: &App,
    grant: &Grant,
    name: Option<&str>,
) -> Result<Enrolment, ApiError> {
    let caller = grant.caller()?;
    let user = me(app, caller).await?;
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > 100) {
        return Err(ApiError::invalid(
            "name",
            "name must be at most 100 characters",
        ));
    }
    let mut secret = [0u8; totp::SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let id = ids::new_id(FACTOR);
    let now = app.clock.now();
    let factor = FactorRow {
        credential: app.sealer.seal(&id, &secret)?,
        id,
        user_id: user.id.clone(),
        kind: TOTP.into(),
        name: name.unwrap_or("Authenticator app").to_string(),
        created: now,
        confirmed: None,
        last_used: None,
        last_step: None,
    };
    let uri = totp::otpauth_uri(&secret, &user.email);
    let qr_svg = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| ApiError::internal(format!("the QR code could not be drawn: {e}")))?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    let mut change = Change::begin_at(app, now).await?;
    let factors = store::factors::of_user(&mut change.tx, &user.id).await?;
    for pending in factors.iter().filter(|f| f.confirmed.is_none()) {
        store::factors::delete(&mut change.tx, &pending.id).await?;
    }
    if factors.iter().filter(|f| f.confirmed.is_some()).count() >= MAX_FACTORS {
        return Err(ApiError::Conflict(format!(
            "a user may have at most {MAX_FACTORS} second factors; remove one first"
        )));
    }
    store::factors::insert(&mut change.tx, &factor).await?;
    change
        .audit(AuditEvent {
            actor_id: Some(&user.id),
            organization_id: Some(&caller.organization_id),
            action: "mfa.enrolled",
            subject_id: Some(&user.id),
            target_id: Some(&factor.id),
            details: Some(json!({ "kind": TOTP, "name": factor.name })),
            ..Default::default()
        })
        .await?;
    change.commit().await?;
    Ok(Enrolment {
        factor,
        secret: SecretString::new(totp::base32(&secret)),
        uri: SecretString::new(uri),
        qr_svg,
    })
}

/// A confirmed factor, and the recovery codes made with the user's first one.
pub struct Confirmed {
    pub factor: FactorRow,
    pub recovery_codes: Option<Vec<SecretString>>,
}

/// Confirms a pending TOTP factor of the caller with a first valid code. The first factor a
/// user confirms comes with his recovery codes, shown this once.
pub async fn confirm_totp(
    app: &App,
    grant: &Grant,
    factor_id: &str,
    code: Option<&str>,
) -> Result<Confirmed, ApiError> {
    let caller = grant.caller()?;
    let code = code
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::missing("code"))?;
    let user = me(app, caller).await?;
    let attempt = ProofAttempt::start(app, &user).await?;
    let now = app.clock.now();
    let mut change = Change::begin_at(app, now).await?;
    let factors = store::factors::of_user(&mut change.tx, &caller.user_id).await?;
    let Some(factor) = factors
        .iter()
        .find(|f| f.id == factor_id && f.kind == TOTP)
        .cloned()
    else {
        let missing = ApiError::NotFound(format!("no second factor {factor_id}"));
        return attempt.untried(app, change, missing).await;
    };
    if factor.confirmed.is_some() {
        let confirmed = ApiError::Conflict(format!(
            "the second factor {factor_id} is confirmed already"
        ));
        return attempt.untried(app, change, confirmed).await;
    }
    let first = !factors.iter().any(|f| f.confirmed.is_some());
    let secret = app.sealer.open(&factor.id, &factor.credential)?;
    let accepted = match totp::matching_step(&secret, code, now, factor.last_step) {
        Some(step) => store::factors::accept_step(&mut change.tx, &factor.id, step, now).await?,
        None => false,
    };
    let event = AuditEvent {
        actor_id: Some(&caller.user_id),
        organization_id: Some(&caller.organization_id),
        action: "mfa.confirmed",
        subject_id: Some(&caller.user_id),
        target_id: Some(&factor.id),
        ..Default::default()
    };
    if !accepted {
        return refuse(change, event, Wrong::Code).await;
    }
    attempt.succeeded(app, &mut change).await?;
    let recovery_codes = match first {
        true => Some(new_recovery_codes(&mut change, &caller.user_id, now).await?),
        false => None,
    };
    change
        .audit(AuditEvent {
            details: Some(json!({ "kind": factor.kind, "recoveryCodes": first })),
            ..event
        })
        .await?;
    change.commit().await?;
    let factor = FactorRow {
        confirmed: Some(now),
        last_used: Some(now),
        ..factor
    };
    Ok(Confirmed {
        factor,
        recovery_codes,
    })
}

/// A passkey registration started: what the browser's `navigator.credentials.create()` is
/// called with, and the ceremony's ID to finish it with.
pub struct Registration {
    pub ceremony_id: String,
    pub options: serde_json::Value,
}

/// Starts registering a passkey of the caller. Its state is kept in the store (any node may
/// finish it), sealed, for a few minutes, for this user only.
pub async fn start_passkey(app: &App, grant: &Grant) -> Result<Registration, ApiError> {
    let caller = grant.caller()?;
    let user = me(app, caller).await?;
    let now = app.clock.now();
    let mut change = Change::begin_at(app, now).await?;
    let factors = store::factors::of_user(&mut change.tx, &user.id).await?;
    if factors.iter().filter(|f| f.confirmed.is_some()).count() >= MAX_FACTORS {
        return Err(ApiError::Conflict(format!(
            "a user may have at most {MAX_FACTORS} second factors; remove one first"
        )));
    }
    let exclude = passkeys_of(app, &factors)?
        .into_iter()
        .map(|(_, p)| p.cred_id().clone())
        .collect();
    let (options, state) = app
        .passkeys
        .start_registration(&user.id, &user.email, exclude)?;
    let id = ids::new_id(CEREMONY);
    let row = RegistrationRow {
        state: passkeys::seal(&app.sealer, &id, &state)?,
        id,
        user_id: user.id.clone(),
        created: now,
        expires: now + CEREMONY_TTL_MS,
    };
    store::factors::insert_registration(&mut change.tx, &row).await?;
    change.commit().await?;
    Ok(Registration {
        ceremony_id: row.id,
        options: serde_json::to_value(options).map_err(ApiError::internal)?,
    })
}

/// The user's confirmed passkeys, opened, with their factors' IDs.
fn passkeys_of(app: &App, factors: &[FactorRow]) -> Result<Vec<(String, Passkey)>, ApiError> {
    factors
        .iter()
        .filter(|f| f.kind == WEBAUTHN && f.confirmed.is_some())
        .map(|f| {
            Ok((
                f.id.clone(),
                passkeys::open(&app.sealer, &f.id, &f.credential)?,
            ))
        })
        .collect()
}

/// Finishes a passkey registration of the caller with the authenticator's answer: a confirmed
/// factor. The ceremony is spent by this call whatever its outcome. The first factor a user
/// confirms comes with his recovery codes, as a TOTP factor's does.
pub async fn finish_passkey(
    app: &App,
    grant: &Grant,
    ceremony_id: Option<&str>,
    credential: Option<&serde_json::Value>,
    name: Option<&str>,
) -> Result<Confirmed, ApiError> {
    let caller = grant.caller()?;
    let ceremony_id = ceremony_id
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::missing("ceremonyID"))?;
    let credential = credential.ok_or_else(|| ApiError::missing("credential"))?;
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > 100) {
        return Err(ApiError::invalid(
            "name",
            "name must be at most 100 characters",
        ));
    }
    let credential = serde_json::from_value(credential.clone()).map_err(|e| {
        ApiError::invalid(
            "credential",
            format!("credential is not a WebAuthn registration credential: {e}"),
        )
    })?;
    let now = app.clock.now();
    // Spent at once, in a change of its own: a refused answer spends it too.
    let sealed = {
        let mut conn = app.store.pool().acquire().await?;
        store::factors::take_registration(&mut conn, ceremony_id, &caller.user_id, now).await?
    };
    let Some(sealed) = sealed else {
        return Err(ApiError::invalid(
            "ceremonyID",
            "no such registration of yours under way: unknown, expired or finished already",
        ));
    };
    let state = passkeys::open(&app.sealer, ceremony_id, &sealed)?;
    let passkey = app
        .passkeys
        .finish_registration(&credential, &state)
        .map_err(|e| ApiError::invalid("credential", format!("the credential is refused: {e}")))?;
    let mut change = Change::begin_at(app, now).await?;
    let factors = store::factors::of_user(&mut change.tx, &caller.user_id).await?;
    if factors.iter().filter(|f| f.confirmed.is_some()).count() >= MAX_FACTORS {
        return Err(ApiError::Conflict(format!(
            "a user may have at most {MAX_FACTORS} second factors; remove one first"
        )));
    }
    if passkeys_of(app, &factors)?
        .iter()
        .any(|(_, p)| p.cred_id() == passkey.cred_id())
    {
        return Err(ApiError::Conflict(
            "this passkey is a second factor of yours already".into(),
        ));
    }
    // A credential serves one user (WebAuthn §7.1 step 26): one that is another user's already
    // would let a login with a passkey alone be taken for his.
    let lookup = passkeys::lookup(passkey.cred_id().as_ref());
    if store::factors::lookup_taken(&mut change.tx, &lookup).await? {
        return Err(ApiError::Conflict(
            "this credential is registered already".into(),
        ));
    }
    let first = !factors.iter().any(|f| f.confirmed.is_some());
    let id = ids::new_id(FACTOR);
    let factor = FactorRow {
        credential: passkeys::seal(&app.sealer, &id, &passkey)?,
        id,
        user_id: caller.user_id.clone(),
        kind: WEBAUTHN.into(),
        name: name.unwrap_or("Passkey").to_string(),
        created: now,
        confirmed: Some(now),
        last_used: None,
        last_step: None,
    };
    store::factors::insert(&mut change.tx, &factor).await?;
    store::factors::set_lookup(&mut change.tx, &factor.id, &lookup).await?;
    let recovery_codes = match first {
        true => Some(new_recovery_codes(&mut change, &caller.user_id, now).await?),
        false => None,
    };
    change
        .audit(AuditEvent {
            actor_id: Some(&caller.user_id),
            organization_id: Some(&caller.organization_id),
            action: "mfa.confirmed",
            subject_id: Some(&caller.user_id),
            target_id: Some(&factor.id),
            details: Some(json!({
                "kind": WEBAUTHN,
                "name": factor.name,
                "recoveryCodes": first,
            })),
            ..Default::default()
        })
        .await?;
    change.commit().await?;
    Ok(Confirmed {
        factor,
        recovery_codes,
    })
}

/// Replaces the user's recovery codes with ten new ones; answers them, for this one answer.
async fn new_recovery_codes(
    change: &mut Change<'_>,
    user_id: &str,
    now: Millis,
) -> Result<Vec<SecretString>, ApiError> {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut rows = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut bytes = [0u8; RECOVERY_SYMBOLS];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let symbols: Vec<char> = bytes
            .iter()
            .map(|b| RECOVERY_ALPHABET[(b & 31) as usize] as char)
            .collect();
        let code = symbols
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join("-");
        rows.push((ids::new_id(ids::CODE), secrets::code_digest(&code)));
        codes.push(SecretString::new(code));
    }
    store::factors::replace_recovery_codes(&mut change.tx, user_id, &rows, now).await?;
    Ok(codes)
}

/// The caller's factors, pending ones included.
pub async fn list(app: &App, grant: &Grant) -> Result<Vec<FactorRow>, ApiError> {
    let caller = grant.caller()?;
    let mut conn = app.store.pool().acquire().await?;
    Ok(store::factors::of_user(&mut conn, &caller.user_id).await?)
}

/// What proves, for removing a factor or making new recovery codes, that the caller is the
/// user and not only holds his token: a current TOTP code of a confirmed factor, one of his
/// passkeys' assertion for a ceremony started with `startPasskeyLogin`, or the password.
pub struct Proof<'a> {
    pub code: Option<&'a str>,
    pub password: Option<&'a SecretString>,
    /// The ceremony and the passkey's assertion.
    pub passkey: Option<(&'a str, &'a serde_json::Value)>,
}

/// A proof as far as it can be checked before the act's change begins: a password (no write
/// lock is held while Argon2 runs) and a passkey (its ceremony is spent on a connection of its
/// own) are; a TOTP code is checked in the change, which spends it with the act.
enum Prechecked {
    Code(String),
    Right(Option<passkey_ceremony::Proved>),
    Wrong(Wrong),
    /// Nothing could be checked: no proof, or the hashing queue is full.
    Untried(ApiError),
}

impl Proof<'_> {
    async fn precheck(&self, app: &App, user: &UserRow) -> Result<Prechecked, ApiError> {
        if let Some(code) = self.code.map(str::trim).filter(|c| !c.is_empty()) {
            return Ok(Prechecked::Code(code.to_string()));
        }
        if let Some((ceremony, assertion)) = self.passkey {
            return Ok(
                match passkey_ceremony::prove(app, &user.id, ceremony, assertion).await? {
                    Some(proved) => Prechecked::Right(Some(proved)),
                    None => Prechecked::Wrong(Wrong::Passkey),
                },
            );
        }
        let Some(password) = self.password.filter(|p| !p.expose().is_empty()) else {
            return Ok(Prechecked::Untried(ApiError::invalid(
                "code",
                "a current code of a second factor (code), a passkey's assertion (ceremonyID \
                 and credential) or the password (password) is required",
            )));
        };
        Ok(
            match app
                .hasher
                .verify(user.password_hash.as_deref(), password)
                .await
            {
                Ok(Verdict::Match { .. }) => Prechecked::Right(None),
                Ok(Verdict::Mismatch) => Prechecked::Wrong(Wrong::Password),
                Err(e) => Prechecked::Untried(e),
            },
        )
    }
}

/// A proof (or a first code) about to be checked for the caller, counted first against the
/// limits of password logins from his client: a stolen token buys no more guesses at the
/// password, or at codes, here than at the token endpoint. Counted as a password login from
/// that client is (`login::password_grant`): per address always, per e-mail only from a
/// client the user has not logged in from, so that nobody holds the user's own logins back by
/// failing here. The device cookie goes to the token endpoint only: here a client is known by
/// its address alone. Over a limit, a 429 before anything is checked; a right proof is given
/// back, in the change it proves; a wrong one stays counted.
struct ProofAttempt {
    reserved: Vec<Reserved>,
}

impl ProofAttempt {
    async fn start(app: &App, user: &UserRow) -> Result<Self, ApiError> {
        let now = app.clock.now();
        let (_, reserved) = app
            .limits
            .reserve_guess(&user.id, &user.email_key, None, now)
            .await?;
        Ok(Self { reserved })
    }

    /// The proof was right: it no longer counts, from the commit of the change it proved.
    async fn succeeded(self, app: &App, change: &mut Change<'_>) -> Result<(), ApiError> {
        for attempt in self.reserved {
            app.limits.give_back(&mut change.tx, attempt).await?;
        }
        Ok(())
    }

    /// Nothing was checked after all (the request is refused for another reason): it no
    /// longer counts. Given back in `change`, which writes nothing else, and answers `refusal`.
    async fn untried<T>(
        self,
        app: &App,
        mut change: Change<'_>,
        refusal: ApiError,
    ) -> Result<T, ApiError> {
        for attempt in self.reserved {
            app.limits.give_back(&mut change.tx, attempt).await?;
        }
        change.commit().await?;
        Err(refusal)
    }
}

/// Why a proof failed.
#[derive(Clone, Copy)]
enum Wrong {
    Code,
    Password,
    Passkey,
}

/// Refuses a wrong proof: `failure` (the event of what it was for) is audited as failed, in
/// `change`, which has written nothing else (a wrong code spends nothing), and the attempt
/// stays counted against the limits.
async fn refuse<T>(
    mut change: Change<'_>,
    failure: AuditEvent<'_>,
    wrong: Wrong,
) -> Result<T, ApiError> {
    let (field, reason, message) = match wrong {
        Wrong::Code => (
            "code",
            "wrong or used code",
            "code is wrong or was used already",
        ),
        Wrong::Password => ("password", "wrong password", "password is wrong"),
        Wrong::Passkey => (
            "credential",
            "passkey refused",
            "the passkey is not accepted, or the ceremony is unknown, expired or spent",
        ),
    };
    change
        .audit(AuditEvent {
            outcome: Outcome::Failed,
            reason: Some(reason),
            ..failure
        })
        .await?;
    change.commit().await?;
    Err(ApiError::invalid(field, message))
}

/// Finishes checking a proof of the user inside the change that acts on it (a code is spent
/// there, a passkey's counter kept), counted by `attempt`; answers the change to go on with
/// when the proof is right. Refused (400) when there is none or it is wrong, a wrong one
/// audited as `failure`, the event of what it was for.
async fn check_proof<'a>(
    app: &App,
    mut change: Change<'a>,
    user: &UserRow,
    proof: Prechecked,
    attempt: ProofAttempt,
    failure: AuditEvent<'_>,
) -> Result<Change<'a>, ApiError> {
    let now = change.now();
    let right = match proof {
        Prechecked::Code(code) => {
            let factors = store::factors::of_user(&mut change.tx, &user.id).await?;
            match totp_step(app, &mut change, &factors, &code, now).await? {
                Some(_) => Ok(()),
                None => Err(Wrong::Code),
            }
        }
        Prechecked::Right(passkey) => {
            if let Some(proved) = passkey {
                proved.keep(&mut change).await?;
            }
            Ok(())
        }
        Prechecked::Wrong(wrong) => Err(wrong),
        Prechecked::Untried(refusal) => return attempt.untried(app, change, refusal).await,
    };
    match right {
        Ok(()) => {
            attempt.succeeded(app, &mut change).await?;
            Ok(change)
        }
        Err(wrong) => refuse(change, failure, wrong).await,
    }
}

/// Accepts a TOTP code of one of the user's confirmed factors; answers the factor it was of.
async fn totp_step(
    app: &App,
    change: &mut Change<'_>,
    factors: &[FactorRow],
    code: &str,
    now: Millis,
) -> Result<Option<String>, ApiError> {
    for factor in factors
        .iter()
        .filter(|f| f.kind == TOTP && f.confirmed.is_some())
    {
        let secret = app.sealer.open(&factor.id, &factor.credential)?;
        if let Some(step) = totp::matching_step(&secret, code, now, factor.last_step) {
            if store::factors::accept_step(&mut change.tx, &factor.id, step, now).await? {
                return Ok(Some(factor.id.clone()));
            }
        }
    }
    Ok(None)
}

/// Removes one of the caller's factors (pending or confirmed) with a proof. The last
/// confirmed factor takes the recovery codes with it: they stand in for a factor only; it is
/// kept (409) while the user is a member of an organization requiring a factor. The removal of
/// a confirmed one is mailed to the user, so that he learns of one he did not make.
pub async fn remove(
    app: &App,
    grant: &Grant,
    factor_id: &str,
    proof: Proof<'_>,
) -> Result<FactorRow, ApiError> {
    let caller = grant.caller()?;
    let user = me(app, caller).await?;
    let attempt = ProofAttempt::start(app, &user).await?;
    let proof = proof.precheck(app, &user).await?;
    let now = app.clock.now();
    let mut change = Change::begin_at(app, now).await?;
    let factors = store::factors::of_user(&mut change.tx, &user.id).await?;
    let Some(factor) = factors.iter().find(|f| f.id == factor_id).cloned() else {
        let missing = ApiError::NotFound(format!("no second factor {factor_id}"));
        return attempt.untried(app, change, missing).await;
    };
    let left = factors
        .iter()
        .filter(|f| f.id != factor.id && f.confirmed.is_some())
        .count();
    // The last factor of a member of an organization requiring one would turn his next login
    // there into one limited to enrolling: he replaces it instead (enrol the new one first),
    // or, having lost it, asks an administrator to remove his factors.
    if factor.confirmed.is_some()
        && left == 0
        && store::factors::required_of_member(&mut change.tx, &user.id).await?
    {
        let kept = ApiError::Conflict(
            "an organization of yours requires a second factor: enrol and confirm another \
             before removing your last one"
                .into(),
        );
        return attempt.untried(app, change, kept).await;
    }
    let event = AuditEvent {
        actor_id: Some(&user.id),
        organization_id: Some(&caller.organization_id),
        action: "mfa.removed",
        subject_id: Some(&user.id),
        target_id: Some(&factor.id),
        ..Default::default()
    };
    let mut change = check_proof(app, change, &user, proof, attempt, event.clone()).await?;
    store::factors::delete(&mut change.tx, &factor.id).await?;
    if left == 0 {
        store::factors::delete_recovery_codes(&mut change.tx, &user.id).await?;
    }
    change
        .audit(AuditEvent {
            details: Some(json!({ "kind": factor.kind, "confirmedLeft": left })),
            ..event
        })
        .await?;
    // A pending factor never guarded a login: its removal changes nothing to tell.
    if factor.confirmed.is_some() {
        let mail =
            messages::second_factor_removed(&user.email, &factor.name, &factor.kind, now, left);
        change.mail(&mail).await?;
    }
    change.commit().await?;
    Ok(factor)
}

/// New recovery codes for the caller, with a proof; the old ones stop working. Mailed to the
/// user (never the codes).
pub async fn regenerate_recovery_codes(
    app: &App,
    grant: &Grant,
    proof: Proof<'_>,
) -> Result<Vec<SecretString>, ApiError> {
    let caller = grant.caller()?;
    let user = me(app, caller).await?;
    let attempt = ProofAttempt::start(app, &user).await?;
    let proof = proof.precheck(app, &user).await?;
    let now = app.clock.now();
    let mut change = Change::begin_at(app, now).await?;
    if !store::factors::has_confirmed(&mut change.tx, &user.id).await? {
        let none = ApiError::Conflict(
            "recovery codes stand in for a second factor: confirm one first".into(),
        );
        return attempt.untried(app, change, none).await;
    }
    let event = AuditEvent {
        actor_id: Some(&user.id),
        organization_id: Some(&caller.organization_id),
        action: "mfa.recovery_codes_regenerated",
        subject_id: Some(&user.id),
        target_id: Some(&user.id),
        ..Default::default()
    };
    let mut change = check_proof(app, change, &user, proof, attempt, event.clone()).await?;
    let codes = new_recovery_codes(&mut change, &user.id, now).await?;
    change.audit(event).await?;
    change
        .mail(&messages::recovery_codes_regenerated(&user.email, now))
        .await?;
    change.commit().await?;
    Ok(codes)
}

/// Removes every factor and recovery code of another user, who lost them: `Users:update` and
/// all he holds, in every organization he belongs to ([`authz::act_on`]). Mailed to him. Not
/// for oneself: one's own factors are removed one by one, each with a proof.
pub async fn reset_user(app: &App, grant: &Grant, user_id: &str) -> Result<u64, ApiError> {
    let caller = grant.caller()?;
    let not_found = || ApiError::NotFound(format!("no user {user_id}"));
    let user = {
        let mut conn = app.store.pool().acquire().await?;
        let user = store::users::find_by_id(&mut conn, user_id)
            .await?
            .ok_or_else(not_found)?;
        let mut visible = false;
        for organization_id in grant.organization_ids() {
            if store::memberships::is_member(&mut conn, &user.id, &organization_id).await? {
                visible = true;
            }
        }
        if !visible {
            return Err(not_found());
        }
        user
    };
    if user.id == caller.user_id {
        return Err(ApiError::Forbidden(
            "your own second factors are removed one by one with DELETE \
             /v1/users/mine/mfa/{id}, each with a current code or your password"
                .into(),
        ));
    }
    let subject = authz::act_on(app, grant, user, "Users", "update").await?;
    let user = subject.user();
    let now = app.clock.now();
    let mut change = Change::begin_at(app, now).await?;
    let acting = grant.home().map(|a| a.organization_id.clone());
    let removed = remove_all(&mut change, user, &caller.user_id, acting.as_deref()).await?;
    change.commit().await?;
    Ok(removed)
}

/// Removes every factor and recovery code of a user, in `change`, by `actor` (a user ID, or a
/// shell command); audited as `mfa.reset` in `organization_id` and mailed to him, unless he
/// had none. Answers how many factors went.
pub async fn remove_all(
    change: &mut Change<'_>,
    user: &UserRow,
    actor: &str,
    organization_id: Option<&str>,
) -> Result<u64, ApiError> {
    let removed = store::factors::delete_all_of(&mut change.tx, &user.id).await?;
    if removed == 0 {
        return Ok(0);
    }
    change
        .audit(AuditEvent {
            actor_id: Some(actor),
            organization_id,
            action: "mfa.reset",
            subject_id: Some(&user.id),
            target_id: Some(&user.id),
            details: Some(json!({ "removed": removed })),
            ..Default::default()
        })
        .await?;
    change
        .mail(&messages::second_factors_reset(&user.email))
        .await?;
    Ok(removed)
}

/// An organization's policy on second factors, to one of its members (anyone else: 404).
pub async fn policy(app: &App, grant: &Grant, organization_id: &str) -> Result<Policy, ApiError> {
    member(app, grant, organization_id).await?;
    let mut conn = app.store.pool().acquire().await?;
    let row = store::factors::policy_of(&mut conn, organization_id).await?;
    let changed = store::factors::policy_changed(&mut conn, organization_id).await?;
    Ok(Policy {
        organization_id: organization_id.to_string(),
        required: row.required,
        passkey_login: row.passkey_login,
        updated: changed.as_ref().map(|c| c.0),
        changed_by: changed.and_then(|c| c.1),
    })
}

/// An organization's policy on second factors.
pub struct Policy {
    pub organization_id: String,
    pub required: bool,
    /// Members may log in with a passkey alone.
    pub passkey_login: bool,
    pub updated: Option<Millis>,
    pub changed_by: Option<String>,
}

/// The caller's standing in an organization; not a member: 404, its existence not revealed;
/// where the policy is on, a login that passed no second factor: 403.
async fn member(
    app: &App,
    grant: &Grant,
    organization_id: &str,
) -> Result<authz::ActingIn, ApiError> {
    grant.on(app, organization_id).await
}

/// Changes an organization's policy: whether it requires a second factor, whether a passkey
/// alone logs in; what is left out stays as it is. `Organizations:update` there (a platform
/// administrator holds it everywhere). It holds at once: a token whose login passed no factor
/// is refused there from the next request (`authz`), on every node.
pub async fn set_policy(
    app: &App,
    grant: &Grant,
    organization_id: &str,
    required: Option<bool>,
    passkey_login: Option<bool>,
) -> Result<Policy, ApiError> {
    let caller = grant.caller()?;
    if required.is_none() && passkey_login.is_none() {
        return Err(ApiError::invalid(
            "required",
            "required or passkeyLogin (booleans) is required",
        ));
    }
    let acting = member(app, grant, organization_id).await?;
    if !acting.permissions.allows("Organizations", "update") {
        return Err(ApiError::Forbidden(
            "this needs the permission Organizations:update".into(),
        ));
    }
    let now = app.clock.now();
    let mut change = Change::begin_at(app, now).await?;
    let before = store::factors::policy_of(&mut change.tx, organization_id).await?;
    let after = store::factors::PolicyRow {
        required: required.unwrap_or(before.required),
        passkey_login: passkey_login.unwrap_or(before.passkey_login),
    };
    store::factors::set_policy(&mut change.tx, organization_id, after, now, &caller.user_id)
        .await?;
    change
        .audit(AuditEvent {
            actor_id: Some(&caller.user_id),
            organization_id: Some(organization_id),
            action: "mfa_policy.updated",
            target_id: Some(organization_id),
            details: Some(json!({
                "before": { "required": before.required, "passkeyLogin": before.passkey_login },
                "after": { "required": after.required, "passkeyLogin": after.passkey_login },
            })),
            ..Default::default()
        })
        .await?;
    // Every node decides from the policy as it is now: a session that passed no factor is
    // limited at once in an organization turning it on.
    change.forget_all();
    change.commit().await?;
    Ok(Policy {
        organization_id: organization_id.to_string(),
        required: after.required,
        passkey_login: after.passkey_login,
        updated: Some(now),
        changed_by: Some(caller.user_id.clone()),
    })
}

/// A caller about to make a permanent token for an organization requiring a second factor
/// must have passed one at this login: a permanent token would otherwise outlive the policy.
pub async fn require_passed(
    app: &App,
    caller: &Principal,
    organization_id: &str,
) -> Result<(), ApiError> {
    if caller.second_factor_passed() {
        return Ok(());
    }
    let mut conn = app.store.pool().acquire().await?;
    if store::factors::required_in(&mut conn, organization_id).await? {
        return Err(ApiError::Forbidden(
            "the organization requires a second factor: log in with one to make a permanent \
             token"
                .into(),
        ));
    }
    Ok(())
}

/// The second step a login continues with, when its user has a confirmed factor.
#[derive(Debug)]
pub struct MfaRequired {
    pub token: SecretString,
    /// The user's confirmed factors: (ID, kind).
    pub factors: Vec<(String, String)>,
    /// The request options of a passkey authentication started with the `mfa_token`, when the
    /// user has a passkey: what `navigator.credentials.get()` is called with.
    pub webauthn: Option<serde_json::Value>,
}

/// The client a login is answered to: its address and the `client_id` it named.
pub fn client(client_id: Option<&str>) -> String {
    let address = origin::address().map(|a| a.to_string()).unwrap_or_default();
    format!("{address} {}", client_id.unwrap_or(""))
}

/// If the user has a confirmed factor, records the second step of his login in the change (the
/// caller commits it) and answers what the client needs to take it.
pub async fn challenge(
    app: &App,
    change: &mut Change<'_>,
    user: &UserRow,
    organization_id: Option<&str>,
    method: &str,
    details: Option<&serde_json::Value>,
    client_id: Option<&str>,
) -> Result<Option<MfaRequired>, ApiError> {
    let confirmed: Vec<FactorRow> = store::factors::of_user(&mut change.tx, &user.id)
        .await?
        .into_iter()
        .filter(|f| f.confirmed.is_some())
        .collect();
    if confirmed.is_empty() {
        return Ok(None);
    }
    let factors = confirmed
        .iter()
        .map(|f| (f.id.clone(), f.kind.clone()))
        .collect();
    // A passkey that does not open (the secrets key changed) is left out rather than failing
    // the login: its user still has his other factors and his recovery codes.
    let passkeys: Vec<Passkey> = confirmed
        .iter()
        .filter(|f| f.kind == WEBAUTHN)
        .filter_map(
            |f| match passkeys::open(&app.sealer, &f.id, &f.credential) {
                Ok(passkey) => Some(passkey),
                Err(e) => {
                    tracing::warn!(factor = %f.id, error = %e, "a passkey does not open");
                    None
                }
            },
        )
        .collect();
    let challenge_id = ids::new_id(ids::CODE);
    let (webauthn, webauthn_state) = match passkeys.is_empty() {
        true => (None, None),
        false => {
            let (options, state) = app.passkeys.start_authentication(&passkeys)?;
            (
                Some(serde_json::to_value(options).map_err(ApiError::internal)?),
                Some(passkeys::seal(&app.sealer, &challenge_id, &state)?),
            )
        }
    };
    let now = change.now();
    store::factors::prune_challenges(&mut change.tx, now).await?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = {
        use base64::Engine;
        let tail = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        SecretString::new(format!("{MFA_TOKEN_PREFIX}{tail}"))
    };
    let row = ChallengeRow {
        id: challenge_id,
        digest: secrets::digest(token.expose()),
        user_id: user.id.clone(),
        organization_id: organization_id
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string),
        client: client(client_id),
        method: method.to_string(),
        details: details.map(|d| d.to_string()),
        created: now,
        expires: now + app.settings.mfa.token_ttl_seconds * 1000,
        used: None,
        failed_attempts: 0,
        webauthn: webauthn_state,
    };
    store::factors::insert_challenge(&mut change.tx, &row).await?;
    change
        .audit(AuditEvent {
            actor_id: Some(&user.id),
            organization_id: Some(&user.organization_id),
            action: "login.second_factor_required",
            subject_id: Some(&user.id),
            target_id: Some(&user.id),
            details: Some(json!({ "method": method, "challenge": row.id })),
            ..Default::default()
        })
        .await?;
    Ok(Some(MfaRequired {
        token,
        factors,
        webauthn,
    }))
}

/// The live challenge an `mfa_token` stands for, answered to this client; `None` for anything
/// else (not an `mfa_token`, unknown, spent, expired, another client's).
pub async fn find_challenge(
    app: &App,
    token: &SecretString,
    client_id: Option<&str>,
) -> Result<Option<ChallengeRow>, ApiError> {
    if !token.expose().starts_with(MFA_TOKEN_PREFIX) {
        return Ok(None);
    }
    let digest = secrets::digest(token.expose());
    let mut conn = app.store.pool().acquire().await?;
    let now = app.clock.now();
    let found = store::factors::find_challenge(&mut conn, &digest)
        .await?
        .filter(|c| secrets::same_digest(&c.digest, &digest))
        .filter(|c| c.used.is_none() && now < c.expires)
        .filter(|c| c.client == client(client_id));
    Ok(found)
}

/// The code a login's second step was given.
pub enum LoginCode<'a> {
    Totp(&'a str),
    Recovery(&'a SecretString),
    /// A passkey's assertion (a `PublicKeyCredential` as JSON), for the authentication started
    /// with the `mfa_token`.
    Passkey(&'a str),
}

impl LoginCode<'_> {
    /// How the audit trail names it.
    pub fn kind(&self) -> &'static str {
        match self {
            LoginCode::Totp(_) => TOTP,
            LoginCode::Recovery(_) => "recovery_code",
            LoginCode::Passkey(_) => WEBAUTHN,
        }
    }
}

/// Checks the second step's code inside the change that opens the session; spends it (the TOTP
/// step, the recovery code) there. A recovery code used is audited and mailed to its user.
/// Answers whether it was right.
pub async fn check_login_code(
    app: &App,
    change: &mut Change<'_>,
    user: &UserRow,
    challenge: &ChallengeRow,
    organization_id: &str,
    code: &LoginCode<'_>,
) -> Result<bool, ApiError> {
    let now = change.now();
    match code {
        LoginCode::Passkey(assertion) => {
            check_assertion(app, change, user, challenge, assertion, now).await
        }
        LoginCode::Totp(code) => {
            let factors = store::factors::of_user(&mut change.tx, &user.id).await?;
            Ok(totp_step(app, change, &factors, code, now).await?.is_some())
        }
        LoginCode::Recovery(code) => {
            let digest = secrets::code_digest(code.expose());
            if !store::factors::use_recovery_code(&mut change.tx, &user.id, &digest, now).await? {
                return Ok(false);
            }
            let left = store::factors::recovery_codes_left(&mut change.tx, &user.id).await?;
            change
                .audit(AuditEvent {
                    actor_id: Some(&user.id),
                    organization_id: Some(organization_id),
                    action: "mfa.recovery_code_used",
                    subject_id: Some(&user.id),
                    target_id: Some(&user.id),
                    details: Some(json!({ "left": left })),
                    ..Default::default()
                })
                .await?;
            change
                .mail(&messages::recovery_code_used(&user.email, left))
                .await?;
            Ok(true)
        }
    }
}

/// Checks a passkey's assertion against the authentication started with the `mfa_token`
/// (only that one: an assertion made for another login's challenge is refused), and keeps the
/// passkey's signature counter as it moved on.
async fn check_assertion(
    app: &App,
    change: &mut Change<'_>,
    user: &UserRow,
    challenge: &ChallengeRow,
    assertion: &str,
    now: Millis,
) -> Result<bool, ApiError> {
    let Some(sealed) = challenge.webauthn.as_deref() else {
        return Ok(false);
    };
    let state = passkeys::open(&app.sealer, &challenge.id, sealed)?;
    let result = match app.passkeys.finish_authentication(assertion, &state) {
        Ok(result) => result,
        Err(reason) => {
            tracing::info!(%reason, challenge = %challenge.id, "a passkey assertion is refused");
            return Ok(false);
        }
    };
    let factors = store::factors::of_user(&mut change.tx, &user.id).await?;
    for (id, mut passkey) in passkeys_of(app, &factors)? {
        if passkey.cred_id() == result.cred_id() {
            passkey.update_credential(&result);
            let sealed = passkeys::seal(&app.sealer, &id, &passkey)?;
            store::factors::update_credential(&mut change.tx, &id, &sealed, now).await?;
            // A passkey registered before lookups were kept gets its own at its first use.
            let lookup = passkeys::lookup(passkey.cred_id().as_ref());
            store::factors::set_lookup(&mut change.tx, &id, &lookup).await?;
            return Ok(true);
        }
    }
    // Removed since the login's first step.
    Ok(false)
}

/// Counts a wrong code against a challenge (spent at the settings' number of wrong codes) and
/// audits it.
pub async fn wrong_login_code(
    app: &App,
    change: &mut Change<'_>,
    challenge: &ChallengeRow,
    user: &UserRow,
) -> Result<(), ApiError> {
    let now = change.now();
    let max = app.settings.mfa.attempts_per_token as i64;
    let failed = store::factors::fail_challenge(&mut change.tx, &challenge.id, max, now).await?;
    change
        .audit(AuditEvent {
            organization_id: Some(&user.organization_id),
            action: "login.failed",
            subject_id: Some(&user.id),
            target_id: Some(&user.id),
            outcome: Outcome::Failed,
            reason: Some("wrong second factor code"),
            details: Some(
                json!({ "challenge": challenge.id, "failed": failed, "spent": failed >= max }),
            ),
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// How a session opened now stands to second factors: `passed` after one was checked (or
/// `passkey` for a passkey alone), as the login says; else, in an organization requiring one
/// (its user has none, or he would have been asked), `enrol`: the session may only enrol a
/// factor.
pub async fn session_state(
    change: &mut Change<'_>,
    organization_id: &str,
    passed: Option<&'static str>,
) -> Result<Option<&'static str>, ApiError> {
    if passed.is_some() {
        return Ok(passed);
    }
    match store::factors::required_in(&mut change.tx, organization_id).await? {
        true => Ok(Some(ENROL)),
        false => Ok(None),
    }
}

/// The operations a token limited to enrolling a second factor may call (beside
/// `/v1/oauth/*`, which no token limits): seeing oneself, and one's second factors.
pub fn allowed_while_enrolling(operation: &str) -> bool {
    operation == "GET /v1/users/mine"
        || operation.split_once(' ').is_some_and(|(_, path)| {
            path == "/v1/users/mine/mfa" || path.starts_with("/v1/users/mine/mfa/")
        })
}
