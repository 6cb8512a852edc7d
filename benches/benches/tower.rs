//! tower layers, fusebox-tower beside tower-resilience-circuitbreaker 0.14,
//! in one run:
//!
//! `cargo bench -p fusebox-benches --bench tower`
//!
//! A current-thread tokio runtime drives a `service_fn` that answers at
//! once; each call is `ready().await` then `call(x).await`:
//!
//! * `bare`: the service alone (the floor);
//! * `fusebox/closed`: `CircuitBreakerLayer` over an `Arc<Breaker>`;
//!   `fusebox/closed_static`: over a `&'static Breaker` (no reference count);
//! * `fusebox/retry_closed`: `RetryLayer` (the core's policy and budget)
//!   outside `fusebox/closed`'s layer: what wrapping a call that succeeds
//!   in retries costs;
//! * `fusebox/hedge_closed`: `HedgeLayer` (the core's hedge policy and
//!   budget) outside `fusebox/closed`'s layer: a call that answers at
//!   once, no hedge fires;
//! * `fusebox/open`: the breaker open, every call rejected;
//! * `fusebox/keyed_1`, `fusebox/keyed_10000`: `KeyedCircuitBreakerLayer`,
//!   the requests' keys cycling over 1 or 10^4 hosts;
//! * `tower_resilience/closed`, `tower_resilience/open` (forced open).
//!
//! Then `two_workers`: two tasks on a 2-worker runtime, each with its clone
//! of one service (one shared breaker), wall time / total calls.

use criterion::{criterion_group, criterion_main, Criterion};
use fusebox::retry::{HedgePolicy, Sleep, Timer};
use fusebox::{
    Breaker, ClockSource, Config, KeyedBreakers, RetryBudget, RetryBudgetConfig, RetryPolicy,
};
use fusebox_tower::{CircuitBreakerLayer, HedgeLayer, KeyOf, KeyedCircuitBreakerLayer, RetryLayer};
use std::borrow::Cow;
use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Runtime};
use tower::{service_fn, Layer, Service, ServiceExt};

type Bare = tower::util::ServiceFn<fn(u64) -> std::future::Ready<Result<u64, Infallible>>>;

fn bare() -> Bare {
    service_fn(|x: u64| std::future::ready(Ok::<u64, Infallible>(x)))
}

fn tr_layer() -> tower_resilience_circuitbreaker::CircuitBreakerLayer {
    tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .wait_duration_in_open(Duration::from_secs(3600))
        .build()
        .unwrap()
}

/// A timer for `fusebox/retry_closed` and `fusebox/hedge_closed`, whose
/// calls never wait.
#[derive(Debug)]
struct NoWait;

impl Timer for NoWait {
    fn sleep(&self, _: Duration) -> Sleep {
        Box::pin(std::future::ready(()))
    }
}

fn breaker() -> Breaker {
    Breaker::new(
        Config::builder()
            .open_timeout(Duration::from_secs(3600))
            .build()
            .unwrap(),
    )
    .unwrap()
}

/// `iters` calls of `svc` on `rt`, timed inside the runtime.
fn drive<S, Req>(rt: &Runtime, svc: &mut S, iters: u64, req: impl Fn(u64) -> Req) -> Duration
where
    S: Service<Req>,
{
    rt.block_on(async {
        let t = Instant::now();
        for i in 0..iters {
            let s = match svc.ready().await {
                Ok(s) => s,
                Err(_) => unreachable!("the services here are always ready"),
            };
            let _ = black_box(s.call(req(i)).await.is_ok());
        }
        t.elapsed()
    })
}

/// The key of a bench request: the host it names.
#[derive(Clone, Copy)]
struct Host;

impl KeyOf<(&'static str, u64)> for Host {
    fn key<'r>(&self, req: &'r (&'static str, u64)) -> Option<Cow<'r, str>> {
        Some(Cow::Borrowed(req.0))
    }
}

fn bench_one_task(c: &mut Criterion) {
    let rt = Builder::new_current_thread().build().unwrap();
    let mut g = c.benchmark_group("tower");

    let mut s = bare();
    g.bench_function("bare", |b| b.iter_custom(|n| drive(&rt, &mut s, n, |i| i)));

    let mut s = CircuitBreakerLayer::new(Arc::new(breaker())).layer(bare());
    g.bench_function("fusebox/closed", |b| {
        b.iter_custom(|n| drive(&rt, &mut s, n, |i| i))
    });

    let fixed: &'static Breaker = Box::leak(Box::new(breaker()));
    let mut s = CircuitBreakerLayer::new(fixed).layer(bare());
    g.bench_function("fusebox/closed_static", |b| {
        b.iter_custom(|n| drive(&rt, &mut s, n, |i| i))
    });

    let budget = Arc::new(RetryBudget::new(RetryBudgetConfig::default()).unwrap());
    let policy = Arc::new(RetryPolicy::default());
    let mut s = RetryLayer::new(policy, budget, Arc::new(NoWait))
        .layer(CircuitBreakerLayer::new(Arc::new(breaker())).layer(bare()));
    g.bench_function("fusebox/retry_closed", |b| {
        b.iter_custom(|n| drive(&rt, &mut s, n, |i| i))
    });

    let budget = Arc::new(RetryBudget::new(RetryBudgetConfig::default()).unwrap());
    let policy = Arc::new(HedgePolicy::builder().build().unwrap());
    let mut s = HedgeLayer::new(policy, budget, Arc::new(NoWait))
        .layer(CircuitBreakerLayer::new(Arc::new(breaker())).layer(bare()));
    g.bench_function("fusebox/hedge_closed", |b| {
        b.iter_custom(|n| drive(&rt, &mut s, n, |i| i))
    });

    let open = Arc::new(breaker());
    open.force_open();
    let mut s = CircuitBreakerLayer::new(open).layer(bare());
    g.bench_function("fusebox/open", |b| {
        b.iter_custom(|n| drive(&rt, &mut s, n, |i| i))
    });

    for hosts in [1usize, 10_000] {
        let names: &'static [&'static str] = Box::leak(
            (0..hosts)
                .map(|i| &*Box::leak(format!("host-{i}.example:443").into_boxed_str()))
                .collect::<Vec<&'static str>>()
                .into_boxed_slice(),
        );
        let keyed = Arc::new(
            KeyedBreakers::new(
                "hosts",
                2 * hosts,
                Config::default(),
                ClockSource::Monotonic,
            )
            .unwrap(),
        );
        let mut s = KeyedCircuitBreakerLayer::new(keyed)
            .key(Host)
            .layer(service_fn(|r: (&'static str, u64)| {
                std::future::ready(Ok::<u64, Infallible>(r.1))
            }));
        g.bench_function(format!("fusebox/keyed_{hosts}"), |b| {
            b.iter_custom(|n| drive(&rt, &mut s, n, |i| (names[i as usize % hosts], i)))
        });
    }

    let mut s = tr_layer().layer(bare());
    g.bench_function("tower_resilience/closed", |b| {
        b.iter_custom(|n| drive(&rt, &mut s, n, |i| i))
    });

    let mut s = tr_layer().layer(bare());
    rt.block_on(s.force_open());
    g.bench_function("tower_resilience/open", |b| {
        b.iter_custom(|n| drive(&rt, &mut s, n, |i| i))
    });
    g.finish();
}

/// Two tasks on a 2-worker runtime, each making `iters / 2` calls on its
/// clone of `svc`: wall time for all `iters`.
fn two_tasks<S>(rt: &Runtime, svc: &S, iters: u64) -> Duration
where
    S: Service<u64> + Clone + Send + 'static,
    S::Future: Send,
{
    let half = iters.div_ceil(2);
    rt.block_on(async {
        let start = Arc::new(tokio::sync::Barrier::new(2));
        let t = Instant::now();
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let mut s = svc.clone();
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    for i in 0..half {
                        let s = match s.ready().await {
                            Ok(s) => s,
                            Err(_) => unreachable!(),
                        };
                        let _ = black_box(s.call(i).await.is_ok());
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        t.elapsed()
    })
}

fn bench_two_workers(c: &mut Criterion) {
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("two_workers");
    let s = bare();
    g.bench_function("bare", |b| b.iter_custom(|n| two_tasks(&rt, &s, n)));
    let s = CircuitBreakerLayer::new(Arc::new(breaker())).layer(bare());
    g.bench_function("fusebox/closed", |b| {
        b.iter_custom(|n| two_tasks(&rt, &s, n))
    });
    let fixed: &'static Breaker = Box::leak(Box::new(breaker()));
    let s = CircuitBreakerLayer::new(fixed).layer(bare());
    g.bench_function("fusebox/closed_static", |b| {
        b.iter_custom(|n| two_tasks(&rt, &s, n))
    });
    let s = tr_layer().layer(bare());
    g.bench_function("tower_resilience/closed", |b| {
        b.iter_custom(|n| two_tasks(&rt, &s, n))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_one_task, bench_two_workers
}
criterion_main!(benches);
