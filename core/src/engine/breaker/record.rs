//! Recording an outcome: the caller's stripe counts it (`engine/window.rs`);
//! a failure (or a success that may be the deciding call) judges the window
//! and trips the breaker; a probe's outcome closes or reopens it.

use super::*;

impl Breaker {
    // ----- outcomes ----------------------------------------------------

    /// Report the outcome of a call admitted by [`Breaker::acquire_raw`].
    /// `duration_ns` overrides the duration the permit measured.
    #[inline(always)]
    pub fn record_raw(&self, p: RawPermit, outcome: Outcome, duration_ns: Option<u64>) {
        // The common case, inlined: a fast success of a closed-path permit on
        // a time window, by a thread that owns its stripe. One read of the
        // recent clock, a plain load and store on this thread's stripe (no
        // read-modify-write instruction), and two loads of the control line
        // (written only while a run of failures is in progress or the window
        // is in danger).
        if self.plain_successes && outcome == Outcome::Success && !p.probe {
            let Some(stripe) = self.stripe_at_hand() else {
                // A shared stripe (CAS), or this thread's first count on
                // the breaker.
                return self.record_plain_success_elsewhere(p);
            };
            let t = self.shape.clock.recent_ns();
            let moved = self
                .shape
                .time
                .record_owned(stripe, KIND_OK_FAST, p.generation, t);
            self.after_plain_success(moved, p.generation, t);
            return;
        }
        self.record_general(p, outcome, duration_ns);
    }

    /// The closed path's success in one plain store, when that is all it
    /// takes, without calling anything that could panic or run user code:
    /// a time window without slow-call detection, the system clock, a
    /// permit of the closed path, a thread whose stripe is made and listed
    /// in the breaker's directory (on the control line, or a shared
    /// breaker's in this process), no failure run in progress, the window
    /// not in danger, and the stripe still in the current bucket. Then the
    /// success is counted and `true` returned, as [`Breaker::record_raw`]
    /// would have counted it with nothing to judge; else nothing is done
    /// and `false` returned (the caller goes through `record_raw`).
    #[inline(always)]
    pub(crate) fn record_success_in_place(&self, p: RawPermit) -> bool {
        self.record_success_in_place_at(p, crate::engine::thread_slot::assigned())
    }

    /// [`Breaker::record_success_in_place`] for the calling thread, whose
    /// slot `s` (`thread_slot::assigned`) the caller has read.
    #[inline(always)]
    pub(crate) fn record_success_in_place_at(&self, p: RawPermit, s: usize) -> bool {
        if !self.in_place || p.probe {
            return false;
        }
        // Nothing is called on this path (no slot assigned, no clock
        // thread started, no stripe looked up out of line): a caller with
        // no frame of its own stays so.
        let Some(stripe) = self.stripe_in_reach_of(s) else {
            return false;
        };
        // Relaxed: as in `record_raw`.
        if self.run_or_danger(p.generation) {
            return false;
        }
        // The monotonic clock: `in_place` says so.
        let Some(t) = crate::engine::clock::monotonic_recent_in_place() else {
            return false;
        };
        self.shape
            .time
            .add_owned(stripe, KIND_OK_FAST, p.generation, t, 1)
    }

    /// Report `n` successes of calls admitted by `p` (an untimed permit),
    /// exactly as `n` calls of `record_raw(p, Outcome::Success, None)` in a
    /// row would: for a binding that gathers successes and hands them over
    /// at once, where crossing into Rust costs more than the record (Node).
    /// Bindings call it through [`crate::bindings::record_batch`], whose
    /// contract says when a batch may be held and when it must be handed over.
    ///
    /// In one store when the calls would each be the closed path's plain
    /// store (this thread owns its stripe, the bucket is current, no failure
    /// run in progress, the window not in danger: then no success has
    /// anything to judge); else one by one.
    pub(crate) fn record_successes_raw(&self, p: RawPermit, n: u32) {
        if n > 1 && self.plain_successes && !p.probe {
            let (stripe, owned) = self.my_stripe();
            // Relaxed: as in `record_raw`. A failure run or danger that
            // another thread starts after these loads is ordered after
            // these successes, as if they had been recorded first.
            if owned
                && !self.run_or_danger(p.generation)
                && self.shape.time.add_owned(
                    stripe,
                    KIND_OK_FAST,
                    p.generation,
                    self.shape.clock.recent_ns(),
                    n,
                )
            {
                return;
            }
        }
        for _ in 0..n {
            self.record_raw(p, Outcome::Success, None);
        }
    }

    /// Whether the window of `generation` was last judged "too few calls to
    /// judge, but enough failures that reaching `min_calls` would trip".
    #[inline(always)]
    fn in_danger(&self, generation: u64) -> bool {
        danger_of(&self.ctl()[W_DANGER], generation)
    }

    /// Whether a failure run is in progress or the window of `generation`
    /// is in danger: when a plain success must be judged. Both words read
    /// Relaxed (see `record_raw`), from one look-up of where they are.
    #[inline(always)]
    fn run_or_danger(&self, generation: u64) -> bool {
        let c = self.ctl();
        Run::from_bits(c[W_CONSEC].load(Relaxed)).in_progress()
            || danger_of(&c[W_DANGER], generation)
    }

    /// The rest of a closed-path success: end a failure run, and judge the
    /// window when the success may be the call that trips it.
    #[cold]
    fn judge_success(&self, generation: u64, t: u64) {
        let w = self.word();
        if w.phase() == Phase::Closed && w.generation() == generation {
            self.reset_consecutive(generation);
            self.evaluate(w, t);
        }
    }

    /// [`Breaker::record_raw`]'s plain success (a time window, no
    /// slow-call detection, a closed-path permit) by a thread that does not
    /// find its stripe at hand: one past the owned stripes, which counts on
    /// a shared stripe with CAS, or an owner's first count. The owned path's
    /// rule on the stripe `slow_stripe` finds (count; judge only when a
    /// failure run is in progress, the stripe moved to a new bucket or the
    /// window is in danger), without the general path's duration, latency
    /// and probe steps, which such a success has no use for.
    #[inline(never)]
    fn record_plain_success_elsewhere(&self, p: RawPermit) {
        let (stripe, exclusive) = self.slow_stripe(crate::engine::thread_slot::current());
        let t = self.shape.clock.recent_ns();
        let moved = self
            .shape
            .time
            .record(stripe, KIND_OK_FAST, p.generation, t, exclusive);
        self.after_plain_success(moved, p.generation, t);
    }

    /// What a plain success does once counted (`moved`: its stripe entered
    /// a new bucket): only when a failure run is in progress, when buckets
    /// may have left the window, or when the window is in danger, the rest
    /// of it ([`Breaker::judge_success`]).
    #[inline(always)]
    fn after_plain_success(&self, moved: bool, generation: u64, t: u64) {
        // Relaxed: both words are read-mostly (`record_raw`).
        if moved || self.run_or_danger(generation) {
            self.judge_success(generation, t);
        }
    }

    #[inline(never)]
    fn record_general(&self, p: RawPermit, outcome: Outcome, duration_ns: Option<u64>) {
        let (stripe, exclusive) = self.my_stripe();
        let kind = match outcome {
            Outcome::Ignored => {
                // A statistic.
                bump(
                    stripe.tail(S_IGNORED, self.shape.layout.buckets),
                    1,
                    exclusive,
                );
                if p.probe {
                    self.release_probe(p);
                }
                return;
            }
            Outcome::Success => KIND_OK_FAST,
            Outcome::Failure => KIND_FAIL_FAST,
        };
        // The call's duration: the caller's figure, else measured from the
        // permit when it was timed (slow-call detection or a histogram).
        let d = duration_ns.or_else(|| {
            (p.start_ns != 0).then(|| self.shape.clock.now_ns().saturating_sub(p.start_ns))
        });
        let slow_ns = self.slow_ns.load(Relaxed);
        let slow = slow_ns != 0 && d.unwrap_or(0) > slow_ns;
        let kind = kind + slow as usize;
        let t = self.shape.clock.recent_ns();
        if let (Some(h), Some(d)) = (self.extras.get().and_then(|e| e.latency.as_ref()), d) {
            h.record_at(t, d);
        }
        let moved = match self.shape.window {
            WindowKind::Time(tw) => tw.record(stripe, kind, p.generation, t, exclusive),
            WindowKind::Count(cw) => {
                bump(
                    stripe.tail(S_RETIRED + kind, self.shape.layout.buckets),
                    1,
                    exclusive,
                );
                // An outcome of an earlier generation takes no ticket: it
                // would push a current call out of the last N while adding
                // none (raising the rate without a failure).
                if self.word().generation() == p.generation {
                    cw.record(&self.cells, kind, || {
                        self.word().generation() == p.generation
                    });
                }
                false
            }
        };

        if p.probe {
            self.probe_outcome(p, outcome == Outcome::Success);
            return;
        }
        let w = self.word();
        if w.phase() != Phase::Closed || w.generation() != p.generation {
            return; // stale generation, or disabled: counted, not judged
        }
        match outcome {
            Outcome::Success => {
                self.reset_consecutive(p.generation);
                // A success trips the breaker when it is the call that
                // brings the window to `min_calls` with the rate at the
                // threshold, or when older successes have just left the
                // window; it cannot otherwise (it lowers the failure rate).
                if slow || moved || self.in_danger(p.generation) {
                    self.evaluate(w, t);
                }
            }
            _ => {
                let run = self.add_consecutive(p.generation);
                if self
                    .live()
                    .consecutive_failures()
                    .is_some_and(|n| run >= u64::from(n))
                {
                    self.trip(w, Why::ConsecutiveFailures);
                } else {
                    self.evaluate(w, t);
                }
            }
        }
    }

    /// Give back a permit without an outcome: a probe's slot is freed.
    pub fn release_raw(&self, p: RawPermit) {
        if p.probe {
            self.release_probe(p);
        }
    }

    /// End a permit whose call was cancelled (its future dropped before it
    /// completed), as [`Config::cancellation`] says: released, counted as
    /// one slow call if it had run past the slow-call duration
    /// ([`Cancellation::SlowIfOverdue`](crate::Cancellation::SlowIfOverdue),
    /// the default; a probe is released all the same), or a failure. What
    /// [`Guarded`](crate::Guarded) does on drop; for bindings and adapters
    /// that hold a [`RawPermit`] across an `await`.
    ///
    /// ```rust
    /// use fusebox::{Breaker, Config, ManualClock};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let breaker = Breaker::with_clock(
    ///     Config::builder().slow_call_duration(Some(Duration::from_secs(2))).build()?,
    ///     clock.clone(),
    /// )?;
    /// let quick = breaker.acquire_raw()?;
    /// breaker.cancel_raw(quick); // given up at once: nothing counted
    /// let hung = breaker.acquire_raw()?;
    /// clock.advance(Duration::from_secs(3));
    /// breaker.cancel_raw(hung); // given up after 3 s: one slow call
    /// let m = breaker.metrics();
    /// assert_eq!((m.window.calls, m.slow, m.failures), (1, 1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel_raw(&self, p: RawPermit) {
        match self.live().cancellation() {
            crate::Cancellation::Release => {}
            crate::Cancellation::SlowIfOverdue => {
                let slow_ns = self.slow_ns.load(Relaxed);
                if slow_ns != 0
                    && !p.probe
                    && self.shape.clock.now_ns().saturating_sub(p.start_ns) > slow_ns
                {
                    self.record_in_flight_slow(p);
                }
            }
            crate::Cancellation::Failure => {
                return self.record_raw(p, Outcome::Failure, None);
            }
        }
        self.release_raw(p);
    }

    /// Count a call that is *still in flight*, admitted by `p` and running
    /// for longer than the slow-call duration, as one slow call now (a slow
    /// success of `p`'s generation; dropped if stale), so a dependency that
    /// stops answering trips the slow-call rate before its calls time out.
    /// [`crate::bulkhead`] calls this for the calls it watches. The caller
    /// must then end `p` with [`Breaker::release_raw`], not `record_raw`,
    /// so that the call is counted once. Returns `false`, counting nothing,
    /// when slow-call detection is off or `p` is a half-open probe (a hung
    /// probe is the half-open wait limit's business).
    pub fn record_in_flight_slow(&self, p: RawPermit) -> bool {
        if self.slow_ns.load(Relaxed) == 0 || p.probe {
            return false;
        }
        let (stripe, exclusive) = self.my_stripe();
        let t = self.shape.clock.recent_ns();
        match self.shape.window {
            WindowKind::Time(tw) => {
                tw.record(stripe, KIND_OK_SLOW, p.generation, t, exclusive);
            }
            WindowKind::Count(cw) => {
                // A statistic, as in `record_general`.
                bump(
                    stripe.tail(S_RETIRED + KIND_OK_SLOW, self.shape.layout.buckets),
                    1,
                    exclusive,
                );
                cw.record(&self.cells, KIND_OK_SLOW, || {
                    self.word().generation() == p.generation
                });
            }
        }
        let w = self.word();
        if w.phase() == Phase::Closed && w.generation() == p.generation {
            self.evaluate(w, t);
        }
        true
    }

    fn reset_consecutive(&self, generation: u64) {
        // A success only writes when a run is in progress, so the success
        // path stays read-only on the line every caller reads. Relaxed: a lost
        // race between a failure and a reset is a race between two calls
        // that had no order anyway.
        let c = &self.ctl()[W_CONSEC];
        let v = Run::from_bits(c.load(Relaxed));
        if v.in_progress() && v.is_of(generation) {
            let _ = c.compare_exchange(v.bits(), Run::ended(generation).bits(), Relaxed, Relaxed);
        }
    }

    fn add_consecutive(&self, generation: u64) -> u64 {
        let c = &self.ctl()[W_CONSEC];
        let mut v = Run::from_bits(c.load(Relaxed));
        loop {
            let new = v.one_more(generation);
            match c.compare_exchange_weak(v.bits(), new.bits(), Relaxed, Relaxed) {
                Ok(_) => return new.length(),
                Err(actual) => v = Run::from_bits(actual),
            }
        }
    }

    pub(super) fn evaluate(&self, w: Word, t: u64) {
        let c = self.window_counts_at(w.generation(), t);
        let min = u64::from(self.live().min_calls());
        if c.calls < min {
            // Too few calls to judge. If reaching `min_calls` with successes
            // alone would trip (the failures, or slow calls, already make
            // the threshold at `min_calls`), every success must be judged
            // until then: say so in the danger word (written only when it
            // changes, so the success path keeps reading a shared line).
            let f = c.failures as f64 / min as f64 >= self.live().failure_rate_threshold();
            let s = self.slow_ns.load(Relaxed) != 0
                && c.slow as f64 / min as f64 >= self.live().slow_call_rate_threshold();
            let want = if f || s {
                Danger::of(w.generation())
            } else {
                Danger::NONE
            };
            let d = &self.ctl()[W_DANGER];
            if d.load(Relaxed) != want.bits() {
                d.store(want.bits(), Relaxed);
            }
            return;
        }
        let by_failures = c.failure_rate() >= self.live().failure_rate_threshold();
        let by_slow = self.slow_ns.load(Relaxed) != 0
            && c.slow_rate() >= self.live().slow_call_rate_threshold();
        if by_failures || by_slow {
            let why = if by_failures {
                Why::FailureRate
            } else {
                Why::SlowCallRate
            };
            self.trip(w, why);
        }
    }

    pub(super) fn trip(&self, w: Word, why: Why) {
        // Exactly one of the racing trippers wins; the others find the
        // generation moved (and leave it to the winner).
        if let Ok(c) = self.st().transition_trip(w) {
            self.after_transition(c.from, c.to, why);
        }
    }

    fn probe_outcome(&self, p: RawPermit, success: bool) {
        let why = if success {
            Why::ProbesSucceeded
        } else {
            Why::ProbeFailed
        };
        let change = if success {
            match self
                .st()
                .transition_close(p.generation, self.live().success_threshold())
            {
                Ok(Close::Closed(c)) => c,
                // Counted, still half-open; or a stale probe.
                Ok(Close::Counted) | Err(_) => return,
            }
        } else {
            match self.st().transition_reopen(p.generation) {
                Ok(c) => c,
                Err(_) => return, // stale probe
            }
        };
        self.after_transition(change.from, change.to, why);
    }

    fn release_probe(&self, p: RawPermit) {
        // Stale (the phase moved on, or no slot taken): nothing to give back.
        let _ = self.st().transition_release_probe(p.generation);
    }
}

/// Whether the danger word `d` is set for `generation` (Relaxed: see
/// `Breaker::record_raw`).
#[inline(always)]
fn danger_of(d: &AtomicU64, generation: u64) -> bool {
    Danger::from_bits(d.load(Relaxed)) == Danger::of(generation)
}
