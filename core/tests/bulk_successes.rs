//! `bindings::record_batch(b, p, n)` (the core's `record_successes_raw`) is `n` calls of `record_raw(p, Success,
//! None)`: two breakers driven by the same random script, one reporting
//! runs of successes at once and the other one by one, never differ in
//! state, generation or counts. The scripts reach the cases where the bulk
//! store must not be used: a failure run in progress, a window in danger
//! (reaching `min_calls` would trip), a bucket boundary, a stale permit, a
//! half-open probe, a count window.
#![cfg(not(loom))]

use fusebox::{Breaker, Config, ManualClock, Outcome, RawPermit};
use proptest::prelude::*;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
enum Op {
    /// Admit, then report `n` successes of that permit.
    Successes(u32),
    /// Report `n` successes of the permit kept by the last `Keep`.
    StaleSuccesses(u32),
    Keep,
    Failure,
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u32..40).prop_map(Op::Successes),
        1 => (1u32..5).prop_map(Op::StaleSuccesses),
        1 => Just(Op::Keep),
        3 => Just(Op::Failure),
        2 => (1u64..1_500).prop_map(Op::Advance),
    ]
}

fn config(count_window: bool, consecutive: Option<u32>, min_calls: u32, rate: f64) -> Config {
    let b = Config::builder()
        .consecutive_failures(consecutive)
        .min_calls(min_calls)
        .failure_rate_threshold(rate)
        .open_timeout(Duration::from_millis(2_000))
        .half_open_max_calls(3)
        .success_threshold(2);
    let b = if count_window {
        b.count_window(20)
    } else {
        b.time_window(Duration::from_millis(1_000), 10)
    };
    b.build().unwrap()
}

fn look(b: &Breaker) -> (fusebox::Phase, u64, u64, u64, u64, u64, u64) {
    let m = b.metrics();
    (
        m.phase,
        m.generation,
        m.successes,
        m.failures,
        m.rejected,
        m.window.calls,
        m.window.failures,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn bulk_successes_are_n_single_ones(
        count_window in any::<bool>(),
        consecutive in prop_oneof![Just(None), (2u32..6).prop_map(Some)],
        min_calls in 1u32..30,
        rate in prop_oneof![Just(0.3), Just(0.5), Just(0.9)],
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let cfg = config(count_window, consecutive, min_calls, rate);
        let (ca, cb) = (Arc::new(ManualClock::new()), Arc::new(ManualClock::new()));
        let a = Breaker::with_clock(cfg.clone(), ca.clone()).unwrap();
        let b = Breaker::with_clock(cfg, cb.clone()).unwrap();
        let mut kept: Option<(RawPermit, RawPermit)> = None;
        for (i, op) in ops.iter().enumerate() {
            match *op {
                Op::Successes(n) => {
                    if let (Ok(pa), Ok(pb)) = (a.acquire_raw(), b.acquire_raw()) {
                        for _ in 0..n {
                            a.record_raw(pa, Outcome::Success, None);
                        }
                        fusebox::bindings::record_batch(&b, pb, n);
                    }
                }
                Op::StaleSuccesses(n) => {
                    if let Some((pa, pb)) = kept {
                        for _ in 0..n {
                            a.record_raw(pa, Outcome::Success, None);
                        }
                        fusebox::bindings::record_batch(&b, pb, n);
                    }
                }
                Op::Keep => {
                    if let (Ok(pa), Ok(pb)) = (a.acquire_raw(), b.acquire_raw()) {
                        kept = Some((pa, pb));
                    }
                }
                Op::Failure => {
                    if let (Ok(pa), Ok(pb)) = (a.acquire_raw(), b.acquire_raw()) {
                        a.record_raw(pa, Outcome::Failure, None);
                        b.record_raw(pb, Outcome::Failure, None);
                    }
                }
                Op::Advance(ms) => {
                    ca.advance(Duration::from_millis(ms));
                    cb.advance(Duration::from_millis(ms));
                }
            }
            prop_assert_eq!(look(&a), look(&b), "after op {} ({:?})", i, op);
        }
    }
}

#[test]
fn a_run_of_successes_in_one_bucket_is_one_store_and_counts_exactly() {
    let clock = Arc::new(ManualClock::new());
    let b = Breaker::with_clock(config(false, Some(3), 10, 0.5), clock).unwrap();
    let p = b.acquire_raw().unwrap();
    b.record_raw(p, Outcome::Success, None);
    fusebox::bindings::record_batch(&b, p, 1_000);
    fusebox::bindings::record_batch(&b, p, 0);
    let m = b.metrics();
    assert_eq!(m.successes, 1_001);
    assert_eq!(m.window.calls, 1_001);
}
