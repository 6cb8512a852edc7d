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
    /// Jobs that panicked (caught).
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
