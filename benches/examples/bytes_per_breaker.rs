//! Memory per breaker, by a counting global allocator:
//!
//! `cargo run --release -p fusebox-benches --example bytes_per_breaker [N [keyed|shared]]`
//!
//! Creates N (default 10^4) breakers of each library with its default
//! config into a `Vec` reserved beforehand, and reports
//! (heap bytes allocated and not freed) / N + `size_of` the handle the `Vec`
//! holds, the heap blocks each breaker keeps, and the construction time.
//! Requested sizes: the allocator's own headers and rounding are not
//! counted. One breaker of each library is made (and kept) first, so that
//! lazily initialised statics are not counted.
//!
//! fusebox's footprint depends on how many threads have counted on a
//! breaker: each has a counter stripe of its own, made when it first
//! counts (the "4 threads" row spawns 4 threads per breaker, so its build
//! time is mostly thread spawning).
//!
//! `shared`: a shared-memory registry file (`fusebox::shm`) of capacity N
//! on `/dev/shm` (else the temp folder), N breakers of the default config
//! made in it, then one call on each from this thread; the file's size
//! and the bytes of it the system holds (it is sparse: blocks never
//! written take none), per breaker, at 4 and 64 stripes.

use failsafe::CircuitBreaker;
use fusebox::{Breaker, ClockSource, Config, KeyedBreakers};
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

/// A bounded keyed set of capacity N filled with N idle breakers, keyed
/// `host-<i>.example:443` (the keys' own copies in the set, its table and
/// the breakers, per key; the `String`s looked up are made beforehand).
fn keyed(n: usize) -> Row {
    let keys: Vec<String> = (0..n).map(|i| format!("host-{i}.example:443")).collect();
    let (live0, blocks0) = (LIVE.load(Relaxed), BLOCKS.load(Relaxed));
    let t = Instant::now();
    let set = KeyedBreakers::new("hosts", n, Config::default(), ClockSource::Monotonic).unwrap();
    for k in &keys {
        set.get_or_create(k).unwrap();
    }
    let build = t.elapsed();
    let (live1, blocks1) = (LIVE.load(Relaxed), BLOCKS.load(Relaxed));
    assert_eq!(set.len(), n);
    Row {
        name: "fusebox KeyedBreakers, idle, per key".to_string(),
        handle: 0,
        heap: (live1 - live0) as f64 / n as f64,
        blocks: (blocks1 - blocks0) as f64 / n as f64,
        build_ns: build.as_nanos() as f64 / n as f64,
    }
}

/// A registry file of capacity `n` with `stripes` stripes: its size and
/// the bytes the system holds for it, per breaker, after `n` breakers are
/// made and after one call on each.
fn shared(n: usize, stripes: usize) {
    use std::os::unix::fs::MetadataExt;
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("fusebox-bytes-{}-{stripes}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let reg = fusebox::shm::SharedRegistry::builder()
        .capacity(n)
        .stripes(stripes)
        .open(&path)
        .expect("a registry file");
    let held = || std::fs::metadata(&path).unwrap().blocks() as f64 * 512.0 / n as f64;
    let names: Vec<String> = (0..n).map(|i| format!("host-{i}.example:443")).collect();
    let made: Vec<_> = names
        .iter()
        .map(|k| reg.get_or_create(k, &Config::default()).unwrap())
        .collect();
    let idle = held();
    for b in &made {
        let _ = b.call(|| Ok::<(), ()>(()));
    }
    let called = held();
    let size = std::fs::metadata(&path).unwrap().len() as f64 / n as f64;
    println!(
        "shared file, N = {n}, {stripes} stripes: file size {size:.0} bytes per breaker; \
         held {idle:.0} per idle breaker, {called:.0} after 1 call each \
         ({:.1} MiB in all)",
        called * n as f64 / (1 << 20) as f64
    );
    drop((made, reg));
    let _ = std::fs::remove_file(&path);
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N: a number of breakers"))
        .unwrap_or(10_000);
    if std::env::args().nth(2).as_deref() == Some("shared") {
        for stripes in [4, 64] {
            shared(n, stripes);
        }
        return;
    }
    if std::env::args().nth(2).as_deref() == Some("keyed") {
        // The keyed set alone (10^6 keys in seconds; the 4-thread row
        // spawns 4 threads per breaker).
        let r = keyed(n);
        println!(
            "{}: {:.1} bytes, {:.2} blocks per key",
            r.name, r.heap, r.blocks
        );
        return;
    }
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

    // fusebox makes a breaker's counter stripes when threads first count
    // on it (one per thread, up to its stripe count): idle, after one call
    // from this thread, after one call from each of 4 threads.
    let call = |b: &Breaker| {
        let _ = b.call(|| Ok::<(), ()>(()));
    };
    let mut rows = vec![
        measure("fusebox, idle", n, || {
            Breaker::new(Config::default()).unwrap()
        }),
        measure("fusebox, after 1 call", n, || {
            let b = Breaker::new(Config::default()).unwrap();
            call(&b);
            b
        }),
        measure("fusebox, called by 4 threads", n, || {
            let b = Breaker::new(Config::default()).unwrap();
            // All four alive at once, so that each holds its own slot.
            let all = std::sync::Barrier::new(4);
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        all.wait();
                        call(&b);
                        all.wait();
                    });
                }
            });
            b
        }),
        measure("recloser, after 1 call", n, || {
            let r = recloser::Recloser::default();
            let _ = r.call(|| Ok::<(), ()>(()));
            r
        }),
        measure("failsafe, after 1 call", n, || {
            let f = failsafe::Config::new().build();
            let _ = f.call(|| Ok::<(), ()>(()));
            f
        }),
    ];
    // The stripe count (by default 64) only sizes the directory's
    // extension, made when a thread past slot 16 first counts.
    rows.push(measure("fusebox (16 stripes), idle", n, || {
        Breaker::with_stripes("breaker", Config::default(), ClockSource::Monotonic, 16).unwrap()
    }));

    // A count window of the last 100 or 1,000 calls, idle (its slots are
    // allocated with the breaker).
    for size in [100, 1000] {
        rows.push(measure(
            &format!("fusebox, count window {size}, idle"),
            n,
            || Breaker::new(Config::builder().count_window(size).build().unwrap()).unwrap(),
        ));
    }

    rows.push(keyed(n));

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
