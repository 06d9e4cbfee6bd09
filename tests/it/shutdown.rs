//! Graceful shutdown over raw TCP: the server stops accepting, closes idle
//! connections at once, answers the requests it has already received
//! (each answer saying `Connection: close`), and then exits.
//!
//! "At once" is shown without a clock: the idle connections must close
//! while requests the test holds inside their handlers are still
//! unanswered, so they cannot be waiting for those.

use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use taskapi::api::{ApiResult, Ctx};
use taskapi::http::{Request, Response};
use taskapi::router;

use crate::support::TestApp;
use crate::wire::{HEALTHZ, PATIENCE, Wire, addr_of};

/// Holds requests to `/gated` in their handler until the test opens it.
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

struct GateState {
    open: bool,
    /// Requests that have reached the handler.
    arrived: usize,
}

impl Gate {
    const fn new() -> Gate {
        Gate {
            state: Mutex::new(GateState {
                open: false,
                arrived: 0,
            }),
            changed: Condvar::new(),
        }
    }
}

static GATE: Gate = Gate::new();

/// How long a gated handler waits for the gate before giving up, so a
/// failed test does not leave a worker stuck.
const GATE_GIVES_UP_AFTER: Duration = Duration::from_secs(10);

impl Gate {
    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        state.arrived += 1;
        self.changed.notify_all();
        let _ = self
            .changed
            .wait_timeout_while(state, GATE_GIVES_UP_AFTER, |state| !state.open)
            .unwrap();
    }

    /// Waits (within `PATIENCE`) until `count` requests are in the handler.
    fn await_arrivals(&self, count: usize) {
        let state = self.state.lock().unwrap();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, PATIENCE, |state| state.arrived < count)
            .unwrap();
        assert_eq!(state.arrived, count, "requests that reached the handler");
    }

    fn open(&self) {
        self.state.lock().unwrap().open = true;
        self.changed.notify_all();
    }
}

/// The production router, except that `/gated` waits at the gate and then
/// answers 204. Only the one test below uses it, so the gate is its own.
fn router_with_a_gated_route(ctx: &mut Ctx, request: &Request) -> ApiResult {
    if request.target() == "/gated" {
        GATE.pass();
        return Ok(Response::no_content());
    }
    router::dispatch(ctx, request)
}

const GATED: &[u8] = b"GET /gated HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn shutdown_closes_idle_connections_at_once_answers_requests_under_way_and_exits() {
    let app = TestApp::spawn_with(2, router_with_a_gated_route);
    let addr = addr_of(&app);
    // Three idle connections that have each been answered once, and one
    // that has never sent anything.
    let mut idle: Vec<Wire> = (0..3)
        .map(|_| {
            let mut wire = Wire::open(&app);
            assert_eq!(wire.exchange(HEALTHZ).status, 200);
            wire
        })
        .collect();
    idle.push(Wire::open(&app));
    // Two requests inside their handlers, one of them the second request
    // on its connection.
    let mut first = Wire::open(&app);
    first.send(GATED);
    let mut second = Wire::open(&app);
    assert_eq!(second.exchange(HEALTHZ).status, 200);
    second.send(GATED);
    GATE.await_arrivals(2);

    app.stop();
    for wire in &mut idle {
        wire.assert_closed();
    }
    // Not accepting any more: the listener is closed.
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "a connection was accepted after shutdown"
    );

    GATE.open();
    for wire in [&mut first, &mut second] {
        let answer = wire.response();
        assert_eq!(answer.status, 204, "{answer:?}");
        assert!(answer.says_close(), "{answer:?}");
        wire.assert_closed();
    }
    drop((first, second));

    // Dropping the app waits for the server to exit.
    let (exited, exit) = mpsc::channel();
    std::thread::spawn(move || {
        drop(app);
        let _ = exited.send(());
    });
    assert!(
        exit.recv_timeout(PATIENCE).is_ok(),
        "the server did not exit within {PATIENCE:?} of its last request"
    );
}

#[test]
fn a_request_whose_body_is_still_arriving_at_shutdown_is_read_and_answered() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let mut idle = Wire::open(&app);
    assert_eq!(idle.exchange(HEALTHZ).status, 200);
    // The 100 Continue shows the server has the head and waits for the
    // body.
    let body = serde_json::json!({"title": "finished during shutdown"}).to_string();
    let mut arriving = Wire::open(&app);
    arriving.send(format!(
        "POST /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nExpect: 100-continue\r\n\
         Content-Length: {}\r\n\r\n",
        ann.token,
        body.len()
    ));
    assert_eq!(arriving.raw(CONTINUE.len()), CONTINUE);

    app.stop();
    // Once the idle connection is closed, shutdown is under way.
    idle.assert_closed();
    let created = arriving.exchange(body);
    assert_eq!(created.status, 201, "{created:?}");
    assert!(created.says_close(), "{created:?}");
    arriving.assert_closed();
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A gate of its own for the pipelining test, which runs beside the one
/// above.
static PIPELINE_GATE: Gate = Gate::new();

fn router_with_a_gated_pipeline(ctx: &mut Ctx, request: &Request) -> ApiResult {
    if request.target() == "/gated" {
        PIPELINE_GATE.pass();
        return Ok(Response::no_content());
    }
    router::dispatch(ctx, request)
}

#[test]
fn requests_pipelined_behind_one_under_way_at_shutdown_are_all_answered() {
    let app = TestApp::spawn_with(2, router_with_a_gated_pipeline);
    let mut wire = Wire::open(&app);
    // One write, so all three are in the server's buffer together.
    wire.send([GATED, HEALTHZ, HEALTHZ].concat());
    PIPELINE_GATE.await_arrivals(1);
    app.stop();
    PIPELINE_GATE.open();
    // Each answer keeps the connection while another complete request is
    // waiting behind it, and the last one closes it.
    let first = wire.response();
    assert_eq!(
        (first.status, first.says_close()),
        (204, false),
        "{first:?}"
    );
    let second = wire.response();
    assert_eq!(
        (second.status, second.says_close()),
        (200, false),
        "{second:?}"
    );
    let third = wire.response();
    assert_eq!((third.status, third.says_close()), (200, true), "{third:?}");
    wire.assert_closed();
}
