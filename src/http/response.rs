//! `Response`: what a handler answers, and the exact bytes it becomes on
//! the wire.
//!
//! Handlers build a plain `Response` (status, headers, bytes); [`encode`]
//! alone decides the framing that reaches the socket: the status line,
//! `Date`, `Content-Length`, and the `Connection` header that tells the
//! client whether the connection stays open.

use std::fmt::Write as _;

use serde::Serialize;

use crate::time;

/// A response as handlers build it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response with `status`. The body ends with a newline, as
    /// CLI-friendly APIs' do, so that `curl -s` output does not run into
    /// the shell's prompt.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Response {
        // Serialising our own types into memory cannot fail: they have no
        // maps with non-string keys and no failing `Serialize` impls.
        let mut body = serde_json::to_vec(value).expect("response types serialise to JSON");
        body.push(b'\n');
        Response {
            status,
            headers: vec![("Content-Type", "application/json".to_owned())],
            body,
        }
    }

    /// A 200 with a body that is already encoded, in `content_type`.
    pub fn ok_bytes(content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status: 200,
            headers: vec![("Content-Type", content_type.to_owned())],
            body,
        }
    }

    /// `201 Created` with a `Location` header pointing at the new resource.
    pub fn created<T: Serialize + ?Sized>(location: String, value: &T) -> Response {
        let mut response = Response::json(201, value);
        response.set_header("Location", location);
        response
    }

    /// `204 No Content`.
    pub fn no_content() -> Response {
        Response {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// An RFC 9457 problem document (`application/problem+json`):
    /// `{"type":"about:blank","title":"Not Found","status":404,"detail":"..."}`.
    /// Every error this server sends has this shape, from the connection
    /// layer's 400s and 408s to the API's 422s.
    pub fn problem(status: u16, detail: &str) -> Response {
        Response::problem_listing(status, detail, None::<&()>)
    }

    /// `503` with `Retry-After: 1` (RFC 9110 §10.2.3): the server has no
    /// room for this request now, and a retry in a second may find some.
    pub fn busy(detail: &str) -> Response {
        let mut response = Response::problem(503, &format!("{detail}; try again shortly"));
        response.set_header("Retry-After", "1");
        response
    }

    /// A problem document with an `errors` member (the API's 422 lists its
    /// invalid fields there).
    pub fn problem_listing<E: Serialize>(
        status: u16,
        detail: &str,
        errors: Option<&E>,
    ) -> Response {
        #[derive(Serialize)]
        struct Problem<'a, E> {
            #[serde(rename = "type")]
            kind: &'static str,
            title: &'static str,
            status: u16,
            detail: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            errors: Option<&'a E>,
        }
        let problem = Problem {
            kind: "about:blank",
            title: reason_phrase(status),
            status,
            detail,
            errors,
        };
        let mut response = Response::json(status, &problem);
        response.set_header("Content-Type", "application/problem+json");
        response
    }

    /// This response with an `ETag` (`crate::conditional`).
    pub fn with_etag(mut self, etag: String) -> Response {
        self.set_header("ETag", etag);
        self
    }

    /// Sets a header, replacing any earlier value of the same name.
    pub fn set_header(&mut self, name: &'static str, value: impl Into<String>) {
        self.headers
            .retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
        self.headers.push((name, value.into()));
    }

    /// The value of a header the response carries.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(existing, _)| existing.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What the `Connection` header of an encoded response says (RFC 9112 §9.3,
/// §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionHeader {
    /// HTTP/1.1's default: the connection stays open, and no header says so.
    KeepAlive,
    /// An HTTP/1.0 client asked for keep-alive: `Connection: keep-alive`.
    KeepAliveAnnounced,
    /// The server closes the connection after this response:
    /// `Connection: close`.
    Close,
}

/// Appends the bytes of `response` as an HTTP/1.1 message to `out`, dated
/// `now` (seconds since the epoch).
///
/// - `Date` (RFC 9110 §6.6.1), the `Connection` header if there is one, and
///   `X-Content-Type-Options: nosniff` come first, then the response's own
///   headers, then `Content-Length`.
/// - A 204 or 304 has neither `Content-Length` nor a body (RFC 9110 §8.6,
///   §15.3.5).
/// - `head_only` (a `HEAD` request) keeps the `Content-Length` the `GET`
///   would have had and sends no body (RFC 9110 §9.3.2).
/// - A header value containing CR or LF would split the message; such a
///   header is dropped (and logged) instead of written.
pub fn encode(
    response: &Response,
    head_only: bool,
    connection: ConnectionHeader,
    now: i64,
    out: &mut Vec<u8>,
) {
    if encode_head(response, head_only, connection, now, out) {
        out.extend_from_slice(&response.body);
    }
}

/// [`encode`] for a response the caller gives up: when nothing else is
/// queued in `out`, the body's own buffer becomes the output, with the
/// head moved in front of it, instead of being copied. A large body (an
/// account's export, tens of MiB) then costs its size once, not twice.
pub fn encode_owned(
    response: Response,
    head_only: bool,
    connection: ConnectionHeader,
    now: i64,
    out: &mut Vec<u8>,
) {
    if !out.is_empty() {
        encode(&response, head_only, connection, now, out);
        return;
    }
    let mut head = Vec::with_capacity(256);
    if encode_head(&response, head_only, connection, now, &mut head) {
        let mut bytes = response.body;
        // Grows the buffer in place where the allocator can (a large one
        // is remapped, not copied) and moves the body up by the head's
        // length.
        bytes.splice(0..0, head);
        *out = bytes;
    } else {
        *out = head;
    }
}

/// Appends the status line and headers of `response` to `out` (see
/// [`encode`]); returns whether its body follows them.
fn encode_head(
    response: &Response,
    head_only: bool,
    connection: ConnectionHeader,
    now: i64,
    out: &mut Vec<u8>,
) -> bool {
    let status = response.status;
    let mut head = String::with_capacity(192);
    // Writing into a String cannot fail.
    // `nosniff`: a browser must never treat a JSON body as HTML or script
    // (OWASP's header advice for APIs).
    let _ = write!(
        head,
        "HTTP/1.1 {status} {}\r\nDate: {}\r\n{}X-Content-Type-Options: nosniff\r\n",
        reason_phrase(status),
        time::http_date(now),
        match connection {
            ConnectionHeader::KeepAlive => "",
            ConnectionHeader::KeepAliveAnnounced => "Connection: keep-alive\r\n",
            ConnectionHeader::Close => "Connection: close\r\n",
        }
    );
    for (name, value) in &response.headers {
        if value.contains(['\r', '\n']) {
            eprintln!("dropping response header {name}: its value contains a line break");
            continue;
        }
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let has_body = status != 204 && status != 304;
    if has_body {
        let _ = write!(head, "Content-Length: {}\r\n", response.body.len());
    }
    head.push_str("\r\n");

    out.extend_from_slice(head.as_bytes());
    has_body && !head_only
}

/// The standard reason phrase (RFC 9110 §15) for the statuses this server
/// sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(response: &Response, head_only: bool, connection: ConnectionHeader) -> String {
        let mut out = Vec::new();
        encode(response, head_only, connection, 0, &mut out);
        String::from_utf8(out).expect("ASCII")
    }

    #[test]
    fn keep_alive_is_silent_in_http_1_1_and_close_is_said() {
        let response = Response::ok_bytes("text/plain", b"hi".to_vec());
        let kept = encoded(&response, false, ConnectionHeader::KeepAlive);
        assert!(!kept.contains("Connection:"), "{kept}");
        assert!(kept.ends_with("Content-Length: 2\r\n\r\nhi"), "{kept}");
        let closed = encoded(&response, false, ConnectionHeader::Close);
        assert!(closed.contains("\r\nConnection: close\r\n"), "{closed}");
        let announced = encoded(&response, false, ConnectionHeader::KeepAliveAnnounced);
        assert!(
            announced.contains("\r\nConnection: keep-alive\r\n"),
            "{announced}"
        );
    }

    #[test]
    fn an_owned_response_encodes_to_the_same_bytes_as_a_borrowed_one() {
        let with_body = Response::ok_bytes("text/plain", b"a body".to_vec());
        for response in [with_body, Response::no_content()] {
            for head_only in [false, true] {
                for queued in [&b""[..], b"HTTP/1.1 200 OK\r\n\r\n"] {
                    let mut borrowed = queued.to_vec();
                    encode(
                        &response,
                        head_only,
                        ConnectionHeader::Close,
                        0,
                        &mut borrowed,
                    );
                    let mut owned = queued.to_vec();
                    encode_owned(
                        response.clone(),
                        head_only,
                        ConnectionHeader::Close,
                        0,
                        &mut owned,
                    );
                    assert_eq!(owned, borrowed, "{response:?} head_only={head_only}");
                }
            }
        }
    }

    #[test]
    fn a_problem_document_names_its_status() {
        let response = Response::problem(431, "request head is larger than 16384 bytes");
        assert_eq!(
            response.header("Content-Type"),
            Some("application/problem+json")
        );
        let body: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON");
        assert_eq!(body["title"], "Request Header Fields Too Large");
        assert_eq!(body["status"], 431);
    }
}
