//! Language-neutral scenario files (`scenarios/*.json`): a config, then steps
//! (clock moves, calls and their outcomes, expected states and rejections).
//! Every binding's tests read the same files, so the four front ends cannot
//! drift apart. This module parses them and runs them against the Rust API.
//!
//! ```json
//! { "name": "…", "description": "…",
//!   "config": { "min_calls": 4, "open_timeout_ms": 1000,
//!               "window": { "type": "time", "duration_ms": 10000, "buckets": 10 } },
//!   "steps": [ { "op": "call", "outcome": "failure", "repeat": 4 },
//!              { "op": "expect_state", "state": "open" },
//!              { "op": "reject", "reason": "open", "retry_after_ms": 1000 },
//!              { "op": "advance", "ms": 1000 } ] }
//! ```
//!
//! Config keys are [`crate::Config`]'s, with durations in milliseconds
//! (`open_timeout_ms`, `half_open_max_wait_ms`, `slow_call_duration_ms`);
//! `consecutive_failures: null` turns that detector off.

use crate::engine::clock::ManualClock;
use crate::engine::config::{Backoff, Config, ConfigError, Unit, WindowConfig};
use crate::engine::error::RejectReason;
use crate::engine::permit::{Outcome, RawPermit};
use crate::Breaker;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// Breaker settings.
    #[serde(default)]
    pub config: ConfigSpec,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

/// Window settings in a scenario.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum WindowSpec {
    /// A time window.
    Time {
        /// Length in ms.
        duration_ms: f64,
        /// Buckets.
        buckets: u32,
    },
    /// A count window.
    Count {
        /// Calls.
        size: u32,
    },
}

/// Back-off settings in a scenario.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffSpec {
    /// Multiplier.
    pub multiplier: f64,
    /// Cap in ms.
    pub max_ms: f64,
}

/// Config as written in scenario files: every key optional (the default of
/// `docs/semantics.md#defaults` applies), durations in ms.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    /// See [`Config::failure_rate_threshold`].
    pub failure_rate_threshold: Option<f64>,
    /// See [`Config::consecutive_failures`]; `null` turns it off.
    #[serde(default, deserialize_with = "nullable")]
    pub consecutive_failures: Option<Option<u32>>,
    /// See [`Config::min_calls`].
    pub min_calls: Option<u32>,
    /// See [`Config::window`].
    pub window: Option<WindowSpec>,
    /// See [`Config::open_timeout`].
    pub open_timeout_ms: Option<f64>,
    /// See [`Config::backoff`].
    pub backoff: Option<BackoffSpec>,
    /// See [`Config::jitter`].
    pub jitter: Option<f64>,
    /// See [`Config::half_open_max_calls`].
    pub half_open_max_calls: Option<u32>,
    /// See [`Config::success_threshold`].
    pub success_threshold: Option<u32>,
    /// See [`Config::half_open_max_wait`].
    pub half_open_max_wait_ms: Option<f64>,
    /// See [`Config::slow_call_duration`].
    pub slow_call_duration_ms: Option<f64>,
    /// See [`Config::slow_call_rate_threshold`].
    pub slow_call_rate_threshold: Option<f64>,
    /// See [`Config::max_open_for`].
    pub max_open_for_ms: Option<f64>,
    /// See [`Config::cancellation`]: `release`, `slow_if_overdue`,
    /// `failure`.
    pub cancellation: Option<String>,
}

fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Ok(Some(Option::<u32>::deserialize(d)?))
}

fn ms(field: &'static str, v: f64) -> Result<Duration, ConfigError> {
    crate::engine::config::duration_in(field, v, Unit::Millis)
}

impl ConfigSpec {
    /// The validated [`Config`].
    pub fn to_config(&self) -> Result<Config, ConfigError> {
        let c = self.over(Config::default())?;
        c.validate_in(Unit::Millis)?;
        Ok(c)
    }

    /// `base` with the keys given here (a `reconfigure` step: absent keys
    /// keep their value), not validated: the front end under test does
    /// that. `Err` only for a duration that is no number of ms.
    pub fn over(&self, base: Config) -> Result<Config, ConfigError> {
        let mut c = base;
        if let Some(v) = self.failure_rate_threshold {
            c.failure_rate_threshold = v;
        }
        if let Some(v) = self.consecutive_failures {
            c.consecutive_failures = v;
        }
        if let Some(v) = self.min_calls {
            c.min_calls = v;
        }
        if let Some(w) = self.window {
            c.window = match w {
                WindowSpec::Time {
                    duration_ms,
                    buckets,
                } => WindowConfig::Time {
                    duration: ms("window", duration_ms)?,
                    buckets,
                },
                WindowSpec::Count { size } => WindowConfig::Count { size },
            };
        }
        if let Some(v) = self.open_timeout_ms {
            c.open_timeout = ms("open_timeout", v)?;
        }
        if let Some(b) = self.backoff {
            c.backoff = Some(Backoff {
                multiplier: b.multiplier,
                max: ms("backoff.max", b.max_ms)?,
            });
        }
        if let Some(v) = self.jitter {
            c.jitter = v;
        }
        if let Some(v) = self.half_open_max_calls {
            c.half_open_max_calls = v;
        }
        if let Some(v) = self.success_threshold {
            c.success_threshold = v;
        }
        if let Some(v) = self.half_open_max_wait_ms {
            c.half_open_max_wait = ms("half_open_max_wait", v)?;
        }
        if let Some(v) = self.slow_call_duration_ms {
            c.slow_call_duration = Some(ms("slow_call_duration", v)?);
        }
        if let Some(v) = self.slow_call_rate_threshold {
            c.slow_call_rate_threshold = v;
        }
        if let Some(v) = self.max_open_for_ms {
            c.max_open_for = ms("max_open_for", v)?;
        }
        if let Some(v) = &self.cancellation {
            c.cancellation = crate::Cancellation::from_name(v)?;
        }
        Ok(c)
    }
}

/// Expected counters; absent keys are not checked.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSpec {
    /// Successes, all time.
    pub successes: Option<u64>,
    /// Failures, all time.
    pub failures: Option<u64>,
    /// Ignored, all time.
    pub ignored: Option<u64>,
    /// Slow, all time.
    pub slow: Option<u64>,
    /// Rejected, all time.
    pub rejected: Option<u64>,
    /// State changes, all time.
    pub state_changes: Option<u64>,
    /// Calls in the window.
    pub window_calls: Option<u64>,
    /// Failures in the window.
    pub window_failures: Option<u64>,
}

/// One step of a scenario.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Move the manual clock forward.
    Advance {
        /// Milliseconds.
        ms: f64,
    },
    /// Make `repeat` calls (default 1) that must be admitted, each ending in
    /// `outcome`, optionally with a duration.
    Call {
        /// Outcome.
        outcome: Outcome,
        /// Duration in ms (else 0).
        duration_ms: Option<f64>,
        /// How many times.
        repeat: Option<u32>,
    },
    /// Try `repeat` calls (default 1) that must be rejected.
    Reject {
        /// Expected reason: `open`, `half_open_full`, `forced_open`.
        reason: Option<String>,
        /// Expected retry-after in ms (checked to within 1 ms).
        retry_after_ms: Option<f64>,
        /// How many times.
        repeat: Option<u32>,
    },
    /// Take a permit and hold it under a name.
    Acquire {
        /// Name of the held permit.
        id: String,
        /// Expect it to be a half-open probe (or not).
        probe: Option<bool>,
    },
    /// Report the outcome of a held permit.
    Record {
        /// Name of the held permit.
        id: String,
        /// Outcome.
        outcome: Outcome,
        /// Duration in ms (else measured from acquire).
        duration_ms: Option<f64>,
    },
    /// Drop a held permit without an outcome.
    Release {
        /// Name of the held permit.
        id: String,
    },
    /// The state must be this: `closed`, `open`, `half_open`.
    ExpectState {
        /// Expected state.
        state: String,
    },
    /// Counters must be these.
    ExpectMetrics(MetricsSpec),
    /// Force open.
    ForceOpen,
    /// Disable (force closed).
    Disable,
    /// Reset.
    Reset,
    /// `Breaker::open_for`: open for `ms` (≥ 0, capped at `max_open_for`),
    /// then probe.
    OpenFor {
        /// Milliseconds.
        ms: f64,
        /// Expected answer: whether the breaker was opened or its open
        /// period extended.
        opened: Option<bool>,
    },
    /// `Breaker::reconfigure` with the breaker's config changed by the keys
    /// given (absent keys keep their value).
    Reconfigure {
        /// The keys to change, as in `config`.
        config: ConfigSpec,
        /// Expected names of the changed settings (`Config` field names).
        changed: Option<Vec<String>>,
        /// Expected: whether the kept window, judged at once, tripped it.
        tripped: Option<bool>,
        /// Expected refusal: the field the error names (nothing changes).
        error_field: Option<String>,
    },
    /// Write the breaker's state as a snapshot (kept by the runner as the
    /// file's text).
    Snapshot,
    /// A restart: a fresh process (a new breaker on a new manual clock;
    /// held permits are gone) restores the last snapshot, `elapsed_ms`
    /// after it was written.
    Restore {
        /// Wall time between writing and restoring, in ms.
        elapsed_ms: f64,
    },
}

/// Parse a scenario file's text.
pub fn parse(text: &str) -> Result<Scenario, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

fn ns(ms: f64) -> u64 {
    (ms * 1e6).round() as u64
}

/// Run a scenario against a fresh breaker on a manual clock. `Err` says which
/// step failed and why.
pub fn run(s: &Scenario) -> Result<(), String> {
    let config = s.config.to_config().map_err(|e| format!("config: {e}"))?;
    let clock = Arc::new(ManualClock::new());
    let mut clock = clock;
    let mut b =
        Arc::new(Breaker::named(&s.name, config, clock.clone()).map_err(|e| e.to_string())?);
    let mut held: HashMap<String, RawPermit> = HashMap::new();
    let mut saved: Option<String> = None;
    for (i, step) in s.steps.iter().enumerate() {
        let at = |msg: String| format!("step {} ({step:?}): {msg}", i + 1);
        match step {
            Step::Advance { ms } => clock.advance_ns(ns(*ms)),
            Step::Call {
                outcome,
                duration_ms,
                repeat,
            } => {
                for n in 0..repeat.unwrap_or(1) {
                    let p = b
                        .acquire_raw()
                        .map_err(|r| at(format!("call {} rejected: {r}", n + 1)))?;
                    b.record_raw(p, *outcome, Some(duration_ms.map_or(0, ns)));
                }
            }
            Step::Reject {
                reason,
                retry_after_ms,
                repeat,
            } => {
                for n in 0..repeat.unwrap_or(1) {
                    match b.acquire_raw() {
                        Ok(p) => {
                            b.release_raw(p);
                            return Err(at(format!("attempt {} was admitted", n + 1)));
                        }
                        Err(r) => {
                            if let Some(want) = reason {
                                if r.reason.as_str() != want {
                                    return Err(at(format!(
                                        "reason {} != {want}",
                                        r.reason.as_str()
                                    )));
                                }
                            }
                            if let Some(want) = retry_after_ms {
                                let got = r.retry_after.map(|d| d.as_secs_f64() * 1000.0);
                                if !got.is_some_and(|g| (g - want).abs() <= 1.0) {
                                    return Err(at(format!("retry_after {got:?} ms != {want} ms")));
                                }
                            }
                        }
                    }
                }
            }
            Step::Acquire { id, probe } => {
                let p = b.acquire_raw().map_err(|r| at(format!("rejected: {r}")))?;
                if let Some(want) = probe {
                    if p.probe != *want {
                        return Err(at(format!("probe {} != {want}", p.probe)));
                    }
                }
                held.insert(id.clone(), p);
            }
            Step::Record {
                id,
                outcome,
                duration_ms,
            } => {
                let p = held
                    .remove(id)
                    .ok_or_else(|| at(format!("no held permit {id}")))?;
                b.record_raw(p, *outcome, duration_ms.map(ns));
            }
            Step::Release { id } => {
                let p = held
                    .remove(id)
                    .ok_or_else(|| at(format!("no held permit {id}")))?;
                b.release_raw(p);
            }
            Step::ExpectState { state } => {
                let got = b.state().as_str();
                if got != state {
                    return Err(at(format!("state {got} != {state}")));
                }
            }
            Step::ExpectMetrics(m) => check_metrics(m, &b.metrics()).map_err(at)?,
            Step::ForceOpen => b.force_open(),
            Step::Disable => b.disable(),
            Step::Reset => b.reset(),
            Step::OpenFor { ms, opened } => {
                let d = crate::input::duration_arg("duration", *ms, Unit::Millis)
                    .map_err(|e| at(e.to_string()))?;
                let got = b.open_for(d);
                if opened.is_some_and(|want| want != got) {
                    return Err(at(format!("open_for answered {got}")));
                }
            }
            Step::Reconfigure {
                config,
                changed,
                tripped,
                error_field,
            } => {
                let before = b.config();
                let got = config
                    .over(before.clone())
                    .and_then(|c| b.reconfigure_in(c, Unit::Millis));
                match (got, error_field) {
                    (Ok(done), None) => {
                        if let Some(want) = changed {
                            if done.changed != *want {
                                return Err(at(format!("changed {:?} != {want:?}", done.changed)));
                            }
                        }
                        if tripped.is_some_and(|want| want != done.tripped) {
                            return Err(at(format!("tripped {}", done.tripped)));
                        }
                    }
                    (Ok(_), Some(want)) => {
                        return Err(at(format!("accepted, not refused on {want}")))
                    }
                    (Err(e), None) => return Err(at(format!("refused: {e}"))),
                    (Err(e), Some(want)) => {
                        if e.field != want {
                            return Err(at(format!("refused on {}, not {want}: {e}", e.field)));
                        }
                        if b.config() != before {
                            return Err(at("refused, yet the config changed".into()));
                        }
                    }
                }
            }
            Step::Snapshot => {
                let snap = crate::snapshot::Snapshot::now(vec![b.save_state()]);
                saved = Some(snap.to_json());
            }
            Step::Restore { elapsed_ms } => {
                let text = saved
                    .as_ref()
                    .ok_or_else(|| at("no snapshot taken".into()))?;
                let snap = crate::snapshot::Snapshot::parse(text).map_err(|e| at(e.to_string()))?;
                clock = Arc::new(ManualClock::new());
                let registry = crate::Registry::new(Config::default(), clock.clone());
                registry
                    .restore_state_after(&snap, Duration::from_nanos(ns(*elapsed_ms)))
                    .map_err(|e| at(e.to_string()))?;
                b = registry
                    .get(&s.name)
                    .ok_or_else(|| at("not restored".into()))?;
                held.clear();
            }
        }
    }
    Ok(())
}

/// `Err` naming the first counter of `got` that is not as `m` expects.
pub(crate) fn check_metrics(m: &MetricsSpec, got: &crate::Metrics) -> Result<(), String> {
    let checks = [
        ("successes", m.successes, got.successes),
        ("failures", m.failures, got.failures),
        ("ignored", m.ignored, got.ignored),
        ("slow", m.slow, got.slow),
        ("rejected", m.rejected, got.rejected),
        ("state_changes", m.state_changes, got.state_changes),
        ("window_calls", m.window_calls, got.window.calls),
        ("window_failures", m.window_failures, got.window.failures),
    ];
    for (name, want, got) in checks {
        if let Some(want) = want {
            if want != got {
                return Err(format!("{name} {got} != {want}"));
            }
        }
    }
    Ok(())
}

/// Whether a reason string names a reason.
pub fn reason_from_str(s: &str) -> Option<RejectReason> {
    match s {
        "open" => Some(RejectReason::Open),
        "half_open_full" => Some(RejectReason::HalfOpenFull),
        "forced_open" => Some(RejectReason::ForcedOpen),
        _ => None,
    }
}
