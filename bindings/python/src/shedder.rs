//! `fusebox.Shedder`: the core's tiered load shedder, converted. The load
//! signal is the caller's (`set_load`, `set_in_flight`); the level and the
//! decision for a priority class are the core's.

use crate::config::{config_error, float_arg};
use fusebox::{Decision, LoadLevel, Priority};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Sheds load by priority class: `'core'`, `'secondary'`, `'non_core'`.
#[pyclass(frozen, module = "fusebox")]
pub struct Shedder {
    inner: fusebox::Shedder,
}

/// A priority class by its name (the core's `Priority::as_str`).
fn priority_arg(name: &str) -> PyResult<Priority> {
    Priority::ALL
        .into_iter()
        .find(|p| p.as_str() == name)
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "invalid priority: {name:?} (expected core, secondary or non_core)"
            ))
        })
}

fn decision_name(d: Decision) -> &'static str {
    match d {
        Decision::Admit => "admit",
        Decision::Degrade => "degrade",
        Decision::Shed => "shed",
    }
}

fn level_name(l: LoadLevel) -> &'static str {
    l.as_str()
}

#[pymethods]
impl Shedder {
    /// A shedder whose levels `elevated`, `high`, `critical` begin at the
    /// load ratios `thresholds` (three increasing positive numbers; default
    /// 0.6, 0.8, 0.9), at load 0.
    #[new]
    #[pyo3(signature = (thresholds = None))]
    fn new(thresholds: Option<&Bound<'_, PyAny>>) -> PyResult<Shedder> {
        let t = match thresholds.filter(|t| !t.is_none()) {
            None => fusebox::shedder::DEFAULT_THRESHOLDS,
            Some(t) => {
                let items: Vec<Bound<'_, PyAny>> = t.try_iter()?.collect::<PyResult<_>>()?;
                if items.len() != 3 {
                    return Err(PyValueError::new_err(format!(
                        "invalid thresholds: {} values (expected three increasing positive load ratios, e.g. [0.6, 0.8, 0.9])",
                        items.len()
                    )));
                }
                let mut out = [0.0; 3];
                for (o, v) in out.iter_mut().zip(&items) {
                    *o = float_arg("thresholds", v)?;
                }
                out
            }
        };
        let inner = fusebox::Shedder::with_thresholds(t).map_err(config_error)?;
        Ok(Shedder { inner })
    }

    /// Set the load as a ratio (1.0 = full capacity).
    fn set_load(&self, load: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.set_load(float_arg("load", load)?);
        Ok(())
    }

    /// Set the load as `in_flight` calls of `capacity`.
    fn set_in_flight(&self, in_flight: u64, capacity: u64) {
        self.inner.set_in_flight(in_flight, capacity);
    }

    /// `'normal'`, `'elevated'`, `'high'` or `'critical'`.
    #[getter]
    fn level(&self) -> &'static str {
        level_name(self.inner.level())
    }

    /// The last load set.
    #[getter]
    fn load(&self) -> f64 {
        self.inner.load()
    }

    /// The thresholds.
    #[getter]
    fn thresholds(&self) -> (f64, f64, f64) {
        let [a, b, c] = self.inner.thresholds();
        (a, b, c)
    }

    /// What to do with a request of class `priority` now: `'admit'`,
    /// `'degrade'` (serve the cheap variant) or `'shed'`.
    fn admit(&self, priority: &str) -> PyResult<&'static str> {
        Ok(decision_name(self.inner.admit(priority_arg(priority)?)))
    }

    fn __repr__(&self) -> String {
        format!(
            "<fusebox.Shedder level={} load={}>",
            level_name(self.inner.level()),
            self.inner.load()
        )
    }
}

/// Register the class.
pub(crate) fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Shedder>()
}
