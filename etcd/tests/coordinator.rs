//! The `Coordinator` calls against a real etcd cluster: leases, elections,
//! fenced writes, compaction, and etcd's errors.

mod common;

use common::{coord, unique};
use fusebox::coordination::{CoordError, Coordinator, Leadership};
use fusebox::failover::{Candidate, Role, RoleChange, RoleEvent, StepDown};
use fusebox_etcd::{EtcdCoordinator, EtcdOptions};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(2);

#[test]
fn leases_are_granted_renewed_and_revoked() {
    let Some(c) = coord() else { return };
    let l = c.grant(TTL).unwrap();
    assert_eq!(l.ttl, TTL);
    assert_eq!(c.keep_alive(l.id), Ok(TTL));
    c.revoke(l.id).unwrap();
    assert_eq!(c.keep_alive(l.id), Err(CoordError::LeaseNotFound(l.id)));
    assert_eq!(c.revoke(l.id), Err(CoordError::LeaseNotFound(l.id)));
    // A sub-second TTL is rounded up to etcd's whole seconds, never down.
    let short = c.grant(Duration::from_millis(1200)).unwrap();
    assert!(short.ttl >= Duration::from_secs(2), "{:?}", short.ttl);
    c.revoke(short.id).unwrap();
    assert!(matches!(
        c.grant(Duration::ZERO),
        Err(CoordError::Invalid { what: "ttl", .. })
    ));
}

#[test]
fn one_leader_tokens_grow_and_a_deposed_leaders_write_is_refused_by_etcd() {
    let Some(c) = coord() else { return };
    let e = unique("db");
    let data = format!("{e}-data");
    let (la, lb) = (c.grant(TTL * 5).unwrap(), c.grant(TTL * 5).unwrap());
    let ta = c.campaign(&e, la.id, "a", Duration::ZERO).unwrap();
    assert_eq!(ta.key, format!("{e}/{:x}", la.id));
    let now = c.leader(&e).unwrap().unwrap();
    assert_eq!((now.value.as_str(), now.revision), ("a", ta.revision));
    match c.campaign(&e, lb.id, "b", Duration::ZERO) {
        Err(CoordError::NotElected { leader: Some(l) }) => assert_eq!(l.value, "a"),
        other => panic!("b should not be elected: {other:?}"),
    }
    // b's withdrawn candidacy left no key behind.
    assert_eq!(c.leader(&e).unwrap().unwrap().revision, ta.revision);
    // Campaigning again with the same lease keeps the same term.
    assert_eq!(c.campaign(&e, la.id, "a", Duration::ZERO).unwrap(), ta);
    let w1 = c.put_fenced(&ta, &data, "a1").unwrap();
    assert_eq!(c.get(&data).unwrap(), Some(("a1".to_string(), w1)));

    // b waits in line; a resigns; b is elected at once with a larger token.
    let c2 = c.clone();
    let e2 = e.clone();
    let waiter = std::thread::spawn(move || c2.campaign(&e2, lb.id, "b", Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(300));
    c.resign(&ta).unwrap();
    let tb = waiter.join().unwrap().unwrap();
    assert!(tb.token() > ta.token(), "{tb:?} after {ta:?}");

    // a's late write, with its old token: etcd's compare refuses it.
    assert_eq!(
        c.put_fenced(&ta, &data, "a2 (late)"),
        Err(CoordError::NotLeader)
    );
    c.put_fenced(&tb, &data, "b1").unwrap();
    assert_eq!(c.get(&data).unwrap().unwrap().0, "b1");
    // Resigning an old term is a no-op: b stays leader.
    c.resign(&ta).unwrap();
    assert_eq!(c.leader(&e).unwrap().unwrap().value, "b");
    c.revoke(la.id).unwrap();
    c.revoke(lb.id).unwrap();
    assert_eq!(c.leader(&e).unwrap(), None, "the keys die with the leases");
}

#[test]
fn a_crashed_leaders_key_dies_with_its_lease() {
    let Some(c) = coord() else { return };
    let e = unique("crash");
    let l = c.grant(TTL).unwrap();
    let t = c.campaign(&e, l.id, "gone", Duration::ZERO).unwrap();
    let start = Instant::now();
    // Nobody renews the lease (the holder "crashed"): observe until the
    // leader changes.
    let after = c.observe(&e, t.revision, TTL * 5).unwrap();
    let held = start.elapsed();
    assert_eq!(after, None, "no leader once the lease has expired");
    // Not before the TTL; and well before the wait ran out.
    assert!(held >= TTL - Duration::from_millis(100), "{held:?}");
    assert!(
        held < TTL * 4,
        "held {held:?} after a crash with a {TTL:?} lease"
    );
    assert_eq!(c.keep_alive(l.id), Err(CoordError::LeaseNotFound(l.id)));
}

#[test]
fn observe_returns_on_change_or_deadline() {
    let Some(c) = coord() else { return };
    let e = unique("obs");
    let t0 = Instant::now();
    assert_eq!(c.observe(&e, 0, Duration::from_millis(300)).unwrap(), None);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    let l = c.grant(TTL * 5).unwrap();
    let c2 = c.clone();
    let e2 = e.clone();
    let obs = std::thread::spawn(move || c2.observe(&e2, 0, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(200));
    let t = c.campaign(&e, l.id, "x", Duration::ZERO).unwrap();
    let seen = obs.join().unwrap().unwrap().expect("a leader");
    assert_eq!((seen.value.as_str(), seen.revision), ("x", t.revision));
    // Unchanged leader: returns at the deadline with the same leader.
    let same = c
        .observe(&e, t.revision, Duration::from_millis(200))
        .unwrap();
    assert_eq!(same.map(|l| l.revision), Some(t.revision));
    c.revoke(l.id).unwrap();
}

#[test]
fn elections_work_across_a_compaction() {
    let Some(c) = coord() else { return };
    let e = unique("compact");
    let (la, lb) = (c.grant(TTL * 5).unwrap(), c.grant(TTL * 5).unwrap());
    let ta = c.campaign(&e, la.id, "a", Duration::ZERO).unwrap();
    let old = c.revision().unwrap();
    let c2 = c.clone();
    let e2 = e.clone();
    let waiter = std::thread::spawn(move || c2.campaign(&e2, lb.id, "b", Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(300));
    // Write a little history, then compact all of it away.
    for i in 0..3 {
        c.put_fenced(&ta, &format!("{e}-k"), &i.to_string())
            .unwrap();
    }
    let now = c.revision().unwrap();
    c.compact(now).unwrap();
    // A watch from a compacted revision is cancelled, and reported as "read
    // again", not as an error.
    let t0 = Instant::now();
    assert_eq!(
        c.wait_change(&format!("{e}/"), old, Duration::from_secs(5)),
        Ok(true)
    );
    assert!(t0.elapsed() < Duration::from_secs(4));
    c.resign(&ta).unwrap();
    let tb = waiter.join().unwrap().unwrap();
    assert!(tb.token() > ta.token());
    assert_eq!(c.leader(&e).unwrap().unwrap().value, "b");
    c.revoke(la.id).unwrap();
    c.revoke(lb.id).unwrap();
}

#[test]
fn a_candidate_learns_its_lease_is_lost_and_says_so() {
    let Some(c) = coord() else { return };
    let e = unique("lost");
    let cand = Candidate::new("a", &e, c.clone())
        .ttl(TTL)
        .margin(Duration::from_millis(500));
    let events = Arc::new(Mutex::new(Vec::<RoleEvent>::new()));
    let ev = events.clone();
    cand.on_change(move |e| ev.lock().unwrap().push(e.clone()));
    let t = cand.try_activate().unwrap();
    let l: Leadership = cand.leadership().unwrap();
    assert_eq!(cand.role(), Role::Primary(t));
    // Someone (an operator, etcd's own expiry) ends the lease.
    c.revoke(l.lease).unwrap();
    assert_eq!(cand.tick(), Role::Standby);
    assert_eq!(
        c.put_fenced(&l, &format!("{e}-k"), "late"),
        Err(CoordError::NotLeader)
    );
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
            RoleChange::Activated(t),
            RoleChange::SteppedDown(t, StepDown::LeaseLost)
        ]
    );
    // It takes a fresh lease and a new, larger token.
    let t2 = cand.try_activate().unwrap();
    assert!(t2 > t);
    cand.resign();
    assert_eq!(c.leader(&e).unwrap(), None);
}

#[test]
fn bad_arguments_are_clear_errors() {
    let Some(c) = coord() else { return };
    let l = c.grant(TTL).unwrap();
    for bad in ["", "a/b"] {
        match c.campaign(bad, l.id, "x", Duration::ZERO) {
            Err(CoordError::Invalid {
                what: "election", ..
            }) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(matches!(
        c.campaign("x", u64::MAX, "v", Duration::ZERO),
        Err(CoordError::Invalid { what: "lease", .. })
    ));
    // A lease etcd never granted.
    let e = unique("nolease");
    assert_eq!(
        c.campaign(&e, 0x1234_5678, "v", Duration::ZERO),
        Err(CoordError::LeaseNotFound(0x1234_5678))
    );
    assert_eq!(
        c.keep_alive(0x1234_5678),
        Err(CoordError::LeaseNotFound(0x1234_5678))
    );
    c.revoke(l.id).unwrap();
}

#[test]
fn calls_from_inside_an_async_runtime_do_not_panic() {
    let Some(c) = coord() else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = unique("async");
    let r = rt.block_on(async { c.leader(&e) });
    assert_eq!(r, Ok(None));
    // And dropping a coordinator there does not panic either.
    let c2 = EtcdCoordinator::connect(c.options().clone()).unwrap();
    rt.block_on(async move { drop(c2) });
}

/// Needs no cluster: nothing listens on the endpoint.
#[test]
fn an_unreachable_cluster_is_a_clear_error_not_a_panic() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let opts = EtcdOptions::new([format!("http://127.0.0.1:{port}")])
        .request_timeout(Duration::from_millis(300))
        .connect_timeout(Duration::from_millis(300));
    let c = match EtcdCoordinator::connect(opts) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            assert!(matches!(e, CoordError::Unavailable(_)), "{e:?}");
            return;
        }
    };
    let t0 = Instant::now();
    match c.grant(TTL) {
        Err(CoordError::Unavailable(m)) => assert!(m.contains("etcd"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "bounded by the deadline"
    );
    let cand = Candidate::new("a", "db", c.clone()).ttl(TTL);
    assert!(matches!(
        cand.try_activate(),
        Err(CoordError::Unavailable(_))
    ));
    assert_eq!(cand.role(), Role::Standby);
    assert!(matches!(c.leader("db"), Err(CoordError::Unavailable(_))));
    assert!(matches!(
        EtcdCoordinator::connect(EtcdOptions::new(Vec::<String>::new())),
        Err(CoordError::Invalid {
            what: "endpoints",
            ..
        })
    ));
    assert!(matches!(
        EtcdCoordinator::connect(EtcdOptions::new(["not a url"])),
        Err(CoordError::Invalid { .. }) | Err(CoordError::Unavailable(_))
    ));
}
