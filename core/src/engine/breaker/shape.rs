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
#[cfg(not(loom))]
use std::sync::{Mutex, Weak};

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
    /// Its entry in the map of shared shapes, removed when it goes.
    #[cfg(not(loom))]
    key: Option<Key>,
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
            #[cfg(not(loom))]
            key: None,
        }
    }

    /// The shape of an in-process breaker of `config` (validated) on
    /// `clock` with `stripes` stripes: the one a live breaker made alike
    /// already has, or a new one.
    ///
    /// Breakers are made off the call path, so a process-wide map behind a
    /// mutex serves. It holds weak references, and a shape removes its
    /// entry when it goes with its last breaker (`Drop`), so the map holds
    /// the live shapes alone and nothing once no breaker is left.
    #[cfg(not(loom))]
    pub(super) fn shared(config: &Config, clock: ClockSource, stripes: usize) -> Arc<Shape> {
        let key = Key {
            config: config.clone(),
            clock: clock_id(&clock),
            stripes,
        };
        let mut map = SHAPES.lock().unwrap_or_else(|e| e.into_inner());
        let (hash, at) = find(&map, &key);
        if let Some(shape) = at.and_then(|i| map[i].2.upgrade()) {
            return shape;
        }
        let mut shape = Shape::new(config, Layout::lazy(config, stripes), clock);
        shape.key = Some(key.clone());
        let shape = Arc::new(shape);
        match at {
            // A shape that went: this one takes its place.
            Some(i) => map[i].2 = Arc::downgrade(&shape),
            None => {
                let i = map.partition_point(|(h, ..)| *h < hash);
                map.insert(i, (hash, key, Arc::downgrade(&shape)));
            }
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

/// The live shared shapes (see [`Shape::shared`]), by their key's hash:
/// a sorted `Vec`, whose one buffer (released when the last shape goes) is
/// all the memory the map holds.
#[cfg(not(loom))]
static SHAPES: Mutex<Vec<(u64, Key, Weak<Shape>)>> = Mutex::new(Vec::new());

/// `key`'s hash, and its index in `map` if it has an entry.
#[cfg(not(loom))]
fn find(map: &[(u64, Key, Weak<Shape>)], key: &Key) -> (u64, Option<usize>) {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let hash = h.finish();
    let from = map.partition_point(|(h, ..)| *h < hash);
    let at = map[from..]
        .iter()
        .take_while(|(h, ..)| *h == hash)
        .position(|(_, k, _)| k == key)
        .map(|i| from + i);
    (hash, at)
}

#[cfg(not(loom))]
impl Drop for Shape {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let mut map = SHAPES.lock().unwrap_or_else(|e| e.into_inner());
        // Ours, unless a breaker made meanwhile found ours gone and put a
        // new shape in its place.
        if let (_, Some(i)) = find(&map, &key) {
            if map[i].2.strong_count() == 0 {
                map.remove(i);
            }
        }
        if map.is_empty() {
            *map = Vec::new();
        }
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
#[derive(Clone, PartialEq)]
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
    use super::*;
    use crate::{Breaker, ManualClock};

    /// Whether the map has an entry for `config` on the system clock.
    fn interned(config: &Config, stripes: usize) -> bool {
        let key = Key {
            config: config.clone(),
            clock: 0,
            stripes,
        };
        let map = SHAPES.lock().unwrap();
        find(&map, &key).1.is_some()
    }

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
        let stripes = Layout::default_lazy_stripes().next_power_of_two();
        let weak = {
            let a = Breaker::new(config.clone()).unwrap();
            assert!(interned(&config, stripes));
            Arc::downgrade(&a.shape)
        };
        assert_eq!(weak.strong_count(), 0, "the map holds no strong reference");
        assert!(!interned(&config, stripes), "its entry went with it");
        let b = Breaker::new(config).unwrap();
        assert_eq!(b.config().min_calls, 33);
    }
}
