//! The breaker benches, all in one run:
//!
//! `cargo bench -p fusebox-benches --bench breaker`
//!
//! * closed path (acquire + success), open rejection, half-open, at 1 and 2
//!   threads on one shared breaker, for fusebox, the mutex baselines
//!   (the mutex + list Go design, and a mutex + ring of buckets), failsafe 1.3,
//!   recloser 1.4, and the floor (one uncontended `AtomicU64::fetch_add`);
//! * window occupancy: cost per call with 10^3, 10^5, 10^6 calls in the window;
//! * the clock reads the closed path avoids.
//!
//! Multi-thread figures are wall time / total calls (aggregate cost per call),
//! so perfect scaling halves the 1-thread figure.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use crossbeam_utils::CachePadded;
use fusebox::{Breaker, Config};
use fusebox_benches::par;
use fusebox_benches::{GoMutexBreaker, MutexRingBreaker};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn quiet() -> Config {
    // Never trips on successes; the defaults otherwise
    // (docs/semantics.md#defaults).
    Config::default()
}

fn recloser() -> recloser::Recloser {
    recloser::Recloser::custom()
        .error_rate(0.5)
        .closed_len(100)
        .half_open_len(10)
        .open_wait(Duration::from_secs(3600))
        .build()
}

fn bench_closed(c: &mut Criterion) {
    let mut g = c.benchmark_group("closed");
    for threads in [1usize, 2] {
        let fb = Breaker::new(quiet()).unwrap();
        g.bench_function(BenchmarkId::new("fusebox", threads), |b| {
            b.iter_custom(|n| {
                par(threads, n, || {
                    if let Ok(p) = fb.try_acquire() {
                        p.success();
                    }
                })
            })
        });
        let go = GoMutexBreaker::default();
        g.bench_function(BenchmarkId::new("go_mutex_list", threads), |b| {
            b.iter_custom(|n| {
                par(threads, n, || {
                    if go.allow() {
                        go.record(true);
                    }
                })
            })
        });
        let ring = MutexRingBreaker::default();
        g.bench_function(BenchmarkId::new("mutex_ring", threads), |b| {
            b.iter_custom(|n| {
                par(threads, n, || {
                    if ring.allow() {
                        ring.record(true);
                    }
                })
            })
        });
        let fs = failsafe::Config::new().build();
        g.bench_function(BenchmarkId::new("failsafe", threads), |b| {
            b.iter_custom(|n| {
                par(threads, n, || {
                    if fs.is_call_permitted() {
                        fs.on_success();
                    }
                })
            })
        });
        let rc = recloser();
        g.bench_function(BenchmarkId::new("recloser", threads), |b| {
            b.iter_custom(|n| {
                par(threads, n, || {
                    let _ = black_box(rc.call(|| Ok::<(), ()>(())));
                })
            })
        });
        let shared = AtomicU64::new(0);
        g.bench_function(BenchmarkId::new("floor_shared_fetch_add", threads), |b| {
            b.iter_custom(|n| {
                par(threads, n, || {
                    shared.fetch_add(1, Ordering::Relaxed);
                })
            })
        });
        if threads == 1 {
            let own = CachePadded::new(AtomicU64::new(0));
            g.bench_function(
                BenchmarkId::new("floor_uncontended_fetch_add", threads),
                |b| {
                    b.iter_custom(|n| {
                        par(threads, n, || {
                            own.fetch_add(1, Ordering::Relaxed);
                        })
                    })
                },
            );
        }
    }
    g.finish();
}

fn bench_open(c: &mut Criterion) {
    let mut g = c.benchmark_group("open");
    for threads in [1usize, 2] {
        let fb = Breaker::new(quiet()).unwrap();
        fb.force_open();
        // A real trip, not a manual override: the Open path with a deadline.
        let fb_tripped = Breaker::new(
            Config::builder()
                .open_timeout(Duration::from_secs(3600))
                .build()
                .unwrap(),
        )
        .unwrap();
        for _ in 0..5 {
            fb_tripped.try_acquire().unwrap().failure();
        }
        assert_eq!(fb_tripped.state(), fusebox::State::Open);
        g.bench_function(BenchmarkId::new("fusebox", threads), |b| {
            b.iter_custom(|n| {
                par(threads, n, || {
                    let _ = black_box(fb_tripped.try_acquire().is_err());
                })
            })
        });
        let go = GoMutexBreaker::default();
        go.force_open();
        g.bench_function(BenchmarkId::new("go_mutex_list", threads), |b| {
            b.iter_custom(|n| par(threads, n, || assert!(!go.allow())))
        });
        let ring = MutexRingBreaker::default();
        ring.force_open();
        g.bench_function(BenchmarkId::new("mutex_ring", threads), |b| {
            b.iter_custom(|n| par(threads, n, || assert!(!ring.allow())))
        });
        let fs = failsafe::Config::new().build();
        for _ in 0..10 {
            fs.on_error();
        }
        assert!(!fs.is_call_permitted());
        g.bench_function(BenchmarkId::new("failsafe", threads), |b| {
            b.iter_custom(|n| par(threads, n, || assert!(!fs.is_call_permitted())))
        });
        let rc = recloser();
        for _ in 0..200 {
            let _ = rc.call(|| Err::<(), ()>(()));
        }
        assert!(rc.call(|| Ok::<(), ()>(())).is_err());
        g.bench_function(BenchmarkId::new("recloser", threads), |b| {
            b.iter_custom(|n| {
                par(threads, n, || {
                    let _ = black_box(rc.call(|| Ok::<(), ()>(())));
                })
            })
        });
    }
    g.finish();
}

fn bench_half_open(c: &mut Criterion) {
    // Half-open with free probe slots: each call takes a probe slot and gives
    // it back (the CAS on the shared state word is the cost).
    let mut g = c.benchmark_group("half_open");
    for threads in [1usize, 2] {
        let fb = Breaker::new(
            Config::builder()
                .consecutive_failures(Some(1))
                .open_timeout(Duration::from_millis(1))
                .half_open_max_calls(100)
                .success_threshold(100)
                .half_open_max_wait(Duration::from_secs(100_000))
                .build()
                .unwrap(),
        )
        .unwrap();
        fb.try_acquire().unwrap().failure();
        std::thread::sleep(Duration::from_millis(5));
        drop(fb.try_acquire().unwrap());
        assert_eq!(fb.state(), fusebox::State::HalfOpen);
        g.bench_function(
            BenchmarkId::new("fusebox_probe_acquire_release", threads),
            |b| {
                b.iter_custom(|n| {
                    par(threads, n, || {
                        if let Ok(p) = fb.try_acquire() {
                            drop(black_box(p));
                        }
                    })
                })
            },
        );
        let go = GoMutexBreaker::default();
        g.bench_function(BenchmarkId::new("go_mutex_list_admit", threads), |b| {
            b.iter_custom(|n| {
                par(threads, n, || {
                    let _ = black_box(go.allow());
                })
            })
        });
    }
    g.finish();
}

fn bench_occupancy(c: &mut Criterion) {
    let mut g = c.benchmark_group("occupancy");
    g.sample_size(20);
    for n in [1_000usize, 100_000, 1_000_000] {
        let fb = Breaker::new(quiet()).unwrap();
        for _ in 0..n {
            fb.try_acquire().unwrap().success();
        }
        assert!(fb.window_counts().calls >= n as u64);
        g.bench_function(BenchmarkId::new("fusebox", n), |b| {
            b.iter(|| fb.try_acquire().unwrap().success())
        });
        let go = GoMutexBreaker::new(Duration::from_secs(3600));
        go.prefill(n);
        g.bench_function(BenchmarkId::new("go_mutex_list", n), |b| {
            b.iter(|| {
                if go.allow() {
                    go.record(true);
                }
            })
        });
    }
    g.finish();
}

fn bench_clock(c: &mut Criterion) {
    let mut g = c.benchmark_group("clock");
    g.bench_function("instant_now", |b| b.iter(|| black_box(Instant::now())));
    let mono = fusebox::ClockSource::Monotonic;
    g.bench_function("fusebox_precise_now_ns", |b| {
        b.iter(|| black_box(mono.now_ns()))
    });
    g.bench_function("fusebox_recent_ns", |b| {
        b.iter(|| black_box(mono.recent_ns()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_closed, bench_open, bench_half_open, bench_occupancy, bench_clock
}
criterion_main!(benches);
