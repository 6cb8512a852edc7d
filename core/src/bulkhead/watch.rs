//! Watched calls: the table of calls in flight that a sweep may count as
//! slow before they finish ([`BulkheadBuilder::count_in_flight_slow`]).
//!
//! Each watched call holds one slot word:
//!
//! ```text
//!  63                      22 21                   1      0
//! +--------------------------+----------------------+---------+
//! | start tick + 1 (42 bits) | generation (21 low)  | counted |
//! +--------------------------+----------------------+---------+
//! ```
//!
//! A tick is 65.536 µs since the table's origin (42 bits: 9 years); the
//! `+ 1` keeps a taken word from ever being 0, which is a free slot. A
//! sweep sets `counted` by CAS; the call's completion empties the word with
//! one swap. Whichever comes first wins: a call is counted once.
//!
//! [`BulkheadBuilder::count_in_flight_slow`]: super::BulkheadBuilder::count_in_flight_slow

use super::Bulkhead;
use crate::engine::permit::RawPermit;
use crate::sync::{
    atomic_u64, AtomicU64,
    Ordering::{AcqRel, Relaxed},
};
use std::sync::atomic::AtomicU64 as StatU64;

/// The largest limit of a bulkhead that watches its calls for the breaker
/// (one slot word each).
pub const MAX_WATCHED: u32 = 1 << 16;

const TICK_SHIFT: u32 = 16;
const TICK_BITS: u32 = 42;
const TICK_MASK: u64 = (1 << TICK_BITS) - 1;
const COUNTED: u64 = 1;
const GEN_SHIFT: u32 = 1;
const GEN_BITS: u32 = 21;
const GEN_LOW: u64 = (1 << GEN_BITS) - 1;
const TICKS_SHIFT: u32 = GEN_SHIFT + GEN_BITS;

/// A decoded slot word; 0 is a free slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SlotWord(u64);

impl SlotWord {
    /// A free slot.
    const FREE: SlotWord = SlotWord(0);

    /// A call that started `since_origin_ns` after the table's origin, at
    /// the breaker's generation `generation` (only its low 21 bits are
    /// kept). Never [`SlotWord::FREE`], not counted.
    fn new(since_origin_ns: u64, generation: u64) -> SlotWord {
        let ticks = ((since_origin_ns >> TICK_SHIFT) + 1) & TICK_MASK;
        SlotWord((ticks << TICKS_SHIFT) | ((generation & GEN_LOW) << GEN_SHIFT))
    }

    fn is_free(self) -> bool {
        self == SlotWord::FREE
    }

    /// A sweep has counted the call.
    fn counted(self) -> bool {
        self.0 & COUNTED != 0
    }

    /// The same word, counted.
    fn with_counted(self) -> SlotWord {
        SlotWord(self.0 | COUNTED)
    }

    /// The latest time since the origin the call can have started (ticks
    /// round down, so this rounds up to the end of its tick).
    fn started_by_ns(self) -> u64 {
        let ticks = self.0 >> TICKS_SHIFT;
        ((ticks - 1) << TICK_SHIFT) + ((1 << TICK_SHIFT) - 1)
    }

    /// The call's full generation, given the breaker's current one (a call
    /// is fewer than 2^21 transitions old).
    fn generation(self, current: u64) -> u64 {
        let low = (self.0 >> GEN_SHIFT) & GEN_LOW;
        current.wrapping_sub(current.wrapping_sub(low) & GEN_LOW)
    }
}

/// The table of watched calls (see the module docs).
pub(super) struct Watch {
    slots: Box<[AtomicU64]>,
    origin_ns: u64,
    slow_ns: u64,
    interval_ns: u64,
    next_sweep: StatU64,
}

impl Watch {
    /// `capacity` slots, for calls slow after `slow_ns`; times since
    /// `origin_ns` on the breaker's clock.
    pub(super) fn new(capacity: u32, origin_ns: u64, slow_ns: u64) -> Watch {
        Watch {
            slots: (0..capacity).map(|_| atomic_u64(0)).collect(),
            origin_ns,
            slow_ns,
            interval_ns: (slow_ns / 8).clamp(1_000_000, 1_000_000_000),
            next_sweep: StatU64::new(0),
        }
    }

    fn pack(&self, p: RawPermit) -> SlotWord {
        SlotWord::new(p.start_ns.saturating_sub(self.origin_ns), p.generation)
    }

    /// The latest time the call can have started.
    fn start_ns(&self, v: SlotWord) -> u64 {
        self.origin_ns + v.started_by_ns()
    }

    /// Watch the call of breaker permit `p`: 1 + the index of its slot, or
    /// 0 when it goes unwatched.
    pub(super) fn watch(&self, p: RawPermit) -> u64 {
        self.claim(self.pack(p))
    }

    /// Take a free slot for `v`; 1 + its index.
    fn claim(&self, v: SlotWord) -> u64 {
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
            if SlotWord(s.load(Relaxed)).is_free()
                && s.compare_exchange(SlotWord::FREE.0, v.0, Relaxed, Relaxed)
                    .is_ok()
            {
                return i as u64 + 1;
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        0
    }

    /// Empty slot `slot` (1 + its index; 0 or out of range: not watched);
    /// whether a sweep had counted its call.
    pub(super) fn free(&self, slot: u64) -> bool {
        if slot == 0 || slot as usize > self.slots.len() {
            return false;
        }
        SlotWord(self.slots[slot as usize - 1].swap(SlotWord::FREE.0, AcqRel)).counted()
    }

    /// Mark every call started more than the slow-call duration before
    /// `now_ns`, and not counted yet, as counted, and hand it to `report`
    /// (as the breaker permit it was admitted with, at the latest start);
    /// the calls `report` counted.
    fn count_overdue(
        &self,
        now_ns: u64,
        generation: u64,
        mut report: impl FnMut(RawPermit) -> bool,
    ) -> u32 {
        let mut counted = 0;
        for s in self.slots.iter() {
            let v = SlotWord(s.load(Relaxed));
            if v.is_free() || v.counted() || now_ns.saturating_sub(self.start_ns(v)) <= self.slow_ns
            {
                continue;
            }
            // The CAS decides between this sweep and the call's own
            // completion (a swap): exactly one of them counts the call.
            if s.compare_exchange(v.0, v.with_counted().0, AcqRel, Relaxed)
                .is_ok()
            {
                let p = RawPermit {
                    generation: v.generation(generation),
                    start_ns: self.start_ns(v),
                    probe: false,
                };
                if report(p) {
                    counted += 1;
                }
            }
        }
        counted
    }
}

impl Bulkhead {
    /// Sweep if the interval since the last sweep is over (one sweeper per
    /// interval).
    #[inline]
    pub(super) fn maybe_sweep(&self) {
        let (Some(w), Some(b)) = (&self.watch, &self.breaker) else {
            return;
        };
        let now = b.clock().recent_ns();
        let next = w.next_sweep.load(Relaxed);
        if now < next {
            return;
        }
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
    ///
    /// ```rust
    /// use fusebox::bulkhead::Bulkhead;
    /// use fusebox::{Breaker, Config, ManualClock};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let config = Config::builder().slow_call_duration(Some(Duration::from_secs(1))).build()?;
    /// let breaker = Arc::new(Breaker::with_clock(config, clock.clone())?);
    /// let b = Bulkhead::builder()
    ///     .breaker(breaker.clone())
    ///     .count_in_flight_slow(true)
    ///     .build()?;
    /// let stuck = b.try_acquire()?;
    /// assert_eq!(b.sweep(), 0); // not slow yet
    /// clock.advance(Duration::from_secs(2));
    /// assert_eq!(b.sweep(), 1); // slow, and still in flight
    /// assert_eq!(b.sweep(), 0); // counted once
    /// assert_eq!((breaker.metrics().slow, b.metrics().in_flight_slow), (1, 1));
    /// stuck.success(); // already counted: not counted again
    /// assert_eq!(breaker.metrics().slow, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sweep(&self) -> u32 {
        let (Some(w), Some(b)) = (&self.watch, &self.breaker) else {
            return 0;
        };
        let now = b.clock().now_ns();
        let counted = w.count_overdue(now, b.generation(), |p| b.record_in_flight_slow(p));
        if counted != 0 {
            self.in_flight_slow.fetch_add(u64::from(counted), Relaxed);
        }
        counted
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn slot_words_round_trip() {
        let w = Watch::new(4, 1_000_000_000, 1);
        let p = RawPermit {
            generation: (5 << 21) | 77,
            start_ns: 1_000_000_000 + 3 * 65_536 + 10,
            probe: false,
        };
        let v = w.pack(p);
        assert!(!v.is_free());
        assert!(!v.counted());
        assert!(v.with_counted().counted());
        // Rounded up to the end of its tick: never earlier than the truth.
        let s = w.start_ns(v);
        assert!(s >= p.start_ns && s - p.start_ns < 65_536);
        assert_eq!(v.generation(p.generation), p.generation);
        assert_eq!(v.generation(p.generation + 3), p.generation);
        assert_eq!(v.with_counted().generation(p.generation), p.generation);
        let slot = w.claim(v);
        assert_ne!(slot, 0);
        assert!(!w.free(slot));
        assert!(!w.free(0) && !w.free(5), "not watched");
    }

    #[test]
    fn a_call_started_at_the_origin_is_not_a_free_slot() {
        assert!(!SlotWord::new(0, 0).is_free());
        assert_eq!(SlotWord::new(0, 0).started_by_ns(), 65_535);
    }
}
