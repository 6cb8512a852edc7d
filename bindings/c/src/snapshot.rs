//! Snapshots of a registry's breakers (`fb_registry_snapshot_write`,
//! `fb_registry_snapshot_restore`): written to a file, read back at start
//! (`docs/semantics.md#snapshot-and-restore`).

use super::args::name_arg;
use super::error::fail;
use super::fb_status::{self, *};
use super::handles::try_ref;
use super::panic::guard;
use super::registry::fb_registry;
use fusebox_core::snapshot::{Snapshot, SnapshotError};
use std::ffi::c_char;
use std::time::Duration;

/// `FB_ERR_IO` for a file that cannot be read or written, else
/// `FB_ERR_BAD_FILE`, with the core's message (what is wrong, where).
fn snapshot_error(func: &str, e: SnapshotError) -> fb_status {
    let status = match e {
        SnapshotError::Io(_) => FB_ERR_IO,
        _ => FB_ERR_BAD_FILE,
    };
    fail(status, format!("{func}: path: {e}"))
}

/// Write every breaker's settings and state to the file at `path` (UTF-8),
/// whole or not at all. `FB_ERR_IO` when it cannot be written.
///
/// # Safety
/// `registry` is NULL or a live registry handle; `path` is NULL or a
/// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_snapshot_write(
    registry: *const fb_registry,
    path: *const c_char,
) -> fb_status {
    const F: &str = "fb_registry_snapshot_write";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let r = unsafe { try_ref(F, registry) }?;
        // SAFETY: forwarded from our caller's contract.
        let path = unsafe { name_arg(F, "path", path) }?;
        r.write_state(path).map_err(|e| snapshot_error(F, e))?;
        Ok(FB_OK)
    })
}

/// Restore the snapshot at `path` (UTF-8): breakers made or reconfigured to
/// the saved settings, their saved state put back (an open breaker stays
/// open for the rest of its open period, less the time since writing).
/// Checked whole first: `FB_ERR_IO` when the file cannot be read,
/// `FB_ERR_BAD_FILE` when it is damaged, truncated, not a fusebox
/// snapshot, of a newer version, or holds a bad entry (`fb_last_error()`
/// says which); nothing is applied then.
///
/// # Safety
/// `registry` is NULL or a live registry handle; `path` is NULL or a
/// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_snapshot_restore(
    registry: *const fb_registry,
    path: *const c_char,
) -> fb_status {
    const F: &str = "fb_registry_snapshot_restore";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let r = unsafe { try_ref(F, registry) }?;
        // SAFETY: forwarded from our caller's contract.
        let path = unsafe { name_arg(F, "path", path) }?;
        r.restore_file(path).map_err(|e| snapshot_error(F, e))?;
        Ok(FB_OK)
    })
}

/// As `fb_registry_snapshot_restore`, taking `elapsed_ns` (not the wall
/// time since writing) off every open period: for a caller that knows
/// better than the wall clock, and for tests on a manual clock.
///
/// # Safety
/// `registry` is NULL or a live registry handle; `path` is NULL or a
/// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn fb_registry_snapshot_restore_after(
    registry: *const fb_registry,
    path: *const c_char,
    elapsed_ns: u64,
) -> fb_status {
    const F: &str = "fb_registry_snapshot_restore_after";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let r = unsafe { try_ref(F, registry) }?;
        // SAFETY: forwarded from our caller's contract.
        let path = unsafe { name_arg(F, "path", path) }?;
        Snapshot::read(path)
            .and_then(|s| r.restore_state_after(&s, Duration::from_nanos(elapsed_ns)))
            .map_err(|e| snapshot_error(F, e))?;
        Ok(FB_OK)
    })
}
