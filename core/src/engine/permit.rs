//! Permits: the right to make one call, and the way its outcome comes back.

use crate::engine::breaker::Breaker;
use std::time::Duration;

/// How a call ended. What counts as a failure is the caller's choice: by
/// default connection errors, timeouts and 5xx are failures, 4xx are
/// `Ignored` (neither success nor failure).
///
/// ```rust
/// use fusebox::{Breaker, Config, Outcome};
///
/// let breaker = Breaker::new(Config::default())?;
/// let by_status = |r: &Result<(), u16>| match r {
///     Ok(()) => Outcome::Success,
///     Err(s) if *s >= 500 => Outcome::Failure,
///     Err(_) => Outcome::Ignored, // 4xx: the caller's fault
/// };
/// for status in [404, 503] {
///     let _ = breaker.call_with(by_status, || Err(status));
/// }
/// let m = breaker.metrics();
/// assert_eq!((m.ignored, m.failures), (1, 1));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
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
/// breaker moved on is stale, counted in the lifetime totals but in no window
/// (`docs/semantics.md#generations-and-stale-outcomes`).
///
/// ```rust
/// use fusebox::{Breaker, Config, ManualClock, Outcome, RawPermit};
/// use std::sync::Arc;
///
/// let breaker = Breaker::with_clock(Config::default(), Arc::new(ManualClock::new()))?;
/// // A binding hands the plain value across and back.
/// let raw: RawPermit = breaker.acquire_raw()?;
/// assert_eq!((raw.generation, raw.probe), (breaker.generation(), false));
/// breaker.record_raw(raw, Outcome::Failure, None);
/// assert_eq!(breaker.metrics().failures, 1);
///
/// // An outcome from before the breaker moved on (here: a reset) is stale.
/// let stale = breaker.acquire_raw()?;
/// breaker.reset();
/// assert_ne!(stale.generation, breaker.generation());
/// breaker.record_raw(stale, Outcome::Failure, None);
/// let m = breaker.metrics();
/// assert_eq!((m.failures, m.window.failures), (2, 0)); // a total, in no window
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config};
    ///
    /// let breaker = Breaker::new(Config::default())?;
    /// let permit = breaker.try_acquire()?;
    /// let raw = permit.raw();
    /// assert_eq!(raw.generation, breaker.generation());
    /// assert_eq!(raw.probe, permit.is_probe());
    /// permit.success(); // the permit still owns the outcome
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn raw(&self) -> RawPermit {
        self.raw
    }

    /// Whether this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.raw.probe
    }

    /// Report an outcome; the duration is measured from the clock.
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, Outcome};
    ///
    /// let breaker = Breaker::new(Config::default())?;
    /// let permit = breaker.try_acquire()?;
    /// let status = 503; // what the call returned
    /// permit.record(if status >= 500 { Outcome::Failure } else { Outcome::Success });
    /// assert_eq!(breaker.metrics().failures, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config};
    ///
    /// let breaker = Breaker::new(Config::default())?;
    /// breaker.try_acquire()?.ignore(); // e.g. the caller cancelled it
    /// let m = breaker.metrics();
    /// assert_eq!((m.ignored, m.window.calls), (1, 0)); // in no rate
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
