//! Per-thread leases: retries taken from the balance a batch at a time,
//! so that two threads withdrawing at once do not fight over one word.
//!
//! Each stripe holds a *lease* word, `tag (24 bits) | units (40 bits)`, on
//! the stripe's own cache line. The thread that owns the stripe takes one
//! retry from it with a plain load and store ([`Lease::take_own`]); every
//! other writer (a thief, a sweep, a thread on the shared stripe) uses CAS,
//! and a thief or a sweep first makes sure the owner is not in the middle
//! of a plain take ([`Lease::visit`]): the owner marks itself `busy` and
//! then checks for `visitors`, a visitor announces itself and then checks
//! `busy`, each side with a fence between its store and its load, so that
//! at least one sees the other. The owner's fence is free and the
//! visitor's costly ([`crate::sync::asymmetric`]): a withdrawal pays no
//! read-modify-write, a sweep or a theft pays about a microsecond. Where
//! the process has no such fences the owner takes by CAS too. When the lease is short, it takes up to
//! [`BATCH`] retries from the balance with one CAS, spends one, and adds
//! the rest to its lease ([`install`]) *only if the lease still carries the
//! tag of the bucket it read from `head`*; otherwise (a sweep has moved on
//! since) it gives them back to the balance.
//!
//! A sweep to bucket `b`, before it subtracts anything, *revokes* every
//! lease tagged older than `b` ([`revoke`]): one CAS retags it to `b`,
//! empty, and its units go back to the balance. Since a lease is filled
//! only under the tag of a bucket whose sweep has been published, and
//! every sweep revokes before it subtracts, **no lease holds units when an
//! expired bucket's net is subtracted**: a leased unit is spendable only
//! until the next bucket begins, when it is back in the balance, which then
//! loses what expires. Any lease's units may be spent by any thread
//! (stealing, [`take_one`]), so the budget refuses only when the balance,
//! the pending deposits and every lease are short.

use super::UNITS_PER_RETRY;
use crate::sync::{asymmetric, atomic_u64, AtomicU64, Ordering};

/// Retries a withdrawal takes from the balance at once when its lease is
/// short (one spent, the rest leased), if the balance holds them; and the
/// least of its own pending deposits it leases before it asks the balance.
/// Each batch costs a few locked instructions on shared lines: at 64 they
/// are a fraction of a nanosecond a withdrawal.
pub(super) const BATCH: i64 = 64;

/// The most retries a withdrawal leases at once: when the balance holds
/// four times this for every stripe, so that a well-funded budget is
/// written about once per thousand withdrawals.
pub(super) const MAX_BATCH: i64 = 1024;

const UNITS_BITS: u32 = 40;
const UNITS_MASK: u64 = (1 << UNITS_BITS) - 1;
const TAG_MASK: u64 = (1 << (64 - UNITS_BITS)) - 1;
const RETRY: u64 = UNITS_PER_RETRY as u64;

/// A lease word: `units` leased while bucket `bucket` was the newest.
pub(super) fn lease_word(bucket: u64, units: u64) -> u64 {
    ((bucket & TAG_MASK) << UNITS_BITS) | (units & UNITS_MASK)
}

/// The bucket tag of a lease word.
pub(super) fn lease_tag(w: u64) -> u64 {
    w >> UNITS_BITS
}

/// The units a lease word holds.
pub(super) fn lease_units(w: u64) -> u64 {
    w & UNITS_MASK
}

/// A stripe's lease: its word, and the two flags by which its owner's
/// plain takes and its visitors' CAS keep out of each other's way.
pub(super) struct Lease {
    /// `tag | units`.
    pub(super) word: AtomicU64,
    /// 1 while the owner is in a plain take (written by the owner only).
    busy: AtomicU64,
    /// Thieves and sweeps at work on this lease.
    visitors: AtomicU64,
}

impl Lease {
    /// An empty lease tagged `bucket`.
    pub(super) fn new(bucket: u64) -> Lease {
        Lease {
            word: atomic_u64(lease_word(bucket, 0)),
            busy: atomic_u64(0),
            visitors: atomic_u64(0),
        }
    }

    /// The owner's take of one retry: a plain load and store, unless a
    /// visitor is at work (or the process has no asymmetric fences), when
    /// it is [`take_one`]. Only the stripe's owner may call it.
    #[inline(always)]
    pub(super) fn take_own(&self) -> bool {
        if !asymmetric::enabled() {
            return take_one(&self.word);
        }
        // Relaxed, then a fence: a visitor whose announcement this thread
        // does not see below sees this store after its own fence.
        self.busy.store(1, Ordering::Relaxed);
        asymmetric::light();
        // Acquire: a visitor that has left did so after its CAS on the
        // word, which the load below must see.
        if self.visitors.load(Ordering::Acquire) != 0 {
            // Release: as below.
            self.busy.store(0, Ordering::Release);
            return take_one(&self.word);
        }
        // Relaxed: no other thread writes the word until `busy` is 0 again.
        let w = self.word.load(Ordering::Relaxed);
        let took = lease_units(w) >= RETRY;
        if took {
            self.word.store(w - RETRY, Ordering::Relaxed);
        }
        // Release: a visitor that waits for this sees the store above.
        self.busy.store(0, Ordering::Release);
        took
    }

    /// As a visitor (a thief or a sweep), call `f` on the word of each of
    /// `leases()` in turn, until it returns `Some`: every lease is first
    /// announced, then one heavy fence for them all, then each owner is
    /// waited for if it is in a plain take (a few instructions, longer only
    /// if its thread is preempted there).
    pub(super) fn visit<'a, I, R>(
        leases: impl Fn() -> I,
        mut f: impl FnMut(&AtomicU64) -> Option<R>,
    ) -> Option<R>
    where
        I: Iterator<Item = &'a Lease>,
    {
        for l in leases() {
            // Relaxed, then the heavy fence: see `take_own`.
            l.visitors.fetch_add(1, Ordering::Relaxed);
        }
        asymmetric::heavy();
        let mut out = None;
        for l in leases() {
            if out.is_none() {
                l.wait_for_owner();
                out = f(&l.word);
            }
            // Release: an owner that sees this count sees the CAS above.
            l.visitors.fetch_sub(1, Ordering::Release);
        }
        out
    }

    /// Until the owner is out of a plain take.
    fn wait_for_owner(&self) {
        let mut spins = 0u32;
        // Acquire: pairs with the owner's release of `busy`.
        while self.busy.load(Ordering::Acquire) != 0 {
            spins += 1;
            if cfg!(loom) || spins > 64 {
                crate::sync::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// Take one retry from `lease` if it holds one (a thief's, a thread's on the
/// shared stripe, and the owner's when a visitor is at work or the process
/// has no asymmetric fences): each unit is taken by one CAS, once.
#[inline(always)]
pub(super) fn take_one(lease: &AtomicU64) -> bool {
    // Relaxed: a lease's units are spendable whatever its tag (a sweep
    // empties it before it subtracts); the CAS alone decides.
    let mut w = lease.load(Ordering::Relaxed);
    loop {
        if lease_units(w) < RETRY {
            return false;
        }
        match lease.compare_exchange_weak(w, w - RETRY, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(actual) => w = actual,
        }
    }
}

/// Add `units` (just taken from the balance at bucket `b`) to `lease` if
/// it is still tagged `b`; `false` if a sweep has retagged it since (the
/// caller gives them back).
pub(super) fn install(lease: &AtomicU64, b: u64, units: u64) -> bool {
    // Relaxed: `b` came from an acquire load of `head` (or this thread's
    // own sweep), after the revocations of the sweep that published it, so
    // this load sees them or later writes.
    let mut w = lease.load(Ordering::Relaxed);
    loop {
        if lease_tag(w) != b & TAG_MASK {
            return false;
        }
        match lease.compare_exchange_weak(w, w + units, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(actual) => w = actual,
        }
    }
}

/// Retag `lease` to bucket `b`, empty, if it is tagged older (`older`
/// compares tags); the units it held, to go back to the balance.
pub(super) fn revoke(lease: &AtomicU64, b: u64, older: impl Fn(u64) -> bool) -> u64 {
    let mut w = lease.load(Ordering::Relaxed);
    loop {
        if !older(lease_tag(w)) {
            return 0;
        }
        // Relaxed: the sweep's release store of `head` comes after, and
        // publishes this with it.
        match lease.compare_exchange(w, lease_word(b, 0), Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return lease_units(w),
            Err(actual) => w = actual,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::atomic_u64;

    #[test]
    fn lease_words_round_trip() {
        let w = lease_word(TAG_MASK + 3, 16_000);
        assert_eq!((lease_tag(w), lease_units(w)), (2, 16_000));
    }

    #[test]
    fn an_owners_take_and_a_visit() {
        let lease = Lease::new(7);
        assert!(install(&lease.word, 7, 2_000));
        assert!(lease.take_own());
        let stolen = Lease::visit(|| std::iter::once(&lease), |w| take_one(w).then_some(()));
        assert_eq!(stolen, Some(()));
        assert!(!lease.take_own(), "two retries, both taken");
        assert_eq!(
            lease.visitors.load(Ordering::Relaxed),
            0,
            "the visitor left"
        );
        assert_eq!(lease.busy.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn take_install_revoke() {
        let lease = atomic_u64(lease_word(7, 1_500));
        assert!(take_one(&lease));
        assert!(!take_one(&lease), "500 units are not a retry");
        assert!(install(&lease, 7, 2_000));
        assert!(!install(&lease, 8, 1_000), "tagged 7, not 8");
        assert_eq!(revoke(&lease, 8, |t| t < 8), 2_500);
        assert_eq!(lease.load(Ordering::Relaxed), lease_word(8, 0));
        assert_eq!(revoke(&lease, 8, |t| t < 8), 0, "already at 8");
        assert!(!install(&lease, 7, 1_000), "a sweep retagged it");
    }
}
