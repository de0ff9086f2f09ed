//! How the shell commands answer: human lines or one JSON document on standard output, and
//! where their changes say they come from.

use std::io::{self, Write};

use serde::Serialize;

use crate::error::ApiError;
use crate::origin::{self, Origin};

/// Whether to answer people or programs.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct Format {
    /// Prints one JSON document (the API's field names) instead of lines for people.
    #[arg(long)]
    pub json: bool,
}

/// Why a command failed, as the one line it prints on standard error.
pub type Failure = String;

pub(super) fn failure(e: ApiError) -> Failure {
    crate::error::chain(&e)
}

/// Runs a command as coming from this shell: its audit events carry no client address and, as
/// their user agent, the program and the Unix account that ran it: its uid as the system says,
/// and `USER` as the environment says (when set), e.g. `bf-security/0.1.0 (shell; uid 1000;
/// USER ops)`.
pub(super) async fn as_shell<F: std::future::Future>(f: F) -> F::Output {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|u| format!("; USER {u}"))
        .unwrap_or_default();
    let agent = format!(
        "bf-security/{} (shell; uid {uid}{user})",
        env!("CARGO_PKG_VERSION")
    );
    origin::scope(Origin::new(None, Some(&agent)), f).await
}

/// Standard output, written in one buffer; a reader that went away (`| head`) ends the output
/// quietly.
pub(super) struct Out {
    out: io::BufWriter<io::Stdout>,
}

impl Out {
    pub(super) fn new() -> Self {
        Self {
            out: io::BufWriter::new(io::stdout()),
        }
    }

    pub(super) fn line(&mut self, text: &str) -> io::Result<()> {
        writeln!(self.out, "{text}")
    }

    /// One JSON document, indented.
    pub(super) fn json(&mut self, value: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut self.out, value)?;
        writeln!(self.out)
    }

    /// Ends the output, flushing what is buffered.
    pub(super) fn finish(mut self) -> Result<(), Failure> {
        written(self.out.flush())
    }
}

/// A write error as the command's failure; a closed pipe is none.
pub(super) fn written(result: io::Result<()>) -> Result<(), Failure> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(format!("writing the output: {e}")),
        Ok(()) => Ok(()),
    }
}

/// A list answered a row at a time: lines for people under a header and above a count, or the
/// elements of one JSON array, one per line, so that a list of a million users is one document
/// without being held whole in memory.
pub(super) enum Listing {
    Lines { out: Out, count: u64 },
    Json { out: Out, empty: bool },
}

impl Listing {
    pub(super) fn start(json: bool, header: &str) -> Result<Self, Failure> {
        let mut out = Out::new();
        if json {
            written(write!(out.out, "["))?;
            Ok(Listing::Json { out, empty: true })
        } else {
            written(out.line(header))?;
            Ok(Listing::Lines { out, count: 0 })
        }
    }

    /// Adds a row, as a line or as a JSON value; answers false once the reader went away, when
    /// there is no use reading more.
    pub(super) fn push<V: Serialize>(
        &mut self,
        line: impl FnOnce() -> String,
        value: impl FnOnce() -> V,
    ) -> Result<bool, Failure> {
        let result = match self {
            Listing::Lines { out, count } => {
                *count += 1;
                out.line(&line())
            }
            Listing::Json { out, empty } => {
                let separator = if *empty { "\n" } else { ",\n" };
                *empty = false;
                let value = value();
                write!(out.out, "{separator}").and_then(|()| {
                    serde_json::to_writer(&mut out.out, &value).map_err(io::Error::from)
                })
            }
        };
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
            other => written(other).map(|()| true),
        }
    }

    /// Ends the list: the closing bracket, or the count (`noun` for one, `nouns` for more).
    pub(super) fn finish(self, noun: &str, nouns: &str) -> Result<(), Failure> {
        match self {
            Listing::Lines { mut out, count } => {
                let noun = if count == 1 { noun } else { nouns };
                written(out.line(&format!("{count} {noun}")))?;
                out.finish()
            }
            Listing::Json { mut out, .. } => {
                written(writeln!(out.out, "\n]"))?;
                out.finish()
            }
        }
    }
}
