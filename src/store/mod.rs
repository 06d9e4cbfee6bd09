//! All SQL lives here. The rest of the program sees plain functions over a
//! [`Db`] handle, the domain types of [`crate::model`] and [`StoreError`];
//! no `rusqlite` type leaks out, so another backend (PostgreSQL) can later sit
//! behind the same functions.
//!
//! Each worker thread owns one `Db`: its own connection for reads (SQLite in
//! WAL mode lets any number of readers run beside one writer, and reads take
//! no lock of ours) and a share of the process's one writing connection,
//! through which writes are committed in groups (see `writer.rs`).

pub mod api_keys;
mod list;
mod migrate;
pub mod projects;
pub mod settings;
pub mod tasks;
pub mod users;
mod writer;

use std::fmt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Params, Row};

use writer::Writer;

use crate::model::Entity;

/// How long a writer waits for another process's lock before giving up with
/// an error. Writes take microseconds to a few milliseconds (one fsync), so
/// five seconds means the database is stuck, not busy. The server's writer
/// waits holding its own lock, so every write in the process waits with it.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a connection that wants the write lock checks for it again.
const BUSY_RETRY: Duration = Duration::from_millis(1);

/// SQLite's busy handler: called while another connection holds the write
/// lock, with the number of times it was already called for this attempt;
/// `true` means "try again". The server has one writing connection, so it
/// only gets here when another process (the `sqlite3` shell, a backup)
/// writes to the same file, or when a read has to wait for a checkpoint.
///
/// This is `busy_timeout` with a steady 1 ms retry. SQLite's own busy
/// timeout backs off up to 100 ms between retries, so under a steady write
/// load a writer that lost a few rounds sleeps 100 ms at a time while newer
/// writers take the lock. Measured here (wrk, 32 connections creating tasks,
/// 8 workers): SQLite's handler gave a p99 of 1.27 s with requests over 2 s;
/// retrying every millisecond (a commit with its fsync takes a few) gave a
/// p99 of 57 ms, for about a thousand cheap wake-ups a second per waiting
/// writer and some 10% less write throughput.
fn wait_for_writer(attempts: i32) -> bool {
    let waited = BUSY_RETRY * u32::try_from(attempts).unwrap_or(0);
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(BUSY_RETRY);
    true
}

/// A worker's access to the database: its own connection for reads, and
/// the process's shared writer.
pub struct Db {
    conn: Connection,
    path: PathBuf,
    writer: Arc<Writer>,
}

/// A failed database operation.
#[derive(Debug)]
pub enum StoreError {
    /// A uniqueness rule was broken; names what was duplicated (`"username"`).
    Conflict(&'static str),
    /// A row the write refers to does not exist for this owner; names what
    /// (`Entity::Project`).
    NotFound(Entity),
    /// The database cannot take writes right now: the disk is full, the
    /// file or its file system is read-only, or the storage failed the
    /// write. Nothing was changed, and it clears when the condition does.
    Unavailable(String),
    /// Anything else: I/O, corruption, a lock held too long, a bug in SQL.
    Database(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Conflict(what) => write!(f, "duplicate {what}"),
            StoreError::NotFound(what) => write!(f, "no such {what}"),
            StoreError::Unavailable(message) | StoreError::Database(message) => {
                f.write_str(message)
            }
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        match error.sqlite_error_code() {
            // An I/O error is what a write to a file made read-only under a
            // running server gets (EPERM, or EROFS once the file system is
            // remounted read-only after errors): SQLite rolls the
            // transaction back, and the next write works if the condition
            // has cleared.
            Some(
                ErrorCode::DiskFull
                | ErrorCode::ReadOnly
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen,
            ) => StoreError::Unavailable(error.to_string()),
            _ => StoreError::Database(error.to_string()),
        }
    }
}

impl Db {
    /// Opens (creating if needed) the database at `path` with the settings
    /// every connection must have. Does not migrate: see [`Db::migrate`].
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        // A new database is created readable by its owner only: it holds the
        // token signing key and password hashes. SQLite gives the -wal and
        // -shm files the same mode. An existing file keeps its mode.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|error| StoreError::Database(format!("open {}: {error}", path.display())))?;
        Ok(Db {
            conn: connect(path)?,
            path: path.to_owned(),
            writer: Arc::new(Writer::new(connect(path)?)),
        })
    }

    /// Another reading connection to the same database, sharing this one's
    /// writer (one per worker).
    pub fn connect_again(&self) -> Result<Db, StoreError> {
        Ok(Db {
            conn: connect(&self.path)?,
            path: self.path.clone(),
            writer: Arc::clone(&self.writer),
        })
    }

    /// Brings the schema up to date; see `migrate.rs`. Run once at start-up,
    /// before the workers open their connections.
    pub fn migrate(&mut self) -> Result<(), StoreError> {
        migrate::run(&mut self.conn)
    }

    /// Checks that the database answers a query.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    /// Rolls back a read transaction left open on this worker's connection
    /// by a handler that panicked (writes are the writer's, which undoes
    /// them itself).
    ///
    /// `rusqlite::Transaction` rolls back when dropped, also during unwinding,
    /// so this normally finds nothing to do; it makes sure that a worker never
    /// carries one request's half-done transaction into the next.
    pub fn reset_after_panic(&self) {
        if !self.conn.is_autocommit()
            && let Err(error) = self.conn.execute_batch("ROLLBACK")
        {
            eprintln!("rollback after panic failed: {error}");
        }
    }

    /// Runs `job` as one write on the process's writing connection and
    /// returns its result once it is committed (with others that arrived at
    /// the same time: see `writer.rs`). An `Err` from `job` undoes its
    /// changes.
    pub(crate) fn write<T>(
        &self,
        job: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.writer.write(job)
    }
}

/// Opens one connection with the settings every connection must have.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path)
        .map_err(|error| StoreError::Database(format!("open {}: {error}", path.display())))?;
    conn.busy_handler(Some(wait_for_writer))?;
    // WAL: readers never block the writer or each other.
    // synchronous=FULL: every commit is fsynced before we answer 2xx, so an
    // acknowledged write survives a crash or power loss (NORMAL could lose
    // the last commits on power loss, though not on a process crash).
    // foreign_keys: SQLite leaves them off unless asked, per connection.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;",
    )?;
    // The query planner's stability guarantee: a cached statement keeps its
    // plan whatever is bound to it. Without it, SQLite re-prepares a
    // statement with `LIMIT ?` whenever the bound limit differs from the
    // last one, and rusqlite clears bindings when it caches a statement, so
    // every list page was compiled afresh: profiled under `GET /tasks`,
    // 22 % of the server's CPU was in `sqlite3Reprepare`. The plans do not
    // need the values: the lists are served by indexes on their filters and
    // sort keys (the plan test in `store/tasks.rs`), whatever the page size.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(conn)
}

/// Runs one statement that writes, as one write (see [`Db::write`]), and
/// returns the number of rows it changed.
fn write_execute(db: &Db, sql: &str, params: impl Params) -> Result<usize, StoreError> {
    db.write(|conn| Ok(conn.prepare_cached(sql)?.execute(params)?))
}

/// Runs one `INSERT` or `UPDATE ... RETURNING` statement as one write (see
/// [`Db::write`]) and returns the row it produced (if any).
///
/// Why not `query_row` alone, outside a transaction: in autocommit mode
/// SQLite commits when the statement is *reset*, and rusqlite resets it when
/// the row is dropped, discarding any error. A commit that failed (a full
/// disk, an I/O error) would pass for success, and the client would get a
/// 2xx for a write that is not on disk. The writer's explicit `COMMIT`
/// reports its error. `map_error` turns the statement's own error (a
/// constraint) into the caller's.
fn write_returning<T>(
    db: &Db,
    sql: &str,
    params: impl Params,
    from_row: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    map_error: impl FnOnce(rusqlite::Error) -> StoreError,
) -> Result<Option<T>, StoreError> {
    db.write(|conn| {
        conn.prepare_cached(sql)?
            .query_row(params, from_row)
            .optional()
            .map_err(map_error)
    })
}

/// Whether an error is a FOREIGN KEY constraint violation.
fn is_foreign_key_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
    )
}

/// Whether an error is a UNIQUE constraint violation.
fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.code == ErrorCode::ConstraintViolation
                && failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_after_panic_rolls_back_an_open_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("t.db")).unwrap();
        db.migrate().unwrap();
        // What a handler that panicked mid-transaction leaves behind.
        db.conn
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO setting VALUES ('x', x'00');")
            .unwrap();
        db.reset_after_panic();
        assert!(db.conn.is_autocommit());
        let rows: i64 = db
            .conn
            .query_row("SELECT count(*) FROM setting WHERE name = 'x'", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(rows, 0);
    }
}
