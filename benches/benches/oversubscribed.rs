//! One breaker, T threads, more threads than cores: what a shared breaker
//! costs when the scheduler preempts its callers.
//!
//! `cargo bench -p fusebox-benches --bench oversubscribed`
//!
//! T = 1, 2, 8, 16, 64 threads call one closed breaker (default config,
//! every call a success): fusebox through `Breaker::call`, recloser and
//! failsafe through their public `call`. Each thread makes criterion's
//! `iters` calls; the threads start together behind a barrier, each after
//! one call of its own (spawning and a thread's first call are not
//! measured) and the figure is the aggregate cost per call:
//! (last thread's end − first thread's start) / (T × iters). On C cores,
//! perfect scaling divides the 1-thread figure by min(T, C).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use failsafe::CircuitBreaker;
use fusebox::{Breaker, Config};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

const THREADS: [usize; 5] = [1, 2, 8, 16, 64];

/// Wall time of `threads` threads making `iters` calls each, divided by
/// `threads` (criterion then divides by `iters`).
fn wall<F: Fn() + Sync>(threads: usize, iters: u64, f: F) -> Duration {
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    // One call first, as a pool's long-lived thread has
                    // made: it holds its thread slot (and its stripe) from
                    // here to the end, so the T threads count at once
                    // rather than a finished one's slot passing to the next.
                    f();
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        f();
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = spans.iter().map(|s| s.0).min().unwrap();
    let last = spans.iter().map(|s| s.1).max().unwrap();
    (last - first) / threads as u32
}

fn bench_oversubscribed(c: &mut Criterion) {
    let mut g = c.benchmark_group("oversubscribed");
    for threads in THREADS {
        let fb = Breaker::new(Config::default()).unwrap();
        g.bench_function(BenchmarkId::new("fusebox", threads), |b| {
            b.iter_custom(|n| {
                wall(threads, n, || {
                    let _ = black_box(fb.call(|| Ok::<(), ()>(())));
                })
            })
        });
        let rc = recloser::Recloser::default();
        g.bench_function(BenchmarkId::new("recloser", threads), |b| {
            b.iter_custom(|n| {
                wall(threads, n, || {
                    let _ = black_box(rc.call(|| Ok::<(), ()>(())));
                })
            })
        });
        let fs = failsafe::Config::new().build();
        g.bench_function(BenchmarkId::new("failsafe", threads), |b| {
            b.iter_custom(|n| {
                wall(threads, n, || {
                    let _ = black_box(fs.call(|| Ok::<(), ()>(())));
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // Fewer samples than the default 100: each sample spawns up to 64
    // threads.
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_oversubscribed
}
criterion_main!(benches);
