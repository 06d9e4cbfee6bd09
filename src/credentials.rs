//! Credentials: argon2id password hashes, HS256 access tokens, and API keys.
//!
//! Nothing here knows about HTTP; `api` reads the `Authorization` header and
//! asks [`Tokens::verify`] (or the store, for an API key's hash) who the
//! caller is. The account endpoints (register, log in, change the password)
//! are [`crate::api::auth`]; this module is only what they compute.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use jwt_simple::prelude::{Claims, Duration, HS256Key, MACLike, VerificationOptions};
use serde::{Deserialize, Serialize};

use crate::permits::Permits;

/// The `iss` and `aud` of every token: a token minted for another service
/// that happens to share the key is still refused.
pub const ISSUER: &str = "taskapi";
pub const AUDIENCE: &str = "taskapi";

/// The longest token accepted. Ours are about 200 bytes; the cap bounds the
/// work a forged token can cause.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Clock skew tolerated on `exp` and `iat`. jwt-simple defaults to 15
/// minutes, which would let an expired token live on for a quarter hour.
const CLOCK_TOLERANCE_SECONDS: u64 = 60;

/// Hashes and verifies passwords with argon2id, running at most `limit` at
/// once.
///
/// Each hash needs 19 MiB and 30-40 ms of one core (the crate's defaults,
/// the OWASP minimum). Without a bound, a burst of logins on every worker
/// would multiply that memory and starve every other request of CPU; with
/// one permit per core, extra logins wait their turn while reads go on.
pub struct Passwords {
    permits: Arc<Permits>,
    /// A hash to verify against when the user does not exist, so that an
    /// unknown user costs as much time as a wrong password.
    dummy_hash: OnceLock<String>,
}

impl Passwords {
    pub fn new(limit: usize) -> Passwords {
        Passwords {
            permits: Permits::new(limit.max(1)),
            dummy_hash: OnceLock::new(),
        }
    }

    /// An argon2id PHC string for `password` with a fresh random salt.
    pub fn hash(&self, password: &str) -> Result<String, String> {
        self.with_permit(|| {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|error| format!("hashing a password: {error}"))
        })
    }

    /// Whether `password` matches `hash`. With no hash (unknown user) the
    /// password is checked against a dummy hash and `false` is returned, in
    /// about the time a real check takes.
    pub fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let dummy;
        let (hash, real) = match hash {
            Some(hash) => (hash, true),
            None => {
                dummy = self.dummy_hash();
                (dummy.as_str(), false)
            }
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            eprintln!("a stored password hash is not a valid PHC string");
            return false;
        };
        let matches = self.with_permit(|| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        matches && real
    }

    /// Computes the dummy hash now. The server calls this on a background
    /// thread at start-up: start-up stays fast, and the first unknown-user
    /// login does not take longer than the others (which would tell that the
    /// user does not exist). A login that comes first simply waits for it.
    pub fn prepare(&self) {
        self.dummy_hash();
    }

    fn dummy_hash(&self) -> &String {
        self.dummy_hash.get_or_init(|| {
            self.hash("taskapi dummy password for unknown users")
                .unwrap_or_else(|error| {
                    eprintln!("{error}");
                    String::new()
                })
        })
    }

    fn with_permit<T>(&self, work: impl FnOnce() -> T) -> T {
        let waiting = crate::metrics::HashWaiting::start();
        let _permit = self.permits.acquire();
        drop(waiting);
        work()
    }
}

/// Issues and verifies access tokens: JWT, HS256, with `sub` (the user id),
/// `iat`, `exp`, `iss`, `aud` and `gen`, the user's token generation.
pub struct Tokens {
    key: HS256Key,
    ttl_seconds: u64,
    options: VerificationOptions,
}

impl Tokens {
    pub fn new(secret: &[u8], ttl_seconds: u64) -> Tokens {
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from([ISSUER.to_owned()])),
            allowed_audiences: Some(HashSet::from([AUDIENCE.to_owned()])),
            time_tolerance: Some(Duration::from_secs(CLOCK_TOLERANCE_SECONDS)),
            max_token_length: Some(MAX_TOKEN_BYTES),
            ..VerificationOptions::default()
        };
        Tokens {
            key: HS256Key::from_bytes(secret),
            ttl_seconds,
            options,
        }
    }

    /// A random 32-byte key, for a server started without `SECRET_KEY`.
    pub fn generate_secret() -> Vec<u8> {
        HS256Key::generate().to_bytes()
    }

    /// How long an issued token is valid, in seconds.
    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    /// A signed token for `user_id` in token generation `generation`.
    pub fn issue(&self, user_id: i64, generation: i64) -> Result<String, String> {
        let claims = Claims::with_custom_claims(
            SessionClaims { generation },
            Duration::from_secs(self.ttl_seconds),
        )
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
        .with_subject(user_id.to_string());
        self.key
            .authenticate(claims)
            .map_err(|error| format!("signing a token: {error}"))
    }

    /// The user id and token generation a valid token names, or `None` for
    /// any invalid token. The caller compares the generation with the
    /// user's current one.
    ///
    /// jwt-simple checks the signature (and that `alg` is HS256, so `none`
    /// and other algorithms fail), `iss`, `aud`, `iat` and an `exp` that is
    /// present. It accepts a token *without* `exp`, so that is checked here:
    /// a token that never expires is not one we issued.
    pub fn verify(&self, token: &str) -> Option<(i64, i64)> {
        self.verify_with_expiry(token)
            .map(|verified| (verified.user_id, verified.generation))
    }

    fn verify_with_expiry(&self, token: &str) -> Option<Verified> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let claims = self
            .key
            .verify_token::<SessionClaims>(token, Some(self.options.clone()))
            .ok()?;
        let expires_at = i64::try_from(claims.expires_at?.as_secs()).ok()?;
        let user_id = claims.subject?.parse().ok()?;
        Some(Verified {
            user_id,
            generation: claims.custom.generation,
            expires_at,
        })
    }
}

/// What a verified token says.
#[derive(Debug, Clone, Copy)]
struct Verified {
    user_id: i64,
    generation: i64,
    /// `exp`, in seconds since the epoch.
    expires_at: i64,
}

/// The tokens one worker has verified, so that a client sending the same
/// token on every request (as every client does) pays for the signature
/// check and the parsing of its claims once, not per request. Profiled
/// under `GET /tasks/{id}` with keep-alive, verifying took 15 % of the
/// server's CPU.
///
/// Caching a verification is sound because its outcome depends only on the
/// token's bytes, the key (fixed for the life of the process) and the
/// clock, and the clock is checked again on every use: an entry is used
/// only until the token's `exp`. Revocation is unaffected: the caller still
/// compares the token's generation with the user's current one, read from
/// the database on every request.
#[derive(Default)]
pub struct VerifiedTokens {
    entries: HashMap<String, Verified>,
}

/// Tokens kept per worker; at this many the cache starts afresh, which
/// bounds its memory (about 300 KiB) without bookkeeping.
const MAX_VERIFIED_TOKENS: usize = 1024;

impl VerifiedTokens {
    /// Like [`Tokens::verify`], remembering tokens that pass.
    pub fn verify(&mut self, tokens: &Tokens, token: &str, now: i64) -> Option<(i64, i64)> {
        if let Some(verified) = self.entries.get(token)
            && now <= verified.expires_at
        {
            return Some((verified.user_id, verified.generation));
        }
        let verified = tokens.verify_with_expiry(token)?;
        // jwt-simple judged `exp` by its own clock; judge it by `now` too,
        // so both paths agree.
        if now > verified.expires_at + CLOCK_TOLERANCE_SECONDS as i64 {
            return None;
        }
        if self.entries.len() >= MAX_VERIFIED_TOKENS {
            self.entries.clear();
        }
        // Past `exp` but within the clock tolerance: valid now, not cached.
        if now <= verified.expires_at {
            self.entries.insert(token.to_owned(), verified);
        }
        Some((verified.user_id, verified.generation))
    }
}

/// Our own claim: the user's token generation when the token was issued.
///
/// Changing the password or logging out raises the user's generation, which
/// invalidates every earlier token at once. A counter rather than a
/// "tokens valid after" time: `iat` has whole-second precision, so a time
/// could not tell a token issued just before a password change from one
/// issued just after it in the same second.
#[derive(Serialize, Deserialize)]
struct SessionClaims {
    /// Absent in tokens issued before generations existed: generation 0.
    #[serde(rename = "gen", default)]
    generation: i64,
}

/// The recognisable start of every API key, so that leaked keys are easy to
/// spot (and to search for in code).
pub const API_KEY_PREFIX: &str = "tk_";

/// A newly generated API key: the secret shown once, the prefix kept for
/// display, and the hash kept for lookup.
pub struct NewKeySecret {
    pub key: String,
    pub prefix: String,
    pub hash: [u8; 32],
}

/// Generates an API key: `tk_` and 32 random bytes in hex.
pub fn generate_api_key() -> Result<NewKeySecret, String> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|error| format!("reading random bytes: {error}"))?;
    let hex: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
    let key = format!("{API_KEY_PREFIX}{hex}");
    Ok(NewKeySecret {
        prefix: key[..API_KEY_PREFIX.len() + 8].to_owned(),
        hash: hash_api_key(&key),
        key,
    })
}

/// The SHA-256 of an API key, which is what the database stores.
///
/// A fast hash is right here, unlike for passwords: a key carries 256 random
/// bits, so there is nothing to guess and no dictionary to try, and a fast,
/// unsalted hash can be looked up by an index on every request in
/// microseconds. argon2 would cost 30 ms per request and gain nothing.
pub fn hash_api_key(key: &str) -> [u8; 32] {
    hmac_sha256::Hash::hash(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let passwords = Passwords::new(1);
        let hash = passwords.hash("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(passwords.verify("correct horse", Some(&hash)));
        assert!(!passwords.verify("wrong horse", Some(&hash)));
        assert!(!passwords.verify("correct horse", None));
    }

    #[test]
    fn tokens_round_trip_and_reject_other_keys() {
        let tokens = Tokens::new(&[7; 32], 60);
        let token = tokens.issue(42, 3).unwrap();
        assert_eq!(tokens.verify(&token), Some((42, 3)));
        let mut cache = VerifiedTokens::default();
        let now = crate::time::unix_now();
        assert_eq!(cache.verify(&tokens, &token, now), Some((42, 3)));
        // Served from the cache now, and refused once past its expiry
        // (and the clock tolerance) even though it is cached.
        assert_eq!(cache.verify(&tokens, &token, now), Some((42, 3)));
        let much_later = now + 10 * 24 * 3600;
        assert_eq!(cache.verify(&tokens, &token, much_later), None);
        assert_eq!(Tokens::new(&[8; 32], 60).verify(&token), None);
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn api_keys_are_random_prefixed_and_hashed() {
        let first = generate_api_key().unwrap();
        let second = generate_api_key().unwrap();
        assert_ne!(first.key, second.key);
        assert!(first.key.starts_with("tk_") && first.key.len() == 67);
        assert!(first.key.starts_with(&first.prefix));
        assert_eq!(first.hash, hash_api_key(&first.key));
        assert_ne!(first.hash, second.hash);
    }
}
