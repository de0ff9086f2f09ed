//! E-mail addresses. Logins are global: one e-mail is one user across all organizations,
//! compared case-insensitively after trimming.

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// As the user wrote it (trimmed), for display and for sending.
    display: String,
    /// Lower-cased: what uniqueness and look-ups use.
    key: String,
}

impl Email {
    /// `field` names the request field for the 400.
    pub fn parse(raw: &str, field: &str) -> Result<Self, ApiError> {
        let display = raw.trim();
        let bad = |why: &str| ApiError::invalid(field, format!("{field} {why}"));
        if display.is_empty() {
            return Err(ApiError::missing(field));
        }
        if display.len() > 254 {
            return Err(bad("must be at most 254 characters"));
        }
        let (local, domain) = display
            .rsplit_once('@')
            .ok_or_else(|| bad("must look like local@domain"))?;
        let plain =
            |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if !plain(local) || !plain(domain) || local.contains('@') || local.len() > 64 {
            return Err(bad("must look like local@domain"));
        }
        if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
            return Err(bad("must look like local@domain"));
        }
        Ok(Self {
            display: display.to_string(),
            key: display.to_lowercase(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn domain(&self) -> &str {
        self.display.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn trims_and_compares_case_insensitively() {
        let e = Email::parse("  Ann.Lee+billing@Example.COM ", "email").unwrap();
        assert_eq!(e.as_str(), "Ann.Lee+billing@Example.COM");
        assert_eq!(e.key(), "ann.lee+billing@example.com");
        assert_eq!(e.domain(), "Example.COM");
    }

    #[test]
    fn accepts_a_host_without_a_dot() {
        assert!(Email::parse("admin@localhost", "email").is_ok());
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "   ",
            "no-at-sign",
            "@example.com",
            "ann@",
            "ann @x.com",
            "a@b@c",
            "a@.x",
            "a@x..y",
        ] {
            assert!(Email::parse(bad, "email").is_err(), "{bad:?} was accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long, "email").is_err());
    }
}
