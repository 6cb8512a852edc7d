//! Failover events: what listeners hear, delivered off the hot path by
//! [`crate::events::Listeners`], as a breaker's are.

use std::fmt;
use std::sync::Arc;

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailoverKind {
    /// Traffic left `from` (an endpoint in active-passive, a tier in tiered
    /// mode) because it became unhealthy, for `to`.
    Failover {
        /// Endpoint or tier traffic left.
        from: Arc<str>,
        /// Endpoint or tier traffic went to.
        to: Arc<str>,
    },
    /// Traffic returned to `to`, a higher-priority endpoint or tier that has
    /// stayed healthy for the stabilisation period.
    Failback {
        /// Endpoint or tier traffic left.
        from: Arc<str>,
        /// Endpoint or tier traffic returned to.
        to: Arc<str>,
    },
    /// An unhealthy endpoint was taken out of rotation (its share goes to the
    /// others in its tier).
    Ejected {
        /// The endpoint.
        endpoint: Arc<str>,
    },
    /// An ejected endpoint is healthy again and back in rotation.
    Restored {
        /// The endpoint.
        endpoint: Arc<str>,
    },
    /// Too few endpoints of the tier in use are healthy: all of them are used.
    PanicStart {
        /// The tier.
        tier: Arc<str>,
    },
    /// Enough endpoints are healthy again: unhealthy ones leave rotation.
    PanicEnd {
        /// The tier.
        tier: Arc<str>,
    },
}

impl FailoverKind {
    /// `failover`, `failback`, `ejected`, `restored`, `panic_start`, `panic_end`.
    pub fn as_str(&self) -> &'static str {
        match self {
            FailoverKind::Failover { .. } => "failover",
            FailoverKind::Failback { .. } => "failback",
            FailoverKind::Ejected { .. } => "ejected",
            FailoverKind::Restored { .. } => "restored",
            FailoverKind::PanicStart { .. } => "panic_start",
            FailoverKind::PanicEnd { .. } => "panic_end",
        }
    }
}

/// One failover event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverEvent {
    /// The group's name.
    pub group: Arc<str>,
    /// What happened.
    pub kind: FailoverKind,
    /// The group's epoch after the event (the fencing token of new picks).
    pub epoch: u64,
    /// Clock time of the event, in ns (the group's clock).
    pub at_ns: u64,
}

impl fmt::Display for FailoverEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.group)?;
        match &self.kind {
            FailoverKind::Failover { from, to } => write!(f, "failover {from} -> {to}")?,
            FailoverKind::Failback { from, to } => write!(f, "failback {from} -> {to}")?,
            FailoverKind::Ejected { endpoint } => write!(f, "{endpoint} ejected")?,
            FailoverKind::Restored { endpoint } => write!(f, "{endpoint} restored")?,
            FailoverKind::PanicStart { tier } => write!(f, "panic mode on in {tier}")?,
            FailoverKind::PanicEnd { tier } => write!(f, "panic mode off in {tier}")?,
        }
        write!(f, " (epoch {})", self.epoch)
    }
}
