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

use crate::engine::config::ConfigError;
use crate::sync::{
    AtomicU64, Mutex,
    Ordering::{Acquire, Relaxed, Release},
};
use crossbeam_utils::CachePadded;
use std::fmt;
use std::time::Duration;

/// The largest limit an [`AdaptiveLimit`] accepts (a bulkhead's word holds
/// 24 bits of it).
pub const MAX_LIMIT: u32 = (1 << 24) - 1;

/// Which algorithm moves the limit, with its own settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Algorithm {
    /// Additive increase, multiplicative decrease on drops or slow windows.
    Aimd {
        /// Multiplier on a drop, in [0.5, 1). Default 0.9.
        backoff_ratio: f64,
        /// A window latency above this counts as a drop. Default 5 s.
        timeout: Duration,
    },
    /// TCP Vegas: queueing estimated from the latency over the no-load latency.
    Vegas {
        /// Weight of the new estimate, in (0, 1]. Default 1.0.
        smoothing: f64,
        /// Windows between re-probes of the no-load latency, per unit of
        /// limit. Default 30.
        probe_multiplier: u32,
    },
    /// Netflix's Gradient2: short-term latency against a long-term average.
    Gradient2 {
        /// Weight of the new estimate, in (0, 1]. Default 0.2.
        smoothing: f64,
        /// Growth allowed per window while latency is flat. Default 4.
        queue_size: u32,
        /// Windows in the long-term average. Default 600.
        long_window: u32,
    },
}

impl Algorithm {
    /// The name: `aimd`, `vegas`, `gradient2`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Algorithm::Aimd { .. } => "aimd",
            Algorithm::Vegas { .. } => "vegas",
            Algorithm::Gradient2 { .. } => "gradient2",
        }
    }
}

/// Settings of an [`AdaptiveLimit`]. Start from [`LimitConfig::aimd`],
/// [`LimitConfig::vegas`] or [`LimitConfig::gradient2`] (Netflix's defaults)
/// and change fields as needed; [`LimitConfig::validate`] checks them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LimitConfig {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The limit before the first window closes.
    pub initial_limit: u32,
    /// The limit never goes below this (≥ 1).
    pub min_limit: u32,
    /// The limit never goes above this (≤ [`MAX_LIMIT`]).
    pub max_limit: u32,
    /// Shortest window. Default 1 s.
    pub window: Duration,
    /// Samples a window needs before it closes. Default 10.
    pub window_size: u32,
    /// Samples faster than this are ignored. Default 100 µs.
    pub min_rtt: Duration,
}

impl LimitConfig {
    fn with(algorithm: Algorithm, initial: u32, min: u32, max: u32) -> LimitConfig {
        LimitConfig {
            algorithm,
            initial_limit: initial,
            min_limit: min,
            max_limit: max,
            window: Duration::from_secs(1),
            window_size: 10,
            min_rtt: Duration::from_micros(100),
        }
    }

    /// AIMD with Netflix's defaults (initial 10, min 1, max 200, back-off
    /// 0.9, timeout 5 s).
    pub fn aimd() -> LimitConfig {
        LimitConfig::with(
            Algorithm::Aimd {
                backoff_ratio: 0.9,
                timeout: Duration::from_secs(5),
            },
            10,
            1,
            200,
        )
    }

    /// Vegas with Netflix's defaults (initial 20, min 1, max 1000,
    /// smoothing 1.0, probe multiplier 30).
    pub fn vegas() -> LimitConfig {
        LimitConfig::with(
            Algorithm::Vegas {
                smoothing: 1.0,
                probe_multiplier: 30,
            },
            20,
            1,
            1000,
        )
    }

    /// Gradient2 with Netflix's defaults (initial 20, min 20, max 200,
    /// smoothing 0.2, queue size 4, long window 600).
    pub fn gradient2() -> LimitConfig {
        LimitConfig::with(
            Algorithm::Gradient2 {
                smoothing: 0.2,
                queue_size: 4,
                long_window: 600,
            },
            20,
            20,
            200,
        )
    }

    /// The same, with the limit's bounds and starting point.
    pub fn limits(mut self, min: u32, initial: u32, max: u32) -> LimitConfig {
        self.min_limit = min;
        self.initial_limit = initial;
        self.max_limit = max;
        self
    }

    /// Check every field; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, value: String, expected| {
            Err(ConfigError {
                field,
                value,
                expected,
            })
        };
        if self.min_limit == 0 || self.min_limit > MAX_LIMIT {
            return err("min_limit", self.min_limit.to_string(), "1..=16 777 215");
        }
        if self.max_limit < self.min_limit || self.max_limit > MAX_LIMIT {
            return err(
                "max_limit",
                self.max_limit.to_string(),
                "min_limit..=16 777 215",
            );
        }
        if self.initial_limit < self.min_limit || self.initial_limit > self.max_limit {
            return err(
                "initial_limit",
                self.initial_limit.to_string(),
                "min_limit..=max_limit",
            );
        }
        if self.window < Duration::from_millis(1)
            || self.window > crate::engine::config::MAX_DURATION
        {
            return err(
                "window",
                format!("{:?}", self.window),
                "a duration in [1 ms, 1 000 000 s]",
            );
        }
        if self.window_size == 0 || self.window_size > 1_000_000 {
            return err("window_size", self.window_size.to_string(), "1..=1 000 000");
        }
        if self.min_rtt > crate::engine::config::MAX_DURATION {
            return err(
                "min_rtt",
                format!("{:?}", self.min_rtt),
                "a duration ≤ 1 000 000 s",
            );
        }
        let unit = |v: f64| v.is_finite() && v > 0.0 && v <= 1.0;
        match self.algorithm {
            Algorithm::Aimd {
                backoff_ratio,
                timeout,
            } => {
                if !(backoff_ratio.is_finite() && (0.5..1.0).contains(&backoff_ratio)) {
                    return err("backoff_ratio", format!("{backoff_ratio:?}"), "[0.5, 1)");
                }
                if timeout.is_zero() || timeout > crate::engine::config::MAX_DURATION {
                    return err(
                        "timeout",
                        format!("{timeout:?}"),
                        "a duration in (0, 1 000 000 s]",
                    );
                }
            }
            Algorithm::Vegas {
                smoothing,
                probe_multiplier,
            } => {
                if !unit(smoothing) {
                    return err("smoothing", format!("{smoothing:?}"), "(0, 1]");
                }
                if probe_multiplier == 0 {
                    return err("probe_multiplier", "0".into(), "≥ 1");
                }
            }
            Algorithm::Gradient2 {
                smoothing,
                queue_size,
                long_window,
            } => {
                if !unit(smoothing) {
                    return err("smoothing", format!("{smoothing:?}"), "(0, 1]");
                }
                if queue_size > MAX_LIMIT {
                    return err("queue_size", queue_size.to_string(), "0..=16 777 215");
                }
                if long_window == 0 {
                    return err("long_window", "0".into(), "≥ 1");
                }
            }
        }
        Ok(())
    }
}

/// Netflix's `Log10RootFunction`: `max(1, ⌊log10 n⌋)` below 1000, `⌊√n⌋` from
/// there on.
fn log10_root(n: f64) -> f64 {
    let n = n.max(0.0) as u64;
    if n < 1000 {
        ((n.max(1) as f64).log10().floor()).max(1.0)
    } else {
        (n as f64).sqrt().floor()
    }
}

/// What one closed window says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowSample {
    /// Average latency of the window's samples, ns.
    pub rtt_ns: f64,
    /// Largest in-flight count among the window's samples.
    pub max_in_flight: u32,
    /// Some call of the window was dropped (failed or timed out).
    pub dropped: bool,
}

/// The algorithm's state, touched only by the thread closing a window.
#[derive(Debug)]
struct Estimator {
    limit: f64,
    // Vegas.
    rtt_noload: f64,
    probe_count: u64,
    probe_jitter: f64,
    rng: u64,
    // Gradient2's long-term average (ExpAvgMeasurement).
    long: f64,
    long_sum: f64,
    long_count: u32,
}

impl Estimator {
    fn new(cfg: &LimitConfig) -> Estimator {
        let mut e = Estimator {
            limit: f64::from(cfg.initial_limit),
            rtt_noload: 0.0,
            probe_count: 0,
            probe_jitter: 1.0,
            // A fixed seed: the jitter only spreads the probes of one limit
            // over time, and a fixed seed keeps simulations reproducible.
            rng: 0x853c_49e6_748f_ea9b,
            long: 0.0,
            long_sum: 0.0,
            long_count: 0,
        };
        e.reset_probe_jitter();
        e
    }

    fn reset_probe_jitter(&mut self) {
        // splitmix64, uniform in [0.5, 1).
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        self.probe_jitter = 0.5 + 0.5 * ((z >> 11) as f64 / (1u64 << 53) as f64);
    }

    /// One window's update (see the module docs for the formulas).
    fn update(&mut self, cfg: &LimitConfig, s: WindowSample) {
        let (min, max) = (f64::from(cfg.min_limit), f64::from(cfg.max_limit));
        let in_flight = f64::from(s.max_in_flight);
        let rtt = s.rtt_ns.max(1.0);
        match cfg.algorithm {
            Algorithm::Aimd {
                backoff_ratio,
                timeout,
            } => {
                let cur = self.limit.floor();
                if s.dropped || rtt > timeout.as_nanos() as f64 {
                    self.limit = (cur - 1.0).min((cur * backoff_ratio).floor()).max(min);
                } else if in_flight * 2.0 >= cur {
                    self.limit = (cur + 1.0).min(max);
                }
            }
            Algorithm::Vegas {
                smoothing,
                probe_multiplier,
            } => {
                self.probe_count += 1;
                if self.probe_jitter * f64::from(probe_multiplier) * self.limit
                    <= self.probe_count as f64
                {
                    self.reset_probe_jitter();
                    self.probe_count = 0;
                    self.rtt_noload = rtt;
                    return;
                }
                if self.rtt_noload == 0.0 || rtt < self.rtt_noload {
                    self.rtt_noload = rtt;
                    return;
                }
                let l = self.limit;
                let queue = (l * (1.0 - self.rtt_noload / rtt)).ceil();
                let log = log10_root(l);
                let new = if s.dropped {
                    l - log
                } else if in_flight * 2.0 < l {
                    return;
                } else if queue <= log {
                    l + 6.0 * log
                } else if queue < 3.0 * log {
                    l + log
                } else if queue > 6.0 * log {
                    l - log
                } else {
                    return;
                };
                let new = new.clamp(min, max);
                self.limit = (1.0 - smoothing) * l + smoothing * new;
            }
            Algorithm::Gradient2 {
                smoothing,
                queue_size,
                long_window,
            } => {
                let short = rtt;
                if self.long_count < 10 {
                    self.long_count += 1;
                    self.long_sum += rtt;
                    self.long = self.long_sum / f64::from(self.long_count);
                } else {
                    let f = 2.0 / (f64::from(long_window) + 1.0);
                    self.long = self.long * (1.0 - f) + rtt * f;
                }
                if self.long / short > 2.0 {
                    self.long *= 0.9;
                }
                let l = self.limit;
                if in_flight < l / 2.0 {
                    return;
                }
                let gradient = (self.long / short).clamp(0.5, 1.0);
                let new = gradient * l + f64::from(queue_size);
                self.limit = (l * (1.0 - smoothing) + new * smoothing).clamp(min, max);
            }
        }
    }
}

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
    pub fn new(config: LimitConfig) -> Result<AdaptiveLimit, ConfigError> {
        config.validate()?;
        // Under loom: two stripes whatever the machine, so that a model's
        // size (and what it covers) does not depend on where it runs.
        let n = if cfg!(loom) {
            2
        } else {
            std::thread::available_parallelism()
                .map_or(4, |n| n.get())
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
    pub fn config(&self) -> &LimitConfig {
        &self.config
    }

    /// The current limit.
    pub fn limit(&self) -> u32 {
        // Relaxed: a value, published nothing with it.
        self.limit.load(Relaxed) as u32
    }

    /// Windows closed so far (each one an update of the algorithm).
    pub fn updates(&self) -> u64 {
        self.updates.load(Relaxed)
    }

    /// Record a finished call: it took `rtt_ns`, `in_flight` calls were in
    /// flight when it started (itself included), and it was `dropped`
    /// (failed or timed out) or not. `now_ns` is the clock time. Returns the
    /// new limit when this sample closed a window and the limit changed.
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
        let after = (est.limit.floor() as u32).clamp(self.config.min_limit, self.config.max_limit);
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

    fn window(rtt_ms: f64, in_flight: u32, dropped: bool) -> WindowSample {
        WindowSample {
            rtt_ns: rtt_ms * 1e6,
            max_in_flight: in_flight,
            dropped,
        }
    }

    #[test]
    fn log10_root_matches_netflix() {
        for (n, v) in [
            (0.0, 1.0),
            (5.0, 1.0),
            (99.0, 1.0),
            (100.0, 2.0),
            (999.0, 2.0),
            (1000.0, 31.0),
            (4096.0, 64.0),
        ] {
            assert_eq!(log10_root(n), v, "n = {n}");
        }
    }

    #[test]
    fn aimd_backs_off_on_drops_and_slow_windows_and_grows_when_busy() {
        let cfg = LimitConfig::aimd().limits(1, 100, 200);
        let mut e = Estimator::new(&cfg);
        e.update(&cfg, window(10.0, 100, true));
        assert_eq!(e.limit, 90.0);
        e.update(&cfg, window(6000.0, 90, false)); // above the 5 s timeout
        assert_eq!(e.limit, 81.0);
        e.update(&cfg, window(10.0, 81, false));
        assert_eq!(e.limit, 82.0);
        e.update(&cfg, window(10.0, 10, false)); // app-limited: no growth
        assert_eq!(e.limit, 82.0);
        let mut small = Estimator::new(&cfg);
        small.limit = 5.0;
        small.update(&cfg, window(10.0, 5, true)); // ⌊4.5⌋ = 4 = limit − 1
        assert_eq!(small.limit, 4.0);
    }

    #[test]
    fn vegas_learns_no_load_latency_then_grows_or_shrinks_with_queueing() {
        let cfg = LimitConfig::vegas().limits(1, 20, 1000);
        let mut e = Estimator::new(&cfg);
        e.update(&cfg, window(10.0, 20, false)); // first window: no-load RTT
        assert_eq!((e.limit, e.rtt_noload), (20.0, 10e6));
        e.update(&cfg, window(10.0, 20, false)); // queue 0 ≤ 1: + 6·log
        assert_eq!(e.limit, 26.0);
        e.update(&cfg, window(100.0, 26, false)); // queue ⌈26 × 0.9⌉ = 24 > 6
        assert_eq!(e.limit, 25.0);
        e.update(&cfg, window(10.0, 25, true)); // drop
        assert_eq!(e.limit, 24.0);
        e.update(&cfg, window(100.0, 5, false)); // app-limited
        assert_eq!(e.limit, 24.0);
    }

    #[test]
    fn gradient2_shrinks_on_latency_and_regrows_at_queue_size_per_window() {
        let cfg = LimitConfig::gradient2().limits(1, 100, 200);
        let mut e = Estimator::new(&cfg);
        for _ in 0..10 {
            e.update(&cfg, window(10.0, 100, false));
        }
        // Flat latency, busy: grows by smoothing × queue_size = 0.8 a window.
        assert!((e.limit - 108.0).abs() < 1e-9, "{}", e.limit);
        e.update(&cfg, window(10_000.0, 108, false));
        // gradient pinned at 0.5: 0.8 × 108 + 0.2 × (54 + 4)
        assert!((e.limit - 98.0).abs() < 1e-9, "{}", e.limit);
    }

    #[test]
    fn bad_settings_name_the_field() {
        let mut c = LimitConfig::gradient2();
        c.min_limit = 0;
        assert_eq!(c.validate().unwrap_err().field, "min_limit");
        let c = LimitConfig::aimd().limits(10, 5, 20);
        assert_eq!(c.validate().unwrap_err().field, "initial_limit");
        let c = LimitConfig::aimd().limits(10, 20, 5);
        assert_eq!(c.validate().unwrap_err().field, "max_limit");
        let mut c = LimitConfig::aimd();
        c.algorithm = Algorithm::Aimd {
            backoff_ratio: 1.0,
            timeout: Duration::from_secs(1),
        };
        assert_eq!(c.validate().unwrap_err().field, "backoff_ratio");
        let mut c = LimitConfig::vegas();
        c.window = Duration::ZERO;
        assert_eq!(c.validate().unwrap_err().field, "window");
        assert!(LimitConfig::vegas().validate().is_ok());
    }

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

#[cfg(all(test, loom))]
mod loom_tests {
    //! Window closes, and the limit word they move, under every
    //! interleaving: `RUSTFLAGS="--cfg loom" cargo test -p fusebox
    //! --release --lib loom`. (The fixed bulkhead's own protocol, a lowered
    //! `set_limit` included, is modelled in `bulkhead::loom_tests`.)
    use super::*;
    use crate::bulkhead::Bulkhead;
    use crate::engine::permit::Outcome;
    use crate::ManualClock;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    const MS: u64 = 1_000_000;

    /// `loom::model` with at most two preemptions unless
    /// `LOOM_MAX_PREEMPTIONS` says otherwise: unbounded, the waiters' model
    /// runs for many minutes.
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = b.preemption_bound.or(Some(2));
        b.check(f);
    }

    /// AIMD between `min` and `max`, in 1 ms windows of at least one
    /// sample, every sample counted.
    fn aimd(min: u32, initial: u32, max: u32) -> LimitConfig {
        let mut c = LimitConfig::aimd().limits(min, initial, max);
        c.window = Duration::from_millis(1);
        c.window_size = 1;
        c.min_rtt = Duration::ZERO;
        c
    }

    /// An adaptive bulkhead on a manual clock whose first window is open
    /// and over (one sample in it): the next sample closes it.
    fn bulkhead(config: LimitConfig, clock: &std::sync::Arc<ManualClock>) -> Arc<Bulkhead> {
        let b = Bulkhead::builder()
            .adaptive(config)
            .clock(clock.clone())
            .max_wait(Duration::from_secs(3600))
            .build()
            .unwrap();
        let p = b.try_acquire_raw().unwrap();
        b.record_raw(p, Outcome::Success); // opens the window
        clock.advance(Duration::from_millis(1));
        assert_eq!(b.adaptive().unwrap().updates(), 0);
        Arc::new(b)
    }

    #[test]
    fn loom_adaptive_limit_closes_each_window_once() {
        model(|| {
            let l = Arc::new(AdaptiveLimit::new(aimd(1, 3, 3)).unwrap());
            // The window is [0, 1 ms). Two drops find it over at once. One
            // closes it (3 -> 2); the other finds the estimator taken or the
            // window already closed, never closes it a second time (which
            // would make 1).
            assert_eq!(l.on_sample(0, MS, 3, false), None);
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let l = l.clone();
                    thread::spawn(move || l.on_sample(MS, MS, 3, true))
                })
                .collect();
            let got: Vec<Option<u32>> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!((l.updates(), l.limit()), (1, 2), "closes: {got:?}");
            let mut closers: Vec<_> = got.iter().flatten().collect();
            assert_eq!(closers.pop(), Some(&2), "closes: {got:?}");
            assert!(closers.is_empty(), "closes: {got:?}");
            // Every sample was taken by the close but, at most, the loser's
            // (counted after the swap): it opens the next window's count.
            let left: u64 = l.stripes.iter().map(|s| s.count.load(Relaxed)).sum();
            assert!(left <= 1, "{left} samples left over");
        });
    }

    #[test]
    fn loom_adaptive_bulkhead_limit_change_racing_calls_leaks_nothing() {
        model(|| {
            let clock = std::sync::Arc::new(ManualClock::new());
            let b = bulkhead(aimd(1, 2, 2), &clock);
            let p1 = b.try_acquire_raw().unwrap();
            let p2 = b.try_acquire_raw().unwrap();
            // A failure closes the window (a drop: 2 -> 1) and stores the new
            // limit into the word while another call leaves and a new one
            // tries to come in.
            let b1 = b.clone();
            let t = thread::spawn(move || b1.record_raw(p1, Outcome::Failure));
            b.release_raw(p2);
            let q = b.try_acquire_raw();
            t.join().unwrap();
            assert_eq!((b.limit(), b.adaptive().unwrap().updates()), (1, 1));
            if let Ok(q) = q {
                assert!(b.try_acquire_raw().is_err(), "two in flight, limit 1");
                b.release_raw(q);
            }
            // Nothing leaked: no call is still counted, and the one slot of
            // the new limit is there to take.
            assert_eq!((b.in_flight(), b.waiting()), (0, 0));
            let only = b.try_acquire_raw().expect("the one slot");
            assert!(b.try_acquire_raw().is_err());
            b.release_raw(only);
            assert_eq!(b.in_flight(), 0);
        });
    }

    #[test]
    fn loom_adaptive_bulkhead_raised_limit_wakes_the_waiters_it_makes_room_for() {
        // A waiter left asleep while there is room would keep the other one
        // spinning for good: loom reports it.
        model(|| {
            let clock = std::sync::Arc::new(ManualClock::new());
            let b = bulkhead(aimd(1, 1, 2), &clock);
            let held = b.try_acquire_raw().unwrap(); // full at limit 1
            let inside = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let (b, inside) = (b.clone(), inside.clone());
                    thread::spawn(move || {
                        let p = b.acquire_raw().expect("woken with a slot");
                        // Both in at once: the raise made room for two.
                        inside.fetch_add(1, Ordering::SeqCst);
                        while inside.load(Ordering::SeqCst) < 2 {
                            thread::yield_now();
                        }
                        b.release_raw(p);
                    })
                })
                .collect();
            while b.waiting() < 2 {
                thread::yield_now();
            }
            // A busy window (one in flight, limit 1): AIMD grows it to 2. The
            // raise wakes the waiters; the release alone would wake one.
            b.record_raw(held, Outcome::Success);
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!((b.limit(), b.in_flight(), b.waiting()), (2, 0, 0));
        });
    }
}
