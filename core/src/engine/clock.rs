//! Time sources.
//!
//! The breaker reads time in two ways:
//!
//! * [`Clock::now_ns`], precise, used where a duration matters (slow-call
//!   detection, open and half-open deadlines);
//! * [`Clock::recent_ns`], cheap and up to about a millisecond behind, used on
//!   the closed path only to pick the window bucket an outcome falls into.
//!
//! A precise read costs ~17–30 ns on a 2-core x86_64 KVM virtual machine
//! (AMD EPYC, family 23 model 1) (`Instant::now()`
//! and `clock_gettime(CLOCK_MONOTONIC)` both go through the vDSO and a
//! paravirtual clock), more than the whole closed-path budget. The
//! [`MonotonicClock`] therefore keeps one process-wide "recent" timestamp that
//! a background thread refreshes every millisecond, so a recent read is one
//! relaxed atomic load. We do not use `quanta`'s recent clock for this: its
//! time base is a TSC calibration private to each process, while breakers that
//! live in shared memory (`docs/semantics.md#shared-memory`) need
//! `CLOCK_MONOTONIC`, which every process
//! on the host shares; and its upkeep thread does not survive `fork()`, which
//! pre-forking servers (gunicorn, Node cluster, C servers) do. Ours is
//! restarted lazily in the child (see `pthread_atfork` below).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonic time source, in nanoseconds from an arbitrary origin.
///
/// ```rust
/// use fusebox::{Breaker, Clock, Config};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// /// Time driven by a simulation, one tick a millisecond.
/// #[derive(Debug, Default)]
/// struct Ticks(AtomicU64);
///
/// impl Clock for Ticks {
///     fn now_ns(&self) -> u64 {
///         self.0.load(Ordering::Relaxed) * 1_000_000
///     }
/// }
///
/// let ticks = Arc::new(Ticks::default());
/// ticks.0.store(5, Ordering::Relaxed);
/// assert_eq!(ticks.recent_ns(), 5_000_000); // defaults to `now_ns`
/// let breaker = Breaker::with_clock(Config::default(), ticks)?;
/// assert!(breaker.try_acquire().is_ok());
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub trait Clock: Send + Sync + fmt::Debug {
    /// Precise monotonic time.
    fn now_ns(&self) -> u64;
    /// Cheap monotonic time, possibly a little behind [`Clock::now_ns`].
    fn recent_ns(&self) -> u64 {
        self.now_ns()
    }
}

/// `CLOCK_MONOTONIC`: valid across every process on the host.
///
/// ```rust
/// use fusebox::{Clock, MonotonicClock};
///
/// let clock = MonotonicClock;
/// let recent = clock.recent_ns(); // one atomic load, up to ~1 ms behind
/// let now = clock.now_ns();
/// assert!(recent <= now);
/// assert!(clock.now_ns() >= now); // never goes back
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        monotonic_ns()
    }
    #[inline]
    fn recent_ns(&self) -> u64 {
        recent::get()
    }
}

/// A clock moved by hand, for deterministic tests. Starts at 1 s (so that no
/// timestamp is ever zero) and only moves forward.
///
/// ```rust
/// use fusebox::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// assert_eq!(clock.now_ns(), 1_000_000_000); // starts at 1 s
/// clock.advance(Duration::from_millis(5));
/// clock.advance_ns(250);
/// assert_eq!(clock.now_ns(), 1_005_000_250);
/// assert_eq!(clock.recent_ns(), clock.now_ns()); // no lag
///
/// clock.advance_ns(u64::MAX); // saturates
/// assert_eq!(clock.now_ns(), u64::MAX);
/// ```
///
/// Shared through an `Arc`, it moves every breaker, limiter and histogram
/// built on it (see [`ClockSource`]).
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicU64,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A manual clock at its origin (example on [`ManualClock`]).
    pub fn new() -> Self {
        Self {
            now: AtomicU64::new(1_000_000_000),
        }
    }
    /// Move time forward.
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, ManualClock, State};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let breaker = Breaker::with_clock(Config::default(), clock.clone())?;
    /// for _ in 0..5 {
    ///     breaker.try_acquire()?.failure(); // trips: Open for 30 s
    /// }
    /// clock.advance(Duration::from_secs(29));
    /// assert!(breaker.try_acquire().is_err());
    /// clock.advance(Duration::from_secs(1)); // no sleeping in tests
    /// let probe = breaker.try_acquire()?;
    /// assert!(probe.is_probe());
    /// assert_eq!(breaker.state(), State::HalfOpen);
    /// # probe.success();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn advance(&self, by: Duration) {
        self.advance_ns(u64::try_from(by.as_nanos()).unwrap_or(u64::MAX));
    }
    /// Move time forward by `ns` nanoseconds (saturating; example on
    /// [`ManualClock`]).
    pub fn advance_ns(&self, ns: u64) {
        // Relaxed: the clock is a value, not a synchronisation point; tests
        // that share it across threads synchronise by joining.
        let _ = self
            .now
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(ns))
            });
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }
}

/// The clock a breaker holds: the system clock without a virtual call, or any
/// other clock behind an `Arc`.
///
/// ```rust
/// use fusebox::{ClockSource, ManualClock};
/// use std::{sync::Arc, time::Duration};
///
/// assert!(matches!(ClockSource::default(), ClockSource::Monotonic));
///
/// let manual = Arc::new(ManualClock::new());
/// let source = ClockSource::custom(manual.clone()); // or `manual.clone().into()`
/// manual.advance(Duration::from_secs(1));
/// assert_eq!(source.now_ns(), 2_000_000_000);
/// assert_eq!(source.recent_ns(), 2_000_000_000);
/// ```
#[derive(Clone, Debug, Default)]
pub enum ClockSource {
    /// [`MonotonicClock`].
    #[default]
    Monotonic,
    /// Any other clock, e.g. a shared [`ManualClock`].
    Custom(std::sync::Arc<dyn Clock>),
}

impl ClockSource {
    /// Wrap any clock.
    pub fn custom(c: std::sync::Arc<dyn Clock>) -> Self {
        ClockSource::Custom(c)
    }
    /// Precise time.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        match self {
            ClockSource::Monotonic => monotonic_ns(),
            ClockSource::Custom(c) => c.now_ns(),
        }
    }
    /// Cheap time.
    #[inline]
    pub fn recent_ns(&self) -> u64 {
        match self {
            ClockSource::Monotonic => recent::get(),
            ClockSource::Custom(c) => c.recent_ns(),
        }
    }
}

/// [`ClockSource::recent_ns`] of [`ClockSource::Monotonic`] when it is one
/// load: with the upkeep thread running. `None` otherwise (no upkeep thread
/// yet), and then nothing is called. For a caller that knows its clock is
/// the monotonic one (a custom clock's code could do anything).
#[inline(always)]
pub(crate) fn monotonic_recent_in_place() -> Option<u64> {
    recent::running()
}

impl<C: Clock + 'static> From<std::sync::Arc<C>> for ClockSource {
    fn from(c: std::sync::Arc<C>) -> Self {
        ClockSource::Custom(c)
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds.
#[cfg(unix)]
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always
    // supported on the unix targets we build for, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Monotonic nanoseconds since the first call (non-unix fallback).
#[cfg(not(unix))]
pub fn monotonic_ns() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let o = *ORIGIN.get_or_init(Instant::now);
    1_000_000_000 + o.elapsed().as_nanos() as u64
}

#[cfg(not(loom))]
mod recent {
    //! The process-wide recent timestamp and its upkeep thread.
    use super::monotonic_ns;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::Duration;

    /// Last time written by the upkeep thread; 0 when no thread runs.
    static NOW: AtomicU64 = AtomicU64::new(0);
    static STARTED: AtomicBool = AtomicBool::new(false);
    const TICK: Duration = Duration::from_millis(1);

    #[inline(always)]
    pub(super) fn get() -> u64 {
        // Relaxed: the value is a timestamp, nothing is published with it.
        let v = NOW.load(Ordering::Relaxed);
        if v != 0 {
            return v;
        }
        start();
        monotonic_ns()
    }

    /// The recent timestamp, if the upkeep thread is running; else `None`
    /// (nothing is started).
    #[inline(always)]
    pub(super) fn running() -> Option<u64> {
        // Relaxed: as in `get`.
        let v = NOW.load(Ordering::Relaxed);
        (v != 0).then_some(v)
    }

    #[cold]
    fn start() {
        if STARTED
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        #[cfg(unix)]
        {
            use std::sync::Once;
            static ATFORK: Once = Once::new();
            ATFORK.call_once(|| {
                // SAFETY: `after_fork_child` is an `extern "C" fn()` that only
                // stores to two static atomics, which is async-signal-safe.
                unsafe { libc::pthread_atfork(None, None, Some(after_fork_child)) };
            });
        }
        NOW.store(monotonic_ns(), Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("fusebox-clock".into())
            .spawn(|| loop {
                NOW.store(monotonic_ns(), Ordering::Relaxed);
                std::thread::sleep(TICK);
            });
        if spawned.is_err() {
            // No thread: every read falls back to the precise clock.
            NOW.store(0, Ordering::Relaxed);
        }
    }

    /// The upkeep thread does not exist in a forked child: forget it, so the
    /// child's first read starts a new one instead of seeing time stand still.
    #[cfg(unix)]
    extern "C" fn after_fork_child() {
        NOW.store(0, Ordering::Relaxed);
        STARTED.store(false, Ordering::Relaxed);
    }
}

#[cfg(loom)]
mod recent {
    pub(super) fn get() -> u64 {
        super::monotonic_ns()
    }

    pub(super) fn running() -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new();
        let t0 = c.now_ns();
        assert_eq!(c.now_ns(), t0);
        c.advance(Duration::from_millis(5));
        assert_eq!(c.now_ns(), t0 + 5_000_000);
        assert_eq!(c.recent_ns(), c.now_ns());
    }

    #[test]
    fn recent_clock_stays_close_to_precise() {
        let c = MonotonicClock;
        let a = c.recent_ns();
        let p = c.now_ns();
        assert!(a <= p, "recent time is never ahead of precise time");
        // The upkeep thread ticks every millisecond; allow for a loaded machine.
        assert!(p - a < 1_000_000_000, "recent lags by {} ns", p - a);
    }
}
