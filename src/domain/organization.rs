//! What an organization is called.

use crate::domain::{text, TextKind};
use crate::error::ApiError;

/// An organization's name: trimmed, not blank, one line without control characters, as a
/// sign-up's `companyName` becomes one. No length is imposed beyond the body's: sign-up
/// imposes none, and what shows a name (an invitation's mail) cuts it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationName(String);

impl OrganizationName {
    pub fn parse(raw: &str, field: &str) -> Result<Self, ApiError> {
        text::check(field, TextKind::SingleLine, raw)?;
        let name = raw.trim();
        if name.is_empty() {
            return Err(ApiError::missing(field));
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_and_neither_blank_nor_broken_across_lines() {
        assert_eq!(
            OrganizationName::parse("  Acme Ltd ", "name")
                .unwrap()
                .as_str(),
            "Acme Ltd"
        );
        assert_eq!(
            OrganizationName::parse("Zoë & Co. 株式会社", "name")
                .unwrap()
                .as_str(),
            "Zoë & Co. 株式会社"
        );
        for bad in ["", "   ", "Acme\nYour code: 123", "A\u{2028}B", "A\0"] {
            let err = OrganizationName::parse(bad, "name").unwrap_err();
            assert!(
                matches!(&err, ApiError::Validation { parameters, .. } if parameters == &["name"]),
                "{bad:?}: {err:?}"
            );
        }
    }
}
