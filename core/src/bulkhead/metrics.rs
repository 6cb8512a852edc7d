//! A bulkhead's counters, and their Prometheus exposition (written by
//! [`crate::prometheus`], the one writer of the crate).

use super::Bulkhead;
use crate::sync::Ordering::Relaxed;

/// A snapshot of a bulkhead's counters.
///
/// ```rust
/// use fusebox::bulkhead::Bulkhead;
///
/// let b = Bulkhead::builder().name("db").max_concurrent(1).build()?;
/// let held = b.try_acquire()?;
/// assert!(b.try_acquire().is_err());
/// let m = b.metrics();
/// assert_eq!((m.name.as_str(), m.limit, m.in_flight, m.rejected), ("db", 1, 1, 1));
/// assert_eq!((m.algorithm, m.limit_updates), (None, 0)); // a fixed limit
/// drop(held);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

impl Bulkhead {
    /// A snapshot of the counters.
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use fusebox::LimitConfig;
    ///
    /// let b = Bulkhead::builder().name("search").adaptive(LimitConfig::vegas()).build()?;
    /// let _a = b.try_acquire()?;
    /// let _b = b.try_acquire()?;
    /// let m = b.metrics();
    /// assert_eq!((m.limit, m.in_flight, m.peak_in_flight, m.waiting), (20, 2, 2, 0));
    /// assert_eq!(m.algorithm, Some("vegas"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metrics(&self) -> BulkheadMetrics {
        let w = self.hot.word.load(Relaxed);
        BulkheadMetrics {
            name: self.name.to_string(),
            limit: w.limit(),
            in_flight: w.in_flight(),
            peak_in_flight: self.peak_in_flight(),
            waiting: w.waiters(),
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
///
/// ```rust
/// use fusebox::bulkhead::{self, Bulkhead};
///
/// let (a, b) = (Bulkhead::new(4)?, Bulkhead::builder().name("db").build()?);
/// let _p = a.try_acquire()?;
/// let mut text = String::from("# breakers first\n");
/// bulkhead::write_prometheus(&mut text, &[a.metrics(), b.metrics()]);
/// assert!(text.starts_with("# breakers first\n# HELP fusebox_bulkhead_in_flight "));
/// assert!(text.contains("# TYPE fusebox_bulkhead_in_flight gauge\n"));
/// assert!(text.contains("fusebox_bulkhead_in_flight{bulkhead=\"bulkhead\"} 1\n"));
/// assert!(text.contains("fusebox_bulkhead_limit{bulkhead=\"db\"} 25\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_prometheus(out: &mut String, metrics: &[BulkheadMetrics]) {
    crate::observe::prometheus::write_bulkheads(out, metrics);
}

/// The exposition of `metrics` alone (see [`write_prometheus`]).
///
/// ```rust
/// use fusebox::bulkhead::{self, Bulkhead};
///
/// let b = Bulkhead::builder().name("a \"quoted\" name").max_concurrent(3).build()?;
/// let text = bulkhead::render(&[b.metrics()]);
/// assert!(text.contains("fusebox_bulkhead_limit{bulkhead=\"a \\\"quoted\\\" name\"} 3\n"));
/// assert_eq!(text.lines().filter(|l| l.starts_with("# TYPE")).count(), 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render(metrics: &[BulkheadMetrics]) -> String {
    let mut out = String::with_capacity(256 + metrics.len() * 512);
    write_prometheus(&mut out, metrics);
    out
}
