//! A flaky HTTP server on loopback whose failures, latency and
//! `Retry-After` the test sets, and a plain hyper client.
#![allow(dead_code)] // each test file uses its own part

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fusebox::{Breaker, Config, ManualClock};
use http_body_util::Empty;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// What the server does; change it between requests.
#[derive(Default)]
pub struct Flaky {
    /// Fail this many of every 100 requests (0: none, 100: all), by count:
    /// request n fails when `n * fail_per_100 / 100` moves.
    pub fail_per_100: AtomicU32,
    /// The status of a failure (500 unless set).
    pub status: AtomicU16,
    /// A `Retry-After` on failures.
    pub retry_after: Mutex<Option<String>>,
    /// A `grpc-status` header on every answer.
    pub grpc_status: Mutex<Option<String>>,
    /// Answer after this long (real time); `hang` answers never.
    pub latency_ms: AtomicU64,
    pub hang: AtomicBool,
    /// The first this many requests hang (answer never).
    pub hang_first: AtomicU64,
    /// Requests received.
    pub hits: AtomicU64,
    /// Notified (all waiters) when a request arrives.
    entered: Notify,
}

impl Flaky {
    pub fn failing(status: u16) -> Arc<Flaky> {
        let f = Flaky::default();
        f.fail_per_100.store(100, SeqCst);
        f.status.store(status, SeqCst);
        Arc::new(f)
    }

    pub fn healthy() -> Arc<Flaky> {
        Arc::new(Flaky::default())
    }

    pub fn set_fail(&self, per_100: u32) {
        self.fail_per_100.store(per_100, SeqCst);
    }

    pub fn set_retry_after(&self, v: Option<&str>) {
        *self.retry_after.lock().unwrap() = v.map(str::to_owned);
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(SeqCst)
    }

    /// Wait until the server has received `n` requests in all.
    pub async fn received(&self, n: u64) {
        loop {
            let entered = self.entered.notified();
            tokio::pin!(entered);
            entered.as_mut().enable();
            if self.hits() >= n {
                return;
            }
            entered.await;
        }
    }
}

async fn handler(State(f): State<Arc<Flaky>>) -> Response {
    let n = f.hits.fetch_add(1, SeqCst);
    f.entered.notify_waiters();
    if f.hang.load(SeqCst) || n < f.hang_first.load(SeqCst) {
        std::future::pending::<()>().await;
    }
    let ms = f.latency_ms.load(SeqCst);
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let p = u64::from(f.fail_per_100.load(SeqCst));
    let fail = (n + 1) * p / 100 != n * p / 100;
    let mut resp = if fail {
        let s = match f.status.load(SeqCst) {
            0 => 500,
            s => s,
        };
        let mut r = StatusCode::from_u16(s).unwrap().into_response();
        if let Some(v) = f.retry_after.lock().unwrap().as_deref() {
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_str(v).unwrap());
        }
        r
    } else {
        "ok".into_response()
    };
    if let Some(g) = f.grpc_status.lock().unwrap().as_deref() {
        resp.headers_mut()
            .insert("grpc-status", HeaderValue::from_str(g).unwrap());
    }
    resp
}

/// Serve `f` on a fresh loopback port, on the current runtime.
pub async fn serve(f: Arc<Flaky>) -> SocketAddr {
    serve_router(router(f)).await
}

/// The flaky handler on every path.
pub fn router(f: Arc<Flaky>) -> axum::Router {
    axum::Router::new().fallback(handler).with_state(f)
}

/// Serve any router on a fresh loopback port, on the current runtime.
pub async fn serve_router(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn get(addr: SocketAddr) -> http::Request<Empty<Bytes>> {
    http::Request::get(format!("http://{addr}/"))
        .body(Empty::new())
        .unwrap()
}

/// A breaker on a manual clock: 3 failures in a row trip it, open 10 s,
/// one probe closes it, `max_open_for` 60 s, slow past 2 s.
pub fn config() -> Config {
    Config::builder()
        .consecutive_failures(Some(3))
        .open_timeout(Duration::from_secs(10))
        .half_open_max_calls(1)
        .success_threshold(1)
        .max_open_for(Duration::from_secs(60))
        .slow_call_duration(Some(Duration::from_secs(2)))
        .min_calls(1000)
        .build()
        .unwrap()
}

pub fn breaker() -> (Arc<ManualClock>, Arc<Breaker>) {
    let clock = Arc::new(ManualClock::new());
    let b = Arc::new(Breaker::with_clock(config(), clock.clone()).unwrap());
    (clock, b)
}
