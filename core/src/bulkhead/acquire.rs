//! Admission: a slot now, or after a bounded wait.
//!
//! Acquiring is one successful CAS on the bulkhead word (in flight + 1,
//! only if it stays within the limit, judged on the same word, so a
//! concurrent limit change can never let more than the limit in). A
//! bulkhead with a breaker asks the breaker first: an open breaker refuses
//! at once, without taking a slot.

use super::permit::NO_BREAKER;
use super::word::Word;
use super::{Bulkhead, BulkheadError, BulkheadFull, BulkheadPermit, RawBulkheadPermit};
use crate::sync::Ordering::{Acquire, Relaxed};
use std::time::Duration;

impl Bulkhead {
    /// A slot now, or [`BulkheadError`]; never waits.
    ///
    /// ```rust
    /// use fusebox::bulkhead::{Bulkhead, BulkheadError};
    ///
    /// let b = Bulkhead::new(1)?;
    /// let permit = b.try_acquire()?;
    /// assert!(matches!(b.try_acquire(), Err(BulkheadError::Full(f)) if f.limit == 1));
    /// permit.success();
    /// assert!(b.try_acquire().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<BulkheadPermit<'_>, BulkheadError> {
        self.try_acquire_raw()
            .map(|raw| BulkheadPermit::new(self, raw))
    }

    /// A slot, waiting up to the configured `max_wait` for one.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use std::time::Duration;
    ///
    /// let b = Bulkhead::builder().max_concurrent(1).max_wait(Duration::from_secs(60)).build()?;
    /// let held = b.try_acquire()?;
    /// std::thread::scope(|s| {
    ///     let waiter = s.spawn(|| b.acquire().map(|p| p.success()));
    ///     while b.waiting() == 0 {
    ///         std::thread::yield_now(); // until the other thread waits
    ///     }
    ///     held.success(); // frees the slot and wakes the waiter
    ///     assert!(waiter.join().unwrap().is_ok());
    /// });
    /// assert_eq!((b.in_flight(), b.waiting(), b.peak_in_flight()), (0, 0, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire(&self) -> Result<BulkheadPermit<'_>, BulkheadError> {
        self.acquire_timeout(self.max_wait)
    }

    /// A slot, waiting up to `wait` (real time) for one.
    ///
    /// ```rust
    /// use fusebox::bulkhead::{Bulkhead, BulkheadError};
    /// use std::time::Duration;
    ///
    /// let b = Bulkhead::new(1)?; // max_wait zero: `acquire` would not wait
    /// let held = b.try_acquire()?;
    /// let r = b.acquire_timeout(Duration::from_millis(1)); // nobody frees the slot
    /// assert!(matches!(r, Err(BulkheadError::Full(f)) if f.waited >= Duration::from_millis(1)));
    /// drop(held);
    /// assert!(b.acquire_timeout(Duration::from_secs(60)).is_ok()); // a free slot: no wait
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire_timeout(&self, wait: Duration) -> Result<BulkheadPermit<'_>, BulkheadError> {
        self.acquire_raw_timeout(wait)
            .map(|raw| BulkheadPermit::new(self, raw))
    }

    /// [`Bulkhead::try_acquire`] for bindings: the permit is a plain value.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use fusebox::Outcome;
    ///
    /// let b = Bulkhead::new(1)?;
    /// let p = b.try_acquire_raw()?;
    /// assert!(b.try_acquire_raw().is_err());
    /// b.record_raw(p, Outcome::Success); // exactly once
    /// assert_eq!(b.in_flight(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_acquire_raw(&self) -> Result<RawBulkheadPermit, BulkheadError> {
        if self.plain {
            // The common case, inlined: one CAS.
            return match self.take_slot() {
                Ok(n) => {
                    self.note_peak(n);
                    Ok(RawBulkheadPermit {
                        breaker: NO_BREAKER,
                        start_ns: 0,
                        in_flight: u64::from(n),
                        slot: 0,
                    })
                }
                Err(w) => Err(self.full(w, Duration::ZERO)),
            };
        }
        self.acquire_raw_timeout(Duration::ZERO)
    }

    /// [`Bulkhead::acquire`] for bindings.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use std::time::Duration;
    ///
    /// let b = Bulkhead::builder().max_concurrent(2).max_wait(Duration::from_secs(60)).build()?;
    /// let p = b.acquire_raw()?; // a free slot: no wait
    /// assert_eq!(p.in_flight, 1);
    /// b.release_raw(p);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire_raw(&self) -> Result<RawBulkheadPermit, BulkheadError> {
        self.acquire_raw_timeout(self.max_wait)
    }

    /// [`Bulkhead::acquire_timeout`] for bindings.
    ///
    /// ```rust
    /// use fusebox::bulkhead::{Bulkhead, BulkheadError};
    /// use std::time::Duration;
    ///
    /// let b = Bulkhead::new(1)?;
    /// let held = b.acquire_raw_timeout(Duration::ZERO)?;
    /// let r = b.acquire_raw_timeout(Duration::from_millis(1));
    /// assert!(matches!(r, Err(BulkheadError::Full(f)) if !f.waited.is_zero()));
    /// b.release_raw(held);
    /// assert_eq!(b.metrics().rejected, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline(never)]
    pub fn acquire_raw_timeout(&self, wait: Duration) -> Result<RawBulkheadPermit, BulkheadError> {
        let mut bp = match &self.breaker {
            Some(b) => b.acquire_raw().map_err(BulkheadError::Breaker)?,
            None => NO_BREAKER,
        };
        if self.watch.is_some() {
            self.maybe_sweep();
        }
        let n = match self.take_slot() {
            Ok(n) => n,
            Err(w) => {
                if let Some(b) = &self.breaker {
                    b.release_raw(bp);
                }
                if wait.is_zero() {
                    return Err(self.full(w, Duration::ZERO));
                }
                let n = self.wait_slot(wait).map_err(BulkheadError::Full)?;
                // The breaker is asked again: it may have moved while we
                // waited, and its permit times the call, not the wait.
                if let Some(b) = &self.breaker {
                    match b.acquire_raw() {
                        Ok(p) => bp = p,
                        Err(r) => {
                            self.release_slot();
                            return Err(BulkheadError::Breaker(r));
                        }
                    }
                }
                n
            }
        };
        self.note_peak(n);
        let start_ns = if self.adaptive.is_some() {
            self.clock.now_ns()
        } else {
            0
        };
        let slot = match &self.watch {
            Some(w) if !bp.probe => w.watch(bp),
            _ => 0,
        };
        Ok(RawBulkheadPermit {
            breaker: bp,
            start_ns,
            in_flight: u64::from(n),
            slot,
        })
    }

    /// One CAS: in flight + 1 if that stays within the limit. The count
    /// including this call, or the word that refused it.
    #[inline]
    fn take_slot(&self) -> Result<u32, Word> {
        let word = &self.hot.word;
        let mut w = word.load(Relaxed);
        loop {
            if !w.has_room() {
                return Err(w);
            }
            // Acquire on success, Release on release: a permit orders what
            // its holder did before releasing before what the next holder
            // does (a semaphore's guarantee). Free on x86_64.
            match word.compare_exchange_weak(w, w.admitted(), Acquire, Relaxed) {
                Ok(_) => return Ok(w.in_flight() + 1),
                Err(a) => w = a,
            }
        }
    }

    #[inline]
    fn note_peak(&self, n: u32) {
        let n = u64::from(n);
        if n > self.hot.peak.load(Relaxed) {
            self.hot.peak.fetch_max(n, Relaxed);
        }
    }

    #[cold]
    fn full(&self, w: Word, waited: Duration) -> BulkheadError {
        BulkheadError::Full(self.full_at(w, waited))
    }

    /// Count a refusal by the word `w`.
    pub(super) fn full_at(&self, w: Word, waited: Duration) -> BulkheadFull {
        self.rejected.fetch_add(1, Relaxed);
        BulkheadFull {
            limit: w.limit(),
            in_flight: w.in_flight(),
            waited,
        }
    }
}
