//! Adaptive concurrency limits, in the style of Netflix's
//! [concurrency-limits](https://github.com/Netflix/concurrency-limits).
//!
//! A fixed bulkhead needs its limit chosen by hand; an adaptive one learns
//! it from the latency of the calls it admits, as TCP congestion control
//! learns a window. Little's law says a dependency that answers in `rtt`
//! with `limit` calls in flight serves `limit / rtt` calls per second; when
//! calls queue up inside the dependency, `rtt` grows while throughput does
//! not, and the limit should come down.
//!
//! [`AdaptiveLimit`] gathers the samples of finished calls (latency, calls
//! in flight when the call started, whether it was *dropped*: failed or
//! timed out) into windows, and at the end of each window feeds the window's
//! average latency, its largest in-flight count and its drop flag to one of
//! three algorithms. The formulas and defaults are Netflix's (file names
//! below are in `concurrency-limits-core/src/main/java/com/netflix/
//! concurrency/limits/limit/`):
//!
//! # Windows (`WindowedLimit.java`)
//!
//! A window lasts [`LimitConfig::window`] (default 1 s: Netflix's
//! `minWindowTime` = `maxWindowTime` = 1 s) and needs at least
//! [`LimitConfig::window_size`] samples (default 10); samples shorter than
//! [`LimitConfig::min_rtt`] (default 100 µs) are ignored. The window's latency
//! is the average of its samples (`ImmutableAverageSampleWindow`).
//! One difference: Netflix *discards* a window that has too few samples when
//! its time is up; we *extend* it until it has enough. A slow dependency
//! at low throughput (10 calls in flight, 10 s each: one sample a second) would
//! otherwise never move the limit.
//!
//! # AIMD (`AIMDLimit.java`), the simple one
//!
//! ```text
//! if dropped or rtt > timeout:   limit = max(min, min(limit − 1, ⌊limit × backoff_ratio⌋))
//! elif in_flight × 2 ≥ limit:    limit = min(max, limit + 1)
//! ```
//! Defaults: initial 10, `backoff_ratio` 0.9, `timeout` 5 s (Netflix); min 1,
//! max 200 (that version of `AIMDLimit` has no max; 200 is Gradient2's).
//!
//! # Vegas (`VegasLimit.java`), TCP Vegas
//!
//! `rtt_noload` is the smallest window latency seen; every
//! `probe_multiplier × limit × jitter` windows (jitter uniform in [0.5, 1))
//! it is reset to the current one, so a lasting change of baseline is
//! learnt. With `queue = ⌈limit × (1 − rtt_noload / rtt)⌉` and
//! `log(n) = max(1, ⌊log10 n⌋)` for n < 1000, `⌊√n⌋` above
//! (`Log10RootFunction`):
//! ```text
//! if dropped:                 new = limit − log(limit)
//! elif in_flight × 2 < limit: no change (app-limited)
//! elif queue ≤ log(limit):    new = limit + 6·log(limit)      (β: no queueing, grow fast)
//! elif queue < 3·log(limit):  new = limit + log(limit)        (α)
//! elif queue > 6·log(limit):  new = limit − log(limit)
//! else:                       no change
//! limit = (1 − smoothing) × limit + smoothing × clamp(new, min, max)
//! ```
//! Defaults: initial 20, min 1, max 1000, smoothing 1.0, `probe_multiplier` 30.
//!
//! # Gradient2 (`Gradient2Limit.java`), the recommended one
//!
//! `short` is this window's latency; `long` an exponential average of the
//! window latencies over `long_window` windows (factor 2 / (n + 1), a plain
//! mean for the first 10: `ExpAvgMeasurement(600, 10)`):
//! ```text
//! if long / short > 2:        long = long × 0.9     (recovering from a long overload)
//! if in_flight < limit / 2:   no change (app-limited)
//! gradient = clamp(long / short, 0.5, 1.0)
//! new      = gradient × limit + queue_size
//! limit    = clamp(limit × (1 − smoothing) + new × smoothing, min, max)
//! ```
//! Defaults: initial 20, min 20, max 200, smoothing 0.2, `queue_size` 4,
//! `long_window` 600.
//!
//! Under a latency step from 10 ms to 10 s, AIMD and Gradient2 both shrink
//! the limit by about 10 % a window (AIMD: × 0.9; Gradient2:
//! `0.9 × limit + 0.8` while the gradient is pinned at 0.5), and Vegas by
//! `log(limit)` (1 or 2) a window; `core/tests/bulkhead_adaptive.rs` runs
//! the three on a manual clock.
//!
//! # Concurrency
//!
//! Recording a sample is lock-free: two `fetch_add`s on the calling thread's
//! own cache-padded stripe, and a load of the window's end. The thread whose
//! sample finds the window over closes it: it takes the algorithm's state
//! with `try_lock` (a thread that fails goes on without waiting: someone else
//! is closing the window), swaps the stripes' sums out and computes the new
//! limit. A sample that races with the close may have its latency counted
//! in one window and its count in the next; each window's average is then
//! off by at most one sample per racing thread.
//!
//! # Files
//!
//! `config.rs` (the settings and Netflix's defaults), `estimator.rs` (the
//! three algorithms), this file (windows of samples, and the limit they
//! move), `loom.rs` (the models).

mod config;
mod estimator;
#[cfg(all(test, loom))]
mod loom;

pub use config::{Algorithm, LimitConfig, MAX_LIMIT};
pub use estimator::WindowSample;

use crate::engine::config::ConfigError;
use crate::sync::{
    AtomicU64, Mutex,
    Ordering::{Acquire, Relaxed, Release},
};
use crossbeam_utils::CachePadded;
use estimator::Estimator;
use std::fmt;

/// One stripe of sample sums.
#[derive(Default)]
struct Acc {
    count: AtomicU64,
    sum_ns: AtomicU64,
    max_in_flight: AtomicU64,
    drops: AtomicU64,
}

/// A concurrency limit that follows latency: feed it the samples of finished
/// calls with [`AdaptiveLimit::on_sample`] and read [`AdaptiveLimit::limit`].
/// A [`crate::bulkhead::Bulkhead`] built with a [`LimitConfig`] does both.
///
/// ```rust
/// use fusebox::{AdaptiveLimit, LimitConfig};
///
/// let limit = AdaptiveLimit::new(LimitConfig::aimd().limits(1, 10, 20))?;
/// const MS: u64 = 1_000_000;
/// let mut now = 1_000 * MS; // clock time, in ns
///
/// // A busy window (8 calls in flight: at least half the limit) of fast,
/// // successful calls: AIMD adds one.
/// for _ in 0..10 {
///     assert_eq!(limit.on_sample(now, 5 * MS, 8, false), None);
///     now += 10 * MS;
/// }
/// now += 1_000 * MS; // the window (1 s) is over: the next sample closes it
/// assert_eq!(limit.on_sample(now, 5 * MS, 8, false), Some(11));
///
/// // A window with drops (failures, timeouts): multiplicative decrease.
/// for _ in 0..10 {
///     limit.on_sample(now, 5 * MS, 8, true);
///     now += 10 * MS;
/// }
/// now += 1_000 * MS;
/// assert_eq!(limit.on_sample(now, 5 * MS, 8, true), Some(9)); // ⌊11 × 0.9⌋
/// assert_eq!((limit.limit(), limit.updates()), (9, 2));
///
/// // Bad settings name the field.
/// let err = AdaptiveLimit::new(LimitConfig::aimd().limits(0, 10, 20)).unwrap_err();
/// assert_eq!(err.field, "min_limit");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct AdaptiveLimit {
    config: LimitConfig,
    /// The current limit (an integer).
    limit: AtomicU64,
    /// End of the current window, clock ns; 0 before the first sample.
    window_end: AtomicU64,
    stripes: Box<[CachePadded<Acc>]>,
    estimator: Mutex<Estimator>,
    updates: AtomicU64,
}

impl fmt::Debug for AdaptiveLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimit")
            .field("algorithm", &self.config.algorithm.as_str())
            .field("limit", &self.limit())
            .field("updates", &self.updates())
            .finish()
    }
}

impl AdaptiveLimit {
    /// A limit starting at `config.initial_limit`.
    ///
    /// ```rust
    /// use fusebox::{AdaptiveLimit, LimitConfig};
    ///
    /// let l = AdaptiveLimit::new(LimitConfig::vegas().limits(1, 40, 100))?;
    /// assert_eq!((l.limit(), l.updates()), (40, 0));
    /// assert_eq!(AdaptiveLimit::new(LimitConfig::vegas().limits(1, 400, 100)).unwrap_err().field, "initial_limit");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn new(config: LimitConfig) -> Result<AdaptiveLimit, ConfigError> {
        config.validate()?;
        // Under loom: two stripes whatever the machine, so that a model's
        // size (and what it covers) does not depend on where it runs.
        let n = if cfg!(loom) {
            2
        } else {
            crate::engine::thread_slot::cores()
                .next_power_of_two()
                .clamp(1, 64)
        };
        Ok(AdaptiveLimit {
            limit: AtomicU64::new(u64::from(config.initial_limit)),
            window_end: AtomicU64::new(0),
            stripes: (0..n).map(|_| CachePadded::new(Acc::default())).collect(),
            estimator: Mutex::new(Estimator::new(&config)),
            updates: AtomicU64::new(0),
            config,
        })
    }

    /// Its settings.
    ///
    /// ```rust
    /// use fusebox::{AdaptiveLimit, LimitConfig};
    ///
    /// let l = AdaptiveLimit::new(LimitConfig::gradient2())?;
    /// assert_eq!(*l.config(), LimitConfig::gradient2());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn config(&self) -> &LimitConfig {
        &self.config
    }

    /// The current limit.
    ///
    /// ```rust
    /// use fusebox::{AdaptiveLimit, LimitConfig};
    ///
    /// let mut config = LimitConfig::aimd().limits(1, 10, 20);
    /// config.window_size = 1;
    /// let l = AdaptiveLimit::new(config)?;
    /// assert_eq!(l.limit(), 10);
    /// const S: u64 = 1_000_000_000;
    /// l.on_sample(S, S / 100, 10, false); // opens a window, until 2 s
    /// l.on_sample(2 * S, S / 100, 10, true); // a drop closes it: ⌊10 × 0.9⌋
    /// assert_eq!(l.limit(), 9);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn limit(&self) -> u32 {
        // Relaxed: a value, published nothing with it.
        self.limit.load(Relaxed) as u32
    }

    /// Windows closed so far (each one an update of the algorithm).
    ///
    /// ```rust
    /// use fusebox::{AdaptiveLimit, LimitConfig};
    ///
    /// let mut config = LimitConfig::gradient2();
    /// config.window_size = 1;
    /// let l = AdaptiveLimit::new(config)?;
    /// const S: u64 = 1_000_000_000;
    /// l.on_sample(S, S / 100, 20, false); // opens the first window
    /// assert_eq!(l.updates(), 0);
    /// // Closed, the limit unchanged (already at Gradient2's minimum, 20).
    /// assert_eq!(l.on_sample(2 * S, S / 100, 1, false), None);
    /// assert_eq!((l.updates(), l.limit()), (1, 20));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn updates(&self) -> u64 {
        self.updates.load(Relaxed)
    }

    /// Record a finished call: it took `rtt_ns`, `in_flight` calls were in
    /// flight when it started (itself included), and it was `dropped`
    /// (failed or timed out) or not. `now_ns` is the clock time. Returns the
    /// new limit when this sample closed a window and the limit changed.
    ///
    /// ```rust
    /// use fusebox::{AdaptiveLimit, LimitConfig};
    ///
    /// let l = AdaptiveLimit::new(LimitConfig::aimd().limits(1, 4, 8))?;
    /// const MS: u64 = 1_000_000;
    /// // Ten samples (the window's minimum), 4 calls in flight each time.
    /// for i in 0..10 {
    ///     assert_eq!(l.on_sample(i * MS, 20 * MS, 4, false), None);
    /// }
    /// // Faster than `min_rtt` (100 µs): not a sample.
    /// assert_eq!(l.on_sample(1_000 * MS, 10_000, 4, false), None);
    /// // One second on: this sample closes the window. Busy and healthy: + 1.
    /// assert_eq!(l.on_sample(1_000 * MS, 20 * MS, 4, false), Some(5));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn on_sample(
        &self,
        now_ns: u64,
        rtt_ns: u64,
        in_flight: u32,
        dropped: bool,
    ) -> Option<u32> {
        if rtt_ns < self.config.min_rtt.as_nanos() as u64 {
            return None;
        }
        let acc = &self.stripes[crate::engine::thread_slot::current() & (self.stripes.len() - 1)];
        // Relaxed throughout: sums, not synchronisation; the closing thread
        // swaps them out, and a sample racing with it lands in one window or
        // the next (see the module docs).
        acc.sum_ns.fetch_add(rtt_ns, Relaxed);
        acc.count.fetch_add(1, Relaxed);
        let inf = u64::from(in_flight);
        if inf > acc.max_in_flight.load(Relaxed) {
            acc.max_in_flight.fetch_max(inf, Relaxed);
        }
        if dropped {
            acc.drops.fetch_add(1, Relaxed);
        }
        let end = self.window_end.load(Relaxed);
        if end == 0 {
            let _ = self.window_end.compare_exchange(
                0,
                now_ns.saturating_add(self.window_ns()),
                Relaxed,
                Relaxed,
            );
            return None;
        }
        if now_ns < end {
            return None;
        }
        self.close_window(now_ns)
    }

    fn window_ns(&self) -> u64 {
        self.config.window.as_nanos() as u64
    }

    #[cold]
    fn close_window(&self, now_ns: u64) -> Option<u32> {
        // Never wait: whoever holds the estimator is closing this window.
        let mut est = self.estimator.try_lock().ok()?;
        // Acquire pairs with the Release store below: the previous closer's
        // swaps happened before our sums.
        if now_ns < self.window_end.load(Acquire) {
            return None; // closed while we took the lock
        }
        let count: u64 = self.stripes.iter().map(|s| s.count.load(Relaxed)).sum();
        if count < u64::from(self.config.window_size) {
            return None; // too few samples: the window goes on
        }
        let (mut count, mut sum, mut max_inf, mut drops) = (0u64, 0u64, 0u64, 0u64);
        for s in self.stripes.iter() {
            count += s.count.swap(0, Relaxed);
            sum = sum.saturating_add(s.sum_ns.swap(0, Relaxed));
            max_inf = max_inf.max(s.max_in_flight.swap(0, Relaxed));
            drops += s.drops.swap(0, Relaxed);
        }
        let sample = WindowSample {
            rtt_ns: sum as f64 / count.max(1) as f64,
            max_in_flight: max_inf.min(u64::from(u32::MAX)) as u32,
            dropped: drops != 0,
        };
        let before = self.limit();
        est.update(&self.config, sample);
        let after =
            (est.limit().floor() as u32).clamp(self.config.min_limit, self.config.max_limit);
        self.limit.store(u64::from(after), Relaxed);
        self.updates.fetch_add(1, Relaxed);
        self.window_end
            .store(now_ns.saturating_add(self.window_ns()), Release);
        (after != before).then_some(after)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_window_closes_on_time_with_enough_samples_and_is_extended_otherwise() {
        let mut cfg = LimitConfig::aimd().limits(1, 10, 100);
        cfg.window_size = 3;
        let l = AdaptiveLimit::new(cfg).unwrap();
        let ms = 1_000_000;
        assert_eq!(l.on_sample(0, 10 * ms, 10, false), None); // opens the window
        assert_eq!(l.on_sample(999 * ms, 10 * ms, 10, false), None);
        // Time is up but only 3 samples so far, counting this one: closes.
        assert_eq!(l.on_sample(1000 * ms, 10 * ms, 10, false), Some(11));
        assert_eq!(l.updates(), 1);
        // Next window: time is up at 2000 ms, but 2 samples: extended.
        assert_eq!(l.on_sample(1500 * ms, 10 * ms, 11, true), None);
        assert_eq!(l.on_sample(2500 * ms, 10 * ms, 11, false), None);
        assert_eq!(l.updates(), 1);
        // A drop in the window: min(11 − 1, ⌊11 × 0.9⌋) = 9.
        assert_eq!(l.on_sample(2600 * ms, 10 * ms, 11, false), Some(9));
        // Too fast to count.
        assert_eq!(l.on_sample(9000 * ms, 50_000, 11, true), None);
        assert_eq!(l.limit(), 9);
    }
}
