//! The one place that chooses between `std` and `loom` atomics.
//!
//! Every atomic of the breaker's protocol is imported from here, so
//! `RUSTFLAGS="--cfg loom"` swaps the whole engine onto loom's model checker
//! (the way tokio does it).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU64, Ordering};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU64, Ordering};

/// Fences for a hot path that pays nothing and a rare one that pays for both
/// (`membarrier` on Linux).
pub(crate) mod asymmetric;

/// `AtomicU64::new` is `const` in std but not in loom.
pub(crate) fn atomic_u64(v: u64) -> AtomicU64 {
    AtomicU64::new(v)
}

// The latency histogram's bucket counters.
#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU32;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicU32;

// The failover group's and the event queue's flags, listener lists, the
// event thread's handle, and the adaptive limit's estimator (taken with
// `try_lock` by the thread that closes a window: under loom its hand-over
// is a modelled synchronisation).
#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicBool;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicBool;

#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, RwLock};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, RwLock};

#[cfg(loom)]
pub(crate) use loom::thread;
#[cfg(not(loom))]
pub(crate) use std::thread;

/// Always std's, under loom too, for what loom cannot run: a static (a loom
/// atomic belongs to one model execution, a static outlives them all) and a
/// flag shared with a real thread outside the model (a health checker's).
/// Nothing of a modelled protocol may use these.
pub(crate) mod unmodelled {
    // AtomicU64 is used by failover only (feature `failover`).
    #[allow(unused_imports)]
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64};
}

// The guard a lock helper returns (the fenced resource's, the election
// candidate's): whichever `Mutex` above it came from. Used by failover only.
#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::MutexGuard;
#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::sync::MutexGuard;

// The load shedder's level word.
#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU8;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicU8;

// A reconfigured breaker's pointer to its own settings.
#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicPtr;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicPtr;
