//! Retries for Node (`retry.js` gives them their JS shape): a retry budget,
//! a retry policy, and `NativeRetryCall`, one logical call's progress. The
//! JS loop (`policy.fire(fn)`) runs the attempts and waits with
//! `setTimeout`; every decision in it is the core's `RetryPolicy::next`.

use crate::{NativeBreaker, NativeManualClock, OptionProblem};
use fusebox::config::{duration_in, ConfigError};
use fusebox::retry::{AttemptEnd, Next, RetryState, RetryStats, Verdict};
use fusebox::{ClockSource, RejectReason, Rejected, RetryBudgetConfig, Unit};
use napi::bindgen_prelude::{ClassInstance, Either};
use napi_derive::napi;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Retry budget options as the JS layer passes them (types checked).
#[napi(object)]
#[derive(Default)]
pub struct NativeRetryBudgetOptions {
    /// The budget's name, for metrics.
    pub name: Option<String>,
    /// Retries allowed per request, in [0, 10].
    pub ratio: Option<f64>,
    /// Retries allowed per second whatever the traffic.
    pub min_per_sec: Option<f64>,
    /// How long a deposit or withdrawal counts, in ms.
    pub window_ms: Option<f64>,
    /// Buckets of the window.
    pub buckets: Option<f64>,
}

/// Retry policy options as the JS layer passes them (types checked).
#[napi(object)]
#[derive(Default)]
pub struct NativeRetryOptions {
    /// The policy's name, for metrics.
    pub name: Option<String>,
    /// Attempts in all, the first included.
    pub max_attempts: Option<f64>,
    /// The first retry's back-off cap, in ms.
    pub base_backoff_ms: Option<f64>,
    /// No back-off above this, in ms.
    pub max_backoff_ms: Option<f64>,
    /// The whole call's limit, in ms.
    pub deadline_ms: Option<f64>,
    /// The least time an attempt needs, in ms.
    pub min_attempt_ms: Option<f64>,
    /// The longest server retry-after honoured, in ms.
    pub retry_after_cap_ms: Option<f64>,
    /// Full jitter (default) or none.
    pub jitter: Option<bool>,
    /// The jitter's seed.
    pub seed: Option<f64>,
}

/// Node's name of a retry field.
fn option_of(field: &str) -> String {
    match field {
        "ratio" => "ratio".into(),
        "min_per_sec" => "minPerSec".into(),
        "window" => "windowMs".into(),
        "buckets" => "buckets".into(),
        "max_attempts" => "maxAttempts".into(),
        "base_backoff" => "baseBackoffMs".into(),
        "max_backoff" => "maxBackoffMs".into(),
        "deadline" => "deadlineMs".into(),
        "min_attempt" => "minAttemptMs".into(),
        "retry_after_cap" => "retryAfterCapMs".into(),
        "max_hedges" => "maxHedges".into(),
        "delay" => "delayMs".into(),
        // A quantile delay's fallback is the hedge policy's `delayMs`.
        "fallback" => "delayMs".into(),
        "quantile" => "quantile".into(),
        _ => "options".into(),
    }
}

/// A core error as the problem with a Node option (the core's message,
/// the option spelled Node's way).
pub(crate) fn option_problem(e: &ConfigError) -> OptionProblem {
    let option = option_of(e.field);
    OptionProblem {
        message: e.render(&format!("option {option}")),
        option,
    }
}

/// A whole number in u32 range, or the option's problem.
pub(crate) fn whole(option: &str, v: f64) -> Result<u32, OptionProblem> {
    if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
        Ok(v as u32)
    } else {
        Err(OptionProblem {
            option: option.into(),
            message: format!(
                "The value of \"{option}\" is out of range. It must be an integer >= 0. Received {v}"
            ),
        })
    }
}

pub(crate) fn ms(field: &'static str, v: f64) -> Result<Duration, OptionProblem> {
    duration_in(field, v, Unit::Millis).map_err(|e| option_problem(&e))
}

/// A retry budget, or the options' problem.
#[napi]
pub fn create_retry_budget(
    options: NativeRetryBudgetOptions,
    clock: Option<ClassInstance<NativeManualClock>>,
) -> Either<NativeRetryBudget, OptionProblem> {
    let build = || -> Result<fusebox::RetryBudget, OptionProblem> {
        let mut c = RetryBudgetConfig::default();
        if let Some(v) = options.ratio {
            c.ratio = v;
        }
        if let Some(v) = options.min_per_sec {
            c.min_per_sec = whole("minPerSec", v)?;
        }
        if let Some(v) = options.window_ms {
            c.window = ms("window", v)?;
        }
        if let Some(v) = options.buckets {
            c.buckets = whole("buckets", v)?;
        }
        let name = options.name.as_deref().unwrap_or("retry");
        fusebox::registry::check_name(name).map_err(|e| OptionProblem {
            option: "name".into(),
            message: e.to_string(),
        })?;
        let source = match &clock {
            Some(c) => ClockSource::from(c.inner.clone()),
            None => ClockSource::Monotonic,
        };
        fusebox::RetryBudget::named(name, c, source).map_err(|e| option_problem(&e))
    };
    match build() {
        Ok(b) => Either::A(NativeRetryBudget { inner: Arc::new(b) }),
        Err(p) => Either::B(p),
    }
}

/// A budget's counters.
#[napi(object)]
pub struct NativeRetryBudgetStats {
    /// The budget's name.
    pub name: String,
    /// Requests deposited.
    pub deposits: f64,
    /// Retries allowed.
    pub withdrawals: f64,
    /// Retries refused.
    pub refusals: f64,
    /// Retries that could be allowed now.
    pub available: f64,
}

/// The core's retry budget.
#[napi]
pub struct NativeRetryBudget {
    pub(crate) inner: Arc<fusebox::RetryBudget>,
}

#[napi]
impl NativeRetryBudget {
    /// Count one request.
    #[napi]
    pub fn deposit(&self) {
        self.inner.deposit();
    }

    /// Ask for one retry: whether the budget paid it.
    #[napi]
    pub fn try_withdraw(&self) -> bool {
        self.inner.try_withdraw()
    }

    /// A snapshot of the counters.
    #[napi]
    pub fn stats(&self) -> NativeRetryBudgetStats {
        let s = self.inner.stats();
        NativeRetryBudgetStats {
            name: s.name,
            deposits: s.deposits as f64,
            withdrawals: s.withdrawals as f64,
            refusals: s.refusals as f64,
            available: s.available as f64,
        }
    }

    /// The counters in the Prometheus text format (`fusebox_retry_budget_*`).
    #[napi]
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        fusebox::prometheus::write_retry_budgets(&mut out, &[self.inner.stats()]);
        out
    }
}

/// A retry policy, or the options' problem.
#[napi]
pub fn create_retry_policy(
    options: NativeRetryOptions,
) -> Either<NativeRetryPolicy, OptionProblem> {
    let build = || -> Result<fusebox::RetryPolicy, OptionProblem> {
        let o = &options;
        let mut b = fusebox::RetryPolicy::builder()
            .name(o.name.as_deref().unwrap_or("retry"))
            .jitter(o.jitter.unwrap_or(true));
        if let Some(v) = o.max_attempts {
            b = b.max_attempts(whole("maxAttempts", v)?);
        }
        if let Some(v) = o.base_backoff_ms {
            b = b.base_backoff(ms("base_backoff", v)?);
        }
        if let Some(v) = o.max_backoff_ms {
            b = b.max_backoff(ms("max_backoff", v)?);
        }
        if let Some(v) = o.deadline_ms {
            b = b.deadline(Some(ms("deadline", v)?));
        }
        if let Some(v) = o.min_attempt_ms.filter(|v| *v != 0.0) {
            b = b.min_attempt(ms("min_attempt", v)?);
        }
        if let Some(v) = o.retry_after_cap_ms {
            b = b.retry_after_cap(ms("retry_after_cap", v)?);
        }
        if let Some(v) = o.seed {
            b = b.seed(v as u64);
        }
        b.build().map_err(|e| option_problem(&e))
    };
    match build() {
        Ok(p) => Either::A(NativeRetryPolicy { inner: Arc::new(p) }),
        Err(p) => Either::B(p),
    }
}

/// A policy's counters.
#[napi(object)]
pub struct NativeRetryMetrics {
    /// The policy's name.
    pub name: String,
    /// Logical calls.
    pub calls: f64,
    /// Attempts, rejected ones included.
    pub attempts: f64,
    /// Retries.
    pub retries: f64,
    /// Hedges.
    pub hedges: f64,
    /// Retries the budget refused.
    pub budget_refusals: f64,
    /// Calls that ended in an error.
    pub failed_calls: f64,
}

/// A retry or hedge policy's counters in the Prometheus text format
/// (the core's `write_retry_policies`).
pub(crate) fn prometheus_text(m: fusebox::retry::RetryMetrics) -> String {
    let mut out = String::new();
    fusebox::prometheus::write_retry_policies(&mut out, &[m]);
    out
}

impl From<fusebox::retry::RetryMetrics> for NativeRetryMetrics {
    fn from(m: fusebox::retry::RetryMetrics) -> NativeRetryMetrics {
        NativeRetryMetrics {
            name: m.name,
            calls: m.calls as f64,
            attempts: m.attempts as f64,
            retries: m.retries as f64,
            hedges: m.hedges as f64,
            budget_refusals: m.budget_refusals as f64,
            failed_calls: m.failed_calls as f64,
        }
    }
}

/// The core's retry policy.
#[napi]
pub struct NativeRetryPolicy {
    inner: Arc<fusebox::RetryPolicy>,
}

#[napi]
impl NativeRetryPolicy {
    /// The counters.
    #[napi]
    pub fn metrics(&self) -> NativeRetryMetrics {
        NativeRetryMetrics::from(self.inner.metrics())
    }

    /// The counters in the Prometheus text format (`fusebox_retry_*`).
    #[napi]
    pub fn prometheus(&self) -> String {
        prometheus_text(self.inner.metrics())
    }

    /// The back-off before retry number `retry` (1 for the first), in ms.
    #[napi]
    pub fn backoff(&self, retry: u32) -> f64 {
        self.inner.backoff(retry).as_secs_f64() * 1e3
    }

    /// Start a logical call through `breaker`, paid from `budget`.
    #[napi]
    pub fn begin(&self, budget: &NativeRetryBudget, breaker: &NativeBreaker) -> NativeRetryCall {
        let now = breaker.inner.clock().now_ns();
        let state = self.inner.begin(&budget.inner, now);
        NativeRetryCall {
            policy: self.inner.clone(),
            budget: budget.inner.clone(),
            breaker: breaker.inner.clone(),
            state: Mutex::new(state),
        }
    }
}

/// One logical call's progress.
#[napi]
pub struct NativeRetryCall {
    policy: Arc<fusebox::RetryPolicy>,
    budget: Arc<fusebox::RetryBudget>,
    breaker: Arc<fusebox::Breaker>,
    state: Mutex<RetryState>,
}

/// A call's stats, for JS.
#[napi(object)]
pub struct NativeRetryStats {
    /// The current attempt's number, from 1.
    pub attempt: u32,
    /// Retries granted.
    pub retries: u32,
    /// Attempts the breaker rejected.
    pub rejections: u32,
    /// Waits granted, in ms.
    pub slept_ms: f64,
    /// Why the call ended (`succeeded` while it goes on).
    pub stop: String,
}

impl NativeRetryCall {
    fn step(&self, end: AttemptEnd) -> Option<f64> {
        let now = self.breaker.clock().now_ns();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match self.policy.next(&mut s, &self.budget, end, now) {
            Next::Retry(d) => Some(d.as_secs_f64() * 1e3),
            Next::Stop(_) => None,
        }
    }

    fn raw(&self) -> RetryStats {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).stats
    }
}

fn wait_ms(v: Option<f64>) -> Duration {
    v.filter(|v| v.is_finite() && *v > 0.0)
        .map_or(Duration::ZERO, |v| Duration::from_secs_f64(v / 1e3))
}

#[napi]
impl NativeRetryCall {
    /// Attempts, retries, rejections, waits, and why the call ended.
    #[napi]
    pub fn stats(&self) -> NativeRetryStats {
        let s = self.raw();
        NativeRetryStats {
            attempt: s.attempts,
            retries: s.retries,
            rejections: s.rejections,
            slept_ms: s.slept.as_secs_f64() * 1e3,
            stop: s.stop.as_str().into(),
        }
    }

    /// The current attempt succeeded: the call ends.
    #[napi]
    pub fn succeeded(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.policy.succeeded(&mut s);
    }

    /// The current attempt failed; `verdict` is `retry`, `stop` or
    /// `retryAfter` (with `retryAfterMs`). The ms to wait before the next
    /// attempt, or null: the call ends. (The JS layer checks `verdict`.)
    #[napi]
    pub fn failed(&self, verdict: String, retry_after_ms: Option<f64>) -> Option<f64> {
        let v = match verdict.as_str() {
            "retryAfter" => Verdict::RetryAfter(wait_ms(retry_after_ms)),
            "stop" => Verdict::Stop,
            _ => Verdict::Retry,
        };
        self.step(AttemptEnd::Failed(v))
    }

    /// The breaker rejected the current attempt (`reason` and
    /// `retryAfterMs` as on `CircuitOpenError`). As `failed`.
    #[napi]
    pub fn rejected(&self, reason: String, retry_after_ms: Option<f64>) -> Option<f64> {
        let reason = match reason.as_str() {
            "forcedOpen" => RejectReason::ForcedOpen,
            "halfOpenFull" => RejectReason::HalfOpenFull,
            _ => RejectReason::Open,
        };
        self.step(AttemptEnd::Rejected(Rejected {
            reason,
            retry_after: retry_after_ms.map(|v| wait_ms(Some(v))),
        }))
    }
}
