//! Waiting for a slot: the one place a bulkhead takes a lock, and only when
//! it is full *and* configured to wait ([`BulkheadBuilder::max_wait`]).
//!
//! A waiter registers in the bulkhead word (its waiter count) in the same
//! CAS that finds the bulkhead full, then sleeps on a condition variable; a
//! release takes the mutex to notify only when the word it decremented
//! counts waiters. Waiting is not fair: a fresh caller may take a freed slot
//! before a sleeping one.
//!
//! [`BulkheadBuilder::max_wait`]: super::BulkheadBuilder::max_wait

use super::word::MAX_WAITERS;
use super::{Bulkhead, BulkheadFull};
use crate::sync::Ordering::{AcqRel, Acquire, Relaxed};
use std::time::{Duration, Instant};

#[cfg(loom)]
use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
use std::sync::{Condvar, Mutex, MutexGuard};

/// Where waiters sleep.
pub(super) struct Sleepers {
    lock: Mutex<()>,
    cv: Condvar,
}

impl Sleepers {
    pub(super) fn new() -> Sleepers {
        Sleepers {
            lock: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    /// The lock (a poisoned one all the same: it guards nothing).
    fn lock(&self) -> MutexGuard<'_, ()> {
        match self.lock.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Sleep until notified, or until `deadline` if any.
    fn sleep<'a>(
        &self,
        guard: MutexGuard<'a, ()>,
        deadline: Option<Instant>,
    ) -> MutexGuard<'a, ()> {
        match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                match self.cv.wait_timeout(guard, left) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                }
            }
            None => match self.cv.wait(guard) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            },
        }
    }

    /// Wake one waiter.
    #[cold]
    pub(super) fn wake_one(&self) {
        let _g = self.lock();
        self.cv.notify_one();
    }

    /// Wake every waiter (the limit went up).
    #[cold]
    pub(super) fn wake_all(&self) {
        let _g = self.lock();
        self.cv.notify_all();
    }
}

impl Bulkhead {
    /// Wait up to `wait` for a slot.
    #[cold]
    pub(super) fn wait_slot(&self, wait: Duration) -> Result<u32, BulkheadFull> {
        let started = Instant::now();
        let deadline = started.checked_add(wait);
        let word = &self.hot.word;
        // Register as a waiter in the same CAS that finds the bulkhead full,
        // so a release either comes after it (and sees a waiter to wake) or
        // before it (and this CAS sees the free slot and takes it).
        let mut w = word.load(Relaxed);
        loop {
            let new = if w.has_room() {
                w.admitted()
            } else if w.waiters() >= MAX_WAITERS {
                return Err(self.full_at(w, Duration::ZERO));
            } else {
                w.with_waiter()
            };
            match word.compare_exchange_weak(w, new, AcqRel, Relaxed) {
                Ok(_) if w.has_room() => return Ok(w.in_flight() + 1),
                Ok(_) => break,
                Err(a) => w = a,
            }
        }
        let mut guard = self.sleepers.lock();
        loop {
            // Under the lock. A release that saw us registered notifies
            // under this lock: either it did so before we took it, and then
            // its fetch_sub happened before this check, which sees the slot;
            // or it notifies after we wait, and wakes us.
            let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
            let mut w = word.load(Acquire);
            loop {
                let room = w.has_room();
                if !room && !timed_out {
                    break;
                }
                // Leave the waiters: with a slot if there is room, else
                // empty-handed (the wait is over).
                let new = if room {
                    w.waiter_admitted()
                } else {
                    w.waiter_gone()
                };
                match word.compare_exchange_weak(w, new, AcqRel, Acquire) {
                    Ok(_) if room => return Ok(w.in_flight() + 1),
                    Ok(_) => return Err(self.full_at(w, started.elapsed())),
                    Err(a) => w = a,
                }
            }
            guard = self.sleepers.sleep(guard, deadline);
        }
    }
}
