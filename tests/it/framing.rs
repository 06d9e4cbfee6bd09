//! Message framing over raw TCP (RFC 9112 §6-7): how the server finds
//! where a request body ends, and refuses every request whose framing is
//! ambiguous rather than guess; `Expect: 100-continue` (RFC 9110 §10.1.1);
//! and the protocol versions it speaks.
//!
//! Two parsers that guess differently about where a body ends are how
//! request smuggling works, so every refusal here closes the connection:
//! the bytes after a badly framed request cannot be trusted to start the
//! next one. Each refusal is a problem document that says
//! `Connection: close` (`Answer::assert_refusal`).

use serde_json::json;

use crate::support::{Session, TestApp};
use crate::wire::{HEALTHZ, Wire, list_tasks, post_task, task_count};

/// The head of a `POST /tasks` for `session` with `framing` (header lines,
/// each ending in CRLF) and nothing after it.
fn post_head(session: &Session, framing: &str) -> String {
    format!(
        "POST /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\n{framing}\r\n",
        session.token
    )
}

/// Sends `request` on a fresh connection and asserts the layer refuses it
/// with `status` and closes.
#[track_caller]
fn assert_refused(app: &TestApp, request: &str, status: u16) -> String {
    let mut wire = Wire::open(app);
    let _ = wire.try_send(request);
    let answer = wire
        .read_response(false)
        .unwrap_or_else(|error| panic!("{request:?}: {error}"));
    let detail = answer.assert_refusal(status);
    wire.assert_closed();
    detail
}

// Bodies.

#[test]
fn a_chunked_body_is_decoded_with_extensions_and_trailers_dropped() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let mut wire = Wire::open(&app);
    let body = json!({"title": "sent in chunks"}).to_string();
    let (first, rest) = body.split_at(5);
    let (second, third) = rest.split_at(10);
    let request = format!(
        "{}{:x}\r\n{first}\r\n{:X};name=value\r\n{second}\r\n{:x}\r\n{third}\r\n\
         0\r\nX-Checksum: whatever\r\n\r\n",
        post_head(&ann, "Transfer-Encoding: chunked\r\n"),
        first.len(),
        second.len(),
        third.len()
    );
    let created = wire.exchange(request);
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.json()["title"], "sent in chunks");
    // The decoder stopped exactly at the end of the body: the connection
    // carries on with the next request.
    assert!(!created.says_close());
    assert_eq!(wire.exchange(HEALTHZ).status, 200);
}

#[test]
fn pipelined_requests_with_both_kinds_of_body_are_read_in_order() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let mut wire = Wire::open(&app);
    let chunked_body = json!({"title": "chunked"}).to_string();
    let chunked = format!(
        "{}{:x}\r\n{chunked_body}\r\n0\r\n\r\n",
        post_head(&ann, "Transfer-Encoding: chunked\r\n"),
        chunked_body.len()
    );
    wire.send(
        [
            post_task(&ann, "by length", ""),
            chunked,
            post_task(&ann, "by length again", ""),
            list_tasks(&ann),
        ]
        .concat(),
    );
    let statuses: Vec<u16> = (0..3).map(|_| wire.response().status).collect();
    assert_eq!(statuses, [201, 201, 201]);
    let list = wire.response().json();
    let titles: Vec<&str> = list
        .as_array()
        .expect("a task list")
        .iter()
        .map(|task| task["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(titles, ["by length", "chunked", "by length again"]);
}

#[test]
fn a_malformed_chunked_body_gets_400_and_creates_nothing() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let head = post_head(&ann, "Transfer-Encoding: chunked\r\n");
    let body = json!({"title": "bad chunks"}).to_string();
    for broken in [
        // A size that is not hexadecimal.
        format!("zz\r\n{body}\r\n0\r\n\r\n"),
        // No size at all.
        format!("\r\n{body}\r\n0\r\n\r\n"),
        // More data than the size said, so no CRLF where it must be.
        format!("{:x}\r\n{body}tail\r\n0\r\n\r\n", body.len()),
        // A size line ended by CR and something other than LF.
        format!("{:x}\rX{body}\r\n0\r\n\r\n", body.len()),
    ] {
        let request = format!("{head}{broken}");
        let detail = assert_refused(&app, &request, 400);
        assert!(detail.contains("chunked"), "{broken:?}: {detail}");
    }
    assert_eq!(task_count(&app, &ann), 0);
}

#[test]
fn differing_content_length_values_get_400_and_equal_ones_are_read() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let body = json!({"title": "one length"}).to_string();
    let length = body.len();
    for framing in [
        format!(
            "Content-Length: {length}\r\nContent-Length: {}\r\n",
            length + 1
        ),
        format!("Content-Length: {length}, {}\r\n", length + 1),
    ] {
        let request = format!("{}{body}", post_head(&ann, &framing));
        let detail = assert_refused(&app, &request, 400);
        assert!(detail.contains("Content-Length"), "{framing:?}: {detail}");
    }
    assert_eq!(task_count(&app, &ann), 0);
    // The same value twice is one length (RFC 9110 §8.6).
    let mut wire = Wire::open(&app);
    let framing = format!("Content-Length: {length}\r\nContent-Length: {length}\r\n");
    let created = wire.exchange(format!("{}{body}", post_head(&ann, &framing)));
    assert_eq!(created.status, 201, "{created:?}");
}

#[test]
fn a_content_length_that_is_not_a_whole_number_gets_400() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    for value in ["abc", "-1", "+5", "0x10", "1.5", ""] {
        let request = post_head(&ann, &format!("Content-Length: {value}\r\n"));
        assert_refused(&app, &request, 400);
    }
}

#[test]
fn transfer_codings_other_than_a_single_final_chunked_are_refused() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    // Chunked last, after a coding the server does not decode: 501 (RFC
    // 9112 §6.1); chunked not last, or absent, leaves the body's end
    // unknown: 400.
    for (framing, status) in [
        ("Transfer-Encoding: gzip, chunked\r\n", 501),
        (
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
            501,
        ),
        ("Transfer-Encoding: chunked, gzip\r\n", 400),
        ("Transfer-Encoding: gzip\r\n", 400),
        ("Transfer-Encoding: identity\r\n", 400),
    ] {
        let request = format!("{}0\r\n\r\n", post_head(&ann, framing));
        assert_refused(&app, &request, status);
    }
    assert_eq!(task_count(&app, &ann), 0);
}

#[test]
fn transfer_encoding_in_an_http_1_0_request_gets_400() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let body = json!({"title": "from 1.0"}).to_string();
    let request = format!(
        "POST /tasks HTTP/1.0\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{body}\r\n0\r\n\r\n",
        ann.token,
        body.len()
    );
    assert_refused(&app, &request, 400);
    assert_eq!(task_count(&app, &ann), 0);
}

// Versions and request lines.

#[test]
fn versions_other_than_http_1_0_and_1_1_get_505() {
    let app = TestApp::spawn();
    for version in ["HTTP/2.0", "HTTP/1.2", "HTTP/3", "HTTP/0.9"] {
        let request = format!("GET /healthz {version}\r\nHost: x\r\n\r\n");
        assert_refused(&app, &request, 505);
    }
}

#[test]
fn one_empty_line_before_a_request_line_is_ignored() {
    // RFC 9112 §2.2, for clients that end a body with a CRLF too many.
    let app = TestApp::spawn();
    let mut wire = Wire::open(&app);
    let answer = wire.exchange("\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = wire.exchange("\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[test]
fn a_request_line_that_is_not_http_gets_400() {
    let app = TestApp::spawn();
    for request in [
        "HELLO\r\n\r\n",
        "GET healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /healthz HTTP/one\r\nHost: x\r\n\r\n",
        "GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nNo colon here\r\n\r\n",
    ] {
        assert_refused(&app, request, 400);
    }
}

// Expect: 100-continue.

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

#[test]
fn expect_100_continue_gets_a_bare_100_and_then_the_answer_once_the_body_is_sent() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let body = json!({"title": "after continue"}).to_string();
    let mut wire = Wire::open(&app);
    wire.send(post_head(
        &ann,
        &format!("Expect: 100-continue\r\nContent-Length: {}\r\n", body.len()),
    ));
    // No header fields at all, not even Content-Length (RFC 9110 §15.2).
    assert_eq!(
        String::from_utf8_lossy(&wire.raw(CONTINUE.len())),
        String::from_utf8_lossy(CONTINUE)
    );
    let created = wire.exchange(body);
    assert_eq!(created.status, 201, "{created:?}");
    assert!(!created.says_close());
    assert_eq!(wire.exchange(HEALTHZ).status, 200, "the connection goes on");
}

#[test]
fn expect_100_continue_gets_the_final_answer_at_once_when_the_head_decides_it() {
    let app = TestApp::spawn();
    // Each head alone decides the answer, so the server sends it without
    // asking for the body, and closes, since the body may follow anyway.
    // Were the server to wait for the body instead, nothing would come.
    let expect = "Expect: 100-continue\r\nContent-Length: 20\r\n";
    for (request, status) in [
        (
            format!("POST /nope HTTP/1.1\r\nHost: x\r\n{expect}\r\n"),
            404,
        ),
        (
            format!("POST /healthz HTTP/1.1\r\nHost: x\r\n{expect}\r\n"),
            405,
        ),
        (
            format!("POST /tasks HTTP/1.1\r\nHost: x\r\n{expect}\r\n"),
            401,
        ),
        (
            "POST /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n\
             Expect: 100-continue\r\nContent-Length: 2000000\r\n\r\n"
                .to_owned(),
            413,
        ),
    ] {
        let mut wire = Wire::open(&app);
        wire.send(&request);
        let answer = wire
            .read_response(false)
            .unwrap_or_else(|error| panic!("{request:?}: {error}"));
        answer.assert_refusal(status);
        if status == 401 {
            assert!(answer.header("WWW-Authenticate").is_some(), "{answer:?}");
        }
        wire.assert_closed();
    }
}

#[test]
fn expect_100_continue_with_a_credential_asks_for_the_body_even_if_the_credential_is_bad() {
    // Whether a token is valid is for the handler to say; the head alone
    // shows only that one is there.
    let app = TestApp::spawn();
    let body = json!({"title": "bad token"}).to_string();
    let mut wire = Wire::open(&app);
    wire.send(format!(
        "POST /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not-a-token\r\n\
         Content-Type: application/json\r\nExpect: 100-continue\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    ));
    assert_eq!(wire.raw(CONTINUE.len()), CONTINUE);
    let answer = wire.exchange(body);
    answer.assert_problem(401);
    assert!(!answer.says_close(), "a handler's 401 keeps the connection");
}

#[test]
fn an_expectation_other_than_100_continue_gets_417() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let body = json!({"title": "expected"}).to_string();
    let request = format!(
        "{}{body}",
        post_head(
            &ann,
            &format!(
                "Expect: the-unexpected\r\nContent-Length: {}\r\n",
                body.len()
            )
        )
    );
    let detail = assert_refused(&app, &request, 417);
    assert!(detail.contains("the-unexpected"), "{detail}");
    assert_eq!(task_count(&app, &ann), 0);
}

/// `router::refuse_early` answers for the head alone when a client sends
/// `Expect: 100-continue`; its list of routes that need no credential must
/// agree with the handlers. For every route, a request without a
/// credential that the handler answers 401 must get that 401 early, and
/// one the handler serves must not be refused early.
#[test]
fn the_early_answer_to_a_request_without_a_credential_agrees_with_its_handler() {
    use taskapi::http::{Method, Request, Version};
    use taskapi::router::{ROUTES, refuse_early};

    let app = TestApp::spawn();
    for route in ROUTES {
        let path = route.pattern.replace("{id}", "1").replace("{user_id}", "2");
        let method = route.method.as_str();
        let handled = app
            .call(method, &path)
            .body_bytes(Some("application/json"), b"{}".to_vec())
            .status;
        let head = Request::new(
            Method::from_token(method),
            path.clone(),
            Version::Http11,
            vec![("Host".to_owned(), "x".to_owned())],
            Vec::new(),
            None,
        );
        let early = refuse_early(&head).map(|response| response.status);
        if handled == 401 {
            assert_eq!(early, Some(401), "{method} {path}");
        } else {
            assert_eq!(early, None, "{method} {path} is answered {handled}");
        }
    }
}
