//! Detection, degradation and monitoring benches:
//!
//! `cargo bench -p fusebox-benches --bench detection`
//!
//! * `latency`: the closed path (acquire + success) alone, and with a latency
//!   recorded into a [`LatencyHistogram`] the way the breaker hook would (the
//!   duration is known; one tag load and one `fetch_add`), at 1 and 2
//!   threads on one shared breaker and histogram; and the same for a caller
//!   that measures each call's duration (`timed_call`: two precise clock
//!   reads, the duration reported to the breaker);
//! * `limiter`: GCRA admission on one shared limiter, at 1 and 2 threads,
//!   with the precise clock (`try_acquire`) and with a time the caller
//!   already has (`try_acquire_at`, the CAS alone);
//! * `registry`: lookup by name among 100 breakers, at 1 and 2 threads:
//!   `Registry::get` (papaya, returns an `Arc`), `Registry::with` (no
//!   reference-count write), and a `Mutex<HashMap>` baseline;
//! * `shedder`: admission (one atomic load);
//! * `latency_ratio` (printed first): the recording overhead at 1 thread as
//!   a ratio, the two variants alternating in 2 ms rounds, each taken at its
//!   fastest round, so a busy machine distorts it less; `best_round`: the
//!   limiter and registry figures measured the same way, at 1 and 2 threads.
//!
//! Multi-thread figures are wall time / total calls (aggregate cost per
//! call), so perfect scaling halves the 1-thread figure.

use criterion::{criterion_group, BenchmarkId, Criterion};
use fusebox::histogram::LatencyHistogram;
use fusebox::limiter::RateLimiter;
use fusebox::shedder::{Priority, Shedder};
use fusebox::{Breaker, ClockSource, Config, Outcome, Registry};
use fusebox_benches::par;
use std::cell::Cell;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

thread_local!(static I: Cell<u64> = const { Cell::new(0) });

/// A latency that moves over ~30 buckets around 1 ms, like real calls.
#[inline]
fn next_latency() -> u64 {
    I.with(|i| {
        let v = i.get().wrapping_add(1);
        i.set(v);
        900_000 + (v.wrapping_mul(7919) % 256) * 1_000
    })
}

fn bench_latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("latency");
    let clock = ClockSource::Monotonic;
    for threads in [1usize, 2] {
        let b = Breaker::new(Config::default()).unwrap();
        g.bench_function(BenchmarkId::new("closed_call", threads), |bn| {
            bn.iter_custom(|n| {
                par(threads, n, || {
                    let d = black_box(next_latency());
                    if let Ok(p) = b.try_acquire() {
                        p.success();
                    }
                    black_box(d);
                })
            })
        });
        let b = Breaker::new(Config::default()).unwrap();
        let h = LatencyHistogram::new(ClockSource::Monotonic);
        g.bench_function(BenchmarkId::new("closed_call_recording", threads), |bn| {
            bn.iter_custom(|n| {
                par(threads, n, || {
                    let d = black_box(next_latency());
                    if let Ok(p) = b.try_acquire() {
                        p.success();
                        h.record_at(clock.recent_ns(), d);
                    }
                })
            })
        });
        // A caller that measures each call's duration (two precise clock
        // reads), reports it to the breaker, and records it (or not).
        let b = Breaker::new(Config::default()).unwrap();
        g.bench_function(BenchmarkId::new("timed_call", threads), |bn| {
            bn.iter_custom(|n| {
                par(threads, n, || {
                    let t0 = clock.now_ns();
                    if let Ok(p) = b.try_acquire() {
                        let d = clock.now_ns() - t0;
                        p.record_with_duration(Outcome::Success, Duration::from_nanos(d));
                    }
                })
            })
        });
        let b = Breaker::new(Config::default()).unwrap();
        let h = LatencyHistogram::new(ClockSource::Monotonic);
        g.bench_function(BenchmarkId::new("timed_call_recording", threads), |bn| {
            bn.iter_custom(|n| {
                par(threads, n, || {
                    let t0 = clock.now_ns();
                    if let Ok(p) = b.try_acquire() {
                        let d = clock.now_ns() - t0;
                        p.record_with_duration(Outcome::Success, Duration::from_nanos(d));
                        h.record_at(clock.recent_ns(), d);
                    }
                })
            })
        });
    }
    g.finish();
}

fn bench_limiter(c: &mut Criterion) {
    let mut g = c.benchmark_group("limiter");
    for threads in [1usize, 2] {
        // 10^9 calls/s: every call is admitted, so every call is a CAS.
        let l = RateLimiter::new(1e9, 1_000_000_000).unwrap();
        g.bench_function(BenchmarkId::new("try_acquire", threads), |bn| {
            bn.iter_custom(|n| {
                par(threads, n, || {
                    black_box(l.try_acquire().is_ok());
                })
            })
        });
        let l = RateLimiter::new(1e9, 1_000_000_000).unwrap();
        let clock = ClockSource::Monotonic;
        g.bench_function(BenchmarkId::new("try_acquire_at_recent", threads), |bn| {
            bn.iter_custom(|n| {
                par(threads, n, || {
                    black_box(l.try_acquire_at(clock.recent_ns()).is_ok());
                })
            })
        });
    }
    g.finish();
}

fn bench_registry(c: &mut Criterion) {
    let mut g = c.benchmark_group("registry");
    let names: Vec<String> = (0..100).map(|i| format!("service-{i}:endpoint")).collect();
    let r = Registry::default();
    let baseline: Mutex<HashMap<String, Arc<Breaker>>> = Mutex::new(HashMap::new());
    for n in &names {
        let b = r.get_or_create(n).unwrap();
        baseline.lock().unwrap().insert(n.clone(), b);
    }
    let name = names[42].as_str();
    for threads in [1usize, 2] {
        g.bench_function(BenchmarkId::new("papaya_get", threads), |bn| {
            bn.iter_custom(|n| {
                par(threads, n, || {
                    black_box(r.get(black_box(name)).is_some());
                })
            })
        });
        g.bench_function(BenchmarkId::new("papaya_with", threads), |bn| {
            bn.iter_custom(|n| {
                par(threads, n, || {
                    black_box(r.with(black_box(name), |b| b.generation()));
                })
            })
        });
        g.bench_function(BenchmarkId::new("mutex_hashmap_get", threads), |bn| {
            bn.iter_custom(|n| {
                par(threads, n, || {
                    black_box(baseline.lock().unwrap().get(black_box(name)).cloned());
                })
            })
        });
    }
    g.finish();
}

fn bench_shedder(c: &mut Criterion) {
    let s = Shedder::new();
    s.set_load(0.85);
    c.bench_function("shedder/admit", |bn| {
        bn.iter(|| black_box(s.admit(black_box(Priority::Secondary))))
    });
}

/// Run the variants alternately in 2 ms rounds on `threads` threads (150
/// rounds each); for each, the aggregate ns per call of its fastest round,
/// the one least disturbed by whatever else the machine runs.
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

/// Best-round figures for the limiter and the registry (see `best_rounds`).
fn best_round_figures() {
    let clock = ClockSource::Monotonic;
    let l1 = RateLimiter::new(1e9, 1_000_000_000).unwrap();
    let l2 = RateLimiter::new(1e9, 1_000_000_000).unwrap();
    let acquire = || {
        black_box(l1.try_acquire().is_ok());
    };
    let acquire_at = || {
        black_box(l2.try_acquire_at(clock.recent_ns()).is_ok());
    };
    let names: Vec<String> = (0..100).map(|i| format!("service-{i}:endpoint")).collect();
    let r = Registry::default();
    let baseline: Mutex<HashMap<String, Arc<Breaker>>> = Mutex::new(HashMap::new());
    for n in &names {
        let b = r.get_or_create(n).unwrap();
        baseline.lock().unwrap().insert(n.clone(), b);
    }
    let name = names[42].as_str();
    let get = || {
        black_box(r.get(black_box(name)).is_some());
    };
    let with = || {
        black_box(r.with(black_box(name), |b| b.generation()));
    };
    let mutex = || {
        black_box(baseline.lock().unwrap().get(black_box(name)).cloned());
    };
    for threads in [1, 2] {
        let v = best_rounds(threads, &[&acquire, &acquire_at]);
        println!(
            "best_round/limiter/{threads}: try_acquire {:.2} ns, try_acquire_at(recent) {:.2} ns",
            v[0], v[1]
        );
        let v = best_rounds(threads, &[&get, &with, &mutex]);
        println!(
            "best_round/registry/{threads}: papaya get {:.2} ns, papaya with {:.2} ns, Mutex<HashMap> {:.2} ns",
            v[0], v[1], v[2]
        );
    }
}

/// The recording overhead as a ratio robust to a busy machine: the two
/// variants run alternately in 2 ms rounds; each is taken at its best round.
fn latency_ratio() {
    let clock = ClockSource::Monotonic;
    let b = Breaker::new(Config::default()).unwrap();
    let h = LatencyHistogram::new(ClockSource::Monotonic);
    let plain = || {
        let d = black_box(next_latency());
        if let Ok(p) = b.try_acquire() {
            p.success();
        }
        black_box(d);
    };
    let recording = || {
        let d = black_box(next_latency());
        if let Ok(p) = b.try_acquire() {
            p.success();
            h.record_at(clock.recent_ns(), d);
        }
    };
    let timed = || {
        let t0 = clock.now_ns();
        if let Ok(p) = b.try_acquire() {
            let d = clock.now_ns() - t0;
            p.record_with_duration(Outcome::Success, Duration::from_nanos(d));
        }
    };
    let timed_recording = || {
        let t0 = clock.now_ns();
        if let Ok(p) = b.try_acquire() {
            let d = clock.now_ns() - t0;
            p.record_with_duration(Outcome::Success, Duration::from_nanos(d));
            h.record_at(clock.recent_ns(), d);
        }
    };
    let ab = |name: &str, a: &(dyn Fn() + Sync), b: &(dyn Fn() + Sync)| {
        let best = best_rounds(1, &[a, b]);
        println!(
            "latency_ratio/{name}: without {:.2} ns, with recording {:.2} ns, ratio {:.3}",
            best[0],
            best[1],
            best[1] / best[0]
        );
    };
    ab("closed_call/1", &plain, &recording);
    ab("timed_call/1", &timed, &timed_recording);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = bench_latency, bench_limiter, bench_registry, bench_shedder
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = match filter.as_deref() {
        None => true,
        Some(f) => "latency_ratio".contains(f),
    };
    if wanted {
        latency_ratio();
    }
    if filter.as_deref().map(|f| "best_round".contains(f)) != Some(false) {
        best_round_figures();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
