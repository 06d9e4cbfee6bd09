//! The running server: the poller thread, N worker threads, and their
//! lifecycle from start to graceful shutdown.
//!
//! ```text
//!   poller thread (http::poller): accepts, holds idle and partial connections
//!        │ complete requests only
//!        ▼
//!   worker 1 ─┐
//!   worker 2 ─┼─ each: its own database connection, catch_unwind(handler),
//!   worker N ─┘        the response handed back to the connection layer, a log line
//! ```
//!
//! Workers share read-only state (`api::Shared`), the argon2 permits and
//! the store's SQLite writer (`store/sqlite/writer.rs`). A worker never touches a socket
//! except to write a response the socket can take at once: whatever it
//! cannot take, the poller finishes.

use std::net::{SocketAddr, TcpListener};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::api::{ApiResult, Ctx, Shared};
use crate::config::{self, Config};
use crate::credentials::{Passwords, Tokens};
use crate::error::ApiError;
use crate::http::connection::BodyBudget;
use crate::http::poller::{Exchange, Handoff, Poller, Settings};
use crate::http::{Request, Response};
use crate::store::{self, Db};
use crate::throttle::{Limits, LoginThrottle};
use crate::{access_log, metrics, router, sys, time};

/// The function that answers a request: `router::dispatch` in production;
/// tests may wrap it (for example to prove that a panic becomes a 500).
pub type Dispatcher = fn(&mut Ctx, &Request) -> ApiResult;

/// A started server. Dropping it does not stop it: call
/// [`ShutdownHandle::shutdown`] and then [`Server::wait`].
pub struct Server {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    threads: Vec<JoinHandle<()>>,
    handoff: Arc<Handoff>,
}

/// Stops a running server from another thread (a signal handler, a test).
#[derive(Clone)]
pub struct ShutdownHandle {
    handoff: Arc<Handoff>,
}

/// Descriptors kept back from `--max-connections`' default for the
/// database, its WAL, the listener and the poller.
const RESERVED_DESCRIPTORS: u64 = 64;

/// The least default `--max-connections`, whatever the open-files limit.
const MIN_DEFAULT_MAX_CONNECTIONS: u64 = 4096;

/// Starts the production server: `router::dispatch` behind every worker.
pub fn start(config: &Config) -> Result<Server, String> {
    start_with(config, router::dispatch)
}

/// Opens and migrates the database, binds the address, and starts
/// `config.workers` threads that answer requests with `handler`.
///
/// The database comes first: a bad `--db` is reported as such, before the
/// port is taken (and a client could connect to a server that cannot
/// serve).
pub fn start_with(config: &Config, handler: Dispatcher) -> Result<Server, String> {
    let db = open_database(config)?;
    let listener = bind(&config.addr)?;
    let metrics = config.metrics_addr.as_deref().map(bind).transpose()?;
    start_on(listener, metrics, db, config, handler)
}

/// Opens the database `config` names and brings its schema up to date.
fn open_database(config: &Config) -> Result<Db, String> {
    let mut db = Db::open(&config.db).map_err(|error| error.to_string())?;
    db.migrate().map_err(|error| error.to_string())?;
    Ok(db)
}

/// Binds `addr`.
pub fn bind(addr: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|error| format!("cannot listen on {addr}: {error}"))
}

/// Like [`start_with`], on a listener that is already bound and a database
/// already opened and migrated.
fn start_on(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    db: Db,
    config: &Config,
    handler: Dispatcher,
) -> Result<Server, String> {
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
        in_flight: Default::default(),
        request_ids: access_log::RequestIds::new(),
        log_format: config.log_format,
    });
    {
        let shared = Arc::clone(&shared);
        thread::spawn(move || shared.passwords.prepare());
    }
    let addr = listener
        .local_addr()
        .map_err(|error| format!("reading the bound address: {error}"))?;

    let handoff = Handoff::new(connection_settings(config))
        .map_err(|error| format!("creating the poller: {error}"))?;
    let poller = Poller::new(listener, Arc::clone(&handoff))
        .map_err(|error| format!("watching the listener: {error}"))?;
    let metrics_addr = match metrics_listener {
        None => None,
        Some(listener) => {
            let addr = listener
                .local_addr()
                .map_err(|error| format!("reading the metrics address: {error}"))?;
            let handoff = Arc::clone(&handoff);
            // Not joined at shutdown: it holds no data, and the process
            // ends with it.
            metrics::serve(listener, move || handoff.open_connections())
                .map_err(|error| format!("spawning the metrics thread: {error}"))?;
            Some(addr)
        }
    };

    // Open every worker's connection before spawning any thread, so a
    // database problem fails the start instead of one worker.
    // At most 1024 workers (see `config`), so this cannot truncate.
    let worker_count = config.workers as usize;
    let mut contexts = Vec::with_capacity(worker_count);
    for _ in 0..worker_count {
        let db = db.connect_again().map_err(|error| error.to_string())?;
        contexts.push(Ctx::new(db, Arc::clone(&shared)));
    }
    let mut threads = Vec::with_capacity(worker_count + 1);
    for (index, mut ctx) in contexts.into_iter().enumerate() {
        let handoff = Arc::clone(&handoff);
        let worker = thread::Builder::new()
            .name(format!("worker-{index}"))
            .spawn(move || {
                let _guard = AbortOnPanic("a worker");
                work(&handoff, &mut ctx, handler);
            })
            .map_err(|error| format!("spawning a worker thread: {error}"))?;
        threads.push(worker);
    }
    {
        let handoff = Arc::clone(&handoff);
        let maintenance = thread::Builder::new()
            .name("maintenance".to_owned())
            .spawn(move || {
                let _guard = AbortOnPanic("maintenance");
                maintain(&db, &handoff);
            })
            .map_err(|error| format!("spawning the maintenance thread: {error}"))?;
        threads.push(maintenance);
    }
    let poller = thread::Builder::new()
        .name("poller".to_owned())
        .spawn(move || {
            let _guard = AbortOnPanic("the poller");
            poller.run();
        })
        .map_err(|error| format!("spawning the poller thread: {error}"))?;
    threads.push(poller);

    Ok(Server {
        addr,
        metrics_addr,
        threads,
        handoff,
    })
}

/// Ends the process if the thread holding it panics.
///
/// Handler panics are caught in `answer`; a panic anywhere else in a
/// worker or in the poller is a bug in the server itself, and would leave
/// a process that is up but cannot serve (the poller gone, or connections
/// lent to a dead worker forever). Aborting instead lets systemd or the
/// container runtime start a fresh one (`deploy/taskapi.service`). The
/// panic message is printed first, by the default hook.
struct AbortOnPanic(&'static str);

impl Drop for AbortOnPanic {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{} panicked outside a request; aborting", self.0);
            std::process::abort();
        }
    }
}

/// The connection layer's settings from the configuration.
fn connection_settings(config: &Config) -> Settings {
    // Raised whatever `--max-connections` says: every connection holds a
    // descriptor, and the usual soft limit of 1,024 is far below either.
    let open_files = sys::raise_open_files_limit().unwrap_or_else(|error| {
        eprintln!("could not raise the open-files limit: {error}");
        0
    });
    let max_connections = match config.max_connections {
        0 => default_max_connections(open_files),
        limit => limit,
    };
    let mut settings = Settings::new(usize::try_from(max_connections).unwrap_or(usize::MAX));
    settings.keep_alive_timeout = Duration::from_millis(config.keep_alive_timeout_ms);
    settings.head_timeout = Duration::from_millis(config.request_head_timeout_ms);
    settings.body_timeout = Duration::from_millis(config.request_body_timeout_ms);
    settings.send_timeout = Duration::from_millis(config.send_timeout_ms);
    settings.max_requests_per_connection = clamp_u32(config.max_requests_per_connection);
    settings.refuse_early = router::refuse_early;
    let budget = usize::try_from(config.max_body_memory_mib.saturating_mul(1024 * 1024));
    settings.body_budget = BodyBudget::new(budget.unwrap_or(usize::MAX));
    settings
}

/// The open-files limit less what the server needs besides connections,
/// and never below 4,096: with a lower limit, connections past it wait in
/// the kernel's backlog (see `http::poller`), which is kinder than a 503.
fn default_max_connections(open_files: u64) -> u64 {
    open_files
        .saturating_sub(RESERVED_DESCRIPTORS)
        .max(MIN_DEFAULT_MAX_CONNECTIONS)
}

impl Server {
    /// The address actually bound (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` is served, if `--metrics-addr` asked for it.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// A handle that stops this server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            handoff: Arc::clone(&self.handoff),
        }
    }

    /// Waits until the poller and every worker have finished.
    pub fn wait(self) -> Result<(), String> {
        for thread in self.threads {
            // Handler panics are caught inside the worker; anything else
            // is a bug in the server itself.
            if thread.join().is_err() {
                return Err("a server thread panicked".to_owned());
            }
        }
        Ok(())
    }
}

impl ShutdownHandle {
    /// Stops accepting and closes idle connections at once; requests
    /// already received are answered (each response then closes its
    /// connection), and the rest get the shutdown grace. [`Server::wait`]
    /// returns when everything has finished.
    pub fn shutdown(&self) {
        self.handoff.shutdown();
    }
}

/// How often expired idempotency keys and old change-feed entries are
/// deleted.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);

/// The maintenance thread: purges what has expired, at start and then
/// every [`MAINTENANCE_EVERY`], on the connection that ran the migrations,
/// until shutdown. A failure is logged and tried again next time: nothing
/// a request needs waits for it.
fn maintain(db: &Db, handoff: &Handoff) {
    // Checked this often for shutdown, so that it never holds one up.
    const TICK: Duration = Duration::from_millis(250);
    let mut next = Instant::now();
    while !handoff.is_stopping() {
        if Instant::now() >= next {
            let now = time::unix_now();
            if let Err(error) = store::idempotency::purge_expired(db, now) {
                eprintln!("maintenance: purging idempotency keys: {error}");
            }
            if let Err(error) = store::changes::purge(db, now) {
                eprintln!("maintenance: purging the change log: {error}");
            }
            next = Instant::now() + MAINTENANCE_EVERY;
        }
        thread::sleep(TICK);
    }
}

fn clamp_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// A worker's life: answer the next complete request, until shutdown has
/// finished and no request is left.
fn work(handoff: &Handoff, ctx: &mut Ctx, handler: Dispatcher) {
    while let Some(exchange) = handoff.next_exchange() {
        serve(handoff, ctx, handler, exchange);
    }
}

/// Answers one request, tags the answer with the request's id, and writes
/// its access-log line.
fn serve(handoff: &Handoff, ctx: &mut Ctx, handler: Dispatcher, exchange: Exchange) {
    let started = exchange.received;
    let request_id = ctx.shared.request_ids.for_request(&exchange.request);
    let in_flight = metrics::InFlight::start();
    let mut response = answer(ctx, handler, &exchange.request);
    drop(in_flight);
    response.set_header(access_log::REQUEST_ID_HEADER, request_id.clone());
    let status = response.status;
    let route = router::pattern(exchange.request.method(), exchange.request.target());
    let (request, delivered) = handoff.respond(exchange, response);
    metrics::record_request(
        route,
        request.method().as_str(),
        status,
        started.elapsed().as_secs_f64(),
    );
    access_log::write(
        ctx.shared.log_format,
        &access_log::Entry {
            request: &request,
            route,
            status,
            delivered,
            started,
            request_id: &request_id,
        },
    );
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
