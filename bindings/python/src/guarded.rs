//! `fusebox.GuardedFunction`: what `@breaker` returns (for an async function,
//! its calls return a `GuardedCoroutine`, `coroutine.rs`).
//!
//! This type is built by hand with `PyType_FromSpec` instead of
//! `#[pyclass]`, for one reason: speed. It implements the vectorcall
//! protocol (PEP 590), so a call `f(x)` reaches `guarded_vectorcall` with the
//! caller's argument array, and the function is called with that same array
//! (`PyObject_Vectorcall`): no argument tuple or dict is built, and no
//! argument parsing runs. A `#[pyclass]` with `__call__` goes through
//! `tp_call` (a tuple per call) and pyo3's argument extraction, which costs
//! about as much again as the whole breaker.
//!
//! Vectorcall, `__vectorcalloffset__` and `PyObject_Vectorcall` are in the
//! limited API from Python 3.12 on; on 3.11 they exist with the same ABI
//! (they are what 3.12 made official), so the abi3 wheel built for 3.11 uses
//! them too.

use crate::breaker::{CircuitBreaker, Held};
use fusebox::Outcome;
use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use std::ffi::{c_int, c_void};
use std::ptr::{addr_of_mut, null_mut};

extern "C" {
    // Exported by CPython ≥ 3.11 (limited API from 3.12); pyo3-ffi declares
    // them only outside the limited API before 3.12.
    fn PyObject_Vectorcall(
        callable: *mut ffi::PyObject,
        args: *const *mut ffi::PyObject,
        nargsf: usize,
        kwnames: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject;
    fn PyVectorcall_Call(
        callable: *mut ffi::PyObject,
        tuple: *mut ffi::PyObject,
        dict: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject;
}

// Type flags that the limited API of 3.11 does not name (same bits on 3.11).
const HAVE_VECTORCALL: std::ffi::c_ulong = 1 << 11;
const METHOD_DESCRIPTOR: std::ffi::c_ulong = 1 << 17;

type VectorcallFn = unsafe extern "C" fn(
    *mut ffi::PyObject,
    *const *mut ffi::PyObject,
    usize,
    *mut ffi::PyObject,
) -> *mut ffi::PyObject;

/// The object's layout. Every pointer is a strong reference or null.
#[repr(C)]
struct GuardedObject {
    ob_base: ffi::PyObject,
    /// Read by CPython through `tp_vectorcall_offset`.
    vectorcall: Option<VectorcallFn>,
    /// A `CircuitBreaker` instance.
    breaker: *mut ffi::PyObject,
    func: *mut ffi::PyObject,
    dict: *mut ffi::PyObject,
    weaklist: *mut ffi::PyObject,
}

static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The `GuardedFunction` type, created on first use.
pub fn guarded_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    TYPE.get_or_try_init(py, || create_type(py))
        .map(|t| t.bind(py))
}

fn offset_of(field: usize) -> ffi::Py_ssize_t {
    field as ffi::Py_ssize_t
}

fn create_type(py: Python<'_>) -> PyResult<Py<PyType>> {
    let members: &'static mut [ffi::PyMemberDef] = Box::leak(Box::new([
        ffi::PyMemberDef {
            name: c"__vectorcalloffset__".as_ptr(),
            type_code: ffi::Py_T_PYSSIZET,
            offset: offset_of(std::mem::offset_of!(GuardedObject, vectorcall)),
            flags: ffi::Py_READONLY,
            doc: null_mut(),
        },
        ffi::PyMemberDef {
            name: c"__dictoffset__".as_ptr(),
            type_code: ffi::Py_T_PYSSIZET,
            offset: offset_of(std::mem::offset_of!(GuardedObject, dict)),
            flags: ffi::Py_READONLY,
            doc: null_mut(),
        },
        ffi::PyMemberDef {
            name: c"__weaklistoffset__".as_ptr(),
            type_code: ffi::Py_T_PYSSIZET,
            offset: offset_of(std::mem::offset_of!(GuardedObject, weaklist)),
            flags: ffi::Py_READONLY,
            doc: null_mut(),
        },
        ffi::PyMemberDef {
            name: c"breaker".as_ptr(),
            type_code: ffi::Py_T_OBJECT_EX,
            offset: offset_of(std::mem::offset_of!(GuardedObject, breaker)),
            flags: ffi::Py_READONLY,
            doc: c"The CircuitBreaker.".as_ptr(),
        },
        // SAFETY: an all-zero PyMemberDef is the array's sentinel.
        unsafe { std::mem::zeroed() },
    ]));
    // Get-set definitions are referenced (not copied) by the type: leaked,
    // once per interpreter.
    let getset: &'static mut [ffi::PyGetSetDef] = Box::leak(Box::new([
        ffi::PyGetSetDef {
            name: c"__dict__".as_ptr(),
            get: Some(ffi::PyObject_GenericGetDict),
            set: Some(ffi::PyObject_GenericSetDict),
            doc: null_mut(),
            closure: null_mut(),
        },
        // SAFETY: an all-zero PyGetSetDef is the array's sentinel.
        unsafe { std::mem::zeroed() },
    ]));
    let methods: &'static mut [ffi::PyMethodDef] = Box::leak(Box::new([
        ffi::PyMethodDef {
            ml_name: c"__reduce__".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunction: guarded_reduce,
            },
            ml_flags: ffi::METH_NOARGS,
            ml_doc: c"Pickle by qualified name, like a function.".as_ptr(),
        },
        ffi::PyMethodDef::zeroed(),
    ]));
    let slots: &'static mut [ffi::PyType_Slot] = Box::leak(Box::new([
        ffi::PyType_Slot {
            slot: ffi::Py_tp_dealloc,
            pfunc: guarded_dealloc as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_traverse,
            pfunc: guarded_traverse as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_clear,
            pfunc: guarded_clear as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_call,
            pfunc: PyVectorcall_Call as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_descr_get,
            pfunc: guarded_descr_get as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_repr,
            pfunc: guarded_repr as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_members,
            pfunc: members.as_mut_ptr() as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_methods,
            pfunc: methods.as_mut_ptr() as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_getset,
            pfunc: getset.as_mut_ptr() as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_doc,
            pfunc: c"A function guarded by a CircuitBreaker (what @breaker returns). Calling it calls the function through the breaker; for an async function, the call returns a GuardedCoroutine to await.".as_ptr() as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: 0,
            pfunc: null_mut(),
        },
    ]));
    let spec: &'static mut ffi::PyType_Spec = Box::leak(Box::new(ffi::PyType_Spec {
        // The type keeps a pointer to its name: a static string.
        name: c"fusebox.GuardedFunction".as_ptr(),
        basicsize: std::mem::size_of::<GuardedObject>() as c_int,
        itemsize: 0,
        flags: (ffi::Py_TPFLAGS_DEFAULT
            | ffi::Py_TPFLAGS_HAVE_GC
            | HAVE_VECTORCALL
            | METHOD_DESCRIPTOR
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

/// A new `GuardedFunction` calling `func` through `breaker`; with
/// `is_async`, each call returns a `GuardedCoroutine` over `func`'s
/// coroutine (the permit is taken when it starts).
pub fn new_guarded<'py>(
    breaker: &Bound<'py, CircuitBreaker>,
    func: &Bound<'py, PyAny>,
    is_async: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let py = breaker.py();
    let tp = guarded_type(py)?;
    // SAFETY: `tp` is our heap type; PyType_GenericAlloc (its tp_alloc,
    // inherited from object) returns a zero-filled, GC-tracked object of
    // `basicsize` bytes holding a reference to its type, or null with an
    // exception set.
    unsafe {
        let obj = ffi::PyType_GenericAlloc(tp.as_type_ptr(), 0);
        if obj.is_null() {
            return Err(PyErr::fetch(py));
        }
        let g = obj.cast::<GuardedObject>();
        (*g).vectorcall = Some(if is_async {
            guarded_async_vectorcall
        } else {
            guarded_vectorcall
        });
        (*g).breaker = breaker.clone().into_ptr();
        (*g).func = func.clone().into_ptr();
        Ok(Bound::from_owned_ptr(py, obj))
    }
}

/// The fields of a live `GuardedFunction`, or null with an error set.
///
/// # Safety
/// `callable` is one of ours; the GIL is held.
unsafe fn fields(
    py: Python<'_>,
    callable: *mut ffi::PyObject,
) -> Option<(*mut ffi::PyObject, *mut ffi::PyObject)> {
    let g = callable.cast::<GuardedObject>();
    // SAFETY: `breaker` and `func` are strong references kept alive by `g`,
    // which the caller keeps alive during the call; they are null only
    // after tp_clear.
    let (breaker, func) = unsafe { ((*g).breaker, (*g).func) };
    if breaker.is_null() || func.is_null() {
        PyRuntimeError::new_err("GuardedFunction was cleared").restore(py);
        return None;
    }
    Some((breaker, func))
}

/// Run `body`, turning a panic into a Python error (no panic crosses FFI).
#[inline]
fn no_panic(py: Python<'_>, body: impl FnOnce() -> *mut ffi::PyObject) -> *mut ffi::PyObject {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(p) => p,
        Err(_) => {
            PyRuntimeError::new_err("fusebox: internal error (panic) in a guarded call")
                .restore(py);
            null_mut()
        }
    }
}

/// The call: acquire a permit, call the function with the caller's
/// arguments as they are, record the outcome.
unsafe extern "C" fn guarded_vectorcall(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this only with the GIL held (or, free-threaded,
    // attached), and only on objects of our type.
    let py = unsafe { Python::assume_attached() };
    let Some((breaker, func)) = (unsafe { fields(py, callable) }) else {
        return null_mut();
    };
    // SAFETY: live fields; the caller's arguments passed on unchanged.
    no_panic(py, || unsafe {
        guarded_call(py, breaker, func, args, nargsf, kwnames)
    })
}

/// An async function's call: call it (which only makes its coroutine) and
/// wrap the coroutine; the permit is taken when it starts.
unsafe extern "C" fn guarded_async_vectorcall(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as in `guarded_vectorcall`.
    let py = unsafe { Python::assume_attached() };
    let Some((breaker, func)) = (unsafe { fields(py, callable) }) else {
        return null_mut();
    };
    no_panic(py, || {
        // SAFETY: live fields; the caller's arguments passed on unchanged.
        let res = unsafe { PyObject_Vectorcall(func, args, nargsf, kwnames) };
        let call = if res.is_null() {
            Err(PyErr::take(py)
                .unwrap_or_else(|| PyRuntimeError::new_err("function failed without an exception")))
        } else {
            Ok(res)
        };
        // SAFETY: `breaker` is a live CircuitBreaker.
        unsafe { crate::coroutine::new_coroutine(py, breaker, call, None) }
    })
}

/// `func(*args)` through `breaker`: what `@breaker` on a sync function and
/// `breaker.call` do. A call that returns a coroutine hands its permit to a
/// `GuardedCoroutine`, which reports the outcome once it has run.
///
/// # Safety
/// The GIL is held; `breaker` is a live `CircuitBreaker`, `func` a live
/// object; `args`, `nargsf` and `kwnames` follow PEP 590.
pub(crate) unsafe fn guarded_call(
    py: Python<'_>,
    breaker: *mut ffi::PyObject,
    func: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the caller's promise.
    let cb = unsafe { Borrowed::from_ptr(py, breaker).cast_unchecked::<CircuitBreaker>() };
    let this = cb.get();
    let held = match this.inner.acquire_raw() {
        Ok(raw) => Held::new(&this.inner, raw),
        Err(r) => {
            this.rejected(py, r).restore(py);
            return null_mut();
        }
    };
    // No lock is held here: only the permit, a plain value.
    // SAFETY: the caller's promise (PEP 590's, including the
    // PY_VECTORCALL_ARGUMENTS_OFFSET promise, which is the caller's).
    let res = unsafe { PyObject_Vectorcall(func, args, nargsf, kwnames) };
    if !res.is_null() {
        if crate::py_helpers::is_coroutine_ptr(py, res)
            || crate::coroutine::is_guarded_coroutine(py, res)
        {
            let raw = held.take();
            // SAFETY: `breaker` is live; `res` is handed over.
            return unsafe { crate::coroutine::new_coroutine(py, breaker, Ok(res), Some(raw)) };
        }
        held.record(Outcome::Success);
        return res;
    }
    let err = PyErr::take(py)
        .unwrap_or_else(|| PyRuntimeError::new_err("function failed without an exception"));
    this.finish_with_error(py, held, err).restore(py);
    null_mut()
}

unsafe extern "C" fn guarded_traverse(
    slf: *mut ffi::PyObject,
    visit: ffi::visitproc,
    arg: *mut c_void,
) -> c_int {
    let g = slf.cast::<GuardedObject>();
    // SAFETY: called by the GC on an object of our type; fields are strong
    // references or null. A heap type's instances visit their type (3.9+).
    unsafe {
        for p in [(*g).breaker, (*g).func, (*g).dict] {
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

unsafe extern "C" fn guarded_clear(slf: *mut ffi::PyObject) -> c_int {
    let g = slf.cast::<GuardedObject>();
    // SAFETY: our layout; each field is nulled before its reference is
    // dropped, as Py_CLEAR does, so re-entrant code never sees a dead pointer.
    unsafe {
        for field in [
            addr_of_mut!((*g).func),
            addr_of_mut!((*g).dict),
            addr_of_mut!((*g).breaker),
        ] {
            let p = *field;
            if !p.is_null() {
                *field = null_mut();
                ffi::Py_DECREF(p);
            }
        }
    }
    0
}

unsafe extern "C" fn guarded_dealloc(slf: *mut ffi::PyObject) {
    // SAFETY: the standard dealloc sequence of a GC-tracked heap type:
    // untrack, clear weak references, drop fields, free with the type's
    // tp_free, then drop the reference the instance held to its type.
    unsafe {
        let tp = ffi::Py_TYPE(slf);
        ffi::PyObject_GC_UnTrack(slf.cast());
        if !(*slf.cast::<GuardedObject>()).weaklist.is_null() {
            ffi::PyObject_ClearWeakRefs(slf);
        }
        guarded_clear(slf);
        let free = ffi::PyType_GetSlot(tp, ffi::Py_tp_free);
        if !free.is_null() {
            let free: ffi::freefunc = std::mem::transmute::<*mut c_void, ffi::freefunc>(free);
            free(slf.cast());
        }
        ffi::Py_DECREF(tp.cast());
    }
}

/// As a class attribute, bind like a function: `obj.method` is a bound
/// method. (With METHOD_DESCRIPTOR, `obj.method(x)` skips the binding and
/// calls us with `obj` first, which is the same call.)
unsafe extern "C" fn guarded_descr_get(
    slf: *mut ffi::PyObject,
    obj: *mut ffi::PyObject,
    _owner: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held; `slf` is live, `obj` is
    // null or live.
    unsafe {
        let py = Python::assume_attached();
        if obj.is_null() || obj == ffi::Py_None() {
            ffi::Py_INCREF(slf);
            return slf;
        }
        let f = Borrowed::from_ptr(py, slf);
        let o = Borrowed::from_ptr(py, obj);
        match crate::py_helpers::method(&f, &o) {
            Ok(m) => m.into_ptr(),
            Err(e) => {
                e.restore(py);
                null_mut()
            }
        }
    }
}

/// `__reduce__`: the qualified name, so that pickle stores a reference to
/// the module-level decorated function, as it does for functions.
unsafe extern "C" fn guarded_reduce(
    slf: *mut ffi::PyObject,
    _unused: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held on an object of our type.
    unsafe {
        let py = Python::assume_attached();
        match Borrowed::from_ptr(py, slf).getattr(pyo3::intern!(py, "__qualname__")) {
            Ok(v) => v.into_ptr(),
            Err(e) => {
                e.restore(py);
                null_mut()
            }
        }
    }
}

unsafe extern "C" fn guarded_repr(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held on an object of our type.
    unsafe {
        let py = Python::assume_attached();
        let g = slf.cast::<GuardedObject>();
        let (b, f) = ((*g).breaker, (*g).func);
        let s = if b.is_null() || f.is_null() {
            "<fusebox.GuardedFunction (cleared)>".to_string()
        } else {
            let cb = Borrowed::from_ptr(py, b).cast_unchecked::<CircuitBreaker>();
            let func = Borrowed::from_ptr(py, f);
            let fr = match func.repr() {
                Ok(r) => r.to_string(),
                Err(e) => {
                    e.restore(py);
                    return null_mut();
                }
            };
            format!(
                "<fusebox.GuardedFunction {} via {:?}>",
                fr,
                cb.get().inner.name()
            )
        };
        pyo3::types::PyString::new(py, &s).into_ptr()
    }
}
