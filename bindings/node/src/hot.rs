//! The hot path, in raw Node-API.
//!
//! napi-rs's generated glue costs several hundred nanoseconds per method
//! call (a global borrow registry behind a mutex, a type-tag lookup, an
//! allocation), ten times the whole budget of a call through the breaker,
//! and even a bare Node-API call costs ~20 ns here, most of it in Node's
//! callback machinery. So the hot path is built by hand, to cross into Rust
//! as rarely and as cheaply as possible:
//!
//! * `word`: an `ArrayBuffer` over the breaker's state word itself (read-only
//!   by convention; the JS layer keeps it in a private field). JS decodes the
//!   phase and generation with the layout the core publishes (see
//!   `layout.rs`); while Closed, admitting a call is a JS-only read, exactly
//!   like [`fusebox::Breaker::acquire_raw`]'s first branch.
//! * `mailbox`: four f64 slots shared by JS and the functions below, through
//!   which arguments and results pass, so that the functions take no
//!   arguments and return nothing: no `napi_get_value_*`, no
//!   `napi_create_*`, no handle. A wrapper lives in one JS thread, and the
//!   functions never call back into JS, so JS writes the slots, calls, and
//!   reads them, with nothing in between.
//!   - `[0]` permit token (`generation * 2 + probe`) or rejection code (< 0);
//!   - `[1]` start time of the permit in ns of the breaker's clock (when
//!     slow-call detection needs it; else 0);
//!   - `[2]` duration in ms for `record`, or < 0 to measure it;
//!   - `[3]` outcome for `record` (0 success, 1 failure, 2 ignored, 3 release);
//!   - `[4]`, `[5]`: this thread's success batch, when it is this wrapper's
//!     (count of successes held back; token, or -1 when no batch is open).
//! * `acquire()`: the core's `acquire_raw`, for every other phase (and when
//!   slow-call detection needs the clock); writes `[0]` (and `[1]`).
//! * `success()`, `failure()`: the core's `record_raw` of the permit in
//!   `[0]`/`[1]`, duration measured; `record()`: the general form.
//!
//! * Successes are handed over in batches. A call into Node-API costs more
//!   here (~20 ns) than the whole record, so a run of successes of one
//!   permit token within one turn of the event loop is counted in JS, in
//!   `[4]`, and recorded by the core in one call. A batch belongs to one
//!   wrapper and one token; a thread has at most one open ([`OPEN`]), opened
//!   by `success()` for an untimed Closed permit. It is recorded when it
//!   holds [`BATCH_MAX`] successes, before anything else this thread asks of
//!   a breaker or a clock (every native entry flushes it first, so the core
//!   sees this thread's outcomes in the order they happened), at the end of
//!   the current run of microtasks (the JS layer's `process.nextTick`), and
//!   when the thread ends. For the breaker this is the same as those calls
//!   reporting a little later, which every permit may do: nothing is
//!   decided in JS, a stale token is dropped by the core as usual.
//!
//! Each function is created with `napi_create_function` and carries a strong
//! `Rc` of its [`Hot`] as its data pointer, so a call finds the breaker with
//! one `napi_get_cb_info` and no lookup; the `Rc` is given back by a
//! finalizer when the function is collected.

use fusebox::{Breaker, Outcome, RawPermit, RejectReason, Rejected};
use napi::bindgen_prelude::Object;
use napi::{sys, Env, JsValue};
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// Mailbox slots.
const TOKEN: usize = 0;
const START: usize = 1;
const DURATION: usize = 2;
const OUTCOME: usize = 3;
const PENDING: usize = 4;
const BATCH: usize = 5;

/// Most successes a batch holds back (the JS layer reads it from `bind`'s
/// object). Bounds how late a success reaches other threads within a long
/// run of microtasks, and the work of one flush.
pub(crate) const BATCH_MAX: f64 = 64.0;

thread_local! {
    /// This thread's open success batch, if any.
    static OPEN: RefCell<Option<Batch>> = const { RefCell::new(None) };
}

/// Open batches in the process, all threads: while there is none, which is
/// the rule on a thread that is not recording successes, [`flush`] skips the
/// thread-local lookup (a call into the dynamic loader in an addon).
/// Relaxed: a thread's own batch is counted by its own earlier increment
/// (program order); other threads' counts only make it look needlessly.
static OPEN_BATCHES: AtomicUsize = AtomicUsize::new(0);

/// An open batch: its wrapper's `Hot`, kept alive until it is recorded.
struct Batch(Rc<Hot>);

impl Batch {
    fn new(hot: Rc<Hot>) -> Batch {
        OPEN_BATCHES.fetch_add(1, Relaxed);
        Batch(hot)
    }
}

impl Drop for Batch {
    /// Records the batch (also at thread exit: nothing held back is lost).
    fn drop(&mut self) {
        self.0.record_batch();
        OPEN_BATCHES.fetch_sub(1, Relaxed);
    }
}

/// Records this thread's open batch, if any, and closes it. Called first by
/// every native entry that reads or moves a breaker or a clock.
#[inline]
pub(crate) fn flush() {
    if OPEN_BATCHES.load(Relaxed) != 0 {
        flush_open();
    }
}

#[inline(never)]
fn flush_open() {
    // Taken out of the cell first: recording runs with the cell free.
    let open = OPEN.try_with(|o| o.borrow_mut().take()).ok().flatten();
    drop(open);
}

/// What the hot functions of one JS wrapper share. Reference-counted with
/// `Rc`: the functions and buffers holding it belong to one JS thread, and
/// Node runs their finalizers on that thread.
pub(crate) struct Hot {
    breaker: Arc<Breaker>,
    /// Whether permits need a start time (slow-call detection is on).
    slow: bool,
    /// See the module's documentation. Only touched from the wrapper's thread.
    mailbox: [Cell<f64>; 6],
}

impl Hot {
    /// Records the successes held back in this wrapper's batch and closes it.
    fn record_batch(&self) {
        let n = self.mailbox[PENDING].replace(0.0);
        let t = self.mailbox[BATCH].replace(-1.0);
        if !(n >= 1.0 && (0.0..9.0e15).contains(&t)) {
            return;
        }
        let p = RawPermit {
            generation: (t as u64) >> 1,
            start_ns: 0,
            probe: false,
        };
        // JS never holds back more than BATCH_MAX; the bound is for safety.
        let n = n.min(BATCH_MAX) as u32;
        let _ = catch_unwind(AssertUnwindSafe(|| {
            for _ in 0..n {
                self.breaker.record_raw(p, Outcome::Success, None);
            }
        }));
    }

    /// The permit in the mailbox, if it is one this binding made. Anything
    /// else (a forged token) is refused; an out-of-date generation is the
    /// core's business (dropped as stale).
    #[inline]
    fn permit(&self) -> Option<RawPermit> {
        let t = self.mailbox[TOKEN].get();
        if !(0.0..9.0e15).contains(&t) {
            return None;
        }
        let t = t as u64;
        let start = if self.slow {
            let s = self.mailbox[START].get();
            if s.is_finite() && s >= 0.0 {
                s as u64
            } else {
                0
            }
        } else {
            0
        };
        Some(RawPermit {
            generation: t >> 1,
            start_ns: start,
            probe: t & 1 == 1,
        })
    }
}

/// Token of an admitted call: `generation * 2 + probe`. Generations are
/// 41 bits, so tokens are exact in an f64.
#[inline]
fn token(p: RawPermit) -> f64 {
    (p.generation * 2 + u64::from(p.probe)) as f64
}

/// Code of a rejection: `-(1 + reason + 4 * retry)` where `reason` is 0 open,
/// 1 half-open full, 2 forced open, and `retry` is 0 when unknown, else
/// 1 + the retry-after in ns. Exact in an f64: retry-afters are at most
/// 2 × 10^15 ns (open timeout or back-off cap ≤ 10^6 s, jitter ≤ 100 %), so
/// the code stays below 2^53; clamped to 2^50 all the same. (No division, no
/// rounding call: they would cost more than the rest of the rejection.)
pub(crate) fn reject_code(r: &Rejected) -> f64 {
    let reason = match r.reason {
        RejectReason::Open => 0.0,
        RejectReason::HalfOpenFull => 1.0,
        RejectReason::ForcedOpen => 2.0,
    };
    let retry = r.retry_after.map_or(0.0, |d| {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).min(1 << 50);
        1.0 + ns as f64
    });
    -(1.0 + reason + 4.0 * retry)
}

/// The `Hot` of the function being called.
///
/// # Safety
/// `env` and `info` must be the ones Node passed to a callback made by
/// [`function`] below.
#[inline]
unsafe fn hot_of<'a>(env: sys::napi_env, info: sys::napi_callback_info) -> Option<&'a Hot> {
    // SAFETY: per the contract.
    unsafe { hot_ptr(env, info) }.map(|p| {
        // SAFETY: see `hot_ptr`.
        unsafe { &*p }
    })
}

/// The `Hot` of the function being called, as the pointer its data holds
/// (a strong count of an `Rc`, alive while the function is running).
///
/// # Safety
/// As for [`hot_of`].
#[inline]
unsafe fn hot_ptr(env: sys::napi_env, info: sys::napi_callback_info) -> Option<*const Hot> {
    let mut data = null_mut();
    // SAFETY: per the contract; only the data pointer is requested (argc,
    // argv and this are null: Node-API skips them).
    let st =
        unsafe { sys::napi_get_cb_info(env, info, null_mut(), null_mut(), null_mut(), &mut data) };
    if st != sys::Status::napi_ok || data.is_null() {
        return None;
    }
    // `data` came from `Rc::into_raw` in `function`, and the function
    // holding that strong count is running, so it is alive.
    Some(data as *const Hot)
}

unsafe extern "C" fn acquire(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: called by Node as a callback made by `function`.
    if let Some(hot) = unsafe { hot_of(env, info) } {
        flush();
        let _ = catch_unwind(AssertUnwindSafe(|| match hot.breaker.acquire_raw() {
            Ok(p) => {
                hot.mailbox[START].set(p.start_ns as f64);
                hot.mailbox[TOKEN].set(token(p));
            }
            Err(r) => hot.mailbox[TOKEN].set(reject_code(&r)),
        }));
    }
    null_mut()
}

#[inline]
fn report(hot: &Hot, outcome: Outcome) {
    if let Some(p) = hot.permit() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            hot.breaker.record_raw(p, outcome, None)
        }));
    }
}

unsafe extern "C" fn success(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: called by Node as a callback made by `function`.
    let Some(ptr) = (unsafe { hot_ptr(env, info) }) else {
        return null_mut();
    };
    // SAFETY: see `hot_ptr`.
    let hot = unsafe { &*ptr };
    flush();
    report(hot, Outcome::Success);
    // Open a batch for the successes of this permit's token that follow.
    if let Some(p) = hot.permit().filter(|p| !p.probe && !hot.slow) {
        hot.mailbox[PENDING].set(0.0);
        hot.mailbox[BATCH].set(token(p));
        // SAFETY: `ptr` is a live `Rc<Hot>` (see `hot_ptr`); the count taken
        // here is the batch's own, given back when the batch is dropped.
        let rc = unsafe {
            Rc::increment_strong_count(ptr);
            Rc::from_raw(ptr)
        };
        let opened = OPEN.try_with(|o| *o.borrow_mut() = Some(Batch::new(rc)));
        if opened.is_err() {
            // The thread is ending: no batch (the Rc went with the closure).
            hot.mailbox[BATCH].set(-1.0);
        }
    }
    null_mut()
}

unsafe extern "C" fn failure(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: called by Node as a callback made by `function`.
    if let Some(hot) = unsafe { hot_of(env, info) } {
        flush();
        report(hot, Outcome::Failure);
    }
    null_mut()
}

unsafe extern "C" fn record(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: called by Node as a callback made by `function`.
    let Some(hot) = (unsafe { hot_of(env, info) }) else {
        return null_mut();
    };
    flush();
    let Some(p) = hot.permit() else {
        return null_mut();
    };
    let ms = hot.mailbox[DURATION].get();
    let duration = (ms.is_finite() && ms >= 0.0).then(|| (ms * 1e6).round() as u64);
    let outcome = hot.mailbox[OUTCOME].get();
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if outcome == 0.0 {
            hot.breaker.record_raw(p, Outcome::Success, duration)
        } else if outcome == 1.0 {
            hot.breaker.record_raw(p, Outcome::Failure, duration)
        } else if outcome == 2.0 {
            hot.breaker.record_raw(p, Outcome::Ignored, duration)
        } else if outcome == 3.0 {
            hot.breaker.release_raw(p)
        }
    }));
    null_mut()
}

/// Gives back one strong count of an `Rc<Hot>`.
///
/// # Safety
/// `ptr` must be a strong count taken with `Rc::into_raw` and not yet given back.
unsafe fn release_hot(ptr: *mut c_void) {
    // SAFETY: per the contract.
    drop(unsafe { Rc::from_raw(ptr as *const Hot) });
}

/// Finalizer of a hot function: its data is its strong count of `Hot`.
unsafe extern "C" fn finalize_function(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the count `function` took for this function, and a
    // finalizer runs once.
    unsafe { release_hot(data) }
}

/// Finalizer of the mailbox buffer: its hint is its strong count of `Hot`.
unsafe extern "C" fn finalize_mailbox(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the count `bind` took for this buffer, and a
    // finalizer runs once.
    unsafe { release_hot(hint) }
}

/// Finalizer of the state-word buffer: its hint is a strong count of the breaker.
unsafe extern "C" fn finalize_word(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the count `bind` took for this buffer, and a
    // finalizer runs once.
    drop(unsafe { Arc::from_raw(hint as *const Breaker) });
}

fn check(st: sys::napi_status, what: &str) -> napi::Result<()> {
    if st == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!(
            "fusebox: {what} failed (napi status {st})"
        )))
    }
}

/// A function whose data is a strong count of `hot`.
fn function(
    env: &Env,
    name: &str,
    cb: sys::napi_callback,
    hot: &Rc<Hot>,
) -> napi::Result<sys::napi_value> {
    let data = Rc::into_raw(hot.clone()) as *mut c_void;
    let mut f = null_mut();
    // SAFETY: valid env; `name` is `name.len()` bytes of UTF-8; `data` stays
    // valid until `finalize_function` runs for this function.
    let st = unsafe {
        sys::napi_create_function(
            env.raw(),
            name.as_ptr().cast(),
            name.len() as isize,
            cb,
            data,
            &mut f,
        )
    };
    if st == sys::Status::napi_ok {
        // SAFETY: `f` is a live function; the finalizer gets `data` once,
        // when `f` is collected or the environment is torn down.
        let st = unsafe {
            sys::napi_add_finalizer(
                env.raw(),
                f,
                data,
                Some(finalize_function),
                null_mut(),
                null_mut(),
            )
        };
        if st == sys::Status::napi_ok {
            return Ok(f);
        }
    }
    // SAFETY: no finalizer took `data`.
    unsafe { release_hot(data) };
    Err(napi::Error::from_reason(format!(
        "fusebox: creating {name} failed"
    )))
}

/// An `ArrayBuffer` over `len` bytes at `ptr`, holding a strong count of
/// `breaker` until it is collected.
///
/// # Safety
/// The `len` bytes at `ptr` must stay valid while `breaker` lives.
unsafe fn breaker_words(
    env: &Env,
    breaker: &Arc<Breaker>,
    ptr: *const u8,
    len: usize,
) -> napi::Result<sys::napi_value> {
    let hint = Arc::into_raw(breaker.clone()) as *mut c_void;
    let mut buf = null_mut();
    // SAFETY: per the contract, the bytes outlive the strong count `hint`,
    // which the buffer's finalizer gives back.
    let st = unsafe {
        sys::napi_create_external_arraybuffer(
            env.raw(),
            ptr as *mut c_void,
            len,
            Some(finalize_word),
            hint,
            &mut buf,
        )
    };
    if st != sys::Status::napi_ok {
        // SAFETY: the buffer was not created, so no finalizer owns `hint`.
        drop(unsafe { Arc::from_raw(hint as *const Breaker) });
        return Err(napi::Error::from_reason(
            "fusebox: mapping the breaker's words failed",
        ));
    }
    Ok(buf)
}

/// The hot functions of one JS wrapper: `{ acquire, success, failure, record,
/// word, mailbox, slow }`.
pub(crate) fn bind<'e>(env: &'e Env, breaker: &Arc<Breaker>) -> napi::Result<Object<'e>> {
    let hot = Rc::new(Hot {
        breaker: breaker.clone(),
        slow: breaker.config().slow_call_duration.is_some(),
        mailbox: Default::default(),
    });
    hot.mailbox[BATCH].set(-1.0);
    let mut obj = Object::new(env)?;
    let raw_env = env.raw();
    let set = |obj: &Object<'e>, key: &std::ffi::CStr, v: sys::napi_value| -> napi::Result<()> {
        // SAFETY: `obj` and `v` are live values of `env`; `key` is NUL-terminated.
        check(
            unsafe { sys::napi_set_named_property(raw_env, obj.raw(), key.as_ptr(), v) },
            "setting a property",
        )
    };
    set(
        &obj,
        c"acquire",
        function(env, "acquire", Some(acquire), &hot)?,
    )?;
    set(
        &obj,
        c"success",
        function(env, "success", Some(success), &hot)?,
    )?;
    set(
        &obj,
        c"failure",
        function(env, "failure", Some(failure), &hot)?,
    )?;
    set(
        &obj,
        c"record",
        function(env, "record", Some(record), &hot)?,
    )?;

    // The state word, the buffer keeping the breaker alive.
    // SAFETY: `state_word_ptr` is 8 bytes of the breaker.
    let word = unsafe { breaker_words(env, breaker, breaker.state_word_ptr().cast(), 8)? };
    set(&obj, c"word", word)?;

    // The mailbox, kept alive by a strong count of `hot`.
    let hint = Rc::into_raw(hot.clone()) as *mut c_void;
    let mut mailbox = null_mut();
    // SAFETY: `hot.mailbox` is 32 contiguous bytes (`Cell<f64>` is an f64)
    // inside `hot`, which the strong count `hint` keeps alive until the
    // buffer's finalizer runs.
    let st = unsafe {
        sys::napi_create_external_arraybuffer(
            raw_env,
            hot.mailbox.as_ptr() as *mut c_void,
            std::mem::size_of_val(&hot.mailbox),
            Some(finalize_mailbox),
            hint,
            &mut mailbox,
        )
    };
    if st != sys::Status::napi_ok {
        // SAFETY: the buffer was not created, so no finalizer owns `hint`.
        unsafe { release_hot(hint) };
        return Err(napi::Error::from_reason(
            "fusebox: mapping the mailbox failed",
        ));
    }
    set(&obj, c"mailbox", mailbox)?;
    obj.set("slow", hot.slow)?;
    obj.set("batchMax", BATCH_MAX)?;
    Ok(obj)
}
