//! The dashboard page (`/`): plain HTML and JavaScript, no build step,
//! embedded in the binary. It lists every breaker with its state, rates,
//! rejections and a sparkline of its requests per second, polling `/breakers`
//! every second and at once on each `/events` message.

/// The page.
pub(crate) const HTML: &str = include_str!("../assets/dashboard.html");
