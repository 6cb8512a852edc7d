//! Bulkheads: the limit, the errors, waiting, panics, the breaker wiring and
//! the in-flight pile-up detection, metrics.
#![cfg(not(loom))]

use fusebox::bulkhead::{self, Bulkhead, BulkheadCallError, BulkheadError, BulkheadFull};
use fusebox::{Breaker, Config, ManualClock, Outcome, RejectReason, State};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

#[test]
fn refuses_past_the_limit_at_once_with_its_own_error() {
    let b = Bulkhead::builder()
        .name("inventory")
        .max_concurrent(3)
        .build()
        .unwrap();
    let held: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    assert_eq!(b.in_flight(), 3);
    let e = b.try_acquire().unwrap_err();
    assert_eq!(
        e,
        BulkheadError::Full(BulkheadFull {
            limit: 3,
            in_flight: 3,
            waited: Duration::ZERO
        })
    );
    assert_eq!(e.to_string(), "bulkhead full: 3 calls in flight, limit 3");
    // `acquire` without a configured wait refuses at once too.
    assert!(matches!(b.acquire(), Err(BulkheadError::Full(_))));
    drop(held);
    assert_eq!(b.in_flight(), 0);
    let m = b.metrics();
    assert_eq!(
        (m.name.as_str(), m.rejected, m.peak_in_flight, m.limit),
        ("inventory", 2, 3, 3)
    );
}

#[test]
fn call_runs_in_a_slot_and_reports_full_distinctly() {
    let b = Bulkhead::new(1).unwrap();
    assert_eq!(b.call(|| Ok::<_, String>(5)), Ok(5));
    assert_eq!(
        b.call(|| Err::<u32, _>("boom".to_string())),
        Err(BulkheadCallError::Failed("boom".into()))
    );
    let _held = b.try_acquire().unwrap();
    let ran = AtomicU32::new(0);
    let r = b.call(|| {
        ran.fetch_add(1, Ordering::Relaxed);
        Ok::<_, String>(1)
    });
    assert!(matches!(r, Err(BulkheadCallError::Full(_))));
    assert_eq!(ran.load(Ordering::Relaxed), 0, "the function did not run");
}

#[test]
fn a_panicking_caller_gives_its_slot_back() {
    let b = Bulkhead::new(1).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = b.call(|| -> Result<(), ()> { panic!("handler bug") });
    }));
    assert!(r.is_err());
    assert_eq!(b.in_flight(), 0);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _p = b.try_acquire().unwrap();
        panic!("after acquiring by hand");
    }));
    assert!(r.is_err());
    assert_eq!(b.in_flight(), 0);
    assert!(b.try_acquire().is_ok());
}

#[test]
fn bad_settings_name_the_field() {
    assert_eq!(Bulkhead::new(0).unwrap_err().field, "max_concurrent");
    assert_eq!(
        Bulkhead::new(bulkhead::MAX_CONCURRENT + 1)
            .unwrap_err()
            .field,
        "max_concurrent"
    );
    // In-flight slow counting needs a breaker with a slow-call duration.
    let e = Bulkhead::builder()
        .count_in_flight_slow(true)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "count_in_flight_slow");
    let plain = Arc::new(Breaker::new(Config::default()).unwrap());
    let e = Bulkhead::builder()
        .breaker(plain)
        .count_in_flight_slow(true)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "count_in_flight_slow");
    let b = Bulkhead::new(4).unwrap();
    assert_eq!(b.set_limit(0).unwrap_err().field, "limit");
    assert_eq!(b.set_limit(5).unwrap_err().field, "limit");
}

#[test]
fn threads_never_exceed_the_limit_and_every_slot_comes_back() {
    const LIMIT: u32 = 3;
    let b = Bulkhead::new(LIMIT).unwrap();
    let inside = AtomicU32::new(0);
    let most = AtomicU32::new(0);
    let admitted = AtomicU32::new(0);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (b, inside, most, admitted) = (&b, &inside, &most, &admitted);
            s.spawn(move || {
                for i in 0..20_000u32 {
                    if let Ok(p) = b.try_acquire() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                        let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(n, Ordering::Relaxed);
                        std::hint::spin_loop();
                        inside.fetch_sub(1, Ordering::SeqCst);
                        match (i + t) % 3 {
                            0 => p.success(),
                            1 => p.failure(),
                            _ => drop(p),
                        }
                    }
                }
            });
        }
    });
    assert!(most.load(Ordering::Relaxed) <= LIMIT);
    assert_eq!(b.in_flight(), 0);
    let m = b.metrics();
    assert_eq!(
        u64::from(admitted.load(Ordering::Relaxed)) + m.rejected,
        80_000,
        "every try was admitted or rejected, once"
    );
    assert!(m.peak_in_flight <= LIMIT);
}

#[test]
fn a_waiter_gets_the_slot_that_is_freed() {
    let b = Bulkhead::builder()
        .max_concurrent(1)
        .max_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    let held = b.try_acquire().unwrap();
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            barrier.wait();
            let p = b.acquire().expect("the freed slot");
            p.success();
        });
        barrier.wait();
        // Free the slot only once the other thread waits (or is about to: it
        // then finds the slot free without waiting, which is fine too).
        while b.waiting() == 0 && !h.is_finished() {
            std::thread::yield_now();
        }
        drop(held);
        h.join().unwrap();
    });
    assert_eq!(
        (b.in_flight(), b.waiting(), b.metrics().rejected),
        (0, 0, 0)
    );
}

#[test]
fn a_bounded_wait_ends_full_and_says_how_long_it_waited() {
    let b = Bulkhead::builder()
        .max_concurrent(1)
        .max_wait(Duration::from_millis(20))
        .build()
        .unwrap();
    let _held = b.try_acquire().unwrap();
    match b.acquire() {
        Err(BulkheadError::Full(f)) => {
            assert!(f.waited >= Duration::from_millis(20), "{f:?}");
            assert!(f.to_string().contains("waited"));
        }
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!((b.waiting(), b.in_flight()), (0, 1));
    // try_acquire never waits, whatever the configuration.
    assert_eq!(
        b.try_acquire().unwrap_err(),
        BulkheadError::Full(BulkheadFull {
            limit: 1,
            in_flight: 1,
            waited: Duration::ZERO
        })
    );
}

#[test]
fn many_waiters_all_get_through_as_slots_free_up() {
    let b = Bulkhead::builder()
        .max_concurrent(2)
        .max_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    let done = AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                for _ in 0..200 {
                    let p = b.acquire().expect("a slot within a minute");
                    std::thread::yield_now();
                    p.success();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(done.load(Ordering::Relaxed), 1200);
    assert_eq!(
        (b.in_flight(), b.waiting(), b.metrics().rejected),
        (0, 0, 0)
    );
    assert!(b.peak_in_flight() <= 2);
}

#[test]
fn lowering_the_limit_refuses_new_calls_until_in_flight_drops_below_it() {
    let b = Bulkhead::new(3).unwrap();
    let held: Vec<_> = (0..3).map(|_| b.try_acquire_raw().unwrap()).collect();
    b.set_limit(1).unwrap();
    assert_eq!(b.limit(), 1);
    b.release_raw(held[0]);
    b.release_raw(held[1]);
    assert!(b.try_acquire().is_err(), "one in flight, limit 1");
    b.release_raw(held[2]);
    let p = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    drop(p);
    b.set_limit(3).unwrap();
    let all: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    drop(all);
}

fn slow_breaker(clock: &Arc<ManualClock>, min_calls: u32) -> Arc<Breaker> {
    let cfg = Config::builder()
        .min_calls(min_calls)
        .slow_call_duration(Some(Duration::from_secs(2)))
        .slow_call_rate_threshold(0.5)
        .open_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    Arc::new(Breaker::named("inventory", cfg, clock.clone()).unwrap())
}

#[test]
fn an_open_breaker_refuses_before_the_bulkhead_and_takes_no_slot() {
    let clock = Arc::new(ManualClock::new());
    let breaker = slow_breaker(&clock, 10);
    let b = Bulkhead::builder()
        .max_concurrent(2)
        .breaker(breaker.clone())
        .build()
        .unwrap();
    breaker.force_open();
    match b.try_acquire() {
        Err(BulkheadError::Breaker(r)) => assert_eq!(r.reason, RejectReason::ForcedOpen),
        other => panic!("expected the breaker's rejection, got {other:?}"),
    }
    assert_eq!((b.in_flight(), b.metrics().rejected), (0, 0));
    assert!(matches!(
        b.call(|| Ok::<_, ()>(1)),
        Err(BulkheadCallError::Breaker(_))
    ));
    breaker.reset();
    // Outcomes reach the breaker: 5 failures in a row trip it (its default).
    for _ in 0..5 {
        b.try_acquire().unwrap().failure();
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.metrics().failures, 5);
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn a_full_bulkhead_gives_the_breaker_permit_back() {
    let clock = Arc::new(ManualClock::new());
    let cfg = Config::builder()
        .half_open_max_calls(1)
        .success_threshold(1)
        .consecutive_failures(Some(1))
        .build()
        .unwrap();
    let breaker = Arc::new(Breaker::with_clock(cfg, clock.clone()).unwrap());
    let b = Bulkhead::builder()
        .max_concurrent(1)
        .breaker(breaker.clone())
        .build()
        .unwrap();
    let held = b.try_acquire().unwrap();
    breaker.try_acquire().unwrap().failure(); // trips
    clock.advance(Duration::from_secs(31));
    // The breaker admits its one half-open probe, the full bulkhead refuses
    // it: the probe slot must come back, or the second try would be refused
    // by the breaker (half-open full) instead of the bulkhead.
    for _ in 0..2 {
        assert!(matches!(b.try_acquire(), Err(BulkheadError::Full(_))));
    }
    drop(held);
    let probe = b.try_acquire().expect("the probe");
    assert!(probe.raw().breaker.probe);
    probe.success();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_dependency_that_stops_answering_trips_the_breaker_before_any_call_ends() {
    let clock = Arc::new(ManualClock::new());
    let breaker = slow_breaker(&clock, 10);
    let b = Bulkhead::builder()
        .name("inventory")
        .max_concurrent(10)
        .breaker(breaker.clone())
        .count_in_flight_slow(true)
        .build()
        .unwrap();
    // Ten calls go out and hang.
    let hung: Vec<_> = (0..10).map(|_| b.try_acquire_raw().unwrap()).collect();
    assert!(hung.iter().all(|p| p.slot != 0));
    clock.advance(Duration::from_secs(1));
    assert!(matches!(b.try_acquire(), Err(BulkheadError::Full(_))));
    assert_eq!(breaker.state(), State::Closed, "not slow yet");
    clock.advance(Duration::from_millis(1_100)); // 2.1 s in flight
                                                 // The next caller's sweep counts the ten as slow: the breaker trips,
                                                 // and the caller is refused by the bulkhead (it was full).
    assert!(b.try_acquire().is_err());
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(b.metrics().in_flight_slow, 10);
    let m = breaker.metrics();
    assert_eq!((m.successes, m.slow), (10, 10));
    // Now callers fail fast on the breaker, with a retry hint.
    match b.try_acquire() {
        Err(BulkheadError::Breaker(r)) => assert!(r.retry_after.is_some()),
        other => panic!("expected the open breaker, got {other:?}"),
    }
    // The hung calls finally end (as failures): not counted a second time.
    for p in hung {
        b.record_raw(p, Outcome::Failure);
    }
    let m = breaker.metrics();
    assert_eq!((m.successes, m.failures, m.slow), (10, 0, 10));
    assert_eq!(b.in_flight(), 0);
    assert_eq!(b.sweep(), 0);
}

#[test]
fn a_sweep_counts_only_calls_past_the_slow_duration_and_each_once() {
    let clock = Arc::new(ManualClock::new());
    let breaker = slow_breaker(&clock, 100);
    let b = Bulkhead::builder()
        .max_concurrent(8)
        .breaker(breaker.clone())
        .count_in_flight_slow(true)
        .build()
        .unwrap();
    let old: Vec<_> = (0..3).map(|_| b.try_acquire_raw().unwrap()).collect();
    clock.advance(Duration::from_millis(1500));
    let young: Vec<_> = (0..2).map(|_| b.try_acquire_raw().unwrap()).collect();
    clock.advance(Duration::from_millis(600));
    assert_eq!(b.sweep(), 3);
    assert_eq!(b.sweep(), 0, "already counted");
    clock.advance(Duration::from_millis(1500));
    assert_eq!(b.sweep(), 2);
    // Fast calls finish normally; the counted ones are not counted again.
    let fast = b.try_acquire().unwrap();
    fast.success();
    for p in old.into_iter().chain(young) {
        b.record_raw(p, Outcome::Success);
    }
    let m = breaker.metrics();
    assert_eq!((m.successes, m.slow), (6, 5));
    assert_eq!(b.metrics().in_flight_slow, 5);
    assert_eq!(breaker.state(), State::Closed, "min_calls 100 not reached");
}

#[test]
fn metrics_are_exported_in_the_prometheus_text_format() {
    let b = Bulkhead::builder()
        .name("inventory")
        .max_concurrent(2)
        .build()
        .unwrap();
    let _p = b.try_acquire().unwrap();
    let _q = b.try_acquire().unwrap();
    let _ = b.try_acquire();
    let text = bulkhead::render(&[b.metrics()]);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let get = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    for (name, want) in [
        ("fusebox_bulkhead_in_flight", 2.0),
        ("fusebox_bulkhead_limit", 2.0),
        ("fusebox_bulkhead_peak_in_flight", 2.0),
        ("fusebox_bulkhead_waiting", 0.0),
        ("fusebox_bulkhead_rejected_total", 1.0),
        ("fusebox_bulkhead_in_flight_slow_total", 0.0),
        ("fusebox_bulkhead_limit_updates_total", 0.0),
    ] {
        let s = get(name);
        assert_eq!(s.labels.get("bulkhead"), Some("inventory"));
        let v = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{name}: unexpected type"),
        };
        assert_eq!(v, want, "{name}");
    }
    assert!(text.contains("# TYPE fusebox_bulkhead_rejected_total counter"));
    // Label values are escaped.
    let odd = Bulkhead::builder().name("a\"b\\c").build().unwrap();
    let text = bulkhead::render(&[odd.metrics()]);
    assert!(
        text.contains(r#"fusebox_bulkhead_limit{bulkhead="a\"b\\c"} 25"#),
        "{text}"
    );
    assert!(text.contains("# TYPE fusebox_bulkhead_in_flight gauge"));
}
