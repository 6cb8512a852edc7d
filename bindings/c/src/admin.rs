//! The admin endpoint (`fb_admin_*`): fusebox-admin's server over a
//! registry, started and stopped from C.

use super::args::{name_arg, not_null, put_text};
use super::error::fail;
use super::fb_status::{self, *};
use super::handles::{free, hand_out, try_ref, Handle, Kind};
use super::panic::guard;
use super::registry::fb_registry;
use fusebox_admin::{AdminConfig, AdminHandle};
use fusebox_core::Registry;
use std::ffi::c_char;
use std::net::SocketAddr;
use std::ops::Deref;

/// A running admin endpoint (opaque): `/metrics`, `/breakers`, `/events`
/// and the dashboard page over one registry.
pub struct fb_admin {
    _opaque: [u8; 0],
}

// SAFETY: an admin handle is `Box::into_raw` of an `AdminHandle` not yet
// stopped.
unsafe impl Handle for fb_admin {
    type Target = AdminHandle;
    const ARG: &'static str = "admin";
    const KIND: Kind = Kind::Admin;
}

/// The registry behind a C handle, for the server's threads. `fb_admin_start`'s
/// contract keeps it alive until `fb_admin_stop` has joined them.
struct Borrowed(*const Registry);

// SAFETY: `Registry` is `Sync`; the pointer is only read through `&Registry`,
// and the caller keeps the registry alive while the server runs.
unsafe impl Send for Borrowed {}
// SAFETY: as above.
unsafe impl Sync for Borrowed {}

impl Deref for Borrowed {
    type Target = Registry;
    fn deref(&self) -> &Registry {
        // SAFETY: live for as long as the server (fb_admin_start's contract).
        unsafe { &*self.0 }
    }
}

/// Serve `registry` over HTTP on `address` (`"127.0.0.1:0"`: a free port on
/// loopback; `fb_admin_address` says which): `GET /metrics` (Prometheus
/// text), `/breakers` (JSON), `/events` (server-sent events) and `/` (the
/// dashboard page). `token` (NULL: none) opens the controls
/// (`POST /breakers/{name}/force_open|disable|reset` with
/// `Authorization: Bearer TOKEN`); without it they are refused with 403.
/// `FB_ERR_INVALID_ARGUMENT` for an address that is not `IP:PORT`,
/// `FB_ERR_IO` when it cannot listen there. Stop it with `fb_admin_stop`.
///
/// # Safety
/// `registry` is NULL or a live registry handle that outlives the server
/// (call `fb_admin_stop` before `fb_registry_free`); `address` and `token`
/// are NULL or NUL-terminated strings; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_admin_start(
    registry: *const fb_registry,
    address: *const c_char,
    token: *const c_char,
    out: *mut *mut fb_admin,
) -> fb_status {
    const F: &str = "fb_admin_start";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let r: *const Registry = unsafe { try_ref(F, registry) }?;
        // SAFETY: forwarded from our caller's contract.
        let address = unsafe { name_arg(F, "address", address) }?;
        let token = if token.is_null() {
            None
        } else {
            // SAFETY: forwarded from our caller's contract.
            Some(unsafe { name_arg(F, "token", token) }?.to_owned())
        };
        not_null(F, "out", out)?;
        let addr: SocketAddr = address.parse().map_err(|_| {
            fail(
                FB_ERR_INVALID_ARGUMENT,
                format!("{F}: address {address:?} is not IP:PORT (e.g. \"127.0.0.1:0\")"),
            )
        })?;
        let config = AdminConfig {
            addr,
            token,
            ..AdminConfig::loopback(0)
        };
        let admin = fusebox_admin::serve(Borrowed(r), config)
            .map_err(|e| fail(FB_ERR_IO, format!("{F}: {e}")))?;
        let p = Box::into_raw(Box::new(admin)) as *mut fb_admin;
        // SAFETY: checked non-NULL above; the caller guarantees writable.
        unsafe { hand_out(out, p) }
    })
}

/// The address the server listens on (`"127.0.0.1:40123"`), NUL-terminated
/// in `buf`, as `fb_registry_prometheus` writes text: `*len` is the
/// length without the NUL; `FB_ERR_INVALID_ARGUMENT` when `cap < *len + 1`.
///
/// # Safety
/// `admin` is NULL or a live admin handle; `buf` is NULL or writable for
/// `cap` bytes; `len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_admin_address(
    admin: *const fb_admin,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> fb_status {
    const F: &str = "fb_admin_address";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let a = unsafe { try_ref(F, admin) }?;
        // SAFETY: forwarded from our caller's contract.
        unsafe { put_text(F, &a.addr().to_string(), buf, cap, len) }
    })
}

/// Stop the server (its port is free when this returns, open `/events`
/// streams are closed) and free the handle. A pointer that is not a live
/// admin (stopped twice) gets `FB_ERR_INVALID_HANDLE`.
///
/// # Safety
/// `admin` is any pointer value; it is only dereferenced if it is a live
/// admin handle, and then no other thread may be using it.
#[no_mangle]
pub unsafe extern "C" fn fb_admin_stop(admin: *mut fb_admin) -> fb_status {
    // SAFETY: forwarded from our caller's contract; `free` dereferences
    // only a live admin from `fb_admin_start` (a `Box<AdminHandle>`).
    unsafe { free("fb_admin_stop", admin, None) }
}
