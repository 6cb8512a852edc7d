//! Part 3: naive retries multiply the slow dependency's load; the retry
//! budget keeps it near the traffic, and serves as many orders.

use fusebox_demo::retry_storm::{run_both, summary, StormParams};

#[test]
fn the_budget_stops_the_retry_storm_and_serves_as_many() {
    let p = StormParams::default();
    let (naive, budget) = run_both(&p);
    assert_eq!(naive.orders, budget.orders, "the same traffic");
    assert_eq!(naive.orders_in_outage, budget.orders_in_outage);
    // Naive: nearly every order makes all its attempts while it is slow.
    assert!(naive.load_in_outage() >= 2.5, "{naive:?}");
    assert_eq!(naive.budget_refusals, 0);
    // The budget: about 1.2x (20 % plus the reserve and what was banked
    // before the outage).
    assert!(budget.load_in_outage() <= 1.3, "{budget:?}");
    assert!(
        budget.load_in_outage() > 1.1,
        "retries still happen: {budget:?}"
    );
    assert!(budget.budget_refusals > 0);
    // As many orders served: the dependency completes what it can either way.
    assert_eq!(naive.served_in_outage, budget.served_in_outage);
    assert_eq!(naive.served, budget.served);
    // What it can is 20 calls a second for 60 s.
    assert_eq!(naive.served_in_outage, 20 * 60);
    // Before and after the outage, no retries at all.
    let outside = |r: &fusebox_demo::retry_storm::StormReport| {
        (
            r.attempts - r.attempts_in_outage,
            r.orders - r.orders_in_outage,
        )
    };
    assert_eq!(outside(&naive).0, outside(&naive).1);
    assert_eq!(outside(&budget).0, outside(&budget).1);
    assert!(summary(&naive, &budget).contains("load on the dependency"));
}

#[test]
fn the_storm_is_deterministic() {
    let p = StormParams::default();
    assert_eq!(run_both(&p), run_both(&p));
}
