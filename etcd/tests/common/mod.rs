//! Shared by the tests: the etcd cluster from the environment, and child
//! node processes.
#![allow(dead_code)]

use fusebox_etcd::{EtcdCoordinator, EtcdOptions, ENDPOINTS_ENV};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The lease TTL the process tests use.
pub const TTL: Duration = Duration::from_secs(2);

/// The cluster's options, or `None` (after a loud note) when no cluster was
/// given. scripts/test.d/80-etcd.sh sets `FUSEBOX_ETCD_REQUIRED=1`, which
/// turns a missing cluster into a failure.
pub fn etcd() -> Option<EtcdOptions> {
    match EtcdOptions::from_env() {
        Some(o) => Some(o.request_timeout(Duration::from_millis(500))),
        None if std::env::var_os("FUSEBOX_ETCD_REQUIRED").is_some() => {
            panic!("{ENDPOINTS_ENV} is not set but FUSEBOX_ETCD_REQUIRED is")
        }
        None => {
            eprintln!(
                "!!! SKIPPED: {ENDPOINTS_ENV} is not set; run scripts/test.d/80-etcd.sh \
                 to test against a real etcd cluster !!!"
            );
            None
        }
    }
}

pub fn coord() -> Option<Arc<EtcdCoordinator>> {
    let o = etcd()?;
    Some(Arc::new(
        EtcdCoordinator::connect(o).expect("connect to etcd"),
    ))
}

/// A name no other test run uses (elections, keys).
pub fn unique(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!(
        "{what}-{}-{t}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A child `fusebox-etcd-node` and the lines it prints.
pub struct Node {
    pub name: String,
    child: Child,
    lines: Receiver<(Instant, String)>,
    pub seen: Vec<(Instant, String)>,
}

impl Node {
    pub fn spawn(mode: &str, name: &str, args: &[&str]) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fusebox-etcd-node"))
            .arg(mode)
            .args(["--name", name])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn fusebox-etcd-node");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let tag = name.to_string();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                eprintln!("[{tag}] {l}");
                if tx.send((Instant::now(), l)).is_err() {
                    break;
                }
            }
        });
        Node {
            name: name.to_string(),
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// The first line (not seen before) starting with `prefix`, within `wait`.
    pub fn expect(&mut self, prefix: &str, wait: Duration) -> (Instant, String) {
        match self.wait_for(prefix, wait) {
            Some(l) => l,
            None => panic!(
                "{}: no {prefix:?} line within {wait:?}; lines: {:?}",
                self.name,
                self.seen.iter().map(|(_, l)| l).collect::<Vec<_>>()
            ),
        }
    }

    /// Like `expect`, `None` on timeout.
    pub fn wait_for(&mut self, prefix: &str, wait: Duration) -> Option<(Instant, String)> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.1.starts_with(prefix) {
                        return Some(l);
                    }
                }
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                    std::thread::sleep(left.min(Duration::from_millis(50)));
                }
            }
        }
    }

    /// Collect what it printed during `d`.
    pub fn drain(&mut self, d: Duration) -> Vec<String> {
        let start = self.seen.len();
        let _ = self.wait_for("\u{0}never", d);
        self.seen[start..].iter().map(|(_, l)| l.clone()).collect()
    }

    /// SIGKILL: a crash, nothing released.
    pub fn kill(&mut self) -> Instant {
        let _ = self.child.kill();
        let at = Instant::now();
        let _ = self.child.wait();
        at
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number after `key=` in a line.
pub fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

/// Two free loopback ports.
pub fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}
