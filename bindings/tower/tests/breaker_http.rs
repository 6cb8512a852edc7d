//! The circuit breaker layers in front of a hyper client, against a flaky
//! server on loopback: trip, reject with the server's `Retry-After`, probe,
//! close; 4xx ignored; connection errors counted; one breaker per host.

mod support;

use fusebox::{ClockSource, KeyedBreakers, RejectReason, State};
use fusebox_tower::grpc::GrpcClassifier;
use fusebox_tower::{
    CircuitBreakerLayer, HttpClassifier, KeyedCircuitBreakerLayer, Reason, Rejected,
};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::*;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

async fn status<S>(svc: &mut S, addr: std::net::SocketAddr) -> Result<u16, Rejected>
where
    S: Service<
            http::Request<http_body_util::Empty<axum::body::Bytes>>,
            Response = http::Response<hyper::body::Incoming>,
            Error = fusebox_tower::Error,
        >,
{
    match svc.ready().await.unwrap().call(get(addr)).await {
        Ok(r) => Ok(r.status().as_u16()),
        Err(e) => Err(*e
            .rejected()
            .unwrap_or_else(|| panic!("not a rejection: {e}"))),
    }
}

#[tokio::test]
async fn trips_rejects_probes_and_closes() {
    let server = Flaky::failing(500);
    let addr = serve(server.clone()).await;
    let (clock, b) = breaker();
    let mut svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(b.clone()).classify(HttpClassifier))
        .service(client());

    for _ in 0..3 {
        assert_eq!(status(&mut svc, addr).await, Ok(500));
    }
    assert_eq!(b.state(), State::Open);
    let r = status(&mut svc, addr).await.unwrap_err();
    assert_eq!(r.reason, Reason::Breaker(RejectReason::Open));
    assert_eq!(r.retry_after, Some(Duration::from_secs(10)));
    assert_eq!(server.hits(), 3, "a rejected call never reaches the server");

    // The server recovers; after the open timeout one probe closes it.
    server.set_fail(0);
    clock.advance(Duration::from_secs(10));
    assert_eq!(status(&mut svc, addr).await, Ok(200));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(server.hits(), 4);

    // A failed probe reopens it.
    server.set_fail(100);
    for _ in 0..3 {
        assert_eq!(status(&mut svc, addr).await, Ok(500));
    }
    clock.advance(Duration::from_secs(10));
    assert_eq!(status(&mut svc, addr).await, Ok(500));
    assert_eq!(b.state(), State::Open);
}

#[tokio::test]
async fn rejects_for_the_retry_after_the_server_sent() {
    let server = Flaky::failing(503);
    server.set_retry_after(Some("42"));
    let addr = serve(server.clone()).await;
    let (clock, b) = breaker();
    let mut svc = CircuitBreakerLayer::new(b.clone())
        .classify(HttpClassifier)
        .layer(client());

    // One 503 with Retry-After opens it, though 3 failures are needed to trip.
    assert_eq!(status(&mut svc, addr).await, Ok(503));
    let r = status(&mut svc, addr).await.unwrap_err();
    assert_eq!(r.retry_after, Some(Duration::from_secs(42)));
    clock.advance(Duration::from_secs(41));
    let r = status(&mut svc, addr).await.unwrap_err();
    assert_eq!(r.retry_after, Some(Duration::from_secs(1)));
    clock.advance(Duration::from_secs(1));
    server.set_fail(0);
    assert_eq!(status(&mut svc, addr).await, Ok(200));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(server.hits(), 2);

    // Longer than max_open_for (60 s): capped. An HTTP-date an hour ahead too.
    let in_an_hour = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
    for v in ["86400", in_an_hour.as_str()] {
        b.reset();
        server.set_fail(100);
        server.set_retry_after(Some(v));
        assert_eq!(status(&mut svc, addr).await, Ok(503));
        let r = status(&mut svc, addr).await.unwrap_err();
        assert_eq!(r.retry_after, Some(Duration::from_secs(60)), "{v}");
    }

    // A bad value is ignored: a plain failure, no open.
    b.reset();
    server.set_retry_after(Some("tomorrow"));
    assert_eq!(status(&mut svc, addr).await, Ok(503));
    assert_eq!(b.state(), State::Closed);
    // 429 with Retry-After: not a failure, but the server asked for a pause.
    b.reset();
    let failures = b.metrics().failures;
    server
        .status
        .store(429, std::sync::atomic::Ordering::SeqCst);
    server.set_retry_after(Some("5"));
    assert_eq!(status(&mut svc, addr).await, Ok(429));
    let r = status(&mut svc, addr).await.unwrap_err();
    assert_eq!(r.retry_after, Some(Duration::from_secs(5)));
    assert_eq!(b.metrics().failures, failures);
}

#[tokio::test]
async fn client_errors_are_ignored_and_refused_connections_fail() {
    let server = Flaky::failing(404);
    let addr = serve(server.clone()).await;
    let (_, b) = breaker();
    let mut svc = CircuitBreakerLayer::new(b.clone())
        .classify(HttpClassifier)
        .layer(client());
    for _ in 0..5 {
        assert_eq!(status(&mut svc, addr).await, Ok(404));
    }
    assert_eq!((b.state(), b.metrics().ignored), (State::Closed, 5));

    // A port nobody listens on: connection refused, an inner error. Bound
    // (never listening) for the whole test, so that no other socket can
    // take it meanwhile, as one could once a closed listener let it go.
    let hold = tokio::net::TcpSocket::new_v4().unwrap();
    hold.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed = hold.local_addr().unwrap();
    for _ in 0..3 {
        let e = svc
            .ready()
            .await
            .unwrap()
            .call(get(closed))
            .await
            .unwrap_err();
        assert!(e.rejected().is_none(), "{e}");
    }
    assert_eq!(b.state(), State::Open);
    drop(hold);
}

#[tokio::test]
async fn one_bad_host_does_not_open_another() {
    let bad = Flaky::failing(500);
    let good = Flaky::healthy();
    let (a, g) = (serve(bad.clone()).await, serve(good.clone()).await);
    let clock = Arc::new(fusebox::ManualClock::new());
    let hosts = Arc::new(
        KeyedBreakers::new("hosts", 100, config(), ClockSource::from(clock.clone())).unwrap(),
    );
    let mut svc = ServiceBuilder::new()
        .layer(KeyedCircuitBreakerLayer::new(hosts.clone()).classify(HttpClassifier))
        .service(client());

    for _ in 0..3 {
        assert_eq!(status(&mut svc, a).await, Ok(500));
        assert_eq!(status(&mut svc, g).await, Ok(200));
    }
    let r = status(&mut svc, a).await.unwrap_err();
    assert_eq!(r.reason, Reason::Breaker(RejectReason::Open));
    for _ in 0..10 {
        assert_eq!(status(&mut svc, g).await, Ok(200));
    }
    assert_eq!(hosts.get(&a.to_string()).unwrap().state(), State::Open);
    assert_eq!(hosts.get(&g.to_string()).unwrap().state(), State::Closed);
    assert_eq!((bad.hits(), good.hits()), (3, 13));
    assert_eq!(hosts.len(), 2);
}

#[tokio::test]
async fn grpc_status_unavailable_trips_and_not_found_does_not() {
    let server = Flaky::healthy();
    *server.grpc_status.lock().unwrap() = Some("5".into()); // NOT_FOUND
    let addr = serve(server.clone()).await;
    let (_, b) = breaker();
    let mut svc = CircuitBreakerLayer::new(b.clone())
        .classify(GrpcClassifier)
        .layer(client());
    for _ in 0..5 {
        assert_eq!(status(&mut svc, addr).await, Ok(200));
    }
    assert_eq!((b.state(), b.metrics().ignored), (State::Closed, 5));
    *server.grpc_status.lock().unwrap() = Some("14".into()); // UNAVAILABLE
    for _ in 0..3 {
        assert_eq!(status(&mut svc, addr).await, Ok(200));
    }
    assert_eq!(b.state(), State::Open);
}
