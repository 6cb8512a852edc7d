//! The server: [`WORKERS`] threads take requests and answer them from
//! [`crate::routes`] (a client that stops reading a large answer holds one
//! of them, not the endpoint); each `/events` stream gets a thread of its
//! own.

use crate::routes::{route, Reply};
use crate::stream::{self, Hub};
use crate::AdminConfig;
use fusebox::Registry;
use std::net::SocketAddr;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use tiny_http::{Header, Request, Response, Server};

/// Threads answering requests.
const WORKERS: usize = 4;

/// Why [`serve`] could not start.
///
/// ```rust
/// use fusebox_admin::{serve, AdminConfig};
/// use fusebox::Registry;
/// use std::sync::Arc;
///
/// let registry = Arc::new(Registry::default());
/// let first = serve(registry.clone(), AdminConfig::loopback(0))?;
/// let taken = AdminConfig::loopback(first.addr().port());
/// let err = serve(registry, taken).unwrap_err();
/// assert!(err.to_string().starts_with("cannot listen on 127.0.0.1:"));
/// # Ok::<(), fusebox_admin::AdminError>(())
/// ```
#[derive(Debug)]
pub struct AdminError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// What the system said.
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot listen on {}: {}", self.addr, self.source)
    }
}

impl std::error::Error for AdminError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// A running admin endpoint. Dropping it (or [`AdminHandle::stop`]) stops
/// the server, closes every `/events` stream and frees its port: it can be
/// bound again as soon as `stop` returns.
pub struct AdminHandle {
    addr: SocketAddr,
    server: Arc<Server>,
    stopping: Arc<AtomicBool>,
    hub: Arc<Hub>,
    workers: Vec<JoinHandle<()>>,
    /// A clone of the listening socket, to close it on stop.
    listener: Option<std::net::TcpListener>,
    /// Removes this server's state-change listener from the registry.
    unsubscribe: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl std::fmt::Debug for AdminHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

impl AdminHandle {
    /// The address it listens on (the port chosen when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/`, the dashboard page.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stop serving and wait for the server's threads (example on [`serve`]).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.hub.close();
        for _ in &self.workers {
            self.server.unblock(); // wakes one recv() each
        }
        for t in self.workers.drain(..) {
            let _ = t.join();
        }
        if let Some(l) = self.listener.take() {
            crate::listener::close(l);
        }
        if let Some(unsubscribe) = self.unsubscribe.take() {
            unsubscribe();
        }
    }
}

impl Drop for AdminHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Serve `registry` on `config.addr`: `/` (the dashboard page),
/// `/metrics` (Prometheus text), `/breakers` and `/breakers/{name}` (JSON),
/// `/events` (server-sent events, one per state change), and with a token
/// `POST /breakers/{name}/force_open|disable|reset`.
///
/// `registry` is an `Arc<Registry>` or `&'static Registry`
/// ([`Registry::global`]). Each call subscribes one listener to the
/// registry's state changes, removed when the handle is stopped.
///
/// ```rust
/// use fusebox_admin::{serve, AdminConfig};
/// use fusebox::Registry;
/// use std::io::{Read, Write};
/// use std::net::TcpStream;
/// use std::sync::Arc;
///
/// let registry = Arc::new(Registry::default());
/// registry.get_or_create("db")?.force_open();
/// let admin = serve(registry, AdminConfig::loopback(0))?;
///
/// let mut conn = TcpStream::connect(admin.addr())?;
/// conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
/// let mut answer = String::new();
/// conn.read_to_string(&mut answer)?;
/// assert!(answer.starts_with("HTTP/1.1 200"));
/// assert!(answer.contains("fusebox_state{breaker=\"db\",state=\"open\"} 1\n"));
/// admin.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn serve<R>(registry: R, config: AdminConfig) -> Result<AdminHandle, AdminError>
where
    R: Deref<Target = Registry> + Send + Sync + 'static,
{
    let mut clone = None;
    let server = crate::listener::bind(config.addr)
        .and_then(|l| {
            clone = Some(l.try_clone()?);
            Ok(l)
        })
        .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })
        .and_then(|l| Server::from_listener(l, None))
        .map_err(|source| AdminError {
            addr: config.addr,
            source,
        })?;
    let addr = server.server_addr().to_ip().unwrap_or(config.addr);
    let server = Arc::new(server);
    let stopping = Arc::new(AtomicBool::new(false));
    let hub = Arc::new(Hub::new(config.max_streams));

    let weak = Arc::downgrade(&hub);
    let listener = registry.on_state_change(move |t| {
        if let Some(hub) = weak.upgrade() {
            hub.publish(&crate::json::transition(t).to_string());
        }
    });

    let registry = Arc::new(registry);
    let owner = registry.clone();
    let token: Arc<Option<String>> = Arc::new(config.token);
    let mut handle = AdminHandle {
        addr,
        server,
        stopping,
        hub,
        workers: Vec::with_capacity(WORKERS),
        listener: clone,
        unsubscribe: Some(Box::new(move || {
            owner.remove_listener(listener);
        })),
    };
    for _ in 0..WORKERS {
        let (server, stopping) = (handle.server.clone(), handle.stopping.clone());
        let (hub, registry, token) = (handle.hub.clone(), registry.clone(), token.clone());
        let worker = std::thread::Builder::new()
            .name("fusebox-admin".into())
            .spawn(move || {
                while !stopping.load(Ordering::SeqCst) {
                    if let Ok(request) = server.recv() {
                        answer(&registry, token.as_deref(), &hub, request);
                    }
                }
            })
            // On an error, dropping `handle` stops the workers started.
            .map_err(|e| AdminError {
                addr,
                source: Box::new(e),
            })?;
        handle.workers.push(worker);
    }
    Ok(handle)
}

/// Answer one request; a panic while routing is a 500, never the end of
/// the server.
fn answer(registry: &Registry, token: Option<&str>, hub: &Arc<Hub>, request: Request) {
    let authorization = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_owned());
    let reply = catch_unwind(AssertUnwindSafe(|| {
        route(
            registry,
            token,
            request.method().as_str(),
            request.url(),
            authorization.as_deref(),
        )
    }))
    .unwrap_or_else(|_| Reply::Full {
        status: 500,
        content_type: "application/json",
        body: "{\"error\":\"internal error\"}\n".into(),
        header: None,
    });
    match reply {
        Reply::Full {
            status,
            content_type,
            body,
            header,
        } => {
            let mut response = Response::from_string(body)
                .with_status_code(status)
                .with_header(header_of("Content-Type", content_type));
            if let Some((k, v)) = header {
                response.add_header(header_of(k, v));
            }
            let _ = request.respond(response);
        }
        Reply::Events => match hub.subscribe() {
            Some(queue) => {
                let out = request.into_writer();
                let _ = std::thread::Builder::new()
                    .name("fusebox-admin-events".into())
                    .spawn(move || stream::run(out, queue));
            }
            None => {
                let busy = Response::from_string("{\"error\":\"too many event streams\"}\n")
                    .with_status_code(503)
                    .with_header(header_of("Content-Type", "application/json"));
                let _ = request.respond(busy);
            }
        },
    }
}

/// A header from static ASCII (every one this crate writes).
fn header_of(field: &'static str, value: &'static str) -> Header {
    Header::from_bytes(field.as_bytes(), value.as_bytes())
        .unwrap_or_else(|()| unreachable!("static ASCII header {field}: {value}"))
}
