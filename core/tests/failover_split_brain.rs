//! Split brain, simulated: partitions and pauses make two nodes both try to
//! be primary. Fencing tokens keep every stale write out; quorum keeps the
//! minority side from activating at all.
#![cfg(not(loom))]

use fusebox::coordination::{
    CoordError, Coordinator, InProcessClient, InProcessStore, Quorum, Replication, SimNetwork,
};
use fusebox::failover::{Candidate, Role, RoleChange, RoleEvent, StepDown};
use fusebox::fencing::{FencedResource, FencingToken};
use fusebox::ManualClock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(10);
const NODES: [&str; 5] = ["a", "b", "c", "d", "e"];

struct Cluster {
    clock: Arc<ManualClock>,
    net: Arc<SimNetwork>,
    store: InProcessStore,
    nodes: Vec<Candidate<InProcessClient>>,
}

impl Cluster {
    fn new(store: InProcessStore, clock: Arc<ManualClock>, node_quorum: bool) -> Cluster {
        let net = store.network().clone();
        let nodes = NODES
            .iter()
            .map(|n| {
                let c = Candidate::new(n, "orders-db", store.client(n))
                    .clock(clock.clone())
                    .ttl(TTL);
                if node_quorum {
                    c.quorum(Quorum::new(NODES).unwrap(), net.clone())
                } else {
                    c
                }
            })
            .collect();
        Cluster {
            clock,
            net,
            store,
            nodes,
        }
    }

    fn node(&self, name: &str) -> &Candidate<InProcessClient> {
        &self.nodes[NODES.iter().position(|n| *n == name).unwrap()]
    }

    /// Every node keeps its term alive, and every node that is not primary
    /// tries to become one.
    fn round(&self) {
        for n in &self.nodes {
            if n.tick() == Role::Standby {
                let _ = n.try_activate();
            }
        }
    }

    fn primaries(&self) -> Vec<(&str, FencingToken)> {
        self.nodes
            .iter()
            .filter_map(|n| n.token().map(|t| (n.node(), t)))
            .collect()
    }
}

/// A store whose members live on the five nodes' hosts.
fn colocated(replication: Replication) -> (InProcessStore, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let net = Arc::new(SimNetwork::new());
    let store = InProcessStore::replicated(clock.clone(), net, &NODES, replication).unwrap();
    (store, clock)
}

#[test]
fn a_paused_primary_cannot_write_with_its_old_token() {
    let clock = Arc::new(ManualClock::new());
    let store = InProcessStore::new(clock.clone());
    let a = Candidate::new("a", "orders-db", store.client("a"))
        .clock(clock.clone())
        .ttl(TTL);
    let b = Candidate::new("b", "orders-db", store.client("b"))
        .clock(clock.clone())
        .ttl(TTL);
    let disk = FencedResource::new(Vec::<&str>::new());

    let t1 = a.try_activate().unwrap();
    disk.write(t1, |v| v.push("a: 1")).unwrap();
    assert!(matches!(
        b.try_activate(),
        Err(CoordError::NotElected { leader: Some(_) })
    ));

    // a decides to write, then stalls (a GC pause) past its lease.
    let token = a.token().expect("a is primary");
    clock.advance(TTL + Duration::from_secs(5));
    let t2 = b.try_activate().expect("a's lease has expired");
    assert!(t2 > t1);
    disk.fence(t2).unwrap();
    disk.write(t2, |v| v.push("b: 1")).unwrap();

    // a wakes up and finishes its write, sure it is primary.
    let err = disk.write(token, |v| v.push("a: 2 (stale)")).unwrap_err();
    assert_eq!((err.presented, err.current), (t1, t2));
    assert_eq!(disk.read(|v| v.clone()), ["a: 1", "b: 1"]);
    // And it learns it lost the lease as soon as it talks to the store.
    assert_eq!(a.tick(), Role::Standby);
    assert_eq!(a.stats().step_downs, 1);
}

#[test]
fn a_primary_cut_off_from_the_store_steps_down_before_another_takes_over() {
    let clock = Arc::new(ManualClock::new());
    let store = InProcessStore::new(clock.clone());
    let net = store.network().clone();
    let nodes: Vec<_> = ["a", "b"]
        .iter()
        .map(|n| {
            Candidate::new(n, "orders-db", store.client(n))
                .clock(clock.clone())
                .ttl(TTL)
        })
        .collect();
    let events = Arc::new(Mutex::new(Vec::<RoleEvent>::new()));
    for n in &nodes {
        let e = events.clone();
        n.on_change(move |ev| e.lock().unwrap().push(ev.clone()));
    }
    let t1 = nodes[0].try_activate().unwrap();
    net.isolate("a");
    let mut b_token = None;
    for _ in 0..30 {
        clock.advance(Duration::from_secs(1));
        for n in &nodes {
            if n.tick() == Role::Standby {
                if let Ok(t) = n.try_activate() {
                    b_token = Some(t);
                }
            }
        }
        let both = nodes[0].token().is_some() && nodes[1].token().is_some();
        assert!(!both, "two primaries at {:?}", clock);
    }
    assert!(b_token.unwrap() > t1);
    assert_eq!(nodes[0].role(), Role::Standby);
    assert!(fusebox::events::flush(Duration::from_secs(10)));
    let ev: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.change.clone())
        .collect();
    assert_eq!(
        ev,
        [
            RoleChange::Activated(t1),
            RoleChange::SteppedDown(t1, StepDown::Unreachable),
            RoleChange::Activated(b_token.unwrap()),
        ]
    );
}

#[test]
fn without_quorum_both_sides_of_a_partition_activate() {
    // The failure quorum exists to prevent: a store whose sides each accept
    // writes lets each side elect its own primary.
    let (store, clock) = colocated(Replication::Async);
    let c = Cluster::new(store, clock, false);
    c.round();
    assert_eq!(c.primaries().len(), 1);
    c.net.partition(&[&["a", "b"], &["c", "d", "e"]]);
    for _ in 0..30 {
        c.clock.advance(Duration::from_secs(1));
        c.round();
    }
    let p = c.primaries();
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p.iter().any(|(n, _)| ["a", "b"].contains(n)));
    assert!(p.iter().any(|(n, _)| ["c", "d", "e"].contains(n)));
}

#[test]
fn with_a_quorum_store_the_minority_side_never_activates() {
    let (store, clock) = colocated(Replication::Majority);
    let c = Cluster::new(store, clock, false);
    c.round();
    assert_eq!(c.primaries(), [("a", FencingToken(1))]);
    c.net.partition(&[&["a", "b"], &["c", "d", "e"]]);
    let activations = |n: &str| c.node(n).stats().activations;
    for step in 0..60 {
        c.clock.advance(Duration::from_secs(1));
        c.round();
        let p = c.primaries();
        assert!(p.len() <= 1, "step {step}: {p:?}");
        assert_eq!(activations("b"), 0);
        assert_eq!(activations("a"), 1, "a never activates again");
        if step >= 10 {
            let (who, _) = p[0];
            assert!(["c", "d", "e"].contains(&who), "{p:?}");
        }
    }
    assert!(matches!(
        c.node("b").try_activate(),
        Err(CoordError::NoQuorum {
            reachable: 2,
            needed: 3
        })
    ));
    // Healed: the majority's primary stays; nobody else takes over.
    let before = c.primaries();
    c.net.heal();
    for _ in 0..30 {
        c.clock.advance(Duration::from_secs(1));
        c.round();
        assert_eq!(c.primaries(), before);
    }
}

#[test]
fn with_a_node_quorum_the_minority_side_never_activates_even_on_a_split_store() {
    // The store's sides would each accept writes, but every node counts its
    // peers first: the old primary, now in the minority, steps down at once.
    let (store, clock) = colocated(Replication::Async);
    let c = Cluster::new(store, clock, true);
    c.round();
    assert_eq!(c.primaries().len(), 1);
    assert_eq!(c.primaries()[0].0, "a");
    c.net.partition(&[&["a", "b"], &["c", "d", "e"]]);
    c.round();
    assert_eq!(c.node("a").role(), Role::Standby, "a lost its quorum");
    for step in 0..60 {
        c.clock.advance(Duration::from_secs(1));
        c.round();
        let p = c.primaries();
        assert!(p.len() <= 1, "step {step}: {p:?}");
        assert!(p.iter().all(|(n, _)| !["a", "b"].contains(n)), "{p:?}");
    }
    assert_eq!(c.primaries().len(), 1);
    assert_eq!(c.node("b").stats().activations, 0);
    assert!(c.node("b").stats().quorum_refusals > 0);
    assert_eq!(c.node("a").stats().activations, 1);
}

/// xorshift, for a repeatable random schedule.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn random_partitions_and_pauses_never_let_a_stale_write_through() {
    let mut total_rejected = 0;
    for seed in 1..=12u64 {
        let clock = Arc::new(ManualClock::new());
        let net = Arc::new(SimNetwork::new());
        let members = ["m1", "m2", "m3"];
        let store =
            InProcessStore::replicated(clock.clone(), net.clone(), &members, Replication::Majority)
                .unwrap();
        let c = Cluster::new(store, clock.clone(), false);
        let disk = FencedResource::new(Vec::<(String, u64)>::new());
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        // Writes decided but not yet landed: (node, token, step it lands).
        let mut delayed: Vec<(String, FencingToken, u32)> = Vec::new();
        let mut holder: HashMap<FencingToken, String> = HashMap::new();
        let (mut accepted, mut rejected) = (0u32, 0u32);

        for step in 0..400u32 {
            if step % 10 == 0 {
                // A new random partition of nodes and store members in two.
                let hosts: Vec<&str> = NODES.iter().chain(members.iter()).copied().collect();
                let (mut left, mut right) = (Vec::new(), Vec::new());
                for h in hosts {
                    if rng.below(2) == 0 {
                        left.push(h)
                    } else {
                        right.push(h)
                    }
                }
                if rng.below(4) == 0 {
                    net.heal();
                } else {
                    net.partition(&[&left, &right]);
                }
            }
            clock.advance(Duration::from_millis(200 + rng.below(3000)));
            for n in &c.nodes {
                let before = n.token();
                if n.tick() == Role::Standby {
                    if let Ok(t) = n.try_activate() {
                        if before.is_none() {
                            // Activated: only with a majority of the store.
                            let reach = members
                                .iter()
                                .filter(|m| net.connected(n.node(), m))
                                .count();
                            assert!(
                                reach >= 2,
                                "seed {seed}: {} activated with {reach}/3",
                                n.node()
                            );
                            let prev = holder.insert(t, n.node().to_string());
                            assert!(
                                prev.is_none() || prev.as_deref() == Some(n.node()),
                                "seed {seed}: token {t} handed to {prev:?} and {}",
                                n.node()
                            );
                        }
                    }
                }
            }
            // Every node that believes it is primary writes; some stall first.
            for n in &c.nodes {
                if let Some(t) = n.token() {
                    let lands = step
                        + if rng.below(5) == 0 {
                            1 + rng.below(80) as u32
                        } else {
                            0
                        };
                    delayed.push((n.node().to_string(), t, lands));
                }
            }
            let (now, later): (Vec<_>, Vec<_>) = delayed.drain(..).partition(|w| w.2 <= step);
            delayed = later;
            for (who, t, _) in now {
                let newest = disk.newest();
                match disk.write(t, |v| v.push((who.clone(), t.get()))) {
                    Ok(()) => {
                        assert!(
                            t >= newest,
                            "seed {seed}: stale {t} accepted after {newest}"
                        );
                        assert_eq!(
                            holder.get(&t),
                            Some(&who),
                            "seed {seed}: {who} wrote with {t}"
                        );
                        accepted += 1;
                    }
                    Err(e) => {
                        assert!(t < newest && e.current == newest);
                        rejected += 1;
                    }
                }
            }
        }
        // The log the disk kept is in token order, and the run was a real test.
        let log = disk.read(|v| v.clone());
        assert!(log.windows(2).all(|w| w[0].1 <= w[1].1), "seed {seed}");
        assert!(accepted > 50, "seed {seed}: {accepted} writes");
        assert!(
            holder.len() >= 3,
            "seed {seed}: only {} terms",
            holder.len()
        );
        total_rejected += rejected;
        assert!(c.store.revision() > 0);
    }
    assert!(
        total_rejected > 0,
        "no stalled write ever met a newer token"
    );
}

#[test]
fn stale_writes_are_seen_and_refused_somewhere_in_the_random_runs() {
    // The same schedule as above, counting only: pauses past a lease do
    // happen, and every one of their writes was refused.
    let clock = Arc::new(ManualClock::new());
    let store = InProcessStore::new(clock.clone());
    let c = Cluster::new(store, clock.clone(), false);
    let disk = FencedResource::new(0u32);
    let mut rng = Rng(0x5EED);
    let mut delayed = Vec::new();
    for step in 0..300u32 {
        if step % 25 == 0 {
            let leader = c.primaries().first().map(|p| p.0.to_string());
            if let Some(l) = leader {
                c.net.isolate(&l);
            }
        }
        if step % 25 == 12 {
            c.net.heal();
        }
        clock.advance(Duration::from_millis(500 + rng.below(1500)));
        c.round();
        for n in &c.nodes {
            if let Some(t) = n.token() {
                delayed.push((t, step + rng.below(40) as u32));
            }
        }
        let (now, later): (Vec<_>, Vec<_>) = delayed.drain(..).partition(|w| w.1 <= step);
        delayed = later;
        for (t, _) in now {
            let _ = disk.write(t, |v| *v += 1);
        }
    }
    assert!(disk.rejected() > 0, "no stale write was ever attempted");
    assert!(disk.accepted() > 100);
}

#[test]
fn leaders_are_observed_and_quorum_rules_are_checked() {
    let (store, clock) = colocated(Replication::Majority);
    let c = Cluster::new(store, clock, true);
    c.round();
    let a = c.store.client("c");
    let leader = a.observe("orders-db", 0, Duration::ZERO).unwrap().unwrap();
    assert_eq!(leader.value, "a");
    assert!(Quorum::new(Vec::<String>::new()).is_err());
    let q = Quorum::new(NODES).unwrap();
    assert_eq!(q.needed(), 3);
    c.net.partition(&[&["a", "b"], &["c", "d", "e"]]);
    assert_eq!(q.reachable_from("a", &*c.net), 2);
    assert_eq!(q.check("c", &*c.net), Ok(3));
}

#[test]
fn a_resigning_primary_hands_over_at_once() {
    let clock = Arc::new(ManualClock::new());
    let store = InProcessStore::new(clock.clone());
    let a = Candidate::new("a", "orders-db", store.client("a")).clock(clock.clone());
    let b = Candidate::new("b", "orders-db", store.client("b"))
        .clock(clock.clone())
        .value("10.0.0.2:5432");
    let ta = a.try_activate().unwrap();
    assert_eq!(
        a.try_activate().unwrap(),
        ta,
        "activating twice keeps the term"
    );
    assert!(b.try_activate().is_err());
    a.resign();
    assert_eq!(a.role(), Role::Standby);
    assert!(a.leadership().is_none());
    let tb = b.try_activate().unwrap();
    assert!(tb > ta);
    assert_eq!(b.leadership().unwrap().token(), tb);
    let leader = store.client("a").leader("orders-db").unwrap().unwrap();
    assert_eq!(
        (leader.value.as_str(), leader.revision),
        ("10.0.0.2:5432", tb.get())
    );
    assert_eq!(a.stats().step_downs, 1);
}
