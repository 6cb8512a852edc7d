//! Giving a slot back, with the call's outcome or without.
//!
//! Releasing is one `fetch_sub` on the bulkhead word, whose returned word
//! says whether anyone waits. Before it, the outcome goes to the breaker
//! (unless a sweep already counted the call as slow) and the call's latency
//! to the adaptive limit, which may move the limit.

use super::{Bulkhead, RawBulkheadPermit};
use crate::engine::permit::Outcome;
use crate::sync::Ordering::{Relaxed, Release};

impl Bulkhead {
    /// Give back a permit with the call's outcome: the breaker (if any)
    /// counts it, the adaptive limit (if any) samples its latency (a
    /// failure counts as a drop; an ignored call is not sampled).
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use fusebox::{Breaker, Config, Outcome};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::new(Config::default())?);
    /// let b = Bulkhead::builder().breaker(breaker.clone()).build()?;
    /// let p = b.try_acquire_raw()?;
    /// assert_eq!(b.in_flight(), 1);
    /// b.record_raw(p, Outcome::Failure);
    /// assert_eq!((b.in_flight(), breaker.metrics().failures), (0, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn record_raw(&self, p: RawBulkheadPermit, outcome: Outcome) {
        self.finish(p, Some(outcome));
    }

    /// Give back a permit without an outcome (the call was abandoned): its
    /// slot and its breaker probe slot are freed, nothing is counted.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use fusebox::{Breaker, Config};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::new(Config::default())?);
    /// let b = Bulkhead::builder().max_concurrent(1).breaker(breaker.clone()).build()?;
    /// let p = b.try_acquire_raw()?;
    /// b.release_raw(p);
    /// let m = breaker.metrics();
    /// assert_eq!((b.in_flight(), m.successes + m.failures + m.ignored), (0, 0));
    /// assert!(b.try_acquire_raw().is_ok()); // the slot is back
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn release_raw(&self, p: RawBulkheadPermit) {
        self.finish(p, None);
    }

    #[inline]
    fn finish(&self, p: RawBulkheadPermit, outcome: Option<Outcome>) {
        if self.plain {
            // The common case, inlined: one fetch_sub.
            self.release_slot();
            return;
        }
        self.finish_general(p, outcome);
    }

    #[inline(never)]
    fn finish_general(&self, p: RawBulkheadPermit, outcome: Option<Outcome>) {
        let counted = match &self.watch {
            Some(w) => w.free(p.slot),
            None => false,
        };
        if let Some(b) = &self.breaker {
            match outcome {
                // A call a sweep counted as slow is not counted again.
                Some(o) if !counted => b.record_raw(p.breaker, o, None),
                _ => b.release_raw(p.breaker),
            }
        }
        if let (Some(a), Some(o)) = (&self.adaptive, outcome) {
            if o != Outcome::Ignored {
                let now = self.clock.now_ns();
                let rtt = now.saturating_sub(p.start_ns);
                let in_flight = u32::try_from(p.in_flight).unwrap_or(u32::MAX);
                if let Some(l) = a.on_sample(now, rtt, in_flight, o == Outcome::Failure) {
                    self.store_limit(l);
                }
            }
        }
        self.release_slot();
    }

    /// One `fetch_sub`; wakes a waiter if the word counts any.
    #[inline]
    pub(super) fn release_slot(&self) {
        let prev = self.hot.word.release_one(Release);
        if prev.in_flight() == 0 {
            // A raw permit given back twice: the count borrowed from the
            // limit bits. Put it back; the extra release is ignored.
            self.hot.word.undo_release(Relaxed);
            return;
        }
        if prev.waiters() != 0 {
            self.sleepers.wake_one();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_raw_permit_given_back_twice_does_not_corrupt_the_count() {
        let b = Bulkhead::new(2).unwrap();
        let p = b.try_acquire_raw().unwrap();
        b.release_raw(p);
        b.release_raw(p);
        assert_eq!((b.in_flight(), b.limit()), (0, 2));
        let _a = b.try_acquire().unwrap();
        let _b = b.try_acquire().unwrap();
        assert!(b.try_acquire().is_err());
    }
}
