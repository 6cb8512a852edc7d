//! The failover group: its endpoints, their breakers, and what a snapshot
//! of it shows. Routing is in `routing.rs`, choosing and admitting a call in
//! `pick.rs`, active health checks in `health.rs`.

use super::event::FailoverEvent;
use super::routing::AtomicRoute;
use super::{Balance, Mode};
use crate::engine::clock::ClockSource;
use crate::engine::state::{Phase, State};
use crate::failover::fencing::FencingToken;
use crate::observe::events::Listeners;
use crate::sync::{AtomicU64, Ordering};
use crate::Breaker;
use crossbeam_utils::CachePadded;
use std::fmt;
use std::sync::Arc;

/// Most endpoints in one group (health is kept in 64-bit masks).
pub const MAX_ENDPOINTS: usize = 64;

pub(super) type HealthCheck<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

pub(super) struct Tier {
    pub(super) name: Arc<str>,
    pub(super) mask: u64,
    pub(super) len: u32,
}

pub(super) struct Slot<T> {
    pub(super) name: Arc<str>,
    pub(super) value: T,
    pub(super) tier: usize,
    pub(super) breaker: Arc<Breaker>,
    pub(super) check: Option<HealthCheck<T>>,
    /// Calls picked and not yet reported (kept for power of two choices).
    pub(super) in_flight: CachePadded<AtomicU64>,
    /// When the breaker was first seen closed in its current generation
    /// (a [`HealthySince`](super::routing::HealthySince) word).
    pub(super) healthy_since: AtomicU64,
    /// Clock time before which its breaker is not worth asking for a probe.
    pub(super) retry_at: AtomicU64,
}

/// One endpoint, as [`FailoverGroup::metrics`] sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointStatus {
    /// Its name.
    pub name: String,
    /// Its tier's name.
    pub tier: String,
    /// Its breaker's state.
    pub state: State,
    /// Its breaker's phase.
    pub phase: Phase,
    /// Closed (or disabled).
    pub healthy: bool,
    /// Out of rotation.
    pub ejected: bool,
    /// Calls picked and not yet reported (counted only under
    /// [`Balance::PowerOfTwoChoices`], which needs them; 0 otherwise).
    pub in_flight: u64,
}

/// A snapshot of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupMetrics {
    /// The group's name.
    pub name: String,
    /// Its mode.
    pub mode: Mode,
    /// The tier in use.
    pub active_tier: String,
    /// The epoch (see [`Choice::token`](super::Choice::token)).
    pub epoch: u64,
    /// Panic mode is on.
    pub panic: bool,
    /// Failovers, all time.
    pub failovers: u64,
    /// Failbacks, all time.
    pub failbacks: u64,
    /// Ejections, all time.
    pub ejections: u64,
    /// Ejected endpoints put back, all time.
    pub restorations: u64,
    /// Times panic mode started.
    pub panics: u64,
    /// Every endpoint.
    pub endpoints: Vec<EndpointStatus>,
}

/// A failover group (`docs/semantics.md#failover`). Share it in an `Arc`;
/// every method takes
/// `&self` and none takes a lock.
///
/// Health is the endpoints' breakers: an endpoint is healthy while its
/// breaker is closed (or disabled). The group keeps one routing word (the
/// tier in use, panic mode, the epoch) and one ejection mask, both changed
/// only by CAS; choosing an endpoint is a load of each breaker's state word,
/// a load of the routing word and, when traffic has failed over, a clock
/// read to judge failback.
///
/// Failover, a probe of the primary, and failback once it has stayed
/// healthy for the stabilisation period:
///
/// ```rust
/// use fusebox::failover::{Endpoint, FailoverGroup, GroupCallError};
/// use fusebox::{Config, ManualClock};
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let group = FailoverGroup::builder("db")
///     .clock(clock.clone())
///     .breaker_config(
///         Config::builder()
///             .consecutive_failures(Some(2))
///             .half_open_max_calls(1)
///             .success_threshold(1)
///             .build()?,
///     )
///     .stabilization(Duration::from_secs(60))
///     .endpoint(Endpoint::new("primary", "10.0.0.1"))
///     .endpoint(Endpoint::new("standby", "10.0.0.2"))
///     .build()?;
///
/// // `call` runs the closure on the chosen endpoint's value.
/// let r = group.call(|addr| if *addr == "10.0.0.1" { Err("timeout") } else { Ok(*addr) });
/// assert!(matches!(r, Err(GroupCallError::Failed("timeout"))));
/// let _ = group.call(|_| Err::<(), _>("timeout")); // the primary trips
/// assert_eq!(group.call(|addr| Ok::<_, ()>(*addr)).unwrap(), "10.0.0.2");
/// let token = group.epoch(); // goes up on every failover and failback
///
/// // Once its open timeout is over, one call goes to the primary as a probe.
/// clock.advance(group.breaker(0).config().open_timeout);
/// let probe = group.acquire()?;
/// assert_eq!((probe.name(), probe.is_probe()), ("primary", true));
/// probe.success(); // the primary's breaker closes...
/// // ...but traffic stays on the standby until it has been healthy 60 s.
/// assert_eq!(group.acquire()?.name(), "standby");
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(group.acquire()?.name(), "primary");
///
/// let m = group.metrics();
/// assert_eq!((m.failovers, m.failbacks), (1, 1));
/// assert!(group.epoch() > token);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FailoverGroup<T> {
    pub(super) name: Arc<str>,
    pub(super) mode: Mode,
    pub(super) balance: Balance,
    pub(super) clock: ClockSource,
    pub(super) slots: Box<[Slot<T>]>,
    pub(super) tiers: Box<[Tier]>,
    /// Per tier: the endpoints of the tiers before it.
    pub(super) above: Box<[u64]>,
    pub(super) all: u64,
    pub(super) hooked: u64,
    /// In-flight counts are kept (power of two choices needs them).
    pub(super) track: bool,
    pub(super) route: AtomicRoute,
    pub(super) ejected: AtomicU64,
    pub(super) stab_ms: u64,
    pub(super) max_ejection_percent: f64,
    pub(super) panic_threshold: f64,
    pub(super) probe_with_traffic: bool,
    pub(super) probe_interval_ns: u64,
    pub(super) failovers: AtomicU64,
    pub(super) failbacks: AtomicU64,
    pub(super) ejections: AtomicU64,
    pub(super) restorations: AtomicU64,
    pub(super) panics: AtomicU64,
    pub(super) listeners: Arc<Listeners<FailoverEvent>>,
}

impl<T> fmt::Debug for FailoverGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.route.load(Ordering::Relaxed);
        f.debug_struct("FailoverGroup")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .field("active_tier", &self.tiers[r.tier()].name)
            .field("epoch", &r.epoch())
            .finish()
    }
}

/// The indices of the bits set in `m`, lowest first.
pub(super) fn bits(mut m: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if m == 0 {
            None
        } else {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            Some(i)
        }
    })
}

/// The index of the `n`th bit set in `m` (the lowest if there are fewer).
pub(super) fn nth_bit(m: u64, n: u32) -> usize {
    bits(m)
        .nth(n as usize)
        .unwrap_or(m.trailing_zeros() as usize)
}

impl<T> FailoverGroup<T> {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Number of endpoints.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Never true: a group has at least one endpoint.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Endpoint `i`'s name.
    pub fn endpoint_name(&self, i: usize) -> &str {
        &self.slots[i].name
    }

    /// Endpoint `i`'s value.
    pub fn value(&self, i: usize) -> &T {
        &self.slots[i].value
    }

    /// Endpoint `i`'s breaker.
    pub fn breaker(&self, i: usize) -> &Arc<Breaker> {
        &self.slots[i].breaker
    }

    /// The index of the endpoint named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.slots.iter().position(|s| &*s.name == name)
    }

    /// The clock.
    pub fn clock(&self) -> &ClockSource {
        &self.clock
    }

    /// Call `f` on every failover event, on the events thread (never inside
    /// a call; see [`crate::events`]). A listener that panics is caught and
    /// counted in [`crate::events::stats`], as a breaker's listener is.
    ///
    /// ```rust
    /// use fusebox::failover::{Endpoint, FailoverGroup};
    /// use fusebox::{events, Config, ManualClock};
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    ///
    /// let group = FailoverGroup::builder("db")
    ///     .clock(Arc::new(ManualClock::new()))
    ///     .breaker_config(Config::builder().consecutive_failures(Some(1)).build()?)
    ///     .endpoint(Endpoint::new("primary", ()))
    ///     .endpoint(Endpoint::new("standby", ()))
    ///     .build()?;
    /// let heard = Arc::new(Mutex::new(Vec::new()));
    /// let log = heard.clone();
    /// group.on_event(move |e| log.lock().unwrap().push(e.to_string()));
    ///
    /// group.acquire()?.failure(); // the primary trips: the next pick fails over
    /// assert_eq!(group.acquire()?.name(), "standby");
    /// // Delivered off the call path: wait for the event thread in a test.
    /// assert!(events::flush(Duration::from_secs(10)));
    /// assert_eq!(*heard.lock().unwrap(), ["db: failover primary -> standby (epoch 2)"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_event(&self, f: impl Fn(&FailoverEvent) + Send + Sync + 'static) {
        self.listeners.subscribe(f);
    }

    /// The epoch: bumped by every failover and failback.
    pub fn epoch(&self) -> FencingToken {
        self.route.load(Ordering::Acquire).token()
    }

    /// The tier in use, after bringing the routing up to date.
    pub fn active_tier(&self) -> usize {
        self.route(self.healthy_mask()).tier()
    }

    /// The tier in use's name.
    pub fn active_tier_name(&self) -> &str {
        &self.tiers[self.active_tier()].name
    }

    /// In active-passive mode: the endpoint traffic goes to (the first of
    /// the tier in use in the other modes).
    pub fn active(&self) -> usize {
        self.tiers[self.active_tier()].mask.trailing_zeros() as usize
    }

    /// Endpoints whose breaker is closed (or disabled), as a bit mask.
    #[inline]
    pub fn healthy_mask(&self) -> u64 {
        let mut m = 0;
        for (i, s) in self.slots.iter().enumerate() {
            if matches!(s.breaker.phase(), Phase::Closed | Phase::Disabled) {
                m |= 1 << i;
            }
        }
        m
    }

    /// A snapshot: the tier in use, the epoch, the counters, and every
    /// endpoint's breaker and rotation (after bringing the routing up to
    /// date).
    ///
    /// ```rust
    /// use fusebox::failover::{Endpoint, FailoverGroup, Mode};
    /// use fusebox::{Config, ManualClock, State};
    /// use std::sync::Arc;
    ///
    /// let group = FailoverGroup::builder("cache")
    ///     .mode(Mode::ActiveActive)
    ///     .clock(Arc::new(ManualClock::new()))
    ///     .breaker_config(Config::builder().consecutive_failures(Some(1)).build()?)
    ///     .endpoint(Endpoint::new("a", 1))
    ///     .endpoint(Endpoint::new("b", 2))
    ///     .build()?;
    /// group.breaker(0).try_acquire()?.failure(); // `a` trips
    ///
    /// let m = group.metrics();
    /// assert_eq!((m.name.as_str(), m.mode, m.epoch), ("cache", Mode::ActiveActive, 1));
    /// assert_eq!((m.ejections, m.failovers), (1, 0)); // `a` left the rotation
    /// let a = &m.endpoints[0];
    /// assert_eq!((a.state, a.healthy, a.ejected), (State::Open, false, true));
    /// assert!(m.endpoints[1].healthy);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metrics(&self) -> GroupMetrics {
        let healthy = self.healthy_mask();
        let r = self.route(healthy);
        let rot = self.rotation(r, healthy);
        let t = r.tier();
        GroupMetrics {
            name: self.name.to_string(),
            mode: self.mode,
            active_tier: self.tiers[t].name.to_string(),
            epoch: r.epoch(),
            panic: r.panic(),
            failovers: self.failovers.load(Ordering::Relaxed),
            failbacks: self.failbacks.load(Ordering::Relaxed),
            ejections: self.ejections.load(Ordering::Relaxed),
            restorations: self.restorations.load(Ordering::Relaxed),
            panics: self.panics.load(Ordering::Relaxed),
            endpoints: self
                .slots
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let phase = s.breaker.phase();
                    let in_tier = s.tier == t;
                    EndpointStatus {
                        name: s.name.to_string(),
                        tier: self.tiers[s.tier].name.to_string(),
                        state: phase.state(),
                        phase,
                        healthy: healthy & (1 << i) != 0,
                        ejected: if in_tier {
                            rot & (1 << i) == 0
                        } else {
                            healthy & (1 << i) == 0
                        },
                        in_flight: s.in_flight.load(Ordering::Relaxed),
                    }
                })
                .collect(),
        }
    }
}
