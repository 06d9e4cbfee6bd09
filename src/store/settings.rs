//! Server-wide settings kept in the database, so they survive restarts.

use rusqlite::{OptionalExtension, params};

use super::{Db, StoreError};

/// Returns the stored token-signing key, first storing `generate()`'s key if
/// there is none yet.
///
/// `INSERT OR IGNORE` then `SELECT` keeps this correct even when two servers
/// start on one database at once: both end up with whichever key won.
pub fn signing_key(db: &Db, generate: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>, StoreError> {
    const NAME: &str = "token_signing_key";
    let existing: Option<Vec<u8>> = db
        .conn
        .query_row("SELECT value FROM setting WHERE name = ?1", [NAME], |row| {
            row.get(0)
        })
        .optional()?;
    if let Some(key) = existing {
        return Ok(key);
    }
    db.write(|tx| {
        tx.execute(
            "INSERT OR IGNORE INTO setting (name, value) VALUES (?1, ?2)",
            params![NAME, generate()],
        )?;
        let key = tx.query_row("SELECT value FROM setting WHERE name = ?1", [NAME], |row| {
            row.get(0)
        })?;
        Ok(key)
    })
}
