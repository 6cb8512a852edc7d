//! Which stripe a thread counts on, and where the stripes are.
//!
//! A thread whose slot ([`crate::engine::thread_slot`]) is below
//! `exclusive` owns the stripe of that number and counts on it with plain
//! loads and stores; the others share the last stripes and count with CAS
//! (one shared stripe per core in-process, picked by slot; one in a shared
//! file).
//! A shared file's stripes are lines of the file, and its threads own them
//! through `shm::claims`; a thread's first count looks its claim up and
//! writes the stripe's address in the breaker's directory in this process
//! (`shm::ownership`, emptied in a forked child), where later counts find
//! it as an in-process owner finds its own: [`DirEntries`].
//!
//! An in-process breaker ([`Layout::lazy`]) makes each stripe when a thread
//! first needs it: an idle breaker is its control lines alone, whatever the
//! number of cores, and one that T threads count on has T stripes (one more
//! when threads past the owned ones share). The protocol is one word per
//! stripe, the directory entry [`Layout::dir`]: 0, then the address of the
//! stripe's zeroed lines, set once by CAS (the owner's entry has one writer,
//! the shared stripe's may have several; the loser frees its lines). Readers
//! load the entry with Acquire and see the stripe's words from when it was
//! made. Stripes live until the breaker is dropped. Model-checked in
//! `engine/loom.rs` (a stripe made while a reader sums the others, two
//! threads making the shared stripe at once).

use super::*;

/// Where a breaker's directory entries for thread slots start: word
/// [`DIR_CONTROL`] of its control line (in-process), or the first word of
/// a shared breaker's process-local directory (`shm::ownership`), either
/// alive as long as the breaker. The closed path reads entry `s` at this
/// address plus `s` words, the same instructions for both.
#[derive(Clone, Copy)]
pub(super) struct DirEntries(std::ptr::NonNull<AtomicU64>);

// SAFETY: a pointer to atomic words that live as long as the breaker that
// holds it (its cells, or its `shm::Ownership`): every thread may use them.
unsafe impl Send for DirEntries {}
// SAFETY: as above.
unsafe impl Sync for DirEntries {}

impl DirEntries {
    /// The entries from `first` on.
    pub(super) fn at(first: std::ptr::NonNull<AtomicU64>) -> DirEntries {
        DirEntries(first)
    }

    /// Entry `s`.
    ///
    /// # Safety
    ///
    /// `s` must be below the breaker's `owned_on_control_line`, and the
    /// breaker that holds `self` alive for `'a`.
    #[inline(always)]
    pub(super) unsafe fn entry<'a>(self, s: usize) -> &'a AtomicU64 {
        // SAFETY: the caller's contract: entry `s` exists (the control line
        // has `DIR_CONTROL` of them past word `DIR_CONTROL`; a shared
        // breaker's directory, `owned_on_control_line`) and lives for 'a.
        unsafe { &*self.0.as_ptr().add(s) }
    }
}

impl Breaker {
    /// The calling thread's stripe, and whether the thread is its only
    /// writer.
    #[inline(always)]
    pub(super) fn my_stripe(&self) -> (Stripe<'_>, bool) {
        match self.stripe_at_hand() {
            Some(stripe) => (stripe, true),
            None => self.slow_stripe(crate::engine::thread_slot::current()),
        }
    }

    /// The stripe that the calling thread owns, when one lookup finds it:
    /// in the handle's mirror of the directory (the first threads), else
    /// in the directory on the control line (or a shared breaker's own).
    /// `None` (go to `slow_stripe`) when the thread owns none, or has not
    /// counted on this breaker before.
    ///
    /// The mirror is on the handle's first line, which the call reads
    /// anyway: the stripe's address does not wait for the control line.
    #[inline(always)]
    pub(super) fn stripe_at_hand(&self) -> Option<Stripe<'_>> {
        self.stripe_at_hand_of(crate::engine::thread_slot::current())
    }

    /// [`Breaker::stripe_at_hand`] for the thread in slot `s`, the caller.
    #[inline(always)]
    pub(super) fn stripe_at_hand_of(&self, s: usize) -> Option<Stripe<'_>> {
        match self.stripe_in_reach_of(s) {
            None if (self.owned_on_control_line as usize..self.exclusive as usize).contains(&s) => {
                self.stripe_in_rest(s)
            }
            found => found,
        }
    }

    /// [`Breaker::stripe_at_hand_of`] without its out-of-line step, for a
    /// path that calls nothing (the bindings' in-place success, where a
    /// call would make the compiler save registers on every success):
    /// `None` also for the owners whose entries are in the rest, whom the
    /// general path's `record_raw` then serves.
    #[inline(always)]
    pub(super) fn stripe_in_reach_of(&self, s: usize) -> Option<Stripe<'_>> {
        let entry = if s < self.mirrored as usize {
            // SAFETY: `s < mirrored`, at most `MIRRORED`.
            unsafe { self.mirror.get_unchecked(s) }
        } else if s < self.owned_on_control_line as usize {
            // SAFETY: `s < owned_on_control_line`, and `self` is borrowed.
            unsafe { self.dir.entry(s) }
        } else {
            return None;
        };
        Self::owned_stripe_at(entry)
    }

    /// The stripe whose address is the directory entry (or mirror entry)
    /// `entry` of the calling thread's slot, if it is made.
    #[inline(always)]
    fn owned_stripe_at(entry: &AtomicU64) -> Option<Stripe<'_>> {
        // Relaxed: both the mirror's entry and the directory's are written
        // by the thread in slot `s` alone, which is us (or a thread that
        // held the slot before us and handed it over through the slot
        // list's lock).
        let p = std::ptr::NonNull::new(entry.load(Relaxed) as *mut AtomicU64)?;
        // SAFETY: a non-zero entry is the first word of a stripe this
        // thread owns: made by `make_stripe`, which lives as long as
        // `self`, or a shared file's stripe that it owns through its claim
        // (`other_stripe`), within the cells `self` holds; the mirror
        // holds only what `slow_stripe` copied from the former.
        Some(unsafe { Stripe::from_raw(p) })
    }

    /// The stripe of an owner whose directory entry is past the control
    /// line's (slots `owned_on_control_line..exclusive` of an in-process
    /// breaker: on the metrics line, in the rest, or in the directory's
    /// extension), if it is made. Out of line: the first threads' path
    /// stays as short as it was, and these threads pay a call and the
    /// rest's address (and the extension's), not the general path (which
    /// made 9 of 16 threads on two cores cost twice as much per call).
    #[inline(never)]
    fn stripe_in_rest(&self, s: usize) -> Option<Stripe<'_>> {
        // `dir_entry_if_made(s)`, for what only such an owner can be: of a
        // lazy layout (a shared file's breaker owns no stripe), whose
        // rest's address is the control line's word `W_REST` (its own
        // line 1 with a count window), and `s < exclusive <= stripes`.
        debug_assert!(self.shape.layout.lazy && s < self.exclusive as usize);
        // Acquire: as in `line_word_if_made`.
        let rest = self.cells.w(W_REST).load(Acquire) as *const AtomicU64;
        if rest.is_null() {
            return None;
        }
        let entry = if s < DIR_IN_LINES {
            // SAFETY: the rest is the layout's lines past the control line,
            // and `dir(s)` is one of its words (`s < DIR_IN_LINES`).
            unsafe { &*rest.add(self.shape.layout.dir(s) - LINE_WORDS) }
        } else {
            // SAFETY: as above, for the metrics line's `W_DIR_EXT`.
            let at = unsafe { &*rest.add(W_DIR_EXT - LINE_WORDS) };
            // Acquire: as in `dir_ext`.
            let ext = at.load(Acquire) as *const AtomicU64;
            if ext.is_null() {
                return None;
            }
            // SAFETY: a made extension has an entry for each stripe from
            // `DIR_IN_LINES` on, and `s` is a stripe (as in `dir_ext`).
            unsafe { &*ext.add(s - DIR_IN_LINES) }
        };
        // Relaxed: as in `stripe_at_hand_of`.
        let p = entry.load(Relaxed);
        let p = std::ptr::NonNull::new(p as *mut AtomicU64)?;
        // SAFETY: as in `stripe_at_hand_of`: a non-zero entry is the first
        // word of the stripe this thread owns, made by `make_stripe`.
        Some(unsafe { Stripe::from_raw(p) })
    }

    /// [`Breaker::my_stripe`] when [`Breaker::stripe_at_hand`] finds none
    /// (for the thread in slot `s`, the caller): the stripe made, or the
    /// shared one found, and the mirror filled.
    #[cold]
    #[inline(never)]
    pub(super) fn slow_stripe(&self, s: usize) -> (Stripe<'_>, bool) {
        if s < self.exclusive as usize {
            let stripe = self.owned_stripe(s);
            if s < self.mirrored as usize {
                // Relaxed: see `stripe_at_hand_of`.
                self.mirror[s].store(stripe.w(0) as *const AtomicU64 as u64, Relaxed);
            }
            return (stripe, true);
        }
        self.other_stripe(s)
    }

    /// The stripe of the thread in slot `s`, which owns one: past the
    /// directory's control-line entries, or not made yet.
    fn owned_stripe(&self, s: usize) -> Stripe<'_> {
        self.made(s).unwrap_or_else(|| self.make_stripe(s))
    }

    /// The stripe of a thread past the in-process owned stripes: one of
    /// the shared stripes, by its slot (consecutive slots on different
    /// stripes) and its probe offset (moved when it collides with another
    /// writer there); in a shared file, the one it claimed, else the last.
    fn other_stripe(&self, slot: usize) -> (Stripe<'_>, bool) {
        let last = self.shape.layout.stripes - 1;
        if self.shape.layout.lazy {
            let probe = slot.wrapping_add(crate::engine::thread_slot::probe_offset());
            let k = self.exclusive as usize + (probe & (self.shape.layout.shared as usize - 1));
            let stripe = self.made(k).unwrap_or_else(|| self.make_stripe(k));
            return (stripe, false);
        }
        #[cfg(all(feature = "shm", unix, not(loom)))]
        if let Some(shared) = self.shared() {
            if let Some(k) = shared.claims.stripe(slot) {
                // None: the data area is full; count on the shared stripe.
                if let Some(stripe) = self.make_filed(k, &shared.area) {
                    // Found in one load from now on (until a fork).
                    shared.fill(slot, stripe.w(0));
                    return (stripe, true);
                }
            }
        }
        (self.cells.stripe(self.shape.layout.stripe(last)), false)
    }

    /// Stripe `k` of a shared file's breaker ([`Layout::file`]) but the
    /// last, if it has been made: its directory word holds its first
    /// line's number in the file's data area, plus one.
    fn filed(&self, k: usize) -> Option<Stripe<'_>> {
        #[cfg(all(feature = "shm", unix, not(loom)))]
        if let Some(shared) = self.shared() {
            // Acquire: pairs with the CAS in `make_filed`.
            let v = self.cells.w(self.shape.layout.dir(k)).load(Acquire);
            // Checked: a damaged file may hold any number there.
            let first = shared
                .area
                .lines_at(v.checked_sub(1)?, self.shape.layout.stripe_lines())?;
            // SAFETY: whole lines of the file's data area (checked by
            // `lines_at`), in the mapping that `self.cells` keeps alive,
            // accessed only atomically by every process.
            return Some(unsafe { Stripe::from_raw(first) });
        }
        let _ = k;
        None
    }

    /// Stripe `k` of a shared file's breaker, made in the file's data
    /// area if it was not: the stripe of the claim `k` that the calling
    /// thread holds. `None` when the area has no room left (or the
    /// directory word is damaged). The protocol is [`publish_once`]'s, with
    /// a line number for an address; the lines of a loser (there is none
    /// while one thread holds the claim) stay in the file unused.
    #[cfg(all(feature = "shm", unix, not(loom)))]
    #[cold]
    #[inline(never)]
    fn make_filed(&self, k: usize, area: &crate::shm::DataArea) -> Option<Stripe<'_>> {
        let entry = self.cells.w(self.shape.layout.dir(k));
        // Acquire: as in `filed`.
        if entry.load(Acquire) == 0 {
            let ours = area.take(self.shape.layout.stripe_lines())?;
            publish_once(entry, ours + 1, |_| {});
        }
        self.filed(k)
    }

    /// Stripe `k` of a lazy layout, if it has been made.
    #[inline]
    fn made(&self, k: usize) -> Option<Stripe<'_>> {
        // Acquire: pairs with the CAS in `make_stripe`; the stripe's zeroed
        // words (and all its maker wrote before) are visible.
        let p = self.dir_entry_if_made(k)?.load(Acquire);
        // SAFETY: as in `my_stripe`.
        std::ptr::NonNull::new(p as *mut AtomicU64).map(|p| unsafe { Stripe::from_raw(p) })
    }

    /// Make stripe `k` of a lazy layout, or take the one another thread
    /// made first.
    #[cold]
    #[inline(never)]
    fn make_stripe(&self, k: usize) -> Stripe<'_> {
        let entry = self.dir_entry(k);
        let first = lines_at(entry, self.shape.layout.stripe_lines());
        // SAFETY: `first` is a made stripe's first word (ours, or the
        // winner's), freed only when the breaker is dropped.
        unsafe { Stripe::from_raw(std::ptr::NonNull::new_unchecked(first)) }
    }

    /// Every stripe that exists (for readers: the window, the metrics).
    pub(super) fn stripes(&self) -> impl Iterator<Item = Stripe<'_>> + '_ {
        let layout = &self.shape.layout;
        let in_lines = if layout.lazy {
            layout.stripes.min(DIR_IN_LINES)
        } else {
            layout.stripes
        };
        let ext = self.dir_ext().unwrap_or(&[]);
        (0..in_lines)
            .filter_map(move |k| {
                if layout.lazy {
                    self.made(k)
                } else if layout.file && k + 1 < layout.stripes {
                    self.filed(k)
                } else {
                    Some(self.cells.stripe(layout.stripe(k)))
                }
            })
            // Acquire: as in `made`.
            .chain(ext.iter().filter_map(|e| {
                let p = std::ptr::NonNull::new(e.load(Acquire) as *mut AtomicU64)?;
                // SAFETY: as in `made`.
                Some(unsafe { Stripe::from_raw(p) })
            }))
    }

    /// A lazy layout's directory extension, its entries for stripes
    /// `DIR_IN_LINES..stripes`, if it is made.
    fn dir_ext(&self) -> Option<&[AtomicU64]> {
        let n = self.shape.layout.stripes.checked_sub(DIR_IN_LINES)?;
        if !self.shape.layout.lazy || n == 0 {
            return None;
        }
        // Acquire: pairs with the CAS in `lines_at`; the extension's zeroed
        // words are visible.
        let p = self.line_word_if_made(W_DIR_EXT)?.load(Acquire) as *const AtomicU64;
        if p.is_null() {
            return None;
        }
        // SAFETY: a non-zero extension word is the first word of
        // `dir_ext_words()` (at least `n`) zeroed words made by `dir_entry`,
        // freed only when the breaker is dropped.
        Some(unsafe { std::slice::from_raw_parts(p, n) })
    }

    /// Stripe `k`'s directory entry, if it exists yet: in the breaker's
    /// lines ([`Layout::dir`]), or in a lazy layout's extension.
    #[inline]
    fn dir_entry_if_made(&self, k: usize) -> Option<&AtomicU64> {
        let layout = &self.shape.layout;
        if !layout.lazy || k < DIR_IN_LINES {
            return self.line_word_if_made(layout.dir(k));
        }
        self.dir_ext()?.get(k - DIR_IN_LINES)
    }

    /// Stripe `k`'s directory entry, the rest or the extension made first
    /// if need be (the protocol of [`lines_at`], as for the stripes).
    fn dir_entry(&self, k: usize) -> &AtomicU64 {
        let layout = &self.shape.layout;
        if !layout.lazy || k < DIR_IN_LINES {
            return self.line_word(layout.dir(k));
        }
        if let Some(e) = self.dir_entry_if_made(k) {
            return e;
        }
        let first = lines_at(
            self.line_word(W_DIR_EXT),
            layout.dir_ext_words() / LINE_WORDS,
        );
        // SAFETY: `first` is the extension's first word (ours, or the
        // winner's), of at least `stripes - DIR_IN_LINES` words, freed only
        // when the breaker is dropped.
        unsafe { &*first.add(k - DIR_IN_LINES) }
    }
}

/// The first word of `n` zeroed lines published at `entry`: made here
/// and set by compare-and-swap from 0, or, when another thread set it
/// first, the winner's (ours freed). The protocol of a breaker's lazily
/// made lines, its stripes and its rest (`breaker/rest.rs`).
pub(super) fn lines_at(entry: &AtomicU64, n: usize) -> *mut AtomicU64 {
    let lines: Box<[Line]> = (0..n).map(|_| Line::zeroed()).collect();
    let ours = Box::into_raw(lines) as *mut Line as *mut AtomicU64;
    publish_once(entry, ours as u64, |ours| {
        // SAFETY: `ours` came from `Box::into_raw` above, of `n` lines,
        // and was never published.
        unsafe { free_lines(ours as *mut AtomicU64, n) }
    }) as *mut AtomicU64
}

/// Set `entry` from 0 to `ours` (lines made zeroed), or, when another
/// thread set it first, hand `ours` to `lose`: the value that won. The
/// protocol of every word that points to lazily made lines: an in-process
/// breaker's stripes and rest (an address), a shared file's stripes (a
/// line number in the data area).
pub(super) fn publish_once(entry: &AtomicU64, ours: u64, lose: impl FnOnce(u64)) -> u64 {
    // AcqRel: Release publishes the zeroed lines to whoever loads the
    // entry with Acquire; Acquire, on failure, makes the winner's lines
    // visible to us.
    match entry.compare_exchange(0, ours, AcqRel, Acquire) {
        Ok(_) => ours,
        Err(theirs) => {
            lose(ours);
            theirs
        }
    }
}

/// Free `n` lines made by [`lines_at`].
///
/// # Safety
///
/// `first` must be the first word of `n` lines from `lines_at` (ours or a
/// published entry's), and nothing may use them afterwards.
pub(super) unsafe fn free_lines(first: *mut AtomicU64, n: usize) {
    // SAFETY: the caller's contract: a boxed slice of `n` lines whose first
    // word is `first`.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(first as *mut Line, n)) });
}

/// What tests of the shared-memory directory look at.
#[cfg(all(test, feature = "shm", unix, not(loom)))]
impl Breaker {
    /// The calling thread's stripe (its first word) and whether the thread
    /// owns it.
    pub(crate) fn my_stripe_for_test(&self) -> (*const AtomicU64, bool) {
        let (s, owned) = self.my_stripe();
        (s.w(0), owned)
    }

    /// The calling thread's directory entry (0: none, or not looked up).
    pub(crate) fn dir_entry_for_test(&self) -> u64 {
        let s = crate::engine::thread_slot::current();
        if s >= self.owned_on_control_line as usize {
            return 0;
        }
        // SAFETY: `s < owned_on_control_line`, and `self` is borrowed.
        unsafe { self.dir.entry(s) }.load(Relaxed)
    }
}

impl Drop for Breaker {
    fn drop(&mut self) {
        if !self.shape.layout.lazy {
            return;
        }
        for k in 0..self.shape.layout.stripes {
            // Relaxed: `&mut self`, no other thread holds the breaker.
            let p = self.dir_entry_if_made(k).map_or(0, |w| w.load(Relaxed));
            if p != 0 {
                // SAFETY: a non-zero entry came from `make_stripe`, and the
                // breaker, the only way to its stripe, is being dropped.
                unsafe { free_lines(p as *mut AtomicU64, self.shape.layout.stripe_lines()) };
            }
        }
        // Then the extension, whose entries were read above.
        if let Some(ext) = self.dir_ext() {
            let first = ext.as_ptr() as *mut AtomicU64;
            // SAFETY: a made extension came from `dir_entry`'s `lines_at`,
            // of `dir_ext_words() / LINE_WORDS` lines, and the breaker is
            // being dropped.
            unsafe { free_lines(first, self.shape.layout.dir_ext_words() / LINE_WORDS) };
        }
        // Last: the directory entries above, and the extension's address,
        // may be in it.
        self.drop_rest();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::engine::clock::ManualClock;
    use std::sync::Arc;

    #[test]
    fn a_stripe_is_made_when_first_needed_and_threads_past_the_owned_ones_spread() {
        let b = Breaker::with_clock(Config::default(), Arc::new(ManualClock::new())).unwrap();
        assert!(b.shape.layout.lazy);
        assert_eq!(b.stripes().count(), 0, "an idle breaker has no stripe");
        assert!(b.dir_ext().is_none(), "nor a directory extension");
        let (owned, shared) = (b.exclusive as usize, b.shape.layout.shared as usize);
        assert_eq!(owned + shared, b.shape.layout.stripes);
        // Slots past the owned ones, taken in turn, land on every shared
        // stripe, each made once and the same for the same slot.
        let first = |slot| b.other_stripe(slot).0.w(0) as *const AtomicU64;
        let mut seen: Vec<_> = (owned..owned + 2 * shared).map(first).collect();
        assert_eq!(first(owned), seen[0], "the same stripe for the same slot");
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), shared, "one stripe per shared index");
        assert_eq!(b.stripes().count(), shared);
        // The shared stripes' entries follow the owned ones': in the
        // directory's extension past its lines, made with the first of them.
        assert_eq!(b.dir_ext().is_some(), owned >= DIR_IN_LINES);
        // An owner's stripe, made on its first count.
        b.call(|| Ok::<(), ()>(())).unwrap();
        let (mine, exclusive) = b.my_stripe();
        assert_eq!(exclusive, crate::engine::thread_slot::current() < owned);
        assert_eq!(b.stripes().count(), shared + exclusive as usize);
        assert_eq!(
            b.my_stripe().0.w(0) as *const AtomicU64,
            mine.w(0) as *const _
        );
        assert_eq!(b.metrics().successes, 1);
    }

    #[test]
    fn what_a_call_reads_of_the_handle_is_on_its_first_line() {
        use std::mem::{align_of, offset_of, size_of};
        assert_eq!((size_of::<Breaker>(), align_of::<Breaker>()), (128, 64));
        let hot = [
            offset_of!(Breaker, mirror) + size_of::<[AtomicU64; MIRRORED]>(),
            offset_of!(Breaker, hot) + size_of::<[AtomicU64; HOT_WORDS]>(),
            offset_of!(Breaker, shape) + size_of::<usize>(),
            offset_of!(Breaker, in_place) + 1,
            offset_of!(Breaker, timed) + 1,
            offset_of!(Breaker, plain_successes) + 1,
            offset_of!(Breaker, mirrored) + 1,
            offset_of!(Breaker, exclusive) + 1,
            offset_of!(Breaker, shared_words) + 1,
            offset_of!(Breaker, owned_on_control_line) + 2,
        ];
        assert!(hot.iter().all(|&end| end <= 64), "{hot:?}");
    }

    #[test]
    fn the_control_words_in_the_handle_move_with_it() {
        let clock = Arc::new(ManualClock::new());
        let config = Config {
            consecutive_failures: Some(3),
            ..Config::default()
        };
        let b = Breaker::with_clock(config, clock.clone()).unwrap();
        assert!(!b.shared_words);
        for _ in 0..2 {
            let _ = b.call(|| Err::<(), ()>(()));
        }
        // Moved twice (a move copies the words; nothing borrows them then).
        let b = Box::new(b);
        let b = *b;
        assert_eq!(b.state(), State::Closed);
        let _ = b.call(|| Err::<(), ()>(()));
        assert_eq!(b.state(), State::Open, "the run of 2 moved with the handle");
        let other = Breaker::with_clock(Config::default(), clock).unwrap();
        assert_eq!(other.state(), State::Closed);
        // Into a `Vec`, moved again when it grows.
        let mut moved = Vec::with_capacity(1);
        moved.push(b);
        moved.reserve(1024);
        assert_eq!(moved[0].state(), State::Open);
        assert!(moved[0].call(|| Ok::<(), ()>(())).is_err());
    }

    #[test]
    fn each_owner_finds_its_stripe_at_hand_and_in_the_handle_after_a_move() {
        let b = Breaker::with_clock(Config::default(), Arc::new(ManualClock::new())).unwrap();
        assert_eq!(b.mirrored as usize, (b.exclusive as usize).min(MIRRORED));
        // Threads at once, each in a slot of its own: past the mirrored
        // ones too.
        let threads = b.exclusive as usize + 2;
        let b = std::sync::Mutex::new(b);
        let mirror = |b: &Breaker, s: usize| {
            let p = b
                .mirror
                .get(s)
                .filter(|_| s < b.mirrored as usize)?
                .load(Relaxed);
            (p != 0).then_some(p as *const AtomicU64)
        };
        let count = |b: &Breaker| {
            let s = crate::engine::thread_slot::current();
            assert_eq!(mirror(b, s), None, "nothing before the first count");
            b.call(|| Ok::<(), ()>(())).unwrap();
            let (stripe, owned) = b.my_stripe();
            let at = stripe.w(0) as *const AtomicU64;
            // Every owner finds its stripe in one lookup from now on,
            // whichever line holds its directory entry (not through the
            // general path); the others never do.
            let at_hand = b.stripe_at_hand().map(|st| st.w(0) as *const AtomicU64);
            assert_eq!(at_hand, owned.then_some(at), "slot {s}");
            assert_eq!(owned, s < b.exclusive as usize);
            match mirror(b, s) {
                Some(p) => {
                    assert!(owned);
                    assert_eq!(p, at);
                    assert_eq!(b.made(s).map(|m| m.w(0) as *const AtomicU64), Some(at));
                }
                None => assert!(s >= b.mirrored as usize, "slot {s} not mirrored"),
            }
        };
        let barrier = std::sync::Barrier::new(threads);
        std::thread::scope(|scope| {
            let (b, barrier) = (&b, &barrier);
            for _ in 0..threads {
                scope.spawn(move || {
                    barrier.wait();
                    let counted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        count(&b.lock().unwrap_or_else(|e| e.into_inner()))
                    }));
                    // Held until all have counted: the slots stay taken (and
                    // a failed assertion fails the test, not hangs it).
                    barrier.wait();
                    if let Err(e) = counted {
                        std::panic::resume_unwind(e);
                    }
                });
            }
        });
        // Slots past the directory's lines were among them (the threads held
        // `exclusive + 2` slots at once): its extension is made.
        assert!(b.lock().unwrap().dir_ext().is_some());
        // Moved (out of the mutex, into an array): the addresses are values.
        let v = [b.into_inner().unwrap()];
        let b = &v[0];
        for _ in 0..3 {
            b.call(|| Ok::<(), ()>(())).unwrap();
        }
        let s = crate::engine::thread_slot::current();
        if let Some(p) = mirror(b, s) {
            assert_eq!(
                b.stripe_at_hand().map(|st| st.w(0) as *const AtomicU64),
                Some(p)
            );
        }
        assert_eq!(b.metrics().successes, threads as u64 + 3);
    }

    #[test]
    fn a_success_on_a_shared_stripe_is_counted_and_ends_a_failure_run() {
        let config = Config::builder()
            .consecutive_failures(Some(3))
            .build()
            .unwrap();
        let b = Breaker::with_clock(config, Arc::new(ManualClock::new())).unwrap();
        let fail = |b: &Breaker| assert!(b.call(|| Err::<(), ()>(())).is_err());
        fail(&b);
        fail(&b);
        // Threads take slots (lowest free first) and hold them, until one
        // is past the owned stripes: it counts on a shared stripe.
        let (tx, rx) = std::sync::mpsc::channel();
        let release = std::sync::RwLock::new(());
        let hold = release.write().unwrap();
        let mut threads = 0;
        std::thread::scope(|scope| {
            for _ in 0..b.exclusive as usize + 64 {
                threads += 1;
                let (b, tx, release) = (&b, tx.clone(), &release);
                scope.spawn(move || {
                    b.call(|| Ok::<(), ()>(())).unwrap();
                    let shared = crate::engine::thread_slot::current() >= b.exclusive as usize;
                    if shared {
                        assert!(b.stripe_at_hand().is_none());
                        for _ in 0..999 {
                            b.call(|| Ok::<(), ()>(())).unwrap();
                        }
                    }
                    tx.send(shared).unwrap();
                    let _held = release.read().unwrap();
                });
                if rx.recv().unwrap() {
                    break;
                }
            }
            drop(hold);
        });
        // Its successes ended the run: two more failures do not trip.
        fail(&b);
        fail(&b);
        assert_eq!(b.state(), crate::State::Closed);
        let m = b.metrics();
        assert_eq!((m.failures, m.successes), (4, threads + 999), "{m:?}");
        fail(&b);
        assert_eq!(b.state(), crate::State::Open);
    }

    #[test]
    fn a_thread_that_collides_on_a_shared_stripe_moves_to_another() {
        // In a thread of its own: the probe offset is per thread.
        std::thread::spawn(|| {
            let b = Breaker::with_clock(Config::default(), Arc::new(ManualClock::new())).unwrap();
            let slot = b.exclusive as usize; // any slot past the owned stripes
            let at = |b: &Breaker| b.other_stripe(slot).0.w(0) as *const AtomicU64;
            let before = at(&b);
            assert_eq!(at(&b), before, "stays while it does not collide");
            crate::engine::thread_slot::collided();
            let after = at(&b);
            if b.shape.layout.shared > 1 {
                assert_ne!(after, before, "a collision moves the probe");
            }
            assert_eq!(at(&b), after);
        })
        .join()
        .unwrap();
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::engine::clock::ManualClock;
    use loom::sync::Arc;
    use loom::thread;

    #[test]
    fn loom_two_stripes_past_the_lines_make_one_directory_extension() {
        // The directory's extension (`dir_entry`): two threads make a
        // stripe each whose entry is in it, so both make the extension at
        // once: one CAS wins, the other frees its lines and sets its entry
        // in the winner's. The main thread reads the stripes meanwhile:
        // never more than were made, and after the joins both, each where
        // its maker put it.
        loom::model(|| {
            let clock = std::sync::Arc::new(ManualClock::new());
            let b = Arc::new(Breaker::with_stripes("loom", Config::default(), clock, 32).unwrap());
            let ks = [DIR_IN_LINES + 1, DIR_IN_LINES + 5];
            let hs: Vec<_> = ks
                .iter()
                .map(|&k| {
                    let b = b.clone();
                    thread::spawn(move || b.make_stripe(k).w(0) as *const AtomicU64 as usize)
                })
                .collect();
            assert!(b.stripes().count() <= 2);
            let made: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(b.stripes().count(), 2);
            for (k, at) in ks.into_iter().zip(made) {
                assert_eq!(
                    b.made(k).map(|s| s.w(0) as *const AtomicU64 as usize),
                    Some(at)
                );
            }
        });
    }
}
