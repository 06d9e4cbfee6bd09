//! The SQLite backend, the default: one database file in WAL mode.
//!
//! Each worker owns one `Db`: its own connection for reads (WAL lets any
//! number of readers run beside one writer, and reads take no lock of ours)
//! and a share of the process's one writing connection, through which
//! writes are committed in groups (see `writer.rs`).

pub mod backup;
pub(super) mod migrate;
mod writer;

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode};

use super::StoreError;
use super::sql::{Conn, ErrorKind, SqlError};
use writer::Writer;

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

impl From<rusqlite::Error> for SqlError {
    fn from(error: rusqlite::Error) -> SqlError {
        let kind = match &error {
            rusqlite::Error::SqliteFailure(failure, _) => match failure.extended_code {
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => ErrorKind::Unique,
                rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKey,
                // An I/O error is what a write to a file made read-only
                // under a running server gets (EPERM, or EROFS once the file
                // system is remounted read-only after errors): SQLite rolls
                // the transaction back, and the next write works if the
                // condition has cleared.
                _ => match failure.code {
                    ErrorCode::DiskFull
                    | ErrorCode::ReadOnly
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::CannotOpen => ErrorKind::Unavailable,
                    _ => ErrorKind::Other,
                },
            },
            _ => ErrorKind::Other,
        };
        SqlError::new(kind, error.to_string())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        SqlError::from(error).into()
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

    pub fn migrate(&mut self) -> Result<(), StoreError> {
        migrate::run(&mut self.conn)
    }

    /// Runs `job` on this worker's reading connection, outside any
    /// transaction (each statement sees the latest commit).
    pub fn read<T>(
        &self,
        job: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        job(&mut Conn::Sqlite(&self.conn))
    }

    /// Runs `job` in a read transaction: every statement in it sees the
    /// same snapshot.
    pub fn snapshot<T>(
        &self,
        job: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let value = job(&mut Conn::Sqlite(&tx))?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `job` as one write on the process's writing connection and
    /// returns its result once it is committed (with others that arrived at
    /// the same time: see `writer.rs`). An `Err` from `job` undoes its
    /// changes.
    pub fn write<T>(
        &self,
        job: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.writer.write(|conn| job(&mut Conn::Sqlite(conn)))
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
