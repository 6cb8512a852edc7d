//! `fusebox._fusebox`: the native part of the `fusebox` Python package.
//!
//! A thin layer: it converts arguments, results and errors between Python
//! and the `fusebox` core, which makes every decision. The package's Python
//! part (`python/fusebox`) defines the exception classes and the `async`
//! wrappers.

use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

// The admin endpoint (fusebox.admin.serve).
mod admin;
mod breaker;
mod bulkhead;
mod call_method;
mod clock;
mod config;
mod coroutine;
mod guarded;
mod hedge;
mod histogram;
mod keyed;
mod py_helpers;
mod registry;
mod retry;
mod shared;
mod shedder;

/// Set at interpreter exit: state-change callbacks are no longer delivered.
pub(crate) static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// Wait until every state-change callback due so far has run (or `timeout`
/// seconds pass). Returns whether it caught up.
#[pyfunction]
#[pyo3(signature = (timeout = None))]
fn flush_events(py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
    let d = match timeout.filter(|t| !t.is_none()) {
        Some(t) => config::secs_arg("timeout", t)?,
        None => Duration::from_secs(5),
    };
    // The callbacks need the GIL: release it while waiting for them.
    Ok(py.detach(|| fusebox::events::flush(d)))
}

/// Registered with `atexit`: stop calling into Python from the event thread.
#[pyfunction]
fn _shutdown(py: Python<'_>) {
    py.detach(|| fusebox::events::flush(Duration::from_millis(200)));
    SHUTTING_DOWN.store(true, Ordering::Release);
}

#[pymodule(gil_used = false)]
fn _fusebox(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<breaker::CircuitBreaker>()?;
    call_method::install(m.py())?;
    bulkhead::add(m)?;
    shared::add(m)?;
    m.add("GuardedFunction", guarded::guarded_type(m.py())?)?;
    m.add("GuardedCoroutine", coroutine::coroutine_type(m.py())?)?;
    m.add_class::<breaker::Permit>()?;
    m.add_class::<breaker::StateChange>()?;
    m.add_class::<clock::ManualClock>()?;
    m.add_class::<registry::Registry>()?;
    admin::add(m)?;
    keyed::add(m)?;
    shedder::add(m)?;
    retry::add(m)?;
    hedge::add(m)?;
    histogram::add(m)?;
    m.add_function(wrap_pyfunction!(registry::registry, m)?)?;
    m.add_function(wrap_pyfunction!(flush_events, m)?)?;
    m.add_function(wrap_pyfunction!(_shutdown, m)?)?;
    m.add("__version__", fusebox::VERSION)?;
    Ok(())
}
