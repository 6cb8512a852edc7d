//! Live reconfiguration (`fb_breaker_reconfigure`, `fb_registry_reconfigure`)
//! and reading a breaker's settings back (`fb_breaker_config`); see
//! `docs/semantics.md#live-reconfiguration`.

use super::args::{name_arg, put};
use super::breaker::fb_breaker;
use super::config::{config_arg, config_error, config_to_c, fb_config};
use super::fb_status::{self, *};
use super::handles::try_ref;
use super::panic::guard;
use super::registry::{fb_registry, registry_error};
use fusebox_core::Unit;
use std::ffi::c_char;

/// Write `tripped` through an optional out-pointer.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn put_tripped(out: *mut bool, tripped: bool) {
    if !out.is_null() {
        // SAFETY: checked non-NULL; the caller guarantees writable.
        unsafe { out.write(tripped) };
    }
}

/// Change the breaker's settings in place to `config` (fill it with
/// `fb_breaker_config`, change what you need): the state, the window's
/// counts and the counters are kept, and the window is judged at once under
/// the new thresholds (`*tripped`, if not NULL, says whether that tripped
/// it). `FB_ERR_INVALID_CONFIG` for a config a new breaker would refuse, or
/// another window (type, duration, buckets or size: fixed when the breaker
/// is made), or a shared-memory breaker; nothing is changed then.
///
/// # Safety
/// `breaker` is NULL or a live breaker handle; `config` is NULL or a
/// readable `fb_config`; `tripped` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_breaker_reconfigure(
    breaker: *const fb_breaker,
    config: *const fb_config,
    tripped: *mut bool,
) -> fb_status {
    const F: &str = "fb_breaker_reconfigure";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let b = unsafe { try_ref(F, breaker) }?;
        // SAFETY: forwarded from our caller's contract.
        let config = unsafe { config_arg(F, "config", config) }?;
        let done = b
            .reconfigure_in(config, Unit::Nanos)
            .map_err(|e| config_error(F, "config", &e))?;
        // SAFETY: forwarded from our caller's contract.
        unsafe { put_tripped(tripped, done.tripped) };
        Ok(FB_OK)
    })
}

/// The breaker's settings now, into `*out`.
///
/// # Safety
/// `breaker` is NULL or a live breaker handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_breaker_config(
    breaker: *const fb_breaker,
    out: *mut fb_config,
) -> fb_status {
    const F: &str = "fb_breaker_config";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let b = unsafe { try_ref(F, breaker) }?;
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "out", out, config_to_c(&b.config())) }
    })
}

/// Reconfigure the breaker called `name` in place when it exists (as
/// `fb_breaker_reconfigure`), and make `config` the name's config for a
/// later creation (as `fb_registry_configure`). `*tripped` (if not NULL) is
/// false when no breaker had that name.
///
/// # Safety
/// `registry` is NULL or a live registry handle; `name` is NULL or a
/// NUL-terminated string; `config` is NULL or a readable `fb_config`;
/// `tripped` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_reconfigure(
    registry: *const fb_registry,
    name: *const c_char,
    config: *const fb_config,
    tripped: *mut bool,
) -> fb_status {
    const F: &str = "fb_registry_reconfigure";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let r = unsafe { try_ref(F, registry) }?;
        // SAFETY: forwarded from our caller's contract.
        let name = unsafe { name_arg(F, "name", name) }?;
        // SAFETY: forwarded from our caller's contract.
        let config = unsafe { config_arg(F, "config", config) }?;
        let done = match r.get(name) {
            // The breaker first (its window), so a refusal changes nothing.
            Some(b) => Some(
                b.reconfigure_in(config.clone(), Unit::Nanos)
                    .map_err(|e| config_error(F, "config", &e))?,
            ),
            None => None,
        };
        r.configure(name, config)
            .map_err(|e| registry_error(F, e))?;
        // SAFETY: forwarded from our caller's contract.
        unsafe { put_tripped(tripped, done.is_some_and(|d| d.tripped)) };
        Ok(FB_OK)
    })
}
