//! Login throttling: too many failed password checks for one account, or
//! from one client address, within a window get 429 until the window ends.
//!
//! The failures are counted in the database (`store::login_failures`), so
//! that several server processes on one PostgreSQL database count together
//! (N processes must not allow N times the guesses) and a restart does not
//! reset them. That turns an online password-guessing attack from
//! thousands of guesses a minute into a handful per window, which is the
//! point; it is not an account lock-out (the window always expires on its
//! own, so an attacker cannot lock a real user out for longer than one
//! window at a time).
//!
//! Each attempt costs one indexed read before the password hash, and a
//! write only when it fails (or succeeds after failures). Requests checked
//! at the same moment may each pass before any records its failure, so the
//! limit is exact only up to the number of requests in flight, which the
//! password-hashing permits bound.
//!
//! The table stays small: subjects are fixed-size (an account is named by a
//! SHA-256 of its name, whatever a client typed), windows that are over are
//! purged every [`PURGE_EVERY`] failures this process records, and failures
//! come no faster than the server hashes passwords.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::store::{self, Db, StoreError};

/// How many failures this process records between purges of old windows.
const PURGE_EVERY: u64 = 256;

/// The configured limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failures allowed per account within a window.
    pub per_account: u32,
    /// Failures allowed per client address within a window.
    pub per_address: u32,
    /// The window, counted from an account's or address's first failure.
    pub window: Duration,
}

/// Counts failures per account and per address, in the database.
pub struct LoginThrottle {
    limits: Limits,
    recorded: AtomicU64,
}

/// What [`LoginThrottle::check`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    /// Go ahead and check the password, then record the outcome.
    Allowed(Attempt),
    /// Too many failures: try again in this many seconds.
    Wait(u64),
}

/// An attempt the throttle let through.
#[derive(Debug, PartialEq, Eq)]
pub struct Attempt {
    subjects: [String; 2],
    /// Whether the account has failures to forget if this one succeeds.
    account_has_failures: bool,
}

impl LoginThrottle {
    pub fn new(limits: Limits) -> LoginThrottle {
        LoginThrottle {
            limits,
            recorded: AtomicU64::new(0),
        }
    }

    /// Whether `account` may try a password from `address` now.
    pub fn check(&self, db: &Db, account: &str, address: IpAddr) -> Result<Check, StoreError> {
        self.check_at(db, account, address, now_ms())
    }

    fn check_at(
        &self,
        db: &Db,
        account: &str,
        address: IpAddr,
        now: i64,
    ) -> Result<Check, StoreError> {
        let subjects = [account_subject(account), format!("address:{address}")];
        let window = self.window_ms();
        let current =
            store::login_failures::current(db, [&subjects[0], &subjects[1]], now - window)?;
        let wait_ms = current
            .iter()
            .filter(|failures| {
                let limit = if failures.subject == subjects[0] {
                    self.limits.per_account
                } else {
                    self.limits.per_address
                };
                failures.count >= i64::from(limit)
            })
            .map(|failures| failures.window_start_ms + window - now)
            .max();
        if let Some(ms) = wait_ms {
            // Round up: a client that waits `Retry-After` seconds must find
            // the window over.
            return Ok(Check::Wait(
                u64::try_from(ms.max(1)).unwrap_or(1).div_ceil(1000),
            ));
        }
        let account_has_failures = current
            .iter()
            .any(|failures| failures.subject == subjects[0]);
        Ok(Check::Allowed(Attempt {
            subjects,
            account_has_failures,
        }))
    }

    /// Records a wrong password.
    pub fn record_failure(&self, db: &Db, attempt: &Attempt) -> Result<(), StoreError> {
        self.record_failure_at(db, attempt, now_ms())
    }

    fn record_failure_at(&self, db: &Db, attempt: &Attempt, now: i64) -> Result<(), StoreError> {
        let expired_before = now - self.window_ms();
        let [account, address] = &attempt.subjects;
        store::login_failures::record(db, [account, address], now, expired_before)?;
        if self.recorded.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            // Housekeeping: the failure is recorded, and a purge that fails
            // now will run again later.
            if let Err(error) = store::login_failures::purge(db, expired_before) {
                eprintln!("purging old login failures: {error}");
            }
        }
        Ok(())
    }

    /// A correct password: the account starts afresh. (The address keeps
    /// its count: one success must not reset a guessing campaign from an
    /// address that also owns an account.)
    pub fn record_success(&self, db: &Db, attempt: &Attempt) -> Result<(), StoreError> {
        if attempt.account_has_failures {
            store::login_failures::clear(db, &attempt.subjects[0])?;
        }
        Ok(())
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.limits.window.as_millis()).unwrap_or(i64::MAX / 2)
    }
}

/// The subject that counts an account's failures: a hash of its name, so
/// a name a client typed (up to the body limit) is stored in 72 bytes.
fn account_subject(account: &str) -> String {
    let digest = hmac_sha256::Hash::hash(account.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("account:{hex}")
}

/// The wall clock, in milliseconds: all processes on one database count in
/// it, so their clocks must agree (as they must for tokens' expiry).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX / 2)
        })
}

#[cfg(test)]
mod tests {
    //! On a real SQLite database, with the clock passed in.

    use super::*;
    use crate::store::Database;

    fn setup() -> (tempfile::TempDir, Db, LoginThrottle) {
        setup_with(5)
    }

    /// 3 failures per account and `per_address` per address in a minute.
    fn setup_with(per_address: u32) -> (tempfile::TempDir, Db, LoginThrottle) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&Database::Sqlite(dir.path().join("t.db"))).unwrap();
        db.migrate().unwrap();
        let throttle = LoginThrottle::new(Limits {
            per_account: 3,
            per_address,
            window: Duration::from_secs(60),
        });
        (dir, db, throttle)
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const MINUTE: i64 = 60_000;

    fn attempt(throttle: &LoginThrottle, db: &Db, account: &str, now: i64) -> Attempt {
        match throttle.check_at(db, account, HOME, now).unwrap() {
            Check::Allowed(attempt) => attempt,
            Check::Wait(seconds) => panic!("{account} must wait {seconds} s"),
        }
    }

    fn fail(throttle: &LoginThrottle, db: &Db, account: &str, now: i64) {
        let attempt = attempt(throttle, db, account, now);
        throttle.record_failure_at(db, &attempt, now).unwrap();
    }

    #[test]
    fn an_account_is_blocked_after_its_limit_until_the_window_ends() {
        let (_dir, db, throttle) = setup();
        for second in 0..3 {
            fail(&throttle, &db, "ann", second * 1000);
        }
        // The window began at the first failure: 60 s from 0, so at 2.5 s
        // there are 57.5 s left, rounded up.
        assert_eq!(
            throttle.check_at(&db, "ann", HOME, 2_500).unwrap(),
            Check::Wait(58)
        );
        attempt(&throttle, &db, "bob", 2_500);
        assert_eq!(
            throttle.check_at(&db, "ann", HOME, MINUTE - 1).unwrap(),
            Check::Wait(1)
        );
        attempt(&throttle, &db, "ann", MINUTE);
    }

    #[test]
    fn a_success_forgets_the_accounts_failures_but_not_the_addresses() {
        let (_dir, db, throttle) = setup();
        fail(&throttle, &db, "ann", 0);
        fail(&throttle, &db, "ann", 1);
        let success = attempt(&throttle, &db, "ann", 2);
        throttle.record_success(&db, &success).unwrap();
        for now in 3..6 {
            fail(&throttle, &db, "ann", now);
        }
        // Five failures from the address in all: its limit.
        assert!(matches!(
            throttle.check_at(&db, "someone", HOME, 7).unwrap(),
            Check::Wait(_)
        ));
    }

    #[test]
    fn an_address_is_blocked_after_its_limit_across_accounts() {
        let (_dir, db, throttle) = setup();
        for n in 0..5 {
            fail(&throttle, &db, &format!("user{n}"), n);
        }
        assert!(matches!(
            throttle.check_at(&db, "someone-new", HOME, 5).unwrap(),
            Check::Wait(_)
        ));
    }

    #[test]
    fn a_failure_after_the_window_starts_a_new_one() {
        let (_dir, db, throttle) = setup();
        for now in 0..3 {
            fail(&throttle, &db, "ann", now);
        }
        fail(&throttle, &db, "ann", MINUTE);
        // One failure in the new window: two more are allowed.
        fail(&throttle, &db, "ann", MINUTE + 1);
        fail(&throttle, &db, "ann", MINUTE + 2);
        assert!(matches!(
            throttle.check_at(&db, "ann", HOME, MINUTE + 3).unwrap(),
            Check::Wait(_)
        ));
    }

    #[test]
    fn windows_that_are_over_are_purged_and_the_others_kept() {
        let (_dir, db, throttle) = setup_with(1000);
        // One failure a second from a new account each, so the address's
        // window restarts every minute. The purge runs at the 256th failure
        // (at 255 s) and deletes the windows begun at or before 195 s:
        // left are the 60 accounts of 196..=255 s and the address, whose
        // window began at 240 s.
        for second in 0..PURGE_EVERY as i64 {
            fail(&throttle, &db, &format!("user{second}"), second * 1000);
        }
        let left = store::login_failures::purge(&db, i64::MAX).unwrap();
        assert_eq!(left, 61);
    }

    #[test]
    fn an_account_is_stored_as_a_fixed_size_hash_of_its_name() {
        let subject = account_subject(&"x".repeat(1 << 20));
        assert_eq!(subject.len(), "account:".len() + 64);
        assert_eq!(subject, account_subject(&"x".repeat(1 << 20)));
        assert_ne!(subject, account_subject("x"));
    }
}
