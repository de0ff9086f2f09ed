//! What characters text from outside may hold. PostgreSQL refuses NUL in text (SQLite would
//! store it and cut it short elsewhere), and a line break or other control character in a name,
//! an ID, an address or a query value has no use but to mislead whoever reads it later: a mail,
//! a log line, an administrator's screen. The edge checks every string of a request this way.

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Names, IDs, addresses, codes, query values: no control characters at all, nor the
    /// Unicode line and paragraph separators.
    SingleLine,
    /// Descriptions: line breaks and tabs, but no other control characters.
    MultiLine,
    /// Passwords: anything but NUL, since what a person chose to type is his business.
    Secret,
}

/// A 400 naming `field` when `value` holds a character its kind does not allow.
pub fn check(field: &str, kind: TextKind, value: &str) -> Result<(), ApiError> {
    match fault(kind, value) {
        None => Ok(()),
        Some(why) => Err(ApiError::invalid(field, format!("{field} {why}"))),
    }
}

/// Why `value` is not text of its kind, if it is not.
pub fn fault(kind: TextKind, value: &str) -> Option<&'static str> {
    if value.contains('\0') {
        return Some("may not contain NUL characters");
    }
    let refused = |c: char| match kind {
        TextKind::SingleLine => breaks_lines(c),
        TextKind::MultiLine => breaks_lines(c) && !matches!(c, '\n' | '\r' | '\t'),
        TextKind::Secret => false,
    };
    if !value.chars().any(refused) {
        None
    } else if kind == TextKind::MultiLine {
        Some("may not contain control characters other than line breaks and tabs")
    } else {
        Some("may not contain control characters or line breaks")
    }
}

fn breaks_lines(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_refused_everywhere_and_other_controls_by_kind() {
        for kind in [TextKind::SingleLine, TextKind::MultiLine, TextKind::Secret] {
            assert!(check("f", kind, "a\0b").is_err(), "{kind:?}");
            assert!(check("f", kind, "Zoë & Co. 株式会社").is_ok(), "{kind:?}");
        }
        for bad in [
            "a\nb",
            "a\rb",
            "a\tb",
            "a\u{7}b",
            "a\u{7f}b",
            "a\u{85}b",
            "a\u{2028}b",
        ] {
            assert!(check("f", TextKind::SingleLine, bad).is_err(), "{bad:?}");
            assert!(check("f", TextKind::Secret, bad).is_ok(), "{bad:?}");
        }
        assert!(check("f", TextKind::MultiLine, "line one\r\n\tline two").is_ok());
        assert!(check("f", TextKind::MultiLine, "a\u{1b}[31mred").is_err());
        let err = check("firstName", TextKind::SingleLine, "A\u{0}").unwrap_err();
        assert!(
            matches!(err, ApiError::Validation { parameters, .. } if parameters == ["firstName"])
        );
    }
}
