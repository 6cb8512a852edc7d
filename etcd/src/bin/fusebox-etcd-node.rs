//! A node process for the cross-host tests and the failover measurement.
//!
//! ```text
//! fusebox-etcd-node candidate --name a --election db [--ttl-ms 2000] [--margin-ms 500]
//!     [--every-ms TTL/4] [--data-key KEY]
//! fusebox-etcd-node pair --name a --election db --hosts a=127.0.0.1:7001,b=127.0.0.1:7002
//!     [--stabilization-ms 3000] [--ttl-ms ...]
//! fusebox-etcd-node measure [--runs 10] [--ttl-ms 2000] [--margin-ms 500]
//! ```
//!
//! etcd endpoints come from `FUSEBOX_ETCD_ENDPOINTS`. A node prints one line
//! per event on stdout (`ready`, `activated token=N`, `stepped_down token=N
//! reason=R`, `handed_over token=N`, `failover from=A to=B`, `failback
//! from=B to=A`, `wrote token=N rev=R`, `write_refused token=N`, `error
//! during=D: ...`, `recovered`) until it is killed.
//!
//! `candidate`: stands in the election for as long as it lives; on becoming
//! primary it writes `name token` to `--data-key` through a fenced write.
//!
//! `pair`: one host of an active-passive pair. It serves a TCP port (its
//! "service"), health-checks every host's port through a failover group
//! (the first host is the primary), and stands in the election exactly
//! while its group routes to it: failover when the other host dies,
//! failback after the stabilisation period.
//!
//! `measure`: runs two `candidate` processes `--runs` times, kills the
//! leader with SIGKILL, and prints how long the other took to become
//! primary (leader killed → `activated` read), then the median and max.

use fusebox::coordination::{CoordError, Coordinator};
use fusebox::failover::{Candidate, Endpoint, FailoverGroup, FailoverKind, Mode, RoleChange};
use fusebox::Config;
use fusebox_etcd::{Elector, ElectorEvent, EtcdCoordinator, EtcdOptions, ENDPOINTS_ENV};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

struct Args(HashMap<String, String>);

impl Args {
    fn parse(raw: &[String]) -> Result<Args, String> {
        let mut m = HashMap::new();
        let mut it = raw.iter();
        while let Some(k) = it.next() {
            let Some(name) = k.strip_prefix("--") else {
                return Err(format!("unexpected argument {k:?}"));
            };
            let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            m.insert(name.to_string(), v.clone());
        }
        Ok(Args(m))
    }
    fn str(&self, k: &str) -> Result<String, String> {
        self.0
            .get(k)
            .cloned()
            .ok_or_else(|| format!("--{k} is required"))
    }
    fn ms(&self, k: &str, default: u64) -> Result<Duration, String> {
        match self.0.get(k) {
            None => Ok(Duration::from_millis(default)),
            Some(v) => v
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("--{k}: {v:?} is not a number of milliseconds")),
        }
    }
}

struct Timing {
    ttl: Duration,
    margin: Duration,
    every: Duration,
}

impl Timing {
    fn from(a: &Args) -> Result<Timing, String> {
        let ttl = a.ms("ttl-ms", 2000)?;
        let margin = a.ms("margin-ms", ttl.as_millis() as u64 / 4)?;
        let every = a.ms("every-ms", ttl.as_millis() as u64 / 4)?;
        if ttl < Duration::from_secs(1) || margin >= ttl || every.is_zero() {
            return Err("need --ttl-ms >= 1000, --margin-ms < ttl, --every-ms > 0".into());
        }
        Ok(Timing { ttl, margin, every })
    }
}

fn coordinator(t: &Timing) -> Result<Arc<EtcdCoordinator>, String> {
    let opts = EtcdOptions::from_env().ok_or_else(|| format!("{ENDPOINTS_ENV} is not set"))?;
    // A renewal that takes longer than this has failed; two may fail in a
    // row before the term runs out locally.
    let opts = opts.request_timeout(t.every.min(Duration::from_secs(1)));
    EtcdCoordinator::connect(opts)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

fn print_event(e: &ElectorEvent) {
    match e {
        ElectorEvent::Role(r) => match &r.change {
            RoleChange::Activated(t) => say(&format!("activated token={}", t.get())),
            RoleChange::SteppedDown(t, why) => say(&format!(
                "stepped_down token={} reason={}",
                t.get(),
                why.as_str()
            )),
        },
        ElectorEvent::Error { during, error } => say(&format!("error during={during}: {error}")),
        ElectorEvent::Recovered => say("recovered"),
        ElectorEvent::HandedOver { token } => say(&format!("handed_over token={}", token.get())),
        other => say(&format!("event {other}")),
    }
}

fn candidate(
    a: &Args,
    t: &Timing,
    coord: Arc<EtcdCoordinator>,
) -> Result<Arc<Candidate<Arc<EtcdCoordinator>>>, String> {
    let name = a.str("name")?;
    let election = a.str("election")?;
    Ok(Arc::new(
        Candidate::new(&name, &election, coord)
            .ttl(t.ttl)
            .margin(t.margin)
            // Wait in line for a whole period: take over the moment the
            // leader key goes.
            .campaign_wait(t.every),
    ))
}

fn run_candidate(a: &Args) -> Result<(), String> {
    let t = Timing::from(a)?;
    let coord = coordinator(&t)?;
    let cand = candidate(a, &t, coord.clone())?;
    let data_key = a.0.get("data-key").cloned();
    let name = a.str("name")?;
    let c2 = cand.clone();
    let _elector = Elector::builder(cand.clone())
        .every(t.every)
        .on_event(move |e| {
            print_event(e);
            if let (ElectorEvent::Role(r), Some(key)) = (e, &data_key) {
                if let RoleChange::Activated(tok) = r.change {
                    // The term's first write, fenced by etcd on the token.
                    let Some(l) = c2.leadership() else { return };
                    match coord.put_fenced(&l, key, &format!("{name} {}", tok.get())) {
                        Ok(rev) => say(&format!("wrote token={} rev={rev}", tok.get())),
                        Err(CoordError::NotLeader) => {
                            say(&format!("write_refused token={}", tok.get()))
                        }
                        Err(e) => say(&format!("error during=write: {e}")),
                    }
                }
            }
        })
        .spawn()
        .map_err(|e| e.to_string())?;
    say("ready");
    loop {
        std::thread::park();
    }
}

fn run_pair(a: &Args) -> Result<(), String> {
    let t = Timing::from(a)?;
    let name = a.str("name")?;
    let stabilization = a.ms("stabilization-ms", 3000)?;
    let hosts: Vec<(String, SocketAddr)> = a
        .str("hosts")?
        .split(',')
        .map(|h| {
            let (n, addr) = h
                .split_once('=')
                .ok_or_else(|| format!("--hosts: {h:?} is not name=addr"))?;
            let addr = addr
                .parse()
                .map_err(|_| format!("--hosts: {addr:?} is not host:port"))?;
            Ok((n.to_string(), addr))
        })
        .collect::<Result<_, String>>()?;
    let me = hosts
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| format!("--name {name:?} is not in --hosts"))?
        .1;
    // This host's service: answering on its port is being healthy.
    let listener = TcpListener::bind(me).map_err(|e| format!("bind {me}: {e}"))?;
    std::thread::spawn(move || {
        for s in listener.incoming() {
            drop(s);
        }
    });
    let breaker = Config::builder()
        .consecutive_failures(Some(2))
        .open_timeout(Duration::from_millis(300))
        .half_open_max_calls(1)
        .success_threshold(1)
        .build()
        .map_err(|e| e.to_string())?;
    let mut b = FailoverGroup::builder(&a.str("election")?)
        .mode(Mode::ActivePassive)
        .breaker_config(breaker)
        .stabilization(stabilization);
    for (n, addr) in &hosts {
        b = b.endpoint(Endpoint::new(n, *addr).health_check(|addr: &SocketAddr| {
            TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok()
        }));
    }
    let group = Arc::new(b.build().map_err(|e| e.to_string())?);
    group.on_event(|e| match &e.kind {
        FailoverKind::Failover { from, to } => say(&format!("failover from={from} to={to}")),
        FailoverKind::Failback { from, to } => say(&format!("failback from={from} to={to}")),
        _ => {}
    });
    let _checks = group.spawn_health_checks(Duration::from_millis(100));
    let coord = coordinator(&t)?;
    let cand = candidate(a, &t, coord)?;
    let _elector = Elector::builder(cand)
        .every(t.every)
        .follow_group(group, &name)
        .map_err(|e| e.to_string())?
        .on_event(print_event)
        .spawn()
        .map_err(|e| e.to_string())?;
    say("ready");
    loop {
        std::thread::park();
    }
}

/// A child node and the lines it prints, each with the time it was read.
struct Node {
    child: Child,
    lines: Receiver<(Instant, String)>,
}

impl Node {
    fn spawn(args: &[&str]) -> Result<Node, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn a node: {e}"))?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send((Instant::now(), l)).is_err() {
                    break;
                }
            }
        });
        Ok(Node { child, lines: rx })
    }

    /// The first line starting with `prefix` within `wait`.
    fn expect(&self, prefix: &str, wait: Duration) -> Result<(Instant, String), String> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, l)) if l.starts_with(prefix) => return Ok((at, l)),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("no {prefix:?} line within {wait:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("the node exited before printing {prefix:?}"))
                }
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token_of(line: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("token="))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

fn run_measure(a: &Args) -> Result<(), String> {
    let t = Timing::from(a)?;
    let runs: usize = a.0.get("runs").map_or(Ok(10), |v| {
        v.parse().map_err(|_| "--runs: not a number".to_string())
    })?;
    let (ttl, margin, every) = (
        t.ttl.as_millis().to_string(),
        t.margin.as_millis().to_string(),
        t.every.as_millis().to_string(),
    );
    let stamp = std::process::id();
    let coord = coordinator(&t)?;
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let election = format!("measure-{stamp}-{run}");
        let spawn = |name: &str| {
            Node::spawn(&[
                "candidate",
                "--name",
                name,
                "--election",
                &election,
                "--ttl-ms",
                &ttl,
                "--margin-ms",
                &margin,
                "--every-ms",
                &every,
            ])
        };
        let first = spawn("a")?;
        let (_, l1) = first.expect("activated", t.ttl * 5)?;
        let second = spawn("b")?;
        second.expect("ready", t.ttl * 5)?;
        // Let the standby settle in line.
        std::thread::sleep(t.every * 2);
        let mut first = first;
        // Watch etcd too, to tell the lease's expiry from the takeover.
        let (c, e, old) = (coord.clone(), election.clone(), token_of(&l1));
        let wait = t.ttl * 5;
        let watcher = std::thread::spawn(move || c.observe(&e, old, wait).map(|_| Instant::now()));
        std::thread::sleep(Duration::from_millis(50));
        let killed = Instant::now();
        let _ = first.child.kill();
        let (at, l2) = second.expect("activated", t.ttl * 5)?;
        let took = at.duration_since(killed);
        let gone = match watcher.join() {
            Ok(Ok(g)) => format!("{} ms", g.saturating_duration_since(killed).as_millis()),
            Ok(Err(e)) => format!("? ({e})"),
            Err(_) => "?".into(),
        };
        if token_of(&l2) <= token_of(&l1) {
            return Err(format!("token did not grow: {l1} then {l2}"));
        }
        say(&format!(
            "run {}: failover in {} ms (old leader key gone from etcd after {gone}; tokens {} -> {})",
            run + 1,
            took.as_millis(),
            token_of(&l1),
            token_of(&l2)
        ));
        times.push(took);
    }
    times.sort();
    let median = if times.len() % 2 == 1 {
        times[times.len() / 2]
    } else {
        (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2
    };
    say(&format!(
        "failover over {runs} runs: median {} ms, max {} ms, min {} ms \
         (lease TTL {} ms, margin {} ms, renewal every {} ms)",
        median.as_millis(),
        times.last().map_or(0, |d| d.as_millis()),
        times.first().map_or(0, |d| d.as_millis()),
        t.ttl.as_millis(),
        t.margin.as_millis(),
        t.every.as_millis()
    ));
    Ok(())
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some((mode, rest)) = raw.split_first() else {
        eprintln!("usage: fusebox-etcd-node candidate|pair|measure --name N --election E ...");
        return ExitCode::from(2);
    };
    let r = Args::parse(rest).and_then(|a| match mode.as_str() {
        "candidate" => run_candidate(&a),
        "pair" => run_pair(&a),
        "measure" => run_measure(&a),
        m => Err(format!("unknown mode {m:?}")),
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fusebox-etcd-node: {e}");
            ExitCode::from(2)
        }
    }
}
