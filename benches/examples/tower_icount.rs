// Instruction counts of the tower layers under callgrind:
// `valgrind --tool=callgrind target/release/examples/tower_icount <which> <n>`
// (which: bare, static, arc, open, tr, tr_open: tower-resilience closed, open; keyed_1, keyed_10000:
// the keyed layer over 1 or 10^4 hosts, keys in a fixed random order; retry, hedge: `RetryLayer`,
// `HedgeLayer` over `arc`, calls that succeed at once); prints ns/call when run plainly.
use fusebox::retry::{HedgePolicy, Sleep, Timer};
use fusebox::{
    Breaker, ClockSource, Config, KeyedBreakers, RetryBudget, RetryBudgetConfig, RetryPolicy,
};
use fusebox_tower::{CircuitBreakerLayer, HedgeLayer, KeyOf, KeyedCircuitBreakerLayer, RetryLayer};
use std::borrow::Cow;
use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
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
            "keyed_1" | "keyed_10000" => {
                keyed(if which == "keyed_1" { 1 } else { 10_000 }, n).await
            }
            "retry" | "hedge" => {
                let inner =
                    CircuitBreakerLayer::new(Arc::new(Breaker::new(Config::default()).unwrap()))
                        .layer(bare);
                let budget = Arc::new(RetryBudget::new(RetryBudgetConfig::default()).unwrap());
                if which == "retry" {
                    let policy = Arc::new(RetryPolicy::default());
                    run(
                        RetryLayer::new(policy, budget, Arc::new(NoWait)).layer(inner),
                        n,
                    )
                    .await
                } else {
                    let policy = Arc::new(HedgePolicy::builder().build().unwrap());
                    run(
                        HedgeLayer::new(policy, budget, Arc::new(NoWait)).layer(inner),
                        n,
                    )
                    .await
                }
            }
            _ => panic!(
                "bare | static | arc | open | tr | tr_open | keyed_1 | keyed_10000 | retry | hedge"
            ),
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

/// A timer whose sleeps are over at once (the calls here never wait).
#[derive(Debug)]
struct NoWait;

impl Timer for NoWait {
    fn sleep(&self, _: std::time::Duration) -> Sleep {
        Box::pin(std::future::ready(()))
    }
}

/// The key of a request: the host it names.
#[derive(Clone, Copy)]
struct Host;

impl KeyOf<(&'static str, u64)> for Host {
    fn key<'r>(&self, req: &'r (&'static str, u64)) -> Option<Cow<'r, str>> {
        Some(Cow::Borrowed(req.0))
    }
}

async fn keyed(hosts: usize, n: u64) {
    let names: Vec<&'static str> = (0..hosts)
        .map(|i| &*Box::leak(format!("host-{i}.example:443").into_boxed_str()))
        .collect();
    // A fixed pseudo-random order (xorshift), so runs repeat exactly.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let order: Vec<&'static str> = (0..65_536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            names[(x % hosts as u64) as usize]
        })
        .collect();
    let keyed = std::sync::Arc::new(
        KeyedBreakers::new(
            "hosts",
            2 * hosts,
            Config::default(),
            ClockSource::Monotonic,
        )
        .unwrap(),
    );
    for h in &names {
        keyed.get_or_create(h).unwrap();
    }
    let mut s = KeyedCircuitBreakerLayer::new(keyed)
        .key(Host)
        .layer(service_fn(|r: (&'static str, u64)| {
            std::future::ready(Ok::<u64, Infallible>(r.1))
        }));
    for i in 0..n {
        let Ok(s) = s.ready().await else {
            unreachable!()
        };
        black_box(s.call((order[i as usize & 0xFFFF], i)).await.is_ok());
    }
}
