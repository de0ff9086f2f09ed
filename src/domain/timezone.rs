//! IANA time zone names, checked against the time zone database bundled into the binary (so
//! the answer does not depend on the host's `/usr/share/zoneinfo`).

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timezone(String);

impl Timezone {
    /// Case-insensitive; keeps the database's spelling (`europe/london` → `Europe/London`).
    pub fn parse(raw: &str, field: &str) -> Result<Self, ApiError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(ApiError::missing(field));
        }
        let bad = || {
            ApiError::invalid(
                field,
                format!("{field} must be an IANA time zone name such as Europe/London"),
            )
        };
        let zone = jiff::tz::db().get(name).map_err(|_| bad())?;
        Ok(Self(zone.iana_name().ok_or_else(bad)?.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Timezone;

    #[test]
    fn knows_the_iana_names() {
        assert_eq!(
            Timezone::parse(" europe/london ", "timezone")
                .unwrap()
                .as_str(),
            "Europe/London"
        );
        assert_eq!(Timezone::parse("UTC", "timezone").unwrap().as_str(), "UTC");
        for bad in [
            "",
            "Mars/Olympus",
            "GMT+25",
            "EST5EDT,M3.2.0,M11.1.0",
            "../etc/passwd",
        ] {
            assert!(Timezone::parse(bad, "timezone").is_err(), "{bad:?}");
        }
    }
}
