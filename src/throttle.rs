//! Login throttling: too many failed password checks for one account, or
//! from one client address, within a window get 429 until the window ends.
//!
//! State is in memory, per process: it resets on restart, and two server
//! processes on one database count separately. That is enough to turn an
//! online password-guessing attack from thousands of guesses a minute into a
//! handful per window, which is the point; it is not an account lock-out
//! (the window always expires on its own, so an attacker cannot lock a real
//! user out for longer than one window at a time).
//!
//! Each table is bounded: an attacker cycling through a million usernames
//! evicts old entries instead of growing memory without limit.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The most entries each table keeps (about 100 bytes each).
const MAX_ENTRIES: usize = 10_000;

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

/// Counts failures per account and per address.
pub struct LoginThrottle {
    limits: Limits,
    accounts: Mutex<Table<String>>,
    addresses: Mutex<Table<IpAddr>>,
}

impl LoginThrottle {
    pub fn new(limits: Limits) -> LoginThrottle {
        LoginThrottle {
            limits,
            accounts: Mutex::new(Table::default()),
            addresses: Mutex::new(Table::default()),
        }
    }

    /// `Err(seconds)` if this account or address must wait that long before
    /// trying again. Costs a hash-map lookup, never a password hash.
    pub fn check(&self, account: &str, address: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let wait = [
            lock(&self.accounts).blocked_for(
                account,
                self.limits.per_account,
                self.limits.window,
                now,
            ),
            lock(&self.addresses).blocked_for(
                &address,
                self.limits.per_address,
                self.limits.window,
                now,
            ),
        ]
        .into_iter()
        .flatten()
        .max();
        match wait {
            // Round up: a client that waits `Retry-After` seconds must find
            // the window over.
            Some(wait) => Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)),
            None => Ok(()),
        }
    }

    /// Records a wrong password for `account` from `address`.
    pub fn record_failure(&self, account: &str, address: IpAddr) {
        let now = Instant::now();
        let window = self.limits.window;
        lock(&self.accounts).record(account.to_owned(), window, now);
        lock(&self.addresses).record(address, window, now);
    }

    /// A correct password: the account starts afresh. (The address keeps
    /// its count: one success must not reset a guessing campaign from an
    /// address that also owns an account.)
    pub fn record_success(&self, account: &str) {
        lock(&self.accounts).entries.remove(account);
    }
}

/// The counters are plain data, valid even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Failures per key: (count, start of the window).
struct Table<K> {
    entries: HashMap<K, (u32, Instant)>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table {
            entries: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn blocked_for<Q>(
        &self,
        key: &Q,
        limit: u32,
        window: Duration,
        now: Instant,
    ) -> Option<Duration>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (failures, started) = self.entries.get(key)?;
        let ends = *started + window;
        (*failures >= limit && now < ends).then(|| ends - now)
    }

    fn record(&mut self, key: K, window: Duration, now: Instant) {
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(&key) {
            self.entries
                .retain(|_, (_, started)| now < *started + window);
            if self.entries.len() >= MAX_ENTRIES {
                // Still full of live entries: drop the oldest window.
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, started))| *started)
                    .map(|(key, _)| key.clone());
                if let Some(oldest) = oldest {
                    self.entries.remove(&oldest);
                }
            }
        }
        let entry = self.entries.entry(key).or_insert((0, now));
        if now >= entry.1 + window {
            *entry = (0, now);
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(window: Duration) -> LoginThrottle {
        LoginThrottle::new(Limits {
            per_account: 3,
            per_address: 5,
            window,
        })
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn an_account_is_blocked_after_its_limit_until_the_window_ends() {
        let throttle = throttle(Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(throttle.check("ann", HOME), Ok(()));
            throttle.record_failure("ann", HOME);
        }
        let wait = throttle.check("ann", HOME).unwrap_err();
        assert!((59..=60).contains(&wait), "{wait}");
        assert_eq!(throttle.check("bob", HOME), Ok(()));
        throttle.record_success("ann");
        assert_eq!(throttle.check("ann", HOME), Ok(()));
    }

    #[test]
    fn an_address_is_blocked_after_its_limit_across_accounts() {
        let throttle = throttle(Duration::from_secs(60));
        for n in 0..5 {
            throttle.record_failure(&format!("user{n}"), HOME);
        }
        assert!(throttle.check("someone-new", HOME).is_err());
    }

    #[test]
    fn the_window_expires_on_its_own() {
        let throttle = throttle(Duration::from_millis(50));
        for _ in 0..3 {
            throttle.record_failure("ann", HOME);
        }
        assert!(throttle.check("ann", HOME).is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(throttle.check("ann", HOME), Ok(()));
    }

    #[test]
    fn the_tables_stay_bounded() {
        let throttle = throttle(Duration::from_secs(60));
        for n in 0..MAX_ENTRIES + 100 {
            throttle.record_failure(&format!("user{n}"), HOME);
        }
        assert_eq!(lock(&throttle.accounts).entries.len(), MAX_ENTRIES);
    }
}
