//! Stress: many threads deposit and withdraw on one retry budget at once;
//! with no time passing, the retries allowed are exactly what the budget
//! holds, and with time passing every deposit and withdrawal is counted.
#![cfg(not(loom))]

use fusebox::retry::ManualSleeper;
use fusebox::{Breaker, Config, ManualClock, RetryBudget, RetryBudgetConfig, RetryPolicy};
use std::sync::{Arc, Barrier};
use std::time::Duration;

const THREADS: u64 = 8;

fn budget(ratio: f64, min_per_sec: u32, clock: &Arc<ManualClock>) -> Arc<RetryBudget> {
    let config = RetryBudgetConfig {
        ratio,
        min_per_sec,
        ..Default::default()
    };
    Arc::new(RetryBudget::with_clock(config, clock.clone()).unwrap())
}

/// Each thread deposits `per_thread` times, trying `tries` withdrawals
/// after each; returns the withdrawals allowed.
fn hammer(b: &Arc<RetryBudget>, per_thread: u64, tries: u64) -> u64 {
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let hs: Vec<_> = (0..THREADS)
        .map(|_| {
            let (b, barrier) = (b.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut ok = 0;
                for _ in 0..per_thread {
                    b.deposit();
                    ok += (0..tries).filter(|_| b.try_withdraw()).count() as u64;
                }
                ok
            })
        })
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).sum()
}

#[test]
fn withdrawals_are_exactly_the_budget_when_no_time_passes() {
    for (ratio, min_per_sec) in [(0.2, 0), (0.2, 10), (0.333, 3), (1.0, 0), (2.5, 1)] {
        let clock = Arc::new(ManualClock::new());
        let b = budget(ratio, min_per_sec, &clock);
        let per_thread = 20_000;
        let raced = hammer(&b, per_thread, 2);
        // Drain what is left after the race.
        let mut allowed = raced;
        while b.try_withdraw() {
            allowed += 1;
        }
        let credit = (ratio * 1000.0).round() as u64;
        let reserve = u64::from(min_per_sec) * 10 * 1000;
        let expected = (reserve + THREADS * per_thread * credit) / 1000;
        assert_eq!(allowed, expected, "ratio {ratio}, min {min_per_sec}/s");
        let s = b.stats();
        assert_eq!(s.deposits, THREADS * per_thread);
        assert_eq!(s.withdrawals, expected);
        let tries = THREADS * per_thread * 2 + (allowed - raced) + 1;
        assert_eq!(s.withdrawals + s.refusals, tries);
    }
}

#[test]
fn every_unit_expires_once_while_time_passes() {
    let clock = Arc::new(ManualClock::new());
    let b = budget(0.5, 2, &clock);
    let ticker = {
        let clock = clock.clone();
        std::thread::spawn(move || {
            for _ in 0..2_000 {
                clock.advance(Duration::from_millis(37));
                std::thread::yield_now();
            }
        })
    };
    let allowed = hammer(&b, 50_000, 1);
    ticker.join().unwrap();
    // A window later everything has expired: the reserve is all that is left.
    clock.advance(Duration::from_secs(10));
    assert_eq!(b.available(), 20);
    let s = b.stats();
    assert_eq!(s.withdrawals, allowed);
    assert_eq!(s.deposits, THREADS * 50_000);
    assert_eq!(s.withdrawals + s.refusals, THREADS * 50_000);
}

#[test]
fn retried_calls_share_the_budget_across_threads() {
    let clock = Arc::new(ManualClock::new());
    let b = budget(0.1, 0, &clock);
    let breaker = Arc::new(Breaker::with_clock(Config::default(), clock.clone()).unwrap());
    breaker.disable(); // every attempt runs, none trips
    let policy = Arc::new(
        RetryPolicy::builder()
            .max_attempts(5)
            .seed(1)
            .build()
            .unwrap(),
    );
    let calls = 10_000u64;
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let (b, breaker, policy) = (b.clone(), breaker.clone(), policy.clone());
            let sleeper = ManualSleeper::new(Arc::new(ManualClock::new()));
            std::thread::spawn(move || {
                (0..calls)
                    .map(|_| {
                        let out = policy.call(&breaker, &b, &sleeper, |_| Err::<(), _>("down"));
                        u64::from(out.stats.retries)
                    })
                    .sum::<u64>()
            })
        })
        .collect();
    let retries: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    // 10 % of 40 000 calls, to the retry (each call deposits before it
    // retries, so the last deposits may leave a retry or so unspent).
    assert!((3_999..=4_000).contains(&retries), "{retries}");
    let m = policy.metrics();
    assert_eq!(m.calls, 4 * calls);
    assert_eq!(m.retries, retries);
    assert_eq!(m.attempts, 4 * calls + retries);
    assert_eq!(m.failed_calls, 4 * calls);
}

/// Eight threads withdraw against a budget filled beforehand, each wanting
/// `demand`: each tries until it has its retries, or is refused when none
/// are available (a refusal while another thread's batch is on its way to
/// its lease is tried again). Returns the withdrawals allowed.
fn withdraw_demand(b: &Arc<RetryBudget>, demand: u64) -> u64 {
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let hs: Vec<_> = (0..THREADS)
        .map(|_| {
            let (b, barrier) = (b.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut ok = 0;
                while ok < demand {
                    if b.try_withdraw() {
                        ok += 1;
                    } else if b.available() == 0 {
                        break;
                    }
                }
                ok
            })
        })
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).sum()
}

#[test]
fn eight_threads_withdraw_the_least_of_demand_and_allowance() {
    // Allowance: 10 000 retries (5 000 reserve, 5 000 deposited). Under
    // it, the demand leaves more than the 7 × 15 retries that the other
    // threads can have on their way to a lease at once (so no refusal can
    // strand a retry); over it, each thread's demand is the whole
    // allowance, so no thread stops before the budget is empty.
    let allowance = 10_000;
    for demand in [1_000, 1_230, 20_000] {
        let clock = Arc::new(ManualClock::new());
        let b = budget(1.0, 500, &clock);
        for _ in 0..5_000 {
            b.deposit();
        }
        assert_eq!(b.available(), allowance);
        let allowed = withdraw_demand(&b, demand);
        // Over the allowance, the last thread still wanting retries takes
        // whatever is left in the balance or in another thread's lease.
        assert_eq!(
            allowed,
            (THREADS * demand).min(allowance),
            "demand {demand}"
        );
        let s = b.stats();
        assert_eq!(s.withdrawals, allowed);
        assert_eq!(s.available, allowance - allowed, "none lost in a lease");
    }
}
