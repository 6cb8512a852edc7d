//! Hedging for Node (`hedge.js` gives it its JS shape): a hedge policy and
//! `NativeHedgeCall`, one hedged call's progress. The JS loop
//! (`policy.fire(fn)`) runs the attempts, the timers and the aborts of the
//! losers; every decision in it is the core's `HedgePolicy::begin` /
//! `hedge_due` / `ended`.

use crate::histogram::NativeLatencyHistogram;
use crate::retry::{
    ms, option_problem, prometheus_text, whole, NativeRetryBudget, NativeRetryMetrics,
};
use crate::OptionProblem;
use fusebox::retry::{HedgeDelay, HedgeEnd, HedgeStart, HedgeState, HedgeVerdict};
use napi::bindgen_prelude::{ClassInstance, Either};
use napi_derive::napi;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Hedge policy options as the JS layer passes them (types checked).
#[napi(object)]
#[derive(Default)]
pub struct NativeHedgeOptions {
    /// The policy's name, for metrics.
    pub name: Option<String>,
    /// The wait before each hedge, in ms.
    pub delay_ms: Option<f64>,
    /// Hedges a call may start (1..=10).
    pub max_hedges: Option<f64>,
    /// With a histogram: the quantile of its latencies that is the delay
    /// (`delay_ms` is then the wait while it is empty). Default 0.95.
    pub quantile: Option<f64>,
}

/// A hedge policy, or the options' problem.
#[napi]
pub fn create_hedge_policy(
    options: NativeHedgeOptions,
    histogram: Option<ClassInstance<NativeLatencyHistogram>>,
) -> Either<NativeHedgePolicy, OptionProblem> {
    let build = || -> Result<fusebox::retry::HedgePolicy, OptionProblem> {
        let name = options.name.as_deref().unwrap_or("hedge");
        fusebox::registry::check_name(name).map_err(|e| OptionProblem {
            option: "name".into(),
            message: e.to_string(),
        })?;
        let mut b = fusebox::retry::HedgePolicy::builder().name(name);
        if let Some(v) = options.max_hedges {
            b = b.max_hedges(whole("maxHedges", v)?);
        }
        let delay = match options.delay_ms {
            Some(v) => Some(ms("delay", v)?),
            None => None,
        };
        match (&histogram, options.quantile) {
            // A quantile delay: `delayMs` is its fallback while it is empty.
            (Some(h), q) => {
                b = b.delay(HedgeDelay::Quantile {
                    histogram: h.inner.clone(),
                    quantile: q.unwrap_or(0.95),
                    fallback: delay.unwrap_or(Duration::from_millis(50)),
                })
            }
            (None, Some(_)) => {
                return Err(OptionProblem {
                    option: "histogram".into(),
                    message: "The option \"quantile\" needs the option \"histogram\": the latencies it is a quantile of".into(),
                })
            }
            (None, None) => {
                if let Some(d) = delay {
                    b = b.delay(HedgeDelay::Fixed(d));
                }
            }
        }
        b.build().map_err(|e| option_problem(&e))
    };
    match build() {
        Ok(p) => Either::A(NativeHedgePolicy { inner: Arc::new(p) }),
        Err(p) => Either::B(p),
    }
}

/// The core's hedge policy.
#[napi]
pub struct NativeHedgePolicy {
    inner: Arc<fusebox::retry::HedgePolicy>,
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[napi]
impl NativeHedgePolicy {
    /// The counters (as a retry policy's; `retries` is 0).
    #[napi]
    pub fn metrics(&self) -> NativeRetryMetrics {
        NativeRetryMetrics::from(self.inner.metrics())
    }

    /// The counters in the Prometheus text format (`fusebox_retry_*`,
    /// hedges in `fusebox_retry_hedges_total`).
    #[napi]
    pub fn prometheus(&self) -> String {
        prometheus_text(self.inner.metrics())
    }

    /// Start a hedged call paid from `budget` (one deposit, attempt 1).
    #[napi]
    pub fn begin(&self, budget: &NativeRetryBudget) -> NativeHedgeCall {
        let (state, delay) = self.inner.begin(&budget.inner);
        NativeHedgeCall {
            policy: self.inner.clone(),
            budget: budget.inner.clone(),
            first_delay_ms: delay.map(millis),
            state: Mutex::new(state),
        }
    }
}

/// What to do when a hedge's delay is over.
#[napi(object)]
pub struct NativeHedgeDue {
    /// The attempt to start now (paid from the budget), or null: none
    /// (refused, or the call has ended).
    pub attempt: Option<u32>,
    /// The ms until the next `due()`, or null: no more hedges.
    pub delay_ms: Option<f64>,
}

/// A hedged call's stats, for JS.
#[napi(object)]
pub struct NativeHedgeStats {
    /// Attempts started, the first included.
    pub attempts: u32,
    /// Attempts after the first.
    pub hedges: u32,
    /// Attempts the breaker rejected.
    pub rejections: u32,
    /// Whether a hedge was due and the budget refused it.
    pub budget_refused: bool,
    /// The attempt whose answer the caller got (the last to end).
    pub answered_by: u32,
}

/// One hedged call's progress.
#[napi]
pub struct NativeHedgeCall {
    policy: Arc<fusebox::retry::HedgePolicy>,
    budget: Arc<fusebox::RetryBudget>,
    first_delay_ms: Option<f64>,
    state: Mutex<HedgeState>,
}

impl NativeHedgeCall {
    fn state(&self) -> std::sync::MutexGuard<'_, HedgeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[napi]
impl NativeHedgeCall {
    /// The ms after which to ask `due()` if no attempt has succeeded.
    #[napi(getter)]
    pub fn first_delay_ms(&self) -> Option<f64> {
        self.first_delay_ms
    }

    /// A hedge's delay is over: the attempt to start and the next delay.
    #[napi]
    pub fn due(&self) -> NativeHedgeDue {
        let mut s = self.state();
        match self.policy.hedge_due(&mut s, &self.budget) {
            HedgeStart::Start { attempt, then } => NativeHedgeDue {
                attempt: Some(attempt),
                delay_ms: then.map(millis),
            },
            HedgeStart::Refused | HedgeStart::None => NativeHedgeDue {
                attempt: None,
                delay_ms: None,
            },
        }
    }

    /// Attempt `attempt` ended as `end` (`succeeded`, `failed` or
    /// `rejected`; the JS layer passes one of these): `answer`, `wait` or
    /// `fail`.
    #[napi]
    pub fn ended(&self, attempt: u32, end: String) -> &'static str {
        let end = match end.as_str() {
            "succeeded" => HedgeEnd::Succeeded,
            "rejected" => HedgeEnd::Rejected,
            _ => HedgeEnd::Failed,
        };
        let mut s = self.state();
        match self.policy.ended(&mut s, attempt, end) {
            HedgeVerdict::Answer => "answer",
            HedgeVerdict::Wait => "wait",
            HedgeVerdict::Fail => "fail",
        }
    }

    /// Attempts, hedges, rejections, and who answered.
    #[napi]
    pub fn stats(&self) -> NativeHedgeStats {
        let s = self.state().stats;
        NativeHedgeStats {
            attempts: s.attempts,
            hedges: s.hedges,
            rejections: s.rejections,
            budget_refused: s.budget_refused,
            answered_by: s.answered_by,
        }
    }
}
