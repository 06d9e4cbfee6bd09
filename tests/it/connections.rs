//! How the server treats connections, over raw TCP.
//!
//! The clients here behave as real HTTP clients do (browsers, curl,
//! connection pools): after a response they keep the connection open for
//! the next request unless the server said `Connection: close`, in which case
//! they close it once the response is read. Bursts of such clients must all
//! be answered within a second: tiny_http's connection pool can otherwise
//! leave a new connection queued behind idle kept-alive ones indefinitely.
//! Every wait is bounded, so a regression fails instead of hanging.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use taskapi::http::{ConnectionHeader, Response, encode};

use crate::support::TestApp;

/// How long any request may take to be answered in these tests.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// A parsed response.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn says_close(&self) -> bool {
        self.header("Connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"))
    }
}

/// Parses one complete response from the start of `bytes` with httparse (a
/// strict parser). `Ok(None)`: more bytes are needed.
fn parse_response(bytes: &[u8], head_only: bool) -> Result<Option<(Answer, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_length = match response.parse(bytes) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(format!("unparseable response: {error}")),
    };
    let headers: Vec<(String, String)> = response
        .headers
        .iter()
        .map(|header| {
            (
                header.name.to_owned(),
                String::from_utf8_lossy(header.value).into_owned(),
            )
        })
        .collect();
    let status = response.code.ok_or("no status code")?;
    let content_length = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("Content-Length"))
        .map(|(_, value)| value.parse::<usize>().map_err(|_| "bad Content-Length"))
        .transpose()?;
    let body_length = match content_length {
        _ if head_only || status == 204 => 0,
        Some(length) => length,
        None => return Err("a response without Content-Length".to_owned()),
    };
    let total = head_length + body_length;
    if bytes.len() < total {
        return Ok(None);
    }
    let answer = Answer {
        status,
        headers,
        body: bytes[head_length..total].to_vec(),
    };
    Ok(Some((answer, total)))
}

/// Sends `request` on `stream` and reads one response, giving up at
/// `deadline`.
fn exchange(stream: &mut TcpStream, request: &[u8], deadline: Instant) -> Result<Answer, String> {
    stream
        .write_all(request)
        .map_err(|error| format!("write: {error}"))?;
    let head_only = request.starts_with(b"HEAD ");
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((answer, _)) = parse_response(&bytes, head_only)? {
            return Ok(answer);
        }
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or("not answered in time")?;
        stream
            .set_read_timeout(Some(left))
            .map_err(|error| error.to_string())?;
        match stream.read(&mut chunk) {
            Ok(0) => return Err("connection closed before a full response".to_owned()),
            Ok(read) => bytes.extend_from_slice(&chunk[..read]),
            Err(error) => return Err(format!("not answered in time ({error})")),
        }
    }
}

/// One client's request the way a real client makes it: connect, send,
/// read the response; then close if the server said `Connection: close`,
/// else hand the open connection back so the caller keeps it alive.
fn client(
    addr: SocketAddr,
    request: &[u8],
    deadline: Instant,
) -> Result<Option<TcpStream>, String> {
    let mut stream = TcpStream::connect(addr).map_err(|error| format!("connect: {error}"))?;
    let answer = exchange(&mut stream, request, deadline)?;
    if answer.status != 200 {
        return Err(format!("status {}", answer.status));
    }
    Ok((!answer.says_close()).then_some(stream))
}

/// `count` clients connect at the same moment and send `request` once each.
/// Panics unless every one is answered within `ANSWER_WITHIN`. Returns the
/// connections the server left open, which the caller holds like a browser.
fn burst(addr: SocketAddr, count: usize, request: &[u8]) -> Vec<TcpStream> {
    let start = Arc::new(Barrier::new(count));
    let threads: Vec<_> = (0..count)
        .map(|_| {
            let start = Arc::clone(&start);
            let request = request.to_vec();
            thread::spawn(move || {
                start.wait();
                client(addr, &request, Instant::now() + ANSWER_WITHIN)
            })
        })
        .collect();
    let results: Vec<_> = threads
        .into_iter()
        .map(|thread| thread.join().expect("client thread"))
        .collect();
    let failures: Vec<&String> = results
        .iter()
        .filter_map(|result| result.as_ref().err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {count} requests failed: {failures:?}",
        failures.len()
    );
    results
        .into_iter()
        .filter_map(Result::ok)
        .flatten()
        .collect()
}

fn addr_of(app: &TestApp) -> SocketAddr {
    app.base
        .trim_start_matches("http://")
        .parse()
        .expect("a socket address")
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

#[test]
fn bursts_of_keep_alive_clients_after_a_quiet_spell_are_all_answered() {
    // tiny_http's pool keeps 4 threads when idle and lets extra ones exit
    // after 5 s; after 6 s of quiet a burst of 8 found 4 answered, 4 hung.
    let app = TestApp::spawn();
    let addr = addr_of(&app);
    let mut held = Vec::new();
    for _round in 0..3 {
        thread::sleep(Duration::from_secs(6));
        held.extend(burst(addr, 8, HEALTHZ));
    }
}

#[test]
fn repeated_bursts_of_64_health_checks_and_32_task_lists_are_all_answered() {
    let app = TestApp::spawn();
    let addr = addr_of(&app);
    let ann = app.register("ann");
    for n in 0..50 {
        app.create_task(&ann, serde_json::json!({"title": format!("task {n}")}));
    }
    let list = format!(
        "GET /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n",
        ann.token
    );
    let mut held = Vec::new();
    for _round in 0..20 {
        held.extend(burst(addr, 64, HEALTHZ));
        held.extend(burst(addr, 32, list.as_bytes()));
    }
}

#[test]
fn clients_that_keep_idle_connections_do_not_block_new_clients() {
    let app = TestApp::spawn();
    let addr = addr_of(&app);
    // Sixteen clients that would hold their connections open, idle, for as
    // long as the server allows, as a browser does. The server says
    // `Connection: close`, so they close them: that is the policy at work.
    let held = burst(addr, 16, HEALTHZ);
    assert!(
        held.is_empty(),
        "the server let {} connections stay open",
        held.len()
    );
    // ...and then new clients, in bursts, while those are held.
    let mut more_held = Vec::new();
    for _round in 0..5 {
        more_held.extend(burst(addr, 16, HEALTHZ));
    }
    drop(held);
}

#[test]
fn every_response_says_connection_close_and_the_server_then_closes() {
    let app = TestApp::spawn();
    let addr = addr_of(&app);
    for request in [
        &b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.0\r\n\r\n",
        b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect(addr).unwrap();
        let answer = exchange(&mut stream, request, Instant::now() + ANSWER_WITHIN).unwrap();
        let shown = String::from_utf8_lossy(request);
        assert!(answer.says_close(), "{shown}: {:?}", answer.headers);
        assert!(answer.header("Date").is_some(), "{shown}");
        // The client closes its side as told; the server then releases the
        // connection (for HTTP/1.0 and `Connection: close` it closes first).
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        stream.set_read_timeout(Some(ANSWER_WITHIN)).unwrap();
        let mut rest = Vec::new();
        stream
            .read_to_end(&mut rest)
            .expect("the server closes the connection");
        assert!(
            rest.is_empty(),
            "{shown}: unexpected bytes after the response"
        );
    }
}

#[test]
fn pipelined_requests_are_answered_in_order_starting_with_a_close() {
    let app = TestApp::spawn();
    let addr = addr_of(&app);
    let mut stream = TcpStream::connect(addr).unwrap();
    let two = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
    let first = exchange(&mut stream, two, Instant::now() + ANSWER_WITHIN).unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(first.body, br#"{"status":"ok"}"#);
    assert!(first.says_close());
    // A real client now closes and retries the second request elsewhere;
    // the server keeps serving new connections.
    drop(stream);
    assert!(client(addr, HEALTHZ, Instant::now() + ANSWER_WITHIN).is_ok());
}

#[test]
fn head_sends_the_get_headers_without_a_body() {
    let app = TestApp::spawn();
    let addr = addr_of(&app);
    let mut stream = TcpStream::connect(addr).unwrap();
    let request = b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let answer = exchange(&mut stream, request, Instant::now() + ANSWER_WITHIN).unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("Content-Length"), Some("15"));
    let mut rest = Vec::new();
    stream.set_read_timeout(Some(ANSWER_WITHIN)).unwrap();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "a HEAD response has no body");
}

// The response writer, byte for byte. 1_795_340_096 is
// Sun, 22 Nov 2026 09:34:56 GMT.

const NOW: i64 = 1_795_340_096;

fn strictly_parsed(bytes: &[u8], head_only: bool) -> Answer {
    let (answer, length) = parse_response(bytes, head_only)
        .expect("parseable")
        .expect("complete");
    assert_eq!(length, bytes.len(), "no trailing bytes");
    answer
}

#[test]
fn a_200_with_a_body_is_written_exactly() {
    let response = Response::json(200, &serde_json::json!({"status": "ok"}));
    let bytes = encoded(&response, false);
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        "HTTP/1.1 200 OK\r\n\
         Date: Sun, 22 Nov 2026 09:34:56 GMT\r\n\
         Connection: close\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Content-Type: application/json\r\n\
         Content-Length: 15\r\n\
         \r\n\
         {\"status\":\"ok\"}"
    );
    assert_eq!(strictly_parsed(&bytes, false).body, br#"{"status":"ok"}"#);
}

#[test]
fn a_204_is_written_without_content_length_or_body() {
    let bytes = encoded(&Response::no_content(), false);
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        "HTTP/1.1 204 No Content\r\n\
         Date: Sun, 22 Nov 2026 09:34:56 GMT\r\n\
         Connection: close\r\n\
         X-Content-Type-Options: nosniff\r\n\
         \r\n"
    );
    assert_eq!(strictly_parsed(&bytes, false).status, 204);
}

#[test]
fn a_head_response_keeps_the_content_length_and_drops_the_body() {
    let response = Response::json(200, &serde_json::json!({"status": "ok"}));
    let bytes = encoded(&response, true);
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        "HTTP/1.1 200 OK\r\n\
         Date: Sun, 22 Nov 2026 09:34:56 GMT\r\n\
         Connection: close\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Content-Type: application/json\r\n\
         Content-Length: 15\r\n\
         \r\n"
    );
    assert!(strictly_parsed(&bytes, true).body.is_empty());
}

#[test]
fn a_401_carries_its_challenge() {
    let response =
        taskapi::error::ApiError::Unauthorized(taskapi::error::AuthFailure::InvalidToken)
            .into_response();
    let bytes = encoded(&response, false);
    let body = r#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"missing or invalid bearer token"}"#;
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        format!(
            "HTTP/1.1 401 Unauthorized\r\n\
             Date: Sun, 22 Nov 2026 09:34:56 GMT\r\n\
             Connection: close\r\n\
             X-Content-Type-Options: nosniff\r\n\
             Content-Type: application/problem+json\r\n\
             WWW-Authenticate: Bearer error=\"invalid_token\"\r\n\
             Content-Length: {}\r\n\
             \r\n\
             {body}",
            body.len()
        )
    );
    let answer = strictly_parsed(&bytes, false);
    assert_eq!(
        answer.header("WWW-Authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
}

#[test]
fn a_header_value_with_a_line_break_is_dropped_not_written() {
    let mut response = Response::no_content();
    response.set_header("Location", "/tasks/1\r\nSet-Cookie: evil=1");
    let text = String::from_utf8(encoded(&response, false)).unwrap();
    assert!(!text.contains("evil"), "{text}");
    assert!(!text.contains("Location"), "{text}");
}

/// The bytes `encode` writes for `response` on a connection that closes.
fn encoded(response: &Response, head_only: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    encode(
        response,
        head_only,
        ConnectionHeader::Close,
        NOW,
        &mut bytes,
    );
    bytes
}
