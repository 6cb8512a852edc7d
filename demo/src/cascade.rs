//! Part 2: a cascading failure (`docs/semantics.md#cascading-failure`),
//! simulated.
//!
//! An order service with a fixed pool of workers takes orders; each order
//! calls inventory, then payment, then logistics, holding its worker
//! throughout. At T+0 inventory's database turns slow (10 s a response) and
//! it recovers later. The same traffic runs twice:
//!
//! * [`Unprotected`]: plain calls that wait as long as the database takes.
//!   The pool fills within a second, orders queue, clients give up.
//! * [`Protected`], built in one place, [`build_fusebox_path`]: an adaptive
//!   timeout and a breaker per dependency, inventory as an active-passive
//!   [`FailoverGroup`] (primary database, standby replica) with health checks
//!   and a 5-minute failback stabilisation, cached inventory as the
//!   fallback, and a bulkhead that keeps inventory calls from holding more
//!   than [`Params::bulkhead_limit`] workers.
//!
//! Time is simulated: a discrete-event loop moves a [`ManualClock`] from one
//! event to the next, and every breaker, timeout and group reads that clock.
//! Minutes of service run in a fraction of a second, and every run prints the
//! same numbers.

use crate::samples::{Ending, Sample, Sampler};
use crate::usage::Rng;
use fusebox::bulkhead::{Bulkhead, RawBulkheadPermit};
use fusebox::failover::{Endpoint, FailoverGroup, Mode, RawPick};
use fusebox::timeout::AdaptiveTimeout;
use fusebox::{Breaker, Clock as _, Config, ManualClock, Outcome, RawPermit, State};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MS: u64 = 1_000_000;

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The scenario's knobs.
#[derive(Clone, Debug)]
pub struct Params {
    /// Worker threads of the order service.
    pub workers: usize,
    /// Orders arriving per second (Poisson).
    pub arrivals_per_s: f64,
    /// Normal traffic before T+0.
    pub warmup: Duration,
    /// How long inventory's database stays slow from T+0.
    pub outage: Duration,
    /// How long to keep going after it recovers.
    pub after: Duration,
    /// A slow database response.
    pub slow_response: Duration,
    /// Clients give up on an order after this long.
    pub client_deadline: Duration,
    /// Orders that may wait for a worker; more are refused.
    pub queue_limit: usize,
    /// Inventory's normal latency (its database).
    pub inventory_latency: Duration,
    /// The standby inventory's latency (a read replica elsewhere).
    pub standby_latency: Duration,
    /// Payment's latency.
    pub payment_latency: Duration,
    /// Logistics' latency.
    pub logistics_latency: Duration,
    /// Failback stabilisation period of the inventory group.
    pub stabilization: Duration,
    /// The breakers' open timeout.
    pub open_timeout: Duration,
    /// Health checks of the inventory endpoints run this often.
    pub health_check_every: Duration,
    /// A health check fails when the endpoint takes longer than this.
    pub health_check_timeout: Duration,
    /// Seed of the arrivals and latency jitter.
    pub seed: u64,
    /// Most workers inventory calls may hold at once (its bulkhead).
    pub bulkhead_limit: u32,
}

impl Params {
    /// The full scenario: 100 workers, 100 orders a second, 10 s
    /// database responses for a minute, and long enough after for the
    /// 5-minute failback stabilisation to play out.
    pub fn full() -> Params {
        Params {
            workers: 100,
            arrivals_per_s: 100.0,
            warmup: Duration::from_secs(10),
            outage: Duration::from_secs(60),
            after: Duration::from_secs(360),
            slow_response: Duration::from_secs(10),
            client_deadline: Duration::from_secs(5),
            queue_limit: 1000,
            inventory_latency: Duration::from_millis(20),
            standby_latency: Duration::from_millis(35),
            payment_latency: Duration::from_millis(30),
            logistics_latency: Duration::from_millis(20),
            stabilization: Duration::from_secs(300),
            open_timeout: Duration::from_secs(30),
            health_check_every: Duration::from_secs(5),
            health_check_timeout: Duration::from_secs(1),
            seed: 2024,
            bulkhead_limit: 20,
        }
    }

    /// A scaled-down scenario for tests.
    pub fn small() -> Params {
        Params {
            workers: 20,
            arrivals_per_s: 40.0,
            warmup: Duration::from_secs(5),
            outage: Duration::from_secs(20),
            after: Duration::from_secs(60),
            queue_limit: 100,
            client_deadline: Duration::from_secs(3),
            stabilization: Duration::from_secs(30),
            open_timeout: Duration::from_secs(5),
            health_check_every: Duration::from_secs(2),
            bulkhead_limit: 5,
            ..Params::full()
        }
    }
}

/// A dependency of the order service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dep {
    /// Stock check.
    Inventory,
    /// Charge.
    Payment,
    /// Shipping.
    Logistics,
}

const STEPS: [Dep; 3] = [Dep::Inventory, Dep::Payment, Dep::Logistics];

/// A backend the calls land on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Inventory's own database (the one that turns slow).
    InventoryPrimary,
    /// The standby inventory (a replica).
    InventoryStandby,
    /// Payment.
    Payment,
    /// Logistics.
    Logistics,
}

/// The world the calls land in: who answers how fast, and when.
#[derive(Debug)]
pub struct World {
    clock: Arc<ManualClock>,
    origin_ns: u64,
    t0: u64,
    slow_until: u64,
    p: Params,
}

impl World {
    /// A world on `clock`, starting now.
    pub fn new(clock: Arc<ManualClock>, p: &Params) -> World {
        let t0 = ns(p.warmup);
        World {
            origin_ns: clock.now_ns(),
            clock,
            t0,
            slow_until: t0 + ns(p.outage),
            p: p.clone(),
        }
    }

    /// Simulated time since the start, in ns.
    pub fn now(&self) -> u64 {
        self.clock.now_ns() - self.origin_ns
    }

    /// Seconds relative to T+0 of a clock reading.
    pub fn rel_secs(&self, clock_ns: u64) -> f64 {
        (clock_ns as f64 - self.origin_ns as f64 - self.t0 as f64) / 1e9
    }

    /// How long `b` takes to answer a call made at `t`; `jitter` in [0, 1).
    pub fn latency(&self, b: Backend, t: u64, jitter: f64) -> u64 {
        let base = match b {
            Backend::InventoryPrimary if t >= self.t0 && t < self.slow_until => {
                return ns(self.p.slow_response)
            }
            Backend::InventoryPrimary => self.p.inventory_latency,
            Backend::InventoryStandby => self.p.standby_latency,
            Backend::Payment => self.p.payment_latency,
            Backend::Logistics => self.p.logistics_latency,
        };
        (ns(base) as f64 * (0.6 + 0.8 * jitter)) as u64
    }
}

/// How one dependency call ended, for the order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Answered.
    Ok,
    /// Answered by a fallback (cached inventory).
    Degraded,
    /// Failed: the order fails.
    Failed,
}

/// Handle of a call in flight.
pub type CallId = usize;

/// What a call path adds to the report.
#[derive(Clone, Debug, Default)]
pub struct PathReport {
    /// (clock ns, what happened): state changes, failovers, failbacks.
    pub timeline: Vec<(u64, String)>,
    /// Inventory calls the standby answered.
    pub by_standby: u64,
    /// Dependency calls cut short by a timeout.
    pub timeouts: u64,
    /// Failovers of the inventory group.
    pub failovers: u64,
    /// Failbacks of the inventory group.
    pub failbacks: u64,
    /// Most workers held by inventory calls at once.
    pub inventory_peak: u32,
    /// Inventory's bulkhead limit, if it has one.
    pub inventory_limit: Option<u32>,
    /// Inventory calls its bulkhead refused (served from the cache).
    pub inventory_shed: u64,
}

/// How the order service calls its dependencies. The simulation holds a
/// worker from `begin` to `end`.
pub trait CallPath {
    /// Start a call to `dep` at simulated time `now`; returns how long it
    /// keeps the worker (ns) and a handle for [`CallPath::end`].
    fn begin(&mut self, dep: Dep, now: u64, jitter: f64) -> (u64, CallId);
    /// The call's time is up.
    fn end(&mut self, call: CallId, now: u64) -> Step;
    /// Periodic upkeep (health checks), if any: its period.
    fn upkeep_every(&self) -> Option<Duration> {
        None
    }
    /// Periodic upkeep.
    fn upkeep(&mut self, _now: u64) {}
    /// Counters and timeline, at the end.
    fn report(&mut self) -> PathReport {
        PathReport::default()
    }
    /// The names of the path's breakers, if it has any.
    fn breaker_names(&self) -> Vec<String> {
        Vec::new()
    }
    /// Their states now, in the order of [`CallPath::breaker_names`].
    fn breaker_states(&self, _out: &mut Vec<State>) {}
}

/// Plain calls: no timeout, no breaker, no fallback, no failover.
#[derive(Debug)]
pub struct Unprotected {
    world: Arc<World>,
    /// Inventory calls holding a worker now, and at most.
    inventory: (u32, u32),
}

impl Unprotected {
    /// On `world`.
    pub fn new(world: Arc<World>) -> Self {
        Unprotected {
            world,
            inventory: (0, 0),
        }
    }
}

impl CallPath for Unprotected {
    fn begin(&mut self, dep: Dep, now: u64, jitter: f64) -> (u64, CallId) {
        let b = match dep {
            Dep::Inventory => Backend::InventoryPrimary,
            Dep::Payment => Backend::Payment,
            Dep::Logistics => Backend::Logistics,
        };
        let call = usize::from(dep == Dep::Inventory);
        if call == 1 {
            self.inventory.0 += 1;
            self.inventory.1 = self.inventory.1.max(self.inventory.0);
        }
        (self.world.latency(b, now, jitter), call)
    }
    fn end(&mut self, call: CallId, _now: u64) -> Step {
        if call == 1 {
            self.inventory.0 -= 1;
        }
        Step::Ok
    }
    fn report(&mut self) -> PathReport {
        PathReport {
            inventory_peak: self.inventory.1,
            ..PathReport::default()
        }
    }
}

/// Plain calls, but inventory behind a bulkhead of [`Params::bulkhead_limit`]
/// slots (no timeout, no breaker): a full bulkhead sends the order on with
/// cached inventory. Shows what the bulkhead alone does in the cascade: the
/// slow dependency holds at most its limit of the pool, and the orders keep
/// reaching the other dependencies.
#[derive(Debug)]
pub struct BulkheadOnly {
    world: Arc<World>,
    bulkhead: Bulkhead,
    slots: Vec<Option<RawBulkheadPermit>>,
    free: Vec<CallId>,
}

impl BulkheadOnly {
    /// On `world`.
    pub fn new(world: Arc<World>) -> Self {
        let bulkhead = Bulkhead::builder()
            .name("inventory")
            .max_concurrent(world.p.bulkhead_limit)
            .build()
            .expect("valid bulkhead");
        BulkheadOnly {
            world,
            bulkhead,
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl CallPath for BulkheadOnly {
    fn begin(&mut self, dep: Dep, now: u64, jitter: f64) -> (u64, CallId) {
        let (took, slot) = match dep {
            Dep::Inventory => match self.bulkhead.try_acquire_raw() {
                Ok(slot) => (
                    self.world.latency(Backend::InventoryPrimary, now, jitter),
                    Some(slot),
                ),
                Err(_) => (CACHE_LOOKUP, None),
            },
            Dep::Payment => (self.world.latency(Backend::Payment, now, jitter), None),
            Dep::Logistics => (self.world.latency(Backend::Logistics, now, jitter), None),
        };
        let id = match self.free.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        // Mark a refused inventory call (cached) apart from the others.
        let cached = dep == Dep::Inventory && slot.is_none();
        (took, id * 2 + usize::from(cached))
    }

    fn end(&mut self, call: CallId, _now: u64) -> Step {
        let id = call / 2;
        self.free.push(id);
        if let Some(slot) = self.slots[id].take() {
            self.bulkhead.record_raw(slot, Outcome::Success);
        }
        if call % 2 == 1 {
            Step::Degraded
        } else {
            Step::Ok
        }
    }

    fn report(&mut self) -> PathReport {
        PathReport {
            inventory_peak: self.bulkhead.peak_in_flight(),
            inventory_limit: Some(self.bulkhead.limit()),
            inventory_shed: self.bulkhead.metrics().rejected,
            ..PathReport::default()
        }
    }
}

/// One dependency behind a breaker and an adaptive timeout.
struct Guarded {
    backend: Backend,
    breaker: Breaker,
    timeout: AdaptiveTimeout,
}

enum Pending {
    Free,
    /// An inventory call through the group.
    Inventory {
        pick: RawPick,
        slot: RawBulkheadPermit,
        outcome: Outcome,
        took: u64,
    },
    /// No inventory endpoint would take the call: served from the cache.
    Cached,
    /// Payment or logistics.
    Plain {
        dep: Dep,
        permit: RawPermit,
        outcome: Outcome,
        took: u64,
    },
    /// Refused by a breaker, with no fallback.
    Refused,
}

/// The fusebox call path (see [`build_fusebox_path`]).
pub struct Protected {
    world: Arc<World>,
    inventory: FailoverGroup<Backend>,
    inventory_bulkhead: Bulkhead,
    inventory_timeout: AdaptiveTimeout,
    payment: Guarded,
    logistics: Guarded,
    pending: Vec<Pending>,
    free: Vec<CallId>,
    timeline: Arc<Mutex<Vec<(u64, String)>>>,
    by_standby: u64,
    timeouts: u64,
}

/// Time a cache lookup keeps the worker.
const CACHE_LOOKUP: u64 = MS;

fn adaptive(clock: &Arc<ManualClock>) -> AdaptiveTimeout {
    AdaptiveTimeout::builder()
        .quantile(0.99)
        .multiplier(2.0)
        .min(Duration::from_millis(50))
        .max(Duration::from_secs(2))
        .initial(Duration::from_secs(1))
        .min_samples(50)
        .clock(clock.clone())
        .build()
        .expect("valid adaptive timeout")
}

/// The one place where the "with fusebox" call path is put together; more
/// protections (e.g. a bulkhead per dependency) go here.
pub fn build_fusebox_path(world: &Arc<World>) -> Protected {
    let p = &world.p;
    let clock = world.clock.clone();
    let breaker_config = Config::builder()
        .consecutive_failures(Some(5))
        .failure_rate_threshold(0.5)
        .min_calls(20)
        .open_timeout(p.open_timeout)
        .half_open_max_calls(3)
        .success_threshold(3)
        .build()
        .expect("valid breaker config");
    let check = |w: &Arc<World>| {
        let w = w.clone();
        move |b: &Backend| w.latency(*b, w.now(), 0.5) <= ns(w.p.health_check_timeout)
    };
    let inventory = FailoverGroup::builder("inventory")
        .mode(Mode::ActivePassive)
        .clock(clock.clone())
        .breaker_config(breaker_config.clone())
        .stabilization(p.stabilization)
        .endpoint(Endpoint::new("primary", Backend::InventoryPrimary).health_check(check(world)))
        .endpoint(Endpoint::new("standby", Backend::InventoryStandby).health_check(check(world)))
        .build()
        .expect("valid group");
    let guarded = |name: &str, backend| Guarded {
        backend,
        breaker: Breaker::named(name, breaker_config.clone(), clock.clone()).expect("breaker"),
        timeout: adaptive(&clock),
    };
    let path = Protected {
        world: world.clone(),
        inventory_timeout: adaptive(&clock),
        inventory_bulkhead: Bulkhead::builder()
            .name("inventory")
            .max_concurrent(p.bulkhead_limit)
            .build()
            .expect("valid bulkhead"),
        payment: guarded("payment", Backend::Payment),
        logistics: guarded("logistics", Backend::Logistics),
        inventory,
        pending: Vec::new(),
        free: Vec::new(),
        timeline: Arc::new(Mutex::new(Vec::new())),
        by_standby: 0,
        timeouts: 0,
    };
    for b in path.breakers() {
        let log = path.timeline.clone();
        b.on_state_change(move |t| {
            log.lock().unwrap().push((
                t.at_ns,
                format!(
                    "breaker {}: {} -> {}",
                    t.breaker,
                    t.from.as_str(),
                    t.to.as_str()
                ),
            ))
        });
    }
    let log = path.timeline.clone();
    path.inventory
        .on_event(move |e| log.lock().unwrap().push((e.at_ns, e.to_string())));
    path
}

impl Protected {
    fn store(&mut self, p: Pending) -> CallId {
        match self.free.pop() {
            Some(i) => {
                self.pending[i] = p;
                i
            }
            None => {
                self.pending.push(p);
                self.pending.len() - 1
            }
        }
    }

    /// The inventory group (for inspection).
    pub fn inventory(&self) -> &FailoverGroup<Backend> {
        &self.inventory
    }

    /// Every breaker: the inventory endpoints', payment's, logistics'.
    fn breakers(&self) -> impl Iterator<Item = &Breaker> {
        (0..self.inventory.len())
            .map(|i| self.inventory.breaker(i).as_ref())
            .chain([&self.payment.breaker, &self.logistics.breaker])
    }
}

/// How long a call holds the worker and how it ends, given the endpoint's
/// latency and the timeout.
fn bounded(latency: u64, timeout: Duration) -> (u64, Outcome) {
    let limit = ns(timeout);
    if latency > limit {
        (limit, Outcome::Failure)
    } else {
        (latency, Outcome::Success)
    }
}

impl CallPath for Protected {
    fn begin(&mut self, dep: Dep, now: u64, jitter: f64) -> (u64, CallId) {
        let pending = match dep {
            Dep::Inventory => {
                // The bulkhead first: past its limit the call holds no
                // worker, it is served from the cache.
                let slot = self.inventory_bulkhead.try_acquire_raw().ok();
                let picked = slot.and_then(|_| {
                    let pick = self.inventory.acquire().ok()?;
                    Some((*pick.value(), pick.into_raw()))
                });
                match (slot, picked) {
                    (Some(slot), Some((backend, pick))) => {
                        if backend == Backend::InventoryStandby {
                            self.by_standby += 1;
                        }
                        let latency = self.world.latency(backend, now, jitter);
                        let (took, outcome) = bounded(latency, self.inventory_timeout.timeout());
                        Pending::Inventory {
                            pick,
                            slot,
                            outcome,
                            took,
                        }
                    }
                    // No endpoint would take it: cached inventory.
                    (Some(slot), None) => {
                        self.inventory_bulkhead.release_raw(slot);
                        Pending::Cached
                    }
                    // The bulkhead is full: cached inventory too.
                    (None, _) => Pending::Cached,
                }
            }
            Dep::Payment | Dep::Logistics => {
                let g = if dep == Dep::Payment {
                    &self.payment
                } else {
                    &self.logistics
                };
                match g.breaker.acquire_raw() {
                    Ok(permit) => {
                        let latency = self.world.latency(g.backend, now, jitter);
                        let (took, outcome) = bounded(latency, g.timeout.timeout());
                        Pending::Plain {
                            dep,
                            permit,
                            outcome,
                            took,
                        }
                    }
                    Err(_) => Pending::Refused,
                }
            }
        };
        let took = match &pending {
            Pending::Inventory { took, .. } | Pending::Plain { took, .. } => *took,
            Pending::Cached => CACHE_LOOKUP,
            Pending::Refused | Pending::Free => 0,
        };
        (took, self.store(pending))
    }

    fn end(&mut self, call: CallId, _now: u64) -> Step {
        let p = std::mem::replace(&mut self.pending[call], Pending::Free);
        self.free.push(call);
        match p {
            Pending::Inventory {
                pick,
                slot,
                outcome,
                took,
            } => {
                self.inventory
                    .record_raw(pick, outcome, Some(Duration::from_nanos(took)));
                self.inventory_bulkhead.record_raw(slot, outcome);
                if outcome == Outcome::Success {
                    self.inventory_timeout.record(Duration::from_nanos(took));
                    Step::Ok
                } else {
                    // Timed out: serve cached inventory.
                    self.timeouts += 1;
                    Step::Degraded
                }
            }
            Pending::Cached => Step::Degraded,
            Pending::Plain {
                dep,
                permit,
                outcome,
                took,
            } => {
                let g = if dep == Dep::Payment {
                    &self.payment
                } else {
                    &self.logistics
                };
                g.breaker.record_raw(permit, outcome, Some(took));
                if outcome == Outcome::Success {
                    g.timeout.record(Duration::from_nanos(took));
                    Step::Ok
                } else {
                    self.timeouts += 1;
                    Step::Failed
                }
            }
            Pending::Refused | Pending::Free => Step::Failed,
        }
    }

    fn upkeep_every(&self) -> Option<Duration> {
        Some(self.world.p.health_check_every)
    }

    fn upkeep(&mut self, _now: u64) {
        self.inventory.check_health();
    }

    fn breaker_names(&self) -> Vec<String> {
        self.breakers().map(|b| b.name().to_string()).collect()
    }

    fn breaker_states(&self, out: &mut Vec<State>) {
        out.extend(self.breakers().map(Breaker::state));
    }

    fn report(&mut self) -> PathReport {
        fusebox::events::flush(Duration::from_secs(10));
        let m = self.inventory.metrics();
        PathReport {
            timeline: std::mem::take(&mut *self.timeline.lock().unwrap()),
            by_standby: self.by_standby,
            timeouts: self.timeouts,
            failovers: m.failovers,
            failbacks: m.failbacks,
            inventory_peak: self.inventory_bulkhead.peak_in_flight(),
            inventory_limit: Some(self.inventory_bulkhead.limit()),
            inventory_shed: self.inventory_bulkhead.metrics().rejected,
        }
    }
}

/// What one run produced.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Which path.
    pub label: String,
    /// Orders that arrived.
    pub arrived: u64,
    /// Orders answered within the client's deadline.
    pub served: u64,
    /// Of those, answered with cached inventory.
    pub degraded: u64,
    /// Orders failed by a dependency.
    pub failed: u64,
    /// Orders whose client gave up (queued or processed too long).
    pub client_timeouts: u64,
    /// Orders refused because the queue was full.
    pub refused: u64,
    /// Median latency of served orders, ms.
    pub p50_ms: f64,
    /// 99th percentile latency of served orders, ms.
    pub p99_ms: f64,
    /// Median latency of every order as its client saw it (an order given
    /// up counts the deadline, a refused one its near-zero wait), ms.
    pub client_p50_ms: f64,
    /// 99th percentile of the same, ms.
    pub client_p99_ms: f64,
    /// Most workers busy at once.
    pub peak_busy: usize,
    /// Workers in the pool.
    pub workers: usize,
    /// Orders that arrived during the outage and were served.
    pub served_in_outage: u64,
    /// Orders that arrived during the outage.
    pub arrived_in_outage: u64,
    /// What the call path saw.
    pub path: PathReport,
    /// (seconds from T+0, what happened), sorted.
    pub timeline: Vec<(f64, String)>,
    /// The call path's breakers (none without fusebox).
    pub breakers: Vec<String>,
    /// The run second by second.
    pub samples: Vec<Sample>,
}

impl Report {
    /// Every order that did not get an answer.
    pub fn errors(&self) -> u64 {
        self.failed + self.client_timeouts + self.refused
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival,
    StepDone { order: usize, call: CallId },
    Upkeep,
}

#[derive(Clone, Copy, Debug)]
struct Order {
    arrival: u64,
    step: usize,
    degraded: bool,
}

struct Sim<'a> {
    p: &'a Params,
    world: &'a World,
    heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    orders: Vec<Order>,
    free_orders: Vec<usize>,
    queue: VecDeque<usize>,
    busy: usize,
    exhausted: bool,
    latencies: Vec<u64>,
    client_view: Vec<u64>,
    r: Report,
    milestones: Vec<(u64, String)>,
    sampler: Sampler,
}

impl Sim<'_> {
    fn at(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, ev)));
    }

    fn milestone(&mut self, t: u64, what: String) {
        self.milestones.push((self.world.origin_ns + t, what));
    }

    fn start(&mut self, path: &mut dyn CallPath, rng: &mut Rng, id: usize, t: u64) {
        self.busy += 1;
        self.r.peak_busy = self.r.peak_busy.max(self.busy);
        self.sampler.busy(self.busy);
        if self.busy == self.p.workers && !self.exhausted {
            self.exhausted = true;
            let w = self.p.workers;
            self.milestone(t, format!("worker pool exhausted: {w}/{w} busy"));
        }
        self.begin_step(path, rng, id, t);
    }

    fn begin_step(&mut self, path: &mut dyn CallPath, rng: &mut Rng, id: usize, t: u64) {
        let dep = STEPS[self.orders[id].step];
        let (d, call) = path.begin(dep, t, rng.unit());
        self.at(t + d, Ev::StepDone { order: id, call });
    }

    fn finish(&mut self, path: &mut dyn CallPath, rng: &mut Rng, id: usize, t: u64, ok: bool) {
        let o = self.orders[id];
        self.free_orders.push(id);
        let latency = t - o.arrival;
        let deadline = ns(self.p.client_deadline);
        self.client_view.push(latency.min(deadline));
        if !ok {
            self.r.failed += 1;
            self.sampler
                .order(o.arrival, Ending::NoAnswer(Some(latency.min(deadline))));
        } else if latency > deadline {
            self.r.client_timeouts += 1;
            self.sampler
                .order(o.arrival, Ending::NoAnswer(Some(deadline)));
        } else {
            self.r.served += 1;
            self.sampler.order(o.arrival, Ending::Served(latency));
            self.r.degraded += u64::from(o.degraded);
            self.latencies.push(latency);
            if o.arrival >= self.world.t0 && o.arrival < self.world.slow_until {
                self.r.served_in_outage += 1;
            }
        }
        self.busy -= 1;
        if self.exhausted && self.busy < self.p.workers * 9 / 10 {
            self.exhausted = false;
            self.milestone(t, format!("worker pool recovered: {} busy", self.busy));
        }
        // The freed worker takes the next order whose client still waits.
        while let Some(next) = self.queue.pop_front() {
            if t - self.orders[next].arrival > ns(self.p.client_deadline) {
                self.r.client_timeouts += 1;
                self.client_view.push(ns(self.p.client_deadline));
                let arrival = self.orders[next].arrival;
                self.sampler
                    .order(arrival, Ending::NoAnswer(Some(ns(self.p.client_deadline))));
                self.free_orders.push(next);
                continue;
            }
            self.start(path, rng, next, t);
            break;
        }
    }
}

fn quantile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1e6
}

/// Run the scenario through `path`.
pub fn run(p: &Params, world: &World, path: &mut dyn CallPath, label: &str) -> Report {
    let mut rng = Rng::new(p.seed);
    let mut arrivals = Rng::new(p.seed ^ 0xA5A5);
    let end = world.slow_until + ns(p.after);
    let mut sim = Sim {
        p,
        world,
        heap: BinaryHeap::new(),
        seq: 0,
        orders: Vec::new(),
        free_orders: Vec::new(),
        queue: VecDeque::new(),
        busy: 0,
        exhausted: false,
        latencies: Vec::new(),
        client_view: Vec::new(),
        r: Report {
            label: label.to_string(),
            workers: p.workers,
            ..Report::default()
        },
        milestones: Vec::new(),
        sampler: Sampler::new(ns(Duration::from_secs(1)), world.t0),
    };
    sim.milestone(
        world.t0,
        format!(
            "inventory's database turns slow ({} s responses)",
            p.slow_response.as_secs_f64()
        ),
    );
    sim.milestone(world.slow_until, "inventory's database recovers".into());
    let gap = |r: &mut Rng| (-(1.0 - r.unit()).ln() / p.arrivals_per_s * 1e9) as u64;
    let first = gap(&mut arrivals);
    sim.at(first, Ev::Arrival);
    if let Some(every) = path.upkeep_every() {
        sim.at(ns(every), Ev::Upkeep);
    }
    while let Some(Reverse((t, _, ev))) = sim.heap.pop() {
        let now = world.now();
        if t > now {
            world.clock.advance_ns(t - now);
        }
        sim.sampler.advance(t, sim.busy, sim.queue.len());
        match ev {
            Ev::Arrival => {
                sim.r.arrived += 1;
                if t >= world.t0 && t < world.slow_until {
                    sim.r.arrived_in_outage += 1;
                }
                let o = Order {
                    arrival: t,
                    step: 0,
                    degraded: false,
                };
                let id = match sim.free_orders.pop() {
                    Some(i) => {
                        sim.orders[i] = o;
                        i
                    }
                    None => {
                        sim.orders.push(o);
                        sim.orders.len() - 1
                    }
                };
                if sim.busy < p.workers {
                    sim.start(path, &mut rng, id, t);
                } else if sim.queue.len() < p.queue_limit {
                    sim.queue.push_back(id);
                } else {
                    if sim.r.refused == 0 {
                        sim.milestone(
                            t,
                            format!("queue full ({}): refusing orders", p.queue_limit),
                        );
                    }
                    sim.r.refused += 1;
                    sim.client_view.push(0);
                    sim.sampler.order(t, Ending::NoAnswer(None));
                    sim.free_orders.push(id);
                }
                let next = t + gap(&mut arrivals);
                if next < end {
                    sim.at(next, Ev::Arrival);
                }
            }
            Ev::StepDone { order, call } => {
                let step = path.end(call, t);
                if step == Step::Failed {
                    sim.finish(path, &mut rng, order, t, false);
                } else {
                    let o = &mut sim.orders[order];
                    o.degraded |= step == Step::Degraded;
                    o.step += 1;
                    if o.step == STEPS.len() {
                        sim.finish(path, &mut rng, order, t, true);
                    } else {
                        sim.begin_step(path, &mut rng, order, t);
                    }
                }
            }
            Ev::Upkeep => {
                path.upkeep(t);
                if let Some(every) = path.upkeep_every() {
                    if t < end {
                        sim.at(t + ns(every), Ev::Upkeep);
                    }
                }
            }
        }
        sim.sampler.states(|v| path.breaker_states(v));
    }
    // Orders still queued when the last worker finished: their clients gave up.
    sim.r.client_timeouts += sim.queue.len() as u64;
    for &id in &sim.queue {
        sim.client_view.push(ns(p.client_deadline));
        let arrival = sim.orders[id].arrival;
        sim.sampler
            .order(arrival, Ending::NoAnswer(Some(ns(p.client_deadline))));
    }
    let samples = sim.sampler.finish(world.now(), sim.busy, sim.queue.len());
    sim.latencies.sort_unstable();
    sim.r.p50_ms = quantile(&sim.latencies, 0.50);
    sim.r.p99_ms = quantile(&sim.latencies, 0.99);
    sim.client_view.sort_unstable();
    sim.r.client_p50_ms = quantile(&sim.client_view, 0.50);
    sim.r.client_p99_ms = quantile(&sim.client_view, 0.99);
    let mut r = sim.r;
    r.samples = samples;
    r.breakers = path.breaker_names();
    r.path = path.report();
    let mut timeline: Vec<(u64, String)> = sim.milestones;
    timeline.extend(r.path.timeline.iter().cloned());
    timeline.sort_by_key(|(t, _)| *t);
    r.timeline = timeline
        .into_iter()
        .map(|(t, s)| (world.rel_secs(t), s))
        .collect();
    r
}

/// Run the scenario with inventory behind a bulkhead alone (no timeout, no
/// breaker): see [`BulkheadOnly`].
pub fn run_bulkhead_only(p: &Params) -> Report {
    let clock = Arc::new(ManualClock::new());
    let world = Arc::new(World::new(clock, p));
    let mut path = BulkheadOnly::new(world.clone());
    run(p, &world, &mut path, "bulkhead only")
}

/// Run the scenario without protection, then with fusebox.
pub fn run_both(p: &Params) -> (Report, Report) {
    let clock = Arc::new(ManualClock::new());
    let world = Arc::new(World::new(clock, p));
    let without = run(
        p,
        &world,
        &mut Unprotected::new(world.clone()),
        "without breakers",
    );
    let clock = Arc::new(ManualClock::new());
    let world = Arc::new(World::new(clock, p));
    let mut path = build_fusebox_path(&world);
    let with = run(p, &world, &mut path, "with fusebox");
    (without, with)
}
