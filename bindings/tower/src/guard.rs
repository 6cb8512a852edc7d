//! A call's admission held across `.await`: a breaker permit or a bulkhead
//! slot, ended with the call's verdict when it completes, or as a
//! cancelled call when the future is dropped first.

use crate::classify::Verdict;
use fusebox::bulkhead::{Bulkhead, RawBulkheadPermit};
use fusebox::{Breaker, RawPermit};
use std::ops::Deref;
use std::sync::Arc;

/// What an admitted call holds until it ends: the contract between
/// [`crate::ResponseFuture`] and the layers (implemented by this crate's
/// guards only; each layer's future names its own, so the hot path has no
/// dispatch).
pub trait Admission {
    /// End the call with its verdict.
    fn finish(&mut self, v: Verdict);
    /// End the call without an outcome (it never reached the dependency).
    fn release(&mut self);
}

/// A breaker permit, held by a call's future. `B` is how the call holds
/// its breaker: a [`fusebox::BreakerLease`] (a layer over an
/// `Arc<Breaker>`: one reference, given back with one atomic operation),
/// an `Arc<Breaker>` (the keyed layer's) or a `&'static Breaker` (nothing
/// to count, no cache line shared by the threads that call it).
#[derive(Debug)]
pub struct BreakerGuard<B: Deref<Target = Breaker>> {
    breaker: B,
    // The permit and whether it is still held, apart rather than an
    // `Option`, and read back field by field (see `take`).
    permit: RawPermit,
    held: bool,
}

impl<B: Deref<Target = Breaker>> BreakerGuard<B> {
    #[inline]
    pub(crate) fn new(breaker: B, permit: RawPermit) -> Self {
        BreakerGuard {
            breaker,
            permit,
            held: true,
        }
    }

    /// The permit, if still held; it is not any more. Read field by field:
    /// a copy of the whole struct (what `Option::take` does) loads it with
    /// wider loads than the stores that wrote it a few nanoseconds before
    /// (16 bytes over two 8-byte stores, 8 over the `probe` byte), which
    /// the CPU cannot serve from its pending stores: a stall that was half
    /// of a closed call's time through the layer.
    /// (The loads are volatile only so that the compiler keeps them apart
    /// rather than merging them into the wide load this is about.)
    #[inline(always)]
    fn take(&mut self) -> Option<RawPermit> {
        let held = std::mem::replace(&mut self.held, false);
        let p = &self.permit;
        // SAFETY: each pointer comes from a reference to a field of a live,
        // aligned `RawPermit`, and the fields are plain integers and a bool.
        held.then(|| unsafe {
            RawPermit {
                generation: std::ptr::read_volatile(&p.generation),
                start_ns: std::ptr::read_volatile(&p.start_ns),
                probe: std::ptr::read_volatile(&p.probe),
            }
        })
    }
}

impl<B: Deref<Target = Breaker>> Admission for BreakerGuard<B> {
    /// The outcome counted, and the breaker opened for the verdict's
    /// `open_for` (capped by `max_open_for`).
    #[inline]
    fn finish(&mut self, v: Verdict) {
        if let Some(p) = self.take() {
            self.breaker.record_raw(p, v.outcome, None);
            if let Some(d) = v.open_for {
                self.breaker.open_for(d);
            }
        }
    }

    /// A probe's slot is freed.
    #[inline]
    fn release(&mut self) {
        if let Some(p) = self.take() {
            self.breaker.release_raw(p);
        }
    }
}

impl<B: Deref<Target = Breaker>> Drop for BreakerGuard<B> {
    /// Dropped before it was finished: a cancelled call, ended as the
    /// breaker's `Config::cancellation` says.
    #[inline]
    fn drop(&mut self) {
        if let Some(p) = self.take() {
            self.breaker.cancel_raw(p);
        }
    }
}

/// A bulkhead slot, held by a call's future.
#[derive(Debug)]
pub struct BulkheadGuard {
    slots: Arc<Bulkhead>,
    permit: Option<RawBulkheadPermit>,
}

impl BulkheadGuard {
    #[inline]
    pub(crate) fn new(slots: Arc<Bulkhead>, permit: RawBulkheadPermit) -> Self {
        BulkheadGuard {
            slots,
            permit: Some(permit),
        }
    }
}

impl Admission for BulkheadGuard {
    /// The slot freed with the outcome (for an adaptive limit), and the
    /// bulkhead's breaker, if it has one, opened for the verdict's
    /// `open_for`.
    #[inline]
    fn finish(&mut self, v: Verdict) {
        if let Some(p) = self.permit.take() {
            self.slots.record_raw(p, v.outcome);
            if let (Some(d), Some(br)) = (v.open_for, self.slots.breaker()) {
                br.open_for(d);
            }
        }
    }

    #[inline]
    fn release(&mut self) {
        if let Some(p) = self.permit.take() {
            self.slots.release_raw(p);
        }
    }
}

impl Drop for BulkheadGuard {
    /// Dropped before it was finished: the slot is freed.
    #[inline]
    fn drop(&mut self) {
        if let Some(p) = self.permit.take() {
            self.slots.release_raw(p);
        }
    }
}
