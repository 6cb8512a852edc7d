//! A lock-free latency histogram over the recent window
//! (`docs/semantics.md#latency-histogram`).
//!
//! # Buckets
//!
//! Log-linear, like HdrHistogram and the `histogram` crate: values below
//! 2⁶ ns get one bucket each; above, every power of two is cut into
//! 2⁵ = 32 equal buckets, so a bucket is at most 1/32 of its lower bound
//! wide. A quantile is reported as the midpoint of the bucket that holds
//! it, so its relative error is at most 1/64 ≈ 1.6 %. Values of 2³⁶ ns
//! (about 68.7 s) and more land in the last bucket. 1024 buckets in all.
//!
//! # Window
//!
//! The window (default 10 s) is a ring of sub-histograms ("slots", default
//! 10 of them), each covering one slot width of time and tagged with the
//! epoch (time / slot width) it holds, like the breaker's bucket ring. So
//! that recording needs no division, the slot width is `window / slots`
//! rounded up to a power of two nanoseconds, the window counts the last
//! `ceil(window / width)` slots (so it is at most one slot longer than
//! asked: 10 s in 10 slots is 10 slots of 1.07 s), and the ring has a
//! power-of-two number of slots, of which the older ones are ignored. A
//! writer whose epoch is newer than its slot's tag rotates the slot: it
//! claims it with one CAS on the tag, zeroes the counters and publishes the
//! new tag. Readers add up only the slots whose tag lies within the last
//! `slots` epochs, so a slot that time moved past is never counted even if
//! nobody has rotated it yet.
//!
//! # Cost of recording
//!
//! [`LatencyHistogram::record_at`] is a shift and a mask to find the slot,
//! one relaxed load of the slot's tag and one relaxed `fetch_add` on a
//! bucket counter (plus, once per slot period, the rotation). [`LatencyHistogram::record`] adds a read of the recent
//! clock (one relaxed load for the system clock).
//!
//! Like the breaker's counters, the ring is *striped*: each thread records
//! into the stripe its thread index picks (a power of two, by default the
//! number of CPUs up to 8), with its own tags and counters, so threads on
//! different cores do not bounce one cache line; readers add up every
//! stripe. Each stripe costs 4 KiB per ring slot (64 KiB with the default
//! 16-slot ring).
//!
//! # Why not the `histogram` crate
//!
//! We studied its `AtomicHistogram` (same log-linear scheme; our index
//! function is the same arithmetic with grouping power 5). It has no notion
//! of a window: `drain()` swaps every bucket to zero with no tag that tells
//! readers which period a count belongs to, and we would still need the
//! ring of tagged slots around it. It also requires Rust 1.85 (edition
//! 2024) while fusebox supports 1.75. The index arithmetic is a dozen lines,
//! so we keep it here.

use crate::engine::clock::ClockSource;
use crate::engine::config::ConfigError;
use crate::sync::{AtomicU32, AtomicU64, Ordering::*};
use std::time::Duration;

/// Sub-buckets per power of two, as a power of two.
#[cfg(not(loom))]
pub const GROUPING_POWER: u32 = 5;
/// Values at or above 2^MAX_VALUE_POWER ns share the last bucket.
#[cfg(not(loom))]
pub const MAX_VALUE_POWER: u32 = 36;
// Under loom the same code runs on 6 buckets (values 0..=7 ns) instead of
// 1024: every counter a rotation zeroes or a snapshot reads is a scheduling
// point, and a thousand of them per slot would make the models explode.
/// Sub-buckets per power of two, as a power of two (loom: 2).
#[cfg(loom)]
pub const GROUPING_POWER: u32 = 1;
/// Values at or above 2^MAX_VALUE_POWER ns share the last bucket (loom: 8 ns).
#[cfg(loom)]
pub const MAX_VALUE_POWER: u32 = 3;
const SUB: usize = 1 << GROUPING_POWER;
/// Number of buckets.
pub const BUCKETS: usize = (MAX_VALUE_POWER as usize - GROUPING_POWER as usize + 1) * SUB;
/// Largest value kept exactly in range (larger ones are clamped to it).
pub const MAX_VALUE: u64 = (1 << MAX_VALUE_POWER) - 1;
/// Largest accepted number of slots.
pub const MAX_SLOTS: u32 = 1000;

/// Largest accepted number of stripes.
pub const MAX_STRIPES: u32 = 64;

/// Bit set in a slot tag while a writer zeroes the slot.
const RESETTING: u64 = 1 << 63;

/// A tag word alone on its cache line (written once per slot period).
#[repr(align(128))]
struct Tag(AtomicU64);

/// The bucket index of `value` (ns).
///
/// ```rust
/// use fusebox::histogram::{bucket_index, bucket_range, BUCKETS};
///
/// assert_eq!(bucket_index(7), 7); // one bucket per value below 64 ns
/// let (lo, hi) = bucket_range(bucket_index(1_000_000)); // 1 ms
/// assert!(lo <= 1_000_000 && 1_000_000 <= hi);
/// assert!((hi - lo + 1) * 32 <= lo); // at most 1/32 of its lower bound wide
/// assert_eq!(bucket_index(u64::MAX), BUCKETS - 1); // clamped to the last
/// ```
#[inline]
pub fn bucket_index(value: u64) -> usize {
    let v = value.min(MAX_VALUE);
    if v < (1 << (GROUPING_POWER + 1)) {
        return v as usize;
    }
    let p = 63 - v.leading_zeros(); // p >= GROUPING_POWER + 1
    let shift = p - GROUPING_POWER;
    // v >> shift is in [SUB, 2 SUB).
    (shift as usize) * SUB + (v >> shift) as usize
}

/// The values bucket `index` holds: `(lowest, highest)`, inclusive.
/// Panics if `index` is not below [`BUCKETS`].
///
/// ```rust
/// use fusebox::histogram::{bucket_index, bucket_range, BUCKETS};
///
/// assert_eq!(bucket_range(63), (63, 63));
/// assert_eq!(bucket_range(64), (64, 65)); // 2 ns wide from 64 ns
/// let (lo, hi) = bucket_range(BUCKETS - 1);
/// assert_eq!(bucket_index(lo), BUCKETS - 1);
/// assert!(hi as f64 / 1e9 > 68.0); // about 68.7 s and more
/// ```
pub fn bucket_range(index: usize) -> (u64, u64) {
    assert!(index < BUCKETS, "bucket index out of range");
    if index < 2 * SUB {
        return (index as u64, index as u64);
    }
    let shift = (index / SUB - 1) as u32;
    let m = (index % SUB + SUB) as u64;
    let lo = m << shift;
    (lo, lo + (1 << shift) - 1)
}

/// A histogram's window: its length and how many slots it rotates through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistogramWindow {
    /// Length of the window.
    pub duration: Duration,
    /// Number of slots (sub-histograms) it is cut into.
    pub slots: u32,
    /// Number of stripes (rounded up to a power of two); 0: the number of
    /// CPUs, at most 8.
    pub stripes: u32,
}

impl Default for HistogramWindow {
    /// 10 s in 10 slots, like the breaker's default window.
    fn default() -> Self {
        HistogramWindow {
            duration: Duration::from_secs(10),
            slots: 10,
            stripes: 0,
        }
    }
}

impl HistogramWindow {
    fn stripes(&self) -> usize {
        let n = if self.stripes == 0 {
            crate::engine::thread_slot::cores().min(8)
        } else {
            self.stripes as usize
        };
        n.next_power_of_two()
    }

    /// `(log2 of the slot width, slots counted, slots in the ring)`.
    fn validate(&self) -> Result<(u32, u64, u64), ConfigError> {
        if self.stripes > MAX_STRIPES {
            return Err(ConfigError {
                field: "stripes",
                value: self.stripes.to_string(),
                expected: "0 (one per CPU, up to 8) or 1..=64 stripes",
            });
        }
        if self.slots == 0 || self.slots > MAX_SLOTS {
            return Err(ConfigError {
                field: "slots",
                value: self.slots.to_string(),
                expected: "1..=1000 slots",
            });
        }
        let ns = u64::try_from(self.duration.as_nanos()).unwrap_or(u64::MAX);
        let slot_ns = ns / u64::from(self.slots);
        if slot_ns == 0 || self.duration > crate::engine::config::MAX_DURATION {
            return Err(ConfigError {
                field: "window",
                value: format!("{:?}", self.duration),
                expected: "a duration in (0, 1 000 000 s], at least 1 ns per slot",
            });
        }
        let shift = 64 - (slot_ns - 1).leading_zeros();
        let counted = ns.div_ceil(1 << shift);
        Ok((shift, counted, counted.next_power_of_two()))
    }
}

/// A lock-free latency histogram over a sliding window of time.
///
/// ```rust
/// use fusebox::histogram::HistogramWindow;
/// use fusebox::{LatencyHistogram, ManualClock};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let window = HistogramWindow { duration: Duration::from_secs(5), slots: 5, stripes: 0 };
/// let h = LatencyHistogram::with_window(window, clock.clone())?;
///
/// for _ in 0..95 {
///     h.record(Duration::from_millis(10));
/// }
/// for _ in 0..5 {
///     h.record(Duration::from_millis(400));
/// }
/// let near = |d: Duration, ms: f64| (d.as_secs_f64() * 1e3 / ms - 1.0).abs() < 0.016;
/// assert!(near(h.quantile(0.5).unwrap(), 10.0));
/// assert!(near(h.quantile(0.95).unwrap(), 10.0));
/// assert!(near(h.quantile(0.99).unwrap(), 400.0));
/// assert_eq!(h.snapshot().count(), 100);
///
/// // The window slides: old samples fall out.
/// clock.advance(Duration::from_secs(20));
/// assert_eq!(h.quantile(0.5), None);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct LatencyHistogram {
    clock: ClockSource,
    /// log2 of the slot width in ns.
    slot_shift: u32,
    /// Slots the window counts (the last `counted` epochs).
    counted: u64,
    /// Slots per stripe in the ring (a power of two, at least `counted`).
    ring: usize,
    /// `stripes - 1` (stripes is a power of two).
    stripe_mask: usize,
    /// Per stripe and slot (stripe-major): the `epoch + 1` the slot holds
    /// (0: never written), with [`RESETTING`] set while it is being zeroed.
    tags: Box<[Tag]>,
    /// `stripes × slots × BUCKETS` counters, stripe-major then slot-major.
    counts: Box<[AtomicU32]>,
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("slot_ns", &(1u64 << self.slot_shift))
            .field("slots", &self.counted)
            .field("stripes", &(self.stripe_mask + 1))
            .finish()
    }
}

impl LatencyHistogram {
    /// A histogram over the default window (10 s in 10 slots) on `clock`.
    ///
    /// ```rust
    /// use fusebox::{LatencyHistogram, ManualClock};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let h = LatencyHistogram::new(clock.clone());
    /// h.record(Duration::from_millis(3));
    /// clock.advance(Duration::from_secs(9));
    /// assert_eq!(h.snapshot().count(), 1); // still in the 10 s window
    /// clock.advance(Duration::from_secs(3));
    /// assert_eq!(h.snapshot().count(), 0);
    /// ```
    pub fn new(clock: impl Into<ClockSource>) -> LatencyHistogram {
        LatencyHistogram::with_window(HistogramWindow::default(), clock)
            .expect("the default window is valid")
    }

    /// A histogram over `window` on `clock` (example on
    /// [`LatencyHistogram`]).
    ///
    /// ```rust
    /// use fusebox::histogram::HistogramWindow;
    /// use fusebox::{ClockSource, LatencyHistogram};
    /// use std::time::Duration;
    ///
    /// let window = HistogramWindow { duration: Duration::from_secs(1), slots: 0, stripes: 0 };
    /// let err = LatencyHistogram::with_window(window, ClockSource::Monotonic).unwrap_err();
    /// assert_eq!(err.field, "slots");
    /// ```
    pub fn with_window(
        window: HistogramWindow,
        clock: impl Into<ClockSource>,
    ) -> Result<LatencyHistogram, ConfigError> {
        let (slot_shift, counted, ring) = window.validate()?;
        let stripes = window.stripes();
        let rings = stripes * ring as usize;
        Ok(LatencyHistogram {
            clock: clock.into(),
            slot_shift,
            counted,
            ring: ring as usize,
            stripe_mask: stripes - 1,
            tags: (0..rings).map(|_| Tag(AtomicU64::new(0))).collect(),
            counts: (0..rings * BUCKETS).map(|_| AtomicU32::new(0)).collect(),
        })
    }

    /// The clock it reads.
    pub fn clock(&self) -> &ClockSource {
        &self.clock
    }

    /// Record one latency, timestamped with the clock's recent time.
    #[inline]
    pub fn record(&self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.record_at(self.clock.recent_ns(), ns);
    }

    /// Record one latency of `latency_ns`, observed at clock time `now_ns`
    /// (e.g. the timestamp the breaker already read for the outcome).
    ///
    /// ```rust
    /// use fusebox::{Clock, LatencyHistogram, ManualClock};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let h = LatencyHistogram::new(clock.clone()); // a 10 s window
    /// let start = clock.now_ns();
    /// clock.advance(Duration::from_millis(30));
    /// let end = clock.now_ns();
    /// h.record_at(end, end - start); // times already read: no clock read here
    ///
    /// let ms = h.snapshot_at(end).quantile(1.0).unwrap() as f64 / 1e6;
    /// assert!((ms / 30.0 - 1.0).abs() < 0.016, "{ms}");
    /// // As of 20 s later, the sample has left the window.
    /// assert_eq!(h.snapshot_at(end + 20_000_000_000).count(), 0);
    /// ```
    #[inline]
    pub fn record_at(&self, now_ns: u64, latency_ns: u64) {
        let epoch = now_ns >> self.slot_shift;
        let stripe = crate::engine::thread_slot::current() & self.stripe_mask;
        let slot = stripe * self.ring + (epoch as usize & (self.ring - 1));
        // Relaxed: the tag only tells which period the slot holds; the
        // counters are statistics and publish nothing else. A writer that
        // races a rotation may see its sample zeroed or counted in the new
        // period: a sample or two at a slot boundary, which a latency
        // estimate tolerates (the breaker's exact counts live elsewhere).
        let tag = self.tags[slot].0.load(Relaxed);
        if tag != epoch + 1 && !self.rotate(slot, tag, epoch) {
            return;
        }
        self.counts[slot * BUCKETS + bucket_index(latency_ns)].fetch_add(1, Relaxed);
    }

    /// Bring `slot` to `epoch`. Returns false when the sample is too old to
    /// be counted (the slot already holds a later period).
    #[cold]
    #[inline(never)]
    fn rotate(&self, slot: usize, mut tag: u64, epoch: u64) -> bool {
        let want = epoch + 1;
        loop {
            let held = tag & !RESETTING;
            if held > want {
                return false; // our timestamp is a whole window behind
            }
            if held == want {
                return true; // rotated (or being zeroed) for our period
            }
            if tag == 0 {
                // Never used: its counters are still zero, so there is
                // nothing to clear, and no racing writer's first samples
                // can be wiped out by a clearing. Relaxed: there is nothing
                // for a reader to see before the tag (the counters are the
                // zeros they always were).
                match self.tags[slot]
                    .0
                    .compare_exchange(0, want, Relaxed, Relaxed)
                {
                    Ok(_) => return true,
                    Err(actual) => {
                        tag = actual;
                        continue;
                    }
                }
            }
            // Claim the slot: one writer wins and zeroes it; the others see
            // the claimed tag and count into the new period.
            match self.tags[slot]
                .0
                .compare_exchange(tag, want | RESETTING, Relaxed, Relaxed)
            {
                Ok(_) => {
                    for c in &self.counts[slot * BUCKETS..(slot + 1) * BUCKETS] {
                        c.store(0, Relaxed);
                    }
                    // Release: a reader that sees the clean tag (Acquire)
                    // sees the zeroed counters, not the old period's.
                    self.tags[slot].0.store(want, Release);
                    return true;
                }
                Err(actual) => tag = actual,
            }
        }
    }

    /// The counts of the window as of now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        self.snapshot_at(self.clock.recent_ns())
    }

    /// The counts of the window as of clock time `now_ns`.
    pub fn snapshot_at(&self, now_ns: u64) -> HistogramSnapshot {
        let current = (now_ns >> self.slot_shift) + 1;
        let mut counts = vec![0u64; BUCKETS];
        let mut total = 0;
        for (slot, tag) in self.tags.iter().enumerate() {
            let t = tag.0.load(Acquire);
            if t == 0 || t & RESETTING != 0 {
                continue;
            }
            // In the window: one of the last `counted` periods (or a little
            // ahead, written by a thread whose clock read was later).
            let d = current as i128 - t as i128;
            let k = self.counted as i128;
            if d <= -k || d >= k {
                continue;
            }
            let base = slot * BUCKETS;
            for (i, c) in counts.iter_mut().enumerate() {
                let n = u64::from(self.counts[base + i].load(Relaxed));
                *c += n;
                total += n;
            }
        }
        HistogramSnapshot { counts, total }
    }

    /// The `q` quantile (0 ≤ q ≤ 1) of the window, `None` when it is empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        self.snapshot().quantile(q).map(Duration::from_nanos)
    }

    /// Forget everything recorded. (A sample recorded while this runs may
    /// be kept or forgotten.)
    ///
    /// ```rust
    /// use fusebox::{LatencyHistogram, ManualClock};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let h = LatencyHistogram::new(Arc::new(ManualClock::new()));
    /// h.record(Duration::from_secs(2)); // e.g. before a failover
    /// h.clear();
    /// assert_eq!(h.quantile(0.5), None);
    /// h.record(Duration::from_millis(5));
    /// assert_eq!(h.snapshot().count(), 1);
    /// ```
    pub fn clear(&self) {
        for (slot, t) in self.tags.iter().enumerate() {
            // Claimed as a rotation claims it, then zeroed, then marked
            // never used: a tag of 0 promises zero counters (see `rotate`),
            // which the tag alone, reset as it once was, did not keep.
            let mut tag = t.0.load(Relaxed);
            while tag != 0 && tag & RESETTING == 0 {
                // (A slot being rotated is being zeroed already.)
                match t.0.compare_exchange(tag, tag | RESETTING, Relaxed, Relaxed) {
                    Ok(_) => {
                        for c in &self.counts[slot * BUCKETS..(slot + 1) * BUCKETS] {
                            c.store(0, Relaxed);
                        }
                        // Release: as in `rotate`.
                        t.0.store(0, Release);
                        break;
                    }
                    Err(actual) => tag = actual,
                }
            }
        }
    }
}

/// The counts of a histogram's window at one moment.
///
/// ```rust
/// use fusebox::{LatencyHistogram, ManualClock};
/// use std::{sync::Arc, time::Duration};
///
/// let h = LatencyHistogram::new(Arc::new(ManualClock::new()));
/// for ms in 1..=100 {
///     h.record(Duration::from_millis(ms));
/// }
/// let snap = h.snapshot();
/// assert_eq!(snap.count(), 100);
/// assert_eq!(snap.buckets().iter().sum::<u64>(), 100);
///
/// // Nearest rank, within 1.6 %: P50 is the 50th value, 50 ms.
/// let near = |ns: u64, ms: f64| (ns as f64 / 1e6 / ms - 1.0).abs() < 0.016;
/// assert!(near(snap.quantile(0.5).unwrap(), 50.0));
/// let (p50, p95, p99) = snap.p50_p95_p99().unwrap();
/// assert!(near(p50, 50.0) && near(p95, 95.0) && near(p99, 99.0));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistogramSnapshot {
    counts: Vec<u64>,
    total: u64,
}

impl HistogramSnapshot {
    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Per-bucket counts (see [`bucket_range`]).
    pub fn buckets(&self) -> &[u64] {
        &self.counts
    }

    /// The `q` quantile in ns (nearest rank: the smallest recorded value
    /// such that at least `q × count` samples are ≤ it), reported as the
    /// midpoint of its bucket; `None` when empty. `q` is clamped to [0, 1].
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bucket_range(i);
                return Some(lo + (hi - lo) / 2);
            }
        }
        None
    }

    /// P50, P95, P99 in ns.
    pub fn p50_p95_p99(&self) -> Option<(u64, u64, u64)> {
        Some((
            self.quantile(0.50)?,
            self.quantile(0.95)?,
            self.quantile(0.99)?,
        ))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::{Clock, ManualClock};
    use std::sync::Arc;

    #[test]
    fn buckets_tile_the_range() {
        let mut next = 0u64;
        for i in 0..BUCKETS {
            let (lo, hi) = bucket_range(i);
            assert_eq!(lo, next, "bucket {i}");
            assert_eq!(bucket_index(lo), i);
            assert_eq!(bucket_index(hi), i);
            // At most 1/32 of the lower bound wide.
            assert!((hi - lo + 1) * 32 <= lo.max(32), "bucket {i} too wide");
            next = hi + 1;
        }
        assert_eq!(next, MAX_VALUE + 1);
        assert_eq!(bucket_index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn cleared_samples_never_come_back() {
        // `clear` once reset only the tags: the next record of a slot took a
        // zero tag for zero counters and counted the old samples again, and
        // kept them a whole ring later.
        let clock = Arc::new(ManualClock::new());
        let h = LatencyHistogram::new(clock.clone());
        for _ in 0..100 {
            h.record(Duration::from_millis(5));
        }
        assert_eq!(h.snapshot().count(), 100);
        h.clear();
        assert_eq!(h.snapshot().count(), 0);
        h.record(Duration::from_millis(5));
        assert_eq!(h.snapshot().count(), 1);
        // A whole ring later, in the same slot.
        clock.advance_ns((h.ring as u64) << h.slot_shift);
        h.record(Duration::from_millis(5));
        assert_eq!(h.snapshot().count(), 1);
    }

    #[test]
    fn window_geometry() {
        let h = LatencyHistogram::new(Arc::new(ManualClock::new()));
        assert_eq!((h.slot_shift, h.counted, h.ring), (30, 10, 16));
        let w = HistogramWindow {
            duration: Duration::from_millis(100),
            slots: 3,
            stripes: 1,
        };
        let h = LatencyHistogram::with_window(w, Arc::new(ManualClock::new())).unwrap();
        // 33.3 ms slots -> 2^25 ns = 33.55 ms; 3 of them cover 100 ms.
        assert_eq!((h.slot_shift, h.counted, h.ring), (25, 3, 4));
    }

    #[test]
    fn old_slots_leave_the_window() {
        let clock = Arc::new(ManualClock::new());
        let h = LatencyHistogram::new(clock.clone());
        let w = 1u64 << 30; // slot width
        let e0 = clock.now_ns() >> 30;
        let at = |epoch: u64| (epoch << 30) + w / 2;
        for _ in 0..10 {
            h.record_at(at(e0), 100_000_000);
        }
        h.record_at(at(e0 + 5), 1_000_000);
        assert_eq!(h.snapshot_at(at(e0 + 5)).count(), 11);
        assert_eq!(h.snapshot_at(at(e0 + 9)).count(), 11);
        // The first slot is now exactly a window (10 slots) old.
        assert_eq!(h.snapshot_at(at(e0 + 10)).count(), 1);
        // A write to the same ring slot 16 epochs later zeroes it first.
        h.record_at(at(e0 + 16), 2_000_000);
        let s = h.snapshot_at(at(e0 + 16));
        assert_eq!(s.count(), 1);
        assert!(s.quantile(1.0).unwrap() < 2_100_000);
        // A sample stamped a whole ring in the past is dropped.
        h.record_at(at(e0), 5);
        assert_eq!(h.snapshot_at(at(e0 + 16)).count(), 1);
        assert!(clock.now_ns() > 0);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! The slot protocol (first use, rotation, racing reads) under every
    //! interleaving: `RUSTFLAGS="--cfg loom" cargo test -p fusebox
    //! --release --lib loom`. Under loom the histogram has 6 buckets
    //! (latencies 0..=3 ns one bucket each, 4..=5 and 6..=7 one each).
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// A 2 ns window in two 1 ns slots: epochs are nanoseconds, the ring
    /// has two slots (epochs `e` and `e + 2` share one), and a reader at
    /// epoch `e` counts epochs `e - 1` and `e`. One stripe: every thread
    /// writes the same counters.
    fn histogram() -> Arc<LatencyHistogram> {
        let w = HistogramWindow {
            duration: Duration::from_nanos(2),
            slots: 2,
            stripes: 1,
        };
        let h = LatencyHistogram::with_window(w, ClockSource::Monotonic).unwrap();
        assert_eq!(
            (h.slot_shift, h.counted, h.ring, h.stripe_mask),
            (0, 2, 2, 0)
        );
        Arc::new(h)
    }

    /// The samples of latency `ns` a snapshot holds.
    fn bucket(s: &HistogramSnapshot, ns: u64) -> u64 {
        s.buckets()[bucket_index(ns)]
    }

    #[test]
    fn loom_histogram_racing_records_are_each_counted_once() {
        loom::model(|| {
            let h = histogram();
            // The slot holds epoch 1; two more samples race into the same
            // bucket counter.
            h.record_at(1, 1);
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let h = h.clone();
                    thread::spawn(move || h.record_at(1, 1))
                })
                .collect();
            // A reader racing them sees what was there, maybe some of the
            // new samples, never more; a later read never sees fewer.
            let a = h.snapshot_at(1);
            let b = h.snapshot_at(1);
            assert!((1..=3).contains(&a.count()), "read {} samples", a.count());
            assert_eq!(a.count(), bucket(&a, 1));
            assert!(b.count() >= a.count(), "a bucket went back");
            for t in hs {
                t.join().unwrap();
            }
            let s = h.snapshot_at(1);
            assert_eq!((s.count(), bucket(&s, 1)), (3, 3));
        });
    }

    #[test]
    fn loom_histogram_first_use_of_a_slot_loses_no_sample() {
        loom::model(|| {
            let h = histogram();
            // Two writers find the slot never used (tag 0) and race to tag
            // it; no clearing may wipe out the other's sample. A reader
            // races both: it never sees more than was recorded.
            let h2 = h.clone();
            let t = thread::spawn(move || h2.record_at(1, 2));
            let h3 = h.clone();
            let reader = thread::spawn(move || h3.snapshot_at(1));
            h.record_at(1, 1);
            t.join().unwrap();
            let racing = reader.join().unwrap();
            assert!(bucket(&racing, 1) <= 1 && bucket(&racing, 2) <= 1);
            assert_eq!(racing.count(), bucket(&racing, 1) + bucket(&racing, 2));
            let s = h.snapshot_at(1);
            assert_eq!((s.count(), bucket(&s, 1), bucket(&s, 2)), (2, 1, 1));
        });
    }

    #[test]
    fn loom_histogram_reader_never_counts_a_rotated_out_period() {
        loom::model(|| {
            let h = histogram();
            // Epoch 1, in bucket 1. The reader is the spawned thread and the
            // writer the model's own: loom's partial-order reduction keeps
            // one last access per atomic, so a read of the tag that the
            // writer's own load of it follows (before its CAS) would never
            // be seen to race that CAS and only ever be tried before the
            // whole rotation. (A yield in the reader does not do: after one,
            // loom no longer lets a thread read a value it saw before, the
            // stale counter here.)
            h.record_at(1, 1);
            let h2 = h.clone();
            let reader = thread::spawn(move || h2.snapshot_at(3));
            // Epoch 3 takes epoch 1's slot: claim, zero, publish, count.
            h.record_at(3, 2);
            // At epoch 3, epoch 1 is out of the window. Whatever part of the
            // rotation the read saw (the old tag, the claimed one, or the
            // new one and then the counters), it never counts epoch 1.
            let s = reader.join().unwrap();
            assert_eq!(bucket(&s, 1), 0, "epoch 1's sample read at epoch 3");
            assert!(s.count() <= 1);
            let s = h.snapshot_at(3);
            assert_eq!((s.count(), bucket(&s, 2)), (1, 1));
        });
    }

    #[test]
    fn loom_histogram_rotation_racing_records_keeps_the_rotators_sample() {
        loom::model(|| {
            let h = histogram();
            // Epoch 1, to be rotated out. Two writers enter epoch 3 (epoch
            // 1's slot) at once; one claims and zeroes it. The other may
            // land before the zeroing and be wiped (a sample at a slot
            // boundary, as the module docs allow), but the old period never
            // survives and the rotator's own sample is never lost.
            h.record_at(1, 1);
            let hs: Vec<_> = [2, 3]
                .map(|ns| {
                    let h = h.clone();
                    thread::spawn(move || h.record_at(3, ns))
                })
                .into_iter()
                .collect();
            for t in hs {
                t.join().unwrap();
            }
            let s = h.snapshot_at(3);
            assert_eq!(bucket(&s, 1), 0, "epoch 1 survived its rotation");
            assert!((1..=2).contains(&s.count()), "{} samples", s.count());
            assert!(bucket(&s, 2) <= 1 && bucket(&s, 3) <= 1);
            // The slot is clean and tagged with epoch 3: a later sample of
            // epoch 3 is counted, one of epoch 1 (a ring behind) dropped.
            h.record_at(3, 0);
            h.record_at(1, 1);
            let after = h.snapshot_at(3);
            assert_eq!(after.count(), s.count() + 1);
        });
    }

    #[test]
    fn loom_histogram_late_writer_racing_a_rotation() {
        loom::model(|| {
            let h = histogram();
            h.record_at(1, 1);
            // A writer still at epoch 1 (its clock read was earlier) races
            // the rotation to epoch 3: its sample is counted in epoch 1,
            // dropped, zeroed or counted in epoch 3, but it never takes the
            // slot back to epoch 1 nor costs the rotator its sample. (Its
            // sample has a bucket of its own: loom 0.7 can let the zeroing
            // store land inside a racing `fetch_add`, tokio-rs/loom#254, and
            // on epoch 1's bucket that shows a count no execution can make.)
            let h2 = h.clone();
            let late = thread::spawn(move || h2.record_at(1, 3));
            h.record_at(3, 2);
            late.join().unwrap();
            let s = h.snapshot_at(3);
            assert_eq!(bucket(&s, 2), 1, "the rotator's sample");
            assert_eq!(bucket(&s, 1), 0, "epoch 1 survived its rotation");
            assert!(bucket(&s, 3) <= 1);
            assert_eq!(h.snapshot_at(1).count(), 0, "the slot went back");
        });
    }
}
