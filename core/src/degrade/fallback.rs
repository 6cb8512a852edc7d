//! Graceful degradation (`docs/semantics.md#fallbacks`): a fallback beats an
//! error.
//!
//! [`call_or_else`] runs a call through a breaker and, when the breaker
//! rejects it or the call fails, returns what the fallback makes of the
//! cause (cached data, a default, a generic answer) instead.
//!
//! The fallback path needs a limit of its own: when a popular dependency
//! fails, all its traffic moves to the fallback, and an unlimited fallback
//! that calls a backup service crushes it (the "degradation avalanche").
//! [`LimitedFallback`] runs the fallback only when its [`RateLimiter`]
//! admits it, and otherwise hands the original cause back.
//!
//! ```
//! use fusebox::{Breaker, Config};
//! use fusebox::fallback::{call_or_else, LimitedFallback};
//! use fusebox::limiter::RateLimiter;
//!
//! let breaker = Breaker::new(Config::default())?;
//! let price = call_or_else(
//!     &breaker,
//!     || -> Result<u32, &str> { Err("pricing service down") },
//!     |_cause| 100, // the cached price
//! );
//! assert_eq!(price, 100);
//!
//! // At most 50 fallbacks a second (bursts of 10) reach the backup service.
//! let backup = LimitedFallback::new(RateLimiter::new(50.0, 10)?);
//! let r = backup.call(&breaker, || -> Result<u32, &str> { Err("down") }, |_| 99);
//! assert_eq!(r.unwrap(), 99);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::degrade::limiter::{RateLimited, RateLimiter};
use crate::engine::error::CallError;
use crate::engine::permit::Outcome;
use crate::Breaker;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Run `f` through `breaker`; on rejection or failure return
/// `fallback(cause)` instead.
///
/// ```rust
/// use fusebox::{call_or_else, Breaker, CallError, Config};
///
/// let breaker = Breaker::new(Config::default())?;
/// breaker.force_open();
/// let price = call_or_else(
///     &breaker,
///     || -> Result<u32, &str> { Ok(120) },
///     |cause| {
///         assert!(matches!(cause, CallError::Rejected(_))); // `f` never ran
///         100 // the cached price
///     },
/// );
/// assert_eq!(price, 100);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub fn call_or_else<T, E>(
    breaker: &Breaker,
    f: impl FnOnce() -> Result<T, E>,
    fallback: impl FnOnce(CallError<E>) -> T,
) -> T {
    breaker.call(f).unwrap_or_else(fallback)
}

/// As [`call_or_else`], with `classify` deciding the outcome the breaker
/// counts (e.g. a 404 is `Ignored`). The fallback runs for every `Err`,
/// whatever its classification, and for rejections.
///
/// ```rust
/// use fusebox::fallback::call_with_or_else;
/// use fusebox::{Breaker, Config, Outcome};
///
/// let breaker = Breaker::new(Config::default())?;
/// let name = call_with_or_else(
///     &breaker,
///     |r: &Result<&str, u16>| match r {
///         Ok(_) => Outcome::Success,
///         Err(404) => Outcome::Ignored, // says nothing about the service
///         Err(_) => Outcome::Failure,
///     },
///     || Err(404),
///     |_cause| "anonymous",
/// );
/// assert_eq!(name, "anonymous"); // the fallback ran...
/// let m = breaker.metrics();
/// assert_eq!((m.ignored, m.failures), (1, 0)); // ...but no failure counted
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub fn call_with_or_else<T, E>(
    breaker: &Breaker,
    classify: impl FnOnce(&Result<T, E>) -> Outcome,
    f: impl FnOnce() -> Result<T, E>,
    fallback: impl FnOnce(CallError<E>) -> T,
) -> T {
    breaker.call_with(classify, f).unwrap_or_else(fallback)
}

/// Neither the call nor the fallback could serve the request: the fallback
/// was rate limited.
#[derive(Debug, PartialEq, Eq)]
pub struct Unserved<E> {
    /// Why the fallback was wanted.
    pub cause: CallError<E>,
    /// The limiter's refusal.
    pub limited: RateLimited,
}

impl<E: fmt::Display> fmt::Display for Unserved<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; fallback {}", self.cause, self.limited)
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for Unserved<E> {}

/// A fallback path guarded by a rate limiter.
///
/// ```rust
/// use fusebox::{Breaker, Config, LimitedFallback, ManualClock, RateLimiter};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let breaker = Breaker::with_clock(Config::default(), clock.clone())?;
/// // One fallback a second reaches the backup service.
/// let backup = LimitedFallback::new(RateLimiter::with_clock(1.0, 1, clock.clone())?);
/// assert_eq!(backup.limiter().burst(), 1);
///
/// let down = || -> Result<&str, &str> { Err("primary down") };
/// assert_eq!(backup.call(&breaker, down, |_| "from backup"), Ok("from backup"));
///
/// // The second fallback within the second is refused: the cause comes back.
/// let unserved = backup.call(&breaker, down, |_| "from backup").unwrap_err();
/// assert_eq!(unserved.cause.to_string(), "primary down");
/// assert_eq!(unserved.limited.retry_after, Duration::from_secs(1));
///
/// clock.advance(Duration::from_secs(1));
/// assert!(backup.call(&breaker, down, |_| "from backup").is_ok());
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct LimitedFallback {
    limiter: RateLimiter,
    served: AtomicU64,
    limited: AtomicU64,
}

/// Counters of a [`LimitedFallback`], from [`LimitedFallback::stats`].
///
/// ```rust
/// use fusebox::fallback::{FallbackStats, LimitedFallback};
/// use fusebox::{Breaker, Config, ManualClock, RateLimiter};
/// use std::sync::Arc;
///
/// let clock = Arc::new(ManualClock::new());
/// let breaker = Breaker::with_clock(Config::default(), clock.clone())?;
/// let backup = LimitedFallback::new(RateLimiter::with_clock(10.0, 2, clock)?);
/// for _ in 0..3 {
///     let _ = backup.call(&breaker, || Err::<u32, _>("down"), |_| 0);
/// }
/// // A burst of 2: two fallbacks ran, the third was refused.
/// assert_eq!(backup.stats(), FallbackStats { served: 2, limited: 1 });
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FallbackStats {
    /// Fallbacks run.
    pub served: u64,
    /// Fallbacks refused by the limiter.
    pub limited: u64,
}

impl LimitedFallback {
    /// A fallback path admitted by `limiter`.
    pub fn new(limiter: RateLimiter) -> LimitedFallback {
        LimitedFallback {
            limiter,
            served: AtomicU64::new(0),
            limited: AtomicU64::new(0),
        }
    }

    /// The limiter.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// Run `f` through `breaker`; on rejection or failure run `fallback`
    /// if the limiter admits it, or give the cause back.
    pub fn call<T, E>(
        &self,
        breaker: &Breaker,
        f: impl FnOnce() -> Result<T, E>,
        fallback: impl FnOnce(CallError<E>) -> T,
    ) -> Result<T, Unserved<E>> {
        match breaker.call(f) {
            Ok(v) => Ok(v),
            Err(cause) => self.run(cause, fallback),
        }
    }

    /// As [`LimitedFallback::call`], with `classify` deciding the outcome.
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, LimitedFallback, Outcome, RateLimiter};
    ///
    /// let breaker = Breaker::new(Config::default())?;
    /// let backup = LimitedFallback::new(RateLimiter::new(100.0, 10)?);
    /// let classify = |r: &Result<u32, u16>| match r {
    ///     Err(status) if *status < 500 => Outcome::Ignored, // a client error
    ///     Err(_) => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    /// };
    /// let r = backup.call_with(&breaker, classify, || Err(404), |_| 0);
    /// assert_eq!(r, Ok(0));
    /// assert_eq!(breaker.metrics().failures, 0);
    /// assert_eq!(backup.stats().served, 1);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn call_with<T, E>(
        &self,
        breaker: &Breaker,
        classify: impl FnOnce(&Result<T, E>) -> Outcome,
        f: impl FnOnce() -> Result<T, E>,
        fallback: impl FnOnce(CallError<E>) -> T,
    ) -> Result<T, Unserved<E>> {
        match breaker.call_with(classify, f) {
            Ok(v) => Ok(v),
            Err(cause) => self.run(cause, fallback),
        }
    }

    /// Run `fallback` for `cause` if the limiter admits it (for callers that
    /// drive the breaker themselves, e.g. with permits).
    ///
    /// ```rust
    /// use fusebox::{Breaker, CallError, Config, LimitedFallback, ManualClock, RateLimiter};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let breaker = Breaker::with_clock(Config::default(), clock.clone())?;
    /// let backup = LimitedFallback::new(RateLimiter::with_clock(1.0, 1, clock)?);
    /// breaker.force_open();
    ///
    /// let answer = || match breaker.try_acquire() {
    ///     Ok(permit) => {
    ///         permit.success();
    ///         Ok("fresh")
    ///     }
    ///     Err(rejected) => backup.run(CallError::<&str>::Rejected(rejected), |_| "cached"),
    /// };
    /// assert_eq!(answer(), Ok("cached"));
    /// let unserved = answer().unwrap_err(); // the limiter refused the second
    /// assert!(unserved.cause.rejected().is_some());
    /// assert_eq!(unserved.limited.retry_after, Duration::from_secs(1));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn run<T, E>(
        &self,
        cause: CallError<E>,
        fallback: impl FnOnce(CallError<E>) -> T,
    ) -> Result<T, Unserved<E>> {
        // Relaxed counters: statistics.
        match self.limiter.try_acquire() {
            Ok(()) => {
                self.served.fetch_add(1, Relaxed);
                Ok(fallback(cause))
            }
            Err(limited) => {
                self.limited.fetch_add(1, Relaxed);
                Err(Unserved { cause, limited })
            }
        }
    }

    /// How many fallbacks ran and how many were refused (example on
    /// [`FallbackStats`]).
    pub fn stats(&self) -> FallbackStats {
        FallbackStats {
            served: self.served.load(Relaxed),
            limited: self.limited.load(Relaxed),
        }
    }
}
