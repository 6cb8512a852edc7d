//! `fusebox.LatencyHistogram`: a dependency's recent latencies (the core's
//! `LatencyHistogram`), fed by a breaker made with `latency_histogram=` or
//! by hand, read as quantiles, and the delay of a `HedgePolicy` made with
//! `histogram=`.

use crate::breaker::clock_source;
use crate::config::float_arg;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// The latencies of the last 10 s, by bucket (lock-free). Seconds, as
/// everywhere in fusebox.
///
/// >>> import fusebox
/// >>> h = fusebox.LatencyHistogram()
/// >>> h.quantile(0.95) is None
/// True
/// >>> for ms in range(1, 101):
/// ...     h.record(ms / 1000)
/// >>> h.count
/// 100
/// >>> 0.093 < h.quantile(0.95) < 0.097
/// True
#[pyclass(frozen, module = "fusebox")]
pub struct LatencyHistogram {
    pub(crate) inner: Arc<fusebox::LatencyHistogram>,
}

#[pymethods]
impl LatencyHistogram {
    #[new]
    #[pyo3(signature = (*, clock = None))]
    fn new(clock: Option<&Bound<'_, PyAny>>) -> PyResult<LatencyHistogram> {
        Ok(LatencyHistogram {
            inner: Arc::new(fusebox::LatencyHistogram::new(clock_source(clock)?)),
        })
    }

    /// Record one latency of `seconds` (≥ 0).
    fn record(&self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        let s = float_arg("seconds", seconds)?;
        if !(s.is_finite() && (0.0..=1e9).contains(&s)) {
            return Err(PyValueError::new_err(format!(
                "invalid seconds: {s:?} (expected a finite number of seconds ≥ 0)"
            )));
        }
        self.inner.record(Duration::from_secs_f64(s));
        Ok(())
    }

    /// The `q` quantile of the recent latencies in seconds, `None` while
    /// the histogram is empty (`q` is clamped to [0, 1], as the core does).
    fn quantile(&self, q: &Bound<'_, PyAny>) -> PyResult<Option<f64>> {
        let q = float_arg("q", q)?;
        Ok(self.inner.quantile(q).map(|d| d.as_secs_f64()))
    }

    /// The number of latencies in the window.
    #[getter]
    fn count(&self) -> u64 {
        self.inner.snapshot().count()
    }

    fn __repr__(&self) -> String {
        format!("<fusebox.LatencyHistogram count={}>", self.count())
    }
}

/// A `histogram=` argument: `None`, or a `fusebox.LatencyHistogram`.
pub(crate) fn histogram_arg(
    name: &str,
    v: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<Arc<fusebox::LatencyHistogram>>> {
    match v.filter(|v| !v.is_none()) {
        None => Ok(None),
        Some(v) => match v.cast::<LatencyHistogram>() {
            Ok(h) => Ok(Some(h.get().inner.clone())),
            Err(_) => Err(PyTypeError::new_err(format!(
                "{name} must be a fusebox.LatencyHistogram or None, not {}",
                v.get_type().name()?
            ))),
        },
    }
}

pub(crate) fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LatencyHistogram>()
}
