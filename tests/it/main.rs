//! The integration tests: real HTTP against a real server on a real
//! database, a temporary SQLite file or, with `TASKAPI_TEST_POSTGRES_URL`,
//! a schema of its own in PostgreSQL (`database.rs`). One module per area;
//! `support` is the harness.

mod accounts;
mod auth;
mod binary;
mod changes;
mod conditional;
mod connections;
mod crash;
mod database;
mod errors;
mod export;
mod framing;
mod hostile;
mod idempotency;
mod limits;
mod lists;
mod migrations;
mod observability;
mod openapi;
mod operations;
#[cfg(feature = "postgres")]
mod postgres;
mod projects;
mod security;
mod server;
mod sharing;
mod shutdown;
mod support;
mod tasks;
mod tokens;
mod wire;
