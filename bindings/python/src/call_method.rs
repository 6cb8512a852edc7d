//! `CircuitBreaker.call`, defined by hand as a `METH_FASTCALL` method for
//! speed: `breaker.call(f, x)` passes the caller's argument array on to `f`
//! (after `f` itself) without building an argument tuple or dict, as the
//! decorator's vectorcall does (`guarded.rs`). A `#[pymethods]` method with
//! `*args, **kwargs` builds both, and pyo3's argument parsing, which cost
//! more than twice the whole decorator.

use crate::breaker::CircuitBreaker;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::type_object::PyTypeInfo;
use std::ptr::null_mut;

/// `breaker.call(func, /, *args, **kwargs)`.
unsafe extern "C" fn call(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a method with the GIL held; the method
    // descriptor made `slf` an instance of CircuitBreaker (it checks).
    let py = unsafe { Python::assume_attached() };
    if nargs < 1 {
        PyTypeError::new_err("call() missing required positional argument: 'func'").restore(py);
        return null_mut();
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `args` holds `nargs` live positional arguments, then the
        // keyword values `kwnames` names: `args + 1` is the same shape
        // without `func`. The flag PY_VECTORCALL_ARGUMENTS_OFFSET is not
        // passed on: `args[0]` is not ours to overwrite.
        unsafe {
            crate::guarded::guarded_call(py, slf, *args, args.add(1), (nargs - 1) as usize, kwnames)
        }
    }));
    r.unwrap_or_else(|_| {
        pyo3::exceptions::PyRuntimeError::new_err("fusebox: internal error (panic) in call")
            .restore(py);
        null_mut()
    })
}

/// Put `call` on the `CircuitBreaker` class.
pub(crate) fn install(py: Python<'_>) -> PyResult<()> {
    let def: &'static mut ffi::PyMethodDef = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: c"call".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: call,
        },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: c"call($self, func, /, *args, **kwargs)\n--\n\n`func(*args, **kwargs)` through the breaker."
            .as_ptr(),
    }));
    let tp = CircuitBreaker::type_object(py);
    // SAFETY: `def` is 'static; `tp` is a live type object.
    let descr = unsafe { ffi::PyDescr_NewMethod(tp.as_type_ptr(), def) };
    if descr.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: a new reference, taken over.
    let descr = unsafe { Bound::from_owned_ptr(py, descr) };
    tp.setattr("call", descr)
}
