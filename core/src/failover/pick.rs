//! Choosing an endpoint and being admitted by its breaker: picks, raw
//! picks for bindings, and calls through a group.

use super::group::{bits, nth_bit, FailoverGroup, Slot};
use super::routing::Route;
use super::Balance;
use crate::engine::permit::{Outcome, RawPermit};
use crate::failover::fencing::FencingToken;
use crate::sync::{unmodelled, Ordering};
use crate::{CallError, Rejected};
use std::cell::Cell;
use std::fmt;
use std::time::Duration;

/// The endpoint a pick chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    /// Index of the endpoint, in the order they were added.
    pub index: usize,
    /// The group's epoch when chosen: a fencing token that goes up with every
    /// failover and failback.
    pub token: FencingToken,
    /// The endpoint is unhealthy but kept in rotation (ejection cap or panic
    /// mode): its breaker is bypassed.
    pub bypass: bool,
    /// The group is in panic mode.
    pub panic: bool,
}

/// No endpoint could take the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unavailable {
    /// When the soonest breaker will admit a probe, if known.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no endpoint available")?;
        if let Some(d) = self.retry_after {
            write!(f, "; retry in {d:?}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Unavailable {}

/// xorshift64 per thread: the random draws of power of two choices and the
/// starting points of round robin, with no shared write.
fn rand_u64() -> u64 {
    thread_local!(static STATE: Cell<u64> = const { Cell::new(0) });
    STATE
        .try_with(|s| {
            let mut x = s.get();
            if x == 0 {
                // A static: std's under loom too (draws are not modelled).
                static SEED: unmodelled::AtomicU64 =
                    unmodelled::AtomicU64::new(0x9E37_79B9_7F4A_7C15);
                x = SEED.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) | 1;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.set(x);
            x
        })
        .unwrap_or(0x2545_F491_4F6C_DD1D)
}

fn next_turn() -> u64 {
    thread_local!(static TURN: Cell<u64> = const { Cell::new(u64::MAX) });
    TURN.try_with(|t| {
        let mut v = t.get();
        if v == u64::MAX {
            v = rand_u64() >> 1;
        }
        t.set(v.wrapping_add(1));
        v
    })
    .unwrap_or(0)
}

impl<T> FailoverGroup<T> {
    #[inline]
    fn choose(&self, r: Route, healthy: u64) -> Option<Choice> {
        let avail = self.rotation(r, healthy);
        if avail == 0 {
            return None;
        }
        let k = avail.count_ones();
        let index = if k == 1 {
            avail.trailing_zeros() as usize
        } else {
            match self.balance {
                Balance::RoundRobin => nth_bit(avail, (next_turn() % u64::from(k)) as u32),
                Balance::PowerOfTwoChoices => {
                    let x = rand_u64();
                    let a = (x % u64::from(k)) as u32;
                    let mut b = ((x >> 32) % u64::from(k - 1)) as u32;
                    if b >= a {
                        b += 1;
                    }
                    let (ia, ib) = (nth_bit(avail, a), nth_bit(avail, b));
                    // Relaxed: a load-balancing hint.
                    if self.slots[ib].in_flight.load(Ordering::Relaxed)
                        < self.slots[ia].in_flight.load(Ordering::Relaxed)
                    {
                        ib
                    } else {
                        ia
                    }
                }
            }
        };
        Some(Choice {
            index,
            token: r.token(),
            bypass: healthy & (1 << index) == 0,
            panic: r.panic(),
        })
    }

    /// Choose an endpoint, without asking its breaker. Use
    /// [`FailoverGroup::acquire`] to be admitted as well.
    ///
    /// ```rust
    /// use fusebox::failover::{Endpoint, FailoverGroup};
    /// use fusebox::{Config, ManualClock};
    /// use std::sync::Arc;
    ///
    /// let group = FailoverGroup::builder("db")
    ///     .clock(Arc::new(ManualClock::new()))
    ///     .breaker_config(Config::builder().consecutive_failures(Some(1)).build()?)
    ///     .endpoint(Endpoint::new("primary", "10.0.0.1"))
    ///     .endpoint(Endpoint::new("standby", "10.0.0.2"))
    ///     .build()?;
    /// let c = group.pick().expect("an endpoint is healthy");
    /// assert_eq!((c.index, c.token.get(), c.bypass), (0, 1, false));
    ///
    /// group.breaker(0).try_acquire()?.failure(); // the primary trips
    /// let c = group.pick().expect("the standby is healthy");
    /// // The standby, under a new epoch: carry the token on fenced writes.
    /// assert_eq!((group.endpoint_name(c.index), c.token.get()), ("standby", 2));
    /// assert_eq!(c.token, group.epoch());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn pick(&self) -> Option<Choice> {
        let healthy = self.healthy_mask();
        let r = self.route(healthy);
        self.choose(r, healthy)
    }

    pub(super) fn note_rejection(&self, s: &Slot<T>, rej: &Rejected) {
        let wait = rej.retry_after.map_or(self.probe_interval_ns, |d| {
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
        });
        // Relaxed: a hint about when to ask again.
        s.retry_at.store(
            self.clock.recent_ns().saturating_add(wait),
            Ordering::Relaxed,
        );
    }

    /// An unhealthy endpoint out of rotation whose breaker is due for a
    /// half-open probe gets this call.
    #[inline(never)]
    fn try_probe(&self, r: Route, healthy: u64) -> Option<Pick<'_, T>> {
        let candidates = self.all & !healthy & !self.hooked & !self.rotation(r, healthy);
        if candidates == 0 {
            return None;
        }
        let now = self.clock.recent_ns();
        for i in bits(candidates) {
            let s = &self.slots[i];
            if s.retry_at.load(Ordering::Relaxed) > now {
                continue;
            }
            match s.breaker.acquire_raw() {
                Ok(p) if p.probe => {
                    let c = Choice {
                        index: i,
                        token: r.token(),
                        bypass: false,
                        panic: r.panic(),
                    };
                    return Some(Pick::new(self, c, Some(p)));
                }
                // It closed meanwhile: it will come back through routing.
                Ok(p) => s.breaker.release_raw(p),
                Err(rej) => self.note_rejection(s, &rej),
            }
        }
        None
    }

    /// Choose an endpoint and be admitted by its breaker. The [`Pick`] must
    /// be given the call's outcome. If the chosen breaker refuses, the next
    /// choice is tried; an endpoint kept in rotation by the ejection cap or
    /// panic mode is used with its breaker bypassed ([`Pick::is_bypass`]).
    pub fn acquire(&self) -> Result<Pick<'_, T>, Unavailable> {
        let mut healthy = self.healthy_mask();
        let mut r = self.route(healthy);
        if self.probe_with_traffic {
            if let Some(p) = self.try_probe(r, healthy) {
                return Ok(p);
            }
        }
        for _ in 0..=self.slots.len() {
            let Some(c) = self.choose(r, healthy) else {
                break;
            };
            let s = &self.slots[c.index];
            match s.breaker.acquire_raw() {
                Ok(p) => return Ok(Pick::new(self, c, Some(p))),
                Err(rej) => {
                    self.note_rejection(s, &rej);
                    if c.bypass {
                        return Ok(Pick::new(self, c, None));
                    }
                    // It tripped since we looked: look again.
                    healthy = self.healthy_mask();
                    r = self.route(healthy);
                }
            }
        }
        Err(self.unavailable())
    }

    fn unavailable(&self) -> Unavailable {
        let now = self.clock.recent_ns();
        let soonest = self
            .slots
            .iter()
            .map(|s| s.retry_at.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0);
        Unavailable {
            retry_after: (soonest > now).then(|| Duration::from_nanos(soonest - now)),
        }
    }

    /// Run `f` on a chosen endpoint's value: `Ok` is a success, `Err` a
    /// failure.
    ///
    /// ```rust
    /// use fusebox::failover::{Endpoint, FailoverGroup, GroupCallError};
    /// use fusebox::{Config, ManualClock};
    /// use std::sync::Arc;
    ///
    /// let group = FailoverGroup::builder("db")
    ///     .clock(Arc::new(ManualClock::new()))
    ///     .breaker_config(Config::builder().consecutive_failures(Some(1)).build()?)
    ///     .endpoint(Endpoint::new("primary", 5432))
    ///     .build()?;
    /// assert_eq!(group.call(|port| Ok::<_, ()>(port + 1)), Ok(5433));
    /// let failed = group.call(|_| Err::<u32, _>("refused"));
    /// assert_eq!(failed, Err(GroupCallError::Failed("refused")));
    /// // The only endpoint's breaker is open now: the call is not made.
    /// let r = group.call(|_| -> Result<u32, &str> { unreachable!() });
    /// assert!(matches!(r, Err(GroupCallError::Unavailable(u)) if u.retry_after.is_some()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call<R, E>(&self, f: impl FnOnce(&T) -> Result<R, E>) -> Result<R, GroupCallError<E>> {
        let pick = self.acquire().map_err(GroupCallError::Unavailable)?;
        let r = f(pick.value());
        pick.record(if r.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        });
        r.map_err(GroupCallError::Failed)
    }

    // ----- raw picks, for bindings ---------------------------------------

    /// Report the outcome of a pick turned into a [`RawPick`].
    pub fn record_raw(&self, p: RawPick, outcome: Outcome, duration: Option<Duration>) {
        let s = &self.slots[p.index as usize];
        if p.admitted {
            let ns = duration.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            s.breaker.record_raw(p.permit, outcome, ns);
        }
        self.done_raw(p.index as usize);
    }

    /// Give back a [`RawPick`] without an outcome.
    pub fn release_raw(&self, p: RawPick) {
        if p.admitted {
            self.slots[p.index as usize].breaker.release_raw(p.permit);
        }
        self.done_raw(p.index as usize);
    }

    fn done_raw(&self, i: usize) {
        if self.track {
            // Saturating, so that a raw pick reported twice cannot wrap the count.
            let _ =
                self.slots[i]
                    .in_flight
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
        }
    }
}

/// How a call through [`FailoverGroup::call`] failed.
#[derive(Debug, PartialEq, Eq)]
pub enum GroupCallError<E> {
    /// No endpoint could take it.
    Unavailable(Unavailable),
    /// The endpoint's call failed.
    Failed(E),
}

impl<E: fmt::Display> fmt::Display for GroupCallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupCallError::Unavailable(u) => write!(f, "{u}"),
            GroupCallError::Failed(e) => write!(f, "{e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for GroupCallError<E> {}

impl<E> From<CallError<E>> for GroupCallError<E> {
    fn from(e: CallError<E>) -> Self {
        match e {
            CallError::Rejected(r) => GroupCallError::Unavailable(Unavailable {
                retry_after: r.retry_after,
            }),
            CallError::Failed(e) => GroupCallError::Failed(e),
        }
    }
}

/// A call admitted by a group: the endpoint chosen and its breaker's permit.
/// Give it the call's outcome; dropping it unreported gives back a probe slot.
#[must_use = "a pick must be given an outcome"]
pub struct Pick<'g, T> {
    group: &'g FailoverGroup<T>,
    choice: Choice,
    // The breaker's permit as a plain value (a `Permit` would borrow the
    // breaker again and make the pick bigger to move around).
    permit: RawPermit,
    admitted: bool,
    armed: bool,
}

impl<T> fmt::Debug for Pick<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pick")
            .field("endpoint", &self.name())
            .field("choice", &self.choice)
            .field("probe", &self.is_probe())
            .finish()
    }
}

const NO_PERMIT: RawPermit = RawPermit {
    generation: 0,
    start_ns: 0,
    probe: false,
};

impl<'g, T> Pick<'g, T> {
    #[inline]
    fn new(group: &'g FailoverGroup<T>, choice: Choice, permit: Option<RawPermit>) -> Self {
        if group.track {
            // Relaxed: a load-balancing hint.
            group.slots[choice.index]
                .in_flight
                .fetch_add(1, Ordering::Relaxed);
        }
        Pick {
            group,
            choice,
            permit: permit.unwrap_or(NO_PERMIT),
            admitted: permit.is_some(),
            armed: permit.is_some(),
        }
    }

    /// The endpoint's index.
    pub fn index(&self) -> usize {
        self.choice.index
    }

    /// The endpoint's name.
    pub fn name(&self) -> &'g str {
        &self.group.slots[self.choice.index].name
    }

    /// The endpoint's value.
    pub fn value(&self) -> &'g T {
        &self.group.slots[self.choice.index].value
    }

    /// The group's epoch when picked: carry it on writes to a fenced resource.
    pub fn token(&self) -> FencingToken {
        self.choice.token
    }

    /// The choice.
    pub fn choice(&self) -> Choice {
        self.choice
    }

    /// The endpoint is unhealthy and used anyway (ejection cap, panic mode):
    /// no breaker admitted this call and its outcome is not counted.
    pub fn is_bypass(&self) -> bool {
        !self.admitted
    }

    /// The call is a half-open probe of a recovering endpoint.
    pub fn is_probe(&self) -> bool {
        self.admitted && self.permit.probe
    }

    fn report(&mut self, outcome: Outcome, duration_ns: Option<u64>) {
        if self.armed {
            self.armed = false;
            self.group.slots[self.choice.index].breaker.record_raw(
                self.permit,
                outcome,
                duration_ns,
            );
        }
    }

    /// Report the outcome.
    pub fn record(mut self, outcome: Outcome) {
        self.report(outcome, None);
    }

    /// Report the outcome with a duration measured by the caller.
    pub fn record_with_duration(mut self, outcome: Outcome, d: Duration) {
        self.report(
            outcome,
            Some(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        );
    }

    /// The call succeeded.
    pub fn success(self) {
        self.record(Outcome::Success)
    }

    /// The call failed.
    pub fn failure(self) {
        self.record(Outcome::Failure)
    }

    /// The call's outcome says nothing about the endpoint.
    pub fn ignore(self) {
        self.record(Outcome::Ignored)
    }

    /// A plain value with no borrow (for bindings and simulations), to be
    /// handed back exactly once to [`FailoverGroup::record_raw`] or
    /// [`FailoverGroup::release_raw`].
    pub fn into_raw(self) -> RawPick {
        let raw = RawPick {
            index: self.choice.index as u32,
            token: self.choice.token.0,
            permit: self.permit,
            admitted: self.armed,
            bypass: !self.admitted,
        };
        // The permit and the in-flight count are handed over with the value.
        std::mem::forget(self);
        raw
    }
}

impl<T> Drop for Pick<'_, T> {
    fn drop(&mut self) {
        let s = &self.group.slots[self.choice.index];
        if self.armed {
            // Unreported: give back a probe slot.
            s.breaker.release_raw(self.permit);
        }
        if self.group.track {
            s.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A [`Pick`] as a plain value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct RawPick {
    /// The endpoint's index.
    pub index: u32,
    /// The group's epoch when picked.
    pub token: u64,
    /// The breaker's permit (meaningless unless `admitted`).
    pub permit: RawPermit,
    /// A breaker admitted the call.
    pub admitted: bool,
    /// The endpoint's breaker was bypassed.
    pub bypass: bool,
}
