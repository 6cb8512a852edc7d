//! Status codes (`fb_status`), their names, and the library version: the
//! static strings of the ABI.

use super::panic::guard_ptr;
use std::ffi::{c_char, CStr};

/// What every fallible function returns. `FB_OK` (0) and `FB_REJECTED` (1)
/// are not errors; every other value is, and `fb_last_error()` then says what
/// went wrong, naming the function and the argument.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum fb_status {
    /// Success.
    FB_OK = 0,
    /// `fb_breaker_acquire` only: the breaker did not admit the call (see
    /// the `fb_rejection` it filled). Not an error: `fb_last_error()` is not
    /// changed.
    FB_REJECTED = 1,
    /// A required pointer argument is NULL.
    FB_ERR_NULL_POINTER = 2,
    /// A name is not valid UTF-8.
    FB_ERR_INVALID_UTF8 = 3,
    /// A setting in an `fb_config` is out of range, or the struct was not
    /// filled by `fb_config_default` first.
    FB_ERR_INVALID_CONFIG = 4,
    /// A name is empty or longer than 256 bytes.
    FB_ERR_INVALID_NAME = 5,
    /// Another argument is out of range (e.g. an unknown outcome).
    FB_ERR_INVALID_ARGUMENT = 6,
    /// The pointer given to a `*_free` function is not a live object made
    /// by this library (freed twice, or never made by it).
    FB_ERR_INVALID_HANDLE = 7,
    /// The object belongs to the library (a breaker owned by a registry,
    /// the global registry) and must not be freed by the caller.
    FB_ERR_NOT_OWNED = 8,
    /// `fb_registry_get`, `fb_keyed_get`, `fb_keyed_remove`: no breaker has
    /// that name or key.
    FB_ERR_NOT_FOUND = 9,
    /// The permit was already given an outcome or released, or was not
    /// admitted (kind `outcome_already_recorded`).
    FB_ERR_PERMIT_USED = 10,
    /// An internal error (a Rust panic, caught at the boundary).
    FB_ERR_PANIC = 11,
    /// `fb_shared_*`: the file could not be made, opened or mapped.
    FB_ERR_IO = 12,
    /// `fb_shared_open`: the file is not a fusebox shared registry, or was
    /// made by another layout version, or before the host last booted.
    FB_ERR_BAD_FILE = 13,
    /// `fb_shared_get_or_create`: the breaker exists in the file with
    /// another config.
    FB_ERR_CONFIG_MISMATCH = 14,
    /// `fb_shared_get_or_create`: no free slot or no room left in the file.
    /// `fb_keyed_get_or_create`: the set is at capacity and no breaker in
    /// it may be evicted (each is open, failing or recently used).
    FB_ERR_FULL = 15,
    /// `fb_shared_get_or_create`: another live process has been creating
    /// the same breaker for seconds (stopped?).
    FB_ERR_BUSY = 16,
}

static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library version, e.g. `"0.1.0"` (a static string).
#[no_mangle]
pub extern "C" fn fb_version() -> *const c_char {
    // Guarded like every export, though nothing here can panic.
    guard_ptr(|| VERSION.as_ptr() as *const c_char)
}

/// The name of a status code, e.g. `"FB_ERR_NULL_POINTER"` (a static
/// string; `"FB_UNKNOWN_STATUS"` for a value that is not a status).
#[no_mangle]
pub extern "C" fn fb_status_name(status: i32) -> *const c_char {
    guard_ptr(|| status_name(status).as_ptr())
}

fn status_name(status: i32) -> &'static CStr {
    match status {
        0 => c"FB_OK",
        1 => c"FB_REJECTED",
        2 => c"FB_ERR_NULL_POINTER",
        3 => c"FB_ERR_INVALID_UTF8",
        4 => c"FB_ERR_INVALID_CONFIG",
        5 => c"FB_ERR_INVALID_NAME",
        6 => c"FB_ERR_INVALID_ARGUMENT",
        7 => c"FB_ERR_INVALID_HANDLE",
        8 => c"FB_ERR_NOT_OWNED",
        9 => c"FB_ERR_NOT_FOUND",
        10 => c"FB_ERR_PERMIT_USED",
        11 => c"FB_ERR_PANIC",
        12 => c"FB_ERR_IO",
        13 => c"FB_ERR_BAD_FILE",
        14 => c"FB_ERR_CONFIG_MISMATCH",
        15 => c"FB_ERR_FULL",
        16 => c"FB_ERR_BUSY",
        _ => c"FB_UNKNOWN_STATUS",
    }
}
