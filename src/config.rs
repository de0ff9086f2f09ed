//! Settings: built-in defaults, then the optional TOML file, then `BF_*` environment variables,
//! then command-line flags. A bad or unknown setting stops start-up with one line naming it.
//!
//! Each setting is declared once, in `settings!` below: its documentation comment (the help
//! line of `--help`), field, type and default, then its variable (`env`), flag, default as
//! docs/OPERATIONS.md shows it (`shown`, when not the value itself) and `check`. Its TOML key is
//! the field's name in its table. A test holds the table of docs/OPERATIONS.md to them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::network::Cidr;
use crate::domain::password::PasswordPolicy;
use crate::domain::url::acceptable_url;

mod setting;

pub use setting::Setting;
use setting::{at_least, between, positive, FromEnv, Refusal, Shown};
use setting::{either, setting, settings};

/// Why the settings could not be loaded: always names the setting.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct ConfigError {
    pub setting: String,
    pub reason: String,
}

impl ConfigError {
    fn new(setting: impl Into<String>, reason: impl ToString) -> Self {
        Self {
            setting: setting.into(),
            reason: reason.to_string(),
        }
    }
}

/// The variable naming the settings file (read by the command line, not by `settings!`).
pub const CONFIG_VARIABLE: &str = "BF_CONFIG";

/// The first administrator's e-mail address unless `BF_BOOTSTRAP_EMAIL` names another.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";

/// The most client connections a node serves at once, whatever the limit of open files.
pub const MAX_CONNECTIONS: usize = 10_000_000;

settings! {
    /// Every setting of a node, declared once: its documentation comment is its help line.
    pub struct Settings {
        /// Address to listen on.
        listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080)),
            env "BF_LISTEN", flag "listen";
        /// `sqlite://FILE` (created if missing) or `postgres://...`.
        database_url: String = "sqlite://bf-security.db".into(),
            env "BF_DATABASE_URL", flag "database-url", check |url: &String, _| {
                if ["sqlite:", "postgres://", "postgresql://"]
                    .iter()
                    .any(|scheme| url.starts_with(scheme))
                {
                    Ok(())
                } else {
                    Err("must start with sqlite:, postgres:// or postgresql://")
                }
            };
        /// `text` or `json` log lines; `RUST_LOG` filters them.
        log_format: LogFormat = LogFormat::Text, env "BF_LOG_FORMAT";
        /// The key second factors' secrets are sealed with at rest: 32 bytes in base64. Unset
        /// on SQLite, one is generated on the first start into the file `<database>.secrets-key`
        /// beside the database (mode 0600) and read from there after; on PostgreSQL, where
        /// nodes share no disk, it must be set, the same on every node.
        secrets_key: Option<SecretsKey> = None, env "BF_SECRETS_KEY",
            shown "SQLite: generated beside the database; PostgreSQL: required";

        [argon2]
        /// Argon2id cost. The defaults are OWASP's minimum recommendation (m=19 MiB, t=2, p=1).
        pub struct Argon2Settings {
            /// Argon2id memory cost, in KiB.
            memory_kib: u32 = 19456, env "BF_ARGON2_MEMORY_KIB",
                check |memory, a: &Argon2Settings| {
                    if *memory >= 8 * a.parallelism.max(1) {
                        Ok(())
                    } else {
                        Err("must be at least 8 KiB per lane")
                    }
                };
            /// Argon2id time cost.
            iterations: u32 = 2, env "BF_ARGON2_ITERATIONS", check at_least(1);
            /// Argon2id lanes.
            parallelism: u32 = 1, env "BF_ARGON2_PARALLELISM", check between(1, 255);
            /// How many hashes may run at once; 0 means one per CPU core.
            threads: usize = 0, env "BF_ARGON2_THREADS";
            /// Hashes that may wait for a hashing thread; past them, a login, sign-up or
            /// password change is refused at once with 503 and `Retry-After`.
            queue: Option<usize> = None, env "BF_ARGON2_QUEUE", shown "8 per hashing thread";
        }

        [tokens]
        /// Access and refresh tokens, and how a node caches what a token stands for.
        pub struct TokenSettings {
            /// Life of an access token, in seconds.
            access_ttl_seconds: i64 = 3600, env "BF_ACCESS_TOKEN_TTL_SECONDS", check positive;
            /// Life of a refresh token, in seconds.
            refresh_ttl_seconds: i64 = 30 * 24 * 3600,
                env "BF_REFRESH_TOKEN_TTL_SECONDS", check positive;
            /// How long a node may serve a token's resolution from memory before asking the
            /// database again: the bound on how stale another node's view of a revocation can be.
            cache_ttl_seconds: i64 = 5, env "BF_TOKEN_CACHE_TTL_SECONDS", check between(0, 60);
            /// Token resolutions a node keeps in memory.
            cache_capacity: usize = 100_000, env "BF_TOKEN_CACHE_CAPACITY";
            /// How long after a rotation presenting the spent refresh token again is taken for a
            /// client's retry (answered with the same pair) rather than a theft; 0: never.
            refresh_reuse_interval_seconds: i64 = 10,
                env "BF_REFRESH_REUSE_INTERVAL_SECONDS", check between(0, 60);
            /// Days a session (a login's tokens) may go unused before it ends: its refresh
            /// and access tokens are refused from then on.
            session_idle_days: i64 = 30, env "BF_SESSION_IDLE_DAYS", check between(1, 3650);
            /// Days a session lasts at most from its login, whatever its refreshes.
            session_max_days: i64 = 90, env "BF_SESSION_MAX_DAYS", check between(1, 3650);
        }

        [password]
        /// The password policy: what a new password must satisfy.
        pub struct PasswordSettings {
            /// The fewest characters a new password may have.
            min_length: usize = 10, env "BF_PASSWORD_MIN_LENGTH",
                check |min, p: &PasswordSettings| {
                    if (1..=p.max_bytes).contains(min) {
                        Ok(())
                    } else {
                        Err("must be at least 1 and at most the maximum length")
                    }
                };
            /// The most bytes a new password may have.
            max_bytes: usize = 1024, env "BF_PASSWORD_MAX_BYTES";
        }

        [bootstrap]
        /// The first administrator, created on the first start of an empty store.
        pub struct BootstrapSettings {
            /// The first administrator's e-mail address.
            email: Option<String> = None, env "BF_BOOTSTRAP_EMAIL", shown DEFAULT_ADMIN_EMAIL;
            /// The first administrator's password; unset, a random one is printed once.
            password: Option<String> = None, env "BF_BOOTSTRAP_PASSWORD",
                shown "random, printed once";
        }

        [permissions]
        /// What roles may name beside the built-in resources.
        pub struct PermissionSettings {
            /// Resources of other services of the platform, accepted in roles beside the
            /// built-in ones.
            resources: Vec<String> = Vec::new(),
                check |names: &Vec<String>, _| resource_names(names);
        }

        [signup]
        /// Anonymous sign-up.
        pub struct SignupSettings {
            /// Lets anonymous callers sign up through `POST /v1/users/flexcheck`.
            open: bool = false, env "BF_OPEN_SIGNUP";
            /// Anonymous sign-ups allowed from one client address per hour.
            per_address_per_hour: u32 = 5, env "BF_SIGNUP_PER_ADDRESS_PER_HOUR";
        }

        [login]
        /// Password logins.
        pub struct LoginSettings {
            /// Failed password logins allowed per e-mail (known or not) and hour from clients
            /// the user has not logged in from before; beyond it those clients' logins with that
            /// e-mail are refused with 429 until the hour is over, before any password is
            /// checked. Counted in the database, for all nodes together.
            failures_per_email_per_hour: u32 = 20,
                env "BF_LOGIN_FAILURES_PER_EMAIL_PER_HOUR", check at_least(1);
            /// Failures per e-mail after which each further one makes unknown clients wait
            /// twice as long (2 s, 4 s, 8 s...) before the next attempt with that e-mail.
            delay_after_failures: u32 = 5, env "BF_LOGIN_DELAY_AFTER_FAILURES",
                check |soft: &u32, l: &LoginSettings| {
                    if *soft <= l.failures_per_email_per_hour {
                        Ok(())
                    } else {
                        Err("must be at most BF_LOGIN_FAILURES_PER_EMAIL_PER_HOUR")
                    }
                };
            /// Failed password logins allowed per client address and hour, whatever the e-mails
            /// (password spraying); beyond it that address's password logins are refused with
            /// 429 until the hour is over.
            failures_per_address_per_hour: u32 = 100,
                env "BF_LOGIN_FAILURES_PER_ADDRESS_PER_HOUR", check at_least(1);
            /// Days a client address or device a user logged in from stays known, so that
            /// strangers' failures with his e-mail do not hold his logins back.
            known_client_days: u32 = 90,
                env "BF_LOGIN_KNOWN_CLIENT_DAYS", check between(1, 3650);
        }

        [mail]
        /// Where mail goes, and from whom.
        pub struct MailSettings {
            /// The SMTP server mail is sent through.
            smtp_url: Option<String> = None, env "BF_SMTP_URL";
            /// Instead of SMTP, a directory each mail is written into as an `.eml` file.
            dir: Option<PathBuf> = None, env "BF_MAIL_DIR";
            /// `auto`: through `BF_SMTP_URL`, else into `BF_MAIL_DIR`, else into a `mail`
            /// folder beside the SQLite file (on PostgreSQL, with neither set, mail waits in the
            /// outbox); `outbox`: every mail stays in the outbox table, never delivered.
            delivery: MailDelivery = MailDelivery::Auto, env "BF_MAIL_DELIVERY";
            /// The sender of every mail.
            from: String = "BillForward <no-reply@localhost>".into(), env "BF_MAIL_FROM";
            /// How often the sender looks for mail due for a retry (new mail wakes it at once).
            poll_millis: u64 = 1000, env "BF_MAIL_POLL_MILLIS";
        }

        [codes]
        /// Password reset codes, and wrong codes of any kind.
        pub struct CodeSettings {
            /// Life of a password reset code, in minutes.
            reset_ttl_minutes: i64 = 15, env "BF_RESET_CODE_TTL_MINUTES", check positive;
            /// Reset codes one address may ask for in an hour.
            requests_per_email_per_hour: u32 = 5, env "BF_RESET_REQUESTS_PER_EMAIL_PER_HOUR";
            /// Reset codes one client address may ask for in an hour.
            requests_per_address_per_hour: u32 = 30,
                env "BF_RESET_REQUESTS_PER_ADDRESS_PER_HOUR";
            /// Failed uses of a reset or invitation code one client address may make in an hour;
            /// beyond it, its code uses are refused with 429 before any work.
            failures_per_address_per_hour: u32 = 20,
                env "BF_CODE_FAILURES_PER_ADDRESS_PER_HOUR", check at_least(1);
            /// New codes one invitation may be resent with in an hour.
            resends_per_invitation_per_hour: u32 = 3,
                env "BF_INVITATION_RESENDS_PER_HOUR", check at_least(1);
        }

        [oidc]
        /// OpenID Connect providers.
        pub struct OidcSettings {
            /// Providers whose ID tokens link and log in users: those of the file, then the one
            /// the environment names.
            providers: Vec<OidcProvider> = Vec::new(),
                envs ["BF_OIDC_ISSUER", "BF_OIDC_CLIENT_ID"] by provider_from_env,
                shown "none", check |providers: &Vec<OidcProvider>, _| usable(providers);
            /// Failed attempts to link an OpenID identity one client address may make in an
            /// hour; beyond it, its link attempts are refused with 429 before any check.
            link_failures_per_address_per_hour: u32 = 20,
                env "BF_OIDC_LINK_FAILURES_PER_ADDRESS_PER_HOUR", check at_least(1);
        }

        [mfa]
        /// Second factors of logins.
        pub struct MfaSettings {
            /// Life of the `mfa_token` a right password answers when a second factor is
            /// needed, in seconds.
            token_ttl_seconds: i64 = 300, env "BF_MFA_TOKEN_TTL_SECONDS", check between(30, 3600);
            /// Wrong codes one `mfa_token` survives; the next wrong one spends it (and each
            /// counts against the password login limits too).
            attempts_per_token: u32 = 5, env "BF_MFA_ATTEMPTS_PER_TOKEN", check between(1, 20);
        }

        [webauthn]
        /// Passkeys (WebAuthn) as second factors: the relying party they are made for.
        pub struct WebauthnSettings {
            /// The relying party ID: the domain passkeys are bound to, the origin's host or a
            /// registrable suffix of it. Changing it makes every passkey made before useless.
            rp_id: String = "localhost".into(), env "BF_WEBAUTHN_RP_ID",
                check |rp_id: &String, w: &WebauthnSettings| relying_party(rp_id, &w.origin);
            /// The origin of the pages that run the ceremonies (`https://…`, or `http://localhost…`):
            /// a credential or an assertion made for any other is refused.
            origin: String = "http://localhost:8080".into(), env "BF_WEBAUTHN_ORIGIN",
                check |origin: &String, w: &WebauthnSettings| relying_party(&w.rp_id, origin);
        }

        [sqlite]
        /// SQLite's durability.
        pub struct SqliteSettings {
            /// `full` (the default) makes every answered change survive a power cut; `normal`
            /// only a process crash, for more write throughput.
            synchronous: SqliteSynchronous = SqliteSynchronous::Full, env "BF_SQLITE_SYNCHRONOUS";
        }

        [users]
        /// Listing an organization's members page by page.
        pub struct UserSettings {
            /// Every how many members a node keeps a position (an anchor) in memory, per
            /// organization and order, to reach a deep `offset` without skipping the members
            /// before it. A page at an offset below this is read directly.
            anchor_every: i64 = 1000, env "BF_USERS_ANCHOR_EVERY", check between(1, 1_000_000);
            /// The memory all anchors of the node may take, in KiB.
            anchor_cache_kib: u64 = 4096,
                env "BF_USERS_ANCHOR_CACHE_KIB", check between(64, 1_048_576);
        }

        [database]
        /// How long the service waits on its database.
        pub struct DatabaseSettings {
            /// The longest one statement may run (PostgreSQL's `statement_timeout`) or wait for
            /// SQLite's write lock (its busy timeout), in milliseconds.
            statement_timeout_ms: u64 = 5000,
                env "BF_DATABASE_STATEMENT_TIMEOUT_MS", check between(10, 3_600_000);
            /// The longest a request waits for a pooled connection, or for a new one to be made,
            /// in milliseconds.
            acquire_timeout_ms: u64 = 5000,
                env "BF_DATABASE_ACQUIRE_TIMEOUT_MS", check between(10, 3_600_000);
        }

        [audit]
        /// The audit trail.
        pub struct AuditSettings {
            /// Days an audit event is kept; older whole prefixes of each chain are pruned (each
            /// pruning recorded by an `audit.pruned` event). 0 keeps every event forever.
            retention_days: u32 = 0, env "BF_AUDIT_RETENTION_DAYS", check between(0, 36_500);
        }

        [http]
        /// How long clients may take, and how many may be connected at once.
        pub struct HttpSettings {
            /// The longest a client may take to send a request's headers (a kept-alive connection
            /// idle that long is closed), and again to send its body, in milliseconds.
            read_timeout_ms: u64 = 10_000,
                env "BF_HTTP_READ_TIMEOUT_MS", check between(10, 3_600_000);
            /// The longest a request may take from its headers to its answer, in milliseconds.
            request_timeout_ms: u64 = 15_000,
                env "BF_HTTP_REQUEST_TIMEOUT_MS", check between(10, 3_600_000);
            /// After SIGTERM, how long requests in flight may take to finish before the process
            /// exits, in seconds.
            drain_seconds: u64 = 10, env "BF_HTTP_DRAIN_SECONDS", check between(0, 3600);
            /// Networks of the proxies in front of the service (comma-separated CIDRs, IPv4 or
            /// IPv6). Only from a peer inside one is the client's address read from
            /// `Forwarded` or `X-Forwarded-For`: the rightmost hop that is not itself a trusted
            /// proxy. Empty: the peer is the client.
            trusted_proxies: Vec<Cidr> = Vec::new(), env "BF_TRUSTED_PROXIES", shown "none";
            /// Client connections served at once; 0 derives it from the limit of open files.
            max_connections: usize = 0, env "BF_HTTP_MAX_CONNECTIONS",
                check |n: &usize, _| {
                    if *n <= MAX_CONNECTIONS {
                        Ok(())
                    } else {
                        Err(format!(
                            "must be between 0 (derived from the limit of open files) and \
                             {MAX_CONNECTIONS}"
                        ))
                    }
                };
            /// Web origins (`https://host[:port]`, comma-separated) whose pages may call the
            /// API from a browser; none by default, so browsers refuse cross-origin calls.
            cors_origins: CorsOrigins = CorsOrigins::default(), env "BF_CORS_ORIGINS",
                shown "none";
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl FromEnv for LogFormat {
    fn from_env(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("expected text or json (got {value:?})")),
        }
    }
}

impl Shown for LogFormat {
    fn shown(&self) -> String {
        match self {
            LogFormat::Text => "text".into(),
            LogFormat::Json => "json".into(),
        }
    }
}

/// Whether mail leaves the outbox at all: `Outbox` keeps it there for whoever reads the table
/// (the tests read codes from it), whatever the transport would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailDelivery {
    Auto,
    Outbox,
}

impl FromEnv for MailDelivery {
    fn from_env(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(MailDelivery::Auto),
            "outbox" => Ok(MailDelivery::Outbox),
            _ => Err(format!("expected auto or outbox (got {value:?})")),
        }
    }
}

impl Shown for MailDelivery {
    fn shown(&self) -> String {
        match self {
            MailDelivery::Auto => "auto".into(),
            MailDelivery::Outbox => "outbox".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Normal,
    Full,
}

impl FromEnv for SqliteSynchronous {
    fn from_env(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "full" => Ok(SqliteSynchronous::Full),
            "normal" => Ok(SqliteSynchronous::Normal),
            _ => Err(format!("expected full or normal (got {value:?})")),
        }
    }
}

impl Shown for SqliteSynchronous {
    fn shown(&self) -> String {
        match self {
            SqliteSynchronous::Full => "full".into(),
            SqliteSynchronous::Normal => "normal".into(),
        }
    }
}

/// Web origins allowed to call the API from a browser: each `http(s)://host[:port]`, as a
/// browser sends it in `Origin` (lowercase, no path, no trailing slash), so it is compared
/// byte for byte. A wildcard is not accepted: an identity API opened to every page on the web
/// is rarely what an operator means.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct CorsOrigins(Vec<String>);

/// The key second factors' secrets are sealed with (`BF_SECRETS_KEY`): 32 bytes, given in
/// base64. Never shown: its `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SecretsKey([u8; 32]);

impl SecretsKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Base64 of 32 bytes, surrounding whitespace ignored.
    pub fn parse(text: &str) -> Result<Self, String> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| "must be 32 bytes in base64".to_string())?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("must be 32 bytes in base64 (got {})", b.len()))?;
        Ok(Self(bytes))
    }
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl TryFrom<String> for SecretsKey {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl FromEnv for SecretsKey {
    fn from_env(value: &str) -> Result<Self, String> {
        Self::parse(value)
    }
}

impl Shown for SecretsKey {
    fn shown(&self) -> String {
        "[redacted]".into()
    }
}

const DAY: crate::clock::Millis = 24 * 3600 * 1000;

impl TokenSettings {
    /// The last use before which a session is idle at `now`: it has ended.
    pub fn session_idle_since(&self, now: crate::clock::Millis) -> crate::clock::Millis {
        now - self.session_idle_days * DAY
    }

    /// The absolute end of a session opened at `now`.
    pub fn session_ends(&self, now: crate::clock::Millis) -> crate::clock::Millis {
        now + self.session_max_days * DAY
    }

    pub fn session_idle_ms(&self) -> crate::clock::Millis {
        self.session_idle_days * DAY
    }
}

impl CorsOrigins {
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl TryFrom<Vec<String>> for CorsOrigins {
    type Error = String;

    fn try_from(origins: Vec<String>) -> Result<Self, String> {
        let mut parsed = Vec::with_capacity(origins.len());
        for origin in origins {
            let origin = origin.trim().to_ascii_lowercase();
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let fine = host.is_some_and(|h| {
                !h.is_empty()
                    && h.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
                    })
            });
            if !fine {
                return Err(format!(
                    "{origin:?} is not an origin like https://app.example.com[:port]"
                ));
            }
            parsed.push(origin);
        }
        Ok(Self(parsed))
    }
}

impl FromEnv for CorsOrigins {
    fn from_env(value: &str) -> Result<Self, String> {
        let items: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect();
        Self::try_from(items)
    }
}

impl Shown for CorsOrigins {
    fn shown(&self) -> String {
        self.0.join(",")
    }
}

/// Comma-separated networks; blank items are skipped, so an empty variable trusts no proxy.
impl FromEnv for Vec<Cidr> {
    fn from_env(value: &str) -> Result<Self, String> {
        value
            .split(',')
            .filter(|item| !item.trim().is_empty())
            .map(Cidr::parse)
            .collect()
    }
}

/// An OpenID Connect provider: the URL of its issuer and our client ID with it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    pub issuer: String,
    pub client_id: String,
}

/// The provider the environment names (both variables, or neither), after those of the file.
fn provider_from_env(
    providers: &mut Vec<OidcProvider>,
    [issuer_var, client_id_var]: [&'static str; 2],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    match (env(issuer_var), env(client_id_var)) {
        (Some(issuer), Some(client_id)) => providers.push(OidcProvider { issuer, client_id }),
        (None, None) => {}
        (Some(_), None) => {
            return Err(ConfigError::new(
                client_id_var,
                format!("required when {issuer_var} is set"),
            ))
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                issuer_var,
                format!("required when {client_id_var} is set"),
            ))
        }
    }
    Ok(())
}

fn usable(providers: &[OidcProvider]) -> Result<(), Refusal> {
    for (i, p) in providers.iter().enumerate() {
        acceptable_url(&p.issuer).map_err(|e| Refusal::at(format!("[{i}].issuer"), e))?;
        if p.client_id.trim().is_empty() {
            return Err(Refusal::at(format!("[{i}].client_id"), "must not be empty"));
        }
    }
    Ok(())
}

/// A relying party ID and an origin passkeys can be made with: the origin a URL, its host the
/// ID or under it.
fn relying_party(rp_id: &str, origin: &str) -> Result<(), Refusal> {
    let url = url::Url::parse(origin).map_err(|e| Refusal::from(format!("{origin:?}: {e}")))?;
    let host = url.host_str().unwrap_or_default();
    let under = host == rp_id || host.ends_with(&format!(".{rp_id}"));
    if rp_id.is_empty() || !under {
        return Err(Refusal::from(format!(
            "the origin's host {host:?} must be the relying party ID {rp_id:?} or under it"
        )));
    }
    let local = host == "localhost" && url.scheme() == "http";
    if url.scheme() != "https" && !local {
        return Err(Refusal::from(
            "the origin must be https://, or http://localhost".to_string(),
        ));
    }
    Ok(())
}

fn resource_names(names: &[String]) -> Result<(), Refusal> {
    for (i, name) in names.iter().enumerate() {
        if name.trim().is_empty() || name.contains(char::is_whitespace) || name == "*" {
            return Err(Refusal::at(
                format!("[{i}]"),
                format!("{name:?} is not a resource name"),
            ));
        }
    }
    Ok(())
}

impl PasswordSettings {
    /// The policy new passwords are held to.
    pub fn policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_length: self.min_length,
            max_bytes: self.max_bytes,
        }
    }
}

impl Settings {
    /// Reads the file (if any), then applies the environment given by `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut settings = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new("BF_CONFIG", format!("{}: {e}", path.display()))
                })?;
                toml::from_str::<Settings>(&text).map_err(|e| {
                    ConfigError::new(
                        format!("BF_CONFIG ({})", path.display()),
                        e.message().to_string()
                            + &e.span()
                                .map(|s| format!(" (at byte {})", s.start))
                                .unwrap_or_default(),
                    )
                })?
            }
            None => Settings::default(),
        };
        for setting in Self::all() {
            (setting.read)(&mut settings, &env)?;
        }
        settings.check()?;
        Ok(settings)
    }

    /// Refuses a `BF_*` variable that no setting reads: a typo (`BF_DATABSE_URL`) must stop the
    /// start, not leave the default in place unnoticed. The error names the closest setting.
    /// `BF_TEST_*` variables belong to the test suite, which passes them through to the nodes
    /// it starts, and are left alone.
    pub fn refuse_unknown_variables<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), ConfigError> {
        let known: Vec<&'static str> = Self::all()
            .iter()
            .flat_map(|s| s.env.iter().copied())
            .chain([CONFIG_VARIABLE])
            .collect();
        for name in names {
            if !name.starts_with("BF_") || name.starts_with("BF_TEST_") || known.contains(&name) {
                continue;
            }
            let closest = known
                .iter()
                .map(|k| (strsim::levenshtein(name, k), *k))
                .min()
                .filter(|(distance, k)| *distance <= k.len() / 3);
            let reason = match closest {
                Some((_, k)) => format!("is not a setting (did you mean {k}?)"),
                None => "is not a setting (docs/OPERATIONS.md lists them)".to_string(),
            };
            return Err(ConfigError::new(name, reason));
        }
        Ok(())
    }

    /// The variable a command-line flag stands for.
    pub fn variable_of_flag(flag: &str) -> Option<&'static str> {
        Self::all()
            .into_iter()
            .find(|s| s.flag == Some(flag))
            .map(|s| s.name())
    }

    /// Applies a command-line flag as its variable would be applied.
    pub fn apply_flag(&mut self, flag: &str, value: &str) -> Result<(), ConfigError> {
        let setting = Self::all()
            .into_iter()
            .find(|s| s.flag == Some(flag))
            .ok_or_else(|| ConfigError::new(format!("--{flag}"), "is not a setting"))?;
        let name = setting.name();
        (setting.read)(self, &|var| (var == name).then(|| value.to_string()))
    }

    /// Checks what the types alone do not.
    pub fn check(&self) -> Result<(), ConfigError> {
        for setting in Self::all() {
            (setting.check)(self).map_err(|refusal| setting.refused(refusal))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_are_exact_web_origins() {
        let ok = CorsOrigins::from_env(" https://App.example.com , http://localhost:3000").unwrap();
        assert_eq!(
            ok.as_slice(),
            ["https://app.example.com", "http://localhost:3000"]
        );
        assert!(CorsOrigins::from_env("").unwrap().as_slice().is_empty());
        for bad in [
            "*",
            "app.example.com",
            "https://app.example.com/",
            "https://a.b/path",
            "ftp://x",
        ] {
            assert!(CorsOrigins::from_env(bad).is_err(), "{bad}");
        }
        let refused = Settings::load(None, env(&[("BF_CORS_ORIGINS", "*")])).unwrap_err();
        assert_eq!(refused.setting, "BF_CORS_ORIGINS");
    }
    #[test]
    fn only_variables_of_settings_pass_and_a_typo_gets_the_closest_name() {
        let pass = [
            "BF_CONFIG",
            "BF_OIDC_ISSUER",
            "BF_OIDC_CLIENT_ID",
            "BF_TEST_DATABASE_URL",
            "PATH",
            "BFX",
        ];
        Settings::refuse_unknown_variables(pass).unwrap();
        let err = Settings::refuse_unknown_variables(["PATH", "BF_ARGON_MEMORY_KIB"]).unwrap_err();
        assert_eq!(err.setting, "BF_ARGON_MEMORY_KIB");
        assert!(
            err.reason.contains("did you mean BF_ARGON2_MEMORY_KIB?"),
            "{err}"
        );
        let err = Settings::refuse_unknown_variables(["BF_"]).unwrap_err();
        assert!(!err.reason.contains("did you mean"), "{err}");
    }

    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn environment_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bf.toml");
        std::fs::write(&path, "[argon2]\nmemory_kib = 4096\niterations = 3\n").unwrap();
        let s = Settings::load(Some(&path), env(&[("BF_ARGON2_MEMORY_KIB", "8192")])).unwrap();
        assert_eq!(s.argon2.memory_kib, 8192);
        assert_eq!(s.argon2.iterations, 3);
    }

    #[test]
    fn an_unknown_key_in_the_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bf.toml");
        std::fs::write(&path, "[argon2]\nmemroy_kib = 4096\n").unwrap();
        let err = Settings::load(Some(&path), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("memroy_kib"), "{err}");
    }

    #[test]
    fn a_bad_variable_is_named() {
        let err = Settings::load(None, env(&[("BF_ARGON2_ITERATIONS", "many")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("BF_ARGON2_ITERATIONS:"), "{err}");
        let err = Settings::load(None, env(&[("BF_DATABASE_URL", "mysql://x")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("BF_DATABASE_URL:"), "{err}");
        let err = Settings::load(None, env(&[("BF_USERS_ANCHOR_EVERY", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("BF_USERS_ANCHOR_EVERY:"), "{err}");
        let err = Settings::load(None, env(&[("BF_REFRESH_REUSE_INTERVAL_SECONDS", "61")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("BF_REFRESH_REUSE_INTERVAL_SECONDS:"),
            "{err}"
        );
        let s = Settings::load(None, env(&[("BF_REFRESH_REUSE_INTERVAL_SECONDS", "0")])).unwrap();
        assert_eq!(s.tokens.refresh_reuse_interval_seconds, 0);
        let err = Settings::load(None, env(&[("BF_HTTP_REQUEST_TIMEOUT_MS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("BF_HTTP_REQUEST_TIMEOUT_MS:"), "{err}");
    }

    #[test]
    fn timeouts_and_limits_come_from_the_file_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bf.toml");
        std::fs::write(
            &path,
            "[database]\nstatement_timeout_ms = 2000\n[http]\ndrain_seconds = 3\n",
        )
        .unwrap();
        let s = Settings::load(
            Some(&path),
            env(&[
                ("BF_HTTP_MAX_CONNECTIONS", "500"),
                ("BF_DATABASE_ACQUIRE_TIMEOUT_MS", "1500"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.statement_timeout_ms, 2000);
        assert_eq!(s.database.acquire_timeout_ms, 1500);
        assert_eq!(s.http.drain_seconds, 3);
        assert_eq!(s.http.max_connections, 500);
        assert_eq!(s.http.request_timeout_ms, 15_000);
    }

    /// A row of the settings table of docs/OPERATIONS.md.
    struct Documented {
        env: Vec<String>,
        flag: Option<String>,
        key: String,
        default: String,
    }

    fn code_spans(cell: &str) -> Vec<&str> {
        cell.split('`').skip(1).step_by(2).collect()
    }

    fn settings_table(doc: &str) -> Vec<Documented> {
        let lines = doc
            .lines()
            .skip_while(|l| !l.starts_with("| variable | file key | default |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'));
        let mut rows = Vec::new();
        for line in lines {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 4, "a row of four cells: {line}");
            let (names, key, default) = (code_spans(cells[0]), code_spans(cells[1]), cells[2]);
            rows.push(Documented {
                env: names
                    .iter()
                    .filter(|n| n.starts_with("BF_"))
                    .map(|n| n.to_string())
                    .collect(),
                flag: names
                    .iter()
                    .find_map(|n| n.strip_prefix("--"))
                    .map(str::to_string),
                key: key
                    .first()
                    .unwrap_or_else(|| panic!("a row without a key: {line}"))
                    .trim_start_matches("[[")
                    .trim_end_matches("]]")
                    .to_string(),
                default: default.replace('`', ""),
            });
        }
        rows
    }

    #[test]
    fn the_operations_table_documents_every_setting_as_declared_and_nothing_else() {
        let table = settings_table(include_str!("../docs/OPERATIONS.md"));
        assert!(!table.is_empty(), "no settings table in docs/OPERATIONS.md");
        let declared = Settings::all();
        let mut wrong = Vec::new();
        for s in &declared {
            let Some(row) = table.iter().find(|row| row.key == s.key) else {
                wrong.push(format!("{} is not in the table", s.key));
                continue;
            };
            if row.env != s.env || row.flag.as_deref() != s.flag {
                wrong.push(format!(
                    "{}: the table says {:?} and flag {:?}, the code {:?} and flag {:?}",
                    s.key, row.env, row.flag, s.env, s.flag
                ));
            }
            // The table may explain a default after it: `0 (one per core)`, `0: from ...`.
            let explained = |after: &str| row.default.starts_with(&format!("{}{after}", s.default));
            if row.default != s.default && !explained(" (") && !explained(": ") {
                wrong.push(format!(
                    "{}: the table's default is {:?}, the code's {:?}",
                    s.key, row.default, s.default
                ));
            }
        }
        for row in &table {
            if declared.iter().filter(|s| s.key == row.key).count() != 1 {
                wrong.push(format!("{}: in the table, not a setting", row.key));
            }
            if table.iter().filter(|r| r.key == row.key).count() != 1 {
                wrong.push(format!("{}: in the table more than once", row.key));
            }
        }
        assert!(
            wrong.is_empty(),
            "docs/OPERATIONS.md:\n{}",
            wrong.join("\n")
        );
    }
}
