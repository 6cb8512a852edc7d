//! The budget's slot words: one ring of `buckets` slots per stripe, each
//! ring on cache lines of its own.
//!
//! A bucket's net is the sum of its slot in every ring. A credit is
//! written in the ring of the stripe it comes from, so a thread that
//! credits its own deposits and withdrawals writes only its own lines; a
//! sweep expires a bucket in every ring. Each slot keeps the one-word
//! protocol of `super` (a record only while the slot holds its bucket; a
//! sweep subtracts, then retags by CAS), so how the nets are spread over
//! the rings changes nothing but who shares a line.

use crate::sync::{atomic_u64, AtomicU64};

/// Slot words on one 128-byte line.
const PER_LINE: usize = 16;

/// Rings at most: stripes past it share (by stripe number modulo). Under
/// loom, one: the protocol is each slot's alone, whichever ring it is in,
/// and one ring keeps a sweep's interleavings as few as the models need
/// (the split over rings is checked by the stress tests of
/// `core/tests/retry_budget.rs`: eight threads over the rings).
#[cfg(not(loom))]
const MAX_RINGS: usize = 64;
#[cfg(loom)]
const MAX_RINGS: usize = 1;

/// One cache line of slot words.
#[repr(align(128))]
struct Line([AtomicU64; PER_LINE]);

/// `rings` rings of `buckets` slots.
pub(super) struct Rings {
    lines: Box<[Line]>,
    buckets: usize,
    lines_per_ring: usize,
    rings: usize,
}

impl Rings {
    /// `rings` rings (at most `MAX_RINGS`) of `buckets` slots, each slot
    /// `word`.
    pub(super) fn new(rings: usize, buckets: usize, word: u64) -> Rings {
        let rings = rings.clamp(1, MAX_RINGS);
        let lines_per_ring = buckets.div_ceil(PER_LINE);
        let lines = (0..rings * lines_per_ring)
            .map(|_| Line(std::array::from_fn(|_| atomic_u64(word))))
            .collect();
        Rings {
            lines,
            buckets,
            lines_per_ring,
            rings,
        }
    }

    /// Slots in a ring (the budget's bucket count).
    pub(super) fn buckets(&self) -> usize {
        self.buckets
    }

    /// Rings (one per stripe, up to `MAX_RINGS`).
    pub(super) fn rings(&self) -> usize {
        self.rings
    }

    /// Slot `i` of ring `ring` (modulo the rings there are).
    #[inline]
    pub(super) fn slot(&self, ring: usize, i: usize) -> &AtomicU64 {
        let ring = ring % self.rings;
        &self.lines[ring * self.lines_per_ring + i / PER_LINE].0[i % PER_LINE]
    }

    /// Every slot of every ring, with its index in its ring.
    pub(super) fn all(&self) -> impl Iterator<Item = (usize, &AtomicU64)> {
        (0..self.rings()).flat_map(move |r| (0..self.buckets).map(move |i| (i, self.slot(r, i))))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::Ordering;

    #[test]
    fn rings_do_not_share_lines() {
        let rings = Rings::new(3, 20, 7);
        assert_eq!((rings.rings(), rings.buckets()), (3, 20));
        assert_eq!(rings.all().count(), 60);
        rings.slot(1, 19).store(9, Ordering::Relaxed);
        let sum: u64 = rings.all().map(|(_, s)| s.load(Ordering::Relaxed)).sum();
        assert_eq!(sum, 59 * 7 + 9);
        let line = |r: usize, i: usize| rings.slot(r, i) as *const AtomicU64 as usize / 128;
        assert_ne!(
            line(0, 19),
            line(1, 0),
            "ring 0's last slot, ring 1's first"
        );
        assert_ne!(line(1, 19), line(2, 0));
    }
}
