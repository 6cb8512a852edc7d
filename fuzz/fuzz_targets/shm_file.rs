//! The shared-memory registry (`fusebox::shm`,
//! `docs/architecture.md#shared-memory-files`) reading a file that
//! was damaged after it was made.
//!
//! Each input makes a registry file (capacity, stripes, breakers and their
//! configs from the input, on a manual clock), drives its breakers, closes
//! it, then changes the file: words of the header, of the slots or of the
//! breakers' data area set or flipped, bytes overwritten, the file cut short
//! or grown. The file is opened again and used: names, snapshot, get,
//! get_or_create, and calls on every breaker it hands out. The file is the
//! one thing every process on a host trusts, so whatever it holds, opening
//! and using it may answer an error but must not panic, overflow, read or
//! write outside the mapping (AddressSanitizer), or hang.
#![no_main]

use arbitrary::Arbitrary;
use fusebox::shm::SharedRegistry;
use fusebox::{Breaker, Clock, Config, ManualClock, Outcome, RawPermit, WindowConfig};
use libfuzzer_sys::fuzz_target;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const MS: u64 = 1_000_000;
const MAX_OPS: usize = 128;

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Cfg {
    count: Option<u8>,
    buckets: u8,
    bucket_ms: u16,
    min_calls: u8,
    consecutive: Option<u8>,
    half_open: u8,
    slow_ms: Option<u16>,
}

impl Cfg {
    fn config(self) -> Config {
        let half_open_max_calls = 1 + u32::from(self.half_open % 4);
        Config {
            window: match self.count {
                Some(n) => WindowConfig::Count {
                    size: 1 + u32::from(n % 64),
                },
                None => {
                    let buckets = 1 + u32::from(self.buckets % 16);
                    WindowConfig::Time {
                        duration: Duration::from_millis(
                            (1 + u64::from(self.bucket_ms % 2000)) * u64::from(buckets),
                        ),
                        buckets,
                    }
                }
            },
            min_calls: 1 + u32::from(self.min_calls % 10),
            consecutive_failures: self.consecutive.map(|c| 1 + u32::from(c % 5)),
            open_timeout: Duration::from_secs(5),
            half_open_max_calls,
            success_threshold: half_open_max_calls,
            half_open_max_wait: Duration::from_secs(10),
            slow_call_duration: self
                .slow_ms
                .map(|m| Duration::from_millis(1 + u64::from(m))),
            ..Config::default()
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum O {
    Success,
    Failure,
    Ignored,
}

impl From<O> for Outcome {
    fn from(o: O) -> Outcome {
        match o {
            O::Success => Outcome::Success,
            O::Failure => Outcome::Failure,
            O::Ignored => Outcome::Ignored,
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    Acquire(u8),
    Record(u8, O, Option<u16>),
    Release(u8),
    Call(u8, O, u16),
    Advance(u32),
    ForceOpen(u8),
    Disable(u8),
    Reset(u8),
    Metrics(u8),
    Names,
    Snapshot,
    Get(u8),
    GetOrCreate(u8, Cfg),
}

#[derive(Arbitrary, Debug, Clone)]
enum Patch {
    /// Set word `i` of the header (words 0..32).
    Header(u8, u64),
    /// Set word `i` counted from the slots.
    Slot(u16, u64),
    /// Set word `i` counted from the data area (the breakers' own words).
    Data(u16, u64),
    /// Set a data-area word to `hi << 16 | lo`: the shape of the packed
    /// words (an epoch and a ring slot, a tag and a count ...).
    Packed(u16, u32, u16),
    /// Flip bits of a word anywhere.
    Xor(u32, u64),
    /// Overwrite bytes anywhere.
    Bytes(u32, Vec<u8>),
    /// Cut the file to `n` bytes, or grow it by `n` bytes.
    Truncate(u32),
    Grow(u16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    capacity: u8,
    stripes: u8,
    data_bytes: Option<u16>,
    breakers: Vec<(u8, Cfg)>,
    before: Vec<Op>,
    patches: Vec<Patch>,
    after: Vec<Op>,
}

fn name(i: u8) -> String {
    format!("svc-{}:get", i % 6)
}

/// One file per fuzzing process, on a tmpfs when there is one.
fn path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("fusebox-fuzz-{}.reg", std::process::id()))
    })
}

struct World {
    reg: SharedRegistry,
    clock: Arc<ManualClock>,
    breakers: Vec<Arc<Breaker>>,
    held: Vec<(usize, RawPermit)>,
}

impl World {
    fn pick(&self, i: u8) -> Option<usize> {
        (!self.breakers.is_empty()).then(|| usize::from(i) % self.breakers.len())
    }

    fn keep(&mut self, b: Arc<Breaker>) {
        if !self.breakers.iter().any(|x| Arc::ptr_eq(x, &b)) && self.breakers.len() < 16 {
            self.breakers.push(b);
        }
    }

    fn run(&mut self, ops: &[Op]) {
        for op in ops.iter().take(MAX_OPS) {
            match op {
                Op::Acquire(i) => {
                    if let Some(i) = self.pick(*i) {
                        if let Ok(p) = self.breakers[i].acquire_raw() {
                            self.held.push((i, p));
                        }
                    }
                }
                Op::Record(i, o, d) => {
                    if !self.held.is_empty() {
                        let (b, p) = self.held.remove(usize::from(*i) % self.held.len());
                        self.breakers[b].record_raw(p, (*o).into(), d.map(|ms| u64::from(ms) * MS));
                    }
                }
                Op::Release(i) => {
                    if !self.held.is_empty() {
                        let (b, p) = self.held.remove(usize::from(*i) % self.held.len());
                        self.breakers[b].release_raw(p);
                    }
                }
                Op::Call(i, o, ms) => {
                    if let Some(i) = self.pick(*i) {
                        let b = &self.breakers[i];
                        if let Ok(p) = b.acquire_raw() {
                            b.record_raw(p, (*o).into(), Some(u64::from(*ms) * MS));
                        }
                    }
                }
                Op::Advance(ms) => self.clock.advance_ns(u64::from(*ms) * MS),
                Op::ForceOpen(i) | Op::Disable(i) | Op::Reset(i) => {
                    if let Some(i) = self.pick(*i) {
                        let b = &self.breakers[i];
                        match op {
                            Op::ForceOpen(_) => b.force_open(),
                            Op::Disable(_) => b.disable(),
                            _ => b.reset(),
                        }
                    }
                }
                Op::Metrics(i) => {
                    if let Some(i) = self.pick(*i) {
                        let m = self.breakers[i].metrics();
                        assert!(m.window.failures <= m.window.calls);
                        assert!(m.window.slow <= m.window.calls);
                    }
                }
                Op::Names => {
                    let names = self.reg.names();
                    assert!(names.len() <= self.reg.capacity());
                }
                Op::Snapshot => {
                    let _ = self.reg.snapshot();
                }
                Op::Get(n) => {
                    if let Ok(Some(b)) = self.reg.get(&name(*n)) {
                        self.keep(b);
                    }
                }
                Op::GetOrCreate(n, cfg) => {
                    if let Ok(b) = self.reg.get_or_create(&name(*n), &cfg.config()) {
                        self.keep(b);
                    }
                }
            }
        }
    }
}

fn word(file: &std::fs::File, i: u64) -> u64 {
    let mut b = [0u8; 8];
    let _ = file.read_exact_at(&mut b, i * 8);
    u64::from_le_bytes(b)
}

fn set_word(file: &std::fs::File, i: u64, v: u64) {
    let _ = file.write_all_at(&v.to_le_bytes(), i * 8);
}

/// Apply the patches to the closed file.
fn damage(patches: &[Patch]) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path())
        .expect("the file just made");
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    // Where the slots and the data start, as the header says (bytes).
    let (slots, data) = (word(&file, 6) / 8, word(&file, 7) / 8);
    let words = (len / 8).max(1);
    for p in patches.iter().take(32) {
        match p {
            Patch::Header(i, v) => set_word(&file, u64::from(*i % 32), *v),
            Patch::Slot(i, v) => set_word(&file, (slots + u64::from(*i)) % words, *v),
            Patch::Data(i, v) => set_word(&file, (data + u64::from(*i)) % words, *v),
            Patch::Packed(i, hi, lo) => set_word(
                &file,
                (data + u64::from(*i)) % words,
                (u64::from(*hi) << 16) | u64::from(*lo),
            ),
            Patch::Xor(i, m) => {
                let i = u64::from(*i) % words;
                set_word(&file, i, word(&file, i) ^ m);
            }
            Patch::Bytes(off, bytes) => {
                let _ =
                    file.write_all_at(&bytes[..bytes.len().min(64)], u64::from(*off) % len.max(1));
            }
            Patch::Truncate(n) => {
                let _ = file.set_len(u64::from(*n) % len.max(1));
            }
            Patch::Grow(n) => {
                let _ = file.set_len(len + u64::from(*n));
            }
        }
    }
    // A slot being created (state INIT) names its creator's pid; a pid of 0
    // or of this process counts as alive, and get_or_create would wait 5 s
    // for it (ShmError::Busy): correct, but it would stall the fuzzer.
    // Point such slots at a pid no process can have.
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let cap = word(&file, 4);
    if cap > 0 && data > slots && (data * 8) <= len && cap <= 1 << 20 {
        let stride = (data - slots) / cap;
        for s in 0..cap {
            let i = slots + s * stride;
            let v = word(&file, i);
            let pid = v as u32;
            if v >> 62 == 1 && (pid == 0 || pid == std::process::id()) {
                set_word(&file, i, (v & !0xffff_ffff) | 0xffff_ffff);
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let p = path();
    let _ = std::fs::remove_file(p);
    let clock = Arc::new(ManualClock::new());
    let mut builder = SharedRegistry::builder()
        .capacity(1 + usize::from(input.capacity % 8))
        .stripes(1 << (input.stripes % 3))
        .clock(clock.clone());
    if let Some(kb) = input.data_bytes {
        builder = builder.data_bytes(1 + u64::from(kb) * 64);
    }
    let Ok(reg) = builder.open(p) else {
        let _ = std::fs::remove_file(p);
        return;
    };
    let mut w = World {
        reg,
        clock: clock.clone(),
        breakers: Vec::new(),
        held: Vec::new(),
    };
    for (n, cfg) in input.breakers.iter().take(8) {
        if let Ok(b) = w.reg.get_or_create(&name(*n), &cfg.config()) {
            w.keep(b);
        }
    }
    w.run(&input.before);
    let now = clock.now_ns();
    drop(w);

    damage(&input.patches);

    let clock = Arc::new(ManualClock::new());
    clock.advance_ns(now - clock.now_ns());
    if let Ok(reg) = SharedRegistry::builder().clock(clock.clone()).open(p) {
        let mut w = World {
            reg,
            clock,
            breakers: Vec::new(),
            held: Vec::new(),
        };
        for n in w.reg.names() {
            if let Ok(Some(b)) = w.reg.get(&n) {
                w.keep(b);
            }
        }
        w.run(&input.after);
    }
    let _ = std::fs::remove_file(p);
});
