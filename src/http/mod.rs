//! The wire: how bytes from a socket become a [`Request`] and a
//! [`Response`] becomes bytes again. Nothing here knows about tasks, JSON
//! input rules or the database; the API depends on this module, never the
//! other way round.
//!
//! - [`request`]: the owned, complete `Request` every handler takes.
//! - [`response`]: the `Response` handlers build, and [`encode`], which
//!   alone decides its framing on the wire.

pub mod request;
pub mod response;

pub use request::{Method, Request, Version};
pub use response::{Connection, Response, encode, reason_phrase};

/// The largest request body the server reads: 1 MiB. A task is a few KB at
/// most, so anything bigger is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
