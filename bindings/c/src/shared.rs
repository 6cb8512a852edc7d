//! Shared-memory breakers in the C ABI (`fb_shared_*`): one breaker for
//! every process on a host — pre-forked servers, worker pools — in a
//! memory-mapped file. A thin layer over [`fusebox_core::shm`], following the
//! rules of the rest of the ABI (status codes, `fb_last_error`, no panic
//! across the boundary, bad pointers reported).
//!
//! Breakers handed out by a shared registry are ordinary `fb_breaker`
//! handles: `fb_breaker_acquire`, `fb_permit_record` and the rest work on
//! them unchanged, allocation-free and lock-free. Open the registry before
//! `fork()` and the children use the same handles; or open the same path in
//! each process.

use super::args::{not_null, put};
use super::breaker::fb_breaker;
use super::config::{config_arg, config_error, fb_config};
use super::error::fail;
use super::fb_status::{self, *};
use super::handles::{free, hand_out, try_ref, Handle, Kind};
use super::panic::guard;
use super::registry::breaker_by_name;
use fusebox_core::shm::{SharedManualClock, SharedRegistry, ShmError};
use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A shared registry (opaque): breakers in a memory-mapped file that every
/// process opening the same path shares. Made by `fb_shared_open`, freed
/// with `fb_shared_free`. Thread-safe, and usable in a child after `fork()`.
pub struct fb_shared_registry {
    _opaque: [u8; 0],
}

/// A manual clock that lives in a file (opaque), so that several processes
/// see one time: for deterministic tests of multi-process code. Made by
/// `fb_shared_clock_open`, freed with `fb_shared_clock_free`.
pub struct fb_shared_clock {
    _opaque: [u8; 0],
}

// SAFETY: a live handle is `Box::into_raw` of a `SharedRegistry` not yet
// freed.
unsafe impl Handle for fb_shared_registry {
    type Target = SharedRegistry;
    const ARG: &'static str = "registry";
    const KIND: Kind = Kind::SharedRegistry;
}

// SAFETY: a live handle is `Arc::into_raw` of an `Arc<SharedManualClock>`
// not yet released.
unsafe impl Handle for fb_shared_clock {
    type Target = SharedManualClock;
    const ARG: &'static str = "clock";
    const KIND: Kind = Kind::SharedClock;

    unsafe fn drop_live(h: *mut fb_shared_clock) {
        // SAFETY: the caller guarantees an `Arc::into_raw` pointer not yet
        // released, released once.
        drop(unsafe { Arc::from_raw(fb_shared_clock::target(h)) });
    }
}

/// How to create a shared registry file (used only when `fb_shared_open`
/// creates it; an existing file keeps its own). Always start from
/// `fb_shared_options_default`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fb_shared_options {
    /// `sizeof(fb_shared_options)`, set by `fb_shared_options_default`.
    pub size: u32,
    /// Breaker slots, 1..=1048576. Default 64.
    pub capacity: u32,
    /// Bytes for the breakers' counters; 0 (default): room for `capacity`
    /// breakers of the default config.
    pub data_bytes: u64,
    /// Counter stripes per breaker (rounded up to a power of two, at most
    /// 64); 0 (default): one per core, at most 16.
    pub stripes: u32,
    /// Permission bits of a created file (less the umask). Default 0600.
    pub mode: u32,
}

fn shm_error(func: &str, e: ShmError) -> fb_status {
    let status = match &e {
        ShmError::Io { .. } => FB_ERR_IO,
        ShmError::NotARegistry { .. }
        | ShmError::Version { .. }
        | ShmError::StaleBoot { .. }
        | ShmError::Corrupt { .. } => FB_ERR_BAD_FILE,
        ShmError::ConfigMismatch { .. } => FB_ERR_CONFIG_MISMATCH,
        ShmError::Full { .. } | ShmError::OutOfSpace { .. } => FB_ERR_FULL,
        ShmError::Busy { .. } => FB_ERR_BUSY,
        ShmError::BadName(_) => FB_ERR_INVALID_NAME,
        ShmError::BadOption { option, .. } => {
            return fail(
                FB_ERR_INVALID_ARGUMENT,
                format!("{func}: options.{option}: {e}"),
            )
        }
        ShmError::Config(c) => return config_error(func, "config", c),
    };
    fail(status, format!("{func}: {e}"))
}

/// A path argument (any bytes but NUL: unix paths need not be UTF-8).
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
unsafe fn path_arg<'a>(func: &str, path: *const c_char) -> Result<&'a Path, fb_status> {
    not_null(func, "path", path)?;
    // SAFETY: non-NULL, and the caller guarantees a NUL-terminated string
    // that outlives this call.
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    if bytes.is_empty() {
        return Err(fail(
            FB_ERR_INVALID_ARGUMENT,
            format!("{func}: path is empty"),
        ));
    }
    Ok(Path::new(OsStr::from_bytes(bytes)))
}

/// # Safety
/// `h` is a live, non-NULL handle from `fb_shared_clock_open`.
unsafe fn clock_arc(h: *const fb_shared_clock) -> Arc<SharedManualClock> {
    let p = fb_shared_clock::target(h);
    // SAFETY: `p` came from `Arc::into_raw` and that reference is still held
    // (the handle is live), so adding one more is sound.
    unsafe {
        Arc::increment_strong_count(p);
        Arc::from_raw(p)
    }
}

fn options_default() -> fb_shared_options {
    fb_shared_options {
        size: std::mem::size_of::<fb_shared_options>() as u32,
        capacity: fusebox_core::shm::DEFAULT_CAPACITY as u32,
        data_bytes: 0,
        stripes: 0,
        mode: 0o600,
    }
}

/// Fill `options` with the defaults: 64 slots, room for 64 breakers of the
/// default config, one counter stripe per core, mode 0600.
///
/// # Safety
/// `options` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_shared_options_default(options: *mut fb_shared_options) -> fb_status {
    const F: &str = "fb_shared_options_default";
    // SAFETY: forwarded from our caller's contract.
    guard(F, || unsafe {
        put(F, "options", options, options_default())
    })
}

/// Open the shared registry at `path`, creating it if it does not exist
/// (atomically: of processes racing to create it, one does and the others
/// open its file). `options` (NULL: the defaults) are used only when the
/// file is created. `clock` NULL: `CLOCK_MONOTONIC`, which every process on
/// the host shares; or a shared manual clock, for tests. Errors:
/// `FB_ERR_IO` (the file cannot be made or opened), `FB_ERR_BAD_FILE` (not a
/// fusebox registry, or made by another layout version, or before the last
/// boot), `FB_ERR_INVALID_ARGUMENT` (an option out of range). Free with
/// `fb_shared_free`; the file stays.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `options` is NULL or a
/// readable `fb_shared_options`; `clock` is NULL or a live shared clock;
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_shared_open(
    path: *const c_char,
    options: *const fb_shared_options,
    clock: *const fb_shared_clock,
    out: *mut *mut fb_shared_registry,
) -> fb_status {
    const F: &str = "fb_shared_open";
    guard(F, || {
        not_null(F, "out", out)?;
        // SAFETY: forwarded from our caller's contract.
        let path = unsafe { path_arg(F, path) }?;
        // SAFETY: the caller guarantees NULL or a readable struct.
        let o = unsafe { options.as_ref() }
            .copied()
            .unwrap_or_else(options_default);
        if o.size != std::mem::size_of::<fb_shared_options>() as u32 {
            return Err(fail(
                FB_ERR_INVALID_ARGUMENT,
                format!(
                    "{F}: options.size is {}: fill the options with fb_shared_options_default first",
                    o.size
                ),
            ));
        }
        let mut b = SharedRegistry::builder()
            .capacity(o.capacity as usize)
            .mode(o.mode);
        if o.data_bytes != 0 {
            b = b.data_bytes(o.data_bytes);
        }
        if o.stripes != 0 {
            b = b.stripes(o.stripes as usize);
        }
        if !clock.is_null() {
            // SAFETY: non-NULL, and the caller guarantees a live handle.
            b = b.clock(unsafe { clock_arc(clock) });
        }
        let r = b.open(path).map_err(|e| shm_error(F, e))?;
        let p = Box::into_raw(Box::new(r)) as *mut fb_shared_registry;
        // SAFETY: checked non-NULL above; the caller guarantees writable.
        unsafe { hand_out(out, p) }
    })
}

/// Close this process's handle on a shared registry; the breakers it handed
/// out must not be used afterwards (the file and its breakers stay, for the
/// other processes and the next open). A pointer that is not a live shared
/// registry (e.g. freed twice) gets `FB_ERR_INVALID_HANDLE`.
///
/// # Safety
/// `registry` is any pointer value; it is only dereferenced if it is a live
/// shared registry, and then no other thread may be using it or its
/// breakers.
#[no_mangle]
pub unsafe extern "C" fn fb_shared_free(registry: *mut fb_shared_registry) -> fb_status {
    // SAFETY: forwarded from our caller's contract; `free` dereferences
    // only a live `Box<SharedRegistry>` from `fb_shared_open`.
    unsafe { free("fb_shared_free", registry, None) }
}

/// The breaker `name`, created with `config` if the file does not hold it
/// yet. If it does, its stored config must equal `config`:
/// `FB_ERR_CONFIG_MISMATCH` otherwise (the message names the fields that
/// differ). `FB_ERR_FULL`: no free slot or no room left in the file. The
/// handle belongs to the registry (never freed by the caller).
///
/// # Safety
/// `registry` is NULL or a live shared registry; `name` is NULL or a
/// NUL-terminated string; `config` is NULL or a readable `fb_config`; `out`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_shared_get_or_create(
    registry: *const fb_shared_registry,
    name: *const c_char,
    config: *const fb_config,
    out: *mut *mut fb_breaker,
) -> fb_status {
    const F: &str = "fb_shared_get_or_create";
    // SAFETY: forwarded from our caller's contract.
    let config = || unsafe { config_arg(F, "config", config) };
    let find = |r: &SharedRegistry, name: &str, config| {
        r.get_or_create(name, &config).map_err(|e| shm_error(F, e))
    };
    // SAFETY: forwarded from our caller's contract.
    unsafe { breaker_by_name(F, registry, name, out, config, find) }
}

/// The breaker `name` with the config stored in the file, or
/// `FB_ERR_NOT_FOUND`.
///
/// # Safety
/// `registry` is NULL or a live shared registry; `name` is NULL or a
/// NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_shared_get(
    registry: *const fb_shared_registry,
    name: *const c_char,
    out: *mut *mut fb_breaker,
) -> fb_status {
    const F: &str = "fb_shared_get";
    let find = |r: &SharedRegistry, name: &str, ()| {
        r.get(name).map_err(|e| shm_error(F, e))?.ok_or_else(|| {
            fail(
                FB_ERR_NOT_FOUND,
                format!("{F}: no breaker named {name:?} in {}", r.path().display()),
            )
        })
    };
    // SAFETY: forwarded from our caller's contract.
    unsafe { breaker_by_name(F, registry, name, out, || Ok(()), find) }
}

/// The registry's number of breaker slots (fixed when the file was made).
///
/// # Safety
/// `registry` is NULL or a live shared registry; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_shared_capacity(
    registry: *const fb_shared_registry,
    out: *mut u32,
) -> fb_status {
    const F: &str = "fb_shared_capacity";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let r = unsafe { try_ref(F, registry) }?;
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "out", out, r.capacity() as u32) }
    })
}

/// Whether this handle created the file (of processes racing to create it,
/// exactly one did).
///
/// # Safety
/// `registry` is NULL or a live shared registry; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_shared_created(
    registry: *const fb_shared_registry,
    out: *mut bool,
) -> fb_status {
    const F: &str = "fb_shared_created";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let r = unsafe { try_ref(F, registry) }?;
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "out", out, r.created()) }
    })
}

/// Open (or create) a manual clock in the file at `path`, starting at 1 s:
/// every process that opens the same path reads one time, moved by
/// `fb_shared_clock_advance`. For tests; give it to `fb_shared_open`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_shared_clock_open(
    path: *const c_char,
    out: *mut *mut fb_shared_clock,
) -> fb_status {
    const F: &str = "fb_shared_clock_open";
    guard(F, || {
        not_null(F, "out", out)?;
        // SAFETY: forwarded from our caller's contract.
        let path = unsafe { path_arg(F, path) }?;
        let c = SharedManualClock::open(path)
            .map_err(|e| fail(FB_ERR_IO, format!("{F}: {}: {e}", path.display())))?;
        let p = Arc::into_raw(c) as *mut fb_shared_clock;
        // SAFETY: checked non-NULL above; the caller guarantees writable.
        unsafe { hand_out(out, p) }
    })
}

/// Move the shared clock forward by `ns` nanoseconds, for every process.
///
/// # Safety
/// `clock` is NULL or a live shared clock.
#[no_mangle]
pub unsafe extern "C" fn fb_shared_clock_advance(
    clock: *const fb_shared_clock,
    ns: u64,
) -> fb_status {
    const F: &str = "fb_shared_clock_advance";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let c = unsafe { try_ref(F, clock) }?;
        c.advance(Duration::from_nanos(ns));
        Ok(FB_OK)
    })
}

/// Free this process's handle on a shared clock (registries opened on it
/// keep theirs).
///
/// # Safety
/// `clock` is any pointer value; it is only dereferenced if it is a live
/// shared clock.
#[no_mangle]
pub unsafe extern "C" fn fb_shared_clock_free(clock: *mut fb_shared_clock) -> fb_status {
    // SAFETY: forwarded from our caller's contract; `free` dereferences
    // only a live shared clock from `fb_shared_clock_open`.
    unsafe { free("fb_shared_clock_free", clock, None) }
}
