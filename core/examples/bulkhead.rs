//! A breaker and a bulkhead together: the bulkhead bounds the calls in
//! flight to a slow dependency (a breaker only sees calls that finished),
//! the breaker stops calling it once enough of them have failed.
//!
//! `cargo run -p fusebox --example bulkhead`

use fusebox::bulkhead::{Bulkhead, BulkheadError};
use fusebox::{Breaker, Config, ManualClock};
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = Arc::new(ManualClock::new());
    let breaker = Arc::new(Breaker::named(
        "db",
        Config::builder().consecutive_failures(Some(3)).build()?,
        clock,
    )?);
    let db = Bulkhead::builder()
        .name("db")
        .max_concurrent(3)
        .breaker(breaker.clone())
        .build()?;

    // The database hangs: three calls are stuck in flight, and a fourth
    // is refused at once instead of joining them.
    let stuck: Vec<_> = (0..3).map(|_| db.try_acquire()).collect::<Result<_, _>>()?;
    println!("in flight: {} of {}", db.in_flight(), db.limit());
    match db.try_acquire() {
        Err(BulkheadError::Full(full)) => println!("4th call: {full}"),
        other => println!("4th call: unexpected {other:?}"),
    }

    // The stuck calls time out: three failures trip the breaker.
    for permit in stuck {
        permit.failure();
    }
    println!("breaker: {}", breaker.state().as_str());
    match db.try_acquire() {
        Err(BulkheadError::Breaker(rejected)) => println!("next call: {rejected}"),
        other => println!("next call: unexpected {other:?}"),
    }

    let m = db.metrics();
    println!(
        "bulkhead {}: limit {}, in flight {}, peak {}, refused when full {}",
        m.name, m.limit, m.in_flight, m.peak_in_flight, m.rejected
    );
    Ok(())
}
