// Instruction counts under callgrind: `valgrind --tool=callgrind target/release/examples/icount <which> <n>`
// (`shm`, `shm_open`: the closed call and the rejection on a breaker of a shared-memory file;
// `fusebox_count`: the closed call with a count window of 100; `fusebox_slot`: the closed call
// from the thread in slot FUSEBOX_SLOT, while threads hold the slots below it)
//
// The `many_*` modes make 10^5 breakers (or FUSEBOX_MANY) of one library (each called once),
// then make <n> calls, each to a pseudo-random one: under
// `valgrind --tool=cachegrind --cache-sim=yes`, the cache misses per call
// (the difference between two values of <n>, over their difference) count
// the 64-byte lines a call touches that were not in cache, which at 10^5
// breakers is nearly every line of the breaker it goes to. `FUSEBOX_BUCKET=k`
// sets `many_fusebox`'s clock in the window's k-th bucket (default 0): which
// of a stripe's lines a success writes depends on it.
use failsafe::CircuitBreaker;
use fusebox::{Breaker, Config, RetryBudget, RetryBudgetConfig};
use std::time::Duration;

/// Breakers in the `many_*` modes: 10^5, or `FUSEBOX_MANY`.
fn many_count() -> usize {
    std::env::var("FUSEBOX_MANY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// `n` calls of `call` on pseudo-random members of `items` (xorshift64 and
/// a multiply-shift range reduction, as `benches/many_breakers.rs`).
fn many<T>(items: &[T], n: u64, call: impl Fn(&T)) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for t in items {
        call(t);
    }
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = ((u128::from(x) * items.len() as u128) >> 64) as usize;
        call(&items[i]);
    }
}
fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let n: u64 = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1_000_000);
    match which.as_str() {
        "fusebox" => {
            let b = Breaker::new(Config::default()).unwrap();
            for _ in 0..n {
                closed_call(&b);
            }
        }
        // The closed call from thread slot k (`FUSEBOX_SLOT`, default 0):
        // k threads count once and hold slots 0..k (parked) while this
        // thread, the next, makes the calls. Of the default 64 stripes,
        // slots 0..2 find their stripe on the handle, 3..6 on the control
        // line, 7..16 in the rest, 17..61 in the directory's extension; on 2
        // cores, the threads from slot 62 on share 2 stripes by CAS.
        "fusebox_slot" => {
            let k: usize = std::env::var("FUSEBOX_SLOT").map_or(0, |v| v.parse().unwrap());
            let b = Breaker::new(Config::default()).unwrap();
            let (ready, done) = (
                std::sync::Barrier::new(k + 1),
                std::sync::Barrier::new(k + 1),
            );
            std::thread::scope(|s| {
                for _ in 0..k {
                    s.spawn(|| {
                        closed_call(&b);
                        ready.wait();
                        done.wait();
                    });
                }
                ready.wait();
                for _ in 0..n {
                    closed_call(&b);
                }
                done.wait();
            });
        }
        // The closed call with a count window of the last 100 calls.
        "fusebox_count" => {
            let cfg = Config::builder().count_window(100).build().unwrap();
            let b = Breaker::new(cfg).unwrap();
            for _ in 0..n {
                closed_call(&b);
            }
        }
        // Through Breaker::call (the `tracing` feature's span is here).
        "fusebox_call" => {
            let b = Breaker::new(Config::default()).unwrap();
            for _ in 0..n {
                protected_call(&b);
            }
        }
        "fusebox_inline" => {
            let b = Breaker::new(Config::default()).unwrap();
            let f = || {
                if let Ok(p) = b.try_acquire() {
                    p.success();
                }
            };
            let t = std::time::Instant::now();
            for _ in 0..n {
                f();
            }
            eprintln!("{:.2} ns/call", t.elapsed().as_nanos() as f64 / n as f64);
        }
        "fusebox_open" => {
            let b = Breaker::new(Config::default()).unwrap();
            for _ in 0..5 {
                b.try_acquire().unwrap().failure();
            }
            for _ in 0..n {
                let _ = std::hint::black_box(open_call(&b));
            }
        }
        // A retry budget, as in the `budget` bench: a deposit, a deposit
        // and a withdrawal (ratio 1), or a withdrawal with a deposit every
        // tenth (ratio 10): every withdrawal is allowed.
        "budget_deposit" | "budget_both" | "budget_withdraw" => {
            let ratio = if which == "budget_withdraw" {
                10.0
            } else {
                1.0
            };
            let config = RetryBudgetConfig {
                ratio,
                ..Default::default()
            };
            let budget = RetryBudget::new(config).unwrap();
            for i in 0..n {
                let deposit = which != "budget_withdraw" || i % 10 == 0;
                budget_call(&budget, deposit, which != "budget_deposit");
            }
        }
        // Withdrawals alone, from a reserve of 10^7 retries (10^6 a
        // second over 10 s): every one is allowed, none deposits.
        "budget_withdraw_only" => {
            let config = RetryBudgetConfig {
                ratio: 0.0,
                min_per_sec: 1_000_000,
                ..Default::default()
            };
            let budget = RetryBudget::new(config).unwrap();
            for _ in 0..n.min(10_000_000) {
                budget_call(&budget, false, true);
            }
        }
        "recloser" => {
            let rc = recloser::Recloser::custom()
                .closed_len(100)
                .open_wait(Duration::from_secs(3600))
                .build();
            for _ in 0..n {
                let _ = std::hint::black_box(rc.call(|| Ok::<(), ()>(())));
            }
        }
        "recloser_open" => {
            let rc = recloser::Recloser::custom()
                .closed_len(100)
                .open_wait(Duration::from_secs(3600))
                .build();
            for _ in 0..200 {
                let _ = rc.call(|| Err::<(), ()>(()));
            }
            for _ in 0..n {
                let _ = std::hint::black_box(rc.call(|| Ok::<(), ()>(())));
            }
        }
        "many_fusebox" => {
            // One hand-driven clock for all (it never moves): the system
            // clock's upkeep thread would add instructions and misses in
            // proportion to the run's wall time, which valgrind stretches.
            let clock = std::sync::Arc::new(fusebox::ManualClock::new());
            let bucket: u32 = std::env::var("FUSEBOX_BUCKET")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if let fusebox::WindowConfig::Time { duration, buckets } = Config::default().window {
                clock.advance(duration / buckets * bucket);
            }
            let v: Vec<Breaker> = (0..many_count())
                .map(|_| Breaker::with_clock(Config::default(), clock.clone()).unwrap())
                .collect();
            many(&v, n, |b| {
                let _ = std::hint::black_box(b.call(|| Ok::<(), ()>(())));
            });
        }
        "many_recloser" => {
            let v: Vec<recloser::Recloser> = (0..many_count())
                .map(|_| recloser::Recloser::default())
                .collect();
            many(&v, n, |b| {
                let _ = std::hint::black_box(b.call(|| Ok::<(), ()>(())));
            });
        }
        "many_failsafe" => {
            let v: Vec<_> = (0..many_count())
                .map(|_| failsafe::Config::new().build())
                .collect();
            many(&v, n, |b| {
                let _ = std::hint::black_box(b.call(|| Ok::<(), ()>(())));
            });
        }
        // The same calls on a breaker of a shared-memory registry file.
        "shm" | "shm_open" => {
            let path = std::env::temp_dir().join(format!("fusebox-icount-{}", std::process::id()));
            let _ = std::fs::remove_file(&path);
            let reg = fusebox::shm::SharedRegistry::open(&path).unwrap();
            let b = reg.get_or_create("b", &Config::default()).unwrap();
            let _ = std::fs::remove_file(&path);
            if which == "shm" {
                for _ in 0..n {
                    closed_call(&b);
                }
            } else {
                for _ in 0..5 {
                    b.try_acquire().unwrap().failure();
                }
                for _ in 0..n {
                    let _ = std::hint::black_box(open_call(&b));
                }
            }
        }
        _ => {}
    }
}

/// One closed-path call, out of line so that its instructions can be read
/// (`objdump -d --no-show-raw-insn target/release/examples/icount | grep -A80 closed_call`).
#[inline(never)]
fn closed_call(b: &Breaker) {
    if let Ok(p) = b.try_acquire() {
        p.success();
    }
}

/// A budget's deposit and/or withdrawal, out of line (see `closed_call`).
#[inline(never)]
fn budget_call(b: &RetryBudget, deposit: bool, withdraw: bool) {
    if deposit {
        b.deposit();
    }
    if withdraw {
        std::hint::black_box(b.try_withdraw());
    }
}

/// One call through `Breaker::call`, out of line (see `closed_call`).
#[inline(never)]
fn protected_call(b: &Breaker) {
    let _ = std::hint::black_box(b.call(|| Ok::<(), ()>(())));
}

/// A rejected call, out of line (see `closed_call`).
#[inline(never)]
fn open_call(b: &Breaker) -> bool {
    b.try_acquire().is_err()
}
