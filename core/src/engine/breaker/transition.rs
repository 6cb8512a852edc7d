//! What the winner of a transition does: publish the new phase's deadline
//! (and recover one a killed winner never published), count the change,
//! emit it to listeners; the open timeout with back-off and jitter.

use super::*;

impl Breaker {
    /// The deadline of the open or half-open phase of `generation`, if its
    /// winner has published it.
    pub(super) fn deadline(&self, generation: u64) -> Option<u64> {
        // Acquire pairs with the Release stores in `publish_deadline`.
        // Seeing our generation in W_PHASE_GEN means the deadline stored
        // before it is visible: we read ours, or a later phase's. A later
        // one was stored (Release) after that phase's winning CAS, so by
        // reading it (Acquire) we are sure to see the state word moved on:
        // callers re-check the word before acting on a rejection, and a CAS
        // from a stale word fails.
        let g = Published::from_bits(self.cells.w(W_PHASE_GEN).load(Acquire));
        if g == Published::of(generation) {
            Some(self.cells.w(W_DEADLINE).load(Acquire))
        } else {
            None
        }
    }

    /// The phase of `w` (Open, or a full Half-Open) has no published
    /// deadline. Normally that only lasts the few ns between the winner's
    /// CAS and its `publish_deadline`; in shared memory the
    /// winner may have been killed in between, and in any breaker a winner
    /// descheduled in between may publish late, after the breaker has moved
    /// on, over a later phase's deadline: either would leave the breaker open
    /// (or half-open and full) forever. So the first caller to see it
    /// notes the time in `W_STALL`; once `grace` (the phase's own length) has
    /// passed since, the winner is taken for dead and any caller publishes a
    /// deadline of "noted + grace", already due, in its place. Returns
    /// whether the caller should look at the state again.
    ///
    /// Relaxed: the stall word is one self-contained value (a generation tag
    /// and a time); the deadline is published with `publish_deadline`'s own
    /// Release stores. A recoverer that publishes late, after the breaker
    /// moved on, can only make a later phase look unpublished for another
    /// `grace`, never wedge it.
    #[cold]
    pub(super) fn recover_unpublished(&self, w: Word, grace: Duration) -> bool {
        let now = self.shape.clock.now_ns();
        let stall = self.cells.w(W_STALL);
        let v = Stall::from_bits(stall.load(Relaxed));
        if !v.is_of(w.generation()) {
            let noted = Stall::noted(w.generation(), now);
            let _ = stall.compare_exchange(v.bits(), noted.bits(), Relaxed, Relaxed);
            return false;
        }
        let due = v.noted_ns().saturating_add(grace.as_nanos() as u64);
        if now < due || self.word() != w {
            return self.word() != w;
        }
        self.publish_deadline(w.generation(), due);
        true
    }

    pub(super) fn publish_deadline(&self, generation: u64, deadline: u64) {
        self.cells.w(W_DEADLINE).store(deadline, Release);
        self.cells
            .w(W_PHASE_GEN)
            .store(Published::of(generation).bits(), Release);
    }

    /// Bookkeeping done only by the winner of a transition.
    pub(super) fn after_transition(&self, from: Word, to: Word, why: Why) {
        self.clear_count_window(to);
        let now = self.shape.clock.now_ns();
        match to.phase() {
            Phase::Open => {
                // Only winners write the re-open count, and winners are
                // ordered by the state CAS (AcqRel), so Relaxed suffices.
                let reopens = if from.phase() == Phase::HalfOpen {
                    self.cells.w(W_REOPENS).load(Relaxed) + 1
                } else {
                    0
                };
                self.cells.w(W_REOPENS).store(reopens, Relaxed);
                let timeout = self.open_timeout_ns(reopens);
                let jitter = self.jitter_ns(timeout);
                self.publish_deadline(to.generation(), now.saturating_add(timeout + jitter));
            }
            Phase::HalfOpen => {
                let wait = self.live().half_open_max_wait().as_nanos() as u64;
                self.publish_deadline(to.generation(), now.saturating_add(wait));
            }
            Phase::Closed => {
                self.cells.w(W_REOPENS).store(0, Relaxed);
            }
            Phase::Disabled | Phase::ForcedOpen => {
                self.cells.w(W_REOPENS).store(0, Relaxed);
            }
        }
        if from.phase() != to.phase() {
            self.line_word(W_STATE_CHANGES).fetch_add(1, Relaxed);
            self.emit(from.phase(), to, now, why);
        }
    }

    /// The winner's work of [`Breaker::open_for`]: publish the deadline it
    /// was given (the re-open count, which drives the back-off, is left as
    /// it is: a server's hint is no failed probing round), count and emit
    /// the change (Open → Open, an extension, is none).
    pub(super) fn after_open_for(&self, from: Word, to: Word, deadline: u64) {
        self.clear_count_window(to);
        self.publish_deadline(to.generation(), deadline);
        if from.phase() != to.phase() {
            self.line_word(W_STATE_CHANGES).fetch_add(1, Relaxed);
            self.emit(from.phase(), to, self.shape.clock.now_ns(), Why::OpenFor);
        }
    }

    /// A new generation's count window starts empty
    /// (`engine/count_window.rs`): the winner clears it and publishes it.
    fn clear_count_window(&self, to: Word) {
        if let WindowKind::Count(cw) = self.shape.window {
            cw.clear(&self.cells, to.generation(), 1);
        }
    }

    /// The open timeout after `reopens` failed probing rounds.
    pub(crate) fn open_timeout_ns(&self, reopens: u64) -> u64 {
        let base = self.live().open_timeout().as_nanos() as u64;
        match self.live().backoff() {
            None => base,
            Some(b) => {
                let f = b.multiplier.powi(reopens.min(1000) as i32);
                let t = (base as f64 * f).min(b.max.as_nanos() as f64);
                // Never below the base: a thread that sees a reconfigured
                // multiplier with the old cap (`breaker/live.rs`) gets no
                // shorter timeout than asked for (for a valid config, where
                // the cap is ≥ the base, this changes nothing).
                (t as u64).max(base)
            }
        }
    }

    fn jitter_ns(&self, timeout: u64) -> u64 {
        let jitter = self.live().jitter();
        if jitter == 0.0 {
            return 0;
        }
        // splitmix64 over a shared seed: only transition winners draw.
        let mut z = self
            .cells
            .w(W_RNG)
            .fetch_add(0x9E37_79B9_7F4A_7C15, Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        (timeout as f64 * jitter * unit) as u64
    }

    pub(super) fn emit(&self, from: Phase, to: Word, now: u64, why: Why) {
        crate::observe::trace::transition(&self.name, from, to.phase(), why);
        // One atomic load when nobody listens; otherwise one job on the
        // event thread, where each listener runs inside catch_unwind.
        #[cfg(not(loom))]
        if let Some(listeners) = self.extras.get().and_then(|e| e.transitions.get()) {
            listeners.emit(|| Transition {
                breaker: self.name.clone(),
                from,
                to: to.phase(),
                generation: to.generation(),
                at_ns: now,
            });
        }
        #[cfg(loom)]
        let _ = (from, to, now);
    }
}
