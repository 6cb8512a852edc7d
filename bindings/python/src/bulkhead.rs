//! `fusebox.Bulkhead`: at most N calls in flight to one dependency, over
//! `fusebox::bulkhead::Bulkhead` (which makes every decision). Decorator,
//! context manager (sync and async), permits by hand, metrics.

use crate::breaker::{check_name, clock_source, CircuitBreaker};
use crate::config::{config_error, u32_arg, wait_arg};
use crate::py_helpers;
use fusebox::bulkhead::{self, BulkheadError, RawBulkheadPermit};
use fusebox::concurrency::LimitConfig;
use fusebox::Outcome;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

static FULL_ERROR: PyOnceLock<Py<pyo3::types::PyType>> = PyOnceLock::new();
static DECORATE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static READY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn helper<'py>(
    cell: &'static PyOnceLock<Py<PyAny>>,
    py: Python<'py>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyAny>> {
    cell.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("fusebox._bulkhead")?.getattr(name)?.unbind())
    })
    .map(|f| f.bind(py))
}

/// At most `max_concurrent` calls in flight; the others are refused with
/// `BulkheadFullError` (at once, or after waiting up to `max_wait` seconds).
#[pyclass(frozen, module = "fusebox")]
pub struct Bulkhead {
    inner: Arc<bulkhead::Bulkhead>,
    name: Py<PyString>,
    breaker: Option<Py<CircuitBreaker>>,
    /// `contextvars.ContextVar` of the permits of the `with` blocks open in
    /// this thread or task, innermost last; made on first `with`.
    stack: PyOnceLock<Py<PyAny>>,
}

impl Bulkhead {
    #[cold]
    fn refused(&self, py: Python<'_>, e: BulkheadError) -> PyErr {
        match e {
            BulkheadError::Full(f) => {
                let make = || -> PyResult<PyErr> {
                    let ty = FULL_ERROR.import(py, "fusebox._bulkhead", "BulkheadFullError")?;
                    Ok(PyErr::from_value(ty.call1((
                        self.name.bind(py),
                        f.limit,
                        f.in_flight,
                        f.waited.as_secs_f64(),
                    ))?))
                };
                make().unwrap_or_else(|e| e)
            }
            BulkheadError::Breaker(r) => match &self.breaker {
                Some(b) => b.get().rejected(py, r),
                None => PyRuntimeError::new_err(r.to_string()),
            },
        }
    }

    fn permit(slf: &Bound<'_, Self>, wait: Option<Duration>) -> PyResult<BulkheadPermit> {
        let this = slf.get();
        let r = match wait {
            None => this.inner.try_acquire_raw(),
            Some(d) if d.is_zero() => this.inner.try_acquire_raw(),
            // Sleep without the GIL.
            Some(d) => {
                let inner = this.inner.clone();
                slf.py().detach(move || inner.acquire_raw_timeout(d))
            }
        };
        match r {
            Ok(raw) => Ok(BulkheadPermit {
                bulkhead: slf.clone().unbind(),
                raw,
                live: AtomicBool::new(true),
            }),
            Err(e) => Err(this.refused(slf.py(), e)),
        }
    }

    fn stack<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, PyAny>> {
        self.stack
            .get_or_try_init(py, || {
                py_helpers::context_var(py, &format!("bulkhead:{}", self.inner.name()))
            })
            .map(|v| v.bind(py))
    }
}

#[pymethods]
impl Bulkhead {
    #[new]
    #[pyo3(signature = (
        name, *, max_concurrent = None, max_wait = None, limit = None, min_limit = None,
        initial_limit = None, max_limit = None, breaker = None,
        count_in_flight_slow = false, clock = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: &str,
        max_concurrent: Option<&Bound<'_, PyAny>>,
        max_wait: Option<&Bound<'_, PyAny>>,
        limit: Option<&str>,
        min_limit: Option<&Bound<'_, PyAny>>,
        initial_limit: Option<&Bound<'_, PyAny>>,
        max_limit: Option<&Bound<'_, PyAny>>,
        breaker: Option<&Bound<'_, PyAny>>,
        count_in_flight_slow: bool,
        clock: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bulkhead> {
        check_name(name)?;
        let mut b = bulkhead::Bulkhead::builder()
            .name(name)
            .count_in_flight_slow(count_in_flight_slow);
        if let Some(n) = max_concurrent.filter(|n| !n.is_none()) {
            b = b.max_concurrent(u32_arg("max_concurrent", n)?);
        }
        if let Some(w) = max_wait.filter(|w| !w.is_none()) {
            b = b.max_wait(wait_arg("max_wait", w)?);
        }
        let adaptive = match limit {
            None => None,
            Some("aimd") => Some(LimitConfig::aimd()),
            Some("vegas") => Some(LimitConfig::vegas()),
            Some("gradient2") => Some(LimitConfig::gradient2()),
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "invalid limit: {other:?} (expected None, 'aimd', 'vegas' or 'gradient2')"
                )))
            }
        };
        let bound = |name: &str, v: Option<&Bound<'_, PyAny>>, default: u32| -> PyResult<u32> {
            match v.filter(|v| !v.is_none()) {
                Some(v) => u32_arg(name, v),
                None => Ok(default),
            }
        };
        match adaptive {
            Some(l) => {
                let l = l.limits(
                    bound("min_limit", min_limit, l.min_limit)?,
                    bound("initial_limit", initial_limit, l.initial_limit)?,
                    bound("max_limit", max_limit, l.max_limit)?,
                );
                b = b.adaptive(l);
            }
            None => {
                for (n, v) in [
                    ("min_limit", min_limit),
                    ("initial_limit", initial_limit),
                    ("max_limit", max_limit),
                ] {
                    if v.is_some_and(|v| !v.is_none()) {
                        return Err(PyValueError::new_err(format!(
                            "{n} needs an adaptive limit ('aimd', 'vegas' or 'gradient2')"
                        )));
                    }
                }
            }
        }
        let breaker = match breaker.filter(|b| !b.is_none()) {
            None => None,
            Some(obj) => match obj.cast::<CircuitBreaker>() {
                Ok(cb) => {
                    b = b.breaker(cb.get().inner.clone());
                    Some(cb.clone().unbind())
                }
                Err(_) => {
                    return Err(PyTypeError::new_err(format!(
                        "breaker must be a fusebox.CircuitBreaker or None, not {}",
                        obj.get_type().name()?
                    )))
                }
            },
        };
        if let Some(c) = clock.filter(|c| !c.is_none()) {
            b = b.clock(clock_source(Some(c))?);
        }
        let inner = b.build().map_err(config_error)?;
        Ok(Bulkhead {
            inner: Arc::new(inner),
            name: PyString::new(py, name).unbind(),
            breaker,
            stack: PyOnceLock::new(),
        })
    }

    /// The name.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyString> {
        self.name.clone_ref(py)
    }

    /// The current limit.
    #[getter]
    fn limit(&self) -> u32 {
        self.inner.limit()
    }

    /// Calls in flight now.
    #[getter]
    fn in_flight(&self) -> u32 {
        self.inner.in_flight()
    }

    /// The most calls ever in flight at once.
    #[getter]
    fn peak_in_flight(&self) -> u32 {
        self.inner.peak_in_flight()
    }

    /// Threads waiting for a slot now.
    #[getter]
    fn waiting(&self) -> u32 {
        self.inner.waiting()
    }

    /// Calls refused because the bulkhead was full, all time.
    #[getter]
    fn rejected(&self) -> u64 {
        self.inner.metrics().rejected
    }

    /// Seconds `acquire()` (and sync decorated calls) wait for a slot.
    #[getter]
    fn max_wait(&self) -> f64 {
        self.inner.max_wait().as_secs_f64()
    }

    /// `'aimd'`, `'vegas'`, `'gradient2'`, or None for a fixed limit.
    #[getter]
    fn algorithm(&self) -> Option<&'static str> {
        self.inner.adaptive().map(|a| a.config().algorithm.as_str())
    }

    /// The breaker it guards, if any.
    #[getter]
    fn breaker(&self, py: Python<'_>) -> Option<Py<CircuitBreaker>> {
        self.breaker.as_ref().map(|b| b.clone_ref(py))
    }

    /// A slot now, or `BulkheadFullError` (`CircuitOpenError` from the
    /// breaker, if any). Never waits.
    fn try_acquire(slf: &Bound<'_, Self>) -> PyResult<BulkheadPermit> {
        Self::permit(slf, None)
    }

    /// A slot, waiting up to `timeout` seconds (default: `max_wait`) for
    /// one, without holding the GIL.
    #[pyo3(signature = (timeout = None))]
    fn acquire(
        slf: &Bound<'_, Self>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<BulkheadPermit> {
        let wait = match timeout.filter(|t| !t.is_none()) {
            Some(t) => wait_arg("timeout", t)?,
            None => slf.get().inner.max_wait(),
        };
        Self::permit(slf, Some(wait))
    }

    /// Set the limit by hand (1..=max_concurrent, or the adaptive
    /// max_limit).
    fn set_limit(&self, limit: &Bound<'_, PyAny>) -> PyResult<()> {
        let n = u32_arg("limit", limit)?;
        self.inner.set_limit(n).map_err(config_error)
    }

    /// Count the calls in flight for longer than the breaker's
    /// slow_call_duration as slow calls now (`count_in_flight_slow`); runs by
    /// itself on acquisitions. Returns how many it counted.
    fn sweep(&self) -> u32 {
        self.inner.sweep()
    }

    /// A snapshot of the counters, as a dict.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = self.inner.metrics();
        let d = PyDict::new(py);
        d.set_item("name", &m.name)?;
        d.set_item("limit", m.limit)?;
        d.set_item("in_flight", m.in_flight)?;
        d.set_item("peak_in_flight", m.peak_in_flight)?;
        d.set_item("waiting", m.waiting)?;
        d.set_item("rejected", m.rejected)?;
        d.set_item("in_flight_slow", m.in_flight_slow)?;
        d.set_item("algorithm", m.algorithm)?;
        d.set_item("limit_updates", m.limit_updates)?;
        Ok(d)
    }

    /// The metrics in the Prometheus text format (`fusebox_bulkhead_*`).
    fn prometheus(&self) -> String {
        bulkhead::render(&[self.inner.metrics()])
    }

    /// Decorator: `@bulkhead` on a sync or async function.
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        func: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !func.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "func must be callable, not {}",
                func.get_type().name()?
            )));
        }
        helper(&DECORATE, slf.py(), "decorate")?.call1((slf, func))
    }

    fn __enter__(slf: &Bound<'_, Self>) -> PyResult<Py<BulkheadPermit>> {
        let py = slf.py();
        let permit = Py::new(py, Self::permit(slf, Some(slf.get().inner.max_wait()))?)?;
        py_helpers::push_permit(slf.get().stack(py)?, permit.bind(py).clone().into_any())?;
        Ok(permit)
    }

    #[pyo3(signature = (exc_type = None, exc = None, tb = None))]
    fn __exit__(
        slf: &Bound<'_, Self>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
        tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let _ = (exc_type, tb);
        let py = slf.py();
        let permit = py_helpers::pop_permit(slf.get().stack(py)?, "Bulkhead")?;
        permit.cast::<BulkheadPermit>()?.get().finish(exc);
        Ok(false)
    }

    /// `async with bulkhead:` never waits for a slot (it would block the
    /// event loop): it is refused at once when full.
    fn __aenter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let permit = Py::new(py, Self::permit(slf, None)?)?;
        py_helpers::push_permit(slf.get().stack(py)?, permit.bind(py).clone().into_any())?;
        helper(&READY, py, "ready")?.call1((permit,))
    }

    #[pyo3(signature = (exc_type = None, exc = None, tb = None))]
    fn __aexit__<'py>(
        slf: &Bound<'py, Self>,
        exc_type: Option<&Bound<'py, PyAny>>,
        exc: Option<&Bound<'py, PyAny>>,
        tb: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let r = Self::__exit__(slf, exc_type, exc, tb)?;
        helper(&READY, slf.py(), "ready")?.call1((r,))
    }

    fn __repr__(&self) -> String {
        format!(
            "<fusebox.Bulkhead {:?} in_flight={} limit={}>",
            self.inner.name(),
            self.inner.in_flight(),
            self.inner.limit()
        )
    }
}

/// A slot in a bulkhead, for one call. Report how it ended exactly once; a
/// permit garbage-collected without an outcome frees its slot.
#[pyclass(frozen, module = "fusebox")]
pub struct BulkheadPermit {
    bulkhead: Py<Bulkhead>,
    raw: RawBulkheadPermit,
    live: AtomicBool,
}

impl BulkheadPermit {
    fn take(&self) -> PyResult<RawBulkheadPermit> {
        // AcqRel: exactly one caller (of any thread) wins the permit.
        if self.live.swap(false, Ordering::AcqRel) {
            Ok(self.raw)
        } else {
            Err(PyRuntimeError::new_err(
                "this permit has already been given an outcome or released",
            ))
        }
    }

    fn record(&self, outcome: Outcome) -> PyResult<()> {
        let raw = self.take()?;
        self.bulkhead.get().inner.record_raw(raw, outcome);
        Ok(())
    }

    fn finish(&self, exc: Option<&Bound<'_, PyAny>>) {
        let Ok(raw) = self.take() else {
            return; // already reported inside the `with` block
        };
        let inner = &self.bulkhead.get().inner;
        match exc.filter(|e| !e.is_none()) {
            None => inner.record_raw(raw, Outcome::Success),
            Some(e) if e.is_instance_of::<pyo3::exceptions::PyException>() => {
                inner.record_raw(raw, Outcome::Failure)
            }
            // Cancellation, KeyboardInterrupt: says nothing about the
            // dependency.
            Some(_) => inner.release_raw(raw),
        }
    }
}

impl Drop for BulkheadPermit {
    fn drop(&mut self) {
        if *self.live.get_mut() {
            self.bulkhead.get().inner.release_raw(self.raw);
        }
    }
}

#[pymethods]
impl BulkheadPermit {
    /// Whether the permit still holds its slot.
    #[getter]
    fn pending(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Calls in flight when it was admitted, itself included.
    #[getter]
    fn in_flight(&self) -> u64 {
        self.raw.in_flight
    }

    /// The bulkhead that issued it.
    #[getter]
    fn bulkhead(&self, py: Python<'_>) -> Py<Bulkhead> {
        self.bulkhead.clone_ref(py)
    }

    /// The call succeeded.
    fn success(&self) -> PyResult<()> {
        self.record(Outcome::Success)
    }

    /// The call failed (for an adaptive limit: a drop).
    fn failure(&self) -> PyResult<()> {
        self.record(Outcome::Failure)
    }

    /// The call ended in a way that says nothing about the dependency.
    fn ignore(&self) -> PyResult<()> {
        self.record(Outcome::Ignored)
    }

    /// Free the slot without an outcome.
    fn release(&self) -> PyResult<()> {
        let raw = self.take()?;
        self.bulkhead.get().inner.release_raw(raw);
        Ok(())
    }

    /// Report how a call ended: `None` is a success, an `Exception` a
    /// failure; a `BaseException` that is not an `Exception` (cancellation,
    /// `KeyboardInterrupt`) frees the slot without an outcome. Does nothing
    /// if the permit was already used.
    #[pyo3(name = "finish", signature = (exc = None))]
    fn py_finish(&self, exc: Option<&Bound<'_, PyAny>>) {
        self.finish(exc)
    }

    fn __repr__(&self) -> String {
        format!(
            "<fusebox.BulkheadPermit {:?} pending={}>",
            self.bulkhead.get().inner.name(),
            self.live.load(Ordering::Relaxed)
        )
    }
}

/// Register the classes.
pub fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Bulkhead>()?;
    m.add_class::<BulkheadPermit>()?;
    Ok(())
}
