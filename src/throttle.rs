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
//! The table stays small: windows that are over are purged every
//! [`PURGE_EVERY`] failures this process records, and failures come no
//! faster than the server can hash passwords.

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

impl LoginThrottle {
    pub fn new(limits: Limits) -> LoginThrottle {
        LoginThrottle {
            limits,
            recorded: AtomicU64::new(0),
        }
    }

    /// `Some(seconds)` if this account or address must wait that long
    /// before trying again. Costs one indexed read, never a password hash.
    pub fn check(
        &self,
        db: &Db,
        account: &str,
        address: IpAddr,
    ) -> Result<Option<u64>, StoreError> {
        let now = now_ms();
        let subjects = subjects(account, address);
        let window = self.window_ms();
        let wait_ms =
            store::login_failures::current(db, [&subjects[0], &subjects[1]], now - window)?
                .into_iter()
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
        // Round up: a client that waits `Retry-After` seconds must find the
        // window over.
        Ok(wait_ms.map(|ms| u64::try_from(ms.max(1)).unwrap_or(1).div_ceil(1000)))
    }

    /// Records a wrong password for `account` from `address`.
    pub fn record_failure(
        &self,
        db: &Db,
        account: &str,
        address: IpAddr,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let subjects = subjects(account, address);
        let expired_before = now - self.window_ms();
        store::login_failures::record(db, [&subjects[0], &subjects[1]], now, expired_before)?;
        if self.recorded.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            store::login_failures::purge(db, expired_before)?;
        }
        Ok(())
    }

    /// A correct password: the account starts afresh. (The address keeps
    /// its count: one success must not reset a guessing campaign from an
    /// address that also owns an account.)
    pub fn record_success(&self, db: &Db, account: &str) -> Result<(), StoreError> {
        store::login_failures::clear(db, &account_subject(account))
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.limits.window.as_millis()).unwrap_or(i64::MAX / 2)
    }
}

fn subjects(account: &str, address: IpAddr) -> [String; 2] {
    [account_subject(account), format!("address:{address}")]
}

fn account_subject(account: &str) -> String {
    format!("account:{account}")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX / 2)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Database;

    fn setup(window: Duration) -> (tempfile::TempDir, Db, LoginThrottle) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&Database::Sqlite(dir.path().join("t.db"))).unwrap();
        db.migrate().unwrap();
        let throttle = LoginThrottle::new(Limits {
            per_account: 3,
            per_address: 5,
            window,
        });
        (dir, db, throttle)
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn an_account_is_blocked_after_its_limit_until_the_window_ends() {
        let (_dir, db, throttle) = setup(Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(throttle.check(&db, "ann", HOME).unwrap(), None);
            throttle.record_failure(&db, "ann", HOME).unwrap();
        }
        let wait = throttle.check(&db, "ann", HOME).unwrap().unwrap();
        assert!((59..=60).contains(&wait), "{wait}");
        assert_eq!(throttle.check(&db, "bob", HOME).unwrap(), None);
        throttle.record_success(&db, "ann").unwrap();
        assert_eq!(throttle.check(&db, "ann", HOME).unwrap(), None);
    }

    #[test]
    fn an_address_is_blocked_after_its_limit_across_accounts() {
        let (_dir, db, throttle) = setup(Duration::from_secs(60));
        for n in 0..5 {
            throttle
                .record_failure(&db, &format!("user{n}"), HOME)
                .unwrap();
        }
        assert!(throttle.check(&db, "someone-new", HOME).unwrap().is_some());
    }

    #[test]
    fn the_window_expires_on_its_own_and_the_next_failure_starts_a_new_one() {
        let (_dir, db, throttle) = setup(Duration::from_millis(50));
        for _ in 0..3 {
            throttle.record_failure(&db, "ann", HOME).unwrap();
        }
        assert!(throttle.check(&db, "ann", HOME).unwrap().is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(throttle.check(&db, "ann", HOME).unwrap(), None);
        throttle.record_failure(&db, "ann", HOME).unwrap();
        assert_eq!(
            throttle.check(&db, "ann", HOME).unwrap(),
            None,
            "one failure in the new window"
        );
    }

    #[test]
    fn windows_that_are_over_are_purged() {
        let (_dir, db, throttle) = setup(Duration::from_millis(1));
        for n in 0..PURGE_EVERY {
            throttle
                .record_failure(&db, &format!("user{n}"), HOME)
                .unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        // The purge ran at the last failure and removed all but the windows
        // begun within the last millisecond.
        let left = store::login_failures::purge(&db, i64::MAX).unwrap();
        assert!(left <= 2, "{left} rows were left");
    }
}
