//! `fusebox.ManualClock`: time moved by hand, for deterministic tests.

use crate::config::float_arg;
use fusebox::Clock;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::Arc;

/// A clock that moves only when told to. Pass it as `clock=` to a breaker
/// or a registry.
#[pyclass(frozen, module = "fusebox")]
pub struct ManualClock {
    pub(crate) inner: Arc<fusebox::ManualClock>,
}

#[pymethods]
impl ManualClock {
    #[new]
    fn new() -> ManualClock {
        ManualClock {
            inner: Arc::new(fusebox::ManualClock::new()),
        }
    }

    /// Move time forward by `seconds` (≥ 0).
    fn advance(&self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        let s = float_arg("seconds", seconds)?;
        if !(s.is_finite() && (0.0..=1e9).contains(&s)) {
            return Err(PyValueError::new_err(format!(
                "invalid seconds: {s:?} (expected a finite number of seconds ≥ 0)"
            )));
        }
        self.inner.advance_ns((s * 1e9).round() as u64);
        Ok(())
    }

    /// The clock's time, in seconds from an arbitrary origin.
    fn now(&self) -> f64 {
        self.inner.now_ns() as f64 / 1e9
    }

    fn __repr__(&self) -> String {
        format!("<fusebox.ManualClock now={:.6}>", self.now())
    }
}
