//! Hedged calls, driven by hand: a ManualClock moved by a ManualTimer,
//! attempts that answer when the test says so, futures polled with a
//! waker that does nothing. No real sleeping.
#![cfg(not(loom))]

use fusebox::retry::{HedgeDelay, HedgePolicy, ManualTimer, RetryError};
use fusebox::{
    Breaker, Cancellation, Config, LatencyHistogram, ManualClock, Phase, RetryBudget,
    RetryBudgetConfig,
};
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One attempt's answer, given by the test; and whether its future was
/// dropped before answering (a cancelled call).
#[derive(Default)]
struct Reply {
    answer: Mutex<Option<Result<u32, &'static str>>>,
    dropped: AtomicBool,
}

struct Pending(Arc<Reply>, bool);

impl Future for Pending {
    type Output = Result<u32, &'static str>;
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        let answer = self.0.answer.lock().unwrap().take();
        match answer {
            Some(a) => {
                self.1 = true;
                Poll::Ready(a)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.1 {
            self.0.dropped.store(true, Ordering::SeqCst);
        }
    }
}

/// The attempts a call started, in order.
#[derive(Default)]
struct Attempts(Mutex<Vec<Arc<Reply>>>);

impl Attempts {
    fn make(&self, n: u32) -> Pending {
        let r = Arc::new(Reply::default());
        let mut v = self.0.lock().unwrap();
        assert_eq!(v.len() as u32 + 1, n, "attempts are numbered from 1");
        v.push(r.clone());
        Pending(r, false)
    }
    fn started(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn get(&self, n: usize) -> Arc<Reply> {
        self.0.lock().unwrap()[n - 1].clone()
    }
    fn answer(&self, n: usize, a: Result<u32, &'static str>) {
        *self.get(n).answer.lock().unwrap() = Some(a);
    }
}

struct Rig {
    clock: Arc<ManualClock>,
    timer: ManualTimer,
    budget: RetryBudget,
}

fn rig(budget: RetryBudgetConfig) -> Rig {
    let clock = Arc::new(ManualClock::new());
    Rig {
        timer: ManualTimer::new(clock.clone()),
        budget: RetryBudget::with_clock(budget, clock.clone()).unwrap(),
        clock,
    }
}

fn breaker(clock: &Arc<ManualClock>, config: Config) -> Breaker {
    Breaker::with_clock(config, clock.clone()).unwrap()
}

fn release() -> Config {
    Config::builder()
        .cancellation(Cancellation::Release)
        .build()
        .unwrap()
}

#[test]
fn the_hedge_starts_after_the_delay_and_the_first_answer_wins() {
    let r = rig(RetryBudgetConfig::default());
    let b = breaker(&r.clock, release());
    let hedge = HedgePolicy::builder()
        .name("search")
        .delay(HedgeDelay::Fixed(ms(20)))
        .max_hedges(2)
        .build()
        .unwrap();
    let attempts = Attempts::default();
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut call = pin!(hedge.call(&b, &r.budget, &r.timer, |n| attempts.make(n)));

    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert_eq!(attempts.started(), 1);
    r.timer.advance(ms(19));
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert_eq!(attempts.started(), 1, "not before the delay");
    r.timer.advance(ms(1));
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert_eq!(attempts.started(), 2, "the first hedge, at 20 ms");

    // The first attempt answers before the second hedge is due: it wins.
    attempts.answer(1, Ok(7));
    let Poll::Ready(out) = call.as_mut().poll(&mut cx) else {
        panic!("answered")
    };
    assert_eq!(out.result, Ok(7));
    assert_eq!(
        (out.stats.attempts, out.stats.hedges, out.stats.answered_by),
        (2, 1, 1)
    );
    assert!(
        attempts.get(2).dropped.load(Ordering::SeqCst),
        "the loser is dropped"
    );
    assert_eq!(r.timer.waiting(), 0, "no hedge left waiting");
    // One outcome per attempt: a success, and a released permit.
    let m = b.metrics();
    assert_eq!((m.successes, m.failures, m.window.calls), (1, 0, 1));
    let hm = hedge.metrics();
    assert_eq!(
        (
            hm.calls,
            hm.attempts,
            hm.hedges,
            hm.retries,
            hm.failed_calls
        ),
        (1, 2, 1, 0, 0)
    );
    let s = r.budget.stats();
    assert_eq!((s.deposits, s.withdrawals), (1, 1));
}

#[test]
fn a_cancelled_loser_gives_its_probe_back() {
    let r = rig(RetryBudgetConfig::default());
    let config = Config::builder()
        .consecutive_failures(Some(1))
        .open_timeout(Duration::from_secs(1))
        .half_open_max_calls(3)
        .success_threshold(3)
        .cancellation(Cancellation::Release)
        .build()
        .unwrap();
    let b = breaker(&r.clock, config);
    b.try_acquire().unwrap().failure();
    r.clock.advance(Duration::from_secs(1));
    let hedge = HedgePolicy::builder()
        .delay(HedgeDelay::Fixed(ms(5)))
        .build()
        .unwrap();
    let attempts = Attempts::default();
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    {
        let mut call = pin!(hedge.call(&b, &r.budget, &r.timer, |n| attempts.make(n)));
        assert!(call.as_mut().poll(&mut cx).is_pending());
        r.timer.advance(ms(5));
        assert!(call.as_mut().poll(&mut cx).is_pending());
        assert_eq!(attempts.started(), 2, "two probes out");
        attempts.answer(2, Ok(1));
        let Poll::Ready(out) = call.as_mut().poll(&mut cx) else {
            panic!("answered")
        };
        assert_eq!((out.result, out.stats.answered_by), (Ok(1), 2));
    }
    assert!(attempts.get(1).dropped.load(Ordering::SeqCst));
    // Three probes in all: one succeeded, the cancelled one came back, so
    // two more are admitted and a third is not.
    assert_eq!(b.metrics().phase, Phase::HalfOpen);
    let p1 = b.try_acquire().expect("a probe");
    let p2 = b.try_acquire().expect("the cancelled probe's slot");
    assert!(b.try_acquire().is_err());
    p1.success();
    p2.success();
    assert_eq!(b.metrics().phase, Phase::Closed);
}

#[test]
fn a_budget_refusal_means_no_hedge() {
    let r = rig(RetryBudgetConfig {
        ratio: 0.0,
        min_per_sec: 0,
        ..Default::default()
    });
    let b = breaker(&r.clock, release());
    let hedge = HedgePolicy::builder()
        .name("db")
        .delay(HedgeDelay::Fixed(ms(10)))
        .build()
        .unwrap();
    let attempts = Attempts::default();
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut call = pin!(hedge.call(&b, &r.budget, &r.timer, |n| attempts.make(n)));
    assert!(call.as_mut().poll(&mut cx).is_pending());
    r.timer.advance(ms(10));
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert_eq!(attempts.started(), 1, "refused: no hedge");
    r.timer.advance(ms(100));
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert_eq!(attempts.started(), 1, "and none later");
    attempts.answer(1, Err("slow and failed"));
    let Poll::Ready(out) = call.as_mut().poll(&mut cx) else {
        panic!("answered")
    };
    assert_eq!(out.result, Err(RetryError::Failed("slow and failed")));
    assert!(out.stats.budget_refused);
    assert_eq!((out.stats.attempts, out.stats.hedges), (1, 0));
    let m = hedge.metrics();
    assert_eq!(
        (m.attempts, m.hedges, m.budget_refusals, m.failed_calls),
        (1, 0, 1, 1)
    );
    assert_eq!(r.budget.stats().refusals, 1);
    assert_eq!(b.metrics().failures, 1);
}

#[test]
fn a_failed_attempt_waits_for_the_others() {
    let r = rig(RetryBudgetConfig::default());
    let b = breaker(&r.clock, release());
    let hedge = HedgePolicy::builder()
        .delay(HedgeDelay::Fixed(ms(10)))
        .build()
        .unwrap();
    let attempts = Attempts::default();
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut call = pin!(hedge.call(&b, &r.budget, &r.timer, |n| attempts.make(n)));
    assert!(call.as_mut().poll(&mut cx).is_pending());
    r.timer.advance(ms(10));
    assert!(call.as_mut().poll(&mut cx).is_pending());
    attempts.answer(1, Err("reset"));
    assert!(
        call.as_mut().poll(&mut cx).is_pending(),
        "the hedge still runs"
    );
    attempts.answer(2, Err("reset too"));
    let Poll::Ready(out) = call.as_mut().poll(&mut cx) else {
        panic!("answered")
    };
    assert_eq!(out.result, Err(RetryError::Failed("reset too")));
    assert_eq!(b.metrics().failures, 2, "one outcome per attempt");
    assert_eq!(hedge.metrics().failed_calls, 1);
}

#[test]
fn the_delay_follows_the_latency_p95() {
    let r = rig(RetryBudgetConfig::default());
    let b = breaker(&r.clock, release());
    let h = Arc::new(LatencyHistogram::new(r.clock.clone()));
    for ms_ in 1..=100 {
        h.record(ms(ms_));
    }
    let delay = HedgeDelay::p95(h.clone(), ms(500));
    let p95 = delay.current();
    assert!(p95 >= ms(94) && p95 <= ms(97), "{p95:?}");
    let hedge = HedgePolicy::builder().delay(delay).build().unwrap();
    let attempts = Attempts::default();
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut call = pin!(hedge.call(&b, &r.budget, &r.timer, |n| attempts.make(n)));
    assert!(call.as_mut().poll(&mut cx).is_pending());
    r.timer.advance(p95 - Duration::from_nanos(1));
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert_eq!(attempts.started(), 1);
    r.timer.advance(Duration::from_nanos(1));
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert_eq!(attempts.started(), 2, "hedged at the P95");
}

#[test]
fn a_rejected_first_attempt_ends_the_call() {
    let r = rig(RetryBudgetConfig::default());
    let b = breaker(&r.clock, release());
    b.force_open();
    let hedge = HedgePolicy::builder().build().unwrap();
    let attempts = Attempts::default();
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let call = pin!(hedge.call(&b, &r.budget, &r.timer, |n| attempts.make(n)));
    let Poll::Ready(out) = call.poll(&mut cx) else {
        panic!("rejected at once")
    };
    assert!(matches!(out.result, Err(RetryError::Rejected(_))));
    assert_eq!((out.stats.rejections, attempts.started()), (1, 0));
    // The timer's sleep went with the call.
    assert_eq!(r.timer.waiting(), 0);
}
