//! Schema versions: `schema.sql` is migration 1, each later change is a
//! numbered file in `migrations/`, and `PRAGMA user_version` records how many
//! have been applied to a database.
//!
//! At start-up every migration past the database's version runs in order,
//! each in its own `BEGIN IMMEDIATE` transaction together with the version
//! bump, so a crash mid-upgrade leaves the database at the last complete
//! version and the next start resumes from there. Migrations are append-only:
//! a released file is never edited, a fix is a new migration.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Every migration in order; the database's `user_version` is the number of
/// entries already applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../schema.sql"),
    include_str!("../../migrations/0002-projects.sql"),
    include_str!("../../migrations/0003-accounts.sql"),
];

/// Applies the migrations the database has not seen yet.
pub fn run(conn: &mut Connection) -> Result<(), StoreError> {
    let applied = schema_version(conn)?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Database(format!(
            "database schema version {applied} is newer than this binary knows ({}); \
             refusing to run an old binary against it",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let version = index + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        if schema_version(&tx)? >= version {
            continue;
        }
        tx.execute_batch(sql)
            .map_err(|error| StoreError::Database(format!("migration {version}: {error}")))?;
        // A pragma cannot take a bound parameter; `version` is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {version}"))?;
        tx.commit()?;
    }
    Ok(())
}

/// The number of migrations applied to the database.
fn schema_version(conn: &Connection) -> Result<usize, StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    // user_version is a signed 32-bit header field; only we write it.
    usize::try_from(version)
        .map_err(|_| StoreError::Database(format!("invalid schema version {version}")))
}
