//! loom models of the bulkhead word's protocol (admission, release,
//! waiting, a lowered limit, watched calls): `RUSTFLAGS="--cfg loom" cargo
//! test -p fusebox --release --lib loom`. The adaptive limit's are in
//! `concurrency/loom.rs`.

use super::Bulkhead;
use crate::engine::breaker::Breaker;
use crate::engine::config::Config;
use crate::engine::permit::Outcome;
use crate::ManualClock;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn loom_bulkhead_never_admits_more_than_its_limit() {
    loom::model(|| {
        let b = loom::sync::Arc::new(Bulkhead::new(2).unwrap());
        let inside = loom::sync::Arc::new(AtomicUsize::new(0));
        let admitted = loom::sync::Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let (b, inside, admitted) = (b.clone(), inside.clone(), admitted.clone());
                thread::spawn(move || {
                    if let Ok(p) = b.try_acquire() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                        let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(n <= 2, "{n} calls in flight, limit 2");
                        inside.fetch_sub(1, Ordering::SeqCst);
                        p.success();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let a = admitted.load(Ordering::Relaxed);
        assert!(a >= 2, "two of three always fit");
        assert_eq!(b.metrics().rejected as usize, 3 - a);
        assert_eq!(b.in_flight(), 0);
    });
}

#[test]
fn loom_bulkhead_loses_no_slot_on_any_release_path() {
    loom::model(|| {
        let b = loom::sync::Arc::new(Bulkhead::new(2).unwrap());
        let b1 = b.clone();
        // Dropped unrecorded (what a panic does), and recorded.
        let t1 = thread::spawn(move || {
            if let Ok(p) = b1.try_acquire() {
                drop(p);
            }
            if let Ok(p) = b1.try_acquire() {
                p.failure();
            }
        });
        let b2 = b.clone();
        // Raw: released, and recorded ignored.
        let t2 = thread::spawn(move || {
            if let Ok(p) = b2.try_acquire_raw() {
                b2.release_raw(p);
            }
            if let Ok(p) = b2.try_acquire_raw() {
                b2.record_raw(p, Outcome::Ignored);
            }
        });
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(b.in_flight(), 0);
        // Both slots are there to take.
        let p1 = b.try_acquire().expect("first slot");
        let p2 = b.try_acquire().expect("second slot");
        assert!(b.try_acquire().is_err());
        drop((p1, p2));
    });
}

#[test]
fn loom_bulkhead_lowered_limit_is_never_overshot() {
    loom::model(|| {
        let b = loom::sync::Arc::new(Bulkhead::new(2).unwrap());
        let held = b.try_acquire_raw().unwrap();
        let b1 = b.clone();
        let t = thread::spawn(move || b1.set_limit(1).unwrap());
        // Admitted only if the word still said limit 2 at its CAS.
        let second = b.try_acquire_raw();
        t.join().unwrap();
        assert_eq!(b.limit(), 1);
        assert!(b.try_acquire_raw().is_err(), "limit 1, one or two held");
        if let Ok(p) = second {
            b.release_raw(p);
        }
        b.release_raw(held);
        assert_eq!(b.in_flight(), 0);
    });
}

#[test]
fn loom_bulkhead_waiter_is_always_woken() {
    // A lost wake-up would leave the waiter asleep for good (loom's
    // timed waits never time out) and loom would report a deadlock.
    loom::model(|| {
        let b = loom::sync::Arc::new(
            Bulkhead::builder()
                .max_concurrent(1)
                .max_wait(Duration::from_secs(3600))
                .build()
                .unwrap(),
        );
        let held = b.try_acquire_raw().unwrap();
        let b1 = b.clone();
        let t = thread::spawn(move || {
            let p = b1.acquire_raw().expect("woken with the slot");
            b1.release_raw(p);
        });
        // Release once the other thread waits (registered in the word:
        // asleep, or between its registration and its sleep).
        while b.waiting() == 0 {
            thread::yield_now();
        }
        b.release_raw(held);
        t.join().unwrap();
        assert_eq!((b.in_flight(), b.waiting()), (0, 0));
    });
}

#[test]
fn loom_bulkhead_two_waiters_both_get_through() {
    // One release wakes one waiter; its own release must wake the other.
    loom::model(|| {
        let b = loom::sync::Arc::new(
            Bulkhead::builder()
                .max_concurrent(1)
                .max_wait(Duration::from_secs(3600))
                .build()
                .unwrap(),
        );
        let held = b.try_acquire_raw().unwrap();
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || {
                    let p = b.acquire_raw().expect("woken with a slot");
                    b.release_raw(p);
                })
            })
            .collect();
        while b.waiting() < 2 {
            thread::yield_now();
        }
        b.release_raw(held);
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!((b.in_flight(), b.waiting()), (0, 0));
    });
}

#[test]
fn loom_bulkhead_stalled_call_is_counted_once() {
    loom::model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let cfg = Config::builder()
            .slow_call_duration(Some(Duration::from_secs(1)))
            .build()
            .unwrap();
        let breaker = Arc::new(Breaker::with_clock(cfg, clock.clone()).unwrap());
        let b = loom::sync::Arc::new(
            Bulkhead::builder()
                .max_concurrent(1)
                .breaker(breaker.clone())
                .count_in_flight_slow(true)
                .build()
                .unwrap(),
        );
        let p = b.try_acquire_raw().unwrap();
        assert_ne!(p.slot, 0);
        clock.advance(Duration::from_secs(2));
        let b1 = b.clone();
        let sweeper = thread::spawn(move || b1.sweep());
        // The call ends as a failure: counted as one if it wins, as a
        // slow success if the sweep wins; never both.
        b.record_raw(p, Outcome::Failure);
        let swept = sweeper.join().unwrap();
        let m = breaker.metrics();
        assert_eq!(m.successes + m.failures, 1);
        assert_eq!(m.slow, 1);
        assert_eq!(m.successes, u64::from(swept));
        assert_eq!(b.in_flight(), 0);
    });
}
