//! A counting semaphore, which std does not have: a fixed number of permits,
//! taken and given back.
//!
//! The server bounds one thing with it: argon2 hashes running at once
//! (`credentials::Passwords`, which waits for a permit), so a login flood
//! costs a bounded amount of memory (each hash takes 19 MiB).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

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

    /// The count is a plain integer, valid even if a holder panicked.
    fn lock(&self) -> MutexGuard<'_, usize> {
        self.taken.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        *self.0.lock() -= 1;
        self.0.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn a_waiter_gets_a_permit_only_when_one_is_given_back() {
        let permits = Permits::new(2);
        let first = permits.acquire();
        let _second = permits.acquire();
        let (taken, took) = mpsc::channel();
        let waiter = {
            let permits = Arc::clone(&permits);
            thread::spawn(move || {
                let _third = permits.acquire();
                taken.send(()).unwrap();
            })
        };
        // Both permits are held: the waiter cannot have one yet.
        assert!(took.recv_timeout(Duration::from_millis(50)).is_err());
        drop(first);
        assert!(took.recv_timeout(Duration::from_secs(5)).is_ok());
        waiter.join().unwrap();
    }
}
