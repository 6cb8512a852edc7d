//! The retry layer outside a circuit breaker layer, in front of a hyper
//! client, against a flaky server on loopback: failures retried with the
//! policy's back-offs, the server's `Retry-After` waited (up to the cap),
//! 404s final, the budget's refusals; and requests cloned only while a
//! retry may follow. The waits move the breaker's manual clock.

mod support;

use fusebox::retry::{Sleep, Timer};
use fusebox::{Breaker, ManualClock, RetryBudget, RetryBudgetConfig, RetryPolicy};
use fusebox_tower::{CircuitBreakerLayer, HttpClassifier, RetryLayer};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// A timer whose sleeps are over at once, moving the clock by their length.
#[derive(Debug)]
struct ClockTimer(Arc<ManualClock>, Mutex<Vec<Duration>>);

impl Timer for ClockTimer {
    fn sleep(&self, d: Duration) -> Sleep {
        self.1.lock().unwrap().push(d);
        self.0.advance(d);
        Box::pin(std::future::ready(()))
    }
}

struct Rig {
    breaker: Arc<Breaker>,
    budget: Arc<RetryBudget>,
    policy: Arc<RetryPolicy>,
    timer: Arc<ClockTimer>,
}

fn rig(policy: fusebox::retry::RetryPolicyBuilder, budget: RetryBudgetConfig) -> Rig {
    let (clock, breaker) = breaker();
    Rig {
        breaker,
        budget: Arc::new(RetryBudget::with_clock(budget, clock.clone()).unwrap()),
        policy: Arc::new(policy.seed(1).build().unwrap()),
        timer: Arc::new(ClockTimer(clock, Mutex::default())),
    }
}

impl Rig {
    fn waits(&self) -> Vec<Duration> {
        self.timer.1.lock().unwrap().clone()
    }

    async fn status(&self, addr: std::net::SocketAddr) -> u16 {
        let mut svc = ServiceBuilder::new()
            .layer(
                RetryLayer::new(self.policy.clone(), self.budget.clone(), self.timer.clone())
                    .classify(HttpClassifier),
            )
            .layer(CircuitBreakerLayer::new(self.breaker.clone()).classify(HttpClassifier))
            .service(client());
        let r = svc.ready().await.unwrap().call(get(addr)).await.unwrap();
        r.status().as_u16()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn no_jitter(attempts: u32) -> fusebox::retry::RetryPolicyBuilder {
    RetryPolicy::builder()
        .max_attempts(attempts)
        .base_backoff(ms(100))
        .jitter(false)
}

#[tokio::test]
async fn failures_are_retried_with_the_policys_back_offs() {
    let server = Flaky::failing(500);
    let addr = serve(server.clone()).await;
    let r = rig(no_jitter(3), RetryBudgetConfig::default());
    assert_eq!(r.status(addr).await, 500, "the last attempt's answer");
    assert_eq!(server.hits(), 3);
    assert_eq!(r.waits(), [ms(100), ms(200)]);
    assert_eq!(r.breaker.metrics().failures, 3, "one outcome per attempt");
    let m = r.policy.metrics();
    assert_eq!(
        (m.calls, m.attempts, m.retries, m.failed_calls),
        (1, 3, 2, 1)
    );

    // Every other request fails (request 3 does, 4 does not): the call
    // is retried once, and wins.
    server.set_fail(50);
    r.breaker.reset();
    assert_eq!(r.status(addr).await, 200);
    assert_eq!(server.hits(), 5);
    assert_eq!(r.waits(), [ms(100), ms(200), ms(100)]);
}

#[tokio::test]
async fn a_retry_after_is_waited_up_to_the_cap() {
    let server = Flaky::failing(503);
    server.set_retry_after(Some("2"));
    server.set_fail(50); // request 0 passes, 1 fails, 2 passes, ...
    let addr = serve(server.clone()).await;
    let cap = |s| no_jitter(3).retry_after_cap(Duration::from_secs(s));
    let r = rig(cap(5), RetryBudgetConfig::default());
    assert_eq!(r.status(addr).await, 200); // request 0
    assert_eq!(r.status(addr).await, 200); // 1: 503, wait 2 s, 2: 200
    assert_eq!(r.waits(), [Duration::from_secs(2)]);
    assert_eq!(server.hits(), 3);

    // Over the cap: not waited, not retried.
    let r = rig(cap(1), RetryBudgetConfig::default());
    assert_eq!(r.status(addr).await, 503); // request 3
    assert_eq!(server.hits(), 4);
    assert!(r.waits().is_empty());
    assert_eq!(r.policy.metrics().failed_calls, 1);
}

#[tokio::test]
async fn not_found_is_final_and_the_budget_refuses() {
    let server = Flaky::failing(404);
    let addr = serve(server.clone()).await;
    let r = rig(no_jitter(3), RetryBudgetConfig::default());
    assert_eq!(r.status(addr).await, 404);
    assert_eq!(server.hits(), 1);

    let none = RetryBudgetConfig {
        ratio: 0.0,
        min_per_sec: 0,
        ..Default::default()
    };
    let server = Flaky::failing(502);
    let addr = serve(server.clone()).await;
    let r = rig(no_jitter(3), none);
    for _ in 0..2 {
        assert_eq!(r.status(addr).await, 502);
    }
    assert_eq!(server.hits(), 2, "no retries without budget");
    assert_eq!(r.policy.metrics().budget_refusals, 2);
    assert_eq!(r.budget.stats().refusals, 2);
}

#[tokio::test]
async fn an_open_breaker_is_waited_out_then_probed() {
    let server = Flaky::failing(500);
    let addr = serve(server.clone()).await;
    // 3 failures trip the breaker (support::config: open 10 s, 1 probe).
    let r = rig(
        no_jitter(5).max_backoff(ms(100)),
        RetryBudgetConfig::default(),
    );
    // Attempts 1-3 fail (waits 100, 100), attempt 4 is rejected (wait
    // 10 s, the rest of the open period), attempt 5 probes and fails.
    assert_eq!(r.status(addr).await, 500);
    assert_eq!(server.hits(), 4);
    assert_eq!(
        r.waits(),
        [ms(100), ms(100), ms(100), Duration::from_secs(10) - ms(100)]
    );
}

/// A request that counts its copies.
#[derive(Debug)]
struct Counted(Arc<AtomicU32>);

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, SeqCst);
        Counted(self.0.clone())
    }
}

#[tokio::test]
async fn requests_are_cloned_only_while_a_retry_may_follow() {
    for (attempts, fails, clones) in [(1, 5, 0), (3, 5, 2), (3, 0, 1)] {
        let r = rig(no_jitter(attempts), RetryBudgetConfig::default());
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let mut svc = ServiceBuilder::new()
            .layer(RetryLayer::new(
                r.policy.clone(),
                r.budget.clone(),
                r.timer.clone(),
            ))
            .layer(CircuitBreakerLayer::new(r.breaker.clone()))
            .service(service_fn(move |_: Counted| {
                let n = c.fetch_add(1, SeqCst);
                async move {
                    if n < fails {
                        Err(std::io::Error::other("down"))
                    } else {
                        Ok(())
                    }
                }
            }));
        let copies = Arc::new(AtomicU32::new(0));
        let out = svc
            .ready()
            .await
            .unwrap()
            .call(Counted(copies.clone()))
            .await;
        assert_eq!(out.is_ok(), fails == 0);
        assert_eq!(
            copies.load(SeqCst),
            clones,
            "{attempts} attempts, {fails} failures"
        );
        let m = r.policy.metrics();
        assert_eq!(m.failed_calls, u64::from(fails > 0));
    }
}
