//! A call whose future is dropped while the server is still working on it
//! is a cancelled call, ended as `Config::cancellation` says: a half-open
//! probe gives its slot back; a call dropped after `slow_call_duration`
//! counts as one slow call; one dropped sooner counts nothing.

mod support;

use fusebox::{Cancellation, Config, ManualClock, RejectReason, State};
use fusebox_tower::{CircuitBreakerLayer, HttpClassifier, Reason, Rejected};
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;
use support::*;
use tower::{Layer, Service, ServiceExt};

/// Start a call and return its future once the server holds the request.
async fn in_flight<S, F>(
    svc: &mut S,
    server: &Flaky,
    addr: std::net::SocketAddr,
) -> std::pin::Pin<Box<F>>
where
    S: Service<http::Request<http_body_util::Empty<axum::body::Bytes>>, Future = F>,
    F: std::future::Future,
    F::Output: std::fmt::Debug,
{
    let n = server.hits() + 1;
    let mut fut = Box::pin(svc.ready().await.ok().unwrap().call(get(addr)));
    tokio::select! {
        biased;
        r = &mut fut => panic!("the hanging server answered: {r:?}"),
        _ = server.received(n) => {}
    }
    fut
}

#[tokio::test]
async fn a_probe_dropped_in_half_open_gives_its_slot_back() {
    let server = Flaky::failing(500);
    let addr = serve(server.clone()).await;
    let (clock, b) = breaker();
    let mut svc = CircuitBreakerLayer::new(b.clone())
        .classify(HttpClassifier)
        .layer(client());
    for _ in 0..3 {
        svc.ready().await.unwrap().call(get(addr)).await.unwrap();
    }
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_secs(10));

    server.hang.store(true, SeqCst);
    let probe = in_flight(&mut svc, &server, addr).await;
    assert_eq!(b.state(), State::HalfOpen);
    let e = svc
        .ready()
        .await
        .unwrap()
        .call(get(addr))
        .await
        .unwrap_err();
    assert_eq!(
        Rejected::find(&e).unwrap().reason,
        Reason::Breaker(RejectReason::HalfOpenFull)
    );
    drop(probe); // the client gave up
    let m = b.metrics();
    assert_eq!(
        (m.successes, m.failures),
        (0, 3),
        "neither success nor failure"
    );

    // The slot is back: the next call is the probe, and closes the breaker.
    server.hang.store(false, SeqCst);
    server.set_fail(0);
    let r = svc.ready().await.unwrap().call(get(addr)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test]
async fn a_call_dropped_after_the_slow_call_duration_counts_as_slow() {
    let server = Flaky::healthy();
    server.hang.store(true, SeqCst);
    let addr = serve(server.clone()).await;
    let (clock, b) = breaker(); // slow past 2 s
    let mut svc = CircuitBreakerLayer::new(b.clone())
        .classify(HttpClassifier)
        .layer(client());

    let early = in_flight(&mut svc, &server, addr).await;
    clock.advance(Duration::from_secs(2)); // not past it
    drop(early);
    assert_eq!(b.metrics().window.calls, 0);

    let late = in_flight(&mut svc, &server, addr).await;
    clock.advance(Duration::from_secs(3));
    drop(late);
    let m = b.metrics();
    // One slow call (a slow success, as the core counts it), no failure.
    assert_eq!(
        (m.window.calls, m.slow, m.window.slow, m.failures),
        (1, 1, 1, 0)
    );
}

#[tokio::test]
async fn the_cancellation_policy_is_the_breakers() {
    let server = Flaky::healthy();
    server.hang.store(true, SeqCst);
    let addr = serve(server.clone()).await;
    let clock = Arc::new(ManualClock::new());
    let b = Arc::new(
        fusebox::Breaker::with_clock(
            Config {
                cancellation: Cancellation::Failure,
                ..config()
            },
            clock,
        )
        .unwrap(),
    );
    let mut svc = CircuitBreakerLayer::new(b.clone())
        .classify(HttpClassifier)
        .layer(client());
    for _ in 0..3 {
        drop(in_flight(&mut svc, &server, addr).await);
    }
    assert_eq!((b.metrics().failures, b.state()), (3, State::Open));
}
