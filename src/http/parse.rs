//! Bytes to requests: an incremental HTTP/1.1 request parser that can say
//! "not yet", with RFC 9112's message framing applied strictly.
//!
//! Everything here is pure: no sockets, no clocks. The connection layer
//! appends whatever the socket gave it to a buffer and calls
//! [`RequestParser::advance`], which consumes the bytes it has used from
//! the front of that buffer and answers:
//!
//! - [`Parsed::Incomplete`]: more bytes are needed;
//! - [`Parsed::AwaitingBody`]: the head is complete and checked, and the
//!   body is still to come (the connection layer answers `Expect:
//!   100-continue` and switches from the head deadline to the body deadline
//!   here);
//! - [`Parsed::Complete`]: a whole request, body decoded.
//!
//! Any split of a byte stream into reads gives the same requests (a
//! property test below), and the parser never holds more than one request:
//! what follows it in the buffer stays there for the next call.
//!
//! The head is parsed by `httparse`, the parser hyper uses. Framing is ours:
//! a request whose body length is ambiguous is refused, never guessed at,
//! since two parsers guessing differently is how request smuggling works.

use std::fmt;

use super::request::{Method, Request, Version};

/// What a request may be at most. The defaults are the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Request line plus header fields, in bytes (16 KiB, as nginx's
    /// `large_client_header_buffers` default of 4 x 8 KiB roughly allows).
    pub max_head_bytes: usize,
    /// Header fields per request.
    pub max_headers: usize,
    /// The body, after chunked decoding (1 MiB: a task is a few KB).
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: super::MAX_BODY_BYTES,
        }
    }
}

/// A request the parser refuses: the status and a detail for the problem
/// document. The connection is always closed after one, since the bytes
/// that follow can no longer be trusted to start a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub detail: String,
}

impl HttpError {
    fn new(status: u16, detail: impl Into<String>) -> HttpError {
        HttpError {
            status,
            detail: detail.into(),
        }
    }

    fn bad(detail: impl Into<String>) -> HttpError {
        HttpError::new(400, detail)
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {}", self.status, self.detail)
    }
}

/// What one call to [`RequestParser::advance`] found.
#[derive(Debug)]
pub enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// The head is complete and its body is still to come. Reported once
    /// per request; `expects_continue` is true when the client waits for
    /// `100 Continue` before sending it (RFC 9110 §10.1.1).
    AwaitingBody { expects_continue: bool },
    /// A whole request.
    Complete(Request),
}

/// The parser of one connection.
#[derive(Debug, Default)]
pub struct RequestParser {
    limits: Limits,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Looking for the end of a head; the first `scanned` bytes of the
    /// buffer are known not to hold it, so a head trickling in a byte at a
    /// time is searched once, not once per byte.
    Head { scanned: usize },
    /// The head is parsed; its body is being read.
    Body {
        request: Box<Request>,
        body: Body,
        decoded: Vec<u8>,
    },
}

impl Default for State {
    fn default() -> State {
        State::Head { scanned: 0 }
    }
}

/// How the body of a request is delimited (RFC 9112 §6.3).
#[derive(Debug)]
enum Body {
    /// `Content-Length`: this many bytes are still to come.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked(ChunkedDecoder),
}

impl RequestParser {
    pub fn new(limits: Limits) -> RequestParser {
        RequestParser {
            limits,
            state: State::default(),
        }
    }

    /// How many body bytes the parser holds for the request it is reading.
    pub fn buffered_body_len(&self) -> usize {
        match &self.state {
            State::Body { decoded, .. } => decoded.len(),
            _ => 0,
        }
    }

    /// The head of the request whose body is being read, if one is.
    pub fn pending_head(&self) -> Option<&Request> {
        match &self.state {
            State::Body { request, .. } => Some(request),
            _ => None,
        }
    }

    /// Parses what `buffer` holds, removing from its front the bytes used.
    /// `peer` is recorded in the request.
    ///
    /// After an `Err` the parser must not be used again: the connection is
    /// to be closed.
    pub fn advance(
        &mut self,
        buffer: &mut Vec<u8>,
        peer: Option<std::net::SocketAddr>,
    ) -> Result<Parsed, HttpError> {
        if let State::Head { scanned } = self.state {
            if scanned == 0 {
                skip_empty_lines(buffer);
            }
            let Some(head_end) = find_head_end(buffer, scanned) else {
                return self.head_incomplete(buffer);
            };
            if head_end > self.limits.max_head_bytes {
                return Err(self.head_too_large(buffer));
            }
            let (request, body) = parse_head(&buffer[..head_end], &self.limits, peer)?;
            buffer.drain(..head_end);
            let expects_continue = wants_continue(&request)?;
            match body {
                None => {
                    self.state = State::default();
                    return Ok(Parsed::Complete(request));
                }
                Some(body) => {
                    self.state = State::Body {
                        request: Box::new(request),
                        body,
                        decoded: Vec::new(),
                    };
                    // Report the head once before any of its body is taken,
                    // unless the whole body is already here.
                    if !self.body_is_buffered(buffer) {
                        return Ok(Parsed::AwaitingBody { expects_continue });
                    }
                }
            }
        }
        self.advance_body(buffer)
    }

    /// No end of head in `buffer` yet: fine, unless it is already too long.
    fn head_incomplete(&mut self, buffer: &[u8]) -> Result<Parsed, HttpError> {
        if buffer.len() > self.limits.max_head_bytes {
            return Err(self.head_too_large(buffer));
        }
        // The last three bytes may begin the blank line that ends the head.
        self.state = State::Head {
            scanned: buffer.len().saturating_sub(3),
        };
        Ok(Parsed::Incomplete)
    }

    /// 414 when the request line alone is over the limit, else 431.
    fn head_too_large(&self, buffer: &[u8]) -> HttpError {
        let limit = self.limits.max_head_bytes;
        let line_ends = buffer[..limit.min(buffer.len())].contains(&b'\n');
        if line_ends {
            HttpError::new(431, format!("request head is larger than {limit} bytes"))
        } else {
            HttpError::new(414, format!("request target is longer than {limit} bytes"))
        }
    }

    /// Whether all of a `Content-Length` body is in `buffer` already.
    fn body_is_buffered(&self, buffer: &[u8]) -> bool {
        matches!(&self.state, State::Body { body: Body::Length(left), .. } if buffer.len() >= *left)
    }

    fn advance_body(&mut self, buffer: &mut Vec<u8>) -> Result<Parsed, HttpError> {
        let State::Body { body, decoded, .. } = &mut self.state else {
            return Ok(Parsed::Incomplete);
        };
        let done = match body {
            Body::Length(left) => {
                let take = (*left).min(buffer.len());
                decoded.extend_from_slice(&buffer[..take]);
                buffer.drain(..take);
                *left -= take;
                *left == 0
            }
            Body::Chunked(decoder) => {
                let (used, done) = decoder
                    .decode(buffer, decoded, self.limits.max_body_bytes)
                    .map_err(|error| error.into_http())?;
                buffer.drain(..used);
                done
            }
        };
        if !done {
            return Ok(Parsed::Incomplete);
        }
        let State::Body {
            request, decoded, ..
        } = std::mem::take(&mut self.state)
        else {
            unreachable!("the state was matched as Body above");
        };
        let mut request = *request;
        request.set_body(decoded);
        Ok(Parsed::Complete(request))
    }
}

/// Drops empty lines before a request line: some clients send a CRLF after
/// a body that its length does not count, and RFC 9112 §2.2 asks servers
/// to ignore at least one. Without this, such a connection would look like
/// one with half a head and wait for the head timeout instead of idling.
fn skip_empty_lines(buffer: &mut Vec<u8>) {
    let mut start = 0;
    loop {
        match &buffer[start..] {
            [b'\r', b'\n', ..] => start += 2,
            [b'\n', ..] => start += 1,
            _ => break,
        }
    }
    buffer.drain(..start);
}

/// The length of the head at the start of `buffer` (through the blank
/// line that ends it), searching from `from`. A bare LF ends a line too
/// (RFC 9112 §2.2 allows a recipient to accept one).
fn find_head_end(buffer: &[u8], from: usize) -> Option<usize> {
    let mut start = from;
    while let Some(offset) = buffer[start..].iter().position(|&byte| byte == b'\n') {
        let newline = start + offset;
        match buffer.get(newline + 1) {
            Some(b'\n') => return Some(newline + 2),
            Some(b'\r') => match buffer.get(newline + 2) {
                Some(b'\n') => return Some(newline + 3),
                Some(_) => start = newline + 1,
                None => return None,
            },
            Some(_) => start = newline + 1,
            None => return None,
        }
    }
    None
}

/// Parses a complete head (`bytes` ends with its blank line) into a
/// request with an empty body, and the way its body is delimited (`None`:
/// it has none).
fn parse_head(
    bytes: &[u8],
    limits: &Limits,
    peer: Option<std::net::SocketAddr>,
) -> Result<(Request, Option<Body>), HttpError> {
    let mut fields = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut head = httparse::Request::new(&mut fields);
    match head.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        // The head ends in `bytes`, so httparse cannot need more: a
        // partial answer means the line endings were not its kind.
        Ok(httparse::Status::Partial) => return Err(HttpError::bad("malformed request head")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::new(
                431,
                format!("request has more than {} header fields", limits.max_headers),
            ));
        }
        Err(httparse::Error::Version) if names_a_version(bytes) => {
            return Err(HttpError::new(
                505,
                "only HTTP/1.0 and HTTP/1.1 are supported",
            ));
        }
        Err(error) => return Err(HttpError::bad(format!("malformed request head: {error}"))),
    }
    let version = match head.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    let method = Method::from_token(head.method.unwrap_or_default());
    let target = origin_form(head.path.unwrap_or_default(), &method).ok_or_else(|| {
        HttpError::bad("request target must be a path starting with / or an absolute URL")
    })?;
    let mut headers = Vec::with_capacity(head.headers.len());
    for field in head.headers.iter() {
        let value = std::str::from_utf8(field.value)
            .map_err(|_| HttpError::bad(format!("header {} is not valid UTF-8", field.name)))?;
        headers.push((field.name.to_owned(), trim_ows(value).to_owned()));
    }
    let request = Request::new(method, target, version, headers, Vec::new(), peer);
    // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in 1.0.
    let hosts = request
        .headers()
        .iter()
        .filter(|(field, _)| field.eq_ignore_ascii_case("Host"))
        .count();
    if hosts > 1 || (hosts == 0 && version == Version::Http11) {
        return Err(HttpError::bad(
            "an HTTP/1.1 request must have exactly one Host header",
        ));
    }
    let body = framing(&request, limits)?;
    Ok((request, body))
}

/// The target as a path and query (RFC 9112 §3.2): origin-form as is, `*`
/// for `OPTIONS`, and absolute-form (`http://host/path?query`, which a
/// server must accept, §3.2.2) reduced to its path and query.
fn origin_form(target: &str, method: &Method) -> Option<String> {
    if target.starts_with('/') || (target == "*" && *method == Method::Options) {
        return Some(target.to_owned());
    }
    let scheme_end = target.find("://")?;
    if !["http", "https"].contains(&target[..scheme_end].to_ascii_lowercase().as_str()) {
        return None;
    }
    let rest = &target[scheme_end + 3..];
    Some(match rest.find(['/', '?']) {
        Some(start) if rest[start..].starts_with('/') => rest[start..].to_owned(),
        Some(start) => format!("/{}", &rest[start..]),
        None => "/".to_owned(),
    })
}

/// A field value without the optional whitespace around it: spaces and
/// tabs only (RFC 9110 §5.5). `str::trim` would also strip Unicode spaces,
/// so `Content-Length: 2\u{a0}` would read as 2 here while a proxy in front
/// refused or ignored it: the disagreement request smuggling is made of.
fn trim_ows(value: &str) -> &str {
    value.trim_matches([' ', '\t'])
}

/// Whether the request line ends in something shaped like a version
/// (`HTTP/2.0`, `HTTP/3`): then an unparseable version is one we do not
/// speak (505), not garbage (400).
fn names_a_version(bytes: &[u8]) -> bool {
    let line_end = bytes
        .iter()
        .position(|&byte| byte == b'\n')
        .unwrap_or(bytes.len());
    let line = String::from_utf8_lossy(&bytes[..line_end]);
    line.trim_end()
        .rsplit(' ')
        .next()
        .and_then(|last| last.strip_prefix("HTTP/"))
        .is_some_and(|number| {
            !number.is_empty()
                && number
                    .bytes()
                    .all(|byte| byte.is_ascii_digit() || byte == b'.')
        })
}

/// How the body is delimited, by RFC 9112 §6, refusing every ambiguity.
fn framing(request: &Request, limits: &Limits) -> Result<Option<Body>, HttpError> {
    let values = |name: &str| -> Vec<String> {
        request
            .headers()
            .iter()
            .filter(|(field, _)| field.eq_ignore_ascii_case(name))
            .flat_map(|(_, value)| value.split(','))
            .map(|item| trim_ows(item).to_ascii_lowercase())
            .collect()
    };
    let codings = values("Transfer-Encoding");
    let lengths = values("Content-Length");
    let has_coding = request.header("Transfer-Encoding").is_some();
    let has_length = request.header("Content-Length").is_some();

    if has_coding {
        // §6.1: with both, the message is a smuggling attempt or a broken
        // client; either way the length cannot be trusted.
        if has_length {
            return Err(HttpError::bad(
                "request has both Content-Length and Transfer-Encoding",
            ));
        }
        if request.version() == Version::Http10 {
            return Err(HttpError::bad(
                "Transfer-Encoding is not allowed in HTTP/1.0",
            ));
        }
        if codings.iter().any(|coding| !coding.is_ascii()) {
            return Err(HttpError::bad("Transfer-Encoding must be ASCII"));
        }
        if codings.last().map(String::as_str) != Some("chunked") {
            return Err(HttpError::bad(
                "the last transfer coding of a request must be chunked",
            ));
        }
        if codings.iter().filter(|coding| *coding == "chunked").count() > 1 {
            return Err(HttpError::bad("chunked may be applied only once"));
        }
        if codings.len() > 1 {
            return Err(HttpError::new(
                501,
                format!(
                    "transfer coding {:?} is not supported; send the body chunked or with Content-Length",
                    codings.join(", ")
                ),
            ));
        }
        return Ok(Some(Body::Chunked(ChunkedDecoder::default())));
    }
    if !has_length {
        return Ok(None);
    }
    let first = &lengths[0];
    if first.is_empty() || !first.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(HttpError::bad("Content-Length must be a whole number"));
    }
    if lengths.iter().any(|length| length != first) {
        return Err(HttpError::bad(
            "request has differing Content-Length values",
        ));
    }
    let too_large = || {
        HttpError::new(
            413,
            format!(
                "request body is larger than {} bytes",
                limits.max_body_bytes
            ),
        )
    };
    let length: usize = first.parse().map_err(|_| too_large())?;
    if length > limits.max_body_bytes {
        return Err(too_large());
    }
    Ok((length > 0).then_some(Body::Length(length)))
}

/// Whether the client waits for `100 Continue`. An expectation other than
/// `100-continue` is a 417 (RFC 9110 §10.1.1), whatever the version; an
/// HTTP/1.0 client's `100-continue` is ignored, as that section requires.
fn wants_continue(request: &Request) -> Result<bool, HttpError> {
    let Some(expect) = request.header("Expect") else {
        return Ok(false);
    };
    if !expect.eq_ignore_ascii_case("100-continue") {
        return Err(HttpError::new(
            417,
            format!("expectation {expect:?} is not supported; only 100-continue is"),
        ));
    }
    Ok(request.version() == Version::Http11)
}

/// A bad chunked body (RFC 9112 §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// The bytes are not chunked coding.
    Malformed(&'static str),
    /// The decoded body passed the limit.
    TooLarge(usize),
}

impl ChunkError {
    fn into_http(self) -> HttpError {
        match self {
            ChunkError::Malformed(what) => {
                HttpError::bad(format!("malformed chunked body: {what}"))
            }
            ChunkError::TooLarge(limit) => {
                HttpError::new(413, format!("request body is larger than {limit} bytes"))
            }
        }
    }
}

/// The longest chunk-size line (size and extensions) or trailer line read.
const MAX_CHUNK_LINE_BYTES: usize = 4096;

/// A decoder for the chunked transfer coding, fed any pieces of the byte
/// stream in order. A small state machine, so that no piece boundary (in
/// the middle of a size, between CR and LF) matters.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: ChunkState,
    /// The length of the current size, extension or trailer line so far.
    line: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading the hex digits of a chunk size (at least one).
    #[default]
    SizeStart,
    Size(u64),
    /// Spaces or tabs after the size (RFC 9112 §7.1.1's BWS): only more of
    /// them, a `;` or the CR may follow.
    SizeSpace(u64),
    /// After a `;`: extensions, ignored up to the CR.
    Extension(u64),
    /// The CR after a size line is read; its LF must follow.
    SizeLf(u64),
    /// Chunk data: this many bytes left.
    Data(u64),
    /// The CRLF after chunk data.
    DataCr,
    DataLf,
    /// After the last chunk: at the start of a trailer line, or of the
    /// blank line that ends the body.
    TrailerStart,
    /// Inside a trailer field (read and dropped).
    Trailer,
    /// The CR of a trailer line is read.
    TrailerLf,
    /// The CR of the final blank line is read.
    EndLf,
    Done,
}

impl ChunkedDecoder {
    /// Decodes from `input`, appending the data to `body`; returns how many
    /// bytes of `input` were used and whether the body is complete (then
    /// the bytes after it are left unused). `Err` if the coding is broken
    /// or the body would pass `limit` bytes.
    pub fn decode(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(usize, bool), ChunkError> {
        use ChunkState::*;
        let mut used = 0;
        while used < input.len() && self.state != Done {
            let byte = input[used];
            if let Data(left) = self.state {
                // Copy a whole run of data at once, not byte by byte.
                let available = (input.len() - used) as u64;
                let take = left.min(available) as usize;
                if body.len() + take > limit {
                    return Err(ChunkError::TooLarge(limit));
                }
                body.extend_from_slice(&input[used..used + take]);
                used += take;
                let left = left - take as u64;
                self.state = if left == 0 { DataCr } else { Data(left) };
                continue;
            }
            used += 1;
            self.state = match self.state {
                SizeStart | Size(_) if byte.is_ascii_hexdigit() => {
                    let size = match self.state {
                        Size(size) => size,
                        _ => 0,
                    };
                    let digit = u64::from((byte as char).to_digit(16).unwrap_or(0));
                    let size = size
                        .checked_mul(16)
                        .and_then(|size| size.checked_add(digit))
                        .ok_or(ChunkError::Malformed("chunk size overflows"))?;
                    if size > limit as u64 {
                        return Err(ChunkError::TooLarge(limit));
                    }
                    self.line_byte()?;
                    Size(size)
                }
                SizeStart => return Err(ChunkError::Malformed("chunk size expected")),
                Size(size) | SizeSpace(size) | Extension(size) if byte == b'\r' => SizeLf(size),
                Size(size) | SizeSpace(size) if byte == b' ' || byte == b'\t' => {
                    self.line_byte()?;
                    SizeSpace(size)
                }
                Size(size) | SizeSpace(size) if byte == b';' => {
                    self.line_byte()?;
                    Extension(size)
                }
                Size(_) | SizeSpace(_) => {
                    return Err(ChunkError::Malformed("bad character in chunk size"));
                }
                Extension(size) => {
                    if byte == b'\n' {
                        return Err(ChunkError::Malformed("chunk size line must end in CRLF"));
                    }
                    self.line_byte()?;
                    Extension(size)
                }
                SizeLf(size) if byte == b'\n' => {
                    self.line = 0;
                    if size == 0 {
                        TrailerStart
                    } else if body.len() as u64 + size > limit as u64 {
                        return Err(ChunkError::TooLarge(limit));
                    } else {
                        Data(size)
                    }
                }
                DataCr if byte == b'\r' => DataLf,
                DataCr => return Err(ChunkError::Malformed("chunk data longer than its size")),
                DataLf if byte == b'\n' => SizeStart,
                TrailerStart if byte == b'\r' => EndLf,
                TrailerStart | Trailer if byte != b'\r' && byte != b'\n' => {
                    self.line_byte()?;
                    Trailer
                }
                Trailer if byte == b'\r' => TrailerLf,
                TrailerStart | Trailer => {
                    return Err(ChunkError::Malformed("trailer line must end in CRLF"));
                }
                TrailerLf if byte == b'\n' => {
                    self.line = 0;
                    TrailerStart
                }
                EndLf if byte == b'\n' => Done,
                SizeLf(_) | DataLf | EndLf | TrailerLf => {
                    return Err(ChunkError::Malformed("CR without LF"));
                }
                Data(_) | Done => unreachable!("handled before the match"),
            };
        }
        Ok((used, self.state == Done))
    }

    /// Counts one more byte of a size, extension or trailer line.
    fn line_byte(&mut self) -> Result<(), ChunkError> {
        self.line += 1;
        if self.line > MAX_CHUNK_LINE_BYTES {
            return Err(ChunkError::Malformed("chunk size or trailer line too long"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request in `stream`, fed to one parser with `limits` in pieces
    /// cut at `cuts`, and the refusal that stopped it, if one did.
    fn parse_with(
        limits: Limits,
        stream: &[u8],
        cuts: &[usize],
    ) -> (Vec<Request>, Option<HttpError>) {
        let mut parser = RequestParser::new(limits);
        let mut buffer = Vec::new();
        let mut requests = Vec::new();
        let mut start = 0;
        for end in cuts.iter().copied().chain([stream.len()]) {
            let end = end.clamp(start, stream.len());
            buffer.extend_from_slice(&stream[start..end]);
            start = end;
            loop {
                match parser.advance(&mut buffer, None) {
                    Ok(Parsed::Complete(request)) => requests.push(request),
                    Ok(Parsed::AwaitingBody { .. }) => {}
                    Ok(Parsed::Incomplete) => break,
                    Err(error) => return (requests, Some(error)),
                }
            }
        }
        (requests, None)
    }

    /// The requests of `stream` under the server's limits, or the first
    /// refusal.
    fn parse_in_pieces(stream: &[u8], cuts: &[usize]) -> Result<Vec<Request>, HttpError> {
        match parse_with(Limits::default(), stream, cuts) {
            (requests, None) => Ok(requests),
            (_, Some(error)) => Err(error),
        }
    }

    fn parse_all(stream: &[u8]) -> Result<Vec<Request>, HttpError> {
        parse_in_pieces(stream, &[])
    }

    fn status_of(stream: &[u8]) -> u16 {
        match parse_all(stream) {
            Ok(requests) => panic!("parsed {} requests", requests.len()),
            Err(error) => error.status,
        }
    }

    /// Three pipelined requests: no body, a `Content-Length` body, and a
    /// chunked body with an extension and a trailer.
    const STREAM: &[u8] = b"GET /tasks?limit=5 HTTP/1.1\r\nHost: x\r\n\r\n\
        POST /tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
        PUT /tasks/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
        3;name=value\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: yes\r\n\r\n";

    fn summary(requests: &[Request]) -> Summary {
        requests
            .iter()
            .map(|request| {
                (
                    request.method().to_string(),
                    request.target().to_owned(),
                    request.body().to_vec(),
                )
            })
            .collect()
    }

    #[test]
    fn pipelined_requests_with_both_kinds_of_body_are_parsed_in_order() {
        let requests = parse_all(STREAM).expect("valid");
        assert_eq!(
            summary(&requests),
            vec![
                ("GET".into(), "/tasks?limit=5".into(), b"".to_vec()),
                ("POST".into(), "/tasks".into(), b"hello".to_vec()),
                ("PUT".into(), "/tasks/1".into(), b"abcde".to_vec()),
            ]
        );
    }

    #[test]
    fn any_split_of_the_stream_into_reads_parses_to_the_same_requests() {
        let whole = summary(&parse_all(STREAM).expect("valid"));
        // Every single cut, every pair of cuts, and reads of one byte.
        for first in 0..=STREAM.len() {
            for second in first..=STREAM.len() {
                let pieces = parse_in_pieces(STREAM, &[first, second]).expect("valid");
                assert_eq!(summary(&pieces), whole, "cut at {first} and {second}");
            }
        }
        let bytewise: Vec<usize> = (1..STREAM.len()).collect();
        assert_eq!(
            summary(&parse_in_pieces(STREAM, &bytewise).expect("valid")),
            whole
        );
    }

    #[test]
    fn the_head_is_reported_before_a_body_that_has_not_arrived() {
        let mut parser = RequestParser::new(Limits::default());
        let mut buffer =
            b"POST /tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
                .to_vec();
        assert!(matches!(
            parser.advance(&mut buffer, None),
            Ok(Parsed::AwaitingBody {
                expects_continue: true
            })
        ));
        assert_eq!(parser.pending_head().map(Request::target), Some("/tasks"));
        assert!(matches!(
            parser.advance(&mut buffer, None),
            Ok(Parsed::Incomplete)
        ));
        buffer.extend_from_slice(b"{}");
        let Ok(Parsed::Complete(request)) = parser.advance(&mut buffer, None) else {
            panic!("complete");
        };
        assert_eq!(request.body(), b"{}");
    }

    #[test]
    fn empty_lines_before_a_request_line_are_ignored() {
        let mut parser = RequestParser::new(Limits::default());
        let mut buffer = b"\r\n\r\n\n".to_vec();
        assert!(matches!(
            parser.advance(&mut buffer, None),
            Ok(Parsed::Incomplete)
        ));
        assert!(buffer.is_empty(), "left {buffer:?}");
        buffer.extend_from_slice(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(matches!(
            parser.advance(&mut buffer, None),
            Ok(Parsed::Complete(_))
        ));
    }

    #[test]
    fn an_http_1_1_request_needs_exactly_one_host() {
        assert_eq!(status_of(b"GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(
            status_of(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            400
        );
        assert_eq!(
            status_of(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"),
            400
        );
        assert!(parse_all(b"GET / HTTP/1.0\r\n\r\n").is_ok());
    }

    #[test]
    fn bare_line_feeds_end_lines() {
        let requests = parse_all(b"GET /healthz HTTP/1.1\nHost: x\n\n").expect("valid");
        assert_eq!(requests[0].header("host"), Some("x"));
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        let both = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status_of(both), 400);
        let differing =
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
        assert_eq!(status_of(differing), 400);
        let listed = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\n";
        assert_eq!(status_of(listed), 400);
        let signed = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n";
        assert_eq!(status_of(signed), 400);
        let twice = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n";
        assert_eq!(status_of(twice), 400);
        let unicode_space = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\u{a0}\r\n\r\n{}";
        assert_eq!(status_of(unicode_space.as_bytes()), 400);
        let unicode_coding =
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\u{3000}\r\n\r\n";
        assert_eq!(status_of(unicode_coding.as_bytes()), 400);
        let not_last = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n";
        assert_eq!(status_of(not_last), 400);
        let unknown = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(status_of(unknown), 501);
        let old = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status_of(old), 400);
        // The same value twice is one length, not two.
        let same =
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_all(same).expect("valid")[0].body(), b"{}");
    }

    #[test]
    fn limits_are_refused_with_their_own_statuses() {
        let huge_length = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000000\r\n\r\n";
        assert_eq!(status_of(huge_length), 413);
        let absurd =
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999999\r\n\r\n";
        assert_eq!(status_of(absurd), 413);
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(20_000));
        assert_eq!(status_of(long_target.as_bytes()), 414);
        let long_header = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(20_000)
        );
        assert_eq!(status_of(long_header.as_bytes()), 431);
        let many = format!(
            "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
            "X-A: 1\r\n".repeat(101)
        );
        assert_eq!(status_of(many.as_bytes()), 431);
        let unterminated = "a".repeat(17_000);
        assert_eq!(status_of(unterminated.as_bytes()), 414);
    }

    #[test]
    fn other_versions_get_505_and_garbage_400() {
        assert_eq!(status_of(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
        assert_eq!(status_of(b"GET / HTTP/1.2\r\n\r\n"), 505);
        assert_eq!(status_of(b"GET / FTP/1.1\r\n\r\n"), 400);
        assert_eq!(status_of(b"hello\r\n\r\n"), 400);
        assert_eq!(
            status_of(b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad: \xff\r\n\r\n"),
            400
        );
        assert_eq!(status_of(b"GET tasks HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(
            status_of(b"GET ftp://x/tasks HTTP/1.1\r\nHost: x\r\n\r\n"),
            400
        );
    }

    #[test]
    fn an_absolute_target_is_reduced_to_its_path_and_query() {
        let stream = b"GET http://example.com/tasks?limit=5 HTTP/1.1\r\nHost: x\r\n\r\n\
            GET HTTPS://example.com HTTP/1.1\r\nHost: x\r\n\r\n\
            GET http://example.com?x=1 HTTP/1.1\r\nHost: x\r\n\r\n";
        let targets: Vec<String> = parse_all(stream)
            .expect("valid")
            .iter()
            .map(|request| request.target().to_owned())
            .collect();
        assert_eq!(targets, ["/tasks?limit=5", "/", "/?x=1"]);
    }

    #[test]
    fn an_unknown_expectation_gets_417() {
        assert_eq!(
            status_of(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\n"),
            417
        );
    }

    /// Method, target and body of each request.
    type Summary = Vec<(String, String, Vec<u8>)>;

    /// What a stream parses to under small limits (so that mutations
    /// reach them), comparable: the requests, then the status of the
    /// refusal that ended it, if one did.
    fn outcome(stream: &[u8], cuts: &[usize]) -> (Summary, Option<u16>) {
        let limits = Limits {
            max_head_bytes: 256,
            max_headers: 8,
            max_body_bytes: 64,
        };
        let (requests, refusal) = parse_with(limits, stream, cuts);
        (summary(&requests), refusal.map(|error| error.status))
    }

    /// A stand-in for the cargo-fuzz target (`fuzz/fuzz_targets/http_parser.rs`,
    /// which needs nightly) that runs in every `cargo test`: thousands of
    /// mutations of valid streams (bytes flipped, inserted, deleted,
    /// spliced), each parsed whole and cut into three reads. Nothing may
    /// panic, and the cuts must not change the outcome.
    #[test]
    fn mutated_streams_never_panic_and_parse_the_same_however_they_are_cut() {
        let seeds: [&[u8]; 4] = [
            STREAM,
            b"POST /t HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
            b"GET / HTTP/1.0\nConnection: keep-alive\n\nGET /x HTTP/1.1\r\nHost: y\r\n\r\n",
            b"PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
        ];
        // xorshift64*: a fixed seed, so a failure reproduces.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |bound: usize| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % bound.max(1)
        };
        const BYTES: &[u8] =
            b"\r\n :;0123456789abcdefABCDEF-/?HTTP1.GETPOSTchunkedContent-Length\xff";
        for round in 0..4000 {
            let mut stream = seeds[round % seeds.len()].to_vec();
            for _ in 0..1 + next(4) {
                let at = next(stream.len() + 1);
                match next(4) {
                    0 if at < stream.len() => stream[at] = BYTES[next(BYTES.len())],
                    1 => stream.insert(at, BYTES[next(BYTES.len())]),
                    2 if at < stream.len() => {
                        stream.remove(at);
                    }
                    _ => {
                        let from = next(stream.len());
                        let piece = stream[from..(from + next(16)).min(stream.len())].to_vec();
                        stream.splice(at..at, piece);
                    }
                }
            }
            let whole = outcome(&stream, &[]);
            let mut cuts = [next(stream.len() + 1), next(stream.len() + 1)];
            cuts.sort_unstable();
            assert_eq!(
                outcome(&stream, &cuts),
                whole,
                "{:?} cut at {cuts:?}",
                String::from_utf8_lossy(&stream)
            );
        }
    }

    fn decode_all(input: &[u8], limit: usize) -> Result<(Vec<u8>, usize, bool), ChunkError> {
        let mut decoder = ChunkedDecoder::default();
        let mut body = Vec::new();
        let (used, done) = decoder.decode(input, &mut body, limit)?;
        Ok((body, used, done))
    }

    #[test]
    fn a_chunked_body_stops_at_its_end_and_leaves_what_follows() {
        let (body, used, done) = decode_all(b"4\r\nwiki\r\n0\r\n\r\nGET", 100).expect("valid");
        let (spaced, _, _) = decode_all(b"4 \t; name=x\r\nwiki\r\n0\r\n\r\n", 100).expect("valid");
        assert_eq!(spaced, b"wiki");
        assert_eq!((body.as_slice(), used, done), (&b"wiki"[..], 14, true));
    }

    #[test]
    fn broken_chunked_bodies_are_refused() {
        for bad in [
            &b"x\r\n"[..],
            b"4\r\nwikiX",
            b"4\nwiki\r\n",
            b"4\r\nwiki\r\n0\r\nbad\n",
            b"4\r\nwiki\r\n0\r\n\rX",
            b"ffffffffffffffffff\r\n",
            b"2 zz\r\n{}\r\n0\r\n\r\n",
        ] {
            assert!(
                matches!(decode_all(bad, usize::MAX), Err(ChunkError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_chunked_body_over_the_limit_is_refused_before_it_is_buffered() {
        assert_eq!(decode_all(b"b\r\n", 10), Err(ChunkError::TooLarge(10)));
        assert_eq!(
            decode_all(b"6\r\nabcdef\r\n6\r\n", 10),
            Err(ChunkError::TooLarge(10))
        );
    }
}
