//! How JS decodes the state word: the masks the core publishes in
//! `fusebox::bindings` (derived there from the word's own layout), handed
//! to JS once at load. Names and codes come from `codes.js`, generated from
//! the same module.

use fusebox::bindings;
use fusebox::{Phase, State};
use napi_derive::napi;

/// The state word's layout, for the JS fast path.
#[napi(object)]
pub struct WordLayout {
    /// Mask of the phase bits (the low bits of the word): the phase's code.
    pub phase_mask: u32,
    /// Bits clear in exactly the phases that admit a call freely: with the
    /// breaker's `skipsCore`, JS admits without calling in.
    pub free_mask: u32,
    /// First bit of the generation (< 32: the low half holds the phase).
    pub generation_shift: u32,
    /// For each value of the phase bits, the phase's code (an index in
    /// `codes.js`'s `PHASES`), as the core decodes it.
    pub phases: Vec<u32>,
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
    WordLayout {
        phase_mask: bindings::PHASE_MASK as u32,
        free_mask: bindings::FREE_MASK as u32,
        generation_shift: bindings::GENERATION_SHIFT,
        phases: (0..=bindings::PHASE_MASK)
            .map(|bits| bindings::phase_code(bindings::phase_of(bits)))
            .collect(),
    }
}
