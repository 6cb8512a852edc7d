//! Failover across processes ("hosts") through etcd: candidates that crash,
//! and an active-passive pair that fails over and back.

mod common;

use common::{coord, field, free_ports, unique, Node, TTL};
use fusebox::coordination::{CoordError, Coordinator, Leadership};
use std::time::{Duration, Instant};

/// Leader election on etcd takes the lease TTL (the dead leader's key must
/// expire), plus etcd's expiry sweep (every 500 ms), plus a renewal period.
/// The bound is generous for a loaded two-core machine.
const TAKEOVER: Duration = Duration::from_secs(2 + 4);

#[test]
fn two_candidates_one_leader_and_the_survivor_takes_over_a_crashed_one() {
    let Some(c) = coord() else { return };
    let e = unique("pair");
    let data = format!("{e}-data");
    let args = ["--election", &e, "--ttl-ms", "2000", "--data-key", &data];
    let mut a = Node::spawn("candidate", "a", &args);
    let (_, la) = a.expect("activated", Duration::from_secs(20));
    let ta = field(&la, "token");
    a.expect("wrote", Duration::from_secs(5));
    let mut b = Node::spawn("candidate", "b", &args);
    b.expect("ready", Duration::from_secs(20));

    // One leader: b stays in line while a lives.
    let quiet = b.drain(TTL * 2);
    assert!(
        quiet.iter().all(|l| !l.starts_with("activated")),
        "b activated while a was leader: {quiet:?}"
    );
    let leader = c.leader(&e).unwrap().expect("a leader");
    assert_eq!((leader.value.as_str(), leader.revision), ("a", ta));
    assert_eq!(c.get(&data).unwrap().unwrap().0, format!("a {ta}"));
    // a's term, as a's process holds it (the key names its lease).
    let lease = u64::from_str_radix(leader.key.rsplit('/').next().unwrap(), 16).unwrap();
    let old = Leadership {
        election: e.clone(),
        key: leader.key.clone(),
        revision: ta,
        lease,
    };

    // a crashes: nothing released, its lease runs out in etcd.
    let killed = a.kill();
    let (at, lb) = b.expect("activated", TAKEOVER + TTL);
    let tb = field(&lb, "token");
    let took = at.duration_since(killed);
    eprintln!("takeover in {took:?} (TTL {TTL:?})");
    assert!(tb > ta, "b's token {tb} must be larger than a's {ta}");
    assert!(took <= TAKEOVER, "takeover took {took:?}");
    b.expect("wrote", Duration::from_secs(5));
    assert_eq!(c.get(&data).unwrap().unwrap().0, format!("b {tb}"));

    // a's late write with its old token (say it was paused mid-write):
    // refused by etcd's compare, and the data is b's.
    assert_eq!(
        c.put_fenced(&old, &data, "a (late)"),
        Err(CoordError::NotLeader)
    );
    assert_eq!(c.get(&data).unwrap().unwrap().0, format!("b {tb}"));
    let now = c.leader(&e).unwrap().unwrap();
    assert_eq!((now.value.as_str(), now.revision), ("b", tb));
}

#[test]
fn an_active_passive_pair_fails_over_and_back_after_the_stabilisation_period() {
    let Some(c) = coord() else { return };
    let e = unique("ap");
    let (pa, pb) = free_ports();
    let hosts = format!("a=127.0.0.1:{pa},b=127.0.0.1:{pb}");
    let stab = Duration::from_secs(3);
    let stab_ms = stab.as_millis().to_string();
    let args = [
        "--election",
        &e,
        "--hosts",
        &hosts,
        "--ttl-ms",
        "2000",
        "--stabilization-ms",
        &stab_ms,
    ];
    let mut a = Node::spawn("pair", "a", &args);
    let (_, la) = a.expect("activated", Duration::from_secs(20));
    let ta = field(&la, "token");
    let mut b = Node::spawn("pair", "b", &args);
    b.expect("ready", Duration::from_secs(20));
    let quiet = b.drain(TTL);
    assert!(
        quiet.iter().all(|l| !l.starts_with("activated")),
        "the standby activated while the primary was healthy: {quiet:?}"
    );

    // The primary host dies: b's group sees its health checks fail and
    // fails over; the election makes b primary once a's lease is gone.
    let killed = a.kill();
    b.expect("failover from=a to=b", Duration::from_secs(5));
    let (at, lb) = b.expect("activated", TAKEOVER + TTL);
    let tb = field(&lb, "token");
    assert!(tb > ta);
    eprintln!("failover in {:?}", at.duration_since(killed));
    assert_eq!(c.leader(&e).unwrap().unwrap().value, "b");

    // a comes back. It stands at once (its own group prefers it), but b
    // holds the term until b's group has seen a healthy for the whole
    // stabilisation period; then b hands over and a is elected.
    let restarted = Instant::now();
    let mut a = Node::spawn("pair", "a", &args);
    let (fb_at, _) = b.expect("failback from=b to=a", stab + Duration::from_secs(10));
    assert!(
        fb_at.duration_since(restarted) >= stab,
        "failback after {:?}, before the stabilisation period",
        fb_at.duration_since(restarted)
    );
    b.expect(&format!("handed_over token={tb}"), Duration::from_secs(5));
    let (a_at, la2) = a.expect("activated", Duration::from_secs(10));
    let ta2 = field(&la2, "token");
    assert!(ta2 > tb, "a's new token {ta2} must be larger than b's {tb}");
    assert!(a_at.duration_since(restarted) >= stab);
    let before = a
        .seen
        .iter()
        .filter(|(t, l)| *t < fb_at && l.starts_with("activated"))
        .count();
    assert_eq!(before, 0, "a activated before the failback");
    assert_eq!(c.leader(&e).unwrap().unwrap().value, "a");
    // b stays standby: its group routes to a again.
    let rest = b.drain(TTL);
    assert!(rest.iter().all(|l| !l.starts_with("activated")), "{rest:?}");
}
