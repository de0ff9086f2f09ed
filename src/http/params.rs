//! Query parameters, parsed and checked in one place: paging, ordering, flags and the
//! organizations a request acts in. Out-of-range or unknown values are a 400, never clamped.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::domain::{text, TextKind};
use crate::error::ApiError;

pub const MAX_RECORDS: i64 = 500;
pub const DEFAULT_RECORDS: i64 = 10;

/// The raw query, keeping repeated keys (`organizations=A&organizations=B`).
#[derive(Debug, Default, Clone)]
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let params = Self::parse(parts.uri.query().unwrap_or(""));
        params.check()?;
        Ok(params)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

impl Order {
    pub fn sql(self) -> &'static str {
        match self {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Paging {
    pub offset: i64,
    pub records: i64,
    /// One of the names the operation allows, as given there.
    pub order_by: &'static str,
    pub order: Order,
}

impl QueryParams {
    pub fn parse(query: &str) -> Self {
        Self(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Every name and value is single-line text: no NUL, no control characters (`%00`, `%0A`).
    pub fn check(&self) -> Result<(), ApiError> {
        for (name, value) in &self.0 {
            if let Some(why) = text::fault(TextKind::SingleLine, name) {
                return Err(ApiError::invalid(
                    "query",
                    format!("a query parameter's name {why}"),
                ));
            }
            text::check(name, TextKind::SingleLine, value)?;
        }
        Ok(())
    }

    /// The single value of a parameter; the last one wins if it is repeated.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter; a comma-separated value counts as several.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    }

    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(false),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(_) => Err(ApiError::invalid(
                name,
                format!("{name} must be true or false"),
            )),
        }
    }

    /// `order_by` must be one of `allowed` (the first is not the default: `created` is).
    pub fn paging(&self, allowed: &[&'static str]) -> Result<Paging, ApiError> {
        let offset = match self.get("offset") {
            None => 0,
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|o| *o >= 0)
                .ok_or_else(|| {
                    ApiError::invalid("offset", "offset must be a whole number of at least 0")
                })?,
        };
        let records = match self.get("records") {
            None => DEFAULT_RECORDS,
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|r| (1..=MAX_RECORDS).contains(r))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "records",
                        format!("records must be between 1 and {MAX_RECORDS}"),
                    )
                })?,
        };
        let order_by = match self.get("order_by") {
            None => "created",
            Some(v) => allowed
                .iter()
                .copied()
                .find(|a| a.eq_ignore_ascii_case(v.trim()))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "order_by",
                        format!("order_by must be one of {}", allowed.join(", ")),
                    )
                })?,
        };
        let order = match self.get("order").map(|v| v.trim().to_ascii_uppercase()) {
            None => Order::Desc,
            Some(v) if v == "ASC" => Order::Asc,
            Some(v) if v == "DESC" => Order::Desc,
            Some(_) => return Err(ApiError::invalid("order", "order must be ASC or DESC")),
        };
        Ok(Paging {
            offset,
            records,
            order_by,
            order,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_defaults_and_limits() {
        let p = QueryParams::parse("")
            .paging(&["created", "updated", "name"])
            .unwrap();
        assert_eq!(
            (p.offset, p.records, p.order_by, p.order),
            (0, 10, "created", Order::Desc)
        );
        let p = QueryParams::parse("offset=20&records=500&order_by=NAME&order=asc")
            .paging(&["created", "updated", "name"])
            .unwrap();
        assert_eq!(
            (p.offset, p.records, p.order_by, p.order),
            (20, 500, "name", Order::Asc)
        );
        for (q, field) in [
            ("offset=-1", "offset"),
            ("offset=x", "offset"),
            ("records=0", "records"),
            ("records=501", "records"),
            ("order_by=email", "order_by"),
            ("order=up", "order"),
        ] {
            match QueryParams::parse(q).paging(&["created", "updated", "name"]) {
                Err(ApiError::Validation { parameters, .. }) => {
                    assert_eq!(parameters, vec![field], "{q}")
                }
                other => panic!("{q}: {other:?}"),
            }
        }
    }

    #[test]
    fn control_characters_are_refused_naming_the_parameter() {
        for (q, field) in [
            ("organizations=%00", "organizations"),
            ("organizations=ORG-1&organizations=ORG%0A2", "organizations"),
            ("order_by=name%09", "order_by"),
            ("x%00=1", "query"),
        ] {
            match QueryParams::parse(q).check() {
                Err(ApiError::Validation { parameters, .. }) => {
                    assert_eq!(parameters, vec![field], "{q}")
                }
                other => panic!("{q}: {other:?}"),
            }
        }
        assert!(QueryParams::parse("organizations=ORG%201&records=5")
            .check()
            .is_ok());
    }

    #[test]
    fn repeated_and_comma_separated_organizations() {
        let q = QueryParams::parse("organizations=ORG-1&organizations=ORG-2,ORG-3");
        assert_eq!(q.all("organizations"), vec!["ORG-1", "ORG-2", "ORG-3"]);
        assert!(q.flag("include_retired").is_ok_and(|f| !f));
        assert!(QueryParams::parse("include_retired=yes")
            .flag("include_retired")
            .is_err());
    }
}
