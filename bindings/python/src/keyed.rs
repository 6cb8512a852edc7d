//! `fusebox.KeyedBreakers`: a bounded set of breakers by key (per host,
//! route or tenant), over `fusebox::KeyedBreakers` (which makes every
//! decision: what may be evicted, when the set is full).

use crate::breaker::{check_name, clock_source, metrics_dict, name_arg, CircuitBreaker};
use crate::config::{config_error, config_from_kwargs, u32_arg, wait_arg};
use fusebox::keyed::DEFAULT_MIN_IDLE;
use fusebox::{KeyedError, KeyedStats};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyType};
use std::time::Duration;

static FULL_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Breakers by key, at most `capacity` of them, all with one configuration;
/// only breakers that hold no history are evicted to make room, and
/// `KeyedFullError` is raised when none may go.
#[pyclass(frozen, module = "fusebox")]
pub struct KeyedBreakers {
    inner: fusebox::KeyedBreakers,
    name: Py<PyString>,
    min_idle: Duration,
}

/// A core `KeyedError` as the Python exception: bad names and configs as
/// `CircuitBreaker` raises them, a full set (called `name`) as
/// `KeyedFullError(message, name, capacity)`.
#[cold]
fn keyed_error(py: Python<'_>, name: &Bound<'_, PyString>, e: KeyedError) -> PyErr {
    match e {
        KeyedError::BadName(_) => PyValueError::new_err(e.to_string()),
        KeyedError::Config(c) => config_error(c),
        KeyedError::Full { capacity } => {
            let make = || -> PyResult<PyErr> {
                let ty = FULL_ERROR.import(py, "fusebox._keyed", "KeyedFullError")?;
                Ok(PyErr::from_value(ty.call1((
                    e.to_string(),
                    name,
                    capacity,
                ))?))
            };
            make().unwrap_or_else(|e| e)
        }
    }
}

fn stats_dict<'py>(py: Python<'py>, s: &KeyedStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &s.name)?;
    d.set_item("len", s.len)?;
    d.set_item("capacity", s.capacity)?;
    d.set_item("created", s.created)?;
    d.set_item("evictions", s.evictions)?;
    d.set_item("refusals", s.refusals)?;
    d.set_item("removed", s.removed)?;
    Ok(d)
}

#[pymethods]
impl KeyedBreakers {
    /// An empty set called `name` of at most `capacity` breakers, each
    /// created on `clock` with the configuration given as keyword arguments
    /// (those of `CircuitBreaker`). A breaker may be evicted only once it
    /// has gone `min_idle` seconds without a lookup.
    #[new]
    #[pyo3(signature = (name, capacity, *, min_idle = None, clock = None, **config))]
    #[pyo3(
        text_signature = "(name, capacity, *, min_idle=10.0, clock=None, failure_rate_threshold=0.5, \
        consecutive_failures=5, min_calls=10, window=10.0, window_buckets=10, count_window=None, \
        open_timeout=30.0, backoff_multiplier=None, backoff_max=None, jitter=0.0, \
        half_open_max_calls=3, success_threshold=3, half_open_max_wait=60.0, \
        slow_call_duration=None, slow_call_rate_threshold=1.0, max_open_for=300.0, \
        cancellation='slow_if_overdue')"
    )]
    fn new(
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        capacity: &Bound<'_, PyAny>,
        min_idle: Option<&Bound<'_, PyAny>>,
        clock: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<KeyedBreakers> {
        let py_name = name_arg(name)?;
        let name = py_name.to_cow()?;
        check_name(&name)?;
        let capacity = u32_arg("capacity", capacity)? as usize;
        let min_idle = match min_idle.filter(|v| !v.is_none()) {
            Some(v) => wait_arg("min_idle", v)?,
            None => DEFAULT_MIN_IDLE,
        };
        let config = config_from_kwargs(config)?;
        let clock = clock_source(clock)?;
        let inner = fusebox::KeyedBreakers::new(&name, capacity, config, clock)
            .map_err(|e| keyed_error(py, py_name, e))?
            .min_idle(min_idle);
        Ok(KeyedBreakers {
            inner,
            name: py_name.clone().unbind(),
            min_idle,
        })
    }

    /// The set's name (the `keyed` label of its Prometheus series).
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyString> {
        self.name.clone_ref(py)
    }

    /// The most breakers the set holds.
    #[getter]
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// Seconds a breaker must go without a lookup before it may be evicted.
    #[getter]
    fn min_idle(&self) -> f64 {
        self.min_idle.as_secs_f64()
    }

    /// The breaker of `key`, or `None` (creates nothing; counts as a use of
    /// the key). `exclude` applies to the returned object.
    #[pyo3(signature = (key, /, *, exclude = None))]
    fn get(
        &self,
        py: Python<'_>,
        key: &str,
        exclude: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<CircuitBreaker>> {
        match self.inner.get(key) {
            None => Ok(None),
            Some(b) => Ok(Some(CircuitBreaker::wrap(py, b, exclude)?)),
        }
    }

    /// The breaker of `key` (named `key`), created on first use. When the
    /// set is full, a breaker that holds no history is evicted to make room;
    /// when none may go, `KeyedFullError` is raised and the set is
    /// unchanged. `exclude` applies to the returned object.
    #[pyo3(signature = (key, /, *, exclude = None))]
    fn get_or_create(
        &self,
        py: Python<'_>,
        key: &str,
        exclude: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CircuitBreaker> {
        let b = match self.inner.get(key) {
            Some(b) => b,
            // Creating may scan the whole set for a breaker to evict: not
            // with the GIL held.
            None => {
                let inner = &self.inner;
                py.detach(|| inner.get_or_create(key))
                    .map_err(|e| keyed_error(py, self.name.bind(py), e))?
            }
        };
        CircuitBreaker::wrap(py, b, exclude)
    }

    /// Take `key`'s breaker out of the set, whatever its state (objects
    /// already handed out keep working). Returns whether it was there.
    fn remove(&self, key: &str) -> bool {
        self.inner.remove(key).is_some()
    }

    /// The set's counters, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.inner.stats())
    }

    /// Every breaker's `metrics()`, sorted by key.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let l = PyList::empty(py);
        for m in self.inner.snapshot() {
            l.append(metrics_dict(py, &m)?)?;
        }
        Ok(l)
    }

    /// Every breaker's metrics and the set's counters in the Prometheus
    /// text format (`fusebox_*` and `fusebox_keyed_*`).
    fn prometheus(&self) -> String {
        self.inner.prometheus()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "<fusebox.KeyedBreakers {:?}: {} of {} breakers>",
            self.inner.stats().name,
            self.inner.len(),
            self.inner.capacity()
        )
    }
}

/// Register the class.
pub(crate) fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<KeyedBreakers>()
}
