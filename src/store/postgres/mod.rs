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
//! attempt to connect. A connection that sat idle through a database
//! restart is closed on the server's side, which the client learns only by
//! using it: a read, or the `BEGIN` of a write, that fails that way is
//! tried once more on a new connection, so the first request after a
//! restart does not get a needless 503.
//!
//! No worker waits for ever: connecting is bounded by the connect timeout,
//! a statement sent to a host that vanished by the TCP user timeout, and a
//! statement that runs or waits for a lock too long by `statement_timeout`
//! and `lock_timeout` (see [`Db::open`]).

mod migrate;

use std::cell::RefCell;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres::config::Host;
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

/// Server settings every connection gets unless the URL's `options` set
/// them: no statement of ours takes more than milliseconds, so one running
/// for 10 s, or waiting 5 s for a lock (a registration's advisory lock held
/// by a stuck process, a row another transaction holds), is failed rather
/// than left to hold a worker.
const SESSION_DEFAULTS: &[(&str, &str)] = &[("statement_timeout", "10s"), ("lock_timeout", "5s")];

/// The most prepared statements a connection keeps. The store has a few
/// dozen distinct statements, times the sort orders and filters clients
/// combine; past this the cache is emptied (which closes the statements on
/// the server too), so cycling through sort orders cannot grow memory on
/// either side.
const MAX_STATEMENTS: usize = 256;

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

/// A connection lent to one job: the client, its statement cache, and
/// whether a statement of the job failed.
pub struct Session<'a> {
    client: &'a mut Client,
    statements: &'a mut HashMap<String, Statement>,
    failed: &'a mut bool,
}

impl Session<'_> {
    /// The prepared statement for `sql`, preparing it on first use.
    fn prepare(&mut self, sql: &str) -> Result<Statement, SqlError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(&numbered_placeholders(sql))?;
        if self.statements.len() >= MAX_STATEMENTS {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub(in crate::store) fn query(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<Vec<postgres::Row>, SqlError> {
        let result = self
            .prepare(sql)
            .and_then(|statement| Ok(self.client.query(&statement, &postgres_params(params))?));
        *self.failed |= result.is_err();
        result
    }

    pub(in crate::store) fn execute(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<u64, SqlError> {
        let result = self
            .prepare(sql)
            .and_then(|statement| Ok(self.client.execute(&statement, &postgres_params(params))?));
        *self.failed |= result.is_err();
        result
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
            // No SQLSTATE: either the connection failed (closed by the
            // server, or an I/O error on the socket), which a new
            // connection may cure, or the driver refused something of ours
            // (a type conversion), which is a bug and stays a 500.
            None if error.is_closed() || caused_by_io(&error) => ErrorKind::Unavailable,
            None => ErrorKind::Other,
        };
        SqlError::new(kind, describe(&error))
    }
}

fn caused_by_io(error: &postgres::Error) -> bool {
    std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>())
}

/// What went wrong, for the log: the driver's `Display` says only "db
/// error". A database error gives its SQLSTATE and message, never its
/// `DETAIL` (which can quote row values); anything else, its cause.
fn describe(error: &postgres::Error) -> String {
    match (error.as_db_error(), std::error::Error::source(error)) {
        (Some(db), _) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        (None, Some(cause)) => format!("{error}: {cause}"),
        (None, None) => error.to_string(),
    }
}

/// The SQLSTATEs that mean "not now" rather than "never": a connection
/// problem (08), out of resources (53), the server shutting down or
/// starting, or a statement cancelled by a timeout (57), a transaction
/// that lost a race it may win on a retry (40), a lock not granted within
/// `lock_timeout`, or a standby that refuses writes (after a failover the
/// old primary's connections find themselves read-only).
fn is_transient(code: &SqlState) -> bool {
    matches!(&code.code()[..2], "08" | "53" | "57" | "40")
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
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
        let mut options = config.get_options().unwrap_or_default().to_owned();
        for (setting, value) in SESSION_DEFAULTS {
            if !options.contains(setting) {
                options.push_str(&format!(" -c {setting}={value}"));
            }
        }
        config.options(options.trim());
        warn_without_tls(&config);
        let db = Db::new(Arc::new(config));
        // Connect now, so that a wrong URL or password fails the start.
        db.state.borrow_mut().connect(&db.config)?;
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
        state.ensure_connected(&self.config)?;
        let client = state.client.as_mut().ok_or_else(not_connected)?;
        let result = migrate::run(client);
        // The schema may have changed under statements prepared before.
        state.statements.clear();
        result
    }

    /// Runs `job` on the connection, outside any transaction.
    pub fn read<T>(
        &self,
        job: impl Fn(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.read_retrying(None, job)
    }

    /// Runs `job` in a `REPEATABLE READ READ ONLY` transaction: one snapshot
    /// for all of it.
    pub fn snapshot<T>(
        &self,
        job: impl Fn(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.read_retrying(Some("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"), job)
    }

    /// Runs a read, and runs it once more on a new connection if it failed
    /// on one that was open before (and so may have died while idle).
    /// Reads change nothing, so running one twice is harmless.
    fn read_retrying<T>(
        &self,
        begin: Option<&str>,
        job: impl Fn(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut state = self.state.borrow_mut();
        let reused = state.client.is_some();
        match state.run(&self.config, begin, &job) {
            Err(StoreError::Unavailable(_)) if reused => state.run(&self.config, begin, &job),
            result => result,
        }
    }

    /// Runs `job` as one transaction, committed before this returns.
    ///
    /// `READ COMMITTED` whatever the server's default: each statement sees
    /// what was committed before it began, which the registration check
    /// after its advisory lock relies on. `synchronous_commit` is the
    /// server's (on, by default): the commit returns once the WAL is
    /// flushed, so a 2xx is on disk. Only a `BEGIN` that failed on a
    /// connection open before is tried again: nothing of the write had run.
    pub fn write<T>(
        &self,
        job: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        const BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";
        let mut state = self.state.borrow_mut();
        let reused = state.client.is_some();
        match state.begin(&self.config, BEGIN) {
            Err(StoreError::Unavailable(_)) if reused => state.begin(&self.config, BEGIN)?,
            result => result?,
        }
        state.finish(job)
    }

    /// A panic may have left a transaction open, or the connection in the
    /// middle of a statement: start afresh.
    pub fn reset_after_panic(&self) {
        if let Ok(mut state) = self.state.try_borrow_mut() {
            state.disconnect();
        }
    }
}

fn not_connected() -> StoreError {
    StoreError::Unavailable("not connected to PostgreSQL".to_owned())
}

/// Says on stderr, once at start, when the connection will cross a network
/// in plain text: the token signing key is read over it.
fn warn_without_tls(config: &Config) {
    let remote: Vec<&str> = config
        .get_hosts()
        .iter()
        .filter_map(|host| match host {
            Host::Tcp(name) if !matches!(name.as_str(), "localhost" | "127.0.0.1" | "::1") => {
                Some(name.as_str())
            }
            _ => None,
        })
        .collect();
    if !remote.is_empty() {
        eprintln!(
            "warning: PostgreSQL at {} is reached without TLS (this build has none): \
             keep it on a private network",
            remote.join(", ")
        );
    }
}

impl State {
    fn ensure_connected(&mut self, config: &Config) -> Result<(), SqlError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.connect(config)?;
        }
        Ok(())
    }

    fn connect(&mut self, config: &Config) -> Result<(), SqlError> {
        self.disconnect();
        if Instant::now() < self.next_attempt {
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
                // From the end of the attempt, which can take the whole
                // connect timeout when the host drops packets.
                self.next_attempt = Instant::now() + RECONNECT_INTERVAL;
                Err(SqlError::new(
                    ErrorKind::Unavailable,
                    format!("connecting to PostgreSQL: {}", describe(&error)),
                ))
            }
        }
    }

    fn disconnect(&mut self) {
        self.client = None;
        self.statements.clear();
    }

    /// `begin`, then `job`, then `COMMIT` or `ROLLBACK`; or `job` alone
    /// without `begin`. A failure for want of the database drops the
    /// connection, so the next use connects again.
    fn run<T>(
        &mut self,
        config: &Config,
        begin: Option<&str>,
        job: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Some(begin) = begin else {
            self.ensure_connected(config)?;
            let client = self.client.as_mut().ok_or_else(not_connected)?;
            let mut failed = false;
            let result = job(&mut Conn::Postgres(Session {
                client,
                statements: &mut self.statements,
                failed: &mut failed,
            }));
            if matches!(result, Err(StoreError::Unavailable(_))) {
                self.disconnect();
            }
            return result;
        };
        self.begin(config, begin)?;
        self.finish(job)
    }

    /// Connects if need be and begins a transaction.
    fn begin(&mut self, config: &Config, begin: &str) -> Result<(), StoreError> {
        self.ensure_connected(config)?;
        let client = self.client.as_mut().ok_or_else(not_connected)?;
        let begun = client.batch_execute(begin).map_err(SqlError::from);
        if let Err(error) = begun {
            if error.kind == ErrorKind::Unavailable {
                self.disconnect();
            }
            return Err(error.into());
        }
        Ok(())
    }

    /// Runs `job` in the transaction `begin` opened, and ends it: `COMMIT`
    /// if the job succeeded and none of its statements failed, else
    /// `ROLLBACK`.
    ///
    /// PostgreSQL answers a `COMMIT` of a transaction in which a statement
    /// failed with a rollback, reported as success; a job that went on after
    /// such an error (none does) would otherwise get a 2xx for nothing.
    fn finish<T>(
        &mut self,
        job: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let client = self.client.as_mut().ok_or_else(not_connected)?;
        let mut failed = false;
        let mut result = job(&mut Conn::Postgres(Session {
            client,
            statements: &mut self.statements,
            failed: &mut failed,
        }));
        if failed && result.is_ok() {
            result = Err(StoreError::Database(
                "a statement failed in a transaction whose job went on".to_owned(),
            ));
        }
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let client = self.client.as_mut().ok_or_else(not_connected)?;
        // A COMMIT that fails (the connection broke) leaves the outcome
        // unknown to us: the write is reported as not done (503), and a
        // client retrying it finds out.
        let ended = client.batch_execute(end).map_err(SqlError::from);
        let broken = ended
            .as_ref()
            .is_err_and(|error| error.kind == ErrorKind::Unavailable)
            || matches!(result, Err(StoreError::Unavailable(_)));
        if broken {
            self.disconnect();
        }
        match (ended, result) {
            (Ok(()), result) => result,
            (Err(error), Ok(_)) => Err(error.into()),
            // The job's own error is the one worth reporting.
            (Err(_), Err(job_error)) => Err(job_error),
        }
    }
}
