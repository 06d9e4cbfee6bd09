//! One client connection: a non-blocking socket, the bytes read from it
//! but not yet parsed, the response bytes not yet written, and the
//! deadline it must meet next.
//!
//! A connection is always in one [`Phase`], and every phase but `Lent` has
//! a deadline, so no client can hold a connection open by doing nothing:
//!
//! ```text
//!   Idle ──first byte──▶ Head ──head parsed──▶ Body ──body read──▶ Lent (a worker answers)
//!    ▲                     └──────────no body─────────────────────▶  │
//!    │                                                               ▼
//!    └──────────── response written, keep-alive ─────────────── Writing
//!                                                                    │ close
//!                                                                    ▼
//!                                                               Lingering ──▶ closed
//! ```
//!
//! Nothing here waits: a read or write that would block returns at once,
//! and the poller (or the worker that just answered) decides what to watch
//! for next from the [`Next`] that [`Connection::step`] returns.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::parse::{HttpError, Parsed, RequestParser};
use super::poller::Settings;
use super::request::{Method, Request, Version};
use super::response::{ConnectionHeader, Response, encode, encode_owned};
use crate::time;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Between requests, nothing of the next one received: closed without
    /// a word when the keep-alive timeout passes.
    Idle,
    /// Part of a request head received: 408 when the head timeout passes.
    Head,
    /// The head is parsed and its body is arriving: 408 when the body
    /// timeout passes.
    Body,
    /// A worker holds the connection and is answering its request.
    Lent,
    /// Response bytes are waiting for the client to read them: closed when
    /// the send timeout passes without progress.
    Writing,
    /// The last response is written and the server's side is shut; what
    /// the client still sends is read and dropped until it closes or the
    /// linger time passes (so that our close cannot reset the connection
    /// before the client has read the response: RFC 9112 §9.6).
    Lingering,
}

/// What to do with a connection after [`Connection::step`].
#[derive(Debug)]
pub enum Next {
    /// A complete request: hand it to a worker.
    Dispatch(Request),
    /// Wait until the socket is readable.
    Read,
    /// Wait until the socket is writable.
    Write,
    /// Close it now.
    Close,
}

/// The request bodies all connections together may hold in memory.
///
/// Each connection may hold up to 1 MiB of body while it arrives and while
/// its request waits for and is answered by a worker; with thousands of
/// connections that is gigabytes (measured before this budget: 400 clients
/// each sending 1 MiB took the server from 8.6 to 449 MB). A request whose
/// body would take the total past the budget is refused with 503 and
/// `Retry-After: 1` instead.
pub struct BodyBudget {
    limit: usize,
    held: AtomicUsize,
}

impl BodyBudget {
    pub fn new(limit: usize) -> Arc<BodyBudget> {
        Arc::new(BodyBudget {
            limit,
            held: AtomicUsize::new(0),
        })
    }

    /// Takes `bytes` more, unless that would pass the limit.
    fn take(&self, bytes: usize) -> bool {
        self.held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                held.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::SeqCst);
    }
}

/// How many bytes one lingering connection may still send before it is
/// closed anyway.
const MAX_LINGER_BYTES: usize = 64 * 1024 * 1024;

/// A client connection.
pub struct Connection {
    socket: TcpStream,
    peer: SocketAddr,
    /// The poller's key for this connection.
    pub key: usize,
    input: Vec<u8>,
    parser: RequestParser,
    output: Vec<u8>,
    written: usize,
    /// Requests answered on this connection so far.
    served: u32,
    phase: Phase,
    deadline: Instant,
    /// Close once `output` is written.
    close_after_output: bool,
    /// The client has shut its sending side: no more requests can come.
    peer_closed: bool,
    lingered: usize,
    write_failed: bool,
    /// A complete request parsed ahead, during shutdown (see
    /// `queue_response`), to be answered next.
    pending: Option<Request>,
    budget: Arc<BodyBudget>,
    /// What this connection holds of the body budget.
    charged: usize,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.budget.give_back(self.charged);
    }
}

impl Connection {
    /// A connection just accepted: idle, with the keep-alive timeout to
    /// send its first byte.
    pub fn new(socket: TcpStream, peer: SocketAddr, key: usize, settings: &Settings) -> Connection {
        Connection {
            socket,
            peer,
            key,
            input: Vec::new(),
            parser: RequestParser::new(settings.limits),
            output: Vec::new(),
            written: 0,
            served: 0,
            phase: Phase::Idle,
            deadline: Instant::now() + settings.keep_alive_timeout,
            close_after_output: false,
            peer_closed: false,
            lingered: 0,
            write_failed: false,
            pending: None,
            budget: Arc::clone(&settings.body_budget),
            charged: 0,
        }
    }

    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether writing to the client failed (it reset the connection).
    pub fn write_failed(&self) -> bool {
        self.write_failed
    }

    /// Reads what the socket has: one read, of at most `scratch.len()`
    /// bytes, so that one busy client cannot keep the poller to itself.
    /// Nothing there (a spurious wake-up) is not an error.
    pub fn read_available(&mut self, scratch: &mut [u8]) -> io::Result<()> {
        loop {
            match self.socket.read(scratch) {
                Ok(0) => self.peer_closed = true,
                Ok(read) if self.phase == Phase::Lingering => self.lingered += read,
                Ok(read) => self.input.extend_from_slice(&scratch[..read]),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
            return Ok(());
        }
    }

    /// Queues the response to `request` and decides whether the connection
    /// stays open after it.
    pub fn queue_response(&mut self, request: &Request, response: Response, settings: &Settings) {
        self.served += 1;
        // This request's body is done with.
        self.charge(0);
        // While the server stops, the connection stays open only for a
        // request that has already arrived in full behind this one: every
        // request received is answered, and none is waited for.
        let keep_alive = request.keeps_alive()
            && !self.peer_closed
            && self.served < settings.max_requests_per_connection
            && (!settings.is_stopping() || self.parse_ahead());
        let header = match (keep_alive, request.version()) {
            (false, _) => ConnectionHeader::Close,
            (true, Version::Http10) => ConnectionHeader::KeepAliveAnnounced,
            (true, Version::Http11) => ConnectionHeader::KeepAlive,
        };
        let head_only = *request.method() == Method::Head;
        encode_owned(
            response,
            head_only,
            header,
            time::unix_now(),
            &mut self.output,
        );
        self.close_after_output = !keep_alive;
        self.phase = Phase::Writing;
        self.deadline = Instant::now() + settings.send_timeout;
    }

    /// During shutdown: whether a complete request is already buffered
    /// behind the one being answered; if so it is kept for `step`.
    fn parse_ahead(&mut self) -> bool {
        if let Ok(Parsed::Complete(request)) = self.parser.advance(&mut self.input, Some(self.peer))
        {
            self.pending = Some(request);
        }
        self.pending.is_some()
    }

    /// Holds `bytes` of the body budget for this connection, in place of
    /// what it held before; `false` (holding nothing) if the budget is
    /// spent.
    fn charge(&mut self, bytes: usize) -> bool {
        if bytes == self.charged {
            return true;
        }
        self.budget.give_back(self.charged);
        self.charged = 0;
        if !self.budget.take(bytes) {
            return false;
        }
        self.charged = bytes;
        true
    }

    /// Moves the connection on as far as it can go without waiting: writes
    /// what is queued, then parses what is buffered.
    pub fn step(&mut self, settings: &Settings) -> Next {
        loop {
            if self.written < self.output.len() {
                match self.flush(settings) {
                    Ok(true) => {}
                    Ok(false) => {
                        // A `100 Continue` that does not fit leaves the
                        // connection in its body phase, with that deadline.
                        if self.parser.pending_head().is_none() {
                            self.phase = Phase::Writing;
                        }
                        return Next::Write;
                    }
                    Err(_) => {
                        self.write_failed = true;
                        return Next::Close;
                    }
                }
            }
            if self.phase == Phase::Lingering {
                let done = self.peer_closed || self.lingered > MAX_LINGER_BYTES;
                return if done { Next::Close } else { Next::Read };
            }
            if self.close_after_output {
                return self.begin_lingering(settings);
            }
            if let Some(request) = self.pending.take() {
                self.phase = Phase::Lent;
                return Next::Dispatch(request);
            }
            let parsed = self.parser.advance(&mut self.input, Some(self.peer));
            let body_held = match &parsed {
                Ok(Parsed::Complete(request)) => request.body().len(),
                _ => self.parser.buffered_body_len(),
            };
            if !self.charge(body_held) {
                let busy = Response::busy("the server holds too many request bodies right now");
                self.refuse_with(&busy, settings);
                continue;
            }
            match parsed {
                Ok(Parsed::Complete(request)) => {
                    self.phase = Phase::Lent;
                    self.release_idle_memory();
                    return Next::Dispatch(request);
                }
                Ok(Parsed::AwaitingBody { expects_continue }) => {
                    self.phase = Phase::Body;
                    self.deadline = Instant::now() + settings.body_timeout;
                    if expects_continue {
                        self.answer_expectation(settings);
                    }
                }
                Ok(Parsed::Incomplete) => return self.await_more(settings),
                Err(error) => self.refuse(&error, settings),
            }
        }
    }

    /// The deadline of the current phase has passed: answers 408 where a
    /// request was under way, and says whether to close now.
    pub fn expire(&mut self, settings: &Settings) -> Next {
        match self.phase {
            Phase::Head | Phase::Body => {
                let what = if self.phase == Phase::Head {
                    "head"
                } else {
                    "body"
                };
                let error = HttpError {
                    status: 408,
                    detail: format!("the request {what} did not arrive in time"),
                };
                self.refuse(&error, settings);
                self.step(settings)
            }
            Phase::Idle | Phase::Writing | Phase::Lingering | Phase::Lent => Next::Close,
        }
    }

    /// The layer's own refusal: a problem document, then close.
    fn refuse(&mut self, error: &HttpError, settings: &Settings) {
        self.refuse_with(&Response::problem(error.status, &error.detail), settings);
    }

    /// Queues `response`, the connection layer's own answer (a parse error,
    /// a timeout, a refusal from the head alone), after which the
    /// connection closes. Whatever of the request was read is dropped, its
    /// buffered body going back to the budget at once; the answer to a
    /// `HEAD` has no body, even an error's.
    fn refuse_with(&mut self, response: &Response, settings: &Settings) {
        let head_only = self
            .parser
            .pending_head()
            .is_some_and(|head| *head.method() == Method::Head);
        self.input.clear();
        self.parser = RequestParser::new(settings.limits);
        self.charge(0);
        encode(
            response,
            head_only,
            ConnectionHeader::Close,
            time::unix_now(),
            &mut self.output,
        );
        self.close_after_output = true;
        self.phase = Phase::Writing;
        self.deadline = Instant::now() + settings.send_timeout;
    }

    /// `Expect: 100-continue`: either the final answer at once, when the
    /// head alone shows the request will be refused (the body is then never
    /// read), or a bare `100 Continue` (RFC 9110 §15.2.1: no header fields,
    /// so no `Content-Length`) to ask for the body.
    fn answer_expectation(&mut self, settings: &Settings) {
        let refusal = self.parser.pending_head().and_then(settings.refuse_early);
        match refusal {
            Some(response) => self.refuse_with(&response, settings),
            None if self.input.is_empty() => {
                self.output
                    .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            // The client sent the body without waiting: no need to ask.
            None => {}
        }
    }

    /// Nothing complete is buffered: wait for the client, in the phase and
    /// with the deadline that fit what has arrived so far.
    fn await_more(&mut self, settings: &Settings) -> Next {
        if self.peer_closed {
            // Half a request and no more to come: nothing to answer.
            return Next::Close;
        }
        let now = Instant::now();
        match self.phase {
            Phase::Body => {}
            Phase::Head if !self.input.is_empty() => {}
            _ if self.input.is_empty() => {
                if self.phase != Phase::Idle {
                    self.deadline = now + settings.keep_alive_timeout;
                }
                self.phase = Phase::Idle;
            }
            _ => {
                self.phase = Phase::Head;
                self.deadline = now + settings.head_timeout;
            }
        }
        self.release_idle_memory();
        Next::Read
    }

    /// Writes queued output until done (`Ok(true)`) or the socket is full.
    /// Any progress renews the send deadline: it bounds a client that takes
    /// nothing, not a slow one that keeps reading.
    fn flush(&mut self, settings: &Settings) -> io::Result<bool> {
        while self.written < self.output.len() {
            match self.socket.write(&self.output[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(wrote) => {
                    self.written += wrote;
                    if self.phase == Phase::Writing {
                        self.deadline = Instant::now() + settings.send_timeout;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(error) => return Err(error),
            }
        }
        self.output.clear();
        self.written = 0;
        Ok(true)
    }

    /// After the last response: shut our sending side, then read and drop
    /// whatever the client still sends, for a bounded time.
    /// (A client that has shut its own side sends nothing more: close.)
    fn begin_lingering(&mut self, settings: &Settings) -> Next {
        if self.peer_closed {
            return Next::Close;
        }
        let _ = self.socket.shutdown(Shutdown::Write);
        self.input = Vec::new();
        self.phase = Phase::Lingering;
        self.deadline = Instant::now() + settings.linger;
        Next::Read
    }

    /// Buffers that grew for a large request go back to the allocator once
    /// empty, so thousands of idle connections cost almost nothing.
    fn release_idle_memory(&mut self) {
        const KEEP: usize = 16 * 1024;
        if self.input.is_empty() && self.input.capacity() > KEEP {
            self.input = Vec::new();
        }
        if self.output.is_empty() && self.output.capacity() > KEEP {
            self.output = Vec::new();
        }
    }
}
