//! Broken and hostile clients over raw TCP: each gets the answer the
//! connection layer gives it, and none of them stops the server serving
//! everyone else.
//!
//! The servers here run two workers, so a client that could hold a worker
//! would starve half the server with one connection and all of it with
//! two. After every attack a normal client must still get its answer;
//! every wait is bounded (`wire::PATIENCE`), so a regression fails instead
//! of hanging.

use std::net::Shutdown;
use std::thread;
use std::time::Duration;

use serde_json::json;
use taskapi::config::Config;

use crate::support::{Session, TestApp};
use crate::wire::{
    Ending, HEALTHZ, Trickle, Wire, assert_still_serving, post_task, reset_on_close, task_count,
    trickle,
};

fn two_workers() -> TestApp {
    TestApp::spawn_with(2, taskapi::router::dispatch)
}

/// Two workers and the configuration changed by `adjust`.
fn two_workers_and(adjust: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::spawn_configured(|config| {
        config.workers = 2;
        adjust(config);
    })
}

/// A `POST /tasks` whose head is complete and whose body is owed: it
/// declares `declared` bytes and sends only `sent`.
fn owing_a_body(app: &TestApp, session: &Session, declared: u64, sent: &[u8]) -> Wire {
    let mut wire = Wire::open(app);
    wire.send(format!(
        "POST /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n",
        session.token
    ));
    wire.send(sent);
    wire
}

/// A task body of exactly `size` bytes.
fn task_body_of(size: usize, title: &str) -> Vec<u8> {
    let empty = json!({"title": title, "description": ""}).to_string();
    let padding = "x".repeat(size - empty.len());
    json!({"title": title, "description": padding})
        .to_string()
        .into_bytes()
}

/// A head that never ends: a request line and a header value that goes on
/// for 4 KB (under the size limit, so only the clock can stop it).
fn endless_head() -> Vec<u8> {
    let mut head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 4096));
    head
}

#[test]
fn a_client_trickling_its_head_byte_by_byte_gets_408_after_the_head_timeout() {
    // A byte every 20 ms, far inside 300 ms: the deadline runs from the
    // first byte and is not pushed back by each one (else this client
    // would hold its connection for as long as it likes).
    let app = two_workers_and(|config| {
        config.request_head_timeout_ms = 300;
        config.keep_alive_timeout_ms = 60_000;
    });
    let mut wire = Wire::open(&app);
    let _trickle = trickle(&wire, endless_head(), Duration::from_millis(20));
    let answer = wire.response();
    let detail = answer.assert_refusal(408);
    assert!(detail.contains("head"), "{detail}");
    wire.assert_closed();
}

#[test]
fn clients_trickling_their_heads_do_not_hold_up_other_clients() {
    let app = two_workers_and(|config| config.request_head_timeout_ms = 2_000);
    let ann = app.register("ann");
    // Twice as many tricklers as workers.
    let mut tricklers: Vec<(Wire, Trickle)> = (0..4)
        .map(|_| {
            let wire = Wire::open(&app);
            let trickling = trickle(&wire, endless_head(), Duration::from_millis(20));
            (wire, trickling)
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    assert_still_serving(&app, &ann, "while four heads trickle in");
    app.create_task(&ann, json!({"title": "while they trickle"}));
    for (wire, _) in &mut tricklers {
        wire.response().assert_refusal(408);
    }
}

#[test]
fn bodies_that_never_arrive_get_408_and_change_nothing() {
    let app = two_workers_and(|config| {
        config.request_body_timeout_ms = 300;
        config.keep_alive_timeout_ms = 60_000;
    });
    let ann = app.register("ann");
    // Eight clients, four times the workers, send their heads and part of
    // their bodies, then nothing.
    let mut owing: Vec<Wire> = (0..8)
        .map(|n| {
            let body = task_body_of(5_000, &format!("owed {n}"));
            owing_a_body(&app, &ann, 5_000, &body[..2_000])
        })
        .collect();
    assert_still_serving(&app, &ann, "while eight bodies are owed");
    for wire in &mut owing {
        let detail = wire.response().assert_refusal(408);
        assert!(detail.contains("body"), "{detail}");
        wire.assert_closed();
    }
    assert_eq!(task_count(&app, &ann), 0, "no owed task was created");
    let small = app
        .post("/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "small"}));
    assert_eq!(small.status, 201, "{}", small.text);
}

#[test]
fn a_client_that_sends_an_oversized_body_anyway_still_reads_the_413() {
    let app = two_workers();
    let ann = app.register("ann");
    // As curl does without `Expect`: the head, then the body straight
    // after, whatever the server says. The 413 comes from the head alone;
    // the server then reads and drops what follows for a while rather
    // than close at once, since a close with unread bytes would reset
    // the connection and could destroy the 413 before the client read it.
    let declared = 3 * 1024 * 1024;
    let wire = owing_a_body(&app, &ann, declared, b"");
    let mut writer = wire.stream().try_clone().expect("clone the socket");
    let sender = thread::spawn(move || {
        use std::io::Write;
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..declared / chunk.len() as u64 {
            if writer.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let mut wire = wire;
    wire.response().assert_refusal(413);
    sender.join().expect("the sending thread");
    let _ = wire.stream().shutdown(Shutdown::Write);
    assert_eq!(
        wire.ending(),
        Ok(Ending::Closed(Vec::new())),
        "closed cleanly after the 413"
    );
    assert_still_serving(&app, &ann, "after a large body");
    assert_eq!(task_count(&app, &ann), 0);
}

#[test]
fn a_content_length_of_u64_max_gets_413_at_once_and_creates_nothing() {
    let app = two_workers();
    let ann = app.register("ann");
    let mut wire = owing_a_body(&app, &ann, u64::MAX, b"{\"title\": \"huge\"}");
    wire.response().assert_refusal(413);
    wire.assert_closed();
    assert_still_serving(&app, &ann, "after a u64::MAX length");
    assert_eq!(task_count(&app, &ann), 0);
}

#[test]
fn a_connection_reset_in_the_middle_of_a_body_creates_nothing() {
    let app = two_workers();
    let ann = app.register("ann");
    for _ in 0..4 {
        let wire = owing_a_body(&app, &ann, 5_000, &task_body_of(5_000, "cut")[..2_000]);
        thread::sleep(Duration::from_millis(50));
        reset_on_close(wire.stream());
        drop(wire);
    }
    assert_still_serving(&app, &ann, "after resets");
    assert_eq!(task_count(&app, &ann), 0);
}

#[test]
fn a_client_that_connects_and_closes_or_half_closes_harms_nothing() {
    let app = two_workers();
    let ann = app.register("ann");
    for _ in 0..20 {
        drop(Wire::open(&app));
        let mut half = Wire::open(&app);
        half.stream().shutdown(Shutdown::Write).expect("half-close");
        // Nothing was asked, so nothing is answered: the server just closes.
        half.assert_closed();
    }
    assert_still_serving(&app, &ann, "after empty connections");
}

#[test]
fn content_length_with_transfer_encoding_gets_400_and_nothing_after_it_runs() {
    let app = two_workers();
    let ann = app.register("ann");
    // RFC 9112 §6.1: a request with both is a smuggling attempt or a
    // broken client. A server reading it by Content-Length (3 bytes) would
    // see the chunked body's remainder, a whole `POST /tasks`, as the next
    // request; one reading it as chunked would create "chunked". Refusing
    // it runs neither.
    let smuggled = post_task(&ann, "smuggled", "");
    let body = json!({"title": "chunked"}).to_string();
    let request = format!(
        "POST /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 3\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n{smuggled}",
        ann.token,
        body.len()
    );
    let mut wire = Wire::open(&app);
    let _ = wire.try_send(request);
    let detail = wire.response().assert_refusal(400);
    assert!(detail.contains("Transfer-Encoding"), "{detail}");
    wire.assert_closed();
    assert_eq!(task_count(&app, &ann), 0);
}

#[test]
fn headers_of_100_kb_get_431_and_change_nothing() {
    let app = two_workers();
    let ann = app.register("ann");
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let mut wire = Wire::open(&app);
    // The server answers after the first 16 KiB and reads the rest only to
    // drop it, so the write may or may not complete.
    let _ = wire.try_send(request);
    wire.response().assert_refusal(431);
    let _ = wire.stream().shutdown(Shutdown::Write);
    assert_eq!(
        wire.ending(),
        Ok(Ending::Closed(Vec::new())),
        "closed cleanly after the 431"
    );
    assert_still_serving(&app, &ann, "after big headers");
}

#[test]
fn a_header_value_that_is_not_utf8_gets_400_naming_the_header() {
    let app = two_workers();
    let ann = app.register("ann");
    let mut wire = Wire::open(&app);
    wire.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: \xff\xfe\r\n\r\n");
    let detail = wire.response().assert_refusal(400);
    assert!(detail.contains("X-Bad"), "{detail}");
    wire.assert_closed();
    assert_still_serving(&app, &ann, "after a header that is not UTF-8");
}

#[test]
fn invalid_utf8_in_the_path_or_a_json_body_gets_a_problem_400() {
    let app = two_workers();
    let ann = app.register("ann");
    let in_path = app.get("/tasks/%FF").bearer(&ann.token).send();
    in_path.assert_problem(400);
    let in_body = app.post("/tasks").bearer(&ann.token).body_bytes(
        Some("application/json"),
        b"{\"title\": \"\xff\xfe\"}".to_vec(),
    );
    in_body.assert_problem(400);
    assert_still_serving(&app, &ann, "after invalid UTF-8");
    assert_eq!(task_count(&app, &ann), 0);
}

#[test]
fn an_http2_preface_gets_505_and_the_server_keeps_serving() {
    let app = two_workers();
    let ann = app.register("ann");
    for _ in 0..4 {
        let mut wire = Wire::open(&app);
        let _ = wire.try_send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        wire.response().assert_refusal(505);
        wire.assert_closed();
    }
    assert_still_serving(&app, &ann, "after HTTP/2 prefaces");
}

#[test]
fn requests_with_bare_line_feeds_are_accepted_and_answered() {
    // RFC 9112 §2.2: a recipient may take a bare LF as a line end. Four
    // such clients, twice the workers, each send two requests on one
    // connection.
    let app = two_workers();
    let ann = app.register("ann");
    let mut clients: Vec<Wire> = (0..4).map(|_| Wire::open(&app)).collect();
    for wire in &mut clients {
        wire.send(b"GET /healthz HTTP/1.1\nHost: x\n\nGET /healthz HTTP/1.1\nHost: x\n\n");
    }
    for wire in &mut clients {
        for _ in 0..2 {
            let answer = wire.response();
            assert_eq!(answer.status, 200, "{answer:?}");
            assert_eq!(answer.body, b"{\"status\":\"ok\"}\n");
        }
    }
    assert_still_serving(&app, &ann, "after bare-LF clients");
}

#[test]
fn many_uploads_at_once_on_two_workers_are_all_created() {
    let app = two_workers();
    let ann = app.register("ann");
    let base = app.base.clone();
    let threads: Vec<_> = (0..16)
        .map(|n| {
            let base = base.clone();
            let token = ann.token.clone();
            thread::spawn(move || {
                let body = task_body_of(5_000, &format!("quick {n}"));
                let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
                crate::support::call(&base, "POST", "/tasks")
                    .bearer(&token)
                    .json(body)
                    .status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(statuses.iter().all(|&status| status == 201), "{statuses:?}");
    assert_eq!(task_count(&app, &ann), 16);
}

#[test]
fn a_request_asking_to_upgrade_is_answered_as_http_1_1_on_a_connection_that_stays_open() {
    let app = two_workers();
    let ann = app.register("ann");
    // What `curl --http2` sends over plain HTTP. The server does not
    // upgrade (it speaks only HTTP/1.x), so it answers as usual and the
    // connection carries on.
    let upgrade = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\
                   HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n";
    let mut wire = Wire::open(&app);
    let get = wire.exchange(format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{upgrade}\r\n"));
    assert_eq!(get.status, 200, "{get:?}");
    assert!(!get.says_close(), "{get:?}");

    let post = wire.exchange(post_task(&ann, "upgraded", upgrade));
    assert_eq!(post.status, 201, "{post:?}");
    assert_eq!(wire.exchange(HEALTHZ).status, 200);
    assert_eq!(task_count(&app, &ann), 1);
}
