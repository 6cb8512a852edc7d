//! The native half of `fusebox.HedgePolicy`, and `HedgeCall`, one hedged
//! call's progress. The asyncio loop that runs the attempts, the timer and
//! the cancellation of the losers is in `python/fusebox/_hedge.py`; every
//! decision in it (start a hedge or not, the next delay, the budget, which
//! attempt answers) is the core's `HedgePolicy::begin` / `hedge_due` /
//! `ended`, reached through `HedgeCall`.

use crate::breaker::check_name;
use crate::config::{config_error, float_arg, only_keywords, secs_arg, u32_arg};
use crate::retry::RetryBudget;
use fusebox::retry::{HedgeDelay, HedgeEnd, HedgeStart, HedgeState, HedgeVerdict};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The native hedge policy: the core's. `fusebox.HedgePolicy` subclasses
/// it.
#[pyclass(frozen, subclass, module = "fusebox._fusebox")]
pub struct NativeHedgePolicy {
    inner: Arc<fusebox::retry::HedgePolicy>,
}

#[pymethods]
impl NativeHedgePolicy {
    #[new]
    #[pyo3(signature = (
        *, delay = None, max_hedges = None, name = "hedge", histogram = None, quantile = None,
        **_rest
    ))]
    fn new(
        delay: Option<&Bound<'_, PyAny>>,
        max_hedges: Option<&Bound<'_, PyAny>>,
        name: &str,
        histogram: Option<&Bound<'_, PyAny>>,
        quantile: Option<&Bound<'_, PyAny>>,
        _rest: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<NativeHedgePolicy> {
        // `sleep` is the Python part's (`fusebox.HedgePolicy.__init__`).
        only_keywords("HedgePolicy", _rest, &["sleep"])?;
        check_name(name)?;
        let mut b = fusebox::retry::HedgePolicy::builder().name(name);
        if let Some(v) = max_hedges {
            b = b.max_hedges(u32_arg("max_hedges", v)?);
        }
        let histogram = crate::histogram::histogram_arg("histogram", histogram)?;
        let quantile = quantile.filter(|v| !v.is_none());
        let delay = match delay.filter(|v| !v.is_none()) {
            Some(v) => Some(secs_arg("delay", v)?),
            None => None,
        };
        match (histogram, quantile) {
            // A quantile delay: `delay` is its fallback while it is empty.
            (Some(histogram), q) => {
                b = b.delay(HedgeDelay::Quantile {
                    histogram,
                    quantile: match q {
                        Some(q) => float_arg("quantile", q)?,
                        None => 0.95,
                    },
                    fallback: delay.unwrap_or(Duration::from_millis(50)),
                });
            }
            (None, Some(_)) => {
                return Err(PyTypeError::new_err(
                    "HedgePolicy(quantile=...) needs histogram=: the latencies it is a quantile of",
                ))
            }
            (None, None) => {
                if let Some(d) = delay {
                    b = b.delay(HedgeDelay::Fixed(d));
                }
            }
        }
        Ok(NativeHedgePolicy {
            // A quantile delay's fallback is `delay`.
            inner: Arc::new(b.build().map_err(|e| match e.field {
                "fallback" => PyValueError::new_err(e.render("delay")),
                _ => config_error(e),
            })?),
        })
    }

    /// `{'name', 'calls', 'attempts', 'retries', 'hedges',
    /// 'budget_refusals', 'failed_calls'}` (`retries` is 0).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::retry::metrics_dict(py, self.inner.metrics())
    }

    /// The counters in the Prometheus text format (the core's writer:
    /// `fusebox_retry_*{retry="name"}`, hedges in
    /// `fusebox_retry_hedges_total`).
    fn prometheus(&self) -> String {
        let mut out = String::new();
        fusebox::prometheus::write_retry_policies(&mut out, &[self.inner.metrics()]);
        out
    }

    /// Start a hedged call paid from `budget` (one deposit, attempt 1):
    /// the call's progress, and the seconds after which to ask
    /// `HedgeCall.due()` if no attempt has succeeded.
    fn begin(&self, budget: PyRef<'_, RetryBudget>) -> (HedgeCall, Option<f64>) {
        let (state, delay) = self.inner.begin(&budget.inner);
        let call = HedgeCall {
            policy: self.inner.clone(),
            budget: budget.inner.clone(),
            state: Mutex::new(state),
        };
        (call, delay.map(|d| d.as_secs_f64()))
    }
}

/// One hedged call's progress (from `HedgePolicy.begin`).
#[pyclass(frozen, module = "fusebox")]
pub struct HedgeCall {
    policy: Arc<fusebox::retry::HedgePolicy>,
    budget: Arc<fusebox::RetryBudget>,
    state: Mutex<HedgeState>,
}

impl HedgeCall {
    fn state(&self) -> std::sync::MutexGuard<'_, HedgeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl HedgeCall {
    /// Attempts started, the first included.
    #[getter]
    fn attempts(&self) -> u32 {
        self.state().stats.attempts
    }

    /// Attempts after the first.
    #[getter]
    fn hedges(&self) -> u32 {
        self.state().stats.hedges
    }

    /// Attempts the breaker rejected.
    #[getter]
    fn rejections(&self) -> u32 {
        self.state().stats.rejections
    }

    /// Whether a hedge was due and the budget refused it.
    #[getter]
    fn budget_refused(&self) -> bool {
        self.state().stats.budget_refused
    }

    /// The attempt (from 1) that ended last: once the call is done, the
    /// one whose answer the caller got.
    #[getter]
    fn answered_by(&self) -> u32 {
        self.state().stats.answered_by
    }

    /// Attempts started and not yet ended.
    #[getter]
    fn running(&self) -> u32 {
        self.state().running
    }

    /// Whether the call has ended.
    #[getter]
    fn done(&self) -> bool {
        self.state().done
    }

    /// A hedge's delay is over: `(attempt, delay)`, the attempt to start
    /// now (paid from the budget) or None (refused, or none due), and the
    /// seconds until the next `due()` or None (no more hedges).
    fn due(&self) -> (Option<u32>, Option<f64>) {
        let mut s = self.state();
        match self.policy.hedge_due(&mut s, &self.budget) {
            HedgeStart::Start { attempt, then } => (Some(attempt), then.map(|d| d.as_secs_f64())),
            HedgeStart::Refused | HedgeStart::None => (None, None),
        }
    }

    /// Attempt `attempt` ended as `end` (`'succeeded'`, `'failed'` or
    /// `'rejected'`): `'answer'` (give the caller this attempt's result,
    /// cancel the others), `'wait'`, or `'fail'` (the call ends with this
    /// attempt's error).
    fn ended(&self, attempt: u32, end: &str) -> PyResult<&'static str> {
        let end = match end {
            "succeeded" => HedgeEnd::Succeeded,
            "failed" => HedgeEnd::Failed,
            "rejected" => HedgeEnd::Rejected,
            other => {
                return Err(PyValueError::new_err(format!(
                    "invalid end: {other:?} (expected 'succeeded', 'failed' or 'rejected')"
                )))
            }
        };
        let mut s = self.state();
        Ok(match self.policy.ended(&mut s, attempt, end) {
            HedgeVerdict::Answer => "answer",
            HedgeVerdict::Wait => "wait",
            HedgeVerdict::Fail => "fail",
        })
    }

    fn __repr__(&self) -> String {
        let s = *self.state();
        format!(
            "<fusebox.HedgeCall attempts={} hedges={} running={} done={}>",
            s.stats.attempts,
            s.stats.hedges,
            s.running,
            if s.done { "True" } else { "False" }
        )
    }
}

/// Register the classes.
pub(crate) fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeHedgePolicy>()?;
    m.add_class::<HedgeCall>()
}
