//! Live reconfiguration (`docs/semantics.md#live-reconfiguration`): new
//! thresholds, timeouts and limits take effect in place, keeping the
//! breaker's state, its window's counts and its lifetime counters.

use super::*;
use crate::engine::config::Unit;

/// What [`Breaker::reconfigure`] did.
///
/// ```rust
/// use fusebox::{Breaker, Config};
///
/// let breaker = Breaker::new(Config::default())?;
/// let done = breaker.reconfigure(Config { min_calls: 20, ..Config::default() })?;
/// assert_eq!(done.changed, ["min_calls"]);
/// assert!(!done.tripped);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconfigured {
    /// The settings that changed, by [`Config`] field name, in the order of
    /// its fields (empty when the new config equals the old).
    pub changed: Vec<&'static str>,
    /// Whether the window, judged at once under the new thresholds, tripped
    /// the breaker (Closed → Open).
    pub tripped: bool,
}

/// The names of the fields in which `a` and `b` differ.
fn diff(a: &Config, b: &Config) -> Vec<&'static str> {
    let fields: [(&'static str, bool); 13] = [
        (
            "failure_rate_threshold",
            a.failure_rate_threshold.to_bits() != b.failure_rate_threshold.to_bits(),
        ),
        (
            "consecutive_failures",
            a.consecutive_failures != b.consecutive_failures,
        ),
        ("min_calls", a.min_calls != b.min_calls),
        ("open_timeout", a.open_timeout != b.open_timeout),
        ("backoff", a.backoff != b.backoff),
        ("jitter", a.jitter.to_bits() != b.jitter.to_bits()),
        (
            "half_open_max_calls",
            a.half_open_max_calls != b.half_open_max_calls,
        ),
        (
            "success_threshold",
            a.success_threshold != b.success_threshold,
        ),
        (
            "half_open_max_wait",
            a.half_open_max_wait != b.half_open_max_wait,
        ),
        (
            "slow_call_duration",
            a.slow_call_duration != b.slow_call_duration,
        ),
        (
            "slow_call_rate_threshold",
            a.slow_call_rate_threshold.to_bits() != b.slow_call_rate_threshold.to_bits(),
        ),
        ("max_open_for", a.max_open_for != b.max_open_for),
        ("cancellation", a.cancellation != b.cancellation),
    ];
    fields.iter().filter(|(_, d)| *d).map(|(n, _)| *n).collect()
}

/// A window as a reconfiguration error quotes it, durations in `unit`.
fn describe(w: WindowConfig, unit: Unit) -> String {
    match w {
        WindowConfig::Time { duration, buckets } => {
            let d = unit.quote(duration);
            format!("time {d} in {buckets} buckets")
        }
        WindowConfig::Count { size } => format!("count {size}"),
    }
}

impl Breaker {
    /// Change the settings in place (`docs/semantics.md#live-reconfiguration`).
    ///
    /// `new` is validated as a new breaker's config is (the same
    /// [`ConfigError`]s, durations quoted in seconds; see
    /// [`Breaker::reconfigure_in`]), then every setting takes effect at once
    /// for the calls that follow; the state (an Open breaker's deadline
    /// included), the window's counts, a failure run and the lifetime
    /// counters are kept. The window's current counts are judged at once
    /// under the new thresholds, so a lowered threshold that the window
    /// already reaches trips the breaker now (see
    /// [`Reconfigured::tripped`]); an open period already running keeps its
    /// deadline (a new `open_timeout` applies from the next opening).
    ///
    /// The window's shape (its kind, length and bucket count, or its size)
    /// cannot change: the breaker's counters are laid out for it. Such a
    /// config is refused, with nothing changed, by an error on the field
    /// `window` (make a new breaker for another window). Nor can slow-call
    /// detection be turned on or off (field `slow_call_duration`; its
    /// duration can change): whether calls are timed is fixed for a
    /// breaker's life, so that admission stays one load. A shared-memory
    /// breaker ([`crate::shm`]) is refused too (field `breaker`): its
    /// settings live in the shared file, for every process.
    ///
    /// Concurrent calls see each setting switch on its own, old or new,
    /// never a torn value; two reconfigurations of one breaker are applied
    /// one after the other.
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, ManualClock, State, WindowConfig};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let config = Config::builder().min_calls(10).consecutive_failures(None).build()?;
    /// let breaker = Breaker::with_clock(config.clone(), clock)?;
    /// for _ in 0..4 {
    ///     breaker.try_acquire()?.failure();
    /// }
    /// assert_eq!(breaker.state(), State::Closed); // 4 calls < min_calls
    ///
    /// // Lower min_calls: the 4 failures in the window are kept and judged.
    /// let done = breaker.reconfigure(Config { min_calls: 4, ..config.clone() })?;
    /// assert_eq!(done.changed, ["min_calls"]);
    /// assert!(done.tripped);
    /// assert_eq!(breaker.state(), State::Open);
    ///
    /// // Another window shape is refused; nothing changes.
    /// let count = Config { window: WindowConfig::Count { size: 50 }, ..config };
    /// let err = breaker.reconfigure(count).unwrap_err();
    /// assert_eq!(err.field, "window");
    /// assert_eq!(breaker.config().min_calls, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reconfigure(&self, new: Config) -> Result<Reconfigured, ConfigError> {
        self.reconfigure_in(new, Unit::Seconds)
    }

    /// As [`Breaker::reconfigure`], a bad duration quoted in `unit` (the
    /// unit the caller's front end takes durations in).
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, Unit};
    /// use std::time::Duration;
    ///
    /// let breaker = Breaker::new(Config::default())?;
    /// let bad = Config { open_timeout: Duration::ZERO, ..Config::default() };
    /// let err = breaker.reconfigure_in(bad, Unit::Millis).unwrap_err();
    /// assert_eq!(err.to_string(), "invalid open_timeout: 0 (expected a duration in (0, 1 000 000 000] ms)");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn reconfigure_in(&self, new: Config, unit: Unit) -> Result<Reconfigured, ConfigError> {
        self.check_reconfigure_in(&new, unit)?;
        // One reconfiguration at a time: each is applied whole.
        let extras = self.extras();
        let _one = extras
            .reconfiguring
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let changed = diff(&self.config(), &new);
        if changed.is_empty() {
            return Ok(Reconfigured {
                changed,
                tripped: false,
            });
        }
        // The shape's settings are shared with the breakers made alike: the
        // first reconfiguration copies them into the breaker's own, which
        // this and later ones change in place (`breaker/shape.rs`).
        let own = extras
            .own
            .get_or_init(|| Box::new(super::live::LiveConfig::new(&self.config())));
        own.store(&new);
        // Release: the settings stored before the pointer to them
        // (`Breaker::live` loads it with Acquire); later stores are
        // Relaxed, as before, each setting old or new (`breaker/live.rs`).
        let own: *const super::live::LiveConfig = &**own;
        extras.live.store(own.cast_mut(), Release);
        let slow_ns = new
            .slow_call_duration
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.slow_ns.store(slow_ns, Relaxed);
        Ok(Reconfigured {
            changed,
            tripped: self.judge_now(),
        })
    }

    /// Whether [`Breaker::reconfigure_in`] would take `new`: valid, the
    /// same window, an in-process breaker.
    pub(crate) fn check_reconfigure_in(&self, new: &Config, unit: Unit) -> Result<(), ConfigError> {
        new.validate_in(unit)?;
        #[cfg(all(feature = "shm", unix, not(loom)))]
        if self.shared().is_some() {
            return Err(ConfigError {
                field: "breaker",
                value: format!("{:?}", self.name()),
                expected:
                    "an in-process breaker (a shared-memory breaker's settings live in its file)",
            });
        }
        if new.slow_call_duration.is_some() != (self.slow_ns.load(Relaxed) != 0) {
            return Err(ConfigError {
                field: "slow_call_duration",
                value: new
                    .slow_call_duration
                    .map_or_else(|| "None".into(), |d| unit.quote(d)),
                expected: "a duration if the breaker was made with one, else None (slow-call detection is on or off for a breaker's life)",
            });
        }
        if new.window != self.live().window() {
            return Err(ConfigError {
                field: "window",
                value: describe(new.window, unit),
                expected: "the breaker's own window (its kind, length and buckets, or size, are fixed when it is made)",
            });
        }
        Ok(())
    }

    /// Judge the current window and failure run under the settings now in
    /// force, as the next outcome would; `true` when that tripped it.
    fn judge_now(&self) -> bool {
        let w = self.word();
        if w.phase() != Phase::Closed {
            return false;
        }
        let run = Run::from_bits(self.ctl()[W_CONSEC].load(Relaxed));
        let by_run = self
            .live()
            .consecutive_failures()
            .is_some_and(|n| run.is_of(w.generation()) && run.length() >= u64::from(n));
        if by_run {
            self.trip(w, Why::ConsecutiveFailures);
        } else {
            self.evaluate(w, self.shape.clock.recent_ns());
        }
        let now = self.word();
        now.generation() != w.generation() && now.phase() == Phase::Open
    }
}
