//! The shared registry within one process: two handles (two mappings) on one
//! file see one breaker; files and configs that do not match are refused.
#![cfg(all(unix, feature = "shm", not(loom)))]

use fusebox::shm::{SharedManualClock, SharedRegistry, ShmError, LAYOUT_VERSION, MAGIC};
use fusebox::{Config, Outcome, Phase, RejectReason, State};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A fresh folder (on tmpfs when there is one), removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let root = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let d = root.join(format!("fusebox-test-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn trip_config() -> Config {
    Config::builder()
        .consecutive_failures(Some(3))
        .open_timeout(Duration::from_secs(10))
        .half_open_max_calls(2)
        .success_threshold(2)
        .half_open_max_wait(Duration::from_secs(20))
        .build()
        .unwrap()
}

#[test]
fn two_handles_on_one_file_share_one_breaker() {
    let dir = Dir::new("share");
    let path = dir.path("reg");
    let clock = SharedManualClock::open(dir.path("clock")).unwrap();
    let a = SharedRegistry::builder()
        .clock(clock.clone())
        .open(&path)
        .unwrap();
    let b = SharedRegistry::builder()
        .clock(clock.clone())
        .open(&path)
        .unwrap();
    assert!(a.created());
    assert!(!b.created());
    assert_eq!(a.capacity(), b.capacity());

    let ba = a.get_or_create("db", &trip_config()).unwrap();
    // The second handle finds it by name, with the config stored in the file.
    let bb = b.get("db").unwrap().expect("created by the other handle");
    assert_eq!(bb.config(), trip_config());
    // Its settings live in the file, for every process: not changed in place.
    let e = bb
        .reconfigure(fusebox::Config {
            min_calls: 2,
            ..trip_config()
        })
        .unwrap_err();
    assert_eq!(e.field, "breaker");
    assert_eq!(bb.config(), trip_config());
    assert_eq!(b.names(), vec!["db".to_string()]);
    assert!(b.get("nope").unwrap().is_none());

    for _ in 0..3 {
        ba.try_acquire().unwrap().failure();
    }
    // Tripped through one mapping, open through the other.
    assert_eq!(bb.state(), State::Open);
    let r = bb.try_acquire().unwrap_err();
    assert_eq!(r.reason, RejectReason::Open);
    assert_eq!(r.retry_after, Some(Duration::from_secs(10)));

    // Half-open probes admitted across handles: the probe slots are shared.
    clock.advance(Duration::from_secs(10));
    let p1 = ba.try_acquire().unwrap();
    let p2 = bb.try_acquire().unwrap();
    assert!(p1.is_probe() && p2.is_probe());
    assert_eq!(
        ba.try_acquire().unwrap_err().reason,
        RejectReason::HalfOpenFull
    );
    p1.success();
    p2.success();
    assert_eq!(ba.state(), State::Closed);

    let m = a.get("db").unwrap().unwrap().metrics();
    assert_eq!((m.failures, m.successes, m.rejected), (3, 2, 2));
    assert_eq!(m.state_changes, 3);
    assert_eq!(a.snapshot().unwrap(), vec![bb.metrics()]);
}

#[test]
fn a_reopened_file_keeps_its_breakers() {
    let dir = Dir::new("reopen");
    let path = dir.path("reg");
    {
        let r = SharedRegistry::open(&path).unwrap();
        let b = r.get_or_create("svc:get", &Config::default()).unwrap();
        b.force_open();
        b.try_acquire().unwrap_err();
    }
    let r = SharedRegistry::open(&path).unwrap();
    assert!(!r.created());
    let b = r.get_or_create("svc:get", &Config::default()).unwrap();
    assert_eq!(b.phase(), Phase::ForcedOpen);
    assert_eq!(b.metrics().rejected, 1);
    b.reset();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn max_open_for_and_cancellation_are_stored_in_the_slot() {
    use fusebox::Cancellation;
    let dir = Dir::new("open-for");
    let path = dir.path("reg");
    let config = Config::builder()
        .max_open_for(Duration::from_secs(45))
        .cancellation(Cancellation::Failure)
        .build()
        .unwrap();
    let a = SharedRegistry::open(&path).unwrap();
    let b = a.get_or_create("api", &config).unwrap();
    // Another mapping attaches with the stored config, not the defaults.
    let other = SharedRegistry::open(&path).unwrap();
    let attached = other.get("api").unwrap().unwrap();
    assert_eq!(attached.config().max_open_for, Duration::from_secs(45));
    assert_eq!(attached.config().cancellation, Cancellation::Failure);
    // open_for through one handle is capped by the stored max_open_for and
    // seen through the other.
    assert!(b.open_for(Duration::from_secs(3600)));
    let r = attached.try_acquire().unwrap_err();
    assert_eq!(r.reason, RejectReason::Open);
    // (Capped at 45 s, not the default 300 s nor the 3600 s asked for; the
    // other mapping's coarse clock may read a little behind this one's.)
    assert!(r.retry_after.unwrap() <= Duration::from_secs(46), "{r:?}");
    // Either field differing is a mismatch, by name.
    for (c, field) in [
        (Config::default(), vec!["max_open_for", "cancellation"]),
        (
            Config {
                cancellation: Cancellation::Release,
                ..config.clone()
            },
            vec!["cancellation"],
        ),
    ] {
        match other.get_or_create("api", &c) {
            Err(ShmError::ConfigMismatch { fields, .. }) => assert_eq!(fields, field),
            got => panic!("expected a config mismatch, got {got:?}"),
        }
    }
}

#[test]
fn another_config_for_an_existing_breaker_is_refused() {
    let dir = Dir::new("config");
    let path = dir.path("reg");
    let a = SharedRegistry::open(&path).unwrap();
    a.get_or_create("db", &Config::default()).unwrap();
    let other = Config::builder()
        .min_calls(20)
        .open_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    // From this handle (its cache) and from a fresh one (the file).
    let b = SharedRegistry::open(&path).unwrap();
    for r in [&a, &b] {
        match r.get_or_create("db", &other) {
            Err(ShmError::ConfigMismatch {
                name,
                fields,
                stored,
            }) => {
                assert_eq!(name, "db");
                assert_eq!(fields, vec!["min_calls", "open_timeout"]);
                assert_eq!(*stored, Config::default());
            }
            other => panic!("expected a config mismatch, got {other:?}"),
        }
    }
    let msg = b.get_or_create("db", &other).unwrap_err().to_string();
    assert!(msg.contains("\"db\"") && msg.contains("min_calls, open_timeout"));
    // The same config is fine.
    assert!(b.get_or_create("db", &Config::default()).is_ok());
}

fn poke(path: &std::path::Path, word: u64, value: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(&value.to_le_bytes(), word * 8).unwrap();
}

#[test]
fn files_of_another_layout_or_shape_are_refused() {
    let dir = Dir::new("refuse");
    let good = dir.path("good");
    let reg = SharedRegistry::open(&good).unwrap();
    let b = reg.get_or_create("db", &Config::default()).unwrap();
    b.try_acquire().unwrap().failure();
    let len = std::fs::metadata(&good).unwrap().len();
    drop((b, reg));

    let copy = |name: &str| {
        let p = dir.path(name);
        std::fs::copy(&good, &p).unwrap();
        p
    };
    let expect = |p: &PathBuf, what: &str, check: &dyn Fn(&ShmError) -> bool| {
        let e = SharedRegistry::open(p).expect_err(what);
        assert!(check(&e), "{what}: got {e:?}");
        let msg = e.to_string();
        assert!(msg.contains(&p.display().to_string()), "{msg}");
    };

    let p = copy("version");
    poke(&p, 1, LAYOUT_VERSION + 1);
    expect(
        &p,
        "another version",
        &|e| matches!(e, ShmError::Version { found, .. } if found.0 == LAYOUT_VERSION + 1),
    );
    assert!(SharedRegistry::open(&p)
        .unwrap_err()
        .to_string()
        .contains("another fusebox layout"));

    // Files of earlier layouts, refused by name, never misread: version 2
    // (before `max_open_for` and `cancellation` were stored, 16 config
    // words), 3 (a count window's word per call, now a byte), 4 (every
    // stripe among a breaker's lines, before the compact layout).
    let mut p = PathBuf::new();
    for old in 2..LAYOUT_VERSION {
        p = copy(&format!("version {old}"));
        poke(&p, 1, old);
        expect(
            &p,
            &format!("layout version {old}"),
            &|e| matches!(e, ShmError::Version { found, .. } if found.0 == old),
        );
    }
    let msg = SharedRegistry::open(&p).unwrap_err().to_string();
    assert!(
        msg.contains(&format!("version {}", LAYOUT_VERSION - 1))
            && msg.contains(&format!("version {LAYOUT_VERSION}")),
        "the versions are named: {msg}"
    );

    let p = copy("fingerprint");
    poke(&p, 2, 12345);
    expect(
        &p,
        "another fingerprint",
        &|e| matches!(e, ShmError::Version { found, .. } if found.1 == 12345),
    );

    let p = copy("magic");
    poke(&p, 0, MAGIC.swap_bytes());
    expect(
        &p,
        "bad magic",
        &|e| matches!(e, ShmError::NotARegistry { reason, .. } if reason.contains("magic")),
    );

    let p = copy("truncated");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len - 128)
        .unwrap();
    expect(
        &p,
        "truncated",
        &|e| matches!(e, ShmError::NotARegistry { reason, .. } if reason.contains("bytes")),
    );

    let p = copy("geometry");
    poke(&p, 4, 3); // capacity
    expect(
        &p,
        "bad geometry",
        &|e| matches!(e, ShmError::NotARegistry { reason, .. } if reason.contains("geometry")),
    );

    // Fuzz finding 3: a capacity near 2^64 is refused, not an overflow
    // panic in the geometry arithmetic (tests build with overflow checks).
    let p = copy("huge capacity");
    poke(&p, 4, 1 << 60);
    expect(
        &p,
        "huge capacity",
        &|e| matches!(e, ShmError::NotARegistry { reason, .. } if reason.contains("geometry")),
    );

    let p = dir.path("empty");
    std::fs::write(&p, b"").unwrap();
    expect(&p, "empty", &|e| matches!(e, ShmError::NotARegistry { .. }));

    let p = dir.path("text");
    std::fs::write(&p, "not a registry at all\n".repeat(100)).unwrap();
    expect(&p, "text", &|e| matches!(e, ShmError::NotARegistry { .. }));

    // The unharmed file still opens, its breaker intact.
    let reg = SharedRegistry::open(&good).unwrap();
    assert_eq!(reg.get("db").unwrap().unwrap().metrics().failures, 1);
}

#[test]
fn a_corrupt_slot_is_refused() {
    let dir = Dir::new("corrupt");
    let path = dir.path("reg");
    let reg = SharedRegistry::builder().capacity(1).open(&path).unwrap();
    reg.get_or_create("db", &Config::default()).unwrap();
    drop(reg);
    // Slot 0 starts after the header (word 6 says where, in bytes); its
    // config at slot word 8, min_calls third.
    let slots = peek(&path, 6) / 8;
    poke(&path, slots + 8 + 3, 11);
    let reg = SharedRegistry::open(&path).unwrap();
    match reg.get("db") {
        Err(ShmError::Corrupt { name, reason }) => {
            assert_eq!(name, "db");
            assert!(reason.contains("hash"), "{reason}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn capacity_and_space_are_fixed_at_creation() {
    let dir = Dir::new("full");
    let path = dir.path("reg");
    let reg = SharedRegistry::builder().capacity(3).open(&path).unwrap();
    for n in ["a", "b", "c"] {
        reg.get_or_create(n, &Config::default()).unwrap();
    }
    let e = reg.get_or_create("d", &Config::default()).unwrap_err();
    assert!(matches!(e, ShmError::Full { capacity: 3 }), "{e:?}");
    assert!(e.to_string().contains("larger capacity"));
    // Options of an opener are ignored for an existing file.
    let again = SharedRegistry::builder().capacity(100).open(&path).unwrap();
    assert_eq!(again.capacity(), 3);
    assert_eq!(again.names().len(), 3);

    // A data area too small for a large count window.
    let small = SharedRegistry::builder()
        .capacity(4)
        .data_bytes(64 * 1024)
        .open(dir.path("small"))
        .unwrap();
    let big = Config::builder().count_window(100_000).build().unwrap();
    let e = small.get_or_create("big", &big).unwrap_err();
    match &e {
        ShmError::OutOfSpace { name, needed, left } => {
            assert_eq!(name, "big");
            assert!(needed > left, "{needed} > {left}");
        }
        other => panic!("expected out of space, got {other:?}"),
    }
    // Smaller breakers still fit.
    small.get_or_create("small", &Config::default()).unwrap();
}

#[test]
fn bad_names_and_options_are_errors() {
    let dir = Dir::new("bad");
    let reg = SharedRegistry::open(dir.path("reg")).unwrap();
    for name in [String::new(), "x".repeat(257)] {
        let e = reg.get_or_create(&name, &Config::default()).unwrap_err();
        assert!(matches!(e, ShmError::BadName(_)), "{e:?}");
    }
    // 256 bytes is the limit, multi-byte characters included.
    let long = "é".repeat(128);
    reg.get_or_create(&long, &Config::default()).unwrap();
    assert!(reg.names().contains(&long));

    let bad = Config {
        min_calls: 0,
        ..Config::default()
    };
    let e = reg.get_or_create("x", &bad).unwrap_err();
    assert!(
        matches!(&e, ShmError::Config(c) if c.field == "min_calls"),
        "{e:?}"
    );

    for (b, option) in [
        (SharedRegistry::builder().capacity(0), "capacity"),
        (SharedRegistry::builder().data_bytes(0), "data_bytes"),
    ] {
        let e = b.open(dir.path("opts")).unwrap_err();
        assert!(
            matches!(&e, ShmError::BadOption { option: o, .. } if *o == option),
            "{e:?}"
        );
    }
    let e = SharedRegistry::open(dir.path("no/such/folder/reg")).unwrap_err();
    assert!(matches!(e, ShmError::Io { .. }), "{e:?}");
}

#[test]
fn racing_threads_and_colliding_names_get_one_slot_each() {
    let dir = Dir::new("threads");
    let path = dir.path("reg");
    // 5 slots for 5 names: most of them collide on their first choice.
    let names: Vec<String> = (0..5).map(|i| format!("svc-{i}")).collect();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            let names = names.clone();
            std::thread::spawn(move || {
                let reg = SharedRegistry::builder().capacity(5).open(&path).unwrap();
                for n in &names {
                    let b = reg.get_or_create(n, &Config::default()).unwrap();
                    for _ in 0..1000 {
                        b.try_acquire().unwrap().success();
                    }
                }
                reg.created()
            })
        })
        .collect();
    let created = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|c| *c)
        .count();
    assert_eq!(created, 1, "exactly one thread created the file");
    let reg = SharedRegistry::open(&path).unwrap();
    let mut got = reg.names();
    got.sort();
    assert_eq!(got, names);
    for n in &names {
        assert_eq!(reg.get(n).unwrap().unwrap().metrics().successes, 8000);
    }
    assert!(matches!(
        reg.get_or_create("one-too-many", &Config::default()),
        Err(ShmError::Full { capacity: 5 })
    ));
    // No temporary file is left behind.
    let files: Vec<_> = std::fs::read_dir(&dir.0).unwrap().collect();
    assert_eq!(files.len(), 1);
}

/// What a process killed between winning a transition (its CAS on the state
/// word) and publishing the new phase's deadline leaves behind.
fn cas_state_without_deadline(b: &fusebox::Breaker, to_phase: u64) {
    // SAFETY: the state word is an AtomicU64 in the mapping, alive while `b`
    // is; it is only ever accessed atomically.
    let word = unsafe { &*(fusebox::bindings::state_word(b) as *const AtomicU64) };
    let w = word.load(Ordering::Acquire);
    let generation = w >> 23;
    let to = ((generation + 1) << 23) | to_phase;
    word.compare_exchange(w, to, Ordering::AcqRel, Ordering::Acquire)
        .unwrap();
}

#[test]
fn a_transition_whose_winner_died_before_publishing_its_deadline_recovers() {
    let dir = Dir::new("unpublished");
    let clock = SharedManualClock::open(dir.path("clock")).unwrap();
    let reg = SharedRegistry::builder()
        .clock(clock.clone())
        .open(dir.path("reg"))
        .unwrap();
    let b = reg.get_or_create("db", &trip_config()).unwrap();

    // Closed -> Open, no deadline: rejected, for now.
    cas_state_without_deadline(&b, 1);
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.try_acquire().unwrap_err().reason, RejectReason::Open);
    clock.advance(Duration::from_secs(9));
    assert_eq!(b.try_acquire().unwrap_err().reason, RejectReason::Open);
    // Once a whole open timeout has passed since the first caller saw the
    // missing deadline, the breaker goes on: this call is the first probe.
    clock.advance(Duration::from_secs(1));
    let p = b.try_acquire().expect("recovered");
    assert!(p.is_probe());
    assert_eq!(b.state(), State::HalfOpen);
    p.success();
    b.try_acquire().unwrap().success();
    assert_eq!(b.state(), State::Closed);

    // Open -> Half-Open with the probe slots taken, no deadline: recovered
    // by the half-open wait limit, back to Open, then probing again.
    for _ in 0..3 {
        b.try_acquire().unwrap().failure();
    }
    clock.advance(Duration::from_secs(10));
    let p1 = b.acquire_raw().unwrap();
    let p2 = b.acquire_raw().unwrap();
    assert!(p1.probe && p2.probe);
    // Pretend the half-open phase's winner died: a new half-open generation
    // with both probes held by dead processes (probes = 2 in bits 3..13).
    // SAFETY: as above.
    let word = unsafe { &*(fusebox::bindings::state_word(&b) as *const AtomicU64) };
    let w = word.load(Ordering::Acquire);
    let to = (((w >> 23) + 1) << 23) | (2 << 3) | 2;
    word.store(to, Ordering::Release);
    assert_eq!(
        b.try_acquire().unwrap_err().reason,
        RejectReason::HalfOpenFull
    );
    clock.advance(Duration::from_secs(20));
    assert_eq!(b.try_acquire().unwrap_err().reason, RejectReason::Open);
    clock.advance(Duration::from_secs(10));
    let p = b.try_acquire().unwrap();
    assert!(p.is_probe());
    p.success();
    b.try_acquire().unwrap().success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn shared_breakers_run_the_same_protocol_as_in_process_ones() {
    // The same calls on an in-process breaker and on a shared one, with
    // clocks moved alike, end in the same states and counts.
    let dir = Dir::new("same");
    let shared_clock = SharedManualClock::open(dir.path("clock")).unwrap();
    let local_clock = Arc::new(fusebox::ManualClock::new());
    let config = Config::builder()
        .min_calls(4)
        .consecutive_failures(None)
        .time_window(Duration::from_secs(4), 4)
        .open_timeout(Duration::from_secs(5))
        .half_open_max_calls(1)
        .success_threshold(1)
        .build()
        .unwrap();
    let reg = SharedRegistry::builder()
        .clock(shared_clock.clone())
        .open(dir.path("reg"))
        .unwrap();
    let shared = reg.get_or_create("b", &config).unwrap();
    let local = fusebox::Breaker::with_clock(config, local_clock.clone()).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for step in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let outcome = match seed % 5 {
            0 | 1 => Outcome::Failure,
            2 => Outcome::Ignored,
            _ => Outcome::Success,
        };
        let both: [&fusebox::Breaker; 2] = [&shared, &local];
        let results: Vec<_> = both
            .iter()
            .map(|b| match b.try_acquire() {
                Ok(p) => {
                    p.record(outcome);
                    None
                }
                Err(r) => Some(r.reason),
            })
            .collect();
        assert_eq!(results[0], results[1], "step {step}");
        assert_eq!(shared.phase(), local.phase(), "step {step}");
        if seed % 7 == 0 {
            shared_clock.advance(Duration::from_millis(700));
            local_clock.advance(Duration::from_millis(700));
        }
    }
    let (s, l) = (shared.metrics(), local.metrics());
    assert_eq!(
        (
            s.successes,
            s.failures,
            s.ignored,
            s.rejected,
            s.state_changes
        ),
        (
            l.successes,
            l.failures,
            l.ignored,
            l.rejected,
            l.state_changes
        )
    );
    assert!(s.state_changes > 10, "the run went through transitions");
}

#[test]
fn damaged_breaker_words_are_survived() {
    // Fuzz findings 4 and 5: words of a breaker in the file, damaged by
    // someone else, must not make a process write outside the mapping or
    // panic in metrics().
    let dir = Dir::new("damaged");
    let clock = Arc::new(fusebox::ManualClock::new());
    let cfg = Config::default();
    // A registry file at `name` with `stripes` stripes and breaker "db", to
    // which `first` reports; then `damage` given the file and the word
    // index of the breaker's stripe 0; then three successes in a new handle
    // on the file, whose breaker is returned.
    let run = |name: &str,
               stripes: usize,
               first: fn(&fusebox::Breaker),
               damage: &dyn Fn(&std::path::Path, u64)| {
        let path = dir.path(name);
        {
            let reg = SharedRegistry::builder()
                .stripes(stripes)
                .clock(clock.clone())
                .open(&path)
                .unwrap();
            first(&reg.get_or_create("db", &cfg).unwrap());
        }
        // Header word 7: where the data area starts, in bytes; the
        // breaker's lines are its first (layout version 5 on: control,
        // metrics, then the shared stripe's 3 lines). With one stripe,
        // stripe 0 is that shared stripe, at word 32; else it is the stripe
        // the counting thread claimed, made in the data area, whose line
        // (plus one) is in directory word 5.
        let data = peek(&path, 7) / 8;
        let stripe = if stripes == 1 {
            data + 32
        } else {
            data + (peek(&path, data + 5) - 1) * 16
        };
        damage(&path, stripe);
        let reg = SharedRegistry::builder()
            .clock(clock.clone())
            .open(&path)
            .unwrap();
        let b = reg.get("db").unwrap().unwrap();
        for _ in 0..3 {
            b.try_acquire().unwrap().success();
        }
        b
    };

    // A shared stripe (one stripe in all).
    let b = run(
        "reg",
        1,
        |b| b.try_acquire().unwrap().failure(),
        &|path, stripe| {
            // The stripe's bucket cache (word 0): this epoch, ring slot
            // 32 767 (bit 15 is the stripe's parity, left alone here).
            poke(path, stripe, (1 << 16) | 0x7fff);
            // Its tail, past the ring (2 words, then 10 buckets of 4):
            // retired totals and ignored/rejected, near 2^64.
            for k in 0..6 {
                poke(path, stripe + 2 + 4 * 10 + k, u64::MAX - 1);
            }
        },
    );
    let m = b.metrics(); // no overflow panic
    assert_eq!(m.state, State::Closed);
    assert_eq!(
        b.window_counts().calls,
        4,
        "the failure before, three successes now"
    );

    // The same with the parity bit damaged too: the stripe looks reset, so
    // the failure before is out of the window; the successes are counted,
    // and the lifetime totals keep all four.
    let b = run(
        "reg3",
        1,
        |b| b.try_acquire().unwrap().failure(),
        &|path, stripe| poke(path, stripe, (1 << 16) | 0xffff),
    );
    assert_eq!(b.window_counts().calls, 3);
    let m = b.metrics();
    assert_eq!((m.failures, m.successes), (1, 3));

    // The same through an owned stripe (stripe 0 of two, claimed by the
    // counting thread), whose owner trusts its own words: a damaged cache
    // and bucket end must still not index past the ring.
    let b = run(
        "reg2",
        2,
        |b| b.try_acquire().unwrap().success(),
        &|path, stripe| {
            poke(path, stripe, (1 << 16) | 0xffff);
            poke(path, stripe + 1, u64::MAX);
        },
    );
    assert_eq!(b.metrics().successes, 4);
}

fn peek(path: &std::path::Path, word: u64) -> u64 {
    let f = std::fs::File::open(path).unwrap();
    let mut w = [0u8; 8];
    f.read_exact_at(&mut w, word * 8).unwrap();
    u64::from_le_bytes(w)
}

#[test]
fn threads_own_stripes_through_the_file_and_take_over_those_of_dead_processes() {
    // Two stripes: stripe 0 can be owned (claim word 32 of the header), the
    // last one is shared.
    const CLAIM: u64 = 32;
    let dir = Dir::new("claims");
    let path = dir.path("reg");
    let me = u64::from(std::process::id());
    let count = |reg: &SharedRegistry| {
        let b = reg.get_or_create("db", &Config::default()).unwrap();
        std::thread::spawn(move || b.try_acquire().unwrap().success())
            .join()
            .unwrap();
    };

    // A live process of someone else's (pid 1) owns entry 0: we share.
    let reg = SharedRegistry::builder().stripes(2).open(&path).unwrap();
    poke(&path, CLAIM, (1 << 32) | 7);
    count(&reg);
    assert_eq!(
        peek(&path, CLAIM),
        (1 << 32) | 7,
        "a live owner keeps its stripe"
    );
    drop(reg);

    // A process that has exited owned it: the first thread to count takes
    // it over, and the next thread (another slot) finds none left.
    let dead = {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        u64::from(pid)
    };
    poke(&path, CLAIM, (dead << 32) | 7);
    let reg = SharedRegistry::open(&path).unwrap();
    count(&reg);
    let owner = peek(&path, CLAIM);
    assert_eq!(owner >> 32, me, "taken over from dead pid {dead}");
    count(&reg);
    assert_eq!(peek(&path, CLAIM), owner);
    let b = reg.get("db").unwrap().unwrap();
    assert_eq!(
        b.metrics().successes,
        3,
        "owned and shared stripes both counted"
    );

    // An earlier process with our pid (another nonce) is gone too.
    drop((b, reg));
    assert_eq!(
        peek(&path, CLAIM),
        0,
        "given back when the last handle goes"
    );
    poke(&path, CLAIM, (me << 32) | 0xdead_0000);
    let reg = SharedRegistry::open(&path).unwrap();
    count(&reg);
    let now = peek(&path, CLAIM);
    assert_eq!(now >> 32, me);
    assert_ne!(now, (me << 32) | 0xdead_0000, "our pid, our nonce now");
}

/// Header word 16: lines of the data area handed out so far.
const BUMP: u64 = 16;

/// A fresh registry file at `path` with `stripes` stripes, room for 4
/// breakers, and a data area of `data_bytes` (the default if `None`).
fn registry(path: &std::path::Path, stripes: usize, data_bytes: Option<u64>) -> SharedRegistry {
    let b = SharedRegistry::builder().stripes(stripes).capacity(4);
    match data_bytes {
        Some(d) => b.data_bytes(d),
        None => b,
    }
    .open(path)
    .unwrap()
}

/// `call(i)` for i in 0..calls on each of `threads` threads, all alive at
/// once (so each in a thread slot, and a claim, of its own).
fn on_threads(threads: usize, calls: u64, call: impl Fn(u64) + Sync) {
    let all_in = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                all_in.wait();
                (0..calls).for_each(&call);
                all_in.wait();
            });
        }
    });
}

#[test]
fn a_breaker_is_five_lines_and_grows_by_a_stripe_per_thread_that_owns_one() {
    let dir = Dir::new("compact");
    let path = dir.path("reg");
    let reg = registry(&path, 16, None);
    let b = reg.get_or_create("db", &Config::default()).unwrap();
    // Control, metrics, the shared stripe: whatever the stripe count.
    assert_eq!(peek(&path, BUMP), 5);
    b.try_acquire().unwrap().success();
    assert_eq!(peek(&path, BUMP), 8, "this thread's claim, its stripe");
    b.try_acquire().unwrap().success();
    assert_eq!(peek(&path, BUMP), 8, "made once");
    // Three more threads: a stripe each, 1,000 successes each, all counted.
    on_threads(3, 1_000, |_| b.try_acquire().unwrap().success());
    assert_eq!(peek(&path, BUMP), 8 + 3 * 3);
    assert_eq!(b.metrics().successes, 3_002);
    // Another mapping (as another process): its own claims, its own
    // stripe, the same breaker.
    let other = SharedRegistry::open(&path).unwrap();
    let again = other.get("db").unwrap().unwrap();
    again.try_acquire().unwrap().failure();
    assert_eq!(peek(&path, BUMP), 8 + 4 * 3);
    assert_eq!(b.metrics().failures, 1);
    assert_eq!(b.window_counts().calls, 3_003);
    // A second breaker: five lines more, no stripe until counted on.
    reg.get_or_create("cache", &Config::default()).unwrap();
    assert_eq!(peek(&path, BUMP), 8 + 4 * 3 + 5);
}

#[test]
fn a_full_data_area_or_a_damaged_directory_sends_owners_to_the_shared_stripe() {
    let dir = Dir::new("compact-full");
    // Room for the breaker's own five lines and nothing more.
    let path = dir.path("reg");
    let reg = registry(&path, 4, Some(5 * 128));
    let b = reg.get_or_create("db", &Config::default()).unwrap();
    on_threads(2, 1_000, |i| {
        b.try_acquire().unwrap().record(if i % 10 == 0 {
            Outcome::Failure
        } else {
            Outcome::Success
        })
    });
    assert_eq!(peek(&path, BUMP), 5, "nothing more was taken");
    let m = b.metrics();
    assert_eq!((m.successes, m.failures), (1_800, 200), "nothing lost");
    assert_eq!(b.window_counts().calls, 2_000);
    drop((b, reg));

    // Directory words that point outside the data area (a damaged file):
    // neither followed by counts nor by readers.
    let path = dir.path("damaged");
    registry(&path, 4, None)
        .get_or_create("db", &Config::default())
        .unwrap();
    let data = peek(&path, 7) / 8;
    // Directory words 5..8: stripes 0..3's (the last, shared, has none
    // used). Line numbers past the area, and the largest number.
    poke(&path, data + 5, u64::MAX);
    poke(&path, data + 6, 1 << 40);
    poke(&path, data + 7, 1 << 40);
    let reg = SharedRegistry::open(&path).unwrap();
    let b = reg.get("db").unwrap().unwrap();
    on_threads(3, 100, |_| b.try_acquire().unwrap().success());
    assert_eq!(b.metrics().successes, 300);
    assert_eq!(peek(&path, BUMP), 5, "a damaged word is not replaced");
}

mod silence;

#[test]
fn time_window_is_right_after_any_silence_in_a_shared_file() {
    // One stripe in the file: every thread of every process shares it (CAS),
    // and a whole window of silence resets it by parity, in the file.
    let dir = Dir::new("silence");
    let clock = SharedManualClock::open(dir.path("clock")).unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    silence::right_after_any_silence(&|cfg| {
        let name = format!("b{}", n.fetch_add(1, Ordering::Relaxed));
        let reg = SharedRegistry::builder()
            .stripes(1)
            .clock(clock.clone())
            .open(dir.path(&name))
            .unwrap();
        let b = reg.get_or_create("b", &cfg).unwrap();
        let clock = clock.clone();
        (b, Box::new(move |d| clock.advance(d)))
    });
}

#[test]
fn the_default_data_area_never_passes_the_largest() {
    // 2^20 breakers of 64 stripes, each with all its stripes made, would
    // need 26 GB: the default is clamped to the largest area, so the file
    // is made, and opened again (the geometry check allows it). Sparse:
    // nothing but the header is written here.
    let dir = Dir::new("largest");
    let path = dir.path("reg");
    let reg = SharedRegistry::builder()
        .capacity(1 << 20)
        .stripes(64)
        .open(&path)
        .unwrap();
    reg.get_or_create("db", &Config::default())
        .unwrap()
        .try_acquire()
        .unwrap()
        .success();
    drop(reg);
    let again = SharedRegistry::open(&path).unwrap();
    assert_eq!(again.get("db").unwrap().unwrap().metrics().successes, 1);
}
