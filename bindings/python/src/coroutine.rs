//! `fusebox.GuardedCoroutine`: what a guarded async function returns when
//! called, an awaitable that runs the function's coroutine under a permit.
//!
//! A Python `async def` wrapper costs a frame, an argument tuple and dict,
//! and a second coroutine object per call, more than the breaker itself.
//! This type is the wrapper without them: its `am_send` slot (what `await`
//! calls, through `PyIter_Send`) forwards to the inner coroutine's, and
//! reports the outcome when the inner coroutine returns or raises. `send`,
//! `throw` and `close` make it a `collections.abc.Coroutine`, so
//! `asyncio.create_task`, `gather` and cancellation treat it as a coroutine.
//!
//! The permit is taken when the coroutine starts (its first `send`), not
//! when it is made, as an `async def` wrapper would: a coroutine made and
//! awaited later is judged by the breaker as it is then. (`breaker.call`
//! on an async function takes it when called, and hands it over.)
//!
//! How a call ends is the core's business: a return is a success, an
//! exception is classified as for a sync call, and a cancellation (a
//! `BaseException` that is not an `Exception`: `asyncio.CancelledError`,
//! `GeneratorExit` from `close()`, or the coroutine dropped while it runs)
//! is `Breaker::cancel_raw`, which applies the breaker's `cancellation`
//! policy.

use crate::breaker::{CircuitBreaker, Held};
use fusebox::{Outcome, RawPermit};
use pyo3::exceptions::{PyRuntimeError, PyStopIteration, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyTuple, PyType};
use std::ffi::{c_int, c_void};
use std::ptr::{addr_of_mut, null_mut};

/// `Py_am_send` (3.10+), which pyo3-ffi does not name.
const PY_AM_SEND: c_int = 81;

/// Not started: no permit yet; `inner` is the awaitable's iterator.
const NEW: u8 = 0;
/// Not started, and the function raised when called: `inner` is the
/// exception, raised (and counted) when the coroutine starts.
const CALL_RAISED: u8 = 1;
/// The permit is held; `inner` is running (or about to).
const RUNNING: u8 = 2;
/// Finished: the outcome is reported; `inner` is null.
const DONE: u8 = 3;

/// The object's layout. Every pointer is a strong reference or null.
#[repr(C)]
struct CoroObject {
    ob_base: ffi::PyObject,
    /// A `CircuitBreaker` instance.
    breaker: *mut ffi::PyObject,
    inner: *mut ffi::PyObject,
    permit: RawPermit,
    state: u8,
    /// Set while a `send`/`throw`/`close` runs (re-entry is an error).
    busy: bool,
}

static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The `GuardedCoroutine` type, created on first use.
pub fn coroutine_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    TYPE.get_or_try_init(py, || create_type(py))
        .map(|t| t.bind(py))
}

/// Whether `v` (a live object) is a `GuardedCoroutine` (a call of another
/// guarded async function, passed to `breaker.call`).
pub(crate) fn is_guarded_coroutine(py: Python<'_>, v: *mut ffi::PyObject) -> bool {
    // SAFETY: `v` is live (the caller's promise).
    TYPE.get(py)
        .is_some_and(|t| unsafe { ffi::Py_TYPE(v) }.cast::<ffi::PyObject>() == t.as_ptr())
}

fn create_type(py: Python<'_>) -> PyResult<Py<PyType>> {
    let methods: &'static mut [ffi::PyMethodDef] = Box::leak(Box::new([
        ffi::PyMethodDef {
            ml_name: c"send".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer { PyCFunction: coro_send_method },
            ml_flags: ffi::METH_O,
            ml_doc: c"send($self, value, /)\n--\n\nSend a value into the coroutine.".as_ptr(),
        },
        ffi::PyMethodDef {
            ml_name: c"throw".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer { PyCFunction: coro_throw },
            ml_flags: ffi::METH_VARARGS,
            ml_doc: c"throw($self, typ, val=None, tb=None, /)\n--\n\nRaise an exception in the coroutine.".as_ptr(),
        },
        ffi::PyMethodDef {
            ml_name: c"close".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer { PyCFunction: coro_close },
            ml_flags: ffi::METH_NOARGS,
            ml_doc: c"close($self, /)\n--\n\nClose the coroutine (a cancellation if it runs).".as_ptr(),
        },
        ffi::PyMethodDef::zeroed(),
    ]));
    let slots: &'static mut [ffi::PyType_Slot] = Box::leak(Box::new([
        slot(ffi::Py_tp_dealloc, coro_dealloc as *mut c_void),
        slot(ffi::Py_tp_traverse, coro_traverse as *mut c_void),
        slot(ffi::Py_tp_clear, coro_clear as *mut c_void),
        slot(ffi::Py_am_await, coro_self as *mut c_void),
        slot(PY_AM_SEND, coro_am_send as *mut c_void),
        slot(ffi::Py_tp_iter, coro_self as *mut c_void),
        slot(ffi::Py_tp_iternext, coro_iternext as *mut c_void),
        slot(ffi::Py_tp_methods, methods.as_mut_ptr() as *mut c_void),
        slot(
            ffi::Py_tp_doc,
            c"A call of an async function guarded by a CircuitBreaker: await it.".as_ptr()
                as *mut c_void,
        ),
        slot(0, null_mut()),
    ]));
    let spec: &'static mut ffi::PyType_Spec = Box::leak(Box::new(ffi::PyType_Spec {
        name: c"fusebox.GuardedCoroutine".as_ptr(),
        basicsize: std::mem::size_of::<CoroObject>() as c_int,
        itemsize: 0,
        flags: (ffi::Py_TPFLAGS_DEFAULT
            | ffi::Py_TPFLAGS_HAVE_GC
            | ffi::Py_TPFLAGS_IMMUTABLETYPE
            | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION) as std::ffi::c_uint,
        slots: slots.as_mut_ptr(),
    }));
    // SAFETY: `spec` and everything it points to is 'static and well formed
    // (sentinel-terminated arrays, a layout that starts with PyObject).
    let t = unsafe { ffi::PyType_FromSpec(spec) };
    if t.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: PyType_FromSpec returned a new reference to a type object.
    Ok(unsafe { Bound::from_owned_ptr(py, t).cast_into_unchecked::<PyType>() }.unbind())
}

fn slot(slot: c_int, pfunc: *mut c_void) -> ffi::PyType_Slot {
    ffi::PyType_Slot { slot, pfunc }
}

/// A new `GuardedCoroutine` over `call`, the result of calling an async
/// function (a coroutine or other awaitable; `Err` if the call raised).
/// With `permit`, the call was admitted already (`breaker.call`).
///
/// # Safety
/// `breaker` must be a live `CircuitBreaker`.
pub(crate) unsafe fn new_coroutine(
    py: Python<'_>,
    breaker: *mut ffi::PyObject,
    call: Result<*mut ffi::PyObject, PyErr>,
    permit: Option<RawPermit>,
) -> *mut ffi::PyObject {
    // SAFETY (for the whole body): the caller's promise on `breaker`.
    let this = || unsafe { breaker_ref(py, breaker) };
    // The inner object: a coroutine as it is (it has am_send); any other
    // awaitable through its `__await__` iterator (cold).
    let inner = match call {
        Ok(res) if crate::py_helpers::is_coroutine_ptr(py, res) => Ok(res),
        // SAFETY: `res` is a new reference, taken over.
        Ok(res) => awaitable_iter(unsafe { Bound::from_owned_ptr(py, res) }).map(Bound::into_ptr),
        Err(e) => Err(e),
    };
    let (inner, state) = match (inner, permit) {
        (Ok(p), _) => (p, NEW),
        (Err(e), Some(p)) => {
            // Admitted, and the call raised: count it now.
            let this = this();
            this.finish_with_error(py, Held::new(&this.inner, p), e)
                .restore(py);
            return null_mut();
        }
        (Err(e), None) => (e.into_value(py).into_ptr(), CALL_RAISED),
    };
    let fail = |inner: *mut ffi::PyObject| {
        // SAFETY: `inner` is our new reference, dropped here.
        unsafe { ffi::Py_DECREF(inner) };
        if let Some(p) = permit {
            this().inner.release_raw(p);
        }
        null_mut()
    };
    let tp = match coroutine_type(py) {
        Ok(t) => t,
        Err(e) => {
            e.restore(py);
            return fail(inner);
        }
    };
    // SAFETY: `tp` is our heap type; PyType_GenericAlloc returns a
    // zero-filled, GC-tracked object of `basicsize` bytes, or null with an
    // exception set. Its fields are set before anything else can see it.
    unsafe {
        let obj = ffi::PyType_GenericAlloc(tp.as_type_ptr(), 0);
        if obj.is_null() {
            return fail(inner);
        }
        let c = obj.cast::<CoroObject>();
        ffi::Py_INCREF(breaker);
        (*c).breaker = breaker;
        (*c).inner = inner;
        (*c).state = state;
        if let Some(p) = permit {
            (*c).permit = p;
            (*c).state = RUNNING;
        }
        obj
    }
}

/// The `CircuitBreaker` behind a pointer.
///
/// # Safety
/// `breaker` is a live `CircuitBreaker`, alive for `'a`.
unsafe fn breaker_ref<'a>(py: Python<'a>, breaker: *mut ffi::PyObject) -> &'a CircuitBreaker {
    // SAFETY: the caller's promise.
    unsafe {
        let b = Borrowed::from_ptr(py, breaker).cast_unchecked::<CircuitBreaker>();
        &*(b.get() as *const CircuitBreaker)
    }
}

/// `type(aw).__await__(aw)`: the iterator of an awaitable that is not a
/// coroutine.
#[cold]
fn awaitable_iter<'py>(aw: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    match aw.call_method0(pyo3::intern!(aw.py(), "__await__")) {
        Ok(it) => Ok(it),
        Err(_) => Err(PyTypeError::new_err(format!(
            "a guarded async function must return an awaitable, not {}",
            aw.get_type().name()?
        ))),
    }
}

/// The breaker of `c` (live while `c` is not cleared).
///
/// # Safety
/// `c` is one of ours and `(*c).breaker` is not null.
unsafe fn breaker_of<'a>(py: Python<'a>, c: *mut CoroObject) -> &'a CircuitBreaker {
    // SAFETY: the caller's promise; the reference lives as long as `c`
    // holds it, which outlives this borrow's uses (no field is cleared
    // while a method runs: `busy`).
    unsafe { breaker_ref(py, (*c).breaker) }
}

/// Drop `inner` and mark the call finished.
unsafe fn done(c: *mut CoroObject) {
    // SAFETY: our layout; the field is nulled before its reference is dropped.
    unsafe {
        (*c).state = DONE;
        let p = (*c).inner;
        if !p.is_null() {
            (*c).inner = null_mut();
            ffi::Py_DECREF(p);
        }
    }
}

/// Take the permit at the start, or raise: `Ok(())` when `inner` may run.
#[inline]
unsafe fn start(py: Python<'_>, c: *mut CoroObject) -> Result<(), ()> {
    // SAFETY: called with the state NEW or CALL_RAISED: fields are set.
    unsafe {
        let this = breaker_of(py, c);
        match this.inner.acquire_raw() {
            Ok(p) if (*c).state == NEW => {
                (*c).permit = p;
                (*c).state = RUNNING;
                Ok(())
            }
            Ok(p) => {
                // The function raised when called: this call's outcome.
                let exc = (*c).inner;
                (*c).inner = null_mut();
                (*c).state = DONE;
                let err = PyErr::from_value(Bound::from_owned_ptr(py, exc));
                this.finish_with_error(py, Held::new(&this.inner, p), err)
                    .restore(py);
                Err(())
            }
            Err(r) => {
                let err = this.rejected(py, r);
                if (*c).state == NEW {
                    close_quietly(py, (*c).inner);
                }
                done(c);
                err.restore(py);
                Err(())
            }
        }
    }
}

/// Close a coroutine that never ran (no "never awaited" warning).
#[cold]
fn close_quietly(py: Python<'_>, inner: *mut ffi::PyObject) {
    // SAFETY: `inner` is a live reference held by the caller.
    let is_coro = crate::py_helpers::is_coroutine_ptr(py, inner);
    let inner = unsafe { Borrowed::from_ptr(py, inner) };
    if is_coro || inner.hasattr(pyo3::intern!(py, "close")).unwrap_or(false) {
        if let Err(e) = inner.call_method0(pyo3::intern!(py, "close")) {
            e.write_unraisable(py, Some(&inner));
        }
    }
}

/// The inner call ended with the error set: report it, keep it set (or
/// replace it with an `exclude` predicate's error).
#[cold]
unsafe fn ended_with_error(py: Python<'_>, c: *mut CoroObject) {
    // SAFETY: state RUNNING: the permit is live, the breaker set.
    unsafe {
        let this = breaker_of(py, c);
        let err = PyErr::take(py)
            .unwrap_or_else(|| PyRuntimeError::new_err("coroutine failed without an exception"));
        let p = (*c).permit;
        done(c);
        this.finish_with_error(py, Held::new(&this.inner, p), err)
            .restore(py);
    }
}

/// The inner call returned.
#[inline]
unsafe fn ended_with_return(py: Python<'_>, c: *mut CoroObject) {
    // SAFETY: state RUNNING: the permit is live, the breaker set.
    unsafe {
        let this = breaker_of(py, c);
        let p = (*c).permit;
        done(c);
        Held::new(&this.inner, p).record(Outcome::Success);
    }
}

/// Guard against re-entry (a coroutine that awaits itself) and calls after
/// `tp_clear`. `Err` has the exception set.
#[inline]
unsafe fn enter(py: Python<'_>, c: *mut CoroObject) -> Result<(), ()> {
    // SAFETY: our layout.
    unsafe {
        if (*c).busy {
            PyValueError::new_err("coroutine already executing").restore(py);
            return Err(());
        }
        if (*c).state != DONE && (*c).breaker.is_null() {
            PyRuntimeError::new_err("GuardedCoroutine was cleared").restore(py);
            return Err(());
        }
        (*c).busy = true;
        Ok(())
    }
}

/// One step: start if new, then send `arg` into the inner coroutine.
unsafe fn step(
    py: Python<'_>,
    c: *mut CoroObject,
    arg: *mut ffi::PyObject,
    out: *mut *mut ffi::PyObject,
) -> ffi::PySendResult {
    // SAFETY: `c` is ours, `out` is writable; `enter` keeps the fields set
    // for the duration.
    unsafe {
        *out = null_mut();
        if enter(py, c).is_err() {
            return ffi::PySendResult::PYGEN_ERROR;
        }
        let r = step_inner(py, c, arg, out);
        (*c).busy = false;
        r
    }
}

#[inline]
unsafe fn step_inner(
    py: Python<'_>,
    c: *mut CoroObject,
    arg: *mut ffi::PyObject,
    out: *mut *mut ffi::PyObject,
) -> ffi::PySendResult {
    // SAFETY: see `step`.
    unsafe {
        match (*c).state {
            RUNNING => {}
            DONE => {
                PyRuntimeError::new_err("cannot reuse already awaited coroutine").restore(py);
                return ffi::PySendResult::PYGEN_ERROR;
            }
            _ => {
                if start(py, c).is_err() {
                    return ffi::PySendResult::PYGEN_ERROR;
                }
            }
        }
        let r = ffi::PyIter_Send((*c).inner, arg, out);
        match r {
            ffi::PySendResult::PYGEN_NEXT => {}
            ffi::PySendResult::PYGEN_RETURN => ended_with_return(py, c),
            ffi::PySendResult::PYGEN_ERROR => ended_with_error(py, c),
        }
        r
    }
}

unsafe extern "C" fn coro_am_send(
    slf: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
    out: *mut *mut ffi::PyObject,
) -> ffi::PySendResult {
    // SAFETY: CPython calls slots with the GIL held, on objects of our type.
    let py = unsafe { Python::assume_attached() };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
        let arg = if arg.is_null() { ffi::Py_None() } else { arg };
        step(py, slf.cast(), arg, out)
    }));
    r.unwrap_or_else(|_| {
        panicked(py);
        ffi::PySendResult::PYGEN_ERROR
    })
}

#[cold]
fn panicked(py: Python<'_>) {
    PyRuntimeError::new_err("fusebox: internal error (panic) in GuardedCoroutine").restore(py);
}

/// `send`'s and `__next__`'s result: a value yielded, or a return raised as
/// `StopIteration` (`None` returned from `__next__`: no exception object).
unsafe fn as_call_result(
    py: Python<'_>,
    r: ffi::PySendResult,
    out: *mut ffi::PyObject,
    next: bool,
) -> *mut ffi::PyObject {
    match r {
        ffi::PySendResult::PYGEN_NEXT => out,
        ffi::PySendResult::PYGEN_ERROR => null_mut(),
        ffi::PySendResult::PYGEN_RETURN => {
            // SAFETY: `out` is a new reference, taken over.
            let v = unsafe { Bound::from_owned_ptr(py, out) };
            if !(next && v.is_none()) {
                PyStopIteration::new_err((v.unbind(),)).restore(py);
            }
            null_mut()
        }
    }
}

unsafe extern "C" fn coro_iternext(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: as in `coro_am_send`.
    let py = unsafe { Python::assume_attached() };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
        let mut out = null_mut();
        let r = step(py, slf.cast(), ffi::Py_None(), &mut out);
        as_call_result(py, r, out, true)
    }));
    r.unwrap_or_else(|_| {
        panicked(py);
        null_mut()
    })
}

unsafe extern "C" fn coro_send_method(
    slf: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as in `coro_am_send`; METH_O passes one live argument.
    let py = unsafe { Python::assume_attached() };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
        let mut out = null_mut();
        let r = step(py, slf.cast(), arg, &mut out);
        as_call_result(py, r, out, false)
    }));
    r.unwrap_or_else(|_| {
        panicked(py);
        null_mut()
    })
}

/// `throw(typ, val=None, tb=None)`: raise in the inner coroutine; its end
/// (a return, an exception, a cancellation) is reported as from `send`.
unsafe extern "C" fn coro_throw(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as in `coro_am_send`; METH_VARARGS passes a tuple.
    let py = unsafe { Python::assume_attached() };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
        let c = slf.cast::<CoroObject>();
        let args = Borrowed::from_ptr(py, args).cast_unchecked::<PyTuple>();
        if enter(py, c).is_err() {
            return null_mut();
        }
        let r = throw_inner(py, c, &args);
        (*c).busy = false;
        r
    }));
    r.unwrap_or_else(|_| {
        panicked(py);
        null_mut()
    })
}

#[cold]
unsafe fn throw_inner(
    py: Python<'_>,
    c: *mut CoroObject,
    args: &Bound<'_, PyTuple>,
) -> *mut ffi::PyObject {
    // SAFETY: `enter` succeeded: fields are set for the duration.
    unsafe {
        match (*c).state {
            RUNNING => {
                let inner = Borrowed::from_ptr(py, (*c).inner);
                match inner.call_method1(pyo3::intern!(py, "throw"), args.clone()) {
                    Ok(v) => v.into_ptr(),
                    Err(e) => {
                        let returned = e.is_instance_of::<PyStopIteration>(py);
                        e.restore(py);
                        if returned {
                            ended_with_return(py, c);
                        } else {
                            ended_with_error(py, c);
                        }
                        null_mut()
                    }
                }
            }
            NEW => {
                // Never started: no permit; the coroutine raises at once.
                let inner = Borrowed::from_ptr(py, (*c).inner).to_owned();
                done(c);
                match inner.call_method1(pyo3::intern!(py, "throw"), args.clone()) {
                    Ok(v) => v.into_ptr(),
                    Err(e) => {
                        e.restore(py);
                        null_mut()
                    }
                }
            }
            _ => {
                // Finished, or never started because the call raised: raise
                // what was thrown, as a finished coroutine does.
                done(c);
                thrown(py, args).restore(py);
                null_mut()
            }
        }
    }
}

/// The exception `throw(typ, val, tb)` names.
#[cold]
fn thrown(py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyErr {
    let typ = match args.get_item(0) {
        Ok(t) => t,
        Err(_) => return PyTypeError::new_err("throw expected at least 1 argument, got 0"),
    };
    let val = args.get_item(1).ok().filter(|v| !v.is_none());
    if let Ok(t) = typ.cast::<PyType>() {
        return match val {
            Some(v) if v.is_instance(t).unwrap_or(false) => PyErr::from_value(v),
            Some(v) => PyErr::from_type(t.clone(), (v.unbind(),)),
            None => PyErr::from_type(t.clone(), ()),
        };
    }
    let _ = py;
    PyErr::from_value(typ)
}

/// `close()`: a running call is cancelled (the core's policy decides what
/// it counts as); a new one is dropped without a permit.
unsafe extern "C" fn coro_close(
    slf: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as in `coro_am_send`.
    let py = unsafe { Python::assume_attached() };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
        let c = slf.cast::<CoroObject>();
        if (*c).state == DONE {
            return ffi::Py_NewRef(ffi::Py_None());
        }
        if enter(py, c).is_err() {
            return null_mut();
        }
        let r = close_inner(py, c);
        (*c).busy = false;
        r
    }));
    r.unwrap_or_else(|_| {
        panicked(py);
        null_mut()
    })
}

#[cold]
unsafe fn close_inner(py: Python<'_>, c: *mut CoroObject) -> *mut ffi::PyObject {
    // SAFETY: `enter` succeeded: fields are set for the duration.
    unsafe {
        match (*c).state {
            RUNNING => {
                let inner = Borrowed::from_ptr(py, (*c).inner);
                let closed = if inner.hasattr(pyo3::intern!(py, "close")).unwrap_or(false) {
                    inner.call_method0(pyo3::intern!(py, "close")).map(|_| ())
                } else {
                    Ok(())
                };
                match closed {
                    Ok(()) => {
                        let this = breaker_of(py, c);
                        let p = (*c).permit;
                        done(c);
                        this.inner.cancel_raw(p);
                        ffi::Py_NewRef(ffi::Py_None())
                    }
                    Err(e) => {
                        e.restore(py);
                        ended_with_error(py, c);
                        null_mut()
                    }
                }
            }
            NEW => {
                close_quietly(py, (*c).inner);
                done(c);
                ffi::Py_NewRef(ffi::Py_None())
            }
            _ => {
                done(c);
                ffi::Py_NewRef(ffi::Py_None())
            }
        }
    }
}

unsafe extern "C" fn coro_self(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: `slf` is live; a new reference to it.
    unsafe { ffi::Py_NewRef(slf) }
}

unsafe extern "C" fn coro_traverse(
    slf: *mut ffi::PyObject,
    visit: ffi::visitproc,
    arg: *mut c_void,
) -> c_int {
    let c = slf.cast::<CoroObject>();
    // SAFETY: called by the GC on an object of our type; fields are strong
    // references or null. A heap type's instances visit their type.
    unsafe {
        for p in [(*c).breaker, (*c).inner] {
            if !p.is_null() {
                let r = visit(p, arg);
                if r != 0 {
                    return r;
                }
            }
        }
        visit(ffi::Py_TYPE(slf).cast(), arg)
    }
}

/// Drop the references; a call still running is cancelled (a coroutine
/// dropped while it runs, as a Rust future dropped).
unsafe extern "C" fn coro_clear(slf: *mut ffi::PyObject) -> c_int {
    let c = slf.cast::<CoroObject>();
    // SAFETY: our layout; only Rust runs before the references are dropped
    // (cancel_raw calls no Python), and each field is nulled before its
    // reference is dropped.
    unsafe {
        if (*c).state == RUNNING && !(*c).breaker.is_null() {
            let py = Python::assume_attached();
            breaker_of(py, c).inner.cancel_raw((*c).permit);
        }
        (*c).state = DONE;
        for field in [addr_of_mut!((*c).inner), addr_of_mut!((*c).breaker)] {
            let p = *field;
            if !p.is_null() {
                *field = null_mut();
                ffi::Py_DECREF(p);
            }
        }
    }
    0
}

unsafe extern "C" fn coro_dealloc(slf: *mut ffi::PyObject) {
    // SAFETY: the standard dealloc sequence of a GC-tracked heap type.
    unsafe {
        let tp = ffi::Py_TYPE(slf);
        ffi::PyObject_GC_UnTrack(slf.cast());
        coro_clear(slf);
        let free = ffi::PyType_GetSlot(tp, ffi::Py_tp_free);
        if !free.is_null() {
            let free: ffi::freefunc = std::mem::transmute::<*mut c_void, ffi::freefunc>(free);
            free(slf.cast());
        }
        ffi::Py_DECREF(tp.cast());
    }
}
