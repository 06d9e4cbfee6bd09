//! `Idempotency-Key` on the `POST`s that create something (tasks, projects,
//! members), as the IETF httpapi draft and Stripe define it: the first
//! request with a key runs, and its response is kept for 24 hours; a retry
//! with the same key and the same request gets that response again, marked
//! `Idempotent-Replayed: true`, and creates nothing.
//!
//! - The same key with a different request (method, path or body) is a 422.
//! - A retry while the first request is still running is a 409.
//! - Keys belong to the user: one user's key never matches another's.
//! - Only successful responses are kept: a request that failed created
//!   nothing, and its retry runs again.
//!
//! Registering and creating an API key ignore the header: their responses
//! carry a secret (a token, a key) that the server stores nowhere, and
//! keeping it for replay would.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use super::{ApiResult, Ctx};
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::store::idempotency::{self, Key, Outcome, Stored};
use crate::store::{Conn, StoreError};
use crate::time;

/// The header, and the longest key it may carry.
pub const HEADER: &str = "Idempotency-Key";
pub const MAX_KEY_CHARS: usize = 255;

/// The headers a replay repeats; the rest (`Date`, `Cache-Control`, ...)
/// are the replay's own.
const KEPT_HEADERS: &[&str] = &["Content-Type", "Location", "ETag"];

/// The keys being run in this process now, by user: a retry that arrives
/// while its first request is still running is turned away with a 409
/// instead of queueing behind it. (Across processes on PostgreSQL, an
/// advisory lock in the write does the same: `store::idempotency`.)
#[derive(Default)]
pub struct InFlight {
    running: Mutex<HashSet<(i64, String)>>,
}

/// Removes its key from [`InFlight`] when the request is done, however it
/// ends.
struct Running<'a> {
    in_flight: &'a InFlight,
    entry: (i64, String),
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut running = self
            .in_flight
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        running.remove(&self.entry);
    }
}

impl InFlight {
    fn start(&self, user_id: i64, key: &str) -> Option<Running<'_>> {
        let entry = (user_id, key.to_owned());
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.insert(entry.clone()).then(|| Running {
            in_flight: self,
            entry,
        })
    }
}

/// Runs a creating write for `caller`: `write` does it inside the
/// transaction, and `respond` turns its result into the answer (or into
/// the error a refusal is). Without an `Idempotency-Key` that is all; with
/// one, the key is checked first and the answer kept with the write.
/// `write`'s store errors go through `refused` first.
pub fn create<T>(
    ctx: &Ctx,
    request: &Request,
    caller: i64,
    write: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    refused: impl FnOnce(StoreError) -> ApiError,
    respond: impl FnOnce(T) -> ApiResult,
) -> ApiResult {
    let job = |tx: &mut Conn<'_>| {
        let answer = respond(write(tx)?);
        let kept = answer.as_ref().ok().map(stored);
        Ok((answer, kept))
    };
    let key = match request.header(HEADER) {
        None => None,
        Some(value) => Some(Key {
            user_id: caller,
            key: key_from_header(value)?,
            fingerprint: fingerprint(request),
        }),
    };
    // Held until the answer is ready; without a key there is nothing to
    // hold. (Only a request with a key can be replayed, refused as a
    // mismatch or found in flight.)
    let _running = match &key {
        Some(key) => Some(
            ctx.shared
                .in_flight
                .start(caller, key.key)
                .ok_or_else(in_flight)?,
        ),
        None => None,
    };
    match idempotency::run(&ctx.db, key.as_ref(), time::unix_now(), job).map_err(refused)? {
        Outcome::Ran(answer) => answer,
        Outcome::Replay(stored) => Ok(replay(stored)),
        Outcome::Mismatch => Err(ApiError::invalid(
            HEADER,
            "was used before with a different request; a retry must send the same \
             method, path and body, and a new request a new key",
        )),
        Outcome::InFlight => Err(in_flight()),
    }
}

fn in_flight() -> ApiError {
    ApiError::Conflict(format!(
        "a request with this {HEADER} is still running; retry when it has finished"
    ))
}

/// The key in an `Idempotency-Key` value: 1 to 255 visible ASCII
/// characters, bare (`abc`, as Stripe's clients send it) or as the
/// draft's structured-field string (`"abc"`).
pub fn key_from_header(value: &str) -> Result<&str, ApiError> {
    let value = value.trim();
    let key = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(value);
    let visible = key
        .bytes()
        .all(|byte| byte.is_ascii_graphic() && byte != b'"' && byte != b'\\');
    if key.is_empty() || key.len() > MAX_KEY_CHARS || !visible {
        return Err(ApiError::BadRequest(format!(
            "{HEADER} must be 1 to {MAX_KEY_CHARS} visible ASCII characters \
             (no spaces, quotes or backslashes)"
        )));
    }
    Ok(key)
}

/// What a retry must repeat: a SHA-256 of the method, the target and the
/// body.
fn fingerprint(request: &Request) -> [u8; 32] {
    let mut hash = hmac_sha256::Hash::new();
    hash.update(request.method().as_str().as_bytes());
    hash.update(b" ");
    hash.update(request.target().as_bytes());
    hash.update(b"\n");
    hash.update(request.body());
    hash.finalize()
}

fn stored(response: &Response) -> Stored {
    Stored {
        status: response.status,
        headers: response
            .headers
            .iter()
            .filter(|(name, _)| {
                KEPT_HEADERS
                    .iter()
                    .any(|kept| kept.eq_ignore_ascii_case(name))
            })
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect(),
        body: response.body.clone(),
    }
}

fn replay(stored: Stored) -> Response {
    let mut response = Response {
        status: stored.status,
        headers: Vec::new(),
        body: stored.body,
    };
    for (name, value) in stored.headers {
        if let Some(known) = KEPT_HEADERS
            .iter()
            .find(|kept| kept.eq_ignore_ascii_case(&name))
        {
            response.set_header(known, value);
        }
    }
    response.set_header("Idempotent-Replayed", "true");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_visible_ascii_bare_or_quoted() {
        assert_eq!(key_from_header("abc-123").unwrap(), "abc-123");
        assert_eq!(key_from_header(" \"abc\" ").unwrap(), "abc");
        let longest = "k".repeat(MAX_KEY_CHARS);
        assert_eq!(key_from_header(&longest).unwrap(), longest);
        for bad in [
            "",
            "\"\"",
            "a b",
            "a\\b",
            "é",
            &"k".repeat(MAX_KEY_CHARS + 1),
        ] {
            assert!(key_from_header(bad).is_err(), "{bad:?}");
        }
    }
}
