//! Language-neutral retry scenario files (`scenarios/retry/*.json`): a
//! breaker config, a retry budget, a retry policy, then steps (logical
//! calls whose attempts answer as scripted, clock moves, expected budget
//! and policy counters). The format is in `scenarios/README.md`; this
//! module parses the files and runs them against the Rust API.
//!
//! ```json
//! { "name": "…", "description": "…",
//!   "config": { "consecutive_failures": null },
//!   "budget": { "ratio": 0.2, "min_per_sec": 0 },
//!   "retry": { "max_attempts": 3, "base_backoff_ms": 100, "jitter": false },
//!   "steps": [ { "op": "retry_call", "attempts": ["failure", "success"],
//!                "expect": { "result": "success", "retries": 1, "waits_ms": [100] } },
//!              { "op": "expect_budget", "withdrawals": 1 } ] }
//! ```

use super::scenario::{check_metrics, ConfigSpec, MetricsSpec};
use crate::engine::clock::ManualClock;
use crate::engine::config::{duration_in, ConfigError, Unit};
use crate::retry::{RetryError, Sleeper, Verdict};
use crate::{Breaker, RetryBudget, RetryBudgetConfig, RetryPolicy};
use serde::Deserialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A retry scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryScenario {
    /// Short name.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// Breaker settings (as in the breaker's scenario files).
    #[serde(default)]
    pub config: ConfigSpec,
    /// Retry budget settings.
    #[serde(default)]
    pub budget: BudgetSpec,
    /// Retry policy settings.
    #[serde(default)]
    pub retry: PolicySpec,
    /// What happens, in order.
    pub steps: Vec<RetryStep>,
}

/// [`RetryBudgetConfig`] as written in scenario files; absent keys take
/// the defaults.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// See [`RetryBudgetConfig::ratio`].
    pub ratio: Option<f64>,
    /// See [`RetryBudgetConfig::min_per_sec`].
    pub min_per_sec: Option<u32>,
    /// See [`RetryBudgetConfig::window`], in ms.
    pub window_ms: Option<f64>,
    /// See [`RetryBudgetConfig::buckets`].
    pub buckets: Option<u32>,
}

/// [`RetryPolicy`] settings as written in scenario files; absent keys take
/// the defaults, durations in ms.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Attempts in all.
    pub max_attempts: Option<u32>,
    /// The first retry's back-off cap.
    pub base_backoff_ms: Option<f64>,
    /// No back-off above this.
    pub max_backoff_ms: Option<f64>,
    /// The whole call's limit (`null`: none).
    pub deadline_ms: Option<f64>,
    /// The least time an attempt needs.
    pub min_attempt_ms: Option<f64>,
    /// The longest retry-after honoured.
    pub retry_after_cap_ms: Option<f64>,
    /// Full jitter (default) or none (waits are exactly the caps).
    pub jitter: Option<bool>,
    /// The jitter's seed.
    pub seed: Option<u64>,
}

fn ms(field: &'static str, v: f64) -> Result<Duration, ConfigError> {
    duration_in(field, v, Unit::Millis)
}

impl BudgetSpec {
    /// The validated budget config.
    pub fn to_config(&self) -> Result<RetryBudgetConfig, ConfigError> {
        let mut c = RetryBudgetConfig::default();
        if let Some(v) = self.ratio {
            c.ratio = v;
        }
        if let Some(v) = self.min_per_sec {
            c.min_per_sec = v;
        }
        if let Some(v) = self.window_ms {
            c.window = ms("window", v)?;
        }
        if let Some(v) = self.buckets {
            c.buckets = v;
        }
        c.validate()?;
        Ok(c)
    }
}

impl PolicySpec {
    /// The validated policy.
    pub fn to_policy(&self, name: &str) -> Result<RetryPolicy, ConfigError> {
        let mut b = RetryPolicy::builder()
            .name(name)
            .seed(self.seed.unwrap_or(1));
        if let Some(v) = self.max_attempts {
            b = b.max_attempts(v);
        }
        if let Some(v) = self.base_backoff_ms {
            b = b.base_backoff(ms("base_backoff", v)?);
        }
        if let Some(v) = self.max_backoff_ms {
            b = b.max_backoff(ms("max_backoff", v)?);
        }
        if let Some(v) = self.deadline_ms {
            b = b.deadline(Some(ms("deadline", v)?));
        }
        if let Some(v) = self.min_attempt_ms {
            b = b.min_attempt(ms("min_attempt", v)?);
        }
        if let Some(v) = self.retry_after_cap_ms {
            b = b.retry_after_cap(ms("retry_after_cap", v)?);
        }
        if let Some(v) = self.jitter {
            b = b.jitter(v);
        }
        b.build()
    }
}

/// How one attempt answers: `"success"`, `"failure"` (retryable),
/// `"fatal"` (not retryable), or `{"outcome": "failure", "retry_after_ms":
/// 2000}` (retryable, not before the server's retry-after).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum AttemptSpec {
    /// `success`, `failure` or `fatal`.
    Plain(AttemptOutcome),
    /// A failure with the server's retry-after.
    Detailed {
        /// The outcome.
        outcome: AttemptOutcome,
        /// The server's retry-after, in ms.
        retry_after_ms: Option<f64>,
    },
}

/// An attempt's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// It succeeds.
    Success,
    /// It fails, retryably.
    Failure,
    /// It fails, not retryably.
    Fatal,
}

/// What a logical call must have done; absent keys are not checked.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallExpect {
    /// `success`, `failed` (an attempt's error) or `rejected` (the
    /// breaker's rejection of the last attempt).
    pub result: Option<String>,
    /// Attempts, rejected ones included.
    pub attempts: Option<u32>,
    /// Retries.
    pub retries: Option<u32>,
    /// Attempts the breaker rejected.
    pub rejections: Option<u32>,
    /// Why it ended (`StopReason::as_str`).
    pub stop: Option<String>,
    /// Each wait between attempts, in ms (to within 0.001 ms).
    pub waits_ms: Option<Vec<f64>>,
}

/// Expected budget counters; absent keys are not checked.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetExpect {
    /// Requests deposited.
    pub deposits: Option<u64>,
    /// Retries allowed.
    pub withdrawals: Option<u64>,
    /// Retries refused.
    pub refusals: Option<u64>,
    /// Retries that could be allowed now.
    pub available: Option<u64>,
}

/// Expected policy counters; absent keys are not checked.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyExpect {
    /// Logical calls.
    pub calls: Option<u64>,
    /// Attempts.
    pub attempts: Option<u64>,
    /// Retries.
    pub retries: Option<u64>,
    /// Retries the budget refused.
    pub budget_refusals: Option<u64>,
    /// Calls that ended in an error.
    pub failed_calls: Option<u64>,
}

/// One step of a retry scenario.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum RetryStep {
    /// Move the manual clock forward.
    Advance {
        /// Milliseconds.
        ms: f64,
    },
    /// `repeat` logical calls (default 1) through the policy; attempt `i`
    /// answers as `attempts[i]` (the last entry for every later one), each
    /// taking `attempt_ms` (default 0) of clock time.
    RetryCall {
        /// How the attempts answer.
        attempts: Vec<AttemptSpec>,
        /// Clock time each attempt takes, in ms.
        attempt_ms: Option<f64>,
        /// How many calls.
        repeat: Option<u32>,
        /// What each call must have done.
        #[serde(default)]
        expect: CallExpect,
    },
    /// The budget's counters must be these.
    ExpectBudget(BudgetExpect),
    /// The policy's counters must be these.
    ExpectRetryMetrics(PolicyExpect),
    /// The breaker's state must be this: `closed`, `open`, `half_open`.
    ExpectState {
        /// Expected state.
        state: String,
    },
    /// The breaker's counters must be these.
    ExpectMetrics(MetricsSpec),
}

/// Parse a retry scenario file's text.
pub fn parse(text: &str) -> Result<RetryScenario, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Logs each wait and moves the clock by it.
#[derive(Debug)]
struct Waits(Arc<ManualClock>, Mutex<Vec<Duration>>);

impl Sleeper for Waits {
    fn sleep(&self, d: Duration) {
        self.1.lock().unwrap_or_else(|e| e.into_inner()).push(d);
        self.0.advance(d);
    }
}

fn ns(ms: f64) -> u64 {
    (ms * 1e6).round() as u64
}

fn check<T: PartialEq + std::fmt::Debug>(
    name: &str,
    want: Option<T>,
    got: T,
) -> Result<(), String> {
    match want {
        Some(w) if w != got => Err(format!("{name} {got:?} != {w:?}")),
        _ => Ok(()),
    }
}

/// Run a retry scenario against a fresh breaker, budget and policy on one
/// manual clock. `Err` says which step failed and why.
pub fn run(s: &RetryScenario) -> Result<(), String> {
    let config = s.config.to_config().map_err(|e| format!("config: {e}"))?;
    let budget = s.budget.to_config().map_err(|e| format!("budget: {e}"))?;
    let policy = s
        .retry
        .to_policy(&s.name)
        .map_err(|e| format!("retry: {e}"))?;
    let clock = Arc::new(ManualClock::new());
    let breaker = Breaker::named(&s.name, config, clock.clone()).map_err(|e| e.to_string())?;
    let budget = RetryBudget::named(&s.name, budget, clock.clone()).map_err(|e| e.to_string())?;
    for (i, step) in s.steps.iter().enumerate() {
        let at = |msg: String| format!("step {} ({step:?}): {msg}", i + 1);
        match step {
            RetryStep::Advance { ms } => clock.advance_ns(ns(*ms)),
            RetryStep::RetryCall {
                attempts,
                attempt_ms,
                repeat,
                expect,
            } => {
                if attempts.is_empty() {
                    return Err(at("attempts is empty".into()));
                }
                for n in 0..repeat.unwrap_or(1) {
                    let at = |msg: String| at(format!("call {}: {msg}", n + 1));
                    let waits = Waits(clock.clone(), Mutex::new(Vec::new()));
                    let out = policy.call_with(
                        &breaker,
                        &budget,
                        &waits,
                        |a: &AttemptSpec| match a {
                            AttemptSpec::Detailed {
                                outcome: AttemptOutcome::Failure,
                                retry_after_ms: Some(r),
                            } => Verdict::RetryAfter(Duration::from_nanos(ns(*r))),
                            AttemptSpec::Plain(AttemptOutcome::Fatal)
                            | AttemptSpec::Detailed {
                                outcome: AttemptOutcome::Fatal,
                                ..
                            } => Verdict::Stop,
                            _ => Verdict::Retry,
                        },
                        |attempt| {
                            clock.advance_ns(attempt_ms.map_or(0, ns));
                            let spec = &attempts[(attempt as usize - 1).min(attempts.len() - 1)];
                            let outcome = match spec {
                                AttemptSpec::Plain(o)
                                | AttemptSpec::Detailed { outcome: o, .. } => *o,
                            };
                            match outcome {
                                AttemptOutcome::Success => Ok(()),
                                _ => Err(spec.clone()),
                            }
                        },
                    );
                    let result = match out.result {
                        Ok(()) => "success",
                        Err(RetryError::Failed(_)) => "failed",
                        Err(RetryError::Rejected(_)) => "rejected",
                    };
                    check("result", expect.result.as_deref(), result).map_err(at)?;
                    check("attempts", expect.attempts, out.stats.attempts).map_err(at)?;
                    check("retries", expect.retries, out.stats.retries).map_err(at)?;
                    check("rejections", expect.rejections, out.stats.rejections).map_err(at)?;
                    check("stop", expect.stop.as_deref(), out.stats.stop.as_str()).map_err(at)?;
                    if let Some(want) = &expect.waits_ms {
                        let got: Vec<f64> = waits
                            .1
                            .into_inner()
                            .unwrap_or_else(|e| e.into_inner())
                            .iter()
                            .map(|d| d.as_secs_f64() * 1e3)
                            .collect();
                        let same = got.len() == want.len()
                            && got.iter().zip(want).all(|(g, w)| (g - w).abs() <= 1e-3);
                        if !same {
                            return Err(at(format!("waits_ms {got:?} != {want:?}")));
                        }
                    }
                }
            }
            RetryStep::ExpectBudget(e) => {
                let got = budget.stats();
                check("deposits", e.deposits, got.deposits).map_err(at)?;
                check("withdrawals", e.withdrawals, got.withdrawals).map_err(at)?;
                check("refusals", e.refusals, got.refusals).map_err(at)?;
                check("available", e.available, got.available).map_err(at)?;
            }
            RetryStep::ExpectRetryMetrics(e) => {
                let got = policy.metrics();
                check("calls", e.calls, got.calls).map_err(at)?;
                check("attempts", e.attempts, got.attempts).map_err(at)?;
                check("retries", e.retries, got.retries).map_err(at)?;
                check("budget_refusals", e.budget_refusals, got.budget_refusals).map_err(at)?;
                check("failed_calls", e.failed_calls, got.failed_calls).map_err(at)?;
            }
            RetryStep::ExpectState { state } => {
                let got = breaker.state().as_str();
                if got != state {
                    return Err(at(format!("state {got} != {state}")));
                }
            }
            RetryStep::ExpectMetrics(m) => check_metrics(m, &breaker.metrics()).map_err(at)?,
        }
    }
    Ok(())
}
