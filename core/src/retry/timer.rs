//! How an async call waits: a [`Timer`] whose `sleep` is a future. Any
//! runtime's timer fits (tokio's `sleep`, boxed); [`ManualTimer`] is one
//! moved by hand, with a [`ManualClock`], for tests that never sleep.

use crate::engine::clock::{Clock, ManualClock};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A sleep, as a timer hands it out.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Hands out sleeps: the runtime's timer behind a small trait, so the core
/// depends on no runtime.
///
/// ```rust
/// use fusebox::retry::{Sleep, Timer};
/// use std::time::Duration;
///
/// /// A timer for which every sleep is over at once.
/// #[derive(Debug)]
/// struct Immediate;
/// impl Timer for Immediate {
///     fn sleep(&self, _: Duration) -> Sleep {
///         Box::pin(std::future::ready(()))
///     }
/// }
/// // With tokio: `Box::pin(tokio::time::sleep(d))`.
/// let _sleep = Immediate.sleep(Duration::from_millis(5));
/// ```
pub trait Timer: Send + Sync + fmt::Debug {
    /// A future that is ready `d` from now.
    fn sleep(&self, d: Duration) -> Sleep;
}

#[derive(Debug)]
struct Waiters {
    clock: Arc<ManualClock>,
    /// Sleeps polled and not over yet: their id, when they end, and who
    /// to wake.
    waiting: Mutex<Vec<(u64, u64, Waker)>>,
    /// The next sleep's id.
    next_id: std::sync::atomic::AtomicU64,
}

/// A [`Timer`] on a [`ManualClock`]: a sleep is over once the clock has
/// been moved past its end, by [`ManualTimer::advance`] (which wakes it)
/// or by anyone else (seen at its next poll).
///
/// ```rust
/// use fusebox::retry::{ManualTimer, Timer};
/// use fusebox::ManualClock;
/// use std::{future::Future, sync::Arc, task::{Context, Poll}, time::Duration};
/// # struct Noop; // a waker that does nothing (std's `Waker::noop` needs Rust 1.85)
/// # impl std::task::Wake for Noop { fn wake(self: std::sync::Arc<Self>) {} }
/// # let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
///
/// let timer = ManualTimer::new(Arc::new(ManualClock::new()));
/// let mut sleep = timer.sleep(Duration::from_millis(10));
/// let mut cx = Context::from_waker(&waker);
/// assert!(sleep.as_mut().poll(&mut cx).is_pending());
/// assert_eq!(timer.waiting(), 1);
/// timer.advance(Duration::from_millis(10));
/// assert!(sleep.as_mut().poll(&mut cx).is_ready());
/// ```
#[derive(Clone, Debug)]
pub struct ManualTimer {
    inner: Arc<Waiters>,
}

impl ManualTimer {
    /// A timer on `clock` (example on [`ManualTimer`]).
    pub fn new(clock: Arc<ManualClock>) -> Self {
        ManualTimer {
            inner: Arc::new(Waiters {
                clock,
                waiting: Mutex::new(Vec::new()),
                next_id: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Move the clock by `d` and wake every sleep that is over.
    pub fn advance(&self, d: Duration) {
        self.inner.clock.advance(d);
        let now = self.inner.clock.now_ns();
        let due: Vec<Waker> = {
            let mut w = self.inner.waiting.lock().unwrap_or_else(|e| e.into_inner());
            let (due, later): (Vec<_>, Vec<_>) = w.drain(..).partition(|(_, end, _)| *end <= now);
            *w = later;
            due.into_iter().map(|(_, _, waker)| waker).collect()
        };
        due.into_iter().for_each(Waker::wake);
    }

    /// Sleeps polled and not over yet (each counted at its latest poll).
    pub fn waiting(&self) -> usize {
        self.inner
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

impl Timer for ManualTimer {
    fn sleep(&self, d: Duration) -> Sleep {
        let end = self
            .inner
            .clock
            .now_ns()
            .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let id = self
            .inner
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Box::pin(ManualSleep {
            inner: self.inner.clone(),
            end,
            id,
        })
    }
}

struct ManualSleep {
    inner: Arc<Waiters>,
    end: u64,
    /// Its entry in `waiting`, replaced at each poll.
    id: u64,
}

impl ManualSleep {
    fn forget(&self, w: &mut Vec<(u64, u64, Waker)>) {
        w.retain(|(id, _, _)| *id != self.id);
    }
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut w = self.inner.waiting.lock().unwrap_or_else(|e| e.into_inner());
        self.forget(&mut w);
        if self.inner.clock.now_ns() >= self.end {
            return Poll::Ready(());
        }
        w.push((self.id, self.end, cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        let mut w = self.inner.waiting.lock().unwrap_or_else(|e| e.into_inner());
        self.forget(&mut w);
    }
}
