//! Last-error storage: the thread-local message behind `fb_last_error`,
//! and the functions that set it.

use super::fb_status::{self, *};
use super::panic::guard_ptr;
use std::cell::RefCell;
use std::ffi::{c_char, CString};

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Record `msg` as this thread's last error and return `status`.
#[cold]
pub(crate) fn fail(status: fb_status, msg: String) -> fb_status {
    let msg = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    // try_with: during thread teardown the slot may be gone; the status
    // still says what happened.
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = msg);
    status
}

/// `FB_ERR_NULL_POINTER`: `func`'s argument `arg` is NULL.
#[cold]
pub(crate) fn null_arg(func: &str, arg: &str) -> fb_status {
    fail(FB_ERR_NULL_POINTER, format!("{func}: {arg} is NULL"))
}

/// The message of the last error on the calling thread (each thread has
/// its own): it names the function, the argument and what was wrong. Set
/// by every function that returns an error status, left unchanged by the
/// others (like `errno`). Never NULL (an empty string before any error);
/// valid until the next error on this thread. One of the three functions
/// that cannot fail and so return no status.
#[no_mangle]
pub extern "C" fn fb_last_error() -> *const c_char {
    guard_ptr(|| {
        LAST_ERROR
            .try_with(|e| e.borrow().as_ptr())
            .unwrap_or(c"".as_ptr())
    })
}
