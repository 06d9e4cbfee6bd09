//! API keys: long-lived credentials for scripts. The store sees only the
//! SHA-256 hash of a key (see `credentials::hash_api_key`); the owner is in
//! every `WHERE` clause that a user's request reaches.

use super::sql::{Conn, Row, SqlError};
use super::{Db, StoreError};
use crate::model::{ApiKey, NewApiKey, User};
use crate::time;

const KEY_COLUMNS: &str = "id, name, prefix, created_at, expires_at, last_used_at";

fn key_from_row(row: &Row<'_>) -> Result<ApiKey, SqlError> {
    let timestamp = |index| -> Result<Option<String>, SqlError> {
        Ok(row.get::<Option<i64>>(index)?.map(time::rfc3339))
    };
    Ok(ApiKey {
        id: row.get(0)?,
        name: row.get(1)?,
        prefix: row.get(2)?,
        created_at: row.get(3)?,
        expires_at: timestamp(4)?,
        last_used_at: timestamp(5)?,
    })
}

/// Stores a new key for `owner_id`, given its display prefix and hash.
pub fn create(
    db: &Db,
    owner_id: i64,
    key: &NewApiKey,
    prefix: &str,
    key_hash: &[u8],
) -> Result<ApiKey, StoreError> {
    let now = time::now_rfc3339();
    let created = db.write(|tx| {
        Ok(tx.query_opt(
            &format!(
                "INSERT INTO api_key (owner_id, name, prefix, key_hash, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 RETURNING {KEY_COLUMNS}"
            ),
            &[
                &owner_id,
                &key.name,
                &prefix,
                &key_hash,
                &now,
                &key.expires_at,
            ],
            key_from_row,
        )?)
    })?;
    created.ok_or_else(|| StoreError::Database("INSERT returned no row".to_owned()))
}

/// The owner's keys, oldest first. A user has a handful, so no paging.
pub fn list(db: &Db, owner_id: i64) -> Result<Vec<ApiKey>, StoreError> {
    db.read(|conn| of_owner(conn, owner_id))
}

/// [`list`] on a connection already open: the account export
/// (`store::export`) reads the keys in its own snapshot.
pub(super) fn of_owner(conn: &mut Conn<'_>, owner_id: i64) -> Result<Vec<ApiKey>, StoreError> {
    Ok(conn.query(
        &format!("SELECT {KEY_COLUMNS} FROM api_key WHERE owner_id = ?1 ORDER BY id"),
        &[&owner_id],
        key_from_row,
    )?)
}

/// Revokes (deletes) the owner's key `id`; `false` if they have none such.
pub fn delete(db: &Db, owner_id: i64, id: i64) -> Result<bool, StoreError> {
    let deleted = db.write(|tx| {
        Ok(tx.execute(
            "DELETE FROM api_key WHERE id = ?1 AND owner_id = ?2",
            &[&id, &owner_id],
        )?)
    })?;
    Ok(deleted == 1)
}

/// How stale `last_used_at` may get before a use of the key rewrites it:
/// at most one write per key per minute keeps key-authenticated reads cheap.
const LAST_USED_PRECISION_SECONDS: i64 = 60;

/// The user a key hash belongs to, if the key exists and has not expired at
/// `now` (seconds since the epoch); records the use, at most once a minute.
pub fn authenticate(db: &Db, key_hash: &[u8], now: i64) -> Result<Option<(User, i64)>, StoreError> {
    let found = db.read(|conn| {
        Ok(conn.query_opt(
            "SELECT u.id, u.username, u.email, u.created_at, api_key.id, api_key.last_used_at
             FROM api_key JOIN \"user\" u ON u.id = api_key.owner_id
             WHERE api_key.key_hash = ?1
               AND (api_key.expires_at IS NULL OR api_key.expires_at > ?2)",
            &[&key_hash, &now],
            |row| {
                let user = User {
                    id: row.get(0)?,
                    username: row.get(1)?,
                    email: row.get(2)?,
                    created_at: row.get(3)?,
                };
                let key_id: i64 = row.get(4)?;
                let last_used: Option<i64> = row.get(5)?;
                Ok((user, key_id, last_used))
            },
        )?)
    })?;
    let Some((user, key_id, last_used)) = found else {
        return Ok(None);
    };
    if last_used.is_none_or(|at| now - at >= LAST_USED_PRECISION_SECONDS) {
        db.write(|tx| {
            Ok(tx.execute(
                "UPDATE api_key SET last_used_at = ?2 WHERE id = ?1",
                &[&key_id, &now],
            )?)
        })?;
    }
    Ok(Some((user, key_id)))
}
