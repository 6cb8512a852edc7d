//! The hedge layer outside a circuit breaker layer: on tokio's paused
//! clock (time moves only when every task waits, straight to the next
//! timer), a scripted `service_fn` whose attempts answer after set times;
//! then against a server on loopback whose first request hangs.

mod support;

use fusebox::retry::{HedgeDelay, HedgePolicy, Sleep, Timer};
use fusebox::{Breaker, Config, ManualClock, RetryBudget, RetryBudgetConfig, State};
use fusebox_tower::{BoxError, CircuitBreakerLayer, HedgeLayer, HttpClassifier, Rejected};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// tokio's timer (paused in these tests).
#[derive(Debug)]
struct Tokio;

impl Timer for Tokio {
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What attempt n (from 1) does: answer after this long (`None`: never),
/// with this result.
type Plan = Vec<(Option<u64>, Result<&'static str, &'static str>)>;

/// What the scripted service saw: when each attempt started (since the
/// rig was made), and which attempts were dropped before they answered;
/// of those, the ones dropped by the time the call answered (before the
/// caller dropped its future).
#[derive(Default)]
struct Log {
    starts: Vec<Duration>,
    cancelled: Vec<u32>,
    cancelled_by_answer: Vec<u32>,
}

/// Records attempt n as cancelled if dropped while armed.
struct OnDrop(u32, Arc<Mutex<Log>>, bool);

impl Drop for OnDrop {
    fn drop(&mut self) {
        if self.2 {
            self.1.lock().unwrap().cancelled.push(self.0);
        }
    }
}

struct Rig {
    clock: Arc<ManualClock>,
    breaker: Arc<Breaker>,
    budget: Arc<RetryBudget>,
    policy: Arc<HedgePolicy>,
    log: Arc<Mutex<Log>>,
    base: Instant,
}

fn rig(
    config: Config,
    policy: fusebox::retry::HedgePolicyBuilder,
    budget: RetryBudgetConfig,
) -> Rig {
    let clock = Arc::new(ManualClock::new());
    Rig {
        breaker: Arc::new(Breaker::with_clock(config, clock.clone()).unwrap()),
        budget: Arc::new(RetryBudget::with_clock(budget, clock.clone()).unwrap()),
        policy: Arc::new(policy.build().unwrap()),
        clock,
        log: Arc::default(),
        base: Instant::now(),
    }
}

fn hedging(delay_ms: u64, max_hedges: u32) -> fusebox::retry::HedgePolicyBuilder {
    HedgePolicy::builder()
        .delay(HedgeDelay::Fixed(ms(delay_ms)))
        .max_hedges(max_hedges)
}

impl Rig {
    /// One hedged call through the breaker to a service that follows
    /// `plan`; its result (the error's message) and when it ended.
    async fn call(&self, plan: Plan) -> (Result<&'static str, String>, Duration) {
        let plan = Arc::new(plan);
        let n = Arc::new(AtomicU32::new(0));
        let (log, base) = (self.log.clone(), self.base);
        let script = service_fn(move |(): ()| {
            let n = n.fetch_add(1, SeqCst) + 1;
            log.lock().unwrap().starts.push(base.elapsed());
            let (after, out) = plan[n as usize - 1];
            let guard = OnDrop(n, log.clone(), true);
            async move {
                let mut guard = guard;
                match after {
                    Some(t) => tokio::time::sleep(ms(t)).await,
                    None => std::future::pending().await,
                }
                guard.2 = false;
                out.map_err(std::io::Error::other)
            }
        });
        let mut svc = ServiceBuilder::new()
            .layer(HedgeLayer::new(
                self.policy.clone(),
                self.budget.clone(),
                Arc::new(Tokio),
            ))
            .layer(CircuitBreakerLayer::new(self.breaker.clone()))
            .service(script);
        let mut call = std::pin::pin!(svc.ready().await.unwrap().call(()));
        let r = call.as_mut().await;
        let mut log = self.log.lock().unwrap();
        log.cancelled_by_answer = log.cancelled.clone();
        (r.map_err(|e| e.to_string()), self.base.elapsed())
    }

    fn starts(&self) -> Vec<Duration> {
        self.log.lock().unwrap().starts.clone()
    }

    fn cancelled(&self) -> Vec<u32> {
        let mut c = self.log.lock().unwrap().cancelled_by_answer.clone();
        c.sort();
        c
    }
}

#[tokio::test(start_paused = true)]
async fn a_fast_hedge_answers_and_the_slow_attempt_is_cancelled() {
    let r = rig(config(), hedging(50, 1), RetryBudgetConfig::default());
    let (out, at) = r
        .call(vec![(Some(10_000), Ok("slow")), (Some(5), Ok("fast"))])
        .await;
    assert_eq!(out, Ok("fast"));
    assert_eq!(
        at,
        ms(55),
        "the hedge started 50 ms in, answered 5 ms later"
    );
    assert_eq!(r.starts(), [ms(0), ms(50)]);
    assert_eq!(r.cancelled(), [1]);
    let m = r.breaker.metrics();
    assert_eq!(
        (m.successes, m.failures),
        (1, 0),
        "the loser counts nothing"
    );
    let h = r.policy.metrics();
    assert_eq!(
        (h.calls, h.attempts, h.hedges, h.failed_calls),
        (1, 2, 1, 0)
    );
    assert_eq!(r.budget.stats().withdrawals, 1);
}

#[tokio::test(start_paused = true)]
async fn an_answer_before_the_delay_starts_no_hedge() {
    let r = rig(config(), hedging(50, 3), RetryBudgetConfig::default());
    let (out, at) = r.call(vec![(Some(49), Ok("first"))]).await;
    assert_eq!((out, at), (Ok("first"), ms(49)));
    let (out, _) = r.call(vec![(Some(0), Ok("at once"))]).await;
    assert_eq!(out, Ok("at once"));
    assert_eq!(r.starts().len(), 2);
    let h = r.policy.metrics();
    assert_eq!((h.calls, h.attempts, h.hedges), (2, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_half_open_probe_gives_its_slot_back() {
    // Two probes, two successes to close; one failure trips.
    let config = Config::builder()
        .consecutive_failures(Some(1))
        .open_timeout(Duration::from_secs(10))
        .half_open_max_calls(2)
        .success_threshold(2)
        .min_calls(1000)
        .build()
        .unwrap();
    let r = rig(config, hedging(50, 1), RetryBudgetConfig::default());
    assert_eq!(
        r.call(vec![(Some(0), Err("down"))]).await.0,
        Err("down".into())
    );
    assert_eq!(r.breaker.state(), State::Open);
    r.clock.advance(Duration::from_secs(10));

    // Probe 1 hangs, probe 2 (the hedge) succeeds: probe 1 is dropped.
    let (out, _) = r
        .call(vec![(None, Ok("stuck")), (Some(1), Ok("probe 2"))])
        .await;
    assert_eq!(out, Ok("probe 2"));
    assert_eq!(r.cancelled(), [1]);
    assert_eq!(r.breaker.state(), State::HalfOpen);
    // Its slot is back: one more probe is admitted, and closes the breaker.
    let (out, _) = r.call(vec![(Some(0), Ok("probe 3"))]).await;
    assert_eq!(out, Ok("probe 3"));
    assert_eq!(r.breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_budget_that_refuses_means_no_hedge() {
    let none = RetryBudgetConfig {
        ratio: 0.0,
        min_per_sec: 0,
        ..Default::default()
    };
    let r = rig(config(), hedging(50, 3), none);
    let (out, at) = r.call(vec![(Some(1_000), Ok("slow"))]).await;
    assert_eq!((out, at), (Ok("slow"), ms(1_000)), "waited for attempt 1");
    assert_eq!(r.starts(), [ms(0)]);
    let h = r.policy.metrics();
    assert_eq!((h.attempts, h.hedges, h.budget_refusals), (1, 0, 1));
    assert_eq!(r.budget.stats().refusals, 1);
}

#[tokio::test(start_paused = true)]
async fn hedges_start_one_delay_apart_up_to_max_hedges() {
    let r = rig(config(), hedging(10, 3), RetryBudgetConfig::default());
    let slow = (Some(1_000), Ok("slow"));
    let (out, at) = r
        .call(vec![slow, slow, (Some(500), Ok("third")), slow])
        .await;
    assert_eq!((out, at), (Ok("third"), ms(520)));
    assert_eq!(
        r.starts(),
        [ms(0), ms(10), ms(20), ms(30)],
        "no fifth attempt"
    );
    assert_eq!(r.cancelled(), [1, 2, 4]);
    let h = r.policy.metrics();
    assert_eq!((h.attempts, h.hedges), (4, 3));
    let m = r.breaker.metrics();
    assert_eq!((m.successes, m.failures), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn the_call_fails_with_the_last_attempt_to_fail() {
    let r = rig(config(), hedging(50, 1), RetryBudgetConfig::default());
    // Attempt 2 fails first (at 60 ms): wait for attempt 1 (at 100 ms).
    let (out, at) = r
        .call(vec![(Some(100), Err("one")), (Some(10), Err("two"))])
        .await;
    assert_eq!((out, at), (Err("one".into()), ms(100)));
    assert_eq!(r.breaker.metrics().failures, 2, "one outcome per attempt");
    assert_eq!(r.policy.metrics().failed_calls, 1);

    // A failure with nothing else running ends the call: no hedge after it.
    let (out, at) = r.call(vec![(Some(5), Err("quick"))]).await;
    assert_eq!((out, at), (Err("quick".into()), ms(105)));
    assert_eq!(r.starts().len(), 3);
    assert_eq!(r.policy.metrics().hedges, 1);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_attempt_ends_as_the_breakers_rejection() {
    let r = rig(config(), hedging(50, 1), RetryBudgetConfig::default());
    r.breaker.force_open();
    let plan = Arc::new(Mutex::new(0u32));
    let p = plan.clone();
    let mut svc = ServiceBuilder::new()
        .layer(HedgeLayer::new(
            r.policy.clone(),
            r.budget.clone(),
            Arc::new(Tokio),
        ))
        .layer(CircuitBreakerLayer::new(r.breaker.clone()))
        .service(service_fn(move |(): ()| {
            *p.lock().unwrap() += 1;
            std::future::ready(Ok::<_, BoxError>(()))
        }));
    let e = svc.ready().await.unwrap().call(()).await.unwrap_err();
    assert!(Rejected::find(&*e).is_some(), "{e}");
    assert_eq!(*plan.lock().unwrap(), 0, "the service never ran");
    let h = r.policy.metrics();
    assert_eq!((h.attempts, h.hedges, h.failed_calls), (1, 0, 1));
}

/// A request that counts its clones.
struct Counted(Arc<AtomicU32>);

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, SeqCst);
        Counted(self.0.clone())
    }
}

#[tokio::test(start_paused = true)]
async fn the_request_is_cloned_only_while_another_hedge_may_start() {
    // One clone for attempt 1, one per hedge but the last (which takes the
    // request kept for it).
    for max_hedges in [1, 3] {
        let r = rig(
            config(),
            hedging(10, max_hedges),
            RetryBudgetConfig::default(),
        );
        let n = Arc::new(AtomicU32::new(0));
        let last = max_hedges + 1;
        let mut svc = ServiceBuilder::new()
            .layer(HedgeLayer::new(
                r.policy.clone(),
                r.budget.clone(),
                Arc::new(Tokio),
            ))
            .layer(CircuitBreakerLayer::new(r.breaker.clone()))
            .service(service_fn(move |_: Counted| {
                let k = n.fetch_add(1, SeqCst) + 1;
                async move {
                    if k < last {
                        std::future::pending::<()>().await;
                    }
                    Ok::<_, BoxError>(k)
                }
            }));
        let clones = Arc::new(AtomicU32::new(0));
        let req = Counted(clones.clone());
        assert_eq!(svc.ready().await.unwrap().call(req).await.unwrap(), last);
        assert_eq!(clones.load(SeqCst), max_hedges, "max_hedges {max_hedges}");
    }
}

/// An HTTP 5xx is a failure for the hedge, but the response is what the
/// caller gets when every attempt failed.
#[tokio::test(start_paused = true)]
async fn a_failed_http_call_answers_with_the_last_response() {
    let r = rig(config(), hedging(50, 1), RetryBudgetConfig::default());
    let n = Arc::new(AtomicU32::new(0));
    let mut svc = ServiceBuilder::new()
        .layer(
            HedgeLayer::new(r.policy.clone(), r.budget.clone(), Arc::new(Tokio))
                .classify(HttpClassifier),
        )
        .layer(CircuitBreakerLayer::new(r.breaker.clone()).classify(HttpClassifier))
        .service(service_fn(move |(): ()| {
            // Attempt 1: a 500 at 100 ms; attempt 2 (50 ms in): a 502 at 60 ms.
            let (wait, status) = match n.fetch_add(1, SeqCst) {
                0 => (100, 500),
                _ => (10, 502),
            };
            async move {
                tokio::time::sleep(ms(wait)).await;
                let resp = http::Response::builder().status(status).body(()).unwrap();
                Ok::<_, BoxError>(resp)
            }
        }));
    let resp = svc.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(resp.status(), 500);
    let m = r.breaker.metrics();
    assert_eq!((m.successes, m.failures), (0, 2));
    assert_eq!(r.policy.metrics().failed_calls, 1);
}

/// A timer whose sleeps end once the server holds the first request
/// (recording the delay asked): the hedge starts after the first request
/// has arrived, however long the loopback takes.
struct AfterFirst(Arc<Flaky>, Mutex<Vec<Duration>>);

impl std::fmt::Debug for AfterFirst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterFirst")
    }
}

impl Timer for AfterFirst {
    fn sleep(&self, d: Duration) -> Sleep {
        self.1.lock().unwrap().push(d);
        let server = self.0.clone();
        Box::pin(async move { server.received(1).await })
    }
}

#[tokio::test]
async fn against_a_server_whose_first_request_hangs_the_hedge_answers() {
    let server = Flaky::healthy();
    server.hang_first.store(1, SeqCst);
    let addr = serve(server.clone()).await;
    let (_, breaker) = breaker();
    let budget = Arc::new(RetryBudget::new(RetryBudgetConfig::default()).unwrap());
    let policy = Arc::new(hedging(20, 1).build().unwrap());
    let timer = Arc::new(AfterFirst(server.clone(), Mutex::default()));
    let mut svc = ServiceBuilder::new()
        .layer(HedgeLayer::new(policy.clone(), budget, timer.clone()).classify(HttpClassifier))
        .layer(CircuitBreakerLayer::new(breaker.clone()).classify(HttpClassifier))
        .service(client());
    let resp = svc.ready().await.unwrap().call(get(addr)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.hits(), 2, "the first request hangs on the server");
    assert_eq!(*timer.1.lock().unwrap(), [ms(20)]);
    let m = breaker.metrics();
    assert_eq!((m.successes, m.failures), (1, 0));
    assert_eq!(policy.metrics().hedges, 1);
}
