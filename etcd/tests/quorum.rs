//! Quorum comes from etcd: with 2 of its 3 members stopped, the primary
//! steps down (self-fencing) and no one becomes primary until they return.
//!
//! Stops members with SIGSTOP (they hang, like hosts behind a partition)
//! and resumes them with SIGCONT, so it needs their pids in
//! `FUSEBOX_ETCD_PIDS` (in the order of `FUSEBOX_ETCD_ENDPOINTS`), which
//! scripts/test.d/80-etcd.sh sets. This file is its own test binary so that
//! no other test runs while the cluster is down.

mod common;

use common::{coord, field, unique, Node, TTL};
use fusebox::coordination::{CoordError, Coordinator};
use std::process::Command;
use std::time::{Duration, Instant};

fn signal(sig: &str, pid: &str) {
    let ok = Command::new("kill")
        .args([sig, pid])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid} failed");
}

/// Members stopped until dropped (even when the test fails).
struct Stopped(Vec<String>);

impl Stopped {
    fn new(pids: &[String]) -> Stopped {
        for p in pids {
            signal("-STOP", p);
        }
        Stopped(pids.to_vec())
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = Command::new("kill").args(["-CONT", p]).status();
        }
    }
}

#[test]
fn without_an_etcd_majority_the_leader_steps_down_and_no_one_is_elected() {
    let Some(c) = coord() else { return };
    let pids: Vec<String> = match std::env::var("FUSEBOX_ETCD_PIDS") {
        Ok(v) => v.split(',').map(|s| s.trim().to_string()).collect(),
        Err(_) if std::env::var_os("FUSEBOX_ETCD_REQUIRED").is_some() => {
            panic!("FUSEBOX_ETCD_PIDS is not set")
        }
        Err(_) => {
            eprintln!("!!! SKIPPED: FUSEBOX_ETCD_PIDS is not set: cannot stop etcd members !!!");
            return;
        }
    };
    assert_eq!(pids.len(), 3, "a 3-member cluster: {pids:?}");
    let e = unique("quorum");
    let args = ["--election", &e, "--ttl-ms", "2000"];
    let mut a = Node::spawn("candidate", "a", &args);
    let (_, la) = a.expect("activated", Duration::from_secs(20));
    let ta = field(&la, "token");
    let mut b = Node::spawn("candidate", "b", &args);
    b.expect("ready", Duration::from_secs(20));
    b.drain(Duration::from_secs(1));

    // Two of three members stop: no majority anywhere.
    let stopped = Stopped::new(&pids[1..]);
    let cut = Instant::now();
    let (down_at, l) = a.expect(
        &format!("stepped_down token={ta} reason=unreachable"),
        TTL + Duration::from_secs(5),
    );
    eprintln!(
        "self-fenced {:?} after the quorum was lost: {l}",
        down_at - cut
    );
    // No one becomes primary while the majority is gone.
    let la = a.drain(TTL * 2);
    let lb = b.drain(Duration::ZERO);
    for l in la.iter().chain(&lb) {
        assert!(!l.starts_with("activated"), "activated without quorum: {l}");
    }
    assert!(
        b.seen.iter().all(|(_, l)| !l.starts_with("activated")),
        "b activated without quorum"
    );
    // And the store says why, plainly.
    match c.leader(&e) {
        Err(CoordError::Unavailable(m)) => eprintln!("leader() without quorum: {m}"),
        other => panic!("a read without quorum must fail: {other:?}"),
    }

    // The members return: one primary again, with a token no smaller than
    // a's (the same term if a's lease survived, as etcd extends leases
    // across its own leader elections; a new, larger one otherwise).
    drop(stopped);
    let back = Instant::now();
    let mut winner = None;
    while winner.is_none() && back.elapsed() < Duration::from_secs(20) {
        for n in [&mut a, &mut b] {
            if let Some((_, l)) = n.wait_for("activated", Duration::from_millis(200)) {
                winner = Some((n.name.clone(), field(&l, "token")));
                break;
            }
        }
    }
    let (who, token) = winner.expect("a primary once the quorum is back");
    eprintln!(
        "{who} primary again with token {token} after {:?}",
        back.elapsed()
    );
    assert!(token >= ta);
    if who == "b" {
        assert!(token > ta);
    }
    // Exactly one.
    let later_a = a.drain(TTL);
    let later_b = b.drain(Duration::ZERO);
    let extra = later_a
        .iter()
        .chain(&later_b)
        .filter(|l| l.starts_with("activated"))
        .count();
    assert_eq!(extra, 0, "a second primary: {later_a:?} {later_b:?}");
    let leader = c.leader(&e).unwrap().expect("a leader");
    assert_eq!(leader.value, who);
    assert_eq!(leader.revision, token);
}
