//! taskapi: a task-management REST API on a synchronous server.
//!
//! # Layout
//!
//! A request travels down this list and back up:
//!
//! - [`config`]: flags and environment variables become a [`config::Config`].
//! - [`http`]: the wire. One poller thread accepts connections and holds
//!   them while they are idle or partly received; it parses requests
//!   ([`http::parse`]) and hands a worker only a complete, owned
//!   [`http::Request`]. The [`http::Response`] a handler returns becomes
//!   bytes in [`http::encode`].
//! - [`server`]: starts the poller and N worker threads that each own one
//!   database connection, and the maintenance thread; catches handler
//!   panics, logs, shuts down gracefully.
//! - [`router`]: the route table; finds the handler for a method and path.
//! - [`api`]: one function per endpoint: authenticate, validate, call the
//!   store, respond.
//! - [`credentials`]: argon2id password hashing, JWT access tokens, API keys;
//!   [`throttle`] limits failed password checks.
//! - [`store`]: all SQL, behind plain functions; [`model`] holds the types it
//!   shares with `api`.
//! - [`error`]: [`error::ApiError`], the one place that maps failures to
//!   HTTP statuses and RFC 9457 problem bodies.
//! - [`conditional`]: ETags and the preconditions (`If-Match`,
//!   `If-None-Match`) the store checks inside a write.
//! - [`access_log`] and [`metrics`]: one line per request (plain or JSON,
//!   with its `X-Request-Id`), and the Prometheus counters on their own
//!   listener.
//! - [`healthcheck`]: the client behind `taskapi healthcheck`; `taskapi
//!   backup` is in `store` (SQLite's online backup).
//! - [`time`], [`permits`] and [`sys`]: calendar arithmetic, a counting
//!   semaphore, and the system calls std lacks (the crate's only `unsafe`).
//!
//! `main.rs` only parses the configuration, starts the server, prints the
//! listening line and turns SIGINT/SIGTERM into a graceful shutdown.

pub mod access_log;
pub mod api;
pub mod conditional;
pub mod config;
pub mod credentials;
pub mod error;
pub mod healthcheck;
pub mod http;
pub mod metrics;
pub mod model;
pub mod permits;
pub mod router;
pub mod server;
pub mod store;
pub mod sys;
pub mod throttle;
pub mod time;
