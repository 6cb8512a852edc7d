//! The calling thread's slot: a small number that no other live thread of
//! this process holds.
//!
//! A breaker gives each of its first `stripes - 1` slots a counter stripe of
//! its own. A stripe with one writer needs no read-modify-write instruction:
//! its owner adds with a plain load and store (no `lock` prefix, no cache
//! line traffic), which is what makes the closed path cost about as much as
//! a few loads. Threads whose slot is past the exclusive stripes share the
//! last stripe and update it with CAS, as every writer of a shared-memory
//! breaker does (processes have no common numbering of their threads).
//!
//! A thread past the owned stripes picks one of a breaker's shared stripes
//! by its slot plus a probe offset, which moves when it loses a
//! compare-and-swap there ([`collided`]).
//!
//! Slots are handed out lowest first and given back when the thread exits,
//! so a server that keeps as many busy threads as it has cores keeps them all
//! on exclusive stripes. A slot is reused only after its thread has exited:
//! the free list's mutex orders the old owner's last writes before the new
//! owner's first.

/// Returned for a thread that has given its slot back (a thread-local
/// destructor that still reports outcomes while the thread exits): it is
/// past every exclusive stripe, so that thread writes with CAS.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const SHARED: usize = usize::MAX >> 1;

/// The cores this process may run on (`available_parallelism`, 4 when
/// unknown), read once: on Linux each reading opens and parses cgroup
/// files (~30 µs), which made building a breaker cost twice what it
/// needs. Sizes picked from it are heuristics (stripe counts), so a quota
/// changed later only makes new breakers' stripes a little off.
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(4, |n| n.get()))
}

#[cfg(not(loom))]
mod imp {
    use super::SHARED;
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// Slots given back by exited threads (a handful: the lowest is taken
    /// first, found by a scan).
    static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    /// The next never-used slot.
    static NEXT: AtomicUsize = AtomicUsize::new(0);

    thread_local! {
        /// The slot; `usize::MAX` until the thread first asks. A
        /// const-initialised `Cell` without a destructor: reading it is one
        /// load, with no lazy-initialisation state to check.
        static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
        /// Gives the slot back when the thread exits (its destructor is
        /// registered on the first call only, off the hot path).
        static GUARD: Guard = const { Guard(Cell::new(usize::MAX)) };
    }

    struct Guard(Cell<usize>);

    impl Drop for Guard {
        fn drop(&mut self) {
            let s = self.0.get();
            if s == usize::MAX {
                return;
            }
            // From now on this thread writes like a stranger (with CAS);
            // `SLOT` has no destructor, so it is still readable here.
            let _ = SLOT.try_with(|c| c.set(SHARED));
            // A poisoned lock only means another thread panicked while
            // holding it; the heap itself is always whole.
            let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
            free.push(s);
        }
    }

    /// The calling thread's slot.
    #[inline(always)]
    pub(crate) fn current() -> usize {
        let v = SLOT.try_with(Cell::get).unwrap_or(SHARED);
        if v != usize::MAX {
            return v;
        }
        assign()
    }

    thread_local! {
        /// How far the thread's probe among a breaker's shared stripes has
        /// moved from its slot (see [`collided`]).
        static PROBE: Cell<usize> = const { Cell::new(0) };
    }

    /// Added to the slot to pick a shared stripe: 0 until the thread loses
    /// a race on one.
    #[inline(always)]
    pub(crate) fn probe_offset() -> usize {
        PROBE.try_with(Cell::get).unwrap_or(0)
    }

    /// The calling thread lost a compare-and-swap on a shared stripe to
    /// another writer: move its probe to the next shared stripe, so that
    /// threads that keep colliding spread out (as Java's `Striped64`
    /// re-hashes a thread's probe). Only the loser moves.
    #[cold]
    pub(crate) fn collided() {
        let _ = PROBE.try_with(|p| p.set(p.get().wrapping_add(1)));
    }

    /// The calling thread's slot if it has one already; else `usize::MAX`
    /// (nothing is assigned, no lock taken).
    #[inline(always)]
    pub(crate) fn assigned() -> usize {
        SLOT.try_with(Cell::get).unwrap_or(SHARED)
    }

    #[cold]
    #[inline(never)]
    fn assign() -> usize {
        let reused = {
            let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
            let lowest = (0..free.len()).min_by_key(|&i| free[i]);
            lowest.map(|i| free.swap_remove(i))
        };
        // Relaxed: the counter only has to hand out distinct numbers.
        let s = reused.unwrap_or_else(|| NEXT.fetch_add(1, Ordering::Relaxed).min(SHARED));
        // Without a working destructor (the thread is already exiting) the
        // slot could never be given back: take none.
        if GUARD.try_with(|g| g.0.set(s)).is_err() {
            if reused.is_some() {
                FREE.lock().unwrap_or_else(|e| e.into_inner()).push(s);
            }
            return SHARED;
        }
        let _ = SLOT.try_with(|c| c.set(s));
        s
    }
}

#[cfg(loom)]
mod imp {
    /// Under loom: the thread's number within the execution (0 for the
    /// model's main thread), unique and deterministic across executions,
    /// from the Debug form "ThreadId(n)" of loom's thread id.
    pub(crate) fn current() -> usize {
        let id = format!("{:?}", loom::thread::current().id());
        id.bytes()
            .filter(u8::is_ascii_digit)
            .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'))
    }

    /// Under loom the probe stays at the slot: which shared stripe a
    /// writer picks does not change the protocol (every shared stripe is
    /// written with CAS and read by every reader).
    pub(crate) fn probe_offset() -> usize {
        0
    }

    pub(crate) fn assigned() -> usize {
        current()
    }

    pub(crate) fn collided() {}
}

pub(crate) use imp::current;
pub(crate) use imp::{assigned, collided, probe_offset};

#[cfg(all(feature = "shm", unix, not(loom)))]
pub(crate) use forks::{fork_epoch, process_nonce, watch_forks};

/// Forks, for what a process owns in a shared file by its pid (see
/// `shm::claims`): a forked child has the parent's memory, thread slots
/// included, but not its identity.
#[cfg(all(feature = "shm", unix, not(loom)))]
mod forks {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    /// Forks this process has been through (bumped in the child).
    static FORKS: AtomicU64 = AtomicU64::new(0);
    /// This process's nonce (0: not drawn yet; cleared in a forked child).
    static NONCE: AtomicU64 = AtomicU64::new(0);

    extern "C" fn after_fork_child() {
        // Relaxed: this runs in the child before anything else, when it has
        // one thread; later loads in that thread see it by program order.
        FORKS.fetch_add(1, Relaxed);
        NONCE.store(0, Relaxed);
    }

    /// Start counting forks (once per process; before any fork that
    /// matters: called when a shared registry is opened).
    pub(crate) fn watch_forks() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: `after_fork_child` is an `extern "C" fn()` that only
            // touches two static atomics, which is async-signal-safe.
            unsafe { libc::pthread_atfork(None, None, Some(after_fork_child)) };
        });
    }

    /// Forks so far. Relaxed: the child's handler runs before any of its
    /// code, in the only thread it has.
    #[inline(always)]
    pub(crate) fn fork_epoch() -> u64 {
        FORKS.load(Relaxed)
    }

    /// A random non-zero 32-bit number drawn once per process (and again in
    /// a forked child), telling this process from an earlier one that had
    /// its pid.
    pub(crate) fn process_nonce() -> u64 {
        // Relaxed: one self-contained value, drawn once; racing drawers
        // agree through the CAS below.
        let n = NONCE.load(Relaxed);
        if n != 0 {
            return n;
        }
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let drawn = (h.finish() as u32 as u64).max(1);
        match NONCE.compare_exchange(0, drawn, Relaxed, Relaxed) {
            Ok(_) => drawn,
            Err(other) => other,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn live_threads_hold_distinct_slots() {
        let mine = current();
        assert_eq!(current(), mine, "stable for the thread");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = barrier.clone();
                std::thread::spawn(move || {
                    let s = current();
                    b.wait(); // all four alive at once
                    s
                })
            })
            .collect();
        let mut slots: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        slots.push(mine);
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), 5, "five live threads, five slots");
    }
}
