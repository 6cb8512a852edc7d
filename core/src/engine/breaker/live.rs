//! The settings a breaker reads while it runs, one atomic each, so that
//! [`Breaker::reconfigure`] can change them in place through `&self`
//! (`breaker/reconfigure.rs`; `docs/semantics.md#live-reconfiguration`).
//!
//! Every value is read and written Relaxed: each setting is independent of
//! the breaker's other words (nothing is published through it), and a
//! Relaxed load is the plain load the field it replaces was (x86_64 and
//! AArch64 alike), so the hot path does not get slower. A reader racing a
//! reconfiguration sees, setting by setting, the old or the new value; the
//! combinations this can show are harmless (`docs/semantics.md`).
//!
//! The window (its kind, length and buckets, or size) is not here: it is
//! fixed for the breaker's life (the counters are laid out for it).

use crate::engine::config::{Backoff, Cancellation, Config, WindowConfig};
use crate::sync::Ordering::Relaxed;
use crate::sync::{AtomicU32, AtomicU64, AtomicU8};
use std::time::Duration;

/// `consecutive_failures: None`.
const OFF: u64 = u64::MAX;

/// The run-time settings of [`Config`], as atomics. Durations in ns
/// (validated configs keep them far below `u64::MAX`), ratios as `f64`
/// bits, `None` as a reserved value.
pub(super) struct LiveConfig {
    failure_rate_threshold: AtomicU64,
    /// Failures in a row, or [`OFF`].
    consecutive_failures: AtomicU64,
    min_calls: AtomicU32,
    open_timeout_ns: AtomicU64,
    /// Back-off multiplier bits; 0 (the bits of 0.0, never valid) when off.
    backoff_multiplier: AtomicU64,
    backoff_max_ns: AtomicU64,
    jitter: AtomicU64,
    half_open_max_calls: AtomicU32,
    success_threshold: AtomicU32,
    half_open_max_wait_ns: AtomicU64,
    slow_call_rate_threshold: AtomicU64,
    max_open_for_ns: AtomicU64,
    /// Index in [`Cancellation::ALL`].
    cancellation: AtomicU8,
    /// Fixed for the breaker's life.
    window: WindowConfig,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl LiveConfig {
    /// The settings of `c` (validated).
    pub(super) fn new(c: &Config) -> LiveConfig {
        let live = LiveConfig {
            failure_rate_threshold: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            min_calls: AtomicU32::new(0),
            open_timeout_ns: AtomicU64::new(0),
            backoff_multiplier: AtomicU64::new(0),
            backoff_max_ns: AtomicU64::new(0),
            jitter: AtomicU64::new(0),
            half_open_max_calls: AtomicU32::new(0),
            success_threshold: AtomicU32::new(0),
            half_open_max_wait_ns: AtomicU64::new(0),
            slow_call_rate_threshold: AtomicU64::new(0),
            max_open_for_ns: AtomicU64::new(0),
            cancellation: AtomicU8::new(0),
            window: c.window,
        };
        live.store(c);
        live
    }

    /// Every setting of `c` but the window, one by one. Probe limits are
    /// stored in the order that keeps `success_threshold ≤
    /// half_open_max_calls` for a reader on the same thread; other threads
    /// may see any mix (module docs).
    pub(super) fn store(&self, c: &Config) {
        self.failure_rate_threshold
            .store(c.failure_rate_threshold.to_bits(), Relaxed);
        self.consecutive_failures
            .store(c.consecutive_failures.map_or(OFF, u64::from), Relaxed);
        self.min_calls.store(c.min_calls, Relaxed);
        self.open_timeout_ns.store(ns(c.open_timeout), Relaxed);
        match c.backoff {
            Some(b) => {
                self.backoff_max_ns.store(ns(b.max), Relaxed);
                self.backoff_multiplier
                    .store(b.multiplier.to_bits(), Relaxed);
            }
            None => self.backoff_multiplier.store(0, Relaxed),
        }
        self.jitter.store(c.jitter.to_bits(), Relaxed);
        if c.success_threshold > self.success_threshold.load(Relaxed) {
            self.half_open_max_calls
                .store(c.half_open_max_calls, Relaxed);
            self.success_threshold.store(c.success_threshold, Relaxed);
        } else {
            self.success_threshold.store(c.success_threshold, Relaxed);
            self.half_open_max_calls
                .store(c.half_open_max_calls, Relaxed);
        }
        self.half_open_max_wait_ns
            .store(ns(c.half_open_max_wait), Relaxed);
        self.slow_call_rate_threshold
            .store(c.slow_call_rate_threshold.to_bits(), Relaxed);
        self.max_open_for_ns.store(ns(c.max_open_for), Relaxed);
        let code = Cancellation::ALL
            .iter()
            .position(|k| *k == c.cancellation)
            .unwrap_or(1) as u8;
        self.cancellation.store(code, Relaxed);
    }

    /// The settings now, as a [`Config`] (`slow` is the breaker's slow-call
    /// duration in ns, 0 when off, which it keeps beside its hot fields).
    pub(super) fn load(&self, slow_ns: u64) -> Config {
        Config {
            failure_rate_threshold: self.failure_rate_threshold(),
            consecutive_failures: self.consecutive_failures(),
            min_calls: self.min_calls(),
            window: self.window,
            open_timeout: self.open_timeout(),
            backoff: self.backoff(),
            jitter: self.jitter(),
            half_open_max_calls: self.half_open_max_calls(),
            success_threshold: self.success_threshold(),
            half_open_max_wait: self.half_open_max_wait(),
            slow_call_duration: (slow_ns != 0).then(|| Duration::from_nanos(slow_ns)),
            slow_call_rate_threshold: self.slow_call_rate_threshold(),
            max_open_for: self.max_open_for(),
            cancellation: self.cancellation(),
        }
    }

    pub(super) fn window(&self) -> WindowConfig {
        self.window
    }
    pub(super) fn failure_rate_threshold(&self) -> f64 {
        f64::from_bits(self.failure_rate_threshold.load(Relaxed))
    }
    pub(super) fn consecutive_failures(&self) -> Option<u32> {
        let v = self.consecutive_failures.load(Relaxed);
        (v != OFF).then_some(v as u32)
    }
    pub(super) fn min_calls(&self) -> u32 {
        self.min_calls.load(Relaxed)
    }
    pub(super) fn open_timeout(&self) -> Duration {
        Duration::from_nanos(self.open_timeout_ns.load(Relaxed))
    }
    pub(super) fn backoff(&self) -> Option<Backoff> {
        let m = self.backoff_multiplier.load(Relaxed);
        (m != 0).then(|| Backoff {
            multiplier: f64::from_bits(m),
            max: Duration::from_nanos(self.backoff_max_ns.load(Relaxed)),
        })
    }
    pub(super) fn jitter(&self) -> f64 {
        f64::from_bits(self.jitter.load(Relaxed))
    }
    pub(super) fn half_open_max_calls(&self) -> u32 {
        self.half_open_max_calls.load(Relaxed)
    }
    pub(super) fn success_threshold(&self) -> u32 {
        self.success_threshold.load(Relaxed)
    }
    pub(super) fn half_open_max_wait(&self) -> Duration {
        Duration::from_nanos(self.half_open_max_wait_ns.load(Relaxed))
    }
    pub(super) fn slow_call_rate_threshold(&self) -> f64 {
        f64::from_bits(self.slow_call_rate_threshold.load(Relaxed))
    }
    pub(super) fn max_open_for(&self) -> Duration {
        Duration::from_nanos(self.max_open_for_ns.load(Relaxed))
    }
    pub(super) fn cancellation(&self) -> Cancellation {
        Cancellation::ALL[usize::from(self.cancellation.load(Relaxed)).min(2)]
    }
}
