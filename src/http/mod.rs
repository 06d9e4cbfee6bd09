//! The wire: how bytes from a socket become a [`Request`] and a
//! [`Response`] becomes bytes again. Nothing here knows about tasks, JSON
//! input rules or the database; the API depends on this module, never the
//! other way round.
//!
//! - [`parse`]: pure, incremental parsing of request bytes, with RFC 9112's
//!   framing rules and the size limits.
//! - [`request`]: the owned, complete `Request` every handler takes.
//! - [`response`]: the `Response` handlers build, and [`encode`], which
//!   alone decides its framing on the wire.
//! - [`connection`]: one client connection: a socket, a buffer each way,
//!   a phase and its deadline.
//! - [`poller`]: the thread that holds every connection that is idle or
//!   partly received, and hands complete requests to the workers.
//!
//! The one rule the layout serves: a worker only ever sees a complete
//! request, and never waits on a client.

pub mod connection;
pub mod parse;
pub mod poller;
pub mod request;
pub mod response;

pub use request::{Method, Request, Version};
pub use response::{ConnectionHeader, Response, encode, reason_phrase};

/// The largest request body the server reads: 1 MiB. A task is a few KB at
/// most, so anything bigger is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
