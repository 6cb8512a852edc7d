//! The routing word (tier in use, panic mode, epoch), its protocol, and the
//! ejection mask: where traffic goes, changed only by CAS.

use super::event::{FailoverEvent, FailoverKind};
use super::group::{bits, FailoverGroup};
use crate::failover::fencing::FencingToken;
use crate::sync::{AtomicU64, Ordering};
use std::fmt;

/// The routing word: `epoch:47 | panic:1 | active tier:16`. The epoch goes
/// up by one with every change of the active tier, in the same CAS.
///
/// ```text
///  63                         17   16   15            0
/// +-----------------------------+-------+--------------+
/// |       epoch (47 bits)       | panic | active tier  |
/// +-----------------------------+-------+--------------+
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Route(u64);

impl Route {
    const TIER_BITS: u32 = 16;
    const TIER_MASK: u64 = (1 << Self::TIER_BITS) - 1;
    const PANIC_BIT: u64 = 1 << Self::TIER_BITS;
    const EPOCH_SHIFT: u32 = Self::TIER_BITS + 1;

    /// A new group's route: the first tier, no panic, epoch 1.
    pub(super) const FIRST: Route = Route(1 << Self::EPOCH_SHIFT);

    /// Tier `tier` (< 2^16) in use, panic mode `panic`, at `epoch`.
    #[inline]
    pub(super) fn new(epoch: u64, panic: bool, tier: usize) -> Route {
        debug_assert!(tier as u64 <= Self::TIER_MASK);
        let panic = if panic { Self::PANIC_BIT } else { 0 };
        Route((epoch << Self::EPOCH_SHIFT) | panic | (tier as u64 & Self::TIER_MASK))
    }

    /// The tier in use.
    #[inline]
    pub(super) fn tier(self) -> usize {
        (self.0 & Self::TIER_MASK) as usize
    }

    /// Panic mode is on.
    #[inline]
    pub(super) fn panic(self) -> bool {
        self.0 & Self::PANIC_BIT != 0
    }

    /// The epoch: bumped by every change of the tier in use.
    #[inline]
    pub(super) fn epoch(self) -> u64 {
        self.0 >> Self::EPOCH_SHIFT
    }

    /// The epoch as the fencing token of picks made under this route.
    #[inline]
    pub(super) fn token(self) -> FencingToken {
        FencingToken(self.epoch())
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("epoch", &self.epoch())
            .field("panic", &self.panic())
            .field("tier", &self.tier())
            .finish()
    }
}

/// The atomic that holds a group's [`Route`].
pub(super) struct AtomicRoute(AtomicU64);

impl AtomicRoute {
    pub(super) fn new(r: Route) -> AtomicRoute {
        AtomicRoute(AtomicU64::new(r.0))
    }

    #[inline]
    pub(super) fn load(&self, order: Ordering) -> Route {
        Route(self.0.load(order))
    }

    #[inline]
    pub(super) fn compare_exchange(
        &self,
        current: Route,
        new: Route,
        success: Ordering,
        failure: Ordering,
    ) -> Result<Route, Route> {
        self.0
            .compare_exchange(current.0, new.0, success, failure)
            .map(Route)
            .map_err(Route)
    }
}

/// When an endpoint's breaker was first seen closed in its current
/// generation: `since ms:40 | generation tag:24` (the time rounded up to the
/// millisecond, the low 24 bits of the generation), 0 when never seen.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct HealthySince(u64);

impl HealthySince {
    const TAG_BITS: u32 = 24;
    const TAG_MASK: u64 = (1 << Self::TAG_BITS) - 1;

    /// Never seen closed.
    pub(super) const NEVER: HealthySince = HealthySince(0);

    /// Seen closed at `since_ms` in breaker generation `generation`.
    pub(super) fn new(since_ms: u64, generation: u64) -> HealthySince {
        HealthySince((since_ms << Self::TAG_BITS) | (generation & Self::TAG_MASK))
    }

    /// A mark of breaker generation `generation` (by its low 24 bits).
    pub(super) fn is_of(self, generation: u64) -> bool {
        self != Self::NEVER && self.0 & Self::TAG_MASK == generation & Self::TAG_MASK
    }

    /// When it was seen closed, in ms (rounded up).
    pub(super) fn since_ms(self) -> u64 {
        self.0 >> Self::TAG_BITS
    }

    pub(super) fn from_bits(w: u64) -> HealthySince {
        HealthySince(w)
    }

    pub(super) fn bits(self) -> u64 {
        self.0
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cause {
    Stay,
    Failover,
    Failback,
}

impl<T> FailoverGroup<T> {
    /// Bring the routing word up to date with `healthy` and return it.
    #[inline]
    pub(super) fn route(&self, healthy: u64) -> Route {
        // Acquire pairs with the AcqRel CAS below: a thread that sees a new
        // tier sees it with its epoch (they share the word anyway).
        let mut r = self.route.load(Ordering::Acquire);
        loop {
            let a = r.tier();
            let (t, cause) = self.target(a, healthy);
            let panic = self.panics(t, healthy);
            let new = Route::new(r.epoch() + u64::from(t != a), panic, t);
            if new == r {
                return r;
            }
            // Of the threads that see the same change, one wins the CAS and
            // reports it; the others reload and find nothing left to do.
            match self
                .route
                .compare_exchange(r, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    self.after_route_change(r, new, cause);
                    return new;
                }
                Err(actual) => r = actual,
            }
        }
    }

    /// Where traffic should go from tier `a`.
    #[inline]
    fn target(&self, a: usize, healthy: u64) -> (usize, Cause) {
        if self.tiers.len() == 1 {
            return (0, Cause::Stay);
        }
        if healthy & self.tiers[a].mask != 0 {
            if a > 0 && healthy & self.above[a] != 0 {
                if let Some(j) = self.stable_tier_above(a, healthy) {
                    return (j, Cause::Failback);
                }
            }
            return (a, Cause::Stay);
        }
        // The whole tier is unhealthy: the first tier with a healthy endpoint.
        match (0..self.tiers.len()).find(|&j| healthy & self.tiers[j].mask != 0) {
            Some(j) => (j, Cause::Failover),
            None => (a, Cause::Stay),
        }
    }

    #[inline(never)]
    fn stable_tier_above(&self, a: usize, healthy: u64) -> Option<usize> {
        let now = self.clock.recent_ns();
        let mut found = None;
        // Look at every candidate (not just up to the first stable one) so
        // that each one's healthy-since mark is taken as early as possible.
        for j in (0..a).rev() {
            for i in bits(healthy & self.tiers[j].mask) {
                if self.stable(i, now) {
                    found = Some(j);
                }
            }
        }
        found
    }

    /// Whether endpoint `i` (seen closed) has stayed closed, in one breaker
    /// generation, for the stabilisation period. Any transition bumps the
    /// breaker's generation, which restarts the count.
    fn stable(&self, i: usize, now: u64) -> bool {
        let s = &self.slots[i];
        let generation = s.breaker.generation();
        // Relaxed: the mark is a value judged on its own; a lost race between
        // two threads writing it writes the same generation and about the
        // same time.
        let w = HealthySince::from_bits(s.healthy_since.load(Ordering::Relaxed));
        if w.is_of(generation) {
            // `since` was rounded up to the millisecond: never early.
            now >= w
                .since_ms()
                .saturating_add(self.stab_ms)
                .saturating_mul(1_000_000)
        } else {
            let since_ms = now.div_ceil(1_000_000);
            let _ = s.healthy_since.compare_exchange(
                w.bits(),
                HealthySince::new(since_ms, generation).bits(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            self.stab_ms == 0
        }
    }

    #[inline]
    fn panics(&self, t: usize, healthy: u64) -> bool {
        if self.panic_threshold <= 0.0 {
            return false;
        }
        let tier = &self.tiers[t];
        f64::from((healthy & tier.mask).count_ones()) < self.panic_threshold * f64::from(tier.len)
    }

    #[inline(never)]
    fn after_route_change(&self, old: Route, new: Route, cause: Cause) {
        let now = self.clock.now_ns();
        let epoch = new.epoch();
        let mut events = Vec::new();
        let (from, to) = (old.tier(), new.tier());
        if from != to {
            let (from, to) = (self.tiers[from].name.clone(), self.tiers[to].name.clone());
            // Relaxed: counters.
            let kind = if cause == Cause::Failback {
                self.failbacks.fetch_add(1, Ordering::Relaxed);
                FailoverKind::Failback { from, to }
            } else {
                self.failovers.fetch_add(1, Ordering::Relaxed);
                FailoverKind::Failover { from, to }
            };
            events.push(kind);
        }
        let (was, is) = (old.panic(), new.panic());
        if is && (!was || from != to) {
            self.panics.fetch_add(1, Ordering::Relaxed);
            events.push(FailoverKind::PanicStart {
                tier: self.tiers[to].name.clone(),
            });
        } else if was && !is {
            events.push(FailoverKind::PanicEnd {
                tier: self.tiers[from].name.clone(),
            });
        }
        self.emit(events, epoch, now);
    }

    /// Tell the listeners, in one job and in order, what one change did.
    fn emit(&self, kinds: Vec<FailoverKind>, epoch: u64, at_ns: u64) {
        self.listeners.emit_all(|| {
            kinds
                .into_iter()
                .map(|kind| FailoverEvent {
                    group: self.name.clone(),
                    kind,
                    epoch,
                    at_ns,
                })
                .collect()
        });
    }

    /// The ejection cap of tier `t`.
    fn cap(&self, t: usize) -> u32 {
        let len = self.tiers[t].len;
        if self.max_ejection_percent >= 100.0 {
            len
        } else if self.max_ejection_percent <= 0.0 {
            0
        } else {
            ((f64::from(len) * self.max_ejection_percent / 100.0).floor() as u32).max(1)
        }
    }

    /// Bring tier `t`'s ejections up to date; returns the ejected endpoints of
    /// the tier. An ejected endpoint stays ejected while unhealthy; a newly
    /// unhealthy one is ejected only while the tier is under its cap.
    #[inline(never)]
    fn ejections(&self, t: usize, healthy: u64) -> u64 {
        let mask = self.tiers[t].mask;
        let unhealthy = mask & !healthy;
        // Acquire / AcqRel: the mask is read-modify-written by CAS only.
        let mut e = self.ejected.load(Ordering::Acquire);
        loop {
            let cur = e & mask;
            let mut keep = cur & unhealthy;
            let cap = self.cap(t);
            for i in bits(unhealthy & !keep) {
                if keep.count_ones() >= cap {
                    break;
                }
                keep |= 1 << i;
            }
            if keep == cur {
                return cur;
            }
            let new = (e & !mask) | keep;
            match self
                .ejected
                .compare_exchange(e, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    let added = keep & !cur;
                    let removed = cur & !keep;
                    self.ejections
                        .fetch_add(u64::from(added.count_ones()), Ordering::Relaxed);
                    self.restorations
                        .fetch_add(u64::from(removed.count_ones()), Ordering::Relaxed);
                    // Restorations first: they are what made room.
                    let kinds = bits(removed)
                        .map(|i| FailoverKind::Restored {
                            endpoint: self.slots[i].name.clone(),
                        })
                        .chain(bits(added).map(|i| FailoverKind::Ejected {
                            endpoint: self.slots[i].name.clone(),
                        }))
                        .collect();
                    let epoch = self.route.load(Ordering::Relaxed).epoch();
                    self.emit(kinds, epoch, self.clock.now_ns());
                    return keep;
                }
                Err(actual) => e = actual,
            }
        }
    }

    /// Endpoints in rotation for route word `r`.
    #[inline]
    pub(super) fn rotation(&self, r: Route, healthy: u64) -> u64 {
        let t = r.tier();
        let mask = self.tiers[t].mask;
        if r.panic() {
            return mask;
        }
        if self.tiers[t].len == 1 {
            return mask & healthy;
        }
        let ejected = self.ejections(t, healthy);
        mask & !ejected
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn route_words_pack_and_unpack() {
        assert_eq!(Route::FIRST.0, 1 << 17);
        assert_eq!((Route::FIRST.tier(), Route::FIRST.panic()), (0, false));
        let r = Route::new(5, true, 3);
        assert_eq!(r.0, (5 << 17) | (1 << 16) | 3);
        assert_eq!((r.epoch(), r.panic(), r.tier()), (5, true, 3));
        assert_eq!(r.token(), FencingToken(5));
    }

    #[test]
    fn healthy_since_marks_are_of_one_generation() {
        assert!(!HealthySince::NEVER.is_of(0));
        let m = HealthySince::new(1_500, 0x0100_0002);
        assert_eq!(m.bits(), (1_500 << 24) | 2);
        assert_eq!(m.since_ms(), 1_500);
        assert!(m.is_of(2) && m.is_of(0x0100_0002) && !m.is_of(3));
    }
}
