//! Self-fencing: a primary cut off from etcd (the cluster itself healthy)
//! stops acting before its lease can expire in etcd, so it has stopped
//! before anyone else can be elected: never two primaries at once.
//!
//! The primary reaches etcd through a TCP proxy in this test, which is then
//! cut (every connection closed, new ones refused).

mod common;

use common::{coord, etcd, field, unique, Node, TTL};
use fusebox::coordination::Coordinator;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn to(target: &str) -> Proxy {
        let target = target.trim_start_matches("http://").to_string();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (cut2, conns2) = (cut.clone(), conns.clone());
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(down) = s else { continue };
                if cut2.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let Ok(up) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut list = conns2.lock().unwrap();
                for s in [&down, &up] {
                    list.push(s.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (down.try_clone().unwrap(), up.try_clone().unwrap()),
                    (up, down),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, cut, conns }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

#[test]
fn a_primary_cut_off_from_etcd_stops_before_another_is_elected() {
    let (Some(c), Some(opts)) = (coord(), etcd()) else {
        return;
    };
    let proxy = Proxy::to(&opts.endpoints[0]);
    let e = unique("cutoff");
    let args = ["--election", &e, "--ttl-ms", "2000", "--margin-ms", "500"];
    // a reaches etcd only through the proxy; b directly.
    std::env::set_var(
        fusebox_etcd::ENDPOINTS_ENV,
        format!("http://127.0.0.1:{}", proxy.port),
    );
    let mut a = Node::spawn("candidate", "a", &args);
    std::env::set_var(fusebox_etcd::ENDPOINTS_ENV, opts.endpoints.join(","));
    let (_, la) = a.expect("activated", Duration::from_secs(20));
    let ta = field(&la, "token");
    let mut b = Node::spawn("candidate", "b", &args);
    b.expect("ready", Duration::from_secs(20));
    b.drain(Duration::from_secs(1));

    let cut = Instant::now();
    proxy.cut();
    let (a_down, l) = a.expect(
        &format!("stepped_down token={ta}"),
        TTL + Duration::from_secs(5),
    );
    assert!(l.ends_with("reason=unreachable"), "{l}");
    let (b_up, lb) = b.expect("activated", TTL + Duration::from_secs(6));
    let tb = field(&lb, "token");
    eprintln!(
        "a self-fenced {:?} after the cut, b elected {:?} after it",
        a_down - cut,
        b_up - cut
    );
    assert!(tb > ta);
    // The point: a had stopped acting before b could start.
    assert!(a_down < b_up, "a stepped down after b was elected");
    // a renewed within the last period before the cut, so its term ended
    // locally at most TTL - margin after the cut (plus a renewal's wait
    // for the event), before etcd could expire the lease.
    assert!(
        a_down - cut < TTL,
        "self-fencing {:?} after the cut",
        a_down - cut
    );
    assert_eq!(c.leader(&e).unwrap().unwrap().value, "b");
}
