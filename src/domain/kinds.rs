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

/// How an invitation ended; while it lives it has no end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvitationEnd {
    /// The invitee joined.
    Accepted,
    /// The invitee said no.
    Declined,
    /// Its organization took it back.
    Revoked,
    /// A newer invitation of the same organization took its place.
    Replaced,
}

impl InvitationEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationEnd::Accepted => "accepted",
            InvitationEnd::Declined => "declined",
            InvitationEnd::Revoked => "revoked",
            InvitationEnd::Replaced => "replaced",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "accepted" => Some(InvitationEnd::Accepted),
            "declined" => Some(InvitationEnd::Declined),
            "revoked" => Some(InvitationEnd::Revoked),
            "replaced" => Some(InvitationEnd::Replaced),
            _ => None,
        }
    }
}

/// Where an invitation stands, as its organization lists it. A replaced invitation counts as
/// revoked: the organization took it back by inviting again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvitationState {
    Pending,
    Accepted,
    Declined,
    Expired,
    Revoked,
}

impl InvitationState {
    pub const ALL: [InvitationState; 5] = [
        InvitationState::Pending,
        InvitationState::Accepted,
        InvitationState::Declined,
        InvitationState::Expired,
        InvitationState::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Pending => "pending",
            InvitationState::Accepted => "accepted",
            InvitationState::Declined => "declined",
            InvitationState::Expired => "expired",
            InvitationState::Revoked => "revoked",
        }
    }

    /// Case-insensitive, as query parameters are typed.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The state of an invitation that ended so, or, without an end, whose code may still be
    /// used (`usable`) or not.
    pub fn of(end: Option<InvitationEnd>, usable: bool) -> Self {
        match end {
            Some(InvitationEnd::Accepted) => InvitationState::Accepted,
            Some(InvitationEnd::Declined) => InvitationState::Declined,
            Some(InvitationEnd::Revoked | InvitationEnd::Replaced) => InvitationState::Revoked,
            None if usable => InvitationState::Pending,
            None => InvitationState::Expired,
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
        for e in [
            InvitationEnd::Accepted,
            InvitationEnd::Declined,
            InvitationEnd::Revoked,
            InvitationEnd::Replaced,
        ] {
            assert_eq!(InvitationEnd::parse(e.as_str()), Some(e));
        }
        for s in InvitationState::ALL {
            assert_eq!(InvitationState::parse(&s.as_str().to_uppercase()), Some(s));
        }
        assert_eq!(InvitationState::parse("replaced"), None);
    }
}
