//! Logging in (RFC 6749 password and refresh-token grants) and revoking (RFC 7009).
//!
//! One answer for every way a password login can fail (no such user, wrong password, disabled
//! or locked user), after the same Argon2 work, so the endpoint does not reveal who exists.

use crate::clock::Millis;
use crate::domain::{ids, Email, SecretString};
use crate::error::ApiError;
use crate::origin;
use crate::security::hashing::Verdict;
use crate::security::limits::Limit;
use crate::security::secrets::{self, TokenKind};
use crate::service::change::Change;
use crate::service::mfa::{self, LoginCode, MfaRequired};
use crate::service::sessions::{self, Method};
use crate::service::token_pairs::{issue_pair, IssuedPair, Lineage};
use crate::service::App;
use crate::store::{
    self,
    audit::{AuditEvent, Outcome},
    tokens::TokenRow,
    users::UserRow,
};

/// Why a grant was refused, as RFC 6749 §5.2 names it.
#[derive(Debug)]
pub enum GrantError {
    InvalidRequest(String),
    InvalidGrant(&'static str),
    UnsupportedGrantType,
    /// The credential was right; the user's second factor is asked for next (the `mfa` grant).
    MfaRequired(MfaRequired),
    Api(ApiError),
}

impl<E: Into<ApiError>> From<E> for GrantError {
    fn from(e: E) -> Self {
        GrantError::Api(e.into())
    }
}

const BAD_CREDENTIALS: &str = "invalid username or password";
const BAD_REFRESH: &str = "invalid, expired or revoked refresh token";
const BAD_MFA_TOKEN: &str = "invalid, expired or spent mfa_token";
const BAD_CODE: &str = "the code is wrong or was used already";

/// A password login's answer: the token pair, and the device cookie's value that lets this
/// client through the per-e-mail limit of password guessing next time (none for a client
/// known already by its address that kept no cookie).
pub struct PasswordLogin {
    pub pair: IssuedPair,
    pub device: Option<String>,
}

/// Logs in with an e-mail and a password (RFC 6749 §4.3). `device` is the device cookie the
/// client presented, if any.
///
/// Guessing is limited per client address, whatever the e-mail, and per e-mail, known or not,
/// but only for clients the user has not logged in from (by address or device cookie): failing
/// with someone's e-mail costs the guesser, never that user's own logins (see
/// `security::limits`).
pub async fn password_grant(
    app: &App,
    username: Option<&str>,
    password: Option<&SecretString>,
    organization_id: Option<&str>,
    device: Option<&str>,
    client_id: Option<&str>,
) -> Result<PasswordLogin, GrantError> {
    let username = username.filter(|u| !u.trim().is_empty());
    let (Some(username), Some(password)) = (username, password) else {
        return Err(GrantError::InvalidRequest(
            "username and password are required".into(),
        ));
    };
    // A place to check the password in, first: past the hashing queue a login is refused
    // before it has read or counted anything.
    let place = app.hasher.place()?;
    let email = Email::parse(username, "username").ok();
    // Guessing is counted per e-mail as typed, whether or not anyone has it, so the limit says
    // nothing about who exists; over it, no password is checked at all.
    let guessed = match &email {
        Some(email) => email.key().to_string(),
        None => username.trim().to_lowercase(),
    };
    let address = origin::address();
    let from = address.map(|ip| ip.to_string()).unwrap_or_default();
    let now = app.clock.now();
    // The same reads whether or not anyone has the e-mail.
    let user = match &email {
        Some(email) => {
            let mut conn = app.store.pool().acquire().await?;
            store::users::find_by_email_key(&mut conn, email.key()).await?
        }
        None => None,
    };
    let user_id = user.as_ref().map(|u| u.id.as_str());
    let known = app.limits.is_known(user_id, address, device, now).await?;
    // Both limits are looked at before either counts, so that a refused attempt writes
    // nothing; then both count together. Counted before the hash, not after: guesses arriving
    // together would otherwise all be checked before the first failure is counted. A right
    // password gives them back. Known clients are not bound by the e-mail's limit.
    let mut bound = Vec::with_capacity(2);
    if !known {
        bound.push((Limit::LoginEmail, guessed.as_str()));
    }
    bound.push((Limit::LoginAddress, from.as_str()));
    let reserved = app.limits.reserve_all(&bound, now).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let verdict = match app
        .hasher
        .verify_in(place, stored.as_deref(), password)
        .await
    {
        Ok(verdict) => verdict,
        Err(e) => {
            // Nothing was checked.
            for attempt in reserved {
                app.limits.give_back_now(attempt).await?;
            }
            return Err(e.into());
        }
    };
    let now = app.clock.now();
    let (user, rehash) = match (user, verdict) {
        (Some(user), Verdict::Match { rehash }) if user.may_log_in() => (user, rehash),
        (user, verdict) => {
            app.metrics.login(false);
            let reason = match (&user, verdict) {
                (None, _) => "no such user",
                (Some(u), _) if u.password_hash.is_none() => "no password set",
                (Some(_), Verdict::Match { .. }) => "the user may not log in",
                (Some(_), _) => "wrong password",
            };
            // The e-mail tried, only when it is one: a password typed into the wrong field
            // must not land in the trail.
            let details = email
                .as_ref()
                .map(|e| serde_json::json!({ "email": e.as_str() }));
            let mut change = Change::begin_at(app, now).await?;
            change
                .audit(AuditEvent {
                    // A known user's failures are his organization's to see; an unknown
                    // e-mail's, the platform administrators'.
                    organization_id: user.as_ref().map(|u| u.organization_id.as_str()),
                    action: "login.failed",
                    subject_id: user.as_ref().map(|u| u.id.as_str()),
                    target_id: user.as_ref().map(|u| u.id.as_str()),
                    outcome: Outcome::Failed,
                    reason: Some(reason),
                    details,
                    ..Default::default()
                })
                .await?;
            change.commit().await?;
            return Err(GrantError::InvalidGrant(BAD_CREDENTIALS));
        }
    };
    // Hashed before the transaction, so no write lock is held while Argon2 runs. With the
    // hashing queue full the login stands and a later one upgrades the hash.
    let upgraded = match rehash {
        true => match app.hasher.hash(password).await {
            Ok(new) => Some(new),
            Err(ApiError::HashingBusy) => None,
            Err(e) => return Err(e.into()),
        },
        false => None,
    };
    let mut change = Change::begin_at(app, now).await?;
    if let Some(new) = upgraded {
        let old = stored.as_deref().unwrap_or("");
        store::users::upgrade_password_hash(&mut change.tx, &user.id, old, &new).await?;
    }
    for attempt in reserved {
        app.limits.give_back(&mut change.tx, attempt).await?;
    }
    // The device is remembered once the login is complete: after the second factor, if any.
    if let Some(required) = mfa::challenge(
        app,
        &mut change,
        &user,
        organization_id,
        Method::Password.as_str(),
        None,
        client_id,
    )
    .await?
    {
        change.commit().await?;
        return Err(GrantError::MfaRequired(required));
    }
    let device = app
        .limits
        .remember(&mut change.tx, &user.id, address, device, known, now)
        .await?;
    let pair = open_session(
        app,
        change,
        &user,
        organization_id,
        Method::Password,
        None,
        None,
    )
    .await?;
    Ok(PasswordLogin { pair, device })
}

/// Opens the session of a login whose credential was verified, in the user's home
/// organization or another one of his: its row, its token pair and its audit event; commits.
pub(crate) async fn open_session(
    app: &App,
    mut change: Change<'_>,
    user: &UserRow,
    organization_id: Option<&str>,
    method: Method,
    details: Option<serde_json::Value>,
    passed: Option<&'static str>,
) -> Result<IssuedPair, GrantError> {
    let now = change.now();
    let organization_id = organization_id
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .unwrap_or(&user.organization_id)
        .to_string();
    if !store::memberships::is_member(&mut change.tx, &user.id, &organization_id).await? {
        // The credential was right, so saying this reveals nothing about who exists.
        return Err(GrantError::InvalidGrant(
            "the user is not a member of that organization",
        ));
    }
    // The family of the login's tokens is its session.
    let family = ids::new_id(ids::SESSION);
    let session = sessions::new_row(app, &family, &user.id, &organization_id, method, now);
    let idle_since = app.settings.tokens.session_idle_since(now);
    store::sessions::open(&mut change.tx, &session, idle_since).await?;
    let second_factor = mfa::session_state(&mut change, &organization_id, passed).await?;
    if let Some(state) = second_factor {
        store::factors::mark_session(&mut change.tx, &family, state).await?;
    }
    let lineage = Lineage {
        family: &family,
        bound: false,
    };
    let pair = issue_pair(
        &app.settings.tokens,
        &mut change.tx,
        &user.id,
        &organization_id,
        lineage,
        now,
    )
    .await?;
    let mut details = details.unwrap_or_else(|| serde_json::json!({ "method": "password" }));
    if let Some(state) = second_factor {
        details["secondFactor"] = serde_json::Value::from(state);
    }
    // The pair's family: its ID names the login's tokens (IDs are no secrets).
    details["family"] = serde_json::Value::from(family.as_str());
    change
        .audit(AuditEvent {
            actor_id: Some(&user.id),
            organization_id: Some(&organization_id),
            action: "login.succeeded",
            subject_id: Some(&user.id),
            target_id: Some(&user.id),
            details: Some(details),
            ..Default::default()
        })
        .await?;
    change.commit().await?;
    app.metrics.login(true);
    Ok(IssuedPair {
        enrol_only: second_factor == Some(mfa::ENROL),
        ..pair
    })
}

/// Logs in a user through an OpenID Connect ID token of an identity linked to him
/// (RFC 7523 `jwt-bearer` grant).
pub async fn id_token_grant(
    app: &App,
    assertion: Option<&SecretString>,
    organization_id: Option<&str>,
    client_id: Option<&str>,
) -> Result<IssuedPair, GrantError> {
    let Some(assertion) = assertion.filter(|a| !a.expose().is_empty()) else {
        return Err(GrantError::InvalidRequest("assertion is required".into()));
    };
    const REFUSED: &str = "the ID token is invalid or not linked to a user";
    let identity = match app.oidc.verify(assertion.expose()).await {
        Ok(identity) => identity,
        Err(e) => {
            tracing::info!(reason = %e, "ID token refused");
            app.metrics.login(false);
            return Err(GrantError::InvalidGrant(REFUSED));
        }
    };
    let now = app.clock.now();
    let mut change = Change::begin_at(app, now).await?;
    let user = match store::identities::user_of(&mut change.tx, &identity.issuer, &identity.subject)
        .await?
    {
        Some(id) => store::users::find_by_id(&mut change.tx, &id).await?,
        None => None,
    };
    let Some(user) = user.filter(|u| u.may_log_in()) else {
        app.metrics.login(false);
        return Err(GrantError::InvalidGrant(REFUSED));
    };
    let details = serde_json::json!({ "method": "openid", "issuer": identity.issuer });
    if let Some(required) = mfa::challenge(
        app,
        &mut change,
        &user,
        organization_id,
        Method::OpenId.as_str(),
        Some(&details),
        client_id,
    )
    .await?
    {
        change.commit().await?;
        return Err(GrantError::MfaRequired(required));
    }
    open_session(
        app,
        change,
        &user,
        organization_id,
        Method::OpenId,
        Some(details),
        None,
    )
    .await
}

/// The second step of a login whose user has a second factor
/// (`urn:billforward:params:oauth:grant-type:mfa`): the `mfa_token` the first step answered,
/// with a TOTP code (`otp`), a recovery code (`recovery_code`) or a passkey's assertion
/// (`webauthn`) for the authentication the first step started. Answers the pair the first
/// step would have, from the same session code. A wrong code counts against the same limits
/// as a wrong password, and against the `mfa_token`, which a few of them spend.
pub async fn mfa_grant(
    app: &App,
    mfa_token: Option<&SecretString>,
    otp: Option<&SecretString>,
    recovery_code: Option<&SecretString>,
    webauthn: Option<&str>,
    device: Option<&str>,
    client_id: Option<&str>,
) -> Result<PasswordLogin, GrantError> {
    let Some(mfa_token) = mfa_token.filter(|t| !t.expose().is_empty()) else {
        return Err(GrantError::InvalidRequest("mfa_token is required".into()));
    };
    let code = match (otp, recovery_code, webauthn) {
        (Some(otp), None, None) => LoginCode::Totp(otp.expose()),
        (None, Some(recovery), None) => LoginCode::Recovery(recovery),
        (None, None, Some(assertion)) => LoginCode::Passkey(assertion),
        _ => {
            return Err(GrantError::InvalidRequest(
                "exactly one of otp, recovery_code and webauthn is required".into(),
            ))
        }
    };
    let Some(challenge) = mfa::find_challenge(app, mfa_token, client_id).await? else {
        return Err(GrantError::InvalidGrant(BAD_MFA_TOKEN));
    };
    let user = {
        let mut conn = app.store.pool().acquire().await?;
        store::users::find_by_id(&mut conn, &challenge.user_id).await?
    };
    let Some(user) = user.filter(|u| u.may_log_in()) else {
        return Err(GrantError::InvalidGrant(BAD_MFA_TOKEN));
    };
    let address = origin::address();
    let now = app.clock.now();
    let (known, reserved) = app
        .limits
        .reserve_guess(&user.id, &user.email_key, device, now)
        .await?;
    let organization_id = challenge
        .organization_id
        .clone()
        .unwrap_or_else(|| user.organization_id.clone());
    let mut change = Change::begin_at(app, now).await?;
    if !mfa::check_login_code(app, &mut change, &user, &challenge, &organization_id, &code).await? {
        // Nothing was spent; the attempt stays counted against the limits.
        mfa::wrong_login_code(app, &mut change, &challenge, &user).await?;
        change.commit().await?;
        app.metrics.login(false);
        return Err(GrantError::InvalidGrant(BAD_CODE));
    }
    if !store::factors::spend_challenge(&mut change.tx, &challenge.id, now).await? {
        return Err(GrantError::InvalidGrant(BAD_MFA_TOKEN));
    }
    for attempt in reserved {
        app.limits.give_back(&mut change.tx, attempt).await?;
    }
    let (method, device) = match challenge.method.as_str() {
        "openid" => (Method::OpenId, None),
        _ => (
            Method::Password,
            app.limits
                .remember(&mut change.tx, &user.id, address, device, known, now)
                .await?,
        ),
    };
    let mut details = challenge
        .details
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_else(|| serde_json::json!({ "method": method.as_str() }));
    details["secondFactor"] = serde_json::Value::from(code.kind());
    let pair = open_session(
        app,
        change,
        &user,
        challenge.organization_id.as_deref(),
        method,
        Some(details),
        Some(mfa::PASSED),
    )
    .await?;
    Ok(PasswordLogin { pair, device })
}

/// Rotates a refresh token. A refresh token used twice means it leaked: the whole family (every
/// token descended from that login) is revoked; unless it is the repeat of the family's latest
/// rotation within the reuse interval (a client retrying), which answers the same pair again.
pub async fn refresh_grant(
    app: &App,
    refresh: Option<&SecretString>,
) -> Result<IssuedPair, GrantError> {
    let Some(refresh) = refresh.filter(|r| !r.expose().is_empty()) else {
        return Err(GrantError::InvalidRequest(
            "refresh_token is required".into(),
        ));
    };
    if TokenKind::of_secret(refresh.expose()) != Some(TokenKind::Refresh) {
        return Err(GrantError::InvalidGrant(BAD_REFRESH));
    }
    // The common case, written together with the other rotations of the moment.
    if let Some(rotated) = app.rotations.rotate(refresh).await? {
        let tokens = &app.settings.tokens;
        return Ok(IssuedPair {
            access: rotated.access,
            access_expires_in: tokens.access_ttl_seconds,
            refresh: rotated.refresh,
            refresh_expires_in: tokens.refresh_ttl_seconds,
            organization_id: rotated.organization_id,
            bound: rotated.bound,
            enrol_only: rotated.enrol_only,
        });
    }
    let digest = secrets::digest(refresh.expose());
    let now = app.clock.now();
    let mut change = Change::begin_at(app, now).await?;
    // Refused; only a token used before (rather than unknown, expired or of a barred user)
    // means more than a refusal.
    let reused = store::tokens::find_by_digest(&mut change.tx, &digest)
        .await?
        .filter(|t| t.kind == TokenKind::Refresh && t.revoked.is_some())
        .filter(|t| t.expires.is_none_or(|e| now < e));
    let Some(token) = reused else {
        return Err(GrantError::InvalidGrant(BAD_REFRESH));
    };
    if let Some(pair) = repeated_rotation(app, &mut change.tx, &token, refresh, now).await? {
        change
            .audit(AuditEvent {
                actor_id: Some(&token.user_id),
                organization_id: Some(&token.organization_id),
                action: "refresh_token.repeated",
                subject_id: Some(&token.user_id),
                target_id: Some(&token.id),
                ..Default::default()
            })
            .await?;
        change.commit().await?;
        return Ok(pair);
    }
    let family = token.family_id.clone().unwrap_or_else(|| token.id.clone());
    let revoked = store::tokens::revoke_family(&mut change.tx, &family, now).await?;
    change
        .audit(AuditEvent {
            actor_id: Some(&token.user_id),
            organization_id: Some(&token.organization_id),
            action: "refresh_token.reused",
            subject_id: Some(&token.user_id),
            target_id: Some(&token.id),
            outcome: Outcome::Failed,
            reason: Some("a rotated refresh token was presented again: its family is revoked"),
            details: Some(serde_json::json!({ "family": family, "revoked": revoked.len() })),
            ..Default::default()
        })
        .await?;
    change.forget_tokens(revoked);
    change.commit().await?;
    Err(GrantError::InvalidGrant(BAD_REFRESH))
}

/// The pair a spent refresh token was rotated into, when presenting it again is a retry: within
/// the reuse interval of its rotation, while that pair's refresh token is still the family's
/// live one (neither used in turn nor revoked) and its user may still log in there. A repeat
/// thus answers nothing that was not answered already and reaches no further than the family.
async fn repeated_rotation(
    app: &App,
    conn: &mut sqlx::AnyConnection,
    spent: &TokenRow,
    secret: &SecretString,
    now: Millis,
) -> Result<Option<IssuedPair>, ApiError> {
    let interval = app.settings.tokens.refresh_reuse_interval_seconds * 1000;
    let (Some(rotated_at), Some(salt)) = (spent.revoked, spent.successor_salt.as_deref()) else {
        return Ok(None);
    };
    if now >= rotated_at + interval {
        return Ok(None);
    }
    let (access, refresh) = secrets::successors(secret.expose(), salt);
    // No successor: the token was revoked, not rotated.
    let Some(successor) = store::tokens::find_by_digest(conn, &refresh.digest).await? else {
        return Ok(None);
    };
    let family = spent.family_id.as_deref().unwrap_or(&spent.id);
    if successor.family_id.as_deref() != Some(family) || !successor.is_live(now) {
        return Ok(None);
    }
    let may_log_in = store::users::find_by_id(conn, &spent.user_id)
        .await?
        .is_some_and(|u| u.may_log_in());
    if !may_log_in
        || !store::memberships::is_member(conn, &spent.user_id, &spent.organization_id).await?
    {
        return Ok(None);
    }
    // As a rotation decides it (`store::tokens::consume_refreshes`); a repeat is rare enough
    // to read it apart.
    let enrol_only = match store::factors::standing(conn, family).await?.as_deref() {
        Some(mfa::ENROL) => true,
        Some(mfa::PASSED | mfa::PASSKEY) => false,
        _ => store::factors::required_in(conn, &spent.organization_id).await?,
    };
    let tokens = &app.settings.tokens;
    let left = |ttl: i64| (successor.created + ttl * 1000 - now).max(0) / 1000;
    Ok(Some(IssuedPair {
        access: access.secret,
        access_expires_in: left(tokens.access_ttl_seconds),
        refresh: refresh.secret,
        refresh_expires_in: left(tokens.refresh_ttl_seconds),
        organization_id: spent.organization_id.clone(),
        bound: spent.bound,
        enrol_only,
    }))
}

/// Revokes a token, whatever its kind; a refresh token takes its family with it. Unknown
/// tokens are ignored (RFC 7009 answers 200 either way).
pub async fn revoke(app: &App, token: Option<&SecretString>) -> Result<(), ApiError> {
    let Some(token) = token.filter(|t| !t.expose().is_empty()) else {
        return Ok(());
    };
    let digest = secrets::digest(token.expose());
    let now = app.clock.now();
    let mut change = Change::begin_at(app, now).await?;
    let Some(row) = store::tokens::find_by_digest(&mut change.tx, &digest).await? else {
        return Ok(());
    };
    let mut forgotten = vec![row.digest.clone()];
    match (&row.family_id, row.kind) {
        (Some(family), TokenKind::Refresh) => {
            forgotten.extend(store::tokens::revoke_family(&mut change.tx, family, now).await?);
        }
        (_, TokenKind::Permanent) => {
            store::tokens::revoke(&mut change.tx, &row.id, now).await?;
            // The pairs minted from it are its family: they end with it.
            forgotten.extend(store::tokens::revoke_family(&mut change.tx, &row.id, now).await?);
        }
        _ => {
            store::tokens::revoke(&mut change.tx, &row.id, now).await?;
        }
    }
    change
        .audit(AuditEvent {
            actor_id: Some(&row.user_id),
            organization_id: Some(&row.organization_id),
            action: "token.revoked",
            subject_id: Some(&row.user_id),
            target_id: Some(&row.id),
            details: Some(
                serde_json::json!({ "kind": row.kind.as_str(), "revoked": forgotten.len() }),
            ),
            ..Default::default()
        })
        .await?;
    change.forget_tokens(forgotten);
    change.commit().await?;
    Ok(())
}
