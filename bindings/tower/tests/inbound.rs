//! The layers in an axum server (inbound): requests are not `Clone`, and a
//! refused request is answered 503 with `Retry-After` by
//! `HandleErrorLayer` and `error_response`. And the adaptive timeout in
//! front of a client, under a breaker.

mod support;

use axum::{body::Body, error_handling::HandleErrorLayer};
use fusebox::bulkhead::Bulkhead;
use fusebox::{AdaptiveTimeout, State};
use fusebox_tower::{
    AdaptiveTimeoutLayer, BulkheadLayer, CircuitBreakerLayer, HttpClassifier, TimedOut,
    error_response,
};
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;
use support::*;
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::test]
async fn an_open_breaker_answers_503_with_retry_after() {
    let flaky = Flaky::failing(500);
    let (clock, b) = breaker();
    let app = router(flaky.clone()).layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(
                |e: fusebox_tower::Error| async move { error_response::<Body>(&e) },
            ))
            .layer(CircuitBreakerLayer::new(b.clone()).classify(HttpClassifier)),
    );
    let addr = serve_router(app).await;
    let client = client();
    for _ in 0..3 {
        assert_eq!(client.request(get(addr)).await.unwrap().status(), 500);
    }
    clock.advance(Duration::from_millis(2500));
    let shed = client.request(get(addr)).await.unwrap();
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "8"); // 7.5 s, rounded up
    assert_eq!(flaky.hits(), 3);

    clock.advance(Duration::from_millis(7500));
    flaky.set_fail(0);
    assert_eq!(client.request(get(addr)).await.unwrap().status(), 200);
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test]
async fn a_full_bulkhead_sheds_with_503() {
    let flaky = Flaky::healthy();
    flaky.hang.store(true, SeqCst);
    let slots = Arc::new(Bulkhead::new(1).unwrap());
    let app = router(flaky.clone()).layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(
                |e: fusebox_tower::Error| async move { error_response::<Body>(&e) },
            ))
            .layer(BulkheadLayer::new(slots.clone()).classify(HttpClassifier)),
    );
    let addr = serve_router(app).await;
    let client = client();
    let held = tokio::spawn({
        let client = client.clone();
        async move { client.request(get(addr)).await }
    });
    flaky.received(1).await;
    assert_eq!(slots.in_flight(), 1);
    let shed = client.request(get(addr)).await.unwrap();
    assert_eq!(shed.status(), 503);
    assert!(shed.headers().get("retry-after").is_none());
    assert_eq!(flaky.hits(), 1);
    held.abort();
}

#[tokio::test]
async fn timeouts_are_failures_for_a_breaker_outside() {
    let flaky = Flaky::healthy();
    flaky.hang.store(true, SeqCst);
    let addr = serve(flaky.clone()).await;
    let (_, b) = breaker();
    let limit = Arc::new(
        AdaptiveTimeout::builder()
            .initial(Duration::from_millis(20))
            .build()
            .unwrap(),
    );
    let mut svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(b.clone()).classify(HttpClassifier))
        .layer(AdaptiveTimeoutLayer::new(limit.clone(), tokio::time::sleep))
        .service(client());
    for _ in 0..3 {
        let e = svc
            .ready()
            .await
            .unwrap()
            .call(get(addr))
            .await
            .unwrap_err();
        assert_eq!(TimedOut::find(&e).unwrap().after, Duration::from_millis(20));
        assert_eq!(error_response::<String>(&e).status(), 504);
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(limit.histogram().snapshot().count(), 3);
}
