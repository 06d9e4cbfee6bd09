//! The PostgreSQL backend (the `postgres` cargo feature): any number of
//! taskapi processes on one database.
//!
//! Each worker owns one connection, opened at start and opened again after
//! it fails. There is no application writer: every write is its own
//! transaction on the worker's connection, and PostgreSQL groups the
//! commits of concurrent transactions into one WAL flush itself. Reads that
//! must agree with each other (a list page and its total) run in one
//! `REPEATABLE READ READ ONLY` transaction.
//!
//! The database going away is not a crash: a statement that fails because
//! the connection is gone is `StoreError::Unavailable` (a 503 with
//! `Retry-After`), the connection is dropped, and the worker's next request
//! connects again; after a failed attempt it waits [`RECONNECT_INTERVAL`]
//! before the next, so a database that is down costs a request at most one
//! refused connection.
//! Connecting and every statement are bounded in time by the client's
//! connect timeout and TCP timeouts (see [`Db::open`]), so no worker waits
//! for ever on a database that stopped answering.

mod migrate;

use std::cell::RefCell;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls, Statement};

use super::StoreError;
use super::sql::{Conn, ErrorKind, Param, SqlError, numbered_placeholders};

/// How long a worker whose attempt to connect failed waits before trying
/// again; requests in between get 503 at once.
const RECONNECT_INTERVAL: Duration = Duration::from_millis(250);

/// How long connecting may take, unless the URL says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long sent data may go unacknowledged by the database host before
/// the connection is given up (Linux's `TCP_USER_TIMEOUT`), unless the URL
/// says otherwise: it bounds a statement sent to a host that vanished.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an idle connection waits before TCP keepalives probe it, so a
/// connection to a vanished host is noticed between requests too.
const KEEPALIVES_IDLE: Duration = Duration::from_secs(10);

/// One worker's connection, and what it needs to connect again.
pub struct Db {
    config: Arc<Config>,
    state: RefCell<State>,
}

struct State {
    client: Option<Client>,
    /// Prepared statements of `client`, by the SQL the store wrote
    /// (before its placeholders were renumbered).
    statements: HashMap<String, Statement>,
    /// When this worker may try to connect next.
    next_attempt: Instant,
}

/// A connection lent to one job: the client and its statement cache.
pub struct Session<'a> {
    client: &'a mut Client,
    statements: &'a mut HashMap<String, Statement>,
}

impl Session<'_> {
    /// The prepared statement for `sql`, preparing it on first use.
    fn prepare(&mut self, sql: &str) -> Result<Statement, SqlError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(&numbered_placeholders(sql))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub(in crate::store) fn query(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<Vec<postgres::Row>, SqlError> {
        let statement = self.prepare(sql)?;
        Ok(self.client.query(&statement, &postgres_params(params))?)
    }

    pub(in crate::store) fn execute(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<u64, SqlError> {
        let statement = self.prepare(sql)?;
        Ok(self.client.execute(&statement, &postgres_params(params))?)
    }
}

fn postgres_params<'p>(params: &[&'p dyn Param]) -> Vec<&'p (dyn postgres::types::ToSql + Sync)> {
    params.iter().map(|param| param.as_postgres()).collect()
}

impl From<postgres::Error> for SqlError {
    fn from(error: postgres::Error) -> SqlError {
        let kind = match error.code() {
            Some(code) if *code == SqlState::UNIQUE_VIOLATION => ErrorKind::Unique,
            Some(code) if *code == SqlState::FOREIGN_KEY_VIOLATION => ErrorKind::ForeignKey,
            Some(code) if is_transient(code) => ErrorKind::Unavailable,
            Some(_) => ErrorKind::Other,
            // No SQLSTATE: the connection failed or closed (I/O, the server
            // went away): the next request connects again.
            None => ErrorKind::Unavailable,
        };
        // The driver's message for a database error leaves out the detail
        // (which can hold row values); its `Display` names the SQLSTATE.
        SqlError::new(kind, error.to_string())
    }
}

/// The SQLSTATEs that mean "not now" rather than "never": the server is
/// shutting down, starting, out of resources, or is a standby (after a
/// failover the old primary's connections find themselves read-only), or
/// this transaction lost a race it may win on a retry.
fn is_transient(code: &SqlState) -> bool {
    let class = &code.code()[..2];
    matches!(class, "08" | "53" | "57" | "40")
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
}

impl Db {
    /// Parses `url`, fills in the timeouts it does not set, and connects.
    ///
    /// The URL is libpq's: `postgres://user:password@host:port/dbname`,
    /// several hosts as `host1,host2`, and parameters such as
    /// `target_session_attrs=read-write` (connect to whichever host is the
    /// primary) and `connect_timeout`. TLS is not built in: `sslmode`
    /// `prefer` (the default) connects in plain text, and `require` fails.
    pub fn open(url: &str) -> Result<Db, StoreError> {
        let mut config = Config::from_str(url)
            .map_err(|error| StoreError::Database(format!("the PostgreSQL URL: {error}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        config.keepalives_idle(KEEPALIVES_IDLE);
        if config.get_application_name().is_none() {
            config.application_name("taskapi");
        }
        let db = Db::new(Arc::new(config));
        // Connect now, so that a wrong URL or password fails the start.
        db.state
            .borrow_mut()
            .connect(&db.config)
            .map_err(StoreError::from)?;
        Ok(db)
    }

    fn new(config: Arc<Config>) -> Db {
        Db {
            config,
            state: RefCell::new(State {
                client: None,
                statements: HashMap::new(),
                next_attempt: Instant::now(),
            }),
        }
    }

    /// Another worker's connection to the same database.
    pub fn connect_again(&self) -> Result<Db, StoreError> {
        let db = Db::new(Arc::clone(&self.config));
        db.state.borrow_mut().connect(&db.config)?;
        Ok(db)
    }

    /// Applies the PostgreSQL migrations (see `migrate.rs`).
    pub fn migrate(&mut self) -> Result<(), StoreError> {
        let state = self.state.get_mut();
        let client = state.client(&self.config)?;
        let result = migrate::run(client);
        // The schema may have changed under statements prepared before.
        state.statements.clear();
        result
    }

    /// Runs `job` on the connection, outside any transaction.
    pub fn read<T>(
        &self,
        job: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.run(None, job)
    }

    /// Runs `job` in a `REPEATABLE READ READ ONLY` transaction: one snapshot
    /// for all of it.
    pub fn snapshot<T>(
        &self,
        job: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.run(Some("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"), job)
    }

    /// Runs `job` as one transaction, committed before this returns.
    /// `synchronous_commit` is the server's (on, by default): the commit
    /// returns once the WAL is flushed, so a 2xx is on disk.
    pub fn write<T>(
        &self,
        job: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.run(Some("BEGIN"), job)
    }

    /// Runs `job`, inside a transaction begun with `begin` if there is one,
    /// and drops the connection if it failed (the next use connects again).
    fn run<T>(
        &self,
        begin: Option<&str>,
        job: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let result = state.transaction(&self.config, begin, job);
        if matches!(result, Err(StoreError::Unavailable(_))) {
            state.disconnect();
        }
        result
    }

    /// A panic may have left a transaction open, or the connection in the
    /// middle of a statement: start afresh.
    pub fn reset_after_panic(&self) {
        if let Ok(mut state) = self.state.try_borrow_mut() {
            state.disconnect();
        }
    }
}

impl State {
    /// The connection, connecting first if there is none.
    fn client(&mut self, config: &Config) -> Result<&mut Client, SqlError> {
        self.ensure_connected(config)?;
        self.client
            .as_mut()
            .ok_or_else(|| SqlError::new(ErrorKind::Unavailable, "not connected"))
    }

    fn ensure_connected(&mut self, config: &Config) -> Result<(), SqlError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.connect(config)?;
        }
        Ok(())
    }

    fn connect(&mut self, config: &Config) -> Result<(), SqlError> {
        self.disconnect();
        let now = Instant::now();
        if now < self.next_attempt {
            return Err(SqlError::new(
                ErrorKind::Unavailable,
                "the database connection was lost; reconnecting",
            ));
        }
        match config.connect(NoTls) {
            Ok(client) => {
                self.client = Some(client);
                Ok(())
            }
            Err(error) => {
                self.next_attempt = now + RECONNECT_INTERVAL;
                Err(SqlError::new(
                    ErrorKind::Unavailable,
                    format!("connecting to PostgreSQL: {error}"),
                ))
            }
        }
    }

    fn disconnect(&mut self) {
        self.client = None;
        self.statements.clear();
    }

    fn transaction<T>(
        &mut self,
        config: &Config,
        begin: Option<&str>,
        job: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.ensure_connected(config)?;
        let Some(client) = self.client.as_mut() else {
            return Err(StoreError::Unavailable("not connected".to_owned()));
        };
        let Some(begin) = begin else {
            return job(&mut Conn::Postgres(Session {
                client,
                statements: &mut self.statements,
            }));
        };
        client.batch_execute(begin).map_err(SqlError::from)?;
        let result = job(&mut Conn::Postgres(Session {
            client,
            statements: &mut self.statements,
        }));
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        // A COMMIT that fails (the connection broke) leaves the outcome
        // unknown to us: the write is reported as not done (503), and a
        // client retrying it finds out.
        match (client.batch_execute(end).map_err(SqlError::from), result) {
            (Ok(()), result) => result,
            (Err(error), Ok(_)) => Err(error.into()),
            // The job's own error is the one worth reporting; the connection
            // is dropped if the rollback failed because it broke.
            (Err(error), Err(job_error)) => {
                if error.kind == ErrorKind::Unavailable {
                    self.disconnect();
                }
                Err(job_error)
            }
        }
    }
}
