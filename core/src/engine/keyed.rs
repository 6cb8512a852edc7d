//! A bounded set of breakers by key (per host, per route, per tenant):
//! created on first use with one config, at most `capacity` of them
//! (`docs/semantics.md#keyed-breakers`).
//!
//! Keys usually come from traffic (a `Host` header, a tenant id), so the
//! set must neither grow without bound nor let anyone who can make up keys
//! reset a breaker's history. Hence the eviction rule: only a breaker that
//! holds no history may go, i.e. one that is
//!
//! * Closed (not Open, Half-Open, Forced-Open or Disabled),
//! * with no call in its window (`window_counts().calls == 0`) and no
//!   failure run, and
//! * not looked up for at least `min_idle` (default
//!   [`DEFAULT_MIN_IDLE`]), so that a breaker just handed out for a call
//!   in flight is not evicted before the call's outcome lands.
//!
//! When the set is full and no breaker may go, [`KeyedBreakers::get_or_create`]
//! refuses with [`KeyedError::Full`] rather than growing: a flood of new
//! keys is refused, never paid for with the history of the keys in use.
//!
//! Which evictable breaker goes: an approximated LRU, as in Redis. The scan
//! walks the map in its table order (hash order, unrelated to age) and
//! stops at the first [`EVICTION_SAMPLE`] evictable entries; of these, the
//! one looked up least recently goes (ties: the oldest). A scan that
//! finds no evictable entry walks the whole map, so a refusal costs
//! O(capacity) cheap checks (one load of the state word first; the window
//! is read only for Closed breakers).
//!
//! # Concurrency
//!
//! Lookups are lock-free reads of a `papaya` map (the [`crate::Registry`]'s
//! map), plus a Relaxed store of the lookup time at most once per
//! millisecond per key. The bound is kept by a slot count (`AtomicUsize`):
//! a creator takes a slot by compare-exchange below `capacity` before it
//! inserts, and gives it back when it loses the insert race; an evictor
//! removes its victim with `papaya`'s `remove_if` (which re-checks the
//! rule on the entry it removes) and keeps the victim's slot for its own
//! insert; `remove` gives a slot back after the entry is gone. So the map
//! never holds more entries than slots taken, nor slots more than
//! `capacity`. That is the whole protocol: papaya plus atomic counters, no
//! new lock-free structure (hence no loom model; the counting is checked
//! by `tests/keyed.rs`).
//!
//! A breaker handed out keeps working for its holder after its eviction
//! (it is an `Arc`); it is no longer in the set, and the next lookup of its
//! key creates a fresh one. An outcome recorded through the old `Arc`
//! after the eviction (a call that outlived `min_idle`, or a lookup that
//! raced the eviction) counts in the old breaker only.

use crate::engine::clock::ClockSource;
use crate::engine::config::{Config, ConfigError};
use crate::engine::metrics::Metrics;
use crate::engine::registry::{check_name, RegistryError};
use crate::Breaker;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// How many evictable breakers an eviction compares (the idlest goes).
pub const EVICTION_SAMPLE: usize = 5;

/// The largest capacity.
pub const MAX_CAPACITY: usize = 10_000_000;

/// How long a breaker must go without a lookup before it may be evicted,
/// unless set with [`KeyedBreakers::min_idle`]: the default time window's
/// span.
pub const DEFAULT_MIN_IDLE: Duration = Duration::from_secs(10);

/// A lookup writes its time at most this often per key (ns).
const TOUCH_NS: u64 = 1_000_000;

/// Why a [`KeyedBreakers`] operation failed.
///
/// ```rust
/// use fusebox::{Config, ErrorKind, KeyedBreakers, KeyedError, ManualClock};
/// use std::sync::Arc;
///
/// let clock = Arc::new(ManualClock::new());
/// let err = KeyedBreakers::new("hosts", 0, Config::default(), clock.clone()).unwrap_err();
/// assert_eq!(err.to_string(), "invalid capacity: 0 (expected 1..=10 000 000)");
///
/// let hosts = KeyedBreakers::new("hosts", 1, Config::default(), clock)?;
/// hosts.get_or_create("a.example")?.force_open(); // not evictable
/// let full = hosts.get_or_create("b.example").unwrap_err();
/// assert_eq!(full, KeyedError::Full { capacity: 1 });
/// assert!(full.is_full() && full.kind().is_none()); // not bad input
/// assert_eq!(
///     full.to_string(),
///     "keyed breakers full: all 1 hold history (open, failing or recently used)"
/// );
/// let bad = hosts.get_or_create("").unwrap_err();
/// assert_eq!(bad.kind(), Some(ErrorKind::InvalidName));
/// # Ok::<(), fusebox::KeyedError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyedError {
    /// Empty or too long a key (the name rule of [`crate::Registry`]).
    BadName(String),
    /// A config, or a capacity, out of range.
    Config(ConfigError),
    /// The set holds `capacity` breakers and none may be evicted (each is
    /// Open, Half-Open, overridden by hand, holding calls or failures in
    /// its window, or used within `min_idle`).
    Full {
        /// The set's capacity.
        capacity: usize,
    },
}

impl std::fmt::Display for KeyedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyedError::BadName(n) => f.write_str(&crate::engine::input::name_message(n)),
            KeyedError::Config(e) => e.fmt(f),
            KeyedError::Full { capacity } => write!(
                f,
                "keyed breakers full: all {capacity} hold history (open, failing or recently used)"
            ),
        }
    }
}

impl std::error::Error for KeyedError {}

impl KeyedError {
    /// The bad-input kind ([`ErrorKind::InvalidName`](crate::ErrorKind) or
    /// `InvalidConfig`); `None` for [`KeyedError::Full`], which is not bad
    /// input (example on [`KeyedError`]).
    pub fn kind(&self) -> Option<crate::ErrorKind> {
        match self {
            KeyedError::BadName(_) => Some(crate::ErrorKind::InvalidName),
            KeyedError::Config(e) => Some(e.kind()),
            KeyedError::Full { .. } => None,
        }
    }

    /// Whether this is [`KeyedError::Full`] (example on [`KeyedError`]).
    pub fn is_full(&self) -> bool {
        matches!(self, KeyedError::Full { .. })
    }
}

impl From<ConfigError> for KeyedError {
    fn from(e: ConfigError) -> Self {
        KeyedError::Config(e)
    }
}

impl From<RegistryError> for KeyedError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::BadName(n) => KeyedError::BadName(n),
            RegistryError::Config(c) => KeyedError::Config(c),
        }
    }
}

/// A [`KeyedBreakers`]' counters at one moment.
///
/// ```rust
/// use fusebox::{Config, KeyedBreakers, ManualClock};
/// use std::{sync::Arc, time::Duration};
///
/// let hosts = KeyedBreakers::new("hosts", 1, Config::default(), Arc::new(ManualClock::new()))?
///     .min_idle(Duration::ZERO);
/// hosts.get_or_create("a.example")?;
/// hosts.get_or_create("b.example")?; // evicts a.example (it holds nothing)
/// let s = hosts.stats();
/// assert_eq!((s.name.as_str(), s.len, s.capacity), ("hosts", 1, 1));
/// assert_eq!((s.created, s.evictions, s.refusals, s.removed), (2, 1, 0, 0));
/// # Ok::<(), fusebox::KeyedError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct KeyedStats {
    /// The set's name (the `keyed` label of its Prometheus series).
    pub name: String,
    /// Breakers in the set, counting creations in progress (at most
    /// `capacity`).
    pub len: usize,
    /// The most breakers the set holds.
    pub capacity: usize,
    /// Breakers created, all time.
    pub created: u64,
    /// Breakers evicted to make room, all time.
    pub evictions: u64,
    /// Creations refused because the set was full of breakers that may
    /// not be evicted, all time.
    pub refusals: u64,
    /// Breakers taken out with [`KeyedBreakers::remove`], all time.
    pub removed: u64,
}

struct Entry {
    breaker: Arc<Breaker>,
    created_ns: u64,
    /// Clock time of the last lookup (written at most every [`TOUCH_NS`]).
    used_ns: AtomicU64,
}

/// Breakers by key, at most `capacity` of them, all with one config;
/// only breakers that hold no history are evicted to make room (see the
/// [module documentation](crate::keyed)).
///
/// ```rust
/// use fusebox::{Config, KeyedBreakers, KeyedError, ManualClock, State};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let config = Config::builder().consecutive_failures(Some(2)).build()?;
/// let hosts = KeyedBreakers::new("upstreams", 2, config, clock.clone())?;
///
/// let a = hosts.get_or_create("a.example")?;
/// let b = hosts.get_or_create("b.example")?;
/// assert!(Arc::ptr_eq(&a, &hosts.get_or_create("a.example")?)); // one per key
/// a.try_acquire()?.failure();
/// a.try_acquire()?.failure(); // a.example is Open now: never evicted
/// assert_eq!(a.state(), State::Open);
///
/// // Full. b.example holds nothing, but was used within `min_idle`.
/// assert_eq!(hosts.get_or_create("c.example").unwrap_err(), KeyedError::Full { capacity: 2 });
/// clock.advance(Duration::from_secs(10));
/// let c = hosts.get_or_create("c.example")?; // b.example is evicted for it
/// assert!(hosts.get("b.example").is_none());
/// assert!(hosts.get("a.example").is_some());
/// assert!(b.try_acquire().is_ok()); // still works for its holder
///
/// let s = hosts.stats();
/// assert_eq!((s.len, s.evictions, s.refusals), (2, 1, 1));
/// assert!(hosts.prometheus().contains("fusebox_keyed_evictions_total{keyed=\"upstreams\"} 1\n"));
/// # drop(c);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Keys are `&str`: each breaker is named after its key, which is what
/// events and the Prometheus `breaker` label show and what the bindings
/// pass; and lookups borrow the key, allocating nothing.
pub struct KeyedBreakers {
    name: Arc<str>,
    map: papaya::HashMap<Arc<str>, Entry, foldhash::fast::RandomState>,
    capacity: usize,
    config: Config,
    clock: ClockSource,
    min_idle_ns: u64,
    /// Slots taken: entries in the map plus creations in progress.
    slots: AtomicUsize,
    created: AtomicU64,
    evictions: AtomicU64,
    refusals: AtomicU64,
    removed: AtomicU64,
}

impl std::fmt::Debug for KeyedBreakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedBreakers")
            .field("stats", &self.stats())
            .finish()
    }
}

/// What an eviction attempt came to.
enum Evict {
    /// A breaker was evicted; its slot is the caller's.
    Done,
    /// No breaker may be evicted.
    Nothing,
    /// The chosen one changed before it could be removed: look again.
    Raced,
}

impl KeyedBreakers {
    /// An empty set called `name` (a breaker name: 1 to 256 bytes) of at
    /// most `capacity` breakers (1..=[`MAX_CAPACITY`]), each created with
    /// `config` on `clock`.
    ///
    /// ```rust
    /// use fusebox::{ClockSource, Config, KeyedBreakers, KeyedError};
    ///
    /// let tenants = KeyedBreakers::new("tenants", 1000, Config::default(), ClockSource::Monotonic)?;
    /// assert_eq!(tenants.capacity(), 1000);
    ///
    /// let bad = Config { min_calls: 0, ..Config::default() };
    /// let err = KeyedBreakers::new("tenants", 10, bad, ClockSource::Monotonic).unwrap_err();
    /// assert!(matches!(err, KeyedError::Config(e) if e.field == "min_calls"));
    /// # Ok::<(), KeyedError>(())
    /// ```
    pub fn new(
        name: &str,
        capacity: usize,
        config: Config,
        clock: impl Into<ClockSource>,
    ) -> Result<KeyedBreakers, KeyedError> {
        check_name(name)?;
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(KeyedError::Config(ConfigError {
                field: "capacity",
                value: capacity.to_string(),
                expected: "1..=10 000 000",
            }));
        }
        config.validate()?;
        Ok(KeyedBreakers {
            name: name.into(),
            map: papaya::HashMap::with_hasher(foldhash::fast::RandomState::default()),
            capacity,
            config,
            clock: clock.into(),
            min_idle_ns: duration_ns(DEFAULT_MIN_IDLE),
            slots: AtomicUsize::new(0),
            created: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
            removed: AtomicU64::new(0),
        })
    }

    /// How long a breaker must go without a lookup before it may be
    /// evicted (default [`DEFAULT_MIN_IDLE`]). Set it above your calls'
    /// timeout, so that a breaker is not evicted while a call through it is
    /// in flight.
    ///
    /// ```rust
    /// use fusebox::{Config, KeyedBreakers, ManualClock};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let routes = KeyedBreakers::new("routes", 1, Config::default(), clock.clone())?
    ///     .min_idle(Duration::from_secs(60));
    /// routes.get_or_create("GET /users")?;
    /// clock.advance(Duration::from_secs(59));
    /// assert!(routes.get_or_create("GET /orders").unwrap_err().is_full());
    /// clock.advance(Duration::from_secs(1));
    /// assert!(routes.get_or_create("GET /orders").is_ok());
    /// # Ok::<(), fusebox::KeyedError>(())
    /// ```
    pub fn min_idle(mut self, min_idle: Duration) -> KeyedBreakers {
        self.min_idle_ns = duration_ns(min_idle);
        self
    }

    /// The breaker of `key`, if the set holds one (creates nothing).
    /// Lock-free; counts as a use of the key.
    ///
    /// ```rust
    /// use fusebox::{ClockSource, Config, KeyedBreakers};
    /// use std::sync::Arc;
    ///
    /// let hosts = KeyedBreakers::new("hosts", 8, Config::default(), ClockSource::Monotonic)?;
    /// assert!(hosts.get("a.example").is_none());
    /// let a = hosts.get_or_create("a.example")?;
    /// assert!(Arc::ptr_eq(&hosts.get("a.example").unwrap(), &a));
    /// # Ok::<(), fusebox::KeyedError>(())
    /// ```
    #[inline]
    pub fn get(&self, key: &str) -> Option<Arc<Breaker>> {
        let map = self.map.pin();
        map.get(key).map(|e| {
            self.touch(e);
            e.breaker.clone()
        })
    }

    /// The breaker of `key`, created on first use (named `key`, with the
    /// set's config). When the set is full, one breaker that holds no
    /// history is evicted to make room; when there is none, the call fails
    /// with [`KeyedError::Full`] and the set is unchanged. Lock-free
    /// lookup; creation takes a slot with one compare-exchange.
    ///
    /// ```rust
    /// use fusebox::{ClockSource, Config, KeyedBreakers, KeyedError};
    /// use std::sync::Arc;
    ///
    /// let hosts = KeyedBreakers::new("hosts", 1, Config::default(), ClockSource::Monotonic)?;
    /// let a = hosts.get_or_create("a.example")?;
    /// assert_eq!(a.name(), "a.example");
    /// assert!(Arc::ptr_eq(&a, &hosts.get_or_create("a.example")?));
    /// a.force_open();
    /// assert_eq!(hosts.get_or_create("b.example").unwrap_err(), KeyedError::Full { capacity: 1 });
    /// # Ok::<(), KeyedError>(())
    /// ```
    pub fn get_or_create(&self, key: &str) -> Result<Arc<Breaker>, KeyedError> {
        if let Some(b) = self.get(key) {
            return Ok(b);
        }
        check_name(key)?;
        self.take_slot()?;
        let fresh = match Breaker::named(key, self.config.clone(), self.clock.clone()) {
            Ok(b) => Arc::new(b),
            Err(e) => {
                self.slots.fetch_sub(1, Relaxed);
                return Err(e.into());
            }
        };
        let now = self.clock.recent_ns();
        // The key is the breaker's name: one string for both.
        let shared_key = fresh.name_arc().clone();
        let entry = Entry {
            breaker: fresh,
            created_ns: now,
            used_ns: AtomicU64::new(now),
        };
        let map = self.map.pin();
        match map.try_insert(shared_key, entry) {
            Ok(e) => {
                self.created.fetch_add(1, Relaxed);
                Ok(e.breaker.clone())
            }
            Err(taken) => {
                // Another creator of `key` won: its breaker, our slot back.
                self.slots.fetch_sub(1, Relaxed);
                self.touch(taken.current);
                Ok(taken.current.breaker.clone())
            }
        }
    }

    /// Take `key`'s breaker out of the set, whatever its state; holders of
    /// its `Arc` keep a working breaker, and the key's next
    /// [`get_or_create`](KeyedBreakers::get_or_create) makes a fresh one.
    ///
    /// ```rust
    /// use fusebox::{ClockSource, Config, KeyedBreakers};
    /// use std::sync::Arc;
    ///
    /// let hosts = KeyedBreakers::new("hosts", 8, Config::default(), ClockSource::Monotonic)?;
    /// let gone = hosts.get_or_create("gone.example")?;
    /// gone.force_open(); // never evicted, but it can be removed
    /// assert!(Arc::ptr_eq(&hosts.remove("gone.example").unwrap(), &gone));
    /// assert!(hosts.remove("gone.example").is_none());
    /// assert_eq!((hosts.len(), hosts.stats().removed), (0, 1));
    /// # Ok::<(), fusebox::KeyedError>(())
    /// ```
    pub fn remove(&self, key: &str) -> Option<Arc<Breaker>> {
        let map = self.map.pin();
        let b = map.remove(key).map(|e| e.breaker.clone())?;
        // After the entry is gone: slots never under-count entries.
        self.slots.fetch_sub(1, Relaxed);
        self.removed.fetch_add(1, Relaxed);
        Some(b)
    }

    /// Breakers in the set, counting creations in progress; never above
    /// [`capacity`](KeyedBreakers::capacity).
    ///
    /// ```rust
    /// use fusebox::{ClockSource, Config, KeyedBreakers};
    ///
    /// let hosts = KeyedBreakers::new("hosts", 8, Config::default(), ClockSource::Monotonic)?;
    /// assert!(hosts.is_empty());
    /// hosts.get_or_create("a.example")?;
    /// hosts.get_or_create("a.example")?;
    /// assert_eq!(hosts.len(), 1);
    /// # Ok::<(), fusebox::KeyedError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.slots.load(Relaxed)
    }

    /// Whether the set is empty (example on [`KeyedBreakers::len`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most breakers the set holds (example on [`KeyedBreakers::new`]).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The set's counters (example on [`KeyedStats`]).
    pub fn stats(&self) -> KeyedStats {
        KeyedStats {
            name: self.name.to_string(),
            len: self.len(),
            capacity: self.capacity,
            created: self.created.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            refusals: self.refusals.load(Relaxed),
            removed: self.removed.load(Relaxed),
        }
    }

    /// Every breaker's metrics, sorted by key.
    ///
    /// ```rust
    /// use fusebox::{ClockSource, Config, KeyedBreakers};
    ///
    /// let hosts = KeyedBreakers::new("hosts", 8, Config::default(), ClockSource::Monotonic)?;
    /// hosts.get_or_create("b.example")?.try_acquire().unwrap().failure();
    /// hosts.get_or_create("a.example")?;
    /// let m = hosts.snapshot();
    /// assert_eq!(m.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["a.example", "b.example"]);
    /// assert_eq!(m[1].failures, 1);
    /// # Ok::<(), fusebox::KeyedError>(())
    /// ```
    pub fn snapshot(&self) -> Vec<Metrics> {
        let mut v: Vec<Metrics> = self
            .map
            .pin()
            .values()
            .map(|e| e.breaker.metrics())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Every breaker's metrics and the set's own counters in the Prometheus
    /// text format (see [`crate::prometheus::write_keyed`]).
    ///
    /// ```rust
    /// use fusebox::{ClockSource, Config, KeyedBreakers};
    ///
    /// let hosts = KeyedBreakers::new("hosts", 8, Config::default(), ClockSource::Monotonic)?;
    /// hosts.get_or_create("a.example")?;
    /// let text = hosts.prometheus();
    /// assert!(text.contains("fusebox_state{breaker=\"a.example\",state=\"closed\"} 1\n"));
    /// assert!(text.contains("fusebox_keyed_breakers{keyed=\"hosts\"} 1\n"));
    /// assert!(text.contains("fusebox_keyed_evictions_total{keyed=\"hosts\"} 0\n"));
    /// # Ok::<(), fusebox::KeyedError>(())
    /// ```
    pub fn prometheus(&self) -> String {
        let mut out = crate::observe::prometheus::render(&self.snapshot());
        crate::observe::prometheus::write_keyed(&mut out, &[self.stats()]);
        out
    }

    /// Note a use of `e` (at most one store per [`TOUCH_NS`]: a hot key's
    /// lookups stay reads).
    #[inline]
    fn touch(&self, e: &Entry) {
        let now = self.clock.recent_ns();
        if now.saturating_sub(e.used_ns.load(Relaxed)) >= TOUCH_NS {
            e.used_ns.store(now, Relaxed);
        }
    }

    /// Whether `e` may be evicted at `now`.
    fn evictable(&self, e: &Entry, now: u64) -> bool {
        now.saturating_sub(e.used_ns.load(Relaxed)) >= self.min_idle_ns && e.breaker.holds_nothing()
    }

    /// Take a slot: a free one, or an evicted breaker's. Refuses (and
    /// counts the refusal) when the set is full and nothing may be evicted.
    fn take_slot(&self) -> Result<(), KeyedError> {
        let mut n = self.slots.load(Relaxed);
        loop {
            while n < self.capacity {
                match self.slots.compare_exchange_weak(n, n + 1, Relaxed, Relaxed) {
                    Ok(_) => return Ok(()),
                    Err(actual) => n = actual,
                }
            }
            match self.evict_one() {
                Evict::Done => return Ok(()),
                Evict::Raced => {}
                Evict::Nothing => {
                    // A slot may have been given back during the scan.
                    n = self.slots.load(Relaxed);
                    if n < self.capacity {
                        continue;
                    }
                    self.refusals.fetch_add(1, Relaxed);
                    return Err(KeyedError::Full {
                        capacity: self.capacity,
                    });
                }
            }
            n = self.slots.load(Relaxed);
        }
    }

    /// Evict the idlest of the first [`EVICTION_SAMPLE`] evictable
    /// breakers, keeping its slot for the caller.
    fn evict_one(&self) -> Evict {
        let now = self.clock.recent_ns();
        let map = self.map.pin();
        // (last use, creation, key, breaker) of the candidates.
        let mut best: Option<(u64, u64, &Arc<str>, &Arc<Breaker>)> = None;
        let mut found = 0;
        for (k, e) in map.iter() {
            if !self.evictable(e, now) {
                continue;
            }
            let c = (e.used_ns.load(Relaxed), e.created_ns, k, &e.breaker);
            if best.map_or(true, |b| (c.0, c.1) < (b.0, b.1)) {
                best = Some(c);
            }
            found += 1;
            if found == EVICTION_SAMPLE {
                break;
            }
        }
        let Some((_, _, key, victim)) = best else {
            return Evict::Nothing;
        };
        // The rule again, on the very entry removed: a lookup or an outcome
        // since the scan saves it.
        match map.remove_if(&**key, |_, e| {
            Arc::ptr_eq(&e.breaker, victim) && self.evictable(e, now)
        }) {
            Ok(Some(_)) => {
                self.evictions.fetch_add(1, Relaxed);
                Evict::Done
            }
            _ => Evict::Raced,
        }
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::{ManualClock, State};

    fn set(capacity: usize, clock: &Arc<ManualClock>) -> KeyedBreakers {
        let config = Config::builder()
            .consecutive_failures(Some(3))
            .build()
            .unwrap();
        KeyedBreakers::new("t", capacity, config, clock.clone())
            .unwrap()
            .min_idle(Duration::ZERO)
    }

    #[test]
    fn keyed_evicts_only_breakers_that_hold_nothing() {
        let clock = Arc::new(ManualClock::new());
        let s = set(5, &clock);
        let open = s.get_or_create("open").unwrap();
        open.force_open();
        let disabled = s.get_or_create("disabled").unwrap();
        disabled.disable();
        let failing = s.get_or_create("failing").unwrap();
        failing.try_acquire().unwrap().failure();
        let ok = s.get_or_create("ok").unwrap();
        ok.try_acquire().unwrap().success();
        let tripped = s.get_or_create("tripped").unwrap();
        for _ in 0..3 {
            tripped.try_acquire().unwrap().failure();
        }
        assert_eq!(tripped.state(), State::Open);
        assert!(s.get_or_create("new").unwrap_err().is_full());
        // The success leaves the window after its span (10 s); the failure
        // run does not.
        clock.advance(Duration::from_secs(11));
        assert!(ok.holds_nothing() && !failing.holds_nothing());
        s.get_or_create("new").unwrap();
        assert!(s.get("ok").is_none());
        for k in ["open", "disabled", "failing", "tripped", "new"] {
            assert!(s.get(k).is_some(), "{k}");
        }
        assert_eq!(
            (s.stats().evictions, s.stats().refusals, s.len()),
            (1, 1, 5)
        );
    }

    #[test]
    fn keyed_ignored_outcomes_hold_nothing_but_half_open_does() {
        let clock = Arc::new(ManualClock::new());
        let s = set(1, &clock);
        let b = s.get_or_create("a").unwrap();
        b.try_acquire().unwrap().ignore();
        assert!(b.holds_nothing());
        for _ in 0..3 {
            b.try_acquire().unwrap().failure();
        }
        clock.advance(Duration::from_secs(31));
        let probe = b.try_acquire().unwrap();
        assert_eq!(b.state(), State::HalfOpen);
        assert!(!b.holds_nothing());
        probe.success();
        let p = b.try_acquire().unwrap();
        p.success();
        let p = b.try_acquire().unwrap();
        p.success();
        assert_eq!(b.state(), State::Closed);
        // Closed again: a new generation, whose window is empty.
        assert!(b.holds_nothing());
    }
}
