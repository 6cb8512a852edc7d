//! The three algorithms (see the module docs for their formulas): the
//! state that moves the limit, one closed window at a time.

use super::{Algorithm, LimitConfig};

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
pub(super) struct Estimator {
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
    pub(super) fn new(cfg: &LimitConfig) -> Estimator {
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

    /// The limit, unrounded.
    pub(super) fn limit(&self) -> f64 {
        self.limit
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
    pub(super) fn update(&mut self, cfg: &LimitConfig, s: WindowSample) {
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
}
