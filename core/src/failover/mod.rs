//! Automatic failover (`docs/semantics.md#failover`).
//!
//! A [`FailoverGroup`] holds endpoints, each behind its own [`Breaker`] (and
//! optionally an active health check), and routes calls to them:
//!
//! * [`Mode::ActivePassive`]: the first endpoint is the primary, the others
//!   standbys in order. When the primary's breaker opens, traffic fails over
//!   to the first healthy standby; it fails back only once the primary has
//!   stayed healthy (breaker closed, not one transition) for the
//!   stabilisation period (default 5 minutes), so a flapping primary never
//!   gets traffic back.
//! * [`Mode::ActiveActive`]: traffic is spread over every healthy endpoint
//!   ([`Balance::RoundRobin`] or [`Balance::PowerOfTwoChoices`] on in-flight
//!   counts); an unhealthy one is taken out and its share goes to the others.
//! * [`Mode::Tiered`]: priority tiers (local, same city, remote); traffic is
//!   spread within the first tier and moves down a tier only when the whole
//!   tier is unhealthy, back up after the stabilisation period.
//!
//! Two guards from Envoy's outlier detection keep a bad detector from
//! emptying a tier: a maximum ejection percentage, and a panic threshold
//! under which every endpoint of the tier is used, healthy or not.
//!
//! Choosing costs atomic loads: each breaker's state word, the group's
//! routing word, and a clock read while failed over. Changes of route are
//! CAS operations on that word; the winner counts the change and emits a
//! [`FailoverEvent`] through [`crate::events`], off the hot path. The epoch
//! in the routing word is a [fencing token](crate::fencing) for the picks.
//!
//! Across hosts, a [`Candidate`] decides which node is primary through a
//! [`Coordinator`](crate::coordination::Coordinator): a lease, an election
//! whose revision is the fencing token, and a quorum check.
//!
//! ```
//! use fusebox::failover::{Endpoint, FailoverGroup, Mode};
//! use fusebox::{Config, ManualClock};
//! use std::{sync::Arc, time::Duration};
//!
//! let clock = Arc::new(ManualClock::new());
//! let group = FailoverGroup::builder("inventory")
//!     .mode(Mode::ActivePassive)
//!     .clock(clock.clone())
//!     .breaker_config(Config::builder().consecutive_failures(Some(3)).build()?)
//!     .stabilization(Duration::from_secs(300))
//!     .endpoint(Endpoint::new("primary", "10.0.0.1:5432"))
//!     .endpoint(Endpoint::new("standby", "10.0.0.2:5432"))
//!     .build()?;
//!
//! for _ in 0..3 {
//!     group.acquire()?.failure(); // the primary times out
//! }
//! let pick = group.acquire()?;
//! assert_eq!(pick.name(), "standby");
//! assert_eq!(*pick.value(), "10.0.0.2:5432");
//! pick.success();
//! assert_eq!(group.metrics().failovers, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(doc)]
use crate::Breaker;

// The group, by idea: the type and its snapshot (`group`), how it is built
// (`builder`), the routing word and ejection mask (`routing`), choosing and
// admitting a call (`pick`), active health checks (`health`).
mod builder;
mod group;
mod health;
mod pick;
mod routing;
// loom models of the routing word and the ejection mask.
#[cfg(all(test, loom))]
mod loom;

pub mod coordination;
mod election;
mod event;
pub mod fencing;

pub use builder::{Endpoint, GroupBuilder, GroupError};
pub use election::{Candidate, CandidateStats, Role, RoleChange, RoleEvent, StepDown};
pub use event::{FailoverEvent, FailoverKind};
pub use group::{EndpointStatus, FailoverGroup, GroupMetrics, MAX_ENDPOINTS};
pub use health::{HealthChecker, HealthReport};
pub use pick::{Choice, GroupCallError, Pick, RawPick, Unavailable};

/// How a group routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// A primary and ordered standbys.
    ActivePassive,
    /// Every healthy endpoint shares the traffic.
    ActiveActive,
    /// Priority tiers; spread within the first healthy one.
    Tiered,
}

impl Mode {
    /// `active_passive`, `active_active`, `tiered`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ActivePassive => "active_passive",
            Mode::ActiveActive => "active_active",
            Mode::Tiered => "tiered",
        }
    }
}

/// How traffic is spread within a tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Balance {
    /// In turn (each thread keeps its own turn: no shared counter).
    RoundRobin,
    /// Two endpoints drawn at random; the one with fewer calls in flight
    /// (picked through [`FailoverGroup::acquire`], not yet reported) wins.
    PowerOfTwoChoices,
}
