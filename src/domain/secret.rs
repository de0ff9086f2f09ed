//! A string that never shows itself in `Debug` or `Display`, so a password or token cannot reach
//! a log by accident.

use serde::Deserialize;

#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself; call only where it is used (hashing, digesting, sending).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_does_not_print_the_secret() {
        let s = super::SecretString::new("hunter2hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
    }
}
