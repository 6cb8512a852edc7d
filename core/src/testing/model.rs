//! A sequential reference model of the breaker as `docs/semantics.md`
//! describes it: plain fields, no atomics, no cleverness. Property tests and the differential fuzzer drive it and a real
//! [`crate::Breaker`] with the same operations and compare what they say.
//! (Jitter is left out: it is random by design.)
//!
//! The window is kept as it goes (a ring of per-bucket counts, or the last
//! N outcomes with their counts) and emptied by the first outcome of a new
//! generation, so an outcome and a transition cost O(1) (the first outcome
//! of a generation O(buckets)) and a look at a time window O(buckets),
//! however long the history.

use crate::engine::config::{Config, WindowConfig};
use crate::engine::error::RejectReason;
use crate::engine::permit::Outcome;
use crate::engine::state::Phase;
use std::collections::VecDeque;

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

/// Calls, failures and slow calls.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    calls: u64,
    failures: u64,
    slow: u64,
}

impl Counts {
    fn add(&mut self, failure: bool, slow: bool) {
        self.calls += 1;
        self.failures += u64::from(failure);
        self.slow += u64::from(slow);
    }

    fn sub(&mut self, failure: bool, slow: bool) {
        self.calls -= 1;
        self.failures -= u64::from(failure);
        self.slow -= u64::from(slow);
    }
}

/// The outcomes of one generation that the window can still see.
#[derive(Clone, Debug)]
enum Window {
    /// One slot per bucket, slot `epoch % buckets` holding bucket `epoch`
    /// (epoch = time / bucket width). A slot counts while its epoch is one of
    /// the last `buckets` epochs; it is overwritten when its slot is next
    /// used by a later epoch.
    Time {
        bucket_ns: u64,
        slots: Vec<(u64, Counts)>,
    },
    /// The last `size` outcomes (failure, slow) and their counts.
    Count {
        size: usize,
        last: VecDeque<(bool, bool)>,
        counts: Counts,
    },
}

impl Window {
    fn new(cfg: &Config) -> Window {
        match cfg.window {
            WindowConfig::Time { buckets, .. } => Window::Time {
                bucket_ns: cfg.bucket_ns(),
                slots: vec![(0, Counts::default()); buckets as usize],
            },
            WindowConfig::Count { size } => Window::Count {
                size: size as usize,
                last: VecDeque::new(),
                counts: Counts::default(),
            },
        }
    }
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
    /// The window of generation `window_generation`: when that is not the
    /// current generation, the window is empty (an older generation's
    /// outcomes never count again).
    window: Window,
    window_generation: u64,
    /// Lifetime totals.
    pub totals: Totals,
}

impl Model {
    /// A closed model.
    pub fn new(cfg: Config) -> Model {
        Model {
            window: Window::new(&cfg),
            window_generation: 0,
            cfg,
            phase: Phase::Closed,
            generation: 0,
            probes: 0,
            oks: 0,
            deadline: 0,
            reopens: 0,
            run: 0,
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
        // A stale outcome (of an older generation) is counted in the
        // totals only: it takes no place in the window.
        if p.generation != self.generation {
            return;
        }
        if self.window_generation != self.generation {
            self.window = Window::new(&self.cfg);
            self.window_generation = self.generation;
        }
        match &mut self.window {
            Window::Time { bucket_ns, slots } => {
                let epoch = now / *bucket_ns;
                let n = slots.len() as u64;
                let (at, counts) = &mut slots[(epoch % n) as usize];
                if *at != epoch {
                    *at = epoch;
                    *counts = Counts::default();
                }
                counts.add(failure, slow);
            }
            Window::Count { size, last, counts } => {
                if last.len() == *size {
                    let (f, s) = last.pop_front().expect("a full window");
                    counts.sub(f, s);
                }
                last.push_back((failure, slow));
                counts.add(failure, slow);
            }
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
        if self.window_generation != self.generation {
            return (0, 0, 0);
        }
        let c = match &self.window {
            Window::Time { bucket_ns, slots } => {
                let cur = now / bucket_ns;
                let n = slots.len() as u64;
                let mut sum = Counts::default();
                for (at, c) in slots {
                    if cur - at < n {
                        sum.calls += c.calls;
                        sum.failures += c.failures;
                        sum.slow += c.slow;
                    }
                }
                sum
            }
            Window::Count { counts, .. } => *counts,
        };
        (c.calls, c.failures, c.slow)
    }

    /// [`Breaker::open_for`](crate::Breaker::open_for) at time `now`:
    /// Closed, Open (only to a later deadline) or HalfOpen → Open until
    /// `now + min(d, max_open_for)`; the re-open count unchanged. Returns
    /// whether it changed anything.
    pub fn open_for(&mut self, d: u64, now: u64) -> bool {
        let deadline = now + d.min(self.cfg.max_open_for.as_nanos() as u64);
        match self.phase {
            Phase::ForcedOpen | Phase::Disabled => return false,
            Phase::Open if self.deadline >= deadline => return false,
            _ => {}
        }
        let from = self.phase;
        self.generation += 1;
        self.probes = 0;
        self.oks = 0;
        self.run = 0;
        self.phase = Phase::Open;
        self.deadline = deadline;
        if from != Phase::Open {
            self.totals.state_changes += 1;
        }
        true
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

    /// `n` resets in a row: after the first, a reset from Closed to Closed
    /// changes only the generation.
    pub fn reset_many(&mut self, n: u64, now: u64) {
        if n > 0 {
            self.reset(now);
            self.generation += n - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_many_is_n_resets() {
        let cfg = Config::builder()
            .count_window(5)
            .min_calls(1)
            .build()
            .unwrap();
        for n in [0, 1, 2, 3, 65_537] {
            let mut a = Model::new(cfg.clone());
            let p = a.acquire(1).unwrap();
            a.record(p, Outcome::Failure, None, 1); // Open
            a.acquire(1).unwrap_err();
            let mut b = a.clone();
            a.reset_many(n, 2);
            for _ in 0..n {
                b.reset(2);
            }
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{n}");
        }
    }
}
