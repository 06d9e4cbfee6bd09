//! `Request`: one complete HTTP request, owned, in memory.
//!
//! This is all a handler ever sees of the wire. By the time a `Request`
//! exists its head has been parsed and checked and its whole body read
//! (`http::parse`), so handlers never wait on a client and never touch a
//! socket. Keeping the type ours, not a library's, also lets tests and fuzz
//! targets build one from plain values.

use std::fmt;
use std::net::SocketAddr;

/// A request method (RFC 9110 §9). Methods this API never routes are kept
/// by name so that a 405 or 404 can still say what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Other(String),
}

impl Method {
    /// The method named by a request line's token (case-sensitive, as RFC
    /// 9110 §9.1 says).
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The method's name as it appears on the wire and in `Allow`.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(name) => name,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The protocol version of a request: the only two this server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// A complete request.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    target: String,
    version: Version,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    peer: Option<SocketAddr>,
}

impl Request {
    /// A request from its parts: `target` is the request target as sent
    /// (path and query), `headers` are name/value pairs in arrival order.
    pub fn new(
        method: Method,
        target: impl Into<String>,
        version: Version,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        peer: Option<SocketAddr>,
    ) -> Request {
        Request {
            method,
            target: target.into(),
            version,
            headers,
            body,
            peer,
        }
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request target as the client sent it: path and query string.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path of the target, without its query string.
    pub fn path(&self) -> &str {
        split_target(&self.target).0
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every header, in the order received.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body, decoded from chunked transfer coding if it was sent so;
    /// empty when there was none.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Where the request came from (`None` for a request built in a test).
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Whether the client lets the connection stay open after this
    /// request (RFC 9112 §9.3): HTTP/1.1 does unless it says
    /// `Connection: close`; HTTP/1.0 does only if it says
    /// `Connection: keep-alive`.
    pub fn keeps_alive(&self) -> bool {
        let says = |option: &str| {
            self.headers
                .iter()
                .filter(|(field, _)| field.eq_ignore_ascii_case("Connection"))
                .flat_map(|(_, value)| value.split(','))
                .any(|item| item.trim().eq_ignore_ascii_case(option))
        };
        match self.version {
            Version::Http11 => !says("close"),
            Version::Http10 => says("keep-alive") && !says("close"),
        }
    }

    /// The media type of the body, lowercased and without parameters
    /// (`"application/json"` for `Application/JSON; charset=utf-8`).
    pub fn media_type(&self) -> Option<String> {
        self.header("Content-Type").map(|value| {
            let essence = value.split(';').next().unwrap_or_default();
            essence.trim().to_ascii_lowercase()
        })
    }

    /// Sets the body once it has been read: the parser builds the request
    /// from its head first, so the head can be judged before the body is
    /// waited for.
    pub(crate) fn set_body(&mut self, body: Vec<u8>) {
        self.body = body;
    }
}

/// A request target split into its path and its query string (without the
/// `?`), as in `("/tasks", Some("limit=5"))`.
pub fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}
