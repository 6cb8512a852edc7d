//! How JS decodes the state word, derived from the core's public
//! [`fusebox::state::Word`] so the bit layout is written in one place only.

use fusebox::state::Word;
use fusebox::{Phase, State};
use napi_derive::napi;

/// The state word's layout, for the JS fast path.
#[napi(object)]
pub struct WordLayout {
    /// Mask of the phase bits (the low bits of the word).
    pub phase_mask: u32,
    /// First bit of the generation (< 32: the low half holds the phase).
    pub generation_shift: u32,
    /// Phase bits of Closed.
    pub closed: u32,
    /// Phase bits of Disabled (closed, never trips).
    pub disabled: u32,
    /// For each value of the phase bits, the state (`closed`, `open`, `halfOpen`).
    pub states: Vec<String>,
    /// For each value of the phase bits, the phase (`closed`, `open`,
    /// `halfOpen`, `forcedOpen`, `disabled`).
    pub phases: Vec<String>,
}

/// Node's name of a state.
pub(crate) fn state_name(s: State) -> &'static str {
    match s {
        State::Closed => "closed",
        State::Open => "open",
        State::HalfOpen => "halfOpen",
    }
}

/// Node's name of a phase.
pub(crate) fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Closed => "closed",
        Phase::Open => "open",
        Phase::HalfOpen => "halfOpen",
        Phase::ForcedOpen => "forcedOpen",
        Phase::Disabled => "disabled",
    }
}

/// The layout of the state word.
#[napi]
pub fn word_layout() -> WordLayout {
    let generation_shift = Word::new(Phase::Closed, 1).0.trailing_zeros();
    let probes_shift = Word::new(Phase::Closed, 0)
        .with_probes(1)
        .0
        .trailing_zeros();
    let phase_mask = (1u64 << probes_shift) - 1;
    let phases: Vec<Phase> = (0..=phase_mask).map(|b| Word(b).phase()).collect();
    WordLayout {
        phase_mask: phase_mask as u32,
        generation_shift,
        closed: Word::new(Phase::Closed, 0).0 as u32,
        disabled: Word::new(Phase::Disabled, 0).0 as u32,
        states: phases
            .iter()
            .map(|p| state_name(p.state()).into())
            .collect(),
        phases: phases.iter().map(|p| phase_name(*p).into()).collect(),
    }
}
