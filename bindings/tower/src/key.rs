//! Which breaker a request goes to: its key.

use std::borrow::Cow;

/// The key of a request's breaker in a [`crate::KeyedCircuitBreakerLayer`];
/// `None` sends the request through unguarded. A closure
/// `Fn(&Req) -> Option<String>` is one.
///
/// ```rust
/// use fusebox_tower::KeyOf;
///
/// let by_tenant = |r: &http::Request<()>| {
///     r.headers().get("x-tenant").and_then(|v| v.to_str().ok()).map(str::to_owned)
/// };
/// let req = http::Request::builder().header("x-tenant", "acme").body(()).unwrap();
/// assert_eq!(by_tenant.key(&req).as_deref(), Some("acme"));
/// ```
pub trait KeyOf<Req> {
    /// The key of `req`.
    fn key<'r>(&self, req: &'r Req) -> Option<Cow<'r, str>>;
}

impl<Req, F> KeyOf<Req> for F
where
    F: Fn(&Req) -> Option<String>,
{
    fn key<'r>(&self, req: &'r Req) -> Option<Cow<'r, str>> {
        self(req).map(Cow::Owned)
    }
}

/// The default key of an `http::Request`: the URI's authority (`host` or
/// `host:port`, as a client's request carries it), else the `Host` header
/// (as a server's request carries it). Borrowed: no allocation.
///
/// ```rust
/// use fusebox_tower::{HostKey, KeyOf};
///
/// let out = http::Request::get("http://api.example:8080/users").body(()).unwrap();
/// assert_eq!(HostKey.key(&out).as_deref(), Some("api.example:8080"));
/// let inbound = http::Request::get("/users").header("host", "shop.example").body(()).unwrap();
/// assert_eq!(HostKey.key(&inbound).as_deref(), Some("shop.example"));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HostKey;

impl<B> KeyOf<http::Request<B>> for HostKey {
    #[inline]
    fn key<'r>(&self, req: &'r http::Request<B>) -> Option<Cow<'r, str>> {
        if let Some(a) = req.uri().authority() {
            return Some(Cow::Borrowed(a.as_str()));
        }
        req.headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(Cow::Borrowed)
    }
}
