//! The Rust twin of `examples/bench.c`: the same acquire + record loop on
//! the engine directly (no C ABI), same config, same clock, best of 5 rounds.
//!
//! With `abi` as the 4th argument it also times, round by round in the same
//! process, the loop through the exported `extern "C"` functions (called via
//! function pointers, as from C), so both figures see the same machine load.
//!
//! cargo run --release -p fusebox-ffi --example bench -- [calls_per_thread] [threads] [monotonic|manual] [abi]

use fusebox::{fb_breaker, fb_permit, fb_rejection, fb_status, FB_DURATION_AUTO};
use fusebox_core::{Breaker, ClockSource, Config, ManualClock, Outcome};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

type Acquire =
    unsafe extern "C" fn(*const fb_breaker, *mut fb_permit, *mut fb_rejection) -> fb_status;
type Record = unsafe extern "C" fn(*mut fb_permit, u32, u64) -> fb_status;

fn rust_loop(breaker: &Breaker, calls: u64) {
    for _ in 0..calls {
        let p = breaker.acquire_raw().expect("admitted");
        breaker.record_raw(p, Outcome::Success, None);
    }
}

fn abi_loop(handle: usize, calls: u64) {
    let acquire: Acquire = black_box(fusebox::fb_breaker_acquire);
    let record: Record = black_box(fusebox::fb_permit_record);
    let b = handle as *const fb_breaker;
    for _ in 0..calls {
        let mut p = std::mem::MaybeUninit::<fb_permit>::uninit();
        // SAFETY: `b` is a live handle for the whole run; `p` is writable and
        // filled by acquire before record reads it.
        unsafe {
            assert_eq!(
                acquire(b, p.as_mut_ptr(), std::ptr::null_mut()),
                fb_status::FB_OK
            );
            assert_eq!(
                record(
                    p.as_mut_ptr(),
                    fusebox::FB_OUTCOME_SUCCESS,
                    FB_DURATION_AUTO
                ),
                fb_status::FB_OK
            );
        }
    }
}

fn timed(threads: usize, calls: u64, f: impl Fn() + Sync) -> f64 {
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(&f);
        }
    });
    t0.elapsed().as_nanos() as f64 / calls as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let calls: u64 = args
        .get(1)
        .map_or(20_000_000, |s| s.parse().expect("calls"));
    let threads: usize = args.get(2).map_or(1, |s| s.parse().expect("threads"));
    let manual = args.get(3).is_some_and(|s| s == "manual");
    let abi = args.get(4).is_some_and(|s| s == "abi");
    let clock_name = if manual { "manual" } else { "monotonic" };
    let mclock = Arc::new(ManualClock::new());
    let clock = |m: bool| -> ClockSource {
        if m {
            mclock.clone().into()
        } else {
            ClockSource::Monotonic
        }
    };
    let breaker = Breaker::with_clock(Config::default(), clock(manual)).expect("config");

    // The ABI variant: a breaker made through the C ABI, on the same clock.
    let mut handle: *mut fb_breaker = std::ptr::null_mut();
    let mut fb_clock = std::ptr::null_mut();
    if abi {
        let mut cfg = std::mem::MaybeUninit::uninit();
        // SAFETY: valid out-pointers; every call is checked.
        unsafe {
            assert_eq!(
                fusebox::fb_config_default(cfg.as_mut_ptr()),
                fb_status::FB_OK
            );
            if manual {
                assert_eq!(
                    fusebox::fb_clock_manual_new(&mut fb_clock),
                    fb_status::FB_OK
                );
            }
            assert_eq!(
                fusebox::fb_breaker_new_with_clock(cfg.as_ptr(), fb_clock, &mut handle),
                fb_status::FB_OK
            );
        }
    }
    let h = handle as usize;
    let (mut best_rs, mut best_abi) = (f64::MAX, f64::MAX);
    for round in 0..5 {
        let ns = timed(threads, calls, || rust_loop(&breaker, calls));
        best_rs = best_rs.min(ns);
        print!("RS  round {round}: {ns:.2} ns/call");
        if abi {
            let ns = timed(threads, calls, || abi_loop(h, calls));
            best_abi = best_abi.min(ns);
            print!("   ABI-from-Rust {ns:.2} ns/call");
        }
        println!();
    }
    println!(
        "RS  acquire+record, {threads} thread(s), {clock_name} clock: best {best_rs:.2} ns/call ({} successes)",
        breaker.metrics().successes
    );
    if abi {
        println!(
            "ABI-from-Rust acquire+record, {threads} thread(s), {clock_name} clock: best {best_abi:.2} ns/call ({:.2}x)",
            best_abi / best_rs
        );
        // SAFETY: live handles made above, freed once.
        unsafe {
            assert_eq!(fusebox::fb_breaker_free(handle), fb_status::FB_OK);
            if !fb_clock.is_null() {
                assert_eq!(fusebox::fb_clock_free(fb_clock), fb_status::FB_OK);
            }
        }
    }
}
