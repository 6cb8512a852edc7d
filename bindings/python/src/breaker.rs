//! `fusebox.CircuitBreaker`, the functions it guards, and permits.
//!
//! Every call path (`@breaker`, whose vectorcall is in `guarded.rs`;
//! `breaker.call`; `with breaker:`) does the same three things in Rust: take a
//! permit (`acquire_raw`, one atomic load when closed), call the function,
//! record the outcome (`record_raw`) or, for an exception that says nothing
//! about the dependency, release the permit. No lock of any kind is held
//! while the function runs; only the GIL, which the function itself releases
//! when it blocks. The core decides everything else.

use crate::clock::ManualClock;
use crate::config::{config_from_kwargs, float_arg};
use crate::py_helpers;
use fusebox::{Breaker, ClockSource, Outcome, RawPermit, RejectReason, Rejected, Transition};
use pyo3::exceptions::{PyRuntimeError, PyStopIteration, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyFloat, PyString, PyTuple, PyType};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One entry of `exclude`: an exception class, or a predicate on the
/// exception. A matching exception is counted as ignored.
enum Exclude {
    Type(Py<PyType>),
    Predicate(Py<PyAny>),
}

fn parse_exclude(
    py: Python<'_>,
    v: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Vec<Exclude>, Py<PyTuple>)> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        return Ok((Vec::new(), PyTuple::empty(py).unbind()));
    };
    let items: Vec<Bound<'_, PyAny>> = if v.is_instance_of::<PyType>() {
        vec![v.clone()]
    } else if let Ok(it) = v.try_iter() {
        it.collect::<PyResult<_>>()?
    } else if v.is_callable() {
        vec![v.clone()]
    } else {
        return Err(PyTypeError::new_err(format!(
            "exclude must be exception classes or predicates, not {}",
            v.get_type().name()?
        )));
    };
    let base = py.get_type::<pyo3::exceptions::PyBaseException>();
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        if let Ok(t) = item.cast::<PyType>() {
            if !t.is_subclass(&base)? {
                return Err(PyTypeError::new_err(format!(
                    "exclude: {} is not an exception class",
                    t.name()?
                )));
            }
            out.push(Exclude::Type(t.clone().unbind()));
        } else if item.is_callable() {
            out.push(Exclude::Predicate(item.clone().unbind()));
        } else {
            return Err(PyTypeError::new_err(format!(
                "exclude: {} is neither an exception class nor a predicate",
                item.repr()?
            )));
        }
    }
    Ok((out, PyTuple::new(py, items)?.unbind()))
}

/// A breaker name given as `name`: a `str` (`TypeError` otherwise), not yet
/// checked against the name rule (`check_name`).
pub(crate) fn name_arg<'a, 'py>(name: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyString>> {
    name.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "name must be a str, not {}",
            name.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })
}

/// A valid breaker name: the core's rule (1..=256 bytes) and message.
pub(crate) fn check_name(name: &str) -> PyResult<()> {
    fusebox::registry::check_name(name).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Seconds → ns for a measured duration given by the caller.
fn duration_ns(v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u64>> {
    match v.filter(|v| !v.is_none()) {
        None => Ok(None),
        Some(v) => {
            let s = float_arg("duration", v)?;
            if !(s.is_finite() && (0.0..=1e6).contains(&s)) {
                return Err(PyValueError::new_err(format!(
                    "invalid duration: {s:?} (expected seconds in [0, 1000000])"
                )));
            }
            Ok(Some((s * 1e9).round() as u64))
        }
    }
}

/// How a call that raised ends for its permit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// An outcome to record.
    Record(Outcome),
    /// Cancelled: the core's `cancellation` policy decides
    /// (`Breaker::cancel_raw`).
    Cancel,
}

impl End {
    pub(crate) fn apply(self, breaker: &Breaker, raw: RawPermit) {
        match self {
            End::Record(o) => breaker.record_raw(raw, o, None),
            End::Cancel => breaker.cancel_raw(raw),
        }
    }
}

/// A permit taken on the hot path, given back if it is dropped without an
/// outcome (a panic, an early return).
pub(crate) struct Held<'a> {
    breaker: &'a Breaker,
    raw: RawPermit,
    live: bool,
}

impl<'a> Held<'a> {
    #[inline]
    pub(crate) fn new(breaker: &'a Breaker, raw: RawPermit) -> Self {
        Held {
            breaker,
            raw,
            live: true,
        }
    }

    #[inline]
    pub(crate) fn record(mut self, outcome: Outcome) {
        self.live = false;
        self.breaker.record_raw(self.raw, outcome, None);
    }
    #[inline]
    fn finish(mut self, end: End) {
        self.live = false;
        end.apply(self.breaker, self.raw);
    }
    pub(crate) fn take(mut self) -> RawPermit {
        self.live = false;
        self.raw
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if self.live {
            self.breaker.release_raw(self.raw);
        }
    }
}

/// A circuit breaker. See the package docs and `fusebox/_fusebox.pyi`.
#[pyclass(frozen, weakref, module = "fusebox")]
pub struct CircuitBreaker {
    pub(crate) inner: Arc<Breaker>,
    name: Py<PyString>,
    exclude: Vec<Exclude>,
    exclude_items: Py<PyTuple>,
    /// `contextvars.ContextVar` holding the permits of the `with` blocks open
    /// in the current thread or task, innermost last; made on first `with`.
    stack: PyOnceLock<Py<PyAny>>,
}

impl CircuitBreaker {
    /// A Python breaker over a core breaker (possibly shared by a registry).
    pub(crate) fn wrap(
        py: Python<'_>,
        inner: Arc<Breaker>,
        exclude: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CircuitBreaker> {
        let (exclude, exclude_items) = parse_exclude(py, exclude)?;
        Ok(CircuitBreaker {
            name: PyString::new(py, inner.name()).unbind(),
            inner,
            exclude,
            exclude_items,
            stack: PyOnceLock::new(),
        })
    }

    fn stack<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, PyAny>> {
        self.stack
            .get_or_try_init(py, || py_helpers::context_var(py, self.inner.name()))
            .map(|v| v.bind(py))
    }

    /// The Python exception for a rejection: a new `CircuitOpenError` each time.
    #[cold]
    #[inline(never)]
    pub(crate) fn rejected(&self, py: Python<'_>, r: Rejected) -> PyErr {
        let make = || -> PyResult<PyErr> {
            let ty = py_helpers::circuit_open_error(py)?;
            let retry: Bound<'_, PyAny> = match r.retry_after {
                Some(d) => PyFloat::new(py, d.as_secs_f64()).into_any(),
                None => py.None().into_bound(py),
            };
            let reason = match r.reason {
                RejectReason::Open => intern!(py, "open"),
                RejectReason::HalfOpenFull => intern!(py, "half_open_full"),
                RejectReason::ForcedOpen => intern!(py, "forced_open"),
            };
            Ok(PyErr::from_value(ty.call1((
                self.name.bind(py),
                retry,
                reason,
            ))?))
        };
        make().unwrap_or_else(|e| e)
    }

    /// How a call that raised `exc` ends: an outcome, or for a
    /// `BaseException` that is not an `Exception` (`asyncio.CancelledError`,
    /// `GeneratorExit`, `KeyboardInterrupt`: the caller gave up, the
    /// dependency did not fail) a cancellation, which the core's
    /// `cancellation` policy decides.
    fn classify(&self, py: Python<'_>, exc: &Bound<'_, PyAny>) -> PyResult<End> {
        if !exc.is_instance_of::<pyo3::exceptions::PyException>() {
            return Ok(End::Cancel);
        }
        for e in &self.exclude {
            let hit = match e {
                Exclude::Type(t) => exc.is_instance(t.bind(py))?,
                Exclude::Predicate(f) => f.bind(py).call1((exc,))?.is_truthy()?,
            };
            if hit {
                return Ok(End::Record(Outcome::Ignored));
            }
        }
        Ok(End::Record(Outcome::Failure))
    }

    fn classify_err(&self, py: Python<'_>, e: &PyErr) -> PyResult<End> {
        if self.exclude.is_empty() {
            // No need to build the exception object to look at its class.
            return Ok(if e.is_instance_of::<pyo3::exceptions::PyException>(py) {
                End::Record(Outcome::Failure)
            } else {
                End::Cancel
            });
        }
        self.classify(py, e.value(py).as_any())
    }

    /// The end of a call that raised `err`: record its outcome (or release
    /// the permit) and return the error to raise.
    #[cold]
    pub(crate) fn finish_with_error(&self, py: Python<'_>, held: Held<'_>, err: PyErr) -> PyErr {
        match self.classify_err(py, &err) {
            Ok(o) => {
                held.finish(o);
                err
            }
            Err(pred) => {
                // An `exclude` predicate raised: count a failure, raise the
                // predicate's error with the call's as its cause.
                held.record(Outcome::Failure);
                pred.set_cause(py, Some(err));
                pred
            }
        }
    }

    fn acquire_permit(slf: &Bound<'_, CircuitBreaker>) -> PyResult<Permit> {
        let this = slf.get();
        match this.inner.acquire_raw() {
            Ok(raw) => Ok(Permit::new(slf, raw)),
            Err(r) => Err(this.rejected(slf.py(), r)),
        }
    }
}

pub(crate) fn metrics_dict<'py>(
    py: Python<'py>,
    m: &fusebox::Metrics,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &m.name)?;
    d.set_item("state", m.state.as_str())?;
    d.set_item("phase", m.phase.as_str())?;
    d.set_item("generation", m.generation)?;
    d.set_item("calls", m.calls())?;
    d.set_item("successes", m.successes)?;
    d.set_item("failures", m.failures)?;
    d.set_item("ignored", m.ignored)?;
    d.set_item("slow", m.slow)?;
    d.set_item("rejected", m.rejected)?;
    d.set_item("state_changes", m.state_changes)?;
    d.set_item("failure_rate", m.failure_rate)?;
    d.set_item("slow_rate", m.slow_rate)?;
    d.set_item("window_calls", m.window.calls)?;
    d.set_item("window_failures", m.window.failures)?;
    d.set_item("window_slow", m.window.slow)?;
    Ok(d)
}

#[pymethods]
impl CircuitBreaker {
    #[new]
    #[pyo3(signature = (name, *, clock = None, exclude = None, latency_histogram = None, **config))]
    #[pyo3(
        text_signature = "(name, *, clock=None, exclude=(), latency_histogram=None, \
        failure_rate_threshold=0.5, \
        consecutive_failures=5, min_calls=10, window=10.0, window_buckets=10, count_window=None, \
        open_timeout=30.0, backoff_multiplier=None, backoff_max=None, jitter=0.0, \
        half_open_max_calls=3, success_threshold=3, half_open_max_wait=60.0, \
        slow_call_duration=None, slow_call_rate_threshold=1.0, max_open_for=300.0, \
        cancellation='slow_if_overdue')"
    )]
    fn new(
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        clock: Option<&Bound<'_, PyAny>>,
        exclude: Option<&Bound<'_, PyAny>>,
        latency_histogram: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<CircuitBreaker> {
        let name = name_arg(name)?;
        let name = name.to_cow()?;
        check_name(&name)?;
        let config = config_from_kwargs(config)?;
        let clock = clock_source(clock)?;
        let histogram = crate::histogram::histogram_arg("latency_histogram", latency_histogram)?;
        let mut inner =
            Breaker::named(&name, config, clock).map_err(crate::config::config_error)?;
        if let Some(h) = histogram {
            inner = inner.with_latency_histogram(h);
        }
        CircuitBreaker::wrap(py, Arc::new(inner), exclude)
    }

    /// The breaker's name.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyString> {
        self.name.clone_ref(py)
    }

    /// `'closed'`, `'open'` or `'half_open'`.
    #[getter]
    fn state<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        match self.inner.state() {
            fusebox::State::Closed => intern!(py, "closed").clone(),
            fusebox::State::Open => intern!(py, "open").clone(),
            fusebox::State::HalfOpen => intern!(py, "half_open").clone(),
        }
    }

    /// The state with the manual overrides: also `'forced_open'`, `'disabled'`.
    #[getter]
    fn phase(&self) -> &'static str {
        self.inner.phase().as_str()
    }

    /// The exception classes and predicates counted as ignored.
    #[getter]
    fn exclude(&self, py: Python<'_>) -> Py<PyTuple> {
        self.exclude_items.clone_ref(py)
    }

    /// The configuration, as keyword arguments.
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.config();
        let d = PyDict::new(py);
        d.set_item("failure_rate_threshold", c.failure_rate_threshold)?;
        d.set_item("consecutive_failures", c.consecutive_failures)?;
        d.set_item("min_calls", c.min_calls)?;
        match c.window {
            fusebox::WindowConfig::Time { duration, buckets } => {
                d.set_item("window", duration.as_secs_f64())?;
                d.set_item("window_buckets", buckets)?;
                d.set_item("count_window", py.None())?;
            }
            fusebox::WindowConfig::Count { size } => {
                d.set_item("window", py.None())?;
                d.set_item("window_buckets", py.None())?;
                d.set_item("count_window", size)?;
            }
        }
        d.set_item("open_timeout", c.open_timeout.as_secs_f64())?;
        d.set_item("backoff_multiplier", c.backoff.map(|b| b.multiplier))?;
        d.set_item("backoff_max", c.backoff.map(|b| b.max.as_secs_f64()))?;
        d.set_item("jitter", c.jitter)?;
        d.set_item("half_open_max_calls", c.half_open_max_calls)?;
        d.set_item("success_threshold", c.success_threshold)?;
        d.set_item("half_open_max_wait", c.half_open_max_wait.as_secs_f64())?;
        d.set_item(
            "slow_call_duration",
            c.slow_call_duration.map(|d| d.as_secs_f64()),
        )?;
        d.set_item("slow_call_rate_threshold", c.slow_call_rate_threshold)?;
        d.set_item("max_open_for", c.max_open_for.as_secs_f64())?;
        d.set_item("cancellation", c.cancellation.as_str())?;
        Ok(d)
    }

    /// Change the settings given as keyword arguments (the others keep
    /// their value) in place: state, window and counters are kept, the
    /// window judged at once. Returns `{"changed": [...], "tripped": bool}`.
    /// `ValueError` (nothing changed) for a bad value or another window.
    #[pyo3(signature = (**changes))]
    fn reconfigure<'py>(
        &self,
        py: Python<'py>,
        changes: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let merged = self.config(py)?;
        if let Some(ch) = changes {
            crate::config::merge_changes(&merged, ch)?;
        }
        let config = crate::config::config_from_kwargs(Some(&merged))?;
        let done = self
            .inner
            .reconfigure(config)
            .map_err(crate::config::config_error)?;
        let d = PyDict::new(py);
        let names: Vec<&str> = done
            .changed
            .iter()
            .map(|f| crate::config::arg_name(f))
            .collect();
        d.set_item("changed", names)?;
        d.set_item("tripped", done.tripped)?;
        Ok(d)
    }

    /// A snapshot of the counters, as a dict.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        metrics_dict(py, &self.inner.metrics())
    }

    /// Open the breaker until `reset()`.
    fn force_open(&self) {
        self.inner.force_open();
    }

    /// Let every call through and never trip, until `reset()`.
    fn disable(&self) {
        self.inner.disable();
    }

    /// Back to closed, with an empty window.
    fn reset(&self) {
        self.inner.reset();
    }

    /// Open the breaker for `seconds` (a server's `Retry-After`), cut to
    /// `max_open_for`, then probe as after any open period. From closed
    /// and half-open it opens; from open it only moves the end later;
    /// forced open and disabled are left alone. `0` means a probe at the
    /// next call. Returns whether the breaker was opened or its open
    /// period extended. A negative, NaN or infinite `seconds` is a
    /// `ValueError`.
    fn open_for(&self, seconds: &Bound<'_, PyAny>) -> PyResult<bool> {
        let v = float_arg("seconds", seconds)?;
        let d = fusebox::input::duration_arg("duration", v, fusebox::Unit::Seconds)
            .map_err(|e| PyValueError::new_err(e.render("seconds")))?;
        Ok(self.inner.open_for(d))
    }

    /// Call `callback(change)` on every state change. Callbacks run on
    /// fusebox's event thread, never inside a call; see `flush_events()`.
    /// Returns `callback`, so this works as a decorator.
    fn on_state_change<'py>(&self, callback: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        if !callback.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "callback must be callable, not {}",
                callback.get_type().name()?
            )));
        }
        let cb = callback.clone().unbind();
        self.inner
            .on_state_change(move |t: &Transition| deliver(&cb, t));
        Ok(callback)
    }

    /// Take a permit for one call, or raise `CircuitOpenError`.
    fn acquire(slf: &Bound<'_, Self>) -> PyResult<Permit> {
        Self::acquire_permit(slf)
    }

    /// Decorator: `@breaker` on a sync or async function.
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
        py_helpers::decorate(slf, func)
    }

    /// The wrapper the decorator uses (without `functools` metadata): for
    /// an async function when `is_async`, its calls return a
    /// `GuardedCoroutine`.
    #[pyo3(signature = (func, is_async = false))]
    fn _guard<'py>(
        slf: &Bound<'py, Self>,
        func: &Bound<'py, PyAny>,
        is_async: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::guarded::new_guarded(slf, func, is_async)
    }

    fn __enter__(slf: &Bound<'_, Self>) -> PyResult<Py<Permit>> {
        let py = slf.py();
        let permit = Py::new(py, Self::acquire_permit(slf)?)?;
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
        let permit = py_helpers::pop_permit(slf.get().stack(py)?, "CircuitBreaker")?;
        let permit = permit.cast::<Permit>()?;
        permit.get().finish_with(py, exc)?;
        Ok(false)
    }

    fn __aenter__(slf: &Bound<'_, Self>) -> PyResult<Ready> {
        let permit = Self::__enter__(slf)?;
        Ok(Ready {
            value: permit.into_any(),
        })
    }

    #[pyo3(signature = (exc_type = None, exc = None, tb = None))]
    fn __aexit__(
        slf: &Bound<'_, Self>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
        tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Ready> {
        let r = Self::__exit__(slf, exc_type, exc, tb)?;
        Ok(Ready {
            value: pyo3::types::PyBool::new(slf.py(), r)
                .to_owned()
                .into_any()
                .unbind(),
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "<fusebox.CircuitBreaker {:?} state={}>",
            self.inner.name(),
            self.inner.phase().as_str()
        )
    }
}

/// The clock argument: `None` (the system clock) or a `fusebox.ManualClock`.
pub(crate) fn clock_source(clock: Option<&Bound<'_, PyAny>>) -> PyResult<ClockSource> {
    match clock.filter(|c| !c.is_none()) {
        None => Ok(ClockSource::Monotonic),
        Some(c) => match c.cast::<ManualClock>() {
            Ok(m) => Ok(ClockSource::from(m.get().inner.clone())),
            Err(_) => Err(PyTypeError::new_err(format!(
                "clock must be a fusebox.ManualClock or None, not {}",
                c.get_type().name()?
            ))),
        },
    }
}

/// Hand a transition to a Python callback, from the event thread.
fn deliver(cb: &Py<PyAny>, t: &Transition) {
    if crate::SHUTTING_DOWN.load(Ordering::Acquire) {
        return;
    }
    // try_attach: never attach to an interpreter that is finalizing.
    let _ = Python::try_attach(|py| {
        let change = StateChange {
            breaker: t.breaker.to_string(),
            from_state: t.from.state().as_str(),
            to_state: t.to.state().as_str(),
            from_phase: t.from.as_str(),
            to_phase: t.to.as_str(),
            generation: t.generation,
            at: t.at_ns as f64 / 1e9,
        };
        let r = Py::new(py, change).and_then(|c| cb.call1(py, (c,)));
        if let Err(e) = r {
            // Like an exception in a thread: reported, never lost silently.
            e.write_unraisable(py, Some(cb.bind(py)));
        }
    });
}

/// A state change, as passed to `on_state_change` callbacks.
#[pyclass(frozen, get_all, module = "fusebox")]
pub struct StateChange {
    /// The breaker's name.
    breaker: String,
    /// State before: `closed`, `open`, `half_open`.
    from_state: &'static str,
    /// State after.
    to_state: &'static str,
    /// Phase before (state plus `forced_open`, `disabled`).
    from_phase: &'static str,
    /// Phase after.
    to_phase: &'static str,
    /// Generation after.
    generation: u64,
    /// Breaker clock time of the change, in seconds.
    at: f64,
}

#[pymethods]
impl StateChange {
    fn __repr__(&self) -> String {
        format!(
            "<fusebox.StateChange {:?} {} -> {} generation={}>",
            self.breaker, self.from_phase, self.to_phase, self.generation
        )
    }
}

/// The right to make one call; report how it ended exactly once. A permit
/// dropped (garbage-collected) without an outcome gives back its
/// half-open probe slot.
#[pyclass(frozen, module = "fusebox")]
pub struct Permit {
    breaker: Py<CircuitBreaker>,
    raw: RawPermit,
    live: AtomicBool,
}

impl Permit {
    fn new(slf: &Bound<'_, CircuitBreaker>, raw: RawPermit) -> Permit {
        Permit {
            breaker: slf.clone().unbind(),
            raw,
            live: AtomicBool::new(true),
        }
    }

    fn take(&self) -> PyResult<RawPermit> {
        // AcqRel: exactly one caller (of any thread) wins the permit.
        if self.live.swap(false, Ordering::AcqRel) {
            Ok(self.raw)
        } else {
            Err(PyRuntimeError::new_err(fusebox::PermitUsed.to_string()))
        }
    }

    fn record(&self, outcome: Outcome, duration: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let ns = duration_ns(duration)?;
        let raw = self.take()?;
        self.breaker.get().inner.record_raw(raw, outcome, ns);
        Ok(())
    }

    fn finish_with(&self, py: Python<'_>, exc: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        if !self.live.load(Ordering::Acquire) {
            return Ok(()); // already reported inside the `with` block
        }
        let b = self.breaker.get();
        let end = match exc.filter(|e| !e.is_none()) {
            None => Ok(End::Record(Outcome::Success)),
            Some(e) => b.classify(py, e),
        };
        let raw = match self.take() {
            Ok(raw) => raw,
            Err(_) => return Ok(()),
        };
        match end {
            Ok(end) => end.apply(&b.inner, raw),
            Err(e) => {
                b.inner.record_raw(raw, Outcome::Failure, None);
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if *self.live.get_mut() {
            self.breaker.get().inner.release_raw(self.raw);
        }
    }
}

#[pymethods]
impl Permit {
    /// Whether this call is a half-open probe.
    #[getter]
    fn is_probe(&self) -> bool {
        self.raw.probe
    }

    /// Whether the permit still awaits its outcome.
    #[getter]
    fn pending(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// The breaker that issued it.
    #[getter]
    fn breaker(&self, py: Python<'_>) -> Py<CircuitBreaker> {
        self.breaker.clone_ref(py)
    }

    /// The call succeeded (`duration` in seconds overrides the measured one).
    #[pyo3(signature = (duration = None))]
    fn success(&self, duration: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.record(Outcome::Success, duration)
    }

    /// The call failed.
    #[pyo3(signature = (duration = None))]
    fn failure(&self, duration: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.record(Outcome::Failure, duration)
    }

    /// The call ended in a way that says nothing about the dependency.
    fn ignore(&self) -> PyResult<()> {
        self.record(Outcome::Ignored, None)
    }

    /// The call was cancelled (the caller gave up on it): what that counts
    /// as is the breaker's `cancellation` policy (by default nothing, or
    /// one slow call if it ran longer than `slow_call_duration`).
    fn cancel(&self) -> PyResult<()> {
        let raw = self.take()?;
        self.breaker.get().inner.cancel_raw(raw);
        Ok(())
    }

    /// Give the permit back without an outcome (frees a probe slot).
    fn release(&self) -> PyResult<()> {
        let raw = self.take()?;
        self.breaker.get().inner.release_raw(raw);
        Ok(())
    }

    /// Report how a call ended: `None` is a success; an excluded exception
    /// is ignored; any other `Exception` is a failure; a `BaseException`
    /// that is not an `Exception` (`asyncio.CancelledError`,
    /// `KeyboardInterrupt`) is a cancellation (`cancel()`). Does nothing if
    /// the permit was already used.
    #[pyo3(signature = (exc = None))]
    fn finish(&self, py: Python<'_>, exc: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.finish_with(py, exc)
    }

    fn __repr__(&self) -> String {
        format!(
            "<fusebox.Permit {:?} probe={} pending={}>",
            self.breaker.get().inner.name(),
            self.raw.probe,
            self.live.load(Ordering::Relaxed)
        )
    }
}

/// An awaitable that is already done (for `async with`).
#[pyclass(frozen, module = "fusebox")]
pub struct Ready {
    value: Py<PyAny>,
}

#[pymethods]
impl Ready {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Err(PyStopIteration::new_err((self.value.clone_ref(py),)))
    }
    #[pyo3(signature = (_value = None))]
    fn send(&self, py: Python<'_>, _value: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        self.__next__(py)
    }
}
