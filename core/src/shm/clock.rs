//! A hand-moved clock in a file of its own, for tests of code that runs in
//! several processes.

use super::config_codec::ns;
use super::file::{Map, WORD};
use crate::engine::clock::Clock;
use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// A clock moved by hand that lives in a file, so that several processes
/// read one time: what [`crate::ManualClock`] is to threads, for tests of
/// multi-process code. Starts at 1 s; only moves forward.
///
/// ```rust
/// use fusebox::shm::SharedManualClock;
/// use fusebox::Clock;
/// use std::time::Duration;
///
/// let dir = std::env::temp_dir().join(format!("fusebox-doc-clock-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let mine = SharedManualClock::open(dir.join("clock"))?;
/// let theirs = SharedManualClock::open(dir.join("clock"))?; // as another process would
/// assert_eq!(mine.now_ns(), 1_000_000_000);
/// mine.advance(Duration::from_millis(250));
/// assert_eq!(theirs.now_ns(), 1_250_000_000);
/// # drop((mine, theirs));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SharedManualClock {
    map: Map,
}

impl fmt::Debug for SharedManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedManualClock")
            .field("now_ns", &self.now_ns())
            .finish()
    }
}

impl SharedManualClock {
    /// The clock in file `path`, created if missing.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Arc<SharedManualClock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        // Every opener sizes it (to the same size), so none maps a file
        // another has not sized yet.
        if file.metadata()?.len() < WORD as u64 {
            file.set_len(4096)?;
        }
        let map = Map::new(&file, WORD)?;
        let _ = map
            .w(0)
            .compare_exchange(0, 1_000_000_000, Relaxed, Relaxed);
        Ok(Arc::new(SharedManualClock { map }))
    }

    /// Move time forward, for every process.
    pub fn advance(&self, by: Duration) {
        // Relaxed: a value, not a synchronisation point (as ManualClock).
        self.map.w(0).fetch_add(ns(by), Relaxed);
    }
}

impl Clock for SharedManualClock {
    fn now_ns(&self) -> u64 {
        match self.map.w(0).load(Relaxed) {
            0 => 1_000_000_000,
            t => t,
        }
    }
}
