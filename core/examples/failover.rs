//! Active-passive failover between two endpoints: the primary fails, its
//! breaker opens and traffic moves to the standby.
//!
//! `cargo run -p fusebox --example failover`

use fusebox::failover::{Endpoint, FailoverGroup, GroupCallError, Mode};
use fusebox::{Config, ManualClock};
use std::sync::Arc;
use std::time::Duration;

/// A stand-in for a query against the database at `addr`; the primary is down.
fn query(addr: &str) -> Result<String, String> {
    if addr.ends_with(".1:5432") {
        Err(format!("{addr}: timed out"))
    } else {
        Ok(format!("{addr}: 3 rows"))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let group = FailoverGroup::builder("orders-db")
        .mode(Mode::ActivePassive)
        .clock(Arc::new(ManualClock::new()))
        .breaker_config(Config::builder().consecutive_failures(Some(3)).build()?)
        .stabilization(Duration::from_secs(300))
        .endpoint(Endpoint::new("primary", "10.0.0.1:5432"))
        .endpoint(Endpoint::new("standby", "10.0.0.2:5432"))
        .build()?;

    for i in 1..=6 {
        match group.call(|addr| query(addr)) {
            Ok(rows) => println!("call {i}: ok    {rows}"),
            Err(GroupCallError::Failed(e)) => println!("call {i}: error {e}"),
            Err(GroupCallError::Unavailable(u)) => println!("call {i}: {u}"),
        }
    }

    let m = group.metrics();
    println!(
        "failovers: {}, epoch (fencing token): {}",
        m.failovers, m.epoch
    );
    for e in &m.endpoints {
        println!(
            "  {:<8} breaker {:<9} healthy {}",
            e.name,
            e.state.as_str(),
            e.healthy
        );
    }
    Ok(())
}
