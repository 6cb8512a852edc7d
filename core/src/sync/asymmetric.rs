//! Asymmetric fences: a free one for the thread on a hot path, a costly one
//! for the rare thread that must see what the hot path wrote.
//!
//! Two threads that each store to one word and then load the other's (the
//! store-buffering pattern: an owner marks itself busy and checks for
//! visitors, a visitor announces itself and checks for the owner) need a
//! full fence on both sides, or both may miss the other. [`light`] and
//! [`heavy`] give that guarantee with the whole cost on the visitor's side:
//! `light` is a compiler fence, and `heavy` makes every running thread of
//! the process execute a full memory barrier (Linux's `membarrier`, private
//! expedited: an interrupt to each core running one of its threads). A
//! thread not running at the time has passed a barrier when it was switched
//! out. So for any `light` fence and `heavy` fence, either the stores before
//! the light one are visible to the loads after the heavy one, or the
//! stores before the heavy one are visible to the loads after the light one:
//! what a `fence(SeqCst)` on both sides gives.
//!
//! [`enabled`] says whether the process has the heavy fence; where it does
//! not (another system, a kernel without `membarrier`, a sandbox that
//! forbids it), a caller of `light` must use a read-modify-write instead,
//! and `heavy` is a plain `fence(SeqCst)`. Under loom both fences are
//! `fence(SeqCst)`, which is what they stand for, so a model checks the
//! protocol built on them.

#[cfg(loom)]
mod imp {
    use loom::sync::atomic::{fence, Ordering};

    pub(crate) fn enabled() -> bool {
        true
    }

    pub(crate) fn light() {
        fence(Ordering::SeqCst);
    }

    pub(crate) fn heavy() {
        fence(Ordering::SeqCst);
    }
}

#[cfg(all(not(loom), any(target_os = "linux", target_os = "android")))]
mod imp {
    use std::sync::atomic::{compiler_fence, fence, AtomicU8, Ordering};

    // The kernel's `membarrier` commands (linux/membarrier.h).
    const CMD_GLOBAL: libc::c_int = 1;
    const CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

    const UNKNOWN: u8 = 0;
    const ON: u8 = 1;
    const OFF: u8 = 2;

    /// Whether the process is registered for the private expedited fence:
    /// set once, the first time anyone asks.
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

    fn membarrier(cmd: libc::c_int) -> bool {
        // SAFETY: `membarrier(cmd, flags = 0, cpu_id = 0)` takes no pointer
        // and touches no memory of ours; an unknown or refused command only
        // returns -1.
        unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0, 0) == 0 }
    }

    #[inline(always)]
    pub(crate) fn enabled() -> bool {
        // Relaxed: a thread that reads ON reads it after the registration
        // by the thread that stored it (which the kernel orders), and one
        // that reads UNKNOWN registers itself.
        match STATE.load(Ordering::Relaxed) {
            ON => true,
            OFF => false,
            _ => register(),
        }
    }

    #[cold]
    fn register() -> bool {
        // Registered, and a first barrier taken: a sandbox that accepts one
        // command and refuses the other leaves the fast path off.
        let works = membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) && membarrier(CMD_PRIVATE_EXPEDITED);
        let state = if works { ON } else { OFF };
        // The first answer stands (a second thread's would be the same).
        match STATE.compare_exchange(UNKNOWN, state, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => state == ON,
            Err(first) => first == ON,
        }
    }

    #[inline(always)]
    pub(crate) fn light() {
        compiler_fence(Ordering::SeqCst);
    }

    #[cold]
    pub(crate) fn heavy() {
        fence(Ordering::SeqCst);
        if !enabled() {
            // Nobody uses a light fence: the fence above is the protocol.
            return;
        }
        if membarrier(CMD_PRIVATE_EXPEDITED) {
            return;
        }
        // Refused: register again and retry, once. (Linux keeps the
        // registration across `fork` and drops it at `exec`, where this
        // static starts afresh too; this is for a kernel that would not.)
        if membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) && membarrier(CMD_PRIVATE_EXPEDITED) {
            return;
        }
        // The slow global barrier needs no registration.
        if !membarrier(CMD_GLOBAL) {
            // A kernel that took the registration refuses every barrier: no
            // way is left to order the light side, and going on could spend
            // a retry twice.
            std::process::abort();
        }
    }
}

#[cfg(all(not(loom), not(any(target_os = "linux", target_os = "android"))))]
mod imp {
    use std::sync::atomic::{fence, Ordering};

    pub(crate) fn enabled() -> bool {
        false
    }

    pub(crate) fn light() {
        fence(Ordering::SeqCst);
    }

    pub(crate) fn heavy() {
        fence(Ordering::SeqCst);
    }
}

pub(crate) use imp::{enabled, heavy, light};

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_stable_and_the_fences_return() {
        let first = enabled();
        light();
        heavy();
        assert_eq!(enabled(), first);
    }

    /// A child of `fork` (whose threads the parent's registration must
    /// cover) takes a heavy fence without aborting.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_heavy_fence_works_in_a_forked_child() {
        let _ = enabled();
        // SAFETY: the child calls only `heavy` (syscalls and atomics:
        // nothing that allocates or locks) and `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            heavy();
            // SAFETY: ends the child without running the parent's exit code.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is a valid out-pointer.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "the child died: {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 0);
    }
}
