//! Settings: built-in defaults, then the optional TOML file, then `BF_*` environment variables,
//! then command-line flags. A bad or unknown setting stops start-up with one line naming it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::password::PasswordPolicy;
use crate::domain::url::acceptable_url;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    pub log_format: LogFormat,
    pub argon2: Argon2Settings,
    pub tokens: TokenSettings,
    pub password: PasswordSettings,
    pub bootstrap: BootstrapSettings,
    pub permissions: PermissionSettings,
    pub signup: SignupSettings,
    pub login: LoginSettings,
    pub mail: MailSettings,
    pub codes: CodeSettings,
    pub oidc: OidcSettings,
    pub sqlite: SqliteSettings,
    pub users: UserSettings,
    pub rate_limits: RateLimitSettings,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://bf-security.db".into(),
            log_format: LogFormat::Text,
            argon2: Argon2Settings::default(),
            tokens: TokenSettings::default(),
            password: PasswordSettings::default(),
            bootstrap: BootstrapSettings::default(),
            permissions: PermissionSettings::default(),
            signup: SignupSettings::default(),
            login: LoginSettings::default(),
            mail: MailSettings::default(),
            codes: CodeSettings::default(),
            oidc: OidcSettings::default(),
            sqlite: SqliteSettings::default(),
            users: UserSettings::default(),
            rate_limits: RateLimitSettings::default(),
            database: DatabaseSettings::default(),
            http: HttpSettings::default(),
        }
    }
}

/// Argon2id cost. The defaults are OWASP's minimum recommendation (m=19 MiB, t=2, p=1).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// How many hashes may run at once; 0 means one per CPU core.
    pub threads: usize,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
            threads: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    pub access_ttl_seconds: i64,
    pub refresh_ttl_seconds: i64,
    /// How long a node may serve a token's resolution from memory before asking the database
    /// again: the bound on how stale another node's view of a revocation can be.
    pub cache_ttl_seconds: i64,
    pub cache_capacity: usize,
    /// How long after a rotation presenting the spent refresh token again is taken for a
    /// client's retry (answered with the same pair) rather than a theft; 0: never.
    pub refresh_reuse_interval_seconds: i64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            access_ttl_seconds: 3600,
            refresh_ttl_seconds: 30 * 24 * 3600,
            cache_ttl_seconds: 5,
            cache_capacity: 100_000,
            refresh_reuse_interval_seconds: 10,
        }
    }
}

/// The password policy: what a new password must satisfy.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordSettings {
    pub min_length: usize,
    pub max_bytes: usize,
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

impl Default for PasswordSettings {
    fn default() -> Self {
        Self {
            min_length: 10,
            max_bytes: 1024,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootstrapSettings {
    pub email: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PermissionSettings {
    /// Resources of other services of the platform, accepted in roles beside the built-in ones.
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignupSettings {
    /// Lets anonymous callers sign up through `POST /v1/users/flexcheck`.
    pub open: bool,
    /// Anonymous sign-ups allowed from one client address per hour.
    pub per_address_per_hour: u32,
}

impl Default for SignupSettings {
    fn default() -> Self {
        Self {
            open: false,
            per_address_per_hour: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginSettings {
    /// Failed password logins allowed per e-mail (known or not) and hour, per node; beyond it
    /// the e-mail's logins are refused with 429 until the hour is over, before any password is
    /// checked.
    pub failures_per_email_per_hour: u32,
}

impl Default for LoginSettings {
    fn default() -> Self {
        Self {
            failures_per_email_per_hour: 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSettings {
    pub smtp_url: Option<String>,
    pub dir: Option<PathBuf>,
    pub from: String,
    /// How often the sender looks for mail due for a retry (new mail wakes it at once).
    pub poll_millis: u64,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            dir: None,
            from: "BillForward <no-reply@localhost>".into(),
            poll_millis: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeSettings {
    pub reset_ttl_minutes: i64,
    /// Reset codes one address may ask for in an hour.
    pub requests_per_email_per_hour: u32,
    /// Reset codes one client address may ask for in an hour (counted by each node).
    pub requests_per_address_per_hour: u32,
    /// Failed uses of a reset or invitation code one client address may make in an hour
    /// (counted by each node); beyond it, its code uses are refused with 429 before any work.
    pub failures_per_address_per_hour: u32,
}

impl Default for CodeSettings {
    fn default() -> Self {
        Self {
            reset_ttl_minutes: 15,
            requests_per_email_per_hour: 5,
            requests_per_address_per_hour: 30,
            failures_per_address_per_hour: 20,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcSettings {
    pub providers: Vec<OidcProvider>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    pub issuer: String,
    pub client_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Normal,
    Full,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteSettings {
    /// `full` (the default) makes every answered change survive a power cut; `normal` only a
    /// process crash, for more write throughput.
    pub synchronous: SqliteSynchronous,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        Self {
            synchronous: SqliteSynchronous::Full,
        }
    }
}

/// Listing an organization's members page by page.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserSettings {
    /// Every how many members a node keeps a position (an anchor) in memory, per organization
    /// and order, to reach a deep `offset` without skipping the members before it. A page at an
    /// offset below this is read directly.
    pub anchor_every: i64,
    /// The memory all anchors of the node may take, in KiB.
    pub anchor_cache_kib: u64,
}

impl Default for UserSettings {
    fn default() -> Self {
        Self {
            anchor_every: 1000,
            anchor_cache_kib: 4096,
        }
    }
}

/// The in-memory rate limiters (sign-up, reset requests, login failures) of a node.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Keys (e-mails, client addresses) each limiter keeps, about 100 bytes each. Keys over
    /// their limit are kept whatever this says.
    pub keys: usize,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self { keys: 100_000 }
    }
}

/// How long the service waits on its database.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// The longest one statement may run (PostgreSQL's `statement_timeout`) or wait for
    /// SQLite's write lock (its busy timeout).
    pub statement_timeout_ms: u64,
    /// The longest a request waits for a pooled connection, or for a new one to be made.
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            statement_timeout_ms: 5000,
            acquire_timeout_ms: 5000,
        }
    }
}

/// The most client connections a node serves at once, whatever the limit of open files.
pub const MAX_CONNECTIONS: usize = 10_000_000;

/// How long clients may take, and how many may be connected at once.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// The longest a client may take to send a request's headers (a kept-alive connection
    /// idle that long is closed), and again to send its body.
    pub read_timeout_ms: u64,
    /// The longest a request may take from its headers to its answer.
    pub request_timeout_ms: u64,
    /// After SIGTERM, how long requests in flight may take to finish before the process exits.
    pub drain_seconds: u64,
    /// Client connections served at once; 0 derives it from the limit of open files.
    pub max_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            read_timeout_ms: 10_000,
            request_timeout_ms: 15_000,
            drain_seconds: 10,
            max_connections: 0,
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
        settings.apply_env(&env)?;
        settings.check()?;
        Ok(settings)
    }

    fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            value
                .trim()
                .parse()
                .map_err(|e| ConfigError::new(name, format!("{e} (got {value:?})")))
        }
        fn boolean(name: &str, value: &str) -> Result<bool, ConfigError> {
            match value.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::new(
                    name,
                    format!("expected true or false (got {value:?})"),
                )),
            }
        }
        macro_rules! set {
            ($name:literal, |$v:ident| $apply:expr) => {
                if let Some($v) = env($name) {
                    let $v = $v.as_str();
                    #[allow(clippy::redundant_closure_call)]
                    $apply;
                }
            };
        }
        set!("BF_LISTEN", |v| self.listen = parse("BF_LISTEN", v)?);
        set!("BF_DATABASE_URL", |v| self.database_url = v.to_string());
        set!("BF_LOG_FORMAT", |v| {
            self.log_format = match v.trim().to_ascii_lowercase().as_str() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                _ => {
                    return Err(ConfigError::new(
                        "BF_LOG_FORMAT",
                        format!("expected text or json (got {v:?})"),
                    ))
                }
            }
        });
        set!("BF_ARGON2_MEMORY_KIB", |v| self.argon2.memory_kib =
            parse("BF_ARGON2_MEMORY_KIB", v)?);
        set!("BF_ARGON2_ITERATIONS", |v| self.argon2.iterations =
            parse("BF_ARGON2_ITERATIONS", v)?);
        set!("BF_ARGON2_PARALLELISM", |v| self.argon2.parallelism =
            parse("BF_ARGON2_PARALLELISM", v)?);
        set!("BF_ARGON2_THREADS", |v| self.argon2.threads =
            parse("BF_ARGON2_THREADS", v)?);
        set!("BF_ACCESS_TOKEN_TTL_SECONDS", |v| self
            .tokens
            .access_ttl_seconds =
            parse("BF_ACCESS_TOKEN_TTL_SECONDS", v)?);
        set!("BF_REFRESH_TOKEN_TTL_SECONDS", |v| self
            .tokens
            .refresh_ttl_seconds =
            parse("BF_REFRESH_TOKEN_TTL_SECONDS", v)?);
        set!("BF_TOKEN_CACHE_TTL_SECONDS", |v| self
            .tokens
            .cache_ttl_seconds =
            parse("BF_TOKEN_CACHE_TTL_SECONDS", v)?);
        set!("BF_TOKEN_CACHE_CAPACITY", |v| self.tokens.cache_capacity =
            parse("BF_TOKEN_CACHE_CAPACITY", v)?);
        set!("BF_REFRESH_REUSE_INTERVAL_SECONDS", |v| self
            .tokens
            .refresh_reuse_interval_seconds =
            parse("BF_REFRESH_REUSE_INTERVAL_SECONDS", v)?);
        set!("BF_PASSWORD_MIN_LENGTH", |v| self.password.min_length =
            parse("BF_PASSWORD_MIN_LENGTH", v)?);
        set!("BF_PASSWORD_MAX_BYTES", |v| self.password.max_bytes =
            parse("BF_PASSWORD_MAX_BYTES", v)?);
        set!("BF_BOOTSTRAP_EMAIL", |v| self.bootstrap.email =
            Some(v.to_string()));
        set!("BF_BOOTSTRAP_PASSWORD", |v| self.bootstrap.password =
            Some(v.to_string()));
        set!("BF_OPEN_SIGNUP", |v| self.signup.open =
            boolean("BF_OPEN_SIGNUP", v)?);
        set!("BF_SIGNUP_PER_ADDRESS_PER_HOUR", |v| self
            .signup
            .per_address_per_hour =
            parse("BF_SIGNUP_PER_ADDRESS_PER_HOUR", v)?);
        set!("BF_LOGIN_FAILURES_PER_EMAIL_PER_HOUR", |v| self
            .login
            .failures_per_email_per_hour =
            parse("BF_LOGIN_FAILURES_PER_EMAIL_PER_HOUR", v)?);
        set!("BF_MAIL_POLL_MILLIS", |v| self.mail.poll_millis =
            parse("BF_MAIL_POLL_MILLIS", v)?);
        set!("BF_SMTP_URL", |v| self.mail.smtp_url = Some(v.to_string()));
        set!("BF_MAIL_DIR", |v| self.mail.dir = Some(PathBuf::from(v)));
        set!("BF_MAIL_FROM", |v| self.mail.from = v.to_string());
        set!("BF_RESET_CODE_TTL_MINUTES", |v| self
            .codes
            .reset_ttl_minutes =
            parse("BF_RESET_CODE_TTL_MINUTES", v)?);
        set!("BF_RESET_REQUESTS_PER_EMAIL_PER_HOUR", |v| self
            .codes
            .requests_per_email_per_hour =
            parse("BF_RESET_REQUESTS_PER_EMAIL_PER_HOUR", v)?);
        set!("BF_RESET_REQUESTS_PER_ADDRESS_PER_HOUR", |v| self
            .codes
            .requests_per_address_per_hour =
            parse("BF_RESET_REQUESTS_PER_ADDRESS_PER_HOUR", v)?);
        set!("BF_CODE_FAILURES_PER_ADDRESS_PER_HOUR", |v| self
            .codes
            .failures_per_address_per_hour =
            parse("BF_CODE_FAILURES_PER_ADDRESS_PER_HOUR", v)?);
        set!("BF_SQLITE_SYNCHRONOUS", |v| {
            self.sqlite.synchronous = match v.trim().to_ascii_lowercase().as_str() {
                "full" => SqliteSynchronous::Full,
                "normal" => SqliteSynchronous::Normal,
                _ => {
                    return Err(ConfigError::new(
                        "BF_SQLITE_SYNCHRONOUS",
                        format!("expected full or normal (got {v:?})"),
                    ))
                }
            }
        });
        set!("BF_USERS_ANCHOR_EVERY", |v| self.users.anchor_every =
            parse("BF_USERS_ANCHOR_EVERY", v)?);
        set!("BF_USERS_ANCHOR_CACHE_KIB", |v| self
            .users
            .anchor_cache_kib =
            parse("BF_USERS_ANCHOR_CACHE_KIB", v)?);
        set!("BF_RATE_LIMIT_KEYS", |v| self.rate_limits.keys =
            parse("BF_RATE_LIMIT_KEYS", v)?);
        set!("BF_DATABASE_STATEMENT_TIMEOUT_MS", |v| self
            .database
            .statement_timeout_ms =
            parse("BF_DATABASE_STATEMENT_TIMEOUT_MS", v)?);
        set!("BF_DATABASE_ACQUIRE_TIMEOUT_MS", |v| self
            .database
            .acquire_timeout_ms =
            parse("BF_DATABASE_ACQUIRE_TIMEOUT_MS", v)?);
        set!("BF_HTTP_READ_TIMEOUT_MS", |v| self.http.read_timeout_ms =
            parse("BF_HTTP_READ_TIMEOUT_MS", v)?);
        set!("BF_HTTP_REQUEST_TIMEOUT_MS", |v| self
            .http
            .request_timeout_ms =
            parse("BF_HTTP_REQUEST_TIMEOUT_MS", v)?);
        set!("BF_HTTP_DRAIN_SECONDS", |v| self.http.drain_seconds =
            parse("BF_HTTP_DRAIN_SECONDS", v)?);
        set!("BF_HTTP_MAX_CONNECTIONS", |v| self.http.max_connections =
            parse("BF_HTTP_MAX_CONNECTIONS", v)?);
        match (env("BF_OIDC_ISSUER"), env("BF_OIDC_CLIENT_ID")) {
            (Some(issuer), Some(client_id)) => {
                self.oidc.providers.push(OidcProvider { issuer, client_id })
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "BF_OIDC_CLIENT_ID",
                    "required when BF_OIDC_ISSUER is set",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "BF_OIDC_ISSUER",
                    "required when BF_OIDC_CLIENT_ID is set",
                ))
            }
        }
        Ok(())
    }

    /// Checks what the types alone do not.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "BF_DATABASE_URL",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        if self.argon2.memory_kib < 8 * self.argon2.parallelism.max(1) {
            return Err(ConfigError::new(
                "BF_ARGON2_MEMORY_KIB",
                "must be at least 8 KiB per lane",
            ));
        }
        if self.login.failures_per_email_per_hour == 0 {
            return Err(ConfigError::new(
                "BF_LOGIN_FAILURES_PER_EMAIL_PER_HOUR",
                "must be at least 1",
            ));
        }
        if self.argon2.iterations == 0 {
            return Err(ConfigError::new(
                "BF_ARGON2_ITERATIONS",
                "must be at least 1",
            ));
        }
        if self.argon2.parallelism == 0 || self.argon2.parallelism > 255 {
            return Err(ConfigError::new(
                "BF_ARGON2_PARALLELISM",
                "must be between 1 and 255",
            ));
        }
        if self.tokens.access_ttl_seconds <= 0 {
            return Err(ConfigError::new(
                "BF_ACCESS_TOKEN_TTL_SECONDS",
                "must be positive",
            ));
        }
        if self.tokens.refresh_ttl_seconds <= 0 {
            return Err(ConfigError::new(
                "BF_REFRESH_TOKEN_TTL_SECONDS",
                "must be positive",
            ));
        }
        if !(0..=60).contains(&self.tokens.cache_ttl_seconds) {
            return Err(ConfigError::new(
                "BF_TOKEN_CACHE_TTL_SECONDS",
                "must be between 0 and 60",
            ));
        }
        if !(0..=60).contains(&self.tokens.refresh_reuse_interval_seconds) {
            return Err(ConfigError::new(
                "BF_REFRESH_REUSE_INTERVAL_SECONDS",
                "must be between 0 and 60",
            ));
        }
        if self.password.min_length == 0 || self.password.min_length > self.password.max_bytes {
            return Err(ConfigError::new(
                "BF_PASSWORD_MIN_LENGTH",
                "must be at least 1 and at most the maximum length",
            ));
        }
        if self.codes.failures_per_address_per_hour == 0 {
            return Err(ConfigError::new(
                "BF_CODE_FAILURES_PER_ADDRESS_PER_HOUR",
                "must be at least 1",
            ));
        }
        if self.codes.reset_ttl_minutes <= 0 {
            return Err(ConfigError::new(
                "BF_RESET_CODE_TTL_MINUTES",
                "must be positive",
            ));
        }
        if !(1..=1_000_000).contains(&self.users.anchor_every) {
            return Err(ConfigError::new(
                "BF_USERS_ANCHOR_EVERY",
                "must be between 1 and 1000000",
            ));
        }
        if !(64..=1_048_576).contains(&self.users.anchor_cache_kib) {
            return Err(ConfigError::new(
                "BF_USERS_ANCHOR_CACHE_KIB",
                "must be between 64 and 1048576",
            ));
        }
        if !(1..=100_000_000).contains(&self.rate_limits.keys) {
            return Err(ConfigError::new(
                "BF_RATE_LIMIT_KEYS",
                "must be between 1 and 100000000",
            ));
        }
        for (name, value) in [
            (
                "BF_DATABASE_STATEMENT_TIMEOUT_MS",
                self.database.statement_timeout_ms,
            ),
            (
                "BF_DATABASE_ACQUIRE_TIMEOUT_MS",
                self.database.acquire_timeout_ms,
            ),
            ("BF_HTTP_READ_TIMEOUT_MS", self.http.read_timeout_ms),
            ("BF_HTTP_REQUEST_TIMEOUT_MS", self.http.request_timeout_ms),
        ] {
            if !(10..=3_600_000).contains(&value) {
                return Err(ConfigError::new(name, "must be between 10 and 3600000"));
            }
        }
        if self.http.drain_seconds > 3600 {
            return Err(ConfigError::new(
                "BF_HTTP_DRAIN_SECONDS",
                "must be between 0 and 3600",
            ));
        }
        if self.http.max_connections > MAX_CONNECTIONS {
            return Err(ConfigError::new(
                "BF_HTTP_MAX_CONNECTIONS",
                "must be between 0 (derived from the limit of open files) and 10000000",
            ));
        }
        for (i, p) in self.oidc.providers.iter().enumerate() {
            acceptable_url(&p.issuer)
                .map_err(|e| ConfigError::new(format!("oidc.providers[{i}].issuer"), e))?;
            if p.client_id.trim().is_empty() {
                return Err(ConfigError::new(
                    format!("oidc.providers[{i}].client_id"),
                    "must not be empty",
                ));
            }
        }
        for (i, name) in self.permissions.resources.iter().enumerate() {
            if name.trim().is_empty() || name.contains(char::is_whitespace) || name == "*" {
                return Err(ConfigError::new(
                    format!("permissions.resources[{i}]"),
                    format!("{name:?} is not a resource name"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
