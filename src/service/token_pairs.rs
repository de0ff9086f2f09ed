//! New token pairs (an access token and a refresh token of one family): their rows and the
//! answer carrying their secrets, for logins, refreshes and pairs minted from a token.

use crate::clock::Millis;
use crate::config::TokenSettings;
use crate::domain::{ids, SecretString, TokenKind};
use crate::error::ApiError;
use crate::security::secrets::{self, NewToken};
use crate::store::{self, tokens::TokenRow};

/// A pair issued by a login or a refresh.
pub struct IssuedPair {
    pub access: SecretString,
    pub access_expires_in: i64,
    pub refresh: SecretString,
    pub refresh_expires_in: i64,
    pub organization_id: String,
    /// Acts only in `organization_id` (minted from a bound token).
    pub bound: bool,
    /// May only see its user and enrol a second factor in `organization_id`: it requires one
    /// the login did not pass (`mfa::session_state`'s `enrol`, or the policy turned on since).
    pub enrol_only: bool,
}

impl IssuedPair {
    /// The answer for a pair whose rows are written: the secrets only the caller sees.
    fn of(
        tokens: &TokenSettings,
        access: NewToken,
        refresh: NewToken,
        organization_id: String,
        bound: bool,
    ) -> Self {
        Self {
            access: access.secret,
            access_expires_in: tokens.access_ttl_seconds,
            refresh: refresh.secret,
            refresh_expires_in: tokens.refresh_ttl_seconds,
            organization_id,
            bound,
            // Told by the login that knows how its session stands (`login::open_session`); a
            // pair minted from a token answers no scope.
            enrol_only: false,
        }
    }
}

/// Where a new pair belongs: the refresh family it joins (revoking the family ends it), and
/// whether it acts only in its organization (minted from a bound token) or in all of the
/// user's (a login's).
#[derive(Debug, Clone, Copy)]
pub struct Lineage<'a> {
    pub family: &'a str,
    pub bound: bool,
}

/// The rows of a new access token and refresh token of one family (public for the benchmark,
/// whose ceiling of refreshes writes the very rows a refresh writes).
pub fn pair_rows(
    tokens: &TokenSettings,
    user_id: &str,
    organization_id: &str,
    lineage: Lineage<'_>,
    digests: [&str; 2],
    now: Millis,
) -> [TokenRow; 2] {
    let row = |kind: TokenKind, digest: &str, ttl: i64| TokenRow {
        id: ids::new_id(ids::TOKEN),
        kind,
        digest: digest.into(),
        user_id: user_id.into(),
        organization_id: organization_id.into(),
        family_id: Some(lineage.family.into()),
        description: None,
        created: now,
        expires: Some(now + ttl * 1000),
        revoked: None,
        created_by: Some(user_id.into()),
        bound: lineage.bound,
        successor_salt: (kind == TokenKind::Refresh).then(secrets::new_successor_salt),
    };
    let [access, refresh] = digests;
    [
        row(TokenKind::Access, access, tokens.access_ttl_seconds),
        row(TokenKind::Refresh, refresh, tokens.refresh_ttl_seconds),
    ]
}

/// Issues an access token and a refresh token of one family.
pub(crate) async fn issue_pair(
    tokens: &TokenSettings,
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
    organization_id: &str,
    lineage: Lineage<'_>,
    now: Millis,
) -> Result<IssuedPair, ApiError> {
    let access = secrets::new_token(TokenKind::Access);
    let refresh = secrets::new_token(TokenKind::Refresh);
    let rows = pair_rows(
        tokens,
        user_id,
        organization_id,
        lineage,
        [&access.digest, &refresh.digest],
        now,
    );
    store::tokens::insert(conn, &rows).await?;
    Ok(IssuedPair::of(
        tokens,
        access,
        refresh,
        organization_id.into(),
        lineage.bound,
    ))
}
