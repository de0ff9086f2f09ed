//! Password reset by a code sent by mail.
//!
//! Strangers reach these operations, so they reveal nothing: asking for a code answers the same,
//! after the same work, whether or not the address belongs to anyone (the mail itself leaves
//! from the outbox, later); every failure to use a code is the same 400. A code dies after five
//! wrong tries, when used, when a newer one replaces it, and after its time (15 minutes by
//! default).

use std::net::IpAddr;

use crate::domain::{ids, Email, NewPassword, SecretString};
use crate::error::ApiError;
use crate::mail::{messages, outbox};
use crate::security::secrets;
use crate::service::{users, App};
use crate::store::codes::{CodeKind, CodeRow};
use crate::store::users::UserRow;
use crate::store::{self, audit::AuditEvent};

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
    // Limits count every request, known address or not, so they reveal nothing either.
    app.reset_by_email.check(email.key(), now)?;
    if let Some(ip) = client {
        app.reset_by_address.check(&ip.to_string(), now)?;
    }
    let ttl_minutes = app.settings.codes.reset_ttl_minutes;
    // Made on both paths, so both take the same time.
    let code = secrets::new_code();
    let mail = messages::password_reset(email.as_str(), code.secret.expose(), ttl_minutes);
    let mut tx = app.store.write().await?;
    let user = store::users::find_by_email_key(&mut tx, email.key()).await?;
    let queued = match user {
        Some(mut user) if user.enabled => {
            let expires = now + ttl_minutes * 60_000;
            store::codes::retire_unused(&mut tx, &user.id, CodeKind::Reset, None, now).await?;
            store::codes::insert(
                &mut tx,
                &CodeRow {
                    id: ids::new_id(ids::CODE),
                    kind: CodeKind::Reset.as_str().into(),
                    digest: code.digest.clone(),
                    user_id: user.id.clone(),
                    organization_id: None,
                    role_ids: None,
                    created: now,
                    expires,
                    used: None,
                    failed_attempts: 0,
                    created_by: None,
                    enables_user: false,
                },
            )
            .await?;
            user.password_reset_valid_till = Some(expires);
            store::users::save(&mut tx, &user).await?;
            let mail = crate::mail::Mail {
                to: user.email.clone(),
                ..mail
            };
            outbox::enqueue(&mut tx, &mail, now).await?;
            audit(&mut tx, now, "password_reset.requested", Some(&user.id)).await?;
            1
        }
        _ => {
            audit(&mut tx, now, "password_reset.requested", None).await?;
            0
        }
    };
    tx.commit().await?;
    // `passwordResetValidTill` changed.
    app.auth.forget_views();
    app.mail.queued(queued);
    Ok(())
}

/// Sets a new password with a reset code, or with an invitation code (which also accepts the
/// invitation). Revokes the user's access and refresh tokens.
pub async fn use_code(
    app: &App,
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
    let wrong = || ApiError::invalid("resetCode", WRONG_CODE);
    let email = Email::parse(raw_email, "email").map_err(|_| wrong())?;
    // The policy needs only what the caller sent: checking it first reveals nothing.
    let password = NewPassword::parse(new_password, "newPassword", &app.settings.password, &email)?;
    let hash = app.hasher.hash(password.secret()).await?;
    let typed = secrets::code_digest(code.expose());
    let now = app.clock.now();

    let mut tx = app.store.write().await?;
    let Some(mut user) = store::users::find_by_email_key(&mut tx, email.key()).await? else {
        return Err(wrong());
    };
    let live: Vec<CodeRow> = store::codes::live_of_user(&mut tx, &user.id, now)
        .await?
        .into_iter()
        .filter(|c| c.failed_attempts < MAX_TRIES)
        .collect();
    let Some(matched) = live
        .iter()
        .find(|c| secrets::same_digest(&c.digest, &typed))
        .cloned()
    else {
        for c in &live {
            let killed = store::codes::record_failure(&mut tx, &c.id, MAX_TRIES, now).await?;
            let action = if killed {
                "password_reset.code_killed"
            } else {
                "password_reset.failed"
            };
            audit(&mut tx, now, action, Some(&user.id)).await?;
        }
        if live.is_empty() {
            audit(&mut tx, now, "password_reset.failed", Some(&user.id)).await?;
        }
        tx.commit().await?;
        return Err(wrong());
    };
    let invitation = matched.kind == CodeKind::Invite.as_str();
    if invitation {
        user = users::accept_invitation(&mut tx, &matched, now)
            .await
            .map_err(|_| wrong())?;
    } else if !store::codes::consume(&mut tx, &matched.id, now).await? {
        return Err(wrong());
    }
    store::codes::retire_unused(&mut tx, &user.id, CodeKind::Reset, None, now).await?;
    user.password_hash = Some(hash);
    user.password_reset_valid_till = None;
    user.updated = now;
    user.changed_by = Some(user.id.clone());
    store::users::save(&mut tx, &user).await?;
    let revoked =
        store::tokens::revoke_of_user(&mut tx, &user.id, &["access", "refresh"], None, now).await?;
    audit(&mut tx, now, "password_reset.used", Some(&user.id)).await?;
    tx.commit().await?;
    if invitation {
        app.auth.forget_all();
    } else {
        app.auth.forget_tokens(&revoked);
        app.auth.forget_views();
    }
    Ok(user)
}

async fn audit(
    conn: &mut sqlx::AnyConnection,
    now: crate::clock::Millis,
    action: &str,
    user_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    store::audit::record(
        conn,
        now,
        &AuditEvent {
            actor_id: user_id,
            action,
            target_id: user_id,
            ..Default::default()
        },
    )
    .await
}
