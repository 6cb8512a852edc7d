//! Events off the hot path (`docs/semantics.md#events`): registry-wide state-change listeners,
//! the generic listener sets used for rejections, and listeners that panic.

use fusebox::events::{self, Listeners, Rejection};
use fusebox::{Config, ManualClock, Phase, Registry, RejectReason, Transition};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn flush() {
    assert!(
        events::flush(Duration::from_secs(10)),
        "events not delivered"
    );
}

fn trip_config() -> Config {
    Config::builder()
        .consecutive_failures(Some(2))
        .build()
        .unwrap()
}

#[test]
fn registry_listeners_hear_every_breaker_present_and_future() {
    let clock = Arc::new(ManualClock::new());
    let r = Registry::new(trip_config(), clock.clone());
    let early = r.get_or_create("early:op").unwrap();
    let heard: Arc<Mutex<Vec<(String, Phase, Phase)>>> = Arc::default();
    let h = heard.clone();
    r.on_state_change(move |t: &Transition| {
        h.lock()
            .unwrap()
            .push((t.breaker.to_string(), t.from, t.to));
    });
    let late = r.get_or_create("late:op").unwrap();
    for b in [&early, &late] {
        for _ in 0..2 {
            let _ = b.call(|| Err::<(), _>(()));
        }
    }
    late.reset();
    flush();
    let mut got = heard.lock().unwrap().clone();
    got.sort_by_key(|(name, from, to)| (name.clone(), from.as_str(), to.as_str()));
    assert_eq!(
        got,
        vec![
            ("early:op".into(), Phase::Closed, Phase::Open),
            ("late:op".into(), Phase::Closed, Phase::Open),
            ("late:op".into(), Phase::Open, Phase::Closed),
        ]
    );
}

#[test]
fn a_panicking_listener_breaks_neither_calls_nor_other_listeners() {
    let clock = Arc::new(ManualClock::new());
    let r = Registry::new(trip_config(), clock.clone());
    let b = r.get_or_create("svc:op").unwrap();
    r.on_state_change(|_| panic!("listener bug"));
    b.on_state_change(|_| panic!("another listener bug"));
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    r.on_state_change(move |_| {
        c.fetch_add(1, Ordering::Relaxed);
    });
    let panics_before = events::stats().panicked;
    for _ in 0..10 {
        for _ in 0..2 {
            let _ = b.call(|| Err::<(), _>(()));
        }
        assert!(b.try_acquire().is_err());
        b.reset();
        assert_eq!(b.call(|| Ok::<_, ()>(5)), Ok(5));
    }
    flush();
    assert_eq!(count.load(Ordering::Relaxed), 20);
    // The registry-level panics are counted (the breaker's own listener
    // set catches its panics too, without counting them).
    assert!(events::stats().panicked >= panics_before + 20);
}

fn rejection(name: &str) -> Rejection {
    Rejection {
        breaker: name.into(),
        reason: RejectReason::Open,
        retry_after: Some(Duration::from_secs(3)),
        at_ns: 1,
    }
}

#[test]
fn no_listener_no_cost_the_event_is_not_even_built() {
    let l: Arc<Listeners<Rejection>> = Arc::new(Listeners::new());
    assert!(!l.is_active());
    let built = AtomicUsize::new(0);
    for _ in 0..1000 {
        l.emit(|| {
            built.fetch_add(1, Ordering::Relaxed);
            rejection("a")
        });
    }
    assert_eq!(built.load(Ordering::Relaxed), 0);
}

#[test]
fn rejections_reach_own_and_parent_listeners_despite_panics() {
    let parent: Arc<Listeners<Rejection>> = Arc::new(Listeners::new());
    let child: Arc<Listeners<Rejection>> = Arc::new(Listeners::new());
    assert!(child.set_parent(parent.clone()));
    assert!(!child.set_parent(parent.clone()), "a parent is set once");
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    parent.subscribe(|_| panic!("listener bug"));
    parent.subscribe(move |r: &Rejection| s.lock().unwrap().push(format!("parent {}", r.breaker)));
    assert!(child.is_active(), "a listening parent activates the child");
    child.emit(|| rejection("inventory:get"));
    flush(); // delivered before the child's own listener exists
    let s = seen.clone();
    child.subscribe(move |r: &Rejection| {
        s.lock()
            .unwrap()
            .push(format!("child {} {}", r.breaker, r.reason.as_str()))
    });
    child.emit(|| rejection("payment:pay"));
    flush();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            "parent inventory:get",
            "child payment:pay open",
            "parent payment:pay"
        ]
    );
    assert_eq!(child.deliver(&rejection("x")), 1, "one listener panicked");
}
