//! Coordination between nodes (`docs/semantics.md#coordination-and-quorum`):
//! leases, elections, revisions.
//!
//! Deciding which node is primary across hosts needs a coordination service
//! that itself survives partitions, i.e. one built on a quorum (etcd, with
//! Raft underneath). fusebox does not grow its own; it talks to one through
//! the [`Coordinator`] trait, which is shaped after etcd's v3 API so that an
//! etcd client can implement it method for method:
//!
//! | [`Coordinator`] | etcd v3 |
//! |---|---|
//! | [`grant`](Coordinator::grant) | `LeaseGrant(ttl)` |
//! | [`keep_alive`](Coordinator::keep_alive) | one round of `LeaseKeepAlive` |
//! | [`revoke`](Coordinator::revoke) | `LeaseRevoke` |
//! | [`campaign`](Coordinator::campaign) | `Election.Campaign` (a deadline on the context) |
//! | [`resign`](Coordinator::resign) | `Election.Resign` |
//! | [`leader`](Coordinator::leader) | `Election.Leader` |
//! | [`observe`](Coordinator::observe) | `Election.Observe`, read until a change or a deadline |
//! | [`put_fenced`](Coordinator::put_fenced) | `Txn(If(CreateRevision(leader key) == rev), Then(Put))` |
//! | [`get`](Coordinator::get) | `Range(key)` |
//!
//! Every call is fallible ([`CoordError`]) and blocking: a network call may
//! fail or time out, and the minority side of a partition gets
//! [`CoordError::NoQuorum`] or [`CoordError::Unavailable`]. The fencing token
//! of a leader is the revision at which its leader key was created
//! ([`Leadership::token`]): the store's revision only grows, so a later leader
//! always holds a larger token.
//!
//! [`InProcessStore`] implements the trait in process, for tests and demos:
//! leases expire on a [`ClockSource`](crate::ClockSource) (so a
//! [`ManualClock`](crate::ManualClock) drives them), the store can be
//! replicated over named members with a majority rule, and a [`SimNetwork`]
//! partitions nodes from each other and from the store's members.
//!
//! [`Quorum`] is the node-side rule: count the voters a node can reach
//! (through [`Peers`]) and refuse to activate without a majority.

use crate::failover::fencing::FencingToken;
use std::fmt;
use std::time::Duration;

mod memory;
mod network;

pub use memory::{InProcessClient, InProcessStore, Replication};
pub use network::SimNetwork;

/// A lease id, as the store hands it out.
pub type LeaseId = u64;

/// A store revision: a counter bumped by every change to the store.
pub type Revision = u64;

/// A lease: keys attached to it are deleted when it expires or is revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The lease id.
    pub id: LeaseId,
    /// Its time to live: it expires unless kept alive within this time.
    pub ttl: Duration,
}

/// Proof of having won an election.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Leadership {
    /// The election's name.
    pub election: String,
    /// The leader key (deleted when the lease ends, on resignation or expiry).
    pub key: String,
    /// The revision at which the leader key was created.
    pub revision: Revision,
    /// The lease the key is attached to.
    pub lease: LeaseId,
}

impl Leadership {
    /// The fencing token of this term: the leader key's create revision.
    pub fn token(&self) -> FencingToken {
        FencingToken(self.revision)
    }
}

/// The current leader of an election, as observers see it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeaderInfo {
    /// The leader key.
    pub key: String,
    /// The value the leader campaigned with (e.g. its address).
    pub value: String,
    /// The leader key's create revision (the leader's fencing token).
    pub revision: Revision,
}

/// Why a coordination call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoordError {
    /// The store could not be reached (network, partition, timeout).
    Unavailable(String),
    /// Fewer than a majority of the voters (store members or peer nodes)
    /// could be reached.
    NoQuorum {
        /// Voters reached, the caller included where it votes.
        reachable: usize,
        /// Voters needed.
        needed: usize,
    },
    /// The lease does not exist (it expired or was revoked).
    LeaseNotFound(LeaseId),
    /// The campaign's wait ended with another node still leader.
    NotElected {
        /// The leader at that moment, if any.
        leader: Option<LeaderInfo>,
    },
    /// The caller's leadership is gone (its key was deleted or replaced):
    /// a fenced write was refused.
    NotLeader,
    /// A bad argument.
    Invalid {
        /// The argument.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
}

impl fmt::Display for CoordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoordError::Unavailable(why) => write!(f, "coordination store unavailable: {why}"),
            CoordError::NoQuorum { reachable, needed } => {
                write!(
                    f,
                    "no quorum: {reachable} voters reachable, {needed} needed"
                )
            }
            CoordError::LeaseNotFound(id) => {
                write!(f, "lease {id:x} not found (expired or revoked)")
            }
            CoordError::NotElected { leader: Some(l) } => write!(
                f,
                "not elected: {} (revision {}) is leader",
                l.value, l.revision
            ),
            CoordError::NotElected { leader: None } => write!(f, "not elected"),
            CoordError::NotLeader => write!(f, "not the leader any more"),
            CoordError::Invalid { what, detail } => write!(f, "invalid {what}: {detail}"),
        }
    }
}

impl std::error::Error for CoordError {}

/// A coordination service, shaped after etcd's v3 API (see the module docs).
///
/// Implementations are blocking and thread-safe; none of this is on a hot
/// path. Durations are the caller's upper bounds; a real implementation adds
/// its own network timeouts and reports them as [`CoordError::Unavailable`].
pub trait Coordinator: Send + Sync {
    /// Create a lease with the given time to live.
    fn grant(&self, ttl: Duration) -> Result<Lease, CoordError>;

    /// Renew a lease for another TTL; returns the TTL granted.
    fn keep_alive(&self, lease: LeaseId) -> Result<Duration, CoordError>;

    /// End a lease now, deleting its keys.
    fn revoke(&self, lease: LeaseId) -> Result<(), CoordError>;

    /// Stand for `election` with a key attached to `lease`, waiting at most
    /// `wait` for the nodes ahead in line to go. On success the returned
    /// [`Leadership`] holds the fencing token. When the wait ends first the
    /// candidacy is withdrawn and [`CoordError::NotElected`] names the leader.
    fn campaign(
        &self,
        election: &str,
        lease: LeaseId,
        value: &str,
        wait: Duration,
    ) -> Result<Leadership, CoordError>;

    /// Give up leadership (deletes the leader key if it is still this term's;
    /// a no-op otherwise).
    fn resign(&self, leadership: &Leadership) -> Result<(), CoordError>;

    /// The current leader of `election`, if any.
    fn leader(&self, election: &str) -> Result<Option<LeaderInfo>, CoordError>;

    /// Wait at most `wait` until the leader of `election` is one whose
    /// revision differs from `known` (0: any leader), then return the leader
    /// then current (possibly unchanged, or none).
    fn observe(
        &self,
        election: &str,
        known: Revision,
        wait: Duration,
    ) -> Result<Option<LeaderInfo>, CoordError>;

    /// Write `key = value` only while `leadership` is still current (a
    /// transaction comparing the leader key's create revision); returns the
    /// revision of the write, or [`CoordError::NotLeader`].
    fn put_fenced(
        &self,
        leadership: &Leadership,
        key: &str,
        value: &str,
    ) -> Result<Revision, CoordError>;

    /// Read `key`: its value and the revision of its last change.
    fn get(&self, key: &str) -> Result<Option<(String, Revision)>, CoordError>;
}

impl<C: Coordinator + ?Sized> Coordinator for std::sync::Arc<C> {
    fn grant(&self, ttl: Duration) -> Result<Lease, CoordError> {
        (**self).grant(ttl)
    }
    fn keep_alive(&self, lease: LeaseId) -> Result<Duration, CoordError> {
        (**self).keep_alive(lease)
    }
    fn revoke(&self, lease: LeaseId) -> Result<(), CoordError> {
        (**self).revoke(lease)
    }
    fn campaign(
        &self,
        election: &str,
        lease: LeaseId,
        value: &str,
        wait: Duration,
    ) -> Result<Leadership, CoordError> {
        (**self).campaign(election, lease, value, wait)
    }
    fn resign(&self, leadership: &Leadership) -> Result<(), CoordError> {
        (**self).resign(leadership)
    }
    fn leader(&self, election: &str) -> Result<Option<LeaderInfo>, CoordError> {
        (**self).leader(election)
    }
    fn observe(
        &self,
        election: &str,
        known: Revision,
        wait: Duration,
    ) -> Result<Option<LeaderInfo>, CoordError> {
        (**self).observe(election, known, wait)
    }
    fn put_fenced(
        &self,
        leadership: &Leadership,
        key: &str,
        value: &str,
    ) -> Result<Revision, CoordError> {
        (**self).put_fenced(leadership, key, value)
    }
    fn get(&self, key: &str) -> Result<Option<(String, Revision)>, CoordError> {
        (**self).get(key)
    }
}

/// Who can reach whom (for the node-side quorum rule).
pub trait Peers: Send + Sync {
    /// Whether `from` can reach `to` now.
    fn reachable(&self, from: &str, to: &str) -> bool;
}

/// A majority rule over a fixed set of voters ("3 of 5").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quorum {
    voters: Vec<String>,
}

impl Quorum {
    /// A quorum over these voters (duplicates are ignored).
    pub fn new<S: Into<String>>(voters: impl IntoIterator<Item = S>) -> Result<Quorum, CoordError> {
        let mut v: Vec<String> = voters.into_iter().map(Into::into).collect();
        v.sort();
        v.dedup();
        if v.is_empty() {
            return Err(CoordError::Invalid {
                what: "voters",
                detail: "a quorum needs at least one voter".into(),
            });
        }
        Ok(Quorum { voters: v })
    }

    /// The voters.
    pub fn voters(&self) -> &[String] {
        &self.voters
    }

    /// Votes needed: a strict majority.
    pub fn needed(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Voters `me` can reach, itself included if it votes.
    pub fn reachable_from(&self, me: &str, peers: &dyn Peers) -> usize {
        self.voters
            .iter()
            .filter(|v| v.as_str() == me || peers.reachable(me, v))
            .count()
    }

    /// `Ok(reachable)` with a majority, else [`CoordError::NoQuorum`].
    pub fn check(&self, me: &str, peers: &dyn Peers) -> Result<usize, CoordError> {
        let reachable = self.reachable_from(me, peers);
        if reachable >= self.needed() {
            Ok(reachable)
        } else {
            Err(CoordError::NoQuorum {
                reachable,
                needed: self.needed(),
            })
        }
    }
}
