//! The reqwest-middleware middleware: a breaker per host, the server's
//! `Retry-After`, probing, and cancellation, against flaky servers on
//! loopback.

mod support;

use fusebox::{ClockSource, KeyedBreakers, ManualClock, RejectReason, State};
use fusebox_tower::Reason;
use fusebox_tower::reqwest::{CircuitBreakerMiddleware, rejection};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;
use support::*;

fn setup() -> (Arc<ManualClock>, Arc<KeyedBreakers>, ClientWithMiddleware) {
    let clock = Arc::new(ManualClock::new());
    let hosts = Arc::new(
        KeyedBreakers::new("hosts", 100, config(), ClockSource::from(clock.clone())).unwrap(),
    );
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(CircuitBreakerMiddleware::new(hosts.clone()))
        .build();
    (clock, hosts, client)
}

#[tokio::test]
async fn per_host_breakers_trip_reject_probe_and_close() {
    let bad = Flaky::failing(502);
    let good = Flaky::healthy();
    let (a, g) = (serve(bad.clone()).await, serve(good.clone()).await);
    let (clock, hosts, client) = setup();
    let (ua, ug) = (format!("http://{a}/x"), format!("http://{g}/y"));

    for _ in 0..3 {
        assert_eq!(client.get(&ua).send().await.unwrap().status(), 502);
        assert_eq!(client.get(&ug).send().await.unwrap().status(), 200);
    }
    let e = client.get(&ua).send().await.unwrap_err();
    let r = rejection(&e).expect("rejected");
    assert_eq!(r.reason, Reason::Breaker(RejectReason::Open));
    assert_eq!(r.retry_after, Some(Duration::from_secs(10)));
    assert_eq!(client.get(&ug).send().await.unwrap().status(), 200);
    assert_eq!(hosts.get(&a.to_string()).unwrap().state(), State::Open);
    assert_eq!(hosts.get(&g.to_string()).unwrap().state(), State::Closed);
    assert_eq!(bad.hits(), 3);

    bad.set_fail(0);
    clock.advance(Duration::from_secs(10));
    assert_eq!(client.get(&ua).send().await.unwrap().status(), 200);
    assert_eq!(hosts.get(&a.to_string()).unwrap().state(), State::Closed);
}

#[tokio::test]
async fn the_servers_retry_after_sets_the_open_period() {
    let server = Flaky::failing(503);
    server.set_retry_after(Some("30"));
    let addr = serve(server.clone()).await;
    let (clock, _, client) = setup();
    let url = format!("http://{addr}/");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 503);
    clock.advance(Duration::from_secs(12));
    let e = client.get(&url).send().await.unwrap_err();
    assert_eq!(
        rejection(&e).unwrap().retry_after,
        Some(Duration::from_secs(18))
    );
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_dropped_probe_gives_its_slot_back() {
    let server = Flaky::failing(500);
    let addr = serve(server.clone()).await;
    let (clock, hosts, client) = setup();
    let url = format!("http://{addr}/");
    for _ in 0..3 {
        client.get(&url).send().await.unwrap();
    }
    clock.advance(Duration::from_secs(10));
    server.hang.store(true, SeqCst);
    {
        let probe = client.get(&url).send();
        tokio::pin!(probe);
        tokio::select! {
            biased;
            r = &mut probe => panic!("answered: {r:?}"),
            _ = server.received(4) => {}
        }
        let e = client.get(&url).send().await.unwrap_err();
        let r = rejection(&e).unwrap();
        assert_eq!(r.reason, Reason::Breaker(RejectReason::HalfOpenFull));
    } // the probe's future is dropped here
    server.hang.store(false, SeqCst);
    server.set_fail(0);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(hosts.get(&addr.to_string()).unwrap().state(), State::Closed);
}
