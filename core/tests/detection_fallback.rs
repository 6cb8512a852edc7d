//! Fallbacks (`docs/semantics.md#fallbacks`): on rejection and on failure, and limited.

use fusebox::fallback::{call_or_else, call_with_or_else, LimitedFallback, Unserved};
use fusebox::limiter::RateLimiter;
use fusebox::shedder::{Decision, Priority, Shedder};
use fusebox::{Breaker, CallError, Config, ManualClock, Outcome, RejectReason, State};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

fn breaker(clock: &Arc<ManualClock>) -> Breaker {
    Breaker::with_clock(
        Config::builder()
            .consecutive_failures(Some(3))
            .min_calls(100)
            .build()
            .unwrap(),
        clock.clone(),
    )
    .unwrap()
}

#[test]
fn fallback_runs_on_failure_and_on_rejection_only() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock);
    let ran = Cell::new(0);
    // Success: the fallback does not run.
    let v = call_or_else(
        &b,
        || Ok::<_, String>(1),
        |_| {
            ran.set(ran.get() + 1);
            0
        },
    );
    assert_eq!((v, ran.get()), (1, 0));
    // Failures: the fallback gets the error.
    for _ in 0..3 {
        let v = call_or_else(
            &b,
            || Err::<u32, _>("timeout".to_string()),
            |cause| match cause {
                CallError::Failed(e) => {
                    assert_eq!(e, "timeout");
                    42
                }
                CallError::Rejected(_) => panic!("not rejected yet"),
            },
        );
        assert_eq!(v, 42);
    }
    assert_eq!(b.state(), State::Open);
    // Rejected: the call does not run, the fallback does, with the reason.
    let v = call_or_else(
        &b,
        || -> Result<u32, String> { panic!("must not run while open") },
        |cause| match cause {
            CallError::Rejected(r) => {
                assert_eq!(r.reason, RejectReason::Open);
                assert!(r.retry_after.is_some());
                7
            }
            CallError::Failed(_) => panic!("not a failure"),
        },
    );
    assert_eq!(v, 7);
    let m = b.metrics();
    assert_eq!((m.successes, m.failures, m.rejected), (1, 3, 1));
}

#[test]
fn classified_calls_fall_back_on_every_error() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock);
    let not_found = |r: &Result<u32, u16>| match r {
        Err(404) => Outcome::Ignored,
        Err(_) => Outcome::Failure,
        Ok(_) => Outcome::Success,
    };
    for _ in 0..5 {
        assert_eq!(call_with_or_else(&b, not_found, || Err(404), |_| 0), 0);
    }
    // 404s are ignored by the breaker: still closed.
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().ignored, 5);
    b.force_open();
    let v = call_with_or_else(
        &b,
        not_found,
        || Ok(1),
        |c| match c {
            CallError::Rejected(r) => {
                assert_eq!(r.reason, RejectReason::ForcedOpen);
                9
            }
            CallError::Failed(_) => 0,
        },
    );
    assert_eq!(v, 9);
}

#[test]
fn the_fallback_path_is_rate_limited() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock);
    b.force_open();
    // 2 fallbacks a second, bursts of 2.
    let fb = LimitedFallback::new(RateLimiter::with_clock(2.0, 2, clock.clone()).unwrap());
    let call = || fb.call(&b, || Ok::<u32, ()>(1), |_| 100);
    assert_eq!(call(), Ok(100));
    assert_eq!(call(), Ok(100));
    for _ in 0..10 {
        match call() {
            Err(Unserved { cause, limited }) => {
                assert_eq!(cause.rejected().unwrap().reason, RejectReason::ForcedOpen);
                assert!(limited.retry_after <= Duration::from_millis(500));
            }
            Ok(v) => panic!("fallback served {v} beyond its limit"),
        }
    }
    assert_eq!(fb.stats().served, 2);
    assert_eq!(fb.stats().limited, 10);
    clock.advance(Duration::from_millis(500));
    assert_eq!(call(), Ok(100));
    assert!(call().is_err());
    // A working dependency does not spend the fallback's budget.
    b.reset();
    for _ in 0..10 {
        assert_eq!(call(), Ok(1));
    }
    assert_eq!(fb.stats().served, 3);
}

#[test]
fn limited_fallback_for_failures_and_by_hand() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock);
    let fb = LimitedFallback::new(RateLimiter::with_clock(1.0, 1, clock.clone()).unwrap());
    let r = fb.call_with(
        &b,
        |_: &Result<u32, &str>| Outcome::Failure,
        || Err("boom"),
        |c| match c {
            CallError::Failed(e) => e.len() as u32,
            CallError::Rejected(_) => 0,
        },
    );
    assert_eq!(r, Ok(4));
    let e = fb
        .run(CallError::<&str>::Failed("again"), |_| 0u32)
        .unwrap_err();
    assert_eq!(e.cause, CallError::Failed("again"));
    assert_eq!(
        e.to_string(),
        "again; fallback rate limited; retry after 1.000 s"
    );
}

#[test]
fn shedding_and_limited_fallback_per_class() {
    // The double-11 case end to end: load decides each class's path; a
    // degraded request is served from the (limited) fallback.
    let clock = Arc::new(ManualClock::new());
    let inventory = breaker(&clock);
    let cache = LimitedFallback::new(RateLimiter::with_clock(10.0, 3, clock.clone()).unwrap());
    let shedder = Shedder::new();
    let handle = |p: Priority| -> Option<&'static str> {
        match shedder.admit(p) {
            Decision::Admit => Some(
                cache
                    .call(&inventory, || Ok::<_, ()>("live"), |_| "cached")
                    .unwrap_or("error"),
            ),
            Decision::Degrade => Some(
                cache
                    .run(CallError::<()>::Failed(()), |_| "cached")
                    .unwrap_or("error"),
            ),
            Decision::Shed => None,
        }
    };
    shedder.set_load(0.5);
    assert_eq!(handle(Priority::NonCore), Some("live"));
    shedder.set_load(0.7);
    assert_eq!(handle(Priority::NonCore), None);
    assert_eq!(handle(Priority::Secondary), Some("live"));
    shedder.set_load(0.85);
    let degraded: Vec<_> = (0..5).map(|_| handle(Priority::Secondary)).collect();
    assert_eq!(
        degraded,
        [
            Some("cached"),
            Some("cached"),
            Some("cached"),
            Some("error"),
            Some("error")
        ]
    );
    assert_eq!(handle(Priority::Core), Some("live"));
    shedder.set_load(0.95);
    assert_eq!(handle(Priority::Secondary), None);
    assert_eq!(handle(Priority::Core), Some("live"));
}
