//! Each server's state-change listener leaves the registry with it. (A
//! test binary of its own: it reads the process-wide event counters, which
//! another test's transitions would move.)

use fusebox::{ManualClock, Registry};
use fusebox_admin::{serve, AdminConfig};
use std::sync::Arc;

#[test]
fn stopped_servers_leave_no_listener_behind() {
    let registry = Arc::new(Registry::new(
        fusebox::Config::default(),
        Arc::new(ManualClock::new()),
    ));
    let db = registry.get_or_create("db").unwrap();

    // While one serves, a state change is queued for its listener...
    let admin = serve(registry.clone(), AdminConfig::loopback(0)).unwrap();
    let before = fusebox::events::stats().dispatched;
    db.force_open();
    assert_eq!(fusebox::events::stats().dispatched, before + 1);
    admin.stop();

    // ...and after 50 servers came and went, nothing listens: no event is
    // even built.
    for _ in 0..50 {
        serve(registry.clone(), AdminConfig::loopback(0))
            .unwrap()
            .stop();
    }
    let before = fusebox::events::stats().dispatched;
    db.reset();
    db.force_open();
    assert_eq!(fusebox::events::stats().dispatched, before);
}
