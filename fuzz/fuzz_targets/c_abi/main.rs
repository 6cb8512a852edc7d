//! The C ABI of bindings/c (crate `fusebox-ffi`) under arbitrary call
//! sequences: NULL and valid pointers, arbitrary byte strings as names,
//! arbitrary config values, registry handles (own and global), double
//! frees, frees of the wrong kind of object, of library-owned objects and of
//! arbitrary addresses, used and forged permits.
//!
//! The ABI's source file is compiled into this target as a module (its
//! crate has no rlib, and its staticlib would bring a second copy of std), so
//! the fuzzer sees its coverage and AddressSanitizer instruments it; every
//! call still goes through the `extern "C"` functions.
//!
//! Checked on every call:
//! * the status is one the inputs justify: each problem of the arguments
//!   (a NULL pointer, a name that is not UTF-8, empty or longer than 256
//!   bytes, a config that does not convert and validate, an unknown outcome,
//!   a used permit, a pointer that is not a live object of the right kind,
//!   a library-owned object) allows its error code, and with no problem the
//!   call must succeed (or say `FB_REJECTED` / `FB_ERR_NOT_FOUND` where that
//!   is the right answer); `FB_ERR_PANIC` is never right;
//! * after an error, `fb_last_error()` names the function; after success or
//!   a rejection it is unchanged;
//! * breakers on a manual clock have a shadow `fusebox::Breaker` driven with
//!   the same calls on a shadow clock: admission, rejection, permits and
//!   every metric must match (the binding converts, and nothing else);
//! * registries hand out one handle per name, tagged as library-owned, and
//!   `fb_registry_len` / `fb_registry_get` agree with the names made.
//!
//! Everything made is freed at the end of each input, so LeakSanitizer
//! reports any object the library leaks.
//!
//! The target's files, one idea each:
//! * `input.rs`: the input grammar (what the fuzzer's bytes decode into);
//! * `args.rs`: decoded arguments made into C arguments (names, selections,
//!   outcomes);
//! * `status.rs`: the status oracle (`Expect`, `call`) and the status and
//!   version strings;
//! * `config.rs`: what an `fb_config` / `fb_bulkhead_config` stands for;
//! * `world.rs`: what this input has made, the dispatch of each call, and
//!   the teardown;
//! * `free.rs`: the `*_free` functions: which address a free targets and
//!   what it must answer;
//! * `clock.rs`, `breaker.rs`, `permit.rs`, `registry.rs`, `bulkhead.rs`,
//!   `bulkhead_permit.rs`: each kind of handle, its shadow and its checks.
#![no_main]

// The ABI's source calls the engine `fusebox_core`.
extern crate fusebox as fusebox_core;

// rustfmt::skip: the C ABI's files are formatted with their own crate.
#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../../../bindings/c/src/lib.rs"]
#[rustfmt::skip]
mod ffi;

mod args;
mod breaker;
mod bulkhead;
mod bulkhead_permit;
mod clock;
mod config;
mod free;
mod input;
mod permit;
mod registry;
mod status;
mod world;

use input::Call;
use libfuzzer_sys::fuzz_target;
use world::World;

const MAX_CALLS: usize = 256;

fuzz_target!(|calls: Vec<Call>| {
    let mut w = World::default();
    for c in calls.iter().take(MAX_CALLS) {
        w.step(c);
    }
    w.teardown();
});
