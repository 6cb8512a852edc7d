//! Bulkheads: at most N calls in flight per dependency.
//!
//! A cascading failure (`docs/semantics.md#cascading-failure`) is a slow
//! dependency holding every worker thread of its caller. A breaker reacts to *finished* calls only; while the
//! slow calls are still running nothing trips, and every new request joins
//! them. A bulkhead bounds the calls in flight to one dependency: past the
//! limit a call is refused at once (or after a bounded wait) with
//! [`BulkheadFull`], distinct from the breaker's
//! [`Rejected`](crate::Rejected), so the other dependencies keep their share
//! of the pool (Hystrix's semaphore isolation, Resilience4j's and Polly's
//! bulkheads, opossum's `capacity`).
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
//! The whole admission state is one `AtomicU64` (encoded in one place,
//! `bulkhead/word.rs`):
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
//!
//! # Files
//!
//! One idea each: `word.rs` (the bulkhead word), `builder.rs` (settings),
//! `acquire.rs` (admission), `wait.rs` (waiting for a slot), `release.rs`
//! (outcomes and release), `call.rs` (running a function in a slot),
//! `permit.rs`, `error.rs`, `watch.rs` (in-flight pile-ups and their slot
//! word), `metrics.rs` (counters, and their Prometheus exposition),
//! `loom.rs` (the models), and `concurrency/` (the adaptive limits).

pub mod concurrency;

mod acquire;
mod builder;
mod call;
mod error;
#[cfg(all(test, loom))]
mod loom;
mod metrics;
mod permit;
mod release;
mod wait;
mod watch;
mod word;

pub use builder::BulkheadBuilder;
pub use error::{BulkheadCallError, BulkheadError, BulkheadFull};
pub use metrics::{render, write_prometheus, BulkheadMetrics};
pub use permit::{BulkheadPermit, RawBulkheadPermit};
pub use watch::MAX_WATCHED;
pub use word::MAX_CONCURRENT;

use crate::bulkhead::concurrency::AdaptiveLimit;
use crate::engine::breaker::Breaker;
use crate::engine::clock::ClockSource;
use crate::engine::config::ConfigError;
use crate::sync::Ordering::Relaxed;
use crossbeam_utils::CachePadded;
use std::fmt;
use std::sync::atomic::AtomicU64 as StatU64;
use std::sync::Arc;
use std::time::Duration;
use wait::Sleepers;
use watch::Watch;
use word::AtomicWord;

/// The line the admitting CAS takes.
struct Hot {
    word: AtomicWord,
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
    sleepers: Sleepers,
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

impl Bulkhead {
    /// The name.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    ///
    /// assert_eq!(Bulkhead::builder().name("db").build()?.name(), "db");
    /// assert_eq!(Bulkhead::new(1)?.name(), "bulkhead");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current limit.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    ///
    /// let b = Bulkhead::new(8)?;
    /// assert_eq!(b.limit(), 8);
    /// b.set_limit(2)?;
    /// assert_eq!(b.limit(), 2);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn limit(&self) -> u32 {
        self.hot.word.load(Relaxed).limit()
    }

    /// Calls in flight now.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    ///
    /// let b = Bulkhead::new(8)?;
    /// let p = b.try_acquire()?;
    /// assert_eq!(b.in_flight(), 1);
    /// p.success();
    /// assert_eq!(b.in_flight(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_flight(&self) -> u32 {
        self.hot.word.load(Relaxed).in_flight()
    }

    /// Threads waiting for a slot now.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use std::time::Duration;
    ///
    /// let b = Bulkhead::builder().max_concurrent(1).max_wait(Duration::from_secs(60)).build()?;
    /// assert_eq!(b.waiting(), 0);
    /// let held = b.try_acquire()?;
    /// std::thread::scope(|s| {
    ///     let waiter = s.spawn(|| b.acquire().is_ok());
    ///     while b.waiting() != 1 {
    ///         std::thread::yield_now();
    ///     }
    ///     drop(held);
    ///     assert!(waiter.join().unwrap());
    /// });
    /// assert_eq!(b.waiting(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn waiting(&self) -> u32 {
        self.hot.word.load(Relaxed).waiters()
    }

    /// The most calls ever in flight at once.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    ///
    /// let b = Bulkhead::new(8)?;
    /// let (p, q) = (b.try_acquire()?, b.try_acquire()?);
    /// drop((p, q));
    /// let _r = b.try_acquire()?;
    /// assert_eq!((b.in_flight(), b.peak_in_flight()), (1, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peak_in_flight(&self) -> u32 {
        self.hot.peak.load(Relaxed) as u32
    }

    /// How long [`Bulkhead::acquire`] waits for a slot.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use std::time::Duration;
    ///
    /// assert_eq!(Bulkhead::new(1)?.max_wait(), Duration::ZERO);
    /// let b = Bulkhead::builder().max_wait(Duration::from_millis(20)).build()?;
    /// assert_eq!(b.max_wait(), Duration::from_millis(20));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// The breaker it guards, if any.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use fusebox::{Breaker, Config, State};
    /// use std::sync::Arc;
    ///
    /// assert!(Bulkhead::new(1)?.breaker().is_none());
    /// let breaker = Arc::new(Breaker::new(Config::default())?);
    /// let b = Bulkhead::builder().breaker(breaker).build()?;
    /// assert_eq!(b.breaker().map(|b| b.state()), Some(State::Closed));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn breaker(&self) -> Option<&Arc<Breaker>> {
        self.breaker.as_ref()
    }

    /// Its adaptive limit, if any.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use fusebox::LimitConfig;
    ///
    /// assert!(Bulkhead::new(1)?.adaptive().is_none());
    /// let b = Bulkhead::builder().adaptive(LimitConfig::aimd()).build()?;
    /// let a = b.adaptive().unwrap();
    /// assert_eq!((a.limit(), a.updates(), a.config().algorithm.as_str()), (10, 0, "aimd"));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn adaptive(&self) -> Option<&AdaptiveLimit> {
        self.adaptive.as_ref()
    }

    /// Set the limit by hand (1..=the limit it was built with, or the
    /// adaptive maximum). Calls already in flight above a lowered limit run
    /// on; new ones are refused until the count is below it. An adaptive
    /// limit moves it again at its next window.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    ///
    /// let b = Bulkhead::new(2)?;
    /// let (p, q) = (b.try_acquire()?, b.try_acquire()?);
    /// b.set_limit(1)?; // both calls run on
    /// drop(p);
    /// assert!(b.try_acquire().is_err(), "one in flight, limit 1");
    /// drop(q);
    /// assert!(b.try_acquire().is_ok());
    /// assert_eq!(b.set_limit(3).unwrap_err().field, "limit"); // above what it was built with
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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

    /// Put `limit` into the word, and wake the waiters if it went up.
    fn store_limit(&self, limit: u32) {
        let word = &self.hot.word;
        let mut w = word.load(Relaxed);
        loop {
            let new = w.with_limit(limit);
            if new == w {
                return;
            }
            // Relaxed: the limit publishes nothing; admission reads it from
            // the same word it increments, so it is never judged stale.
            match word.compare_exchange_weak(w, new, Relaxed, Relaxed) {
                Ok(_) => {
                    if new.limit() > w.limit() && new.waiters() != 0 {
                        self.sleepers.wake_all();
                    }
                    return;
                }
                Err(a) => w = a,
            }
        }
    }
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
}
