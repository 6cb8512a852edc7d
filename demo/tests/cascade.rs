//! The cascade simulation, scaled down: fusebox keeps the order service up.

use fusebox_demo::cascade::{run_both, Params};
use fusebox_demo::{report, usage};

#[test]
fn fusebox_serves_more_with_fewer_workers_busy() {
    let p = Params::small();
    let (without, with) = run_both(&p);
    assert_eq!(without.arrived, with.arrived, "the same traffic");
    assert!(
        with.served > without.served,
        "{} vs {}",
        with.served,
        without.served
    );
    assert!(
        with.peak_busy < without.peak_busy,
        "{} vs {}",
        with.peak_busy,
        without.peak_busy
    );
    // Without breakers the pool is exhausted and the outage costs orders.
    assert_eq!(without.peak_busy, p.workers);
    assert!(without.errors() > 0);
    assert!(without.served_in_outage * 2 < without.arrived_in_outage);
    // With fusebox the standby takes over, then the primary gets its traffic
    // back once it has been healthy for the stabilisation period.
    assert_eq!((with.path.failovers, with.path.failbacks), (1, 1));
    assert!(with.path.by_standby > 0);
    assert!(
        with.degraded > 0,
        "calls in flight when it turned slow fell back to the cache"
    );
    assert!(with.served_in_outage * 10 > with.arrived_in_outage * 9);
    let order: Vec<&str> = with
        .timeline
        .iter()
        .filter_map(|(_, s)| {
            [
                "failover",
                "failback",
                "closed -> open",
                "half_open -> closed",
            ]
            .into_iter()
            .find(|k| s.contains(k))
        })
        .collect();
    assert_eq!(
        order,
        [
            "closed -> open",
            "failover",
            "half_open -> closed",
            "failback"
        ]
    );
    // The failback comes no sooner than the stabilisation period after the
    // primary closed.
    let at = |k: &str| with.timeline.iter().find(|(_, s)| s.contains(k)).unwrap().0;
    assert!(at("failback") - at("half_open -> closed") >= p.stabilization.as_secs_f64());
    let table = report::summary(&without, &with);
    assert!(table.contains("peak pool occupancy"));
}

#[test]
fn the_simulation_is_deterministic() {
    let p = Params::small();
    let (a, b) = run_both(&p);
    let (c, d) = run_both(&p);
    assert_eq!(
        (a.served, a.errors(), a.peak_busy),
        (c.served, c.errors(), c.peak_busy)
    );
    assert_eq!(
        (b.served, b.errors(), b.peak_busy),
        (d.served, d.errors(), d.peak_busy)
    );
}

#[test]
fn the_usage_example_prints_state_changes_and_stats() {
    let (text, changes) = usage::run(40);
    assert!(changes >= 3, "{text}");
    assert_eq!(text.matches("after ").count(), 4, "{text}");
    assert!(text.contains("closed -> open"));
}
