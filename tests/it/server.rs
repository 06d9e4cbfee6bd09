//! The server around the routes: health, HEAD, the panic guard.

use serde_json::json;
use taskapi::api::{ApiResult, Ctx};
use taskapi::router;
use tiny_http::Request;

use crate::support::TestApp;

#[test]
fn healthz_answers_ok_without_a_token() {
    let app = TestApp::spawn();
    let reply = app.get("/healthz").send();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert_eq!(reply.body, json!({"status": "ok"}));
}

#[test]
fn head_answers_like_get_without_a_body() {
    let app = TestApp::spawn();
    let get = app.get("/healthz").send();
    let head = app.call("HEAD", "/healthz").send();
    assert_eq!(head.status, 200);
    assert_eq!(head.text, "");
    assert_eq!(head.header("Content-Length"), get.header("Content-Length"));
}

/// The production router, except that `/panic` panics. It runs through the
/// same `server::start_with` wrapper as production; the production route
/// table has no such route.
fn router_that_panics(ctx: &mut Ctx, request: &mut Request) -> ApiResult {
    if request.url() == "/panic" {
        panic!("a deliberate panic in a handler");
    }
    router::dispatch(ctx, request)
}

#[test]
fn a_panicking_handler_gets_a_500_and_the_worker_serves_the_next_request() {
    // One worker, so the request after the panic is served by the very
    // thread that panicked.
    let app = TestApp::spawn_with(1, router_that_panics);

    let reply = app.get("/panic").send();
    reply.assert_problem(500);
    assert_eq!(reply.body["detail"], "internal error");

    let ann = app.register("ann");
    assert_eq!(app.get("/tasks").bearer(&ann.token).send().status, 200);
    assert_eq!(app.get("/panic").send().status, 500);
    assert_eq!(app.get("/healthz").send().status, 200);
}

/// The production router, except that `/slow` takes half a second.
fn router_with_a_slow_route(ctx: &mut Ctx, request: &mut Request) -> ApiResult {
    if request.url() == "/slow" {
        std::thread::sleep(std::time::Duration::from_millis(500));
        return Ok(taskapi::http::Response::no_content());
    }
    router::dispatch(ctx, request)
}

#[test]
fn shutdown_answers_every_request_already_received() {
    // One worker: while it serves /slow, three health checks wait in the
    // queue; the shutdown comes while they wait.
    let app = TestApp::spawn_with(1, router_with_a_slow_route);
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| app.get("/slow").send());
        std::thread::sleep(std::time::Duration::from_millis(100));
        let queued: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| app.get("/healthz").send()))
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(100));
        app.stop();
        assert_eq!(slow.join().unwrap().status, 204);
        for reply in queued {
            assert_eq!(reply.join().unwrap().status, 200);
        }
    });
}
