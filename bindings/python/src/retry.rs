//! `fusebox.RetryBudget`, the native half of `fusebox.RetryPolicy`, and
//! `RetryCall`, one logical call's progress. The loop that runs the
//! attempts (sync and async) is in `python/fusebox/_retry.py`; every
//! decision in it (retry or stop, the wait, the deadline, the budget) is
//! the core's `RetryPolicy::next`, reached through `RetryCall`.

use crate::breaker::{check_name, CircuitBreaker};
use crate::clock::ManualClock;
use crate::config::{config_error, float_arg, only_keywords, secs_arg, u32_arg, wait_arg};
use fusebox::retry::{AttemptEnd, Next, RetryState, Verdict};
use fusebox::{ClockSource, RejectReason, Rejected, RetryBudgetConfig};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A retry budget shared by every caller of a dependency.
#[pyclass(frozen, module = "fusebox")]
pub struct RetryBudget {
    pub(crate) inner: Arc<fusebox::RetryBudget>,
}

#[pymethods]
impl RetryBudget {
    #[new]
    #[pyo3(signature = (name = "retry", *, ratio = None, min_per_sec = None, window = None, buckets = None, clock = None))]
    fn new(
        name: &str,
        ratio: Option<&Bound<'_, PyAny>>,
        min_per_sec: Option<&Bound<'_, PyAny>>,
        window: Option<&Bound<'_, PyAny>>,
        buckets: Option<&Bound<'_, PyAny>>,
        clock: Option<PyRef<'_, ManualClock>>,
    ) -> PyResult<RetryBudget> {
        check_name(name)?;
        let mut c = RetryBudgetConfig::default();
        if let Some(v) = ratio {
            c.ratio = float_arg("ratio", v)?;
        }
        if let Some(v) = min_per_sec {
            c.min_per_sec = u32_arg("min_per_sec", v)?;
        }
        if let Some(v) = window {
            c.window = secs_arg("window", v)?;
        }
        if let Some(v) = buckets {
            c.buckets = u32_arg("buckets", v)?;
        }
        let source = match clock {
            Some(c) => ClockSource::from(c.inner.clone()),
            None => ClockSource::Monotonic,
        };
        let inner = fusebox::RetryBudget::named(name, c, source).map_err(config_error)?;
        Ok(RetryBudget {
            inner: Arc::new(inner),
        })
    }

    /// Count one request.
    fn deposit(&self) {
        self.inner.deposit();
    }

    /// Ask for one retry: whether the budget paid it.
    fn try_withdraw(&self) -> bool {
        self.inner.try_withdraw()
    }

    /// `{'name', 'deposits', 'withdrawals', 'refusals', 'available'}`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("name", s.name)?;
        d.set_item("deposits", s.deposits)?;
        d.set_item("withdrawals", s.withdrawals)?;
        d.set_item("refusals", s.refusals)?;
        d.set_item("available", s.available)?;
        Ok(d)
    }

    /// The budget's metrics in the Prometheus text format (the core's
    /// writer: `fusebox_retry_budget_*{budget="name"}`).
    fn prometheus(&self) -> String {
        let mut out = String::new();
        fusebox::prometheus::write_retry_budgets(&mut out, &[self.inner.stats()]);
        out
    }

    fn __repr__(&self) -> String {
        let s = self.inner.stats();
        format!(
            "<fusebox.RetryBudget {:?} available={}>",
            s.name, s.available
        )
    }
}

/// The native retry policy: the core's, with the breaker and the budget
/// every call goes through. `fusebox.RetryPolicy` subclasses it.
#[pyclass(frozen, subclass, module = "fusebox._fusebox")]
pub struct NativeRetryPolicy {
    inner: Arc<fusebox::RetryPolicy>,
    breaker: Py<CircuitBreaker>,
    budget: Py<RetryBudget>,
}

fn opt_secs(name: &'static str, v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Duration>> {
    v.filter(|v| !v.is_none())
        .map(|v| secs_arg(name, v))
        .transpose()
}

#[pymethods]
impl NativeRetryPolicy {
    #[new]
    #[pyo3(signature = (breaker, budget, *, name = None, max_attempts = None, base_backoff = None, max_backoff = None, deadline = None, min_attempt = None, retry_after_cap = None, jitter = true, seed = None, **_rest))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        breaker: Py<CircuitBreaker>,
        budget: Py<RetryBudget>,
        name: Option<&str>,
        max_attempts: Option<&Bound<'_, PyAny>>,
        base_backoff: Option<&Bound<'_, PyAny>>,
        max_backoff: Option<&Bound<'_, PyAny>>,
        deadline: Option<&Bound<'_, PyAny>>,
        min_attempt: Option<&Bound<'_, PyAny>>,
        retry_after_cap: Option<&Bound<'_, PyAny>>,
        jitter: bool,
        seed: Option<u64>,
        _rest: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<NativeRetryPolicy> {
        // The Python part's (`fusebox.RetryPolicy.__init__`).
        only_keywords(
            "RetryPolicy",
            _rest,
            &["retry_on", "classify", "sleep", "async_sleep", "on_end"],
        )?;
        if let Some(n) = name {
            check_name(n)?;
        }
        let mut b = fusebox::RetryPolicy::builder()
            .name(name.unwrap_or_else(|| breaker.get().inner.name()))
            .jitter(jitter)
            .deadline(opt_secs("deadline", deadline)?);
        if let Some(v) = max_attempts {
            b = b.max_attempts(u32_arg("max_attempts", v)?);
        }
        if let Some(d) = opt_secs("base_backoff", base_backoff)? {
            b = b.base_backoff(d);
        }
        if let Some(d) = opt_secs("max_backoff", max_backoff)? {
            b = b.max_backoff(d);
        }
        if let Some(v) = min_attempt.filter(|v| !v.is_none()) {
            b = b.min_attempt(wait_arg("min_attempt", v)?);
        }
        if let Some(d) = opt_secs("retry_after_cap", retry_after_cap)? {
            b = b.retry_after_cap(d);
        }
        if let Some(s) = seed {
            b = b.seed(s);
        }
        Ok(NativeRetryPolicy {
            inner: Arc::new(b.build().map_err(config_error)?),
            breaker,
            budget,
        })
    }

    /// The breaker every attempt goes through.
    #[getter]
    fn breaker(&self, py: Python<'_>) -> Py<CircuitBreaker> {
        self.breaker.clone_ref(py)
    }

    /// The budget every retry is paid from.
    #[getter]
    fn budget(&self, py: Python<'_>) -> Py<RetryBudget> {
        self.budget.clone_ref(py)
    }

    /// `{'name', 'calls', 'attempts', 'retries', 'hedges',
    /// 'budget_refusals', 'failed_calls'}`.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        metrics_dict(py, self.inner.metrics())
    }

    /// The counters in the Prometheus text format (the core's writer:
    /// `fusebox_retry_*{retry="name"}`).
    fn prometheus(&self) -> String {
        let mut out = String::new();
        fusebox::prometheus::write_retry_policies(&mut out, &[self.inner.metrics()]);
        out
    }

    /// The back-off before retry number `retry` (1 for the first), in
    /// seconds: a full-jitter draw under the exponential cap.
    fn backoff(&self, retry: u32) -> f64 {
        self.inner.backoff(retry).as_secs_f64()
    }

    /// Start a logical call (one deposit in the budget, attempt 1).
    fn begin(&self) -> RetryCall {
        let now = self.breaker.get().inner.clock().now_ns();
        let state = self.inner.begin(&self.budget.get().inner, now);
        RetryCall {
            policy: self.inner.clone(),
            budget: self.budget.get().inner.clone(),
            breaker: self.breaker.get().inner.clone(),
            state: Mutex::new(state),
        }
    }
}

/// One logical call's progress (from `RetryPolicy.begin`).
#[pyclass(frozen, module = "fusebox")]
pub struct RetryCall {
    policy: Arc<fusebox::RetryPolicy>,
    budget: Arc<fusebox::RetryBudget>,
    breaker: Arc<fusebox::Breaker>,
    state: Mutex<RetryState>,
}

impl RetryCall {
    fn step(&self, end: AttemptEnd) -> Option<f64> {
        let now = self.breaker.clock().now_ns();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match self.policy.next(&mut s, &self.budget, end, now) {
            Next::Retry(d) => Some(d.as_secs_f64()),
            Next::Stop(_) => None,
        }
    }

    fn stats(&self) -> fusebox::retry::RetryStats {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).stats
    }
}

#[pymethods]
impl RetryCall {
    /// The current attempt's number, from 1.
    #[getter]
    fn attempt(&self) -> u32 {
        self.stats().attempts
    }

    /// Retries granted so far.
    #[getter]
    fn retries(&self) -> u32 {
        self.stats().retries
    }

    /// Attempts the breaker rejected.
    #[getter]
    fn rejections(&self) -> u32 {
        self.stats().rejections
    }

    /// Seconds of waits granted so far.
    #[getter]
    fn slept(&self) -> f64 {
        self.stats().slept.as_secs_f64()
    }

    /// Why the call ended (`'succeeded'` while it goes on).
    #[getter]
    fn stop(&self) -> &'static str {
        self.stats().stop.as_str()
    }

    /// The current attempt succeeded: the call ends.
    fn succeeded(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.policy.succeeded(&mut s);
    }

    /// The current attempt ran and failed. `verdict`: `'retry'`, `'stop'`,
    /// or `'retry_after'` with `retry_after` seconds (the server's wait).
    /// Returns the seconds to wait before the next attempt (paid from the
    /// budget), or None: the call ends (`stop` says why).
    #[pyo3(signature = (verdict = "retry", retry_after = None))]
    fn failed(
        &self,
        verdict: &str,
        retry_after: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<f64>> {
        let v = match (verdict, retry_after.filter(|v| !v.is_none())) {
            ("retry", None) => Verdict::Retry,
            ("stop", None) => Verdict::Stop,
            ("retry_after", Some(s)) => Verdict::RetryAfter(wait_arg("retry_after", s)?),
            ("retry_after", None) => {
                return Err(PyTypeError::new_err(
                    "verdict 'retry_after' needs retry_after=",
                ))
            }
            (other, _) => {
                return Err(PyValueError::new_err(format!(
                    "invalid verdict: {other:?} (expected 'retry', 'retry_after' or 'stop')"
                )))
            }
        };
        Ok(self.step(AttemptEnd::Failed(v)))
    }

    /// The breaker rejected the current attempt (`reason`, `retry_after`
    /// as on `CircuitOpenError`). As `failed`.
    #[pyo3(signature = (reason, retry_after = None))]
    fn rejected(&self, reason: &str, retry_after: Option<f64>) -> PyResult<Option<f64>> {
        let reason = match reason {
            "open" => RejectReason::Open,
            "half_open_full" => RejectReason::HalfOpenFull,
            "forced_open" => RejectReason::ForcedOpen,
            other => {
                return Err(PyValueError::new_err(format!(
                    "invalid reason: {other:?} (expected 'open', 'half_open_full' or 'forced_open')"
                )))
            }
        };
        let retry_after = retry_after
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        Ok(self.step(AttemptEnd::Rejected(Rejected {
            reason,
            retry_after,
        })))
    }

    fn __repr__(&self) -> String {
        let s = self.stats();
        format!(
            "<fusebox.RetryCall attempt={} retries={} stop={}>",
            s.attempts,
            s.retries,
            s.stop.as_str()
        )
    }
}

/// A retry or hedge policy's counters as a dict.
pub(crate) fn metrics_dict(
    py: Python<'_>,
    m: fusebox::retry::RetryMetrics,
) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", m.name)?;
    d.set_item("calls", m.calls)?;
    d.set_item("attempts", m.attempts)?;
    d.set_item("retries", m.retries)?;
    d.set_item("hedges", m.hedges)?;
    d.set_item("budget_refusals", m.budget_refusals)?;
    d.set_item("failed_calls", m.failed_calls)?;
    Ok(d)
}

/// Register the classes.
pub(crate) fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RetryBudget>()?;
    m.add_class::<NativeRetryPolicy>()?;
    m.add_class::<RetryCall>()
}
