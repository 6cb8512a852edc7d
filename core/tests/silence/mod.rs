//! The time window after long silences, for any breaker: shared by the
//! in-process tests (breaker_api.rs) and the shared-file ones
//! (shm_registry.rs).

use fusebox::{Breaker, Config, Outcome, State};
use std::sync::Arc;
use std::time::Duration;

/// Silences (in bucket widths) around every place a 32-bit bucket sequence
/// can wrap or look newer: 2^31 + 2 (the differential fuzzer's finding 2),
/// 3 × 2^30 and 3.8e9 (where an old word looked up to 2^30 newer), 2^32 and
/// 2^32 + 5 (where an old word's tag is the writer's own, or a bucket
/// later), and far beyond.
pub const SILENCES: [u64; 8] = [
    2_147_483_650,
    3 << 30,
    3_800_000_000,
    (1 << 32) - 1,
    1 << 32,
    (1 << 32) + 5,
    (1 << 33) + 1,
    (1 << 40) + 3,
];

/// Moves a breaker's clock forward.
pub type Advance = Box<dyn Fn(Duration)>;

/// After each of [`SILENCES`] (1 ms buckets), an old failure is not
/// counted and new ones are, in lifetime totals too, for breakers from
/// `make` (a breaker and a way to move its clock).
pub fn right_after_any_silence(make: &dyn Fn(Config) -> (Arc<Breaker>, Advance)) {
    let cfg = Config::builder()
        .time_window(Duration::from_millis(10), 10)
        .min_calls(2)
        .consecutive_failures(None)
        .build()
        .unwrap();
    let call = |b: &Breaker, o: Outcome| b.record_raw(b.acquire_raw().unwrap(), o, None);
    for silence in SILENCES {
        // An old failure must not be counted...
        let (b, advance) = make(cfg.clone());
        call(&b, Outcome::Failure);
        advance(Duration::from_millis(silence));
        call(&b, Outcome::Success);
        let w = b.window_counts();
        assert_eq!(
            (w.calls, w.failures),
            (1, 0),
            "silence {silence}: old failure counted"
        );
        assert_eq!(b.state(), State::Closed, "silence {silence}");
        // ...and new ones must be.
        let (b, advance) = make(cfg.clone());
        call(&b, Outcome::Failure);
        advance(Duration::from_millis(silence));
        call(&b, Outcome::Failure);
        assert_eq!(
            b.window_counts().failures,
            1,
            "silence {silence}: new failure missed"
        );
        call(&b, Outcome::Failure);
        assert_eq!(
            b.state(),
            State::Open,
            "silence {silence}: new failures missed"
        );
        assert_eq!(b.metrics().failures, 3, "silence {silence}: lifetime total");
    }
}
