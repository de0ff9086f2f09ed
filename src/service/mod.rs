//! Where the rules are decided: each operation of the API as a function of the application
//! state, the caller and parsed input. Handlers call these; these call the store.

pub mod api_tokens;
pub mod audit;
pub mod authz;
pub mod bootstrap;
pub mod change;
pub mod code_attempts;
pub mod introspection;
pub mod invitations;
pub mod invitees;
pub mod login;
pub mod login_limits;
pub mod member_anchors;
pub mod mfa;
pub mod openid;
pub mod organization_admin;
pub mod organizations;
pub mod passkey_ceremony;
pub mod passkey_login;
pub mod reset;
pub mod roles;
pub mod rotation;
pub mod sessions;
pub mod shell;
pub mod token_pairs;
pub mod tokens;
pub mod users;

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::permission::Catalogue;
use crate::error::ApiError;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::oidc::OpenIdProviders;
use crate::security::limiter::RateLimiter;
use crate::security::limits::Limits;
use crate::security::passkeys::Passkeys;
use crate::security::sealing::Sealer;
use crate::security::{Authenticator, PasswordHasher};
use crate::store::Store;

/// Everything a request may need, shared by all of them.
pub struct App {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub clock: SharedClock,
    pub hasher: PasswordHasher,
    pub auth: Authenticator,
    /// Positions of members kept to reach deep pages of member lists.
    pub member_anchors: member_anchors::MemberAnchors,
    pub catalogue: Catalogue,
    pub metrics: Metrics,
    pub oidc: OpenIdProviders,
    pub mail: Arc<Mailer>,
    /// The abuse limits, counted in the store all nodes share.
    pub limits: Limits,
    /// Refresh-token rotations, written in batches.
    pub rotations: rotation::Rotations,
    /// Refusals recorded in the audit trail, per caller ([`AUDITED_REFUSALS_PER_MINUTE`]).
    pub refusals: RateLimiter,
    /// Seals the secrets of second factors at rest.
    pub sealer: Sealer,
    /// The relying party of passkeys.
    pub passkeys: Passkeys,
}

pub type AppState = Arc<App>;

/// Refusals (403s) recorded in the audit trail per caller and minute on a node; those beyond
/// are only logged. A refusal changes nothing, so its event is a write of its own: unbounded, a
/// flood of 403s would be a flood of writes (and of chain-head turns) for one caller's price.
pub const AUDITED_REFUSALS_PER_MINUTE: u32 = 10;

/// Callers whose refusals a node counts at once (about 100 bytes each); past it, the least
/// recent under their limit are forgotten.
const REFUSAL_KEYS: usize = 100_000;

impl App {
    pub fn new(settings: Settings, store: Store, clock: SharedClock) -> Result<Self, String> {
        let hasher = PasswordHasher::new(&settings.argon2)?;
        let auth = Authenticator::new(
            store.clone(),
            clock.clone(),
            settings.tokens.cache_ttl_seconds,
            settings.tokens.cache_capacity,
            settings.tokens.session_idle_ms(),
        );
        let member_anchors = member_anchors::MemberAnchors::new(
            settings.users.anchor_every,
            settings.users.anchor_cache_kib * 1024,
        );
        let catalogue = Catalogue::new(&settings.permissions.resources);
        let oidc = OpenIdProviders::new(&settings.oidc.providers, clock.clone());
        let metrics = Metrics::default();
        metrics.track_hashing(&hasher.counts);
        let mail = Arc::new(Mailer::new(&settings, metrics.mails.clone())?);
        let limits = Limits::new(store.clone(), &settings);
        let rotations =
            rotation::Rotations::new(store.clone(), clock.clone(), settings.tokens.clone());
        let refusals = RateLimiter::new(AUDITED_REFUSALS_PER_MINUTE, 60, REFUSAL_KEYS);
        let sealer = Sealer::from_settings(&settings)?;
        let passkeys = Passkeys::new(&settings.webauthn)?;
        Ok(Self {
            passkeys,
            sealer,
            refusals,
            rotations,
            limits,
            settings: Arc::new(settings),
            store,
            clock,
            hasher,
            auth,
            member_anchors,
            catalogue,
            oidc,
            metrics,
            mail,
        })
    }
}

/// Maps a unique violation to 409 with `message`; anything else stays what it was.
pub(crate) fn conflict_on_unique(message: &str) -> impl FnOnce(sqlx::Error) -> ApiError + '_ {
    move |e| {
        if crate::error::is_unique_violation(&e) {
            ApiError::Conflict(message.to_string())
        } else {
            e.into()
        }
    }
}
