//! The admin endpoint beside busy breakers, for benches/admin_load.sh: N
//! breakers called in a loop by THREADS threads (every 50th call a
//! failure), the endpoint serving them. A line `measure SECS` on stdin
//! measures the threads for SECS seconds and prints one line:
//!
//! ```text
//! calls_per_s=41234567 cpu_ns_per_call=23.4 wall_ns_per_call=24.2
//! ```
//!
//! `cpu_ns_per_call`: the threads' own CPU time (`CLOCK_THREAD_CPUTIME_ID`)
//! per call: the hot path's cost, not counting time the threads waited for
//! a core. `wall_ns_per_call`: wall time × threads per call (counts it).
//! EOF or `quit` ends it.
//!
//! `cargo run --release -p fusebox-admin --example load [N] [THREADS] [ADDR]`
//! (defaults: 100, 1, 127.0.0.1:0).

use fusebox::Registry;
use fusebox_admin::{serve, AdminConfig};
use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// This thread's CPU time, ns.
#[cfg(unix)]
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration;
    // CLOCK_THREAD_CPUTIME_ID is supported on every unix this builds for.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Elsewhere: wall time (the CPU column then equals the wall column).
#[cfg(not(unix))]
fn thread_cpu_ns() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// What a hammering thread has done so far.
#[derive(Default)]
struct Work {
    calls: AtomicU64,
    cpu_ns: AtomicU64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100);
    let threads: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let mut config = AdminConfig::loopback(0);
    if let Some(addr) = args.next() {
        config.addr = addr.parse()?;
    }

    let registry = Arc::new(Registry::default());
    let breakers = (0..n)
        .map(|i| registry.get_or_create(&format!("service-{i:03}:call")))
        .collect::<Result<Vec<_>, _>>()?;
    let breakers = Arc::new(breakers);
    let work: Arc<Vec<Work>> = Arc::new((0..threads).map(|_| Work::default()).collect());
    for t in 0..threads {
        let (breakers, work) = (breakers.clone(), work.clone());
        std::thread::spawn(move || {
            let mine = &work[t];
            let mut i = t;
            loop {
                let start = thread_cpu_ns();
                for _ in 0..10_000 {
                    let fails = i % 50 == 0;
                    let _ =
                        breakers[i % breakers.len()].call(|| if fails { Err(()) } else { Ok(()) });
                    i += 1;
                }
                mine.cpu_ns
                    .fetch_add(thread_cpu_ns() - start, Ordering::Relaxed);
                mine.calls.fetch_add(10_000, Ordering::Relaxed);
            }
        });
    }

    let admin = serve(registry, config)?;
    println!("fusebox admin at {}", admin.url());
    let totals = || {
        work.iter().fold((0, 0), |(c, n), w| {
            (
                c + w.calls.load(Ordering::Relaxed),
                n + w.cpu_ns.load(Ordering::Relaxed),
            )
        })
    };
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut words = line.split_whitespace();
        match (words.next(), words.next().map(str::parse::<f64>)) {
            (Some("measure"), Some(Ok(secs))) => {
                let (calls0, cpu0) = totals();
                let start = Instant::now();
                std::thread::sleep(Duration::from_secs_f64(secs));
                let (calls1, cpu1) = totals();
                let wall = start.elapsed().as_nanos() as f64 * threads as f64;
                let calls = (calls1 - calls0).max(1) as f64;
                println!(
                    "calls_per_s={:.0} cpu_ns_per_call={:.1} wall_ns_per_call={:.1}",
                    calls / start.elapsed().as_secs_f64(),
                    (cpu1 - cpu0) as f64 / calls,
                    wall / calls
                );
            }
            (Some("quit"), _) => break,
            _ => eprintln!("load: unknown command {line:?} (measure SECS | quit)"),
        }
    }
    admin.stop();
    Ok(())
}
