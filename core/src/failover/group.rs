//! The failover group: endpoints with breakers, one routing word.

use super::event::{FailoverEvent, FailoverKind, Listeners};
use super::{Balance, Mode};
use crate::engine::clock::ClockSource;
use crate::engine::config::{Config, ConfigError};
use crate::engine::permit::{Outcome, RawPermit};
use crate::engine::state::{Phase, State};
use crate::failover::fencing::FencingToken;
use crate::sync::{unmodelled, AtomicU64, Ordering};
use crate::{Breaker, CallError, Rejected};
use crossbeam_utils::CachePadded;
use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Most endpoints in one group (health is kept in 64-bit masks).
pub const MAX_ENDPOINTS: usize = 64;

type HealthCheck<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

/// An endpoint to put in a group: a name, a value (an address, a client...),
/// a breaker and optionally an active health check.
pub struct Endpoint<T> {
    name: Arc<str>,
    value: T,
    tier: u32,
    breaker: Option<Arc<Breaker>>,
    config: Option<Config>,
    check: Option<HealthCheck<T>>,
}

impl<T: fmt::Debug> fmt::Debug for Endpoint<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("value", &self.value)
            .field("tier", &self.tier)
            .field("health_check", &self.check.is_some())
            .finish()
    }
}

impl<T> Endpoint<T> {
    /// An endpoint whose breaker the group creates (with the group's breaker
    /// config and clock, named `group:endpoint`).
    pub fn new(name: &str, value: T) -> Self {
        Endpoint {
            name: name.into(),
            value,
            tier: 0,
            breaker: None,
            config: None,
            check: None,
        }
    }

    /// Its priority tier for [`Mode::Tiered`] (0 first: local, then same
    /// city, then remote...). Ignored by the other modes.
    pub fn tier(mut self, tier: u32) -> Self {
        self.tier = tier;
        self
    }

    /// Use this breaker (it should share the group's clock).
    pub fn breaker(mut self, breaker: Arc<Breaker>) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Create its breaker with this config instead of the group's.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// An active health check: `true` is a success. It runs through the
    /// endpoint's breaker on [`FailoverGroup::check_health`] (so it probes a
    /// recovering endpoint and can trip a failing one), and it replaces
    /// traffic probes for this endpoint.
    pub fn health_check(mut self, f: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.check = Some(Box::new(f));
        self
    }
}

/// Why a group could not be built.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum GroupError {
    /// No endpoint was given.
    NoEndpoints,
    /// More than [`MAX_ENDPOINTS`].
    TooManyEndpoints(usize),
    /// Two endpoints share a name.
    DuplicateEndpoint(String),
    /// A setting is out of range (or a breaker config is invalid).
    Config(ConfigError),
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::NoEndpoints => write!(f, "a failover group needs at least one endpoint"),
            GroupError::TooManyEndpoints(n) => {
                write!(
                    f,
                    "{n} endpoints; a failover group holds at most {MAX_ENDPOINTS}"
                )
            }
            GroupError::DuplicateEndpoint(n) => write!(f, "duplicate endpoint name {n:?}"),
            GroupError::Config(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for GroupError {}

impl From<ConfigError> for GroupError {
    fn from(e: ConfigError) -> Self {
        GroupError::Config(e)
    }
}

/// Builds a [`FailoverGroup`].
///
/// ```rust
/// use fusebox::failover::{Balance, Endpoint, FailoverGroup, GroupError, Mode};
///
/// // Spread within the nearest healthy tier.
/// let group = FailoverGroup::builder("cache")
///     .mode(Mode::Tiered)
///     .balance(Balance::RoundRobin)
///     .tier_name(0, "local")
///     .tier_name(1, "remote")
///     .max_ejection_percent(50.0) // never eject more than half a tier
///     .endpoint(Endpoint::new("a", 1).tier(0))
///     .endpoint(Endpoint::new("b", 2).tier(0))
///     .endpoint(Endpoint::new("c", 3).tier(1))
///     .build()?;
/// assert_eq!((group.len(), group.active_tier_name()), (3, "local"));
/// let mut seen = [group.acquire()?.name(), group.acquire()?.name()];
/// seen.sort();
/// assert_eq!(seen, ["a", "b"]); // round robin within the local tier
///
/// // What `build` refuses.
/// let e = FailoverGroup::<u32>::builder("empty").build().unwrap_err();
/// assert_eq!(e, GroupError::NoEndpoints);
/// let e = FailoverGroup::builder("twice")
///     .endpoint(Endpoint::new("a", 1))
///     .endpoint(Endpoint::new("a", 2))
///     .build()
///     .unwrap_err();
/// assert_eq!(e, GroupError::DuplicateEndpoint("a".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GroupBuilder<T> {
    name: String,
    mode: Mode,
    balance: Balance,
    clock: ClockSource,
    config: Config,
    stabilization: Duration,
    max_ejection_percent: f64,
    panic_threshold_percent: f64,
    probe_with_traffic: bool,
    probe_interval: Duration,
    tier_names: Vec<(u32, String)>,
    endpoints: Vec<Endpoint<T>>,
}

impl<T> GroupBuilder<T> {
    /// The routing mode (default [`Mode::ActivePassive`]).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }
    /// How traffic is spread within a tier (default round robin).
    pub fn balance(mut self, balance: Balance) -> Self {
        self.balance = balance;
        self
    }
    /// The clock of the group and of the breakers it creates.
    pub fn clock(mut self, clock: impl Into<ClockSource>) -> Self {
        self.clock = clock.into();
        self
    }
    /// The config of the breakers the group creates (default:
    /// `Config::default()`, see `docs/semantics.md#defaults`).
    pub fn breaker_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
    /// How long a higher-priority endpoint must stay healthy (its breaker
    /// closed, without a single transition) before traffic fails back to it.
    /// Default 5 minutes.
    pub fn stabilization(mut self, d: Duration) -> Self {
        self.stabilization = d;
        self
    }
    /// Envoy's `max_ejection_percent`: at most this share of a tier's
    /// endpoints is taken out of rotation at once (at least one when above
    /// 0); unhealthy endpoints past the cap stay in rotation, their breakers
    /// bypassed. Default 100 (no cap; Envoy's default is 10).
    pub fn max_ejection_percent(mut self, p: f64) -> Self {
        self.max_ejection_percent = p;
        self
    }
    /// Envoy's panic threshold: when fewer than this share of the tier in use
    /// is healthy, every endpoint of the tier is used, healthy or not (their
    /// breakers bypassed), rather than crushing the few healthy ones or
    /// serving none. 0 turns panic mode off. Default 0 (Envoy's is 50).
    pub fn panic_threshold_percent(mut self, p: f64) -> Self {
        self.panic_threshold_percent = p;
        self
    }
    /// Whether [`FailoverGroup::acquire`] sends a call to an unhealthy
    /// endpoint without a health check when its breaker is due for a
    /// half-open probe (default true). Without this or a health check, an
    /// endpoint out of rotation never gets a probe and never recovers.
    pub fn probe_with_traffic(mut self, on: bool) -> Self {
        self.probe_with_traffic = on;
        self
    }
    /// How long to wait before asking a breaker again after it refused a
    /// probe without saying when to retry (its probe slots were full).
    /// Default 1 s.
    pub fn probe_interval(mut self, d: Duration) -> Self {
        self.probe_interval = d;
        self
    }
    /// Name a tier (for events and metrics), in [`Mode::Tiered`].
    pub fn tier_name(mut self, tier: u32, name: &str) -> Self {
        self.tier_names.push((tier, name.to_string()));
        self
    }
    /// Add an endpoint. In active-passive mode the first is the primary and
    /// the others are standbys, in order.
    pub fn endpoint(mut self, e: Endpoint<T>) -> Self {
        self.endpoints.push(e);
        self
    }

    /// Build the group.
    pub fn build(self) -> Result<FailoverGroup<T>, GroupError> {
        let n = self.endpoints.len();
        if n == 0 {
            return Err(GroupError::NoEndpoints);
        }
        if n > MAX_ENDPOINTS {
            return Err(GroupError::TooManyEndpoints(n));
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            if self.endpoints[..i].iter().any(|o| o.name == e.name) {
                return Err(GroupError::DuplicateEndpoint(e.name.to_string()));
            }
        }
        let pct = |field: &'static str, v: f64| {
            if (0.0..=100.0).contains(&v) {
                Ok(v)
            } else {
                Err(ConfigError {
                    field,
                    value: v.to_string(),
                    expected: "a percentage in [0, 100]",
                })
            }
        };
        let max_ejection_percent = pct("max_ejection_percent", self.max_ejection_percent)?;
        let panic_threshold = pct("panic_threshold_percent", self.panic_threshold_percent)? / 100.0;
        let stab_ms = u64::try_from(self.stabilization.as_millis()).map_err(|_| ConfigError {
            field: "stabilization",
            value: format!("{:?}", self.stabilization),
            expected: "a duration under 500 million years",
        })?;
        self.config.validate()?;

        // Tiers: their keys in priority order.
        let keys: Vec<u32> = match self.mode {
            Mode::ActivePassive => (0..n as u32).collect(),
            Mode::ActiveActive => vec![0],
            Mode::Tiered => {
                let mut k: Vec<u32> = self.endpoints.iter().map(|e| e.tier).collect();
                k.sort_unstable();
                k.dedup();
                k
            }
        };
        let tier_key = |i: usize, e: &Endpoint<T>| match self.mode {
            Mode::ActivePassive => i as u32,
            Mode::ActiveActive => 0,
            Mode::Tiered => e.tier,
        };
        let mut tiers: Vec<Tier> = keys
            .iter()
            .map(|&k| Tier {
                name: match self.mode {
                    Mode::ActivePassive => self.endpoints[k as usize].name.clone(),
                    Mode::ActiveActive => self.name.as_str().into(),
                    Mode::Tiered => self
                        .tier_names
                        .iter()
                        .rev()
                        .find(|(t, _)| *t == k)
                        .map_or_else(|| format!("tier-{k}").into(), |(_, s)| s.as_str().into()),
                },
                mask: 0,
                len: 0,
            })
            .collect();
        let mut slots = Vec::with_capacity(n);
        for (i, e) in self.endpoints.into_iter().enumerate() {
            let t = keys
                .binary_search(&tier_key(i, &e))
                .expect("every endpoint's tier is a key");
            tiers[t].mask |= 1 << i;
            tiers[t].len += 1;
            let breaker = match e.breaker {
                Some(b) => b,
                None => Arc::new(Breaker::named(
                    &format!("{}:{}", self.name, e.name),
                    e.config.unwrap_or_else(|| self.config.clone()),
                    self.clock.clone(),
                )?),
            };
            slots.push(Slot {
                name: e.name,
                value: e.value,
                tier: t,
                breaker,
                check: e.check,
                in_flight: CachePadded::new(AtomicU64::new(0)),
                healthy_since: AtomicU64::new(0),
                retry_at: AtomicU64::new(0),
            });
        }
        let hooked = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.check.is_some())
            .fold(0u64, |m, (i, _)| m | 1 << i);
        let above = (0..tiers.len())
            .map(|t| tiers[..t].iter().fold(0u64, |m, x| m | x.mask))
            .collect();
        Ok(FailoverGroup {
            name: self.name.into(),
            mode: self.mode,
            balance: self.balance,
            clock: self.clock,
            slots: slots.into_boxed_slice(),
            tiers: tiers.into_boxed_slice(),
            above,
            all: if n == 64 { u64::MAX } else { (1u64 << n) - 1 },
            hooked,
            track: self.balance == Balance::PowerOfTwoChoices && self.mode != Mode::ActivePassive,
            route: AtomicU64::new(1 << EPOCH_SHIFT),
            ejected: AtomicU64::new(0),
            stab_ms,
            max_ejection_percent,
            panic_threshold,
            probe_with_traffic: self.probe_with_traffic,
            probe_interval_ns: u64::try_from(self.probe_interval.as_nanos()).unwrap_or(u64::MAX),
            failovers: AtomicU64::new(0),
            failbacks: AtomicU64::new(0),
            ejections: AtomicU64::new(0),
            restorations: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            listeners: Default::default(),
        })
    }
}

struct Tier {
    name: Arc<str>,
    mask: u64,
    len: u32,
}

struct Slot<T> {
    name: Arc<str>,
    value: T,
    tier: usize,
    breaker: Arc<Breaker>,
    check: Option<HealthCheck<T>>,
    /// Calls picked and not yet reported (kept for power of two choices).
    in_flight: CachePadded<AtomicU64>,
    /// When the breaker was first seen closed in its current generation:
    /// `ceil(ms) << 24 | generation & 0xff_ffff`, 0 when never seen.
    healthy_since: AtomicU64,
    /// Clock time before which its breaker is not worth asking for a probe.
    retry_at: AtomicU64,
}

// The routing word: `epoch:47 | panic:1 | active tier:16`. The epoch goes up
// by one with every change of the active tier, in the same CAS.
const TIER_MASK: u64 = 0xffff;
const PANIC_BIT: u64 = 1 << 16;
const EPOCH_SHIFT: u32 = 17;
const GEN_TAG: u64 = 0xff_ffff;

fn tier_of(r: u64) -> usize {
    (r & TIER_MASK) as usize
}
fn epoch_of(r: u64) -> u64 {
    r >> EPOCH_SHIFT
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cause {
    Stay,
    Failover,
    Failback,
}

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

/// Result of [`FailoverGroup::check_health`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HealthReport {
    /// Checks that passed.
    pub passed: u32,
    /// Checks that failed.
    pub failed: u32,
    /// Endpoints not checked because their breaker refused (open, probes full).
    pub skipped: u32,
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
    /// The epoch (see [`Choice::token`]).
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
    name: Arc<str>,
    mode: Mode,
    balance: Balance,
    clock: ClockSource,
    slots: Box<[Slot<T>]>,
    tiers: Box<[Tier]>,
    /// Per tier: the endpoints of the tiers before it.
    above: Box<[u64]>,
    all: u64,
    hooked: u64,
    /// In-flight counts are kept (power of two choices needs them).
    track: bool,
    route: AtomicU64,
    ejected: AtomicU64,
    stab_ms: u64,
    max_ejection_percent: f64,
    panic_threshold: f64,
    probe_with_traffic: bool,
    probe_interval_ns: u64,
    failovers: AtomicU64,
    failbacks: AtomicU64,
    ejections: AtomicU64,
    restorations: AtomicU64,
    panics: AtomicU64,
    listeners: Arc<Listeners>,
}

impl<T> fmt::Debug for FailoverGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.route.load(Ordering::Relaxed);
        f.debug_struct("FailoverGroup")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .field("active_tier", &self.tiers[tier_of(r)].name)
            .field("epoch", &epoch_of(r))
            .finish()
    }
}

fn bits(mut m: u64) -> impl Iterator<Item = usize> {
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

fn nth_bit(m: u64, n: u32) -> usize {
    bits(m)
        .nth(n as usize)
        .unwrap_or(m.trailing_zeros() as usize)
}

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
    /// Start building a group.
    pub fn builder(name: &str) -> GroupBuilder<T> {
        GroupBuilder {
            name: name.to_string(),
            mode: Mode::ActivePassive,
            balance: Balance::RoundRobin,
            clock: ClockSource::Monotonic,
            config: Config::default(),
            stabilization: Duration::from_secs(300),
            max_ejection_percent: 100.0,
            panic_threshold_percent: 0.0,
            probe_with_traffic: true,
            probe_interval: Duration::from_secs(1),
            tier_names: Vec::new(),
            endpoints: Vec::new(),
        }
    }

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
    /// a call; see [`crate::events`]).
    pub fn on_event(&self, f: impl Fn(&FailoverEvent) + Send + Sync + 'static) {
        self.listeners.add(f);
    }

    /// The epoch: bumped by every failover and failback.
    pub fn epoch(&self) -> FencingToken {
        FencingToken(epoch_of(self.route.load(Ordering::Acquire)))
    }

    /// The tier in use, after bringing the routing up to date.
    pub fn active_tier(&self) -> usize {
        tier_of(self.route(self.healthy_mask()))
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

    // ----- routing -----------------------------------------------------

    /// Bring the routing word up to date with `healthy` and return it.
    #[inline]
    fn route(&self, healthy: u64) -> u64 {
        // Acquire pairs with the AcqRel CAS below: a thread that sees a new
        // tier sees it with its epoch (they share the word anyway).
        let mut r = self.route.load(Ordering::Acquire);
        loop {
            let a = tier_of(r);
            let (t, cause) = self.target(a, healthy);
            let panic = self.panics(t, healthy);
            let epoch = epoch_of(r) + u64::from(t != a);
            let new = (epoch << EPOCH_SHIFT) | if panic { PANIC_BIT } else { 0 } | t as u64;
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
        let tag = s.breaker.generation() & GEN_TAG;
        // Relaxed: the mark is a value judged on its own; a lost race between
        // two threads writing it writes the same generation and about the
        // same time.
        let w = s.healthy_since.load(Ordering::Relaxed);
        if w != 0 && w & GEN_TAG == tag {
            // `since` was rounded up to the millisecond: never early.
            now >= (w >> 24)
                .saturating_add(self.stab_ms)
                .saturating_mul(1_000_000)
        } else {
            let since_ms = now.div_ceil(1_000_000);
            let _ = s.healthy_since.compare_exchange(
                w,
                (since_ms << 24) | tag,
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
    fn after_route_change(&self, old: u64, new: u64, cause: Cause) {
        let now = self.clock.now_ns();
        let epoch = epoch_of(new);
        let mut events = Vec::new();
        let (from, to) = (tier_of(old), tier_of(new));
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
        let (was, is) = (old & PANIC_BIT != 0, new & PANIC_BIT != 0);
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

    fn emit(&self, kinds: Vec<FailoverKind>, epoch: u64, at_ns: u64) {
        let events = kinds
            .into_iter()
            .map(|kind| FailoverEvent {
                group: self.name.clone(),
                kind,
                epoch,
                at_ns,
            })
            .collect();
        self.listeners.emit(events);
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
                    let epoch = epoch_of(self.route.load(Ordering::Relaxed));
                    self.emit(kinds, epoch, self.clock.now_ns());
                    return keep;
                }
                Err(actual) => e = actual,
            }
        }
    }

    /// Endpoints in rotation for route word `r`.
    #[inline]
    fn rotation(&self, r: u64, healthy: u64) -> u64 {
        let t = tier_of(r);
        let mask = self.tiers[t].mask;
        if r & PANIC_BIT != 0 {
            return mask;
        }
        if self.tiers[t].len == 1 {
            return mask & healthy;
        }
        let ejected = self.ejections(t, healthy);
        mask & !ejected
    }

    #[inline]
    fn choose(&self, r: u64, healthy: u64) -> Option<Choice> {
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
            token: FencingToken(epoch_of(r)),
            bypass: healthy & (1 << index) == 0,
            panic: r & PANIC_BIT != 0,
        })
    }

    /// Choose an endpoint, without asking its breaker. Use
    /// [`FailoverGroup::acquire`] to be admitted as well.
    #[inline]
    pub fn pick(&self) -> Option<Choice> {
        let healthy = self.healthy_mask();
        let r = self.route(healthy);
        self.choose(r, healthy)
    }

    fn note_rejection(&self, s: &Slot<T>, rej: &Rejected) {
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
    fn try_probe(&self, r: u64, healthy: u64) -> Option<Pick<'_, T>> {
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
                        token: FencingToken(epoch_of(r)),
                        bypass: false,
                        panic: r & PANIC_BIT != 0,
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

    /// Run every endpoint's health check through its breaker (endpoints
    /// whose breaker refuses are skipped), then bring the routing up to date.
    /// Call it from a timer, or use [`FailoverGroup::spawn_health_checks`].
    pub fn check_health(&self) -> HealthReport {
        let mut report = HealthReport::default();
        for s in self.slots.iter() {
            let Some(check) = &s.check else { continue };
            match s.breaker.try_acquire() {
                Ok(p) => {
                    let ok =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&s.value)))
                            .unwrap_or(false);
                    if ok {
                        report.passed += 1;
                        p.success();
                    } else {
                        report.failed += 1;
                        p.failure();
                    }
                }
                Err(rej) => {
                    report.skipped += 1;
                    self.note_rejection(s, &rej);
                }
            }
        }
        let healthy = self.healthy_mask();
        let r = self.route(healthy);
        self.rotation(r, healthy);
        report
    }

    /// A snapshot.
    pub fn metrics(&self) -> GroupMetrics {
        let healthy = self.healthy_mask();
        let r = self.route(healthy);
        let rot = self.rotation(r, healthy);
        let t = tier_of(r);
        GroupMetrics {
            name: self.name.to_string(),
            mode: self.mode,
            active_tier: self.tiers[t].name.to_string(),
            epoch: epoch_of(r),
            panic: r & PANIC_BIT != 0,
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

impl<T: Send + Sync + 'static> FailoverGroup<T> {
    /// Run [`FailoverGroup::check_health`] every `every` on a thread of its
    /// own, until the returned handle is stopped or dropped.
    pub fn spawn_health_checks(self: &Arc<Self>, every: Duration) -> HealthChecker {
        let stop = Arc::new(unmodelled::AtomicBool::new(false));
        let group = Arc::downgrade(self);
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name(format!("fusebox-health-{}", self.name))
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    match group.upgrade() {
                        Some(g) => {
                            g.check_health();
                        }
                        None => return,
                    }
                    std::thread::park_timeout(every);
                }
            })
            .ok();
        HealthChecker { stop, handle }
    }
}

/// The thread started by [`FailoverGroup::spawn_health_checks`]; stops it
/// when dropped.
#[derive(Debug)]
pub struct HealthChecker {
    /// Shared with a real thread: std's under loom too.
    stop: Arc<unmodelled::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl HealthChecker {
    /// Whether the thread runs.
    pub fn running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Stop and join the thread.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.halt();
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

#[cfg(all(test, loom))]
mod loom_tests {
    //! `RUSTFLAGS="--cfg loom" cargo test -p fusebox --release --lib loom`
    //!
    //! The routing word and the ejection mask, over real breakers (an
    //! endpoint's health is its breaker's state word) and the real event
    //! path (`crate::events`, whose queue a model runs itself). Round robin
    //! and the random draws are per-thread state, not modelled: the models
    //! assert what holds for any draw.
    //!
    //! Each racing thread starts with an RMW on a `gate`: loom's DPOR keeps
    //! only the last access to each object, so a thread that only loads (a
    //! pick that changes nothing), run first, would never be reordered after
    //! another thread's load-then-CAS of the same word.
    use super::*;
    use crate::ManualClock;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Arc;
    use loom::thread;

    fn group(
        mode: Mode,
        names: &[&'static str],
        eject_pct: f64,
        clock: &std::sync::Arc<ManualClock>,
    ) -> FailoverGroup<&'static str> {
        let config = Config::builder()
            .time_window(Duration::from_secs(1), 1)
            .consecutive_failures(Some(1))
            .open_timeout(Duration::from_secs(1))
            .half_open_max_calls(1)
            .success_threshold(1)
            .build()
            .unwrap();
        names
            .iter()
            .fold(FailoverGroup::builder("loom"), |b, &n| {
                b.endpoint(Endpoint::new(n, n))
            })
            .mode(mode)
            .clock(clock.clone())
            .breaker_config(config)
            .stabilization(Duration::from_secs(1))
            .max_ejection_percent(eject_pct)
            .build()
            .unwrap()
    }

    /// A failure that trips endpoint `i`'s breaker.
    fn fail(g: &FailoverGroup<&'static str>, i: usize, p: RawPermit) {
        g.breaker(i).record_raw(p, Outcome::Failure, None);
        assert_eq!(g.breaker(i).phase(), Phase::Open);
    }

    fn pass(gate: &AtomicUsize) {
        gate.fetch_add(1, Ordering::Relaxed);
    }

    #[test]
    fn a_failover_is_made_and_told_once() {
        loom::model(|| {
            let clock = std::sync::Arc::new(ManualClock::new());
            let g = Arc::new(group(Mode::ActivePassive, &["p", "s"], 100.0, &clock));
            let heard = Arc::new(AtomicUsize::new(0));
            let h = heard.clone();
            g.on_event(move |e| {
                assert!(matches!(e.kind, FailoverKind::Failover { .. }));
                assert_eq!(e.epoch, 2);
                h.fetch_add(1, Ordering::Relaxed);
            });
            let permit = g.breaker(0).acquire_raw().unwrap();
            let gate = Arc::new(AtomicUsize::new(0));
            let (g1, gate1) = (g.clone(), gate.clone());
            let t = thread::spawn(move || {
                pass(&gate1);
                fail(&g1, 0, permit);
                // Once this thread has seen the primary open, it never
                // routes there: the standby, under the new epoch.
                let c = g1.pick().expect("the standby is healthy");
                assert_eq!((c.index, c.token.0), (1, 2));
            });
            pass(&gate);
            // Racing the trip: the primary under the first epoch, or the
            // standby under the second; the token names the route.
            let c = g.pick().expect("an endpoint is healthy");
            assert!(
                matches!((c.index, c.token.0), (0, 1) | (1, 2)),
                "{} under epoch {}",
                c.index,
                c.token.0
            );
            t.join().unwrap();
            crate::observe::events::run_queued();
            let m = g.metrics();
            // One CAS won the change: one count, one event, one epoch step,
            // and no failback to the open primary.
            assert_eq!((m.failovers, m.failbacks, m.epoch), (1, 0, 2));
            assert_eq!(heard.load(Ordering::Relaxed), 1, "one event per change");
        });
    }

    #[test]
    fn a_failback_racing_a_new_trip_is_made_once() {
        loom::model(|| {
            // Failed over to the standby; the primary has recovered and
            // stayed closed for the stabilisation period, so the next picks
            // fail back, while a third thread trips the primary again.
            let clock = std::sync::Arc::new(ManualClock::new());
            let g = Arc::new(group(Mode::ActivePassive, &["p", "s"], 100.0, &clock));
            let p = g.breaker(0).acquire_raw().unwrap();
            fail(&g, 0, p);
            assert_eq!(g.pick().unwrap().token.0, 2);
            clock.advance(Duration::from_secs(1));
            let probe = g.breaker(0).acquire_raw().unwrap();
            g.breaker(0).record_raw(probe, Outcome::Success, None);
            assert_eq!(g.pick().unwrap().index, 1, "closed, not yet stable");
            clock.advance(Duration::from_secs(1));
            let permit = g.breaker(0).acquire_raw().unwrap();
            let gate = Arc::new(AtomicUsize::new(0));
            let (g1, gate1) = (g.clone(), gate.clone());
            let tripper = thread::spawn(move || {
                pass(&gate1);
                fail(&g1, 0, permit);
                let c = g1.pick().expect("the standby is healthy");
                assert_eq!(c.index, 1, "picked the primary it had seen open");
            });
            let pick = |g: &FailoverGroup<&'static str>, gate: &AtomicUsize| {
                pass(gate);
                // The primary under an odd epoch (3: failed back), the
                // standby under an even one (2: before; 4: failed over again).
                let c = g.pick().expect("an endpoint is healthy");
                assert_eq!(c.index as u64, 1 - c.token.0 % 2, "{c:?}");
            };
            let (g2, gate2) = (g.clone(), gate.clone());
            let picker = thread::spawn(move || pick(&g2, &gate2));
            pick(&g, &gate);
            tripper.join().unwrap();
            picker.join().unwrap();
            let m = g.metrics();
            assert_eq!(m.active_tier, "s");
            // Two threads may see the primary stable, one fails back; and
            // none after it has seen the primary trip (a new generation).
            assert!(m.failbacks <= 1, "failed back {} times", m.failbacks);
            // Each change of route counted once, by the CAS that made it.
            assert_eq!(m.failovers, 1 + m.failbacks);
            assert_eq!(m.epoch, 1 + m.failovers + m.failbacks);
        });
    }

    #[test]
    fn ejections_keep_the_cap_and_are_counted_once() {
        loom::model(|| {
            // A tier of three with room for one ejection; `a` is down, `b`
            // goes down while two threads bring the mask up to date.
            let clock = std::sync::Arc::new(ManualClock::new());
            let g = Arc::new(group(Mode::ActiveActive, &["a", "b", "c"], 34.0, &clock));
            let pa = g.breaker(0).acquire_raw().unwrap();
            fail(&g, 0, pa);
            let pb = g.breaker(1).acquire_raw().unwrap();
            let gate = Arc::new(AtomicUsize::new(0));
            let (g1, gate1) = (g.clone(), gate.clone());
            let t = thread::spawn(move || {
                pass(&gate1);
                fail(&g1, 1, pb);
                let c = g1.pick().expect("c is healthy");
                assert_ne!(c.index, 0, "picked the ejected endpoint");
                assert!(c.index == 2 || c.bypass, "{c:?}");
            });
            pass(&gate);
            let c = g.pick().expect("c is healthy");
            assert_ne!(c.index, 0, "picked the ejected endpoint");
            t.join().unwrap();
            let m = g.metrics();
            let ejected = g.ejected.load(Ordering::Acquire);
            assert_eq!(ejected, 0b001, "a out; b kept in by the cap");
            // Every change of the mask was counted by the CAS that made it.
            assert_eq!((m.ejections, m.restorations), (1, 0));
            let out: Vec<bool> = m.endpoints.iter().map(|e| e.ejected).collect();
            assert_eq!(out, [true, false, false]);
        });
    }
}
