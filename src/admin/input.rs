//! A password given to a shell command: read from standard input, never from an argument,
//! which every user of the machine could read in `ps` and the shell would keep in its history.

use std::io::{self, BufRead};

use crate::domain::SecretString;

/// The first line of standard input, without its line ending. At a terminal it asks for it on
/// standard error and does not echo what is typed.
pub(super) fn password_from_stdin(prompt: &str) -> Result<SecretString, String> {
    let terminal = Quiet::at_terminal(prompt);
    let mut line = Vec::new();
    let read = io::stdin().lock().read_until(b'\n', &mut line);
    drop(terminal);
    read.map_err(|e| format!("--password-stdin: reading standard input: {e}"))?;
    if line.is_empty() {
        return Err("--password-stdin: standard input held no password".into());
    }
    for ending in [&b"\n"[..], b"\r"] {
        if line.ends_with(ending) {
            line.pop();
        }
    }
    String::from_utf8(line)
        .map(SecretString::new)
        .map_err(|_| "--password-stdin: the password is not UTF-8".into())
}

/// A terminal whose echo is off until this is dropped; nothing when standard input is no
/// terminal (a pipe, a file).
struct Quiet {
    before: Option<libc::termios>,
}

impl Quiet {
    fn at_terminal(prompt: &str) -> Self {
        let fd = libc::STDIN_FILENO;
        // SAFETY: isatty only inspects the descriptor.
        if unsafe { libc::isatty(fd) } != 1 {
            return Self { before: None };
        }
        eprint!("{prompt}");
        let mut settings = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr fills the termios it is given when it answers 0, and only then is
        // it read.
        let before = unsafe {
            if libc::tcgetattr(fd, settings.as_mut_ptr()) != 0 {
                return Self { before: None };
            }
            settings.assume_init()
        };
        let mut quiet = before;
        // No echo, but the Enter that ends the line still moves to the next one.
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: quiet is a valid termios copied from the terminal's own.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
        Self {
            before: Some(before),
        }
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        if let Some(before) = &self.before {
            // SAFETY: puts back the settings read from this terminal.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, before) };
        }
    }
}
