//! The cascade with a bulkhead: the slow dependency holds at most its limit
//! of the worker pool, and orders keep reaching the other dependencies.

use fusebox_demo::cascade::{run_both, run_bulkhead_only, Params};
use fusebox_demo::report;

#[test]
fn a_bulkhead_alone_keeps_the_slow_dependency_to_its_share_of_the_pool() {
    let p = Params::small();
    let (without, _) = run_both(&p);
    let bulkhead = run_bulkhead_only(&p);
    assert_eq!(without.arrived, bulkhead.arrived, "the same traffic");
    // Unprotected, inventory takes the whole pool; behind the bulkhead it
    // holds exactly its limit: it fills up, and no more.
    assert_eq!(without.path.inventory_peak as usize, p.workers);
    assert_eq!(bulkhead.path.inventory_peak, p.bulkhead_limit);
    assert_eq!(bulkhead.path.inventory_limit, Some(p.bulkhead_limit));
    assert!(bulkhead.peak_busy < p.workers, "{}", bulkhead.peak_busy);
    assert!(bulkhead.path.inventory_shed > 0);
    // The other orders go on to payment and logistics (with cached
    // inventory) and are served; without the bulkhead most are lost.
    assert!(bulkhead.served_in_outage * 10 > bulkhead.arrived_in_outage * 9);
    assert!(without.served_in_outage * 2 < without.arrived_in_outage);
    assert!(bulkhead.errors() * 10 < without.errors());
    let table = report::bulkhead_summary(&without, &bulkhead);
    assert!(table.contains("peak workers held by inventory"));
    assert!(table.contains(&format!(
        "{} (limit {})",
        p.bulkhead_limit, p.bulkhead_limit
    )));
}

#[test]
fn with_fusebox_inventory_never_holds_more_than_its_bulkhead() {
    let p = Params::small();
    let (_, with) = run_both(&p);
    assert_eq!(with.path.inventory_limit, Some(p.bulkhead_limit));
    assert!(with.path.inventory_peak <= p.bulkhead_limit);
    assert!(report::summary(&with, &with).contains("peak workers held by inventory"));
}
