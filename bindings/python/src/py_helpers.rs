//! The few Python objects the binding uses, looked up once per interpreter.

use crate::breaker::CircuitBreaker;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyType};

static CIRCUIT_OPEN_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static COROUTINE_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CONTEXT_VAR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static METHOD_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DECORATE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `fusebox.CircuitOpenError` (defined in Python, in `fusebox/_errors.py`).
#[inline]
pub fn circuit_open_error(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    CIRCUIT_OPEN_ERROR.import(py, "fusebox._errors", "CircuitOpenError")
}

/// Whether `v` (a live object) is a coroutine object.
#[inline]
pub fn is_coroutine_ptr(py: Python<'_>, v: *mut pyo3::ffi::PyObject) -> bool {
    let t = match COROUTINE_TYPE.get(py) {
        Some(t) => t.as_ptr(),
        None => coroutine_type_slow(py),
    };
    // SAFETY: `v` is live (the caller's promise).
    unsafe { pyo3::ffi::Py_TYPE(v) }.cast::<pyo3::ffi::PyObject>() == t
}

#[cold]
#[inline(never)]
fn coroutine_type_slow(py: Python<'_>) -> *mut pyo3::ffi::PyObject {
    match COROUTINE_TYPE.import(py, "types", "CoroutineType") {
        Ok(t) => t.as_ptr(),
        Err(_) => std::ptr::null_mut(),
    }
}

/// A new `contextvars.ContextVar` holding an empty tuple by default.
pub fn context_var(py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
    let cls = CONTEXT_VAR.import(py, "contextvars", "ContextVar")?;
    let kw = pyo3::types::PyDict::new(py);
    kw.set_item("default", pyo3::types::PyTuple::empty(py))?;
    Ok(cls
        .call((PyString::new(py, &format!("fusebox:{name}")),), Some(&kw))?
        .unbind())
}

/// `types.MethodType(func, obj)`.
pub fn method(func: &Bound<'_, PyAny>, obj: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let py = func.py();
    let t = METHOD_TYPE.import(py, "types", "MethodType")?;
    Ok(t.call1((func, obj))?.unbind())
}

fn wrap_fn<'py>(
    cell: &'static PyOnceLock<Py<PyAny>>,
    py: Python<'py>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyAny>> {
    cell.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("fusebox._wrap")?.getattr(name)?.unbind())
    })
    .map(|f| f.bind(py))
}

/// `fusebox._wrap.decorate(breaker, func)`: the decorator's body.
pub fn decorate<'py>(
    breaker: &Bound<'py, CircuitBreaker>,
    func: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    wrap_fn(&DECORATE, breaker.py(), "decorate")?.call1((breaker, func))
}

/// Push `permit` on the per-context stack kept in the `ContextVar` `var`
/// (what `__enter__` hands to the matching `__exit__`).
pub fn push_permit(var: &Bound<'_, PyAny>, permit: Bound<'_, PyAny>) -> PyResult<()> {
    let py = var.py();
    let stack = var.call_method0(pyo3::intern!(py, "get"))?;
    let stack = stack.cast::<pyo3::types::PyTuple>()?;
    let mut items: Vec<Bound<'_, PyAny>> = stack.iter().collect();
    items.push(permit);
    var.call_method1(
        pyo3::intern!(py, "set"),
        (pyo3::types::PyTuple::new(py, items)?,),
    )?;
    Ok(())
}

/// Pop the permit `__enter__` pushed in this context; `who` names the class
/// in the error for an `__exit__` without one.
pub fn pop_permit<'py>(var: &Bound<'py, PyAny>, who: &str) -> PyResult<Bound<'py, PyAny>> {
    let py = var.py();
    let stack = var.call_method0(pyo3::intern!(py, "get"))?;
    let stack = stack.cast::<pyo3::types::PyTuple>()?;
    let n = stack.len();
    if n == 0 {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
            "{who}.__exit__ without a matching __enter__ in this context"
        )));
    }
    let permit = stack.get_item(n - 1)?;
    var.call_method1(pyo3::intern!(py, "set"), (stack.get_slice(0, n - 1),))?;
    Ok(permit)
}
