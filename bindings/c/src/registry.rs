//! Registries (`fb_registry_*`): breakers by name, made on first use and
//! owned by the registry.

use super::args::{name_arg, not_null, put, put_text};
use super::breaker::{fb_breaker, REGISTRY_TAG};
use super::clock::{clock_source, fb_clock};
use super::config::{config_arg, config_error, fb_config};
use super::error::fail;
use super::fb_status::{self, *};
use super::handles::{free, hand_out, try_ref, Handle, Kind};
use super::panic::guard;
use fusebox_core::{Breaker, Registry, RegistryError};
use std::ffi::c_char;
use std::sync::Arc;

/// A set of breakers by name (opaque). Thread-safe.
pub struct fb_registry {
    _opaque: [u8; 0],
}

// SAFETY: a registry handle is `Box::into_raw` of a `Registry` not yet
// freed, or `Registry::global()`, which lives for the whole process.
unsafe impl Handle for fb_registry {
    type Target = Registry;
    const ARG: &'static str = "registry";
    const KIND: Kind = Kind::Registry;
}

/// The status and message of a registry error (also a bad name given to
/// `fb_breaker_new_named`).
pub(crate) fn registry_error(func: &str, e: RegistryError) -> fb_status {
    match e {
        RegistryError::BadName(_) => fail(FB_ERR_INVALID_NAME, format!("{func}: name: {e}")),
        RegistryError::Config(c) => config_error(func, "config", &c),
    }
}

/// A handle for a breaker the registry keeps: tagged so that
/// `fb_breaker_free` refuses it.
pub(crate) fn registry_handle(b: &Arc<Breaker>) -> *mut fb_breaker {
    let p = Arc::as_ptr(b) as usize;
    debug_assert_eq!(p & REGISTRY_TAG, 0);
    (p | REGISTRY_TAG) as *mut fb_breaker
}

/// The whole of a by-name lookup (`fb_registry_get*`, `fb_shared_get*`):
/// check the registry, the name, then `more` (a config, for those that
/// take one) and `out`, in that order; look the breaker up with `find`;
/// hand out its tagged handle.
///
/// # Safety
/// `registry` is NULL or a live handle of its kind; `name` is NULL or a
/// NUL-terminated string; `out` is NULL or writable.
pub(crate) unsafe fn breaker_by_name<H: Handle, A>(
    func: &'static str,
    registry: *const H,
    name: *const c_char,
    out: *mut *mut fb_breaker,
    more: impl FnOnce() -> Result<A, fb_status>,
    find: impl FnOnce(&H::Target, &str, A) -> Result<Arc<Breaker>, fb_status>,
) -> fb_status {
    guard(func, || {
        // SAFETY: forwarded from our caller's contract.
        let r = unsafe { try_ref(func, registry) }?;
        // SAFETY: forwarded from our caller's contract.
        let name = unsafe { name_arg(func, "name", name) }?;
        let more = more()?;
        not_null(func, "out", out)?;
        let b = find(r, name, more)?;
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(func, "out", out, registry_handle(&b)) }
    })
}

/// Make a registry whose breakers use `default_config` (unless configured
/// by name with `fb_registry_configure`), all on `clock` (NULL: the system
/// clock). Free it with `fb_registry_free`.
///
/// # Safety
/// `default_config` is NULL or a readable `fb_config`; `clock` is NULL or a
/// live clock handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_new(
    default_config: *const fb_config,
    clock: *const fb_clock,
    out: *mut *mut fb_registry,
) -> fb_status {
    const F: &str = "fb_registry_new";
    guard(F, || {
        not_null(F, "out", out)?;
        // SAFETY: forwarded from our caller's contract.
        let config = unsafe { config_arg(F, "default_config", default_config) }?;
        // SAFETY: forwarded from our caller's contract.
        let source = unsafe { clock_source(clock) };
        let p = Box::into_raw(Box::new(Registry::new(config, source))) as *mut fb_registry;
        // SAFETY: checked non-NULL above; the caller guarantees writable.
        unsafe { hand_out(out, p) }
    })
}

/// The process-wide registry (system clock, default config). It lives until
/// the process ends: `fb_registry_free` refuses it with `FB_ERR_NOT_OWNED`.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_global(out: *mut *mut fb_registry) -> fb_status {
    const F: &str = "fb_registry_global";
    guard(F, || {
        let p = Registry::global() as *const Registry as *mut fb_registry;
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "out", out, p) }
    })
}

/// Free a registry made by `fb_registry_new`, and every breaker in it:
/// their handles must not be used afterwards. The global registry gets
/// `FB_ERR_NOT_OWNED`; a pointer that is not a live registry (e.g. freed
/// twice) gets `FB_ERR_INVALID_HANDLE`; neither is dereferenced.
///
/// # Safety
/// `registry` is any pointer value; it is only dereferenced if it is a live
/// registry made by `fb_registry_new`, and then no other thread may be
/// using it or its breakers.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_free(registry: *mut fb_registry) -> fb_status {
    let owned = std::ptr::eq(registry as *const Registry, Registry::global())
        .then_some("the global registry lives as long as the process");
    // SAFETY: forwarded from our caller's contract; `free` dereferences
    // only a live registry from `fb_registry_new` (a `Box<Registry>`).
    unsafe { free("fb_registry_free", registry, owned) }
}

/// Set the config used for names not configured one by one. Breakers
/// already made keep theirs.
///
/// # Safety
/// `registry` is NULL or a live registry handle; `config` is NULL or a
/// readable `fb_config`.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_set_default(
    registry: *const fb_registry,
    config: *const fb_config,
) -> fb_status {
    const F: &str = "fb_registry_set_default";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let r = unsafe { try_ref(F, registry) }?;
        // SAFETY: forwarded from our caller's contract.
        let config = unsafe { config_arg(F, "config", config) }?;
        r.set_default(config).map_err(|e| registry_error(F, e))?;
        Ok(FB_OK)
    })
}

/// Set the config of the breaker called `name`, used when it is made.
///
/// # Safety
/// `registry` is NULL or a live registry handle; `name` is NULL or a
/// NUL-terminated string; `config` is NULL or a readable `fb_config`.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_configure(
    registry: *const fb_registry,
    name: *const c_char,
    config: *const fb_config,
) -> fb_status {
    const F: &str = "fb_registry_configure";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let r = unsafe { try_ref(F, registry) }?;
        // SAFETY: forwarded from our caller's contract.
        let name = unsafe { name_arg(F, "name", name) }?;
        // SAFETY: forwarded from our caller's contract.
        let config = unsafe { config_arg(F, "config", config) }?;
        r.configure(name, config)
            .map_err(|e| registry_error(F, e))?;
        Ok(FB_OK)
    })
}

/// The breaker called `name` (e.g. `"user-service:getUser"`), made on first
/// use. The handle stays valid as long as the registry; it belongs to the
/// registry (`fb_breaker_free` refuses it). Lock-free once the breaker
/// exists.
///
/// # Safety
/// `registry` is NULL or a live registry handle; `name` is NULL or a
/// NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_get_or_create(
    registry: *const fb_registry,
    name: *const c_char,
    out: *mut *mut fb_breaker,
) -> fb_status {
    const F: &str = "fb_registry_get_or_create";
    let find =
        |r: &Registry, name: &str, ()| r.get_or_create(name).map_err(|e| registry_error(F, e));
    // SAFETY: forwarded from our caller's contract.
    unsafe { breaker_by_name(F, registry, name, out, || Ok(()), find) }
}

/// As `fb_registry_get_or_create`, making the breaker with `config` if it
/// does not exist yet (an existing breaker keeps its own config).
///
/// # Safety
/// As for `fb_registry_get_or_create`; `config` is NULL or a readable
/// `fb_config`.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_get_or_create_with(
    registry: *const fb_registry,
    name: *const c_char,
    config: *const fb_config,
    out: *mut *mut fb_breaker,
) -> fb_status {
    const F: &str = "fb_registry_get_or_create_with";
    // SAFETY: forwarded from our caller's contract.
    let config = || unsafe { config_arg(F, "config", config) };
    let find = |r: &Registry, name: &str, config| {
        r.get_or_create_with(name, config)
            .map_err(|e| registry_error(F, e))
    };
    // SAFETY: forwarded from our caller's contract.
    unsafe { breaker_by_name(F, registry, name, out, config, find) }
}

/// The breaker called `name` if it exists, else `FB_ERR_NOT_FOUND`.
/// Lock-free.
///
/// # Safety
/// As for `fb_registry_get_or_create`.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_get(
    registry: *const fb_registry,
    name: *const c_char,
    out: *mut *mut fb_breaker,
) -> fb_status {
    const F: &str = "fb_registry_get";
    let find = |r: &Registry, name: &str, ()| {
        r.get(name)
            .ok_or_else(|| fail(FB_ERR_NOT_FOUND, format!("{F}: no breaker named {name:?}")))
    };
    // SAFETY: forwarded from our caller's contract.
    unsafe { breaker_by_name(F, registry, name, out, || Ok(()), find) }
}

/// The number of breakers in the registry.
///
/// # Safety
/// `registry` is NULL or a live registry handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_len(
    registry: *const fb_registry,
    out: *mut usize,
) -> fb_status {
    const F: &str = "fb_registry_len";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let r = unsafe { try_ref(F, registry) }?;
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "out", out, r.len()) }
    })
}

/// Write every breaker of the registry in the Prometheus text format
/// (`fusebox_*`, one series per breaker, names escaped) into
/// `buf`, NUL-terminated: the core's one writer, as Rust's
/// `Registry::prometheus` and Node's `registry.prometheus()` give it.
/// `*len` is set to the text's length (without the NUL) in every case; when
/// `cap` is too small (`cap < *len + 1`) nothing is written and
/// `FB_ERR_INVALID_ARGUMENT` is returned, so a caller can retry with a
/// buffer of `*len + 1` bytes. `buf` may be NULL when `cap` is 0.
///
/// # Safety
/// `registry` is NULL or a live registry handle; `buf` is NULL or writable
/// for `cap` bytes; `len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_prometheus(
    registry: *const fb_registry,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> fb_status {
    const F: &str = "fb_registry_prometheus";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let r = unsafe { try_ref(F, registry) }?;
        let text = r.prometheus();
        // SAFETY: forwarded from our caller's contract.
        unsafe { put_text(F, &text, buf, cap, len) }
    })
}
