//! The processes that share a file: whether a pid still runs, and which
//! boot of the host made the file.

use super::hash::fnv1a;
use std::io;

/// Whether process `pid` still runs (a zombie does not: it was killed and
/// waits only for its parent to reap it).
pub(super) fn alive(pid: u32) -> bool {
    let Ok(p) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 sends nothing; it only checks that the
    // process exists (EPERM: it exists, owned by another user).
    let r = unsafe { libc::kill(p, 0) };
    if r != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EPERM) {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        // /proc/<pid>/stat: "pid (comm) S ...", the state after the last ')'.
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            if let Some(state) = s
                .rsplit(')')
                .next()
                .and_then(|r| r.trim_start().chars().next())
            {
                return state != 'Z' && state != 'X';
            }
        }
    }
    true
}

/// An id of the host's current boot, so a file that outlived a reboot is
/// recognised (0: unknown, not checked).
pub(super) fn boot_id() -> u64 {
    #[cfg(target_os = "linux")]
    {
        if let Ok(s) = std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
            return fnv1a(s.trim().bytes()) | 1;
        }
    }
    0
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_dead_or_zombie_pid_is_not_alive() {
        assert!(alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Not reaped yet: a zombie once it exits.
        std::thread::sleep(Duration::from_millis(50));
        #[cfg(target_os = "linux")]
        assert!(!alive(pid), "a zombie counts as dead");
        child.wait().unwrap();
        assert!(!alive(pid));
    }
}
