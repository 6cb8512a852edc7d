//! Quick start: a breaker, calls through it, a trip, fail-fast, recovery.
//!
//! `cargo run -p fusebox --example quick_start`
//!
//! Time is a `ManualClock` moved by hand, so the example runs in
//! microseconds; in a service, use `Breaker::new` (the system clock).

use fusebox::{Breaker, CallError, Config, ManualClock};
use std::sync::Arc;
use std::time::Duration;

/// A dependency that fails while `down` is true.
fn fetch_inventory(down: bool) -> Result<u32, String> {
    if down {
        Err("connection refused".into())
    } else {
        Ok(42)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = Arc::new(ManualClock::new());
    let breaker = Breaker::with_clock(
        Config::builder()
            .failure_rate_threshold(0.5) // 50 % of the window...
            .min_calls(10) // ...once 10 calls are in it
            .consecutive_failures(Some(5)) // or 5 failures in a row
            .time_window(Duration::from_secs(10), 10)
            .open_timeout(Duration::from_secs(30))
            .half_open_max_calls(1)
            .success_threshold(1)
            .build()?,
        clock.clone(),
    )?;

    let call = |down: bool| match breaker.call(|| fetch_inventory(down)) {
        Ok(stock) => println!("[{:>9}] stock: {stock}", breaker.state().as_str()),
        Err(CallError::Rejected(r)) => println!("[{:>9}] fail fast: {r}", breaker.state().as_str()),
        Err(CallError::Failed(e)) => println!("[{:>9}] failed: {e}", breaker.state().as_str()),
    };

    call(false);
    for _ in 0..5 {
        call(true); // the fifth failure in a row trips the breaker
    }
    call(false); // rejected without calling the dependency

    clock.advance(Duration::from_secs(30)); // the open timeout passes
    call(false); // a half-open probe; it succeeds and closes the breaker
    call(false);

    let m = breaker.metrics();
    println!(
        "successes {}, failures {}, rejected {}, state changes {}, now {}",
        m.successes,
        m.failures,
        m.rejected,
        m.state_changes,
        m.state.as_str()
    );
    Ok(())
}
