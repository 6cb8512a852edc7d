//! The slot table: one slot (4 lines) per breaker, found by open
//! addressing on the name's hash and claimed by CAS on the slot's state
//! word ([`Entry`]); slots are never freed.

use super::config_codec::CONFIG_WORDS;
use super::error::ShmError;
use super::file::{LINE_BYTES, WORD};
use super::hash::{fnv1a, hash_words};
use super::process::alive;
use super::SharedRegistry;
use crate::engine::layout::{LINE_WORDS, W_RNG};
use crate::engine::registry::MAX_NAME_LEN;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

// Slot words.
const SLOT_LINES: usize = 4;
pub(super) const SLOT_WORDS: usize = SLOT_LINES * LINE_WORDS;
pub(super) const S_STATE: usize = 0;
pub(super) const S_HASH: usize = 1;
pub(super) const S_DATA: usize = 2;
pub(super) const S_LINES: usize = 3;
const S_NAME_LEN: usize = 4;
pub(super) const S_CONFIG: usize = 8;
pub(super) const S_NAME: usize = 32;
const NAME_WORDS: usize = MAX_NAME_LEN / WORD;
const _: () = assert!(S_CONFIG + CONFIG_WORDS <= S_NAME && S_NAME + NAME_WORDS <= SLOT_WORDS);

/// How long adding a name waits for another live process that is creating
/// the same name (it takes microseconds) before giving up with
/// [`ShmError::Busy`].
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What a slot holds, in the top two bits of its state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SlotState {
    /// Never used: ends a search.
    Free = 0,
    /// Being filled by the process whose pid the word carries.
    Init = 1,
    /// Holds a breaker.
    Ready = 2,
    /// Its creator found no room in the data area: never used again.
    Tomb = 3,
}

/// A 24-bit tag of a name's hash: slots of other names are passed without
/// reading their name or waiting for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tag(u32);

impl Tag {
    const BITS: u32 = 24;
    const MASK: u64 = (1 << Self::BITS) - 1;
    /// Where the tag is taken from the name's 64-bit hash (its bits 40..64).
    const HASH_SHIFT: u32 = 40;

    /// The tag of a name whose hash is `h`.
    pub(super) fn of_hash(h: u64) -> Tag {
        Tag(((h >> Self::HASH_SHIFT) & Self::MASK) as u32)
    }
}

/// A slot's state word, `state:2 | 0:6 | tag:24 | pid:32` (part of the file
/// format: every field in place since layout version 1).
///
/// ```text
///  63  62 61   56 55          32 31                0
/// +------+-------+--------------+-------------------+
/// | state|   0   |  name's tag  | creator's pid     |
/// +------+-------+--------------+-------------------+
/// ```
///
/// INIT and READY (and TOMB) carry the name's [`Tag`]; INIT carries the
/// creating process's pid, so a slot whose creator died is taken over.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry(u64);

impl Entry {
    const STATE_SHIFT: u32 = 62;
    const TAG_SHIFT: u32 = 32;
    const PID_MASK: u64 = (1 << Self::TAG_SHIFT) - 1;

    fn with(state: SlotState, tag: Tag, pid: u32) -> Entry {
        Entry(
            ((state as u64) << Self::STATE_SHIFT)
                | (u64::from(tag.0) << Self::TAG_SHIFT)
                | (u64::from(pid) & Self::PID_MASK),
        )
    }

    /// Being filled by process `pid`.
    pub(super) fn init(tag: Tag, pid: u32) -> Entry {
        Entry::with(SlotState::Init, tag, pid)
    }

    /// Holding a breaker.
    pub(super) fn ready(tag: Tag) -> Entry {
        Entry::with(SlotState::Ready, tag, 0)
    }

    /// Retired.
    pub(super) fn tomb(tag: Tag) -> Entry {
        Entry::with(SlotState::Tomb, tag, 0)
    }

    /// What the slot holds.
    pub(super) fn state(self) -> SlotState {
        match self.0 >> Self::STATE_SHIFT {
            0 => SlotState::Free,
            1 => SlotState::Init,
            2 => SlotState::Ready,
            _ => SlotState::Tomb,
        }
    }

    /// The name's tag.
    pub(super) fn tag(self) -> Tag {
        Tag(((self.0 >> Self::TAG_SHIFT) & Tag::MASK) as u32)
    }

    /// The creating process (in INIT).
    pub(super) fn pid(self) -> u32 {
        (self.0 & Self::PID_MASK) as u32
    }

    pub(super) fn from_bits(w: u64) -> Entry {
        Entry(w)
    }

    pub(super) fn bits(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("state", &self.state())
            .field("tag", &self.tag())
            .field("pid", &self.pid())
            .finish()
    }
}

impl SharedRegistry {
    pub(super) fn slot(&self, s: usize, i: usize) -> &AtomicU64 {
        self.inner
            .map
            .w(self.inner.geo.slots_off + s * SLOT_WORDS + i)
    }

    /// Slot `s`'s state word (Acquire: pairs with the Release that made it
    /// READY, so its name and config words are visible).
    pub(super) fn entry(&self, s: usize) -> Entry {
        Entry::from_bits(self.slot(s, S_STATE).load(Acquire))
    }

    pub(super) fn slot_name(&self, s: usize) -> Option<String> {
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
    fn probe_start(&self, name: &str) -> (usize, Tag) {
        let h = fnv1a(name.bytes());
        (
            (h % self.inner.geo.capacity as u64) as usize,
            Tag::of_hash(h),
        )
    }

    /// The slot holding `name`, if it is ready.
    pub(super) fn find(&self, name: &str) -> Option<usize> {
        let (start, tag) = self.probe_start(name);
        let cap = self.inner.geo.capacity;
        for i in 0..cap {
            let s = (start + i) % cap;
            let v = self.entry(s);
            match v.state() {
                SlotState::Free => return None,
                SlotState::Ready
                    if v.tag() == tag && self.slot_name(s).as_deref() == Some(name) =>
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
    pub(super) fn find_or_claim(
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
                let v = Entry::from_bits(state.load(Acquire));
                let claim = match v.state() {
                    SlotState::Free => {
                        self.room_for(name, lines)?;
                        true
                    }
                    _ if v.tag() != tag => continue 'slots,
                    SlotState::Ready => {
                        if self.slot_name(s).as_deref() == Some(name) {
                            return Ok(s);
                        }
                        continue 'slots;
                    }
                    SlotState::Tomb => continue 'slots,
                    SlotState::Init => {
                        // With our tag.
                        let pid = v.pid();
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
                let me = Entry::init(tag, std::process::id());
                // AcqRel: Acquire, to see a dead creator's writes before we
                // overwrite them; Release is not needed (nothing is read
                // from an INIT slot) but costs nothing here.
                if state
                    .compare_exchange(v.bits(), me.bits(), AcqRel, Acquire)
                    .is_ok()
                {
                    self.fill(s, me, tag, name, enc, lines)?;
                    return Ok(s);
                }
            }
        }
        Err(ShmError::Full { capacity: cap })
    }

    fn room_for(&self, name: &str, lines: usize) -> Result<(), ShmError> {
        let left = self.inner.area.left();
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
        me: Entry,
        tag: Tag,
        name: &str,
        enc: &[u64; CONFIG_WORDS],
        lines: usize,
    ) -> Result<(), ShmError> {
        // The lines (`data_area`): a creator killed after this leaks them.
        let Some(off) = self.inner.area.take(lines) else {
            // The slot cannot go back to FREE (a search for another name
            // may have passed it): retire it.
            self.slot(s, S_STATE)
                .store(Entry::tomb(tag).bits(), Release);
            return self.room_for(name, lines);
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
        let ready = Entry::ready(tag);
        self.slot(s, S_STATE)
            .compare_exchange(me.bits(), ready.bits(), Release, Relaxed)
            .map(|_| ())
            .map_err(|_| ShmError::Corrupt {
                name: name.to_string(),
                reason: "another process took the slot over while this one was filling it".into(),
            })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_the_file_format() {
        // The words as layout version 2 wrote them, with inline shifts.
        let h: u64 = 0xfedc_ba98_7654_3210;
        let tag = Tag::of_hash(h);
        let old_tag = (h >> 40) & 0xff_ffff;
        let pid = 0x8765_4321;
        let init = Entry::init(tag, pid);
        assert_eq!(init.bits(), (1 << 62) | (old_tag << 32) | u64::from(pid));
        assert_eq!(Entry::ready(tag).bits(), (2 << 62) | (old_tag << 32));
        assert_eq!(Entry::tomb(tag).bits(), (3 << 62) | (old_tag << 32));
        assert_eq!(Entry::from_bits(0).state(), SlotState::Free);
        assert_eq!(
            (init.state(), init.tag(), init.pid()),
            (SlotState::Init, tag, pid)
        );
        assert_eq!(Entry::ready(tag).state(), SlotState::Ready);
        assert_eq!(Entry::tomb(tag).tag(), tag);
    }
}
