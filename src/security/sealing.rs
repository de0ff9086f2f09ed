//! Secrets the service must read back (a TOTP factor's shared secret), sealed at rest with
//! XChaCha20-Poly1305 under the secrets key (`BF_SECRETS_KEY`). Each seal binds the ID of what
//! it belongs to as associated data: a sealed value moved onto another row does not open.

use std::io::Write;
use std::path::PathBuf;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::config::{SecretsKey, Settings};
use crate::error::ApiError;

const NONCE_BYTES: usize = 24;

/// Seals and opens with the node's secrets key.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    pub fn new(key: &SecretsKey) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.bytes().into()),
        }
    }

    /// The settings' key; unset on SQLite, the one kept beside the database file (made on the
    /// first start). Unset on PostgreSQL is refused: nodes share no file, and a key each node
    /// made up would leave every other node unable to open what it sealed.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        if let Some(key) = &settings.secrets_key {
            return Ok(Self::new(key));
        }
        let url = settings.database_url.as_str();
        if !url.starts_with("sqlite:") {
            return Err(
                "BF_SECRETS_KEY: must be set on PostgreSQL (32 random bytes in \
                        base64, the same on every node)"
                    .into(),
            );
        }
        match key_file(url) {
            Some(path) => Ok(Self::new(&key_in(&path)?)),
            // An in-memory database ends with the process, and so may its key.
            None => Ok(Self::new(&SecretsKey::new(random_key()))),
        }
    }

    /// Base64 of a fresh nonce and the ciphertext of `plain`, bound to `id`.
    pub fn seal(&self, id: &str, plain: &[u8]) -> Result<String, ApiError> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| ApiError::internal("a secret could not be sealed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// What [`Sealer::seal`] sealed for `id`; an error for anything else (another key, another
    /// ID, a changed byte), never a wrong plaintext.
    pub fn open(&self, id: &str, sealed: &str) -> Result<Vec<u8>, ApiError> {
        let refused = || ApiError::internal(format!("the sealed secret of {id} does not open"));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| refused())?;
        if bytes.len() < NONCE_BYTES {
            return Err(refused());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| refused())
    }
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

/// `<database file>.secrets-key`; none for an in-memory database.
fn key_file(url: &str) -> Option<PathBuf> {
    use std::str::FromStr;
    if url.contains("mode=memory") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
        return None;
    }
    let mut name = path.as_os_str().to_owned();
    name.push(".secrets-key");
    Some(PathBuf::from(name))
}

/// The key in `path`, made there first if the file does not exist, readable by its owner only.
/// Written whole into a file of its own, then linked into place, which fails if the file
/// exists: of two processes starting together one key wins, and neither reads a half-written
/// file.
fn key_in(path: &std::path::Path) -> Result<SecretsKey, String> {
    let shown = path.display();
    if !path.exists() {
        let key = random_key();
        let text = base64::engine::general_purpose::STANDARD.encode(key);
        let mut draft = path.as_os_str().to_owned();
        draft.push(format!(".{:016x}", rand::random::<u64>()));
        let draft = PathBuf::from(draft);
        let written = write_private(&draft, &format!("{text}\n"));
        let linked = written.and_then(|()| std::fs::hard_link(&draft, path));
        let _ = std::fs::remove_file(&draft);
        match linked {
            Ok(()) => {
                tracing::info!(file = %shown, "generated the secrets key (keep it with the database)");
                return Ok(SecretsKey::new(key));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(format!(
                    "the secrets key file {shown} could not be written: {e}"
                ))
            }
        }
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("the secrets key file {shown} could not be read: {e}"))?;
    SecretsKey::parse(&text).map_err(|why| format!("the secrets key file {shown}: {why}"))
}

/// Creates `path` readable and writable by its owner only, with `text`, on disk.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_opens_only_with_its_key_and_id() {
        let sealer = Sealer::new(&SecretsKey::new([7; 32]));
        let sealed = sealer.seal("MFA-1", b"secret").unwrap();
        assert!(!sealed.contains("secret"));
        assert_eq!(sealer.open("MFA-1", &sealed).unwrap(), b"secret");
        assert!(sealer.open("MFA-2", &sealed).is_err());
        let other = Sealer::new(&SecretsKey::new([8; 32]));
        assert!(other.open("MFA-1", &sealed).is_err());
        assert_ne!(sealer.seal("MFA-1", b"secret").unwrap(), sealed);
    }

    #[test]
    fn the_key_file_is_made_once_and_read_after() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bf.db").display());
        let path = key_file(&url).unwrap();
        let first = key_in(&path).unwrap();
        assert_eq!(key_in(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
