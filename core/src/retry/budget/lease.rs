//! Per-thread leases: retries taken from the balance a batch at a time,
//! so that two threads withdrawing at once do not fight over one word.
//!
//! Each stripe holds a *lease* word, `tag (24 bits) | units (40 bits)`, on
//! the stripe's own cache line. A withdrawal takes one retry from its
//! stripe's lease with one CAS (uncontended: only a thief or a sweep
//! writes another thread's lease). When the lease is short, it takes up to
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
use crate::sync::{AtomicU64, Ordering};

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

/// Take one retry from `lease` if it holds one (the owner's fast path, and
/// a thief's): each unit is taken by one CAS, once.
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
