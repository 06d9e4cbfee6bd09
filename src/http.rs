//! The HTTP plumbing handlers share: our own `Response` type and its exact
//! bytes on the wire, reading a size-capped body as JSON or as a form, and
//! decoding query strings.
//!
//! Handlers build a plain `Response` (status, headers, bytes) instead of a
//! `tiny_http::Response`: it keeps them testable, and [`encode`] decides the
//! bytes that reach the socket, including `Connection: close` on every
//! response (see `server::send` for why).

use std::fmt::Write as _;
use std::io::Read;

use serde::Serialize;
use serde_json::{Map, Value};
use tiny_http::Request;

use crate::error::{ApiError, reason_phrase};
use crate::time;

/// The largest request body the server reads: 1 MiB. A task is a few KB at
/// most, so anything bigger is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A response as handlers build it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response with `status`.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Response {
        // Serialising our own types into memory cannot fail: they have no
        // maps with non-string keys and no failing `Serialize` impls.
        let body = serde_json::to_vec(value).expect("response types serialise to JSON");
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

    /// Sets a header, replacing any earlier value of the same name.
    pub fn set_header(&mut self, name: &'static str, value: impl Into<String>) {
        self.headers
            .retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
        self.headers.push((name, value.into()));
    }
}

/// The bytes of `response` as an HTTP/1.1 message that closes the
/// connection, dated `now` (seconds since the epoch).
///
/// - `Date` (RFC 9110 §6.6.1), `Connection: close` and
///   `X-Content-Type-Options: nosniff` come first, then the response's own
///   headers, then `Content-Length`.
/// - A 204 has neither `Content-Length` nor a body (RFC 9110 §8.6, §15.3.5).
/// - `head_only` (a `HEAD` request) keeps the `Content-Length` the `GET` would
///   have had and sends no body (RFC 9110 §9.3.2).
/// - A header value containing CR or LF would split the message; such a
///   header is dropped (and logged) instead of written.
pub fn encode(response: &Response, head_only: bool, now: i64) -> Vec<u8> {
    let status = response.status;
    let mut head = String::with_capacity(160);
    // Writing into a String cannot fail.
    // `nosniff`: a browser must never treat a JSON body as HTML or script
    // (OWASP's header advice for APIs).
    let _ = write!(
        head,
        "HTTP/1.1 {status} {}\r\nDate: {}\r\nConnection: close\r\n\
         X-Content-Type-Options: nosniff\r\n",
        reason_phrase(status),
        time::http_date(now)
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

    let mut bytes = head.into_bytes();
    if has_body && !head_only {
        bytes.extend_from_slice(&response.body);
    }
    bytes
}

/// The value of a request header, if present (first occurrence).
pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .iter()
        .find(|header| header.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|header| header.value.as_str())
}

/// The media type of the request body, lowercased and without parameters
/// (`"application/json"` for `Application/JSON; charset=utf-8`).
pub fn media_type(request: &Request) -> Option<String> {
    header(request, "Content-Type").map(|value| {
        let essence = value.split(';').next().unwrap_or_default();
        essence.trim().to_ascii_lowercase()
    })
}

/// Whether a media type is JSON: `application/json` or any `application/*+json`
/// such as `application/merge-patch+json` (RFC 7396) that PATCH clients send.
pub fn is_json(media_type: &str) -> bool {
    media_type == "application/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}

/// The longest body tiny_http reads into memory itself, on its connection
/// thread, before it queues the request (its `request.rs`).
const PREREAD_BODY_BYTES: usize = 1024;

/// Whether reading this request's body means waiting on the client's
/// socket: a `Content-Length` over 1 KiB, a chunked body, or one sent only
/// after `100 Continue`. Shorter bodies are already in memory when a worker
/// gets the request. (A `Connection: upgrade` request's "body" is the raw
/// connection, so it counts too: see [`read_body`].)
pub fn body_is_streamed(request: &Request) -> bool {
    let has = |name: &str| header(request, name).is_some();
    let upgrade = asks_to_upgrade(request);
    match request.body_length() {
        Some(0) => upgrade,
        Some(length) => length > PREREAD_BODY_BYTES || has("Expect") || upgrade,
        // No length: chunked if `Transfer-Encoding` was sent, else no body.
        None => has("Transfer-Encoding") || upgrade,
    }
}

/// Reads and throws away whatever is left of the request body, a few KiB at
/// a time, until the client has sent all of it or gone away.
///
/// tiny_http does the same when a request is dropped with its body unread,
/// but into one buffer the size of the *declared* remainder: a client that
/// really sends the gigabyte it declared would cost a gigabyte of memory.
/// Discarding here first leaves tiny_http nothing to read. A client that
/// stops short of what it declared still reaches that drain (when it
/// closes, inside this function): a declared remainder larger than the
/// machine's memory cannot be allocated and aborts the process (a limit
/// stated in the README; the supervisor restarts the server), and
/// `u64::MAX` panics (callers catch it).
pub fn discard_body(request: &mut Request) {
    // An upgrade request's reader is the raw connection, which ends only
    // when the client closes it, and which tiny_http does not drain.
    if asks_to_upgrade(request) {
        return;
    }
    // An error means the client is gone: nothing is left to discard.
    let _ = std::io::copy(request.as_reader(), &mut std::io::sink());
}

/// Whether the request says `Connection: upgrade` (an `h2c` or WebSocket
/// probe). tiny_http then hands over the raw connection as the body.
fn asks_to_upgrade(request: &Request) -> bool {
    header(request, "Connection")
        .is_some_and(|value| value.to_ascii_lowercase().contains("upgrade"))
}

/// Reads the request body, refusing more than `MAX_BODY_BYTES`.
///
/// A declared `Content-Length` over the cap is refused before a single body
/// byte is read; a chunked body is cut off as soon as it passes the cap.
pub fn read_body(request: &mut Request) -> Result<Vec<u8>, ApiError> {
    let too_large = ApiError::PayloadTooLarge {
        limit: MAX_BODY_BYTES,
    };
    if request
        .body_length()
        .is_some_and(|length| length > MAX_BODY_BYTES)
    {
        return Err(too_large);
    }
    // For an upgrade request the reader is the raw connection: read only
    // the declared length, never up to the close that would not come.
    let limit = if asks_to_upgrade(request) {
        request.body_length().unwrap_or(0) as u64
    } else {
        MAX_BODY_BYTES as u64 + 1
    };
    let mut body = Vec::new();
    request
        .as_reader()
        .take(limit)
        .read_to_end(&mut body)
        .map_err(|error| ApiError::BadRequest(format!("could not read request body: {error}")))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large);
    }
    Ok(body)
}

/// Refuses a body in another media type than JSON with 415.
///
/// A request without `Content-Type` is read as JSON: curl users who forget
/// `-H 'Content-Type: application/json'` are the common case, and refusing
/// them would help nobody.
pub fn require_json(request: &Request) -> Result<(), ApiError> {
    if let Some(media_type) = media_type(request)
        && !is_json(&media_type)
    {
        return Err(ApiError::UnsupportedMediaType(format!(
            "request body must be application/json, not {media_type}"
        )));
    }
    Ok(())
}

/// Parses bytes as a JSON object: anything else is a 400.
pub fn parse_json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::BadRequest(
            "request body must be a JSON object".to_owned(),
        )),
        Err(error) => Err(ApiError::BadRequest(format!(
            "request body is not valid JSON: {error}"
        ))),
    }
}

/// Decodes an `application/x-www-form-urlencoded` body or query string into
/// name/value pairs, in order. Invalid percent-escapes or UTF-8 are a 400.
pub fn parse_urlencoded(text: &str) -> Result<Vec<(String, String)>, ApiError> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

/// The query string of a request URL, decoded (empty when there is none).
pub fn query_pairs(url: &str) -> Result<Vec<(String, String)>, ApiError> {
    match url.split_once('?') {
        Some((_, query)) => parse_urlencoded(query),
        None => Ok(Vec::new()),
    }
}

/// The path of a request URL, without its query string.
pub fn path_of(url: &str) -> &str {
    url.split_once('?').map_or(url, |(path, _)| path)
}

/// Percent-decoding with `+` as a space, as HTML forms and curl `-d` encode.
fn percent_decode(text: &str) -> Result<String, ApiError> {
    // The text is not repeated in the error: it may be a password.
    let malformed = || {
        ApiError::BadRequest(
            "malformed percent-encoding or UTF-8 in a form or query string".to_owned(),
        )
    };
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = input.next().and_then(hex_value).ok_or_else(malformed)?;
                let low = input.next().and_then(hex_value).ok_or_else(malformed)?;
                bytes.push(high << 4 | low);
            }
            _ => bytes.push(byte),
        }
    }
    String::from_utf8(bytes).map_err(|_| malformed())
}

fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|value| value as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_pairs_are_decoded_in_order() {
        let pairs = parse_urlencoded("username=ann%40example.com&password=a+b%2Bc&scope=").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("username".into(), "ann@example.com".into()),
                ("password".into(), "a b+c".into()),
                ("scope".into(), "".into()),
            ]
        );
    }

    #[test]
    fn malformed_escapes_are_rejected() {
        for bad in ["a=%", "a=%4", "a=%zz", "a=%ff"] {
            assert!(parse_urlencoded(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_media_types_include_structured_suffixes() {
        assert!(is_json("application/json"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("application/x-www-form-urlencoded"));
        assert!(!is_json("text/json"));
    }
}
