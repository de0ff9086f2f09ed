//! The machinery behind the one declaration of the settings (`settings!` in `config.rs`): what
//! each setting is made of, how a value is read from a variable and shown as a default, and the
//! usual checks.

use std::fmt::Display;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::{ConfigError, Settings};

/// What reads a setting's variables into the settings; nothing when none of them is set.
pub(super) type Read =
    fn(&mut Settings, &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError>;

/// One setting as declared: where it is read from, its default and what it is for.
pub struct Setting {
    /// Its key in the TOML file: `name`, or `section.name` for a key of the table `[section]`.
    pub key: &'static str,
    /// The environment variables that set it (usually one; none for a setting of the file only).
    pub env: &'static [&'static str],
    /// Its command-line flag, without the dashes.
    pub flag: Option<&'static str>,
    /// Its default, as the documentation shows it.
    pub default: String,
    pub(super) help: &'static str,
    pub(super) read: Read,
    pub(super) check: fn(&Settings) -> Result<(), Refusal>,
}

impl Setting {
    /// What the setting is for: its documentation comment.
    pub fn help(&self) -> &'static str {
        self.help.trim()
    }

    /// The name an error about the setting carries: its variable, or its key when it has none.
    pub fn name(&self) -> &'static str {
        self.env.first().copied().unwrap_or(self.key)
    }

    /// The error for a value the check refused: an item of a list is named by the key and its
    /// place (`oidc.providers[0].issuer`), anything else by [`Setting::name`].
    pub(super) fn refused(&self, refusal: Refusal) -> ConfigError {
        match refusal.at {
            Some(at) => ConfigError::new(format!("{}{at}", self.key), refusal.reason),
            None => ConfigError::new(self.name(), refusal.reason),
        }
    }
}

/// Why a check refused a value, and, for an item of a list, which one.
pub(super) struct Refusal {
    at: Option<String>,
    reason: String,
}

impl Refusal {
    /// A refused item, named by what follows the setting's key (`[0].issuer`).
    pub(super) fn at(at: String, reason: impl Into<String>) -> Self {
        Self {
            at: Some(at),
            reason: reason.into(),
        }
    }
}

impl From<String> for Refusal {
    fn from(reason: String) -> Self {
        Self { at: None, reason }
    }
}

impl From<&str> for Refusal {
    fn from(reason: &str) -> Self {
        reason.to_string().into()
    }
}

/// Runs a declared check on a value and the table (or the settings) holding it.
pub(super) fn refuse<T, G, R: Into<Refusal>>(
    check: impl Fn(&T, &G) -> Result<(), R>,
    value: &T,
    holder: &G,
) -> Result<(), Refusal> {
    check(value, holder).map_err(Into::into)
}

pub(super) fn at_least<T: PartialOrd + Display, G>(
    min: T,
) -> impl Fn(&T, &G) -> Result<(), String> {
    move |v, _| {
        if *v >= min {
            Ok(())
        } else {
            Err(format!("must be at least {min}"))
        }
    }
}

pub(super) fn between<T: PartialOrd + Display, G>(
    min: T,
    max: T,
) -> impl Fn(&T, &G) -> Result<(), String> {
    move |v, _| {
        if *v >= min && *v <= max {
            Ok(())
        } else {
            Err(format!("must be between {min} and {max}"))
        }
    }
}

pub(super) fn positive<G>(v: &i64, _: &G) -> Result<(), &'static str> {
    if *v > 0 {
        Ok(())
    } else {
        Err("must be positive")
    }
}

/// A value as an environment variable (or a flag) gives it.
pub(super) trait FromEnv: Sized {
    /// The reason is the error's text after the variable's name.
    fn from_env(value: &str) -> Result<Self, String>;
}

macro_rules! parsed {
    ($($t:ty),*) => {$(
        impl FromEnv for $t {
            fn from_env(value: &str) -> Result<Self, String> {
                value.trim().parse().map_err(|e| format!("{e} (got {value:?})"))
            }
        }
    )*};
}
parsed!(u32, u64, usize, i64, SocketAddr);

impl FromEnv for String {
    fn from_env(value: &str) -> Result<Self, String> {
        Ok(value.to_string())
    }
}

impl FromEnv for PathBuf {
    fn from_env(value: &str) -> Result<Self, String> {
        Ok(PathBuf::from(value))
    }
}

impl FromEnv for bool {
    fn from_env(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(format!("expected true or false (got {value:?})")),
        }
    }
}

impl<T: FromEnv> FromEnv for Option<T> {
    fn from_env(value: &str) -> Result<Self, String> {
        T::from_env(value).map(Some)
    }
}

/// A default as the documentation shows it.
pub(super) trait Shown {
    fn shown(&self) -> String;
}

macro_rules! displayed {
    ($($t:ty),*) => {$(
        impl Shown for $t {
            fn shown(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
displayed!(u32, u64, usize, i64, bool, String, SocketAddr);

impl Shown for PathBuf {
    fn shown(&self) -> String {
        self.display().to_string()
    }
}

impl<T: Shown> Shown for Option<T> {
    fn shown(&self) -> String {
        match self {
            Some(v) => v.shown(),
            None => "unset".into(),
        }
    }
}

impl<T: Shown> Shown for Vec<T> {
    fn shown(&self) -> String {
        let items: Vec<String> = self.iter().map(Shown::shown).collect();
        format!("[{}]", items.join(", "))
    }
}

/// The first braces when they hold something, else the second: how a declaration's optional
/// part (`shown`, `flag`, `check`) is told from its absence.
macro_rules! either {
    ({ $($given:tt)+ } or { $($otherwise:tt)* }) => { $($given)+ };
    ({} or { $($otherwise:tt)* }) => { $($otherwise)* };
}

/// One setting's descriptor, from its declaration: `at` is the path of its field in the
/// settings, `holder` that of the table holding it (empty at the top level).
macro_rules! setting {
    (
        key: $key:expr,
        at: [$($at:tt)+],
        holder: [$($holder:tt)*],
        docs: [$($doc:literal)+],
        default: $default:expr,
        env: [$($env:literal)?],
        envs: [$($envs:tt)?],
        by: [$($by:path)?],
        flag: [$($flag:literal)?],
        shown: [$($shown:expr)?],
        check: [$($check:expr)?] $(,)?
    ) => {
        $crate::config::setting::Setting {
            key: $key,
            env: either!({ $(&$envs)? } or { &[$($env)?] }),
            flag: either!({ $(Some($flag))? } or { None }),
            default: either!({ $(String::from($shown))? } or {
                $crate::config::setting::Shown::shown(&$default)
            }),
            help: concat!($($doc),+),
            read: |s, env| {
                let value = &mut s.$($at)+;
                $(
                    if let Some(v) = env($env) {
                        *value = $crate::config::setting::FromEnv::from_env(&v)
                            .map_err(|reason| $crate::config::ConfigError::new($env, reason))?;
                    }
                )?
                $( $by(value, $envs, env)?; )?
                Ok(())
            },
            check: |s| {
                let (value, holder) = (&s.$($at)+, &s $($holder)*);
                either!({ $(
                    $crate::config::setting::refuse($check, value, holder)
                )? } or { Ok(()) })
            },
        }
    };
}

/// Declares the settings: each field once, with its documentation (its help line), type,
/// default, and optionally its variable (`env`), command-line flag, default as documented
/// (`shown`) and check. From it come the structs the TOML file is read into, their defaults,
/// and [`Setting`]s for the environment, the flags, the checks and `--help`.
///
/// Top-level fields come first; each table (`[section]`) after them is a struct of its own.
/// A setting read from several variables at once names them with `envs [..] by` a function
/// that reads them.
macro_rules! settings {
    (
        $(#[doc = $doc:literal])*
        pub struct $Settings:ident {
            $(
                $(#[doc = $fdoc:literal])+
                $field:ident: $fty:ty = $fdefault:expr
                $(, env $fenv:literal)?
                $(, flag $fflag:literal)?
                $(, shown $fshown:expr)?
                $(, check $fcheck:expr)?;
            )*
            $(
                [$section:ident]
                $(#[doc = $gdoc:literal])+
                pub struct $Group:ident {
                    $(
                        $(#[doc = $sdoc:literal])+
                        $sfield:ident: $sty:ty = $sdefault:expr
                        $(, env $senv:literal)?
                        $(, envs $senvs:tt by $sby:path)?
                        $(, shown $sshown:expr)?
                        $(, check $scheck:expr)?;
                    )*
                }
            )*
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $Settings {
            $( $(#[doc = $fdoc])+ pub $field: $fty, )*
            $( $(#[doc = $gdoc])+ pub $section: $Group, )*
        }

        impl Default for $Settings {
            fn default() -> Self {
                Self {
                    $( $field: $fdefault, )*
                    $( $section: $Group::default(), )*
                }
            }
        }

        $(
            $(#[doc = $gdoc])+
            #[derive(Debug, Clone, Deserialize)]
            #[serde(default, deny_unknown_fields)]
            pub struct $Group {
                $( $(#[doc = $sdoc])+ pub $sfield: $sty, )*
            }

            impl Default for $Group {
                fn default() -> Self {
                    Self {
                        $( $sfield: $sdefault, )*
                    }
                }
            }
        )*

        impl $Settings {
            /// Every setting, in the order declared.
            // A setting without a variable reads nothing, one without a check looks at nothing.
            #[allow(unused_variables)]
            pub fn all() -> Vec<$crate::config::setting::Setting> {
                let defaults = Self::default();
                vec![
                    $(
                        setting! {
                            key: stringify!($field),
                            at: [$field],
                            holder: [],
                            docs: [$($fdoc)+],
                            default: defaults.$field,
                            env: [$($fenv)?],
                            envs: [],
                            by: [],
                            flag: [$($fflag)?],
                            shown: [$($fshown)?],
                            check: [$($fcheck)?],
                        },
                    )*
                    $($(
                        setting! {
                            key: concat!(stringify!($section), ".", stringify!($sfield)),
                            at: [$section.$sfield],
                            holder: [.$section],
                            docs: [$($sdoc)+],
                            default: defaults.$section.$sfield,
                            env: [$($senv)?],
                            envs: [$($senvs)?],
                            by: [$($sby)?],
                            flag: [],
                            shown: [$($sshown)?],
                            check: [$($scheck)?],
                        },
                    )*)*
                ]
            }
        }
    };
}

pub(super) use {either, setting, settings};
