//! The retry benches, all in one run:
//!
//! `cargo bench -p fusebox-benches --bench retry`
//!
//! * `budget`: one retry budget's deposit + withdraw (ratio 1, so every
//!   withdrawal is allowed and charged), a deposit alone (what every request
//!   pays), a withdrawal from a well-funded budget (`withdraw_funded`: a
//!   reserve of 3.6 × 10^9 retries, what a retry pays while the budget has
//!   room) and a withdrawal at break-even (`withdraw`: ratio 10, rounds
//!   of a deposit and ten withdrawals, so the retries are exactly what the
//!   requests pay for; the time per withdrawal, the deposit included)
//!   beside a closed breaker's acquire + success, at 1 and 2
//!   threads on one shared budget and breaker (the goal: within 2× of the
//!   closed call);
//! * `call`: a closed call through `RetryPolicy::call` (deposit, permit,
//!   success; no retry) beside a bare `Breaker::call`.
//!
//! Multi-thread figures are wall time / total calls (aggregate cost per call).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use fusebox::retry::ThreadSleeper;
use fusebox::{Breaker, Config, RetryBudget, RetryBudgetConfig, RetryPolicy};
use fusebox_benches::par;
use std::hint::black_box;
use std::time::Duration;

fn bench_budget(c: &mut Criterion) {
    let mut g = c.benchmark_group("budget");
    for threads in [1usize, 2] {
        let breaker = Breaker::new(Config::default()).unwrap();
        g.bench_function(BenchmarkId::new("closed_breaker_call", threads), |b| {
            b.iter_custom(|n| {
                par(threads, n, || {
                    if let Ok(p) = breaker.try_acquire() {
                        p.success();
                    }
                })
            })
        });
        let config = RetryBudgetConfig {
            ratio: 1.0,
            ..Default::default()
        };
        let budget = RetryBudget::new(config).unwrap();
        g.bench_function(BenchmarkId::new("deposit_withdraw", threads), |b| {
            b.iter_custom(|n| {
                par(threads, n, || {
                    budget.deposit();
                    black_box(budget.try_withdraw());
                })
            })
        });
        g.bench_function(BenchmarkId::new("deposit", threads), |b| {
            b.iter_custom(|n| par(threads, n, || budget.deposit()))
        });
        // 10^6 a second over an hour: no run spends it.
        let funded = RetryBudget::new(RetryBudgetConfig {
            min_per_sec: 1_000_000,
            window: Duration::from_secs(3600),
            ..Default::default()
        })
        .unwrap();
        g.bench_function(BenchmarkId::new("withdraw_funded", threads), |b| {
            b.iter_custom(|n| {
                par(threads, n, || {
                    black_box(funded.try_withdraw());
                })
            })
        });
        let config = RetryBudgetConfig {
            ratio: 10.0,
            ..Default::default()
        };
        let budget = RetryBudget::new(config).unwrap();
        g.bench_function(BenchmarkId::new("withdraw", threads), |b| {
            // Ten withdrawals and a deposit per round (n / 10 rounds, the
            // time per withdrawal): at ratio 10 the deposit pays for
            // exactly the ten.
            b.iter_custom(|n| {
                let rounds = n.div_ceil(10);
                let t = par(threads, rounds, || {
                    budget.deposit();
                    for _ in 0..10 {
                        black_box(budget.try_withdraw());
                    }
                });
                let ns = t.as_nanos() * u128::from(n) / u128::from(rounds * 10);
                Duration::from_nanos(ns as u64)
            })
        });
    }
    g.finish();
}

fn bench_call(c: &mut Criterion) {
    let mut g = c.benchmark_group("call");
    let breaker = Breaker::new(Config::default()).unwrap();
    let budget = RetryBudget::new(RetryBudgetConfig::default()).unwrap();
    let policy = RetryPolicy::builder().seed(1).build().unwrap();
    g.bench_function("bare_closed", |b| {
        b.iter(|| black_box(breaker.call(|| Ok::<u64, ()>(black_box(1)))))
    });
    g.bench_function("retry_wrapped_closed", |b| {
        b.iter(|| {
            black_box(
                policy
                    .call(&breaker, &budget, &ThreadSleeper, |_| {
                        Ok::<u64, ()>(black_box(1))
                    })
                    .result,
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = bench_budget, bench_call
}
criterion_main!(benches);
