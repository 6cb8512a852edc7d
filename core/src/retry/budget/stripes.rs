//! The budget's per-thread stripes: where deposits are counted before they
//! reach the balance, and where each thread counts its own statistics.
//!
//! A thread whose slot ([`crate::engine::thread_slot`]) is below the
//! exclusive count owns a stripe: it is the stripe's only writer of
//! `made` and of the counters, so it adds with a plain load and store (no
//! read-modify-write instruction, no cache line shared with other writers).
//! Threads past the exclusive stripes share the last one and write it with
//! CAS and `fetch_add`.
//!
//! A stripe keeps two [`Tally`]s: its deposits, and its withdrawals (whose
//! units left the balance at once, but whose record in a bucket's slot,
//! which gives them back when the bucket expires, is deferred). A tally's
//! `made` is `tag (24 bits) | count (40 bits, wrapping)`: the entries made
//! so far, the newest of them in bucket `tag`. `taken` is the count up to
//! which entries have been *credited* (moved into a bucket's slot, and for
//! deposits into the balance); whoever credits claims `taken..count` with
//! one CAS on `taken`, so each entry is credited once. Before a tally's tag
//! moves to a newer bucket its writer credits what is pending, so the
//! pending entries `taken..count` always belong to bucket `tag`.
//!
//! A stripe also holds its thread's lease (`super::lease`): retries taken
//! from the balance in a batch, on the same cache line as the tallies its
//! owner writes.

use crate::sync::{atomic_u64, AtomicU64, Ordering};

pub(super) const TAG_BITS: u32 = 24;
pub(super) const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const COUNT_BITS: u32 = 64 - TAG_BITS;
pub(super) const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// Entries of one kind made in a stripe, and how many are credited.
pub(super) struct Tally {
    /// `tag | count` of the entries made here.
    pub(super) made: AtomicU64,
    /// The count credited so far (40 bits, wrapping).
    pub(super) taken: AtomicU64,
}

impl Tally {
    fn new(bucket: u64) -> Tally {
        Tally {
            made: atomic_u64(made_word(bucket, 0)),
            taken: atomic_u64(0),
        }
    }
}

/// What a tally counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Deposits: credited to their slot and then the balance.
    Deposit,
    /// Withdrawals: already out of the balance; credited to their slot.
    Spend,
}

/// One thread's deposits, withdrawals, counters and lease, on a cache line
/// of its own.
#[repr(align(128))]
pub(super) struct Stripe {
    /// Deposits made here.
    pub(super) deposited: Tally,
    /// Withdrawals made here.
    pub(super) spent: Tally,
    /// Requests deposited (statistics).
    pub(super) deposits: AtomicU64,
    /// Retries allowed (statistics).
    pub(super) withdrawals: AtomicU64,
    /// Retries refused (statistics).
    pub(super) refusals: AtomicU64,
    /// Units leased to this stripe's thread (`super::lease`).
    pub(super) lease: super::lease::Lease,
}

impl Stripe {
    /// The tally of `kind`.
    #[inline(always)]
    pub(super) fn tally(&self, kind: Kind) -> &Tally {
        match kind {
            Kind::Deposit => &self.deposited,
            Kind::Spend => &self.spent,
        }
    }

    pub(super) fn new(bucket: u64) -> Stripe {
        Stripe {
            deposited: Tally::new(bucket),
            spent: Tally::new(bucket),
            deposits: atomic_u64(0),
            withdrawals: atomic_u64(0),
            refusals: atomic_u64(0),
            lease: super::lease::Lease::new(bucket),
        }
    }
}

pub(super) fn made_word(bucket: u64, count: u64) -> u64 {
    ((bucket & TAG_MASK) << COUNT_BITS) | (count & COUNT_MASK)
}

pub(super) fn made_tag(w: u64) -> u64 {
    w >> COUNT_BITS
}

pub(super) fn made_count(w: u64) -> u64 {
    w & COUNT_MASK
}

/// Deposits pending in `made` when `taken` have been credited: 0 when
/// `taken` is ahead (`made` was read before a newer claim). Pending counts
/// stay below 2^39 (see the budget's limits).
pub(super) fn pending(made: u64, taken: u64) -> u64 {
    let d = made_count(made).wrapping_sub(taken) & COUNT_MASK;
    if d >> (COUNT_BITS - 1) == 0 {
        d
    } else {
        0
    }
}

/// Add one to a counter: a plain load and store for the stripe's owner,
/// `fetch_add` for a shared stripe.
#[inline(always)]
pub(super) fn bump(counter: &AtomicU64, owned: bool) {
    if owned {
        // Relaxed: a statistic, read by `stats` as it stands.
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    } else {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The stripe the calling thread writes, its number, and whether the
/// thread owns it.
#[inline(always)]
pub(super) fn mine(stripes: &[Stripe]) -> (usize, &Stripe, bool) {
    let s = crate::engine::thread_slot::current();
    let exclusive = stripes.len() - 1;
    if s < exclusive {
        (s, &stripes[s], true)
    } else {
        (exclusive, &stripes[exclusive], false)
    }
}

/// Owned stripes for a budget, made at once (a budget is one object per
/// dependency, not per host): one per core and one more, rounded up to a
/// power of two, at most 64, less the shared one, so the lowest thread
/// slots (a server's main thread and one worker per core, say) own one.
pub(super) fn exclusive_stripes() -> usize {
    (crate::engine::thread_slot::cores() + 1)
        .next_power_of_two()
        .min(64)
        - 1
}

/// `exclusive` owned stripes and one shared, at `bucket`.
pub(super) fn stripes(bucket: u64, exclusive: usize) -> Box<[Stripe]> {
    (0..=exclusive).map(|_| Stripe::new(bucket)).collect()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn made_words_round_trip_and_wrap() {
        let w = made_word(TAG_MASK + 5, COUNT_MASK);
        assert_eq!((made_tag(w), made_count(w)), (4, COUNT_MASK));
        // The count wraps without touching the tag.
        let next = made_word(made_tag(w), made_count(w) + 1);
        assert_eq!((made_tag(next), made_count(next)), (4, 0));
        assert_eq!(pending(next, COUNT_MASK - 2), 3);
        assert_eq!(pending(made_word(1, 7), 7), 0);
        assert_eq!(pending(made_word(1, 7), 9), 0, "taken ahead");
    }

    #[test]
    fn threads_past_the_exclusive_stripes_share_the_last() {
        let stripes = stripes(0, exclusive_stripes());
        let (i, _, owned) = mine(&stripes);
        let s = crate::engine::thread_slot::current();
        assert_eq!(i, s.min(stripes.len() - 1));
        assert_eq!(owned, s < stripes.len() - 1);
        let c = &stripes[0].deposits;
        bump(c, true);
        bump(c, false);
        assert_eq!(c.load(Ordering::Relaxed), 2);
    }
}
