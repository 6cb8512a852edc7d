//! A breaker's config as the 18 words stored (and hashed) in its slot:
//! durations in ns, floats as bits, options as 0 for none, enums as their
//! index.

use crate::engine::config::{Backoff, Cancellation, Config, WindowConfig};
use std::time::Duration;

/// Words of an encoded config.
pub(super) const CONFIG_WORDS: usize = 18;

/// The field each config word holds, for
/// [`ShmError::ConfigMismatch`](super::ShmError::ConfigMismatch).
const CONFIG_FIELDS: [&str; CONFIG_WORDS] = [
    "encoding",
    "failure_rate_threshold",
    "consecutive_failures",
    "min_calls",
    "window",
    "window",
    "window",
    "open_timeout",
    "backoff",
    "backoff",
    "jitter",
    "half_open_max_calls",
    "success_threshold",
    "half_open_max_wait",
    "slow_call_duration",
    "slow_call_rate_threshold",
    "max_open_for",
    "cancellation",
];
/// The encoding's version, word 0 (1: the first 16 words, without
/// `max_open_for` and `cancellation`; files of that layout are refused by
/// their layout version before a slot is read).
const CONFIG_ENCODING: u64 = 2;

/// A duration in ns, saturating.
pub(super) fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `+ 0.0` turns -0.0 into 0.0, so equal configs encode alike.
fn f(x: f64) -> u64 {
    (x + 0.0).to_bits()
}

/// A config as words (durations in ns, floats as bits): the form stored in a
/// slot and hashed.
pub(super) fn encode(c: &Config) -> [u64; CONFIG_WORDS] {
    let (kind, dur, n) = match c.window {
        WindowConfig::Time { duration, buckets } => (0, ns(duration), u64::from(buckets)),
        WindowConfig::Count { size } => (1, 0, u64::from(size)),
    };
    let (mult, max) = c.backoff.map_or((0, 0), |b| (f(b.multiplier), ns(b.max)));
    [
        CONFIG_ENCODING,
        f(c.failure_rate_threshold),
        c.consecutive_failures.map_or(0, u64::from),
        u64::from(c.min_calls),
        kind,
        dur,
        n,
        ns(c.open_timeout),
        mult,
        max,
        f(c.jitter),
        u64::from(c.half_open_max_calls),
        u64::from(c.success_threshold),
        ns(c.half_open_max_wait),
        c.slow_call_duration.map_or(0, ns),
        f(c.slow_call_rate_threshold),
        ns(c.max_open_for),
        cancellation_index(c.cancellation),
    ]
}

/// A policy's index in [`Cancellation::ALL`] (its word).
fn cancellation_index(c: Cancellation) -> u64 {
    Cancellation::ALL.iter().position(|&x| x == c).unwrap_or(0) as u64
}

/// The config of words `w`, or what is wrong with them.
pub(super) fn decode(w: &[u64; CONFIG_WORDS]) -> Result<Config, String> {
    if w[0] != CONFIG_ENCODING {
        return Err(format!("unknown config encoding {}", w[0]));
    }
    let u32_of =
        |i: usize| u32::try_from(w[i]).map_err(|_| format!("{} out of range", CONFIG_FIELDS[i]));
    let window = match w[4] {
        0 => WindowConfig::Time {
            duration: Duration::from_nanos(w[5]),
            buckets: u32_of(6)?,
        },
        1 => WindowConfig::Count { size: u32_of(6)? },
        k => return Err(format!("unknown window kind {k}")),
    };
    let c = Config {
        failure_rate_threshold: f64::from_bits(w[1]),
        consecutive_failures: match u32_of(2)? {
            0 => None,
            n => Some(n),
        },
        min_calls: u32_of(3)?,
        window,
        open_timeout: Duration::from_nanos(w[7]),
        backoff: (w[8] != 0).then(|| Backoff {
            multiplier: f64::from_bits(w[8]),
            max: Duration::from_nanos(w[9]),
        }),
        jitter: f64::from_bits(w[10]),
        half_open_max_calls: u32_of(11)?,
        success_threshold: u32_of(12)?,
        half_open_max_wait: Duration::from_nanos(w[13]),
        slow_call_duration: (w[14] != 0).then(|| Duration::from_nanos(w[14])),
        slow_call_rate_threshold: f64::from_bits(w[15]),
        max_open_for: Duration::from_nanos(w[16]),
        cancellation: usize::try_from(w[17])
            .ok()
            .and_then(|i| Cancellation::ALL.get(i).copied())
            .ok_or_else(|| format!("unknown cancellation policy {}", w[17]))?,
    };
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

/// The names of the fields in which two encodings differ.
pub(super) fn differing(a: &[u64; CONFIG_WORDS], b: &[u64; CONFIG_WORDS]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for i in 0..CONFIG_WORDS {
        if a[i] != b[i] && !out.contains(&CONFIG_FIELDS[i]) {
            out.push(CONFIG_FIELDS[i]);
        }
    }
    out
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::shm::hash::{fnv1a, hash_words};

    #[test]
    fn config_encoding_round_trips() {
        let configs = [
            Config::default(),
            Config::builder()
                .count_window(50)
                .consecutive_failures(None)
                .backoff(Some(Backoff {
                    multiplier: 2.0,
                    max: Duration::from_secs(300),
                }))
                .jitter(0.25)
                .slow_call_duration(Some(Duration::from_millis(250)))
                .slow_call_rate_threshold(0.8)
                .half_open_max_calls(5)
                .success_threshold(2)
                .max_open_for(Duration::from_secs(45))
                .cancellation(Cancellation::Failure)
                .build()
                .unwrap(),
            Config::builder()
                .cancellation(Cancellation::Release)
                .build()
                .unwrap(),
        ];
        for c in configs {
            let e = encode(&c);
            assert_eq!(decode(&e).unwrap(), c);
        }
    }

    #[test]
    fn the_hash_is_stable_and_sees_every_field() {
        // FNV-1a of the empty input and of "a": the published test vectors.
        assert_eq!(fnv1a([]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
        let base = encode(&Config::default());
        let other = encode(&Config::builder().min_calls(11).build().unwrap());
        assert_ne!(hash_words(&base), hash_words(&other));
        assert_eq!(differing(&base, &other), vec!["min_calls"]);
        let both = encode(
            &Config::builder()
                .max_open_for(Duration::from_secs(60))
                .cancellation(Cancellation::Failure)
                .build()
                .unwrap(),
        );
        assert_ne!(hash_words(&base), hash_words(&both));
        assert_eq!(
            differing(&base, &both),
            vec!["max_open_for", "cancellation"]
        );
        let neg = Config {
            jitter: -0.0,
            ..Config::default()
        };
        assert_eq!(encode(&neg), base, "-0.0 and 0.0 encode alike");
    }

    #[test]
    fn bad_encodings_are_refused() {
        let mut e = encode(&Config::default());
        e[0] = 99;
        assert!(decode(&e).unwrap_err().contains("encoding"));
        let mut e = encode(&Config::default());
        e[1] = f64::NAN.to_bits();
        assert!(decode(&e).unwrap_err().contains("failure_rate_threshold"));
        let mut e = encode(&Config::default());
        e[16] = 0;
        assert!(decode(&e).unwrap_err().contains("max_open_for"));
        let mut e = encode(&Config::default());
        e[17] = 3;
        assert!(decode(&e).unwrap_err().contains("cancellation policy 3"));
        // A slot of encoding 1 (16 words, no max_open_for/cancellation).
        let mut e = encode(&Config::default());
        e[0] = 1;
        assert!(decode(&e).unwrap_err().contains("encoding 1"));
    }
}
