//! Password reset by a code sent by mail.
//!
//! Strangers reach these operations, so they reveal nothing: asking for a code answers the same,
//! after the same work, whether or not the address belongs to anyone (the mail itself leaves
//! from the outbox, later); every failure to use a code is the same 400. A reset code dies after
//! five wrong tries, when used, when a newer one replaces it, and after its time (15 minutes by
//! default). Failed uses of any code are also limited per client address ([`CodeAttempt`]).

use std::net::IpAddr;

use crate::domain::CodeKind;
use crate::domain::{ids, Email, NewPassword, SecretString};
use crate::error::ApiError;
use crate::mail::messages;
use crate::security::limits::Limit;
use crate::security::secrets;
use crate::service::change::Change;
use crate::service::code_attempts::CodeAttempt;
use crate::service::{invitations, App};
use crate::store::codes::CodeRow;
use crate::store::users::UserRow;
use crate::store::{
    self,
    audit::{AuditEvent, Outcome},
};

/// What every request for a code is answered.
pub const REQUESTED: &str =
    "If the address belongs to an account, a reset code has been sent to it.";
/// What every failed use of a code is answered.
pub const WRONG_CODE: &str = "the reset code is wrong, used or expired";
/// Wrong tries after which a code dies.
pub const MAX_TRIES: i64 = 5;

pub async fn request_code(
    app: &App,
    raw_email: &str,
    client: Option<IpAddr>,
) -> Result<(), ApiError> {
    let email = Email::parse(raw_email, "email")?;
    let now = app.clock.now();
    // Limits count every request, known e-mail or not, so they reveal nothing either. The
    // address first: a client refused for its own address spends nobody's e-mail budget. The
    // e-mail's budget binds only clients its user never logged in from, so strangers asking
    // for his codes cannot keep him from getting one.
    if let Some(ip) = client {
        app.limits
            .count(Limit::ResetAddress, &ip.to_string(), now)
            .await?;
    }
    let mut conn = app.store.pool().acquire().await?;
    let owner = store::users::find_by_email_key(&mut conn, email.key()).await?;
    drop(conn);
    let owner = owner.map(|u| u.id);
    if !app
        .limits
        .is_known(owner.as_deref(), client, None, now)
        .await?
    {
        app.limits
            .count(Limit::ResetEmail, email.key(), now)
            .await?;
    }
    let ttl_minutes = app.settings.codes.reset_ttl_minutes;
    // Made on both paths, so both take the same time.
    let code = secrets::new_code();
    let mail = messages::password_reset(email.as_str(), code.secret.expose(), ttl_minutes);
    let mut change = Change::begin_at(app, now).await?;
    let user = store::users::find_by_email_key(&mut change.tx, email.key()).await?;
    match user {
        Some(mut user) if user.enabled => {
            let expires = now + ttl_minutes * 60_000;
            store::codes::retire_unused(&mut change.tx, &user.id, CodeKind::Reset, None, now)
                .await?;
            store::codes::insert(
                &mut change.tx,
                &CodeRow::new(
                    ids::new_id(ids::CODE),
                    CodeKind::Reset,
                    code.digest.clone(),
                    &user.id,
                    now,
                    expires,
                ),
            )
            .await?;
            user.password_reset_valid_till = Some(expires);
            store::users::save(&mut change.tx, &user).await?;
            let mail = crate::mail::Mail {
                to: user.email.clone(),
                ..mail
            };
            change.mail(&mail).await?;
            audit(
                &mut change,
                "password_reset.requested",
                Some(&user),
                Outcome::Succeeded,
            )
            .await?;
            // `passwordResetValidTill` changed.
            change.forget_views();
        }
        // The e-mail is kept out: the event of an unknown address says nothing of who asked.
        _ => {
            audit(
                &mut change,
                "password_reset.requested",
                None,
                Outcome::Failed,
            )
            .await?
        }
    };
    change.commit().await?;
    Ok(())
}

/// Whether a code may set the password of `user`: a reset code may; an invitation only when it
/// stands for his creation (never the password of a user who has one, or whom another
/// organization's invitation created).
fn sets_password(code: &CodeRow, user: &UserRow) -> bool {
    if code.kind == CodeKind::Invite {
        invitations::creates(code, user)
    } else {
        code.kind == CodeKind::Reset && code.is_for(&user.id)
    }
}

/// Sets a new password with a reset code, or with the invitation that created the user (which
/// also accepts it). Revokes the user's access and refresh tokens.
///
/// The code is checked read-only first; only a code that matched costs a hash and a write, so
/// strangers' wrong guesses take neither Argon2 time from real logins nor the writer.
pub async fn use_code(
    app: &App,
    client: Option<IpAddr>,
    raw_email: Option<&str>,
    code: Option<&SecretString>,
    new_password: Option<&SecretString>,
) -> Result<UserRow, ApiError> {
    let raw_email = raw_email
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| ApiError::missing("email"))?;
    let code = code
        .filter(|c| !c.expose().trim().is_empty())
        .ok_or_else(|| ApiError::missing("resetCode"))?;
    let new_password = new_password.ok_or_else(|| ApiError::missing("newPassword"))?;
    let attempt = CodeAttempt::start(app, client).await?;
    let wrong = || ApiError::invalid("resetCode", WRONG_CODE);
    let Ok(email) = Email::parse(raw_email, "email") else {
        failed(app, &attempt, None, &[]).await?;
        return Err(wrong());
    };
    // The policy needs only what the caller sent: checking it first reveals nothing.
    let password = NewPassword::parse(
        new_password,
        "newPassword",
        &app.settings.password.policy(),
        &email,
    )?;
    let typed = secrets::code_digest(code.expose());
    let now = attempt.now();

    let mut conn = app.store.pool().acquire().await?;
    let user = store::users::find_by_email_key(&mut conn, email.key()).await?;
    let live: Vec<CodeRow> = match &user {
        Some(u) => store::codes::live_of_user(&mut conn, &u.id, now)
            .await?
            .into_iter()
            .filter(|c| c.kind != CodeKind::Reset || c.failed_attempts < MAX_TRIES)
            .collect(),
        None => Vec::new(),
    };
    drop(conn);
    let matched = user.as_ref().and_then(|u| {
        live.iter()
            .find(|c| secrets::same_digest(&c.digest, &typed))
            .filter(|c| sets_password(c, u))
            .cloned()
    });
    let (Some(user), Some(matched)) = (user.as_ref(), matched) else {
        failed(app, &attempt, user.as_ref(), &live).await?;
        return Err(wrong());
    };

    let hash = match app.hasher.hash(password.secret()).await {
        Ok(hash) => hash,
        Err(e) => {
            // The code was right and nothing was used: the try must not count as a guess.
            attempt.untried().await?;
            return Err(e);
        }
    };
    let mut change = Change::begin_at(app, now).await?;
    // Read again under the write: the user may have changed since the check.
    let current = store::users::find_by_id(&mut change.tx, &user.id)
        .await?
        .filter(|u| u.email_key == email.key() && sets_password(&matched, u))
        .ok_or_else(wrong)?;
    let invitation = matched.kind == CodeKind::Invite;
    let mut user = if invitation {
        invitations::accept_invitation(&mut change, &matched)
            .await
            .map_err(|e| match e {
                ApiError::Validation { .. } => wrong(),
                other => other,
            })?
    } else if store::codes::consume(&mut change.tx, &matched.id, now).await? {
        current
    } else {
        return Err(wrong());
    };
    store::codes::retire_unused(&mut change.tx, &user.id, CodeKind::Reset, None, now).await?;
    user.password_hash = Some(hash);
    user.password_reset_valid_till = None;
    user.updated = now;
    user.changed_by = Some(user.id.clone());
    store::users::save(&mut change.tx, &user).await?;
    // Whoever reset the password may not be the one logged in: every session ends.
    let scope = store::sessions::Scope {
        user_id: &user.id,
        organization_id: None,
        now,
        idle_since: app.settings.tokens.session_idle_since(now),
    };
    let (_, revoked) = store::sessions::end_of_user(&mut change.tx, scope, None).await?;
    audit(
        &mut change,
        "password_reset.used",
        Some(&user),
        Outcome::Succeeded,
    )
    .await?;
    change.forget_tokens(revoked);
    change.forget_views();
    attempt.succeeded(&mut change.tx).await?;
    change.commit().await?;
    Ok(user)
}

/// A failed use: counted against the address, against each live reset code of the user (five
/// kill it; its owner can ask for another), never against an invitation (its invitee cannot),
/// and audited. The same writes whether or not the e-mail belongs to anyone.
async fn failed(
    app: &App,
    attempt: &CodeAttempt<'_>,
    user: Option<&UserRow>,
    live: &[CodeRow],
) -> Result<(), ApiError> {
    let now = attempt.now();
    let mut change = Change::begin_at(app, now).await?;
    let mut audited = false;
    for c in live.iter().filter(|c| c.kind == CodeKind::Reset) {
        let killed = store::codes::record_failure(&mut change.tx, &c.id, MAX_TRIES, now).await?;
        let action = if killed {
            "password_reset.code_killed"
        } else {
            "password_reset.failed"
        };
        audit(&mut change, action, user, Outcome::Failed).await?;
        audited = true;
    }
    if !audited {
        audit(&mut change, "password_reset.failed", user, Outcome::Failed).await?;
    }
    change.commit().await?;
    Ok(())
}

/// The audit event of a reset step, by and about the user when there is one, in his home
/// organization's chain (else in the chain of no organization).
async fn audit(
    change: &mut Change<'_>,
    action: &str,
    user: Option<&UserRow>,
    outcome: Outcome,
) -> Result<(), ApiError> {
    let user_id = user.map(|u| u.id.as_str());
    change
        .audit(AuditEvent {
            actor_id: user_id,
            organization_id: user.map(|u| u.organization_id.as_str()),
            action,
            subject_id: user_id,
            target_id: user_id,
            outcome,
            reason: (outcome == Outcome::Failed).then_some(match user {
                Some(_) => "wrong, used or expired code",
                None => "no such user",
            }),
            ..Default::default()
        })
        .await
}
