//! Accounts: creating them, finding them by id or login name, changing the
//! password, ending sessions and deleting them.

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, StoreError, is_unique_violation, write_execute};
use crate::model::User;
use crate::time;

/// A user together with their password hash and token generation, for
/// checking a login or a password.
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
    pub token_generation: i64,
}

const USER_COLUMNS: &str = "id, username, email, created_at";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        email: row.get(2)?,
        created_at: row.get(3)?,
    })
}

/// Creates a user. A taken username or email is `StoreError::Conflict`
/// naming the field.
///
/// Login accepts a username or an email in one field, so a new username must
/// not equal any existing email and a new email must not equal any existing
/// username (usernames may contain `@`). Checking that and inserting is a
/// read-then-write, which is safe because every write runs inside the
/// writer's `BEGIN IMMEDIATE` transaction, one at a time.
pub fn create(
    db: &Db,
    username: Option<&str>,
    email: Option<&str>,
    password_hash: &str,
) -> Result<User, StoreError> {
    db.write(|tx| {
        let taken = |sql: &str, value: Option<&str>| -> rusqlite::Result<bool> {
            match value {
                Some(value) => tx
                    .query_row(sql, [value], |_| Ok(()))
                    .optional()
                    .map(|row| row.is_some()),
                None => Ok(false),
            }
        };
        if taken(
            "SELECT 1 FROM user WHERE username = ?1 OR email = ?1",
            username,
        )? {
            return Err(StoreError::Conflict("username"));
        }
        if taken(
            "SELECT 1 FROM user WHERE email = ?1 OR username = ?1",
            email,
        )? {
            return Err(StoreError::Conflict("email"));
        }
        let user = tx
            .query_row(
                &format!(
                    "INSERT INTO user (username, email, password_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4)
                     RETURNING {USER_COLUMNS}"
                ),
                params![username, email, password_hash, time::now_rfc3339()],
                user_from_row,
            )
            .map_err(|error| {
                // The checks above ran under the write lock, so this is only
                // reachable if they are wrong; still, report it as what it is.
                if is_unique_violation(&error) {
                    StoreError::Conflict("username or email")
                } else {
                    error.into()
                }
            })?;
        Ok(user)
    })
}

/// The user with this id and their current token generation: a token is
/// valid only if it was issued in that generation.
pub fn get_with_generation(db: &Db, id: i64) -> Result<Option<(User, i64)>, StoreError> {
    let mut statement = db.conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS}, token_generation FROM user WHERE id = ?1"
    ))?;
    Ok(statement
        .query_row([id], |row| Ok((user_from_row(row)?, row.get(4)?)))
        .optional()?)
}

/// The user whose username or email is `login` (ignoring ASCII case), with
/// their password hash. `create` guarantees at most one user matches.
pub fn find_for_login(db: &Db, login: &str) -> Result<Option<Credentials>, StoreError> {
    let mut statement = db.conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS}, password_hash, token_generation
         FROM user WHERE username = ?1 OR email = ?1"
    ))?;
    Ok(statement
        .query_row([login], credentials_from_row)
        .optional()?)
}

/// The user with this id, with their password hash.
pub fn credentials(db: &Db, id: i64) -> Result<Option<Credentials>, StoreError> {
    let mut statement = db.conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS}, password_hash, token_generation FROM user WHERE id = ?1"
    ))?;
    Ok(statement.query_row([id], credentials_from_row).optional()?)
}

fn credentials_from_row(row: &Row<'_>) -> rusqlite::Result<Credentials> {
    Ok(Credentials {
        user: user_from_row(row)?,
        password_hash: row.get(4)?,
        token_generation: row.get(5)?,
    })
}

/// Sets a new password hash and starts a new token generation, so every
/// token issued before is refused. API keys are not affected.
pub fn change_password(db: &Db, id: i64, password_hash: &str) -> Result<bool, StoreError> {
    let changed = write_execute(
        db,
        "UPDATE user SET password_hash = ?2, token_generation = token_generation + 1
         WHERE id = ?1",
        params![id, password_hash],
    )?;
    Ok(changed == 1)
}

/// Starts a new token generation: every token issued so far is refused.
pub fn end_sessions(db: &Db, id: i64) -> Result<bool, StoreError> {
    let changed = write_execute(
        db,
        "UPDATE user SET token_generation = token_generation + 1 WHERE id = ?1",
        [id],
    )?;
    Ok(changed == 1)
}

/// Deletes the user; their projects, tasks and API keys go with them
/// through the foreign keys' `ON DELETE CASCADE`, in the same statement.
pub fn delete(db: &Db, id: i64) -> Result<bool, StoreError> {
    Ok(write_execute(db, "DELETE FROM user WHERE id = ?1", [id])? == 1)
}
