//! A thread that drives a [`Candidate`]: keep the term alive, campaign while
//! the node may be primary, hand over when it may not, report errors.

use fusebox::coordination::{CoordError, Coordinator};
use fusebox::failover::{Candidate, FailoverGroup, Role, RoleEvent};
use fusebox::fencing::FencingToken;
use std::fmt;
use std::mem::Discriminant;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What an [`Elector`] reports, on fusebox's events thread.
///
/// [`ElectorEvent::Error`] is reported once per kind of failure until the
/// store answers again ([`ElectorEvent::Recovered`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElectorEvent {
    /// The candidate became primary (with its fencing token) or stepped
    /// down (with the reason: resigned, lease lost, unreachable, quorum lost).
    Role(RoleEvent),
    /// A call to the store failed (reported once per kind of failure, until
    /// the store answers again): the node cannot campaign meanwhile.
    Error {
        /// What the elector was doing.
        during: &'static str,
        /// The store's error.
        error: CoordError,
    },
    /// The store answers again after [`ElectorEvent::Error`]s.
    Recovered,
    /// The node was primary and may not be any more (e.g. its failover
    /// group failed back to a preferred node): it resigned so another can
    /// take over at once.
    HandedOver {
        /// The token of the term given up.
        token: FencingToken,
    },
}

impl fmt::Display for ElectorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElectorEvent::Role(e) => write!(f, "{e}"),
            ElectorEvent::Error { during, error } => write!(f, "{during} failed: {error}"),
            ElectorEvent::Recovered => write!(f, "the coordination store answers again"),
            ElectorEvent::HandedOver { token } => write!(f, "handed over (token {token})"),
        }
    }
}

type Listener = Arc<dyn Fn(&ElectorEvent) + Send + Sync>;
type Eligible = Box<dyn Fn() -> bool + Send>;

/// Builds an [`Elector`].
pub struct ElectorBuilder<C> {
    candidate: Arc<Candidate<C>>,
    every: Duration,
    eligible: Eligible,
    listeners: Vec<Listener>,
}

impl<C: Coordinator + 'static> ElectorBuilder<C> {
    /// How often to renew the lease and, while standby, to stand (default
    /// 1 s). Keep it at a quarter of the lease TTL or less: a primary that
    /// misses renewals for TTL − margin stops acting. A standby spends this
    /// long in line per campaign when the candidate's `campaign_wait` is
    /// set to it, which makes it take over as soon as the leader key goes.
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// Campaign only while `f` says the node may be primary (default:
    /// always); a primary for which it turns false resigns (hand-over).
    pub fn eligible(mut self, f: impl Fn() -> bool + Send + 'static) -> Self {
        self.eligible = Box::new(f);
        self
    }

    /// Be eligible exactly while `group` routes to its endpoint `endpoint`
    /// (this node): the group's breakers and health checks decide failover,
    /// and its stabilisation period decides failback; the election makes
    /// the decision exclusive across hosts and hands out the token.
    pub fn follow_group<T: Send + Sync + 'static>(
        self,
        group: Arc<FailoverGroup<T>>,
        endpoint: &str,
    ) -> Result<Self, CoordError> {
        let i = group
            .index_of(endpoint)
            .ok_or_else(|| CoordError::Invalid {
                what: "endpoint",
                detail: format!("{endpoint:?} is not in group {:?}", group.name()),
            })?;
        Ok(self.eligible(move || group.active() == i))
    }

    /// Call `f` on every event (role changes included), on fusebox's
    /// events thread.
    pub fn on_event(mut self, f: impl Fn(&ElectorEvent) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(f));
        self
    }

    /// Start the thread.
    pub fn spawn(self) -> std::io::Result<Elector> {
        let listeners: Arc<[Listener]> = self.listeners.into();
        if !listeners.is_empty() {
            let l = listeners.clone();
            self.candidate.on_change(move |e| {
                let ev = ElectorEvent::Role(e.clone());
                for f in l.iter() {
                    f(&ev);
                }
            });
        }
        let stop = Arc::new(AtomicU8::new(RUN));
        let running = Arc::new(AtomicBool::new(true));
        let state = Loop {
            candidate: self.candidate,
            every: self.every,
            eligible: self.eligible,
            listeners,
            stop: stop.clone(),
            last_error: None,
        };
        let r = running.clone();
        let handle = std::thread::Builder::new()
            .name(format!("fusebox-elector-{}", state.candidate.node()))
            .spawn(move || {
                state.run();
                r.store(false, Ordering::Release);
            })?;
        Ok(Elector {
            stop,
            running,
            handle: Some(handle),
        })
    }
}

const RUN: u8 = 0;
const STOP: u8 = 1;
const STOP_RESIGN: u8 = 2;

struct Loop<C> {
    candidate: Arc<Candidate<C>>,
    every: Duration,
    eligible: Eligible,
    listeners: Arc<[Listener]>,
    stop: Arc<AtomicU8>,
    /// The kind of the last failure reported, until the store answers.
    last_error: Option<(&'static str, Discriminant<CoordError>)>,
}

impl<C: Coordinator> Loop<C> {
    fn emit(&self, ev: ElectorEvent) {
        if self.listeners.is_empty() {
            return;
        }
        let l = self.listeners.clone();
        fusebox::events::dispatch(move || {
            for f in l.iter() {
                // One listener's panic must not silence the others.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&ev)));
            }
        });
    }

    fn ok(&mut self) {
        if self.last_error.take().is_some() {
            self.emit(ElectorEvent::Recovered);
        }
    }

    fn failed(&mut self, during: &'static str, error: CoordError) {
        // Once per kind: an outage alternates timeouts and "no leader"
        // answers, all of them `Unavailable`.
        let kind = Some((during, std::mem::discriminant(&error)));
        if self.last_error != kind {
            self.last_error = kind;
            self.emit(ElectorEvent::Error { during, error });
        }
    }

    fn eligible(&self) -> bool {
        // A panicking predicate means "not now", never a dead elector.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.eligible)()))
            .unwrap_or(false)
    }

    fn run(mut self) {
        loop {
            match self.stop.load(Ordering::Acquire) {
                RUN => {}
                STOP_RESIGN => {
                    self.candidate.resign();
                    return;
                }
                _ => return,
            }
            let started = Instant::now();
            let role = self.candidate.tick();
            let want = self.eligible();
            match role {
                Role::Primary(token) if !want => {
                    self.candidate.resign();
                    self.emit(ElectorEvent::HandedOver { token });
                }
                Role::Standby if want => match self.candidate.try_activate() {
                    Ok(_) | Err(CoordError::NotElected { .. }) => self.ok(),
                    Err(e) => self.failed("campaign", e),
                },
                _ => {}
            }
            // A campaign that waited in line used up the period already. A
            // primary wakes no later than the end of its local term, so
            // that the step-down is reported the moment it stops acting.
            let mut left = self.every.saturating_sub(started.elapsed());
            if let Some(term) = self.candidate.term_left() {
                left = left.min(term + Duration::from_millis(1));
            }
            if !left.is_zero() && self.stop.load(Ordering::Acquire) == RUN {
                std::thread::park_timeout(left);
            }
        }
    }
}

/// A thread driving a [`Candidate`] (see the module docs of this crate).
/// Dropping it stops the thread without resigning: the term then ends with
/// its lease, as after a crash.
#[derive(Debug)]
pub struct Elector {
    stop: Arc<AtomicU8>,
    running: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Elector {
    /// Start building an elector for `candidate`.
    pub fn builder<C: Coordinator + 'static>(candidate: Arc<Candidate<C>>) -> ElectorBuilder<C> {
        ElectorBuilder {
            candidate,
            every: Duration::from_secs(1),
            eligible: Box::new(|| true),
            listeners: Vec::new(),
        }
    }

    /// Whether the thread runs.
    pub fn running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// Stop the thread, resigning first (the term ends now, not at lease
    /// expiry).
    pub fn resign_and_stop(mut self) {
        self.halt(STOP_RESIGN);
    }

    /// Stop the thread without resigning.
    pub fn stop(mut self) {
        self.halt(STOP);
    }

    fn halt(&mut self, how: u8) {
        self.stop.store(how, Ordering::Release);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

impl Drop for Elector {
    fn drop(&mut self) {
        self.halt(STOP);
    }
}
