//! gRPC status codes as breaker outcomes, without a gRPC stack: the codes
//! are the numbers of the gRPC spec, read from a `grpc-status` header (a
//! trailers-only response) or handed over by the caller.

use crate::classify::{Classify, Verdict};
use fusebox::Outcome;

/// `UNAVAILABLE` (14): the server is down or overloaded.
pub const UNAVAILABLE: i32 = 14;
/// `DEADLINE_EXCEEDED` (4): the call ran out of time.
pub const DEADLINE_EXCEEDED: i32 = 4;
/// `RESOURCE_EXHAUSTED` (8): a quota or the server's capacity ran out.
pub const RESOURCE_EXHAUSTED: i32 = 8;

/// The outcome of a gRPC status code: `UNAVAILABLE`, `DEADLINE_EXCEEDED`
/// and `RESOURCE_EXHAUSTED` are failures; `OK` (0) a success; every other
/// code (`NOT_FOUND`, `INVALID_ARGUMENT`, `PERMISSION_DENIED`, ... and
/// codes unknown to the spec) ignored: the request's fault, or the
/// application's answer, not the server's health.
///
/// ```rust
/// use fusebox::Outcome;
/// use fusebox_tower::grpc::{grpc_outcome, UNAVAILABLE};
///
/// assert_eq!(grpc_outcome(0), Outcome::Success);
/// assert_eq!(grpc_outcome(UNAVAILABLE), Outcome::Failure);
/// assert_eq!(grpc_outcome(5), Outcome::Ignored); // NOT_FOUND
/// ```
pub fn grpc_outcome(code: i32) -> Outcome {
    match code {
        0 => Outcome::Success,
        UNAVAILABLE | DEADLINE_EXCEEDED | RESOURCE_EXHAUSTED => Outcome::Failure,
        _ => Outcome::Ignored,
    }
}

/// The classifier of gRPC calls over `http::Response`s: the
/// `grpc-status` header when the response carries it (a trailers-only
/// response: how servers send an error before any message), else the HTTP
/// status ([`crate::HttpClassifier`]'s rule, without `Retry-After`: a
/// 200 whose status comes in the trailers counts as a success). An inner
/// error (transport) is a failure.
///
/// ```rust
/// use fusebox_tower::{grpc::GrpcClassifier, Classify, Verdict};
///
/// let unavailable = http::Response::builder()
///     .status(200)
///     .header("grpc-status", "14")
///     .body(())
///     .unwrap();
/// assert_eq!(GrpcClassifier.classify(&Ok::<_, ()>(unavailable)), Verdict::failure());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcClassifier;

impl<B, E> Classify<http::Response<B>, E> for GrpcClassifier {
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Verdict {
        let r = match result {
            Ok(r) => r,
            Err(_) => return Verdict::failure(),
        };
        let code = r
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<i32>().ok());
        match code {
            Some(c) => grpc_outcome(c).into(),
            None if r.status().is_server_error() => Verdict::failure(),
            None if r.status().is_client_error() => Verdict::ignored(),
            None => Verdict::success(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_of_the_spec_has_its_outcome() {
        // 0..=16: OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED,
        // NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED,
        // FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, UNIMPLEMENTED, INTERNAL,
        // UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED.
        let failures = [4, 8, 14];
        for code in 0..=16 {
            let want = match code {
                0 => Outcome::Success,
                c if failures.contains(&c) => Outcome::Failure,
                _ => Outcome::Ignored,
            };
            assert_eq!(grpc_outcome(code), want, "{code}");
        }
        assert_eq!(grpc_outcome(-1), Outcome::Ignored);
        assert_eq!(grpc_outcome(99), Outcome::Ignored);
    }

    fn response(status: u16, grpc: Option<&str>) -> Result<http::Response<()>, ()> {
        let mut b = http::Response::builder().status(status);
        if let Some(g) = grpc {
            b = b.header("grpc-status", g);
        }
        Ok(b.body(()).unwrap())
    }

    #[test]
    fn the_header_decides_else_the_http_status() {
        let c = GrpcClassifier;
        assert_eq!(c.classify(&response(200, Some("0"))), Verdict::success());
        assert_eq!(c.classify(&response(200, Some("4"))), Verdict::failure());
        assert_eq!(c.classify(&response(200, Some("8"))), Verdict::failure());
        assert_eq!(c.classify(&response(200, Some(" 14 "))), Verdict::failure());
        assert_eq!(c.classify(&response(200, Some("3"))), Verdict::ignored());
        assert_eq!(
            c.classify(&response(200, Some("bogus"))),
            Verdict::success()
        );
        assert_eq!(c.classify(&response(200, None)), Verdict::success());
        assert_eq!(c.classify(&response(503, None)), Verdict::failure());
        assert_eq!(c.classify(&response(404, None)), Verdict::ignored());
        assert_eq!(
            c.classify(&Err::<http::Response<()>, ()>(())),
            Verdict::failure()
        );
    }
}
