//! `cargo run --release -p fusebox-demo`

use fusebox_demo::{cascade, page, report, retry_storm, usage};
use std::time::Instant;

fn main() {
    let wall = Instant::now();
    println!("fusebox {} demo", fusebox::VERSION);
    println!();
    println!("Part 1: a breaker in front of a dependency that fails 70 % of its calls");
    println!("(failure rate 0.5 over at least 10 calls, or 5 failures in a row; open 10 s; one call a second)");
    let (text, _) = usage::run(40);
    print!("{text}");
    println!();

    let p = cascade::Params::full();
    println!("Part 2: a cascading failure");
    println!("{}", report::scenario(&p));
    let (without, with) = cascade::run_both(&p);
    let total = p.warmup + p.outage + p.after;
    println!(
        "Time is simulated, not slept: a discrete-event simulation moves fusebox's ManualClock \
         from event to event, so these {} s of service (T{:+} s to T+{} s) run in a moment.",
        total.as_secs(),
        -(p.warmup.as_secs() as i64),
        (p.outage + p.after).as_secs()
    );
    println!();
    println!("Run 1, without breakers: plain calls that wait as long as the database takes.");
    print!("{}", report::timeline(&without));
    println!();
    println!(
        "Run 2, with fusebox: an adaptive timeout (P99 x 2) and a breaker per dependency; \
         cached inventory as the fallback; inventory as an active-passive failover group \
         (primary database, standby replica) with health checks every {} s and failback \
         after {} s of stable health; a bulkhead lets inventory calls hold at most {} workers.",
        p.health_check_every.as_secs(),
        p.stabilization.as_secs(),
        p.bulkhead_limit
    );
    print!("{}", report::timeline(&with));
    println!();
    println!("Summary");
    print!("{}", report::summary(&without, &with));
    println!();
    println!(
        "Run 3, a bulkhead alone: plain calls, but at most {} inventory calls in flight \
         (no timeout, no breaker); past that, cached inventory.",
        p.bulkhead_limit
    );
    let bulkhead_only = cascade::run_bulkhead_only(&p);
    print!("{}", report::timeline(&bulkhead_only));
    println!();
    print!("{}", report::bulkhead_summary(&without, &bulkhead_only));
    println!();
    let sp = retry_storm::StormParams::default();
    println!("Part 3: retries without a retry storm");
    println!(
        "{} orders/s call a dependency through a retry policy of {} attempts. At T+0 it slows \
         to a crawl: for {} s it completes {} calls/s and every other call times out. \
         The breaker is held closed, so the runs compare retries alone. Naive retries: every \
         failed attempt is retried. With the budget: retries up to {:.0} % of requests plus {} \
         a second, over 10 s, shared by all orders.",
        sp.orders_per_s,
        sp.attempts,
        sp.outage.as_secs(),
        sp.capacity_in_outage,
        sp.ratio * 100.0,
        sp.min_per_sec
    );
    let (naive, budgeted) = retry_storm::run_both(&sp);
    print!("{}", retry_storm::summary(&naive, &budgeted));
    println!();
    let retries = page::Retries {
        params: &sp,
        naive: &naive,
        budget: &budgeted,
    };
    let path = page::default_path();
    match page::write(&path, &page::with_retries(&p, &without, &with, &retries)) {
        Ok(()) => {
            let shown = std::env::current_dir()
                .ok()
                .and_then(|d| path.strip_prefix(d).ok().map(|p| p.to_path_buf()))
                .unwrap_or_else(|| path.clone());
            println!("Charts of parts 2 and 3: {}", shown.display());
        }
        Err(e) => println!("Could not write the charts to {}: {e}", path.display()),
    }
    println!();
    println!(
        "The runs took {:.2} s of wall time.",
        wall.elapsed().as_secs_f64()
    );
}
