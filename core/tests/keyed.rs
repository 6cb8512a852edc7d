//! `KeyedBreakers` (`docs/semantics.md#keyed-breakers`): the eviction rule
//! against a model, the bound under 8 threads, refusals, holders of evicted
//! breakers, and the Prometheus series. Time is a `ManualClock`; nothing
//! sleeps.

use fusebox::{Breaker, Clock, Config, KeyedBreakers, KeyedError, ManualClock, Phase};
use prometheus_parse::{Scrape, Value};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

// ----- the model --------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Get(u8),
    Success(u8),
    Failure(u8),
    Ignore(u8),
    ForceOpen(u8),
    Disable(u8),
    Remove(u8),
    Advance(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..8;
    prop_oneof![
        4 => key.clone().prop_map(Op::Get),
        1 => key.clone().prop_map(Op::Success),
        1 => key.clone().prop_map(Op::Failure),
        1 => key.clone().prop_map(Op::Ignore),
        1 => key.clone().prop_map(Op::ForceOpen),
        1 => key.clone().prop_map(Op::Disable),
        1 => key.prop_map(Op::Remove),
        2 => (0u8..3).prop_map(Op::Advance),
    ]
}

const MIN_IDLE: Duration = Duration::from_secs(2);

/// Breakers whose history never fades within a test: a count window (no
/// time expiry) and an open timeout far beyond the clock's travel, so a
/// key is busy from its first counted outcome or override on.
fn config() -> Config {
    Config::builder()
        .count_window(10)
        .consecutive_failures(Some(3))
        .open_timeout(Duration::from_secs(3600))
        .build()
        .unwrap()
}

/// What the set should hold: each key's breaker and last lookup time, and
/// which keys hold history.
#[derive(Default)]
struct Model {
    present: BTreeMap<String, (Arc<Breaker>, u64)>,
    busy: BTreeSet<String>,
    created: u64,
    evictions: u64,
    refusals: u64,
    removed: u64,
}

fn key(k: u8) -> String {
    format!("k{k}")
}

fn held(set: &KeyedBreakers) -> BTreeSet<String> {
    set.snapshot().into_iter().map(|m| m.name).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Eviction never takes a breaker that is open, half-open, overridden,
    /// failing or holding calls (the model's busy keys are always kept),
    /// evicts exactly when the model has a candidate, and refuses exactly
    /// when it has none.
    #[test]
    fn keyed_eviction_keeps_every_busy_key(
        capacity in 1usize..6,
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let clock = Arc::new(ManualClock::new());
        let set = KeyedBreakers::new("model", capacity, config(), clock.clone())
            .unwrap()
            .min_idle(MIN_IDLE);
        let mut m = Model::default();
        let min_idle_ns = MIN_IDLE.as_nanos() as u64;
        for op in ops {
            let now = clock.now_ns();
            match op {
                Op::Get(k) => {
                    let k = key(k);
                    let got = set.get_or_create(&k);
                    if let Some((b, used)) = m.present.get_mut(&k) {
                        prop_assert!(Arc::ptr_eq(b, &got.unwrap()));
                        *used = now;
                    } else if m.present.len() < capacity {
                        m.present.insert(k, (got.unwrap(), now));
                        m.created += 1;
                    } else {
                        let candidates: BTreeSet<String> = m
                            .present
                            .iter()
                            .filter(|(k, (_, used))| {
                                !m.busy.contains(*k) && now - used >= min_idle_ns
                            })
                            .map(|(k, _)| k.clone())
                            .collect();
                        if candidates.is_empty() {
                            prop_assert_eq!(got.unwrap_err(), KeyedError::Full { capacity });
                            m.refusals += 1;
                        } else {
                            let b = got.unwrap();
                            let before: BTreeSet<String> = m.present.keys().cloned().collect();
                            let mut after = held(&set);
                            prop_assert!(after.remove(&k));
                            let gone: Vec<_> = before.difference(&after).cloned().collect();
                            prop_assert_eq!(gone.len(), 1);
                            prop_assert!(candidates.contains(&gone[0]), "evicted {}", gone[0]);
                            m.present.remove(&gone[0]);
                            m.present.insert(k, (b, now));
                            m.created += 1;
                            m.evictions += 1;
                        }
                    }
                }
                Op::Success(k) | Op::Failure(k) | Op::Ignore(k) | Op::ForceOpen(k)
                | Op::Disable(k) => {
                    let k = key(k);
                    let Some(b) = set.get(&k) else {
                        prop_assert!(!m.present.contains_key(&k));
                        continue;
                    };
                    let (mb, used) = m.present.get_mut(&k).expect("present in the model");
                    prop_assert!(Arc::ptr_eq(mb, &b));
                    *used = now;
                    match op {
                        Op::ForceOpen(_) => {
                            b.force_open();
                            m.busy.insert(k);
                        }
                        Op::Disable(_) => {
                            b.disable();
                            m.busy.insert(k);
                        }
                        _ => {
                            if let Ok(p) = b.try_acquire() {
                                match op {
                                    Op::Success(_) => {
                                        p.success();
                                        m.busy.insert(k);
                                    }
                                    Op::Failure(_) => {
                                        p.failure();
                                        m.busy.insert(k);
                                    }
                                    // Ignored calls are in no window.
                                    _ => p.ignore(),
                                }
                            } else {
                                prop_assert!(m.busy.contains(&k), "only a busy breaker rejects");
                            }
                        }
                    }
                }
                Op::Remove(k) => {
                    let k = key(k);
                    let r = set.remove(&k);
                    match m.present.remove(&k) {
                        Some((b, _)) => {
                            prop_assert!(Arc::ptr_eq(&b, &r.unwrap()));
                            m.removed += 1;
                        }
                        None => prop_assert!(r.is_none()),
                    }
                    m.busy.remove(&k);
                }
                Op::Advance(s) => clock.advance(Duration::from_secs(u64::from(s))),
            }
            // The set holds what the model does: every busy key included.
            let expected: BTreeSet<String> = m.present.keys().cloned().collect();
            prop_assert_eq!(held(&set), expected);
            for k in &m.busy {
                prop_assert!(m.present.contains_key(k));
            }
            let s = set.stats();
            prop_assert!(s.len <= capacity);
            prop_assert_eq!(
                (s.len, s.created, s.evictions, s.refusals, s.removed),
                (m.present.len(), m.created, m.evictions, m.refusals, m.removed)
            );
        }
    }
}

// ----- concurrency ------------------------------------------------------

/// xorshift64*: a seeded stream per thread, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// 8 threads create, fail and remove breakers over 2 000 keys in a set of
/// 64: the set never holds more than 64, and every count adds up exactly
/// (refusals seen = refusals counted; held = created - evicted - removed);
/// every breaker confirmed failing in the set is still there at the end.
#[test]
fn keyed_capacity_holds_under_eight_threads() {
    const CAPACITY: usize = 64;
    const THREADS: u64 = 8;
    const OPS: u64 = 20_000;
    let clock = Arc::new(ManualClock::new());
    let config = Config::builder()
        .consecutive_failures(Some(1_000))
        .build()
        .unwrap();
    let set = Arc::new(
        KeyedBreakers::new("stress", CAPACITY, config, clock)
            .unwrap()
            .min_idle(Duration::ZERO),
    );
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (set, done) = (set.clone(), done.clone());
        std::thread::spawn(move || {
            let mut looks = 0u64;
            while !done.load(Ordering::Relaxed) {
                assert!(set.len() <= CAPACITY);
                looks += 1;
            }
            looks
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let set = set.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                let (mut tries, mut ok, mut refused, mut removed) = (0u64, 0u64, 0u64, 0u64);
                let mut failing: Vec<(String, Arc<Breaker>)> = Vec::new();
                for _ in 0..OPS {
                    let r = rng.next();
                    let n = r % 2_000;
                    let k = format!("host-{n}");
                    // Keys below 1 000 may fail, the others may be removed.
                    if n >= 1_000 && (r >> 32) % 20 == 0 {
                        if set.remove(&k).is_some() {
                            removed += 1;
                        }
                        continue;
                    }
                    tries += 1;
                    match set.get_or_create(&k) {
                        Ok(b) => {
                            ok += 1;
                            if n < 1_000 && (r >> 32) % 800 == 1 {
                                b.try_acquire().unwrap().failure();
                                // Failing and still the key's breaker: from
                                // here on it may never be evicted.
                                if set.get(&k).is_some_and(|now| Arc::ptr_eq(&now, &b)) {
                                    failing.push((k, b));
                                }
                            }
                        }
                        Err(KeyedError::Full { capacity }) => {
                            assert_eq!(capacity, CAPACITY);
                            refused += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                    assert!(set.len() <= CAPACITY);
                }
                (tries, ok, refused, removed, failing)
            })
        })
        .collect();
    let (mut tries, mut ok, mut refused, mut removed) = (0, 0, 0, 0);
    let mut failing = Vec::new();
    for w in workers {
        let (t, o, r, d, f) = w.join().unwrap();
        (tries, ok, refused, removed) = (tries + t, ok + o, refused + r, removed + d);
        failing.extend(f);
    }
    done.store(true, Ordering::Relaxed);
    assert!(watcher.join().unwrap() > 0);

    let s = set.stats();
    let held = set.snapshot().len();
    assert_eq!(ok + refused, tries);
    assert_eq!(s.refusals, refused, "{s:?}");
    assert_eq!(s.removed, removed, "{s:?}");
    assert_eq!(held, s.len, "{s:?}");
    assert!(held <= CAPACITY);
    assert_eq!(held as u64, s.created - s.evictions - s.removed, "{s:?}");
    eprintln!("{s:?}, {} confirmed failing", failing.len());
    assert!(s.evictions > 0 && s.refusals > 0 && s.removed > 0, "{s:?}");
    assert!(!failing.is_empty());
    for (k, b) in &failing {
        let now = set
            .get(k)
            .unwrap_or_else(|| panic!("{k} was evicted while failing"));
        assert!(Arc::ptr_eq(&now, b), "{k}");
    }
}

// ----- refusals, holders, exposition ------------------------------------

#[test]
fn keyed_refuses_when_every_breaker_is_busy() {
    let clock = Arc::new(ManualClock::new());
    let set = KeyedBreakers::new("busy", 3, Config::default(), clock.clone()).unwrap();
    let open = set.get_or_create("open").unwrap();
    open.force_open();
    let off = set.get_or_create("off").unwrap();
    off.disable();
    let failing = set.get_or_create("failing").unwrap();
    failing.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(3600)); // idle, but not evictable
    for i in 0..10 {
        let e = set.get_or_create(&format!("new-{i}")).unwrap_err();
        assert_eq!(e, KeyedError::Full { capacity: 3 });
    }
    let s = set.stats();
    assert_eq!((s.len, s.created, s.evictions, s.refusals), (3, 3, 0, 10));
    // Existing keys are still served when full.
    assert!(Arc::ptr_eq(&set.get_or_create("open").unwrap(), &open));
    // A breaker that closes is evictable again, once idle.
    off.reset();
    assert_eq!(off.phase(), Phase::Closed);
    clock.advance(Duration::from_secs(10));
    set.get_or_create("new-0").unwrap();
    assert!(set.get("off").is_none());
    assert_eq!(set.stats().evictions, 1);
}

#[test]
fn keyed_evicted_breaker_works_for_its_holder_and_key_gets_a_fresh_one() {
    let clock = Arc::new(ManualClock::new());
    let set = KeyedBreakers::new("holders", 1, Config::default(), clock)
        .unwrap()
        .min_idle(Duration::ZERO);
    let a = set.get_or_create("a").unwrap();
    let b = set.get_or_create("b").unwrap(); // evicts a
    assert!(set.get("a").is_none());
    assert_eq!(set.stats().evictions, 1);

    // The holder's breaker still works, out of the set.
    for _ in 0..5 {
        a.try_acquire().unwrap().failure();
    }
    assert_eq!(a.phase(), Phase::Open);
    assert!(a.try_acquire().is_err());

    // The key's next lookup makes a fresh one (evicting b, which holds
    // nothing); the old one's history does not come back.
    let a2 = set.get_or_create("a").unwrap();
    assert!(!Arc::ptr_eq(&a, &a2));
    assert_eq!(a2.phase(), Phase::Closed);
    assert_eq!(a2.metrics().failures, 0);
    assert!(set.get("b").is_none());
    assert!(b.try_acquire().is_ok());
    assert_eq!(set.stats().evictions, 2);
}

#[test]
fn keyed_prometheus_parses_and_counts_evictions() {
    let clock = Arc::new(ManualClock::new());
    let set = KeyedBreakers::new("upstreams", 2, Config::default(), clock)
        .unwrap()
        .min_idle(Duration::ZERO);
    set.get_or_create("a").unwrap().force_open();
    set.get_or_create("b").unwrap();
    set.get_or_create("c").unwrap(); // evicts b
    set.get_or_create("d").unwrap(); // evicts c
    set.get("d").unwrap().try_acquire().unwrap().failure();
    assert!(set.get_or_create("e").is_err());

    let text = set.prometheus();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |metric: &str| {
        let found: Vec<_> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == metric && s.labels.get("keyed") == Some("upstreams"))
            .collect();
        assert_eq!(found.len(), 1, "{metric}: {found:?}");
        match found[0].value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            ref other => panic!("{other:?}"),
        }
    };
    assert_eq!(value("fusebox_keyed_evictions_total"), 2.0);
    assert_eq!(value("fusebox_keyed_refusals_total"), 1.0);
    assert_eq!(value("fusebox_keyed_breakers"), 2.0);
    assert_eq!(value("fusebox_keyed_capacity"), 2.0);
    assert!(text.contains("# TYPE fusebox_keyed_evictions_total counter\n"));
    assert!(text.contains("fusebox_keyed_evictions_total{keyed=\"upstreams\"} 2\n"));
    // The breakers' own series are there too.
    assert!(text.contains("fusebox_state{breaker=\"a\",state=\"open\"} 1\n"));
}
