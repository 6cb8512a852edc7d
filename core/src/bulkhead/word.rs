//! The bulkhead word: the whole admission state in one `u64`.
//!
//! ```text
//!  63          48 47            24 23             0
//! +--------------+----------------+----------------+
//! | waiters (16) |   limit (24)   | in flight (24) |
//! +--------------+----------------+----------------+
//! ```
//!
//! [`Word`] encodes and decodes it; [`AtomicWord`] holds it and is the
//! only way the bulkhead touches the atomic, so no shift or mask of these
//! fields lives anywhere else. Admission is one CAS from a word with room
//! to [`Word::admitted`]; a release is one `fetch_sub` of a call
//! ([`AtomicWord::release_one`]), whose returned word says whether anyone
//! waits.

use crate::sync::{atomic_u64, AtomicU64, Ordering};
use std::fmt;

/// The largest limit (24 bits of the word).
pub const MAX_CONCURRENT: u32 = (1 << FLIGHT_BITS) - 1;

const FLIGHT_BITS: u32 = 24;
const FLIGHT_MASK: u64 = (1 << FLIGHT_BITS) - 1;
const LIMIT_SHIFT: u32 = FLIGHT_BITS;
const LIMIT_MASK: u64 = FLIGHT_MASK << LIMIT_SHIFT;
const WAIT_SHIFT: u32 = 2 * FLIGHT_BITS;
/// One call in flight, as a difference of words.
const ONE_CALL: u64 = 1;
/// One waiter, as a difference of words.
const ONE_WAITER: u64 = 1 << WAIT_SHIFT;

/// The most threads that can wait for a slot at once (16 bits).
pub(super) const MAX_WAITERS: u32 = (1 << (64 - WAIT_SHIFT)) - 1;

/// A decoded bulkhead word. The default is all zero (limit 0 admits
/// nothing).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Word(u64);

impl Word {
    /// No call in flight, nobody waiting, at `limit` (≤ [`MAX_CONCURRENT`]).
    pub(super) fn new(limit: u32) -> Word {
        Word::default().with_limit(limit)
    }

    /// Calls in flight.
    #[inline(always)]
    pub(super) fn in_flight(self) -> u32 {
        (self.0 & FLIGHT_MASK) as u32
    }

    /// The limit.
    #[inline(always)]
    pub(super) fn limit(self) -> u32 {
        ((self.0 & LIMIT_MASK) >> LIMIT_SHIFT) as u32
    }

    /// Threads waiting for a slot.
    #[inline(always)]
    pub(super) fn waiters(self) -> u32 {
        (self.0 >> WAIT_SHIFT) as u32
    }

    /// Fewer calls in flight than the limit: one more may come in.
    #[inline(always)]
    pub(super) fn has_room(self) -> bool {
        self.in_flight() < self.limit()
    }

    /// The same word at `limit` (≤ [`MAX_CONCURRENT`]).
    #[inline]
    pub(super) fn with_limit(self, limit: u32) -> Word {
        debug_assert!(limit <= MAX_CONCURRENT);
        Word((self.0 & !LIMIT_MASK) | (u64::from(limit) << LIMIT_SHIFT))
    }

    /// One more call in flight (the word must have room).
    #[inline(always)]
    pub(super) fn admitted(self) -> Word {
        Word(self.0 + ONE_CALL)
    }

    /// One more waiter (fewer than [`MAX_WAITERS`] wait).
    #[inline]
    pub(super) fn with_waiter(self) -> Word {
        Word(self.0 + ONE_WAITER)
    }

    /// A waiter leaves the waiters with a slot (the word must have room).
    #[inline]
    pub(super) fn waiter_admitted(self) -> Word {
        Word(self.0 + ONE_CALL - ONE_WAITER)
    }

    /// A waiter leaves the waiters empty-handed.
    #[inline]
    pub(super) fn waiter_gone(self) -> Word {
        Word(self.0 - ONE_WAITER)
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Word")
            .field("in_flight", &self.in_flight())
            .field("limit", &self.limit())
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// The bulkhead word in its atomic.
pub(super) struct AtomicWord(AtomicU64);

impl AtomicWord {
    /// An atomic holding `w`.
    pub(super) fn new(w: Word) -> AtomicWord {
        AtomicWord(atomic_u64(w.0))
    }

    /// The current word.
    #[inline(always)]
    pub(super) fn load(&self, order: Ordering) -> Word {
        Word(self.0.load(order))
    }

    /// `AtomicU64::compare_exchange_weak` on words.
    #[inline(always)]
    pub(super) fn compare_exchange_weak(
        &self,
        current: Word,
        new: Word,
        success: Ordering,
        failure: Ordering,
    ) -> Result<Word, Word> {
        self.0
            .compare_exchange_weak(current.0, new.0, success, failure)
            .map(Word)
            .map_err(Word)
    }

    /// One call fewer in flight: one `fetch_sub`. The word before.
    ///
    /// With no call in flight (a raw permit given back twice) the count
    /// borrows from the limit bits; [`AtomicWord::undo_release`] puts it
    /// back.
    #[inline(always)]
    pub(super) fn release_one(&self, order: Ordering) -> Word {
        Word(self.0.fetch_sub(ONE_CALL, order))
    }

    /// Undo a [`AtomicWord::release_one`] that found no call in flight.
    #[inline]
    pub(super) fn undo_release(&self, order: Ordering) {
        self.0.fetch_add(ONE_CALL, order);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::Ordering::Relaxed;

    #[test]
    fn fields_round_trip_at_their_largest() {
        let w = Word::new(MAX_CONCURRENT);
        assert_eq!(
            (w.in_flight(), w.limit(), w.waiters()),
            (0, MAX_CONCURRENT, 0)
        );
        let mut full = w;
        for _ in 0..3 {
            full = full.admitted();
        }
        let full = full.with_limit(3);
        assert!(!full.has_room());
        assert_eq!((full.in_flight(), full.limit()), (3, 3));
        let mut waiting = full;
        for _ in 0..MAX_WAITERS {
            waiting = waiting.with_waiter();
        }
        assert_eq!(waiting.waiters(), MAX_WAITERS);
        assert_eq!((waiting.in_flight(), waiting.limit()), (3, 3));
    }

    #[test]
    fn a_waiter_leaves_with_a_slot_or_without() {
        let w = Word::new(2).admitted().with_waiter();
        let with = w.waiter_admitted();
        assert_eq!((with.in_flight(), with.waiters()), (2, 0));
        let without = w.waiter_gone();
        assert_eq!((without.in_flight(), without.waiters()), (1, 0));
        assert_eq!(without.limit(), 2);
    }

    #[test]
    fn a_release_with_nothing_in_flight_is_undone() {
        let a = AtomicWord::new(Word::new(2).with_waiter());
        let prev = a.release_one(Relaxed);
        assert_eq!(prev.in_flight(), 0);
        a.undo_release(Relaxed);
        assert_eq!(a.load(Relaxed), Word::new(2).with_waiter());
    }
}
