//! The sequential model (`fusebox::model::Model`) keeps its window as it
//! goes. `Reference` below is the model as it was before: it keeps every
//! outcome and recounts them all on every look, the semantics written as
//! plainly as they can be. Both are driven by the same random operations
//! (clock moves up to 2^33 bucket widths, hundreds of resets in a row, stale
//! permits) and must give the same answer to every call and the same
//! phase, generation, totals and window after every step.
#![cfg(not(loom))]

use fusebox::model::{Model, ModelPermit, Totals};
use fusebox::{Backoff, Config, Outcome, Phase, RejectReason, WindowConfig};
use proptest::prelude::*;
use std::time::Duration;

/// The model before it was made incremental (fusebox 6fca20d,
/// `core/src/model.rs`), doc comments left out.
mod reference {
    use super::*;

    #[derive(Clone, Copy, Debug)]
    struct Entry {
        /// Bucket epoch (time window) or ticket (count window).
        at: u64,
        generation: u64,
        failure: bool,
        slow: bool,
    }

    pub struct Reference {
        cfg: Config,
        pub phase: Phase,
        pub generation: u64,
        probes: u32,
        oks: u32,
        deadline: u64,
        reopens: u64,
        run: u64,
        entries: Vec<Entry>,
        ticket: u64,
        pub totals: Totals,
    }

    impl Reference {
        pub fn new(cfg: Config) -> Reference {
            Reference {
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

        fn bucket_ns(&self) -> u64 {
            match self.cfg.window {
                WindowConfig::Time { duration, buckets } => {
                    duration.as_nanos() as u64 / u64::from(buckets)
                }
                WindowConfig::Count { .. } => 0,
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
                Phase::HalfOpen => {
                    self.deadline = now + self.cfg.half_open_max_wait.as_nanos() as u64
                }
                _ => self.reopens = 0,
            }
            if from != to {
                self.totals.state_changes += 1;
            }
        }

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

        pub fn record(
            &mut self,
            p: ModelPermit,
            outcome: Outcome,
            duration: Option<u64>,
            now: u64,
        ) {
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
                WindowConfig::Time { .. } => now / self.bucket_ns(),
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
            let (calls, fails, slows) = self.window(now);
            if calls >= u64::from(self.cfg.min_calls) {
                let by_fail = fails as f64 / calls as f64 >= self.cfg.failure_rate_threshold;
                let by_slow = slow_ns != 0
                    && slows as f64 / calls as f64 >= self.cfg.slow_call_rate_threshold;
                if by_fail || by_slow {
                    self.transition(Phase::Open, now);
                }
            }
        }

        pub fn release(&mut self, p: ModelPermit) {
            if p.probe
                && self.phase == Phase::HalfOpen
                && p.generation == self.generation
                && self.probes > 0
            {
                self.probes -= 1;
            }
        }

        pub fn window(&self, now: u64) -> (u64, u64, u64) {
            let (mut c, mut f, mut s) = (0, 0, 0);
            for e in &self.entries {
                if e.generation != self.generation {
                    continue;
                }
                let inside = match self.cfg.window {
                    WindowConfig::Time { buckets, .. } => {
                        let cur = now / self.bucket_ns();
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

        pub fn force_open(&mut self, now: u64) {
            if self.phase != Phase::ForcedOpen {
                self.transition(Phase::ForcedOpen, now);
            }
        }

        pub fn disable(&mut self, now: u64) {
            if self.phase != Phase::Disabled {
                self.transition(Phase::Disabled, now);
            }
        }

        pub fn reset(&mut self, now: u64) {
            self.transition(Phase::Closed, now);
        }
    }
}

use reference::Reference;

const MS: u64 = 1_000_000;

#[derive(Clone, Debug)]
enum Op {
    /// Take a permit and hold it.
    Acquire,
    /// `n` whole calls with one outcome (duration in µs, or measured).
    Calls(u32, Outcome, Option<u64>),
    /// Report held permit `i % held`.
    Record(usize, Outcome, Option<u64>),
    /// Drop held permit `i % held`.
    Release(usize),
    /// Move the clock (ns).
    Advance(u64),
    /// Move the clock by 2^shift + delta bucket widths (1 ms for a count
    /// window).
    AdvanceBuckets(u32, i64),
    ForceOpen,
    Disable,
    Reset(u32),
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        3 => Just(Outcome::Success),
        3 => Just(Outcome::Failure),
        1 => Just(Outcome::Ignored),
    ]
}

fn duration() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(prop_oneof![0u64..2_000, 0u64..10_000_000])
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Acquire),
        12 => (prop_oneof![4 => Just(1u32), 1 => 1u32..40], outcome(), duration())
            .prop_map(|(n, o, d)| Op::Calls(n, o, d)),
        5 => (any::<usize>(), outcome(), duration()).prop_map(|(i, o, d)| Op::Record(i, o, d)),
        2 => any::<usize>().prop_map(Op::Release),
        5 => prop_oneof![0u64..1_000, 0..300 * MS, 0..20_000 * MS, 0..(1u64 << 50)]
            .prop_map(Op::Advance),
        2 => (0u32..34, -3i64..=3).prop_map(|(s, d)| Op::AdvanceBuckets(s, d)),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Disable),
        2 => prop_oneof![3 => Just(1u32), 1 => 1u32..400].prop_map(Op::Reset),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    let window = prop_oneof![
        (1u64..=5_000, 1u32..=20, 0u64..MS).prop_map(|(ms, buckets, extra)| {
            WindowConfig::Time {
                duration: Duration::from_nanos(ms * MS * u64::from(buckets) + extra),
                buckets,
            }
        }),
        (1u32..=40).prop_map(|size| WindowConfig::Count { size }),
        (1u32..=2_000).prop_map(|size| WindowConfig::Count { size }),
    ];
    (
        (1u32..=100, prop::option::of(1u32..=10), 1u32..=20),
        window,
        (1u64..=300_000, prop::option::of((1u32..=256, 1u32..=16))),
        (1u32..=8, 0u32..8, 1u64..=600_000),
        (prop::option::of(1u64..=10_000_000), 1u32..=100),
    )
        .prop_map(
            |(
                (rate, consecutive, min_calls),
                window,
                (open_ms, backoff),
                (hmax, succ, wait_ms),
                (slow_us, slow_rate),
            )| {
                let open = Duration::from_millis(open_ms);
                Config {
                    failure_rate_threshold: f64::from(rate) / 100.0,
                    consecutive_failures: consecutive,
                    min_calls,
                    window,
                    open_timeout: open,
                    backoff: backoff.map(|(m, f)| Backoff {
                        multiplier: 1.0 + f64::from(m) / 32.0,
                        max: open * f,
                    }),
                    jitter: 0.0,
                    half_open_max_calls: hmax,
                    success_threshold: 1 + succ % hmax,
                    half_open_max_wait: Duration::from_millis(wait_ms),
                    slow_call_duration: slow_us.map(Duration::from_micros),
                    slow_call_rate_threshold: f64::from(slow_rate) / 100.0,
                    ..Config::default()
                }
            },
        )
}

fn check(
    m: &Model,
    r: &Reference,
    now: u64,
    bucket_ns: u64,
    step: usize,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(m.phase, r.phase, "phase at step {}", step);
    prop_assert_eq!(m.generation, r.generation, "generation at step {}", step);
    prop_assert_eq!(m.totals, r.totals, "totals at step {}", step);
    // The window now and as it will be seen later, if nothing else happens.
    for later in [0, bucket_ns / 2, bucket_ns, 3 * bucket_ns, 1 << 40] {
        prop_assert_eq!(
            m.window(now + later),
            r.window(now + later),
            "window {} ns after step {}",
            later,
            step
        );
    }
    Ok(())
}

fn run(cfg: Config, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let bucket_ns = match cfg.window {
        WindowConfig::Time { duration, buckets } => duration.as_nanos() as u64 / u64::from(buckets),
        WindowConfig::Count { .. } => MS,
    };
    let mut m = Model::new(cfg.clone());
    let mut r = Reference::new(cfg);
    let mut held: Vec<ModelPermit> = Vec::new();
    let mut now = 0u64;
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Acquire => {
                let (got, want) = (m.acquire(now), r.acquire(now));
                prop_assert_eq!(got, want, "acquire at step {}", step);
                if let Ok(p) = got {
                    held.push(p);
                }
            }
            Op::Calls(n, o, d) => {
                for _ in 0..n {
                    let (got, want) = (m.acquire(now), r.acquire(now));
                    prop_assert_eq!(got, want, "acquire at step {}", step);
                    if let Ok(p) = got {
                        m.record(p, o, d.map(|us| us * 1_000), now);
                        r.record(p, o, d.map(|us| us * 1_000), now);
                    }
                }
            }
            Op::Record(i, o, d) => {
                if !held.is_empty() {
                    let p = held.remove(i % held.len());
                    m.record(p, o, d.map(|us| us * 1_000), now);
                    r.record(p, o, d.map(|us| us * 1_000), now);
                }
            }
            Op::Release(i) => {
                if !held.is_empty() {
                    let p = held.remove(i % held.len());
                    m.release(p);
                    r.release(p);
                }
            }
            Op::Advance(ns) => now += ns.min(u64::MAX / 4 - now),
            Op::AdvanceBuckets(shift, delta) => {
                let buckets = ((1i64 << shift) + delta).max(0) as u64;
                now += buckets.saturating_mul(bucket_ns).min(u64::MAX / 4 - now);
            }
            Op::ForceOpen => {
                m.force_open(now);
                r.force_open(now);
            }
            Op::Disable => {
                m.disable(now);
                r.disable(now);
            }
            Op::Reset(n) => {
                for _ in 0..n {
                    m.reset(now);
                    r.reset(now);
                }
            }
        }
        check(&m, &r, now, bucket_ns, step)?;
    }
    Ok(())
}

/// 5,000 cases in release builds (about 7 s), 500 in debug builds, where
/// the same would take a minute of the test command.
const CASES: u32 = if cfg!(debug_assertions) { 500 } else { 5000 };

proptest! {
    #![proptest_config(ProptestConfig {
        cases: CASES,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_incremental_model_matches_the_recounting_one(
        cfg in config(),
        ops in prop::collection::vec(op(), 1..300),
    ) {
        run(cfg, ops)?;
    }
}
