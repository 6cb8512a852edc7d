//! What breakers made alike share: the clock, the window's arithmetic and
//! layout, and the settings they were made with, in one [`Shape`] that
//! every breaker of the same config, clock and stripe count points to.
//!
//! A handle then holds only what is its own (its cells, name and state),
//! which is what makes 10^4 per-host breakers cost their state and not
//! 10^4 copies of one config. The shared settings are never stored to: a
//! breaker's first [`Breaker::reconfigure`](super::Breaker::reconfigure)
//! copies them into a [`LiveConfig`] of its own and points its handle there
//! (`breaker.rs`, `Breaker::live`), so reconfiguring one breaker never
//! changes another.

use super::live::LiveConfig;
use super::WindowKind;
use crate::engine::clock::ClockSource;
use crate::engine::config::{Config, WindowConfig};
use crate::engine::count_window::CountWindow;
use crate::engine::layout::Layout;
use crate::engine::window::TimeWindow;
use std::sync::Arc;

/// Fixed for a breaker's life, shared by the breakers made alike.
pub(super) struct Shape {
    /// The clock (read on every call: first).
    pub(super) clock: ClockSource,
    /// The time window's arithmetic (a count window's is a dummy).
    pub(super) time: TimeWindow,
    pub(super) layout: Layout,
    pub(super) window: WindowKind,
    /// The settings the breakers were made with; read, never stored to.
    pub(super) config: LiveConfig,
}

impl Shape {
    /// The shape of a breaker of `config` (validated) on `clock` with
    /// `layout`, made for it alone.
    pub(super) fn new(config: &Config, layout: Layout, clock: ClockSource) -> Shape {
        let window = match config.window {
            WindowConfig::Time { buckets, .. } => WindowKind::Time(TimeWindow {
                bucket_ns: config.bucket_ns(),
                buckets: u64::from(buckets),
            }),
            WindowConfig::Count { size } => WindowKind::Count(CountWindow {
                size: u64::from(size),
            }),
        };
        let time = match window {
            WindowKind::Time(tw) => tw,
            WindowKind::Count(_) => TimeWindow {
                bucket_ns: 1,
                buckets: 1,
            },
        };
        Shape {
            clock,
            time,
            layout,
            window,
            config: LiveConfig::new(config),
        }
    }

    /// The shape of an in-process breaker of `config` (validated) on
    /// `clock` with `stripes` stripes: the one a live breaker made alike
    /// already has, or a new one.
    ///
    /// Breakers are made off the call path, so a process-wide map behind a
    /// mutex serves; it holds weak references, and drops the dead ones as
    /// it grows, so shapes go with their last breaker.
    #[cfg(not(loom))]
    pub(super) fn shared(config: &Config, clock: ClockSource, stripes: usize) -> Arc<Shape> {
        use std::collections::HashMap;
        use std::sync::{Mutex, Weak};

        struct Map {
            shapes: HashMap<Key, Weak<Shape>>,
            /// Prune when the map reaches this many entries.
            prune_at: usize,
        }
        static MAP: Mutex<Option<Map>> = Mutex::new(None);

        let key = Key {
            config: config.clone(),
            clock: clock_id(&clock),
            stripes,
        };
        let mut guard = MAP.lock().unwrap_or_else(|e| e.into_inner());
        let map = guard.get_or_insert_with(|| Map {
            shapes: HashMap::new(),
            prune_at: 64,
        });
        if let Some(shape) = map.shapes.get(&key).and_then(Weak::upgrade) {
            return shape;
        }
        let shape = Arc::new(Shape::new(config, Layout::lazy(config, stripes), clock));
        map.shapes.insert(key, Arc::downgrade(&shape));
        if map.shapes.len() >= map.prune_at {
            map.shapes.retain(|_, s| s.strong_count() > 0);
            map.prune_at = (map.shapes.len() * 2).max(64);
        }
        shape
    }

    /// Under loom every breaker has a shape of its own (a static outlives
    /// the model's executions).
    #[cfg(loom)]
    pub(super) fn shared(config: &Config, clock: ClockSource, stripes: usize) -> Arc<Shape> {
        Arc::new(Shape::new(config, Layout::lazy(config, stripes), clock))
    }
}

/// A custom clock by the address of its object (the shape holds it, so
/// the address is not reused while the entry can be upgraded); the system
/// clock as 0.
#[cfg(not(loom))]
fn clock_id(clock: &ClockSource) -> usize {
    match clock {
        ClockSource::Monotonic => 0,
        ClockSource::Custom(c) => Arc::as_ptr(c).cast::<()>() as usize,
    }
}

/// What makes two shapes the same.
#[cfg(not(loom))]
#[derive(PartialEq)]
struct Key {
    config: Config,
    clock: usize,
    stripes: usize,
}

// Validated configs hold no NaN, so `PartialEq` is an equivalence.
#[cfg(not(loom))]
impl Eq for Key {}

#[cfg(not(loom))]
impl std::hash::Hash for Key {
    /// The integer and duration fields (equal keys hash alike; the ratios
    /// are left out so that 0.0 and -0.0 cannot hash apart).
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let c = &self.config;
        (
            self.clock,
            self.stripes,
            c.min_calls,
            c.consecutive_failures,
        )
            .hash(h);
        match c.window {
            WindowConfig::Time { duration, buckets } => (0u8, duration, buckets).hash(h),
            WindowConfig::Count { size } => (1u8, size).hash(h),
        }
        (c.open_timeout, c.half_open_max_calls, c.success_threshold).hash(h);
        (c.half_open_max_wait, c.slow_call_duration, c.max_open_for).hash(h);
        c.cancellation.hash(h);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::{Breaker, Config, ManualClock};
    use std::sync::Arc;

    fn min_calls(n: u32) -> Config {
        Config {
            min_calls: n,
            ..Config::default()
        }
    }

    #[test]
    fn breakers_made_alike_share_a_shape_and_reconfigure_alone() {
        let a = Breaker::new(min_calls(31)).unwrap();
        let b = Breaker::new(min_calls(31)).unwrap();
        assert!(Arc::ptr_eq(&a.shape, &b.shape), "one shape for both");
        let other = Breaker::new(min_calls(32)).unwrap();
        assert!(!Arc::ptr_eq(&a.shape, &other.shape), "another config");
        let clock = Arc::new(ManualClock::new());
        let on_clock = Breaker::with_clock(min_calls(31), clock.clone()).unwrap();
        assert!(!Arc::ptr_eq(&a.shape, &on_clock.shape), "another clock");
        let same_clock = Breaker::with_clock(min_calls(31), clock).unwrap();
        assert!(Arc::ptr_eq(&on_clock.shape, &same_clock.shape));

        // Reconfiguring one changes it alone, now and on later changes.
        a.reconfigure(min_calls(40)).unwrap();
        assert_eq!((a.config().min_calls, b.config().min_calls), (40, 31));
        a.reconfigure(min_calls(41)).unwrap();
        b.reconfigure(min_calls(50)).unwrap();
        assert_eq!((a.config().min_calls, b.config().min_calls), (41, 50));
        // A breaker made alike afterwards has the settings it was made with.
        let c = Breaker::new(min_calls(31)).unwrap();
        assert_eq!(c.config(), min_calls(31));
        assert!(Arc::ptr_eq(&a.shape, &c.shape));
    }

    #[test]
    fn a_shape_goes_with_its_last_breaker() {
        let config = min_calls(33);
        let weak = {
            let a = Breaker::new(config.clone()).unwrap();
            Arc::downgrade(&a.shape)
        };
        assert_eq!(weak.strong_count(), 0, "the map holds no strong reference");
        let b = Breaker::new(config).unwrap();
        assert_eq!(b.config().min_calls, 33);
    }
}
