//! Delivery of events off the hot path.
//!
//! Whoever makes a transition puts one job on a bounded lock-free queue
//! (`crossbeam_queue::ArrayQueue`) and wakes one dispatcher thread, which runs
//! the listeners. A listener that is slow delays only other listeners; one
//! that panics is caught and counted; a full queue drops the event and counts
//! it, and never blocks a call. Like the clock's upkeep thread, the dispatcher
//! is started lazily and restarted in a forked child.

use crossbeam_queue::ArrayQueue;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send>;

/// Queue capacity.
pub const QUEUE_CAPACITY: usize = 4096;

struct Dispatcher {
    queue: ArrayQueue<Job>,
    pushed: AtomicU64,
    done: AtomicU64,
    dropped: AtomicU64,
    panicked: AtomicU64,
    started: AtomicBool,
    thread: Mutex<Option<Thread>>,
}

fn dispatcher() -> &'static Dispatcher {
    static D: OnceLock<Dispatcher> = OnceLock::new();
    D.get_or_init(|| Dispatcher {
        queue: ArrayQueue::new(QUEUE_CAPACITY),
        pushed: AtomicU64::new(0),
        done: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        panicked: AtomicU64::new(0),
        started: AtomicBool::new(false),
        thread: Mutex::new(None),
    })
}

/// Run `job` on the dispatcher thread, soon. Never blocks; if the queue is
/// full the job is dropped and counted in [`Stats::dropped`].
pub fn dispatch(job: impl FnOnce() + Send + 'static) {
    let d = dispatcher();
    if d.queue.push(Box::new(job)).is_err() {
        d.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // Release: `flush` compares `pushed` with `done` (Acquire) to learn that
    // every job pushed before it has run.
    d.pushed.fetch_add(1, Ordering::Release);
    wake(d);
}

fn wake(d: &'static Dispatcher) {
    if !d.started.load(Ordering::Acquire) {
        start(d);
    }
    if let Ok(t) = d.thread.lock() {
        if let Some(t) = t.as_ref() {
            t.unpark();
        }
    }
}

#[cold]
fn start(d: &'static Dispatcher) {
    if d.started
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    #[cfg(unix)]
    {
        use std::sync::Once;
        static ATFORK: Once = Once::new();
        ATFORK.call_once(|| {
            // SAFETY: the handler only stores to a static atomic.
            unsafe { libc::pthread_atfork(None, None, Some(after_fork_child)) };
        });
    }
    let handle = std::thread::Builder::new()
        .name("fusebox-events".into())
        .spawn(move || run(d));
    match handle {
        Ok(h) => {
            if let Ok(mut t) = d.thread.lock() {
                *t = Some(h.thread().clone());
            }
        }
        Err(_) => d.started.store(false, Ordering::Release),
    }
}

#[cfg(unix)]
extern "C" fn after_fork_child() {
    // The thread is gone in the child; the next dispatch starts a new one.
    if let Some(d) = DISPATCHER_FOR_FORK.get() {
        d.started.store(false, Ordering::Relaxed);
    }
}

#[cfg(unix)]
static DISPATCHER_FOR_FORK: OnceLock<&'static Dispatcher> = OnceLock::new();

fn run(d: &'static Dispatcher) {
    #[cfg(unix)]
    let _ = DISPATCHER_FOR_FORK.set(d);
    loop {
        while let Some(job) = d.queue.pop() {
            if catch_unwind(AssertUnwindSafe(job)).is_err() {
                d.panicked.fetch_add(1, Ordering::Relaxed);
            }
            d.done.fetch_add(1, Ordering::Release);
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// Wait until every job dispatched before this call has run, or `timeout`
/// passes. Returns whether it caught up. For tests and orderly shutdown.
pub fn flush(timeout: Duration) -> bool {
    let d = dispatcher();
    let target = d.pushed.load(Ordering::Acquire);
    let until = Instant::now() + timeout;
    while d.done.load(Ordering::Acquire) < target {
        if Instant::now() >= until {
            return false;
        }
        wake(d);
        std::thread::sleep(Duration::from_micros(200));
    }
    true
}

/// Dispatcher counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Jobs queued.
    pub dispatched: u64,
    /// Jobs run.
    pub delivered: u64,
    /// Jobs dropped because the queue was full.
    pub dropped: u64,
    /// Jobs, and listeners run by [`Listeners::deliver`], that panicked (caught).
    pub panicked: u64,
}

/// Dispatcher counters, process-wide.
pub fn stats() -> Stats {
    let d = dispatcher();
    Stats {
        dispatched: d.pushed.load(Ordering::Relaxed),
        delivered: d.done.load(Ordering::Relaxed),
        dropped: d.dropped.load(Ordering::Relaxed),
        panicked: d.panicked.load(Ordering::Relaxed),
    }
}

/// A rejected call, as delivered to rejection listeners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The breaker's name.
    pub breaker: std::sync::Arc<str>,
    /// Why the call was rejected.
    pub reason: crate::RejectReason,
    /// When a retry may be admitted, if known.
    pub retry_after: Option<Duration>,
    /// Clock time of the rejection, in ns.
    pub at_ns: u64,
}

type ListenerFn<T> = std::sync::Arc<dyn Fn(&T) + Send + Sync>;

/// A set of listeners for events of type `T`, delivered on the event thread.
///
/// Emitting costs one atomic load when nobody listens (and when a parent set
/// is attached, one more for the parent): the event is not even built. When
/// someone listens, the event is built and one job is queued with
/// [`dispatch`]; the listeners run on the dispatcher thread, each inside
/// `catch_unwind`, so a slow listener delays only other listeners and a
/// panicking one neither stops the others nor reaches the caller.
///
/// A set may have a *parent* (e.g. a registry's set, for a breaker's): the
/// parent's listeners hear every event of the child as well.
pub struct Listeners<T> {
    any: AtomicBool,
    list: std::sync::RwLock<Vec<ListenerFn<T>>>,
    parent: OnceLock<std::sync::Arc<Listeners<T>>>,
}

impl<T> Default for Listeners<T> {
    fn default() -> Self {
        Listeners {
            any: AtomicBool::new(false),
            list: std::sync::RwLock::new(Vec::new()),
            parent: OnceLock::new(),
        }
    }
}

impl<T> std::fmt::Debug for Listeners<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field(
                "len",
                &self.list.read().unwrap_or_else(|p| p.into_inner()).len(),
            )
            .field("has_parent", &self.parent.get().is_some())
            .finish()
    }
}

impl<T: Send + Sync + 'static> Listeners<T> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a listener.
    pub fn subscribe(&self, f: impl Fn(&T) + Send + Sync + 'static) {
        let mut list = self.list.write().unwrap_or_else(|p| p.into_inner());
        list.push(std::sync::Arc::new(f));
        // Release: pairs with the Acquire in `is_active`; an emitter that sees
        // `true` will queue the event, and the dispatcher takes the read lock,
        // which orders it after this push.
        self.any.store(true, Ordering::Release);
    }

    /// Number of listeners of this set (not counting the parent's).
    pub fn len(&self) -> usize {
        self.list.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether this set has no listener of its own.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Attach a parent set, once. Returns false if one was already attached.
    pub fn set_parent(&self, parent: std::sync::Arc<Listeners<T>>) -> bool {
        self.parent.set(parent).is_ok()
    }

    /// Whether an event would reach anyone (here or in the parent chain).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.any.load(Ordering::Acquire) || self.parent.get().is_some_and(|p| p.is_active())
    }

    /// Queue the event built by `make` for the listeners, if there are any.
    /// Never blocks and never runs a listener on the caller's thread.
    #[inline]
    pub fn emit(self: &std::sync::Arc<Self>, make: impl FnOnce() -> T) {
        if !self.is_active() {
            return;
        }
        let event = make();
        let me = self.clone();
        dispatch(move || {
            me.deliver(&event);
        });
    }

    /// Run every listener (this set's, then the parent chain's) on `event`,
    /// here and now, each inside `catch_unwind`. Returns how many panicked.
    /// Used by the dispatcher; call it directly only from a listener.
    pub fn deliver(&self, event: &T) -> usize {
        let list: Vec<ListenerFn<T>> = self.list.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut panicked = 0;
        for l in list {
            if catch_unwind(AssertUnwindSafe(|| l(event))).is_err() {
                panicked += 1;
            }
        }
        if panicked > 0 {
            dispatcher()
                .panicked
                .fetch_add(panicked as u64, Ordering::Relaxed);
        }
        match self.parent.get() {
            Some(p) => panicked + p.deliver(event),
            None => panicked,
        }
    }
}
