//! Building a failover group: its endpoints, its settings, and the checks
//! `build` makes.

use super::group::{FailoverGroup, HealthCheck, Slot, Tier, MAX_ENDPOINTS};
use super::routing::{AtomicRoute, HealthySince, Route};
use super::{Balance, Mode};
use crate::engine::clock::ClockSource;
use crate::engine::config::{Config, ConfigError};
use crate::sync::AtomicU64;
use crate::Breaker;
use crossbeam_utils::CachePadded;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

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
                healthy_since: AtomicU64::new(HealthySince::NEVER.bits()),
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
            route: AtomicRoute::new(Route::FIRST),
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

impl<T> FailoverGroup<T> {
    /// Start building a group: active-passive, round robin, the system
    /// clock, `Config::default()` breakers, 5 minutes of stabilisation.
    ///
    /// ```rust
    /// use fusebox::failover::{Endpoint, FailoverGroup, Mode};
    /// use fusebox::{Config, ManualClock};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let group = FailoverGroup::builder("db")
    ///     .clock(clock.clone())
    ///     .breaker_config(Config::builder().consecutive_failures(Some(5)).build()?)
    ///     .stabilization(Duration::from_secs(120))
    ///     .endpoint(Endpoint::new("primary", "10.0.0.1:5432"))
    ///     .endpoint(Endpoint::new("standby", "10.0.0.2:5432"))
    ///     .build()?;
    /// assert_eq!((group.name(), group.mode(), group.len()), ("db", Mode::ActivePassive, 2));
    /// // The group made each endpoint's breaker, named `group:endpoint`.
    /// assert_eq!(group.breaker(1).name(), "db:standby");
    /// assert_eq!(group.index_of("standby"), Some(1));
    /// assert_eq!(group.endpoint_name(group.active()), "primary");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
}
