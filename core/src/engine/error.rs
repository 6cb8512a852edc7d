//! Errors a call through the breaker can end in.

use std::fmt;
use std::time::Duration;

/// Why a call was not admitted.
///
/// ```rust
/// use fusebox::{Breaker, Config, RejectReason};
///
/// let breaker = Breaker::new(Config::default())?;
/// breaker.force_open(); // e.g. during maintenance
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert_eq!(rejected.reason, RejectReason::ForcedOpen);
/// assert_eq!(rejected.reason.as_str(), "forced_open"); // a metrics label
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The breaker is open.
    Open,
    /// Half-open, and every probe slot is taken.
    HalfOpenFull,
    /// Forced open by hand (until `reset()`).
    ForcedOpen,
}

impl RejectReason {
    /// `open`, `half_open_full`, `forced_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Open => "open",
            RejectReason::HalfOpenFull => "half_open_full",
            RejectReason::ForcedOpen => "forced_open",
        }
    }
}

/// A call rejected without touching the dependency.
///
/// ```rust
/// use fusebox::{Breaker, Config, ManualClock, RejectReason};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let breaker = Breaker::with_clock(Config::default(), clock.clone())?;
/// for _ in 0..5 {
///     breaker.try_acquire()?.failure(); // trips: Open for 30 s
/// }
/// clock.advance(Duration::from_secs(10));
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert_eq!(rejected.reason, RejectReason::Open);
/// assert_eq!(rejected.retry_after, Some(Duration::from_secs(20)));
/// assert_eq!(rejected.to_string(), "circuit open; retry after 20.000 s");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Why.
    pub reason: RejectReason,
    /// When a retry may be admitted: the rest of the open period. `None` when
    /// unknown (half-open probes in flight; forced open).
    pub retry_after: Option<Duration>,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.reason, self.retry_after) {
            (RejectReason::Open, Some(d)) => {
                write!(f, "circuit open; retry after {:.3} s", d.as_secs_f64())
            }
            (RejectReason::Open, None) => f.write_str("circuit open"),
            (RejectReason::HalfOpenFull, _) => {
                f.write_str("circuit half-open and all probe slots are taken")
            }
            (RejectReason::ForcedOpen, _) => f.write_str("circuit forced open"),
        }
    }
}

impl std::error::Error for Rejected {}

/// The result of [`crate::Breaker::call`] when it is not the call's own value.
#[derive(Debug, PartialEq, Eq)]
pub enum CallError<E> {
    /// The breaker rejected the call; the function did not run.
    Rejected(Rejected),
    /// The function ran and returned this error.
    Failed(E),
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(r) => r.fmt(f),
            CallError::Failed(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for CallError<E> {}

impl<E> CallError<E> {
    /// The rejection, if it was one.
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, RejectReason};
    ///
    /// let breaker = Breaker::new(Config::default())?;
    /// let failed = breaker.call(|| Err::<(), _>("timeout")).unwrap_err();
    /// assert!(failed.rejected().is_none()); // it ran, and failed
    ///
    /// breaker.force_open();
    /// let refused = breaker.call(|| Ok::<(), &str>(())).unwrap_err();
    /// assert_eq!(refused.rejected().map(|r| r.reason), Some(RejectReason::ForcedOpen));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn rejected(&self) -> Option<&Rejected> {
        match self {
            CallError::Rejected(r) => Some(r),
            CallError::Failed(_) => None,
        }
    }
}
