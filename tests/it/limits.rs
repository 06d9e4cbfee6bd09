//! The connection layer's limits, over raw TCP: how long a connection may
//! idle and a request take to arrive, how many requests a connection
//! carries, how large a head and a body may be, and how many connections
//! may be open.
//!
//! The deadlines are set short here (300 ms) so the suite stays quick; the
//! poller checks them every 100 ms. No test asserts how soon a deadline
//! fires, only that it does and what the client then gets; every wait is
//! bounded by `wire::PATIENCE` so a deadline that never fires fails the
//! test instead of hanging it.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::TestApp;
use crate::wire::{HEALTHZ, PATIENCE, Wire, addr_of, post_task, task_count, trickle};

/// A server with the configuration changed by `adjust`, keeping idle
/// connections for a minute unless `adjust` says otherwise, so only the
/// limit under test can close one.
fn app_with(adjust: impl FnOnce(&mut taskapi::config::Config)) -> TestApp {
    TestApp::spawn_configured(|config| {
        config.keep_alive_timeout_ms = 60_000;
        adjust(config);
    })
}

#[track_caller]
fn assert_healthy(wire: &mut Wire) {
    let answer = wire.exchange(HEALTHZ);
    assert_eq!(answer.status, 200, "{answer:?}");
}

// Idle connections.

#[test]
fn an_idle_connection_is_closed_silently_after_the_keep_alive_timeout() {
    let app = TestApp::spawn_configured(|config| config.keep_alive_timeout_ms = 300);
    let mut wire = Wire::open(&app);
    assert_healthy(&mut wire);
    assert_healthy(&mut wire);
    // No 408: nothing was asked, so nothing is owed (RFC 9112 §9.5).
    wire.assert_closed();
}

#[test]
fn a_new_connection_that_sends_nothing_is_closed_silently_after_the_keep_alive_timeout() {
    let app = TestApp::spawn_configured(|config| config.keep_alive_timeout_ms = 300);
    let mut wire = Wire::open(&app);
    wire.assert_closed();
    // The server still serves a client that does speak.
    assert_healthy(&mut Wire::open(&app));
}

#[test]
fn a_stray_crlf_after_a_request_leaves_the_connection_idle() {
    // Some clients end a body with an extra CRLF that its length does not
    // count. RFC 9112 §2.2: a server expecting a request line should
    // ignore an empty line before it. So this connection is idle, not
    // part-way through a head: it is closed silently at the keep-alive
    // timeout, not answered 408 at the (here much longer) head timeout.
    let app = TestApp::spawn_configured(|config| {
        config.keep_alive_timeout_ms = 300;
        config.request_head_timeout_ms = 60_000;
    });
    let mut wire = Wire::open(&app);
    let answer = wire.exchange("POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}\r\n");
    answer.assert_problem(404);
    wire.assert_closed();
}

// Requests per connection.

#[test]
fn the_last_response_a_connection_may_carry_says_close_and_the_connection_closes() {
    let app = app_with(|config| config.max_requests_per_connection = 3);
    let mut wire = Wire::open(&app);
    for _ in 0..2 {
        let answer = wire.exchange(HEALTHZ);
        assert_eq!(answer.status, 200);
        assert!(!answer.says_close(), "{answer:?}");
    }
    let third = wire.exchange(HEALTHZ);
    assert_eq!(third.status, 200);
    assert!(third.says_close(), "{third:?}");
    wire.assert_closed();
    // Each connection has its own count.
    let mut next = Wire::open(&app);
    assert!(!next.exchange(HEALTHZ).says_close());
}

#[test]
fn requests_pipelined_beyond_the_per_connection_limit_are_not_run() {
    let app = app_with(|config| config.max_requests_per_connection = 3);
    let ann = app.register("ann");
    let mut wire = Wire::open(&app);
    let stream: String = (0..5)
        .map(|n| post_task(&ann, &format!("task {n}"), ""))
        .collect();
    wire.send(stream);
    for n in 0..3 {
        let answer = wire.response();
        assert_eq!(answer.status, 201, "request {n}: {answer:?}");
        assert_eq!(answer.says_close(), n == 2, "request {n}: {answer:?}");
    }
    wire.assert_closed();
    assert_eq!(task_count(&app, &ann), 3, "only the first three were run");
}

// Deadlines for a request to arrive.

#[test]
fn a_head_that_stops_arriving_gets_408_after_the_head_timeout() {
    let app = app_with(|config| config.request_head_timeout_ms = 300);
    let mut wire = Wire::open(&app);
    wire.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ");
    let detail = wire.response().assert_refusal(408);
    assert!(detail.contains("head"), "{detail}");
    wire.assert_closed();
}

#[test]
fn a_partial_head_on_a_kept_connection_gets_408_too() {
    let app = app_with(|config| config.request_head_timeout_ms = 300);
    let mut wire = Wire::open(&app);
    assert_healthy(&mut wire);
    wire.send("GET /heal");
    wire.response().assert_refusal(408);
    wire.assert_closed();
}

#[test]
fn a_body_trickled_byte_by_byte_gets_408_after_the_body_timeout() {
    // A byte every 20 ms, far inside 300 ms: the deadline runs from the end
    // of the head, not from the last byte.
    let app = app_with(|config| config.request_body_timeout_ms = 300);
    let ann = app.register("ann");
    let mut wire = Wire::open(&app);
    let body = json!({"title": "trickled", "description": "x".repeat(4000)}).to_string();
    wire.send(format!(
        "POST /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        ann.token,
        body.len()
    ));
    let _trickle = trickle(&wire, body.into_bytes(), Duration::from_millis(20));
    let detail = wire.response().assert_refusal(408);
    assert!(detail.contains("body"), "{detail}");
    assert_eq!(task_count(&app, &ann), 0);
}

#[test]
fn a_request_trickled_byte_by_byte_within_its_deadlines_is_answered() {
    let app = app_with(|config| {
        config.request_head_timeout_ms = 60_000;
        config.request_body_timeout_ms = 60_000;
    });
    let ann = app.register("ann");
    let mut wire = Wire::open(&app);
    let request = post_task(&ann, "trickled", "");
    let _trickle = trickle(&wire, request.into_bytes(), Duration::from_millis(1));
    let answer = wire.response();
    assert_eq!(answer.status, 201, "{answer:?}");
    assert!(!answer.says_close());
    assert_healthy(&mut wire);
}

// Sizes.

/// A `GET /healthz` whose head is exactly `length` bytes long, padded with
/// one header.
fn head_of(length: usize) -> String {
    let start = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    let end = "\r\n\r\n";
    let head = format!(
        "{start}{}{end}",
        "p".repeat(length - start.len() - end.len())
    );
    assert_eq!(head.len(), length);
    head
}

#[test]
fn a_head_of_16_kib_is_read_and_one_byte_more_gets_431() {
    let app = app_with(|_| {});
    let mut wire = Wire::open(&app);
    assert_eq!(wire.exchange(head_of(16 * 1024)).status, 200);
    let mut wire = Wire::open(&app);
    wire.send(head_of(16 * 1024 + 1));
    let detail = wire.response().assert_refusal(431);
    assert!(detail.contains("16384"), "{detail}");
    wire.assert_closed();
}

#[test]
fn a_request_line_longer_than_16_kib_gets_414() {
    let app = app_with(|_| {});
    let mut wire = Wire::open(&app);
    let _ = wire.try_send(format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(17 * 1024)
    ));
    wire.response().assert_refusal(414);
}

/// A `GET /healthz` with `count` header fields in all.
fn with_fields(count: usize) -> String {
    let mut request = "GET /healthz HTTP/1.1\r\nHost: x\r\n".to_owned();
    for n in 1..count {
        request.push_str(&format!("X-Field-{n}: {n}\r\n"));
    }
    request + "\r\n"
}

#[test]
fn a_request_with_100_header_fields_is_read_and_one_with_101_gets_431() {
    let app = app_with(|_| {});
    let mut wire = Wire::open(&app);
    assert_eq!(wire.exchange(with_fields(100)).status, 200);
    let mut wire = Wire::open(&app);
    wire.send(with_fields(101));
    let detail = wire.response().assert_refusal(431);
    assert!(detail.contains("100"), "{detail}");
    wire.assert_closed();
}

#[test]
fn a_content_length_over_1_mib_gets_413_before_any_of_the_body_is_sent() {
    let app = app_with(|_| {});
    let ann = app.register("ann");
    let mut wire = Wire::open(&app);
    // The head alone: were the server to wait for the body, no answer
    // would come.
    wire.send(format!(
        "POST /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        ann.token,
        1024 * 1024 + 1
    ));
    let detail = wire.response().assert_refusal(413);
    assert!(detail.contains("1048576"), "{detail}");
    wire.assert_closed();
    assert_eq!(task_count(&app, &ann), 0);
}

#[test]
fn a_body_of_exactly_1_mib_is_read_and_handled() {
    let app = app_with(|_| {});
    let ann = app.register("ann");
    // Valid JSON of exactly 1 MiB: a small object after a run of spaces.
    let object = json!({"title": "a mebibyte"}).to_string();
    let body = format!("{}{object}", " ".repeat(1024 * 1024 - object.len()));
    let mut wire = Wire::open(&app);
    wire.send(format!(
        "POST /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        ann.token,
        body.len()
    ));
    let answer = wire.response();
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.json()["title"], "a mebibyte");
    assert!(!answer.says_close());
}

#[test]
fn a_chunked_body_that_grows_past_1_mib_gets_413() {
    let app = app_with(|_| {});
    let ann = app.register("ann");
    let mut wire = Wire::open(&app);
    wire.send(format!(
        "POST /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        ann.token
    ));
    // Seventeen chunks of 64 KiB: one more than fits.
    let chunk = format!("10000\r\n{}\r\n", " ".repeat(64 * 1024));
    for _ in 0..17 {
        if wire.try_send(&chunk).is_err() {
            break;
        }
    }
    wire.response().assert_refusal(413);
    assert_eq!(task_count(&app, &ann), 0);
}

// Open connections.

#[test]
fn with_max_connections_4_a_fifth_connection_gets_503_and_the_four_are_still_served() {
    // Only raw connections here: the harness's client would take slots of
    // its own.
    let app = app_with(|config| config.max_connections = 4);
    let mut four: Vec<Wire> = (0..4).map(|_| Wire::open(&app)).collect();
    for wire in &mut four {
        assert_healthy(wire);
    }
    // A fifth that waits to be spoken to, and one that speaks at once.
    let mut quiet = Wire::open(&app);
    let refused = quiet.response();
    refused.assert_refusal(503);
    assert_eq!(refused.header("Retry-After"), Some("1"), "{refused:?}");
    quiet.assert_closed();
    let mut eager = Wire::open(&app);
    let _ = eager.try_send(HEALTHZ);
    eager.response().assert_refusal(503);

    for wire in &mut four {
        assert_healthy(wire);
    }
}

#[test]
fn a_connection_that_closes_frees_its_place_for_the_next_client() {
    let app = app_with(|config| config.max_connections = 4);
    let mut four: Vec<Wire> = (0..4).map(|_| Wire::open(&app)).collect();
    for wire in &mut four {
        assert_healthy(wire);
    }
    drop(four.pop());
    // The server frees the place once it sees the close, which it may not
    // have yet when the next client connects: that one may still be
    // refused, so retry for a while.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut wire = Wire::open_to(addr_of(&app));
        let _ = wire.try_send(HEALTHZ);
        let answer = wire.response();
        if answer.status == 200 {
            break;
        }
        answer.assert_refusal(503);
        assert!(
            Instant::now() < deadline,
            "still refused {PATIENCE:?} after a close"
        );
        thread::sleep(Duration::from_millis(20));
    }
    for wire in &mut four {
        assert_healthy(wire);
    }
}

#[test]
fn bodies_past_the_memory_budget_get_503_and_the_budget_comes_back() {
    let app = app_with(|config| config.max_body_memory_mib = 1);
    let head = |length: usize| {
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n")
    };
    // A holds the first 1,500 bytes of its body, waiting for the rest. A
    // round trip on another connection makes sure the server has read
    // them: the poller reads every ready socket in each pass.
    let mut holder = Wire::open(&app);
    holder.send([head(2_000).as_bytes(), &[b'a'; 1_500]].concat());
    assert_eq!(Wire::open(&app).exchange(HEALTHZ).status, 200);
    // B's body is the whole budget: with A's bytes held, it has no room.
    let mut refused = Wire::open(&app);
    refused.send(head(1024 * 1024));
    let _ = refused.try_send(vec![b'b'; 1024 * 1024]);
    let answer = refused.response();
    answer.assert_refusal(503);
    assert_eq!(answer.header("Retry-After"), Some("1"), "{answer:?}");
    // A small body still fits beside A's, and A finishes.
    let mut small = Wire::open(&app);
    small.send([head(1_000).as_bytes(), &[b'c'; 1_000]].concat());
    assert_eq!(small.response().status, 200);
    holder.send([b'a'; 500]);
    assert_eq!(holder.response().status, 200);
    // Everything went back: a body of the whole budget is read.
    let mut whole = Wire::open(&app);
    whole.send([head(1024 * 1024).as_bytes(), &vec![b'd'; 1024 * 1024]].concat());
    assert_eq!(whole.response().status, 200);
}

#[test]
fn a_client_that_reads_none_of_its_responses_is_closed_after_the_send_timeout() {
    let app = app_with(|config| config.send_timeout_ms = 300);
    // Hundreds of pipelined requests for the OpenAPI document (about
    // 100 KB each), and not a byte read: the socket's buffers fill and the
    // rest of the answers wait in the server, with no progress.
    let mut stalled = Wire::open(&app);
    let request = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n";
    let _ = stalled.try_send(request.repeat(300));
    // Others are served meanwhile.
    let mut other = Wire::open(&app);
    assert_healthy(&mut other);
    // The stalled connection is closed: reading it now ends, at end of
    // file or a reset, long before all 300 answers could have come.
    thread::sleep(Duration::from_millis(1_000));
    let mut stream = stalled.stream();
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("set a timeout");
    let mut chunk = vec![0; 1 << 20];
    let mut received = 0;
    loop {
        match std::io::Read::read(&mut stream, &mut chunk) {
            Ok(0) => break,
            Ok(read) => received += read,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(error) => panic!("the connection stayed open ({error}) after {received} bytes"),
        }
    }
    let document = app.get("/openapi.json").send().text.len();
    assert!(
        received < 300 * document,
        "all {received} bytes arrived: nothing was cut off"
    );
    assert_healthy(&mut other);
}
