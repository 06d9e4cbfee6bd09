//! The poller: one thread that accepts connections, holds every idle or
//! partly received one, and hands a connection to the workers only when a
//! whole request is in it.
//!
//! ```text
//!   listener ──accept──▶ poller thread ──complete request──▶ jobs queue ──▶ workers
//!                          ▲  holds idle, partial, lingering                     │
//!                          │  and slow-to-read connections                       │
//!                          └──────────── returned: watch for reading/writing ◀───┘
//! ```
//!
//! So a worker never blocks on a socket, and a client costs no thread
//! while it is idle or slow: only a slot in the poller's table (a few
//! hundred bytes) and a descriptor. Readiness comes from the `polling`
//! crate (epoll on Linux, kqueue on macOS and the BSDs), in its one-shot
//! mode: after an event a socket is watched again only when someone asks,
//! which is what lets a worker re-arm a connection it is done with while
//! the poller sleeps, without waking it (the only locks are the job queue's
//! and the short one around returning a connection).
//!
//! Deadlines are checked by a sweep over the table every
//! [`SWEEP_EVERY`]: coarse (a deadline is met to within that much), but
//! constant work per connection, with no timer structure to keep in step.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use polling::{Event, Events};

use super::connection::{BodyBudget, Connection, Next, Phase};
use super::parse::Limits;
use super::request::Request;
use super::response::{ConnectionHeader, Response, encode};
use crate::{sys, time};

/// How long shutdown waits for connections still in the middle of a
/// request before it closes them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How often deadlines are checked.
pub const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// How long accepting pauses after the process ran out of descriptors,
/// so a full backlog does not spin the poller.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The request bodies held in memory at once, all connections together:
/// 64 at the 1 MiB limit (see `connection::BodyBudget`; `--max-body-memory`).
pub const DEFAULT_BODY_BUDGET: usize = 64 * 1024 * 1024;

/// How many connections one readiness event of the listener accepts; more
/// waiting ones fire the event again at once.
const ACCEPTS_PER_WAKE: usize = 256;

/// The poller's key for the listening socket (`polling` reserves
/// `usize::MAX`); connections are keyed by their slot in the table.
const LISTENER: usize = usize::MAX - 1;

/// How the connection layer treats clients. The server builds it from the
/// configuration; every duration is a deadline a client must meet.
pub struct Settings {
    pub limits: Limits,
    /// An idle connection is closed after this long.
    pub keep_alive_timeout: Duration,
    /// A request head must arrive within this long of its first byte.
    pub head_timeout: Duration,
    /// A body must arrive within this long after its head.
    pub body_timeout: Duration,
    /// A client must take some of a pending response within this long.
    pub send_timeout: Duration,
    /// How long after the last response a closing connection still reads
    /// (and drops) what its client sends: see `connection::Phase::Lingering`.
    pub linger: Duration,
    /// The connection closes after answering this many requests.
    pub max_requests_per_connection: u32,
    /// Beyond this many open connections a new one gets a 503 and is closed.
    pub max_connections: usize,
    /// Shutdown waits this long for requests under way, then closes the rest.
    pub shutdown_grace: Duration,
    /// For `Expect: 100-continue`: the final response to a request that
    /// the head alone shows will be refused (an unknown route, a missing
    /// credential), so the client need not send the body.
    pub refuse_early: fn(&Request) -> Option<Response>,
    /// What all connections together may hold of request bodies.
    pub body_budget: Arc<BodyBudget>,
    stopping: AtomicBool,
}

impl Settings {
    /// Settings with every limit at its default and no early refusals.
    pub fn new(max_connections: usize) -> Settings {
        Settings {
            limits: Limits::default(),
            keep_alive_timeout: Duration::from_secs(5),
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(10),
            linger: Duration::from_secs(2),
            max_requests_per_connection: 1000,
            max_connections,
            shutdown_grace: SHUTDOWN_GRACE,
            refuse_early: |_| None,
            body_budget: BodyBudget::new(DEFAULT_BODY_BUDGET),
            stopping: AtomicBool::new(false),
        }
    }

    /// Whether shutdown has begun: a response then closes its connection,
    /// unless a complete request is already buffered behind it.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// A request a worker is to answer, with the connection it came on.
pub struct Exchange {
    pub request: Request,
    /// When the request was complete: the access log's durations count from
    /// here, so they include the wait for a free worker.
    pub received: Instant,
    connection: Box<Connection>,
}

/// What the poller and the workers share: the queue of complete requests
/// one way, connections coming back the other way.
pub struct Handoff {
    settings: Settings,
    /// The poller's count of open connections, for the metrics.
    open: AtomicUsize,
    poller: polling::Poller,
    jobs: Mutex<Jobs>,
    job_ready: Condvar,
    returned: Mutex<Vec<Returned>>,
}

#[derive(Default)]
struct Jobs {
    queue: VecDeque<Exchange>,
    closed: bool,
}

/// A connection a worker is done with.
enum Returned {
    /// Watch it again (the worker has already asked the OS to).
    Watch(Box<Connection>),
    /// The worker closed it; its slot is free.
    Closed(usize),
}

impl Handoff {
    pub fn new(settings: Settings) -> io::Result<Arc<Handoff>> {
        Ok(Arc::new(Handoff {
            settings,
            open: AtomicUsize::new(0),
            poller: polling::Poller::new()?,
            jobs: Mutex::new(Jobs::default()),
            job_ready: Condvar::new(),
            returned: Mutex::new(Vec::new()),
        }))
    }

    /// The next request to answer, waiting for one; `None` once the server
    /// has stopped and every request it received has been taken.
    pub fn next_exchange(&self) -> Option<Exchange> {
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(exchange) = jobs.queue.pop_front() {
                return Some(exchange);
            }
            if jobs.closed {
                return None;
            }
            jobs = self
                .job_ready
                .wait(jobs)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Sends the response to an exchange's request, as much as the socket
    /// takes at once, and gives the connection back: to the job queue when
    /// a pipelined request is already complete behind it, else to the
    /// poller. Returns the request, for the access log, and `false` if
    /// the client was gone before the response could be written.
    pub fn respond(&self, exchange: Exchange, response: Response) -> (Request, bool) {
        let Exchange {
            request,
            mut connection,
            ..
        } = exchange;
        connection.queue_response(&request, response, &self.settings);
        let next = connection.step(&self.settings);
        let delivered = !connection.write_failed();
        self.continue_with(connection, next);
        (request, delivered)
    }

    /// How many client connections are open now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.settings.is_stopping()
    }

    /// Stops the server: no new connections, idle ones closed, the rest
    /// given `shutdown_grace` to finish.
    pub fn shutdown(&self) {
        if !self.settings.stopping.swap(true, Ordering::SeqCst) {
            let _ = self.poller.notify();
        }
    }

    /// Acts on what `step` said, from a worker.
    fn continue_with(&self, connection: Box<Connection>, next: Next) {
        match next {
            Next::Dispatch(request) => self.push_job(request, connection),
            Next::Read | Next::Write => {
                let event = interest(connection.key, &next);
                let mut returned = self.returned.lock().unwrap_or_else(PoisonError::into_inner);
                // Armed under the lock that the poller takes, before it
                // looks at any event, to collect returned connections: so
                // however soon the event fires, the connection is back in
                // the poller's table when the poller sees it.
                match self.poller.modify(connection.socket(), event) {
                    Ok(()) => returned.push(Returned::Watch(connection)),
                    Err(error) => {
                        eprintln!("watching a connection again: {error}");
                        let _ = self.poller.delete(connection.socket());
                        returned.push(Returned::Closed(connection.key));
                    }
                }
            }
            Next::Close => {
                let key = connection.key;
                let _ = self.poller.delete(connection.socket());
                drop(connection);
                self.give_back(Returned::Closed(key));
            }
        }
    }

    fn give_back(&self, returned: Returned) {
        self.returned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(returned);
    }

    /// Queues a complete request for the workers, dated now.
    fn push_job(&self, request: Request, connection: Box<Connection>) {
        let exchange = Exchange {
            request,
            received: Instant::now(),
            connection,
        };
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .queue
            .push_back(exchange);
        self.job_ready.notify_one();
    }

    /// No more jobs will come: workers leave once the queue is empty.
    fn close_jobs(&self) {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.job_ready.notify_all();
    }
}

/// The event to watch a connection for, by what `step` asked.
fn interest(key: usize, next: &Next) -> Event {
    match next {
        Next::Write => Event::writable(key),
        _ => Event::readable(key),
    }
}

/// A slot of the connection table.
enum Slot {
    Free,
    /// Held by the poller, waiting for its socket or its deadline.
    Held(Box<Connection>),
    /// A worker has it; the key stays reserved until it comes back.
    Lent,
}

/// The poller thread's own state.
pub struct Poller {
    handoff: Arc<Handoff>,
    listener: Option<TcpListener>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    open: usize,
    scratch: Box<[u8]>,
    accept_paused_until: Option<Instant>,
    draining_since: Option<Instant>,
}

impl Poller {
    /// A poller for `listener`, which it makes non-blocking and watches.
    pub fn new(listener: TcpListener, handoff: Arc<Handoff>) -> io::Result<Poller> {
        listener.set_nonblocking(true)?;
        sys::watch(&handoff.poller, &listener, Event::readable(LISTENER))?;
        Ok(Poller {
            handoff,
            listener: Some(listener),
            slots: Vec::new(),
            free: Vec::new(),
            open: 0,
            scratch: vec![0; 64 * 1024].into_boxed_slice(),
            accept_paused_until: None,
            draining_since: None,
        })
    }

    /// Runs until shutdown has finished: every connection closed, and the
    /// job queue closed so the workers leave.
    pub fn run(mut self) {
        let mut events = Events::new();
        let mut next_sweep = Instant::now() + SWEEP_EVERY;
        loop {
            let timeout = next_sweep.saturating_duration_since(Instant::now());
            events.clear();
            if let Err(error) = self.handoff.poller.wait(&mut events, Some(timeout))
                && error.kind() != io::ErrorKind::Interrupted
            {
                eprintln!("waiting for sockets: {error}");
            }
            self.take_returned();
            for event in events.iter() {
                if event.key == LISTENER {
                    self.accept();
                } else {
                    self.on_ready(event.key);
                }
            }
            let now = Instant::now();
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + SWEEP_EVERY;
            }
            if self.handoff.settings.is_stopping() && self.drain(now) {
                break;
            }
        }
        self.handoff.close_jobs();
    }

    /// Takes back the connections workers are done with.
    fn take_returned(&mut self) {
        let returned = std::mem::take(
            &mut *self
                .handoff
                .returned
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for item in returned {
            match item {
                Returned::Watch(connection) => {
                    let key = connection.key;
                    self.slots[key] = Slot::Held(connection);
                }
                Returned::Closed(key) => self.release(key),
            }
        }
    }

    /// Accepts waiting connections (at most `ACCEPTS_PER_WAKE`, so a flood
    /// of new ones cannot starve the connections already open), then
    /// watches the listener again.
    fn accept(&mut self) {
        for _ in 0..ACCEPTS_PER_WAKE {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((socket, peer)) => self.admit(socket, peer),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if sys::is_out_of_resources(&error) => {
                    // Out of descriptors or memory: the connections wait in
                    // the kernel's backlog until some close.
                    eprintln!(
                        "accepting a connection: {error}; pausing accepts for {ACCEPT_BACKOFF:?}"
                    );
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
                // A connection that was reset while queued, and the like.
                Err(_) => {}
            }
        }
        self.watch_listener();
    }

    fn watch_listener(&self) {
        if let Some(listener) = &self.listener
            && let Err(error) = self
                .handoff
                .poller
                .modify(listener, Event::readable(LISTENER))
        {
            eprintln!("watching the listener: {error}");
        }
    }

    /// Takes in a new connection, or refuses it with 503 when the table is
    /// full.
    fn admit(&mut self, socket: TcpStream, peer: SocketAddr) {
        let settings = &self.handoff.settings;
        if self.open >= settings.max_connections {
            refuse_connection(socket, settings.max_connections);
            return;
        }
        // Nagle's algorithm would hold a small response back waiting for
        // the client's ACK of the previous one (measured before: 40 ms).
        if socket.set_nonblocking(true).is_err() || socket.set_nodelay(true).is_err() {
            return;
        }
        let key = match self.free.pop() {
            Some(key) => key,
            None => {
                self.slots.push(Slot::Free);
                self.slots.len() - 1
            }
        };
        let connection = Box::new(Connection::new(socket, peer, key, settings));
        if let Err(error) = sys::watch(
            &self.handoff.poller,
            connection.socket(),
            Event::readable(key),
        ) {
            eprintln!("watching a new connection: {error}");
            self.free.push(key);
            return;
        }
        self.slots[key] = Slot::Held(connection);
        self.open += 1;
        self.handoff.open.store(self.open, Ordering::Relaxed);
    }

    /// A held connection's socket is ready: read if it was waiting to
    /// read, then move it on.
    fn on_ready(&mut self, key: usize) {
        let Some(Slot::Held(connection)) = self.slots.get_mut(key) else {
            return;
        };
        if connection.phase() != Phase::Writing
            && connection.read_available(&mut self.scratch).is_err()
        {
            return self.close(key);
        }
        self.advance(key, |connection, settings| connection.step(settings));
    }

    /// Runs `step` on the held connection `key` and acts on the outcome.
    fn advance(&mut self, key: usize, step: impl FnOnce(&mut Connection, &Settings) -> Next) {
        let Some(Slot::Held(connection)) = self.slots.get_mut(key) else {
            return;
        };
        match step(connection, &self.handoff.settings) {
            Next::Dispatch(request) => {
                let Slot::Held(connection) = std::mem::replace(&mut self.slots[key], Slot::Lent)
                else {
                    unreachable!("the slot was matched as held above");
                };
                self.handoff.push_job(request, connection);
            }
            next @ (Next::Read | Next::Write) => {
                let event = interest(key, &next);
                if self
                    .handoff
                    .poller
                    .modify(connection.socket(), event)
                    .is_err()
                {
                    self.close(key);
                }
            }
            Next::Close => self.close(key),
        }
    }

    /// Closes connections whose deadline has passed.
    fn sweep(&mut self, now: Instant) {
        for key in 0..self.slots.len() {
            if let Slot::Held(connection) = &self.slots[key]
                && connection.deadline() <= now
            {
                self.advance(key, |connection, settings| connection.expire(settings));
            }
        }
        if let Some(until) = self.accept_paused_until
            && until <= now
        {
            self.accept_paused_until = None;
            self.watch_listener();
        }
    }

    /// One round of shutdown. The first stops accepting and closes every
    /// idle connection; requests under way get `shutdown_grace`, after
    /// which whatever is still held is closed. `true` once nothing is open.
    fn drain(&mut self, now: Instant) -> bool {
        let since = *self.draining_since.get_or_insert_with(|| {
            if let Some(listener) = self.listener.take() {
                let _ = self.handoff.poller.delete(&listener);
            }
            now
        });
        let grace_over = now.duration_since(since) >= self.handoff.settings.shutdown_grace;
        for key in 0..self.slots.len() {
            if let Slot::Held(connection) = &self.slots[key]
                && (grace_over || connection.phase() == Phase::Idle)
            {
                self.close(key);
            }
        }
        // A worker still answering after the grace finishes on its own; the
        // connection it returns is dropped with the `Handoff` when the
        // server is.
        self.open == 0 || grace_over
    }

    /// Closes a held connection and frees its slot.
    fn close(&mut self, key: usize) {
        if let Slot::Held(connection) = std::mem::replace(&mut self.slots[key], Slot::Free) {
            let _ = self.handoff.poller.delete(connection.socket());
        }
        self.release(key);
    }

    /// Frees the slot of a connection that is closed.
    fn release(&mut self, key: usize) {
        self.slots[key] = Slot::Free;
        self.free.push(key);
        self.open -= 1;
        self.handoff.open.store(self.open, Ordering::Relaxed);
    }
}

/// Answers a connection beyond `--max-connections` with a 503 and closes
/// it. The socket is fresh, so the small response fits its send buffer.
/// One read (of up to 4 KiB) first takes whatever request the client has
/// already sent, so that closing does not reset the connection before the
/// client reads the answer; a request sent later can still meet a reset,
/// the price of holding nothing for a client the server has no room for.
fn refuse_connection(socket: TcpStream, limit: usize) {
    let response = Response::busy(&format!(
        "the server has {limit} open connections, its limit"
    ));
    let mut bytes = Vec::new();
    encode(
        &response,
        false,
        ConnectionHeader::Close,
        time::unix_now(),
        &mut bytes,
    );
    let mut socket = socket;
    let _ = socket.set_nonblocking(true);
    let _ = std::io::Read::read(&mut socket, &mut [0; 4096]);
    let _ = socket.write_all(&bytes);
    let _ = socket.shutdown(Shutdown::Write);
}
