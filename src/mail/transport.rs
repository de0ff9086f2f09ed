//! Where mail goes: an SMTP server, or a directory of `.eml` files (development, tests, and a
//! fresh SQLite install, whose mail goes into a `mail` folder beside its database file).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailDelivery, Settings};
use crate::store::outbox::OutboxRow;

/// An SMTP conversation that takes longer fails and is retried.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The folder beside the SQLite file that mail goes into when no mail setting says otherwise.
pub const DEFAULT_DIR_NAME: &str = "mail";

/// Where mail goes: an SMTP server, or a directory of `.eml` files.
pub(crate) struct Transport {
    from: Mailbox,
    kind: Kind,
}

enum Kind {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Dir(PathBuf),
}

/// Where the settings send mail, as the start of `serve` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `BF_SMTP_URL`, its password masked.
    Smtp(String),
    /// `BF_MAIL_DIR`.
    Dir(PathBuf),
    /// No mail setting on SQLite: the `mail` folder beside the database file.
    BesideDatabase(PathBuf),
    /// `BF_MAIL_DELIVERY=outbox`: nowhere, on purpose.
    Held,
    /// No mail setting and no database file to put a folder beside (PostgreSQL, an SQLite
    /// database in memory): the mail waits in the outbox until a transport is set.
    Nowhere,
}

/// Why one delivery failed; a permanent failure is not retried.
pub(crate) struct Failure {
    pub(crate) permanent: bool,
    pub(crate) message: String,
}

impl Failure {
    fn permanent(e: impl std::fmt::Display) -> Self {
        Self {
            permanent: true,
            message: e.to_string(),
        }
    }

    fn transient(e: impl std::fmt::Display) -> Self {
        Self {
            permanent: false,
            message: e.to_string(),
        }
    }
}

/// The database file of a SQLite URL (`sqlite://FILE`, `sqlite:FILE`, options after `?`), read
/// as sqlx reads it; none for any other database or a database in memory.
pub fn sqlite_file(database_url: &str) -> Option<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let (file, options) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = file.is_empty()
        || file == ":memory:"
        || form_urlencoded::parse(options.as_bytes()).any(|(k, v)| k == "mode" && v == "memory");
    if in_memory {
        return None;
    }
    let options: sqlx::sqlite::SqliteConnectOptions = database_url.parse().ok()?;
    Some(options.get_filename().to_path_buf())
}

/// The folder beside a SQLite database file; absolute when the working directory is known, so
/// that the line saying where mail goes can be followed from anywhere.
fn beside(file: &Path) -> PathBuf {
    let dir = file
        .parent()
        .unwrap_or(Path::new(""))
        .join(DEFAULT_DIR_NAME);
    std::path::absolute(&dir).unwrap_or(dir)
}

impl Transport {
    /// The transport the settings ask for, and where it sends mail; no transport when mail is
    /// held in the outbox (`BF_MAIL_DELIVERY=outbox`) or there is nowhere to put it.
    pub(crate) fn from_settings(
        settings: &Settings,
    ) -> Result<(Option<Self>, Destination), String> {
        let mail = &settings.mail;
        let from: Mailbox = mail
            .from
            .parse()
            .map_err(|e| format!("BF_MAIL_FROM: {e} (got {:?})", mail.from))?;
        let (kind, destination) = match (&mail.smtp_url, &mail.dir) {
            (Some(_), Some(_)) => {
                return Err("BF_MAIL_DIR: set either BF_SMTP_URL or BF_MAIL_DIR, not both".into())
            }
            (None, Some(dir)) => (Some(Kind::Dir(dir.clone())), Destination::Dir(dir.clone())),
            (Some(url), None) => (
                Some(Kind::Smtp(
                    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                        .map_err(|e| {
                            format!(
                                "BF_SMTP_URL: {e} (expected smtp://host:port, \
                                 smtp://host:port?tls=required, or smtps://host:port, with \
                                 optional user:password@)"
                            )
                        })?
                        .timeout(Some(SMTP_TIMEOUT))
                        .build(),
                )),
                Destination::Smtp(crate::telemetry::mask_url(url)),
            ),
            (None, None) => match sqlite_file(&settings.database_url) {
                Some(file) => {
                    let dir = beside(&file);
                    (
                        Some(Kind::Dir(dir.clone())),
                        Destination::BesideDatabase(dir),
                    )
                }
                None => (None, Destination::Nowhere),
            },
        };
        if mail.delivery == MailDelivery::Outbox {
            if matches!(destination, Destination::Smtp(_) | Destination::Dir(_)) {
                return Err(
                    "BF_MAIL_DELIVERY: outbox delivers no mail; unset BF_SMTP_URL and \
                     BF_MAIL_DIR, or deliver with auto"
                        .into(),
                );
            }
            return Ok((None, Destination::Held));
        }
        Ok((kind.map(|kind| Self { from, kind }), destination))
    }

    /// Delivers one mail; answers the file it wrote, when it went into a folder.
    pub(crate) async fn deliver(&self, row: &OutboxRow) -> Result<Option<PathBuf>, Failure> {
        let to: Mailbox = row.recipient.parse().map_err(Failure::permanent)?;
        let body = match self.kind {
            Kind::Dir(_) => as_written(&row.body_text),
            // What any relay passes on: lettre's choice of encoding.
            Kind::Smtp(_) => Body::new(row.body_text.clone()),
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&row.subject)
            // The same on every attempt, so a receiver can tell a retry from a new mail.
            .message_id(Some(format!("<{}@bf-security>", row.id)))
            .date(SystemTime::UNIX_EPOCH + Duration::from_millis(row.created.max(0) as u64))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(Failure::permanent)?;
        match &self.kind {
            Kind::Smtp(smtp) => match smtp.send(message).await {
                Ok(_) => Ok(None),
                Err(e) if e.is_permanent() => Err(Failure::permanent(e)),
                Err(e) => Err(Failure::transient(e)),
            },
            Kind::Dir(dir) => {
                let dir = dir.clone();
                // The attempt in the name: a second delivery of a mail (a node stopped between
                // delivering and marking it) is a second file, not an overwrite.
                let name = format!("{}-{}-{}.eml", row.created, row.id, row.attempts);
                let temp = format!(".{}-{}.tmp", row.id, row.attempts);
                let bytes = message.formatted();
                tokio::task::spawn_blocking(move || write_atomically(&dir, &temp, &name, &bytes))
                    .await
                    .map_err(Failure::transient)?
                    .map(Some)
                    .map_err(Failure::transient)
            }
        }
    }
}

/// A body for a file, which people read too: the text as written, 8bit (UTF-8 as it is, no soft
/// line breaks, no base64 hiding the code), as RFC 5322 allows for lines up to 998 bytes; a
/// text that does not fit gets lettre's encoding.
fn as_written(text: &str) -> Body {
    if text.contains('\0') || text.lines().any(|l| l.len() > 998) {
        return Body::new(text.to_string());
    }
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::EightBit)
}

/// Writes the file under a temporary name and renames it, so a reader never sees half a mail;
/// answers its path. A folder it creates, and every file, are the service's user's alone: a
/// mail may hold a live code.
fn write_atomically(dir: &Path, temp: &str, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    folder.mode(0o700);
    folder.create(dir)?;
    let temp = dir.join(temp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    let path = dir.join(name);
    std::fs::rename(&temp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::sqlite_file;
    use std::path::PathBuf;

    #[test]
    fn the_sqlite_file_is_read_from_the_url_as_sqlx_reads_it() {
        for (url, file) in [
            ("sqlite://bf-security.db", Some("bf-security.db")),
            ("sqlite:data/bf.db", Some("data/bf.db")),
            (
                "sqlite:///var/lib/bf/bf.db?mode=rwc",
                Some("/var/lib/bf/bf.db"),
            ),
            ("sqlite://my%3Fdb.db", Some("my?db.db")),
            ("sqlite::memory:", None),
            ("sqlite://:memory:", None),
            ("sqlite://bf.db?mode=memory", None),
            ("sqlite://", None),
            ("postgres://postgres@127.0.0.1/test", None),
        ] {
            assert_eq!(sqlite_file(url), file.map(PathBuf::from), "{url}");
        }
    }
}
