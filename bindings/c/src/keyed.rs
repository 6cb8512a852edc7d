//! Keyed sets (`fb_keyed_*`): at most `capacity` breakers by key (per
//! host, route or tenant), made on first use with one config; when full,
//! only a breaker that holds no history is evicted, else the lookup fails
//! with `FB_ERR_FULL` (the core's `fusebox::keyed`).
//!
//! Unlike a registry's, a keyed set's breakers may leave it (evicted, or
//! removed), so the set cannot lend them: every breaker handle it hands
//! out holds its own reference (`Arc`) to the breaker, tagged with
//! `KEYED_TAG` and counted in the handles' second table, and is freed
//! with `fb_breaker_free`. A handle stays valid after its breaker left the
//! set, and after the set is freed.

use super::args::{name_arg, not_null, put, put_text};
use super::breaker::{fb_breaker, KEYED_TAG};
use super::clock::{clock_source, fb_clock};
use super::config::{config_arg, config_error, fb_config};
use super::error::fail;
use super::fb_status::{self, *};
use super::handles::{count_out, free, hand_out, take_counted, try_ref, Handle, Kind};
use super::panic::{guard, FfiResult};
use fusebox_core::{Breaker, KeyedBreakers, KeyedError};
use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

/// A bounded set of breakers by key (opaque). Thread-safe.
pub struct fb_keyed {
    _opaque: [u8; 0],
}

// SAFETY: a keyed-set handle is `Box::into_raw` of a `KeyedBreakers` not
// yet freed.
unsafe impl Handle for fb_keyed {
    type Target = KeyedBreakers;
    const ARG: &'static str = "keyed";
    const KIND: Kind = Kind::Keyed;
}

/// A keyed set's counters at one moment (`fb_keyed_stats`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fb_keyed_counts {
    /// Breakers in the set, counting creations in progress (at most
    /// `capacity`).
    pub len: usize,
    /// The most breakers the set holds.
    pub capacity: usize,
    /// Breakers created, all time.
    pub created: u64,
    /// Breakers evicted to make room, all time.
    pub evictions: u64,
    /// Creations refused with `FB_ERR_FULL`, all time.
    pub refusals: u64,
    /// Breakers taken out with `fb_keyed_remove`, all time.
    pub removed: u64,
}

/// The status and message of a keyed-set error; `arg` names the name or
/// key argument.
fn keyed_error(func: &str, arg: &str, e: KeyedError) -> fb_status {
    match e {
        KeyedError::BadName(_) => fail(FB_ERR_INVALID_NAME, format!("{func}: {arg}: {e}")),
        KeyedError::Config(c) if c.field == "capacity" => {
            fail(FB_ERR_INVALID_ARGUMENT, format!("{func}: capacity: {c}"))
        }
        KeyedError::Config(c) => config_error(func, "config", &c),
        KeyedError::Full { .. } => fail(FB_ERR_FULL, format!("{func}: {arg}: {e}")),
    }
}

/// A new handle to `b` for the caller, who frees it with
/// `fb_breaker_free`: one `Arc` reference, counted, tagged.
fn keyed_handle(b: Arc<Breaker>) -> *mut fb_breaker {
    let p = Arc::into_raw(b) as usize;
    debug_assert_eq!(p & KEYED_TAG, 0);
    count_out(p);
    (p | KEYED_TAG) as *mut fb_breaker
}

/// `fb_breaker_free` of a handle tagged [`KEYED_TAG`]: count it back in
/// and release its reference; a handle not out (freed twice) gets
/// `FB_ERR_INVALID_HANDLE` and is not dereferenced.
///
/// # Safety
/// `h` is any pointer value with `KEYED_TAG` set; if it is a live keyed
/// handle, no other thread may be using that handle.
pub(crate) unsafe fn free_keyed_handle(func: &'static str, h: *mut fb_breaker) -> fb_status {
    guard(func, || {
        let p = fb_breaker::target(h);
        take_counted(func, p as usize, "breaker handle from fb_keyed_get*")?;
        // SAFETY: the count proved a handle to `p` was out, i.e. an
        // `Arc::into_raw` reference not yet released; it is counted back
        // in, so this reference is released once.
        drop(unsafe { Arc::from_raw(p) });
        Ok(FB_OK)
    })
}

/// The whole of a lookup by key: check the set, the key, then `out`
/// (unless `out_optional` and NULL), in that order; look the breaker up
/// with `find`; hand out a new handle to it.
///
/// # Safety
/// `keyed` is NULL or a live keyed-set handle; `key` is NULL or a
/// NUL-terminated string; `out` is NULL or writable.
unsafe fn breaker_by_key(
    func: &'static str,
    keyed: *const fb_keyed,
    key: *const c_char,
    out: *mut *mut fb_breaker,
    out_optional: bool,
    find: impl FnOnce(&KeyedBreakers, &str) -> Result<Arc<Breaker>, fb_status>,
) -> fb_status {
    guard(func, || {
        // SAFETY: forwarded from our caller's contract.
        let k = unsafe { try_ref(func, keyed) }?;
        // SAFETY: forwarded from our caller's contract.
        let key = unsafe { name_arg(func, "key", key) }?;
        if !(out_optional && out.is_null()) {
            not_null(func, "out", out)?;
        }
        let b = find(k, key)?;
        if out.is_null() {
            return Ok(FB_OK);
        }
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(func, "out", out, keyed_handle(b)) }
    })
}

/// Make a keyed set called `name` (shown as the `keyed` label of its
/// Prometheus series) of at most `capacity` breakers (1 to 10,000,000),
/// each made on first use with `config`, named after its key, on `clock`
/// (NULL: the system clock). Free it with `fb_keyed_free`.
///
/// A bad name gets `FB_ERR_INVALID_NAME`, a capacity out of range
/// `FB_ERR_INVALID_ARGUMENT`, a bad config `FB_ERR_INVALID_CONFIG`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `config` is NULL or a
/// readable `fb_config`; `clock` is NULL or a live clock handle; `out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_keyed_new(
    name: *const c_char,
    capacity: usize,
    config: *const fb_config,
    clock: *const fb_clock,
    out: *mut *mut fb_keyed,
) -> fb_status {
    const F: &str = "fb_keyed_new";
    guard(F, || {
        not_null(F, "out", out)?;
        // SAFETY: forwarded from our caller's contract.
        let name = unsafe { name_arg(F, "name", name) }?;
        // SAFETY: forwarded from our caller's contract.
        let config = unsafe { config_arg(F, "config", config) }?;
        // SAFETY: forwarded from our caller's contract.
        let source = unsafe { clock_source(clock) };
        let k = KeyedBreakers::new(name, capacity, config, source)
            .map_err(|e| keyed_error(F, "name", e))?;
        let p = Box::into_raw(Box::new(k)) as *mut fb_keyed;
        // SAFETY: checked non-NULL above; the caller guarantees writable.
        unsafe { hand_out(out, p) }
    })
}

/// Aborts the process if dropped while unwinding: [`fb_keyed_set_min_idle_ns`]
/// holds a bitwise copy of the set while it runs.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        std::process::abort();
    }
}

/// Set how long a breaker must go without a lookup before it may be
/// evicted (default 10 s). Set it above your calls' timeout, so that a
/// breaker is not evicted while a call through it is in flight (a handle
/// keeps working after an eviction, but its key's next lookup makes a
/// fresh breaker). A setting: call it after `fb_keyed_new`, before the set
/// is shared.
///
/// # Safety
/// `keyed` is NULL or a live keyed-set handle that no other thread is
/// using during the call.
#[no_mangle]
pub unsafe extern "C" fn fb_keyed_set_min_idle_ns(keyed: *mut fb_keyed, ns: u64) -> fb_status {
    const F: &str = "fb_keyed_set_min_idle_ns";
    guard(F, || {
        not_null(F, "keyed", keyed)?;
        let p = fb_keyed::target(keyed) as *mut KeyedBreakers;
        let bomb = AbortOnUnwind;
        // SAFETY: `p` is a live `Box<KeyedBreakers>` (non-NULL, and our
        // caller's contract) that no other thread uses during the call, so
        // it may be read out and written back. Between the two, `*p` is a
        // stale copy: a panic there (`min_idle` only sets a field and
        // cannot panic) aborts rather than let it be dropped twice.
        unsafe {
            let k = std::ptr::read(p).min_idle(Duration::from_nanos(ns));
            std::ptr::write(p, k);
        }
        std::mem::forget(bomb);
        Ok(FB_OK)
    })
}

/// Free a keyed set made by `fb_keyed_new`. Breaker handles it handed out
/// stay valid (each is freed with `fb_breaker_free`). A pointer that is
/// not a live keyed set (e.g. freed twice) gets `FB_ERR_INVALID_HANDLE`
/// and is not dereferenced.
///
/// # Safety
/// `keyed` is any pointer value; it is only dereferenced if it is a live
/// keyed set made by `fb_keyed_new`, and then no other thread may be using
/// it.
#[no_mangle]
pub unsafe extern "C" fn fb_keyed_free(keyed: *mut fb_keyed) -> fb_status {
    // SAFETY: forwarded from our caller's contract; `free` dereferences
    // only a live keyed set from `fb_keyed_new` (a `Box<KeyedBreakers>`).
    unsafe { free("fb_keyed_free", keyed, None) }
}

/// The breaker of `key` (e.g. a host name), made on first use. When the
/// set is full, a breaker that holds no history (closed, no calls in its
/// window, no failure run, not looked up for the min idle time) is evicted
/// to make room; when none may go, `FB_ERR_FULL` and the set is unchanged.
/// `*out` is a new handle: free it with `fb_breaker_free` (one free per
/// handle; it stays valid after its breaker left the set). Lock-free
/// lookup, plus a short lock to count the handle.
///
/// # Safety
/// `keyed` is NULL or a live keyed-set handle; `key` is NULL or a
/// NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_keyed_get_or_create(
    keyed: *const fb_keyed,
    key: *const c_char,
    out: *mut *mut fb_breaker,
) -> fb_status {
    const F: &str = "fb_keyed_get_or_create";
    let find =
        |k: &KeyedBreakers, key: &str| k.get_or_create(key).map_err(|e| keyed_error(F, "key", e));
    // SAFETY: forwarded from our caller's contract.
    unsafe { breaker_by_key(F, keyed, key, out, false, find) }
}

/// The breaker of `key` if the set holds one, else `FB_ERR_NOT_FOUND`
/// (makes nothing; counts as a use of the key). `*out` is a new handle, as
/// from `fb_keyed_get_or_create`.
///
/// # Safety
/// As for `fb_keyed_get_or_create`.
#[no_mangle]
pub unsafe extern "C" fn fb_keyed_get(
    keyed: *const fb_keyed,
    key: *const c_char,
    out: *mut *mut fb_breaker,
) -> fb_status {
    const F: &str = "fb_keyed_get";
    let find = |k: &KeyedBreakers, key: &str| {
        k.get(key)
            .ok_or_else(|| fail(FB_ERR_NOT_FOUND, format!("{F}: no breaker for key {key:?}")))
    };
    // SAFETY: forwarded from our caller's contract.
    unsafe { breaker_by_key(F, keyed, key, out, false, find) }
}

/// Take `key`'s breaker out of the set, whatever its state
/// (`FB_ERR_NOT_FOUND` if it holds none); the key's next
/// `fb_keyed_get_or_create` makes a fresh one. Handles already out keep
/// working. `out` may be NULL; otherwise `*out` is a new handle to the
/// removed breaker, freed with `fb_breaker_free`.
///
/// # Safety
/// `keyed` is NULL or a live keyed-set handle; `key` is NULL or a
/// NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_keyed_remove(
    keyed: *const fb_keyed,
    key: *const c_char,
    out: *mut *mut fb_breaker,
) -> fb_status {
    const F: &str = "fb_keyed_remove";
    let find = |k: &KeyedBreakers, key: &str| {
        k.remove(key)
            .ok_or_else(|| fail(FB_ERR_NOT_FOUND, format!("{F}: no breaker for key {key:?}")))
    };
    // SAFETY: forwarded from our caller's contract.
    unsafe { breaker_by_key(F, keyed, key, out, true, find) }
}

/// The number of breakers in the set.
///
/// # Safety
/// `keyed` is NULL or a live keyed-set handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_keyed_len(keyed: *const fb_keyed, out: *mut usize) -> fb_status {
    const F: &str = "fb_keyed_len";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let k = unsafe { try_ref(F, keyed) }?;
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "out", out, k.len()) }
    })
}

/// A snapshot of the set's counters.
///
/// # Safety
/// `keyed` is NULL or a live keyed-set handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_keyed_stats(
    keyed: *const fb_keyed,
    out: *mut fb_keyed_counts,
) -> fb_status {
    const F: &str = "fb_keyed_stats";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let k = unsafe { try_ref(F, keyed) }?;
        let s = k.stats();
        let value = fb_keyed_counts {
            len: s.len,
            capacity: s.capacity,
            created: s.created,
            evictions: s.evictions,
            refusals: s.refusals,
            removed: s.removed,
        };
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "out", out, value) }
    })
}

/// Write every breaker's metrics and the set's own series
/// (`fusebox_keyed_breakers`, `_capacity`, `_evictions_total`,
/// `_refusals_total`) in the Prometheus text format into `buf`,
/// NUL-terminated. `*len` is set to the text's length (without the NUL) in
/// every case; when `cap` is too small (`cap < *len + 1`) nothing is
/// written and `FB_ERR_INVALID_ARGUMENT` is returned, so a caller can retry
/// with a buffer of `*len + 1` bytes. `buf` may be NULL when `cap` is 0.
///
/// # Safety
/// `keyed` is NULL or a live keyed-set handle; `buf` is NULL or writable
/// for `cap` bytes; `len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_keyed_prometheus(
    keyed: *const fb_keyed,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> fb_status {
    const F: &str = "fb_keyed_prometheus";
    guard(F, || -> FfiResult {
        // SAFETY: forwarded from our caller's contract.
        let k = unsafe { try_ref(F, keyed) }?;
        let text = k.prometheus();
        // SAFETY: forwarded from our caller's contract.
        unsafe { put_text(F, &text, buf, cap, len) }
    })
}
