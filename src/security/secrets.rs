//! Secrets handed to callers: bearer tokens and codes. They come from the OS random source and
//! are stored only as SHA-256 digests.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::SecretString;

pub use crate::domain::TokenKind;

/// A token's first characters say what it is for, so a leaked token is recognisable by secret
/// scanners.
impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Access => "bfsa_",
            TokenKind::Refresh => "bfsr_",
            TokenKind::Permanent => "bfsp_",
        }
    }

    /// The kind a presented secret claims by its prefix.
    pub fn of_secret(secret: &str) -> Option<Self> {
        [TokenKind::Access, TokenKind::Refresh, TokenKind::Permanent]
            .into_iter()
            .find(|k| secret.starts_with(k.prefix()))
    }
}

/// A freshly made token: the secret for the caller, the digest for the store.
pub struct NewToken {
    pub secret: SecretString,
    pub digest: String,
}

/// 256 bits from the OS, URL-safe, behind the kind's prefix.
pub fn new_token(kind: TokenKind) -> NewToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    token_of(kind, bytes)
}

fn token_of(kind: TokenKind, bytes: [u8; 32]) -> NewToken {
    let secret = format!(
        "{}{}",
        kind.prefix(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    NewToken {
        digest: digest(&secret),
        secret: SecretString::new(secret),
    }
}

/// A random value stored with a refresh token, from which its successors are derived.
pub fn new_successor_salt() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The access and refresh tokens that succeed the refresh token `secret` at its rotation:
/// HMAC-SHA-256 keyed with its secret, of its stored salt. The same every time, so a repeated
/// refresh can be answered with the same pair without storing it; underivable from the store
/// alone (it holds only the secret's digest) and from the token alone (the salt never leaves
/// the store).
pub fn successors(secret: &str, salt: &str) -> (NewToken, NewToken) {
    use hmac::{Hmac, Mac};
    let derive = |kind: TokenKind| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(kind.as_str().as_bytes());
        mac.update(b":");
        mac.update(salt.as_bytes());
        token_of(kind, mac.finalize().into_bytes().into())
    };
    (derive(TokenKind::Access), derive(TokenKind::Refresh))
}

/// Hex SHA-256 of a secret: what the store keeps and looks up.
pub fn digest(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in d {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Compares two digests without an early exit.
pub fn same_digest(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Crockford's base32: no I, L, O or U, so a person reading a code aloud or typing it cannot
/// mistake one symbol for another.
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// 10 symbols of 5 bits: 50 bits. Enough for a code that dies after a few wrong tries and
/// within hours or days, and short enough to type.
pub const CODE_LENGTH: usize = 10;

/// A code meant to be typed by a person (reset, invitation): the code for the mail, the digest
/// for the store.
pub fn new_code() -> NewToken {
    let mut bytes = [0u8; CODE_LENGTH];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // 256 is a multiple of 32: masking keeps every symbol equally likely.
    let code: String = bytes
        .iter()
        .map(|b| CODE_ALPHABET[(b & 31) as usize] as char)
        .collect();
    NewToken {
        digest: code_digest(&code),
        secret: SecretString::new(code),
    }
}

/// The digest of a code as a person typed it: case, spaces and dashes do not matter, and the
/// letters Crockford's alphabet leaves out read as the digits they look like.
pub fn code_digest(typed: &str) -> String {
    let normal: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        })
        .collect();
    digest(&normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_prefixed_and_distinct() {
        let a = new_token(TokenKind::Permanent);
        let b = new_token(TokenKind::Permanent);
        assert!(a.secret.expose().starts_with("bfsp_"));
        assert!(a.secret.expose().len() >= 5 + 43);
        assert_ne!(a.secret.expose(), b.secret.expose());
        assert_eq!(a.digest, digest(a.secret.expose()));
        assert_eq!(
            TokenKind::of_secret(a.secret.expose()),
            Some(TokenKind::Permanent)
        );
        assert!(same_digest(&a.digest, &digest(a.secret.expose())));
        assert!(!same_digest(&a.digest, &b.digest));
    }

    #[test]
    fn successors_depend_on_the_secret_and_the_salt() {
        let (a, r) = successors("bfsr_one", "salt");
        assert!(a.secret.expose().starts_with("bfsa_"));
        assert!(r.secret.expose().starts_with("bfsr_"));
        assert_eq!(
            r.secret.expose().len(),
            new_token(TokenKind::Refresh).secret.expose().len()
        );
        assert_eq!(r.digest, digest(r.secret.expose()));
        let (a2, r2) = successors("bfsr_one", "salt");
        assert_eq!(
            (a.digest.as_str(), r.digest.as_str()),
            (a2.digest.as_str(), r2.digest.as_str())
        );
        assert_ne!(successors("bfsr_two", "salt").1.digest, r.digest);
        assert_ne!(successors("bfsr_one", "pepper").1.digest, r.digest);
        assert_ne!(a.digest, r.digest);
    }

    #[test]
    fn codes_are_typed_forgivingly() {
        let c = new_code();
        let code = c.secret.expose();
        assert_eq!(code.len(), CODE_LENGTH);
        assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        let typed = format!(" {}-{} ", &code[..5].to_lowercase(), &code[5..]);
        assert_eq!(code_digest(&typed), c.digest);
        assert_eq!(code_digest("abcdefghio"), code_digest("ABCDEFGH10"));
    }
}
