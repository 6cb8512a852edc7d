//! Property test: the breaker and the sequential reference model
//! (`fusebox::model`) are driven by the same random operations and clock
//! moves, and must agree after every step on admission, rejection reason and
//! retry-after, state, generation, the window and every counter.
#![cfg(not(loom))]

use fusebox::model::{Model, ModelPermit};
use fusebox::{Backoff, Breaker, Config, ManualClock, Outcome, RawPermit, WindowConfig};
use proptest::prelude::*;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
enum Op {
    /// Take a permit and hold it.
    Acquire,
    /// A whole call: acquire, then report at once.
    Call(Outcome, u64),
    /// Report the outcome of held permit `i % held` (duration ms, or measured).
    Record(usize, Outcome, Option<u64>),
    /// Drop held permit `i % held`.
    Release(usize),
    /// Move the clock (ms).
    Advance(u64),
    ForceOpen,
    Disable,
    Reset,
    /// `open_for` (ms).
    OpenFor(u64),
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        3 => Just(Outcome::Success),
        3 => Just(Outcome::Failure),
        1 => Just(Outcome::Ignored),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Acquire),
        12 => (outcome(), 0u64..3000).prop_map(|(o, d)| Op::Call(o, d)),
        4 => (any::<usize>(), outcome(), prop::option::of(0u64..3000)).prop_map(|(i, o, d)| Op::Record(i, o, d)),
        2 => any::<usize>().prop_map(Op::Release),
        4 => prop_oneof![0u64..300, 300u64..5000, 5000u64..200_000].prop_map(Op::Advance),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Disable),
        1 => Just(Op::Reset),
        1 => prop_oneof![0u64..5000, 5000u64..400_000].prop_map(Op::OpenFor),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    (
        (1u32..=10, prop::option::of(1u32..=6), 1u32..=8),
        prop_oneof![
            (1u64..=5, 1u32..=5).prop_map(|(s, b)| WindowConfig::Time {
                duration: Duration::from_millis(s * 1000),
                buckets: b
            }),
            (1u32..=8).prop_map(|size| WindowConfig::Count { size }),
        ],
        (1u64..=20, 1u32..=4, 1u32..=4, 1u64..=30),
        (prop::option::of(1u64..=2000), prop::bool::ANY, 1u32..=10),
    )
        .prop_map(
            |(
                (rate10, consec, min_calls),
                window,
                (open_s, hmax, succ, wait_s),
                (slow, backoff, slow10),
            )| {
                Config {
                    failure_rate_threshold: f64::from(rate10) / 10.0,
                    consecutive_failures: consec,
                    min_calls,
                    window,
                    open_timeout: Duration::from_secs(open_s),
                    backoff: backoff.then_some(Backoff {
                        multiplier: 2.0,
                        max: Duration::from_secs(open_s * 5),
                    }),
                    jitter: 0.0,
                    half_open_max_calls: hmax,
                    success_threshold: succ.min(hmax),
                    half_open_max_wait: Duration::from_secs(wait_s),
                    slow_call_duration: slow.map(Duration::from_millis),
                    slow_call_rate_threshold: f64::from(slow10) / 10.0,
                    max_open_for: Duration::from_secs(100),
                    ..Config::default()
                }
            },
        )
}

fn check(b: &Breaker, m: &Model, now: u64, step: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(b.phase(), m.phase, "phase at step {}", step);
    prop_assert_eq!(b.generation(), m.generation, "generation at step {}", step);
    let got = b.metrics();
    let t = m.totals;
    prop_assert_eq!(
        (
            got.successes,
            got.failures,
            got.ignored,
            got.slow,
            got.rejected,
            got.state_changes
        ),
        (
            t.successes,
            t.failures,
            t.ignored,
            t.slow,
            t.rejected,
            t.state_changes
        ),
        "totals at step {}",
        step
    );
    let w = got.window;
    prop_assert_eq!(
        (w.calls, w.failures, w.slow),
        m.window(now),
        "window at step {}",
        step
    );
    Ok(())
}

fn run(cfg: Config, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = Arc::new(ManualClock::new());
    let b = Breaker::with_clock(cfg.clone(), clock.clone()).unwrap();
    let mut m = Model::new(cfg);
    let mut held: Vec<(RawPermit, ModelPermit)> = Vec::new();
    let ms = 1_000_000u64;
    for (step, op) in ops.into_iter().enumerate() {
        let now = fusebox::Clock::now_ns(&*clock);
        match op {
            Op::Acquire | Op::Call(..) => {
                let (got, want) = (b.acquire_raw(), m.acquire(now));
                match (got, want) {
                    (Ok(p), Ok(q)) => {
                        prop_assert_eq!(
                            (p.generation, p.probe),
                            (q.generation, q.probe),
                            "permit at step {}",
                            step
                        );
                        if let Op::Call(o, d) = op {
                            b.record_raw(p, o, Some(d * ms));
                            m.record(q, o, Some(d * ms), now);
                        } else {
                            held.push((p, q));
                        }
                    }
                    (Err(r), Err((reason, retry))) => {
                        prop_assert_eq!(r.reason, reason, "reason at step {}", step);
                        prop_assert_eq!(
                            r.retry_after.map(|d| d.as_nanos() as u64),
                            retry,
                            "retry_after at step {}",
                            step
                        );
                    }
                    (got, want) => {
                        return Err(TestCaseError::fail(format!(
                            "admission differs at step {step}: breaker {got:?}, model {want:?}"
                        )))
                    }
                }
            }
            Op::Record(i, o, d) => {
                if !held.is_empty() {
                    let (p, q) = held.remove(i % held.len());
                    b.record_raw(p, o, d.map(|d| d * ms));
                    m.record(q, o, d.map(|d| d * ms), now);
                }
            }
            Op::Release(i) => {
                if !held.is_empty() {
                    let (p, q) = held.remove(i % held.len());
                    b.release_raw(p);
                    m.release(q);
                }
            }
            Op::Advance(d) => clock.advance_ns(d * ms),
            Op::ForceOpen => {
                b.force_open();
                m.force_open(now);
            }
            Op::Disable => {
                b.disable();
                m.disable(now);
            }
            Op::Reset => {
                b.reset();
                m.reset(now);
            }
            Op::OpenFor(d) => {
                let d = Duration::from_millis(d);
                prop_assert_eq!(
                    b.open_for(d),
                    m.open_for(d.as_nanos() as u64, now),
                    "open_for at step {}",
                    step
                );
            }
        }
        check(&b, &m, fusebox::Clock::now_ns(&*clock), step)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn breaker_matches_the_sequential_model(cfg in config(), ops in prop::collection::vec(op(), 1..200)) {
        run(cfg, ops)?;
    }
}
