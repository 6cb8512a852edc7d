//! A listener that blocks never blocks a call (`docs/semantics.md#events`).
//! Its own test
//! binary: it holds the process-wide event thread on purpose.

use fusebox::events;
use fusebox::{Breaker, Config, ManualClock, State};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn a_stuck_listener_never_blocks_calls_and_a_full_queue_drops_events() {
    let clock = Arc::new(ManualClock::new());
    let b = Breaker::with_clock(
        Config::builder()
            .consecutive_failures(Some(1))
            .build()
            .unwrap(),
        clock,
    )
    .unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let (entered_tx, entered) = mpsc::channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let heard = Arc::new(AtomicUsize::new(0));
    let h = heard.clone();
    b.on_state_change(move |_| {
        if h.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = entered_tx.lock().unwrap().send(());
            // Stuck until the test says so.
            let _ = gate.lock().unwrap().recv();
        }
    });
    let _ = b.call(|| Err::<(), _>(())); // trips: the listener gets stuck
    entered
        .recv_timeout(Duration::from_secs(10))
        .expect("listener ran");
    let dropped_before = events::stats().dropped;
    // Far more transitions than the queue holds, and calls in between: all
    // of them complete while the listener is stuck.
    let rounds = events::QUEUE_CAPACITY + 1000;
    let mut ok = 0;
    for _ in 0..rounds {
        assert_eq!(b.state(), State::Open);
        assert!(b.try_acquire().is_err());
        b.reset();
        if b.call(|| Ok::<_, ()>(())).is_ok() {
            ok += 1;
        }
        let _ = b.call(|| Err::<(), _>(()));
    }
    assert_eq!(ok, rounds);
    assert_eq!(
        heard.load(Ordering::SeqCst),
        1,
        "the listener is still stuck"
    );
    assert!(
        events::stats().dropped > dropped_before,
        "a full queue drops"
    );
    release.send(()).unwrap();
    assert!(events::flush(Duration::from_secs(30)));
    let heard = heard.load(Ordering::SeqCst);
    assert!(heard > 1 && heard < 1 + 2 * rounds, "heard {heard}");
    let m = b.metrics();
    assert_eq!(m.state_changes as usize, 1 + 2 * rounds);
}
