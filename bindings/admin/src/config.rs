//! Where the admin endpoint listens and who may use its controls.

use std::net::{Ipv4Addr, SocketAddr};

/// The port [`AdminConfig::default`] listens on.
pub const DEFAULT_PORT: u16 = 9464;

/// How [`crate::serve`] runs.
///
/// ```rust
/// use fusebox_admin::AdminConfig;
///
/// let defaults = AdminConfig::default();
/// assert_eq!(defaults.addr.to_string(), "127.0.0.1:9464"); // loopback only
/// assert_eq!(defaults.token, None); // manual controls refused (403)
///
/// // Any free port on loopback, with the controls behind a bearer token:
/// let tests = AdminConfig::loopback(0).with_token("s3cret");
/// assert_eq!(tests.addr.port(), 0);
/// assert_eq!(tests.token.as_deref(), Some("s3cret"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminConfig {
    /// The address to listen on. Port 0 picks a free port
    /// ([`crate::AdminHandle::addr`] says which).
    pub addr: SocketAddr,
    /// The bearer token `POST /breakers/{name}/{action}` needs; `None`
    /// refuses every control with 403.
    pub token: Option<String>,
    /// The most `/events` streams open at once; more are answered 503.
    pub max_streams: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig::loopback(DEFAULT_PORT)
    }
}

impl AdminConfig {
    /// Listen on 127.0.0.1:`port`, no token (example on [`AdminConfig`]).
    pub fn loopback(port: u16) -> AdminConfig {
        AdminConfig {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            token: None,
            max_streams: 64,
        }
    }

    /// The same config with the controls open to `token` (example on
    /// [`AdminConfig`]).
    pub fn with_token(mut self, token: impl Into<String>) -> AdminConfig {
        self.token = Some(token.into());
        self
    }
}
