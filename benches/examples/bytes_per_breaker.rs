//! Memory per breaker, by a counting global allocator:
//!
//! `cargo run --release -p fusebox-benches --example bytes_per_breaker [N]`
//!
//! Creates N (default 10^4) breakers of each library with its default
//! config into a `Vec` reserved beforehand, and reports
//! (heap bytes allocated and not freed) / N + `size_of` the handle the `Vec`
//! holds, the heap blocks each breaker keeps, and the construction time.
//! Requested sizes: the allocator's own headers and rounding are not
//! counted. One breaker of each library is made (and kept) first, so that
//! lazily initialised statics are not counted.
//!
//! fusebox's footprint depends on its counter stripes, by default
//! available cores + 1 rounded up to a power of two, at most 64; the extra
//! rows give it at each stripe count (`Breaker::with_stripes`), as on
//! bigger machines. `Breaker::new` reads the core count on every call, which
//! its build time shows next to the explicit stripe rows.

use failsafe::CircuitBreaker;
use fusebox::{Breaker, ClockSource, Config};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::time::Instant;

/// Counts live heap bytes and live heap blocks.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        BLOCKS.fetch_add(1, Relaxed);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        BLOCKS.fetch_add(1, Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        BLOCKS.fetch_sub(1, Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Row {
    name: String,
    handle: usize,
    heap: f64,
    blocks: f64,
    build_ns: f64,
}

/// N breakers from `make` into a reserved `Vec`: heap bytes and blocks per
/// breaker, net of the `Vec`'s own buffer, and the time to make one.
fn measure<T>(name: &str, n: usize, make: impl Fn() -> T) -> Row {
    let mut v: Vec<T> = Vec::with_capacity(n);
    let (live0, blocks0) = (LIVE.load(Relaxed), BLOCKS.load(Relaxed));
    let t = Instant::now();
    for _ in 0..n {
        v.push(make());
    }
    let build = t.elapsed();
    let (live1, blocks1) = (LIVE.load(Relaxed), BLOCKS.load(Relaxed));
    assert_eq!(v.len(), n);
    drop(v);
    Row {
        name: name.to_string(),
        handle: std::mem::size_of::<T>(),
        heap: (live1 - live0) as f64 / n as f64,
        blocks: (blocks1 - blocks0) as f64 / n as f64,
        build_ns: build.as_nanos() as f64 / n as f64,
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N: a number of breakers"))
        .unwrap_or(10_000);
    // Lazily initialised statics (clocks, thread slots, epochs), made once
    // and kept, outside the measurement; one call each as well.
    let keep = (
        Breaker::new(Config::default()).unwrap(),
        recloser::Recloser::default(),
        failsafe::Config::new().build(),
    );
    let _ = keep.0.call(|| Ok::<(), ()>(()));
    let _ = keep.1.call(|| Ok::<(), ()>(()));
    let _ = keep.2.call(|| Ok::<(), ()>(()));

    let cores = std::thread::available_parallelism().map_or(4, |c| c.get());
    // As `Layout::default_stripes` and `Layout::new` have it.
    let stripes = (cores + 1).min(64).next_power_of_two();
    let mut rows = vec![
        measure(&format!("fusebox (default: {stripes} stripes)"), n, || {
            Breaker::new(Config::default()).unwrap()
        }),
        measure("recloser", n, recloser::Recloser::default),
        measure("failsafe", n, || failsafe::Config::new().build()),
    ];
    for (s, machines) in [
        (4, "2-3 cores"),
        (8, "4-7 cores"),
        (16, "8-15 cores"),
        (32, "16-31 cores"),
        (64, ">= 32 cores"),
    ] {
        rows.push(measure(
            &format!("fusebox ({s} stripes: {machines})"),
            n,
            || {
                Breaker::with_stripes("breaker", Config::default(), ClockSource::Monotonic, s)
                    .unwrap()
            },
        ));
    }

    println!("bytes per breaker, N = {n}, default configs");
    println!(
        "{:<36} {:>7} {:>9} {:>9} {:>7} {:>9}",
        "library", "handle", "heap", "bytes", "blocks", "build ns"
    );
    for r in &rows {
        println!(
            "{:<36} {:>7} {:>9.1} {:>9.1} {:>7.2} {:>9.0}",
            r.name,
            r.handle,
            r.heap,
            r.handle as f64 + r.heap,
            r.blocks,
            r.build_ns
        );
    }
}
