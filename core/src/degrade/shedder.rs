//! Tiered load shedding (`docs/semantics.md#load-shedding`): a shop on its
//! busiest day (the "double-11" shopping festival) keeps its ordering flow.
//!
//! | load            | level      | core  | secondary | non-core |
//! |-----------------|------------|-------|-----------|----------|
//! | < 60 %          | `Normal`   | admit | admit     | admit    |
//! | 60 – 80 %       | `Elevated` | admit | admit     | shed     |
//! | 80 – 90 %       | `High`     | admit | degrade   | shed     |
//! | ≥ 90 %          | `Critical` | admit | shed      | shed     |
//!
//! (`degrade`: serve the cheap variant, e.g. cached inventory.) A threshold
//! is *reached*, not exceeded: a load of exactly 60 % is `Elevated`.
//!
//! The load signal is the caller's: [`Shedder::set_load`] (a ratio),
//! [`Shedder::set_in_flight`] (in-flight calls and capacity), or a callback
//! given to [`Shedder::with_signal`] that [`Shedder::refresh`] (or the
//! thread of [`Shedder::start_polling`]) polls off the hot path. Setting
//! the signal computes the level once; [`Shedder::admit`] is one relaxed
//! atomic load and a table lookup.

use crate::engine::config::ConfigError;
use crate::sync::unmodelled::AtomicBool;
use crate::sync::{AtomicU64, AtomicU8, Ordering::AcqRel, Ordering::Acquire, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How important a request is.
///
/// ```rust
/// use fusebox::{Decision, Priority, Shedder};
///
/// assert!(Priority::Core < Priority::NonCore); // most important first
/// assert_eq!(Priority::ALL.map(Priority::as_str), ["core", "secondary", "non_core"]);
///
/// let shedder = Shedder::new();
/// shedder.set_load(0.7); // non-core features off
/// let served: Vec<_> = Priority::ALL
///     .into_iter()
///     .filter(|p| shedder.admit(*p) == Decision::Admit)
///     .collect();
/// assert_eq!(served, [Priority::Core, Priority::Secondary]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// The flow that must survive (e.g. placing an order).
    Core,
    /// Useful features that may be degraded (e.g. live inventory).
    Secondary,
    /// Everything else (e.g. recommendations, reviews).
    NonCore,
}

impl Priority {
    /// All classes, most important first.
    pub const ALL: [Priority; 3] = [Priority::Core, Priority::Secondary, Priority::NonCore];

    /// `core`, `secondary`, `non_core`.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Core => "core",
            Priority::Secondary => "secondary",
            Priority::NonCore => "non_core",
        }
    }
}

/// How loaded the service is.
///
/// ```rust
/// use fusebox::{LoadLevel, Shedder};
///
/// let shedder = Shedder::new(); // thresholds 60 %, 80 %, 90 %
/// let levels = [0.3, 0.6, 0.85, 0.9].map(|load| shedder.level_for(load));
/// assert_eq!(levels, LoadLevel::ALL);
/// assert!(LoadLevel::High > LoadLevel::Elevated);
/// assert_eq!(LoadLevel::Critical.as_str(), "critical");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LoadLevel {
    /// Below the first threshold: serve everything.
    Normal = 0,
    /// First threshold reached: non-core features off.
    Elevated = 1,
    /// Second threshold reached: secondary features degraded.
    High = 2,
    /// Third threshold reached: core flow only.
    Critical = 3,
}

impl LoadLevel {
    /// All levels, lowest first.
    pub const ALL: [LoadLevel; 4] = [
        LoadLevel::Normal,
        LoadLevel::Elevated,
        LoadLevel::High,
        LoadLevel::Critical,
    ];

    fn from_u8(v: u8) -> LoadLevel {
        match v {
            0 => LoadLevel::Normal,
            1 => LoadLevel::Elevated,
            2 => LoadLevel::High,
            _ => LoadLevel::Critical,
        }
    }

    /// `normal`, `elevated`, `high`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadLevel::Normal => "normal",
            LoadLevel::Elevated => "elevated",
            LoadLevel::High => "high",
            LoadLevel::Critical => "critical",
        }
    }
}

/// What to do with a request: [`Shedder::admit`]'s answer.
///
/// ```rust
/// use fusebox::{Decision, Priority, Shedder};
///
/// let shedder = Shedder::new();
/// shedder.set_load(0.82);
/// let page = match shedder.admit(Priority::Secondary) {
///     Decision::Admit => "live inventory",
///     Decision::Degrade => "cached inventory",
///     Decision::Shed => "no inventory shown",
/// };
/// assert_eq!(page, "cached inventory");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Serve it in full.
    Admit,
    /// Serve the cheap variant (cache, default, generic answer).
    Degrade,
    /// Refuse it.
    Shed,
}

/// The double-11 table: what each level does to each class.
///
/// ```rust
/// use fusebox::shedder::policy;
/// use fusebox::{Decision, LoadLevel, Priority};
///
/// let row = |level| Priority::ALL.map(|p| policy(level, p));
/// use Decision::*;
/// assert_eq!(row(LoadLevel::Normal), [Admit, Admit, Admit]);
/// assert_eq!(row(LoadLevel::Elevated), [Admit, Admit, Shed]);
/// assert_eq!(row(LoadLevel::High), [Admit, Degrade, Shed]);
/// assert_eq!(row(LoadLevel::Critical), [Admit, Shed, Shed]);
/// ```
pub fn policy(level: LoadLevel, priority: Priority) -> Decision {
    use Decision::*;
    match (level, priority) {
        (_, Priority::Core) => Admit,
        (LoadLevel::Normal, _) => Admit,
        (LoadLevel::Elevated, Priority::Secondary) => Admit,
        (LoadLevel::High, Priority::Secondary) => Degrade,
        (LoadLevel::Critical, Priority::Secondary) => Shed,
        (_, Priority::NonCore) => Shed,
    }
}

/// A request refused by the shedder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shed {
    /// The level at the time.
    pub level: LoadLevel,
    /// The request's class.
    pub priority: Priority,
}

impl std::fmt::Display for Shed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} request shed at load level {}",
            self.priority.as_str(),
            self.level.as_str()
        )
    }
}

impl std::error::Error for Shed {}

type Signal = Box<dyn Fn() -> f64 + Send + Sync>;

/// Admits, degrades or sheds requests by load level and priority.
///
/// ```rust
/// use fusebox::{Decision, LoadLevel, Priority, Shedder};
///
/// let shedder = Shedder::new(); // thresholds 60 %, 80 %, 90 %
/// assert_eq!(shedder.admit(Priority::NonCore), Decision::Admit);
///
/// shedder.set_in_flight(85, 100); // 85 % of capacity
/// assert_eq!(shedder.level(), LoadLevel::High);
/// assert_eq!(shedder.admit(Priority::Core), Decision::Admit);
/// assert_eq!(shedder.admit(Priority::Secondary), Decision::Degrade);
/// assert_eq!(shedder.admit(Priority::NonCore), Decision::Shed);
///
/// // `serve` runs the full or the cheap variant, or refuses.
/// let stock = shedder.serve(Priority::Secondary, || "live stock", || "cached stock");
/// assert_eq!(stock, Ok("cached stock"));
/// let shed = shedder.serve(Priority::NonCore, || "reviews", || "reviews").unwrap_err();
/// assert_eq!((shed.level, shed.priority), (LoadLevel::High, Priority::NonCore));
///
/// // A signal polled by `refresh` (or a thread: `start_polling`).
/// let cpu = Shedder::with_signal([0.5, 0.7, 0.9], || 0.95)?;
/// assert_eq!(cpu.refresh(), LoadLevel::Critical);
/// assert_eq!(cpu.admit(Priority::Secondary), Decision::Shed);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct Shedder {
    /// Ratios at which `Elevated`, `High`, `Critical` begin.
    thresholds: [f64; 3],
    level: AtomicU8,
    /// The last load, as f64 bits.
    load: AtomicU64,
    signal: Option<Signal>,
}

impl std::fmt::Debug for Shedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shedder")
            .field("thresholds", &self.thresholds)
            .field("level", &self.level())
            .field("load", &self.load())
            .finish()
    }
}

impl Default for Shedder {
    fn default() -> Self {
        Shedder::new()
    }
}

/// The default thresholds: 60 %, 80 %, 90 %.
pub const DEFAULT_THRESHOLDS: [f64; 3] = [0.6, 0.8, 0.9];

impl Shedder {
    /// A shedder with the default thresholds, at load 0.
    pub fn new() -> Shedder {
        Shedder::with_thresholds(DEFAULT_THRESHOLDS).expect("defaults are valid")
    }

    /// A shedder whose levels begin at `thresholds`: three increasing,
    /// positive load ratios (above 1.0 is allowed, for a soft capacity).
    ///
    /// ```rust
    /// use fusebox::{LoadLevel, Shedder};
    ///
    /// // A soft capacity: shed only past 100 % and 150 % of it.
    /// let shedder = Shedder::with_thresholds([0.8, 1.0, 1.5])?;
    /// assert_eq!(shedder.thresholds(), [0.8, 1.0, 1.5]);
    /// shedder.set_in_flight(120, 100);
    /// assert_eq!(shedder.level(), LoadLevel::High);
    ///
    /// let err = Shedder::with_thresholds([0.9, 0.8, 0.95]).unwrap_err();
    /// assert_eq!(err.field, "thresholds"); // not increasing
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn with_thresholds(thresholds: [f64; 3]) -> Result<Shedder, ConfigError> {
        let ok = thresholds.iter().all(|t| t.is_finite() && *t > 0.0)
            && thresholds[0] < thresholds[1]
            && thresholds[1] < thresholds[2];
        if !ok {
            return Err(ConfigError {
                field: "thresholds",
                value: format!("{thresholds:?}"),
                expected: "three increasing positive load ratios, e.g. [0.6, 0.8, 0.9]",
            });
        }
        Ok(Shedder {
            thresholds,
            level: AtomicU8::new(0),
            load: AtomicU64::new(0f64.to_bits()),
            signal: None,
        })
    }

    /// A shedder that reads its load from `signal` (a ratio, 1.0 = full)
    /// whenever [`Shedder::refresh`] runs.
    pub fn with_signal(
        thresholds: [f64; 3],
        signal: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> Result<Shedder, ConfigError> {
        let mut s = Shedder::with_thresholds(thresholds)?;
        s.signal = Some(Box::new(signal));
        Ok(s)
    }

    /// The thresholds.
    pub fn thresholds(&self) -> [f64; 3] {
        self.thresholds
    }

    /// The level a load ratio falls in.
    pub fn level_for(&self, load: f64) -> LoadLevel {
        if load.is_nan() {
            // An unreadable signal: assume the worst.
            return LoadLevel::Critical;
        }
        let n = self.thresholds.iter().filter(|t| load >= **t).count();
        LoadLevel::from_u8(n as u8)
    }

    /// Set the load (in-flight / capacity, CPU, ...; 1.0 = full).
    ///
    /// ```rust
    /// use fusebox::{LoadLevel, Shedder};
    ///
    /// let shedder = Shedder::new();
    /// shedder.set_load(0.6); // a threshold is reached, not exceeded
    /// assert_eq!((shedder.level(), shedder.load()), (LoadLevel::Elevated, 0.6));
    /// shedder.set_load(f64::NAN); // an unreadable signal: assume the worst
    /// assert_eq!(shedder.level(), LoadLevel::Critical);
    /// ```
    pub fn set_load(&self, load: f64) {
        // The level is a function of the load; a reader may briefly pair a
        // new level with the old load (which only `load()` reports). Two
        // racing updates could leave one's level with the other's load, so
        // each updater stores the level of the load it last read, and
        // confirms with a CAS that the load is still that one, else stores
        // again. Every write of the load is a read-modify-write (AcqRel), so
        // an updater whose load comes later in the word's order sees every
        // level stored before it: the update whose CAS comes last stores
        // the last level, that of the last load. (This cold path only;
        // readers of the level stay Relaxed.)
        let mut bits = load.to_bits();
        self.load.swap(bits, AcqRel);
        loop {
            self.level
                .store(self.level_for(f64::from_bits(bits)) as u8, Relaxed);
            match self.load.compare_exchange(bits, bits, AcqRel, Acquire) {
                Ok(_) => return,
                Err(now) => bits = now,
            }
        }
    }

    /// Set the load as `in_flight / capacity` (capacity 0 counts as full).
    ///
    /// ```rust
    /// use fusebox::{LoadLevel, Shedder};
    ///
    /// let shedder = Shedder::new();
    /// shedder.set_in_flight(30, 50);
    /// assert_eq!((shedder.load(), shedder.level()), (0.6, LoadLevel::Elevated));
    /// shedder.set_in_flight(0, 0);
    /// assert_eq!(shedder.level(), LoadLevel::Critical);
    /// ```
    pub fn set_in_flight(&self, in_flight: u64, capacity: u64) {
        let load = if capacity == 0 {
            f64::INFINITY
        } else {
            in_flight as f64 / capacity as f64
        };
        self.set_load(load);
    }

    /// Poll the signal given to [`Shedder::with_signal`] (a panicking
    /// signal leaves the level as it was). Returns the level.
    pub fn refresh(&self) -> LoadLevel {
        if let Some(sig) = &self.signal {
            if let Ok(load) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(sig)) {
                self.set_load(load);
            }
        }
        self.level()
    }

    /// Poll the signal every `every` on a background thread, until the
    /// returned handle is dropped or the shedder is.
    ///
    /// ```rust
    /// use fusebox::{LoadLevel, Shedder};
    /// use std::{sync::mpsc, sync::Arc, time::Duration};
    ///
    /// let (polled, polls) = mpsc::channel();
    /// let shedder = Arc::new(Shedder::with_signal([0.6, 0.8, 0.9], move || {
    ///     let _ = polled.send(());
    ///     0.95 // e.g. the CPU use
    /// })?);
    /// let poller = shedder.start_polling(Duration::from_millis(1))?;
    /// // The poller sets the level from a poll before it polls again.
    /// polls.recv()?;
    /// polls.recv()?;
    /// assert_eq!(shedder.level(), LoadLevel::Critical);
    /// drop(poller); // stops the thread
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_polling(self: &Arc<Self>, every: Duration) -> std::io::Result<Poller> {
        let weak: Weak<Shedder> = Arc::downgrade(self);
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("fusebox-shedder".into())
            .spawn(move || {
                while !stop2.load(Relaxed) {
                    match weak.upgrade() {
                        Some(s) => {
                            s.refresh();
                        }
                        None => return,
                    }
                    std::thread::park_timeout(every);
                }
            })?;
        Ok(Poller {
            stop,
            thread: Some(thread),
        })
    }

    /// The current level.
    #[inline]
    pub fn level(&self) -> LoadLevel {
        LoadLevel::from_u8(self.level.load(Relaxed))
    }

    /// The last load set.
    pub fn load(&self) -> f64 {
        f64::from_bits(self.load.load(Relaxed))
    }

    /// What to do with a request of class `priority` now. One atomic load.
    #[inline]
    pub fn admit(&self, priority: Priority) -> Decision {
        policy(self.level(), priority)
    }

    /// Run `full` if the request is admitted, `degraded` if it is to be
    /// degraded; refuse it otherwise.
    pub fn serve<T>(
        &self,
        priority: Priority,
        full: impl FnOnce() -> T,
        degraded: impl FnOnce() -> T,
    ) -> Result<T, Shed> {
        let level = self.level();
        match policy(level, priority) {
            Decision::Admit => Ok(full()),
            Decision::Degrade => Ok(degraded()),
            Decision::Shed => Err(Shed { level, priority }),
        }
    }
}

/// The background poller of [`Shedder::start_polling`]; stops when dropped.
#[derive(Debug)]
pub struct Poller {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! `RUSTFLAGS="--cfg loom" cargo test -p fusebox --release --lib
    //! shedder::loom`: the level and load words, a load update racing
    //! admissions and another update. (The poller's thread is a real one
    //! outside any model: its stop flag is `unmodelled`.) The shedder keeps
    //! no counters of its own.
    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::thread;

    /// An RMW first in every racing thread: loom's DPOR keeps only the
    /// last access to an object, so a thread that only loads, run first,
    /// might never be reordered after the other's writes.
    fn pass(gate: &AtomicUsize) {
        gate.fetch_add(1, Relaxed);
    }

    #[test]
    fn loom_admissions_use_a_level_that_was_current() {
        loom::model(|| {
            let s = Arc::new(Shedder::new());
            s.set_load(0.85); // High
            let gate = Arc::new(AtomicUsize::new(0));
            let (s1, gate1) = (s.clone(), gate.clone());
            let admissions = thread::spawn(move || {
                pass(&gate1);
                let first = s1.admit(Priority::Secondary);
                let shed = s1.serve(Priority::Secondary, || (), || ());
                (first, shed)
            });
            pass(&gate);
            s.set_load(0.95); // Critical
            let (first, second) = admissions.join().unwrap();
            // High degrades a secondary request, Critical sheds it; no other
            // level was ever current, so nothing else may be decided.
            assert!(
                matches!(first, Decision::Degrade | Decision::Shed),
                "a level never set: {first:?}"
            );
            match second {
                Ok(()) => assert_eq!(first, Decision::Degrade, "served at High"),
                Err(e) => assert_eq!(e.level, LoadLevel::Critical, "{e}"),
            }
            if first == Decision::Shed {
                assert!(second.is_err(), "the level went back from Critical");
            }
            assert_eq!((s.level(), s.load()), (LoadLevel::Critical, 0.95));
            assert_eq!(s.admit(Priority::Core), Decision::Admit, "core always");
        });
    }

    #[test]
    fn loom_racing_updates_leave_one_of_their_levels() {
        // Two updates race from Elevated: the load ends as one of the two
        // set, and the level as that load's. (With the level stored once,
        // after the load, one update's level could outlive the other's load:
        // loom found Critical with load() 0.5.)
        loom::model(|| {
            let s = Arc::new(Shedder::new());
            s.set_load(0.7); // Elevated
            let s1 = s.clone();
            let t = thread::spawn(move || s1.set_load(0.5));
            s.set_load(0.95);
            t.join().unwrap();
            let (level, load) = (s.level(), s.load());
            assert_eq!(level, s.level_for(load), "level {level:?} with load {load}");
            assert!(load == 0.5 || load == 0.95, "{load}");
        });
    }
}
