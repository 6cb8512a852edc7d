//! Permits: the right to make one call, and the way its outcome comes back.

use crate::engine::breaker::Breaker;
use std::time::Duration;

/// How a call ended. What counts as a failure is the caller's choice: by
/// default connection errors, timeouts and 5xx are failures, 4xx are
/// `Ignored` (neither success nor failure).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Outcome {
    /// Counted as a success (slow if it took longer than the slow-call duration).
    Success,
    /// Counted as a failure.
    Failure,
    /// Not counted toward any rate.
    Ignored,
}

/// A permit as a plain value (no borrow, no allocation), for bindings. It
/// carries the generation it was issued in: an outcome reported after the
/// breaker moved on is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct RawPermit {
    /// Breaker generation at admission.
    pub generation: u64,
    /// Precise clock at admission, when slow-call detection needs it; else 0.
    pub start_ns: u64,
    /// A half-open probe.
    pub probe: bool,
}

/// The right to make one call. Report its outcome with [`Permit::success`],
/// [`Permit::failure`] or [`Permit::ignore`]; dropping it unreported (a panic,
/// a cancelled future) frees its half-open probe slot.
///
/// ```rust
/// use fusebox::{Breaker, Config, ManualClock, Outcome, State};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let breaker = Breaker::with_clock(
///     Config::builder()
///         .consecutive_failures(Some(1))
///         .slow_call_duration(Some(Duration::from_secs(1)))
///         .half_open_max_calls(1)
///         .success_threshold(1)
///         .build()?,
///     clock.clone(),
/// )?;
///
/// // An outcome with a duration you measured: 2 s is a slow success.
/// breaker.try_acquire()?.record_with_duration(Outcome::Success, Duration::from_secs(2));
/// assert_eq!(breaker.metrics().slow, 1);
///
/// breaker.try_acquire()?.failure(); // trips (1 failure in a row)
/// clock.advance(breaker.config().open_timeout);
///
/// // The only probe slot: a permit dropped without an outcome (a panic, a
/// // cancelled future) gives it back and counts nothing.
/// let probe = breaker.try_acquire()?;
/// assert!(probe.is_probe());
/// assert!(breaker.try_acquire().is_err());
/// drop(probe);
/// let probe = breaker.try_acquire()?;
/// probe.success();
/// assert_eq!(breaker.state(), State::Closed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a permit must be given an outcome"]
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    raw: RawPermit,
    armed: bool,
}

impl<'a> Permit<'a> {
    pub(crate) fn new(breaker: &'a Breaker, raw: RawPermit) -> Self {
        Permit {
            breaker,
            raw,
            armed: true,
        }
    }

    /// The plain value inside.
    pub fn raw(&self) -> RawPermit {
        self.raw
    }

    /// Whether this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.raw.probe
    }

    /// Report an outcome; the duration is measured from the clock.
    #[inline(always)]
    pub fn record(mut self, outcome: Outcome) {
        self.armed = false;
        self.breaker.record_raw(self.raw, outcome, None);
    }

    /// Report an outcome with a duration measured by the caller.
    pub fn record_with_duration(mut self, outcome: Outcome, duration: Duration) {
        self.armed = false;
        let ns = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.breaker.record_raw(self.raw, outcome, Some(ns));
    }

    /// The call succeeded.
    #[inline(always)]
    pub fn success(self) {
        self.record(Outcome::Success)
    }

    /// The call failed.
    #[inline]
    pub fn failure(self) {
        self.record(Outcome::Failure)
    }

    /// The call ended in a way that says nothing about the dependency.
    pub fn ignore(self) {
        self.record(Outcome::Ignored)
    }
}

impl Drop for Permit<'_> {
    // Inline: after `record` it is one test of a flag the compiler knows is
    // false, so it vanishes from the closed path.
    #[inline]
    fn drop(&mut self) {
        if self.armed {
            self.breaker.release_raw(self.raw);
        }
    }
}
