//! Timeouts (`docs/semantics.md#adaptive-timeouts`): every outbound call
//! needs one.
//!
//! [`AdaptiveTimeout`] derives it from the latencies just seen: the P95 (or
//! another quantile) of a [`LatencyHistogram`] over the recent window, times
//! a multiplier, clamped to `[min, max]`. Until `min_samples` latencies are
//! in the window it answers a fixed starting value.
//!
//! The timeout is cached in one atomic word and recomputed at most once per
//! `refresh` period, by whichever caller first notices the period is over
//! (it wins a CAS; the others keep reading the cached value), so
//! [`AdaptiveTimeout::timeout`] costs two relaxed loads and a clock read.
//!
//! ```
//! use fusebox::timeout::AdaptiveTimeout;
//! use std::time::Duration;
//!
//! let t = AdaptiveTimeout::builder()
//!     .multiplier(2.0)
//!     .min(Duration::from_millis(50))
//!     .max(Duration::from_secs(5))
//!     .initial(Duration::from_secs(2))
//!     .build()?;
//! assert_eq!(t.timeout(), Duration::from_secs(2)); // no samples yet
//! t.record(Duration::from_millis(120));
//! # Ok::<(), fusebox::ConfigError>(())
//! ```

use crate::detect::histogram::{HistogramWindow, LatencyHistogram};
use crate::engine::clock::ClockSource;
use crate::engine::config::{ConfigError, MAX_DURATION};
use crate::sync::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The recommended fixed connect timeout (2 s).
pub const RECOMMENDED_CONNECT: Duration = Duration::from_secs(2);
/// The recommended fixed read timeout (5 s).
pub const RECOMMENDED_READ: Duration = Duration::from_secs(5);
/// The recommended fixed write timeout (5 s).
pub const RECOMMENDED_WRITE: Duration = Duration::from_secs(5);

/// Settings of an [`AdaptiveTimeout`].
///
/// ```rust
/// use fusebox::timeout::AdaptiveTimeoutConfig;
/// use std::time::Duration;
///
/// let config = AdaptiveTimeoutConfig::default();
/// assert_eq!((config.quantile, config.multiplier), (0.95, 2.0)); // 2 × P95
/// assert!(config.validate().is_ok());
///
/// let bad = AdaptiveTimeoutConfig { min: Duration::from_secs(10), ..config };
/// assert_eq!(bad.validate().unwrap_err().field, "min"); // above max (5 s)
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveTimeoutConfig {
    /// Which latency quantile to scale (default 0.95).
    pub quantile: f64,
    /// Factor applied to it (default 2.0).
    pub multiplier: f64,
    /// Lower clamp (default 10 ms).
    pub min: Duration,
    /// Upper clamp (default 5 s, the recommended read timeout).
    pub max: Duration,
    /// The timeout until `min_samples` latencies are in the window
    /// (default 5 s).
    pub initial: Duration,
    /// Samples needed before the quantile is trusted (default 100).
    pub min_samples: u64,
    /// How often the timeout is recomputed (default 1 s).
    pub refresh: Duration,
    /// The latency window (default 10 s in 10 slots).
    pub window: HistogramWindow,
}

impl Default for AdaptiveTimeoutConfig {
    fn default() -> Self {
        AdaptiveTimeoutConfig {
            quantile: 0.95,
            multiplier: 2.0,
            min: Duration::from_millis(10),
            max: RECOMMENDED_READ,
            initial: RECOMMENDED_READ,
            min_samples: 100,
            refresh: Duration::from_secs(1),
            window: HistogramWindow::default(),
        }
    }
}

fn bad(field: &'static str, value: impl std::fmt::Debug, expected: &'static str) -> ConfigError {
    ConfigError {
        field,
        value: format!("{value:?}"),
        expected,
    }
}

impl AdaptiveTimeoutConfig {
    /// Check every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.quantile > 0.0 && self.quantile <= 1.0) {
            return Err(bad("quantile", self.quantile, "a quantile in (0, 1]"));
        }
        if !(self.multiplier.is_finite() && self.multiplier > 0.0 && self.multiplier <= 1000.0) {
            return Err(bad("multiplier", self.multiplier, "a factor in (0, 1000]"));
        }
        for (field, d) in [
            ("min", self.min),
            ("max", self.max),
            ("initial", self.initial),
            ("refresh", self.refresh),
        ] {
            if d.is_zero() || d > MAX_DURATION {
                return Err(bad(field, d, "a duration in (0, 1 000 000 s]"));
            }
        }
        if self.min > self.max {
            return Err(bad("min", self.min, "min <= max"));
        }
        if self.initial < self.min || self.initial > self.max {
            return Err(bad("initial", self.initial, "a duration in [min, max]"));
        }
        if self.min_samples == 0 {
            return Err(bad("min_samples", self.min_samples, "at least 1"));
        }
        Ok(())
    }
}

/// Builds an [`AdaptiveTimeout`] (see [`AdaptiveTimeout`] for every
/// setter).
///
/// ```rust
/// use fusebox::AdaptiveTimeout;
/// use std::time::Duration;
///
/// let t = AdaptiveTimeout::builder()
///     .window(Duration::from_secs(60), 60) // a minute in 1 s slots
///     .build()?;
/// assert_eq!(t.config().window.duration, Duration::from_secs(60));
///
/// let err = AdaptiveTimeout::builder().multiplier(0.0).build().unwrap_err();
/// assert_eq!(err.field, "multiplier");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct AdaptiveTimeoutBuilder {
    config: AdaptiveTimeoutConfig,
    clock: ClockSource,
}

macro_rules! setter {
    ($name:ident, $t:ty, $doc:literal) => {
        #[doc = $doc]
        pub fn $name(mut self, v: $t) -> Self {
            self.config.$name = v;
            self
        }
    };
}

impl AdaptiveTimeoutBuilder {
    setter!(quantile, f64, "Which latency quantile to scale.");
    setter!(multiplier, f64, "Factor applied to the quantile.");
    setter!(min, Duration, "Lower clamp.");
    setter!(max, Duration, "Upper clamp.");
    setter!(initial, Duration, "Timeout until enough samples exist.");
    setter!(
        min_samples,
        u64,
        "Samples needed before the quantile is used."
    );
    setter!(refresh, Duration, "How often the timeout is recomputed.");

    /// The latency window: `duration` in `slots` slots.
    pub fn window(mut self, duration: Duration, slots: u32) -> Self {
        self.config.window = HistogramWindow {
            duration,
            slots,
            ..HistogramWindow::default()
        };
        self
    }

    /// The clock (default: the system's monotonic clock).
    pub fn clock(mut self, clock: impl Into<ClockSource>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Validate and build.
    pub fn build(self) -> Result<AdaptiveTimeout, ConfigError> {
        AdaptiveTimeout::with_config(self.config, self.clock)
    }
}

/// Timeout = quantile × multiplier, clamped, from a lock-free histogram.
///
/// ```rust
/// use fusebox::{AdaptiveTimeout, ManualClock};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let timeout = AdaptiveTimeout::builder()
///     .quantile(0.95)
///     .multiplier(2.0)
///     .min(Duration::from_millis(50))
///     .max(Duration::from_secs(5))
///     .initial(Duration::from_secs(2))
///     .min_samples(20)
///     .refresh(Duration::from_secs(1))
///     .clock(clock.clone())
///     .build()?;
/// assert_eq!(timeout.timeout(), Duration::from_secs(2)); // too few samples
///
/// for _ in 0..100 {
///     timeout.record(Duration::from_millis(100));
/// }
/// // Cached until the refresh period is over.
/// assert_eq!(timeout.timeout(), Duration::from_secs(2));
/// clock.advance(Duration::from_secs(1));
/// let t = timeout.timeout(); // P95 (100 ms, within 1.6 %) × 2
/// assert!(t > Duration::from_millis(196) && t < Duration::from_millis(204), "{t:?}");
///
/// let (p50, _, _) = timeout.percentiles().expect("samples in the window");
/// assert!(p50 > Duration::from_millis(98) && p50 < Duration::from_millis(102));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct AdaptiveTimeout {
    config: AdaptiveTimeoutConfig,
    histogram: LatencyHistogram,
    /// The cached timeout, in ns.
    current_ns: AtomicU64,
    /// Clock time from which the cached value is due for a refresh.
    due_ns: AtomicU64,
}

impl AdaptiveTimeout {
    /// A builder with the defaults.
    pub fn builder() -> AdaptiveTimeoutBuilder {
        AdaptiveTimeoutBuilder::default()
    }

    /// An adaptive timeout with `config`, on `clock`.
    ///
    /// ```rust
    /// use fusebox::timeout::{AdaptiveTimeout, AdaptiveTimeoutConfig};
    /// use fusebox::ManualClock;
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let config = AdaptiveTimeoutConfig {
    ///     initial: Duration::from_secs(1),
    ///     ..AdaptiveTimeoutConfig::default()
    /// };
    /// let t = AdaptiveTimeout::with_config(config, Arc::new(ManualClock::new()))?;
    /// assert_eq!(t.timeout(), Duration::from_secs(1));
    /// assert_eq!(t.config(), &config);
    ///
    /// let bad = AdaptiveTimeoutConfig { quantile: 1.5, ..config };
    /// let err = AdaptiveTimeout::with_config(bad, Arc::new(ManualClock::new())).unwrap_err();
    /// assert_eq!(err.field, "quantile");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn with_config(
        config: AdaptiveTimeoutConfig,
        clock: impl Into<ClockSource>,
    ) -> Result<AdaptiveTimeout, ConfigError> {
        config.validate()?;
        let histogram = LatencyHistogram::with_window(config.window, clock)?;
        Ok(AdaptiveTimeout {
            current_ns: AtomicU64::new(config.initial.as_nanos() as u64),
            due_ns: AtomicU64::new(0),
            config,
            histogram,
        })
    }

    /// Its settings.
    pub fn config(&self) -> &AdaptiveTimeoutConfig {
        &self.config
    }

    /// The latency histogram behind it.
    pub fn histogram(&self) -> &LatencyHistogram {
        &self.histogram
    }

    /// Record a call's latency (one atomic add, see [`LatencyHistogram`]).
    #[inline]
    pub fn record(&self, latency: Duration) {
        self.histogram.record(latency);
    }

    /// Record a latency in ns observed at clock time `now_ns`.
    ///
    /// ```rust
    /// use fusebox::{AdaptiveTimeout, Clock, ManualClock};
    /// use std::sync::Arc;
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let t = AdaptiveTimeout::builder().clock(clock.clone()).build()?;
    /// t.record_at(clock.now_ns(), 250_000_000); // 250 ms, ending now
    /// assert_eq!(t.histogram().snapshot().count(), 1);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn record_at(&self, now_ns: u64, latency_ns: u64) {
        self.histogram.record_at(now_ns, latency_ns);
    }

    /// The timeout to use for the next call.
    #[inline]
    pub fn timeout(&self) -> Duration {
        let now = self.histogram.clock().recent_ns();
        // Relaxed: both words are plain values; a thread that reads a
        // slightly old timeout just uses the previous period's value.
        let due = self.due_ns.load(Relaxed);
        if now >= due {
            let next = now.saturating_add(self.config.refresh.as_nanos() as u64);
            if self
                .due_ns
                .compare_exchange(due, next, Relaxed, Relaxed)
                .is_ok()
            {
                return self.refresh_at(now);
            }
        }
        Duration::from_nanos(self.current_ns.load(Relaxed))
    }

    /// Recompute the timeout now (whatever the refresh period says).
    ///
    /// ```rust
    /// use fusebox::{AdaptiveTimeout, ManualClock};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let t = AdaptiveTimeout::builder().min_samples(10).clock(clock).build()?;
    /// assert_eq!(t.timeout(), Duration::from_secs(5)); // the initial value
    /// for _ in 0..10 {
    ///     t.record(Duration::from_secs(1));
    /// }
    /// assert_eq!(t.timeout(), Duration::from_secs(5)); // cached for 1 s
    ///
    /// let fresh = t.refresh(); // 2 × P95 (1 s, within 1.6 %), at once
    /// assert!(fresh > Duration::from_millis(1960) && fresh < Duration::from_millis(2040));
    /// assert_eq!(t.timeout(), fresh);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn refresh(&self) -> Duration {
        self.refresh_at(self.histogram.clock().recent_ns())
    }

    fn refresh_at(&self, now: u64) -> Duration {
        let t = self.compute(now);
        self.current_ns.store(t.as_nanos() as u64, Relaxed);
        t
    }

    fn compute(&self, now: u64) -> Duration {
        let snap = self.histogram.snapshot_at(now);
        if snap.count() < self.config.min_samples {
            return self.config.initial;
        }
        let q = snap.quantile(self.config.quantile).unwrap_or(0) as f64;
        let t = Duration::from_secs_f64((q * self.config.multiplier / 1e9).min(1e9));
        t.clamp(self.config.min, self.config.max)
    }

    /// The window's P50, P95 and P99, `None` while it is empty.
    pub fn percentiles(&self) -> Option<(Duration, Duration, Duration)> {
        let (a, b, c) = self.histogram.snapshot().p50_p95_p99()?;
        Some((
            Duration::from_nanos(a),
            Duration::from_nanos(b),
            Duration::from_nanos(c),
        ))
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! The cached timeout's refresh election under every interleaving:
    //! `RUSTFLAGS="--cfg loom" cargo test -p fusebox --release --lib loom`.
    use super::*;
    use crate::{Clock, ManualClock};
    use loom::sync::Arc;
    use loom::thread;

    #[test]
    fn loom_timeout_one_caller_refreshes_per_period() {
        loom::model(|| {
            let clock = std::sync::Arc::new(ManualClock::new());
            let config = AdaptiveTimeoutConfig {
                quantile: 1.0,
                multiplier: 1000.0,
                min: Duration::from_nanos(1),
                max: Duration::from_secs(1),
                initial: Duration::from_secs(1),
                min_samples: 1,
                refresh: Duration::from_secs(1),
                // Under loom: 1 ns slots, and latencies of at most 7 ns.
                window: HistogramWindow {
                    duration: Duration::from_nanos(2),
                    slots: 2,
                    stripes: 1,
                },
            };
            let t = Arc::new(AdaptiveTimeout::with_config(config, clock.clone()).unwrap());
            let now = clock.now_ns();
            let initial = config.initial;
            t.record_at(now, 1); // a quantile of 1 ns: a timeout of 1 µs
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let t = t.clone();
                    thread::spawn(move || t.timeout())
                })
                .collect();
            // Moves the quantile to 6 ns while they look: two refreshes
            // would compute two different timeouts.
            t.record_at(now, 7);
            let got: Vec<Duration> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            // The period's one refresher returns what it computed; the other
            // caller returns the cached value, old or new.
            let fresh: Vec<Duration> = got.iter().copied().filter(|&d| d != initial).collect();
            assert!(!fresh.is_empty(), "nobody refreshed: {got:?}");
            assert!(
                fresh.iter().all(|&d| d == fresh[0]),
                "two refreshes: {got:?}"
            );
            assert_eq!(t.due_ns.load(Relaxed), now + 1_000_000_000);
            // Not due again: the cached value, the refresher's.
            assert_eq!(t.timeout(), fresh[0]);
        });
    }
}
