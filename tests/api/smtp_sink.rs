//! A tiny SMTP server on loopback that records what it is sent: enough of RFC 5321 for a real
//! client (greeting, EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT). It can refuse
//! the first transactions with a transient 451, as a busy server would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent after DATA, dots unstuffed, lines ending in CRLF.
    pub data: String,
}

impl Received {
    /// Whether some line of the message is exactly `text`.
    pub fn has_line(&self, text: &str) -> bool {
        self.data.lines().any(|l| l.trim_end_matches('\r') == text)
    }

    /// The body as its author wrote it: undone the quoted-printable or base64 transfer encoding
    /// a body that is not plain ASCII travels in.
    pub fn text(&self) -> String {
        let (head, body) = self
            .data
            .split_once("\r\n\r\n")
            .expect("a header and a body");
        let encoding = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-transfer-encoding:")
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default();
        let bytes = match encoding.as_str() {
            "base64" => {
                use base64::Engine;
                let joined: String = body.split_whitespace().collect();
                base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .expect("base64 body")
            }
            "quoted-printable" => {
                let mut out = Vec::new();
                let unfolded = body.replace("=\r\n", "");
                let raw = unfolded.as_bytes();
                let mut i = 0;
                while i < raw.len() {
                    if raw[i] == b'=' && i + 2 < raw.len() {
                        let hex = std::str::from_utf8(&raw[i + 1..i + 3]).unwrap();
                        out.push(u8::from_str_radix(hex, 16).expect("a quoted-printable escape"));
                        i += 3;
                    } else {
                        out.push(raw[i]);
                        i += 1;
                    }
                }
                out
            }
            _ => body.as_bytes().to_vec(),
        };
        String::from_utf8(bytes)
            .expect("a UTF-8 body")
            .replace("\r\n", "\n")
    }
}

#[derive(Default)]
struct State {
    messages: Vec<Received>,
    /// MAIL commands seen, refused or not.
    transactions: usize,
    fail_first: usize,
    auth: Vec<String>,
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    /// Starts a sink refusing the first `fail_first` transactions with 451.
    pub async fn start(fail_first: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            fail_first,
            ..Default::default()
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = converse(stream, state).await;
                });
            }
        });
        Self { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.state.lock().unwrap().messages.clone()
    }

    pub fn transactions(&self) -> usize {
        self.state.lock().unwrap().transactions
    }

    pub fn auth(&self) -> Vec<String> {
        self.state.lock().unwrap().auth.clone()
    }

    /// Waits (a few seconds at most) until `n` transactions were seen.
    pub async fn wait_transactions(&self, n: usize) {
        for _ in 0..500 {
            if self.transactions() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "the sink saw {} transactions, expected {n}",
            self.transactions()
        );
    }

    /// Waits (a few seconds at most) until `n` messages arrived; answers them.
    pub async fn wait_messages(&self, n: usize) -> Vec<Received> {
        for _ in 0..500 {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "the sink received {} messages, expected {n}",
            self.messages().len()
        );
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn converse(stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP ready\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("HELO") {
            b"250 sink\r\n"
        } else if upper.starts_with("AUTH PLAIN") {
            state.lock().unwrap().auth.push(command[10..].trim().into());
            b"235 2.7.0 accepted\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            let refuse = {
                let mut s = state.lock().unwrap();
                s.transactions += 1;
                s.transactions <= s.fail_first
            };
            if refuse {
                b"451 4.3.0 try again later\r\n"
            } else {
                from = command[10..].trim().to_string();
                to.clear();
                b"250 2.1.0 ok\r\n"
            }
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().to_string());
            b"250 2.1.5 ok\r\n"
        } else if upper == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if lines.read_line(&mut l).await? == 0 {
                    return Ok(());
                }
                if l == ".\r\n" || l == ".\n" {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            state.lock().unwrap().messages.push(Received {
                from: from.clone(),
                to: to.clone(),
                data,
            });
            b"250 2.0.0 queued\r\n"
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 2.0.0 ok\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            b"500 5.5.2 unknown command\r\n"
        };
        write.write_all(reply).await?;
    }
}
