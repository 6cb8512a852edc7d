//! Making a bulkhead: its settings, checked by [`BulkheadBuilder::build`].

use super::wait::Sleepers;
use super::watch::{Watch, MAX_WATCHED};
use super::word::{AtomicWord, Word, MAX_CONCURRENT};
use super::{Bulkhead, Hot};
use crate::bulkhead::concurrency::{AdaptiveLimit, LimitConfig};
use crate::engine::breaker::Breaker;
use crate::engine::clock::ClockSource;
use crate::engine::config::ConfigError;
use crossbeam_utils::CachePadded;
use std::sync::atomic::AtomicU64 as StatU64;
use std::sync::Arc;
use std::time::Duration;

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

impl Bulkhead {
    /// A builder with the defaults: 25 calls, no wait, no breaker.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use std::time::Duration;
    ///
    /// let b = Bulkhead::builder().build()?;
    /// assert_eq!((b.name(), b.limit(), b.max_wait()), ("bulkhead", 25, Duration::ZERO));
    /// assert!(b.breaker().is_none() && b.adaptive().is_none());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
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
    ///
    /// ```rust
    /// use fusebox::bulkhead::{Bulkhead, MAX_CONCURRENT};
    ///
    /// let b = Bulkhead::new(2)?;
    /// assert_eq!((b.limit(), b.in_flight()), (2, 0));
    /// assert_eq!(Bulkhead::new(0).unwrap_err().field, "max_concurrent");
    /// assert!(Bulkhead::new(MAX_CONCURRENT + 1).is_err());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn new(max_concurrent: u32) -> Result<Bulkhead, ConfigError> {
        Bulkhead::builder().max_concurrent(max_concurrent).build()
    }
}

impl BulkheadBuilder {
    /// The name, for metrics. Default `bulkhead`.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    ///
    /// let b = Bulkhead::builder().name("inventory").build()?;
    /// assert_eq!((b.name(), b.metrics().name.as_str()), ("inventory", "inventory"));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// The fixed limit (1..=[`MAX_CONCURRENT`]). Default 25. Ignored when
    /// the limit is [`BulkheadBuilder::adaptive`].
    ///
    /// ```rust
    /// use fusebox::bulkhead::{Bulkhead, MAX_CONCURRENT};
    /// use fusebox::LimitConfig;
    ///
    /// assert_eq!(Bulkhead::builder().max_concurrent(3).build()?.limit(), 3);
    /// let err = Bulkhead::builder().max_concurrent(MAX_CONCURRENT + 1).build().unwrap_err();
    /// assert_eq!(err.field, "max_concurrent");
    /// // An adaptive limit starts at its own initial limit.
    /// let b = Bulkhead::builder().max_concurrent(3).adaptive(LimitConfig::aimd()).build()?;
    /// assert_eq!(b.limit(), 10);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn max_concurrent(mut self, n: u32) -> Self {
        self.max_concurrent = n;
        self
    }

    /// How long [`Bulkhead::acquire`] and [`Bulkhead::call`] wait for a slot
    /// when the bulkhead is full (real time). Default zero: refuse at once.
    /// [`Bulkhead::try_acquire`] never waits.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use std::time::Duration;
    ///
    /// let b = Bulkhead::builder().max_wait(Duration::from_millis(50)).build()?;
    /// assert_eq!(b.max_wait(), Duration::from_millis(50));
    /// let err = Bulkhead::builder().max_wait(Duration::MAX).build().unwrap_err();
    /// assert_eq!(err.field, "max_wait");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = d;
        self
    }

    /// Let the limit follow latency (see [`crate::concurrency`]).
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use fusebox::LimitConfig;
    ///
    /// let b = Bulkhead::builder().adaptive(LimitConfig::gradient2().limits(20, 30, 40)).build()?;
    /// assert_eq!(b.limit(), 30);
    /// assert_eq!(b.adaptive().map(|a| a.config().max_limit), Some(40));
    /// // The adaptive settings are checked too.
    /// let err = Bulkhead::builder().adaptive(LimitConfig::aimd().limits(5, 1, 9)).build();
    /// assert_eq!(err.unwrap_err().field, "initial_limit");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn adaptive(mut self, config: LimitConfig) -> Self {
        self.adaptive = Some(config);
        self
    }

    /// Guard `breaker` too: a call asks the breaker first, and the permit
    /// reports the outcome to it.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use fusebox::{Breaker, Config};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::new(Config::default())?);
    /// let b = Bulkhead::builder().breaker(breaker.clone()).build()?;
    /// b.try_acquire()?.success();
    /// assert_eq!(breaker.metrics().successes, 1);
    /// assert!(Arc::ptr_eq(b.breaker().unwrap(), &breaker));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn breaker(mut self, breaker: Arc<Breaker>) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Count calls in flight for longer than the breaker's
    /// `slow_call_duration` as slow calls before they finish. Needs a
    /// breaker with a slow-call duration, and a limit ≤ [`MAX_WATCHED`].
    ///
    /// ```rust
    /// use fusebox::bulkhead::{Bulkhead, MAX_WATCHED};
    /// use fusebox::{Breaker, Config};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let config = Config::builder().slow_call_duration(Some(Duration::from_secs(2))).build()?;
    /// let breaker = Arc::new(Breaker::new(config)?);
    /// let b = Bulkhead::builder().breaker(breaker.clone()).count_in_flight_slow(true).build()?;
    /// assert_ne!(b.try_acquire()?.raw().slot, 0); // the call is watched
    /// // Without a breaker (or its slow-call duration), or above the table's size: refused.
    /// let err = Bulkhead::builder().count_in_flight_slow(true).build().unwrap_err();
    /// assert_eq!(err.field, "count_in_flight_slow");
    /// let too_many = Bulkhead::builder()
    ///     .max_concurrent(MAX_WATCHED + 1)
    ///     .breaker(breaker)
    ///     .count_in_flight_slow(true)
    ///     .build();
    /// assert_eq!(too_many.unwrap_err().field, "count_in_flight_slow");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn count_in_flight_slow(mut self, on: bool) -> Self {
        self.count_in_flight_slow = on;
        self
    }

    /// The clock that times calls for the adaptive limit. Default: the
    /// breaker's, else the system clock.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use fusebox::{LimitConfig, ManualClock, Outcome};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let b = Bulkhead::builder().adaptive(LimitConfig::aimd()).clock(clock.clone()).build()?;
    /// let p = b.try_acquire_raw()?;
    /// assert_eq!(p.start_ns, 1_000_000_000); // admitted at the manual clock's origin, 1 s
    /// clock.advance(Duration::from_millis(30));
    /// b.record_raw(p, Outcome::Success); // a 30 ms sample: opens the first window
    /// assert_eq!(b.adaptive().map(|a| a.updates()), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clock(mut self, clock: impl Into<ClockSource>) -> Self {
        self.clock = Some(clock.into());
        self
    }

    /// Validate and build.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    ///
    /// let b = Bulkhead::builder().name("db").max_concurrent(8).build()?;
    /// assert_eq!((b.name(), b.limit()), ("db", 8));
    /// let err = Bulkhead::builder().max_concurrent(0).build().unwrap_err();
    /// assert_eq!((err.field, err.value.as_str()), ("max_concurrent", "0"));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
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
            let breaker_clock = self.breaker.as_ref().map(|b| b.clock().now_ns());
            Some(Watch::new(
                capacity,
                breaker_clock.unwrap_or(0),
                slow.as_nanos() as u64,
            ))
        } else {
            None
        };
        let adaptive = self.adaptive.map(AdaptiveLimit::new).transpose()?;
        Ok(Bulkhead {
            plain: self.breaker.is_none() && adaptive.is_none() && watch.is_none(),
            hot: CachePadded::new(Hot {
                word: AtomicWord::new(Word::new(initial)),
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
            sleepers: Sleepers::new(),
        })
    }
}
