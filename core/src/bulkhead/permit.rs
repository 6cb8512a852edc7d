//! Permits: the right to one call in a slot, as a guard and as a plain
//! value for bindings.

use super::Bulkhead;
use crate::engine::permit::{Outcome, RawPermit};

/// A bulkhead permit as a plain value, for bindings: give it back exactly
/// once, to [`Bulkhead::record_raw`] or [`Bulkhead::release_raw`].
///
/// ```rust
/// use fusebox::bulkhead::Bulkhead;
///
/// let b = Bulkhead::new(4)?;
/// let p = b.try_acquire_raw()?;
/// assert_eq!((p.in_flight, p.slot, p.start_ns), (1, 0, 0)); // no breaker, no watch
/// b.release_raw(p);
/// assert_eq!(b.in_flight(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct RawBulkheadPermit {
    /// The breaker's permit (all zero without a breaker).
    pub breaker: RawPermit,
    /// Precise clock at admission, when the adaptive limit needs it; else 0.
    pub start_ns: u64,
    /// Calls in flight at admission, this one included. (The two last
    /// fields are whole words so that moving a permit never reads a word
    /// written in halves, which stalls store forwarding.)
    pub in_flight: u64,
    /// 1 + the index of the call's watch slot; 0 when not watched.
    pub slot: u64,
}

/// The breaker part of a permit taken without a breaker.
pub(super) const NO_BREAKER: RawPermit = RawPermit {
    generation: 0,
    start_ns: 0,
    probe: false,
};

/// The right to one call in a bulkhead slot. Report its outcome with
/// [`BulkheadPermit::success`], [`BulkheadPermit::failure`],
/// [`BulkheadPermit::ignore`] or [`BulkheadPermit::record`]; dropping it
/// unreported (a panic, a cancelled future) frees its slot and counts
/// nothing.
///
/// ```rust
/// use fusebox::bulkhead::Bulkhead;
///
/// let b = Bulkhead::new(1)?;
/// let permit = b.try_acquire()?;
/// assert!(b.try_acquire().is_err());
/// drop(permit); // unreported: the slot comes back all the same
/// assert!(b.try_acquire().is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a permit holds a slot until it is given an outcome or dropped"]
#[derive(Debug)]
pub struct BulkheadPermit<'a> {
    bulkhead: &'a Bulkhead,
    raw: RawBulkheadPermit,
}

impl<'a> BulkheadPermit<'a> {
    pub(super) fn new(bulkhead: &'a Bulkhead, raw: RawBulkheadPermit) -> Self {
        BulkheadPermit { bulkhead, raw }
    }

    /// The plain value inside.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    ///
    /// let b = Bulkhead::new(4)?;
    /// let _first = b.try_acquire()?;
    /// let second = b.try_acquire()?;
    /// assert_eq!(second.raw().in_flight, 2); // counted with itself
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn raw(&self) -> RawBulkheadPermit {
        self.raw
    }

    /// Report an outcome and free the slot.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use fusebox::{Breaker, Config, Outcome};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::new(Config::default())?);
    /// let b = Bulkhead::builder().breaker(breaker.clone()).build()?;
    /// b.try_acquire()?.record(Outcome::Failure);
    /// assert_eq!((b.in_flight(), breaker.metrics().failures), (0, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn record(self, outcome: Outcome) {
        // No drop flag: the permit is consumed here without running Drop.
        let this = std::mem::ManuallyDrop::new(self);
        this.bulkhead.record_raw(this.raw, outcome);
    }

    /// The call succeeded.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use fusebox::{Breaker, Config};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::new(Config::default())?);
    /// let b = Bulkhead::builder().breaker(breaker.clone()).build()?;
    /// b.try_acquire()?.success();
    /// assert_eq!((b.in_flight(), breaker.metrics().successes), (0, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success)
    }

    /// The call failed (for the adaptive limit: a drop).
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use fusebox::{Breaker, Config};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::new(Config::default())?);
    /// let b = Bulkhead::builder().breaker(breaker.clone()).build()?;
    /// b.try_acquire()?.failure();
    /// assert_eq!((b.in_flight(), breaker.metrics().failures), (0, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn failure(self) {
        self.record(Outcome::Failure)
    }

    /// The call ended in a way that says nothing about the dependency.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use fusebox::{Breaker, Config};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::new(Config::default())?);
    /// let b = Bulkhead::builder().breaker(breaker.clone()).build()?;
    /// b.try_acquire()?.ignore();
    /// let m = breaker.metrics();
    /// assert_eq!((b.in_flight(), m.ignored, m.successes + m.failures), (0, 1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ignore(self) {
        self.record(Outcome::Ignored)
    }
}

impl Drop for BulkheadPermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.bulkhead.release_raw(self.raw);
    }
}
