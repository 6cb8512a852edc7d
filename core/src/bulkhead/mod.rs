//! Bulkheads: at most N calls in flight per dependency.
//!
//! A cascading failure (`docs/semantics.md#cascading-failure`) is a slow
//! dependency holding every worker thread of its caller. A breaker reacts to *finished* calls only; while the
//! slow calls are still running nothing trips, and every new request joins
//! them. A bulkhead bounds the calls in flight to one dependency: past the
//! limit a call is refused at once (or after a bounded wait) with
//! [`BulkheadFull`], distinct from the breaker's [`Rejected`], so the other
//! dependencies keep their share of the pool (Hystrix's semaphore isolation,
//! Resilience4j's and Polly's bulkheads, opossum's `capacity`).
//!
//! ```
//! use fusebox::bulkhead::{Bulkhead, BulkheadCallError};
//!
//! let inventory = Bulkhead::builder().name("inventory").max_concurrent(10).build()?;
//! match inventory.call(|| -> Result<u32, std::io::Error> { Ok(7) }) {
//!     Ok(n) => assert_eq!(n, 7),
//!     Err(BulkheadCallError::Full(full)) => println!("shed: {full}"),
//!     Err(e) => println!("{e}"),
//! }
//! // By hand: the permit gives its slot back when dropped, even in a panic.
//! let permit = inventory.try_acquire()?;
//! assert_eq!(inventory.in_flight(), 1);
//! drop(permit);
//! assert_eq!(inventory.in_flight(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The word
//!
//! The whole admission state is one `AtomicU64`:
//!
//! ```text
//! | waiters (16) | limit (24) | in flight (24) |
//! ```
//!
//! Acquiring is one successful CAS (`in flight + 1`, only if it stays within
//! `limit`, judged on the same word, so a concurrent limit change can never
//! let more than the limit in); releasing is one `fetch_sub`, whose returned
//! word says whether anyone waits. No call path takes a lock unless the
//! bulkhead is full *and* configured to wait ([`BulkheadBuilder::max_wait`]):
//! a waiting thread sleeps on a condition variable, and a release takes its
//! mutex only when the word counts waiters. Waiting is not fair: a fresh
//! caller may take a freed slot before a sleeping one.
//!
//! # Adaptive limits
//!
//! With [`BulkheadBuilder::adaptive`] the limit follows the latency of the
//! calls (see [`crate::concurrency`]): each finished call is a sample, and a
//! closed window may move the limit bits of the word.
//!
//! # In-flight pile-ups and the breaker
//!
//! With [`BulkheadBuilder::breaker`], a call asks the breaker first (an open
//! breaker refuses at once, without taking a slot), then the bulkhead; the
//! permit reports the call's outcome to both. With
//! [`BulkheadBuilder::count_in_flight_slow`], calls still in flight after the
//! breaker's `slow_call_duration` count as slow calls *before they finish*,
//! so a dependency that stops answering trips the breaker on its slow-call
//! rate without waiting for the calls to time out. Each watched call holds a
//! slot word in a table, `start:42 | generation:21 | counted:1`; a sweep
//! (run by the acquiring threads, at most every `slow_call_duration / 8`, or
//! by [`Bulkhead::sweep`]) sets `counted` by CAS on each overdue call and
//! reports it with [`Breaker::record_in_flight_slow`]; the call's own
//! completion empties the word with one swap and, if `counted` was set, gives
//! the breaker permit back unrecorded. Whichever comes first wins: a call is
//! counted once.

pub mod concurrency;

use crate::bulkhead::concurrency::{AdaptiveLimit, LimitConfig};
use crate::engine::breaker::Breaker;
use crate::engine::clock::ClockSource;
use crate::engine::config::ConfigError;
use crate::engine::error::Rejected;
use crate::engine::permit::{Outcome, RawPermit};
use crate::sync::{
    atomic_u64, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use crossbeam_utils::CachePadded;
use std::fmt;
use std::sync::atomic::AtomicU64 as StatU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(loom)]
use loom::sync::{Condvar, Mutex};
#[cfg(not(loom))]
use std::sync::{Condvar, Mutex};

/// The largest limit (24 bits of the word).
pub const MAX_CONCURRENT: u32 = (1 << 24) - 1;
/// The largest limit of a bulkhead that watches its calls for the breaker
/// (one slot word each).
pub const MAX_WATCHED: u32 = 1 << 16;

const FLIGHT_MASK: u64 = (1 << 24) - 1;
const LIMIT_SHIFT: u32 = 24;
const LIMIT_MASK: u64 = ((1 << 24) - 1) << LIMIT_SHIFT;
const WAIT_SHIFT: u32 = 48;
const WAIT_ONE: u64 = 1 << WAIT_SHIFT;
const MAX_WAITERS: u64 = (1 << 16) - 1;

#[inline]
fn flight(w: u64) -> u64 {
    w & FLIGHT_MASK
}

#[inline]
fn limit_of(w: u64) -> u64 {
    (w & LIMIT_MASK) >> LIMIT_SHIFT
}

#[inline]
fn waiters(w: u64) -> u64 {
    w >> WAIT_SHIFT
}

/// A call refused because the bulkhead was full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkheadFull {
    /// The limit when it was refused.
    pub limit: u32,
    /// Calls in flight when it was refused.
    pub in_flight: u32,
    /// How long it waited for a slot (zero when it did not wait).
    pub waited: Duration,
}

impl fmt::Display for BulkheadFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bulkhead full: {} calls in flight, limit {}",
            self.in_flight, self.limit
        )?;
        if !self.waited.is_zero() {
            write!(f, " (waited {:.3} s)", self.waited.as_secs_f64())?;
        }
        Ok(())
    }
}

impl std::error::Error for BulkheadFull {}

/// Why a bulkhead did not admit a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkheadError {
    /// Too many calls in flight.
    Full(BulkheadFull),
    /// The bulkhead's breaker refused the call.
    Breaker(Rejected),
}

impl fmt::Display for BulkheadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BulkheadError::Full(x) => x.fmt(f),
            BulkheadError::Breaker(r) => r.fmt(f),
        }
    }
}

impl std::error::Error for BulkheadError {}

/// The result of [`Bulkhead::call`] when it is not the call's own value.
#[derive(Debug, PartialEq, Eq)]
pub enum BulkheadCallError<E> {
    /// Too many calls in flight; the function did not run.
    Full(BulkheadFull),
    /// The breaker refused the call; the function did not run.
    Breaker(Rejected),
    /// The function ran and returned this error.
    Failed(E),
}

impl<E: fmt::Display> fmt::Display for BulkheadCallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BulkheadCallError::Full(x) => x.fmt(f),
            BulkheadCallError::Breaker(r) => r.fmt(f),
            BulkheadCallError::Failed(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for BulkheadCallError<E> {}

impl<E> From<BulkheadError> for BulkheadCallError<E> {
    fn from(e: BulkheadError) -> Self {
        match e {
            BulkheadError::Full(x) => BulkheadCallError::Full(x),
            BulkheadError::Breaker(r) => BulkheadCallError::Breaker(r),
        }
    }
}

/// A bulkhead permit as a plain value, for bindings: give it back exactly
/// once, to [`Bulkhead::record_raw`] or [`Bulkhead::release_raw`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct RawBulkheadPermit {
    /// The breaker's permit (all zero without a breaker).
    pub breaker: RawPermit,
    /// Precise clock at admission, when the adaptive limit needs it; else 0.
    pub start_ns: u64,
    /// Calls in flight at admission, this one included. (The two last
    /// fields are whole words so that moving a permit never reads a word
    /// written in halves, which stalls store forwarding.)
    pub in_flight: u64,
    /// 1 + the index of the call's watch slot; 0 when not watched.
    pub slot: u64,
}

/// A snapshot of a bulkhead's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BulkheadMetrics {
    /// The bulkhead's name.
    pub name: String,
    /// The current limit.
    pub limit: u32,
    /// Calls in flight.
    pub in_flight: u32,
    /// The most calls ever in flight at once.
    pub peak_in_flight: u32,
    /// Threads waiting for a slot.
    pub waiting: u32,
    /// Calls refused because the bulkhead was full, all time.
    pub rejected: u64,
    /// Calls counted as slow by the breaker while still in flight, all time.
    pub in_flight_slow: u64,
    /// The adaptive algorithm (`aimd`, `vegas`, `gradient2`), if any.
    pub algorithm: Option<&'static str>,
    /// Windows the adaptive limit has closed, all time.
    pub limit_updates: u64,
}

/// The table of watched calls (see the module docs).
struct Watch {
    slots: Box<[AtomicU64]>,
    origin_ns: u64,
    slow_ns: u64,
    interval_ns: u64,
    next_sweep: StatU64,
}

const TICK_SHIFT: u32 = 16;
const GEN_BITS: u32 = 21;
const GEN_LOW: u64 = (1 << GEN_BITS) - 1;
const COUNTED: u64 = 1;

impl Watch {
    fn pack(&self, p: RawPermit) -> u64 {
        // Start in 65.536 µs ticks since the bulkhead's creation, + 1 so the
        // word is never 0 (free): 42 bits cover 9 years.
        let ticks =
            ((p.start_ns.saturating_sub(self.origin_ns) >> TICK_SHIFT) + 1) & ((1 << 42) - 1);
        (ticks << (GEN_BITS + 1)) | ((p.generation & GEN_LOW) << 1)
    }

    /// The latest time the call can have started (ticks round down).
    fn start_ns(&self, v: u64) -> u64 {
        let ticks = v >> (GEN_BITS + 1);
        self.origin_ns + ((ticks - 1) << TICK_SHIFT) + ((1 << TICK_SHIFT) - 1)
    }

    /// The full generation of a slot word, given the breaker's current one
    /// (a call is fewer than 2^21 transitions old).
    fn generation(v: u64, current: u64) -> u64 {
        let low = (v >> 1) & GEN_LOW;
        current.wrapping_sub(current.wrapping_sub(low) & GEN_LOW)
    }

    /// Take a free slot for `v`; 1 + its index.
    fn claim(&self, v: u64) -> u64 {
        let n = self.slots.len();
        // Spread threads over the table, a cache line (8 words) apart.
        // Where this thread starts looking (deterministic under loom too).
        let mut i = crate::engine::thread_slot::current().wrapping_mul(8) % n;
        // A free slot always exists: slot holders are admitted calls, at
        // most the limit, and the table has a slot per unit of the largest
        // limit. Give up after two laps all the same (the call then goes
        // unwatched) rather than spin on a broken invariant.
        for _ in 0..2 * n {
            let s = &self.slots[i];
            // Relaxed: the word carries everything; RMWs on it are totally
            // ordered, which is all "counted once" needs.
            if s.load(Relaxed) == 0 && s.compare_exchange(0, v, Relaxed, Relaxed).is_ok() {
                return i as u64 + 1;
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        0
    }

    /// Empty slot `slot`; whether a sweep had counted its call.
    fn free(&self, slot: u64) -> bool {
        self.slots[slot as usize - 1].swap(0, AcqRel) & COUNTED != 0
    }
}

struct Hot {
    word: AtomicU64,
    /// Written only when a call raises it: a load of this cache line, which
    /// the admitting CAS has just taken, on the common path.
    peak: StatU64,
}

/// At most N calls in flight to one dependency. Share it by reference or in
/// an `Arc`.
///
/// With an adaptive limit ([`BulkheadBuilder::adaptive`]), the limit
/// follows the latency of the calls it admits, timed on its clock:
///
/// ```rust
/// use fusebox::bulkhead::Bulkhead;
/// use fusebox::{LimitConfig, ManualClock};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let bulkhead = Bulkhead::builder()
///     .name("search")
///     .adaptive(LimitConfig::aimd().limits(1, 10, 20)) // min, initial, max
///     .clock(clock.clone())
///     .build()?;
/// assert_eq!(bulkhead.limit(), 10);
///
/// // One window (1 s, at least 10 samples) of calls that fail: AIMD backs
/// // off to ⌊10 × 0.9⌋ = 9.
/// for _ in 0..12 {
///     let permit = bulkhead.try_acquire()?;
///     clock.advance(Duration::from_millis(100)); // each call takes 100 ms
///     permit.failure();
/// }
/// assert_eq!(bulkhead.limit(), 9);
/// assert_eq!(bulkhead.metrics().algorithm, Some("aimd"));
/// assert_eq!(bulkhead.adaptive().map(|a| a.updates()), Some(1));
///
/// // The limit may also be set by hand, up to the adaptive maximum.
/// bulkhead.set_limit(15)?;
/// assert_eq!(bulkhead.limit(), 15);
/// assert!(bulkhead.set_limit(21).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Bulkhead {
    hot: CachePadded<Hot>,
    /// No breaker, no adaptive limit, no watch: admission is the word alone.
    plain: bool,
    rejected: CachePadded<StatU64>,
    in_flight_slow: StatU64,
    name: Arc<str>,
    max_wait: Duration,
    capacity: u32,
    clock: ClockSource,
    adaptive: Option<AdaptiveLimit>,
    breaker: Option<Arc<Breaker>>,
    watch: Option<Watch>,
    wait_lock: Mutex<()>,
    wait_cv: Condvar,
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", &self.name)
            .field("limit", &self.limit())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// Builds a [`Bulkhead`].
///
/// A bulkhead in front of a breaker: the call asks the breaker first, then
/// takes a slot, and its outcome goes to both.
///
/// ```rust
/// use fusebox::bulkhead::{Bulkhead, BulkheadCallError};
/// use fusebox::{Breaker, Config, ManualClock, RejectReason};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let breaker = Arc::new(Breaker::with_clock(
///     Config::builder().consecutive_failures(Some(2)).build()?,
///     clock.clone(),
/// )?);
/// let db = Bulkhead::builder()
///     .name("db")
///     .max_concurrent(2)
///     .max_wait(Duration::ZERO) // refuse at once when full (the default)
///     .breaker(breaker.clone())
///     .build()?;
///
/// let a = db.try_acquire()?;
/// let b = db.try_acquire()?;
/// // Full: refused at once, without running the call.
/// let r = db.call(|| Ok::<_, String>(()));
/// assert!(matches!(r, Err(BulkheadCallError::Full(f)) if f.limit == 2 && f.in_flight == 2));
/// a.failure();
/// b.failure(); // two failures in a row: the breaker opens
/// assert_eq!(db.in_flight(), 0);
/// let r = db.call(|| Ok::<_, String>(()));
/// assert!(matches!(r, Err(BulkheadCallError::Breaker(rej)) if rej.reason == RejectReason::Open));
///
/// let m = db.metrics();
/// assert_eq!((m.name.as_str(), m.peak_in_flight, m.rejected), ("db", 2, 1));
///
/// // Settings are checked by `build`.
/// let err = Bulkhead::builder().max_concurrent(0).build().unwrap_err();
/// assert_eq!(err.field, "max_concurrent");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct BulkheadBuilder {
    name: String,
    max_concurrent: u32,
    max_wait: Duration,
    adaptive: Option<LimitConfig>,
    breaker: Option<Arc<Breaker>>,
    count_in_flight_slow: bool,
    clock: Option<ClockSource>,
}

impl BulkheadBuilder {
    /// The name, for metrics. Default `bulkhead`.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// The fixed limit (1..=[`MAX_CONCURRENT`]). Default 25. Ignored when
    /// the limit is [`BulkheadBuilder::adaptive`].
    pub fn max_concurrent(mut self, n: u32) -> Self {
        self.max_concurrent = n;
        self
    }

    /// How long [`Bulkhead::acquire`] and [`Bulkhead::call`] wait for a slot
    /// when the bulkhead is full (real time). Default zero: refuse at once.
    /// [`Bulkhead::try_acquire`] never waits.
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = d;
        self
    }

    /// Let the limit follow latency (see [`crate::concurrency`]).
    pub fn adaptive(mut self, config: LimitConfig) -> Self {
        self.adaptive = Some(config);
        self
    }

    /// Guard `breaker` too: a call asks the breaker first, and the permit
    /// reports the outcome to it.
    pub fn breaker(mut self, breaker: Arc<Breaker>) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Count calls in flight for longer than the breaker's
    /// `slow_call_duration` as slow calls before they finish. Needs a
    /// breaker with a slow-call duration, and a limit ≤ [`MAX_WATCHED`].
    pub fn count_in_flight_slow(mut self, on: bool) -> Self {
        self.count_in_flight_slow = on;
        self
    }

    /// The clock that times calls for the adaptive limit. Default: the
    /// breaker's, else the system clock.
    pub fn clock(mut self, clock: impl Into<ClockSource>) -> Self {
        self.clock = Some(clock.into());
        self
    }

    /// Validate and build.
    pub fn build(self) -> Result<Bulkhead, ConfigError> {
        let err = |field, value: String, expected| {
            Err(ConfigError {
                field,
                value,
                expected,
            })
        };
        let (initial, capacity) = match &self.adaptive {
            Some(c) => {
                c.validate()?;
                (c.initial_limit, c.max_limit)
            }
            None => {
                if self.max_concurrent == 0 || self.max_concurrent > MAX_CONCURRENT {
                    return err(
                        "max_concurrent",
                        self.max_concurrent.to_string(),
                        "1..=16 777 215",
                    );
                }
                (self.max_concurrent, self.max_concurrent)
            }
        };
        if self.max_wait > crate::engine::config::MAX_DURATION {
            return err(
                "max_wait",
                format!("{:?}", self.max_wait),
                "a duration ≤ 1 000 000 s",
            );
        }
        let clock = match (&self.clock, &self.breaker) {
            (Some(c), _) => c.clone(),
            (None, Some(b)) => b.clock().clone(),
            (None, None) => ClockSource::Monotonic,
        };
        let watch = if self.count_in_flight_slow {
            let slow = self
                .breaker
                .as_ref()
                .and_then(|b| b.config().slow_call_duration);
            let Some(slow) = slow else {
                return err(
                    "count_in_flight_slow",
                    "true".into(),
                    "a breaker with a slow_call_duration",
                );
            };
            if capacity > MAX_WATCHED {
                return err(
                    "count_in_flight_slow",
                    format!("a limit of up to {capacity}"),
                    "a limit (max_concurrent or max_limit) ≤ 65 536",
                );
            }
            let slow_ns = slow.as_nanos() as u64;
            let breaker_clock = self.breaker.as_ref().map(|b| b.clock().now_ns());
            Some(Watch {
                slots: (0..capacity).map(|_| atomic_u64(0)).collect(),
                origin_ns: breaker_clock.unwrap_or(0),
                slow_ns,
                interval_ns: (slow_ns / 8).clamp(1_000_000, 1_000_000_000),
                next_sweep: StatU64::new(0),
            })
        } else {
            None
        };
        let adaptive = self.adaptive.map(AdaptiveLimit::new).transpose()?;
        Ok(Bulkhead {
            plain: self.breaker.is_none() && adaptive.is_none() && watch.is_none(),
            hot: CachePadded::new(Hot {
                word: atomic_u64(u64::from(initial) << LIMIT_SHIFT),
                peak: StatU64::new(0),
            }),
            rejected: CachePadded::new(StatU64::new(0)),
            in_flight_slow: StatU64::new(0),
            name: self.name.as_str().into(),
            max_wait: self.max_wait,
            capacity,
            clock,
            adaptive,
            breaker: self.breaker,
            watch,
            wait_lock: Mutex::new(()),
            wait_cv: Condvar::new(),
        })
    }
}

impl Bulkhead {
    /// A builder with the defaults: 25 calls, no wait, no breaker.
    pub fn builder() -> BulkheadBuilder {
        BulkheadBuilder {
            name: "bulkhead".into(),
            max_concurrent: 25,
            max_wait: Duration::ZERO,
            adaptive: None,
            breaker: None,
            count_in_flight_slow: false,
            clock: None,
        }
    }

    /// At most `max_concurrent` calls in flight, refusing the others at once.
    pub fn new(max_concurrent: u32) -> Result<Bulkhead, ConfigError> {
        Bulkhead::builder().max_concurrent(max_concurrent).build()
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current limit.
    pub fn limit(&self) -> u32 {
        limit_of(self.hot.word.load(Relaxed)) as u32
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> u32 {
        flight(self.hot.word.load(Relaxed)) as u32
    }

    /// Threads waiting for a slot now.
    pub fn waiting(&self) -> u32 {
        waiters(self.hot.word.load(Relaxed)) as u32
    }

    /// The most calls ever in flight at once.
    pub fn peak_in_flight(&self) -> u32 {
        self.hot.peak.load(Relaxed) as u32
    }

    /// How long [`Bulkhead::acquire`] waits for a slot.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// The breaker it guards, if any.
    pub fn breaker(&self) -> Option<&Arc<Breaker>> {
        self.breaker.as_ref()
    }

    /// Its adaptive limit, if any.
    pub fn adaptive(&self) -> Option<&AdaptiveLimit> {
        self.adaptive.as_ref()
    }

    /// Set the limit by hand (1..=the limit it was built with, or the
    /// adaptive maximum). Calls already in flight above a lowered limit run
    /// on; new ones are refused until the count is below it. An adaptive
    /// limit moves it again at its next window.
    pub fn set_limit(&self, limit: u32) -> Result<(), ConfigError> {
        if limit == 0 || limit > self.capacity {
            return Err(ConfigError {
                field: "limit",
                value: limit.to_string(),
                expected: "1..=the bulkhead's capacity (max_concurrent or max_limit)",
            });
        }
        self.store_limit(limit);
        Ok(())
    }

    fn store_limit(&self, limit: u32) {
        let word = &self.hot.word;
        let mut w = word.load(Relaxed);
        loop {
            let new = (w & !LIMIT_MASK) | (u64::from(limit) << LIMIT_SHIFT);
            if new == w {
                return;
            }
            // Relaxed: the limit publishes nothing; admission reads it from
            // the same word it increments, so it is never judged stale.
            match word.compare_exchange_weak(w, new, Relaxed, Relaxed) {
                Ok(_) => {
                    if limit_of(new) > limit_of(w) && waiters(new) != 0 {
                        let _g = lock(&self.wait_lock);
                        self.wait_cv.notify_all();
                    }
                    return;
                }
                Err(a) => w = a,
            }
        }
    }

    // ----- admission ---------------------------------------------------

    /// A slot now, or [`BulkheadError`]; never waits.
    #[inline]
    pub fn try_acquire(&self) -> Result<BulkheadPermit<'_>, BulkheadError> {
        self.try_acquire_raw()
            .map(|raw| BulkheadPermit::new(self, raw))
    }

    /// A slot, waiting up to the configured `max_wait` for one.
    pub fn acquire(&self) -> Result<BulkheadPermit<'_>, BulkheadError> {
        self.acquire_timeout(self.max_wait)
    }

    /// A slot, waiting up to `wait` (real time) for one.
    pub fn acquire_timeout(&self, wait: Duration) -> Result<BulkheadPermit<'_>, BulkheadError> {
        self.acquire_raw_timeout(wait)
            .map(|raw| BulkheadPermit::new(self, raw))
    }

    /// [`Bulkhead::try_acquire`] for bindings: the permit is a plain value.
    #[inline]
    pub fn try_acquire_raw(&self) -> Result<RawBulkheadPermit, BulkheadError> {
        if self.plain {
            // The common case, inlined: one CAS.
            return match self.take_slot() {
                Ok(n) => {
                    self.note_peak(n);
                    Ok(RawBulkheadPermit {
                        breaker: NO_BREAKER,
                        start_ns: 0,
                        in_flight: u64::from(n),
                        slot: 0,
                    })
                }
                Err(w) => Err(self.full(w, Duration::ZERO)),
            };
        }
        self.acquire_raw_timeout(Duration::ZERO)
    }

    /// [`Bulkhead::acquire`] for bindings.
    pub fn acquire_raw(&self) -> Result<RawBulkheadPermit, BulkheadError> {
        self.acquire_raw_timeout(self.max_wait)
    }

    /// [`Bulkhead::acquire_timeout`] for bindings.
    #[inline(never)]
    pub fn acquire_raw_timeout(&self, wait: Duration) -> Result<RawBulkheadPermit, BulkheadError> {
        let mut bp = match &self.breaker {
            Some(b) => b.acquire_raw().map_err(BulkheadError::Breaker)?,
            None => NO_BREAKER,
        };
        if self.watch.is_some() {
            self.maybe_sweep();
        }
        let n = match self.take_slot() {
            Ok(n) => n,
            Err(w) => {
                if let Some(b) = &self.breaker {
                    b.release_raw(bp);
                }
                if wait.is_zero() {
                    return Err(self.full(w, Duration::ZERO));
                }
                let n = self.wait_slot(wait).map_err(BulkheadError::Full)?;
                // The breaker is asked again: it may have moved while we
                // waited, and its permit times the call, not the wait.
                if let Some(b) = &self.breaker {
                    match b.acquire_raw() {
                        Ok(p) => bp = p,
                        Err(r) => {
                            self.release_slot();
                            return Err(BulkheadError::Breaker(r));
                        }
                    }
                }
                n
            }
        };
        self.note_peak(n);
        let start_ns = if self.adaptive.is_some() {
            self.clock.now_ns()
        } else {
            0
        };
        let slot = match &self.watch {
            Some(w) if !bp.probe => w.claim(w.pack(bp)),
            _ => 0,
        };
        Ok(RawBulkheadPermit {
            breaker: bp,
            start_ns,
            in_flight: u64::from(n),
            slot,
        })
    }

    /// One CAS: in flight + 1 if that stays within the limit. The count
    /// including this call, or the word that refused it.
    #[inline]
    fn take_slot(&self) -> Result<u32, u64> {
        let word = &self.hot.word;
        let mut w = word.load(Relaxed);
        loop {
            let n = flight(w);
            if n >= limit_of(w) {
                return Err(w);
            }
            // Acquire on success, Release on release: a permit orders what
            // its holder did before releasing before what the next holder
            // does (a semaphore's guarantee). Free on x86_64.
            match word.compare_exchange_weak(w, w + 1, Acquire, Relaxed) {
                Ok(_) => return Ok(n as u32 + 1),
                Err(a) => w = a,
            }
        }
    }

    #[inline]
    fn note_peak(&self, n: u32) {
        let n = u64::from(n);
        if n > self.hot.peak.load(Relaxed) {
            self.hot.peak.fetch_max(n, Relaxed);
        }
    }

    #[cold]
    fn full(&self, w: u64, waited: Duration) -> BulkheadError {
        BulkheadError::Full(self.full_at(w, waited))
    }

    fn full_at(&self, w: u64, waited: Duration) -> BulkheadFull {
        self.rejected.fetch_add(1, Relaxed);
        BulkheadFull {
            limit: limit_of(w) as u32,
            in_flight: flight(w) as u32,
            waited,
        }
    }

    /// Wait up to `wait` for a slot.
    #[cold]
    fn wait_slot(&self, wait: Duration) -> Result<u32, BulkheadFull> {
        let started = Instant::now();
        let deadline = started.checked_add(wait);
        let word = &self.hot.word;
        // Register as a waiter in the same CAS that finds the bulkhead full,
        // so a release either comes after it (and sees a waiter to wake) or
        // before it (and this CAS sees the free slot and takes it).
        let mut w = word.load(Relaxed);
        loop {
            let n = flight(w);
            let new = if n < limit_of(w) {
                w + 1
            } else if waiters(w) >= MAX_WAITERS {
                return Err(self.full_at(w, Duration::ZERO));
            } else {
                w + WAIT_ONE
            };
            match word.compare_exchange_weak(w, new, AcqRel, Relaxed) {
                Ok(_) if n < limit_of(w) => return Ok(n as u32 + 1),
                Ok(_) => break,
                Err(a) => w = a,
            }
        }
        let mut guard = lock(&self.wait_lock);
        loop {
            // Under the lock. A release that saw us registered notifies
            // under this lock: either it did so before we took it, and then
            // its fetch_sub happened before this check, which sees the slot;
            // or it notifies after we wait, and wakes us.
            let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
            let mut w = word.load(Acquire);
            loop {
                let n = flight(w);
                let room = n < limit_of(w);
                if !room && !timed_out {
                    break;
                }
                // Leave the waiters: with a slot if there is room, else
                // empty-handed (the wait is over).
                let new = if room { w + 1 - WAIT_ONE } else { w - WAIT_ONE };
                match word.compare_exchange_weak(w, new, AcqRel, Acquire) {
                    Ok(_) if room => return Ok(n as u32 + 1),
                    Ok(_) => return Err(self.full_at(w, started.elapsed())),
                    Err(a) => w = a,
                }
            }
            guard = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    match self.wait_cv.wait_timeout(guard, left) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    }
                }
                None => match self.wait_cv.wait(guard) {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                },
            };
        }
    }

    /// One `fetch_sub`; wakes a waiter if the word counts any.
    #[inline]
    fn release_slot(&self) {
        let prev = self.hot.word.fetch_sub(1, Release);
        if prev & FLIGHT_MASK == 0 {
            // A raw permit given back twice: the count borrowed from the
            // limit bits. Put it back; the extra release is ignored.
            self.hot.word.fetch_add(1, Relaxed);
            return;
        }
        if waiters(prev) != 0 {
            self.wake_one();
        }
    }

    #[cold]
    fn wake_one(&self) {
        let _g = lock(&self.wait_lock);
        self.wait_cv.notify_one();
    }

    // ----- outcomes ----------------------------------------------------

    /// Give back a permit with the call's outcome: the breaker (if any)
    /// counts it, the adaptive limit (if any) samples its latency (a
    /// failure counts as a drop; an ignored call is not sampled).
    #[inline]
    pub fn record_raw(&self, p: RawBulkheadPermit, outcome: Outcome) {
        self.finish(p, Some(outcome));
    }

    /// Give back a permit without an outcome (the call was abandoned): its
    /// slot and its breaker probe slot are freed, nothing is counted.
    #[inline]
    pub fn release_raw(&self, p: RawBulkheadPermit) {
        self.finish(p, None);
    }

    #[inline]
    fn finish(&self, p: RawBulkheadPermit, outcome: Option<Outcome>) {
        if self.plain {
            // The common case, inlined: one fetch_sub.
            self.release_slot();
            return;
        }
        self.finish_general(p, outcome);
    }

    #[inline(never)]
    fn finish_general(&self, p: RawBulkheadPermit, outcome: Option<Outcome>) {
        let counted = match &self.watch {
            Some(w) if p.slot != 0 && p.slot as usize <= w.slots.len() => w.free(p.slot),
            _ => false,
        };
        if let Some(b) = &self.breaker {
            match outcome {
                // A call a sweep counted as slow is not counted again.
                Some(o) if !counted => b.record_raw(p.breaker, o, None),
                _ => b.release_raw(p.breaker),
            }
        }
        if let (Some(a), Some(o)) = (&self.adaptive, outcome) {
            if o != Outcome::Ignored {
                let now = self.clock.now_ns();
                let rtt = now.saturating_sub(p.start_ns);
                let in_flight = u32::try_from(p.in_flight).unwrap_or(u32::MAX);
                if let Some(l) = a.on_sample(now, rtt, in_flight, o == Outcome::Failure) {
                    self.store_limit(l);
                }
            }
        }
        self.release_slot();
    }

    // ----- in-flight pile-ups ------------------------------------------

    #[inline]
    fn maybe_sweep(&self) {
        let (Some(w), Some(b)) = (&self.watch, &self.breaker) else {
            return;
        };
        let now = b.clock().recent_ns();
        let next = w.next_sweep.load(Relaxed);
        if now < next {
            return;
        }
        // One sweeper per interval.
        if w.next_sweep
            .compare_exchange(next, now.saturating_add(w.interval_ns), Relaxed, Relaxed)
            .is_ok()
        {
            self.sweep();
        }
    }

    /// Count every watched call in flight for longer than the breaker's
    /// slow-call duration, and not counted yet, as a slow call now. Runs by
    /// itself on acquisitions; call it from a timer to catch pile-ups while
    /// no call arrives. Returns the calls it counted.
    pub fn sweep(&self) -> u32 {
        let (Some(w), Some(b)) = (&self.watch, &self.breaker) else {
            return 0;
        };
        let now = b.clock().now_ns();
        let current = b.generation();
        let mut counted = 0;
        for s in w.slots.iter() {
            let v = s.load(Relaxed);
            if v == 0 || v & COUNTED != 0 || now.saturating_sub(w.start_ns(v)) <= w.slow_ns {
                continue;
            }
            // The CAS decides between this sweep and the call's own
            // completion (a swap): exactly one of them counts the call.
            if s.compare_exchange(v, v | COUNTED, AcqRel, Relaxed).is_ok() {
                let p = RawPermit {
                    generation: Watch::generation(v, current),
                    start_ns: w.start_ns(v),
                    probe: false,
                };
                if b.record_in_flight_slow(p) {
                    counted += 1;
                }
            }
        }
        if counted != 0 {
            self.in_flight_slow.fetch_add(u64::from(counted), Relaxed);
        }
        counted
    }

    // ----- calls -------------------------------------------------------

    /// Run `f` in a slot (waiting up to `max_wait` for one): `Ok` is a
    /// success, `Err` a failure.
    pub fn call<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, BulkheadCallError<E>> {
        self.call_with(
            |r: &Result<T, E>| {
                if r.is_ok() {
                    Outcome::Success
                } else {
                    Outcome::Failure
                }
            },
            f,
        )
    }

    /// Run `f` in a slot; `classify` decides the outcome.
    pub fn call_with<T, E>(
        &self,
        classify: impl FnOnce(&Result<T, E>) -> Outcome,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, BulkheadCallError<E>> {
        let permit = self.acquire()?;
        // A panic in `f` drops the permit, which frees the slot.
        let r = f();
        permit.record(classify(&r));
        r.map_err(BulkheadCallError::Failed)
    }

    // ----- reading -----------------------------------------------------

    /// A snapshot of the counters.
    pub fn metrics(&self) -> BulkheadMetrics {
        let w = self.hot.word.load(Relaxed);
        BulkheadMetrics {
            name: self.name.to_string(),
            limit: limit_of(w) as u32,
            in_flight: flight(w) as u32,
            peak_in_flight: self.peak_in_flight(),
            waiting: waiters(w) as u32,
            rejected: self.rejected.load(Relaxed),
            in_flight_slow: self.in_flight_slow.load(Relaxed),
            algorithm: self
                .adaptive
                .as_ref()
                .map(|a| a.config().algorithm.as_str()),
            limit_updates: self.adaptive.as_ref().map_or(0, |a| a.updates()),
        }
    }
}

const NO_BREAKER: RawPermit = RawPermit {
    generation: 0,
    start_ns: 0,
    probe: false,
};

fn lock(m: &Mutex<()>) -> crate::bulkhead::Guard<'_> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[cfg(not(loom))]
type Guard<'a> = std::sync::MutexGuard<'a, ()>;
#[cfg(loom)]
type Guard<'a> = loom::sync::MutexGuard<'a, ()>;

/// The right to one call in a bulkhead slot. Report its outcome with
/// [`BulkheadPermit::success`], [`BulkheadPermit::failure`],
/// [`BulkheadPermit::ignore`] or [`BulkheadPermit::record`]; dropping it
/// unreported (a panic, a cancelled future) frees its slot and counts
/// nothing.
#[must_use = "a permit holds a slot until it is given an outcome or dropped"]
#[derive(Debug)]
pub struct BulkheadPermit<'a> {
    bulkhead: &'a Bulkhead,
    raw: RawBulkheadPermit,
}

impl<'a> BulkheadPermit<'a> {
    fn new(bulkhead: &'a Bulkhead, raw: RawBulkheadPermit) -> Self {
        BulkheadPermit { bulkhead, raw }
    }

    /// The plain value inside.
    pub fn raw(&self) -> RawBulkheadPermit {
        self.raw
    }

    /// Report an outcome and free the slot.
    #[inline]
    pub fn record(self, outcome: Outcome) {
        // No drop flag: the permit is consumed here without running Drop.
        let this = std::mem::ManuallyDrop::new(self);
        this.bulkhead.record_raw(this.raw, outcome);
    }

    /// The call succeeded.
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success)
    }

    /// The call failed (for the adaptive limit: a drop).
    pub fn failure(self) {
        self.record(Outcome::Failure)
    }

    /// The call ended in a way that says nothing about the dependency.
    pub fn ignore(self) {
        self.record(Outcome::Ignored)
    }
}

impl Drop for BulkheadPermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.bulkhead.release_raw(self.raw);
    }
}

// ----- Prometheus ------------------------------------------------------

/// Append the Prometheus text exposition of bulkheads:
///
/// ```text
/// fusebox_bulkhead_in_flight{bulkhead}            gauge    calls in flight
/// fusebox_bulkhead_limit{bulkhead}                gauge    current limit
/// fusebox_bulkhead_peak_in_flight{bulkhead}       gauge    most calls in flight at once
/// fusebox_bulkhead_waiting{bulkhead}              gauge    threads waiting for a slot
/// fusebox_bulkhead_rejected_total{bulkhead}       counter  calls refused: full
/// fusebox_bulkhead_in_flight_slow_total{bulkhead} counter  calls counted slow in flight
/// fusebox_bulkhead_limit_updates_total{bulkhead}  counter  adaptive windows closed
/// ```
pub fn write_prometheus(out: &mut String, metrics: &[BulkheadMetrics]) {
    use crate::observe::prometheus::escape_label;
    use std::fmt::Write;
    type Get = fn(&BulkheadMetrics) -> u64;
    let families: [(&str, &str, &str, Get); 7] = [
        (
            "fusebox_bulkhead_in_flight",
            "gauge",
            "Calls in flight in the bulkhead.",
            |m| u64::from(m.in_flight),
        ),
        (
            "fusebox_bulkhead_limit",
            "gauge",
            "The bulkhead's current concurrency limit.",
            |m| u64::from(m.limit),
        ),
        (
            "fusebox_bulkhead_peak_in_flight",
            "gauge",
            "The most calls ever in flight at once.",
            |m| u64::from(m.peak_in_flight),
        ),
        (
            "fusebox_bulkhead_waiting",
            "gauge",
            "Threads waiting for a bulkhead slot.",
            |m| u64::from(m.waiting),
        ),
        (
            "fusebox_bulkhead_rejected_total",
            "counter",
            "Calls refused because the bulkhead was full.",
            |m| m.rejected,
        ),
        (
            "fusebox_bulkhead_in_flight_slow_total",
            "counter",
            "Calls counted as slow by the breaker while still in flight.",
            |m| m.in_flight_slow,
        ),
        (
            "fusebox_bulkhead_limit_updates_total",
            "counter",
            "Windows closed by the adaptive concurrency limit.",
            |m| m.limit_updates,
        ),
    ];
    let names: Vec<String> = metrics.iter().map(|m| escape_label(&m.name)).collect();
    for (name, kind, help, get) in families {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (m, n) in metrics.iter().zip(&names) {
            let _ = writeln!(out, "{name}{{bulkhead=\"{n}\"}} {}", get(m));
        }
    }
}

/// The exposition of `metrics` alone (see [`write_prometheus`]).
pub fn render(metrics: &[BulkheadMetrics]) -> String {
    let mut out = String::with_capacity(256 + metrics.len() * 512);
    write_prometheus(&mut out, metrics);
    out
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_word_packs_three_fields() {
        let b = Bulkhead::new(MAX_CONCURRENT).unwrap();
        assert_eq!(b.limit(), MAX_CONCURRENT);
        let p = b.try_acquire().unwrap();
        assert_eq!(
            (b.in_flight(), b.limit(), b.waiting()),
            (1, MAX_CONCURRENT, 0)
        );
        drop(p);
        assert_eq!(b.in_flight(), 0);
    }

    #[test]
    fn a_raw_permit_given_back_twice_does_not_corrupt_the_count() {
        let b = Bulkhead::new(2).unwrap();
        let p = b.try_acquire_raw().unwrap();
        b.release_raw(p);
        b.release_raw(p);
        assert_eq!((b.in_flight(), b.limit()), (0, 2));
        let _a = b.try_acquire().unwrap();
        let _b = b.try_acquire().unwrap();
        assert!(b.try_acquire().is_err());
    }

    #[test]
    fn watch_slot_words_round_trip() {
        let w = Watch {
            slots: (0..4).map(|_| atomic_u64(0)).collect(),
            origin_ns: 1_000_000_000,
            slow_ns: 1,
            interval_ns: 1,
            next_sweep: StatU64::new(0),
        };
        let p = RawPermit {
            generation: (5 << 21) | 77,
            start_ns: 1_000_000_000 + 3 * 65_536 + 10,
            probe: false,
        };
        let v = w.pack(p);
        assert_ne!(v, 0);
        assert_eq!(v & COUNTED, 0);
        // Rounded up to the end of its tick: never earlier than the truth.
        let s = w.start_ns(v);
        assert!(s >= p.start_ns && s - p.start_ns < 65_536);
        assert_eq!(Watch::generation(v, p.generation), p.generation);
        assert_eq!(Watch::generation(v, p.generation + 3), p.generation);
        let slot = w.claim(v);
        assert_ne!(slot, 0);
        assert!(!w.free(slot));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! `RUSTFLAGS="--cfg loom" cargo test -p fusebox --release --lib loom`
    use super::*;
    use crate::engine::config::Config;
    use crate::ManualClock;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::thread;

    #[test]
    fn loom_bulkhead_never_admits_more_than_its_limit() {
        loom::model(|| {
            let b = loom::sync::Arc::new(Bulkhead::new(2).unwrap());
            let inside = loom::sync::Arc::new(AtomicUsize::new(0));
            let admitted = loom::sync::Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..3)
                .map(|_| {
                    let (b, inside, admitted) = (b.clone(), inside.clone(), admitted.clone());
                    thread::spawn(move || {
                        if let Ok(p) = b.try_acquire() {
                            admitted.fetch_add(1, Ordering::Relaxed);
                            let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            assert!(n <= 2, "{n} calls in flight, limit 2");
                            inside.fetch_sub(1, Ordering::SeqCst);
                            p.success();
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            let a = admitted.load(Ordering::Relaxed);
            assert!(a >= 2, "two of three always fit");
            assert_eq!(b.metrics().rejected as usize, 3 - a);
            assert_eq!(b.in_flight(), 0);
        });
    }

    #[test]
    fn loom_bulkhead_loses_no_slot_on_any_release_path() {
        loom::model(|| {
            let b = loom::sync::Arc::new(Bulkhead::new(2).unwrap());
            let b1 = b.clone();
            // Dropped unrecorded (what a panic does), and recorded.
            let t1 = thread::spawn(move || {
                if let Ok(p) = b1.try_acquire() {
                    drop(p);
                }
                if let Ok(p) = b1.try_acquire() {
                    p.failure();
                }
            });
            let b2 = b.clone();
            // Raw: released, and recorded ignored.
            let t2 = thread::spawn(move || {
                if let Ok(p) = b2.try_acquire_raw() {
                    b2.release_raw(p);
                }
                if let Ok(p) = b2.try_acquire_raw() {
                    b2.record_raw(p, Outcome::Ignored);
                }
            });
            t1.join().unwrap();
            t2.join().unwrap();
            assert_eq!(b.in_flight(), 0);
            // Both slots are there to take.
            let p1 = b.try_acquire().expect("first slot");
            let p2 = b.try_acquire().expect("second slot");
            assert!(b.try_acquire().is_err());
            drop((p1, p2));
        });
    }

    #[test]
    fn loom_bulkhead_lowered_limit_is_never_overshot() {
        loom::model(|| {
            let b = loom::sync::Arc::new(Bulkhead::new(2).unwrap());
            let held = b.try_acquire_raw().unwrap();
            let b1 = b.clone();
            let t = thread::spawn(move || b1.set_limit(1).unwrap());
            // Admitted only if the word still said limit 2 at its CAS.
            let second = b.try_acquire_raw();
            t.join().unwrap();
            assert_eq!(b.limit(), 1);
            assert!(b.try_acquire_raw().is_err(), "limit 1, one or two held");
            if let Ok(p) = second {
                b.release_raw(p);
            }
            b.release_raw(held);
            assert_eq!(b.in_flight(), 0);
        });
    }

    #[test]
    fn loom_bulkhead_waiter_is_always_woken() {
        // A lost wake-up would leave the waiter asleep for good (loom's
        // timed waits never time out) and loom would report a deadlock.
        loom::model(|| {
            let b = loom::sync::Arc::new(
                Bulkhead::builder()
                    .max_concurrent(1)
                    .max_wait(Duration::from_secs(3600))
                    .build()
                    .unwrap(),
            );
            let held = b.try_acquire_raw().unwrap();
            let b1 = b.clone();
            let t = thread::spawn(move || {
                let p = b1.acquire_raw().expect("woken with the slot");
                b1.release_raw(p);
            });
            // Release once the other thread waits (registered in the word:
            // asleep, or between its registration and its sleep).
            while b.waiting() == 0 {
                thread::yield_now();
            }
            b.release_raw(held);
            t.join().unwrap();
            assert_eq!((b.in_flight(), b.waiting()), (0, 0));
        });
    }

    #[test]
    fn loom_bulkhead_two_waiters_both_get_through() {
        // One release wakes one waiter; its own release must wake the other.
        loom::model(|| {
            let b = loom::sync::Arc::new(
                Bulkhead::builder()
                    .max_concurrent(1)
                    .max_wait(Duration::from_secs(3600))
                    .build()
                    .unwrap(),
            );
            let held = b.try_acquire_raw().unwrap();
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let b = b.clone();
                    thread::spawn(move || {
                        let p = b.acquire_raw().expect("woken with a slot");
                        b.release_raw(p);
                    })
                })
                .collect();
            while b.waiting() < 2 {
                thread::yield_now();
            }
            b.release_raw(held);
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!((b.in_flight(), b.waiting()), (0, 0));
        });
    }

    #[test]
    fn loom_bulkhead_stalled_call_is_counted_once() {
        loom::model(|| {
            let clock = std::sync::Arc::new(ManualClock::new());
            let cfg = Config::builder()
                .slow_call_duration(Some(Duration::from_secs(1)))
                .build()
                .unwrap();
            let breaker = Arc::new(Breaker::with_clock(cfg, clock.clone()).unwrap());
            let b = loom::sync::Arc::new(
                Bulkhead::builder()
                    .max_concurrent(1)
                    .breaker(breaker.clone())
                    .count_in_flight_slow(true)
                    .build()
                    .unwrap(),
            );
            let p = b.try_acquire_raw().unwrap();
            assert_ne!(p.slot, 0);
            clock.advance(Duration::from_secs(2));
            let b1 = b.clone();
            let sweeper = thread::spawn(move || b1.sweep());
            // The call ends as a failure: counted as one if it wins, as a
            // slow success if the sweep wins; never both.
            b.record_raw(p, Outcome::Failure);
            let swept = sweeper.join().unwrap();
            let m = breaker.metrics();
            assert_eq!(m.successes + m.failures, 1);
            assert_eq!(m.slow, 1);
            assert_eq!(m.successes, u64::from(swept));
            assert_eq!(b.in_flight(), 0);
        });
    }
}
