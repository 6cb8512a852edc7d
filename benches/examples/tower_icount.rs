// Instruction counts of the tower layers under callgrind:
// `valgrind --tool=callgrind target/release/examples/tower_icount <which> <n>`
// (which: bare, static, arc, open, tr, tr_open: tower-resilience closed, open); prints ns/call when run plainly.
use fusebox::{Breaker, Config};
use fusebox_tower::CircuitBreakerLayer;
use std::convert::Infallible;
use std::hint::black_box;
use std::time::Instant;
use tower::{service_fn, Layer, Service, ServiceExt};

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let n: u64 = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bare = service_fn(|x: u64| std::future::ready(Ok::<u64, Infallible>(x)));
    let b: &'static Breaker = Box::leak(Box::new(Breaker::new(Config::default()).unwrap()));
    let t = Instant::now();
    rt.block_on(async {
        match which.as_str() {
            "bare" => run(bare, n).await,
            "static" => run(CircuitBreakerLayer::new(b).layer(bare), n).await,
            "arc" => {
                let a = std::sync::Arc::new(Breaker::new(Config::default()).unwrap());
                run(CircuitBreakerLayer::new(a).layer(bare), n).await
            }
            "open" => {
                b.force_open();
                run(CircuitBreakerLayer::new(b).layer(bare), n).await
            }
            "tr" | "tr_open" => {
                let s = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
                    .wait_duration_in_open(std::time::Duration::from_secs(3600))
                    .build()
                    .unwrap()
                    .layer(bare);
                if which == "tr_open" {
                    s.force_open().await;
                }
                run(s, n).await
            }
            _ => panic!("bare | static | arc | open | tr | tr_open"),
        }
    });
    eprintln!("{:.1} ns/call", t.elapsed().as_nanos() as f64 / n as f64);
}

async fn run<S: Service<u64>>(mut s: S, n: u64) {
    for i in 0..n {
        let Ok(s) = s.ready().await else {
            unreachable!()
        };
        black_box(s.call(i).await.is_ok());
    }
}
