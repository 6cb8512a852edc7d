//! The Rust twin of `examples/bench.c`: the same acquire + record loop on
//! the engine directly (no C ABI), same config, same clock, same rounds.
//!
//! cargo run --release -p fusebox-ffi --example bench -- [calls_per_thread] [threads] [monotonic|manual]

use fusebox_core::{Breaker, ClockSource, Config, ManualClock, Outcome};
use std::sync::Arc;
use std::time::Instant;

/// Rounds; the best one is reported (the machine may be shared).
const ROUNDS: usize = 15;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let calls: u64 = args.get(1).map_or(2_000_000, |s| s.parse().expect("calls"));
    let threads: usize = args.get(2).map_or(1, |s| s.parse().expect("threads"));
    let manual = args.get(3).is_some_and(|s| s == "manual");
    let clock: ClockSource = if manual {
        Arc::new(ManualClock::new()).into()
    } else {
        ClockSource::Monotonic
    };
    let breaker = Breaker::with_clock(Config::default(), clock).expect("config");
    let mut best = f64::MAX;
    for round in 0..ROUNDS {
        let t0 = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..calls {
                        let p = breaker.acquire_raw().expect("admitted");
                        breaker.record_raw(p, Outcome::Success, None);
                    }
                });
            }
        });
        let ns = t0.elapsed().as_nanos() as f64 / calls as f64;
        best = best.min(ns);
        println!("RS  round {round}: {ns:.2} ns/call");
    }
    println!(
        "RS  acquire+record, {threads} thread(s), {} clock: best {best:.2} ns/call ({} successes)",
        if manual { "manual" } else { "monotonic" },
        breaker.metrics().successes
    );
}
