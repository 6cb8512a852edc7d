//! A sequential reference model of the breaker as `docs/semantics.md`
//! describes it: plain fields, no atomics, no cleverness. Property tests and the differential fuzzer drive it and a real
//! [`crate::Breaker`] with the same operations and compare what they say.
//! (Jitter is left out: it is random by design.)

use crate::config::{Config, WindowConfig};
use crate::error::RejectReason;
use crate::permit::Outcome;
use crate::state::Phase;

/// A permit of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelPermit {
    /// Generation at admission.
    pub generation: u64,
    /// A half-open probe.
    pub probe: bool,
    /// Time at admission when slow-call detection is on, else 0.
    pub start: u64,
}

/// Lifetime totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Successes.
    pub successes: u64,
    /// Failures.
    pub failures: u64,
    /// Ignored.
    pub ignored: u64,
    /// Slow.
    pub slow: u64,
    /// Rejected.
    pub rejected: u64,
    /// Phase changes.
    pub state_changes: u64,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Bucket epoch (time window) or ticket (count window).
    at: u64,
    generation: u64,
    failure: bool,
    slow: bool,
}

/// The model.
#[derive(Clone, Debug)]
pub struct Model {
    cfg: Config,
    /// Phase.
    pub phase: Phase,
    /// Generation.
    pub generation: u64,
    probes: u32,
    oks: u32,
    deadline: u64,
    reopens: u64,
    run: u64,
    entries: Vec<Entry>,
    ticket: u64,
    /// Lifetime totals.
    pub totals: Totals,
}

impl Model {
    /// A closed model.
    pub fn new(cfg: Config) -> Model {
        Model {
            cfg,
            phase: Phase::Closed,
            generation: 0,
            probes: 0,
            oks: 0,
            deadline: 0,
            reopens: 0,
            run: 0,
            entries: Vec::new(),
            ticket: 0,
            totals: Totals::default(),
        }
    }

    fn slow_ns(&self) -> u64 {
        self.cfg
            .slow_call_duration
            .map_or(0, |d| d.as_nanos() as u64)
    }

    fn transition(&mut self, to: Phase, now: u64) {
        let from = self.phase;
        self.generation += 1;
        self.probes = 0;
        self.oks = 0;
        self.run = 0;
        self.phase = to;
        match to {
            Phase::Open => {
                self.reopens = if from == Phase::HalfOpen {
                    self.reopens + 1
                } else {
                    0
                };
                let base = self.cfg.open_timeout.as_nanos() as u64;
                let t = match self.cfg.backoff {
                    None => base,
                    Some(b) => (base as f64 * b.multiplier.powi(self.reopens.min(1000) as i32))
                        .min(b.max.as_nanos() as f64) as u64,
                };
                self.deadline = now + t;
            }
            Phase::HalfOpen => self.deadline = now + self.cfg.half_open_max_wait.as_nanos() as u64,
            _ => self.reopens = 0,
        }
        if from != to {
            self.totals.state_changes += 1;
        }
    }

    /// Ask to make a call at time `now`.
    pub fn acquire(&mut self, now: u64) -> Result<ModelPermit, (RejectReason, Option<u64>)> {
        let start = if self.slow_ns() != 0 { now } else { 0 };
        loop {
            match self.phase {
                Phase::Closed | Phase::Disabled => {
                    return Ok(ModelPermit {
                        generation: self.generation,
                        probe: false,
                        start,
                    })
                }
                Phase::ForcedOpen => {
                    self.totals.rejected += 1;
                    return Err((RejectReason::ForcedOpen, None));
                }
                Phase::Open => {
                    if now < self.deadline {
                        self.totals.rejected += 1;
                        return Err((RejectReason::Open, Some(self.deadline - now)));
                    }
                    self.transition(Phase::HalfOpen, now);
                    self.probes = 1;
                    return Ok(ModelPermit {
                        generation: self.generation,
                        probe: true,
                        start,
                    });
                }
                Phase::HalfOpen => {
                    if now >= self.deadline {
                        self.transition(Phase::Open, now);
                        continue;
                    }
                    if self.probes >= self.cfg.half_open_max_calls {
                        self.totals.rejected += 1;
                        return Err((RejectReason::HalfOpenFull, None));
                    }
                    self.probes += 1;
                    return Ok(ModelPermit {
                        generation: self.generation,
                        probe: true,
                        start,
                    });
                }
            }
        }
    }

    /// Report an outcome at time `now`.
    pub fn record(&mut self, p: ModelPermit, outcome: Outcome, duration: Option<u64>, now: u64) {
        if outcome == Outcome::Ignored {
            self.totals.ignored += 1;
            self.release(p);
            return;
        }
        let failure = outcome == Outcome::Failure;
        let slow_ns = self.slow_ns();
        let d = duration.unwrap_or(if p.start == 0 { 0 } else { now - p.start });
        let slow = slow_ns != 0 && d > slow_ns;
        if failure {
            self.totals.failures += 1;
        } else {
            self.totals.successes += 1;
        }
        if slow {
            self.totals.slow += 1;
        }
        let at = match self.cfg.window {
            WindowConfig::Time { .. } => now / self.cfg.bucket_ns(),
            // Stale outcomes take no place among the last N calls.
            WindowConfig::Count { .. } if p.generation != self.generation => 0,
            WindowConfig::Count { .. } => {
                self.ticket += 1;
                self.ticket
            }
        };
        self.entries.push(Entry {
            at,
            generation: p.generation,
            failure,
            slow,
        });
        if p.generation != self.generation {
            return;
        }
        if p.probe {
            if self.phase != Phase::HalfOpen {
                return;
            }
            if failure {
                self.transition(Phase::Open, now);
            } else {
                self.oks += 1;
                if self.oks >= self.cfg.success_threshold {
                    self.transition(Phase::Closed, now);
                }
            }
            return;
        }
        if self.phase != Phase::Closed {
            return;
        }
        if failure {
            self.run += 1;
            if self
                .cfg
                .consecutive_failures
                .is_some_and(|n| self.run >= u64::from(n))
            {
                self.transition(Phase::Open, now);
                return;
            }
        } else {
            self.run = 0;
        }
        // Every outcome is judged: a success can be the call that brings the
        // window to `min_calls` with the rate at the threshold.
        let (calls, fails, slows) = self.window(now);
        if calls >= u64::from(self.cfg.min_calls) {
            let by_fail = fails as f64 / calls as f64 >= self.cfg.failure_rate_threshold;
            let by_slow =
                slow_ns != 0 && slows as f64 / calls as f64 >= self.cfg.slow_call_rate_threshold;
            if by_fail || by_slow {
                self.transition(Phase::Open, now);
            }
        }
    }

    /// Drop a permit without an outcome.
    pub fn release(&mut self, p: ModelPermit) {
        if p.probe
            && self.phase == Phase::HalfOpen
            && p.generation == self.generation
            && self.probes > 0
        {
            self.probes -= 1;
        }
    }

    /// (calls, failures, slow) in the window at `now`.
    pub fn window(&self, now: u64) -> (u64, u64, u64) {
        let (mut c, mut f, mut s) = (0, 0, 0);
        for e in &self.entries {
            if e.generation != self.generation {
                continue;
            }
            let inside = match self.cfg.window {
                WindowConfig::Time { buckets, .. } => {
                    let cur = now / self.cfg.bucket_ns();
                    cur - e.at < u64::from(buckets)
                }
                WindowConfig::Count { size } => self.ticket - e.at < u64::from(size),
            };
            if inside {
                c += 1;
                f += e.failure as u64;
                s += e.slow as u64;
            }
        }
        (c, f, s)
    }

    /// Force open.
    pub fn force_open(&mut self, now: u64) {
        if self.phase != Phase::ForcedOpen {
            self.transition(Phase::ForcedOpen, now);
        }
    }

    /// Disable.
    pub fn disable(&mut self, now: u64) {
        if self.phase != Phase::Disabled {
            self.transition(Phase::Disabled, now);
        }
    }

    /// Reset.
    pub fn reset(&mut self, now: u64) {
        self.transition(Phase::Closed, now);
    }
}
