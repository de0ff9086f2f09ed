//! The kinds of stored credentials, as the store spells them.

/// What a bearer token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    Access,
    Refresh,
    Permanent,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
            TokenKind::Permanent => "permanent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "access" => Some(TokenKind::Access),
            "refresh" => Some(TokenKind::Refresh),
            "permanent" => Some(TokenKind::Permanent),
            _ => None,
        }
    }
}

/// What a code typed by a person is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeKind {
    Reset,
    Invite,
}

impl CodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeKind::Reset => "reset",
            CodeKind::Invite => "invite",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reset" => Some(CodeKind::Reset),
            "invite" => Some(CodeKind::Invite),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_as_written() {
        for k in [TokenKind::Access, TokenKind::Refresh, TokenKind::Permanent] {
            assert_eq!(TokenKind::parse(k.as_str()), Some(k));
        }
        for k in [CodeKind::Reset, CodeKind::Invite] {
            assert_eq!(CodeKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(TokenKind::parse("Access"), None);
    }
}
