//! Idempotency keys: the response to the first request with a key, kept so
//! that a retry gets that response again instead of creating twice.
//!
//! The key's row is written in the same transaction as what the request
//! created, so the two are committed together or not at all: a crash can
//! lose a request (whose retry then runs afresh), never leave a key that
//! replays a response for a write that is not there.

use super::sql::{Conn, Dialect};
use super::{Db, StoreError};

/// How long a key's response is kept.
pub const KEPT_SECONDS: i64 = 24 * 60 * 60;

/// A request's key, scoped to its user, and the fingerprint of the request
/// (a SHA-256 of its method, path and body) that a retry must match.
pub struct Key<'a> {
    pub user_id: i64,
    pub key: &'a str,
    pub fingerprint: [u8; 32],
}

/// A response as kept for replay: the status, the headers that matter, the
/// body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What became of a request with a key.
pub enum Outcome<T> {
    /// It ran: the first request with this key (or the first since its
    /// response expired).
    Ran(T),
    /// The same request ran before: here is its response.
    Replay(Stored),
    /// The key was used before for a different request.
    Mismatch,
    /// A request with this key is running in another process right now.
    InFlight,
}

/// Runs `job` as one write. With a `key`, the write first looks for the
/// key's stored response (answering a replay or a mismatch instead of
/// running `job`), and stores `job`'s response, if it gives one, in the
/// same transaction. A `job` that gives none (a refusal that wrote
/// nothing) leaves the key unused, so a retry runs again.
pub fn run<T>(
    db: &Db,
    key: Option<&Key<'_>>,
    now: i64,
    job: impl FnOnce(&mut Conn<'_>) -> Result<(T, Option<Stored>), StoreError>,
) -> Result<Outcome<T>, StoreError> {
    db.write(|tx| {
        let Some(key) = key else {
            return Ok(Outcome::Ran(job(tx)?.0));
        };
        // Another process may be running this very key: its transaction
        // holds the lock until it commits. (Within one process the API
        // layer has already turned such a retry away.)
        if tx.dialect() == Dialect::Postgres {
            let locked: Option<bool> = tx.query_opt(
                "SELECT pg_try_advisory_xact_lock(?1)",
                &[&lock_id(key)],
                |row| row.get(0),
            )?;
            if locked != Some(true) {
                return Ok(Outcome::InFlight);
            }
        }
        let existing = tx.query_opt(
            "SELECT fingerprint, status, headers, body FROM idempotency_key
             WHERE user_id = ?1 AND client_key = ?2 AND expires_at > ?3",
            &[&key.user_id, &key.key, &now],
            |row| {
                Ok((
                    row.get::<Vec<u8>>(0)?,
                    row.get::<i64>(1)?,
                    row.get::<String>(2)?,
                    row.get::<Vec<u8>>(3)?,
                ))
            },
        )?;
        if let Some((fingerprint, status, headers, body)) = existing {
            if fingerprint != key.fingerprint {
                return Ok(Outcome::Mismatch);
            }
            let broken = |what: &str| StoreError::Database(format!("idempotency key {what}"));
            return Ok(Outcome::Replay(Stored {
                status: u16::try_from(status).map_err(|_| broken("status"))?,
                headers: serde_json::from_str(&headers).map_err(|_| broken("headers"))?,
                body,
            }));
        }
        let (value, response) = job(tx)?;
        if let Some(response) = response {
            let headers = serde_json::to_string(&response.headers)
                .map_err(|error| StoreError::Database(error.to_string()))?;
            // Replaces an expired row of the same key, if one is left.
            tx.execute(
                "INSERT INTO idempotency_key
                     (user_id, client_key, fingerprint, status, headers, body, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (user_id, client_key) DO UPDATE SET
                     fingerprint = excluded.fingerprint, status = excluded.status,
                     headers = excluded.headers, body = excluded.body,
                     expires_at = excluded.expires_at",
                &[
                    &key.user_id,
                    &key.key,
                    &key.fingerprint.to_vec(),
                    &i64::from(response.status),
                    &headers,
                    &response.body,
                    &(now + KEPT_SECONDS),
                ],
            )?;
        }
        Ok(Outcome::Ran(value))
    })
}

/// The advisory lock that marks `key` as running: 64 bits of a digest of
/// the user and the key.
fn lock_id(key: &Key<'_>) -> i64 {
    let mut hash = hmac_sha256::Hash::new();
    hash.update(b"taskapi idempotency key\0");
    hash.update(key.user_id.to_be_bytes());
    hash.update(key.key.as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Deletes the keys whose responses have expired; returns how many.
pub fn purge_expired(db: &Db, now: i64) -> Result<u64, StoreError> {
    db.write(|tx| {
        Ok(tx.execute(
            "DELETE FROM idempotency_key WHERE expires_at <= ?1",
            &[&now],
        )?)
    })
}
