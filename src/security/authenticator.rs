//! From a bearer token to the caller and his permissions, without a database round trip on
//! every request.
//!
//! Resolutions are kept in bounded in-memory caches for at most `tokens.cache_ttl_seconds`
//! (5 s by default). A node forgets what it cached the moment it revokes a token or changes
//! roles, so on that node a change takes effect on the very next request. On PostgreSQL the
//! change also tells the other nodes (`store::signals`), which forget it as they hear it; a
//! node that missed a signal (its listening connection lost) forgets everything, and the TTL
//! bounds what it cached meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quick_cache::sync::Cache;

use crate::clock::{Millis, SharedClock};
use crate::domain::network::Cidr;
use crate::domain::PermissionSet;
use crate::error::ApiError;
use crate::security::secrets::{self, TokenKind};
use crate::store::signals::Signal;
use crate::store::{self, factors::PolicyRow, roles::HeldRole, users::UserRow, Store};

/// The authenticated caller: who he is and which token he came with.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub email: String,
    pub bf_admin: bool,
    /// The organization the token was issued for: where requests act by default.
    pub organization_id: String,
    pub token_id: String,
    pub token_kind: TokenKind,
    /// The token acts only in `organization_id` (a permanent token, or a pair minted from
    /// one); otherwise in every organization the user is a member of (a login).
    pub bound: bool,
    /// The refresh family the token belongs to, if any: tokens minted from it join it.
    pub family_id: Option<String>,
    /// The session the token belongs to (its family's), if it has one: its limits hold.
    pub session: Option<SessionState>,
    /// A permanent token's client address ranges, if limited.
    pub allowed_ranges: Option<Arc<[Cidr]>>,
    /// A permanent token's last use, as stored.
    pub last_used: Option<Millis>,
    /// How the login of the token's session stood to second factors (`passed`, `passkey`: a
    /// passkey alone, `enrol`),
    /// fixed when it opened, so a cached resolution cannot outlast a change of it; for a
    /// permanent token (and the pairs minted from it), the login that made it.
    pub second_factor: Option<String>,
    /// When the token was issued.
    pub issued: Millis,
    expires: Option<Millis>,
    revoked: Option<Millis>,
}

impl Principal {
    /// The token's session may only enrol a second factor: its organization requires one
    /// its user had not at the login.
    pub fn enrol_only(&self) -> bool {
        self.second_factor.as_deref() == Some("enrol")
    }

    /// A second factor was checked at the login of the token's session (or the passkey that
    /// logged it in alone verified its user).
    pub fn second_factor_passed(&self) -> bool {
        matches!(self.second_factor.as_deref(), Some("passed" | "passkey"))
    }

    /// Whether the token reaches what belongs to `organization_id` (an invitation into it,
    /// say): a token bound to its organization (a permanent API token, a pair minted from one)
    /// acts there only; any other token acts wherever its user is a member.
    pub fn reaches(&self, organization_id: Option<&str>) -> bool {
        !self.bound || organization_id == Some(self.organization_id.as_str())
    }

    /// The token's session was logged in with a passkey alone: it acts only in organizations
    /// that allow that.
    pub fn passkey_alone(&self) -> bool {
        self.second_factor.as_deref() == Some("passkey")
    }

    /// When the token stops working by itself, if ever: its expiry, a revocation set for later
    /// (a rotated permanent token's grace), or its session's absolute end, whichever comes
    /// first. A session's idle end is not one: every use moves it.
    pub fn ends(&self) -> Option<Millis> {
        [
            self.expires,
            self.revoked,
            self.session.as_ref().map(|s| s.ends),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The session the token belongs to: its family (a permanent token's pairs are named
    /// after it, so for a permanent token its own ID).
    pub fn session_id(&self) -> &str {
        self.family_id.as_deref().unwrap_or(&self.token_id)
    }

    /// What a use of this token is recorded on: its session, or a permanent token itself;
    /// with the last use stored there.
    pub fn used_on(&self) -> Option<(UsedOn<'_>, Millis)> {
        match (&self.session, self.token_kind) {
            (Some(s), _) => Some((UsedOn::Session(&s.id), s.last_used)),
            (None, TokenKind::Permanent) => {
                Some((UsedOn::Token(&self.token_id), self.last_used.unwrap_or(0)))
            }
            _ => None,
        }
    }
}

/// Where a use of a token is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsedOn<'a> {
    Session(&'a str),
    Token(&'a str),
}

impl UsedOn<'_> {
    fn key(&self) -> String {
        match self {
            UsedOn::Session(id) => format!("session {id}"),
            UsedOn::Token(id) => format!("token {id}"),
        }
    }
}

/// A session's limits as the token's resolution saw them.
#[derive(Debug, Clone)]
pub struct SessionState {
    pub id: String,
    /// Its absolute end.
    pub ends: Millis,
    /// Its last use, as stored when resolved.
    pub last_used: Millis,
}

struct Cached<T> {
    value: T,
    fetched: Millis,
}

type Memberships = Option<Arc<PermissionSet>>;

/// A user as `GET /users/mine` shows him: his row and his live roles in the acting
/// organizations.
#[derive(Debug, Clone)]
pub struct UserView {
    pub user: UserRow,
    pub roles: Vec<HeldRole>,
}

/// A cache entry of the caller's own view, by user and acting organizations.
type ViewCache = Cache<(String, Vec<String>), Arc<Cached<Arc<UserView>>>>;

pub struct Authenticator {
    store: Store,
    clock: SharedClock,
    ttl: Millis,
    tokens: Cache<String, Arc<Cached<Arc<Principal>>>>,
    permissions: Cache<(String, String), Arc<Cached<Memberships>>>,
    /// Callers as they see themselves, by user and acting organizations.
    views: ViewCache,
    /// Whether an organization requires a second factor, by organization.
    policies: Cache<String, Arc<Cached<PolicyRow>>>,
    /// Bumped whenever something is forgotten: a resolution that started before it is not
    /// cached, so a revocation racing a look-up cannot be undone by the look-up.
    generation: AtomicU64,
    /// How long a session may go unused, in milliseconds.
    idle: Millis,
    /// The last use this node recorded, by session or permanent token: what makes the record
    /// coarse (at most one write a minute each), and what keeps a cached resolution's idle
    /// check current.
    used: Cache<String, Millis>,
}

impl Authenticator {
    pub fn new(
        store: Store,
        clock: SharedClock,
        ttl_seconds: i64,
        capacity: usize,
        idle: Millis,
    ) -> Self {
        let capacity = capacity.max(16);
        Self {
            store,
            clock,
            ttl: ttl_seconds * 1000,
            tokens: Cache::new(capacity),
            permissions: Cache::new(capacity),
            views: Cache::new(capacity),
            policies: Cache::new(capacity),
            generation: AtomicU64::new(0),
            idle,
            used: Cache::new(capacity),
        }
    }

    /// Whether a use of `caller`'s token at `now` is to be recorded: the first in a minute of
    /// its session (or permanent token) on this node. Answering yes counts it as recorded.
    pub fn use_due(&self, caller: &Principal, now: Millis) -> bool {
        let Some((on, stored)) = caller.used_on() else {
            return false;
        };
        let key = on.key();
        let last = self.used.get(&key).unwrap_or(stored).max(stored);
        if now - last < store::sessions::TOUCH_EVERY {
            return false;
        }
        self.used.insert(key, now);
        true
    }

    /// Whether the caller's session (if any) still works at `now`: the token's own expiry and
    /// revocation aside, an ended session's tokens are revoked with it.
    fn session_live(&self, caller: &Principal, now: Millis) -> bool {
        let Some(session) = &caller.session else {
            return true;
        };
        let recorded = self
            .used
            .get(&UsedOn::Session(&session.id).key())
            .unwrap_or(session.last_used);
        now < session.ends && now < recorded.max(session.last_used) + self.idle
    }

    fn fresh<T>(&self, c: &Cached<T>, now: Millis) -> bool {
        now - c.fetched < self.ttl
    }

    /// The caller behind a bearer token; 401 for anything but a live access or permanent token
    /// of a user who may log in.
    pub async fn authenticate(&self, secret: &str) -> Result<Arc<Principal>, ApiError> {
        let rejected = || ApiError::InvalidToken;
        match TokenKind::of_secret(secret) {
            Some(TokenKind::Access | TokenKind::Permanent) => {}
            _ => return Err(rejected()),
        }
        let digest = secrets::digest(secret);
        let now = self.clock.now();
        let principal = match self.tokens.get(&digest) {
            Some(c) if self.fresh(&c, now) => c.value.clone(),
            _ => {
                let generation = self.generation.load(Ordering::SeqCst);
                let Some(p) = self.load_principal(&digest).await? else {
                    return Err(rejected());
                };
                let p = Arc::new(p);
                if self.generation.load(Ordering::SeqCst) == generation {
                    self.tokens.insert(
                        digest,
                        Arc::new(Cached {
                            value: p.clone(),
                            fetched: now,
                        }),
                    );
                }
                p
            }
        };
        let live = principal.expires.is_none_or(|e| now < e)
            && principal.revoked.is_none_or(|r| now < r)
            && self.session_live(&principal, now);
        if live {
            Ok(principal)
        } else {
            Err(rejected())
        }
    }

    async fn load_principal(&self, digest: &str) -> Result<Option<Principal>, ApiError> {
        let mut conn = self.store.pool().acquire().await?;
        let Some(token) = store::tokens::find_by_digest(&mut conn, digest).await? else {
            return Ok(None);
        };
        if !secrets::same_digest(&token.digest, digest) {
            return Ok(None);
        }
        let kind = token.kind;
        let Some(user) = store::users::find_by_id(&mut conn, &token.user_id).await? else {
            return Ok(None);
        };
        if !user.may_log_in() {
            return Ok(None);
        }
        let second_factor =
            store::factors::standing(&mut conn, token.family_id.as_deref().unwrap_or(&token.id))
                .await?;
        let session = match &token.family_id {
            Some(family) => match store::sessions::find(&mut conn, family).await? {
                Some(s) if s.ended.is_some() => return Ok(None),
                Some(s) => Some(SessionState {
                    id: s.id,
                    ends: s.ends,
                    last_used: s.last_used,
                }),
                // A family opened before sessions were kept.
                None => None,
            },
            None => None,
        };
        let (allowed_ranges, last_used) = match kind {
            TokenKind::Permanent => {
                let (ranges, last_used) = store::tokens::reach_of(&mut conn, &token.id).await?;
                let ranges = match ranges {
                    Some(json) => Some(
                        serde_json::from_str::<Vec<Cidr>>(&json)
                            .map_err(|e| ApiError::internal(format!("stored address ranges: {e}")))?
                            .into(),
                    ),
                    None => None,
                };
                (ranges, last_used)
            }
            _ => (None, None),
        };
        Ok(Some(Principal {
            user_id: user.id,
            email: user.email,
            bf_admin: user.bf_admin,
            organization_id: token.organization_id,
            token_id: token.id,
            token_kind: kind,
            bound: token.bound,
            family_id: token.family_id,
            session,
            allowed_ranges,
            last_used,
            second_factor,
            issued: token.created,
            expires: token.expires,
            revoked: token.revoked,
        }))
    }

    /// The caller's effective permissions in an organization; `None` when he is not a member.
    /// A platform administrator holds everything in every organization there is, and `None`
    /// where there is none.
    pub async fn permissions_in(
        &self,
        caller: &Principal,
        organization_id: &str,
    ) -> Result<Option<Arc<PermissionSet>>, ApiError> {
        let key = (caller.user_id.clone(), organization_id.to_string());
        let now = self.clock.now();
        if let Some(c) = self.permissions.get(&key) {
            if self.fresh(&c, now) {
                return Ok(c.value.clone());
            }
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let mut conn = self.store.pool().acquire().await?;
        let value = if caller.bf_admin {
            store::organizations::find(&mut conn, organization_id)
                .await?
                .filter(|o| !o.deleted)
                .map(|_| Arc::new(PermissionSet::everything()))
        } else if store::memberships::is_member(&mut conn, &caller.user_id, organization_id).await?
        {
            let held =
                store::roles::permissions_of(&mut conn, &caller.user_id, organization_id).await?;
            Some(Arc::new(held))
        } else {
            None
        };
        if self.generation.load(Ordering::SeqCst) == generation {
            self.permissions.insert(
                key,
                Arc::new(Cached {
                    value: value.clone(),
                    fetched: now,
                }),
            );
        }
        Ok(value)
    }

    /// What an organization asks of whoever acts in it (a second factor; whether a passkey
    /// alone will do), from memory when fresh. A change of the policy forgets every node's
    /// answers at once (it is a change of standing: `Change::forget_all`).
    pub async fn policy(&self, organization_id: &str) -> Result<PolicyRow, ApiError> {
        let now = self.clock.now();
        if let Some(c) = self.policies.get(organization_id) {
            if self.fresh(&c, now) {
                return Ok(c.value);
            }
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let mut conn = self.store.pool().acquire().await?;
        let policy = store::factors::policy_of(&mut conn, organization_id).await?;
        if self.generation.load(Ordering::SeqCst) == generation {
            self.policies.insert(
                organization_id.to_string(),
                Arc::new(Cached {
                    value: policy,
                    fetched: now,
                }),
            );
        }
        Ok(policy)
    }

    /// Whether an organization requires a second factor of whoever acts in it.
    pub async fn second_factor_required(&self, organization_id: &str) -> Result<bool, ApiError> {
        Ok(self.policy(organization_id).await?.required)
    }

    /// The user with his live roles in `organizations`, from memory when fresh; `None` when he
    /// no longer exists.
    pub async fn user_view(
        &self,
        user_id: &str,
        organizations: &[String],
    ) -> Result<Option<Arc<UserView>>, ApiError> {
        let key = (user_id.to_string(), organizations.to_vec());
        let now = self.clock.now();
        if let Some(c) = self.views.get(&key) {
            if self.fresh(&c, now) {
                return Ok(Some(c.value.clone()));
            }
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let mut conn = self.store.pool().acquire().await?;
        let Some(user) = store::users::find_by_id(&mut conn, user_id).await? else {
            return Ok(None);
        };
        let mut roles = Vec::new();
        for organization_id in organizations {
            roles.extend(store::roles::held_roles(&mut conn, user_id, organization_id).await?);
        }
        let view = Arc::new(UserView { user, roles });
        if self.generation.load(Ordering::SeqCst) == generation {
            self.views.insert(
                key,
                Arc::new(Cached {
                    value: view.clone(),
                    fetched: now,
                }),
            );
        }
        Ok(Some(view))
    }

    /// Forgets how users look: after any change to a user's row.
    pub fn forget_views(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.views.clear();
    }

    /// Forgets the named tokens (by digest), e.g. after revoking them.
    pub fn forget_tokens<'a>(&self, digests: impl IntoIterator<Item = &'a String>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for d in digests {
            self.tokens.remove(d);
        }
    }

    /// Forgets what another node says it made stale.
    pub fn forget(&self, signal: &Signal) {
        match signal {
            Signal::Everything => self.forget_all(),
            Signal::Views => self.forget_views(),
            Signal::Tokens(digests) => self.forget_tokens(digests),
        }
    }

    /// Forgets everything: after a change to roles, memberships or a user's standing.
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.tokens.clear();
        self.permissions.clear();
        self.views.clear();
        self.policies.clear();
    }
}
