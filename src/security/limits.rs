//! Abuse limits: how many attempts of a kind a subject (an e-mail, a client address) may make
//! in an hour, counted in the database so that every node of a deployment counts together (a
//! single SQLite node counts in its own file, with the same code).
//!
//! An attempt is counted when it arrives, before it is made: of attempts sent all at once no
//! more than the limit get through, whichever node they reach. One that did not fail (a right
//! password, a right code) is given back. Over the limit, a 429 saying when the window ends.
//! A refused attempt only reads; the first refusal of a window also marks it and records the
//! audit event `limit.hit`, so a flood of refused requests is not a flood of writes.
//!
//! Password guessing has a rule of its own, so that nobody can lock a user out by failing with
//! his e-mail: the per-e-mail limit binds only clients the user has not logged in from (see
//! [`Limits::is_known`]); to those, after `delay_after_failures` failures each further one
//! doubles the wait before the next attempt with that e-mail is even looked at. Every client,
//! known or not, is bound by the per-address limit of failures across e-mails.
//!
//! The counters are not audited changes of the service (no one's account changes): like the
//! group commit of refresh rotations they are written below `service::change`, here.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};

use base64::Engine;
use rand::RngCore;
use sqlx::AnyConnection;

use crate::clock::Millis;
use crate::config::Settings;
use crate::error::ApiError;
use crate::security::secrets;
use crate::store::{self, audit::AuditEvent, limits::Counter, Store};

/// Every limit counts in windows of an hour.
pub const WINDOW_MS: Millis = 3_600_000;

/// How often a node deletes ended windows and expired known clients (on the next count after).
const PRUNE_EVERY_MS: Millis = 60_000;

/// The longest delay doubling can ask for, as a power of two seconds (beyond it, the window
/// ends first anyway).
const MAX_DOUBLINGS: i64 = 20;

/// What is limited, and per what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Failed password logins per e-mail (known or not), from clients the user does not know.
    LoginEmail,
    /// Failed password logins per client address, whatever the e-mail.
    LoginAddress,
    /// Anonymous sign-ups per client address.
    Signup,
    /// Password reset requests per e-mail.
    ResetEmail,
    /// Password reset requests per client address.
    ResetAddress,
    /// Failed uses of reset and invitation codes per client address.
    CodeAddress,
    /// Failed attempts to link an OpenID identity per client address.
    OpenIdLink,
    /// Resends of one invitation (per its ID): each mails its invitee.
    InvitationResend,
}

impl Limit {
    /// Whether it counts per client address.
    fn per_address(self) -> bool {
        matches!(
            self,
            Limit::LoginAddress
                | Limit::Signup
                | Limit::ResetAddress
                | Limit::CodeAddress
                | Limit::OpenIdLink
        )
    }

    /// Its name in the audit trail (and in the counters' digests).
    pub fn name(self) -> &'static str {
        match self {
            Limit::LoginEmail => "login.email",
            Limit::LoginAddress => "login.address",
            Limit::Signup => "signup.address",
            Limit::ResetEmail => "reset_request.email",
            Limit::ResetAddress => "reset_request.address",
            Limit::CodeAddress => "code.address",
            Limit::OpenIdLink => "openid_link.address",
            Limit::InvitationResend => "invitation_resend.invitation",
        }
    }
}

/// An attempt counted before it was made; it stays counted unless given back.
#[must_use = "an attempt that did not fail is given back"]
pub struct Reserved {
    key: String,
    started: Millis,
}

/// Where a user's e-mail stands with the limits bound to it, as an administrator sees it.
#[derive(Debug, Clone, Default)]
pub struct EmailLimits {
    /// Failed password logins from unknown clients in the current window.
    pub login_failures: u32,
    pub login_failures_allowed: u32,
    /// Until when unknown clients are refused (the growing delay, or the window's end).
    pub refused_until: Option<Millis>,
    /// Reset codes asked for in the current window.
    pub reset_requests: u32,
    pub reset_requests_allowed: u32,
    /// When the later of the two windows ends, if either is live.
    pub window_ends: Option<Millis>,
}

pub struct Limits {
    store: Store,
    login_email: u32,
    login_delay_after: u32,
    login_address: u32,
    signup: u32,
    reset_email: u32,
    reset_address: u32,
    code_address: u32,
    openid_link: u32,
    invitation_resend: u32,
    known_for_ms: Millis,
    /// When this node next deletes what has ended.
    next_prune: AtomicI64,
}

fn key(limit: Limit, subject: &str) -> String {
    let subject = match limit.per_address() {
        true => address_block(subject),
        false => subject.to_string(),
    };
    secrets::digest(&format!("{}:{subject}", limit.name()))
}

/// What a per-address limit counts an address as: an IPv4 address itself, an IPv6 address by
/// its /64. A /64 is what one subscriber is given, and a host picks any address in it (privacy
/// addresses change by the hour): counted one by one, an IPv6 client would have 2^64 budgets.
fn address_block(subject: &str) -> String {
    match subject.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(IpAddr::V6(v6)) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(bits))
        }
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => subject.to_string(),
    }
}

/// How a client address is remembered for a user: a digest, never the address.
fn address_digest(address: IpAddr) -> String {
    secrets::digest(&format!("address:{}", address.to_canonical()))
}

fn device_digest(device: &str) -> String {
    secrets::digest(&format!("device:{device}"))
}

fn refusal(until: Millis, now: Millis) -> ApiError {
    ApiError::RateLimited {
        retry_after_seconds: ((until - now + 999) / 1000).max(1) as u64,
    }
}

impl Limits {
    pub fn new(store: Store, settings: &Settings) -> Self {
        Self {
            store,
            login_email: settings.login.failures_per_email_per_hour,
            login_delay_after: settings.login.delay_after_failures,
            login_address: settings.login.failures_per_address_per_hour,
            signup: settings.signup.per_address_per_hour,
            reset_email: settings.codes.requests_per_email_per_hour,
            reset_address: settings.codes.requests_per_address_per_hour,
            code_address: settings.codes.failures_per_address_per_hour,
            openid_link: settings.oidc.link_failures_per_address_per_hour,
            invitation_resend: settings.codes.resends_per_invitation_per_hour,
            known_for_ms: i64::from(settings.login.known_client_days) * 86_400_000,
            next_prune: AtomicI64::new(Millis::MIN),
        }
    }

    fn max(&self, limit: Limit) -> u32 {
        match limit {
            Limit::LoginEmail => self.login_email,
            Limit::LoginAddress => self.login_address,
            Limit::Signup => self.signup,
            Limit::ResetEmail => self.reset_email,
            Limit::ResetAddress => self.reset_address,
            Limit::CodeAddress => self.code_address,
            Limit::OpenIdLink => self.openid_link,
            Limit::InvitationResend => self.invitation_resend,
        }
    }

    /// Until when a counter refuses the next attempt, if it does: at its limit, until the
    /// window ends; for password guessing past the delay threshold, until the doubled delay
    /// since the latest failure has passed.
    fn refused_until(&self, limit: Limit, c: &Counter, now: Millis) -> Option<Millis> {
        if c.ends <= now {
            return None;
        }
        if c.count >= i64::from(self.max(limit)) {
            return Some(c.ends);
        }
        let over = c.count - i64::from(self.login_delay_after);
        if limit == Limit::LoginEmail && over > 0 {
            let until = c.latest + (1_000 << over.min(MAX_DOUBLINGS));
            return (now < until).then_some(until.min(c.ends));
        }
        None
    }

    /// Whether `subject` may make an attempt against `limit` now, without counting it: a 429
    /// if not (the first refusal of a window is marked and audited).
    pub async fn check(&self, limit: Limit, subject: &str, now: Millis) -> Result<(), ApiError> {
        let key = key(limit, subject);
        if self.max(limit) == 0 {
            return Err(refusal(now + WINDOW_MS, now));
        }
        let mut conn = self.store.pool().acquire().await?;
        let seen = store::limits::find(&mut conn, &key).await?;
        drop(conn);
        if let Some(c) = seen {
            if let Some(until) = self.refused_until(limit, &c, now) {
                if !c.hit && until == c.ends {
                    self.hit(limit, &key, now).await?;
                }
                return Err(refusal(until, now));
            }
        }
        Ok(())
    }

    /// Counts one attempt of `subject` against `limit`, before it is made; over the limit (or,
    /// for password guessing, within the delay), a 429 and nothing counted. The attempt stays
    /// counted unless given back ([`Limits::give_back`]).
    pub async fn reserve(
        &self,
        limit: Limit,
        subject: &str,
        now: Millis,
    ) -> Result<Reserved, ApiError> {
        let mut reserved = self.reserve_all(&[(limit, subject)], now).await?;
        Ok(reserved.remove(0))
    }

    /// Counts one attempt against each of several limits (a password login is bound by two),
    /// before it is made: all are looked at first, on one connection, so that a refused attempt
    /// counts nowhere and only reads (but for the first refusal of a window); then all are
    /// counted in one transaction, so that either every one counts or none does.
    pub async fn reserve_all(
        &self,
        wanted: &[(Limit, &str)],
        now: Millis,
    ) -> Result<Vec<Reserved>, ApiError> {
        let keys: Vec<String> = wanted.iter().map(|(l, s)| key(*l, s)).collect();
        let mut refused = None;
        {
            let mut conn = self.store.pool().acquire().await?;
            for ((limit, _), key) in wanted.iter().zip(&keys) {
                if self.max(*limit) == 0 {
                    return Err(refusal(now + WINDOW_MS, now));
                }
                let Some(c) = store::limits::find(&mut conn, key).await? else {
                    continue;
                };
                if let Some(until) = self.refused_until(*limit, &c, now) {
                    refused = Some((*limit, key, c, until));
                    break;
                }
            }
        }
        if let Some((limit, key, c, until)) = refused {
            if !c.hit && until == c.ends {
                self.hit(limit, key, now).await?;
            }
            return Err(refusal(until, now));
        }
        let mut tx = self.store.write().await?;
        self.prune_if_due(&mut tx, now).await?;
        let mut reserved = Vec::with_capacity(keys.len());
        for ((limit, _), key) in wanted.iter().zip(&keys) {
            let max = i64::from(self.max(*limit));
            match store::limits::count(&mut tx, key, now, WINDOW_MS, max).await? {
                Some(c) => reserved.push(Reserved {
                    key: key.clone(),
                    started: c.started,
                }),
                None => {
                    // Another attempt (on any node) took the last place meanwhile: this one
                    // counts nowhere.
                    tx.rollback().await?;
                    let mut conn = self.store.pool().acquire().await?;
                    let ends = store::limits::find(&mut conn, key).await?.map(|c| c.ends);
                    drop(conn);
                    self.hit(*limit, key, now).await?;
                    return Err(refusal(ends.unwrap_or(now + WINDOW_MS), now));
                }
            }
        }
        tx.commit().await?;
        Ok(reserved)
    }

    /// Counts a guess at a known user's secret (his password, a code of his second factor)
    /// from the client in flight, before it is checked, as a password login counts one: per
    /// client address always; per e-mail only from a client he has not logged in from (by
    /// address, or by `device` where the client sent its cookie), so that nobody holds his own
    /// logins back by failing with his e-mail. Answers whether the client is known, and the
    /// attempts counted.
    pub async fn reserve_guess(
        &self,
        user_id: &str,
        email_key: &str,
        device: Option<&str>,
        now: Millis,
    ) -> Result<(bool, Vec<Reserved>), ApiError> {
        let address = crate::origin::address();
        let from = address.map(|ip| ip.to_string()).unwrap_or_default();
        let known = self.is_known(Some(user_id), address, device, now).await?;
        let mut bound = Vec::with_capacity(2);
        if !known {
            bound.push((Limit::LoginEmail, email_key));
        }
        bound.push((Limit::LoginAddress, from.as_str()));
        Ok((known, self.reserve_all(&bound, now).await?))
    }

    /// Counts one event (an attempt that is not given back, such as a reset request).
    pub async fn count(&self, limit: Limit, subject: &str, now: Millis) -> Result<(), ApiError> {
        self.reserve(limit, subject, now).await.map(|_| ())
    }

    /// Marks the window of `key` as having refused, and audits that once.
    async fn hit(&self, limit: Limit, key: &str, now: Millis) -> Result<(), ApiError> {
        let mut tx = self.store.write().await?;
        if store::limits::mark_hit(&mut tx, key, now).await? {
            record_hit(&mut tx, limit, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The attempt did not fail: it no longer counts. In `conn`'s transaction, so that it is
    /// given back with the change that proves it succeeded.
    pub async fn give_back(
        &self,
        conn: &mut AnyConnection,
        reserved: Reserved,
    ) -> Result<(), ApiError> {
        store::limits::uncount(conn, &reserved.key, reserved.started).await?;
        Ok(())
    }

    /// Gives an attempt back on its own (nothing was tried: the request failed before).
    pub async fn give_back_now(&self, reserved: Reserved) -> Result<(), ApiError> {
        let mut tx = self.store.write().await?;
        self.give_back(&mut tx, reserved).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn prune_if_due(&self, conn: &mut AnyConnection, now: Millis) -> Result<(), ApiError> {
        let due = self.next_prune.load(Ordering::Relaxed);
        if now >= due
            && self
                .next_prune
                .compare_exchange(
                    due,
                    now + PRUNE_EVERY_MS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            store::limits::prune(conn, now).await?;
        }
        Ok(())
    }

    // ---- known clients --------------------------------------------------------------------

    /// Whether the user (`None`: nobody has the e-mail) has logged in with his password from
    /// this client address or with this device cookie. Asked the same way for an e-mail nobody
    /// has, so the answer's timing says nothing about who exists.
    pub async fn is_known(
        &self,
        user_id: Option<&str>,
        address: Option<IpAddr>,
        device: Option<&str>,
        now: Millis,
    ) -> Result<bool, ApiError> {
        let digests: Vec<String> = address
            .map(address_digest)
            .into_iter()
            .chain(device.map(device_digest))
            .collect();
        let mut conn = self.store.pool().acquire().await?;
        Ok(store::limits::is_known(&mut conn, user_id.unwrap_or(""), &digests, now).await?)
    }

    /// Remembers the client of a successful password login, in its change's transaction:
    /// its address, and its device cookie: the one it presented if the user knows it, else a
    /// new one, unless the client was `known` already (by its address): a client that keeps
    /// no cookie (a script logging in again and again from one place) would otherwise leave a
    /// new device behind at every login. Answers the device cookie's value to hand back, if any.
    pub async fn remember(
        &self,
        conn: &mut AnyConnection,
        user_id: &str,
        address: Option<IpAddr>,
        device: Option<&str>,
        known: bool,
        now: Millis,
    ) -> Result<Option<String>, ApiError> {
        let expires = now + self.known_for_ms;
        if let Some(address) = address {
            store::limits::remember(conn, user_id, &address_digest(address), expires).await?;
        }
        let presented = match device {
            Some(d) => {
                let digests = [device_digest(d)];
                store::limits::is_known(conn, user_id, &digests, now)
                    .await?
                    .then(|| d.to_string())
            }
            None => None,
        };
        let device = match presented {
            Some(device) => device,
            None if known => return Ok(None),
            None => new_device(),
        };
        store::limits::remember(conn, user_id, &device_digest(&device), expires).await?;
        Ok(Some(device))
    }

    /// How long a device cookie is kept, in seconds.
    pub fn known_for_seconds(&self) -> i64 {
        self.known_for_ms / 1000
    }

    // ---- an administrator's view ----------------------------------------------------------

    /// The counters bound to an e-mail (by its key).
    pub async fn of_email(&self, email_key: &str, now: Millis) -> Result<EmailLimits, ApiError> {
        let mut conn = self.store.pool().acquire().await?;
        let live = |c: Option<Counter>| c.filter(|c| c.ends > now);
        let login = live(store::limits::find(&mut conn, &key(Limit::LoginEmail, email_key)).await?);
        let reset = live(store::limits::find(&mut conn, &key(Limit::ResetEmail, email_key)).await?);
        let count = |c: &Option<Counter>| c.map_or(0, |c| c.count.max(0) as u32);
        Ok(EmailLimits {
            login_failures: count(&login),
            login_failures_allowed: self.login_email,
            refused_until: login.and_then(|c| self.refused_until(Limit::LoginEmail, &c, now)),
            reset_requests: count(&reset),
            reset_requests_allowed: self.reset_email,
            window_ends: login.iter().chain(reset.iter()).map(|c| c.ends).max(),
        })
    }

    /// Forgets the counters bound to an e-mail, in `conn`'s transaction.
    pub async fn clear_email(
        &self,
        conn: &mut AnyConnection,
        email_key: &str,
    ) -> Result<(), ApiError> {
        let keys = [
            key(Limit::LoginEmail, email_key),
            key(Limit::ResetEmail, email_key),
        ];
        store::limits::clear(conn, &keys).await?;
        Ok(())
    }
}

/// A new device cookie's value: 256 random bits.
fn new_device() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The audit event of a window's first refusal: which limit; who and from where is the
/// event's origin (the subject itself is kept only as a digest, in the counter).
async fn record_hit(conn: &mut AnyConnection, limit: Limit, now: Millis) -> Result<(), ApiError> {
    store::audit::record(
        conn,
        now,
        &AuditEvent {
            action: "limit.hit",
            details: Some(serde_json::json!({ "limit": limit.name() })),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_an_ipv4_one_by_itself() {
        let block = |a: &str| key(Limit::LoginAddress, a);
        assert_eq!(
            block("2001:db8:1:2::1"),
            block("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_ne!(block("2001:db8:1:2::1"), block("2001:db8:1:3::1"));
        assert_ne!(block("198.51.100.1"), block("198.51.100.2"));
        // An IPv4 client reaching an IPv6 socket is still itself.
        assert_eq!(block("::ffff:198.51.100.1"), block("198.51.100.1"));
        assert_ne!(block("::ffff:198.51.100.1"), block("::ffff:198.51.100.2"));
        // Per-e-mail limits take their subject as it is.
        assert_ne!(
            key(Limit::LoginEmail, "2001:db8::1"),
            key(Limit::LoginEmail, "2001:db8::2")
        );
        assert_eq!(block(""), block(""));
    }
}
