//! An in-process [`Coordinator`]: a small etcd look-alike for tests and demos.

use super::{
    CoordError, Coordinator, LeaderInfo, Leadership, Lease, LeaseId, Revision, SimNetwork,
};
use crate::engine::clock::ClockSource;
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How the store's members agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Replication {
    /// Like etcd (Raft): a change needs a majority of the members; the side
    /// of a partition without one gets [`CoordError::NoQuorum`]. Any majority
    /// holds the latest state, so no change is ever lost.
    #[default]
    Majority,
    /// No quorum: whatever members a client reaches accept its changes. The
    /// sides of a partition go their own ways (and both elect a leader);
    /// on healing the side with the higher revision wins. This is the
    /// failure quorum prevents; it exists to show it.
    Async,
}

#[derive(Clone, Debug)]
struct LeaseRec {
    ttl: Duration,
    expires_ns: u64,
}

#[derive(Clone, Debug)]
struct KeyRec {
    value: String,
    create: Revision,
    modified: Revision,
    lease: Option<LeaseId>,
}

/// One member's copy of the data.
#[derive(Clone, Debug, Default)]
struct Data {
    revision: Revision,
    last_lease: LeaseId,
    leases: BTreeMap<LeaseId, LeaseRec>,
    keys: BTreeMap<String, KeyRec>,
}

impl Data {
    fn expire(&mut self, now: u64) {
        let dead: Vec<LeaseId> = self
            .leases
            .iter()
            .filter(|(_, l)| l.expires_ns <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in dead {
            self.drop_lease(id);
        }
    }

    fn drop_lease(&mut self, id: LeaseId) {
        self.leases.remove(&id);
        let before = self.keys.len();
        self.keys.retain(|_, k| k.lease != Some(id));
        if self.keys.len() != before {
            // One revision for the deletion of the lease's keys, as etcd does.
            self.revision += 1;
        }
    }

    fn put(&mut self, key: &str, value: &str, lease: Option<LeaseId>) -> Revision {
        self.revision += 1;
        let rev = self.revision;
        let create = self.keys.get(key).map_or(rev, |k| k.create);
        self.keys.insert(
            key.to_string(),
            KeyRec {
                value: value.to_string(),
                create,
                modified: rev,
                lease,
            },
        );
        rev
    }

    fn delete(&mut self, key: &str) -> bool {
        if self.keys.remove(key).is_some() {
            self.revision += 1;
            true
        } else {
            false
        }
    }

    /// The leader of an election: the live key under its prefix with the
    /// lowest create revision (etcd's rule).
    fn leader(&self, election: &str) -> Option<(String, KeyRec)> {
        let prefix = format!("{election}/");
        self.keys
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .min_by_key(|(_, r)| r.create)
            .map(|(k, r)| (k.clone(), r.clone()))
    }
}

fn info((key, r): (String, KeyRec)) -> LeaderInfo {
    LeaderInfo {
        key,
        value: r.value,
        revision: r.create,
    }
}

#[derive(Debug)]
struct Shared {
    clock: ClockSource,
    net: Arc<SimNetwork>,
    members: Vec<String>,
    replication: Replication,
    data: Mutex<Vec<Data>>,
    changed: Condvar,
}

/// The store. Hand each node its own [`InProcessClient`] with
/// [`InProcessStore::client`]; partitions are made on its [`SimNetwork`].
#[derive(Clone, Debug)]
pub struct InProcessStore {
    shared: Arc<Shared>,
}

impl InProcessStore {
    /// A single-member store (member `"store"`) on its own network.
    pub fn new(clock: impl Into<ClockSource>) -> Self {
        Self::with_network(clock, Arc::new(SimNetwork::new()))
    }

    /// A single-member store (member `"store"`) on `net`.
    pub fn with_network(clock: impl Into<ClockSource>, net: Arc<SimNetwork>) -> Self {
        Self::build(
            clock.into(),
            net,
            vec!["store".into()],
            Replication::Majority,
        )
    }

    /// A store replicated over the named members, which sit on `net` like
    /// any host (a member may share its name with a node: same host).
    pub fn replicated(
        clock: impl Into<ClockSource>,
        net: Arc<SimNetwork>,
        members: &[&str],
        replication: Replication,
    ) -> Result<Self, CoordError> {
        let mut m: Vec<String> = members.iter().map(|s| s.to_string()).collect();
        m.sort();
        m.dedup();
        if m.is_empty() {
            return Err(CoordError::Invalid {
                what: "members",
                detail: "a store needs at least one member".into(),
            });
        }
        Ok(Self::build(clock.into(), net, m, replication))
    }

    fn build(
        clock: ClockSource,
        net: Arc<SimNetwork>,
        members: Vec<String>,
        replication: Replication,
    ) -> Self {
        let n = members.len();
        InProcessStore {
            shared: Arc::new(Shared {
                clock,
                net,
                members,
                replication,
                data: Mutex::new(vec![Data::default(); n]),
                changed: Condvar::new(),
            }),
        }
    }

    /// The network the store's members and its clients sit on.
    pub fn network(&self) -> &Arc<SimNetwork> {
        &self.shared.net
    }

    /// The store's members.
    pub fn members(&self) -> &[String] {
        &self.shared.members
    }

    /// A client for the node named `node`.
    pub fn client(&self, node: &str) -> InProcessClient {
        InProcessClient {
            shared: self.shared.clone(),
            node: node.to_string(),
        }
    }

    /// The highest revision any member holds (for tests).
    pub fn revision(&self) -> Revision {
        self.shared
            .lock()
            .iter()
            .map(|d| d.revision)
            .max()
            .unwrap_or(0)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Vec<Data>> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` on the freshest data the node can reach, and copy the result
    /// to every member it reaches (which, under [`Replication::Majority`], is
    /// a majority: so every majority holds the latest change).
    fn op<R>(&self, node: &str, f: impl FnOnce(&mut Data, u64) -> R) -> Result<R, CoordError> {
        let mut data = self.lock();
        let reach: Vec<usize> = (0..self.members.len())
            .filter(|&i| self.net.connected(node, &self.members[i]))
            .collect();
        if reach.is_empty() {
            return Err(CoordError::Unavailable(format!(
                "{node} cannot reach any store member"
            )));
        }
        let needed = match self.replication {
            Replication::Majority => self.members.len() / 2 + 1,
            Replication::Async => 1,
        };
        if reach.len() < needed {
            return Err(CoordError::NoQuorum {
                reachable: reach.len(),
                needed,
            });
        }
        let best = reach
            .iter()
            .copied()
            .max_by_key(|&i| (data[i].revision, std::cmp::Reverse(i)))
            .unwrap_or(reach[0]);
        let mut d = data[best].clone();
        let now = self.clock.now_ns();
        d.expire(now);
        let before = d.revision;
        let r = f(&mut d, now);
        let changed = d.revision != before;
        for &i in &reach {
            data[i] = d.clone();
        }
        drop(data);
        if changed {
            self.changed.notify_all();
        }
        Ok(r)
    }

    /// Wait for a change, for at most `max` of real time.
    fn wait(&self, max: Duration) {
        // The lease clock may be a manual one that only a test thread moves;
        // wake often enough to notice expiries it causes.
        let g = self.lock();
        let _ = self
            .changed
            .wait_timeout(g, max.min(Duration::from_millis(2)));
    }
}

/// One node's connection to an [`InProcessStore`].
#[derive(Clone, Debug)]
pub struct InProcessClient {
    shared: Arc<Shared>,
    node: String,
}

impl InProcessClient {
    /// The node this client speaks for.
    pub fn node(&self) -> &str {
        &self.node
    }
}

impl Coordinator for InProcessClient {
    fn grant(&self, ttl: Duration) -> Result<Lease, CoordError> {
        if ttl.is_zero() {
            return Err(CoordError::Invalid {
                what: "ttl",
                detail: "a lease needs a positive time to live".into(),
            });
        }
        let ttl_ns = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
        self.shared.op(&self.node, |d, now| {
            d.last_lease += 1;
            let id = d.last_lease;
            d.leases.insert(
                id,
                LeaseRec {
                    ttl,
                    expires_ns: now.saturating_add(ttl_ns),
                },
            );
            Lease { id, ttl }
        })
    }

    fn keep_alive(&self, lease: LeaseId) -> Result<Duration, CoordError> {
        self.shared
            .op(&self.node, |d, now| match d.leases.get_mut(&lease) {
                Some(l) => {
                    let ttl_ns = u64::try_from(l.ttl.as_nanos()).unwrap_or(u64::MAX);
                    l.expires_ns = now.saturating_add(ttl_ns);
                    Ok(l.ttl)
                }
                None => Err(CoordError::LeaseNotFound(lease)),
            })?
    }

    fn revoke(&self, lease: LeaseId) -> Result<(), CoordError> {
        self.shared.op(&self.node, |d, _| {
            if d.leases.contains_key(&lease) {
                d.drop_lease(lease);
                Ok(())
            } else {
                Err(CoordError::LeaseNotFound(lease))
            }
        })?
    }

    fn campaign(
        &self,
        election: &str,
        lease: LeaseId,
        value: &str,
        wait: Duration,
    ) -> Result<Leadership, CoordError> {
        if election.is_empty() || election.contains('/') {
            return Err(CoordError::Invalid {
                what: "election",
                detail: format!("{election:?} (must be non-empty, without '/')"),
            });
        }
        let key = format!("{election}/{lease:x}");
        let deadline = Instant::now() + wait;
        loop {
            let r = self.shared.op(&self.node, |d, _| {
                if !d.leases.contains_key(&lease) {
                    return Err(CoordError::LeaseNotFound(lease));
                }
                match d.keys.get(&key) {
                    Some(k) if k.value == value => {}
                    _ => {
                        d.put(&key, value, Some(lease));
                    }
                }
                let leader = d.leader(election).expect("our key is under the prefix");
                if leader.0 == key {
                    Ok(Ok(Leadership {
                        election: election.to_string(),
                        key: key.clone(),
                        revision: leader.1.create,
                        lease,
                    }))
                } else {
                    Ok(Err(info(leader)))
                }
            })??;
            match r {
                Ok(l) => return Ok(l),
                Err(leader) => {
                    if Instant::now() >= deadline {
                        // Withdraw, as etcd's client does when the campaign's
                        // context ends. If that fails the key dies with its lease.
                        let _ = self.shared.op(&self.node, |d, _| d.delete(&key));
                        return Err(CoordError::NotElected {
                            leader: Some(leader),
                        });
                    }
                    self.shared
                        .wait(deadline.saturating_duration_since(Instant::now()));
                }
            }
        }
    }

    fn resign(&self, leadership: &Leadership) -> Result<(), CoordError> {
        self.shared.op(&self.node, |d, _| {
            if d.keys
                .get(&leadership.key)
                .is_some_and(|k| k.create == leadership.revision)
            {
                d.delete(&leadership.key);
            }
        })
    }

    fn leader(&self, election: &str) -> Result<Option<LeaderInfo>, CoordError> {
        self.shared
            .op(&self.node, |d, _| d.leader(election).map(info))
    }

    fn observe(
        &self,
        election: &str,
        known: Revision,
        wait: Duration,
    ) -> Result<Option<LeaderInfo>, CoordError> {
        let deadline = Instant::now() + wait;
        loop {
            let l = self.leader(election)?;
            if l.as_ref().map_or(0, |l| l.revision) != known || Instant::now() >= deadline {
                return Ok(l);
            }
            self.shared
                .wait(deadline.saturating_duration_since(Instant::now()));
        }
    }

    fn put_fenced(
        &self,
        leadership: &Leadership,
        key: &str,
        value: &str,
    ) -> Result<Revision, CoordError> {
        self.shared.op(&self.node, |d, _| {
            if d.keys
                .get(&leadership.key)
                .is_some_and(|k| k.create == leadership.revision)
            {
                Ok(d.put(key, value, None))
            } else {
                Err(CoordError::NotLeader)
            }
        })?
    }

    fn get(&self, key: &str) -> Result<Option<(String, Revision)>, CoordError> {
        self.shared.op(&self.node, |d, _| {
            d.keys.get(key).map(|k| (k.value.clone(), k.modified))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    #[test]
    fn lease_expires_on_the_manual_clock() {
        let clock = Arc::new(ManualClock::new());
        let store = InProcessStore::new(clock.clone());
        let a = store.client("a");
        let lease = a.grant(Duration::from_secs(10)).unwrap();
        clock.advance(Duration::from_secs(9));
        assert_eq!(a.keep_alive(lease.id), Ok(Duration::from_secs(10)));
        clock.advance(Duration::from_secs(9));
        assert!(a.keep_alive(lease.id).is_ok(), "kept alive 9 s ago");
        clock.advance(Duration::from_secs(10));
        assert_eq!(
            a.keep_alive(lease.id),
            Err(CoordError::LeaseNotFound(lease.id))
        );
    }

    #[test]
    fn first_campaigner_leads_and_tokens_grow() {
        let clock = Arc::new(ManualClock::new());
        let store = InProcessStore::new(clock.clone());
        let (a, b) = (store.client("a"), store.client("b"));
        let la = a.grant(Duration::from_secs(5)).unwrap();
        let lb = b.grant(Duration::from_secs(5)).unwrap();
        let ta = a.campaign("db", la.id, "a", Duration::ZERO).unwrap();
        match b.campaign("db", lb.id, "b", Duration::ZERO) {
            Err(CoordError::NotElected { leader: Some(l) }) => assert_eq!(l.value, "a"),
            other => panic!("{other:?}"),
        }
        assert_eq!(a.leader("db").unwrap().unwrap().revision, ta.revision);
        // Campaigning again with the same lease keeps the term.
        assert_eq!(a.campaign("db", la.id, "a", Duration::ZERO).unwrap(), ta);
        a.put_fenced(&ta, "config", "v1").unwrap();
        a.resign(&ta).unwrap();
        let tb = b.campaign("db", lb.id, "b", Duration::ZERO).unwrap();
        assert!(tb.token() > ta.token());
        assert_eq!(
            a.put_fenced(&ta, "config", "stale"),
            Err(CoordError::NotLeader)
        );
        let rev = b.put_fenced(&tb, "config", "v2").unwrap();
        assert_eq!(b.get("config").unwrap(), Some(("v2".to_string(), rev)));
        assert!(
            b.observe("db", ta.revision, Duration::ZERO)
                .unwrap()
                .unwrap()
                .revision
                == tb.revision
        );
    }

    #[test]
    fn campaign_waits_for_the_leader_to_go() {
        let clock = Arc::new(ManualClock::new());
        let store = InProcessStore::new(clock.clone());
        let (a, b) = (store.client("a"), store.client("b"));
        let la = a.grant(Duration::from_secs(5)).unwrap();
        let ta = a.campaign("db", la.id, "a", Duration::ZERO).unwrap();
        let lb = b.grant(Duration::from_secs(5)).unwrap();
        let waiter =
            std::thread::spawn(move || b.campaign("db", lb.id, "b", Duration::from_secs(30)));
        a.revoke(la.id).unwrap();
        let tb = waiter.join().unwrap().unwrap();
        assert!(tb.revision > ta.revision);
    }

    #[test]
    fn minority_side_gets_no_quorum() {
        let clock = Arc::new(ManualClock::new());
        let net = Arc::new(SimNetwork::new());
        let store = InProcessStore::replicated(
            clock,
            net.clone(),
            &["m1", "m2", "m3"],
            Replication::Majority,
        )
        .unwrap();
        let a = store.client("a");
        net.partition(&[&["a", "m1"], &["b", "m2", "m3"]]);
        assert_eq!(
            a.grant(Duration::from_secs(1)),
            Err(CoordError::NoQuorum {
                reachable: 1,
                needed: 2
            })
        );
        assert!(store.client("b").grant(Duration::from_secs(1)).is_ok());
        net.isolate("a");
        assert!(matches!(a.leader("x"), Err(CoordError::Unavailable(_))));
    }
}
