//! A new password, accepted only under the password policy.

use crate::domain::{Email, SecretString, TextKind};
use crate::error::ApiError;

/// What a new password must satisfy.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    /// The fewest characters.
    pub min_length: usize,
    /// The most bytes.
    pub max_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct NewPassword(SecretString);

impl NewPassword {
    pub fn parse(
        raw: &SecretString,
        field: &str,
        policy: &PasswordPolicy,
        email: &Email,
    ) -> Result<Self, ApiError> {
        let text = raw.expose();
        if text.is_empty() {
            return Err(ApiError::missing(field));
        }
        crate::domain::text::check(field, TextKind::Secret, text)?;
        if text.chars().count() < policy.min_length {
            return Err(ApiError::invalid(
                field,
                format!(
                    "{field} must be at least {} characters long",
                    policy.min_length
                ),
            ));
        }
        if text.len() > policy.max_bytes {
            return Err(ApiError::invalid(
                field,
                format!("{field} must be at most {} bytes long", policy.max_bytes),
            ));
        }
        if text.trim().to_lowercase() == email.key() {
            return Err(ApiError::invalid(
                field,
                format!("{field} must not be the e-mail address"),
            ));
        }
        Ok(Self(raw.clone()))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pw: &str) -> Result<NewPassword, ApiError> {
        let email = Email::parse("longer.name@example.com", "email").unwrap();
        NewPassword::parse(
            &SecretString::new(pw),
            "password",
            &PasswordPolicy {
                min_length: 10,
                max_bytes: 1024,
            },
            &email,
        )
    }

    #[test]
    fn names_the_rule_that_failed() {
        assert!(check("short")
            .unwrap_err()
            .to_string()
            .contains("at least 10"));
        assert!(check(&"x".repeat(1025))
            .unwrap_err()
            .to_string()
            .contains("at most 1024"));
        assert!(check("Longer.Name@example.com")
            .unwrap_err()
            .to_string()
            .contains("e-mail"));
        assert!(check("correct horse\0battery").is_err());
        assert!(check("correct horse battery").is_ok());
    }
}
