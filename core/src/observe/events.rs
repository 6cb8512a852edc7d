//! Delivery of events off the hot path.
//!
//! Whoever makes a transition puts one job on a bounded lock-free queue
//! (`crossbeam_queue::ArrayQueue`) and wakes one dispatcher thread, which runs
//! the listeners. A listener that is slow delays only other listeners; one
//! that panics is caught and counted; a full queue drops the event and counts
//! it, and never blocks a call. Like the clock's upkeep thread, the dispatcher
//! is started lazily and restarted in a forked child.
//!
//! loom checks fusebox's own part (`loom_tests`): the counters (every job
//! counted once, as queued or dropped, and once as run; `flush`'s marker
//! reached only after the jobs queued before it ran), the start flag (one thread started however many wake it, and
//! woken), and a listener's registration racing an emit. The queue itself
//! (FIFO, no job lost or run twice, `push` failing only when full) is left
//! to crossbeam's own tests (`tests/array_queue.rs`): under our loom build
//! its atomics are std's, so each push and pop is one indivisible step of a
//! model. The dispatcher thread's loop and its `park_timeout` are not
//! modelled (loom has no timed park; a model runs the queue itself, as that
//! thread would), nor is the fork handler.

use crate::sync::thread::Thread;
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering, RwLock};
use crossbeam_queue::ArrayQueue;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send>;

/// What the queue carries: a job, or `flush`'s marker, set when the
/// dispatcher reaches it (so every item queued before it has run: the
/// queue is FIFO and has one consumer).
enum Item {
    Job(Job),
    Marker(std::sync::Arc<AtomicBool>),
}

/// Queue capacity.
pub const QUEUE_CAPACITY: usize = 4096;

struct Dispatcher {
    queue: ArrayQueue<Item>,
    /// Under loom, bumped before each push (Release) and after each pop
    /// (Acquire): the queue's atomics are std's, unseen by loom, whose
    /// scheduler would otherwise never reorder two threads' steps on it, nor
    /// see that the queue hands an item over from its pusher to its popper
    /// (as crossbeam's slot stamps do, with the same orderings).
    #[cfg(loom)]
    queue_steps: AtomicU64,
    pushed: AtomicU64,
    done: AtomicU64,
    dropped: AtomicU64,
    panicked: AtomicU64,
    started: AtomicBool,
    thread: Mutex<Option<Thread>>,
}

#[cfg(not(loom))]
fn dispatcher() -> &'static Dispatcher {
    static D: OnceLock<Dispatcher> = OnceLock::new();
    D.get_or_init(|| Dispatcher::new(QUEUE_CAPACITY))
}

/// Under loom: one dispatcher per model execution.
#[cfg(loom)]
fn dispatcher() -> &'static Dispatcher {
    loom::lazy_static! {
        static ref D: Dispatcher = Dispatcher::new(QUEUE_CAPACITY);
    }
    &D
}

impl Dispatcher {
    fn new(capacity: usize) -> Dispatcher {
        Dispatcher {
            queue: ArrayQueue::new(capacity),
            #[cfg(loom)]
            queue_steps: AtomicU64::new(0),
            pushed: AtomicU64::new(0),
            done: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            started: AtomicBool::new(false),
            thread: Mutex::new(None),
        }
    }

    /// Queue `job`, counted in `pushed`; if the queue is full, drop it and
    /// count it in `dropped`. Returns whether it was queued.
    fn push(&self, job: Job) -> bool {
        self.queue_step(Ordering::Release);
        if self.queue.push(Item::Job(job)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        // Relaxed: a statistic (`flush` waits for a marker, not for counts).
        self.pushed.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Queue a marker behind every item queued so far; it is set once the
    /// dispatcher has run them all. `None` when the queue is full.
    fn mark(&self) -> Option<std::sync::Arc<AtomicBool>> {
        let marker = std::sync::Arc::new(AtomicBool::new(false));
        self.queue_step(Ordering::Release);
        self.queue.push(Item::Marker(marker.clone())).ok()?;
        Some(marker)
    }

    /// Run every queued job (the dispatcher thread's work), counting each in
    /// `done`, and in `panicked` if it panicked.
    #[cfg_attr(loom, allow(dead_code))] // under loom, only models run it
    fn run_queued(&self) {
        loop {
            let item = self.queue.pop();
            self.queue_step(Ordering::Acquire);
            let job = match item {
                None => return,
                Some(Item::Job(job)) => job,
                Some(Item::Marker(m)) => {
                    // Release: pairs with `flush`'s Acquire; what the jobs
                    // before it did is visible to the flusher.
                    m.store(true, Ordering::Release);
                    continue;
                }
            };
            if catch_unwind(AssertUnwindSafe(job)).is_err() {
                self.panicked.fetch_add(1, Ordering::Relaxed);
            }
            // Relaxed: a statistic.
            self.done.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A step on the queue, shown to loom (nothing outside loom).
    #[inline(always)]
    fn queue_step(&self, _order: Ordering) {
        // The queue's own orderings, no more: a pop synchronises with the
        // pushes before it (through the slot it takes), nothing else does.
        #[cfg(loom)]
        self.queue_steps.fetch_add(1, _order);
    }

    /// Make sure the dispatcher thread runs (the first waker starts it with
    /// `spawn`, which returns its handle, or `None` if it could not), and
    /// unpark it.
    fn wake(&self, spawn: impl FnOnce() -> Option<Thread>) {
        if !self.started.load(Ordering::Acquire) {
            self.start(spawn);
        }
        if let Ok(t) = self.thread.lock() {
            if let Some(t) = t.as_ref() {
                t.unpark();
            }
        }
    }

    #[cold]
    fn start(&self, spawn: impl FnOnce() -> Option<Thread>) {
        if self
            .started
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        match spawn() {
            Some(h) => {
                if let Ok(mut t) = self.thread.lock() {
                    *t = Some(h);
                }
            }
            None => self.started.store(false, Ordering::Release),
        }
    }

    fn stats(&self) -> Stats {
        Stats {
            dispatched: self.pushed.load(Ordering::Relaxed),
            delivered: self.done.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            panicked: self.panicked.load(Ordering::Relaxed),
        }
    }
}

/// Run `job` on the dispatcher thread, soon. Never blocks; if the queue is
/// full the job is dropped and counted in [`Stats::dropped`].
pub fn dispatch(job: impl FnOnce() + Send + 'static) {
    let d = dispatcher();
    if d.push(Box::new(job)) {
        wake(d);
    }
}

fn wake(d: &'static Dispatcher) {
    d.wake(|| spawn_thread(d));
}

/// Start the dispatcher thread; its handle, or `None` if it could not be
/// started.
#[cfg(not(loom))]
fn spawn_thread(d: &'static Dispatcher) -> Option<Thread> {
    #[cfg(unix)]
    {
        use std::sync::Once;
        static ATFORK: Once = Once::new();
        ATFORK.call_once(|| {
            // SAFETY: the handler only stores to a static atomic.
            unsafe { libc::pthread_atfork(None, None, Some(after_fork_child)) };
        });
    }
    std::thread::Builder::new()
        .name("fusebox-events".into())
        .spawn(move || run(d))
        .ok()
        .map(|h| h.thread().clone())
}

/// Under loom no dispatcher thread runs: a model runs the queue itself.
#[cfg(loom)]
fn spawn_thread(_: &'static Dispatcher) -> Option<Thread> {
    None
}

/// Under loom: run the queued jobs on this thread (no dispatcher thread runs).
#[cfg(all(test, loom))]
pub(crate) fn run_queued() {
    dispatcher().run_queued();
}

#[cfg(all(unix, not(loom)))]
extern "C" fn after_fork_child() {
    // The thread is gone in the child; the next dispatch starts a new one.
    if let Some(d) = DISPATCHER_FOR_FORK.get() {
        d.started.store(false, Ordering::Relaxed);
    }
}

#[cfg(all(unix, not(loom)))]
static DISPATCHER_FOR_FORK: OnceLock<&'static Dispatcher> = OnceLock::new();

#[cfg(not(loom))]
fn run(d: &'static Dispatcher) {
    #[cfg(unix)]
    let _ = DISPATCHER_FOR_FORK.set(d);
    loop {
        d.run_queued();
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// Wait until every job dispatched before this call has run, or `timeout`
/// passes. Returns whether it caught up. For tests and orderly shutdown.
///
/// It queues a marker behind those jobs and waits for the dispatcher to
/// reach it. (Comparing counts of jobs queued and run, as it once did, let
/// another thread's job, queued ahead of ours but counted after the
/// comparison read its target, stand in for ours.)
pub fn flush(timeout: Duration) -> bool {
    let d = dispatcher();
    let until = Instant::now() + timeout;
    let wait = || {
        if Instant::now() >= until {
            return false;
        }
        wake(d);
        std::thread::sleep(Duration::from_micros(200));
        true
    };
    let marker = loop {
        match d.mark() {
            Some(m) => break m,
            // Full: the dispatcher makes room.
            None if wait() => {}
            None => return false,
        }
    };
    wake(d);
    // Acquire: pairs with the dispatcher's Release when it reaches the marker.
    while !marker.load(Ordering::Acquire) {
        if !wait() {
            return false;
        }
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
    dispatcher().stats()
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

/// Names one listener, to remove it later ([`Listeners::unsubscribe`],
/// [`Registry::remove_listener`](crate::Registry::remove_listener)):
/// unique in the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

impl ListenerId {
    fn next() -> ListenerId {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        ListenerId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

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
    list: RwLock<Vec<(ListenerId, ListenerFn<T>)>>,
    parent: OnceLock<std::sync::Arc<Listeners<T>>>,
}

impl<T> Default for Listeners<T> {
    fn default() -> Self {
        Listeners {
            any: AtomicBool::new(false),
            list: RwLock::new(Vec::new()),
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

    /// Add a listener; the id removes it ([`Listeners::unsubscribe`]).
    pub fn subscribe(&self, f: impl Fn(&T) + Send + Sync + 'static) -> ListenerId {
        let id = ListenerId::next();
        let mut list = self.list.write().unwrap_or_else(|p| p.into_inner());
        list.push((id, std::sync::Arc::new(f)));
        // Release: pairs with the Acquire in `is_active`; an emitter that sees
        // `true` will queue the event, and the dispatcher takes the read lock,
        // which orders it after this push.
        self.any.store(true, Ordering::Release);
        id
    }

    /// Remove the listener `id` (events already queued may still reach
    /// it). Whether it was in this set. The last one removed makes emitting
    /// cost one load again.
    pub fn unsubscribe(&self, id: ListenerId) -> bool {
        let mut list = self.list.write().unwrap_or_else(|p| p.into_inner());
        let before = list.len();
        list.retain(|(i, _)| *i != id);
        if list.is_empty() {
            self.any.store(false, Ordering::Release);
        }
        list.len() != before
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

    /// Queue the events built by `make`, in order and as one job, if there
    /// are listeners: for what one change did (a failover and the panic mode
    /// it starts), so that they are heard together, in the order made, and
    /// kept or dropped together when the queue is full. Nothing is queued
    /// for no event. Never blocks and never runs a listener on the caller's
    /// thread.
    #[inline]
    pub fn emit_all(self: &std::sync::Arc<Self>, make: impl FnOnce() -> Vec<T>) {
        if !self.is_active() {
            return;
        }
        let events = make();
        if events.is_empty() {
            return;
        }
        let me = self.clone();
        dispatch(move || {
            for event in &events {
                me.deliver(event);
            }
        });
    }

    /// Run every listener (this set's, then the parent chain's) on `event`,
    /// here and now, each inside `catch_unwind`. Returns how many panicked.
    /// Used by the dispatcher; call it directly only from a listener.
    pub fn deliver(&self, event: &T) -> usize {
        let list: Vec<ListenerFn<T>> = self
            .list
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, f)| f.clone())
            .collect();
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

#[cfg(all(test, loom))]
mod loom_tests {
    //! `RUSTFLAGS="--cfg loom" cargo test -p fusebox --release --lib loom`
    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Arc;
    use loom::thread;

    /// A job that counts its runs in `ran`.
    fn job(ran: &Arc<AtomicUsize>) -> Job {
        let ran = ran.clone();
        Box::new(move || {
            ran.fetch_add(1, Ordering::Relaxed);
        })
    }

    #[test]
    fn every_job_is_counted_once() {
        loom::model(|| {
            // Room for one: two producers and the dispatcher's work racing,
            // so that a push may find the queue full.
            let d = Arc::new(Dispatcher::new(1));
            let ran = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let (d, j) = (d.clone(), job(&ran));
                    thread::spawn(move || d.push(j))
                })
                .collect();
            d.run_queued();
            let queued = hs.into_iter().map(|h| h.join().unwrap()).filter(|&q| q);
            let queued = queued.count() as u64;
            d.run_queued();
            let s = d.stats();
            assert!(queued >= 1, "the first push finds room");
            assert_eq!((s.dispatched, s.dropped), (queued, 2 - queued));
            assert_eq!(s.delivered, s.dispatched, "a queued job was not run");
            assert_eq!(ran.load(Ordering::Relaxed) as u64, s.delivered);
        });
    }

    #[test]
    fn flush_sees_its_own_jobs_run() {
        // One producer (the flusher itself) and the dispatcher's work.
        loom::model(|| {
            let d = Arc::new(Dispatcher::new(4));
            let ran = Arc::new(AtomicUsize::new(0));
            let d1 = d.clone();
            let t = thread::spawn(move || d1.run_queued());
            assert!(d.push(job(&ran)));
            assert!(d.push(job(&ran)));
            // `flush`'s test, once.
            let marker = d.mark().unwrap();
            if marker.load(Ordering::Acquire) {
                assert_eq!(
                    ran.load(Ordering::Relaxed),
                    2,
                    "caught up before its jobs ran"
                );
            }
            t.join().unwrap();
            d.run_queued();
            assert!(marker.load(Ordering::Acquire), "the marker was not reached");
        });
    }

    #[test]
    fn flush_sees_its_own_jobs_run_beside_another_producer() {
        // The other producer queues its job, ours is queued behind it, and
        // the dispatcher runs the other's: when `flush` compared counts of
        // jobs queued and run, the other's could stand in for ours (1 >= 1
        // while ours was still queued). A marker cannot be reached before
        // the jobs queued ahead of it.
        loom::model(|| {
            let d = Arc::new(Dispatcher::new(4));
            let (mine, other) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let (d1, d2, o) = (d.clone(), d.clone(), job(&other));
            let runner = thread::spawn(move || d1.run_queued());
            let producer = thread::spawn(move || d2.push(o));
            assert!(d.push(job(&mine)));
            let marker = d.mark().unwrap();
            if marker.load(Ordering::Acquire) {
                assert_eq!(
                    mine.load(Ordering::Relaxed),
                    1,
                    "caught up before its job ran"
                );
            }
            runner.join().unwrap();
            producer.join().unwrap();
        });
    }

    #[test]
    fn the_event_thread_is_started_once_and_woken() {
        loom::model(|| {
            let d = Arc::new(Dispatcher::new(1));
            let spawned = Arc::new(AtomicUsize::new(0));
            // What `spawn` starts: a thread that waits to be woken once (if
            // no waker unparks it, loom reports a deadlock).
            let runner = thread::spawn(thread::park);
            let wake = {
                let (d, spawned, runner) = (d.clone(), spawned.clone(), runner.thread().clone());
                move || {
                    d.wake(|| {
                        spawned.fetch_add(1, Ordering::Relaxed);
                        Some(runner)
                    })
                }
            };
            let t = thread::spawn(wake.clone());
            wake();
            t.join().unwrap();
            runner.join().unwrap();
            assert_eq!(spawned.load(Ordering::Relaxed), 1, "started twice");
            assert!(d.started.load(Ordering::Relaxed));
            assert!(d.thread.lock().unwrap().is_some(), "the handle was lost");
        });
    }

    #[test]
    fn a_listener_hears_every_event_emitted_once_it_is_seen() {
        loom::model(|| {
            // The listener joins the parent of the set that emits, while
            // the event is emitted and run at once (as if the dispatcher
            // thread had been waiting for it).
            let parent = std::sync::Arc::new(Listeners::<u32>::new());
            let child = std::sync::Arc::new(Listeners::<u32>::new());
            assert!(child.set_parent(parent.clone()));
            let heard = Arc::new(AtomicUsize::new(0));
            let h = heard.clone();
            let t = thread::spawn(move || {
                parent.subscribe(move |&e| {
                    assert_eq!(e, 7);
                    h.fetch_add(1, Ordering::Relaxed);
                })
            });
            child.emit(|| 7);
            run_queued();
            t.join().unwrap();
            let s = stats();
            assert_eq!(s.dispatched, s.delivered);
            // An event queued was queued because a listener was seen: it
            // reached that listener, even when run at once.
            assert_eq!(heard.load(Ordering::Relaxed) as u64, s.delivered);
        });
    }
}
