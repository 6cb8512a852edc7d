//! The elector and the self-fencing margin on fusebox's in-process store:
//! no etcd needed, so these run everywhere.

use fusebox::coordination::{CoordError, InProcessClient, InProcessStore};
use fusebox::failover::{
    Candidate, Endpoint, FailoverGroup, Mode, Role, RoleChange, RoleEvent, StepDown,
};
use fusebox::{ClockSource, Config, ManualClock};
use fusebox_etcd::{Elector, ElectorEvent};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn recorder() -> (
    Arc<Mutex<Vec<ElectorEvent>>>,
    impl Fn(&ElectorEvent) + Send + Sync + 'static,
) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    (log, move |e: &ElectorEvent| {
        l.lock().unwrap().push(e.clone())
    })
}

fn wait_until(what: &str, max: Duration, f: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < max, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_margin_ends_the_term_before_the_lease_can_expire() {
    let clock = Arc::new(ManualClock::new());
    let store = InProcessStore::new(clock.clone());
    let ttl = Duration::from_secs(10);
    let a = Candidate::new("a", "db", store.client("a"))
        .clock(clock.clone())
        .ttl(ttl)
        .margin(Duration::from_secs(2));
    let b = Candidate::new("b", "db", store.client("b"))
        .clock(clock.clone())
        .ttl(ttl);
    let events = Arc::new(Mutex::new(Vec::<RoleEvent>::new()));
    let ev = events.clone();
    a.on_change(move |e| ev.lock().unwrap().push(e.clone()));

    let t1 = a.try_activate().unwrap();
    assert_eq!(a.term_left(), Some(Duration::from_secs(8)));
    clock.advance(Duration::from_millis(7_999));
    assert_eq!(a.token(), Some(t1));
    assert_eq!(a.term_left(), Some(Duration::from_millis(1)));
    // a is paused (or cannot renew): at TTL - margin it stops acting, on
    // its own clock, while its lease still holds in the store.
    clock.advance(Duration::from_millis(1));
    assert_eq!(a.token(), None);
    assert_eq!(a.term_left(), Some(Duration::ZERO));
    assert_eq!(a.tick(), Role::Standby);
    assert_eq!(a.term_left(), None);
    assert!(matches!(
        b.try_activate(),
        Err(CoordError::NotElected { leader: Some(_) })
    ));
    // The lease ends at the TTL: b takes over with a larger token.
    clock.advance(Duration::from_secs(2));
    let t2 = b.try_activate().unwrap();
    assert!(t2 > t1);
    assert!(fusebox::events::flush(Duration::from_secs(5)));
    let changes: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.change.clone())
        .collect();
    assert_eq!(
        changes,
        [
            RoleChange::Activated(t1),
            RoleChange::SteppedDown(t1, StepDown::Unreachable)
        ]
    );
}

#[test]
fn a_term_that_ran_out_locally_is_reported_and_taken_back_if_no_one_else_got_it() {
    let clock = Arc::new(ManualClock::new());
    let store = InProcessStore::new(clock.clone());
    let a = Candidate::new("a", "db", store.client("a"))
        .clock(clock.clone())
        .ttl(Duration::from_secs(10))
        .margin(Duration::from_secs(3));
    let t1 = a.try_activate().unwrap();
    clock.advance(Duration::from_secs(8));
    // Past its local term, within the lease: it steps down (it did stop
    // acting) rather than silently carrying on.
    assert_eq!(a.tick(), Role::Standby);
    assert_eq!(a.stats().step_downs, 1);
    // The lease and key survived: the same term comes back.
    assert_eq!(a.try_activate(), Ok(t1));
    assert_eq!(a.stats().activations, 2);
}

fn candidate(store: &InProcessStore, node: &str) -> Arc<Candidate<InProcessClient>> {
    Arc::new(
        Candidate::new(node, "db", store.client(node))
            .ttl(Duration::from_millis(600))
            .margin(Duration::from_millis(150))
            .campaign_wait(Duration::from_millis(100)),
    )
}

#[test]
fn electors_keep_one_leader_and_take_over_from_a_dead_or_resigning_one() {
    let store = InProcessStore::new(ClockSource::Monotonic);
    let every = Duration::from_millis(100);
    let nodes: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| candidate(&store, n))
        .collect();
    let mut electors: Vec<Option<Elector>> = nodes
        .iter()
        .map(|c| Some(Elector::builder(c.clone()).every(every).spawn().unwrap()))
        .collect();
    let primaries = || nodes.iter().filter(|c| c.token().is_some()).count();
    wait_until("a primary", Duration::from_secs(5), || primaries() == 1);
    let t_end = Instant::now() + Duration::from_millis(800);
    while Instant::now() < t_end {
        assert!(primaries() <= 1, "two primaries");
        std::thread::sleep(Duration::from_millis(5));
    }
    let first = nodes.iter().position(|c| c.token().is_some()).unwrap();
    let t1 = nodes[first].token().unwrap();

    // The leader's thread dies without resigning: its lease runs out.
    electors[first].take().unwrap().stop();
    let dead = Instant::now();
    wait_until("a new primary", Duration::from_secs(5), || {
        nodes
            .iter()
            .enumerate()
            .any(|(i, c)| i != first && c.token().is_some())
    });
    assert!(
        dead.elapsed() >= Duration::from_millis(300),
        "not before the lease"
    );
    let second = nodes
        .iter()
        .enumerate()
        .position(|(i, c)| i != first && c.token().is_some())
        .unwrap();
    let t2 = nodes[second].token().unwrap();
    assert!(t2 > t1);

    // This one resigns: the last takes over at once, not a TTL later.
    let resigned = Instant::now();
    electors[second].take().unwrap().resign_and_stop();
    let third = 3 - first - second;
    wait_until("the third primary", Duration::from_secs(5), || {
        nodes[third].token().is_some()
    });
    assert!(resigned.elapsed() < Duration::from_millis(450));
    assert!(nodes[third].token().unwrap() > t2);
    assert!(electors[third].as_ref().unwrap().running());
}

#[test]
fn an_elector_follows_its_failover_group_both_ways() {
    let store = InProcessStore::new(ClockSource::Monotonic);
    let group_clock = Arc::new(ManualClock::new());
    let stab = Duration::from_secs(60);
    // Each host has its own view of the pair: its own group.
    let group = || {
        Arc::new(
            FailoverGroup::builder("db")
                .mode(Mode::ActivePassive)
                .clock(group_clock.clone())
                .breaker_config(
                    Config::builder()
                        .consecutive_failures(Some(1))
                        .build()
                        .unwrap(),
                )
                .stabilization(stab)
                .endpoint(Endpoint::new("a", ()))
                .endpoint(Endpoint::new("b", ()))
                .build()
                .unwrap(),
        )
    };
    let (ga, gb) = (group(), group());
    let (a, b) = (candidate(&store, "a"), candidate(&store, "b"));
    let (log_b, rec_b) = recorder();
    let _ea = Elector::builder(a.clone())
        .every(Duration::from_millis(50))
        .follow_group(ga.clone(), "a")
        .unwrap()
        .spawn()
        .unwrap();
    let _eb = Elector::builder(b.clone())
        .every(Duration::from_millis(50))
        .follow_group(gb.clone(), "b")
        .unwrap()
        .on_event(rec_b)
        .spawn()
        .unwrap();
    wait_until("a primary", Duration::from_secs(5), || a.token().is_some());
    let ta = a.token().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(b.token(), None, "b stands only when its group routes to it");

    // Both hosts see a fail: failover to b, a hands over.
    for g in [&ga, &gb] {
        g.breaker(0).force_open();
    }
    wait_until("b primary", Duration::from_secs(5), || b.token().is_some());
    let tb = b.token().unwrap();
    assert!(tb > ta);
    assert_eq!(a.token(), None);

    // a is healthy again; b fails back only after the stabilisation period.
    for g in [&ga, &gb] {
        g.breaker(0).reset();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        b.token(),
        Some(tb),
        "no failback before the stabilisation period"
    );
    group_clock.advance(stab + Duration::from_secs(1));
    wait_until("a primary again", Duration::from_secs(5), || {
        a.token().is_some()
    });
    assert!(a.token().unwrap() > tb);
    assert_eq!(b.token(), None);
    assert!(fusebox::events::flush(Duration::from_secs(5)));
    let handed = log_b
        .lock()
        .unwrap()
        .contains(&ElectorEvent::HandedOver { token: tb });
    assert!(handed, "{:?}", log_b.lock().unwrap());
}

#[test]
fn store_errors_are_events_reported_once_then_recovery() {
    let store = InProcessStore::new(ClockSource::Monotonic);
    let net = store.network().clone();
    net.isolate("a");
    let a = candidate(&store, "a");
    let (log, rec) = recorder();
    let _e = Elector::builder(a.clone())
        .every(Duration::from_millis(20))
        .on_event(rec)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(a.token(), None);
    net.heal();
    wait_until("a primary", Duration::from_secs(5), || a.token().is_some());
    assert!(fusebox::events::flush(Duration::from_secs(5)));
    let log = log.lock().unwrap().clone();
    let errors: Vec<_> = log
        .iter()
        .filter(|e| matches!(e, ElectorEvent::Error { .. }))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "one report for a run of the same failure: {log:?}"
    );
    assert!(matches!(
        errors[0],
        ElectorEvent::Error {
            during: "campaign",
            error: CoordError::Unavailable(_)
        }
    ));
    let pos = |f: &dyn Fn(&ElectorEvent) -> bool| log.iter().position(f).unwrap();
    let recovered = pos(&|e| *e == ElectorEvent::Recovered);
    let activated = pos(&|e| {
        matches!(
            e,
            ElectorEvent::Role(RoleEvent {
                change: RoleChange::Activated(_),
                ..
            })
        )
    });
    assert!(recovered > 0);
    assert!(activated > 0);
}

#[test]
fn a_group_without_this_node_is_a_clear_error() {
    let store = InProcessStore::new(ClockSource::Monotonic);
    let g = Arc::new(
        FailoverGroup::builder("db")
            .endpoint(Endpoint::new("a", ()))
            .build()
            .unwrap(),
    );
    match Elector::builder(candidate(&store, "z")).follow_group(g, "z") {
        Err(CoordError::Invalid {
            what: "endpoint",
            detail,
        }) => assert!(detail.contains("z")),
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("z is not in the group"),
    }
}
