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
use crate::domain::PermissionSet;
use crate::error::ApiError;
use crate::security::secrets::{self, TokenKind};
use crate::store::signals::Signal;
use crate::store::{self, roles::HeldRole, users::UserRow, Store};

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
    expires: Option<Millis>,
    revoked: Option<Millis>,
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
    /// Bumped whenever something is forgotten: a resolution that started before it is not
    /// cached, so a revocation racing a look-up cannot be undone by the look-up.
    generation: AtomicU64,
}

impl Authenticator {
    pub fn new(store: Store, clock: SharedClock, ttl_seconds: i64, capacity: usize) -> Self {
        let capacity = capacity.max(16);
        Self {
            store,
            clock,
            ttl: ttl_seconds * 1000,
            tokens: Cache::new(capacity),
            permissions: Cache::new(capacity),
            views: Cache::new(capacity),
            generation: AtomicU64::new(0),
        }
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
        let live =
            principal.expires.is_none_or(|e| now < e) && principal.revoked.is_none_or(|r| now < r);
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
        Ok(Some(Principal {
            user_id: user.id,
            email: user.email,
            bf_admin: user.bf_admin,
            organization_id: token.organization_id,
            token_id: token.id,
            token_kind: kind,
            bound: token.bound,
            family_id: token.family_id,
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
    }
}
