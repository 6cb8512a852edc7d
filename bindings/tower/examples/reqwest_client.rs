//! A reqwest client with a breaker per host, against two local servers it
//! starts itself: `flaky` fails most requests (some 503 with
//! `Retry-After: 1`), `steady` never. The flaky host's breaker opens and
//! refuses calls without touching the network; the steady host is never
//! refused. Runs for about three seconds and exits.
//!
//! cargo run -p fusebox-tower --example reqwest_client

use axum::{Router, http::StatusCode, response::IntoResponse, routing::get};
use fusebox::{ClockSource, Config, KeyedBreakers};
use fusebox_tower::reqwest::{CircuitBreakerMiddleware, rejection};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

async fn start(app: Router) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let n = Arc::new(AtomicU64::new(0));
    let flaky = start(Router::new().route(
        "/",
        get(move || {
            let i = n.fetch_add(1, Relaxed);
            async move {
                match i % 5 {
                    0 => (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")]).into_response(),
                    1 | 2 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                    _ => "ok".into_response(),
                }
            }
        }),
    ))
    .await?;
    let steady = start(Router::new().route("/", get(|| async { "ok" }))).await?;

    let hosts = Arc::new(KeyedBreakers::new(
        "hosts",
        1000,
        Config::builder()
            .consecutive_failures(Some(2))
            .open_timeout(Duration::from_millis(500))
            .build()?,
        ClockSource::Monotonic,
    )?);
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(CircuitBreakerMiddleware::new(hosts.clone()))
        .build();

    println!("each line: flaky, steady ('.' 2xx, 'F' 5xx, 'x' refused by the breaker)");
    let (mut sent, mut refused) = (0, 0);
    for _ in 0..30 {
        let mut line = String::new();
        for url in [&flaky, &steady] {
            line.push(match client.get(url.as_str()).send().await {
                Ok(r) if r.status().is_success() => '.',
                Ok(_) => 'F',
                Err(e) if rejection(&e).is_some() => 'x',
                Err(e) => return Err(e.into()),
            });
        }
        if line.starts_with('x') {
            refused += 1;
        } else {
            sent += 1;
        }
        println!("{line}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("flaky host: {sent} requests sent, {refused} refused without a request");
    for m in hosts.snapshot() {
        println!("{}: {:?}, {} failures", m.name, m.state, m.failures);
    }
    Ok(())
}
