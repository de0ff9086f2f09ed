//! Time-based one-time passwords (RFC 6238), as every authenticator app computes them: HMAC-SHA-1
//! of the 30-second time step, dynamically truncated to 6 digits (RFC 4226 §5.3); the secret is
//! shown to the user in base32 (RFC 4648) inside an `otpauth://` URI.

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::clock::Millis;

/// Seconds a code lives: RFC 6238's default, the only step authenticator apps agree on.
pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: usize = 6;
/// Steps either side of the current one a code is accepted from: a phone's clock a little off,
/// or a code typed as it turned over (RFC 6238 §5.2 recommends at most one).
pub const DRIFT_STEPS: i64 = 1;
/// 160 bits, the length RFC 4226 §4 recommends for HMAC-SHA-1.
pub const SECRET_BYTES: usize = 20;
/// The issuer authenticator apps show beside the account.
pub const ISSUER: &str = "BillForward";

/// The time step of a moment.
pub fn step_at(now: Millis) -> i64 {
    now.div_euclid(1000 * STEP_SECONDS)
}

/// The code of a step.
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(&step.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = (hash[hash.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    format!("{:0width$}", bin % 10u32.pow(DIGITS as u32), width = DIGITS)
}

/// The step whose code `typed` is, among those within the drift of `now`'s and after `last`
/// (the last step accepted, so a code is used once); `None` if it is none of them. Every
/// candidate is computed and compared without an early exit, so the answer's timing says
/// nothing about which step matched.
pub fn matching_step(secret: &[u8], typed: &str, now: Millis, last: Option<i64>) -> Option<i64> {
    use subtle::ConstantTimeEq;
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut found = None;
    for step in current - DRIFT_STEPS..=current + DRIFT_STEPS {
        let same: bool = code_at_step(secret, step)
            .as_bytes()
            .ct_eq(typed.as_bytes())
            .into();
        if same && last.is_none_or(|l| step > l) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, as `otpauth://` URIs carry secrets.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The enrolment URI authenticator apps read from a QR code (Google Authenticator's key URI
/// format): issuer and label (the user's e-mail) percent-encoded.
pub fn otpauth_uri(secret: &[u8], label: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    // `+` for a space is form encoding; a URI path wants `%20`.
    let enc = |s: &str| enc(s).replace('+', "%20");
    format!(
        "otpauth://totp/{issuer}:{label}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        issuer = enc(ISSUER),
        label = enc(label),
        secret = base32(secret),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows, 8 digits truncated to our 6.
    #[test]
    fn codes_match_the_rfc_test_vectors() {
        let secret = b"12345678901234567890";
        for (seconds, eight) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
        ] {
            let code = code_at_step(secret, step_at(seconds * 1000));
            assert_eq!(code, eight[2..], "at {seconds}");
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_once() {
        let secret = b"12345678901234567890";
        let now = 1_700_000_000_000;
        let step = step_at(now);
        for drift in [-1, 0, 1] {
            let code = code_at_step(secret, step + drift);
            assert_eq!(matching_step(secret, &code, now, None), Some(step + drift));
            assert_eq!(matching_step(secret, &code, now, Some(step + drift)), None);
        }
        for drift in [-2, 2] {
            let code = code_at_step(secret, step + drift);
            assert_eq!(matching_step(secret, &code, now, None), None);
        }
        assert_eq!(matching_step(secret, "12345", now, None), None);
        assert_eq!(matching_step(secret, "abcdef", now, None), None);
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"12345678901234567890").len(), 32);
    }

    #[test]
    fn the_uri_names_issuer_and_account() {
        let uri = otpauth_uri(b"foobar", "a+b@example.com");
        assert!(uri.starts_with("otpauth://totp/BillForward:a%2Bb%40example.com?secret=MZXW6YTBOI&issuer=BillForward"), "{uri}");
    }
}
