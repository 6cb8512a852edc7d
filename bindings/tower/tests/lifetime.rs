//! A layer over an `Arc<Breaker>` hands each call a reference counted in
//! batches (`fusebox::SharedBreaker`): the calls' futures keep the breaker
//! alive after their services and the layer are gone, on any thread, and
//! the last one to end frees it.

use fusebox::{Breaker, Config};
use fusebox_tower::CircuitBreakerLayer;
use std::sync::Arc;
use tokio::sync::oneshot;
use tower::{Layer, Service, ServiceExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_outlive_their_services_and_the_last_frees_the_breaker() {
    let b = Arc::new(Breaker::new(Config::default()).unwrap());
    let gone = Arc::downgrade(&b);
    let layer = CircuitBreakerLayer::new(b);
    let inner = tower::service_fn(|rx: oneshot::Receiver<bool>| async move {
        match rx.await {
            Ok(true) => Ok(()),
            _ => Err(std::io::Error::other("failed")),
        }
    });
    let mut one = layer.layer(inner);
    let mut two = one.clone();
    // 150 calls: more than two batches of references from the first
    // service, and a batch from its clone.
    let mut ends = Vec::new();
    let mut calls = Vec::new();
    for i in 0..150 {
        let (tx, rx) = oneshot::channel();
        let svc = if i % 3 == 0 { &mut two } else { &mut one };
        calls.push(svc.ready().await.unwrap().call(rx));
        ends.push(tx);
    }
    drop((one, two, layer));
    assert!(gone.upgrade().is_some(), "150 calls still hold the breaker");

    // The calls end on the runtime's workers: 100 succeed, 49 fail.
    let last = calls.pop().unwrap();
    let last_end = ends.pop().unwrap();
    let tasks: Vec<_> = calls.into_iter().map(tokio::spawn).collect();
    for (i, tx) in ends.into_iter().enumerate() {
        tx.send(i < 100).unwrap();
    }
    for t in tasks {
        let _ = t.await.unwrap();
    }
    let b = gone.upgrade().expect("one call still holds the breaker");
    let m = b.metrics();
    assert_eq!((m.successes, m.failures), (100, 49));
    drop(b);

    last_end.send(true).unwrap();
    tokio::spawn(last).await.unwrap().unwrap();
    assert!(gone.upgrade().is_none(), "the last call freed the breaker");
}
