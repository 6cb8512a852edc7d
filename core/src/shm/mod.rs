//! Breakers shared by every process on a host
//! (`docs/semantics.md#shared-memory`), in a memory-mapped file (its layout:
//! `docs/architecture.md#shared-memory-files`).
//!
//! A breaker's whole mutable state is an array of atomic words with no
//! pointers in it (see `core/src/engine/layout.rs`), so the very same breaker can live
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
//! header (6 lines)   magic, layout version and fingerprint, total size,
//!                    capacity, stripes, where the slots and the data are,
//!                    boot id, and the data area's allocation mark
//! slots (4 lines ×   per breaker: a state word, its config (16 words) and
//!   capacity)        the config's hash, its name (≤ 256 bytes), where its
//!                    lines are
//! data               the breakers' lines, allocated once, never moved:
//!                    each breaker's own (5 lines with a time window), and
//!                    each stripe a process's thread owns, made when that
//!                    thread first counts on the breaker
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

use crate::engine::clock::ClockSource;
use crate::engine::config::Config;
use crate::engine::layout::{Cells, Layout, Line, LINE_WORDS};
use crate::engine::metrics::Metrics;
use crate::Breaker;
use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

// The file, by idea: why opening fails (`error`), the header, mapping and
// checks (`file`), the config's words (`config_codec`), the stable hash
// (`hash`), pids and boots (`process`), the slot table (`slot_table`), the
// stripe claims (`claims`), and the shared manual clock (`clock`).
mod claims;
mod clock;
mod config_codec;
mod data_area;
mod error;
mod file;
mod hash;
mod ownership;
mod process;
mod slot_table;

pub(crate) use claims::Claims;
pub use clock::SharedManualClock;
pub(crate) use data_area::DataArea;
pub use error::ShmError;
pub use file::{fingerprint, LAYOUT_VERSION, MAGIC};
pub(crate) use ownership::Ownership;

use config_codec::{decode, differing, encode, CONFIG_WORDS};
use error::io_err;
use file::{Geometry, Map, H_CLAIMS, LINE_BYTES};
use hash::hash_words;
use slot_table::{SlotState, S_CONFIG, S_DATA, S_HASH, S_LINES};

/// Default number of breaker slots.
pub const DEFAULT_CAPACITY: usize = 64;
/// Most breaker slots in one file.
pub const MAX_CAPACITY: usize = 1 << 20;
/// Largest data area (16 GiB).
pub const MAX_DATA_BYTES: u64 = 1 << 34;

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
    /// for `capacity` breakers of the default config, each with all its
    /// stripes made. Each breaker takes 640 bytes of it when it is made, and
    /// 384 more for each thread that owns a stripe of the file and counts on
    /// it (a thread that finds the area full counts on the shared stripe).
    /// The file is sparse: what was never handed out takes no memory. Used
    /// only when the file is created.
    pub fn data_bytes(mut self, bytes: u64) -> Self {
        self.data_bytes = Some(bytes);
        self
    }

    /// Counter stripes per breaker (rounded up to a power of two, at most 64;
    /// default one per core plus one, at most 64). Used only when the file
    /// is created.
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

struct Inner {
    map: Arc<Map>,
    /// Where breakers and the stripes their claims own get their lines.
    area: Arc<DataArea>,
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

/// The core's name rule (`crate::input::check_name`), as a shm error.
fn check_name(name: &str) -> Result<(), ShmError> {
    crate::engine::input::check_name(name).map_err(ShmError::BadName)
}

impl SharedRegistry {
    /// Open the registry at `path`, creating it with the default options if
    /// it does not exist.
    ///
    /// ```rust
    /// use fusebox::shm::{SharedRegistry, ShmError, DEFAULT_CAPACITY};
    ///
    /// let dir = std::env::temp_dir().join(format!("fusebox-doc-open-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("breakers.fusebox");
    ///
    /// let first = SharedRegistry::open(&path)?; // creates the file
    /// let second = SharedRegistry::open(&path)?; // opens it
    /// assert!(first.created() && !second.created());
    /// assert_eq!((second.capacity(), second.path()), (DEFAULT_CAPACITY, path.as_path()));
    ///
    /// // A file that is not a registry is refused, never misread.
    /// std::fs::write(dir.join("notes.txt"), "hello")?;
    /// let err = SharedRegistry::open(dir.join("notes.txt")).unwrap_err();
    /// assert!(matches!(err, ShmError::NotARegistry { .. }));
    /// # drop((first, second));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<SharedRegistry, ShmError> {
        SharedRegistry::builder().open(path)
    }

    /// Options for creating the file (used only by the process that
    /// creates it; the others read them from its header).
    ///
    /// ```rust
    /// use fusebox::shm::SharedRegistry;
    /// use fusebox::Config;
    ///
    /// let dir = std::env::temp_dir().join(format!("fusebox-doc-builder-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("breakers.fusebox");
    ///
    /// let registry = SharedRegistry::builder().capacity(2).stripes(4).open(&path)?;
    /// assert_eq!((registry.capacity(), registry.stripes()), (2, 4));
    /// let config = Config::default();
    /// registry.get_or_create("a", &config)?;
    /// registry.get_or_create("b", &config)?;
    /// // Every slot is taken: the file was made for two breakers.
    /// assert!(registry.get_or_create("c", &config).is_err());
    /// # drop(registry);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
            // Room for every breaker of the default config with all its
            // stripes made: a file is sparse, and only the lines handed
            // out are ever written (`data_area`). At most the largest data
            // area (2^20 breakers of 64 stripes would need more: a full
            // area sends stripes' owners to the shared stripe).
            None => {
                let layout = Layout::file(&Config::default(), stripes);
                let most = layout.lines() + (stripes - 1) * layout.stripe_lines();
                ((o.capacity * most) as u64).min(MAX_DATA_BYTES / LINE_BYTES as u64)
            }
        };
        let geo = Geometry::new(o.capacity, stripes, data_lines);
        let mut created = false;
        let (map, geo) = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => file::check(path, &file)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match file::create(path, geo, o.mode)? {
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
                        file::check(path, &file)?
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
                area: Arc::new(DataArea::new(map.clone(), &geo)),
                map,
                path: path.to_path_buf(),
                geo,
                created,
                clock: o.clock,
                cache: papaya::HashMap::new(),
            }),
        })
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
        let layout = Layout::file(&config, geo.stripes);
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
        // SAFETY: the lines are inside the mapping (checked above), which
        // the breaker keeps alive as long as it lives (its ownership holds
        // the data area, which holds the mapping; the cells are dropped
        // with the breaker, or here if it is not made); the data area
        // starts on a line boundary of a page-aligned mapping, so they are
        // 128-aligned; zero-filled or written only through atomics, by
        // every process, so initialised and accessed atomically only.
        let cells = unsafe { Cells::borrowed(base, lines as usize) };
        let b = Breaker::over_cells(
            name,
            config,
            self.inner.clock.clone(),
            layout,
            cells,
            self.inner.claims.clone(),
            self.inner.area.clone(),
        )?;
        let cache = self.inner.cache.pin();
        Ok(cache.get_or_insert(name.into(), Arc::new(b)).clone())
    }

    /// The breaker `name`, created with `config` if the file does not hold
    /// it yet. If it does, its stored config must equal `config`
    /// ([`ShmError::ConfigMismatch`] otherwise).
    ///
    /// ```rust
    /// use fusebox::shm::{SharedManualClock, SharedRegistry};
    /// use fusebox::{Config, State};
    /// use std::time::Duration;
    ///
    /// let dir = std::env::temp_dir().join(format!("fusebox-doc-create-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// // A hand-moved clock every process of the test shares.
    /// let clock = SharedManualClock::open(dir.join("clock"))?;
    /// let registry = SharedRegistry::builder().clock(clock.clone()).open(dir.join("reg"))?;
    ///
    /// let config = Config::builder()
    ///     .consecutive_failures(Some(2))
    ///     .open_timeout(Duration::from_secs(30))
    ///     .half_open_max_calls(1)
    ///     .success_threshold(1)
    ///     .build()?;
    /// let payments = registry.get_or_create("payments", &config)?;
    /// payments.try_acquire()?.failure();
    /// payments.try_acquire()?.failure();
    /// assert_eq!(payments.state(), State::Open);
    ///
    /// // By name, from any handle on the file: the same breaker.
    /// let again = registry.get_or_create("payments", &config)?;
    /// assert_eq!(again.state(), State::Open);
    /// clock.advance(Duration::from_secs(30)); // no sleep: time moves by hand
    /// again.try_acquire()?.success(); // the half-open probe
    /// assert_eq!(payments.state(), State::Closed);
    /// # drop((payments, again, registry));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_or_create(&self, name: &str, config: &Config) -> Result<Arc<Breaker>, ShmError> {
        check_name(name)?;
        let enc = encode(config);
        if let Some(b) = self.inner.cache.pin().get(name) {
            let mine = encode(&b.config());
            if mine != enc {
                return Err(ShmError::ConfigMismatch {
                    name: name.to_string(),
                    fields: differing(&mine, &enc),
                    stored: Box::new(b.config()),
                });
            }
            return Ok(b.clone());
        }
        config.validate()?;
        let lines = Layout::file(config, self.inner.geo.stripes).lines();
        let s = self.find_or_claim(name, &enc, lines)?;
        self.attach(s, name, Some(&enc))
    }

    /// The breaker `name` with the config stored in the file, if the file
    /// holds it.
    ///
    /// ```rust
    /// use fusebox::shm::SharedRegistry;
    /// use fusebox::Config;
    ///
    /// let dir = std::env::temp_dir().join(format!("fusebox-doc-get-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("breakers.fusebox");
    /// let writer = SharedRegistry::open(&path)?;
    /// let config = Config::builder().min_calls(20).build()?;
    /// writer.get_or_create("inventory", &config)?;
    ///
    /// // Another process (here, another handle) needs no config to look.
    /// let reader = SharedRegistry::open(&path)?;
    /// let b = reader.get("inventory")?.expect("created above");
    /// assert_eq!(b.config().min_calls, 20);
    /// assert!(reader.get("unknown")?.is_none());
    /// let metrics = reader.snapshot()?;
    /// assert_eq!(metrics[0].name, "inventory");
    /// # drop((b, reader, writer));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
            .filter(|&s| self.entry(s).state() == SlotState::Ready)
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
