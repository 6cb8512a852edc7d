//! Stress: many threads × 1,000,000 calls on one breaker; every call is
//! accounted for exactly (no lost update in the striped counters, the bucket
//! resets, or the rejection counters).
#![cfg(not(loom))]

use fusebox::{Breaker, Config, ManualClock, Outcome};
use std::sync::Arc;
use std::time::Duration;

#[derive(Default, Debug, PartialEq, Eq, Clone, Copy)]
struct Tally {
    successes: u64,
    failures: u64,
    ignored: u64,
    rejected: u64,
}

fn hammer(threads: usize, calls: u64, config: Config, advance_every: Option<u64>) {
    let clock = Arc::new(ManualClock::new());
    let b = Arc::new(Breaker::with_clock(config, clock.clone()).unwrap());
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let (b, clock) = (b.clone(), clock.clone());
            std::thread::spawn(move || {
                let mut tally = Tally::default();
                for i in 0..calls {
                    if let Some(n) = advance_every {
                        if t == 0 && i % n == 0 {
                            clock.advance(Duration::from_millis(700));
                        }
                    }
                    match b.acquire_raw() {
                        Ok(p) => {
                            let o = match (i + t as u64) % 7 {
                                0 => Outcome::Failure,
                                1 => Outcome::Ignored,
                                _ => Outcome::Success,
                            };
                            b.record_raw(p, o, None);
                            match o {
                                Outcome::Success => tally.successes += 1,
                                Outcome::Failure => tally.failures += 1,
                                Outcome::Ignored => tally.ignored += 1,
                            }
                        }
                        Err(_) => tally.rejected += 1,
                    }
                }
                tally
            })
        })
        .collect();
    let mut sum = Tally::default();
    for h in hs {
        let t = h.join().unwrap();
        sum.successes += t.successes;
        sum.failures += t.failures;
        sum.ignored += t.ignored;
        sum.rejected += t.rejected;
    }
    let m = b.metrics();
    let got = Tally {
        successes: m.successes,
        failures: m.failures,
        ignored: m.ignored,
        rejected: m.rejected,
    };
    assert_eq!(got, sum);
    assert_eq!(
        sum.successes + sum.failures + sum.ignored + sum.rejected,
        threads as u64 * calls
    );
}

fn never_trips() -> Config {
    Config::builder()
        .failure_rate_threshold(1.0)
        .consecutive_failures(None)
        .build()
        .unwrap()
}

#[test]
fn two_threads_million_calls_exact() {
    hammer(2, 1_000_000, never_trips(), None);
}

#[test]
fn eight_threads_million_calls_exact() {
    hammer(8, 1_000_000, never_trips(), None);
}

#[test]
fn eight_threads_with_trips_rollovers_and_rejections_exact() {
    // 1 in 7 calls fails and 3 in a row trip, the clock moves 700 ms every
    // 2,000 calls of thread 0: buckets roll over under the writers, the
    // breaker opens, probes and closes again, and rejections are counted.
    let cfg = Config::builder()
        .time_window(Duration::from_secs(2), 4)
        .failure_rate_threshold(0.1)
        .min_calls(20)
        .open_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    hammer(8, 1_000_000, cfg, Some(2_000));
}

#[test]
fn sixty_four_threads_exact_across_owned_and_shared_stripes() {
    // More threads than a breaker has stripes (16 by default on a small
    // machine): 14 own a stripe on 2 cores, made as each first counts, and
    // the rest make and share the last ones (one per core) with CAS.
    // 64 × 20,000 = 1.28 million calls
    // (fewer per thread than above, so the suite stays short in debug
    // builds).
    hammer(64, 20_000, never_trips(), None);
}

/// A count window of `size` under `threads` writers: `calls` each (10^6 in
/// all) that lap it over and over (a reader racing them never sees more than the
/// window), then, after all have joined, `size` more calls in parallel
/// whose failures are known. The window must then hold exactly those: no
/// call lost, none of the first phase left behind, none overwritten by a
/// call it lapped.
fn count_window_exact(threads: usize, calls: u64, size: u32) {
    assert_eq!(size as usize % threads, 0);
    let cfg = Config::builder()
        .count_window(size)
        .failure_rate_threshold(1.0)
        .consecutive_failures(None)
        .build()
        .unwrap();
    let b = Arc::new(Breaker::with_clock(cfg, Arc::new(ManualClock::new())).unwrap());
    let run = |phase: u64, per: u64, fail_every: u64| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let b = b.clone();
                std::thread::spawn(move || {
                    let mut failures = 0;
                    for i in 0..per {
                        let p = b.acquire_raw().expect("never trips");
                        let fail = (i + t as u64 + phase) % fail_every == 0;
                        b.record_raw(
                            p,
                            if fail {
                                Outcome::Failure
                            } else {
                                Outcome::Success
                            },
                            None,
                        );
                        failures += u64::from(fail);
                    }
                    failures
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    };
    // A reader racing the first phase: never more than the window.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (b, stop) = (b.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let c = b.window_counts();
                assert!(c.calls <= u64::from(size) && c.failures <= c.calls, "{c:?}");
                reads += 1;
            }
            reads
        })
    };
    let first = run(0, calls, 3);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.join().unwrap();
    let per = u64::from(size) / threads as u64;
    let last = run(1, per, 5);
    let c = b.window_counts();
    assert_eq!(
        (c.calls, c.failures, c.slow),
        (u64::from(size), last, 0),
        "the window is not the last {size} calls"
    );
    let m = b.metrics();
    assert_eq!(
        (m.successes + m.failures, m.failures),
        (threads as u64 * (calls + per), first + last)
    );
}

#[test]
fn eight_threads_count_window_of_100_exact() {
    count_window_exact(8, 125_000, 96);
}

#[test]
fn eight_threads_count_window_of_1000_exact() {
    count_window_exact(8, 125_000, 1000);
}

#[test]
fn sixty_four_threads_count_window_exact() {
    count_window_exact(64, 16_000, 128);
}
