//! How a retry waits: a real sleep, or a [`ManualClock`] moved forward.

use crate::engine::clock::ManualClock;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Waits out a back-off. [`ThreadSleeper`] sleeps; [`ManualSleeper`] moves
/// a [`ManualClock`] instead, for tests that never sleep.
///
/// ```rust
/// use fusebox::retry::Sleeper;
/// use std::sync::Mutex;
/// use std::time::Duration;
///
/// /// Records the waits instead of waiting.
/// #[derive(Debug, Default)]
/// struct Log(Mutex<Vec<Duration>>);
///
/// impl Sleeper for Log {
///     fn sleep(&self, d: Duration) {
///         self.0.lock().unwrap().push(d);
///     }
/// }
///
/// let log = Log::default();
/// log.sleep(Duration::from_millis(5));
/// assert_eq!(*log.0.lock().unwrap(), [Duration::from_millis(5)]);
/// ```
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// Wait `d`.
    fn sleep(&self, d: Duration);
}

/// `std::thread::sleep`.
///
/// ```rust
/// use fusebox::retry::{Sleeper, ThreadSleeper};
/// use std::time::Duration;
///
/// ThreadSleeper.sleep(Duration::ZERO); // returns at once
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, d: Duration) {
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }
}

/// Moves a [`ManualClock`] forward instead of sleeping.
///
/// ```rust
/// use fusebox::retry::{ManualSleeper, Sleeper};
/// use fusebox::{Clock, ManualClock};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let sleeper = ManualSleeper::new(clock.clone());
/// sleeper.sleep(Duration::from_secs(2));
/// assert_eq!(clock.now_ns(), 3_000_000_000);
/// ```
#[derive(Clone, Debug)]
pub struct ManualSleeper {
    clock: Arc<ManualClock>,
}

impl ManualSleeper {
    /// A sleeper that moves `clock` (example on [`ManualSleeper`]).
    pub fn new(clock: Arc<ManualClock>) -> Self {
        ManualSleeper { clock }
    }
}

impl Sleeper for ManualSleeper {
    fn sleep(&self, d: Duration) {
        self.clock.advance(d);
    }
}
