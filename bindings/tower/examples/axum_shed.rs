//! An axum server that sheds: a bulkhead of 4 slots and a breaker in front
//! of a slow handler, a refused request answered 503 (with `Retry-After`
//! when the breaker knows it). The example starts the server, sends it 16
//! requests at once, then trips the breaker, and exits.
//!
//! cargo run -p fusebox-tower --example axum_shed

use axum::{Router, body::Body, error_handling::HandleErrorLayer, routing::get};
use fusebox::bulkhead::Bulkhead;
use fusebox::{Breaker, Config};
use fusebox_tower::{BulkheadLayer, CircuitBreakerLayer, HttpClassifier, error_response};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(200)).await;
    "done\n"
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let breaker = Arc::new(Breaker::new(
        Config::builder()
            .consecutive_failures(Some(3))
            .open_timeout(Duration::from_secs(30))
            .build()?,
    )?);
    let slots = Arc::new(Bulkhead::new(4)?);
    let app = Router::new()
        .route("/slow", get(slow))
        .route(
            "/broken",
            get(|| async { (http::StatusCode::INTERNAL_SERVER_ERROR, "oops\n") }),
        )
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(
                    |e: fusebox_tower::Error| async move { error_response::<Body>(&e) },
                ))
                .layer(CircuitBreakerLayer::new(breaker.clone()).classify(HttpClassifier))
                .layer(BulkheadLayer::new(slots).classify(HttpClassifier)),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("serving on http://{addr}");

    let client = reqwest::Client::new();
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..16 {
        burst.spawn(client.get(format!("http://{addr}/slow")).send());
    }
    let mut by_status = std::collections::BTreeMap::new();
    while let Some(r) = burst.join_next().await {
        *by_status.entry(r??.status().as_u16()).or_insert(0) += 1;
    }
    println!("16 requests at once through 4 slots: {by_status:?}");

    for _ in 0..4 {
        let r = client.get(format!("http://{addr}/broken")).send().await?;
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        println!("GET /broken -> {} retry-after: {:?}", r.status(), retry);
    }
    println!("breaker: {:?}", breaker.state());
    Ok(())
}
