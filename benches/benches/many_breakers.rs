//! Many breakers, one thread: the cost of a call when the breaker it goes to
//! is rarely in cache.
//!
//! `cargo bench -p fusebox-benches --bench many_breakers`
//!
//! N breakers (10^2, 10^4, 10^5; 10^6 with `FUSEBOX_BENCH_1M=1`) of each
//! library, default configs, in a `Vec`; every call goes to a pseudo-random
//! one (xorshift64, computed inline, same seed for every library) and
//! succeeds: fusebox through `Breaker::call`, recloser and failsafe through
//! their public `call`. The floor is one `fetch_add` on a random cache-padded
//! counter of N: one line per call and no breaker logic, so the CPU overlaps
//! the misses of consecutive calls (the indices do not depend on the loads).
//! Figures are ns per call.
//!
//! One library's breakers exist at a time (built, measured, dropped), so the
//! 10^6 run peaks at the largest library's footprint (see the
//! `bytes_per_breaker` example), not the sum.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use crossbeam_utils::CachePadded;
use failsafe::CircuitBreaker;
use fusebox::{Breaker, Config};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The same seed for every library: the same sequence of breakers.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// The breaker counts: 10^6 only when `FUSEBOX_BENCH_1M` is set (2.5 GB of
/// fusebox breakers on a 2-core machine, 25 GB from 32 cores up). Under
/// `cargo test` (criterion's test mode, no `--bench` argument: each bench
/// runs once, unoptimised) only 10^2 and 10^4, since building 10^5 breakers
/// of each library there takes seconds and checks nothing more.
fn sizes() -> Vec<usize> {
    if !std::env::args().any(|a| a == "--bench") {
        return vec![100, 10_000];
    }
    let mut n = vec![100, 10_000, 100_000];
    if std::env::var_os("FUSEBOX_BENCH_1M").is_some_and(|v| v != "0") {
        n.push(1_000_000);
    }
    n
}

/// The next index in `0..n`: one xorshift64 step and a multiply-shift range
/// reduction (no division).
#[inline(always)]
fn next(x: &mut u64, n: usize) -> usize {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    ((u128::from(*x) * n as u128) >> 64) as usize
}

/// Measure `call` on pseudo-random members of `n` breakers from `make`.
/// They are made on the routine's first run (so a filter that skips this
/// bench skips building them too), outside the timed loop, and dropped when
/// it is done: one library's breakers exist at a time.
fn run<T>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    n: usize,
    make: impl Fn() -> T,
    call: impl Fn(&T),
) {
    let mut items: Option<Vec<T>> = None;
    // Outside the routine, so the sequence runs on across samples: a seed
    // reset per sample would replay its first calls, whose breakers would
    // then be warm in cache.
    let mut x = SEED;
    g.bench_function(BenchmarkId::new(name, n), |b| {
        let items = items.get_or_insert_with(|| (0..n).map(|_| make()).collect());
        b.iter(|| call(&items[next(&mut x, n)]))
    });
}

fn bench_many(c: &mut Criterion) {
    let mut g = c.benchmark_group("many_breakers");
    for n in sizes() {
        run(
            &mut g,
            "fusebox",
            n,
            || Breaker::new(Config::default()).unwrap(),
            |b| {
                let _ = black_box(b.call(|| Ok::<(), ()>(())));
            },
        );
        run(&mut g, "recloser", n, recloser::Recloser::default, |b| {
            let _ = black_box(b.call(|| Ok::<(), ()>(())));
        });
        run(
            &mut g,
            "failsafe",
            n,
            || failsafe::Config::new().build(),
            |b| {
                let _ = black_box(b.call(|| Ok::<(), ()>(())));
            },
        );
        run(
            &mut g,
            "floor_fetch_add",
            n,
            || CachePadded::new(AtomicU64::new(0)),
            |a| {
                a.fetch_add(1, Ordering::Relaxed);
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_many
}
criterion_main!(benches);
