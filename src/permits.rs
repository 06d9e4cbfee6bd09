//! A counting semaphore, which std does not have: a fixed number of permits,
//! taken and given back.
//!
//! The server bounds three things with it: argon2 hashes running at once
//! (`credentials::Passwords`, which waits for a permit), workers reading a
//! slow request body, and threads finishing requests for the workers
//! (`server`, which waits a little or not at all, and does something else
//! when none is free).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// `limit` permits, shared through an `Arc` so that a [`Permit`] can move to
/// another thread.
pub struct Permits {
    limit: usize,
    taken: Mutex<usize>,
    /// Signalled whenever a permit is given back.
    released: Condvar,
}

/// One taken permit; dropping it gives it back, also during a panic.
pub struct Permit(Arc<Permits>);

impl Permits {
    pub fn new(limit: usize) -> Arc<Permits> {
        Arc::new(Permits {
            limit,
            taken: Mutex::new(0),
            released: Condvar::new(),
        })
    }

    /// Waits as long as it takes for a permit.
    pub fn acquire(self: &Arc<Self>) -> Permit {
        let taken = self.lock();
        let mut taken = self
            .released
            .wait_while(taken, |taken| *taken >= self.limit)
            .unwrap_or_else(PoisonError::into_inner);
        *taken += 1;
        Permit(Arc::clone(self))
    }

    /// Takes a permit if one comes free within `patience` (zero: only if
    /// one is free now).
    pub fn try_acquire_within(self: &Arc<Self>, patience: Duration) -> Option<Permit> {
        let deadline = Instant::now() + patience;
        let mut taken = self.lock();
        while *taken >= self.limit {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            taken = self
                .released
                .wait_timeout(taken, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *taken += 1;
        Some(Permit(Arc::clone(self)))
    }

    /// Waits until every permit has been given back.
    pub fn wait_until_all_returned(&self) {
        let taken = self.lock();
        drop(
            self.released
                .wait_while(taken, |taken| *taken > 0)
                .unwrap_or_else(PoisonError::into_inner),
        );
    }

    /// The count is a plain integer, valid even if a holder panicked.
    fn lock(&self) -> MutexGuard<'_, usize> {
        self.taken.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        *self.0.lock() -= 1;
        // Waiters for a permit and waiters for all of them share the
        // condvar, so wake them all; there are never many.
        self.0.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn no_more_than_the_limit_are_taken_and_a_returned_one_can_be_taken_again() {
        let permits = Permits::new(2);
        let first = permits.acquire();
        let _second = permits.acquire();
        assert!(permits.try_acquire_within(Duration::ZERO).is_none());
        assert!(
            permits
                .try_acquire_within(Duration::from_millis(20))
                .is_none()
        );
        drop(first);
        assert!(permits.try_acquire_within(Duration::ZERO).is_some());
    }

    #[test]
    fn a_waiter_gets_the_permit_given_back_on_another_thread() {
        let permits = Permits::new(1);
        let held = permits.acquire();
        let waiter = {
            let permits = Arc::clone(&permits);
            thread::spawn(move || permits.try_acquire_within(Duration::from_secs(5)).is_some())
        };
        thread::sleep(Duration::from_millis(20));
        drop(held);
        assert!(waiter.join().unwrap());
        permits.wait_until_all_returned();
    }
}
