//! The live-handle table, and the lookup of a handle argument.
//!
//! Every object handed to C that the caller must free is in the table, by
//! address. Only `*_new` and `*_free` touch it (never the hot path), so a
//! freed or foreign pointer given to a `*_free` function is reported
//! without being dereferenced. Breaker handles from a keyed set, of which
//! several may point to one breaker, are counted in a second table
//! ([`count_out`], [`take_counted`]).

use super::args::not_null;
use super::error::{fail, null_arg};
use super::fb_status::{self, *};
use super::panic::{guard, FfiResult};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// What a live heap object made by `*_new` is, for the `*_free` checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Breaker,
    Clock,
    Registry,
    Keyed,
    Bulkhead,
    SharedRegistry,
    SharedClock,
    RetryPolicy,
    RetryBudget,
    HedgePolicy,
    LatencyHistogram,
    Admin,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Breaker => "breaker",
            Kind::Clock => "clock",
            Kind::Registry => "registry",
            Kind::Keyed => "keyed set",
            Kind::Bulkhead => "bulkhead",
            Kind::SharedRegistry => "shared registry",
            Kind::SharedClock => "shared clock",
            Kind::RetryPolicy => "retry policy",
            Kind::RetryBudget => "retry budget",
            Kind::HedgePolicy => "hedge policy",
            Kind::LatencyHistogram => "latency histogram",
            Kind::Admin => "admin endpoint",
        }
    }

    /// The function that makes one.
    fn maker(self) -> &'static str {
        match self {
            Kind::Breaker => "fb_breaker_new",
            Kind::Clock => "fb_clock_manual_new",
            Kind::Registry => "fb_registry_new",
            Kind::Keyed => "fb_keyed_new",
            Kind::Bulkhead => "fb_bulkhead_new",
            Kind::SharedRegistry => "fb_shared_open",
            Kind::SharedClock => "fb_shared_clock_open",
            Kind::RetryPolicy => "fb_retry_policy_new",
            Kind::RetryBudget => "fb_retry_budget_new",
            Kind::HedgePolicy => "fb_hedge_policy_new",
            Kind::LatencyHistogram => "fb_latency_histogram_new",
            Kind::Admin => "fb_admin_start",
        }
    }
}

/// An opaque C handle type and what lies behind it.
///
/// # Safety
/// A non-NULL pointer to `Self` that this library handed out, and that is
/// still live, is turned by [`Handle::target`] into a valid pointer to a
/// `Target`; one in the live-handle table (made by `Box::into_raw`, or by
/// `Arc::into_raw` where [`Handle::drop_live`] says so) is released by
/// `drop_live`.
pub(crate) unsafe trait Handle {
    /// The Rust value behind the handle.
    type Target;
    /// What its argument is called in error messages.
    const ARG: &'static str;
    /// Its entry in the live-handle table.
    const KIND: Kind;

    /// The pointer to the value behind the handle (a plain cast unless the
    /// handle is tagged).
    #[inline(always)]
    fn target(h: *const Self) -> *const Self::Target {
        h.cast()
    }

    /// Release the object behind a handle just taken out of the live set.
    ///
    /// # Safety
    /// `h` was made by `Box::into_raw` (the default; kinds made by
    /// `Arc::into_raw` override this) and is released once.
    unsafe fn drop_live(h: *mut Self)
    where
        Self: Sized,
    {
        // SAFETY: the caller guarantees a `Box::into_raw` pointer that is
        // released once.
        drop(unsafe { Box::from_raw(Self::target(h) as *mut Self::Target) });
    }
}

/// The value behind a handle argument; `FB_ERR_NULL_POINTER` naming it
/// when NULL.
///
/// # Safety
/// `h` is NULL or a live handle from this library.
#[inline(always)]
pub(crate) unsafe fn try_ref<'a, H: Handle>(
    func: &str,
    h: *const H,
) -> Result<&'a H::Target, fb_status> {
    // SAFETY: the caller guarantees a non-NULL `h` is a live handle, which
    // `Handle`'s contract turns into a valid pointer to its value.
    match unsafe { H::target(h).as_ref() } {
        Some(v) => Ok(v),
        None => Err(null_arg(func, H::ARG)),
    }
}

static LIVE: Mutex<BTreeMap<usize, Kind>> = Mutex::new(BTreeMap::new());

pub(crate) fn live() -> MutexGuard<'static, BTreeMap<usize, Kind>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Put a new object in the live set and store its handle in `*out`.
///
/// # Safety
/// `out` is non-NULL and writable; `h` is a new object of kind `H::KIND`.
pub(crate) unsafe fn hand_out<H: Handle>(out: *mut *mut H, h: *mut H) -> FfiResult {
    live().insert(h as usize, H::KIND);
    // SAFETY: the caller checked `out` non-NULL and guarantees writable.
    unsafe { out.write(h) };
    Ok(FB_OK)
}

/// The whole of a `*_free` function: `FB_ERR_NULL_POINTER` for NULL, then
/// `FB_ERR_NOT_OWNED` when `library_owned` says why the object belongs to
/// the library (worked out from the address alone), then the live-set check
/// (`FB_ERR_INVALID_HANDLE` for a pointer that is not a live object of
/// this kind, which is then not dereferenced); a live object is taken out
/// of the set and released.
///
/// # Safety
/// `h` is any pointer value; if it is live, no other thread may be using
/// it.
pub(crate) unsafe fn free<H: Handle>(
    func: &'static str,
    h: *mut H,
    library_owned: Option<&str>,
) -> fb_status {
    guard(func, || {
        not_null(func, H::ARG, h)?;
        if let Some(why) = library_owned {
            return Err(fail(FB_ERR_NOT_OWNED, format!("{func}: {why}")));
        }
        take_live(func, h)?;
        // SAFETY: the live set proved `h` is a live object of this kind
        // not yet freed; it is now out of the set, so this runs once.
        unsafe { H::drop_live(h) };
        Ok(FB_OK)
    })
}

/// Take `h` out of the live set if it is a live object of its kind, so
/// that the caller frees it exactly once; otherwise
/// `FB_ERR_INVALID_HANDLE`, and `h` is not dereferenced.
fn take_live<H: Handle>(func: &str, h: *mut H) -> Result<(), fb_status> {
    let kind = H::KIND;
    let mut live = live();
    match live.get(&(h as usize)) {
        Some(k) if *k == kind => {
            live.remove(&(h as usize));
            Ok(())
        }
        Some(k) => Err(fail(
            FB_ERR_INVALID_HANDLE,
            format!(
                "{func}: the pointer is a live {}, not a {} made by {}",
                k.name(),
                kind.name(),
                kind.maker()
            ),
        )),
        None => Err(fail(
            FB_ERR_INVALID_HANDLE,
            format!(
                "{func}: not a live {} made by {} (freed twice?)",
                kind.name(),
                kind.maker()
            ),
        )),
    }
}

/// Breaker handles handed out by keyed sets: by breaker address, how many
/// are out. Each holds one `Arc` reference to its breaker, so an address
/// is not reused while its count is above 0.
static COUNTED: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());

fn counted() -> MutexGuard<'static, BTreeMap<usize, usize>> {
    COUNTED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Count one more handle to the object at `addr`.
pub(crate) fn count_out(addr: usize) {
    *counted().entry(addr).or_insert(0) += 1;
}

/// Count one handle to the object at `addr` back in, so that the caller
/// releases its reference exactly once; `FB_ERR_INVALID_HANDLE` when no
/// handle to it is out (freed more times than handed out, or never made),
/// and then nothing may be released.
pub(crate) fn take_counted(func: &str, addr: usize, what: &str) -> Result<(), fb_status> {
    let mut counted = counted();
    match counted.get_mut(&addr) {
        Some(1) => {
            counted.remove(&addr);
            Ok(())
        }
        Some(n) => {
            *n -= 1;
            Ok(())
        }
        None => Err(fail(
            FB_ERR_INVALID_HANDLE,
            format!("{func}: not a live {what} (freed more times than handed out?)"),
        )),
    }
}
