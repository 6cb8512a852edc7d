// Instruction counts under callgrind: `valgrind --tool=callgrind target/release/examples/icount <which> <n>`
use fusebox::{Breaker, Config, RetryBudget, RetryBudgetConfig};
use std::time::Duration;
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

/// One rejection, out of line (see `closed_call`).
#[inline(never)]
fn open_call(b: &Breaker) -> bool {
    b.try_acquire().is_err()
}
