//! Bulkhead acquire + release, at 1 and 2 threads on one shared bulkhead:
//!
//! `cargo bench -p fusebox-benches --bench bulkhead`
//!
//! * `fusebox`: [`Bulkhead::try_acquire`] then dropping the permit (one CAS,
//!   one `fetch_sub`);
//! * `fusebox_outcome`: the same, reporting a success (what `call` does);
//! * `fusebox_adaptive`: with a Gradient2 limit (two clock reads and a
//!   sample per call);
//! * `fusebox_breaker`: with a breaker in front (the breaker's closed path
//!   plus the bulkhead);
//! * `mutex`: a `std::sync::Mutex<u32>` counter (lock, check, add; lock,
//!   subtract);
//! * `tokio`: `tokio::sync::Semaphore::try_acquire` and dropping the permit.
//!
//! The limit is never reached (64 slots, at most 2 callers), so every call
//! is admitted: this is the cost of the admission itself. Multi-thread
//! figures are wall time / total calls (aggregate cost per call).
//!
//! First come best-round figures, robust to a busy machine: the variants run
//! alternately in 2 ms rounds, 150 times, and each is taken at its best
//! round (`best_round/...` lines); then criterion's groups.

use criterion::{criterion_group, BenchmarkId, Criterion};
use fusebox::bulkhead::Bulkhead;
use fusebox::concurrency::LimitConfig;
use fusebox::{Breaker, Config};
use fusebox_benches::par;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

const LIMIT: u32 = 64;

/// The obvious locked bulkhead.
struct MutexBulkhead {
    in_flight: Mutex<u32>,
    limit: u32,
}

impl MutexBulkhead {
    fn try_acquire(&self) -> bool {
        let mut n = self.in_flight.lock().unwrap();
        if *n >= self.limit {
            return false;
        }
        *n += 1;
        true
    }

    fn release(&self) {
        *self.in_flight.lock().unwrap() -= 1;
    }
}

fn bench_acquire_release(c: &mut Criterion) {
    let mut g = c.benchmark_group("bulkhead");
    for threads in [1usize, 2] {
        let b = Bulkhead::new(LIMIT).unwrap();
        g.bench_function(BenchmarkId::new("fusebox", threads), |bn| {
            bn.iter_custom(|n| {
                par(threads, n, || {
                    let p = b.try_acquire();
                    assert!(p.is_ok());
                    drop(p);
                })
            })
        });
        g.bench_function(BenchmarkId::new("fusebox_outcome", threads), |bn| {
            bn.iter_custom(|n| {
                par(threads, n, || {
                    if let Ok(p) = b.try_acquire() {
                        p.success();
                    }
                })
            })
        });
        let adaptive = Bulkhead::builder()
            .adaptive(LimitConfig::gradient2().limits(LIMIT, LIMIT, LIMIT * 2))
            .build()
            .unwrap();
        g.bench_function(BenchmarkId::new("fusebox_adaptive", threads), |bn| {
            bn.iter_custom(|n| {
                par(threads, n, || {
                    if let Ok(p) = adaptive.try_acquire() {
                        p.success();
                    }
                })
            })
        });
        let guarded = Bulkhead::builder()
            .max_concurrent(LIMIT)
            .breaker(Arc::new(Breaker::new(Config::default()).unwrap()))
            .build()
            .unwrap();
        g.bench_function(BenchmarkId::new("fusebox_breaker", threads), |bn| {
            bn.iter_custom(|n| {
                par(threads, n, || {
                    if let Ok(p) = guarded.try_acquire() {
                        p.success();
                    }
                })
            })
        });
        let m = MutexBulkhead {
            in_flight: Mutex::new(0),
            limit: LIMIT,
        };
        g.bench_function(BenchmarkId::new("mutex", threads), |bn| {
            bn.iter_custom(|n| {
                par(threads, n, || {
                    if m.try_acquire() {
                        m.release();
                    }
                })
            })
        });
        let sem = tokio::sync::Semaphore::new(LIMIT as usize);
        g.bench_function(BenchmarkId::new("tokio", threads), |bn| {
            bn.iter_custom(|n| {
                par(threads, n, || {
                    let p = sem.try_acquire();
                    assert!(p.is_ok());
                    drop(p);
                })
            })
        });
    }
    g.finish();
}

fn bench_full(c: &mut Criterion) {
    // Refusing when full: a load of the word and the rejection count.
    let mut g = c.benchmark_group("bulkhead_full");
    for threads in [1usize, 2] {
        let b = Bulkhead::new(1).unwrap();
        let _held = b.try_acquire().unwrap();
        g.bench_function(BenchmarkId::new("fusebox", threads), |bn| {
            bn.iter_custom(|n| par(threads, n, || assert!(b.try_acquire().is_err())))
        });
        let sem = tokio::sync::Semaphore::new(1);
        let _p = sem.try_acquire().unwrap();
        g.bench_function(BenchmarkId::new("tokio", threads), |bn| {
            bn.iter_custom(|n| par(threads, n, || assert!(sem.try_acquire().is_err())))
        });
    }
    g.finish();
}

/// Per-call ns of each of `fs`, at its best 2 ms round of 150, the variants
/// taking turns (as in the detection benches).
fn best_rounds(threads: usize, fs: &[&(dyn Fn() + Sync)]) -> Vec<f64> {
    let mut best = vec![f64::INFINITY; fs.len()];
    for _ in 0..150 {
        for (f, best) in fs.iter().zip(best.iter_mut()) {
            let barrier = Barrier::new(threads);
            let start = Instant::now();
            let calls: u64 = std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            let t = Instant::now();
                            let mut k = 0u64;
                            while t.elapsed() < Duration::from_millis(2) {
                                for _ in 0..256 {
                                    f();
                                }
                                k += 256;
                            }
                            k
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum()
            });
            *best = best.min(start.elapsed().as_nanos() as f64 / calls as f64);
        }
    }
    best
}

fn best_round_figures() {
    let b = Bulkhead::new(LIMIT).unwrap();
    let m = MutexBulkhead {
        in_flight: Mutex::new(0),
        limit: LIMIT,
    };
    let sem = tokio::sync::Semaphore::new(LIMIT as usize);
    let adaptive = Bulkhead::builder()
        .adaptive(LimitConfig::gradient2().limits(LIMIT, LIMIT, LIMIT * 2))
        .build()
        .unwrap();
    let guarded = Bulkhead::builder()
        .max_concurrent(LIMIT)
        .breaker(Arc::new(Breaker::new(Config::default()).unwrap()))
        .build()
        .unwrap();
    let fusebox_adaptive = || {
        if let Ok(p) = adaptive.try_acquire() {
            black_box(&p);
            p.success();
        }
    };
    let fusebox_breaker = || {
        if let Ok(p) = guarded.try_acquire() {
            black_box(&p);
            p.success();
        }
    };
    let fusebox = || {
        if let Ok(p) = b.try_acquire() {
            black_box(&p);
            p.success();
        }
    };
    let mutex = || {
        if m.try_acquire() {
            black_box(&m);
            m.release();
        }
    };
    let tokio = || {
        if let Ok(p) = sem.try_acquire() {
            black_box(&p);
        }
    };
    for threads in [1, 2] {
        let v = best_rounds(
            threads,
            &[
                &fusebox,
                &mutex,
                &tokio,
                &fusebox_adaptive,
                &fusebox_breaker,
            ],
        );
        println!(
            "best_round/bulkhead/{threads}: fusebox {:.2} ns, Mutex counter {:.2} ns, \
             tokio Semaphore::try_acquire {:.2} ns; fusebox adaptive (Gradient2) {:.2} ns, \
             fusebox with a breaker {:.2} ns",
            v[0], v[1], v[2], v[3], v[4]
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = bench_acquire_release, bench_full
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.as_deref().map(|f| "best_round".contains(f)) != Some(false) {
        best_round_figures();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
