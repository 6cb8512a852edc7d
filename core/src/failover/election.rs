//! Becoming primary across nodes: a lease, an election, a quorum, a token.

use crate::engine::clock::ClockSource;
use crate::failover::coordination::{CoordError, Coordinator, Leadership, Lease, Peers, Quorum};
use crate::failover::fencing::FencingToken;
use crate::observe::events::Listeners;
use crate::sync::{AtomicU64, Mutex, MutexGuard, Ordering};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why a primary stopped being one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepDown {
    /// [`Candidate::resign`] was called.
    Resigned,
    /// The store says the lease is gone (it expired there).
    LeaseLost,
    /// The node cannot reach a majority of the voters.
    QuorumLost,
    /// The store could not be reached before the lease ran out locally.
    Unreachable,
}

impl StepDown {
    /// `resigned`, `lease_lost`, `quorum_lost`, `unreachable`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepDown::Resigned => "resigned",
            StepDown::LeaseLost => "lease_lost",
            StepDown::QuorumLost => "quorum_lost",
            StepDown::Unreachable => "unreachable",
        }
    }
}

/// A node's role changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleChange {
    /// It became primary with this fencing token.
    Activated(FencingToken),
    /// It stopped being primary (its token was this).
    SteppedDown(FencingToken, StepDown),
}

/// A role change, as listeners hear it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleEvent {
    /// The node.
    pub node: Arc<str>,
    /// The election.
    pub election: Arc<str>,
    /// What changed.
    pub change: RoleChange,
    /// Clock time, in ns.
    pub at_ns: u64,
}

impl fmt::Display for RoleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.change {
            RoleChange::Activated(t) => {
                write!(
                    f,
                    "{} became primary of {} with token {t}",
                    self.node, self.election
                )
            }
            RoleChange::SteppedDown(t, why) => write!(
                f,
                "{} stepped down as primary of {} (token {t}): {}",
                self.node,
                self.election,
                why.as_str()
            ),
        }
    }
}

/// What a node believes it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Primary, writing with this token.
    Primary(FencingToken),
    /// Not primary.
    Standby,
}

#[derive(Default)]
struct Inner {
    lease: Option<Lease>,
    leadership: Option<Leadership>,
}

/// A node that may become primary: it holds a lease in the coordination
/// store, campaigns in an election, and (optionally) refuses to activate, or
/// to stay active, without a majority of the voters. Its fencing token is the
/// election's revision.
///
/// The write path reads [`Candidate::token`], two atomic loads and a clock
/// read; activation and [`Candidate::tick`] (run it well within the lease
/// TTL, e.g. every TTL / 3) talk to the store under a lock of their own.
///
/// Two nodes in one election, through the in-process store (a stand-in for
/// etcd in tests):
///
/// ```rust
/// use fusebox::coordination::{CoordError, InProcessStore};
/// use fusebox::failover::{Candidate, Role};
/// use fusebox::ManualClock;
/// use std::{sync::Arc, time::Duration};
///
/// let clock = Arc::new(ManualClock::new());
/// let store = InProcessStore::new(clock.clone());
/// let ttl = Duration::from_secs(10);
/// let a = Candidate::new("a", "db-primary", store.client("a")).clock(clock.clone()).ttl(ttl);
/// let b = Candidate::new("b", "db-primary", store.client("b")).clock(clock.clone()).ttl(ttl);
///
/// let token_a = a.try_activate()?; // a is elected
/// assert_eq!(a.role(), Role::Primary(token_a));
/// assert!(matches!(b.try_activate(), Err(CoordError::NotElected { .. })));
/// assert_eq!(b.role(), Role::Standby);
///
/// // Renew within the TTL to stay primary.
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(a.tick(), Role::Primary(token_a));
///
/// // a steps down; b takes over with a larger fencing token, so a write
/// // still in flight from a is refused by a fenced resource.
/// a.resign();
/// let token_b = b.try_activate()?;
/// assert!(token_b > token_a);
/// assert_eq!((a.token(), b.token()), (None, Some(token_b)));
///
/// // Without renewals the local lease runs out: b stops calling itself
/// // primary even before the store notices.
/// clock.advance(ttl);
/// assert_eq!(b.role(), Role::Standby);
/// assert_eq!(a.stats().activations + b.stats().activations, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Candidate<C> {
    coord: C,
    clock: ClockSource,
    node: Arc<str>,
    election: Arc<str>,
    value: String,
    ttl: Duration,
    margin: Duration,
    campaign_wait: Duration,
    quorum: Option<(Quorum, Arc<dyn Peers>)>,
    /// The token while primary, 0 otherwise.
    token: AtomicU64,
    /// Local end of the lease: the time the last renewal was *sent* plus the
    /// TTL, which is never later than the store's own deadline.
    valid_until: AtomicU64,
    inner: Mutex<Inner>,
    activations: AtomicU64,
    step_downs: AtomicU64,
    quorum_refusals: AtomicU64,
    listeners: Arc<Listeners<RoleEvent>>,
}

impl<C> fmt::Debug for Candidate<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidate")
            .field("node", &self.node)
            .field("election", &self.election)
            .field("token", &self.token.load(Ordering::Relaxed))
            .finish()
    }
}

/// Counters of a [`Candidate`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CandidateStats {
    /// Times it became primary.
    pub activations: u64,
    /// Times it stopped being primary.
    pub step_downs: u64,
    /// Activations refused for want of a quorum.
    pub quorum_refusals: u64,
}

impl<C: Coordinator> Candidate<C> {
    /// Node `node` standing in `election` through `coord`, with a 10 s lease
    /// on the system clock and no node-side quorum.
    pub fn new(node: &str, election: &str, coord: C) -> Self {
        Candidate {
            coord,
            clock: ClockSource::Monotonic,
            node: node.into(),
            election: election.into(),
            value: node.to_string(),
            ttl: Duration::from_secs(10),
            margin: Duration::ZERO,
            campaign_wait: Duration::ZERO,
            quorum: None,
            token: AtomicU64::new(0),
            valid_until: AtomicU64::new(0),
            inner: Mutex::new(Inner::default()),
            activations: AtomicU64::new(0),
            step_downs: AtomicU64::new(0),
            quorum_refusals: AtomicU64::new(0),
            listeners: Default::default(),
        }
    }

    /// The clock the local lease deadline is judged on.
    pub fn clock(mut self, clock: impl Into<ClockSource>) -> Self {
        self.clock = clock.into();
        self
    }

    /// The lease TTL (default 10 s).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Stop acting as primary this long before the lease could run out: the
    /// local term ends at the time the last renewal was sent plus the TTL
    /// minus the margin, on the candidate's clock (default 0). The margin
    /// covers clock-rate drift between this host and the store, and the time
    /// a write takes to land after [`Candidate::token`] said yes. A margin
    /// of the TTL or more leaves no term at all.
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// What to campaign with (default: the node's name), e.g. its address.
    pub fn value(mut self, value: &str) -> Self {
        self.value = value.to_string();
        self
    }

    /// How long [`Candidate::try_activate`] waits in line (default 0).
    pub fn campaign_wait(mut self, wait: Duration) -> Self {
        self.campaign_wait = wait;
        self
    }

    /// Activate, and stay active, only while a majority of `quorum`'s voters
    /// is reachable through `peers`.
    pub fn quorum(mut self, quorum: Quorum, peers: Arc<dyn Peers>) -> Self {
        self.quorum = Some((quorum, peers));
        self
    }

    /// The node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Call `f` on every role change, on the events thread (never inside a
    /// call; see [`crate::events`]). A listener that panics is caught and
    /// counted in [`crate::events::stats`], as a breaker's listener is.
    ///
    /// ```rust
    /// use fusebox::coordination::InProcessStore;
    /// use fusebox::failover::{Candidate, RoleChange, StepDown};
    /// use fusebox::{events, ManualClock};
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let store = InProcessStore::new(clock.clone());
    /// let node = Candidate::new("a", "db-primary", store.client("a")).clock(clock.clone());
    /// let heard = Arc::new(Mutex::new(Vec::new()));
    /// let log = heard.clone();
    /// node.on_change(move |e| log.lock().unwrap().push(e.change.clone()));
    ///
    /// let token = node.try_activate()?;
    /// node.resign();
    /// // Delivered off the caller's thread: wait for the event thread in a test.
    /// assert!(events::flush(Duration::from_secs(10)));
    /// assert_eq!(
    ///     *heard.lock().unwrap(),
    ///     [RoleChange::Activated(token), RoleChange::SteppedDown(token, StepDown::Resigned)]
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_change(&self, f: impl Fn(&RoleEvent) + Send + Sync + 'static) {
        self.listeners.subscribe(f);
    }

    /// The token to write with, while this node believes it is primary (its
    /// local lease has not run out). A write must still go through a fence:
    /// the node may pause between this check and the write.
    pub fn token(&self) -> Option<FencingToken> {
        // Acquire pairs with the Release store of the token in `activate`:
        // a reader that sees the token sees its deadline.
        let t = self.token.load(Ordering::Acquire);
        if t == 0 || self.clock.now_ns() >= self.valid_until.load(Ordering::Acquire) {
            None
        } else {
            Some(FencingToken(t))
        }
    }

    /// What this node believes it is.
    pub fn role(&self) -> Role {
        self.token().map_or(Role::Standby, Role::Primary)
    }

    /// How long the term has left on this node's clock (zero once it has
    /// run out), or `None` when not primary: call [`Candidate::tick`] by
    /// then at the latest, and the step-down is reported as the term ends.
    pub fn term_left(&self) -> Option<Duration> {
        if self.token.load(Ordering::Acquire) == 0 {
            return None;
        }
        let left = self
            .valid_until
            .load(Ordering::Acquire)
            .saturating_sub(self.clock.now_ns());
        Some(Duration::from_nanos(left))
    }

    /// The current term, while primary.
    pub fn leadership(&self) -> Option<Leadership> {
        self.lock().leadership.clone()
    }

    /// Counters.
    pub fn stats(&self) -> CandidateStats {
        CandidateStats {
            activations: self.activations.load(Ordering::Relaxed),
            step_downs: self.step_downs.load(Ordering::Relaxed),
            quorum_refusals: self.quorum_refusals.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_quorum(&self) -> Result<(), CoordError> {
        match &self.quorum {
            Some((q, peers)) => q.check(&self.node, &**peers).map(|_| ()),
            None => Ok(()),
        }
    }

    /// How long a term lasts locally after a renewal is sent.
    fn term_ns(&self) -> u64 {
        u64::try_from(self.ttl.saturating_sub(self.margin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Try to become primary: check the quorum, take (or renew) a lease,
    /// campaign. Returns the fencing token of the new term (or of the
    /// current one if already primary).
    pub fn try_activate(&self) -> Result<FencingToken, CoordError> {
        let mut g = self.lock();
        if let Some(t) = self.token() {
            return Ok(t);
        }
        if self.token.load(Ordering::Acquire) != 0 {
            // The local lease ran out without a tick noticing.
            self.step_down(&mut g, StepDown::Unreachable);
        }
        if let Err(e) = self.check_quorum() {
            self.quorum_refusals.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        let sent = self.clock.now_ns();
        let lease = match g.lease.take() {
            Some(l) => match self.coord.keep_alive(l.id) {
                Ok(_) => l,
                Err(CoordError::LeaseNotFound(_)) => self.coord.grant(self.ttl)?,
                Err(e) => {
                    g.lease = Some(l);
                    return Err(e);
                }
            },
            None => self.coord.grant(self.ttl)?,
        };
        let id = lease.id;
        g.lease = Some(lease);
        let l = self
            .coord
            .campaign(&self.election, id, &self.value, self.campaign_wait)?;
        let token = l.token();
        g.leadership = Some(l);
        self.valid_until
            .store(sent.saturating_add(self.term_ns()), Ordering::Release);
        self.token.store(token.0, Ordering::Release);
        self.activations.fetch_add(1, Ordering::Relaxed);
        self.emit(RoleChange::Activated(token));
        Ok(token)
    }

    /// Keep the term alive; step down when the quorum is lost, when the store
    /// says the lease is gone, or when the store cannot be reached before the
    /// local lease runs out. Returns the role after.
    pub fn tick(&self) -> Role {
        let mut g = self.lock();
        if self.token.load(Ordering::Acquire) == 0 {
            return Role::Standby;
        }
        if self.check_quorum().is_err() {
            self.step_down(&mut g, StepDown::QuorumLost);
            return Role::Standby;
        }
        let Some(id) = g.lease.as_ref().map(|l| l.id) else {
            self.step_down(&mut g, StepDown::LeaseLost);
            return Role::Standby;
        };
        let sent = self.clock.now_ns();
        if sent >= self.valid_until.load(Ordering::Acquire) {
            // The term ran out locally (renewals failed, or this node was
            // paused): it stopped acting then; say so now. The lease may live
            // on: the next activation takes the same term back if no one else
            // was elected meanwhile.
            self.step_down(&mut g, StepDown::Unreachable);
            return Role::Standby;
        }
        match self.coord.keep_alive(id) {
            Ok(_) => {
                self.valid_until
                    .store(sent.saturating_add(self.term_ns()), Ordering::Release);
            }
            Err(CoordError::LeaseNotFound(_)) => {
                g.lease = None;
                self.step_down(&mut g, StepDown::LeaseLost);
            }
            Err(_) => {
                // `now`, not `sent`: a failed call may have taken a while.
                if self.clock.now_ns() >= self.valid_until.load(Ordering::Acquire) {
                    self.step_down(&mut g, StepDown::Unreachable);
                }
            }
        }
        self.role()
    }

    /// Give up the term (and the lease), best effort.
    pub fn resign(&self) {
        let mut g = self.lock();
        // Step down here before the store lets another candidate win: no
        // moment where this node still holds its token while another
        // already holds the next one.
        let leadership = g.leadership.clone();
        if self.token.load(Ordering::Acquire) != 0 {
            self.step_down(&mut g, StepDown::Resigned);
        }
        if let Some(l) = leadership {
            let _ = self.coord.resign(&l);
        }
        if let Some(l) = g.lease.take() {
            let _ = self.coord.revoke(l.id);
        }
    }

    fn step_down(&self, g: &mut Inner, why: StepDown) {
        g.leadership = None;
        let t = self.token.swap(0, Ordering::AcqRel);
        if t != 0 {
            self.step_downs.fetch_add(1, Ordering::Relaxed);
            self.emit(RoleChange::SteppedDown(FencingToken(t), why));
        }
    }

    fn emit(&self, change: RoleChange) {
        self.listeners.emit(|| RoleEvent {
            node: self.node.clone(),
            election: self.election.clone(),
            change,
            at_ns: self.clock.now_ns(),
        });
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! `RUSTFLAGS="--cfg loom" cargo test -p fusebox --release --lib
    //! election::loom`: the candidate's token, deadline and counters, with
    //! its writers (activation, tick, resign) racing each other and the
    //! lock-free readers. The in-process store behind it is not modelled
    //! (its own std lock makes each call one step); the manual clock does
    //! not move unless a model moves it.
    use super::*;
    use crate::failover::coordination::{InProcessClient, InProcessStore};
    use crate::ManualClock;
    use loom::sync::atomic::AtomicUsize;
    use loom::thread;

    const TTL: Duration = Duration::from_secs(10);

    fn candidate(clock: &Arc<ManualClock>) -> (InProcessStore, Arc<Candidate<InProcessClient>>) {
        let store = InProcessStore::new(clock.clone());
        let c = Candidate::new("a", "db", store.client("a"))
            .clock(clock.clone())
            .ttl(TTL);
        (store, Arc::new(c))
    }

    /// An RMW first in every racing thread: loom's DPOR keeps only the
    /// last access to an object, so a thread that only loads, run first,
    /// might never be reordered after the other's writes.
    fn pass(gate: &AtomicUsize) {
        gate.fetch_add(1, Ordering::Relaxed);
    }

    #[test]
    fn loom_two_callers_activate_once() {
        loom::model(|| {
            let clock = Arc::new(ManualClock::new());
            let (_store, c) = candidate(&clock);
            let c1 = c.clone();
            let t = thread::spawn(move || c1.try_activate());
            let mine = c.try_activate().expect("elected");
            let theirs = t.join().unwrap().expect("elected");
            assert_eq!(mine, theirs, "one term, one token");
            assert_eq!(c.token(), Some(mine));
            let s = c.stats();
            assert_eq!((s.activations, s.step_downs), (1, 0), "activated once");
        });
    }

    #[test]
    fn loom_a_reader_sees_the_token_with_its_deadline() {
        // "A reader that sees the token sees its deadline": never a fresh
        // token with the deadline of before (0, a term already over).
        loom::model(|| {
            let clock = Arc::new(ManualClock::new());
            let (_store, c) = candidate(&clock);
            let gate = Arc::new(AtomicUsize::new(0));
            let (c1, gate1) = (c.clone(), gate.clone());
            let reader = thread::spawn(move || {
                pass(&gate1);
                c1.term_left()
            });
            pass(&gate);
            let token = c.try_activate().expect("elected");
            let seen = reader.join().unwrap();
            assert!(
                seen.is_none() || seen == Some(TTL),
                "the token without its deadline: {seen:?} left"
            );
            assert_eq!((c.token(), c.term_left()), (Some(token), Some(TTL)));
        });
    }

    #[test]
    fn loom_a_lapsed_term_steps_down_once() {
        // The term ran out locally (no renewal for a TTL): a tick and a
        // resign race to say so, and a reader races both.
        loom::model(|| {
            let clock = Arc::new(ManualClock::new());
            let (store, c) = candidate(&clock);
            let first = c.try_activate().expect("elected");
            clock.advance(TTL);
            let gate = Arc::new(AtomicUsize::new(0));
            let (c1, gate1) = (c.clone(), gate.clone());
            let ticker = thread::spawn(move || {
                pass(&gate1);
                c1.tick()
            });
            let (c2, gate2) = (c.clone(), gate.clone());
            let reader = thread::spawn(move || {
                pass(&gate2);
                c2.term_left()
            });
            pass(&gate);
            c.resign();
            assert_eq!(ticker.join().unwrap(), Role::Standby);
            let seen = reader.join().unwrap();
            assert!(
                seen.is_none() || seen == Some(Duration::ZERO),
                "a lapsed term with time left: {seen:?}"
            );
            assert_eq!(c.role(), Role::Standby);
            let s = c.stats();
            assert_eq!((s.activations, s.step_downs), (1, 1), "stepped down once");
            assert!(store.client("b").leader("db").unwrap().is_none());
            // The next term's token is larger.
            let second = c.try_activate().expect("elected again");
            assert!(second > first, "{second} after {first}");
        });
    }
}
