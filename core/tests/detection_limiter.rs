//! The GCRA rate limiter (`docs/semantics.md#rate-limiter`): exact under concurrency, and the same
//! decisions as a simple sequential model.

use fusebox::limiter::RateLimiter;
use fusebox::{Clock, ManualClock};
use proptest::prelude::*;
use std::sync::{Arc, Barrier};
use std::time::Duration;

/// Checks that no interval of time saw more admissions than
/// `(t_j − t_i) / T + burst`, for every pair of admission times.
fn assert_bound(mut admitted: Vec<u64>, interval_ns: u64, burst: u64) {
    admitted.sort_unstable();
    // Need, for all i < j: (j − i + 1 − burst) × T ≤ t_j − t_i, i.e.
    // g(j) − g(i) ≤ (burst − 1) × T with g(k) = k × T − t_k.
    let slack = i128::from(burst - 1) * i128::from(interval_ns);
    let mut min_g = i128::MAX;
    for (k, &t) in admitted.iter().enumerate() {
        let g = k as i128 * i128::from(interval_ns) - i128::from(t);
        min_g = min_g.min(g);
        assert!(
            g - min_g <= slack,
            "admission {k} at {t} ns exceeds rate × time + burst"
        );
    }
}

#[test]
fn two_threads_over_a_manual_clock_never_exceed_the_bound() {
    let clock = Arc::new(ManualClock::new());
    // 1000 calls/s (T = 1 ms), bursts of 5.
    let limiter = Arc::new(RateLimiter::with_clock(1000.0, 5, clock.clone()).unwrap());
    let start = clock.now_ns();
    let barrier = Arc::new(Barrier::new(2));
    // Each thread moves the shared clock by uneven steps (at most 0.2 ms)
    // and tries the limiter after every step, racing the other. Time moves
    // only between tries, so however the threads are scheduled the tries
    // cover the whole 2 s or so at most 0.4 ms apart: the limiter must admit
    // about one call per ms, and never more than rate × time + burst. (The
    // clock was once moved by a third thread, which, when the workers got
    // no CPU until it had finished, left them one instant and 5 calls.)
    let workers: Vec<_> = (0..2u64)
        .map(|w| {
            let (l, c, b) = (limiter.clone(), clock.clone(), barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                let mut admitted = Vec::new();
                for i in 0..10_000u64 {
                    c.advance_ns(1 + ((2 * i + w) * 7919) % 200_000);
                    let now = c.now_ns();
                    if l.try_acquire_at(now).is_ok() {
                        admitted.push(now);
                    }
                }
                admitted
            })
        })
        .collect();
    let admitted: Vec<u64> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let elapsed = clock.now_ns() - start;
    let bound = elapsed / limiter.interval_ns() + 5;
    assert!(
        admitted.len() as u64 <= bound,
        "{} admitted, bound {bound}",
        admitted.len()
    );
    // It admitted past the burst, at about the rate.
    assert!(
        admitted.len() as u64 * 2 > bound,
        "{} admitted over {elapsed} ns",
        admitted.len()
    );
    assert_bound(admitted, limiter.interval_ns(), 5);
}

#[test]
fn two_threads_at_one_instant_share_exactly_the_burst() {
    for _ in 0..50 {
        let clock = Arc::new(ManualClock::new());
        let limiter = Arc::new(RateLimiter::with_clock(1.0, 100, clock).unwrap());
        let barrier = Arc::new(Barrier::new(2));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (l, b) = (limiter.clone(), barrier.clone());
                std::thread::spawn(move || {
                    b.wait();
                    (0..1000).filter(|_| l.try_acquire().is_ok()).count()
                })
            })
            .collect();
        let total: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 100);
    }
}

/// The continuous-state leaky bucket of ITU-T I.371, written independently
/// of the virtual-scheduling form the limiter uses.
struct LeakyBucket {
    interval: u64,
    limit: u64,
    level: u64,
    last: Option<u64>,
}

impl LeakyBucket {
    fn new(interval: u64, burst: u64) -> Self {
        LeakyBucket {
            interval,
            limit: interval * (burst - 1),
            level: 0,
            last: None,
        }
    }

    fn admit(&mut self, t: u64) -> Result<(), u64> {
        let drained = match self.last {
            None => 0,
            Some(last) => self.level.saturating_sub(t - last),
        };
        if drained > self.limit {
            return Err(drained - self.limit); // wait until it drains
        }
        self.level = drained + self.interval;
        self.last = Some(t);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn same_decisions_as_a_sequential_model(
        rate in prop_oneof![Just(1.0f64), Just(3.0), Just(1000.0), 0.5f64..5000.0],
        burst in 1u32..20,
        steps in proptest::collection::vec(0u64..2_000_000_000, 1..200),
    ) {
        let clock = Arc::new(ManualClock::new());
        let limiter = RateLimiter::with_clock(rate, burst, clock.clone()).unwrap();
        let mut model = LeakyBucket::new(limiter.interval_ns(), u64::from(burst));
        // A step is a pause; many steps are small so calls come in bursts.
        for s in steps {
            let pause = if s % 3 == 0 { s } else { s % 1_000_000 };
            clock.advance_ns(pause);
            let t = clock.now_ns();
            let got = limiter.try_acquire_at(t).map_err(|e| e.retry_after.as_nanos() as u64);
            let want = model.admit(t);
            prop_assert_eq!(got, want, "at {} ns", t);
        }
    }

    #[test]
    fn retry_after_is_exact(rate in 0.5f64..10_000.0, burst in 1u32..10) {
        let clock = Arc::new(ManualClock::new());
        let limiter = RateLimiter::with_clock(rate, burst, clock.clone()).unwrap();
        let mut wait = None;
        for _ in 0..=burst {
            if let Err(e) = limiter.try_acquire() {
                wait = Some(e.retry_after);
                break;
            }
        }
        let wait = wait.expect("burst + 1 calls at one instant are not all admitted");
        prop_assert!(wait > Duration::ZERO);
        clock.advance(wait - Duration::from_nanos(1));
        prop_assert!(limiter.try_acquire().is_err());
        clock.advance(Duration::from_nanos(1));
        prop_assert!(limiter.try_acquire().is_ok());
    }
}
