//! Schema versions: `schema.sql` is migration 1, each later change is a
//! numbered file in `migrations/`, and `PRAGMA user_version` records how many
//! have been applied to a database.
//!
//! At start-up every migration past the database's version runs in order,
//! each in its own `BEGIN IMMEDIATE` transaction together with the version
//! bump, so a crash mid-upgrade leaves the database at the last complete
//! version and the next start resumes from there. Migrations are append-only:
//! a released file is never edited, a fix is a new migration.
//!
//! # Foreign keys during a migration
//!
//! A migration normally runs as every other statement does, with foreign
//! keys enforced: each statement is checked and `ON DELETE CASCADE` acts.
//! A migration that *rebuilds a table other tables reference* cannot: its
//! `DROP TABLE` is an implicit `DELETE` of every row, which with enforcement
//! on cascades into the children (dropping `user` would delete every
//! project, task and API key). SQLite's procedure for such a rebuild
//! (<https://sqlite.org/lang_altertable.html#otheralter>) turns enforcement
//! off around the transaction and runs `PRAGMA foreign_key_check` before the
//! commit. Its entry in [`MIGRATIONS`] says so with
//! [`ForeignKeys::OffThenChecked`], and this module does those steps.
//!
//! Why a mark per migration, rather than enforcement off around every
//! migration: with it off, a migration's `DELETE` would not cascade and its
//! `ON DELETE SET NULL` would not set anything, so the same SQL would mean
//! something else in a migration than in the server. The final check would
//! catch the orphans such a migration left, but only by failing the upgrade.
//! Off is the exception, and it is visible where the migration is listed.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Every migration in order; the database's `user_version` is the number of
/// entries already applied.
const MIGRATIONS: &[Migration] = &[
    Migration::enforced(include_str!("../../../schema.sql")),
    // Rebuilds `task`, which no table references: enforcement may stay on.
    Migration::enforced(include_str!("../../../migrations/0002-projects.sql")),
    Migration::enforced(include_str!("../../../migrations/0003-accounts.sql")),
    // Rebuilds `user`, which `project`, `task` and `api_key` reference.
    Migration::off_then_checked(include_str!(
        "../../../migrations/0004-user-ids-never-reused.sql"
    )),
    Migration::enforced(include_str!("../../../migrations/0005-login-failures.sql")),
    Migration::enforced(include_str!("../../../migrations/0006-sharing.sql")),
    Migration::enforced(include_str!("../../../migrations/0007-safe-writes.sql")),
];

/// One schema change: its SQL and how foreign keys are treated while it runs.
struct Migration {
    sql: &'static str,
    foreign_keys: ForeignKeys,
}

/// How foreign keys are treated while a migration runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ForeignKeys {
    /// Enforced, as in the server: right for every migration but one that
    /// rebuilds a table other tables reference.
    Enforced,
    /// Off during the migration's transaction, and every reference checked
    /// with `PRAGMA foreign_key_check` before it commits: for rebuilding a
    /// table that others reference.
    OffThenChecked,
}

impl Migration {
    const fn enforced(sql: &'static str) -> Migration {
        Migration {
            sql,
            foreign_keys: ForeignKeys::Enforced,
        }
    }

    const fn off_then_checked(sql: &'static str) -> Migration {
        Migration {
            sql,
            foreign_keys: ForeignKeys::OffThenChecked,
        }
    }
}

/// Applies the migrations the database has not seen yet.
pub fn run(conn: &mut Connection) -> Result<(), StoreError> {
    apply_all(conn, MIGRATIONS)
}

/// Applies those of `migrations` past the database's version, in order.
fn apply_all(conn: &mut Connection, migrations: &[Migration]) -> Result<(), StoreError> {
    let applied = schema_version(conn)?;
    if applied > migrations.len() {
        return Err(StoreError::Database(format!(
            "database schema version {applied} is newer than this binary knows ({}); \
             refusing to run an old binary against it",
            migrations.len()
        )));
    }
    for (index, migration) in migrations.iter().enumerate().skip(applied) {
        let version = index + 1;
        match migration.foreign_keys {
            ForeignKeys::Enforced => apply(conn, version, migration)?,
            ForeignKeys::OffThenChecked => {
                with_foreign_keys_off(conn, |conn| apply(conn, version, migration))?
            }
        }
    }
    Ok(())
}

/// Runs one migration and the bump to `version` in one transaction.
fn apply(conn: &mut Connection, version: usize, migration: &Migration) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated while we waited for the lock.
    if schema_version(&tx)? >= version {
        return Ok(());
    }
    tx.execute_batch(migration.sql)
        .map_err(|error| StoreError::Database(format!("migration {version}: {error}")))?;
    // With enforcement off nothing stopped the migration from leaving a row
    // that refers to a missing parent; one found here rolls it all back
    // (dropping `tx` does). With enforcement on, every statement was checked.
    if migration.foreign_keys == ForeignKeys::OffThenChecked {
        check_foreign_keys(&tx, version)?;
    }
    // A pragma cannot take a bound parameter; `version` is our own integer.
    tx.execute_batch(&format!("PRAGMA user_version = {version}"))?;
    tx.commit()?;
    Ok(())
}

/// Runs `migrate` with foreign key enforcement off on this connection, and
/// puts it back as it was afterwards, also when `migrate` failed.
///
/// `PRAGMA foreign_keys` does nothing inside a transaction, and says nothing
/// about it either, so it is set here, between transactions, and read back:
/// trusting a silent no-op would let the migration's `DROP TABLE` cascade.
fn with_foreign_keys_off(
    conn: &mut Connection,
    migrate: impl FnOnce(&mut Connection) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let was_on = foreign_keys_on(conn)?;
    set_foreign_keys(conn, false)?;
    let migrated = migrate(conn);
    // The connection goes on to serve requests: a failure to restore
    // enforcement must stop the start-up, but the migration's own error,
    // if it had one, is the one to report.
    let restored = set_foreign_keys(conn, was_on);
    migrated.and(restored)
}

/// Turns foreign key enforcement on or off, and checks that it took.
fn set_foreign_keys(conn: &Connection, on: bool) -> Result<(), StoreError> {
    conn.execute_batch(if on {
        "PRAGMA foreign_keys = ON"
    } else {
        "PRAGMA foreign_keys = OFF"
    })?;
    if foreign_keys_on(conn)? != on {
        return Err(StoreError::Database(format!(
            "could not turn foreign keys {} (is a transaction open?)",
            if on { "on" } else { "off" }
        )));
    }
    Ok(())
}

fn foreign_keys_on(conn: &Connection) -> Result<bool, StoreError> {
    Ok(conn.query_row("PRAGMA foreign_keys", [], |row| row.get(0))?)
}

/// Fails, naming the first few, if any row refers to a row that does not
/// exist.
fn check_foreign_keys(conn: &Connection, version: usize) -> Result<(), StoreError> {
    // One row per broken reference: the child table, its rowid, the parent.
    // All are counted; the first few are kept for the message.
    let mut statement = conn.prepare("PRAGMA foreign_key_check")?;
    let mut rows = statement.query([])?;
    let mut count = 0;
    let mut examples = Vec::new();
    while let Some(row) = rows.next()? {
        count += 1;
        if examples.len() < 5 {
            let table: String = row.get(0)?;
            let rowid: Option<i64> = row.get(1)?;
            let parent: String = row.get(2)?;
            examples.push(match rowid {
                Some(rowid) => format!("{table} row {rowid} refers to a missing {parent}"),
                None => format!("a {table} row refers to a missing {parent}"),
            });
        }
    }
    if count == 0 {
        return Ok(());
    }
    Err(StoreError::Database(format!(
        "migration {version} broke {count} foreign key reference(s): {}",
        examples.join(", ")
    )))
}

/// The number of migrations applied to the database.
fn schema_version(conn: &Connection) -> Result<usize, StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    // user_version is a signed 32-bit header field; only we write it.
    usize::try_from(version)
        .map_err(|_| StoreError::Database(format!("invalid schema version {version}")))
}

#[cfg(test)]
mod tests {
    //! The foreign-key handling on small made-up schemas; the real
    //! migrations are tested on real databases in `tests/it/migrations.rs`.

    use super::*;

    /// A parent with two children that cascade, at version 1.
    const PARENT_AND_CHILDREN: &str = "
        CREATE TABLE parent (id INTEGER PRIMARY KEY);
        CREATE TABLE child (
            id        INTEGER PRIMARY KEY,
            parent_id INTEGER NOT NULL REFERENCES parent (id) ON DELETE CASCADE
        );
        INSERT INTO parent (id) VALUES (1);
        INSERT INTO child (id, parent_id) VALUES (1, 1), (2, 1);";

    /// The 12-step rebuild of `parent`, as migration 4 does with `user`.
    const REBUILD_PARENT: &str = "
        CREATE TABLE parent_v2 (id INTEGER PRIMARY KEY AUTOINCREMENT);
        INSERT INTO parent_v2 (id) SELECT id FROM parent;
        DROP TABLE parent;
        ALTER TABLE parent_v2 RENAME TO parent;";

    /// A connection as `Db::open` leaves it: foreign keys enforced.
    fn connection() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        conn
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |row| row.get(0)).unwrap()
    }

    #[test]
    fn rebuilding_a_parent_table_keeps_its_children_only_with_foreign_keys_off() {
        // Why the mark exists: enforced, the DROP TABLE cascades.
        let mut conn = connection();
        let enforced = [
            Migration::enforced(PARENT_AND_CHILDREN),
            Migration::enforced(REBUILD_PARENT),
        ];
        apply_all(&mut conn, &enforced).unwrap();
        assert_eq!(count(&conn, "SELECT count(*) FROM child"), 0);

        let mut conn = connection();
        let marked = [
            Migration::enforced(PARENT_AND_CHILDREN),
            Migration::off_then_checked(REBUILD_PARENT),
        ];
        apply_all(&mut conn, &marked).unwrap();
        assert_eq!(count(&conn, "SELECT count(*) FROM child"), 2);
        assert_eq!(count(&conn, "PRAGMA user_version"), 2);
        assert!(foreign_keys_on(&conn).unwrap(), "enforcement is back on");
        // And it still acts on the rebuilt parent.
        conn.execute_batch("DELETE FROM parent WHERE id = 1")
            .unwrap();
        assert_eq!(count(&conn, "SELECT count(*) FROM child"), 0);
    }

    #[test]
    fn a_migration_that_leaves_a_broken_reference_is_rolled_back() {
        let mut conn = connection();
        let migrations = [
            Migration::enforced(PARENT_AND_CHILDREN),
            // With enforcement off this does not cascade: two orphans.
            Migration::off_then_checked("DELETE FROM parent"),
        ];
        let error = apply_all(&mut conn, &migrations).unwrap_err().to_string();
        assert_eq!(
            error,
            "migration 2 broke 2 foreign key reference(s): \
             child row 1 refers to a missing parent, child row 2 refers to a missing parent"
        );
        assert_eq!(count(&conn, "PRAGMA user_version"), 1);
        assert_eq!(count(&conn, "SELECT count(*) FROM parent"), 1);
        assert!(foreign_keys_on(&conn).unwrap(), "enforcement is back on");
    }
}
