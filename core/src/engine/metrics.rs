//! A breaker's counters at one moment.

use crate::engine::state::{Phase, State};
use crate::engine::window::WindowCounts;

/// A snapshot of a breaker's counters. Totals never go backwards between
/// snapshots of the same breaker.
///
/// ```rust
/// use fusebox::{Breaker, Config, ManualClock, State};
/// use std::sync::Arc;
///
/// let db = Breaker::named("db", Config::default(), Arc::new(ManualClock::new()))?;
/// db.try_acquire()?.success();
/// db.try_acquire()?.failure();
/// db.try_acquire()?.ignore();
///
/// let m = db.metrics();
/// assert_eq!((m.name.as_str(), m.state), ("db", State::Closed));
/// assert_eq!((m.successes, m.failures, m.ignored), (1, 1, 1));
/// assert_eq!(m.calls(), 3);
/// assert_eq!(m.window.calls, 2); // ignored calls are in no rate
/// assert_eq!(m.failure_rate, 0.5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Metrics {
    /// The breaker's name.
    pub name: String,
    /// State.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser_state"))]
    pub state: State,
    /// Phase (state plus manual overrides).
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser_phase"))]
    pub phase: Phase,
    /// Generation.
    pub generation: u64,
    /// Successful calls, all time.
    pub successes: u64,
    /// Failed calls, all time.
    pub failures: u64,
    /// Ignored calls, all time.
    pub ignored: u64,
    /// Slow calls (successes and failures), all time.
    pub slow: u64,
    /// Rejected calls, all time.
    pub rejected: u64,
    /// State changes, all time.
    pub state_changes: u64,
    /// Failure rate in the current window.
    pub failure_rate: f64,
    /// Slow-call rate in the current window.
    pub slow_rate: f64,
    /// The current window's counts.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub window: WindowCounts,
}

impl Metrics {
    /// Calls that ran and reported an outcome: successes + failures + ignored
    /// (example on [`Metrics`]).
    pub fn calls(&self) -> u64 {
        self.successes + self.failures + self.ignored
    }
}

#[cfg(feature = "serde")]
fn ser_state<S: serde::Serializer>(s: &State, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_str())
}

#[cfg(feature = "serde")]
fn ser_phase<S: serde::Serializer>(p: &Phase, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(p.as_str())
}
