//! Accounts: creating them, finding them by id or login name, changing the
//! password, ending sessions and deleting them.
//!
//! The table is `"user"`, quoted: `user` is a reserved word in PostgreSQL,
//! and SQLite accepts the quoted name as the same table.

use super::sql::{Conn, Dialect, ErrorKind, Row, SqlError};
use super::{Db, StoreError};
use crate::model::{ChangeOp, User};
use crate::time;

/// A user together with their password hash and token generation, for
/// checking a login or a password.
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
    pub token_generation: i64,
}

pub(super) const USER_COLUMNS: &str = "id, username, email, created_at";

pub(super) fn user_from_row(row: &Row<'_>) -> Result<User, SqlError> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        email: row.get(2)?,
        created_at: row.get(3)?,
    })
}

/// The condition "the username or the email is `?1`, ignoring ASCII case":
/// how a login name finds its account, and what a new name must not match.
/// SQLite's columns are `COLLATE NOCASE`, which an `=` uses. PostgreSQL has
/// unique indexes on `lower(username COLLATE "C")` and the same for `email`,
/// which this expression uses: `lower` under the "C" collation folds ASCII
/// only, as `NOCASE` does, whatever the database's locale.
fn named(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "(username = ?1 OR email = ?1)",
        Dialect::Postgres => {
            "(lower(username COLLATE \"C\") = lower(CAST(?1 AS text) COLLATE \"C\") \
             OR lower(email COLLATE \"C\") = lower(CAST(?1 AS text) COLLATE \"C\"))"
        }
    }
}

/// Creates a user. A taken username or email is `StoreError::Conflict`
/// naming the field.
///
/// Login accepts a username or an email in one field, so a new username must
/// not equal any existing email and a new email must not equal any existing
/// username (usernames may contain `@`). No constraint can say that across
/// two columns, so it is a read-then-write, made safe by running one at a
/// time: on SQLite every write is inside the writer's `BEGIN IMMEDIATE`
/// transaction, one after another; on PostgreSQL, where many processes
/// write at once, each registration first takes a transaction-scoped
/// advisory lock that every registration takes (registrations are rare,
/// and each already costs a password hash). The unique indexes on each
/// column stay as a second line.
pub fn create(
    db: &Db,
    username: Option<&str>,
    email: Option<&str>,
    password_hash: &str,
) -> Result<User, StoreError> {
    db.write(|tx| {
        let dialect = tx.dialect();
        if dialect == Dialect::Postgres {
            tx.query_opt(
                "SELECT pg_advisory_xact_lock(?1)",
                &[&REGISTRATION_LOCK],
                |_| Ok(()),
            )?;
        }
        let taken = |tx: &mut Conn<'_>, value: Option<&str>| -> Result<bool, SqlError> {
            let Some(value) = value else {
                return Ok(false);
            };
            let sql = format!("SELECT 1 FROM \"user\" WHERE {}", named(dialect));
            Ok(tx.query_opt(&sql, &[&value], |_| Ok(()))?.is_some())
        };
        if taken(tx, username)? {
            return Err(StoreError::Conflict("username"));
        }
        if taken(tx, email)? {
            return Err(StoreError::Conflict("email"));
        }
        let user = tx
            .query_opt(
                &format!(
                    "INSERT INTO \"user\" (username, email, password_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4)
                     RETURNING {USER_COLUMNS}"
                ),
                &[&username, &email, &password_hash, &time::now_rfc3339()],
                user_from_row,
            )
            .map_err(|error| {
                // The checks above ran under the lock, so this is only
                // reachable if they are wrong; still, report it as what it is.
                if error.kind == ErrorKind::Unique {
                    StoreError::Conflict("username or email")
                } else {
                    error.into()
                }
            })?;
        user.ok_or_else(|| StoreError::Database("INSERT returned no row".to_owned()))
    })
}

/// The key of the advisory lock every registration on PostgreSQL takes: any
/// constant, the same in every process.
const REGISTRATION_LOCK: i64 = i64::from_be_bytes(*b"\0taskreg");

/// The user with this id and their current token generation: a token is
/// valid only if it was issued in that generation.
pub fn get_with_generation(db: &Db, id: i64) -> Result<Option<(User, i64)>, StoreError> {
    db.read(|conn| {
        Ok(conn.query_opt(
            &format!("SELECT {USER_COLUMNS}, token_generation FROM \"user\" WHERE id = ?1"),
            &[&id],
            |row| Ok((user_from_row(row)?, row.get(4)?)),
        )?)
    })
}

/// The user whose username or email is `login` (ignoring case), with their
/// password hash. `create` guarantees at most one user matches.
pub fn find_for_login(db: &Db, login: &str) -> Result<Option<Credentials>, StoreError> {
    // No stored name holds NUL (registration refuses it), and PostgreSQL
    // refuses it in a text parameter.
    if login.contains('\0') {
        return Ok(None);
    }
    db.read(|conn| {
        let sql = format!(
            "SELECT {USER_COLUMNS}, password_hash, token_generation
             FROM \"user\" WHERE {}",
            named(conn.dialect())
        );
        Ok(conn.query_opt(&sql, &[&login], credentials_from_row)?)
    })
}

/// The id of the user whose username or email is `login`, read inside a
/// transaction (adding a project member).
pub(super) fn find_id(conn: &mut Conn<'_>, login: &str) -> Result<Option<i64>, StoreError> {
    if login.contains('\0') {
        return Ok(None);
    }
    let sql = format!("SELECT id FROM \"user\" WHERE {}", named(conn.dialect()));
    Ok(conn.query_opt(&sql, &[&login], |row| row.get(0))?)
}

/// The user with this id, with their password hash.
pub fn credentials(db: &Db, id: i64) -> Result<Option<Credentials>, StoreError> {
    db.read(|conn| {
        Ok(conn.query_opt(
            &format!(
                "SELECT {USER_COLUMNS}, password_hash, token_generation
                 FROM \"user\" WHERE id = ?1"
            ),
            &[&id],
            credentials_from_row,
        )?)
    })
}

fn credentials_from_row(row: &Row<'_>) -> Result<Credentials, SqlError> {
    Ok(Credentials {
        user: user_from_row(row)?,
        password_hash: row.get(4)?,
        token_generation: row.get(5)?,
    })
}

/// Sets a new password hash and starts a new token generation, so every
/// token issued before is refused. API keys are not affected.
pub fn change_password(db: &Db, id: i64, password_hash: &str) -> Result<bool, StoreError> {
    let changed = db.write(|tx| {
        Ok(tx.execute(
            "UPDATE \"user\" SET password_hash = ?2, token_generation = token_generation + 1
             WHERE id = ?1",
            &[&id, &password_hash],
        )?)
    })?;
    Ok(changed == 1)
}

/// Starts a new token generation: every token issued so far is refused.
pub fn end_sessions(db: &Db, id: i64) -> Result<bool, StoreError> {
    let changed = db.write(|tx| {
        Ok(tx.execute(
            "UPDATE \"user\" SET token_generation = token_generation + 1 WHERE id = ?1",
            &[&id],
        )?)
    })?;
    Ok(changed == 1)
}

/// Deletes the user; their projects, tasks and API keys go with them
/// through the foreign keys' `ON DELETE CASCADE`, in the same statement.
pub fn delete(db: &Db, id: i64) -> Result<bool, StoreError> {
    let deleted = db.write(|tx| {
        // The change feed first, while the rows the cascades take are there:
        // the projects this account owns go from their members' views, and
        // the tasks it created or was assigned in other people's projects
        // change (their `created_by` or `assignee_id` becomes null).
        let owned: Vec<i64> = tx.query(
            "SELECT id FROM project WHERE owner_id = ?1",
            &[&id],
            |row| row.get(0),
        )?;
        for project_id in owned {
            super::projects::log_gone(tx, project_id, id)?;
        }
        let touched = "task.owner_id <> ?3 AND (task.created_by = ?3 OR task.assignee_id = ?3)";
        super::changes::record_tasks(tx, ChangeOp::Upsert, touched, &[&id])?;
        tx.execute(
            "UPDATE task SET version = version + 1
             WHERE owner_id <> ?1 AND (created_by = ?1 OR assignee_id = ?1)",
            &[&id],
        )?;
        Ok(tx.execute("DELETE FROM \"user\" WHERE id = ?1", &[&id])?)
    })?;
    Ok(deleted == 1)
}
