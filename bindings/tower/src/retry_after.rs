//! The `Retry-After` header (RFC 9110 §10.2.3): seconds, or an HTTP-date.

use http::HeaderValue;
use std::time::{Duration, SystemTime};

/// How long a `Retry-After` value asks the client to wait, from `now` (the
/// wall clock, for an HTTP-date). `None` for a value that is neither a
/// number of seconds nor an HTTP-date, and for a wait of zero (a date in
/// the past, `0`): nothing to wait for. Not capped here: the breaker caps
/// it at its config's `max_open_for` ([`fusebox::Breaker::open_for`]).
///
/// ```rust
/// use fusebox_tower::retry_after;
/// use http::HeaderValue;
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
///
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
/// assert_eq!(retry_after(&HeaderValue::from_static("120"), now), Some(Duration::from_secs(120)));
/// let date = HeaderValue::from_static("Sun, 06 Nov 1994 08:50:07 GMT");
/// assert_eq!(retry_after(&date, now), Some(Duration::from_secs(30)));
/// assert_eq!(retry_after(&HeaderValue::from_static("soon"), now), None);
/// ```
pub fn retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let s = value.to_str().ok()?.trim();
    let wait = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        // Digits only (no sign, no fraction); too many for u64 is bad input.
        Duration::from_secs(s.parse::<u64>().ok()?)
    } else {
        httpdate::parse_http_date(s)
            .ok()?
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
    };
    (!wait.is_zero()).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(v: &str, now_secs: u64) -> Option<Duration> {
        retry_after(
            &HeaderValue::from_str(v).unwrap(),
            UNIX_EPOCH + Duration::from_secs(now_secs),
        )
    }

    #[test]
    fn seconds_are_read_as_seconds() {
        assert_eq!(at("1", 0), Some(Duration::from_secs(1)));
        assert_eq!(at(" 90 ", 0), Some(Duration::from_secs(90)));
        assert_eq!(
            at("18446744073709551615", 0),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn dates_are_read_from_now_in_every_rfc_format() {
        let now = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
        for v in [
            "Sun, 06 Nov 1994 08:50:37 GMT",
            "Sunday, 06-Nov-94 08:50:37 GMT",
            "Sun Nov  6 08:50:37 1994",
        ] {
            assert_eq!(at(v, now), Some(Duration::from_secs(60)), "{v}");
        }
    }

    #[test]
    fn bad_values_are_ignored() {
        for v in [
            "",
            "soon",
            "-5",
            "+5",
            "1.5",
            "5s",
            "0x10",
            "1e3",
            "18446744073709551616", // one past u64::MAX
            "Sun, 32 Nov 1994 08:50:37 GMT",
            "06 Nov 1994",
        ] {
            assert_eq!(at(v, 0), None, "{v:?}");
        }
        let not_utf8 = HeaderValue::from_bytes(b"\xff1").unwrap();
        assert_eq!(retry_after(&not_utf8, UNIX_EPOCH), None);
    }

    #[test]
    fn a_wait_of_zero_or_in_the_past_is_none() {
        assert_eq!(at("0", 0), None);
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777), None);
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_999), None);
    }

    #[test]
    fn the_breaker_caps_a_long_wait_at_max_open_for() {
        use fusebox::{Breaker, Config, ManualClock};
        use std::sync::Arc;
        let b = Breaker::with_clock(
            Config::builder()
                .max_open_for(Duration::from_secs(300))
                .build()
                .unwrap(),
            Arc::new(ManualClock::new()),
        )
        .unwrap();
        let asked = at("86400", 0).unwrap();
        assert!(b.open_for(asked));
        let r = b.try_acquire().unwrap_err();
        assert_eq!(r.retry_after, Some(Duration::from_secs(300)));
    }
}
