//! Failed password checks, counted per subject (an account, or a client
//! address) within a window, for the login throttle (`crate::throttle`).
//!
//! They are kept in the database so that every process serving one
//! database counts together (N processes must not allow N times the
//! guesses) and counts survive a restart.

use super::{Db, StoreError};

/// One subject's failures in its current window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failures {
    pub subject: String,
    pub count: i64,
    /// When the window began, in milliseconds since the epoch.
    pub window_start_ms: i64,
}

/// The failures of those of `subjects` whose window began after
/// `expired_before_ms` (older windows are over).
pub fn current(
    db: &Db,
    subjects: [&str; 2],
    expired_before_ms: i64,
) -> Result<Vec<Failures>, StoreError> {
    db.read(|conn| {
        Ok(conn.query(
            "SELECT subject, failures, window_start FROM login_failure
             WHERE subject IN (?1, ?2) AND window_start > ?3",
            &[&subjects[0], &subjects[1], &expired_before_ms],
            |row| {
                Ok(Failures {
                    subject: row.get(0)?,
                    count: row.get(1)?,
                    window_start_ms: row.get(2)?,
                })
            },
        )?)
    })
}

/// Counts one more failure for each of `subjects` at `now_ms`, starting a
/// new window for a subject whose window began at or before
/// `expired_before_ms`. The increment happens in the database, so failures
/// recorded at the same moment by several processes are all counted.
pub fn record(
    db: &Db,
    subjects: [&str; 2],
    now_ms: i64,
    expired_before_ms: i64,
) -> Result<(), StoreError> {
    db.write(|tx| {
        for subject in subjects {
            tx.execute(
                "INSERT INTO login_failure (subject, failures, window_start) VALUES (?1, 1, ?2)
                 ON CONFLICT (subject) DO UPDATE SET
                     failures = CASE WHEN login_failure.window_start <= ?3
                                     THEN 1 ELSE login_failure.failures + 1 END,
                     window_start = CASE WHEN login_failure.window_start <= ?3
                                         THEN ?2 ELSE login_failure.window_start END",
                &[&subject, &now_ms, &expired_before_ms],
            )?;
        }
        Ok(())
    })
}

/// Forgets `subject`'s failures.
pub fn clear(db: &Db, subject: &str) -> Result<(), StoreError> {
    db.write(|tx| {
        tx.execute("DELETE FROM login_failure WHERE subject = ?1", &[&subject])?;
        Ok(())
    })
}

/// Deletes every window that began at or before `expired_before_ms`.
pub fn purge(db: &Db, expired_before_ms: i64) -> Result<u64, StoreError> {
    db.write(|tx| {
        Ok(tx.execute(
            "DELETE FROM login_failure WHERE window_start <= ?1",
            &[&expired_before_ms],
        )?)
    })
}
