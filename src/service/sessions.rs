//! Sessions: each login (a refresh family) as a thing its user, and his betters, see and end.
//!
//! A session is opened by a login (password or OpenID) or by the first pair minted from a
//! permanent token (the family named after that token). It ends when someone ends it, when it
//! goes unused for `BF_SESSION_IDLE_DAYS`, at `BF_SESSION_MAX_DAYS` after its start, or when
//! its user's standing or credentials change. Ending one revokes its access and refresh tokens
//! at once, on every node.

use crate::clock::Millis;
use crate::error::ApiError;
use crate::origin;
use crate::security::Principal;
use crate::service::authz::{self, Grant};
use crate::service::change::Change;
use crate::service::{users, App};
use crate::store::sessions::{Scope, SessionRow};
use crate::store::{self, audit::AuditEvent, users::UserRow};

/// The most sessions one answer of "end them all" lists.
const ENDED_LISTED: i64 = 500;

/// Whose sessions or API tokens an operation is about.
#[derive(Debug, Clone, Copy)]
pub enum Whose<'a> {
    /// The caller's own.
    Mine,
    /// Another user's, by e-mail.
    User(&'a str),
}

/// How a session was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Password,
    OpenId,
    /// A passkey alone.
    Passkey,
    /// Pairs minted from a permanent token (`generate-tokens`).
    Tokens,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Password => "password",
            Method::OpenId => "openid",
            Method::Passkey => "passkey",
            Method::Tokens => "tokens",
        }
    }
}

/// The row of a session opened now by the request in flight.
pub fn new_row(
    app: &App,
    id: &str,
    user_id: &str,
    organization_id: &str,
    method: Method,
    now: Millis,
) -> SessionRow {
    let origin = origin::current();
    let address = origin.address.map(|a| a.to_string());
    let user_agent = origin.user_agent.as_deref().map(str::to_string);
    SessionRow {
        id: id.into(),
        user_id: user_id.into(),
        organization_id: organization_id.into(),
        method: method.as_str().into(),
        created: now,
        last_used: now,
        ends: app.settings.tokens.session_ends(now),
        ended: None,
        created_address: address.clone(),
        created_user_agent: user_agent.clone(),
        last_address: address,
        last_user_agent: user_agent,
    }
}

/// A session as listed: whether it is the caller's current one.
pub struct Listed {
    pub row: SessionRow,
    pub current: bool,
}

/// The user whose sessions or tokens an operation is about, and the organization it is kept
/// to: the caller himself, or another user of an acting organization (anyone else is a 404)
/// whom he outranks everywhere with `resource:action` ([`authz::act_on`]). A caller whose
/// token is bound to one organization reaches only that organization's.
pub(crate) async fn owner(
    app: &App,
    grant: &Grant,
    whose: Whose<'_>,
    resource: &str,
    action: &str,
) -> Result<(UserRow, Option<String>), ApiError> {
    let caller = grant.caller()?;
    let user = match whose {
        Whose::Mine => {
            let mut conn = app.store.pool().acquire().await?;
            store::users::find_by_id(&mut conn, &caller.user_id)
                .await?
                .ok_or(ApiError::InvalidToken)?
        }
        Whose::User(email) => {
            let user = users::visible(app, grant, email).await?;
            authz::act_on(app, grant, user, resource, action)
                .await?
                .into_user()
        }
    };
    let organization = caller.bound.then(|| caller.organization_id.clone());
    Ok((user, organization))
}

fn scope<'a>(
    app: &App,
    user: &'a UserRow,
    organization: Option<&'a str>,
    now: Millis,
) -> Scope<'a> {
    Scope {
        user_id: &user.id,
        organization_id: organization,
        now,
        idle_since: app.settings.tokens.session_idle_since(now),
    }
}

/// A page of the user's working sessions; answers whether more exist past it.
pub async fn list(
    app: &App,
    grant: &Grant,
    whose: Whose<'_>,
    descending: bool,
    offset: i64,
    records: i64,
) -> Result<(Vec<Listed>, bool), ApiError> {
    let caller = grant.caller()?;
    let (user, organization) = owner(app, grant, whose, "Users", "update").await?;
    let now = app.clock.now();
    let mut conn = app.store.pool().acquire().await?;
    let mut rows = store::sessions::list(
        &mut conn,
        scope(app, &user, organization.as_deref(), now),
        descending,
        offset,
        records + 1,
    )
    .await?;
    let more = rows.len() as i64 > records;
    rows.truncate(records as usize);
    let current = caller.session_id();
    let listed = rows
        .into_iter()
        .map(|row| Listed {
            current: row.user_id == caller.user_id && row.id == current,
            row,
        })
        .collect();
    Ok((listed, more))
}

/// Ends one working session of the user; anything else (another user's, a foreign
/// organization's, one that ended) is a 404.
pub async fn end_one(
    app: &App,
    grant: &Grant,
    whose: Whose<'_>,
    id: &str,
) -> Result<Listed, ApiError> {
    let caller = grant.caller()?;
    let (user, organization) = owner(app, grant, whose, "Users", "update").await?;
    let now = app.clock.now();
    let idle = app.settings.tokens.session_idle_ms();
    let mut change = Change::begin_at(app, now).await?;
    let session = store::sessions::find(&mut change.tx, id)
        .await?
        .filter(|s| s.user_id == user.id)
        .filter(|s| {
            organization
                .as_ref()
                .is_none_or(|o| *o == s.organization_id)
        })
        .filter(|s| s.is_live(now, idle, s.last_used))
        .ok_or_else(|| ApiError::NotFound(format!("no session {id}")))?;
    store::sessions::end(&mut change.tx, &session.id, now).await?;
    let revoked = store::tokens::revoke_family(&mut change.tx, &session.id, now).await?;
    change
        .audit(AuditEvent {
            actor_id: Some(&caller.user_id),
            organization_id: Some(&session.organization_id),
            action: "session.ended",
            subject_id: Some(&user.id),
            target_id: Some(&session.id),
            details: Some(serde_json::json!({
                "method": session.method,
                "tokensRevoked": revoked.len(),
            })),
            ..Default::default()
        })
        .await?;
    change.forget_tokens(revoked);
    change.commit().await?;
    let current = session.id == caller.session_id();
    Ok(Listed {
        row: SessionRow {
            ended: Some(now),
            ..session
        },
        current,
    })
}

/// Ends every working session of the user, or every one but the caller's current one
/// (`keep_current`: "sign out everywhere else"); answers those ended (at most
/// [`ENDED_LISTED`] of them).
pub async fn end_all(
    app: &App,
    grant: &Grant,
    whose: Whose<'_>,
    keep_current: bool,
) -> Result<Vec<Listed>, ApiError> {
    let caller = grant.caller()?;
    let (user, organization) = owner(app, grant, whose, "Users", "update").await?;
    let now = app.clock.now();
    let except = (keep_current && user.id == caller.user_id).then(|| caller.session_id());
    let mut change = Change::begin_at(app, now).await?;
    let scope = scope(app, &user, organization.as_deref(), now);
    let live = store::sessions::list(&mut change.tx, scope, true, 0, ENDED_LISTED).await?;
    let (ended, revoked) = store::sessions::end_of_user(&mut change.tx, scope, except).await?;
    change
        .audit(AuditEvent {
            actor_id: Some(&caller.user_id),
            organization_id: Some(organization.as_deref().unwrap_or(&user.organization_id)),
            action: "sessions.ended",
            subject_id: Some(&user.id),
            target_id: Some(&user.id),
            details: Some(serde_json::json!({
                "sessions": ended,
                "kept": except,
                "tokensRevoked": revoked.len(),
            })),
            ..Default::default()
        })
        .await?;
    change.forget_tokens(revoked);
    change.commit().await?;
    Ok(live
        .into_iter()
        .filter(|s| ended.contains(&s.id))
        .map(|row| Listed {
            row: SessionRow {
                ended: Some(now),
                ..row
            },
            current: false,
        })
        .collect())
}

/// Records that the caller's token was used, on its session or permanent token: at most once
/// a minute each, so a busy client costs no write per request. A failure is logged, never the
/// request's.
pub async fn record_use(app: &App, caller: &Principal) {
    let now = app.clock.now();
    if !app.auth.use_due(caller, now) {
        return;
    }
    let Some((on, _)) = caller.used_on() else {
        return;
    };
    let recorded = async {
        let mut change = Change::begin_at(app, now).await?;
        match on {
            crate::security::UsedOn::Session(id) => {
                let origin = origin::current();
                let address = origin.address.map(|a| a.to_string());
                store::sessions::touch(
                    &mut change.tx,
                    id,
                    now,
                    address.as_deref(),
                    origin.user_agent.as_deref(),
                )
                .await?;
            }
            crate::security::UsedOn::Token(id) => {
                store::tokens::touch(&mut change.tx, id, now).await?;
            }
        }
        change.commit().await
    };
    if let Err(e) = recorded.await {
        tracing::warn!(error = %crate::error::chain(&e), "a token's use could not be recorded");
    }
}
