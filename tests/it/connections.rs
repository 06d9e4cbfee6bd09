//! How the server treats connections, over raw TCP: persistent
//! connections (RFC 9112 §9.3), pipelining, HEAD, bursts of new clients,
//! and the exact bytes of responses.
//!
//! HTTP/1.1 keeps a connection open unless the client says
//! `Connection: close`; HTTP/1.0 closes it unless the client says
//! `Connection: keep-alive`. A response after which the server closes says
//! `Connection: close`, and the server then closes its side. Every response
//! is parsed by httparse (see `wire`), and every wait is bounded.

use std::sync::{Arc, Barrier};
use std::thread;

use taskapi::http::{ConnectionHeader, Response, encode};

use crate::support::TestApp;
use crate::wire::{
    self, Answer, HEALTHZ, HEALTHZ_THEN_CLOSE, Wire, list_tasks, parse_response, post_task,
    task_count,
};

#[track_caller]
fn assert_healthy(answer: &Answer) {
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body, b"{\"status\":\"ok\"}\n");
    assert!(answer.header("Date").is_some(), "{answer:?}");
}

#[test]
fn several_requests_on_one_http_1_1_connection_are_answered_on_it() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let mut wire = Wire::open(&app);
    for _ in 0..3 {
        let answer = wire.exchange(HEALTHZ);
        assert_healthy(&answer);
        // HTTP/1.1's default needs no header (RFC 9112 §9.3).
        assert_eq!(answer.header("Connection"), None, "{answer:?}");
    }
    let created = wire.exchange(post_task(&ann, "on a kept connection", ""));
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.header("Connection"), None);
    let listed = wire.exchange(list_tasks(&ann));
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()[0]["title"], "on a kept connection");
    // An API error is an ordinary response: the connection stays open.
    let missing = wire.exchange("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    missing.assert_problem(404);
    assert!(!missing.says_close(), "{missing:?}");
    assert_healthy(&wire.exchange(HEALTHZ));
}

#[test]
fn an_http_1_1_client_that_asks_to_close_is_told_so_and_the_server_closes() {
    let app = TestApp::spawn();
    for option in ["close", "Close", "TE, close"] {
        let mut wire = Wire::open(&app);
        assert_healthy(&wire.exchange(HEALTHZ));
        let request = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: {option}\r\n\r\n");
        let answer = wire.exchange(request);
        assert_healthy(&answer);
        assert!(answer.says_close(), "{option}: {answer:?}");
        wire.assert_closed();
    }
}

#[test]
fn an_http_1_0_request_without_keep_alive_is_answered_and_the_connection_closed() {
    let app = TestApp::spawn();
    let mut wire = Wire::open(&app);
    let answer = wire.exchange("GET /healthz HTTP/1.0\r\n\r\n");
    assert_healthy(&answer);
    assert!(answer.says_close(), "{answer:?}");
    wire.assert_closed();
}

#[test]
fn an_http_1_0_client_that_asks_for_keep_alive_is_told_so_and_kept() {
    let app = TestApp::spawn();
    let mut wire = Wire::open(&app);
    let keep = "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    for _ in 0..3 {
        let answer = wire.exchange(keep);
        assert_healthy(&answer);
        assert_eq!(
            answer.header("Connection"),
            Some("keep-alive"),
            "{answer:?}"
        );
    }
    // Without the option, the next HTTP/1.0 request closes it.
    let last = wire.exchange("GET /healthz HTTP/1.0\r\n\r\n");
    assert!(last.says_close(), "{last:?}");
    wire.assert_closed();
}

#[test]
fn pipelined_requests_are_answered_in_order_each_seeing_the_ones_before() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let mut wire = Wire::open(&app);
    // All six in one write; each is run only after the one before it has
    // been answered, so the lists see the tasks created before them.
    let stream = [
        String::from_utf8(HEALTHZ.to_vec()).unwrap(),
        "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
        post_task(&ann, "first", ""),
        list_tasks(&ann),
        post_task(&ann, "second", ""),
        list_tasks(&ann),
    ]
    .concat();
    wire.send(stream);
    let answers: Vec<Answer> = (0..6).map(|_| wire.response()).collect();
    let statuses: Vec<u16> = answers.iter().map(|answer| answer.status).collect();
    assert_eq!(statuses, [200, 404, 201, 200, 201, 200]);
    assert!(answers.iter().all(|answer| !answer.says_close()));
    let titles = |answer: &Answer| -> Vec<String> {
        answer
            .json()
            .as_array()
            .expect("a task list")
            .iter()
            .map(|task| task["title"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(titles(&answers[3]), ["first"]);
    assert_eq!(titles(&answers[5]), ["first", "second"]);
    // The connection is still open for more.
    assert_healthy(&wire.exchange(HEALTHZ));
}

#[test]
fn nothing_pipelined_after_a_request_that_asks_to_close_is_run() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let mut wire = Wire::open(&app);
    let mut stream = HEALTHZ.to_vec();
    stream.extend_from_slice(HEALTHZ_THEN_CLOSE);
    stream.extend_from_slice(post_task(&ann, "never run", "").as_bytes());
    wire.send(stream);
    let first = wire.response();
    assert_healthy(&first);
    assert!(!first.says_close(), "{first:?}");
    let second = wire.response();
    assert_healthy(&second);
    assert!(second.says_close(), "{second:?}");
    // No third response: the POST was dropped unread.
    wire.assert_closed();
    assert_eq!(task_count(&app, &ann), 0, "the POST after the close ran");
}

#[test]
fn a_head_response_has_no_body_so_the_next_response_follows_its_head() {
    let app = TestApp::spawn();
    let mut wire = Wire::open(&app);
    let mut stream = b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    stream.extend_from_slice(HEALTHZ);
    stream.extend_from_slice(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    wire.send(stream);
    let head = wire.head_response();
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("Content-Length"),
        Some("16"),
        "the GET's length"
    );
    // Had the HEAD response carried its body, this would read it as the
    // start of the next response and fail to parse.
    assert_healthy(&wire.response());
    let last = wire.head_response();
    assert_eq!(last.status, 200);
    assert!(last.says_close());
    wire.assert_closed();
}

/// `count` clients connect at the same moment and send `request` once
/// each, as browsers and pools do, keeping the connection open afterwards.
/// Panics unless every one is answered 200. Returns the open connections,
/// for the caller to hold.
fn burst(app: &TestApp, count: usize, request: &[u8]) -> Vec<Wire> {
    let addr = wire::addr_of(app);
    let start = Arc::new(Barrier::new(count));
    let threads: Vec<_> = (0..count)
        .map(|_| {
            let start = Arc::clone(&start);
            let request = request.to_vec();
            thread::spawn(move || {
                start.wait();
                let mut wire = Wire::open_to(addr);
                wire.send(&request);
                let answer = wire.read_response(false)?;
                if answer.status != 200 || answer.says_close() {
                    return Err(format!("{} {:?}", answer.status, answer.headers));
                }
                Ok(wire)
            })
        })
        .collect();
    let results: Vec<Result<Wire, String>> = threads
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
    results.into_iter().filter_map(Result::ok).collect()
}

/// A server that keeps idle connections for a minute, longer than any of
/// these tests, so held connections stay open.
fn patient_app() -> TestApp {
    TestApp::spawn_configured(|config| config.keep_alive_timeout_ms = 60_000)
}

#[test]
fn bursts_of_new_clients_are_answered_while_hundreds_of_idle_connections_are_held() {
    let app = patient_app();
    // Two hundred idle connections, as browsers keep them...
    let mut idle: Vec<Wire> = (0..4).flat_map(|_| burst(&app, 50, HEALTHZ)).collect();
    // ...and then bursts of new clients, who keep theirs too.
    let mut held = Vec::new();
    for _round in 0..8 {
        held.extend(burst(&app, 64, HEALTHZ));
    }
    // The first ones, idle all this while, are still served.
    for wire in &mut idle {
        assert_healthy(&wire.exchange(HEALTHZ));
    }
    assert_eq!(held.len(), 8 * 64);
}

#[test]
fn repeated_bursts_of_64_health_checks_and_32_task_lists_are_all_answered() {
    let app = patient_app();
    let ann = app.register("ann");
    for n in 0..50 {
        app.create_task(&ann, serde_json::json!({"title": format!("task {n}")}));
    }
    let list = list_tasks(&ann);
    let mut held = Vec::new();
    for _round in 0..10 {
        held.extend(burst(&app, 64, HEALTHZ));
        held.extend(burst(&app, 32, list.as_bytes()));
    }
    assert_eq!(held.len(), 10 * 96);
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
         Content-Length: 16\r\n\
         \r\n\
         {\"status\":\"ok\"}\n"
    );
    assert_eq!(
        strictly_parsed(&bytes, false).body,
        b"{\"status\":\"ok\"}\n"
    );
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
         Content-Length: 16\r\n\
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
    let body = concat!(
        r#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"missing or invalid bearer token"}"#,
        "\n"
    );
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

#[test]
fn a_response_on_a_kept_connection_says_nothing_in_http_1_1_and_keep_alive_in_http_1_0() {
    let response = Response::json(200, &serde_json::json!({"status": "ok"}));
    let written = |connection| {
        let mut bytes = Vec::new();
        encode(&response, false, connection, NOW, &mut bytes);
        String::from_utf8(bytes).unwrap()
    };
    let rest = "X-Content-Type-Options: nosniff\r\n\
                Content-Type: application/json\r\n\
                Content-Length: 16\r\n\
                \r\n\
                {\"status\":\"ok\"}\n";
    let start = "HTTP/1.1 200 OK\r\nDate: Sun, 22 Nov 2026 09:34:56 GMT\r\n";
    assert_eq!(
        written(ConnectionHeader::KeepAlive),
        format!("{start}{rest}")
    );
    assert_eq!(
        written(ConnectionHeader::KeepAliveAnnounced),
        format!("{start}Connection: keep-alive\r\n{rest}")
    );
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
