//! The JSON of `/breakers` and of each `/events` message.

use fusebox::{Breaker, Transition};
use serde_json::{json, Value};

/// One breaker: name, state, phase, rates and thresholds, counts.
pub(crate) fn breaker(b: &Breaker) -> Value {
    let m = b.metrics();
    let c = b.config();
    json!({
        "name": m.name,
        "state": m.state.as_str(),
        "phase": m.phase.as_str(),
        "generation": m.generation,
        "failure_rate": finite(m.failure_rate),
        "slow_call_rate": finite(m.slow_rate),
        "failure_rate_threshold": c.failure_rate_threshold,
        "slow_call_rate_threshold": c.slow_call_rate_threshold,
        "window_calls": m.window.calls,
        "calls": { "success": m.successes, "failure": m.failures, "ignored": m.ignored },
        "slow_calls": m.slow,
        "rejected": m.rejected,
        "state_changes": m.state_changes,
    })
}

/// The body of `/breakers`: `{"breakers": [...]}`, sorted by name.
pub(crate) fn breakers(all: &[std::sync::Arc<Breaker>]) -> Value {
    json!({ "breakers": all.iter().map(|b| breaker(b)).collect::<Vec<_>>() })
}

/// One state change, as `/events` sends it.
pub(crate) fn transition(t: &Transition) -> Value {
    json!({
        "breaker": &*t.breaker,
        "from": t.from.as_str(),
        "to": t.to.as_str(),
        "state": t.to.state().as_str(),
        "generation": t.generation,
        "at_ns": t.at_ns,
    })
}

/// JSON has no NaN: a rate with no calls behind it is written as null.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}
