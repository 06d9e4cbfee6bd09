//! Server-wide settings kept in the database, so they survive restarts.

use super::{Db, StoreError};

/// Returns the stored token-signing key, first storing `generate()`'s key if
/// there is none yet.
///
/// Insert-if-absent then read keeps this correct even when several servers
/// start on one database at once: all end up with whichever key won.
pub fn signing_key(db: &Db, generate: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>, StoreError> {
    const NAME: &str = "token_signing_key";
    const READ: &str = "SELECT value FROM setting WHERE name = ?1";
    let existing: Option<Vec<u8>> =
        db.read(|conn| Ok(conn.query_opt(READ, &[&NAME], |row| row.get(0))?))?;
    if let Some(key) = existing {
        return Ok(key);
    }
    db.write(|tx| {
        tx.execute(
            "INSERT INTO setting (name, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            &[&NAME, &generate()],
        )?;
        let key = tx.query_opt(READ, &[&NAME], |row| row.get(0))?;
        key.ok_or_else(|| StoreError::Database("the signing key was not stored".to_owned()))
    })
}
