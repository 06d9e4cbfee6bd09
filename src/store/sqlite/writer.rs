//! Group commit: every write in the process goes through one connection,
//! and writes that arrive together share one transaction and one fsync.
//!
//! Why: with `synchronous = FULL` every commit waits for an fsync of the
//! write-ahead log, and SQLite lets one writer commit at a time, so "one
//! commit per write" caps the server at one write per fsync-and-commit,
//! however many workers it has. Here a worker that wants to write takes the
//! writer's lock, runs its statements inside a savepoint of the transaction
//! that is open (beginning one if none is), and then:
//! - if another worker is already waiting for the lock, leaves the commit to
//!   that one and sleeps until it is done;
//! - otherwise commits, for itself and everyone who joined the batch, and
//!   wakes them.
//!
//! Each worker answers only after the commit that holds its write has
//! succeeded, so a 2xx still means "on disk". A write that fails rolls back
//! to its savepoint and touches no other (unless SQLite itself rolled the
//! whole transaction back, as it does on some I/O errors: then the batch
//! fails); a commit that fails fails every write in its batch, none of
//! which was acknowledged.
//!
//! One consequence of sharing a transaction: a write sees the uncommitted
//! writes before it in its batch, and its error is returned at once. Two
//! registrations of one name in one batch: the second gets its 409 from the
//! first's row, and if that batch's commit then failed (a full disk), the
//! name was refused although it is not taken. A retry sorts it out.
//!
//! Readers use their own connections and see a batch when it commits, never
//! before.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use rusqlite::Connection;

use super::StoreError;

/// The most writes (attempts, failed ones included) one transaction takes
/// before it is committed, even with more writers waiting: it bounds how
/// long the first of them waits.
const MAX_BATCH: usize = 64;

/// The process's one writing connection.
pub(super) struct Writer {
    state: Mutex<State>,
    /// Writers waiting for `state` to add a write to the batch.
    arriving: AtomicUsize,
}

struct State {
    conn: Connection,
    /// The transaction being filled, if one is open, and how many writes
    /// it holds.
    open: Option<(Arc<Batch>, usize)>,
}

/// One transaction's worth of writes, and how its commit went.
///
/// Its writers wait on the batch's own lock, not on the writer's: the next
/// batch's committer holds the writer's lock through its fsync, and a
/// writer whose batch is already on disk must not wait for that one too.
#[derive(Default)]
struct Batch {
    outcome: Mutex<Option<Result<(), Failure>>>,
    decided: Condvar,
}

impl Batch {
    /// Records how the batch ended (the first word counts) and wakes its
    /// writers.
    fn decide(&self, outcome: Result<(), Failure>) {
        let mut slot = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(outcome);
        }
        self.decided.notify_all();
    }

    /// Waits until the batch has ended, and returns how.
    fn wait(&self) -> Result<(), Failure> {
        let slot = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = self
            .decided
            .wait_while(slot, |outcome| outcome.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        slot.clone()
            .unwrap_or_else(|| unreachable!("waited until decided"))
    }
}

/// Why a batch did not commit, for each of its writers.
#[derive(Clone)]
struct Failure {
    unavailable: bool,
    message: String,
}

impl From<rusqlite::Error> for Failure {
    fn from(error: rusqlite::Error) -> Failure {
        match StoreError::from(error) {
            StoreError::Unavailable(message) => Failure {
                unavailable: true,
                message,
            },
            other => Failure {
                unavailable: false,
                message: other.to_string(),
            },
        }
    }
}

impl From<Failure> for StoreError {
    fn from(failure: Failure) -> StoreError {
        if failure.unavailable {
            StoreError::Unavailable(failure.message)
        } else {
            StoreError::Database(failure.message)
        }
    }
}

impl Writer {
    pub(super) fn new(conn: Connection) -> Writer {
        Writer {
            state: Mutex::new(State { conn, open: None }),
            arriving: AtomicUsize::new(0),
        }
    }

    /// Runs `job` as one write and returns its result once the write is
    /// committed. An `Err` from `job` undoes what it did and is returned
    /// as is; a failed commit is `Unavailable` or `Database`.
    pub(super) fn write<T>(
        &self,
        job: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.arriving.fetch_add(1, Ordering::SeqCst);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.arriving.fetch_sub(1, Ordering::SeqCst);

        // If no transaction could begin, no batch is open and nobody else
        // waits on this one.
        let batch = state.join_batch()?;
        // A panicking job must not leave its half-done write in the batch,
        // nor leave the batch's other writers without a committer.
        let result = panic::catch_unwind(AssertUnwindSafe(|| state.run(job)));
        // Attempts count towards the batch's size, failed ones too, so that
        // a stream of failing writes cannot keep a batch open for ever.
        if let Some((_, attempts)) = &mut state.open {
            *attempts += 1;
        }
        if !matches!(result, Ok(Ok(_))) {
            // If SQLite rolled back the whole transaction, the batch fails
            // with this write's error: a full disk is a 503 for all of it.
            let cause = match &result {
                Ok(Err(StoreError::Unavailable(message))) => Failure {
                    unavailable: true,
                    message: message.clone(),
                },
                _ => Failure {
                    unavailable: false,
                    message: "the transaction was rolled back".to_owned(),
                },
            };
            state.undo_last_write(&batch, cause);
        }

        let full = state.open.as_ref().is_some_and(|(_, n)| *n >= MAX_BATCH);
        if self.arriving.load(Ordering::SeqCst) == 0 || full {
            state.commit();
        }

        let value = match result {
            Ok(Ok(value)) => value,
            Ok(Err(error)) => return Err(error),
            Err(panic) => {
                drop(state);
                panic::resume_unwind(panic);
            }
        };
        drop(state);
        match batch.wait() {
            Ok(()) => Ok(value),
            Err(failure) => Err(failure.into()),
        }
    }
}

impl State {
    /// The open batch, beginning its transaction if none is open.
    fn join_batch(&mut self) -> Result<Arc<Batch>, Failure> {
        if let Some((batch, _)) = &self.open {
            return Ok(Arc::clone(batch));
        }
        // A ROLLBACK that failed after a failed batch may have left a
        // transaction open; without this, every BEGIN from now on would
        // fail ("cannot start a transaction within a transaction").
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        // IMMEDIATE: take SQLite's write lock now, so that no other process
        // can make this transaction fail halfway (see `wait_for_writer`).
        run_cached(&self.conn, "BEGIN IMMEDIATE")?;
        let batch = Arc::new(Batch::default());
        self.open = Some((Arc::clone(&batch), 0));
        Ok(batch)
    }

    /// Runs one write inside a savepoint of the open transaction.
    fn run<T>(
        &mut self,
        job: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        run_cached(&self.conn, "SAVEPOINT write")?;
        let value = job(&self.conn)?;
        run_cached(&self.conn, "RELEASE write")?;
        Ok(value)
    }

    /// Undoes the write that just failed (or panicked). If that is not
    /// possible, or SQLite already rolled the whole transaction back (it
    /// does on some I/O errors), the batch fails as a whole.
    fn undo_last_write(&mut self, batch: &Batch, cause: Failure) {
        let undone = !self.conn.is_autocommit()
            && run_cached(&self.conn, "ROLLBACK TO write").is_ok()
            && run_cached(&self.conn, "RELEASE write").is_ok();
        if !undone {
            self.abandon(batch, cause);
        }
    }

    /// Commits the open batch, if any, and records the outcome for its
    /// writers.
    fn commit(&mut self) {
        let Some((batch, writes)) = self.open.take() else {
            return;
        };
        match run_cached(&self.conn, "COMMIT") {
            Ok(()) => {
                crate::metrics::record_commit(writes);
                batch.decide(Ok(()));
            }
            Err(error) => {
                // A failed COMMIT may leave the transaction open.
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                batch.decide(Err(error.into()));
            }
        }
    }

    /// Rolls the open batch back and fails it with `cause`.
    fn abandon(&mut self, batch: &Batch, cause: Failure) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.open = None;
        batch.decide(Err(cause));
    }
}

/// Runs a statement without parameters, prepared once per connection: the
/// writer runs two of these around every write and two around every batch,
/// and parsing them each time showed in the profile.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn writer_on(dir: &tempfile::TempDir) -> (Arc<Writer>, Connection) {
        let path = dir.path().join("w.db");
        let reader = Connection::open(&path).unwrap();
        reader
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER UNIQUE);")
            .unwrap();
        (
            Arc::new(Writer::new(Connection::open(&path).unwrap())),
            reader,
        )
    }

    fn rows(reader: &Connection) -> Vec<i64> {
        let mut statement = reader.prepare("SELECT n FROM t ORDER BY n").unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn insert(conn: &Connection, n: i64) -> Result<(), StoreError> {
        conn.execute("INSERT INTO t VALUES (?1)", [n])?;
        Ok(())
    }

    #[test]
    fn a_failed_write_is_undone_and_the_next_one_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, reader) = writer_on(&dir);
        let failed: Result<(), _> = writer.write(|conn| {
            insert(conn, 1)?;
            Err(StoreError::Conflict("n"))
        });
        assert!(matches!(failed, Err(StoreError::Conflict("n"))));
        writer.write(|conn| insert(conn, 2)).unwrap();
        assert_eq!(rows(&reader), [2]);
    }

    #[test]
    fn a_panicking_write_is_undone_and_the_writer_keeps_working() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, reader) = writer_on(&dir);
        let panicked = panic::catch_unwind(AssertUnwindSafe(|| {
            writer.write(|conn| -> Result<(), StoreError> {
                insert(conn, 1)?;
                panic!("a bug in a write");
            })
        }));
        assert!(panicked.is_err());
        writer.write(|conn| insert(conn, 2)).unwrap();
        assert_eq!(rows(&reader), [2]);
    }

    #[test]
    fn concurrent_writes_are_all_committed_and_a_failing_one_only_fails_itself() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, reader) = writer_on(&dir);
        let threads: Vec<_> = (0..8)
            .map(|thread| {
                let writer = Arc::clone(&writer);
                thread::spawn(move || {
                    for n in 0..50 {
                        writer.write(|conn| insert(conn, thread * 50 + n)).unwrap();
                        // A duplicate fails on its own, in whatever batch it lands.
                        let duplicate = writer.write(|conn| insert(conn, thread * 50 + n));
                        assert!(duplicate.is_err());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(rows(&reader), (0..400).collect::<Vec<i64>>());
    }
}
