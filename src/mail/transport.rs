//! Where mail goes: an SMTP server, or a directory of `.eml` files (development, tests).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailSettings;
use crate::store::outbox::OutboxRow;

/// An SMTP conversation that takes longer fails and is retried.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where mail goes: an SMTP server, or a directory of `.eml` files.
pub(crate) struct Transport {
    from: Mailbox,
    kind: Kind,
}

enum Kind {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Dir(PathBuf),
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

impl Transport {
    /// None when neither `BF_SMTP_URL` nor `BF_MAIL_DIR` is set: mail then stays queued.
    pub(crate) fn from_settings(settings: &MailSettings) -> Result<Option<Self>, String> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| format!("BF_MAIL_FROM: {e} (got {:?})", settings.from))?;
        let kind = match (&settings.smtp_url, &settings.dir) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err("BF_MAIL_DIR: set either BF_SMTP_URL or BF_MAIL_DIR, not both".into())
            }
            (None, Some(dir)) => Kind::Dir(dir.clone()),
            (Some(url), None) => Kind::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| {
                        format!(
                            "BF_SMTP_URL: {e} (expected smtp://host:port, smtp://host:port?tls=required, \
                             or smtps://host:port, with optional user:password@)"
                        )
                    })?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build(),
            ),
        };
        Ok(Some(Self { from, kind }))
    }

    pub(crate) async fn deliver(&self, row: &OutboxRow) -> Result<(), Failure> {
        let to: Mailbox = row.recipient.parse().map_err(Failure::permanent)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&row.subject)
            // The same on every attempt, so a receiver can tell a retry from a new mail.
            .message_id(Some(format!("<{}@bf-security>", row.id)))
            .date(SystemTime::UNIX_EPOCH + Duration::from_millis(row.created.max(0) as u64))
            .header(ContentType::TEXT_PLAIN)
            .body(row.body_text.clone())
            .map_err(Failure::permanent)?;
        match &self.kind {
            Kind::Smtp(smtp) => match smtp.send(message).await {
                Ok(_) => Ok(()),
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
                    .map_err(Failure::transient)
            }
        }
    }
}

/// Writes the file under a temporary name and renames it, so a reader never sees half a mail.
fn write_atomically(dir: &PathBuf, temp: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(temp);
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temp, dir.join(name))
}
