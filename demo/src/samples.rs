//! A run of the cascade second by second: what the charts of
//! [`crate::page`] draw.
//!
//! The simulation jumps from event to event; [`Sampler`] folds what happens
//! between two ticks into one [`Sample`] per simulated second. It only
//! reads: sampling changes no event and no number of the run.
//!
//! ```
//! use fusebox::State;
//! use fusebox_demo::samples::{Ending, Sampler};
//!
//! const S: u64 = 1_000_000_000;
//! let mut s = Sampler::new(S, 0); // ticks of 1 s, T+0 at the start
//! s.busy(7);
//! s.states(|v| v.push(State::Open));
//! s.order(S / 2, Ending::Served(40_000_000)); // arrived at T+0.5 s
//! s.advance(S, 7, 0);
//! let samples = s.finish(2 * S, 0, 0);
//! assert_eq!(samples.len(), 2);
//! assert_eq!((samples[0].busy_peak, samples[0].served), (7, 1));
//! assert_eq!(samples[0].p50_ms, Some(40.0));
//! assert_eq!(samples[1].states, [State::Open], "until read otherwise");
//! ```

use fusebox::State;

/// One tick (a simulated second) of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Start of the tick, seconds from T+0.
    pub t: f64,
    /// Most workers busy at once during the tick.
    pub busy_peak: usize,
    /// Orders waiting for a worker at the end of the tick.
    pub queued: usize,
    /// Of the orders that arrived during the tick, those served (answered
    /// within the deadline).
    pub served: u64,
    /// Of the orders that arrived during the tick, those that got no
    /// answer: failed, given up or refused.
    pub errors: u64,
    /// Median latency of the orders that arrived during the tick, as their
    /// clients saw it (an order given up counts the deadline; refused ones
    /// are left out), ms; `None` when there are none.
    pub p50_ms: Option<f64>,
    /// 99th percentile of the same, ms.
    pub p99_ms: Option<f64>,
    /// Each breaker's worst state during the tick (open over half-open
    /// over closed), in the order of [`crate::cascade::Report::breakers`].
    pub states: Vec<State>,
}

/// How an order ended, for [`Sampler::order`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Answered within the deadline, after this many ns.
    Served(u64),
    /// No answer; how long its client waited (ns), `None` for an order
    /// refused at the door.
    NoAnswer(Option<u64>),
}

/// The orders that arrived in one tick.
#[derive(Clone, Debug, Default)]
struct Arrived {
    served: u64,
    errors: u64,
    latencies: Vec<u64>,
}

/// Folds a run's events into [`Sample`]s: the service's state (workers,
/// queue, breakers) by the tick it was in, each order by the tick it
/// arrived in (its outcome is known only later).
#[derive(Debug)]
pub struct Sampler {
    tick_ns: u64,
    /// Start of the current tick (simulated ns since the run began).
    start: u64,
    /// Simulated ns of T+0.
    t0: u64,
    busy_peak: usize,
    states: Vec<State>,
    now: Vec<State>,
    /// (busy peak, queued, states) of each closed tick.
    ticks: Vec<(usize, usize, Vec<State>)>,
    arrived: Vec<Arrived>,
}

/// The worse of two states, for the band: open over half-open over closed.
fn worse(a: State, b: State) -> State {
    let rank = |s| match s {
        State::Closed => 0,
        State::HalfOpen => 1,
        State::Open => 2,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn quantile(sorted: &[u64], q: f64) -> Option<f64> {
    let n = sorted.len();
    let i = ((n as f64 * q).ceil() as usize).clamp(1, n.max(1)) - 1;
    sorted.get(i).map(|&v| v as f64 / 1e6)
}

impl Sampler {
    /// Ticks of `tick_ns` from simulated time 0; T+0 at `t0` ns.
    pub fn new(tick_ns: u64, t0: u64) -> Sampler {
        Sampler {
            tick_ns,
            start: 0,
            t0,
            busy_peak: 0,
            states: Vec::new(),
            now: Vec::new(),
            ticks: Vec::new(),
            arrived: Vec::new(),
        }
    }

    /// Before the event at `t`: close every tick that ended by then.
    /// `busy` and `queued` are the service's state before the event.
    pub fn advance(&mut self, t: u64, busy: usize, queued: usize) {
        while t >= self.start + self.tick_ns {
            self.close(busy, queued);
        }
    }

    /// Workers busy now.
    pub fn busy(&mut self, busy: usize) {
        self.busy_peak = self.busy_peak.max(busy);
    }

    /// The order that arrived at `arrival` (simulated ns) ended so.
    pub fn order(&mut self, arrival: u64, ending: Ending) {
        let i = usize::try_from(arrival / self.tick_ns).unwrap_or(usize::MAX);
        if self.arrived.len() <= i {
            self.arrived.resize(i + 1, Arrived::default());
        }
        let a = &mut self.arrived[i];
        match ending {
            Ending::Served(latency) => {
                a.served += 1;
                a.latencies.push(latency);
            }
            Ending::NoAnswer(waited) => {
                a.errors += 1;
                a.latencies.extend(waited);
            }
        }
    }

    /// The breakers' states now; `read` fills the vector it is given.
    pub fn states(&mut self, read: impl FnOnce(&mut Vec<State>)) {
        self.now.clear();
        read(&mut self.now);
        if self.states.len() != self.now.len() {
            self.states = self.now.clone();
        }
        for (seen, now) in self.states.iter_mut().zip(&self.now) {
            *seen = worse(*seen, *now);
        }
    }

    fn close(&mut self, busy: usize, queued: usize) {
        // The next tick starts from the last states read.
        let states = std::mem::replace(&mut self.states, self.now.clone());
        self.ticks.push((self.busy_peak.max(busy), queued, states));
        self.start += self.tick_ns;
        self.busy_peak = busy;
    }

    /// Close the last tick (at `end` ns) and hand back every sample.
    pub fn finish(mut self, end: u64, busy: usize, queued: usize) -> Vec<Sample> {
        self.advance(end, busy, queued);
        if end > self.start {
            self.close(busy, queued);
        }
        let n = self.ticks.len().max(self.arrived.len());
        self.arrived.resize(n, Arrived::default());
        let last = self.ticks.last().cloned().unwrap_or_default();
        self.ticks.resize(n, last);
        let (tick_ns, t0) = (self.tick_ns, self.t0);
        self.ticks
            .into_iter()
            .zip(self.arrived)
            .enumerate()
            .map(|(i, ((busy_peak, queued, states), mut a))| {
                a.latencies.sort_unstable();
                Sample {
                    t: (i as f64 * tick_ns as f64 - t0 as f64) / 1e9,
                    busy_peak,
                    queued,
                    served: a.served,
                    errors: a.errors,
                    p50_ms: quantile(&a.latencies, 0.50),
                    p99_ms: quantile(&a.latencies, 0.99),
                    states,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn ticks_fold_counts_and_the_worst_state() {
        let mut s = Sampler::new(S, 2 * S);
        s.states(|v| v.extend([State::Closed]));
        s.busy(3);
        s.advance(S / 2, 3, 0);
        s.states(|v| v.extend([State::Open]));
        s.states(|v| v.extend([State::Closed]));
        // Nothing happens in the second tick; the third has the outcomes
        // of orders that arrived in the first.
        s.advance(2 * S + 1, 1, 4);
        s.order(S / 2, Ending::Served(10_000_000));
        s.order(S / 3, Ending::NoAnswer(None));
        s.order(2 * S + 1, Ending::NoAnswer(Some(5 * S)));
        s.states(|v| v.extend([State::HalfOpen]));
        let samples = s.finish(3 * S, 1, 4);
        assert_eq!(samples.len(), 3);
        let a = &samples[0];
        assert_eq!((a.t, a.busy_peak, a.served, a.errors), (-2.0, 3, 1, 1));
        assert_eq!(a.p50_ms, Some(10.0), "the refused order has no latency");
        assert_eq!(a.states, [State::Open]);
        let b = &samples[1];
        assert_eq!((b.served, b.errors, b.p50_ms), (0, 0, None));
        assert_eq!((b.busy_peak, b.queued), (1, 4));
        assert_eq!(b.states, [State::Closed], "the state it started with");
        let c = &samples[2];
        assert_eq!((c.t, c.errors, c.p99_ms), (0.0, 1, Some(5000.0)));
        assert_eq!(c.states, [State::HalfOpen]);
    }
}
