//! Failover groups on a manual clock: active-passive failover and failback,
//! tiers, active-active spreading, Envoy's ejection cap and panic mode.
#![cfg(not(loom))]

use fusebox::failover::{
    Balance, Endpoint, FailoverEvent, FailoverGroup, FailoverKind, GroupError, Mode,
};
use fusebox::fencing::FencedResource;
use fusebox::{Config, ManualClock, Outcome, State};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const STAB: Duration = Duration::from_secs(300);

fn config() -> Config {
    Config::builder()
        .consecutive_failures(Some(3))
        .open_timeout(Duration::from_secs(30))
        .half_open_max_calls(3)
        .success_threshold(3)
        .build()
        .unwrap()
}

fn record_events<T>(g: &FailoverGroup<T>) -> Arc<Mutex<Vec<FailoverEvent>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    g.on_event(move |e| l.lock().unwrap().push(e.clone()));
    log
}

fn kinds(log: &Mutex<Vec<FailoverEvent>>) -> Vec<String> {
    assert!(fusebox::events::flush(Duration::from_secs(10)));
    log.lock()
        .unwrap()
        .iter()
        .map(|e| e.kind.as_str().to_string())
        .collect()
}

/// Fail `n` calls on endpoint `i` (whatever the group would pick).
fn fail_on<T>(g: &FailoverGroup<T>, i: usize, n: usize) {
    for _ in 0..n {
        if let Ok(p) = g.breaker(i).try_acquire() {
            p.failure();
        }
    }
}

fn picks<T>(g: &FailoverGroup<T>, n: usize) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for _ in 0..n {
        let p = g.acquire().expect("an endpoint");
        *m.entry(p.name().to_string()).or_default() += 1;
        p.success();
    }
    m
}

struct Switch(Arc<AtomicBool>);
impl Switch {
    fn new(on: bool) -> Self {
        Switch(Arc::new(AtomicBool::new(on)))
    }
    fn set(&self, on: bool) {
        self.0.store(on, Ordering::SeqCst)
    }
    fn hook(&self) -> impl Fn(&&'static str) -> bool + Send + Sync + 'static {
        let s = self.0.clone();
        move |_| s.load(Ordering::SeqCst)
    }
}

fn active_passive(clock: &Arc<ManualClock>, primary_up: &Switch) -> FailoverGroup<&'static str> {
    FailoverGroup::builder("db")
        .mode(Mode::ActivePassive)
        .clock(clock.clone())
        .breaker_config(config())
        .stabilization(STAB)
        .endpoint(Endpoint::new("primary", "10.0.0.1").health_check(primary_up.hook()))
        .endpoint(Endpoint::new("standby", "10.0.0.2"))
        .endpoint(Endpoint::new("standby-2", "10.0.0.3"))
        .build()
        .unwrap()
}

/// Three passing health checks close a breaker whose open timeout is over.
fn recover_by_checks<T>(g: &FailoverGroup<T>) {
    for _ in 0..3 {
        g.check_health();
    }
}

#[test]
fn active_passive_fails_over_when_the_primary_opens() {
    let clock = Arc::new(ManualClock::new());
    let up = Switch::new(true);
    let g = active_passive(&clock, &up);
    let log = record_events(&g);
    assert_eq!(picks(&g, 10), HashMap::from([("primary".into(), 10)]));
    let before = g.epoch();

    for _ in 0..3 {
        let p = g.acquire().unwrap();
        assert_eq!(p.name(), "primary");
        p.failure();
    }
    assert_eq!(g.breaker(0).state(), State::Open);
    assert_eq!(picks(&g, 10), HashMap::from([("standby".into(), 10)]));
    assert_eq!(g.active(), 1);
    assert!(g.epoch() > before, "a failover takes a new epoch");
    let m = g.metrics();
    assert_eq!((m.failovers, m.failbacks), (1, 0));
    assert_eq!(m.active_tier, "standby");
    assert_eq!(kinds(&log), ["failover"]);
    match &log.lock().unwrap()[0].kind {
        FailoverKind::Failover { from, to } => assert_eq!((&**from, &**to), ("primary", "standby")),
        other => panic!("{other:?}"),
    }

    // The standby fails too: on to the second standby.
    fail_on(&g, 1, 3);
    assert_eq!(picks(&g, 3), HashMap::from([("standby-2".into(), 3)]));
    assert_eq!(g.metrics().failovers, 2);
}

#[test]
fn no_failback_before_the_stabilisation_period_then_failback() {
    let clock = Arc::new(ManualClock::new());
    let up = Switch::new(false);
    let g = active_passive(&clock, &up);
    let log = record_events(&g);
    // Failing health checks trip the primary.
    for _ in 0..3 {
        g.check_health();
    }
    assert_eq!(g.breaker(0).state(), State::Open);
    assert_eq!(g.active(), 1);

    // Checks are skipped while the breaker is open.
    clock.advance(Duration::from_secs(10));
    assert_eq!(g.check_health().skipped, 1);

    // It comes back: probes pass once the open timeout is over.
    up.set(true);
    clock.advance(Duration::from_secs(20));
    recover_by_checks(&g);
    assert_eq!(g.breaker(0).state(), State::Closed);
    // Closed, but not for long enough.
    assert_eq!(picks(&g, 5), HashMap::from([("standby".into(), 5)]));
    clock.advance(STAB - Duration::from_millis(1));
    g.check_health();
    assert_eq!(picks(&g, 5), HashMap::from([("standby".into(), 5)]));
    assert_eq!(g.metrics().failbacks, 0);

    clock.advance(Duration::from_millis(1));
    assert_eq!(picks(&g, 5), HashMap::from([("primary".into(), 5)]));
    let m = g.metrics();
    assert_eq!((m.failovers, m.failbacks), (1, 1));
    assert_eq!(kinds(&log), ["failover", "failback"]);
}

#[test]
fn a_flapping_primary_never_gets_traffic_back() {
    let clock = Arc::new(ManualClock::new());
    let up = Switch::new(false);
    let g = active_passive(&clock, &up);
    for _ in 0..3 {
        g.check_health();
    }
    assert_eq!(g.active(), 1);
    // Twenty cycles: up for 4 minutes, down, back 30 s later. Far more than
    // 5 minutes of "mostly healthy", never 5 minutes in one go.
    for _ in 0..20 {
        up.set(true);
        clock.advance(Duration::from_secs(30));
        recover_by_checks(&g);
        assert_eq!(g.breaker(0).state(), State::Closed);
        for _ in 0..8 {
            clock.advance(Duration::from_secs(30));
            g.check_health();
            assert_eq!(g.acquire().unwrap().name(), "standby");
        }
        up.set(false);
        for _ in 0..3 {
            g.check_health();
        }
        assert_eq!(g.breaker(0).state(), State::Open);
    }
    assert_eq!(g.metrics().failbacks, 0);
    assert_eq!(g.metrics().failovers, 1);

    // A reset also restarts the count.
    up.set(true);
    clock.advance(Duration::from_secs(30));
    recover_by_checks(&g);
    clock.advance(Duration::from_secs(200));
    g.check_health();
    g.breaker(0).reset();
    g.check_health();
    clock.advance(Duration::from_secs(200));
    assert_eq!(g.acquire().unwrap().name(), "standby");
    clock.advance(Duration::from_secs(100));
    assert_eq!(g.acquire().unwrap().name(), "primary");
}

#[test]
fn without_a_health_check_traffic_probes_the_primary() {
    let clock = Arc::new(ManualClock::new());
    let g = FailoverGroup::builder("svc")
        .clock(clock.clone())
        .breaker_config(config())
        .stabilization(Duration::from_secs(60))
        .endpoint(Endpoint::new("primary", ()))
        .endpoint(Endpoint::new("standby", ()))
        .build()
        .unwrap();
    fail_on(&g, 0, 3);
    assert_eq!(g.acquire().unwrap().name(), "standby");
    clock.advance(Duration::from_secs(29));
    assert!(!picks(&g, 5).contains_key("primary"), "still open");
    clock.advance(Duration::from_secs(1));
    // Half-open: up to three probes go to the primary, the rest to the standby.
    let mut probes = 0;
    for _ in 0..6 {
        let p = g.acquire().unwrap();
        if p.name() == "primary" {
            assert!(p.is_probe());
            probes += 1;
        }
        p.success();
    }
    assert_eq!(probes, 3);
    assert_eq!(g.breaker(0).state(), State::Closed);
    assert_eq!(g.acquire().unwrap().name(), "standby");
    clock.advance(Duration::from_secs(60));
    assert_eq!(g.acquire().unwrap().name(), "primary");
    assert_eq!(g.metrics().failbacks, 1);
}

#[test]
fn probes_that_fail_keep_traffic_on_the_standby() {
    let clock = Arc::new(ManualClock::new());
    let g = FailoverGroup::builder("svc")
        .clock(clock.clone())
        .breaker_config(config())
        .stabilization(Duration::ZERO)
        .endpoint(Endpoint::new("primary", ()))
        .endpoint(Endpoint::new("standby", ()))
        .build()
        .unwrap();
    fail_on(&g, 0, 3);
    for _ in 0..5 {
        clock.advance(Duration::from_secs(30));
        let p = g.acquire().unwrap();
        assert_eq!(p.name(), "primary");
        assert!(p.is_probe());
        p.failure();
        assert_eq!(g.breaker(0).state(), State::Open);
        assert_eq!(g.acquire().unwrap().name(), "standby");
    }
    // With a zero stabilisation period, failback follows the close at once.
    clock.advance(Duration::from_secs(30));
    for _ in 0..3 {
        let p = g.acquire().unwrap();
        assert!(p.is_probe());
        p.success();
    }
    assert_eq!(g.acquire().unwrap().name(), "primary");
}

fn tiered(clock: &Arc<ManualClock>) -> FailoverGroup<u32> {
    FailoverGroup::builder("catalog")
        .mode(Mode::Tiered)
        .clock(clock.clone())
        .breaker_config(config())
        .stabilization(STAB)
        .probe_with_traffic(false)
        .tier_name(0, "local")
        .tier_name(1, "same-city")
        .tier_name(2, "remote")
        .endpoint(Endpoint::new("local-a", 1).tier(0))
        .endpoint(Endpoint::new("local-b", 2).tier(0))
        .endpoint(Endpoint::new("city-a", 3).tier(1))
        .endpoint(Endpoint::new("city-b", 4).tier(1))
        .endpoint(Endpoint::new("remote", 5).tier(2))
        .build()
        .unwrap()
}

#[test]
fn tiered_moves_down_only_when_the_whole_tier_is_unhealthy() {
    let clock = Arc::new(ManualClock::new());
    let g = tiered(&clock);
    let log = record_events(&g);
    assert_eq!(
        picks(&g, 100),
        HashMap::from([("local-a".into(), 50), ("local-b".into(), 50)])
    );
    // One local endpoint down: the other local one takes it all.
    g.breaker(0).force_open();
    assert_eq!(picks(&g, 10), HashMap::from([("local-b".into(), 10)]));
    assert_eq!(g.active_tier_name(), "local");
    // The whole local tier down: same city.
    fail_on(&g, 1, 3);
    assert_eq!(
        picks(&g, 100),
        HashMap::from([("city-a".into(), 50), ("city-b".into(), 50)])
    );
    assert_eq!(g.active_tier_name(), "same-city");
    g.breaker(2).force_open();
    assert_eq!(picks(&g, 10), HashMap::from([("city-b".into(), 10)]));
    g.breaker(3).force_open();
    assert_eq!(picks(&g, 10), HashMap::from([("remote".into(), 10)]));
    assert_eq!(g.active_tier_name(), "remote");
    assert_eq!(g.metrics().failovers, 2);

    // The same city comes back: not before the stabilisation period.
    g.breaker(3).reset();
    assert_eq!(picks(&g, 5), HashMap::from([("remote".into(), 5)]));
    clock.advance(STAB - Duration::from_secs(1));
    assert_eq!(picks(&g, 5), HashMap::from([("remote".into(), 5)]));
    // Local comes back meanwhile; same city is stable first.
    g.breaker(0).reset();
    assert_eq!(picks(&g, 5), HashMap::from([("remote".into(), 5)]));
    clock.advance(Duration::from_secs(1));
    assert_eq!(picks(&g, 5), HashMap::from([("city-b".into(), 5)]));
    assert_eq!(g.active_tier_name(), "same-city");
    clock.advance(STAB);
    assert_eq!(picks(&g, 5), HashMap::from([("local-a".into(), 5)]));
    let m = g.metrics();
    assert_eq!((m.failovers, m.failbacks), (2, 2));
    let log = kinds(&log);
    assert_eq!(
        log.iter()
            .filter(|k| *k == "failover" || *k == "failback")
            .collect::<Vec<_>>(),
        ["failover", "failover", "failback", "failback"]
    );
}

#[test]
fn tiered_skips_to_the_first_healthy_tier() {
    let clock = Arc::new(ManualClock::new());
    let g = tiered(&clock);
    for i in 0..4 {
        g.breaker(i).force_open();
    }
    assert_eq!(g.acquire().unwrap().name(), "remote");
    // The remote tier fails while the same city is back but not yet stable:
    // traffic goes to the same city rather than nowhere.
    g.breaker(2).reset();
    g.breaker(4).force_open();
    assert_eq!(g.acquire().unwrap().name(), "city-a");
    assert_eq!(g.metrics().failovers, 2);
}

fn active_active(clock: &Arc<ManualClock>, balance: Balance, n: usize) -> FailoverGroup<usize> {
    let mut b = FailoverGroup::builder("api")
        .mode(Mode::ActiveActive)
        .balance(balance)
        .clock(clock.clone())
        .breaker_config(config());
    for i in 0..n {
        b = b.endpoint(Endpoint::new(&format!("node-{i}"), i));
    }
    b.build().unwrap()
}

#[test]
fn active_active_round_robin_takes_out_the_unhealthy() {
    let clock = Arc::new(ManualClock::new());
    let g = active_active(&clock, Balance::RoundRobin, 3);
    let log = record_events(&g);
    let even: HashMap<String, usize> = (0..3).map(|i| (format!("node-{i}"), 100)).collect();
    assert_eq!(picks(&g, 300), even);
    fail_on(&g, 1, 3);
    assert_eq!(
        picks(&g, 300),
        HashMap::from([("node-0".into(), 150), ("node-2".into(), 150)])
    );
    let m = g.metrics();
    assert_eq!(m.ejections, 1);
    assert!(m.endpoints[1].ejected && !m.endpoints[0].ejected);
    g.breaker(1).reset();
    assert_eq!(picks(&g, 300), even);
    assert_eq!(g.metrics().restorations, 1);
    assert_eq!(kinds(&log), ["ejected", "restored"]);
}

#[test]
fn power_of_two_choices_prefers_the_less_loaded() {
    let clock = Arc::new(ManualClock::new());
    let g = active_active(&clock, Balance::PowerOfTwoChoices, 2);
    // With two endpoints both are always drawn: held calls alternate.
    let held: Vec<_> = (0..10).map(|_| g.acquire().unwrap()).collect();
    let on0 = held.iter().filter(|p| p.index() == 0).count();
    assert_eq!(on0, 5);
    let m = g.metrics();
    assert_eq!((m.endpoints[0].in_flight, m.endpoints[1].in_flight), (5, 5));
    drop(held);
    assert_eq!(g.metrics().endpoints[0].in_flight, 0);

    // Four endpoints, one with a call in flight and the others idle: it is
    // never chosen (the two draws are distinct, and the other one is idle).
    let g = active_active(&clock, Balance::PowerOfTwoChoices, 4);
    let stuck = loop {
        let p = g.acquire().unwrap();
        if p.index() == 3 {
            break p;
        }
        p.success();
    };
    let counts = picks(&g, 600);
    assert!(!counts.contains_key("node-3"), "{counts:?}");
    for i in 0..3 {
        assert!(counts[&format!("node-{i}")] > 100, "{counts:?}");
    }
    // Unhealthy endpoints are left out as well.
    g.breaker(0).force_open();
    assert!(!picks(&g, 100).contains_key("node-0"));
    stuck.success();
}

#[test]
fn the_ejection_cap_keeps_endpoints_in_rotation() {
    let clock = Arc::new(ManualClock::new());
    let g = FailoverGroup::builder("api")
        .mode(Mode::ActiveActive)
        .clock(clock.clone())
        .breaker_config(config())
        .max_ejection_percent(50.0)
        .endpoint(Endpoint::new("a", 0))
        .endpoint(Endpoint::new("b", 1))
        .endpoint(Endpoint::new("c", 2))
        .endpoint(Endpoint::new("d", 3))
        .build()
        .unwrap();
    let log = record_events(&g);
    g.breaker(0).force_open();
    g.pick();
    g.breaker(1).force_open();
    g.pick();
    g.breaker(2).force_open();
    // a and b are ejected (the cap is 2 of 4); c stays in rotation, its
    // breaker bypassed.
    let mut seen = HashMap::new();
    for _ in 0..200 {
        let p = g.acquire().unwrap();
        *seen.entry(p.name().to_string()).or_insert(0) += 1;
        if p.name() == "c" {
            assert!(p.is_bypass() && p.choice().bypass);
        } else {
            assert!(!p.is_bypass());
        }
        p.success();
    }
    assert_eq!(seen, HashMap::from([("c".into(), 100), ("d".into(), 100)]));
    let m = g.metrics();
    assert_eq!(m.ejections, 2);
    let ejected: Vec<bool> = m.endpoints.iter().map(|e| e.ejected).collect();
    assert_eq!(ejected, [true, true, false, false]);
    assert_eq!(
        g.breaker(2).state(),
        State::Open,
        "a bypass records nothing"
    );

    // b recovers: it is restored, and c takes the free ejection slot.
    g.breaker(1).reset();
    let seen = picks(&g, 100);
    assert_eq!(seen, HashMap::from([("b".into(), 50), ("d".into(), 50)]));
    assert_eq!((g.metrics().ejections, g.metrics().restorations), (3, 1));
    assert_eq!(kinds(&log), ["ejected", "ejected", "restored", "ejected"]);
}

#[test]
fn panic_mode_uses_every_endpoint_when_too_few_are_healthy() {
    let clock = Arc::new(ManualClock::new());
    let g = FailoverGroup::builder("api")
        .mode(Mode::ActiveActive)
        .clock(clock.clone())
        .breaker_config(config())
        .panic_threshold_percent(50.0)
        .endpoint(Endpoint::new("a", 0))
        .endpoint(Endpoint::new("b", 1))
        .endpoint(Endpoint::new("c", 2))
        .endpoint(Endpoint::new("d", 3))
        .build()
        .unwrap();
    let log = record_events(&g);
    g.breaker(0).force_open();
    g.breaker(1).force_open();
    // 2 of 4 healthy: 50 % is not under the threshold.
    assert_eq!(
        picks(&g, 100),
        HashMap::from([("c".into(), 50), ("d".into(), 50)])
    );
    assert!(!g.metrics().panic);
    g.breaker(2).force_open();
    // 1 of 4: panic, every endpoint gets its share rather than d getting all.
    let mut bypassed = 0;
    let mut seen = HashMap::new();
    for _ in 0..400 {
        let p = g.acquire().unwrap();
        assert!(p.choice().panic);
        bypassed += usize::from(p.is_bypass());
        *seen.entry(p.name().to_string()).or_insert(0) += 1;
        p.success();
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(bypassed, 300);
    let m = g.metrics();
    assert!(m.panic);
    assert_eq!(m.panics, 1);
    g.breaker(0).reset();
    assert_eq!(
        picks(&g, 100),
        HashMap::from([("a".into(), 50), ("d".into(), 50)])
    );
    assert!(!g.metrics().panic);
    let log = kinds(&log);
    let panics: Vec<_> = log.iter().filter(|k| k.starts_with("panic")).collect();
    assert_eq!(panics, ["panic_start", "panic_end"]);
}

#[test]
fn panic_mode_in_active_passive_uses_the_last_endpoint_rather_than_none() {
    let clock = Arc::new(ManualClock::new());
    let build = |panic: f64| {
        FailoverGroup::builder("db")
            .clock(clock.clone())
            .breaker_config(config())
            .panic_threshold_percent(panic)
            .endpoint(Endpoint::new("primary", ()))
            .endpoint(Endpoint::new("standby", ()))
            .build()
            .unwrap()
    };
    let g = build(50.0);
    g.breaker(0).force_open();
    g.breaker(1).force_open();
    let p = g.acquire().unwrap();
    assert!(p.is_bypass() && p.choice().panic);
    drop(p);

    // Without panic mode: nothing, with a hint of when to retry.
    let g = build(0.0);
    fail_on(&g, 0, 3);
    fail_on(&g, 1, 3);
    assert!(g.pick().is_none());
    let e = g.acquire().unwrap_err();
    assert_eq!(e.retry_after, Some(Duration::from_secs(30)));
}

#[test]
fn picks_carry_the_epoch_as_a_fencing_token() {
    let clock = Arc::new(ManualClock::new());
    let up = Switch::new(true);
    let g = active_passive(&clock, &up);
    let resource = FencedResource::new(Vec::new());
    let old = g.acquire().unwrap();
    let old_token = old.token();
    fail_on(&g, 0, 3);
    let new = g.acquire().unwrap();
    assert_eq!(new.name(), "standby");
    assert!(new.token() > old_token);
    resource.write(new.token(), |v| v.push("standby")).unwrap();
    // The call picked before the failover finishes late: its write bounces.
    let err = resource
        .write(old_token, |v| v.push("primary"))
        .unwrap_err();
    assert_eq!(err.current, new.token());
    assert_eq!(resource.read(|v| v.clone()), ["standby"]);
    old.ignore();
    new.success();
}

#[test]
fn racing_threads_fail_over_exactly_once() {
    for _ in 0..20 {
        let clock = Arc::new(ManualClock::new());
        let g = Arc::new(
            FailoverGroup::builder("db")
                .clock(clock.clone())
                .breaker_config(config())
                .endpoint(Endpoint::new("primary", ()))
                .endpoint(Endpoint::new("standby", ()))
                .build()
                .unwrap(),
        );
        let log = record_events(&g);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let p = g.acquire().unwrap();
                        if p.index() == 0 {
                            p.failure();
                        } else {
                            p.success();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(g.metrics().failovers, 1);
        assert_eq!(g.epoch().get(), 2);
        assert_eq!(kinds(&log), ["failover"]);
    }
}

#[test]
fn raw_picks_round_trip() {
    let clock = Arc::new(ManualClock::new());
    let g = FailoverGroup::builder("db")
        .clock(clock.clone())
        .breaker_config(config())
        .endpoint(Endpoint::new("primary", ()))
        .endpoint(Endpoint::new("standby", ()))
        .build()
        .unwrap();
    let raws: Vec<_> = (0..3).map(|_| g.acquire().unwrap().into_raw()).collect();
    for r in raws {
        assert!(r.admitted && !r.bypass && r.index == 0);
        g.record_raw(r, Outcome::Failure, Some(Duration::from_millis(5)));
    }
    assert_eq!(g.breaker(0).state(), State::Open);
    let r = g.acquire().unwrap().into_raw();
    assert_eq!(r.index, 1);
    g.release_raw(r);
    assert_eq!(g.breaker(1).metrics().calls(), 0);

    // In-flight counts (kept for power of two choices) follow raw picks too.
    let g = active_active(&clock, Balance::PowerOfTwoChoices, 2);
    let raws: Vec<_> = (0..4).map(|_| g.acquire().unwrap().into_raw()).collect();
    let in_flight = |g: &FailoverGroup<usize>| -> Vec<u64> {
        g.metrics().endpoints.iter().map(|e| e.in_flight).collect()
    };
    assert_eq!(in_flight(&g), [2, 2]);
    g.record_raw(raws[0], Outcome::Success, None);
    g.release_raw(raws[1]);
    g.release_raw(raws[2]);
    g.release_raw(raws[3]);
    assert_eq!(in_flight(&g), [0, 0]);
    g.release_raw(raws[3]); // twice: the count does not wrap
    assert_eq!(in_flight(&g), [0, 0]);
}

#[test]
fn call_reports_outcomes() {
    let clock = Arc::new(ManualClock::new());
    let g = FailoverGroup::builder("db")
        .clock(clock.clone())
        .breaker_config(config())
        .endpoint(Endpoint::new("primary", 1))
        .endpoint(Endpoint::new("standby", 2))
        .build()
        .unwrap();
    for _ in 0..3 {
        assert!(g.call(|_| Err::<(), _>("timeout")).is_err());
    }
    assert_eq!(g.call(|v| Ok::<_, ()>(*v)).unwrap(), 2);
}

#[test]
fn bad_settings_are_named() {
    let b = || FailoverGroup::<()>::builder("g").endpoint(Endpoint::new("a", ()));
    assert_eq!(
        FailoverGroup::<()>::builder("g").build().unwrap_err(),
        GroupError::NoEndpoints
    );
    let e = b().endpoint(Endpoint::new("a", ())).build().unwrap_err();
    assert_eq!(e, GroupError::DuplicateEndpoint("a".into()));
    let e = b().max_ejection_percent(120.0).build().unwrap_err();
    assert!(e.to_string().contains("max_ejection_percent"), "{e}");
    let e = b().panic_threshold_percent(-1.0).build().unwrap_err();
    assert!(e.to_string().contains("panic_threshold_percent"), "{e}");
    let mut many = FailoverGroup::<()>::builder("g");
    for i in 0..65 {
        many = many.endpoint(Endpoint::new(&i.to_string(), ()));
    }
    assert_eq!(many.build().unwrap_err(), GroupError::TooManyEndpoints(65));
}

#[test]
fn a_panicking_health_check_counts_as_failed() {
    let clock = Arc::new(ManualClock::new());
    let g = FailoverGroup::builder("db")
        .clock(clock.clone())
        .breaker_config(config())
        .endpoint(Endpoint::new("primary", ()).health_check(|_| panic!("boom")))
        .endpoint(Endpoint::new("standby", ()))
        .build()
        .unwrap();
    let r = g.check_health();
    assert_eq!((r.passed, r.failed, r.skipped), (0, 1, 0));
    g.check_health();
    g.check_health();
    assert_eq!(g.active(), 1);
}

#[test]
fn the_health_check_thread_runs_and_stops() {
    let checks = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let c = checks.clone();
    let g = Arc::new(
        FailoverGroup::builder("db")
            .endpoint(Endpoint::new("primary", ()).health_check(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
                true
            }))
            .build()
            .unwrap(),
    );
    let h = g.spawn_health_checks(Duration::from_millis(1));
    assert!(h.running());
    let t0 = std::time::Instant::now();
    while checks.load(Ordering::SeqCst) < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no health checks ran"
        );
        std::thread::yield_now();
    }
    h.stop();
    let n = checks.load(Ordering::SeqCst);
    std::thread::yield_now();
    assert_eq!(checks.load(Ordering::SeqCst), n, "stopped");
}
