//! Admission: the closed path's one load and compare, the cold paths of
//! Open and Half-Open (a probe is one CAS in `engine/state.rs`), and the
//! rejections with their retry-after.

use super::*;

/// "No retry-after" in the ns form of one.
const NO_RETRY: u64 = u64::MAX;

/// A retry-after from its ns form.
#[inline(always)]
fn retry_after(ns: u64) -> Option<Duration> {
    (ns != NO_RETRY).then(|| Duration::from_nanos(ns))
}

/// A retry-after in ns ([`NO_RETRY`] for none).
fn retry_ns(retry_after: Option<Duration>) -> u64 {
    retry_after.map_or(NO_RETRY, |d| {
        u64::try_from(d.as_nanos()).unwrap_or(NO_RETRY - 1)
    })
}

/// An admission's answer in two words (see [`Breaker::acquire_cold`]). A
/// permit: `generation << 1 | probe`, `start_ns`; a rejection: bit 63 set
/// and the reason, the retry-after in ns ([`NO_RETRY`] for none).
#[derive(Clone, Copy)]
struct Packed(u64, u64);

impl Packed {
    const REJECTED: u64 = 1 << 63;

    #[inline(always)]
    fn permit(p: RawPermit) -> Packed {
        // Generations have 41 bits (see `state`): the shift loses none.
        Packed((p.generation << 1) | u64::from(p.probe), p.start_ns)
    }

    /// A rejection for `reason`, with the retry-after in ns.
    #[inline(always)]
    fn rejected(reason: RejectReason, retry_ns: u64) -> Packed {
        let code = match reason {
            RejectReason::Open => 0,
            RejectReason::HalfOpenFull => 1,
            RejectReason::ForcedOpen => 2,
        };
        Packed(Self::REJECTED | code, retry_ns)
    }

    fn of(r: Result<RawPermit, Rejected>) -> Packed {
        match r {
            Ok(p) => Packed::permit(p),
            Err(r) => Packed::rejected(r.reason, retry_ns(r.retry_after)),
        }
    }

    /// Back to a `Result`; inlined, so a caller that only asks `is_err()`
    /// never builds the `Duration`.
    #[inline(always)]
    fn unpack(self) -> Result<RawPermit, Rejected> {
        let Packed(a, b) = self;
        if a & Self::REJECTED == 0 {
            return Ok(RawPermit {
                generation: a >> 1,
                start_ns: b,
                probe: a & 1 == 1,
            });
        }
        Err(Rejected {
            reason: match a & 3 {
                0 => RejectReason::Open,
                1 => RejectReason::HalfOpenFull,
                _ => RejectReason::ForcedOpen,
            },
            retry_after: retry_after(b),
        })
    }
}

impl Breaker {
    // ----- admission ---------------------------------------------------

    /// Ask to make a call. The permit must be given an outcome
    /// ([`Permit::success`], [`Permit::failure`], [`Permit::ignore`]); a permit
    /// dropped without one gives back its half-open probe slot.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        self.acquire_raw().map(|raw| Permit::new(self, raw))
    }

    /// [`Breaker::try_acquire`] for bindings: the permit is a plain value, to be
    /// passed back to [`Breaker::record_raw`] or [`Breaker::release_raw`].
    #[inline(always)]
    pub fn acquire_raw(&self) -> Result<RawPermit, Rejected> {
        let w = self.word();
        if self.admits_from_word(w) {
            return Ok(RawPermit {
                generation: w.generation(),
                start_ns: 0,
                probe: false,
            });
        }
        self.acquire_cold(w).unpack()
    }

    /// Whether `w` alone admits a call, with nothing to write and no clock
    /// to read: Closed or Disabled, and permits untimed (no slow-call
    /// detection, no latency histogram). The first branch of
    /// [`Breaker::acquire_raw`], and the test a binding that reads the state
    /// word in place makes instead of calling in: it gets this breaker's
    /// part from [`crate::bindings::skips_core`], which asks this function,
    /// so the two cannot differ.
    #[inline(always)]
    pub(crate) fn admits_from_word(&self, w: Word) -> bool {
        w.admits_freely() && !self.timed
    }

    /// Everything but an untimed Closed admission, out of line, with its
    /// answer in two registers ([`Packed`]): returned as a 32-byte `Result`
    /// it would go through memory, and the inlined closed path, which merges
    /// with it, would copy its permit through the stack too (where a 16-byte
    /// load of two 8-byte stores stalls store forwarding).
    #[inline(never)]
    fn acquire_cold(&self, w: Word) -> Packed {
        if w.admits_freely() {
            // A timed permit (slow-call detection or a latency histogram).
            return Packed::permit(self.permit(w.generation(), false));
        }
        match w.phase() {
            Phase::Open => {
                if let Some(ns) = self.reject_while_open(w) {
                    return Packed::rejected(RejectReason::Open, ns);
                }
            }
            Phase::ForcedOpen => {
                // Nothing to decide: rejected until someone resets it.
                self.note_rejection(RejectReason::ForcedOpen, NO_RETRY);
                return Packed::rejected(RejectReason::ForcedOpen, NO_RETRY);
            }
            _ => {}
        }
        Packed::of(self.acquire_slow(w))
    }

    /// The common Open case: the deadline is published and not reached, and
    /// the state has not moved since `w`. Counts the rejection and returns
    /// the retry-after in ns; `None` sends the caller to the general path.
    #[inline]
    fn reject_while_open(&self, w: Word) -> Option<u64> {
        let d = self.deadline(w.generation())?;
        let now = self.shape.clock.recent_ns();
        // The second load of the state word: see `deadline` for why a
        // rejection is only decided against an unchanged word.
        if now >= d || self.word() != w {
            return None;
        }
        let ns = d - now;
        self.note_rejection(RejectReason::Open, ns);
        Some(ns)
    }

    #[inline]
    fn permit(&self, generation: u64, probe: bool) -> RawPermit {
        RawPermit {
            generation,
            start_ns: if self.timed {
                self.shape.clock.now_ns()
            } else {
                0
            },
            probe,
        }
    }

    #[inline(never)]
    fn acquire_slow(&self, mut w: Word) -> Result<RawPermit, Rejected> {
        loop {
            match w.phase() {
                Phase::Closed | Phase::Disabled => return Ok(self.permit(w.generation(), false)),
                Phase::ForcedOpen => return Err(self.reject(RejectReason::ForcedOpen, None)),
                Phase::Open => {
                    let now = self.shape.clock.recent_ns();
                    match self.deadline(w.generation()) {
                        None => {
                            // Either the breaker moved on since we read `w`
                            // (the deadline word already belongs to a later
                            // phase): look again; or it has just opened and
                            // its winner has not published the deadline yet.
                            let fresh = self.word();
                            if fresh != w {
                                w = fresh;
                                continue;
                            }
                            if self.recover_unpublished(w, self.live().open_timeout()) {
                                w = self.word();
                                continue;
                            }
                            return Err(
                                self.reject(RejectReason::Open, Some(self.live().open_timeout()))
                            );
                        }
                        Some(d) if now < d => {
                            // `d` may belong to a later phase (see
                            // `deadline`); if so the state word has moved on
                            // too: look again rather than reject on a stale view.
                            let fresh = self.word();
                            if fresh != w {
                                w = fresh;
                                continue;
                            }
                            return Err(self
                                .reject(RejectReason::Open, Some(Duration::from_nanos(d - now))));
                        }
                        Some(_) => {
                            // The open period is over: this call becomes the
                            // first probe, if it wins the transition.
                            match self.st().transition_probe(w) {
                                Ok(probe) => return Ok(self.probe_permit(probe)),
                                Err(actual) => w = actual,
                            }
                        }
                    }
                }
                Phase::HalfOpen => {
                    if let Some(d) = self.deadline(w.generation()) {
                        if self.shape.clock.recent_ns() >= d {
                            // Probes never reported: back to Open.
                            match self.st().transition_half_open_timeout(w) {
                                Ok(c) => {
                                    self.after_transition(c.from, c.to, Why::ProbeTimeout);
                                    w = c.to;
                                }
                                Err(actual) => w = actual,
                            }
                            continue;
                        }
                    }
                    if w.probes() >= self.live().half_open_max_calls() {
                        let fresh = self.word();
                        if fresh != w {
                            w = fresh;
                            continue;
                        }
                        if self.deadline(w.generation()).is_none()
                            && self.recover_unpublished(w, self.live().half_open_max_wait())
                        {
                            w = self.word();
                            continue;
                        }
                        return Err(self.reject(RejectReason::HalfOpenFull, None));
                    }
                    match self.st().transition_probe(w) {
                        Ok(probe) => return Ok(self.probe_permit(probe)),
                        Err(actual) => w = actual,
                    }
                }
            }
        }
    }

    fn reject(&self, reason: RejectReason, retry_after: Option<Duration>) -> Rejected {
        self.note_rejection(reason, retry_ns(retry_after));
        Rejected {
            reason,
            retry_after,
        }
    }

    /// Count a rejection (retry-after in ns, [`NO_RETRY`] for none) and tell
    /// the rejection listeners, if any.
    #[inline(always)]
    #[cfg_attr(loom, allow(unused_variables))]
    fn note_rejection(&self, reason: RejectReason, retry_ns: u64) {
        // A statistic, read by metrics().
        // Not `my_stripe`: with the owned flag merged from its two paths
        // an open rejection took 4 more instructions (callgrind, `icount
        // fusebox_open`: 84 against 80).
        match self.stripe_at_hand() {
            Some(s) => bump(s.w(self.shape.layout.tail + S_REJECTED), 1, true),
            None => {
                let (s, exclusive) = self.slow_stripe(crate::engine::thread_slot::current());
                bump(s.w(self.shape.layout.tail + S_REJECTED), 1, exclusive);
            }
        }
        #[cfg(all(feature = "tracing", not(loom)))]
        if tracing::level_enabled!(tracing::Level::DEBUG) {
            self.trace_rejection(reason, retry_ns);
        }
        #[cfg(not(loom))]
        if self
            .extras
            .get()
            .and_then(|e| e.rejections.get())
            .is_some_and(|l| l.is_active())
        {
            self.emit_rejection(reason, retry_after(retry_ns));
        }
    }

    /// The `tracing` event of a rejection, out of line.
    #[cfg(all(feature = "tracing", not(loom)))]
    #[cold]
    #[inline(never)]
    fn trace_rejection(&self, reason: RejectReason, retry_ns: u64) {
        crate::observe::trace::rejection(&self.name, reason, retry_after(retry_ns));
    }

    /// Out of line: the rejection path only pays for the listener check.
    #[cold]
    #[cfg_attr(loom, allow(dead_code))]
    #[inline(never)]
    fn emit_rejection(&self, reason: RejectReason, retry_after: Option<Duration>) {
        self.rejection_listeners()
            .emit(|| crate::observe::events::Rejection {
                breaker: self.name.clone(),
                reason,
                retry_after,
                at_ns: self.shape.clock.recent_ns(),
            });
    }

    /// The permit of a probe slot just taken: the first one (Open to
    /// HalfOpen, whose transition is announced) or another.
    fn probe_permit(&self, probe: Probe) -> RawPermit {
        match probe {
            Probe::HalfOpened(c) => {
                self.after_transition(c.from, c.to, Why::OpenTimeout);
                self.permit(c.to.generation(), true)
            }
            Probe::Slot(generation) => self.permit(generation, true),
        }
    }
}
