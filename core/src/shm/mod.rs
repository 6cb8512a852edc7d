//! Breakers shared by every process on a host
//! (`docs/semantics.md#shared-memory`), in a memory-mapped file (its layout:
//! `docs/architecture.md#shared-memory-files`).
//!
//! A breaker's whole mutable state is an array of atomic words with no
//! pointers in it (see [`crate::layout`]), so the very same breaker can live
//! in a file that gunicorn workers, Node cluster workers or pre-forked C
//! servers all map: a trip seen by one worker stops every worker's calls at
//! once, instead of each worker paying for its own threshold of failures.
//! The hot path is the in-process one: the same atomics, at another address.
//!
//! ```no_run
//! use fusebox::shm::SharedRegistry;
//! use fusebox::Config;
//!
//! let registry = SharedRegistry::open("/dev/shm/myapp.fusebox")?;
//! let breaker = registry.get_or_create("inventory-db", &Config::default())?;
//! if let Ok(permit) = breaker.try_acquire() {
//!     permit.success();
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The file
//!
//! ```text
//! header (2 lines)   magic, layout version and fingerprint, total size,
//!                    capacity, stripes, where the slots and the data are,
//!                    boot id, and the data area's allocation mark
//! slots (4 lines ×   per breaker: a state word, its config (16 words) and
//!   capacity)        the config's hash, its name (≤ 256 bytes), where its
//!                    lines are
//! data               the breakers' lines, allocated once, never moved
//! ```
//!
//! * **Created atomically.** The creator builds the whole file under a
//!   temporary name in the same folder and `link()`s it into place, which
//!   fails if the path exists: of two processes racing to create it, one
//!   links and the other opens the winner's file. A file is never seen half
//!   made.
//! * **Refused, never misread.** A file whose magic, layout version, layout
//!   fingerprint, size or geometry is not this build's is refused with a
//!   [`ShmError`] that says which. So is a breaker whose stored config is not
//!   the caller's ([`ShmError::ConfigMismatch`], naming the fields that
//!   differ), and a file made before the host last booted (its deadlines are
//!   on an old `CLOCK_MONOTONIC`).
//! * **Fixed capacity.** The number of breaker slots and the size of the data
//!   area are chosen at creation. A breaker is added by name into a free slot
//!   with a CAS on the slot's state word (open addressing on the name's hash,
//!   so two processes adding one name meet at the same slot); slots are never
//!   freed.
//! * **Crash-safe.** Every update is one atomic instruction on one word, and
//!   no lock is ever held, so a process killed at any moment (SIGKILL
//!   mid-call) leaves every breaker usable:
//!   - a half-open probe slot held by a killed process comes back through the
//!     half-open wait limit ([`Config::half_open_max_wait`]), as for a probe
//!     that never reports in one process;
//!   - a process killed between winning a transition and publishing the new
//!     phase's deadline (a window of a few ns) would leave the breaker open
//!     forever in a naive design: a shared breaker notices the missing
//!     deadline and, once the phase's own length has passed, publishes one in
//!     the dead winner's place;
//!   - a slot whose creator was killed while filling it is taken over by the
//!     next process that adds that name (the creator's pid is in the slot's
//!     state word, and is checked with `kill(pid, 0)`).
//!
//!   What a kill can cost is bounded and never affects decisions: the call in
//!   flight in the killed process is not counted (or, killed right after its
//!   outcome was counted, not acknowledged); a state change it won may be
//!   missing from `state_changes`; and, with a time window, a kill between a
//!   bucket's reset and the retirement of its old count drops that count
//!   from the lifetime totals (never from the window).
//!
//! # Clock
//!
//! Deadlines in the file are `CLOCK_MONOTONIC` times, which every process on
//! the host shares ([`crate::ClockSource::Monotonic`], the default). Tests
//! drive a [`SharedManualClock`], a hand-moved clock that lives in a file of
//! its own. Any other clock must also be valid across the processes.
//!
//! # Limits
//!
//! State-change listeners ([`Breaker::on_state_change`]) hear the changes
//! made by their own process only. Processes that share a file must share a
//! pid namespace (the takeover of a dead creator's slot relies on pids).
//! Put the file on a tmpfs (`/dev/shm`, `/run`) so it goes with the host's
//! boot; one left from an earlier boot is refused ([`ShmError::StaleBoot`]).

use crate::engine::clock::{Clock, ClockSource};
use crate::engine::config::{Backoff, Config, ConfigError, WindowConfig};
use crate::engine::layout::*;
use crate::engine::metrics::Metrics;
use crate::engine::registry::MAX_NAME_LEN;
use crate::Breaker;
use memmap2::{MmapOptions, MmapRaw};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `"FBSHMREG"`, read as a little-endian word (a host of the other byte
/// order reads another number, and refuses the file).
pub const MAGIC: u64 = u64::from_le_bytes(*b"FBSHMREG");
/// The file format's version. Bump it whenever the meaning of a word changes
/// (the header, the slots, the config encoding, or the breaker's own words:
/// state-word bits, window tags) — positions are covered by [`fingerprint`].
pub const LAYOUT_VERSION: u64 = 2;

const LINE_BYTES: usize = std::mem::size_of::<Line>();
const WORD: usize = 8;

// Header words.
const H_MAGIC: usize = 0;
const H_VERSION: usize = 1;
const H_FINGERPRINT: usize = 2;
const H_SIZE: usize = 3;
const H_CAPACITY: usize = 4;
const H_STRIPES: usize = 5;
const H_SLOTS_OFF: usize = 6;
const H_DATA_OFF: usize = 7;
const H_DATA_LINES: usize = 8;
const H_BOOT: usize = 9;
/// Lines of the data area handed out so far (its own line: the only header
/// word written after creation).
const H_BUMP: usize = LINE_WORDS;
/// Stripe ownership: one owner word per stripe index but the last (see
/// `claims`), 64 words for the at most 64 stripes.
const H_CLAIMS: usize = 2 * LINE_WORDS;
const HEADER_LINES: usize = 6;

mod claims;
pub(crate) use claims::Claims;

// Slot words.
const SLOT_LINES: usize = 4;
const SLOT_WORDS: usize = SLOT_LINES * LINE_WORDS;
const S_STATE: usize = 0;
const S_HASH: usize = 1;
const S_DATA: usize = 2;
const S_LINES: usize = 3;
const S_NAME_LEN: usize = 4;
const S_CONFIG: usize = 8;
const CONFIG_WORDS: usize = 16;
const S_NAME: usize = 32;
const NAME_WORDS: usize = MAX_NAME_LEN / WORD;
const _: () = assert!(S_CONFIG + CONFIG_WORDS <= S_NAME && S_NAME + NAME_WORDS <= SLOT_WORDS);

// Slot states, in the top two bits of the state word. INIT and READY carry
// 24 bits of the name's hash (bits 32..56), so a process looking for another
// name passes them without reading the name or waiting; INIT carries the
// creating process's pid in its low 32 bits.
const FREE: u64 = 0;
const INIT: u64 = 1;
const READY: u64 = 2;
/// A slot whose creator found no room in the data area: never used again.
const TOMB: u64 = 3;

/// How long adding a name waits for another live process that is creating
/// the same name (it takes microseconds) before giving up with
/// [`ShmError::Busy`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Default number of breaker slots.
pub const DEFAULT_CAPACITY: usize = 64;
/// Most breaker slots in one file.
pub const MAX_CAPACITY: usize = 1 << 20;
/// Largest data area (16 GiB).
pub const MAX_DATA_BYTES: u64 = 1 << 34;

/// Why a shared registry or breaker could not be opened.
#[derive(Debug)]
pub enum ShmError {
    /// A system call on the file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The file is not a fusebox registry (bad magic, truncated, inconsistent
    /// geometry).
    NotARegistry {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file was made by a build with another layout.
    Version {
        /// The file.
        path: PathBuf,
        /// Its layout version and fingerprint.
        found: (u64, u64),
        /// This build's.
        expected: (u64, u64),
    },
    /// The file was made before the host's last boot: its deadlines are on a
    /// `CLOCK_MONOTONIC` that no longer runs. Delete it.
    StaleBoot {
        /// The file.
        path: PathBuf,
    },
    /// The breaker exists in the file with another config.
    ConfigMismatch {
        /// The breaker.
        name: String,
        /// The config the file holds.
        stored: Box<Config>,
        /// The fields that differ.
        fields: Vec<&'static str>,
    },
    /// Every slot holds another breaker.
    Full {
        /// The number of slots.
        capacity: usize,
    },
    /// The data area has no room left for this breaker's lines.
    OutOfSpace {
        /// The breaker.
        name: String,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left.
        left: u64,
    },
    /// Another live process has been creating the same name for longer than
    /// a creation takes (it is stopped, or its pid was reused after it died).
    Busy {
        /// The breaker.
        name: String,
        /// The creating process.
        pid: u32,
    },
    /// A breaker slot that does not hold what it says.
    Corrupt {
        /// The breaker.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Empty or too long a name (1..=256 bytes).
    BadName(String),
    /// An option of [`SharedRegistryBuilder`] out of range.
    BadOption {
        /// The option.
        option: &'static str,
        /// Its value.
        value: u64,
        /// What it accepts.
        expected: &'static str,
    },
    /// A config that does not validate.
    Config(ConfigError),
}

impl fmt::Display for ShmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShmError::Io {
                path,
                action,
                source,
            } => write!(f, "{}: cannot {action}: {source}", path.display()),
            ShmError::NotARegistry { path, reason } => write!(
                f,
                "{} is not a fusebox shared registry: {reason}",
                path.display()
            ),
            ShmError::Version {
                path,
                found,
                expected,
            } => write!(
                f,
                "{} was made by another fusebox layout (version {}, fingerprint {:016x}; \
                 this build reads version {}, fingerprint {:016x}): stop the processes \
                 that use it and delete it, or open another path",
                path.display(),
                found.0,
                found.1,
                expected.0,
                expected.1
            ),
            ShmError::StaleBoot { path } => write!(
                f,
                "{} was made before the host last booted (its deadlines are on an old \
                 CLOCK_MONOTONIC): delete it, or keep it on a tmpfs such as /dev/shm",
                path.display()
            ),
            ShmError::ConfigMismatch { name, fields, .. } => write!(
                f,
                "breaker {name:?} exists in the shared registry with another config \
                 (differs in: {}); open it with the same config, or use another name or file",
                fields.join(", ")
            ),
            ShmError::Full { capacity } => write!(
                f,
                "the shared registry is full (all {capacity} slots hold breakers); \
                 create the file with a larger capacity"
            ),
            ShmError::OutOfSpace { name, needed, left } => write!(
                f,
                "no room for breaker {name:?} in the shared registry ({needed} bytes needed, \
                 {left} left); create the file with a larger data size"
            ),
            ShmError::Busy { name, pid } => write!(
                f,
                "breaker {name:?} is being created by process {pid}, which has not finished \
                 in {} s (stopped?)",
                BUSY_TIMEOUT.as_secs()
            ),
            ShmError::Corrupt { name, reason } => {
                write!(
                    f,
                    "breaker {name:?} in the shared registry is corrupt: {reason}"
                )
            }
            ShmError::BadName(n) => write!(
                f,
                "invalid breaker name {n:?} (expected 1..={MAX_NAME_LEN} bytes)"
            ),
            ShmError::BadOption {
                option,
                value,
                expected,
            } => write!(f, "invalid {option}: {value} (expected {expected})"),
            ShmError::Config(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ShmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ShmError::Io { source, .. } => Some(source),
            ShmError::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for ShmError {
    fn from(e: ConfigError) -> Self {
        ShmError::Config(e)
    }
}

/// FNV-1a, 64 bits: a stable hash (std's hashers are seeded per process).
fn fnv1a(words: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in words {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn hash_words(w: &[u64]) -> u64 {
    fnv1a(w.iter().flat_map(|x| x.to_le_bytes()))
}

/// The positions of every word the file format relies on: a build whose
/// layout moved any of them writes another fingerprint, and each refuses the
/// other's files.
pub fn fingerprint() -> u64 {
    hash_words(&[
        LAYOUT_VERSION,
        LINE_BYTES as u64,
        LINE_WORDS as u64,
        W_STATE as u64,
        W_PHASE_GEN as u64,
        W_DEADLINE as u64,
        W_CONSEC as u64,
        W_REOPENS as u64,
        W_RNG as u64,
        W_DANGER as u64,
        W_STALL as u64,
        W_STATE_CHANGES as u64,
        W_HIGH_WATER as u64,
        W_TICKET as u64,
        W_SLOTS as u64,
        KINDS as u64,
        S_RETIRED as u64,
        S_IGNORED as u64,
        S_REJECTED as u64,
        S_EPOCH as u64,
        S_UNTIL as u64,
        S_BUCKETS as u64,
        crate::engine::state::GEN_MASK,
        HEADER_LINES as u64,
        SLOT_WORDS as u64,
        CONFIG_WORDS as u64,
        S_NAME as u64,
    ])
}

// ----- config encoding ---------------------------------------------------

/// The field each config word holds, for [`ShmError::ConfigMismatch`].
const CONFIG_FIELDS: [&str; CONFIG_WORDS] = [
    "encoding",
    "failure_rate_threshold",
    "consecutive_failures",
    "min_calls",
    "window",
    "window",
    "window",
    "open_timeout",
    "backoff",
    "backoff",
    "jitter",
    "half_open_max_calls",
    "success_threshold",
    "half_open_max_wait",
    "slow_call_duration",
    "slow_call_rate_threshold",
];
const CONFIG_ENCODING: u64 = 1;

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `+ 0.0` turns -0.0 into 0.0, so equal configs encode alike.
fn f(x: f64) -> u64 {
    (x + 0.0).to_bits()
}

/// A config as words (durations in ns, floats as bits): the form stored in a
/// slot and hashed.
fn encode(c: &Config) -> [u64; CONFIG_WORDS] {
    let (kind, dur, n) = match c.window {
        WindowConfig::Time { duration, buckets } => (0, ns(duration), u64::from(buckets)),
        WindowConfig::Count { size } => (1, 0, u64::from(size)),
    };
    let (mult, max) = c.backoff.map_or((0, 0), |b| (f(b.multiplier), ns(b.max)));
    [
        CONFIG_ENCODING,
        f(c.failure_rate_threshold),
        c.consecutive_failures.map_or(0, u64::from),
        u64::from(c.min_calls),
        kind,
        dur,
        n,
        ns(c.open_timeout),
        mult,
        max,
        f(c.jitter),
        u64::from(c.half_open_max_calls),
        u64::from(c.success_threshold),
        ns(c.half_open_max_wait),
        c.slow_call_duration.map_or(0, ns),
        f(c.slow_call_rate_threshold),
    ]
}

fn decode(w: &[u64; CONFIG_WORDS]) -> Result<Config, String> {
    if w[0] != CONFIG_ENCODING {
        return Err(format!("unknown config encoding {}", w[0]));
    }
    let u32_of =
        |i: usize| u32::try_from(w[i]).map_err(|_| format!("{} out of range", CONFIG_FIELDS[i]));
    let window = match w[4] {
        0 => WindowConfig::Time {
            duration: Duration::from_nanos(w[5]),
            buckets: u32_of(6)?,
        },
        1 => WindowConfig::Count { size: u32_of(6)? },
        k => return Err(format!("unknown window kind {k}")),
    };
    let c = Config {
        failure_rate_threshold: f64::from_bits(w[1]),
        consecutive_failures: match u32_of(2)? {
            0 => None,
            n => Some(n),
        },
        min_calls: u32_of(3)?,
        window,
        open_timeout: Duration::from_nanos(w[7]),
        backoff: (w[8] != 0).then(|| Backoff {
            multiplier: f64::from_bits(w[8]),
            max: Duration::from_nanos(w[9]),
        }),
        jitter: f64::from_bits(w[10]),
        half_open_max_calls: u32_of(11)?,
        success_threshold: u32_of(12)?,
        half_open_max_wait: Duration::from_nanos(w[13]),
        slow_call_duration: (w[14] != 0).then(|| Duration::from_nanos(w[14])),
        slow_call_rate_threshold: f64::from_bits(w[15]),
    };
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

/// The names of the fields in which two encodings differ.
fn differing(a: &[u64; CONFIG_WORDS], b: &[u64; CONFIG_WORDS]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for i in 0..CONFIG_WORDS {
        if a[i] != b[i] && !out.contains(&CONFIG_FIELDS[i]) {
            out.push(CONFIG_FIELDS[i]);
        }
    }
    out
}

// ----- processes ---------------------------------------------------------

/// Whether process `pid` still runs (a zombie does not: it was killed and
/// waits only for its parent to reap it).
fn alive(pid: u32) -> bool {
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
fn boot_id() -> u64 {
    #[cfg(target_os = "linux")]
    {
        if let Ok(s) = std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
            return fnv1a(s.trim().bytes()) | 1;
        }
    }
    0
}

// ----- the mapping -------------------------------------------------------

/// The mapped file, seen as atomic words.
struct Map {
    raw: MmapRaw,
    len: usize,
}

impl Map {
    fn new(file: &File, len: usize) -> io::Result<Map> {
        let raw = MmapOptions::new().len(len).map_raw(file)?;
        Ok(Map { raw, len })
    }

    /// Word `i` of the file.
    #[inline]
    fn w(&self, i: usize) -> &AtomicU64 {
        assert!((i + 1) * WORD <= self.len, "word {i} outside the mapping");
        // SAFETY: the mapping is page-aligned, so word `i` (in bounds, above)
        // is 8-aligned; it is valid while `self` lives (it owns the mapping);
        // every access to the file's words, from any process, is atomic.
        unsafe { &*(self.raw.as_ptr() as *const AtomicU64).add(i) }
    }
}

// ----- the registry ------------------------------------------------------

/// Options for creating a shared registry; see [`SharedRegistry::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct SharedRegistryBuilder {
    capacity: usize,
    data_bytes: Option<u64>,
    stripes: usize,
    clock: ClockSource,
    mode: u32,
}

impl Default for SharedRegistryBuilder {
    fn default() -> Self {
        SharedRegistryBuilder {
            capacity: DEFAULT_CAPACITY,
            data_bytes: None,
            stripes: Layout::default_stripes(),
            clock: ClockSource::Monotonic,
            mode: 0o600,
        }
    }
}

impl SharedRegistryBuilder {
    /// Number of breaker slots (1..=2^20; default 64). Used only when the
    /// file is created.
    pub fn capacity(mut self, slots: usize) -> Self {
        self.capacity = slots;
        self
    }

    /// Size of the data area that holds the breakers' words. Default: room
    /// for `capacity` breakers of the default config. Used only when the file
    /// is created.
    pub fn data_bytes(mut self, bytes: u64) -> Self {
        self.data_bytes = Some(bytes);
        self
    }

    /// Counter stripes per breaker (rounded up to a power of two, at most 64;
    /// default one per core, at most 16). Used only when the file is created.
    pub fn stripes(mut self, stripes: usize) -> Self {
        self.stripes = stripes;
        self
    }

    /// The clock (default `CLOCK_MONOTONIC`). It must be valid across the
    /// processes that share the file: [`ClockSource::Monotonic`] or a
    /// [`SharedManualClock`].
    pub fn clock(mut self, clock: impl Into<ClockSource>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Permission bits of a created file (default 0o600, less the umask).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Open the registry at `path`, creating it if it does not exist.
    pub fn open(self, path: impl AsRef<Path>) -> Result<SharedRegistry, ShmError> {
        SharedRegistry::open_with(path.as_ref(), self)
    }
}

/// Geometry of a file, from its header.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    capacity: usize,
    stripes: usize,
    slots_off: usize,
    data_off: usize,
    data_lines: u64,
}

impl Geometry {
    fn new(capacity: usize, stripes: usize, data_lines: u64) -> Geometry {
        let slots_off = HEADER_LINES * LINE_WORDS;
        Geometry {
            capacity,
            stripes,
            slots_off,
            data_off: slots_off + capacity * SLOT_WORDS,
            data_lines,
        }
    }

    fn bytes(&self) -> u64 {
        (self.data_off * WORD) as u64 + self.data_lines * LINE_BYTES as u64
    }
}

struct Inner {
    map: Arc<Map>,
    /// The stripes this process's threads own in every breaker of the file.
    claims: Arc<claims::Claims>,
    path: PathBuf,
    geo: Geometry,
    created: bool,
    clock: ClockSource,
    /// This process's handles, by name (lock-free, and fork-safe: no lock a
    /// forked child could inherit held).
    cache: papaya::HashMap<Box<str>, Arc<Breaker>>,
}

/// Breakers in a memory-mapped file shared by every process that opens it.
/// Cheap to clone (one mapping, shared). See the [module docs](self).
///
/// Two openings of one file (as two processes would have) share their
/// breakers:
///
/// ```rust
/// use fusebox::shm::{SharedRegistry, ShmError};
/// use fusebox::{Config, State};
///
/// let dir = std::env::temp_dir().join(format!("fusebox-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("breakers.fusebox");
///
/// let worker_1 = SharedRegistry::builder().capacity(8).open(&path)?; // creates the file
/// let worker_2 = SharedRegistry::open(&path)?; // opens it
/// assert!(worker_1.created() && !worker_2.created());
///
/// let config = Config::builder().consecutive_failures(Some(3)).build()?;
/// let mine = worker_1.get_or_create("inventory", &config)?;
/// let theirs = worker_2.get_or_create("inventory", &config)?;
/// for _ in 0..3 {
///     mine.try_acquire()?.failure();
/// }
/// assert_eq!(theirs.state(), State::Open); // one trip stops every worker
/// assert_eq!(worker_2.names(), ["inventory"]);
///
/// // A breaker's config is stored with it: a different one is refused.
/// let other = Config::builder().consecutive_failures(Some(10)).build()?;
/// let err = worker_2.get_or_create("inventory", &other).unwrap_err();
/// assert!(matches!(err, ShmError::ConfigMismatch { .. }));
///
/// drop((mine, theirs, worker_1, worker_2));
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SharedRegistry {
    inner: Arc<Inner>,
}

impl fmt::Debug for SharedRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRegistry")
            .field("path", &self.inner.path)
            .field("capacity", &self.inner.geo.capacity)
            .field("names", &self.names())
            .finish()
    }
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> ShmError + 'a {
    move |source| ShmError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

fn not_registry(path: &Path, reason: impl Into<String>) -> ShmError {
    ShmError::NotARegistry {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn check_name(name: &str) -> Result<(), ShmError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        Err(ShmError::BadName(name.chars().take(300).collect()))
    } else {
        Ok(())
    }
}

impl SharedRegistry {
    /// Open the registry at `path`, creating it with the default options if
    /// it does not exist.
    pub fn open(path: impl AsRef<Path>) -> Result<SharedRegistry, ShmError> {
        SharedRegistry::builder().open(path)
    }

    /// Options for creating the file.
    pub fn builder() -> SharedRegistryBuilder {
        SharedRegistryBuilder::default()
    }

    fn open_with(path: &Path, o: SharedRegistryBuilder) -> Result<SharedRegistry, ShmError> {
        if o.capacity == 0 || o.capacity > MAX_CAPACITY {
            return Err(ShmError::BadOption {
                option: "capacity",
                value: o.capacity as u64,
                expected: "1..=1048576 slots",
            });
        }
        let stripes = o.stripes.clamp(1, 64).next_power_of_two();
        let data_lines = match o.data_bytes {
            Some(b) => {
                if b == 0 || b > MAX_DATA_BYTES {
                    return Err(ShmError::BadOption {
                        option: "data_bytes",
                        value: b,
                        expected: "1..=17179869184 bytes",
                    });
                }
                b.div_ceil(LINE_BYTES as u64)
            }
            None => (o.capacity * Layout::new(&Config::default(), stripes).lines()) as u64,
        };
        let geo = Geometry::new(o.capacity, stripes, data_lines);
        let mut created = false;
        let (map, geo) = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => SharedRegistry::check(path, &file)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match SharedRegistry::create(path, geo, o.mode)? {
                    Some(map) => {
                        created = true;
                        (map, geo)
                    }
                    // Another process linked its file first: use that one.
                    None => {
                        let file = OpenOptions::new()
                            .read(true)
                            .write(true)
                            .open(path)
                            .map_err(io_err(path, "open"))?;
                        SharedRegistry::check(path, &file)?
                    }
                }
            }
            Err(e) => return Err(io_err(path, "open")(e)),
        };
        let map = Arc::new(map);
        Ok(SharedRegistry {
            inner: Arc::new(Inner {
                claims: Arc::new(claims::Claims::new(
                    map.clone(),
                    H_CLAIMS,
                    geo.stripes.saturating_sub(1),
                )),
                map,
                path: path.to_path_buf(),
                geo,
                created,
                clock: o.clock,
                cache: papaya::HashMap::new(),
            }),
        })
    }

    /// Build a complete file under a temporary name, then link it into
    /// place. `None`: `path` appeared meanwhile (another process won).
    fn create(path: &Path, geo: Geometry, mode: u32) -> Result<Option<Map>, ShmError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let base = path
            .file_name()
            .ok_or_else(|| not_registry(path, "the path names no file"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(base);
        tmp_name.push(format!(
            ".{}.{}.tmp",
            std::process::id(),
            crate::engine::clock::monotonic_ns()
        ));
        let tmp = dir.join(tmp_name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io_err(path, "create (a temporary file in its folder)"))?;
        // Removes the temporary name on every way out.
        struct Unlink<'a>(&'a Path);
        impl Drop for Unlink<'_> {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(self.0);
            }
        }
        let _unlink = Unlink(&tmp);
        let bytes = geo.bytes();
        // A sparse file of zeros: every slot FREE, every breaker word 0
        // (Closed, generation 0, empty windows).
        file.set_len(bytes).map_err(io_err(path, "size"))?;
        let map = Map::new(&file, bytes as usize).map_err(io_err(path, "map"))?;
        let h = |i: usize, v: u64| map.w(i).store(v, Relaxed);
        h(H_VERSION, LAYOUT_VERSION);
        h(H_FINGERPRINT, fingerprint());
        h(H_SIZE, bytes);
        h(H_CAPACITY, geo.capacity as u64);
        h(H_STRIPES, geo.stripes as u64);
        h(H_SLOTS_OFF, (geo.slots_off * WORD) as u64);
        h(H_DATA_OFF, (geo.data_off * WORD) as u64);
        h(H_DATA_LINES, geo.data_lines);
        h(H_BOOT, boot_id());
        h(H_MAGIC, MAGIC);
        // link() refuses to replace an existing path: exactly one of the
        // racing creators succeeds. The file is complete before it has its
        // name, and the mapping is of the same inode, so it stays ours.
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(Some(map)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(io_err(path, "link the new file into place at")(e)),
        }
    }

    /// Validate an existing file's header and map it.
    fn check(path: &Path, file: &File) -> Result<(Map, Geometry), ShmError> {
        let len = file.metadata().map_err(io_err(path, "stat"))?.len();
        let header = (HEADER_LINES * LINE_BYTES) as u64;
        if len < header {
            return Err(not_registry(
                path,
                format!("{len} bytes, shorter than the {header}-byte header"),
            ));
        }
        let head = Map::new(file, header as usize).map_err(io_err(path, "map"))?;
        let r = |i: usize| head.w(i).load(Relaxed);
        if r(H_MAGIC) != MAGIC {
            return Err(not_registry(path, "bad magic number"));
        }
        let found = (r(H_VERSION), r(H_FINGERPRINT));
        let expected = (LAYOUT_VERSION, fingerprint());
        if found != expected {
            return Err(ShmError::Version {
                path: path.to_path_buf(),
                found,
                expected,
            });
        }
        if r(H_SIZE) != len {
            return Err(not_registry(
                path,
                format!("the header says {} bytes, the file has {len}", r(H_SIZE)),
            ));
        }
        let (capacity, stripes, data_lines) = (r(H_CAPACITY), r(H_STRIPES), r(H_DATA_LINES));
        let ok = (1..=MAX_CAPACITY as u64).contains(&capacity)
            && (1..=64).contains(&stripes)
            && stripes.is_power_of_two()
            && data_lines <= MAX_DATA_BYTES / LINE_BYTES as u64;
        if !ok {
            // Checked before any arithmetic on the words: a damaged
            // capacity near 2^64 must be refused, not overflow.
            return Err(not_registry(path, "inconsistent geometry in the header"));
        }
        let geo = Geometry::new(capacity as usize, stripes as usize, data_lines);
        if geo.bytes() != len
            || r(H_SLOTS_OFF) != (geo.slots_off * WORD) as u64
            || r(H_DATA_OFF) != (geo.data_off * WORD) as u64
        {
            return Err(not_registry(path, "inconsistent geometry in the header"));
        }
        let (boot, now) = (r(H_BOOT), boot_id());
        if boot != 0 && now != 0 && boot != now {
            return Err(ShmError::StaleBoot {
                path: path.to_path_buf(),
            });
        }
        drop(head);
        let map = Map::new(file, len as usize).map_err(io_err(path, "map"))?;
        Ok((map, geo))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Whether this handle created the file (of processes racing to create
    /// it, exactly one did).
    pub fn created(&self) -> bool {
        self.inner.created
    }

    /// Number of breaker slots.
    pub fn capacity(&self) -> usize {
        self.inner.geo.capacity
    }

    /// Counter stripes of each breaker.
    pub fn stripes(&self) -> usize {
        self.inner.geo.stripes
    }

    fn slot(&self, s: usize, i: usize) -> &AtomicU64 {
        self.inner
            .map
            .w(self.inner.geo.slots_off + s * SLOT_WORDS + i)
    }

    fn slot_name(&self, s: usize) -> Option<String> {
        let len = self.slot(s, S_NAME_LEN).load(Relaxed) as usize;
        if len == 0 || len > MAX_NAME_LEN {
            return None;
        }
        let mut bytes = Vec::with_capacity(NAME_WORDS * WORD);
        for i in 0..len.div_ceil(WORD) {
            bytes.extend_from_slice(&self.slot(s, S_NAME + i).load(Relaxed).to_le_bytes());
        }
        bytes.truncate(len);
        String::from_utf8(bytes).ok()
    }

    /// Where `name`'s search starts, and its 24-bit tag.
    fn probe_start(&self, name: &str) -> (usize, u64) {
        let h = fnv1a(name.bytes());
        (
            (h % self.inner.geo.capacity as u64) as usize,
            (h >> 40) & 0xff_ffff,
        )
    }

    /// The slot holding `name`, if it is ready.
    fn find(&self, name: &str) -> Option<usize> {
        let (start, tag) = self.probe_start(name);
        let cap = self.inner.geo.capacity;
        for i in 0..cap {
            let s = (start + i) % cap;
            // Acquire: pairs with the Release that made the slot READY, so
            // its name and config words are visible.
            let v = self.slot(s, S_STATE).load(Acquire);
            match v >> 62 {
                FREE => return None,
                READY
                    if (v >> 32) & 0xff_ffff == tag
                        && self.slot_name(s).as_deref() == Some(name) =>
                {
                    return Some(s)
                }
                _ => {}
            }
        }
        None
    }

    /// The slot holding `name`, created (with `config`) if missing.
    ///
    /// Open addressing: the slots from `name`'s start, in order. A FREE slot
    /// ends the search: the name is not further on (slots never go back to
    /// FREE), so it is claimed by CAS for `name`. A slot being created (INIT)
    /// under `name`'s tag may be `name` itself: wait for it (or take it over
    /// if its creator died); under another tag it is not `name`: pass.
    /// Hence two processes adding one name meet at one slot.
    fn find_or_claim(
        &self,
        name: &str,
        enc: &[u64; CONFIG_WORDS],
        lines: usize,
    ) -> Result<usize, ShmError> {
        let (start, tag) = self.probe_start(name);
        let cap = self.inner.geo.capacity;
        'slots: for i in 0..cap {
            let s = (start + i) % cap;
            let state = self.slot(s, S_STATE);
            let mut since: Option<Instant> = None;
            let mut spins = 0u32;
            loop {
                let v = state.load(Acquire);
                let claim = match v >> 62 {
                    FREE => {
                        self.room_for(name, lines)?;
                        true
                    }
                    READY | TOMB | INIT if (v >> 32) & 0xff_ffff != tag => continue 'slots,
                    READY => {
                        if self.slot_name(s).as_deref() == Some(name) {
                            return Ok(s);
                        }
                        continue 'slots;
                    }
                    TOMB => continue 'slots,
                    _ => {
                        // INIT, with our tag.
                        let pid = v as u32;
                        spins += 1;
                        if spins < 64 {
                            std::hint::spin_loop();
                            false
                        } else if !alive(pid) {
                            true
                        } else {
                            if since.get_or_insert_with(Instant::now).elapsed() > BUSY_TIMEOUT {
                                return Err(ShmError::Busy {
                                    name: name.to_string(),
                                    pid,
                                });
                            }
                            std::thread::sleep(Duration::from_micros(50));
                            false
                        }
                    }
                };
                if !claim {
                    continue;
                }
                let me = (INIT << 62) | (tag << 32) | u64::from(std::process::id());
                // AcqRel: Acquire, to see a dead creator's writes before we
                // overwrite them; Release is not needed (nothing is read
                // from an INIT slot) but costs nothing here.
                if state.compare_exchange(v, me, AcqRel, Acquire).is_ok() {
                    self.fill(s, me, tag, name, enc, lines)?;
                    return Ok(s);
                }
            }
        }
        Err(ShmError::Full { capacity: cap })
    }

    fn room_for(&self, name: &str, lines: usize) -> Result<(), ShmError> {
        let used = self.inner.map.w(H_BUMP).load(Relaxed);
        let left = self.inner.geo.data_lines.saturating_sub(used);
        if lines as u64 > left {
            return Err(ShmError::OutOfSpace {
                name: name.to_string(),
                needed: (lines * LINE_BYTES) as u64,
                left: left * LINE_BYTES as u64,
            });
        }
        Ok(())
    }

    /// Fill a slot we hold in INIT (`me`) and publish it READY.
    fn fill(
        &self,
        s: usize,
        me: u64,
        tag: u64,
        name: &str,
        enc: &[u64; CONFIG_WORDS],
        lines: usize,
    ) -> Result<(), ShmError> {
        // Allocate the lines: a CAS loop, so a request that does not fit
        // takes nothing. A creator killed after this leaks its lines (never
        // reused: they are not known to be unwritten).
        let bump = self.inner.map.w(H_BUMP);
        let mut used = bump.load(Relaxed);
        let off = loop {
            if used + lines as u64 > self.inner.geo.data_lines {
                // The slot cannot go back to FREE (a search for another name
                // may have passed it): retire it.
                self.slot(s, S_STATE)
                    .store((TOMB << 62) | (tag << 32), Release);
                return self.room_for(name, lines);
            }
            match bump.compare_exchange_weak(used, used + lines as u64, Relaxed, Relaxed) {
                Ok(_) => break used,
                Err(actual) => used = actual,
            }
        };
        let w = |i: usize, v: u64| self.slot(s, i).store(v, Relaxed);
        w(S_DATA, off);
        w(S_LINES, lines as u64);
        for (i, v) in enc.iter().enumerate() {
            w(S_CONFIG + i, *v);
        }
        w(S_HASH, hash_words(enc));
        for (i, chunk) in name.as_bytes().chunks(WORD).enumerate() {
            let mut b = [0u8; WORD];
            b[..chunk.len()].copy_from_slice(chunk);
            w(S_NAME + i, u64::from_le_bytes(b));
        }
        w(S_NAME_LEN, name.len() as u64);
        // The breaker's words are zeros (Closed, generation 0, empty
        // windows) but for the jitter seed, which its creator draws once.
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(crate::engine::clock::monotonic_ns());
            h.write_usize(s);
            h.finish()
        };
        let data = self.inner.geo.data_off + off as usize * LINE_WORDS;
        self.inner.map.w(data + W_RNG).store(seed, Relaxed);
        // Release: the name, config and seed are visible to whoever sees
        // READY (Acquire).
        let ready = (READY << 62) | (tag << 32);
        self.slot(s, S_STATE)
            .compare_exchange(me, ready, Release, Relaxed)
            .map(|_| ())
            .map_err(|_| ShmError::Corrupt {
                name: name.to_string(),
                reason: "another process took the slot over while this one was filling it".into(),
            })
    }

    /// A handle on the breaker in ready slot `s`. `given`: the caller's
    /// config encoding, checked against the stored one.
    fn attach(
        &self,
        s: usize,
        name: &str,
        given: Option<&[u64; CONFIG_WORDS]>,
    ) -> Result<Arc<Breaker>, ShmError> {
        let corrupt = |reason: String| ShmError::Corrupt {
            name: name.to_string(),
            reason,
        };
        let mut enc = [0u64; CONFIG_WORDS];
        for (i, v) in enc.iter_mut().enumerate() {
            *v = self.slot(s, S_CONFIG + i).load(Relaxed);
        }
        if hash_words(&enc) != self.slot(s, S_HASH).load(Relaxed) {
            return Err(corrupt("its config does not match its hash".into()));
        }
        let config = decode(&enc).map_err(corrupt)?;
        if let Some(given) = given {
            if *given != enc {
                return Err(ShmError::ConfigMismatch {
                    name: name.to_string(),
                    fields: differing(&enc, given),
                    stored: Box::new(config),
                });
            }
        }
        let geo = self.inner.geo;
        let layout = Layout::new(&config, geo.stripes);
        let (off, lines) = (
            self.slot(s, S_DATA).load(Relaxed),
            self.slot(s, S_LINES).load(Relaxed),
        );
        if lines != layout.lines() as u64 || off.saturating_add(lines) > geo.data_lines {
            return Err(corrupt(format!(
                "{lines} lines at line {off}, for a layout of {} lines in a data area of {}",
                layout.lines(),
                geo.data_lines
            )));
        }
        let first = geo.data_off + off as usize * LINE_WORDS;
        let base = NonNull::from(self.inner.map.w(first)).cast::<Line>();
        let owner: Arc<dyn std::any::Any + Send + Sync> = self.inner.map.clone();
        // SAFETY: the lines are inside the mapping (checked above), which
        // `owner` keeps alive; the data area starts on a line boundary of a
        // page-aligned mapping, so they are 128-aligned; zero-filled or
        // written only through atomics, by every process, so initialised
        // and accessed atomically only.
        let cells = unsafe { Cells::borrowed(base, lines as usize, owner) };
        let b = Breaker::over_cells(
            name,
            config,
            self.inner.clock.clone(),
            layout,
            cells,
            self.inner.claims.clone(),
        )?;
        let cache = self.inner.cache.pin();
        Ok(cache.get_or_insert(name.into(), Arc::new(b)).clone())
    }

    /// The breaker `name`, created with `config` if the file does not hold
    /// it yet. If it does, its stored config must equal `config`
    /// ([`ShmError::ConfigMismatch`] otherwise).
    pub fn get_or_create(&self, name: &str, config: &Config) -> Result<Arc<Breaker>, ShmError> {
        check_name(name)?;
        let enc = encode(config);
        if let Some(b) = self.inner.cache.pin().get(name) {
            let mine = encode(b.config());
            if mine != enc {
                return Err(ShmError::ConfigMismatch {
                    name: name.to_string(),
                    fields: differing(&mine, &enc),
                    stored: Box::new(b.config().clone()),
                });
            }
            return Ok(b.clone());
        }
        config.validate()?;
        let lines = Layout::new(config, self.inner.geo.stripes).lines();
        let s = self.find_or_claim(name, &enc, lines)?;
        self.attach(s, name, Some(&enc))
    }

    /// The breaker `name` with the config stored in the file, if the file
    /// holds it.
    pub fn get(&self, name: &str) -> Result<Option<Arc<Breaker>>, ShmError> {
        check_name(name)?;
        if let Some(b) = self.inner.cache.pin().get(name) {
            return Ok(Some(b.clone()));
        }
        match self.find(name) {
            Some(s) => self.attach(s, name, None).map(Some),
            None => Ok(None),
        }
    }

    /// The names of the breakers in the file, in slot order.
    pub fn names(&self) -> Vec<String> {
        (0..self.inner.geo.capacity)
            .filter(|&s| self.slot(s, S_STATE).load(Acquire) >> 62 == READY)
            .filter_map(|s| self.slot_name(s))
            .collect()
    }

    /// The metrics of every breaker in the file.
    pub fn snapshot(&self) -> Result<Vec<Metrics>, ShmError> {
        self.names()
            .iter()
            .filter_map(|n| self.get(n).transpose())
            .map(|b| b.map(|b| b.metrics()))
            .collect()
    }
}

// ----- a shared manual clock ---------------------------------------------

/// A clock moved by hand that lives in a file, so that several processes
/// read one time: what [`crate::ManualClock`] is to threads, for tests of
/// multi-process code. Starts at 1 s; only moves forward.
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn config_encoding_round_trips() {
        let configs = [
            Config::default(),
            Config::builder()
                .count_window(50)
                .consecutive_failures(None)
                .backoff(Some(Backoff {
                    multiplier: 2.0,
                    max: Duration::from_secs(300),
                }))
                .jitter(0.25)
                .slow_call_duration(Some(Duration::from_millis(250)))
                .slow_call_rate_threshold(0.8)
                .half_open_max_calls(5)
                .success_threshold(2)
                .build()
                .unwrap(),
        ];
        for c in configs {
            let e = encode(&c);
            assert_eq!(decode(&e).unwrap(), c);
        }
    }

    #[test]
    fn the_hash_is_stable_and_sees_every_field() {
        // FNV-1a of the empty input and of "a": the published test vectors.
        assert_eq!(fnv1a([]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
        let base = encode(&Config::default());
        let other = encode(&Config::builder().min_calls(11).build().unwrap());
        assert_ne!(hash_words(&base), hash_words(&other));
        assert_eq!(differing(&base, &other), vec!["min_calls"]);
        let neg = Config {
            jitter: -0.0,
            ..Config::default()
        };
        assert_eq!(encode(&neg), base, "-0.0 and 0.0 encode alike");
    }

    #[test]
    fn bad_encodings_are_refused() {
        let mut e = encode(&Config::default());
        e[0] = 99;
        assert!(decode(&e).unwrap_err().contains("encoding"));
        let mut e = encode(&Config::default());
        e[1] = f64::NAN.to_bits();
        assert!(decode(&e).unwrap_err().contains("failure_rate_threshold"));
    }

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
