//! The file: its header, the words the format relies on (the layout
//! fingerprint), the mapping, and how a file is created (atomically, by
//! `link`) or checked before use (refused, never misread).

use super::config_codec::CONFIG_WORDS;
use super::error::{io_err, not_registry, ShmError};
use super::hash::hash_words;
use super::process::boot_id;
use super::slot_table::{SLOT_WORDS, S_NAME};
use super::MAX_CAPACITY;
use super::MAX_DATA_BYTES;
use crate::engine::layout::*;
use memmap2::{MmapOptions, MmapRaw};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

/// `"FBSHMREG"`, read as a little-endian word (a host of the other byte
/// order reads another number, and refuses the file).
pub const MAGIC: u64 = u64::from_le_bytes(*b"FBSHMREG");
/// The file format's version. Bump it whenever the meaning of a word changes
/// (the header, the slots, the config encoding, or the breaker's own words:
/// state-word bits, window tags) — positions are covered by [`fingerprint`].
/// 3: the config encoding holds `max_open_for` and `cancellation` (18 words).
/// 4: a count window's slots are one byte per call, eight to a word
/// (`engine/count_window.rs`), no longer one word of generation and ticket.
/// 5: the compact layout (`Layout::file`): a breaker's own lines hold one
/// stripe, the shared one; the stripes that claims own are made in the data
/// area when first counted on, found through the breaker's directory words.
/// 6: a stripe's words a success reads come first and its totals after
/// its ring (`engine/layout.rs`), so that a success touches one 64-byte
/// line of its stripe for most ring slots.
/// 7: the control words a call reads (state, failure run, danger) are the
/// line's first three, as an in-process breaker keeps them in its handle.
pub const LAYOUT_VERSION: u64 = 7;

pub(super) const LINE_BYTES: usize = std::mem::size_of::<Line>();
pub(super) const WORD: usize = 8;

// Header words.
pub(super) const H_MAGIC: usize = 0;
pub(super) const H_VERSION: usize = 1;
pub(super) const H_FINGERPRINT: usize = 2;
pub(super) const H_SIZE: usize = 3;
pub(super) const H_CAPACITY: usize = 4;
pub(super) const H_STRIPES: usize = 5;
pub(super) const H_SLOTS_OFF: usize = 6;
pub(super) const H_DATA_OFF: usize = 7;
pub(super) const H_DATA_LINES: usize = 8;
pub(super) const H_BOOT: usize = 9;
/// Lines of the data area handed out so far (its own line: the only header
/// word written after creation).
pub(super) const H_BUMP: usize = LINE_WORDS;
/// Stripe ownership: one owner word per stripe index but the last (see
/// `claims`), 64 words for the at most 64 stripes.
pub(super) const H_CLAIMS: usize = 2 * LINE_WORDS;
const HEADER_LINES: usize = 6;

/// The positions of every word the file format relies on: a build whose
/// layout moved any of them writes another fingerprint, and each refuses the
/// other's files.
pub fn fingerprint() -> u64 {
    // Where the directory words are (the stripes' places), and where the
    // shared stripe is, for the most stripes a file may have.
    let file = Layout::file(&crate::Config::default(), 64);
    hash_words(&[
        LAYOUT_VERSION,
        file.dir(0) as u64,
        file.dir(DIR_ON_CONTROL) as u64,
        file.dir(63) as u64,
        file.stripe(63) as u64,
        // The ring's order (kind-major): where slot 1 of kind 1 is in a
        // ring of 10.
        bucket_word(1, 1, 10) as u64,
        // The tail's place: past the ring.
        tail_word(0, 10) as u64,
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
        W_WINDOW_GEN as u64,
        W_SLOTS as u64,
        KINDS as u64,
        S_RETIRED as u64,
        S_IGNORED as u64,
        S_REJECTED as u64,
        S_EPOCH as u64,
        S_UNTIL as u64,
        S_BUCKETS as u64,
        S_TAIL_WORDS as u64,
        crate::engine::state::GEN_MASK,
        HEADER_LINES as u64,
        SLOT_WORDS as u64,
        CONFIG_WORDS as u64,
        S_NAME as u64,
    ])
}

/// The mapped file, seen as atomic words.
pub(super) struct Map {
    raw: MmapRaw,
    len: usize,
}

impl Map {
    pub(super) fn new(file: &File, len: usize) -> io::Result<Map> {
        let raw = MmapOptions::new().len(len).map_raw(file)?;
        Ok(Map { raw, len })
    }

    /// Word `i` of the file.
    #[inline]
    pub(super) fn w(&self, i: usize) -> &AtomicU64 {
        assert!((i + 1) * WORD <= self.len, "word {i} outside the mapping");
        // SAFETY: the mapping is page-aligned, so word `i` (in bounds, above)
        // is 8-aligned; it is valid while `self` lives (it owns the mapping);
        // every access to the file's words, from any process, is atomic.
        unsafe { &*(self.raw.as_ptr() as *const AtomicU64).add(i) }
    }
}

/// Geometry of a file, from its header.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    pub(super) capacity: usize,
    pub(super) stripes: usize,
    pub(super) slots_off: usize,
    pub(super) data_off: usize,
    pub(super) data_lines: u64,
}

impl Geometry {
    pub(super) fn new(capacity: usize, stripes: usize, data_lines: u64) -> Geometry {
        let slots_off = HEADER_LINES * LINE_WORDS;
        Geometry {
            capacity,
            stripes,
            slots_off,
            data_off: slots_off + capacity * SLOT_WORDS,
            data_lines,
        }
    }

    pub(super) fn bytes(&self) -> u64 {
        (self.data_off * WORD) as u64 + self.data_lines * LINE_BYTES as u64
    }
}

/// Build a complete file under a temporary name, then link it into
/// place. `None`: `path` appeared meanwhile (another process won).
pub(super) fn create(path: &Path, geo: Geometry, mode: u32) -> Result<Option<Map>, ShmError> {
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
pub(super) fn check(path: &Path, file: &File) -> Result<(Map, Geometry), ShmError> {
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
