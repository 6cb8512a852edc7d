//! A lock-free rate limiter for degraded paths
//! (`docs/semantics.md#rate-limiter`).
//!
//! A fallback that is not limited moves the avalanche to the backup
//! service. [`RateLimiter`] is GCRA (the generic cell rate algorithm, as in
//! ATM networks and the `governor` crate): its whole state is one
//! `AtomicU64`, the *theoretical arrival time* (TAT) of the next call in
//! clock nanoseconds. With emission interval `T = 1 s / rate` and tolerance
//! `τ = T × (burst − 1)`, a call at time `t` is admitted when
//! `t ≥ TAT − τ`, and then moves TAT to `max(TAT, t) + T` with one CAS.
//!
//! Exact under concurrency: every admission is one successful CAS that
//! moves TAT forward by at least `T`, so however the threads interleave (and
//! even if their clock reads are out of order), the calls admitted between
//! `t0` and `t1` are at most `(t1 − t0) / T + burst ≤ rate × (t1 − t0) + burst`.
//! `T` is rounded *up* to whole nanoseconds so the bound holds after
//! rounding.
//!
//! # Why not `governor`
//!
//! We use governor's design (one atomic TAT, CAS loop) but not the crate:
//! the limiter must read the same [`ClockSource`] as the breakers (the
//! 1 ms recent clock on the hot path, a [`crate::ManualClock`] in tests and
//! scenarios), while governor's `Clock` trait wants its own `Instant` and
//! `Reference` types and, with default features, brings quanta,
//! dashmap, parking_lot, futures and rand for a 30-line algorithm.

use crate::engine::clock::ClockSource;
use crate::engine::config::ConfigError;
use crate::sync::{atomic_u64, AtomicU64, Ordering::Relaxed};
use std::fmt;
use std::time::Duration;

/// Largest accepted rate, per second (one call per nanosecond).
pub const MAX_RATE: f64 = 1e9;
/// Largest accepted burst.
pub const MAX_BURST: u32 = 1_000_000_000;

/// A call refused by a [`RateLimiter`].
///
/// ```rust
/// use fusebox::{ManualClock, RateLimited, RateLimiter};
/// use std::{sync::Arc, time::Duration};
///
/// let limiter = RateLimiter::with_clock(10.0, 1, Arc::new(ManualClock::new()))?;
/// limiter.try_acquire()?;
/// let limited: RateLimited = limiter.try_acquire().unwrap_err();
/// assert_eq!(limited.retry_after, Duration::from_millis(100));
/// assert_eq!(limited.to_string(), "rate limited; retry after 0.100 s");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimited {
    /// When a call could be admitted, if no other call takes the slot first.
    pub retry_after: Duration,
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate limited; retry after {:.3} s",
            self.retry_after.as_secs_f64()
        )
    }
}

impl std::error::Error for RateLimited {}

/// A GCRA rate limiter: `rate` calls per second on average, `burst` at once.
///
/// ```rust
/// use fusebox::{ManualClock, RateLimiter};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// // 10 calls a second, 3 at once: one call every 100 ms after the burst.
/// let limiter = RateLimiter::with_clock(10.0, 3, clock.clone())?;
/// assert_eq!(limiter.available(), 3);
/// for _ in 0..3 {
///     limiter.try_acquire()?;
/// }
/// let limited = limiter.try_acquire().unwrap_err();
/// assert_eq!(limited.retry_after, Duration::from_millis(100));
///
/// clock.advance(Duration::from_millis(100));
/// assert!(limiter.try_acquire().is_ok());
/// assert!(limiter.try_acquire().is_err());
///
/// assert_eq!(RateLimiter::new(0.0, 1).unwrap_err().field, "rate");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RateLimiter {
    /// Theoretical arrival time, clock ns. 0 before the first call.
    tat: AtomicU64,
    /// Emission interval T, ns.
    interval_ns: u64,
    /// Tolerance τ = T × (burst − 1), ns.
    tolerance_ns: u64,
    rate: f64,
    burst: u32,
    clock: ClockSource,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .finish()
    }
}

impl RateLimiter {
    /// `rate` calls per second, up to `burst` at once, on the system clock.
    ///
    /// ```rust
    /// use fusebox::RateLimiter;
    ///
    /// let limiter = RateLimiter::new(50.0, 10)?;
    /// assert_eq!((limiter.rate(), limiter.burst()), (50.0, 10));
    /// assert_eq!(limiter.interval_ns(), 20_000_000); // one call every 20 ms
    /// assert_eq!(limiter.available(), 10); // a full burst to start with
    ///
    /// let err = RateLimiter::new(50.0, 0).unwrap_err();
    /// assert_eq!(err.field, "burst");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn new(rate: f64, burst: u32) -> Result<RateLimiter, ConfigError> {
        RateLimiter::with_clock(rate, burst, ClockSource::Monotonic)
    }

    /// As [`RateLimiter::new`], on `clock` (example on [`RateLimiter`]).
    pub fn with_clock(
        rate: f64,
        burst: u32,
        clock: impl Into<ClockSource>,
    ) -> Result<RateLimiter, ConfigError> {
        if !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE) {
            return Err(ConfigError {
                field: "rate",
                value: format!("{rate:?}"),
                expected: "calls per second in (0, 1e9]",
            });
        }
        if burst == 0 || burst > MAX_BURST {
            return Err(ConfigError {
                field: "burst",
                value: burst.to_string(),
                expected: "1..=1 000 000 000 calls",
            });
        }
        let interval_ns = (1e9 / rate).ceil().max(1.0);
        // Keep TAT arithmetic far from overflow: T × burst below 2^62 ns
        // (about 146 years).
        if interval_ns * f64::from(burst) >= (1u64 << 62) as f64 {
            return Err(ConfigError {
                field: "rate",
                value: format!("{rate:?}"),
                expected: "a rate whose interval × burst is under 146 years",
            });
        }
        let interval_ns = interval_ns as u64;
        Ok(RateLimiter {
            tat: atomic_u64(0),
            interval_ns,
            tolerance_ns: interval_ns * u64::from(burst - 1),
            rate,
            burst,
            clock: clock.into(),
        })
    }

    /// The configured rate (calls per second).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The configured burst.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The emission interval T in ns (`1 s / rate`, rounded up).
    pub fn interval_ns(&self) -> u64 {
        self.interval_ns
    }

    /// Admit one call now, or say when to retry.
    #[inline]
    pub fn try_acquire(&self) -> Result<(), RateLimited> {
        self.try_acquire_at(self.clock.now_ns())
    }

    /// Admit one call at clock time `now_ns`.
    ///
    /// ```rust
    /// use fusebox::{Clock, ManualClock, RateLimiter};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let limiter = RateLimiter::with_clock(2.0, 1, clock.clone())?; // every 500 ms
    /// // A timestamp already read (e.g. when the request arrived):
    /// let t = clock.now_ns();
    /// assert!(limiter.try_acquire_at(t).is_ok());
    /// let limited = limiter.try_acquire_at(t + 100_000_000).unwrap_err();
    /// assert_eq!(limited.retry_after, Duration::from_millis(400));
    /// assert!(limiter.try_acquire_at(t + 500_000_000).is_ok());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn try_acquire_at(&self, now_ns: u64) -> Result<(), RateLimited> {
        // Relaxed throughout: the TAT is the limiter's only state and it
        // publishes nothing else; every admission is a successful CAS on it,
        // and CASes on one word are totally ordered (modification order),
        // which is all the bound needs.
        let mut tat = self.tat.load(Relaxed);
        loop {
            let earliest = tat.saturating_sub(self.tolerance_ns);
            if now_ns < earliest {
                return Err(RateLimited {
                    retry_after: Duration::from_nanos(earliest - now_ns),
                });
            }
            let next = tat.max(now_ns).saturating_add(self.interval_ns);
            match self.tat.compare_exchange_weak(tat, next, Relaxed, Relaxed) {
                Ok(_) => return Ok(()),
                Err(actual) => tat = actual,
            }
        }
    }

    /// Calls that could be admitted at once now (at most `burst`).
    pub fn available(&self) -> u32 {
        let now = self.clock.now_ns();
        let tat = self.tat.load(Relaxed).max(now);
        let room = (now + self.tolerance_ns + self.interval_ns).saturating_sub(tat);
        (room / self.interval_ns) as u32
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::ManualClock;
    use std::sync::Arc;

    #[test]
    fn burst_then_rate() {
        let clock = Arc::new(ManualClock::new());
        let l = RateLimiter::with_clock(10.0, 3, clock.clone()).unwrap();
        assert_eq!(l.available(), 3);
        for _ in 0..3 {
            assert!(l.try_acquire().is_ok());
        }
        let e = l.try_acquire().unwrap_err();
        assert_eq!(e.retry_after, Duration::from_millis(100));
        clock.advance(Duration::from_millis(99));
        assert!(l.try_acquire().is_err());
        clock.advance(Duration::from_millis(1));
        assert!(l.try_acquire().is_ok());
        assert!(l.try_acquire().is_err());
        // A long pause refills the burst, not more.
        clock.advance(Duration::from_secs(60));
        assert_eq!(l.available(), 3);
        assert_eq!((0..10).filter(|_| l.try_acquire().is_ok()).count(), 3);
    }

    #[test]
    fn bad_settings_name_the_argument() {
        assert_eq!(RateLimiter::new(0.0, 1).unwrap_err().field, "rate");
        assert_eq!(RateLimiter::new(f64::NAN, 1).unwrap_err().field, "rate");
        assert_eq!(RateLimiter::new(1.0, 0).unwrap_err().field, "burst");
        assert_eq!(RateLimiter::new(1e-12, 10).unwrap_err().field, "rate");
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! `RUSTFLAGS="--cfg loom" cargo test -p fusebox --release --lib loom`
    use super::*;
    use crate::ManualClock;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;

    #[test]
    fn loom_limiter_never_admits_more_than_the_burst() {
        loom::model(|| {
            let clock = std::sync::Arc::new(ManualClock::new());
            let l = Arc::new(RateLimiter::with_clock(1.0, 2, clock).unwrap());
            let admitted = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let (l, admitted) = (l.clone(), admitted.clone());
                    loom::thread::spawn(move || {
                        for _ in 0..2 {
                            if l.try_acquire_at(1_000).is_ok() {
                                admitted.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(admitted.load(Ordering::Relaxed), 2);
        });
    }
}
