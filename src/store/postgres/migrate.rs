//! Schema versions on PostgreSQL: the numbered files in
//! `migrations/postgres/`, applied in order at start-up, each in its own
//! transaction together with its row in `schema_migration`.
//!
//! Several processes may start at once on one database; they take a
//! session-level advisory lock around the whole upgrade, so one applies the
//! migrations while the others wait and then find nothing left to do.
//! PostgreSQL's DDL is transactional, so a migration that fails leaves no
//! trace, and one that succeeded is recorded in the same commit.

use postgres::Client;

use super::super::StoreError;
use super::super::sql::SqlError;

/// Every migration in order; `schema_migration` holds the versions applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001-schema.sql"),
    include_str!("../../../migrations/postgres/0002-sharing.sql"),
    include_str!("../../../migrations/postgres/0003-safe-writes.sql"),
];

/// The advisory lock's key: any constant every taskapi process uses.
const MIGRATION_LOCK: i64 = i64::from_be_bytes(*b"\0taskmig");

pub fn run(client: &mut Client) -> Result<(), StoreError> {
    let failed = |error: postgres::Error| StoreError::from(SqlError::from(error));
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .map_err(failed)?;
    let result = apply_pending(client);
    // Also released if the connection closes, which a failed start does.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .map_err(failed);
    result.and(unlocked.map(|_| ()))
}

fn apply_pending(client: &mut Client) -> Result<(), StoreError> {
    let failed = |error: postgres::Error| StoreError::from(SqlError::from(error));
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migration (
                 version    bigint PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .map_err(failed)?;
    let applied: i64 = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migration",
            &[],
        )
        .map_err(failed)?
        .get(0);
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if applied > known {
        return Err(StoreError::Database(format!(
            "the database is at schema version {applied}, newer than this \
             server's {known}: run a newer taskapi"
        )));
    }
    for (version, sql) in (1i64..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(applied).unwrap_or(0))
    {
        let mut tx = client.transaction().map_err(failed)?;
        tx.batch_execute(sql)
            .map_err(|error| StoreError::Database(format!("migration {version}: {error}")))?;
        tx.execute(
            "INSERT INTO schema_migration (version) VALUES ($1)",
            &[&version],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
    }
    Ok(())
}
