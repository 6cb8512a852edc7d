//! The HTTP meaning of failure, for the tower layers and the reqwest
//! middleware alike (`docs/semantics.md#http-classification`).

use crate::classify::{Classify, Verdict};
use crate::retry_after::retry_after;
use http::{HeaderMap, StatusCode, header::RETRY_AFTER};
use std::time::SystemTime;

/// The verdict on an HTTP response, from its status and headers:
///
/// * 5xx: a failure;
/// * 429 Too Many Requests: ignored (it says "you, slow down", not "I am
///   broken"), unless it carries a `Retry-After`;
/// * 429 or 503 with a valid `Retry-After` (seconds or HTTP-date, from
///   `now`): also open the breaker for that long (capped by the config's
///   `max_open_for`);
/// * other 4xx: ignored (the request's fault);
/// * 1xx, 2xx, 3xx: a success.
///
/// ```rust
/// use fusebox::Outcome;
/// use fusebox_tower::{classify_status, Verdict};
/// use http::{HeaderMap, HeaderValue, StatusCode};
/// use std::time::{Duration, SystemTime};
///
/// let none = HeaderMap::new();
/// let now = SystemTime::now();
/// assert_eq!(classify_status(StatusCode::OK, &none, now), Verdict::success());
/// assert_eq!(classify_status(StatusCode::NOT_FOUND, &none, now), Verdict::ignored());
/// assert_eq!(classify_status(StatusCode::BAD_GATEWAY, &none, now), Verdict::failure());
///
/// let mut pause = HeaderMap::new();
/// pause.insert("retry-after", HeaderValue::from_static("30"));
/// let v = classify_status(StatusCode::SERVICE_UNAVAILABLE, &pause, now);
/// assert_eq!((v.outcome, v.open_for), (Outcome::Failure, Some(Duration::from_secs(30))));
/// let v = classify_status(StatusCode::TOO_MANY_REQUESTS, &pause, now);
/// assert_eq!((v.outcome, v.open_for), (Outcome::Ignored, Some(Duration::from_secs(30))));
/// ```
pub fn classify_status(status: StatusCode, headers: &HeaderMap, now: SystemTime) -> Verdict {
    let verdict = if status.is_server_error() {
        Verdict::failure()
    } else if status.is_client_error() {
        Verdict::ignored()
    } else {
        Verdict::success()
    };
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        if let Some(d) = headers.get(RETRY_AFTER).and_then(|v| retry_after(v, now)) {
            return verdict.open_for(d);
        }
    }
    verdict
}

/// The classifier of `http::Response`s: [`classify_status`] on a response
/// (the wall clock for an HTTP-date), and any error of the inner service
/// (connection refused, reset, a timeout layer's error) a failure.
///
/// ```rust
/// use fusebox_tower::{Classify, HttpClassifier, Verdict};
///
/// let r = http::Response::builder().status(500).body(()).unwrap();
/// assert_eq!(HttpClassifier.classify(&Ok::<_, std::io::Error>(r)), Verdict::failure());
/// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// assert_eq!(HttpClassifier.classify(&Err::<http::Response<()>, _>(refused)), Verdict::failure());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpClassifier;

impl<B, E> Classify<http::Response<B>, E> for HttpClassifier {
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Verdict {
        match result {
            Ok(r) => classify_status(r.status(), r.headers(), SystemTime::now()),
            Err(_) => Verdict::failure(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusebox::Outcome;
    use http::HeaderValue;
    use std::time::Duration;

    fn with_retry_after(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn every_status_class_has_its_outcome() {
        let none = HeaderMap::new();
        let now = SystemTime::now();
        for (code, want) in [
            (100, Outcome::Success),
            (204, Outcome::Success),
            (304, Outcome::Success),
            (400, Outcome::Ignored),
            (404, Outcome::Ignored),
            (429, Outcome::Ignored),
            (499, Outcome::Ignored),
            (500, Outcome::Failure),
            (503, Outcome::Failure),
            (599, Outcome::Failure),
        ] {
            let v = classify_status(StatusCode::from_u16(code).unwrap(), &none, now);
            assert_eq!(v, Verdict::from(want), "{code}");
        }
    }

    #[test]
    fn retry_after_counts_only_on_429_and_503() {
        let h = with_retry_after("7");
        let now = SystemTime::now();
        let seven = Some(Duration::from_secs(7));
        assert_eq!(
            classify_status(StatusCode::TOO_MANY_REQUESTS, &h, now).open_for,
            seven
        );
        assert_eq!(
            classify_status(StatusCode::SERVICE_UNAVAILABLE, &h, now).open_for,
            seven
        );
        for code in [200, 301, 404, 500, 502, 504] {
            let v = classify_status(StatusCode::from_u16(code).unwrap(), &h, now);
            assert_eq!(v.open_for, None, "{code}");
        }
        let bad = with_retry_after("later");
        assert_eq!(
            classify_status(StatusCode::SERVICE_UNAVAILABLE, &bad, now),
            Verdict::failure()
        );
    }
}
