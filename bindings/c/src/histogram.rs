//! Latency histograms in the C ABI (`fb_latency_histogram_*`): a
//! dependency's recent latencies (the core's `LatencyHistogram`), fed by
//! the caller or by a breaker made with `fb_breaker_new_with_histogram`,
//! read back as quantiles and used by a hedge policy for its delay
//! (`fb_hedge_config.histogram`).

use super::args::{not_null, put};
use super::clock::{clock_source, fb_clock};
use super::fb_status::{self, *};
use super::handles::{free, hand_out, try_ref, Handle, Kind};
use super::panic::guard;
use fusebox_core::LatencyHistogram;
use std::sync::Arc;
use std::time::Duration;

/// A latency histogram (opaque): the latencies of the last 10 s (in 10
/// slots), by bucket. Made by `fb_latency_histogram_new`, freed with
/// `fb_latency_histogram_free` (a breaker or hedge policy made with it
/// keeps its own reference, so it may be freed first). Thread-safe and
/// lock-free.
pub struct fb_latency_histogram {
    _opaque: [u8; 0],
}

// SAFETY: a live handle is `Arc::into_raw` of an `Arc<LatencyHistogram>`
// not yet released.
unsafe impl Handle for fb_latency_histogram {
    type Target = LatencyHistogram;
    const ARG: &'static str = "histogram";
    const KIND: Kind = Kind::LatencyHistogram;

    unsafe fn drop_live(h: *mut fb_latency_histogram) {
        // SAFETY: the caller guarantees an `Arc::into_raw` pointer not yet
        // released, released once.
        drop(unsafe { Arc::from_raw(fb_latency_histogram::target(h)) });
    }
}

/// A new reference to the histogram behind a live handle.
///
/// # Safety
/// `h` is a live, non-NULL handle from `fb_latency_histogram_new`.
pub(crate) unsafe fn histogram_arc(h: *const fb_latency_histogram) -> Arc<LatencyHistogram> {
    let p = fb_latency_histogram::target(h);
    // SAFETY: `p` came from `Arc::into_raw` and that reference is still
    // held (the handle is live), so adding one more is sound.
    unsafe {
        Arc::increment_strong_count(p);
        Arc::from_raw(p)
    }
}

/// Make a latency histogram on `clock` (NULL: the system clock; give a
/// breaker feeding it the same clock). Free it with
/// `fb_latency_histogram_free`.
///
/// ```c
/// fb_latency_histogram *h;
/// fb_latency_histogram_new(NULL, &h);
/// fb_latency_histogram_record(h, 20000000); /* 20 ms */
/// uint64_t p95; bool found;
/// fb_latency_histogram_quantile(h, 0.95, &p95, &found); /* found, ~20 ms */
/// fb_latency_histogram_free(h);
/// ```
///
/// # Safety
/// `clock` is NULL or a live clock handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_latency_histogram_new(
    clock: *const fb_clock,
    out: *mut *mut fb_latency_histogram,
) -> fb_status {
    const F: &str = "fb_latency_histogram_new";
    guard(F, || {
        not_null(F, "out", out)?;
        // SAFETY: forwarded from our caller's contract.
        let source = unsafe { clock_source(clock) };
        let p = Arc::into_raw(Arc::new(LatencyHistogram::new(source))) as *mut fb_latency_histogram;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { hand_out(out, p) }
    })
}

/// Free a histogram; a breaker or hedge policy made with it keeps working.
/// A pointer that is not a live histogram gets `FB_ERR_INVALID_HANDLE` and
/// is not touched.
///
/// # Safety
/// `histogram` is any pointer value.
#[no_mangle]
pub unsafe extern "C" fn fb_latency_histogram_free(
    histogram: *mut fb_latency_histogram,
) -> fb_status {
    // SAFETY: forwarded; `free` dereferences only a live histogram.
    unsafe { free("fb_latency_histogram_free", histogram, None) }
}

/// Record one latency of `ns` nanoseconds.
///
/// # Safety
/// `histogram` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn fb_latency_histogram_record(
    histogram: *const fb_latency_histogram,
    ns: u64,
) -> fb_status {
    const F: &str = "fb_latency_histogram_record";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        unsafe { try_ref(F, histogram) }?.record(Duration::from_nanos(ns));
        Ok(FB_OK)
    })
}

/// The `q` quantile of the recent latencies, in ns, into `*out_ns`, with
/// `*found` true; `*found` false (and `*out_ns` 0) while the histogram is
/// empty. `q` is clamped to [0, 1] (NaN reads the median), as the core
/// does.
///
/// # Safety
/// `histogram` is NULL or live; `out_ns` and `found` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_latency_histogram_quantile(
    histogram: *const fb_latency_histogram,
    q: f64,
    out_ns: *mut u64,
    found: *mut bool,
) -> fb_status {
    const F: &str = "fb_latency_histogram_quantile";
    guard(F, || {
        not_null(F, "out_ns", out_ns)?;
        not_null(F, "found", found)?;
        // SAFETY: forwarded from our caller's contract.
        let v = unsafe { try_ref(F, histogram) }?.quantile(q);
        let ns = v.map_or(0, |d| d.as_nanos().min(u64::MAX as u128) as u64);
        // SAFETY: forwarded from our caller's contract.
        unsafe {
            put(F, "out_ns", out_ns, ns)?;
            put(F, "found", found, v.is_some())
        }
    })
}

/// The number of latencies in the histogram's window, into `*out`.
///
/// # Safety
/// `histogram` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fb_latency_histogram_count(
    histogram: *const fb_latency_histogram,
    out: *mut u64,
) -> fb_status {
    const F: &str = "fb_latency_histogram_count";
    guard(F, || {
        // SAFETY: forwarded from our caller's contract.
        let n = unsafe { try_ref(F, histogram) }?.snapshot().count();
        // SAFETY: forwarded from our caller's contract.
        unsafe { put(F, "out", out, n) }
    })
}
