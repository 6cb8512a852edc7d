//! `tracing` events and spans (feature `tracing`), all off the closed,
//! admitted path: an event per state change (INFO) and per rejection
//! (DEBUG), target `fusebox`, and a `fusebox.call` span (DEBUG) around each
//! call made through [`Breaker::call`](crate::Breaker::call),
//! [`Breaker::call_async`](crate::Breaker::call_async) or
//! [`Guarded`](crate::Guarded), whose `decision` field says `admitted`,
//! `probe` or `rejected`.
//!
//! [`Why`] is compiled in without the feature too: the transition sites
//! name their reason either way (a constant, dropped when unused).

use crate::engine::state::Phase;

/// Why a breaker changed state: the `reason` of a transition event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Why {
    /// The failure rate reached its threshold.
    FailureRate,
    /// The slow-call rate reached its threshold.
    SlowCallRate,
    /// A run of consecutive failures reached its limit.
    ConsecutiveFailures,
    /// The open timeout elapsed: probing starts.
    OpenTimeout,
    /// Probes never reported within the open timeout: back to Open.
    ProbeTimeout,
    /// Enough probes succeeded.
    ProbesSucceeded,
    /// A probe failed.
    ProbeFailed,
    /// Opened for a given time (`open_for`, e.g. a server's Retry-After).
    OpenFor,
    /// `force_open()`.
    ForceOpen,
    /// `disable()`.
    Disable,
    /// `reset()`.
    Reset,
}

impl Why {
    /// The `reason` field.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Why::FailureRate => "failure_rate",
            Why::SlowCallRate => "slow_call_rate",
            Why::ConsecutiveFailures => "consecutive_failures",
            Why::OpenTimeout => "open_timeout",
            Why::ProbeTimeout => "probe_timeout",
            Why::ProbesSucceeded => "probes_succeeded",
            Why::ProbeFailed => "probe_failed",
            Why::OpenFor => "open_for",
            Why::ForceOpen => "force_open",
            Why::Disable => "disable",
            Why::Reset => "reset",
        }
    }
}

/// The event of a state change (the winner of a transition only).
#[cfg(feature = "tracing")]
#[cold]
#[inline(never)]
pub(crate) fn transition(breaker: &str, from: Phase, to: Phase, why: Why) {
    tracing::info!(
        target: "fusebox",
        breaker,
        from = from.as_str(),
        to = to.as_str(),
        reason = why.as_str(),
        "fusebox breaker state change"
    );
}

#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn transition(_: &str, _: Phase, _: Phase, _: Why) {}

/// The event of a rejection (the caller checks first that DEBUG is wanted:
/// one load).
#[cfg(feature = "tracing")]
pub(crate) fn rejection(
    breaker: &str,
    reason: crate::RejectReason,
    retry_after: Option<std::time::Duration>,
) {
    tracing::debug!(
        target: "fusebox",
        breaker,
        reason = reason.as_str(),
        retry_after_ms = retry_after.map(|d| d.as_millis() as u64),
        "fusebox call rejected"
    );
}

/// The span of a protected call: `decision` is `admitted`, `probe` or
/// `rejected`.
#[cfg(feature = "tracing")]
#[inline]
pub(crate) fn call_span(breaker: &str, decision: &'static str) -> tracing::Span {
    tracing::debug_span!(target: "fusebox", "fusebox.call", breaker, decision)
}

/// `admitted` or `probe`.
#[cfg(feature = "tracing")]
pub(crate) fn admitted(probe: bool) -> &'static str {
    if probe {
        "probe"
    } else {
        "admitted"
    }
}
