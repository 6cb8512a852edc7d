//! Baselines the benches measure fusebox against.
//!
//! * [`GoMutexBreaker`]: a faithful translation of the straightforward Go
//!   breaker that tutorials show: one mutex; every call appends a timestamped result to a list,
//!   prunes the entries older than the window, and computes the failure rate
//!   by scanning the list.
//! * [`MutexRingBreaker`]: one mutex over a fixed ring of time buckets (the
//!   usual "better" design): O(buckets) per call, still one lock.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Closed,
    Open,
    HalfOpen,
}

struct GoInner {
    state: St,
    results: VecDeque<(Instant, bool)>,
    opened_at: Instant,
    half_open_calls: u32,
    half_open_ok: u32,
}

/// The mutex + list Go design, in Rust.
pub struct GoMutexBreaker {
    mu: Mutex<GoInner>,
    window: Duration,
    threshold: f64,
    min_calls: usize,
    open_timeout: Duration,
    half_open_max: u32,
}

impl Default for GoMutexBreaker {
    fn default() -> Self {
        Self::new(Duration::from_secs(10))
    }
}

impl GoMutexBreaker {
    /// A closed breaker with a `window` time window.
    pub fn new(window: Duration) -> Self {
        GoMutexBreaker {
            mu: Mutex::new(GoInner {
                state: St::Closed,
                results: VecDeque::new(),
                opened_at: Instant::now(),
                half_open_calls: 0,
                half_open_ok: 0,
            }),
            window,
            threshold: 0.5,
            min_calls: 10,
            open_timeout: Duration::from_secs(30),
            half_open_max: 3,
        }
    }

    /// Fill the window with `n` successes (for the occupancy bench).
    pub fn prefill(&self, n: usize) {
        let mut g = self.mu.lock().unwrap();
        let now = Instant::now();
        g.results.extend(std::iter::repeat_n((now, true), n));
    }

    /// Open it (for the rejection bench).
    pub fn force_open(&self) {
        let mut g = self.mu.lock().unwrap();
        g.state = St::Open;
        g.opened_at = Instant::now();
    }

    /// Admission, as `Allow()` in the Go design.
    pub fn allow(&self) -> bool {
        let mut g = self.mu.lock().unwrap();
        match g.state {
            St::Closed => true,
            St::Open => {
                if g.opened_at.elapsed() >= self.open_timeout {
                    g.state = St::HalfOpen;
                    g.half_open_calls = 1;
                    g.half_open_ok = 0;
                    true
                } else {
                    false
                }
            }
            St::HalfOpen => {
                if g.half_open_calls < self.half_open_max {
                    g.half_open_calls += 1;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Outcome, as `Record()` in the Go design: append, prune, scan.
    pub fn record(&self, ok: bool) {
        let mut g = self.mu.lock().unwrap();
        let now = Instant::now();
        match g.state {
            St::HalfOpen => {
                if ok {
                    g.half_open_ok += 1;
                    if g.half_open_ok >= self.half_open_max {
                        g.state = St::Closed;
                        g.results.clear();
                    }
                } else {
                    g.state = St::Open;
                    g.opened_at = now;
                }
                return;
            }
            St::Open => return,
            St::Closed => {}
        }
        g.results.push_back((now, ok));
        while let Some(&(t, _)) = g.results.front() {
            if now.duration_since(t) > self.window {
                g.results.pop_front();
            } else {
                break;
            }
        }
        let total = g.results.len();
        let failures = g.results.iter().filter(|(_, ok)| !ok).count();
        if total >= self.min_calls && failures as f64 / total as f64 >= self.threshold {
            g.state = St::Open;
            g.opened_at = now;
        }
    }
}

struct RingInner {
    state: St,
    buckets: Vec<(u64, u64, u64)>, // (epoch, calls, failures)
    opened_at: Instant,
}

/// One mutex over a ring of time buckets.
pub struct MutexRingBreaker {
    mu: Mutex<RingInner>,
    origin: Instant,
    bucket: Duration,
    threshold: f64,
    min_calls: u64,
    open_timeout: Duration,
}

impl Default for MutexRingBreaker {
    fn default() -> Self {
        MutexRingBreaker {
            mu: Mutex::new(RingInner {
                state: St::Closed,
                buckets: vec![(0, 0, 0); 10],
                opened_at: Instant::now(),
            }),
            origin: Instant::now(),
            bucket: Duration::from_secs(1),
            threshold: 0.5,
            min_calls: 10,
            open_timeout: Duration::from_secs(30),
        }
    }
}

impl MutexRingBreaker {
    /// Open it.
    pub fn force_open(&self) {
        let mut g = self.mu.lock().unwrap();
        g.state = St::Open;
        g.opened_at = Instant::now();
    }

    /// Admission.
    pub fn allow(&self) -> bool {
        let mut g = self.mu.lock().unwrap();
        match g.state {
            St::Closed | St::HalfOpen => true,
            St::Open => {
                if g.opened_at.elapsed() >= self.open_timeout {
                    g.state = St::HalfOpen;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Outcome.
    pub fn record(&self, ok: bool) {
        let epoch = (self.origin.elapsed().as_nanos() / self.bucket.as_nanos()) as u64;
        let mut g = self.mu.lock().unwrap();
        let n = g.buckets.len() as u64;
        let b = &mut g.buckets[(epoch % n) as usize];
        if b.0 != epoch {
            *b = (epoch, 0, 0);
        }
        b.1 += 1;
        b.2 += u64::from(!ok);
        let (calls, failures) = g
            .buckets
            .iter()
            .filter(|b| epoch - b.0 < n)
            .fold((0, 0), |(c, f), b| (c + b.1, f + b.2));
        if calls >= self.min_calls && failures as f64 / calls as f64 >= self.threshold {
            g.state = St::Open;
            g.opened_at = Instant::now();
        }
    }
}

/// Run `f` `iters` times on each of `threads` threads at once; the aggregate
/// time per call.
#[inline]
pub fn par<F: Fn() + Sync>(threads: usize, iters: u64, f: F) -> Duration {
    if threads == 1 {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        return t.elapsed();
    }
    let barrier = std::sync::Barrier::new(threads);
    let elapsed = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let t = Instant::now();
                    for _ in 0..iters {
                        f();
                    }
                    t.elapsed()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).max().unwrap()
    });
    elapsed / threads as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_trip_like_breakers() {
        let g = GoMutexBreaker::default();
        for _ in 0..10 {
            assert!(g.allow());
            g.record(false);
        }
        assert!(!g.allow(), "go baseline opens at 10 failures");
        let r = MutexRingBreaker::default();
        for _ in 0..10 {
            assert!(r.allow());
            r.record(false);
        }
        assert!(!r.allow(), "ring baseline opens at 10 failures");
    }
}
