//! The server around the routes: health, HEAD, the panic guard.

use serde_json::json;
use taskapi::api::{ApiResult, Ctx};
use taskapi::http::Request;
use taskapi::router;

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
fn router_that_panics(ctx: &mut Ctx, request: &Request) -> ApiResult {
    if request.target() == "/panic" {
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
fn router_with_a_slow_route(ctx: &mut Ctx, request: &Request) -> ApiResult {
    if request.target() == "/slow" {
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

/// Makes files immutable with `chattr +i` (which binds root too) and makes
/// them writable again when dropped, also when the test fails.
struct Immutable(Vec<std::path::PathBuf>);

impl Immutable {
    fn set(paths: Vec<std::path::PathBuf>) -> Immutable {
        let status = std::process::Command::new("chattr")
            .arg("+i")
            .args(&paths)
            .status()
            .expect("run chattr");
        assert!(status.success(), "chattr +i failed");
        Immutable(paths)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .args(&self.0)
            .status();
    }
}

#[test]
fn a_read_only_database_file_gets_503_and_the_server_recovers_when_it_is_writable() {
    // Only root can set the immutable flag, and root ignores permission
    // bits, so this needs root (CI runs as root); elsewhere it says so.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: making a file read-only under a running server needs root");
        return;
    }
    // About SQLite's file, so on SQLite in both suites.
    let app = TestApp::spawn_on_sqlite();
    let ann = app.register("ann");
    app.create_task(&ann, json!({"title": "before"}));

    // The database and its write-ahead log become read-only under the
    // running server, as when an operator locks them or the file system is
    // remounted read-only.
    let path = app.db.sqlite_path().expect("a SQLite file").to_owned();
    let wal = path.with_extension("db-wal");
    let locked = Immutable::set(vec![path, wal]);
    let refused = app
        .post("/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "while read-only"}));
    let problem = refused.assert_problem(503);
    assert_eq!(problem["detail"], "service unavailable");
    assert!(!refused.text.contains("I/O"), "{}", refused.text);
    let read = app.get("/tasks").bearer(&ann.token).send();
    assert_eq!(read.status, 200, "reads go on: {}", read.text);

    drop(locked);
    let after = app
        .post("/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "after"}));
    assert_eq!(after.status, 201, "{}", after.text);
    let titles: Vec<String> = app
        .get("/tasks")
        .bearer(&ann.token)
        .send()
        .body
        .as_array()
        .expect("a list")
        .iter()
        .map(|task| task["title"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(titles, ["before", "after"]);
}

#[test]
fn every_json_body_ends_with_a_newline_so_curl_output_ends_its_line() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app
        .post("/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "x"}));
    for reply in [
        app.get("/healthz").send(),
        task,
        app.get("/tasks").bearer(&ann.token).send(),
        app.get("/tasks/4242").bearer(&ann.token).send(),
        app.post("/tasks")
            .bearer(&ann.token)
            .json(json!({"title": ""})),
        app.get("/openapi.json").send(),
    ] {
        assert!(
            reply.text.ends_with("}\n") || reply.text.ends_with("]\n"),
            "{:?}",
            reply.text
        );
        assert!(!reply.text.ends_with("\n\n"), "{:?}", reply.text);
    }
}

#[test]
fn the_bare_address_answers_an_index_of_the_docs_and_the_health_check() {
    let app = TestApp::spawn();
    for path in ["/", "/api/v1", "/api/v1/"] {
        let reply = app.get(path).send();
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        assert_eq!(
            reply.body,
            json!({"docs": "/docs", "openapi": "/openapi.json", "health": "/healthz"}),
            "{path}"
        );
    }
    let without_docs = TestApp::spawn_configured(|config| config.docs_assets_url = None);
    let reply = without_docs.get("/").send();
    assert_eq!(reply.body, json!({"health": "/healthz"}));
}
