//! The hot path, in raw Node-API.
//!
//! napi-rs's generated glue costs several hundred nanoseconds per method
//! call (a global borrow registry behind a mutex, a type-tag lookup, an
//! allocation), ten times the whole budget of a call through the breaker,
//! and even a bare Node-API call costs ~20 ns (measured on a 2-core x86_64
//! KVM virtual machine, AMD EPYC), most of it in Node's
//! callback machinery. So the hot path is built by hand, to cross into Rust
//! as rarely and as cheaply as possible:
//!
//! * `word` (one per wrapper): an `ArrayBuffer` over the breaker's state
//!   word itself (read-only by convention; the JS layer keeps it in a
//!   private field). JS decodes the phase and generation with the masks the
//!   core publishes (`fusebox::bindings`, see `layout.rs`); while the word
//!   admits freely and the core says admission may skip it
//!   (`bindings::skips_core`, asked of `acquire_raw`'s own predicate),
//!   admitting a call is a JS-only read, exactly that first branch.
//! * The functions below and their mailbox are made once per JS thread
//!   ([`thread`]), not per wrapper: every call site in the JS layer then
//!   calls one and the same function, which V8 calls directly. (With a
//!   function per breaker, a call site that sees two breakers goes through
//!   V8's generic API-call path: ~20 ns more per call.) A wrapper is known
//!   by the id [`bind`] gives it, which JS writes into the mailbox.
//! * `mailbox`: f64 slots shared by JS and the functions, through which
//!   arguments and results pass, so that the functions take no arguments
//!   and return nothing: no `napi_get_value_*`, no `napi_create_*`, no
//!   handle. The functions never call back into JS, so JS writes the slots,
//!   calls, and reads them, with nothing in between.
//!   - `[0]` permit token (`generation * 2 + probe`) or rejection code (< 0);
//!   - `[1]` start time of the permit in ns of the breaker's clock (when
//!     slow-call detection needs it; else 0);
//!   - `[2]` duration in ms for `record`, or < 0 to measure it;
//!   - `[3]` outcome for `record`: a code of `fusebox::bindings` (`outcome`,
//!     or `RELEASE`; `codes.js` holds them for JS), or [`CANCEL`];
//!   - `[4]`, `[5]`, `[6]`: the thread's success batch: how many successes
//!     it holds back, their token and their wrapper's id (-1: no batch);
//!   - `[7]` the id of the wrapper a call is for.
//! * `acquire()`: the core's `acquire_raw`, for every other phase (and when
//!   permits are timed); writes `[0]` (and `[1]`).
//! * `success()`, `failure()`: the core's `record_raw` of the permit in
//!   `[0]`/`[1]`, duration measured; `record()`: the general form.
//! * Successes are handed over in batches, under the core's contract
//!   (`fusebox::bindings::record_batch`). A call into Node-API costs more
//!   than the whole record, so a run of successes of one permit token
//!   is counted in JS, in `[4]`, and recorded by the core in one call. A
//!   thread has at most one batch open, for one wrapper and one token,
//!   opened by `success()` for a permit the core lets batch
//!   (`bindings::may_batch`). It is recorded when it holds
//!   `bindings::BATCH_MAX` successes, before anything else this thread asks
//!   of a breaker or a clock (every native entry flushes it first), at the
//!   end of the current run of microtasks (the JS layer's
//!   `process.nextTick`), when its wrapper's id is given back, and when the
//!   thread ends.
//!
//! Each function is created with `napi_create_function` and carries a strong
//! `Rc` of its thread's [`Thread`] as its data pointer, so a call finds it
//! with one `napi_get_cb_info`; the `Rc` is given back by a finalizer when
//! the function is collected.

use fusebox::bindings;
use fusebox::{Breaker, Outcome, RawPermit, Rejected};
use napi::bindgen_prelude::Object;
use napi::{sys, Env, JsValue};
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;
use std::rc::Rc;
use std::sync::Arc;

/// Mailbox slots.
const TOKEN: usize = 0;
const START: usize = 1;
const DURATION: usize = 2;
const OUTCOME: usize = 3;
const PENDING: usize = 4;
const BATCH_TOKEN: usize = 5;
const BATCH_ID: usize = 6;
const ID: usize = 7;
const SLOTS: usize = 8;

/// Most successes a batch holds back: the core's (the JS layer reads it
/// from [`thread`]'s object).
const BATCH_MAX: f64 = bindings::BATCH_MAX as f64;

/// The outcome code, next to the core's (`bindings::RELEASE` and below),
/// of "the caller gave the call up": the core's `cancel_raw`, which the
/// breaker's `cancellation` policy rules. The JS layer reads it from
/// [`thread`]'s object.
const CANCEL: u32 = bindings::RELEASE + 1;

/// One wrapper's breaker. Held in place in [`Thread::hots`], so that a call
/// reaches the breaker in as few dependent loads as can be.
#[derive(Clone)]
struct Hot {
    breaker: Arc<Breaker>,
    /// Whether permits need a start time: the core's admission cannot be
    /// skipped (`bindings::skips_core` is false).
    timed: bool,
}

/// One JS thread's side of the hot path. Reference-counted with `Rc`: the
/// functions and buffers holding it belong to one JS thread, and Node runs
/// their finalizers on that thread.
pub(crate) struct Thread {
    /// See the module's documentation.
    mailbox: [Cell<f64>; SLOTS],
    /// The wrappers' breakers by id (`None`: a free id, listed in `free`).
    hots: RefCell<Vec<Option<Hot>>>,
    free: RefCell<Vec<usize>>,
    /// The open batch's breaker (its id and token are in the mailbox).
    open: RefCell<Option<Hot>>,
}

/// Holds this thread's [`Thread`]; records its batch when the thread ends,
/// whoever else holds it then.
struct Guard(Rc<Thread>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.flush();
    }
}

thread_local! {
    static THREAD: RefCell<Option<Guard>> = const { RefCell::new(None) };
}

/// This thread's [`Thread`], made on first use (`None` while the thread
/// ends).
fn current() -> Option<Rc<Thread>> {
    THREAD
        .try_with(|t| {
            let mut t = t.borrow_mut();
            let g = t.get_or_insert_with(|| {
                let th = Thread {
                    mailbox: Default::default(),
                    hots: RefCell::default(),
                    free: RefCell::default(),
                    open: RefCell::default(),
                };
                th.mailbox[BATCH_TOKEN].set(-1.0);
                th.mailbox[BATCH_ID].set(-1.0);
                Guard(Rc::new(th))
            });
            g.0.clone()
        })
        .ok()
}

/// Records this thread's open batch, if any, and closes it. Called first by
/// every native entry that reads or moves a breaker or a clock.
pub(crate) fn flush() {
    let th = THREAD.try_with(|t| t.borrow().as_ref().map(|g| g.0.clone()));
    if let Ok(Some(th)) = th {
        th.flush();
    }
}

impl Thread {
    /// Records the batch, if one is open, and closes it.
    #[inline]
    fn flush(&self) {
        if self.mailbox[BATCH_ID].get() >= 0.0 {
            self.record_batch();
        }
    }

    #[inline(never)]
    fn record_batch(&self) {
        let n = self.mailbox[PENDING].replace(0.0);
        let t = self.mailbox[BATCH_TOKEN].replace(-1.0);
        self.mailbox[BATCH_ID].set(-1.0);
        // Taken out of the cell first: recording runs with the cell free.
        let Some(hot) = self.open.borrow_mut().take() else {
            return;
        };
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
            bindings::record_batch(&hot.breaker, p, n)
        }));
    }

    /// The breaker whose id is in the mailbox. Ids come from [`bind`], and
    /// JS only uses one while its wrapper (or a permit) holds it.
    #[inline]
    fn with_hot(&self, f: impl FnOnce(&Hot)) {
        let id = self.mailbox[ID].get();
        if !(0.0..4.0e9).contains(&id) {
            return;
        }
        // The functions never call back into JS, so nothing can ask for
        // this borrow again before it ends.
        if let Some(Some(hot)) = self.hots.borrow().get(id as usize) {
            f(hot);
        }
    }

    /// The permit in the mailbox, if it is one this binding made. Anything
    /// else (a forged token) is refused; an out-of-date generation is the
    /// core's business (dropped as stale).
    #[inline]
    fn permit(&self, hot: &Hot) -> Option<RawPermit> {
        let t = self.mailbox[TOKEN].get();
        if !(0.0..9.0e15).contains(&t) {
            return None;
        }
        let t = t as u64;
        let start = if hot.timed {
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

    /// Gives back the id `id`: its batch first, if it has the open one.
    fn unbind(&self, id: usize) {
        if self.mailbox[BATCH_ID].get() == id as f64 {
            self.record_batch();
        }
        let gone = self.hots.borrow_mut().get_mut(id).and_then(Option::take);
        if gone.is_some() {
            self.free.borrow_mut().push(id);
        }
    }
}

/// Token of an admitted call: `generation * 2 + probe`. Generations are
/// 41 bits, so tokens are exact in an f64.
#[inline]
fn token(p: RawPermit) -> f64 {
    (p.generation * 2 + u64::from(p.probe)) as f64
}

/// Code of a rejection: `-(1 + reason + 4 * retry)` where `reason` is the
/// core's code (`bindings::reject_code`), and `retry` is 0 when unknown, else
/// 1 + the retry-after in ns. Exact in an f64: retry-afters are at most
/// 2 × 10^15 ns (open timeout or back-off cap ≤ 10^6 s, jitter ≤ 100 %), so
/// the code stays below 2^53; clamped to 2^50 all the same. (No division, no
/// rounding call: they would cost more than the rest of the rejection.)
pub(crate) fn reject_code(r: &Rejected) -> f64 {
    let reason = u64::from(bindings::reject_code(r.reason));
    // In u64, and one conversion at the end: no u128 (`as_nanos`), no f64
    // arithmetic on the way (this is most of a rejection's own cost).
    let retry = r.retry_after.map_or(0, |d| {
        // Wrapping: the core makes retry-afters from u64 nanoseconds, so
        // this is that u64 again (and the compiler sees it: no arithmetic).
        let ns = d
            .as_secs()
            .wrapping_mul(1_000_000_000)
            .wrapping_add(u64::from(d.subsec_nanos()));
        1 + ns.min(1 << 50)
    });
    -((1 + reason + 4 * retry) as f64)
}

/// The [`Thread`] of the function being called.
///
/// # Safety
/// `env` and `info` must be the ones Node passed to a callback made by
/// [`function`] below.
#[inline]
unsafe fn thread_of<'a>(env: sys::napi_env, info: sys::napi_callback_info) -> Option<&'a Thread> {
    let mut data = null_mut();
    // SAFETY: per the contract; only the data pointer is requested (argc,
    // argv and this are null: Node-API skips them).
    let st =
        unsafe { sys::napi_get_cb_info(env, info, null_mut(), null_mut(), null_mut(), &mut data) };
    if st != sys::Status::napi_ok || data.is_null() {
        return None;
    }
    // SAFETY: `data` came from `Rc::into_raw` in `function`, and the
    // function holding that strong count is running, so it is alive.
    Some(unsafe { &*(data as *const Thread) })
}

unsafe extern "C" fn acquire(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: called by Node as a callback made by `function`.
    let Some(th) = (unsafe { thread_of(env, info) }) else {
        return null_mut();
    };
    th.flush();
    th.with_hot(|hot| {
        let _ = catch_unwind(AssertUnwindSafe(|| match hot.breaker.acquire_raw() {
            Ok(p) => {
                th.mailbox[START].set(p.start_ns as f64);
                th.mailbox[TOKEN].set(token(p));
            }
            Err(r) => th.mailbox[TOKEN].set(reject_code(&r)),
        }));
    });
    null_mut()
}

#[inline]
fn report(th: &Thread, hot: &Hot, outcome: Outcome) {
    if let Some(p) = th.permit(hot) {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            hot.breaker.record_raw(p, outcome, None)
        }));
    }
}

unsafe extern "C" fn success(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: called by Node as a callback made by `function`.
    let Some(th) = (unsafe { thread_of(env, info) }) else {
        return null_mut();
    };
    th.flush();
    th.with_hot(|hot| {
        report(th, hot, Outcome::Success);
        // Open a batch for the successes of this permit's token that follow.
        if let Some(p) = th
            .permit(hot)
            .filter(|&p| bindings::may_batch(&hot.breaker, p))
        {
            th.mailbox[PENDING].set(0.0);
            th.mailbox[BATCH_TOKEN].set(token(p));
            th.mailbox[BATCH_ID].set(th.mailbox[ID].get());
            *th.open.borrow_mut() = Some(hot.clone());
        }
    });
    null_mut()
}

unsafe extern "C" fn failure(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: called by Node as a callback made by `function`.
    let Some(th) = (unsafe { thread_of(env, info) }) else {
        return null_mut();
    };
    th.flush();
    th.with_hot(|hot| report(th, hot, Outcome::Failure));
    null_mut()
}

unsafe extern "C" fn record(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: called by Node as a callback made by `function`.
    let Some(th) = (unsafe { thread_of(env, info) }) else {
        return null_mut();
    };
    th.flush();
    th.with_hot(|hot| {
        let Some(p) = th.permit(hot) else {
            return;
        };
        let ms = th.mailbox[DURATION].get();
        let duration = (ms.is_finite() && ms >= 0.0).then(|| (ms * 1e6).round() as u64);
        let code = th.mailbox[OUTCOME].get();
        if !(0.0..=f64::from(CANCEL)).contains(&code) {
            return;
        }
        let code = code as u32;
        let _ = catch_unwind(AssertUnwindSafe(|| match bindings::outcome(code) {
            Some(o) => hot.breaker.record_raw(p, o, duration),
            None if code == bindings::RELEASE => hot.breaker.release_raw(p),
            None if code == CANCEL => hot.breaker.cancel_raw(p),
            None => {}
        }));
    });
    null_mut()
}

/// Gives back one strong count of an `Rc<Thread>`.
///
/// # Safety
/// `ptr` must be a strong count taken with `Rc::into_raw` and not yet given back.
unsafe fn release_thread(ptr: *mut c_void) {
    // SAFETY: per the contract.
    drop(unsafe { Rc::from_raw(ptr as *const Thread) });
}

/// Finalizer of a hot function: its data is its strong count of `Thread`.
unsafe extern "C" fn finalize_function(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the count `function` took for this function, and a
    // finalizer runs once.
    unsafe { release_thread(data) }
}

/// Finalizer of the mailbox buffer: its hint is its strong count of `Thread`.
unsafe extern "C" fn finalize_mailbox(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the count `thread` took for this buffer, and a
    // finalizer runs once.
    unsafe { release_thread(hint) }
}

/// Finalizer of the state-word buffer: its hint is a strong count of the breaker.
unsafe extern "C" fn finalize_word(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the count `bind` took for this buffer, and a
    // finalizer runs once.
    drop(unsafe { Arc::from_raw(hint as *const Breaker) });
}

/// What a wrapper's id handle holds: the id, and its thread.
struct Binding {
    thread: Rc<Thread>,
    id: usize,
}

/// Finalizer of a wrapper's id handle: gives the id back.
unsafe extern "C" fn finalize_binding(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the `Box<Binding>` `bind` made for this handle, and
    // a finalizer runs once.
    let b = unsafe { Box::from_raw(data as *mut Binding) };
    b.thread.unbind(b.id);
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

/// A function whose data is a strong count of `th`.
fn function(
    env: &Env,
    name: &str,
    cb: sys::napi_callback,
    th: &Rc<Thread>,
) -> napi::Result<sys::napi_value> {
    let data = Rc::into_raw(th.clone()) as *mut c_void;
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
    unsafe { release_thread(data) };
    Err(napi::Error::from_reason(format!(
        "fusebox: creating {name} failed"
    )))
}

fn setter<'e>(
    env: &'e Env,
) -> impl Fn(&Object<'e>, &std::ffi::CStr, sys::napi_value) -> napi::Result<()> {
    let raw_env = env.raw();
    move |obj, key, v| {
        // SAFETY: `obj` and `v` are live values of `env`; `key` is NUL-terminated.
        check(
            unsafe { sys::napi_set_named_property(raw_env, obj.raw(), key.as_ptr(), v) },
            "setting a property",
        )
    }
}

fn no_thread() -> napi::Error {
    napi::Error::from_reason("fusebox: this thread is ending")
}

/// This thread's hot functions and mailbox: `{ acquire, success, failure,
/// record, mailbox, batchMax, cancelCode }`.
pub(crate) fn thread(env: &Env) -> napi::Result<Object<'_>> {
    let th = current().ok_or_else(no_thread)?;
    let obj = Object::new(env)?;
    let set = setter(env);
    set(
        &obj,
        c"acquire",
        function(env, "acquire", Some(acquire), &th)?,
    )?;
    set(
        &obj,
        c"success",
        function(env, "success", Some(success), &th)?,
    )?;
    set(
        &obj,
        c"failure",
        function(env, "failure", Some(failure), &th)?,
    )?;
    set(&obj, c"record", function(env, "record", Some(record), &th)?)?;

    // The mailbox, kept alive by a strong count of `th`.
    let hint = Rc::into_raw(th.clone()) as *mut c_void;
    let mut mailbox = null_mut();
    // SAFETY: `th.mailbox` is SLOTS contiguous f64s (`Cell<f64>` is an f64)
    // inside `th`, which the strong count `hint` keeps alive until the
    // buffer's finalizer runs.
    let st = unsafe {
        sys::napi_create_external_arraybuffer(
            env.raw(),
            th.mailbox.as_ptr() as *mut c_void,
            std::mem::size_of_val(&th.mailbox),
            Some(finalize_mailbox),
            hint,
            &mut mailbox,
        )
    };
    if st != sys::Status::napi_ok {
        // SAFETY: the buffer was not created, so no finalizer owns `hint`.
        unsafe { release_thread(hint) };
        return Err(napi::Error::from_reason(
            "fusebox: mapping the mailbox failed",
        ));
    }
    set(&obj, c"mailbox", mailbox)?;
    let mut obj = obj;
    obj.set("batchMax", BATCH_MAX)?;
    obj.set("cancelCode", CANCEL)?;
    Ok(obj)
}

/// A wrapper's part of the hot path: `{ id, handle, word, skipsCore }`.
/// `id` is valid for this thread's functions while `handle` lives.
pub(crate) fn bind<'e>(env: &'e Env, breaker: &Arc<Breaker>) -> napi::Result<Object<'e>> {
    let th = current().ok_or_else(no_thread)?;
    // The core's answer, once: its inputs are fixed for a shared breaker.
    let skips_core = bindings::skips_core(breaker);
    let hot = Hot {
        breaker: breaker.clone(),
        timed: !skips_core,
    };
    let id = {
        let mut hots = th.hots.borrow_mut();
        match th.free.borrow_mut().pop() {
            Some(id) => {
                hots[id] = Some(hot);
                id
            }
            None => {
                hots.push(Some(hot));
                hots.len() - 1
            }
        }
    };
    let data = Box::into_raw(Box::new(Binding {
        thread: th.clone(),
        id,
    })) as *mut c_void;
    let mut handle = null_mut();
    // SAFETY: valid env; `data` is given to the finalizer, which runs once.
    let st = unsafe {
        sys::napi_create_external(
            env.raw(),
            data,
            Some(finalize_binding),
            null_mut(),
            &mut handle,
        )
    };
    if st != sys::Status::napi_ok {
        // SAFETY: the external was not made, so no finalizer owns `data`.
        let b = unsafe { Box::from_raw(data as *mut Binding) };
        b.thread.unbind(b.id);
        return Err(napi::Error::from_reason(
            "fusebox: binding the breaker failed",
        ));
    }
    let mut obj = Object::new(env)?;
    let set = setter(env);
    set(&obj, c"handle", handle)?;
    // The state word, the buffer keeping the breaker alive.
    // SAFETY: `state_word` is 8 bytes of the breaker.
    let word = unsafe { breaker_words(env, breaker, bindings::state_word(breaker).cast(), 8)? };
    set(&obj, c"word", word)?;
    obj.set("id", id as f64)?;
    obj.set("skipsCore", skips_core)?;
    Ok(obj)
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
