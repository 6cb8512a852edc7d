//! Window closes, and the limit word they move, under every
//! interleaving: `RUSTFLAGS="--cfg loom" cargo test -p fusebox
//! --release --lib loom`. (The fixed bulkhead's own protocol, a lowered
//! `set_limit` included, is modelled in `bulkhead/loom.rs`.)

use super::{AdaptiveLimit, LimitConfig};
use crate::bulkhead::Bulkhead;
use crate::engine::permit::Outcome;
use crate::sync::Ordering::Relaxed;
use crate::ManualClock;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

const MS: u64 = 1_000_000;

/// `loom::model` with at most two preemptions unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise: unbounded, the waiters' model
/// runs for many minutes.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = b.preemption_bound.or(Some(2));
    b.check(f);
}

/// AIMD between `min` and `max`, in 1 ms windows of at least one
/// sample, every sample counted.
fn aimd(min: u32, initial: u32, max: u32) -> LimitConfig {
    let mut c = LimitConfig::aimd().limits(min, initial, max);
    c.window = Duration::from_millis(1);
    c.window_size = 1;
    c.min_rtt = Duration::ZERO;
    c
}

/// An adaptive bulkhead on a manual clock whose first window is open
/// and over (one sample in it): the next sample closes it.
fn bulkhead(config: LimitConfig, clock: &std::sync::Arc<ManualClock>) -> Arc<Bulkhead> {
    let b = Bulkhead::builder()
        .adaptive(config)
        .clock(clock.clone())
        .max_wait(Duration::from_secs(3600))
        .build()
        .unwrap();
    let p = b.try_acquire_raw().unwrap();
    b.record_raw(p, Outcome::Success); // opens the window
    clock.advance(Duration::from_millis(1));
    assert_eq!(b.adaptive().unwrap().updates(), 0);
    Arc::new(b)
}

#[test]
fn loom_adaptive_limit_closes_each_window_once() {
    model(|| {
        let l = Arc::new(AdaptiveLimit::new(aimd(1, 3, 3)).unwrap());
        // The window is [0, 1 ms). Two drops find it over at once. One
        // closes it (3 -> 2); the other finds the estimator taken or the
        // window already closed, never closes it a second time (which
        // would make 1).
        assert_eq!(l.on_sample(0, MS, 3, false), None);
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let l = l.clone();
                thread::spawn(move || l.on_sample(MS, MS, 3, true))
            })
            .collect();
        let got: Vec<Option<u32>> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!((l.updates(), l.limit()), (1, 2), "closes: {got:?}");
        let mut closers: Vec<_> = got.iter().flatten().collect();
        assert_eq!(closers.pop(), Some(&2), "closes: {got:?}");
        assert!(closers.is_empty(), "closes: {got:?}");
        // Every sample was taken by the close but, at most, the loser's
        // (counted after the swap): it opens the next window's count.
        let left: u64 = l.stripes.iter().map(|s| s.count.load(Relaxed)).sum();
        assert!(left <= 1, "{left} samples left over");
    });
}

#[test]
fn loom_adaptive_bulkhead_limit_change_racing_calls_leaks_nothing() {
    model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let b = bulkhead(aimd(1, 2, 2), &clock);
        let p1 = b.try_acquire_raw().unwrap();
        let p2 = b.try_acquire_raw().unwrap();
        // A failure closes the window (a drop: 2 -> 1) and stores the new
        // limit into the word while another call leaves and a new one
        // tries to come in.
        let b1 = b.clone();
        let t = thread::spawn(move || b1.record_raw(p1, Outcome::Failure));
        b.release_raw(p2);
        let q = b.try_acquire_raw();
        t.join().unwrap();
        assert_eq!((b.limit(), b.adaptive().unwrap().updates()), (1, 1));
        if let Ok(q) = q {
            assert!(b.try_acquire_raw().is_err(), "two in flight, limit 1");
            b.release_raw(q);
        }
        // Nothing leaked: no call is still counted, and the one slot of
        // the new limit is there to take.
        assert_eq!((b.in_flight(), b.waiting()), (0, 0));
        let only = b.try_acquire_raw().expect("the one slot");
        assert!(b.try_acquire_raw().is_err());
        b.release_raw(only);
        assert_eq!(b.in_flight(), 0);
    });
}

#[test]
fn loom_adaptive_bulkhead_raised_limit_wakes_the_waiters_it_makes_room_for() {
    // A waiter left asleep while there is room would keep the other one
    // spinning for good: loom reports it.
    model(|| {
        let clock = std::sync::Arc::new(ManualClock::new());
        let b = bulkhead(aimd(1, 1, 2), &clock);
        let held = b.try_acquire_raw().unwrap(); // full at limit 1
        let inside = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (b, inside) = (b.clone(), inside.clone());
                thread::spawn(move || {
                    let p = b.acquire_raw().expect("woken with a slot");
                    // Both in at once: the raise made room for two.
                    inside.fetch_add(1, Ordering::SeqCst);
                    while inside.load(Ordering::SeqCst) < 2 {
                        thread::yield_now();
                    }
                    b.release_raw(p);
                })
            })
            .collect();
        while b.waiting() < 2 {
            thread::yield_now();
        }
        // A busy window (one in flight, limit 1): AIMD grows it to 2. The
        // raise wakes the waiters; the release alone would wake one.
        b.record_raw(held, Outcome::Success);
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!((b.limit(), b.in_flight(), b.waiting()), (2, 0, 0));
    });
}
