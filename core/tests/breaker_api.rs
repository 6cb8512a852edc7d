//! The Rust API beyond the scenario files: calls and classifiers, panics,
//! jitter and back-off, listeners that are slow or panic, metrics.
#![cfg(not(loom))]

use fusebox::{
    Backoff, Breaker, CallError, Config, ManualClock, Outcome, Phase, RejectReason, State,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

mod silence;

fn manual(config: Config) -> (Breaker, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    (Breaker::with_clock(config, clock.clone()).unwrap(), clock)
}

fn tripping() -> Config {
    Config::builder()
        .consecutive_failures(Some(2))
        .open_timeout(Duration::from_secs(10))
        .half_open_max_calls(1)
        .success_threshold(1)
        .build()
        .unwrap()
}

#[test]
fn call_counts_ok_and_err_and_rejects_when_open() {
    let (b, _) = manual(tripping());
    assert_eq!(b.call(|| Ok::<_, &str>(7)), Ok(7));
    assert_eq!(
        b.call(|| Err::<u8, _>("down")),
        Err(CallError::Failed("down"))
    );
    assert_eq!(
        b.call(|| Err::<u8, _>("down")),
        Err(CallError::Failed("down"))
    );
    let ran = AtomicUsize::new(0);
    let r = b.call(|| {
        ran.fetch_add(1, Ordering::Relaxed);
        Ok::<_, &str>(1)
    });
    let rej = r.unwrap_err();
    let rej = rej.rejected().expect("a rejection");
    assert_eq!(rej.reason, RejectReason::Open);
    assert_eq!(rej.retry_after, Some(Duration::from_secs(10)));
    assert_eq!(ran.load(Ordering::Relaxed), 0, "a rejected call never runs");
    let m = b.metrics();
    assert_eq!(
        (m.successes, m.failures, m.rejected, m.calls()),
        (1, 2, 1, 3)
    );
}

#[test]
fn classifier_decides_the_outcome() {
    let (b, _) = manual(tripping());
    // 404s are ignored: they never trip the breaker.
    for _ in 0..10 {
        let r = b.call_with(
            |r: &Result<u16, u16>| match r {
                Err(s) if *s >= 500 => Outcome::Failure,
                Err(_) => Outcome::Ignored,
                Ok(_) => Outcome::Success,
            },
            || Err::<u16, u16>(404),
        );
        assert_eq!(r, Err(CallError::Failed(404)));
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().ignored, 10);
}

#[test]
fn a_panicking_probe_gives_back_its_slot() {
    let (b, clock) = manual(tripping());
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(10));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = b.call(|| -> Result<(), ()> { panic!("the caller blew up") });
    }));
    assert!(r.is_err());
    assert_eq!(b.state(), State::HalfOpen);
    // The one probe slot is free again.
    let p = b
        .try_acquire()
        .expect("slot released by the unwinding permit");
    assert!(p.is_probe());
    p.success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn measured_durations_make_slow_calls() {
    let cfg = Config::builder()
        .consecutive_failures(None)
        .min_calls(2)
        .slow_call_duration(Some(Duration::from_millis(100)))
        .slow_call_rate_threshold(1.0)
        .build()
        .unwrap();
    let (b, clock) = manual(cfg);
    for _ in 0..2 {
        let p = b.try_acquire().unwrap();
        clock.advance(Duration::from_millis(101));
        p.success(); // duration measured from the permit: slow
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().slow, 2);
    b.reset();
    let p = b.try_acquire().unwrap();
    clock.advance(Duration::from_secs(5));
    p.record_with_duration(Outcome::Success, Duration::from_millis(1)); // caller's figure wins
    assert_eq!(b.metrics().slow, 2);
}

#[test]
fn jitter_spreads_open_timeouts_within_bounds() {
    let cfg = Config::builder()
        .consecutive_failures(Some(1))
        .open_timeout(Duration::from_secs(10))
        .jitter(0.5)
        .build()
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let (b, _) = manual(cfg.clone());
        b.try_acquire().unwrap().failure();
        let r = b.try_acquire().unwrap_err().retry_after.unwrap();
        assert!(
            r >= Duration::from_secs(10) && r <= Duration::from_secs(15),
            "{r:?}"
        );
        seen.insert(r);
    }
    assert!(
        seen.len() > 10,
        "jitter should differ between breakers: {seen:?}"
    );
}

#[test]
fn backoff_grows_by_the_multiplier_up_to_its_cap() {
    let cfg = Config::builder()
        .consecutive_failures(Some(1))
        .open_timeout(Duration::from_secs(1))
        .backoff(Some(Backoff {
            multiplier: 3.0,
            max: Duration::from_secs(5),
        }))
        .half_open_max_calls(1)
        .success_threshold(1)
        .build()
        .unwrap();
    let (b, clock) = manual(cfg);
    b.try_acquire().unwrap().failure();
    let mut waits = vec![];
    for _ in 0..4 {
        let w = b.try_acquire().unwrap_err().retry_after.unwrap();
        waits.push(w.as_secs());
        clock.advance(w);
        b.try_acquire().unwrap().failure(); // the probe fails
    }
    assert_eq!(waits, vec![1, 3, 5, 5]);
}

#[test]
fn listeners_run_off_the_call_path_and_survive_panics() {
    let (b, _) = manual(tripping());
    let panics_before = fusebox::events::stats().panicked;
    let (tx, rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    // A listener that blocks until we let it go, one that panics, one that
    // reports what it heard.
    b.on_state_change(move |_| {
        let _ = release_rx
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(5));
    });
    b.on_state_change(|_| panic!("listener bug"));
    b.on_state_change(move |t| {
        tx.send((t.from, t.to, t.breaker.to_string())).unwrap();
    });
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().failure(); // trips: listeners now run elsewhere
                                        // The calls were not held up by the blocked listener: more calls go on.
    assert_eq!(b.phase(), Phase::Open);
    b.reset();
    assert!(b.try_acquire().is_ok());
    release_tx.send(()).unwrap();
    release_tx.send(()).unwrap();
    assert!(fusebox::events::flush(Duration::from_secs(10)));
    let heard: Vec<_> = rx.try_iter().collect();
    assert_eq!(
        heard,
        vec![
            (Phase::Closed, Phase::Open, "breaker".to_string()),
            (Phase::Open, Phase::Closed, "breaker".to_string()),
        ]
    );
    // Both panics (one per transition) were caught and counted, and the
    // listener after the panicking one still heard both transitions.
    assert_eq!(fusebox::events::stats().panicked - panics_before, 2);
}

#[test]
fn metrics_totals_never_go_backwards_under_rollover() {
    let cfg = Config::builder()
        .time_window(Duration::from_secs(1), 2)
        .consecutive_failures(None)
        .failure_rate_threshold(1.0)
        .build()
        .unwrap();
    let clock = Arc::new(ManualClock::new());
    let b = Arc::new(Breaker::with_clock(cfg, clock.clone()).unwrap());
    let writer = {
        let (b, clock) = (b.clone(), clock.clone());
        std::thread::spawn(move || {
            for i in 0..200_000u64 {
                b.try_acquire().unwrap().success();
                if i % 1000 == 0 {
                    clock.advance(Duration::from_millis(400));
                }
            }
        })
    };
    let mut last = 0;
    while !writer.is_finished() {
        let m = b.metrics().successes;
        assert!(m >= last, "total went back from {last} to {m}");
        last = m;
    }
    writer.join().unwrap();
    assert_eq!(b.metrics().successes, 200_000);
}

#[test]
fn rejection_events_reach_breaker_and_registry_listeners() {
    let clock = Arc::new(ManualClock::new());
    let reg = fusebox::Registry::new(tripping(), clock.clone());
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    reg.on_rejection(move |r| {
        tx.send(("registry", r.breaker.to_string(), r.reason))
            .unwrap()
    });
    let b = reg.get_or_create("inventory:get").unwrap();
    b.on_rejection(move |r| {
        tx2.send(("breaker", r.breaker.to_string(), r.reason))
            .unwrap()
    });
    assert!(b.try_acquire().is_ok_and(|p| {
        p.success();
        true
    }));
    b.force_open();
    assert!(b.try_acquire().is_err());
    assert!(fusebox::events::flush(Duration::from_secs(10)));
    let mut heard: Vec<_> = rx.try_iter().collect();
    heard.sort_by_key(|h| h.0);
    assert_eq!(
        heard,
        vec![
            (
                "breaker",
                "inventory:get".to_string(),
                RejectReason::ForcedOpen
            ),
            (
                "registry",
                "inventory:get".to_string(),
                RejectReason::ForcedOpen
            ),
        ]
    );
}

#[test]
fn an_attached_histogram_records_call_latencies() {
    let clock = Arc::new(ManualClock::new());
    let h = Arc::new(fusebox::histogram::LatencyHistogram::new(clock.clone()));
    let never_trips = Config::builder()
        .failure_rate_threshold(1.0)
        .consecutive_failures(None)
        .build()
        .unwrap();
    let b = Breaker::with_clock(never_trips, clock.clone())
        .unwrap()
        .with_latency_histogram(h.clone());
    for i in 0..100u64 {
        let p = b.try_acquire().unwrap();
        clock.advance(Duration::from_millis(10 + i % 2 * 90));
        if i % 2 == 0 {
            p.success();
        } else {
            p.failure();
        }
    }
    let p50 = h.quantile(0.25).unwrap().as_secs_f64();
    let p99 = h.quantile(0.99).unwrap().as_secs_f64();
    assert!((p50 - 0.010).abs() < 0.010 * 0.02, "p25 {p50}");
    assert!((p99 - 0.100).abs() < 0.100 * 0.02, "p99 {p99}");
}

#[test]
fn count_window_is_cleared_however_many_transitions() {
    // Found by the differential fuzzer: a slot's 16-bit generation tag
    // aliased after 65,536 transitions with no outcome in between.
    let cfg = Config::builder()
        .count_window(10)
        .consecutive_failures(None)
        .build()
        .unwrap();
    let (b, _) = manual(cfg);
    let p = b.acquire_raw().unwrap();
    b.record_raw(p, Outcome::Failure, None);
    for _ in 0..65_536 {
        b.reset();
    }
    assert_eq!(b.window_counts().calls, 0);
}

#[test]
fn time_window_is_right_after_any_silence_on_an_owned_stripe() {
    // Sixteen stripes: the test thread owns one unless more than fifteen
    // threads of this process took a slot before it (each test runs in a
    // thread of its own; the slots of finished ones are reused).
    silence::right_after_any_silence(&|cfg| {
        let clock = Arc::new(ManualClock::new());
        let source = fusebox::ClockSource::custom(clock.clone());
        let b = Breaker::with_stripes("owned", cfg, source, 16).unwrap();
        (Arc::new(b), Box::new(move |d| clock.advance(d)))
    });
}

#[test]
fn time_window_is_right_after_any_silence_on_the_shared_stripe() {
    // One stripe: every thread shares it and counts with CAS; a silence of a
    // whole window resets it by parity (the 32-bit residue this fixes:
    // after 3 × 2^30 to 2^32 widths an old word hid new outcomes, and after
    // 2^32 it counted as current).
    silence::right_after_any_silence(&|cfg| {
        let clock = Arc::new(ManualClock::new());
        let source = fusebox::ClockSource::custom(clock.clone());
        let b = Breaker::with_stripes("shared", cfg, source, 1).unwrap();
        (Arc::new(b), Box::new(move |d| clock.advance(d)))
    });
}

#[test]
fn a_shared_stripe_reset_again_and_again_keeps_exact_counts() {
    // Resets flip the shared stripe's parity: words of the parity before
    // last must never come back. Silences alternate between a whole window
    // (a reset) and less (a tag-judged clear), with failures and successes
    // in between; the window and the totals must match a plain count.
    let cfg = Config::builder()
        .time_window(Duration::from_millis(10), 10)
        .min_calls(1_000_000)
        .consecutive_failures(None)
        .build()
        .unwrap();
    let clock = Arc::new(ManualClock::new());
    let source = fusebox::ClockSource::custom(clock.clone());
    let b = Breaker::with_stripes("again", cfg, source, 1).unwrap();
    let (mut ok, mut failed) = (0u64, 0u64);
    for round in 0..40u64 {
        let silence = match round % 4 {
            0 => 10,
            1 => 3,
            2 => (1 << 32) - 7 + round,
            _ => 25,
        };
        clock.advance(Duration::from_millis(silence));
        let (mut w_ok, mut w_failed) = (0, 0);
        for i in 0..=round % 5 {
            let o = if (i + round) % 3 == 0 {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            b.record_raw(b.acquire_raw().unwrap(), o, None);
            match o {
                Outcome::Failure => (failed, w_failed) = (failed + 1, w_failed + 1),
                _ => (ok, w_ok) = (ok + 1, w_ok + 1),
            }
        }
        let w = b.window_counts();
        if silence >= 10 {
            // A whole window since the last calls: only this round's count.
            assert_eq!(
                (w.calls, w.failures),
                (w_ok + w_failed, w_failed),
                "round {round}"
            );
        } else {
            assert!(
                w.calls >= w_ok + w_failed && w.failures >= w_failed,
                "round {round}"
            );
        }
        let m = b.metrics();
        assert_eq!(
            (m.successes, m.failures),
            (ok, failed),
            "round {round}: totals"
        );
    }
}

#[test]
fn threads_past_the_owned_stripes_count_exactly_too() {
    // Two stripes: one owned by the first thread to ask for a slot, the
    // other shared (CAS) by everyone else; 6 threads, so most share.
    let cfg = Config::builder()
        .min_calls(1_000_000_000)
        .consecutive_failures(None)
        .build()
        .unwrap();
    let b = std::sync::Arc::new(
        Breaker::with_stripes("s", cfg, fusebox::ClockSource::Monotonic, 2).unwrap(),
    );
    let per = 20_000u64;
    let hs: Vec<_> = (0..6)
        .map(|i| {
            let b = b.clone();
            std::thread::spawn(move || {
                for n in 0..per {
                    let p = b.acquire_raw().unwrap();
                    let o = if (n + i) % 3 == 0 {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    };
                    b.record_raw(p, o, None);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let m = b.metrics();
    assert_eq!(m.successes + m.failures, 6 * per);
    let fails: u64 = (0..6u64)
        .map(|i| (0..per).filter(|n| (n + i) % 3 == 0).count() as u64)
        .sum();
    assert_eq!(m.failures, fails);
}
