//! The contract between the core and its bindings (C, Python, Node): hidden
//! from the docs, for the bindings in this repository.
//!
//! A binding never re-implements a decision. Where speed makes it skip a
//! call into the core, what it does instead is published here, derived from
//! the code it stands for and tested against it, so it cannot drift:
//!
//! * **Admission without a call.** A binding may read the state word in
//!   place ([`state_word`]) and admit a call itself exactly when
//!   `word & FREE_MASK == 0` and [`skips_core`] said yes for the breaker:
//!   the permit is then generation `word >> GENERATION_SHIFT`, start 0, not
//!   a probe, and nothing is written, as [`Breaker::acquire_raw`]'s first
//!   branch does. Otherwise it calls `acquire_raw`. [`skips_core`] is that
//!   branch's own predicate (`Breaker::admits_from_word`), asked about a
//!   word that admits freely.
//! * **Success batches.** A binding may hold back successes and report
//!   them at once ([`record_batch`]); see there for when it may and when it
//!   must hand them over.
//! * **A success in place.** A binding may report a success with
//!   [`record_success_fast`] outside its panic guard: it calls no user code
//!   and cannot panic, and it either counts the success exactly as
//!   [`Breaker::record_raw`] would or does nothing and says so (then the
//!   binding calls `record_raw`, guarded).
//! * **Codes and names.** Outcome, phase, state and rejection codes, and
//!   the config fields, are defined here; the C enums are checked against
//!   them at compile time, and the JS and Python files that hold them
//!   (`bindings/node/codes.js`, `bindings/python/python/fusebox/_codes.py`)
//!   are generated from them (`core/tests/generated_codes.rs`, which fails
//!   when the committed files are not what it generates).

use crate::engine::breaker::Breaker;
use crate::engine::permit::{Outcome, RawPermit};
use crate::engine::state::{self, Phase, State, Word};
use crate::{Cancellation, ConfigError, RejectReason};

// ----- the state word --------------------------------------------------------

/// Mask of the phase bits, the lowest of the word: `word & PHASE_MASK` is
/// the phase's code (`Phase as u64`, the index in [`PHASES`]).
pub const PHASE_MASK: u64 = state::PHASE_MASK;
/// Bits clear in exactly the phases that admit a call freely (Closed,
/// Disabled).
pub const FREE_MASK: u64 = state::FREE_MASK;
/// First bit of the generation: `word >> GENERATION_SHIFT`.
pub const GENERATION_SHIFT: u32 = state::GEN_SHIFT;

// A binding may read the word as two 32-bit halves (JS): the phase bits, and
// the generation's first bit, lie in the low half.
const _: () = assert!(GENERATION_SHIFT > 0 && GENERATION_SHIFT < 32);
const _: () = assert!(PHASE_MASK < 1 << GENERATION_SHIFT && FREE_MASK & !PHASE_MASK == 0);

/// The phase a word's phase bits stand for (every value of `word &
/// PHASE_MASK` decodes to one).
pub fn phase_of(word: u64) -> Phase {
    Word(word & PHASE_MASK).phase()
}

/// The address of `breaker`'s state word, valid while the breaker lives
/// where it is: an in-process breaker keeps the word in its handle, so the
/// handle must not move (a binding holds it boxed or in an `Arc`).
/// Read it only (atomically, or as aligned 32-bit halves), and decode it
/// with the masks above.
#[cfg(not(loom))]
pub fn state_word(breaker: &Breaker) -> *const u64 {
    breaker.state_word_ptr()
}

/// Whether a binding may admit a call without calling into the core while
/// the word admits freely (`word & FREE_MASK == 0`): `false` when permits
/// must be timed (slow-call detection, or a latency histogram attached),
/// and then every admission is [`Breaker::acquire_raw`].
///
/// Asked of `acquire_raw`'s own predicate. Its inputs are fixed once the
/// breaker can be shared (`with_latency_histogram` takes the breaker by
/// value), so a binding may ask once, when it wraps an `Arc<Breaker>`.
pub fn skips_core(breaker: &Breaker) -> bool {
    breaker.admits_from_word(Word::new(Phase::Closed, 0))
}

/// The permit a binding makes itself from `word` when [`skips_core`] and
/// `word & FREE_MASK == 0` (what JS computes from the masks).
pub fn permit_from_word(word: u64) -> RawPermit {
    RawPermit {
        generation: word >> GENERATION_SHIFT,
        start_ns: 0,
        probe: false,
    }
}

// ----- success batches -------------------------------------------------------

/// Most successes a binding may hold back before it reports them.
pub const BATCH_MAX: u32 = 64;

/// Whether the successes of `p` may be held back in a batch: a permit that
/// is not a probe, of a breaker whose permits are untimed (nothing to
/// measure per call). A probe's outcome decides a transition: never held.
pub fn may_batch(breaker: &Breaker, p: RawPermit) -> bool {
    !p.probe && p.start_ns == 0 && skips_core(breaker)
}

/// Report `n` successes of `p` held back, exactly as `n` calls of
/// `record_raw(p, Outcome::Success, None)` in a row would (for any `n`;
/// a binding holds at most [`BATCH_MAX`]).
///
/// The contract: a thread holds at most one batch, of one breaker and one
/// permit generation ([`may_batch`]), and hands it over here
/// * when it holds [`BATCH_MAX`] successes;
/// * before anything else the thread asks of any breaker or clock
///   (admission, another outcome, a read, a manual transition, moving a
///   manual clock), so the core sees the thread's outcomes in the order
///   they happened;
/// * at the end of the binding's unit of work (Node: the current run of
///   microtasks), so a success reaches other threads soon;
/// * when the breaker's handle is given back, and when the thread ends.
///
/// For the breaker this is those calls reporting a little later, which
/// every permit may do: nothing is decided in the binding, and a batch of
/// a generation that is no longer current is dropped as any stale outcome.
pub fn record_batch(breaker: &Breaker, p: RawPermit, n: u32) {
    breaker.record_successes_raw(p, n);
}

/// Count a success of `p` in one plain store, if that is all
/// `record_raw(p, Outcome::Success, None)` would do: `true` when counted,
/// `false` when nothing was done and the binding must call `record_raw`.
/// Never panics and runs no user code (a breaker on a custom clock always
/// gets `false`), so it needs no panic guard.
#[inline(always)]
pub fn record_success_fast(breaker: &Breaker, p: RawPermit) -> bool {
    breaker.record_success_in_place(p)
}

/// The calling thread's slot, for [`record_success_fast_at`]: its own
/// number if it has counted before, else a number no breaker owns a
/// stripe for (nothing is assigned). A thread-local read, which in a
/// shared library may be a call: a binding reads it first, while nothing
/// else is live, so that its fast path keeps no register across the call.
#[inline(always)]
pub fn thread_slot() -> usize {
    crate::engine::thread_slot::assigned()
}

/// [`record_success_fast`], by the thread whose [`thread_slot`] is `slot`:
/// the calling thread's, read by it since its last count on any breaker.
#[inline(always)]
pub fn record_success_fast_at(breaker: &Breaker, p: RawPermit, slot: usize) -> bool {
    breaker.record_success_in_place_at(p, slot)
}

// ----- codes -------------------------------------------------------------------

/// The phases, by code (`word & PHASE_MASK`).
pub const PHASES: [Phase; 5] = [
    Phase::Closed,
    Phase::Open,
    Phase::HalfOpen,
    Phase::ForcedOpen,
    Phase::Disabled,
];

/// The code of a phase: its bits in the state word.
pub const fn phase_code(p: Phase) -> u32 {
    p as u32
}

/// The states, by code.
pub const STATES: [State; 3] = [State::Closed, State::Open, State::HalfOpen];

/// The code of a state.
pub const fn state_code(s: State) -> u32 {
    match s {
        State::Closed => 0,
        State::Open => 1,
        State::HalfOpen => 2,
    }
}

/// The reasons for a rejection, by code.
pub const REJECT_REASONS: [RejectReason; 3] = [
    RejectReason::Open,
    RejectReason::HalfOpenFull,
    RejectReason::ForcedOpen,
];

/// The code of a rejection's reason.
pub const fn reject_code(r: RejectReason) -> u32 {
    match r {
        RejectReason::Open => 0,
        RejectReason::HalfOpenFull => 1,
        RejectReason::ForcedOpen => 2,
    }
}

/// The outcomes, by code.
pub const OUTCOMES: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Ignored];

/// The code of an outcome.
pub const fn outcome_code(o: Outcome) -> u32 {
    match o {
        Outcome::Success => 0,
        Outcome::Failure => 1,
        Outcome::Ignored => 2,
    }
}

/// The outcome of a code, if it is one.
pub fn outcome(code: u32) -> Option<Outcome> {
    OUTCOMES.get(code as usize).copied()
}

/// The code, next to the outcomes', of "no outcome: give the permit back"
/// ([`Breaker::release_raw`]).
pub const RELEASE: u32 = OUTCOMES.len() as u32;

/// The code, after [`RELEASE`], of "the call was cancelled: end it as
/// `Config::cancellation` says" ([`Breaker::cancel_raw`]).
pub const CANCEL: u32 = RELEASE + 1;

/// `Outcome`'s name (`success`, `failure`, `ignored`).
pub const fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::Ignored => "ignored",
    }
}

/// A config field, as the core names it (`ConfigError::field`) and as each
/// front end does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigField {
    /// The core's name (`window.buckets`).
    pub field: &'static str,
    /// Node's option (`windowBuckets`; `backoff.maxMs` inside `backoff`).
    pub node: &'static str,
    /// Python's keyword argument (`window_buckets`).
    pub python: &'static str,
}

const fn field(field: &'static str, node: &'static str, python: &'static str) -> ConfigField {
    ConfigField {
        field,
        node,
        python,
    }
}

/// Every config field, in `Config`'s order. (`validate` names exactly
/// these: tested below.)
pub const CONFIG_FIELDS: [ConfigField; 17] = [
    field(
        "failure_rate_threshold",
        "failureRateThreshold",
        "failure_rate_threshold",
    ),
    field(
        "consecutive_failures",
        "consecutiveFailures",
        "consecutive_failures",
    ),
    field("min_calls", "minCalls", "min_calls"),
    field("window", "windowMs", "window"),
    field("window.buckets", "windowBuckets", "window_buckets"),
    field("window.size", "countWindow", "count_window"),
    field("open_timeout", "openTimeoutMs", "open_timeout"),
    field(
        "backoff.multiplier",
        "backoff.multiplier",
        "backoff_multiplier",
    ),
    field("backoff.max", "backoff.maxMs", "backoff_max"),
    field("jitter", "jitter", "jitter"),
    field(
        "half_open_max_calls",
        "halfOpenMaxCalls",
        "half_open_max_calls",
    ),
    field("success_threshold", "successThreshold", "success_threshold"),
    field(
        "half_open_max_wait",
        "halfOpenMaxWaitMs",
        "half_open_max_wait",
    ),
    field("slow_call_duration", "slowCallMs", "slow_call_duration"),
    field(
        "slow_call_rate_threshold",
        "slowCallRateThreshold",
        "slow_call_rate_threshold",
    ),
    field("max_open_for", "maxOpenForMs", "max_open_for"),
    field("cancellation", "cancellation", "cancellation"),
];

/// The cancellation policies, by code (`Config::cancellation`).
pub const CANCELLATIONS: [Cancellation; 3] = Cancellation::ALL;

/// The code of a cancellation policy.
pub const fn cancellation_code(c: Cancellation) -> u32 {
    match c {
        Cancellation::Release => 0,
        Cancellation::SlowIfOverdue => 1,
        Cancellation::Failure => 2,
    }
}

/// Node's names of the policies, by code: `Cancellation::as_str` in
/// camelCase, as Node spells every name it shares with the core (tested).
pub const CANCELLATION_NODE_NAMES: [&str; 3] = ["release", "slowIfOverdue", "failure"];

/// The policy of Node's name `name`, or the core's error (the field
/// `cancellation`, the names quoted as Node spells them).
pub fn cancellation_from_node(name: &str) -> Result<Cancellation, ConfigError> {
    match CANCELLATION_NODE_NAMES.iter().position(|&n| n == name) {
        Some(i) => Ok(CANCELLATIONS[i]),
        None => Err(ConfigError {
            field: "cancellation",
            value: format!("{name:?}"),
            expected: "release, slowIfOverdue or failure",
        }),
    }
}

/// The entry of the core field `name` (as in `ConfigError::field`).
pub fn config_field(name: &str) -> Option<&'static ConfigField> {
    CONFIG_FIELDS.iter().find(|f| f.field == name)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::{Config, LatencyHistogram, ManualClock};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// The word as a binding reads it: through the published address.
    fn read(b: &Breaker) -> u64 {
        // SAFETY: the state word is an AtomicU64 alive while `b` is.
        unsafe { &*(state_word(b) as *const AtomicU64) }.load(Ordering::Acquire)
    }

    /// The binding's test, from the published masks and flag only.
    fn shortcut(b: &Breaker, word: u64) -> Option<RawPermit> {
        (word & FREE_MASK == 0 && skips_core(b)).then(|| permit_from_word(word))
    }

    fn config() -> crate::ConfigBuilder {
        Config::builder()
            .consecutive_failures(Some(1))
            .jitter(0.0)
            .open_timeout(Duration::from_secs(1))
    }

    /// Breakers of every kind of admission: untimed, slow-call detection, a
    /// histogram attached after construction; time and count windows.
    fn breakers(clock: &Arc<ManualClock>) -> Vec<(&'static str, Breaker)> {
        let b = |c: crate::ConfigBuilder| Breaker::with_clock(c.build().unwrap(), clock.clone());
        let plain = b(config()).unwrap();
        let slow = b(config().slow_call_duration(Some(Duration::from_millis(5)))).unwrap();
        let hist = b(config())
            .unwrap()
            .with_latency_histogram(Arc::new(LatencyHistogram::new(clock.clone())));
        let count = b(config().count_window(10)).unwrap();
        vec![
            ("plain", plain),
            ("slow", slow),
            ("histogram", hist),
            ("count", count),
        ]
    }

    #[test]
    fn the_masks_decode_what_word_encodes() {
        for (code, &p) in PHASES.iter().enumerate() {
            assert_eq!(phase_code(p) as usize, code);
            for g in [0, 1, 12345, state::GEN_MASK] {
                let w = Word::new(p, g).with_probes(7).with_probe_oks(3);
                assert_eq!(w.0 & PHASE_MASK, code as u64, "{p:?}");
                assert_eq!(w.0 >> GENERATION_SHIFT, g);
                assert_eq!(w.0 & FREE_MASK == 0, w.admits_freely(), "{p:?}");
            }
        }
        // Every value of the phase bits decodes to one of PHASES.
        for bits in 0..=PHASE_MASK {
            assert!(PHASES.contains(&phase_of(bits)));
            assert_eq!(phase_of(bits | 1 << GENERATION_SHIFT), Word(bits).phase());
        }
    }

    #[test]
    fn the_binding_test_is_the_predicate_of_acquire_raw() {
        let clock = Arc::new(ManualClock::new());
        for (name, b) in breakers(&clock) {
            for bits in 0..=PHASE_MASK {
                for g in [0, 5, state::GEN_MASK] {
                    let w = Word(bits | (g << GENERATION_SHIFT));
                    assert_eq!(
                        shortcut(&b, w.0).is_some(),
                        b.admits_from_word(w),
                        "{name}: phase bits {bits}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_histogram_attached_later_turns_the_shortcut_off() {
        let b = Breaker::new(Config::default()).unwrap();
        assert!(skips_core(&b));
        let h = LatencyHistogram::new(crate::ClockSource::Monotonic);
        let b = b.with_latency_histogram(Arc::new(h));
        assert!(!skips_core(&b));
        let p = b.acquire_raw().unwrap();
        assert!(!may_batch(&b, p));
    }

    /// In every phase, the shortcut admits exactly when `acquire_raw` would
    /// admit with the same permit and nothing else: a binding that takes it
    /// behaves as one that calls in.
    #[test]
    fn the_shortcut_and_acquire_raw_agree_in_every_phase() {
        let clock = Arc::new(ManualClock::new());
        clock.advance(Duration::from_secs(1)); // timed permits start > 0
        for (name, b) in breakers(&clock) {
            let mut seen = [false; 5];
            let mut check = |b: &Breaker, label: &str| {
                let w = read(b);
                seen[(w & PHASE_MASK) as usize] = true;
                let rejected = b.metrics().rejected;
                let got = b.acquire_raw();
                match shortcut(b, w) {
                    Some(p) => {
                        assert_eq!(got, Ok(p), "{name} {label}");
                        assert_eq!(read(b), w, "{name} {label}: nothing written");
                        assert_eq!(b.metrics().rejected, rejected);
                    }
                    None => assert_ne!(got.ok(), Some(permit_from_word(w)), "{name} {label}"),
                }
                if let Ok(p) = got {
                    b.release_raw(p);
                }
            };
            check(&b, "closed");
            b.try_acquire().unwrap().failure();
            check(&b, "open");
            clock.advance(Duration::from_secs(2));
            let probe = b.acquire_raw().unwrap();
            check(&b, "half-open");
            b.record_raw(probe, Outcome::Success, None);
            b.force_open();
            check(&b, "forced open");
            b.disable();
            check(&b, "disabled");
            b.reset();
            check(&b, "reset");
            assert_eq!(seen, [true; 5], "{name}: every phase checked");
        }
    }

    /// A binding's side of a batch: at most one, handed over as the
    /// contract of `record_batch` says. `replay`: the reference, which takes
    /// no shortcut and hands the same successes over one by one, at the
    /// same moments.
    struct Binding<'a> {
        b: &'a Breaker,
        replay: bool,
        held: Option<(RawPermit, u32)>,
    }

    impl Binding<'_> {
        fn flush(&mut self) {
            if let Some((p, n)) = self.held.take() {
                if self.replay {
                    for _ in 0..n {
                        self.b.record_raw(p, Outcome::Success, None);
                    }
                } else {
                    record_batch(self.b, p, n);
                }
            }
        }
        fn acquire(&mut self) -> Option<RawPermit> {
            // The shortcut reads the word only: held successes stay held
            // (Node's admission in JS flushes nothing).
            if !self.replay {
                if let Some(p) = shortcut(self.b, read(self.b)) {
                    return Some(p);
                }
            }
            let w = read(self.b);
            if self.replay && w & FREE_MASK == 0 && skips_core(self.b) {
                return self.b.acquire_raw().ok(); // nothing to flush for
            }
            self.flush();
            self.b.acquire_raw().ok()
        }
        fn success(&mut self, p: RawPermit) {
            match &mut self.held {
                Some((q, n)) if *q == p && *n < BATCH_MAX => {
                    *n += 1;
                    return;
                }
                _ => {}
            }
            self.flush();
            if may_batch(self.b, p) {
                self.held = Some((p, 1));
            } else {
                self.b.record_raw(p, Outcome::Success, None);
            }
        }
        fn other(&mut self, p: RawPermit, o: Outcome) {
            self.flush();
            self.b.record_raw(p, o, None);
        }
    }

    /// A binding that takes the shortcut and hands successes over in
    /// batches decides exactly as one that asks the core each time and
    /// hands them over one by one, at the same moments: `record_batch` is
    /// that many records, and the shortcut is `acquire_raw`.
    #[test]
    fn a_batching_binding_matches_one_that_reports_each_call() {
        for count_window in [false, true] {
            let cfg = || {
                let c = Config::builder()
                    .failure_rate_threshold(0.3)
                    .min_calls(20)
                    .consecutive_failures(Some(4))
                    .jitter(0.0)
                    .open_timeout(Duration::from_millis(50))
                    .half_open_max_calls(2)
                    .success_threshold(2);
                if count_window {
                    c.count_window(50)
                } else {
                    c.time_window(Duration::from_secs(1), 10)
                }
                .build()
                .unwrap()
            };
            let clock = Arc::new(ManualClock::new());
            let one_by_one = Breaker::with_clock(cfg(), clock.clone()).unwrap();
            let batched = Breaker::with_clock(cfg(), clock.clone()).unwrap();
            let mut reference = Binding {
                b: &one_by_one,
                replay: true,
                held: None,
            };
            let mut binding = Binding {
                b: &batched,
                replay: false,
                held: None,
            };
            let mut rng = 0x2545_f491_4f6c_dd1du64;
            let mut next = || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let (mut full, mut flushed) = (0, 0);
            for i in 0..20_000 {
                let r = next();
                if r % 97 == 0 {
                    // The contract: before moving a clock.
                    binding.flush();
                    reference.flush();
                    clock.advance(Duration::from_millis(r % 40));
                }
                // Failures in bursts, so the breakers trip and recover.
                let fail = (i / 500) % 3 == 2 && r % 3 == 0;
                let outcome = if fail {
                    Outcome::Failure
                } else if r % 50 == 1 {
                    Outcome::Ignored
                } else {
                    Outcome::Success
                };
                let got = binding.acquire();
                let want = reference.acquire();
                assert_eq!(got, want, "call {i}: admission");
                let (Some(p), Some(q)) = (got, want) else {
                    continue;
                };
                if outcome == Outcome::Success {
                    if binding.held.is_some_and(|(_, n)| n == BATCH_MAX) {
                        full += 1;
                    }
                    binding.success(p);
                    reference.success(q);
                } else {
                    if binding.held.is_some() {
                        flushed += 1;
                    }
                    binding.other(p, outcome);
                    reference.other(q, outcome);
                }
                if r % 13 == 0 {
                    // The contract: before a read.
                    binding.flush();
                    reference.flush();
                    let (m, n) = (one_by_one.metrics(), batched.metrics());
                    assert_eq!(
                        (m.phase, m.generation, m.successes, m.failures),
                        (n.phase, n.generation, n.successes, n.failures),
                        "call {i}"
                    );
                    assert_eq!((m.ignored, m.rejected), (n.ignored, n.rejected));
                    assert_eq!(m.window, n.window, "call {i}");
                }
            }
            binding.flush();
            reference.flush();
            assert!(full > 0 && flushed > 0, "batches were handed over");
            let (m, n) = (one_by_one.metrics(), batched.metrics());
            assert!(m.state_changes > 3, "the run went through transitions");
            assert_eq!(m.state_changes, n.state_changes);
            assert_eq!(m.successes, n.successes);
        }
    }

    #[test]
    fn the_codes_are_the_tables() {
        for (i, &p) in PHASES.iter().enumerate() {
            assert_eq!(phase_code(p) as usize, i);
        }
        for (i, &s) in STATES.iter().enumerate() {
            assert_eq!(state_code(s) as usize, i);
        }
        for (i, &r) in REJECT_REASONS.iter().enumerate() {
            assert_eq!(reject_code(r) as usize, i);
        }
        for (i, &o) in OUTCOMES.iter().enumerate() {
            assert_eq!(outcome_code(o) as usize, i);
            assert_eq!(outcome(i as u32), Some(o));
        }
        assert_eq!(outcome(RELEASE), None);
        assert_eq!(outcome(CANCEL), None);
        assert_ne!(CANCEL, RELEASE);
        for (i, &c) in CANCELLATIONS.iter().enumerate() {
            assert_eq!(cancellation_code(c) as usize, i);
        }
    }

    #[test]
    fn node_cancellation_names_are_the_core_names_in_camel_case() {
        for (i, &c) in CANCELLATIONS.iter().enumerate() {
            let camel: String = c
                .as_str()
                .split('_')
                .enumerate()
                .map(|(k, w)| match k {
                    0 => w.to_string(),
                    _ => w[..1].to_uppercase() + &w[1..],
                })
                .collect();
            assert_eq!(CANCELLATION_NODE_NAMES[i], camel);
            assert_eq!(cancellation_from_node(&camel), Ok(c));
        }
        let e = cancellation_from_node("slow_if_overdue").unwrap_err();
        assert_eq!(e.field, "cancellation");
        assert_eq!(
            e.render("option cancellation"),
            "invalid option cancellation: \"slow_if_overdue\" (expected release, slowIfOverdue or failure)"
        );
    }

    /// `validate` names exactly the fields of the table.
    #[test]
    fn config_fields_are_the_ones_validate_names() {
        use crate::config::{Backoff, WindowConfig};
        let d = Config::default();
        let bad: Vec<Config> = vec![
            Config {
                failure_rate_threshold: 2.0,
                ..d.clone()
            },
            Config {
                consecutive_failures: Some(0),
                ..d.clone()
            },
            Config { min_calls: 0, ..d },
            Config {
                window: WindowConfig::Time {
                    duration: Duration::ZERO,
                    buckets: 10,
                },
                ..d.clone()
            },
            Config {
                window: WindowConfig::Time {
                    duration: Duration::from_secs(10),
                    buckets: 0,
                },
                ..d.clone()
            },
            Config {
                window: WindowConfig::Count { size: 0 },
                ..d.clone()
            },
            Config {
                open_timeout: Duration::ZERO,
                ..d.clone()
            },
            Config {
                backoff: Some(Backoff {
                    multiplier: 0.5,
                    max: Duration::from_secs(60),
                }),
                ..d.clone()
            },
            Config {
                backoff: Some(Backoff {
                    multiplier: 2.0,
                    max: Duration::ZERO,
                }),
                ..d.clone()
            },
            Config { jitter: 2.0, ..d },
            Config {
                half_open_max_calls: 0,
                ..d.clone()
            },
            Config {
                success_threshold: 0,
                ..d.clone()
            },
            Config {
                half_open_max_wait: Duration::ZERO,
                ..d.clone()
            },
            Config {
                slow_call_duration: Some(Duration::ZERO),
                ..d.clone()
            },
            Config {
                slow_call_rate_threshold: 2.0,
                ..d.clone()
            },
            Config {
                max_open_for: Duration::ZERO,
                ..d.clone()
            },
        ];
        let mut named: Vec<&str> = bad
            .iter()
            .map(|c| c.validate().unwrap_err().field)
            .collect();
        // A policy cannot be out of range in Rust: a name can.
        named.push(Cancellation::from_name("never").unwrap_err().field);
        let table: Vec<&str> = CONFIG_FIELDS.iter().map(|f| f.field).collect();
        assert_eq!(named, table);
        for f in &CONFIG_FIELDS {
            assert_eq!(config_field(f.field), Some(f));
        }
    }

    #[test]
    fn a_success_in_place_is_what_record_raw_does_or_nothing() {
        // Two breakers on the system clock take the same calls; one reports
        // successes through the fast path first, the other through
        // `record_raw` only: the same counts and states after every call.
        let cfg = Config::builder()
            .consecutive_failures(Some(3))
            .min_calls(5)
            .failure_rate_threshold(0.5)
            .open_timeout(Duration::from_secs(3600))
            .build()
            .unwrap();
        let fast = Breaker::new(cfg.clone()).unwrap();
        let plain = Breaker::new(cfg).unwrap();
        let (mut x, mut in_place) = (0x2545_F491_4F6C_DD1Du64, 0);
        for i in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly successes, a failure now and then: runs start and end,
            // the window comes close to its threshold, the breaker trips.
            let outcome = if x % 9 == 0 {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            let (a, b) = (fast.acquire_raw(), plain.acquire_raw());
            assert_eq!(a.is_ok(), b.is_ok(), "call {i}");
            let (Ok(a), Ok(b)) = (a, b) else { continue };
            // Half by the slot the caller read itself, as the C ABI does.
            let counted = outcome == Outcome::Success
                && if i % 2 == 0 {
                    record_success_fast(&fast, a)
                } else {
                    record_success_fast_at(&fast, a, thread_slot())
                };
            if counted {
                in_place += 1;
            } else {
                fast.record_raw(a, outcome, None);
            }
            plain.record_raw(b, outcome, None);
            let (m, n) = (fast.metrics(), plain.metrics());
            assert_eq!(
                (m.successes, m.failures),
                (n.successes, n.failures),
                "call {i}"
            );
            assert_eq!(fast.state(), plain.state(), "call {i}");
            assert_eq!(fast.window_counts(), plain.window_counts(), "call {i}");
        }
        assert!(in_place > 100, "the fast path was taken ({in_place} times)");
        assert_ne!(
            plain.state(),
            State::Closed,
            "the sequence tripped the breakers"
        );
        // Never on a custom clock (it could run user code).
        let manual = Breaker::with_clock(Config::default(), Arc::new(ManualClock::new())).unwrap();
        let p = manual.acquire_raw().unwrap();
        assert!(!record_success_fast(&manual, p));
        assert!(!record_success_fast_at(&manual, p, thread_slot()));
        manual.record_raw(p, Outcome::Success, None);
        assert_eq!(manual.metrics().successes, 1);
        // A thread that has never counted has no slot: nothing in place.
        let fresh = Breaker::new(Config::default()).unwrap();
        std::thread::spawn(move || {
            let p = fresh.acquire_raw().unwrap();
            assert!(!record_success_fast_at(&fresh, p, thread_slot()));
            fresh.record_raw(p, Outcome::Success, None);
            let p = fresh.acquire_raw().unwrap();
            assert!(
                record_success_fast_at(&fresh, p, thread_slot()),
                "counted once: the thread has a slot and a stripe"
            );
            assert_eq!(fresh.metrics().successes, 2);
        })
        .join()
        .unwrap();
    }
}
