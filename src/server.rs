//! The running server: a listening socket, N worker threads and their
//! lifecycle from start to graceful shutdown.
//!
//! ```text
//!            tiny_http accept thread + its connection threads
//!                  │ parse requests, queue them
//!                  ▼
//!   worker 1 ── recv() ─┐
//!   worker 2 ── recv() ─┼─ each: own SQLite connection for reads, catch_unwind(handler),
//!   worker N ── recv() ─┘        access log line, send the response
//!                        (a "finish" thread sends instead when a body is still arriving)
//!   housekeeping thread: watches the listener, returns free memory
//! ```
//!
//! Workers share one `tiny_http::Server` and block in `recv()`. Besides
//! read-only state (`api::Shared`), they share the argon2 permits, the
//! store's writer (`store/writer.rs`), and two more sets of permits: for
//! reading slow bodies and for finishing threads (see `serve`).

use std::fs;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use std::io::{Read, Write};

use tiny_http::Method as TinyMethod;

use crate::api::{ApiResult, Ctx, Shared};
use crate::config::{self, Config};
use crate::credentials::{Passwords, Tokens};
use crate::error::ApiError;
use crate::http::{self, Method, Request, Response, Version};
use crate::permits::{Permit, Permits};
use crate::store::{self, Db};
use crate::throttle::{Limits, LoginThrottle};
use crate::{router, sys, time};

/// The function that answers a request: `router::dispatch` in production;
/// tests may wrap it (for example to prove that a panic becomes a 500).
pub type Dispatcher = fn(&mut Ctx, &Request) -> ApiResult;

/// A started server. Dropping it does not stop it: call
/// [`ShutdownHandle::shutdown`] and then [`Server::wait`].
pub struct Server {
    addr: SocketAddr,
    workers: Vec<JoinHandle<()>>,
    lifecycle: Arc<Lifecycle>,
}

/// Stops a running server from another thread (a signal handler, a test).
#[derive(Clone)]
pub struct ShutdownHandle {
    lifecycle: Arc<Lifecycle>,
}

/// What the workers and the shutdown handle share.
struct Lifecycle {
    http: Arc<tiny_http::Server>,
    workers: usize,
    stopping: AtomicBool,
    accept_failed: AtomicBool,
    /// Workers reading a request body that is still on the wire (see
    /// `serve`).
    uploads: Arc<Permits>,
    /// Threads finishing requests for the workers (see `finish_later`).
    finishers: Arc<Permits>,
}

/// How long a request whose body is still arriving waits for a permit to
/// read it before it gets a 503. Quick clients hold a permit for
/// microseconds to milliseconds, so a short wait spares them the 503 when a
/// few arrive at once (16 at once on 2 workers all got one without it); a
/// slow client holds it for as long as it likes, and the wait is all that
/// each further one costs a worker.
const UPLOAD_PATIENCE: Duration = Duration::from_millis(10);

/// How many threads may be finishing requests for the workers at once (see
/// `finish_later`); beyond that a worker finishes its request itself.
///
/// Each slow client already costs tiny_http a connection thread, so one
/// more per refused upload is the same kind of cost; the cap only keeps a
/// flood from spawning threads without end. It is high on purpose: a
/// measured 125 slow uploads exhausted a cap of 64, and the overflow,
/// finished by workers, starved the server.
const MAX_FINISHERS: usize = 1024;

/// The stack of a finishing thread: it only copies a body into a sink and
/// writes an encoded response (std's default is 2 MiB of address space).
const FINISHER_STACK_BYTES: usize = 128 * 1024;

/// Starts the production server: `router::dispatch` behind every worker.
pub fn start(config: &Config) -> Result<Server, String> {
    start_with(config, router::dispatch)
}

/// Opens and migrates the database, binds the address, and starts
/// `config.workers` threads that answer requests with `handler`.
pub fn start_with(config: &Config, handler: Dispatcher) -> Result<Server, String> {
    start_on(bind(&config.addr)?, config, handler)
}

/// Binds `addr` with the TCP options the sockets it accepts inherit
/// (`TCP_NODELAY`, keepalive: see `sys::tune_listener`).
pub fn bind(addr: &str) -> Result<TcpListener, String> {
    let listener =
        TcpListener::bind(addr).map_err(|error| format!("cannot listen on {addr}: {error}"))?;
    sys::tune_listener(&listener).map_err(|error| format!("setting TCP options: {error}"))?;
    Ok(listener)
}

/// Like [`start_with`], on a listener that is already bound (the one the
/// supervisor passes to its server process).
pub fn start_on(
    listener: TcpListener,
    config: &Config,
    handler: Dispatcher,
) -> Result<Server, String> {
    let mut db = Db::open(&config.db_path).map_err(|error| error.to_string())?;
    db.migrate().map_err(|error| error.to_string())?;
    let secret = match &config.secret_key {
        Some(key) => key.clone(),
        None => store::settings::signing_key(&db, Tokens::generate_secret)
            .map_err(|error| format!("loading the token signing key: {error}"))?,
    };
    let shared = Arc::new(Shared {
        tokens: Tokens::new(&secret, config.token_ttl_minutes * 60),
        passwords: Passwords::new(config::cpu_count()),
        throttle: LoginThrottle::new(Limits {
            per_account: clamp_u32(config.login_max_failures),
            per_address: clamp_u32(config.login_max_failures_per_address),
            window: Duration::from_secs(config.login_window_seconds),
        }),
        docs_assets_url: config.docs_assets_url.clone(),
    });
    {
        let shared = Arc::clone(&shared);
        thread::spawn(move || shared.passwords.prepare());
    }
    // At most 1024 (see `config`), so this cannot truncate.
    let worker_count = config.workers as usize;

    let addr = listener
        .local_addr()
        .map_err(|error| format!("reading the bound address: {error}"))?;
    let listener_identity = ListenerIdentity::of(&listener);
    let http = tiny_http::Server::from_listener(listener, None)
        .map_err(|error| format!("starting the HTTP server: {error}"))?;

    let lifecycle = Arc::new(Lifecycle {
        http: Arc::new(http),
        workers: worker_count,
        stopping: AtomicBool::new(false),
        accept_failed: AtomicBool::new(false),
        // At most half the workers wait on slow request bodies, so the other
        // half always serve everyone else (see `serve`); a single worker
        // has no other half.
        uploads: Permits::new((worker_count / 2).max(1)),
        finishers: Permits::new(MAX_FINISHERS),
    });
    // Open every worker's connection before spawning any thread, so a
    // database problem fails the start instead of one worker.
    let mut contexts = Vec::with_capacity(worker_count);
    for _ in 0..worker_count {
        let db = db.connect_again().map_err(|error| error.to_string())?;
        contexts.push(Ctx {
            db,
            shared: Arc::clone(&shared),
        });
    }
    let workers = contexts
        .into_iter()
        .enumerate()
        .map(|(index, mut ctx)| {
            let lifecycle = Arc::clone(&lifecycle);
            thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn(move || work(&lifecycle, &mut ctx, handler))
                .map_err(|error| format!("spawning a worker thread: {error}"))
        })
        .collect::<Result<Vec<_>, _>>()?;

    {
        let lifecycle = Arc::clone(&lifecycle);
        thread::Builder::new()
            .name("housekeeping".to_owned())
            .spawn(move || housekeeping(listener_identity.as_ref(), &lifecycle))
            .map_err(|error| format!("spawning the housekeeping thread: {error}"))?;
    }

    Ok(Server {
        addr,
        workers,
        lifecycle,
    })
}

impl Server {
    /// The address actually bound (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops this server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            lifecycle: Arc::clone(&self.lifecycle),
        }
    }

    /// Waits until every worker, and every thread finishing a request for
    /// one, has finished. `Err` if the server stopped because it could no
    /// longer accept connections.
    pub fn wait(self) -> Result<(), String> {
        for worker in self.workers {
            // A worker never panics: handler panics are caught inside it.
            if worker.join().is_err() {
                eprintln!("a worker thread panicked outside a request");
            }
        }
        // Responses still being finished belong to requests received before
        // the shutdown: wait for them too (`main` bounds the whole wait).
        self.lifecycle.finishers.wait_until_all_returned();
        if self.lifecycle.accept_failed.load(Ordering::SeqCst) {
            Err("the server stopped accepting connections".to_owned())
        } else {
            Ok(())
        }
    }
}

impl ShutdownHandle {
    /// Stops taking new requests. Requests already received are answered,
    /// then each worker exits; [`Server::wait`] returns when all have.
    pub fn shutdown(&self) {
        let lifecycle = &self.lifecycle;
        if lifecycle.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // `unblock` wakes one thread blocked in `recv()`; wake them all.
        // Busy workers see `stopping` when they come back for the next one.
        for _ in 0..lifecycle.workers {
            lifecycle.http.unblock();
        }
    }
}

fn clamp_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// Which socket the listener is: its descriptor number and inode, read
/// through Linux's `/proc/self/fd` (`None` where that does not exist).
struct ListenerIdentity {
    path: PathBuf,
    inode: u64,
}

impl ListenerIdentity {
    fn of(listener: &TcpListener) -> Option<ListenerIdentity> {
        let path = PathBuf::from(format!("/proc/self/fd/{}", listener.as_raw_fd()));
        let inode = fs::metadata(&path).ok()?.ino();
        Some(ListenerIdentity { path, inode })
    }

    /// Whether that descriptor still refers to the same socket.
    fn is_open(&self) -> bool {
        fs::metadata(&self.path).is_ok_and(|metadata| metadata.ino() == self.inode)
    }
}

/// How often the housekeeping thread hands free heap memory back to the OS.
const RELEASE_MEMORY_EVERY: Duration = Duration::from_secs(10);

/// Twice a second, until shutdown: checks that tiny_http still holds the
/// listening socket; every ten seconds, returns free heap memory to the OS.
///
/// The listener: tiny_http's accept thread can die in two ways. An
/// `accept()` error ends its loop and reaches a worker's `recv()` (see
/// `work`). But a panic inside the loop, such as its `unwrap()` of the
/// socket clone it makes for every connection when the process is out of
/// file descriptors, ends the thread silently: `recv()` then blocks forever
/// on a server that can never accept again. Either way the thread drops the
/// listener, which closes its descriptor, and that is what this looks for.
/// If it is gone, the server shuts down as failed.
///
/// The memory: after a crowd of clients leaves (each had a tiny_http
/// thread), glibc keeps what their threads freed in its heaps. Measured
/// with 500 slow clients: 3 MiB more than before they came, until a trim
/// (`sys::release_free_memory`) gave it back.
fn housekeeping(listener: Option<&ListenerIdentity>, lifecycle: &Arc<Lifecycle>) {
    let mut last_release = Instant::now();
    while !lifecycle.stopping.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(500));
        if listener.is_some_and(|identity| !identity.is_open())
            && !lifecycle.stopping.load(Ordering::SeqCst)
        {
            eprintln!("accept loop failed: tiny_http closed the listening socket; shutting down");
            fail(lifecycle);
            return;
        }
        if last_release.elapsed() >= RELEASE_MEMORY_EVERY {
            sys::release_free_memory();
            last_release = Instant::now();
        }
    }
}

/// Shuts down and marks the shutdown as a failure, so the process exits
/// non-zero (and the supervisor with it, for an outer one to see).
fn fail(lifecycle: &Arc<Lifecycle>) {
    lifecycle.accept_failed.store(true, Ordering::SeqCst);
    ShutdownHandle {
        lifecycle: Arc::clone(lifecycle),
    }
    .shutdown();
}

/// A worker's life: take the next request, answer it, until shutdown.
///
/// Shutdown queues one "unblock" marker per worker behind the requests
/// already received, and `recv()` is first in, first out: so every request
/// that arrived before the shutdown is still answered, and each worker
/// leaves when it reaches its marker.
fn work(lifecycle: &Arc<Lifecycle>, ctx: &mut Ctx, handler: Dispatcher) {
    loop {
        match lifecycle.http.recv() {
            Ok(request) => serve(lifecycle, ctx, handler, request),
            Err(error) => {
                // `recv()` fails in two cases: our own `unblock()` during
                // shutdown, or tiny_http's accept loop died (it ends for good
                // on its first `accept()` error, such as running out of file
                // descriptors). In the second case no request will ever come
                // again, so the process must exit non-zero, rather than stay
                // up deaf; the supervisor passes the failure on.
                if !lifecycle.stopping.load(Ordering::SeqCst) {
                    eprintln!("accept loop failed: {error}; shutting down");
                    fail(lifecycle);
                }
                return;
            }
        }
    }
}

/// Answers one request and writes its access-log line.
///
/// A request whose body is still on the wire (see `http::body_is_streamed`)
/// is where a slow or hostile client can hold a worker: reading a body that
/// trickles in a byte at a time takes as long as the client likes, and
/// tiny_http lets us neither time the read out nor close the socket. Two
/// rules keep such clients from starving everyone else:
/// - at most half the workers read such a body at once (up to the 1 MiB
///   cap, before the handler runs, which then gets it from `Ctx::body`);
///   a request that finds no permit within `UPLOAD_PATIENCE` gets a 503
///   with `Retry-After` without its body being read. The permit is given
///   back as soon as the body is in memory, so quick clients only ever
///   hold one for microseconds;
/// - the worker never waits for what is left of a body it refused (a 413,
///   a 503 leave it unread): a separate thread discards it and sends the
///   response (`finish_later`).
///
/// Requests without a body, or with one of at most 1 KiB (which tiny_http
/// has read before queueing the request), never wait on the client to send.
fn serve(
    lifecycle: &Lifecycle,
    ctx: &mut Ctx,
    handler: Dispatcher,
    mut incoming: tiny_http::Request,
) {
    let started = Instant::now();
    if !body_is_streamed(&incoming) {
        let response = match read_body(&mut incoming) {
            Ok(body) => answer(ctx, handler, &owned(&incoming, body)),
            Err(error) => error.into_response(),
        };
        finish(incoming, response, started);
        return;
    }
    let (response, body_left) = match lifecycle.uploads.try_acquire_within(UPLOAD_PATIENCE) {
        Some(upload) => {
            let body = read_body(&mut incoming);
            drop(upload);
            match body {
                // A body read without error was read to its end.
                Ok(body) => (answer(ctx, handler, &owned(&incoming, body)), false),
                Err(error) => (error.into_response(), true),
            }
        }
        None => {
            let busy = ApiError::Overloaded(
                "too many requests are sending their bodies slowly; try again shortly".to_owned(),
            );
            (busy.into_response(), true)
        }
    };
    if !body_left {
        finish(incoming, response, started);
        return;
    }
    match lifecycle.finishers.try_acquire_within(Duration::ZERO) {
        Some(finisher) => finish_later(finisher, incoming, response, started),
        // MAX_FINISHERS clients already hold finishing threads: this worker
        // finishes the request itself.
        None => finish_discarding(incoming, response, started),
    }
}

/// The project's own `Request` for a tiny_http request whose body has been
/// read: handlers never see tiny_http's type.
fn owned(incoming: &tiny_http::Request, body: Vec<u8>) -> Request {
    let headers = incoming
        .headers()
        .iter()
        .map(|header| {
            (
                header.field.as_str().as_str().to_owned(),
                header.value.as_str().to_owned(),
            )
        })
        .collect();
    let version = if incoming.http_version() == &tiny_http::HTTPVersion(1, 0) {
        Version::Http10
    } else {
        Version::Http11
    };
    Request::new(
        Method::from_token(incoming.method().as_str()),
        incoming.url(),
        version,
        headers,
        body,
        incoming.remote_addr().copied(),
    )
}

/// Runs the handler. A panic in a handler is a bug, but it must cost one
/// request, not the worker: catch it, roll back whatever transaction it left
/// open, and answer 500. The default panic hook has already printed the
/// message and location to stderr. `AssertUnwindSafe` is sound because
/// nothing the handler touched outlives the request except `ctx.db`, which
/// `reset_after_panic` returns to a clean state.
fn answer(ctx: &mut Ctx, handler: Dispatcher, request: &Request) -> Response {
    match panic::catch_unwind(AssertUnwindSafe(|| handler(ctx, request))) {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => error.into_response(),
        Err(_) => {
            ctx.db.reset_after_panic();
            ApiError::Internal("a handler panicked".to_owned()).into_response()
        }
    }
}

/// Finishes a request with a streamed body on its own thread: discards what
/// is left of the body, then sends the response and logs it. The thread is
/// gone when the client has sent its body or left; `finisher` is its permit,
/// one of `MAX_FINISHERS`.
fn finish_later(
    finisher: Permit,
    request: tiny_http::Request,
    response: Response,
    started: Instant,
) {
    let spawned = thread::Builder::new()
        .name("finish".to_owned())
        .stack_size(FINISHER_STACK_BYTES)
        .spawn(move || {
            let _finisher = finisher;
            finish_discarding(request, response, started);
        });
    if let Err(error) = spawned {
        // The closure, and the request in it, was dropped on this worker:
        // tiny_http answered a bare 500 and drained the body here. Rare (the
        // system is out of threads), and it costs this worker a wait.
        eprintln!("spawning a thread to finish a request: {error}");
    }
}

/// Discards what is left of the body, then sends the response.
///
/// Discarding can panic inside tiny_http: when a client that declared
/// `u64::MAX` bytes closes its side, tiny_http drops its body reader at the
/// end of the data, and that reader's drop sizes a buffer for the missing
/// bytes, which overflows. The panic costs this request only, on whichever
/// thread runs this (a finishing thread, or a worker when none is free).
/// The reader is gone by then, so sending afterwards drains nothing.
fn finish_discarding(mut request: tiny_http::Request, response: Response, started: Instant) {
    let discarded = panic::catch_unwind(AssertUnwindSafe(|| discard_body(&mut request)));
    if discarded.is_err() {
        eprintln!("discarding a request body panicked in tiny_http (a client's absurd length)");
    }
    finish(request, response, started);
}

/// Sends the response and writes the access-log line.
///
/// Sending drops the request, and tiny_http drains what is left of a body
/// then (see `http::discard_body`): for a client that declared a body of
/// `u64::MAX` bytes and reset the connection, sizing that drain's buffer
/// panics. The panic costs only this request, not the thread.
fn finish(request: tiny_http::Request, response: Response, started: Instant) {
    let method = request.method().clone();
    let path = http::request::split_target(request.url()).0.to_owned();
    let client = request.remote_addr().map(|addr| addr.ip());
    let status = response.status;
    let delivered =
        panic::catch_unwind(AssertUnwindSafe(|| send(request, response))).unwrap_or(false);
    log_request(client, &method, &path, status, delivered, started);
}

/// One line per request on stderr: time, client, method, path, status and
/// duration, and "(not delivered)" when the client was gone before the
/// response was written. Only the path is logged: a query string may carry
/// secrets, and headers (tokens) and bodies (passwords) are never logged.
///
/// The line is formatted first and written with one call: stderr is
/// unbuffered, and `eprintln!` writes each piece of its format separately,
/// a system call each. Measured with perf under `GET /tasks/{id}`, those
/// writes took 13.6% of the server's time.
fn log_request(
    client: Option<IpAddr>,
    method: &TinyMethod,
    path: &str,
    status: u16,
    delivered: bool,
    started: Instant,
) {
    let client = client.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
    let note = if delivered { "" } else { " (not delivered)" };
    let line = format!(
        "{} {client} {method} {path} {status} {:.1}ms{note}\n",
        time::now_rfc3339(),
        started.elapsed().as_secs_f64() * 1000.0,
    );
    // Nowhere to report a failure to write the log itself.
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Writes the response and asks the client to close the connection.
///
/// Why every response says `Connection: close`: tiny_http gives each
/// connection its own thread from a pool for as long as the connection
/// lives, and that pool queues a new connection instead of starting a thread
/// whenever it believes a thread is idle. It counts threads that were woken
/// but have not run yet as idle, so in a burst of new connections some are
/// queued behind kept-alive ones and wait, unanswered, until another
/// connection closes, which for an idle browser or connection pool can be
/// never. Closing after every response releases each connection thread as
/// soon as the client has read its answer, so a queued connection waits
/// microseconds, not forever. The cost is one TCP handshake per request
/// (measured in the README).
///
/// tiny_http's own `respond` cannot say this (it drops a `Connection` header
/// set on a response), so the bytes come from [`http::encode`] and go out
/// through `into_writer`, which still orders them after any earlier
/// response on the same connection. A client that has gone away is not
/// an error, only noted in the access log.
fn send(request: tiny_http::Request, response: Response) -> bool {
    let head_only = *request.method() == TinyMethod::Head;
    let mut bytes = Vec::new();
    http::encode(
        &response,
        head_only,
        http::Connection::Close,
        time::unix_now(),
        &mut bytes,
    );
    let mut writer = request.into_writer();
    writer
        .write_all(&bytes)
        .and_then(|()| writer.flush())
        .is_ok()
}

/// The value of a request header, if present (first occurrence).
fn tiny_header<'a>(request: &'a tiny_http::Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .iter()
        .find(|header| header.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|header| header.value.as_str())
}

/// The longest body tiny_http reads into memory itself, on its connection
/// thread, before it queues the request (its `request.rs`).
const PREREAD_BODY_BYTES: usize = 1024;

/// Whether reading this request's body means waiting on the client's
/// socket: a `Content-Length` over 1 KiB, a chunked body, or one sent only
/// after `100 Continue`. Shorter bodies are already in memory when a worker
/// gets the request. (A `Connection: upgrade` request's "body" is the raw
/// connection, so it counts too: see [`read_body`].)
fn body_is_streamed(request: &tiny_http::Request) -> bool {
    let has = |name: &str| tiny_header(request, name).is_some();
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
fn discard_body(request: &mut tiny_http::Request) {
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
fn asks_to_upgrade(request: &tiny_http::Request) -> bool {
    tiny_header(request, "Connection")
        .is_some_and(|value| value.to_ascii_lowercase().contains("upgrade"))
}

/// Reads the request body, refusing more than `http::MAX_BODY_BYTES`.
///
/// A declared `Content-Length` over the cap is refused before a single body
/// byte is read; a chunked body is cut off as soon as it passes the cap.
fn read_body(request: &mut tiny_http::Request) -> Result<Vec<u8>, ApiError> {
    let too_large = ApiError::PayloadTooLarge {
        limit: http::MAX_BODY_BYTES,
    };
    if request
        .body_length()
        .is_some_and(|length| length > http::MAX_BODY_BYTES)
    {
        return Err(too_large);
    }
    // For an upgrade request the reader is the raw connection: read only
    // the declared length, never up to the close that would not come.
    let limit = if asks_to_upgrade(request) {
        request.body_length().unwrap_or(0) as u64
    } else {
        http::MAX_BODY_BYTES as u64 + 1
    };
    let mut body = Vec::new();
    request
        .as_reader()
        .take(limit)
        .read_to_end(&mut body)
        .map_err(|error| ApiError::BadRequest(format!("could not read request body: {error}")))?;
    if body.len() > http::MAX_BODY_BYTES {
        return Err(too_large);
    }
    Ok(body)
}
