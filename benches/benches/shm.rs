//! Shared-memory breakers against in-process ones:
//!
//! `cargo bench -p fusebox-benches --bench shm`
//!
//! The same config, the same calls: acquire + success on a closed breaker,
//! and the rejection of an open one, at 1 and 2 threads, on an in-process
//! breaker (`heap`) and on one in a shared registry file on tmpfs (`shm`).
//! The shared breaker runs the same code over the same atomic words, at
//! another address, so the two should cost the same; the target is within
//! 1.5×. Multi-thread figures are wall time / total calls.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use fusebox::shm::SharedRegistry;
use fusebox::{Breaker, Config, State};
use fusebox_benches::par;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A registry file of its own, removed at the end of the run.
struct TmpRegistry {
    registry: SharedRegistry,
    path: PathBuf,
}

impl TmpRegistry {
    fn new(tag: &str) -> TmpRegistry {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let path = dir.join(format!("fusebox-bench-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let registry = SharedRegistry::open(&path).unwrap();
        TmpRegistry { registry, path }
    }
}

impl Drop for TmpRegistry {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn tripping() -> Config {
    Config::builder()
        .open_timeout(Duration::from_secs(3600))
        .build()
        .unwrap()
}

fn bench_closed(c: &mut Criterion) {
    let reg = TmpRegistry::new("closed");
    let mut g = c.benchmark_group("shm_closed");
    for threads in [1usize, 2] {
        let heap = Breaker::new(Config::default()).unwrap();
        let shm: Arc<Breaker> = reg
            .registry
            .get_or_create(&format!("closed-{threads}"), &Config::default())
            .unwrap();
        // Whether the shared breaker's bench ran (a filter may skip it).
        let ran = std::cell::Cell::new(false);
        for (name, b) in [("heap", &heap), ("shm", &*shm)] {
            g.bench_function(BenchmarkId::new(name, threads), |bch| {
                ran.set(ran.get() || name == "shm");
                bch.iter_custom(|n| {
                    par(threads, n, || {
                        if let Ok(p) = b.try_acquire() {
                            p.success();
                        }
                    })
                })
            });
        }
        assert_eq!(shm.state(), State::Closed);
        assert_eq!(shm.metrics().successes > 0, ran.get());
    }
    g.finish();
}

fn bench_open(c: &mut Criterion) {
    let reg = TmpRegistry::new("open");
    let mut g = c.benchmark_group("shm_open");
    for threads in [1usize, 2] {
        let heap = Breaker::new(tripping()).unwrap();
        let shm = reg
            .registry
            .get_or_create(&format!("open-{threads}"), &tripping())
            .unwrap();
        for (name, b) in [("heap", &heap), ("shm", &*shm)] {
            for _ in 0..5 {
                b.try_acquire().unwrap().failure();
            }
            assert_eq!(b.state(), State::Open);
            g.bench_function(BenchmarkId::new(name, threads), |bch| {
                bch.iter_custom(|n| {
                    par(threads, n, || {
                        let _ = black_box(b.try_acquire().is_err());
                    })
                })
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_closed, bench_open
}
criterion_main!(benches);
