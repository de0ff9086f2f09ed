//! Structured logs through `tracing`, as text or JSON. `RUST_LOG` filters (default `info`).

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the subscriber. Lines are formatted on the request's thread and written to stderr
/// by a thread of their own, in batches (one system call for all the lines waiting, not one
/// per line), so a request never waits for the terminal or the file behind stderr. The writer
/// blocks rather than drop a line when it falls behind. Keep the guard until exit: dropping it
/// writes what is still queued.
pub fn init(format: LogFormat) -> WorkerGuard {
    init_at(format, "info")
}

/// As [`init`], logging from `level` on unless `RUST_LOG` says otherwise: a shell command
/// answers on stdout and stderr itself, where the server's lines would be noise.
pub fn init_at(format: LogFormat, level: &str) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    use std::io::IsTerminal;
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("bf-security-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    guard
}

/// A database URL fit for a log line: the password masked.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks_the_password_only() {
        assert_eq!(
            super::mask_url("postgres://bf:s3cret@db:5432/bf"),
            "postgres://bf:***@db:5432/bf"
        );
        assert_eq!(
            super::mask_url("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(
            super::mask_url("sqlite://bf-security.db"),
            "sqlite://bf-security.db"
        );
    }
}
