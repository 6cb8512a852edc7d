//! Layers stacked in `ServiceBuilder`: an inner layer's refusal is not the
//! dependency's failure for an outer breaker.

use fusebox::bulkhead::Bulkhead;
use fusebox::{Breaker, Config, ManualClock, RejectReason, State};
use fusebox_tower::{BulkheadLayer, CircuitBreakerLayer, Reason, Rejected};
use std::sync::Arc;
use std::time::Duration;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

#[tokio::test]
async fn a_full_bulkhead_inside_a_breaker_neither_trips_it_nor_holds_its_probe() {
    let clock = Arc::new(ManualClock::new());
    let b = Arc::new(
        Breaker::with_clock(
            Config::builder()
                .consecutive_failures(Some(1))
                .open_timeout(Duration::from_secs(10))
                .half_open_max_calls(1)
                .success_threshold(1)
                .build()
                .unwrap(),
            clock.clone(),
        )
        .unwrap(),
    );
    let slots = Arc::new(Bulkhead::new(1).unwrap());
    let mut svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(b.clone()))
        .layer(BulkheadLayer::new(slots.clone()))
        .service(service_fn(|hang: bool| async move {
            if hang {
                std::future::pending::<()>().await;
            }
            Ok::<_, std::io::Error>(())
        }));

    let held = svc.ready().await.unwrap().call(true);
    for _ in 0..5 {
        let e = svc.ready().await.unwrap().call(false).await.unwrap_err();
        assert!(matches!(
            Rejected::find(&e).unwrap().reason,
            Reason::BulkheadFull(_)
        ));
    }
    let m = b.metrics();
    assert_eq!((b.state(), m.failures, m.successes), (State::Closed, 0, 0));
    drop(held);
    assert_eq!(slots.in_flight(), 0);

    // Half-open: a probe the bulkhead refuses gives the probe slot back.
    b.force_open();
    b.reset();
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(10));
    let held = slots.try_acquire().unwrap();
    let e = svc.ready().await.unwrap().call(false).await.unwrap_err();
    assert!(matches!(
        Rejected::find(&e).unwrap().reason,
        Reason::BulkheadFull(_)
    ));
    drop(held);
    assert_eq!(b.state(), State::HalfOpen);
    svc.ready().await.unwrap().call(false).await.unwrap();
    assert_eq!(b.state(), State::Closed);
    // Forced open: the breaker's own rejection.
    b.force_open();
    let e = svc.ready().await.unwrap().call(false).await.unwrap_err();
    assert_eq!(
        Rejected::find(&e).unwrap().reason,
        Reason::Breaker(RejectReason::ForcedOpen)
    );
}

#[tokio::test]
async fn a_request_without_a_breaker_goes_through_unguarded() {
    use fusebox::{ClockSource, KeyedBreakers};
    use fusebox_tower::KeyedCircuitBreakerLayer;
    let clock = Arc::new(ManualClock::new());
    let hosts = Arc::new(
        KeyedBreakers::new("hosts", 1, Config::default(), ClockSource::from(clock)).unwrap(),
    );
    let mut svc = ServiceBuilder::new()
        .layer(KeyedCircuitBreakerLayer::new(hosts.clone()))
        .service(service_fn(|_: http::Request<()>| async {
            Ok::<_, std::io::Error>(())
        }));
    let to = |uri: &str| http::Request::get(uri).body(()).unwrap();

    svc.ready()
        .await
        .unwrap()
        .call(to("http://a.example/"))
        .await
        .unwrap();
    hosts.get("a.example").unwrap().force_open();
    let e = svc
        .ready()
        .await
        .unwrap()
        .call(to("http://a.example/"))
        .await
        .unwrap_err();
    assert_eq!(
        Rejected::find(&e).unwrap().reason,
        Reason::Breaker(RejectReason::ForcedOpen)
    );
    // The set is full of a breaker holding history: b.example has none, and
    // passes; so does a request with no authority and no Host header.
    svc.ready()
        .await
        .unwrap()
        .call(to("http://b.example/"))
        .await
        .unwrap();
    svc.ready()
        .await
        .unwrap()
        .call(to("/relative"))
        .await
        .unwrap();
    assert_eq!((hosts.len(), hosts.stats().refusals), (1, 1));
}
