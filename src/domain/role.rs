//! What a role is called and how it is described.

use crate::domain::{ids, text, TextKind};
use crate::error::ApiError;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

/// A role's name: trimmed, 1 to 100 characters, no control characters. It may not look like a
/// role ID (`ROL-…`), so `{role}` in a path, an ID or a name, always means one thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleName(String);

impl RoleName {
    pub fn parse(raw: &str, field: &str) -> Result<Self, ApiError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(ApiError::missing(field));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(ApiError::invalid(
                field,
                format!("{field} must be at most {MAX_NAME_CHARS} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                field,
                format!("{field} may not contain control characters"),
            ));
        }
        if looks_like_id(name) {
            return Err(ApiError::invalid(
                field,
                format!(
                    "{field} may not start with {}-, which marks role IDs",
                    ids::ROLE
                ),
            ));
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn looks_like_id(s: &str) -> bool {
    s.get(..ids::ROLE.len() + 1)
        .is_some_and(|head| head.eq_ignore_ascii_case(&format!("{}-", ids::ROLE)))
}

/// A description: trimmed, at most 1000 characters, lines and tabs but no other control
/// characters; empty means none.
pub fn parse_description(raw: &str, field: &str) -> Result<Option<String>, ApiError> {
    text::check(field, TextKind::MultiLine, raw)?;
    let text = raw.trim();
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok((!text.is_empty()).then(|| text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(
            RoleName::parse("  Support desk ", "name").unwrap().as_str(),
            "Support desk"
        );
        for bad in ["", "   ", "a\u{7}b", "ROL-0192", "rol-x"] {
            assert!(RoleName::parse(bad, "name").is_err(), "{bad:?}");
        }
        assert!(RoleName::parse(&"x".repeat(MAX_NAME_CHARS), "name").is_ok());
        assert!(RoleName::parse(&"x".repeat(MAX_NAME_CHARS + 1), "name").is_err());
        assert!(RoleName::parse("ROLE-admin", "name").is_ok());
    }

    #[test]
    fn empty_description_is_none() {
        assert_eq!(parse_description("  ", "description").unwrap(), None);
        assert_eq!(
            parse_description(" x ", "description").unwrap().as_deref(),
            Some("x")
        );
        assert!(parse_description(&"x".repeat(1001), "description").is_err());
        assert!(parse_description("a\0b", "description").is_err());
        assert!(parse_description("two\nlines", "description").is_ok());
    }
}
