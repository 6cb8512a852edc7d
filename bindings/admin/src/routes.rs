//! What each request gets: a pure function of the method, the target and
//! the `Authorization` header, over the registry.

use crate::auth::{self, Refusal};
use crate::path::{decode_segment, path_of};
use fusebox::Registry;
use serde_json::json;

/// An answer, written by the server.
#[derive(Debug, PartialEq)]
pub(crate) enum Reply {
    /// A whole response.
    Full {
        status: u16,
        content_type: &'static str,
        body: String,
        /// `Allow` for 405, `WWW-Authenticate` for 401.
        header: Option<(&'static str, &'static str)>,
    },
    /// Open a `/events` stream.
    Events,
}

const JSON: &str = "application/json";
const READ: &str = "GET, HEAD";

fn full(status: u16, content_type: &'static str, body: String) -> Reply {
    Reply::Full {
        status,
        content_type,
        body,
        header: None,
    }
}

fn error(status: u16, message: &str) -> Reply {
    with_header(status, message, None)
}

fn with_header(status: u16, message: &str, header: Option<(&'static str, &'static str)>) -> Reply {
    Reply::Full {
        status,
        content_type: JSON,
        body: json!({ "error": message }).to_string() + "\n",
        header,
    }
}

fn not_allowed(allow: &'static str) -> Reply {
    let message = format!("method not allowed (allowed: {allow})");
    with_header(405, &message, Some(("Allow", allow)))
}

/// The manual controls.
const ACTIONS: [&str; 3] = ["force_open", "disable", "reset"];

/// The answer to `method target`, with the `Authorization` header's value.
pub(crate) fn route(
    registry: &Registry,
    token: Option<&str>,
    method: &str,
    target: &str,
    authorization: Option<&str>,
) -> Reply {
    let read = matches!(method, "GET" | "HEAD");
    let segments: Vec<&str> = path_of(target).split('/').skip(1).collect();
    match segments.as_slice() {
        [""] if read => full(200, "text/html; charset=utf-8", crate::page::HTML.into()),
        ["metrics"] if read => full(
            200,
            fusebox::prometheus::CONTENT_TYPE,
            fusebox::prometheus::render_registry(registry),
        ),
        ["breakers"] if read => full(
            200,
            JSON,
            crate::json::breakers(&registry.breakers()).to_string() + "\n",
        ),
        ["events"] if method == "GET" => Reply::Events,
        ["events"] if read => full(200, "text/event-stream", String::new()),
        [""] | ["metrics"] | ["breakers"] | ["events"] => not_allowed(READ),
        ["breakers", name] => match (read, decode_segment(name)) {
            (false, _) => not_allowed(READ),
            (true, None) => error(400, "bad percent-encoding in the breaker's name"),
            (true, Some(name)) => match registry.get(&name) {
                Some(b) => full(200, JSON, crate::json::breaker(&b).to_string() + "\n"),
                None => error(404, &format!("no breaker named {name:?}")),
            },
        },
        ["breakers", name, action] if ACTIONS.contains(action) => {
            if method != "POST" {
                return not_allowed("POST");
            }
            match auth::check(token, authorization) {
                Err(Refusal::Disabled) => {
                    return error(403, "manual controls are off: no token is configured")
                }
                Err(Refusal::BadToken) => {
                    let bearer = Some(("WWW-Authenticate", "Bearer"));
                    return with_header(401, "missing or wrong bearer token", bearer);
                }
                Ok(()) => {}
            }
            let Some(name) = decode_segment(name) else {
                return error(400, "bad percent-encoding in the breaker's name");
            };
            let Some(b) = registry.get(&name) else {
                return error(404, &format!("no breaker named {name:?}"));
            };
            match *action {
                "force_open" => b.force_open(),
                "disable" => b.disable(),
                _ => b.reset(),
            }
            full(200, JSON, crate::json::breaker(&b).to_string() + "\n")
        }
        _ => error(404, "not found"),
    }
}
