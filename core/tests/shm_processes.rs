//! Shared breakers across processes: the test binary runs itself as child
//! processes (the `child_process` test, ignored unless a parent starts it)
//! that open one registry file.
//!
//! * N processes hammering one breaker add up to exact counts;
//! * a dependency that starts failing opens the breaker for all 4 workers at
//!   once (a handful of failures, not 4 × the threshold);
//! * workers killed at random with SIGKILL leave the breaker usable, its
//!   counts and transitions consistent with what the survivors and the
//!   victims acknowledged;
//! * a probe held by a killed worker is recovered by the half-open wait limit;
//! * processes racing to create the file agree on one file.
#![cfg(all(unix, feature = "shm", not(loom)))]

use fusebox::shm::{SharedManualClock, SharedRegistry};
use fusebox::{Config, Outcome, RejectReason, State};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

const ROLE: &str = "FUSEBOX_SHM_ROLE";
const MARK: &str = "@@fusebox@@ ";

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let root = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let d = root.join(format!("fusebox-proc-{tag}-{}-{nanos}", std::process::id()));
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

// ----- configs shared by parents and children ----------------------------

/// Never trips on the hammer's pattern (a third of counted calls fail).
fn hammer_config() -> Config {
    Config::builder()
        .consecutive_failures(None)
        .failure_rate_threshold(0.9)
        .build()
        .unwrap()
}

/// The kill test's breaker: a count window (its lifetime totals are one
/// atomic add per call, so they stay exact whatever the kills).
fn kill_config() -> Config {
    Config::builder()
        .count_window(100)
        .min_calls(100)
        .failure_rate_threshold(0.9)
        .consecutive_failures(None)
        .open_timeout(Duration::from_secs(10))
        .half_open_max_calls(3)
        .success_threshold(3)
        .build()
        .unwrap()
}

/// Trips on two failures in a row, opens for 5 ms, closes on one probe:
/// with the children moving the clock, it never stops changing state.
fn churn_config() -> Config {
    Config::builder()
        .count_window(20)
        .min_calls(20)
        .failure_rate_threshold(1.0)
        .consecutive_failures(Some(2))
        .open_timeout(Duration::from_millis(5))
        .half_open_max_calls(2)
        .success_threshold(1)
        .half_open_max_wait(Duration::from_millis(20))
        .build()
        .unwrap()
}

/// A per-child acknowledgement counter, itself a shared breaker (a time
/// window on a frozen clock: exact totals too).
fn ack_config() -> Config {
    Config::builder()
        .consecutive_failures(None)
        .build()
        .unwrap()
}

/// Call `i`'s outcome in the hammer and kill tests.
fn pattern(i: u64) -> Outcome {
    match i % 4 {
        0 | 1 => Outcome::Success,
        2 => Outcome::Failure,
        _ => Outcome::Ignored,
    }
}

/// Outcomes of calls 0..n under `pattern`: (successes, failures, ignored).
fn pattern_counts(n: u64) -> (u64, u64, u64) {
    let (q, r) = (n / 4, n % 4);
    (2 * q + r.min(2), q + u64::from(r >= 3), q)
}

// ----- the child side ----------------------------------------------------

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("child: {k} not set"))
}

/// A line for the parent, after a marker: the test harness may have started
/// a line of its own ("test child_process ... ").
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n{MARK}{line}").unwrap();
    out.flush().unwrap();
}

/// Children never outlive a broken parent by long: every wait is bounded.
const CHILD_LIMIT: Duration = Duration::from_secs(120);

fn wait_for(path: &Path) {
    // A start line for every child at once; not a clock move.
    let t0 = std::time::Instant::now();
    while !path.exists() {
        assert!(t0.elapsed() < CHILD_LIMIT, "no start signal");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn registry() -> SharedRegistry {
    let b = SharedRegistry::builder();
    let b = match std::env::var("FB_CLOCK") {
        Ok(p) => b.clock(SharedManualClock::open(p).unwrap()),
        Err(_) => b,
    };
    b.open(env("FB_REG")).unwrap()
}

#[test]
#[ignore = "a child process of the tests below; they start it"]
fn child_process() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let calls: u64 = std::env::var("FB_CALLS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    match role.as_str() {
        "hammer" => {
            let b = registry()
                .get_or_create("hammer", &hammer_config())
                .unwrap();
            say("READY");
            wait_for(Path::new(&env("FB_GO")));
            for i in 0..calls {
                b.try_acquire().expect("never trips").record(pattern(i));
            }
            say(&format!("RESULT done={calls}"));
        }
        "trip" => {
            let b = registry()
                .get_or_create("dependency", &Config::default())
                .unwrap();
            say("READY");
            wait_for(Path::new(&env("FB_GO")));
            let mut failures = 0u64;
            let reason = loop {
                match b.try_acquire() {
                    // The dependency is down: every call fails.
                    Ok(p) => {
                        p.failure();
                        failures += 1;
                        if failures > 10_000 {
                            break "none";
                        }
                    }
                    Err(r) => break r.reason.as_str(),
                }
            };
            say(&format!("RESULT failures={failures} reason={reason}"));
        }
        "kill" => {
            let reg = registry();
            let b = reg.get_or_create("kill", &kill_config()).unwrap();
            let ack = reg
                .get_or_create(&format!("ack-{}", env("FB_ID")), &ack_config())
                .unwrap();
            say("READY");
            wait_for(Path::new(&env("FB_GO")));
            for i in 0..calls {
                b.try_acquire().expect("never trips").record(pattern(i));
                ack.try_acquire().unwrap().success();
            }
            say(&format!("RESULT done={calls}"));
        }
        "churn" => {
            let clock = SharedManualClock::open(env("FB_CLOCK")).unwrap();
            let reg = registry();
            let b = reg.get_or_create("churn", &churn_config()).unwrap();
            let ack = reg
                .get_or_create(&format!("ack-{}", env("FB_ID")), &ack_config())
                .unwrap();
            say("READY");
            wait_for(Path::new(&env("FB_GO")));
            for _ in 0..calls {
                clock.advance(Duration::from_millis(1));
                match b.try_acquire() {
                    Ok(p) if p.is_probe() => {
                        p.success();
                        ack.try_acquire().unwrap().success();
                    }
                    Ok(p) => {
                        p.failure();
                        ack.try_acquire().unwrap().success();
                    }
                    Err(_) => ack.try_acquire().unwrap().ignore(),
                }
            }
            say(&format!("RESULT done={calls}"));
        }
        "probe" => {
            let b = registry()
                .get("probe")
                .unwrap()
                .expect("made by the parent");
            let p = b.try_acquire().expect("a probe slot is free");
            say(&format!("RESULT probe={}", p.is_probe()));
            // Hold the probe until killed.
            std::thread::sleep(CHILD_LIMIT);
            panic!("the parent did not kill this child");
        }
        "race" => {
            let path = env("FB_REG");
            let capacity: usize = env("FB_CAPACITY").parse().unwrap();
            say("READY");
            wait_for(Path::new(&env("FB_GO")));
            let reg = SharedRegistry::builder()
                .capacity(capacity)
                .open(path)
                .unwrap();
            let b = reg.get_or_create("race", &Config::default()).unwrap();
            for _ in 0..1000 {
                b.try_acquire().unwrap().success();
            }
            say(&format!(
                "RESULT created={} capacity={}",
                u8::from(reg.created()),
                reg.capacity()
            ));
        }
        other => panic!("unknown role {other}"),
    }
}

// ----- the parent side ---------------------------------------------------

struct Worker {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Worker {
    fn spawn(role: &str, vars: &[(&str, String)]) -> Worker {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_process",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ROLE, role)
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Worker { child, out }
    }

    /// The next line the child said (READY or RESULT ...), skipping the
    /// test harness's own lines.
    fn next(&mut self) -> Option<String> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.out.read_line(&mut line).unwrap() == 0 {
                return None;
            }
            if let Some(i) = line.find(MARK) {
                return Some(line[i + MARK.len()..].trim().to_string());
            }
        }
    }

    fn ready(&mut self) {
        assert_eq!(self.next().as_deref(), Some("READY"));
    }

    /// The RESULT line's fields, after a successful exit.
    fn result(mut self) -> HashMap<String, String> {
        let line = self.next().expect("a RESULT line");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "child failed: {status:?}");
        line["RESULT ".len()..]
            .split_whitespace()
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    fn kill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// SIGKILL each of `victims` at a random moment within 30 ms of now (their
/// work takes far longer), in random order.
fn kill_at_random(victims: &mut [Worker]) {
    let mut rng = Rng::new();
    let t0 = std::time::Instant::now();
    let mut at: Vec<u64> = victims.iter().map(|_| 1 + rng.below(30)).collect();
    at.sort_unstable();
    for (w, ms) in victims.iter_mut().zip(at) {
        let due = t0 + Duration::from_millis(ms);
        std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
        w.kill();
    }
}

/// A small xorshift: kill times differ from run to run (the seed is printed).
struct Rng(u64);
impl Rng {
    fn new() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("kill-timing seed {seed}");
        Rng(seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn processes_hammering_one_breaker_add_up_to_exact_counts() {
    let dir = Dir::new("hammer");
    let (reg, go) = (dir.path("reg"), dir.path("go"));
    const N: u64 = 4;
    const CALLS: u64 = 25_000;
    let mut workers: Vec<Worker> = (0..N)
        .map(|_| {
            Worker::spawn(
                "hammer",
                &[
                    ("FB_REG", s(&reg)),
                    ("FB_GO", s(&go)),
                    ("FB_CALLS", CALLS.to_string()),
                ],
            )
        })
        .collect();
    workers.iter_mut().for_each(Worker::ready);
    std::fs::write(&go, "").unwrap();
    for w in workers {
        assert_eq!(w.result()["done"], CALLS.to_string());
    }
    let m = SharedRegistry::open(&reg)
        .unwrap()
        .get("hammer")
        .unwrap()
        .unwrap()
        .metrics();
    let (ok, fail, ign) = pattern_counts(CALLS);
    assert_eq!(
        (m.successes, m.failures, m.ignored, m.rejected),
        (N * ok, N * fail, N * ign, 0)
    );
    assert_eq!(m.state, State::Closed);
}

#[test]
fn a_failing_dependency_opens_the_breaker_for_all_four_workers_at_once() {
    let dir = Dir::new("trip");
    let (reg, go) = (dir.path("reg"), dir.path("go"));
    let mut workers: Vec<Worker> = (0..4)
        .map(|_| Worker::spawn("trip", &[("FB_REG", s(&reg)), ("FB_GO", s(&go))]))
        .collect();
    workers.iter_mut().for_each(Worker::ready);
    std::fs::write(&go, "").unwrap();
    let results: Vec<_> = workers.into_iter().map(Worker::result).collect();
    let failures: u64 = results
        .iter()
        .map(|r| r["failures"].parse::<u64>().unwrap())
        .sum();
    for r in &results {
        assert_eq!(
            r["reason"], "open",
            "every worker is stopped by the open breaker"
        );
    }
    // One breaker for the four: the 5th failure in a row trips it, and each
    // of the 3 other workers may have had one call in flight. Four
    // per-process breakers would have let 4 × 5 = 20 calls fail.
    let threshold = Config::default().consecutive_failures.unwrap() as u64;
    assert!(
        (threshold..=threshold + 3).contains(&failures),
        "{failures} failed calls"
    );
    let b = SharedRegistry::open(&reg)
        .unwrap()
        .get("dependency")
        .unwrap()
        .unwrap();
    let m = b.metrics();
    assert_eq!(m.state, State::Open);
    assert_eq!(m.failures, failures);
    assert_eq!(m.rejected, 4, "one rejection per worker");
    assert_eq!(m.state_changes, 1);
}

/// `n` workers in role `role` on a fresh registry and shared clock; the
/// first `victims` call until they are killed with SIGKILL at random (so
/// that none can finish first, however fast the machine), the others make
/// `calls` calls and must finish. Returns the folder (keep it alive), the
/// registry and the clock.
fn kill_some(
    role: &str,
    n: usize,
    victims: usize,
    calls: u64,
) -> (Dir, SharedRegistry, std::sync::Arc<SharedManualClock>) {
    let dir = Dir::new(role);
    let (reg_path, clock_path, go) = (dir.path("reg"), dir.path("clock"), dir.path("go"));
    let clock = SharedManualClock::open(&clock_path).unwrap();
    let reg = SharedRegistry::builder()
        .clock(clock.clone())
        .open(&reg_path)
        .unwrap();
    let mut workers: Vec<Worker> = (0..n)
        .map(|i| {
            Worker::spawn(
                role,
                &[
                    ("FB_REG", s(&reg_path)),
                    ("FB_CLOCK", s(&clock_path)),
                    ("FB_GO", s(&go)),
                    ("FB_ID", i.to_string()),
                    (
                        "FB_CALLS",
                        if i < victims { u64::MAX } else { calls }.to_string(),
                    ),
                ],
            )
        })
        .collect();
    workers.iter_mut().for_each(Worker::ready);
    std::fs::write(&go, "").unwrap();
    kill_at_random(&mut workers[..victims]);
    for w in workers.drain(victims..) {
        assert_eq!(w.result()["done"], calls.to_string());
    }
    (dir, reg, clock)
}

#[test]
fn workers_killed_mid_call_leave_exact_counts_and_a_working_breaker() {
    const N: usize = 6;
    const VICTIMS: usize = 3;
    const CALLS: u64 = 300_000;
    let (_dir, reg, clock) = kill_some("kill", N, VICTIMS, CALLS);

    // What each worker acknowledged (after its outcome was recorded).
    let acked: Vec<u64> = (0..N)
        .map(|i| {
            reg.get(&format!("ack-{i}"))
                .unwrap()
                .unwrap()
                .metrics()
                .successes
        })
        .collect();
    eprintln!("acknowledged calls: {acked:?}");
    for a in &acked[VICTIMS..] {
        assert_eq!(*a, CALLS, "survivors' counts are exact");
    }
    // Lower bounds: the acknowledged calls; upper: plus the one call each
    // victim may have recorded and not acknowledged before it was killed.
    let mut lo = [0u64; 3];
    for &a in &acked {
        let (ok, fail, ign) = pattern_counts(a);
        lo = [lo[0] + ok, lo[1] + fail, lo[2] + ign];
    }
    let mut hi = lo;
    for &a in &acked[..VICTIMS] {
        hi[match pattern(a) {
            Outcome::Success => 0,
            Outcome::Failure => 1,
            Outcome::Ignored => 2,
        }] += 1;
    }
    let b = reg.get("kill").unwrap().unwrap();
    let m = b.metrics();
    for (k, got) in [m.successes, m.failures, m.ignored].into_iter().enumerate() {
        assert!(
            (lo[k]..=hi[k]).contains(&got),
            "outcome kind {k}: {got} not in {}..={}",
            lo[k],
            hi[k]
        );
    }
    // No spurious transition, nothing rejected.
    assert_eq!(
        (m.state, m.generation, m.state_changes, m.rejected),
        (State::Closed, 0, 0, 0)
    );
    assert!(m.window.calls <= 100);

    // And it still works through a whole cycle of transitions.
    // (90 failures among the last 100 counted calls trip it: fewer than 90
    // more, as the window already holds a third of failures.)
    let mut failed = 0;
    while b.state() == State::Closed {
        b.try_acquire().unwrap().failure();
        failed += 1;
    }
    assert!(
        (60..=90).contains(&failed),
        "tripped after {failed} failures"
    );
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.try_acquire().unwrap_err().reason, RejectReason::Open);
    clock.advance(Duration::from_secs(10));
    let probes: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    assert!(probes.iter().all(|p| p.is_probe()));
    assert_eq!(
        b.try_acquire().unwrap_err().reason,
        RejectReason::HalfOpenFull
    );
    probes.into_iter().for_each(|p| p.success());
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().state_changes, 3);
}

#[test]
fn workers_killed_while_the_breaker_keeps_changing_state_never_wedge_it() {
    const N: usize = 6;
    const VICTIMS: usize = 3;
    const CALLS: u64 = 100_000;
    let (_dir, reg, clock) = kill_some("churn", N, VICTIMS, CALLS);

    let acks: Vec<_> = (0..N)
        .map(|i| reg.get(&format!("ack-{i}")).unwrap().unwrap().metrics())
        .collect();
    for a in &acks[VICTIMS..] {
        assert_eq!(
            a.successes + a.ignored,
            CALLS,
            "survivors' counts are exact"
        );
    }
    let admitted: u64 = acks.iter().map(|a| a.successes).sum();
    let rejected: u64 = acks.iter().map(|a| a.ignored).sum();
    let b = reg.get("churn").unwrap().unwrap();
    let m = b.metrics();
    let victims = VICTIMS as u64;
    assert!(
        (admitted..=admitted + victims).contains(&(m.successes + m.failures)),
        "{} outcomes, {admitted} acknowledged",
        m.successes + m.failures
    );
    assert!(
        (rejected..=rejected + victims).contains(&m.rejected),
        "{} rejections, {rejected} acknowledged",
        m.rejected
    );
    // Every transition bumps the generation and counts a state change; a
    // victim killed right after winning one may have missed the count.
    assert!(
        m.generation > 100,
        "it churned: {} transitions",
        m.generation
    );
    assert!(
        (m.generation.saturating_sub(victims)..=m.generation).contains(&m.state_changes),
        "{} state changes for generation {}",
        m.state_changes,
        m.generation
    );
    assert!(m.window.calls <= 20);

    // Usable: once time has moved past every deadline a dead worker may have
    // left behind (open, half-open wait, an unpublished one), it closes.
    let mut closed = false;
    for _ in 0..10 {
        clock.advance(Duration::from_secs(1));
        match b.try_acquire() {
            Ok(p) => p.success(),
            Err(_) => continue,
        }
        if b.state() == State::Closed {
            closed = true;
            break;
        }
    }
    assert!(closed, "stuck in {:?}", b.phase());
    // And it trips as configured.
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_probe_held_by_a_killed_process_is_recovered_by_the_half_open_wait_limit() {
    let dir = Dir::new("probe");
    let (reg_path, clock_path) = (dir.path("reg"), dir.path("clock"));
    let clock = SharedManualClock::open(&clock_path).unwrap();
    let reg = SharedRegistry::builder()
        .clock(clock.clone())
        .open(&reg_path)
        .unwrap();
    let config = Config::builder()
        .consecutive_failures(Some(1))
        .open_timeout(Duration::from_secs(10))
        .half_open_max_calls(1)
        .success_threshold(1)
        .half_open_max_wait(Duration::from_secs(30))
        .build()
        .unwrap();
    let b = reg.get_or_create("probe", &config).unwrap();
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(10));

    // A worker takes the only probe slot and is killed before reporting.
    let mut w = Worker::spawn(
        "probe",
        &[("FB_REG", s(&reg_path)), ("FB_CLOCK", s(&clock_path))],
    );
    assert_eq!(w.next().as_deref(), Some("RESULT probe=true"));
    w.kill();

    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(
        b.try_acquire().unwrap_err().reason,
        RejectReason::HalfOpenFull
    );
    clock.advance(Duration::from_secs(29));
    assert_eq!(
        b.try_acquire().unwrap_err().reason,
        RejectReason::HalfOpenFull
    );
    // The half-open wait limit: back to Open for another open timeout...
    clock.advance(Duration::from_secs(1));
    let r = b.try_acquire().unwrap_err();
    assert_eq!(r.reason, RejectReason::Open);
    assert_eq!(r.retry_after, Some(Duration::from_secs(10)));
    // ... then a new probe, which closes it.
    clock.advance(Duration::from_secs(10));
    let p = b.try_acquire().unwrap();
    assert!(p.is_probe());
    p.success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn processes_racing_to_create_the_file_agree_on_one() {
    let dir = Dir::new("race");
    for round in 0..3 {
        let (reg, go) = (
            dir.path(&format!("reg{round}")),
            dir.path(&format!("go{round}")),
        );
        // Each racer asks for another capacity: all must end up with the
        // winner's.
        let mut workers: Vec<Worker> = (0..4)
            .map(|i| {
                Worker::spawn(
                    "race",
                    &[
                        ("FB_REG", s(&reg)),
                        ("FB_GO", s(&go)),
                        ("FB_CAPACITY", (8 + i).to_string()),
                    ],
                )
            })
            .collect();
        workers.iter_mut().for_each(Worker::ready);
        std::fs::write(&go, "").unwrap();
        let results: Vec<_> = workers.into_iter().map(Worker::result).collect();
        let creators = results.iter().filter(|r| r["created"] == "1").count();
        assert_eq!(creators, 1, "round {round}: {results:?}");
        let caps: Vec<_> = results.iter().map(|r| r["capacity"].clone()).collect();
        assert!(caps.iter().all(|c| *c == caps[0]), "{caps:?}");
        let r = SharedRegistry::open(&reg).unwrap();
        assert_eq!(r.capacity().to_string(), caps[0]);
        assert_eq!(r.names(), vec!["race".to_string()]);
        assert_eq!(r.get("race").unwrap().unwrap().metrics().successes, 4000);
    }
    // Only the registries and the start files: no temporary file left.
    let mut names: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["go0", "go1", "go2", "reg0", "reg1", "reg2"]);
}
