//! Every endpoint over real loopback HTTP: /metrics, /breakers (the JSON's
//! shape), /breakers/{name}, /, /events (a transition the test causes,
//! driven by a ManualClock), the controls' token rules, 404 and 405.

mod support;

use fusebox::{Clock, Config, ManualClock, Registry, State};
use fusebox_admin::{serve, AdminConfig, AdminHandle};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;
use support::{connect, get, request};

const TOKEN: &str = "t0ken";

fn registry(clock: &Arc<ManualClock>) -> Arc<Registry> {
    let config = Config::builder()
        .consecutive_failures(Some(2))
        .open_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    Arc::new(Registry::new(config, clock.clone()))
}

fn start(token: Option<&str>) -> (Arc<ManualClock>, Arc<Registry>, AdminHandle) {
    let clock = Arc::new(ManualClock::new());
    let r = registry(&clock);
    let pay = r.get_or_create("payment:pay").unwrap();
    pay.call(|| Ok::<_, ()>(())).unwrap();
    pay.call(|| Err::<(), _>(())).unwrap_err();
    r.get_or_create("a\"b\nc").unwrap();
    let mut config = AdminConfig::loopback(0);
    config.token = token.map(str::to_owned);
    let admin = serve(r.clone(), config).unwrap();
    (clock, r, admin)
}

#[test]
fn metrics_are_the_core_writers_text() {
    let (_clock, r, admin) = start(None);
    let a = get(admin.addr(), "/metrics");
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("Content-Type"),
        Some(fusebox::prometheus::CONTENT_TYPE)
    );
    assert_eq!(a.body, fusebox::prometheus::render_registry(&r));
    assert!(a
        .body
        .contains("fusebox_calls_total{breaker=\"payment:pay\",outcome=\"failure\"} 1\n"));
    assert!(a
        .body
        .contains("fusebox_state{breaker=\"a\\\"b\\nc\",state=\"closed\"} 1\n"));

    let head = request(admin.addr(), "HEAD", "/metrics?x=1", &[]);
    assert_eq!((head.status, head.body.as_str()), (200, ""));
}

#[test]
fn breakers_json_has_every_breaker() {
    let (_clock, r, admin) = start(None);
    let odd = r.get("a\"b\nc").unwrap();
    odd.force_open();
    assert!(odd.try_acquire().is_err());
    let a = get(admin.addr(), "/breakers");
    assert_eq!(
        (a.status, a.header("Content-Type")),
        (200, Some("application/json"))
    );
    let v = a.json();
    let all = v["breakers"].as_array().unwrap();
    let names: Vec<&str> = all.iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a\"b\nc", "payment:pay"]);
    let (odd, pay) = (&all[0], &all[1]);
    assert_eq!(odd["state"], "open");
    assert_eq!(odd["phase"], "forced_open");
    assert_eq!(odd["rejected"], 1);
    assert_eq!(pay["state"], "closed");
    assert_eq!(pay["phase"], "closed");
    assert_eq!(pay["failure_rate"], 0.5);
    assert_eq!(pay["failure_rate_threshold"], 0.5);
    assert_eq!(pay["slow_call_rate_threshold"], 1.0);
    assert_eq!(pay["calls"]["success"], 1);
    assert_eq!(pay["calls"]["failure"], 1);
    assert_eq!(pay["calls"]["ignored"], 0);
    assert_eq!(pay["rejected"], 0);
    assert_eq!(pay["window_calls"], 2);
    for key in [
        "generation",
        "slow_call_rate",
        "slow_calls",
        "state_changes",
    ] {
        assert!(pay[key].is_number(), "{key}: {pay}");
    }

    let one = get(admin.addr(), "/breakers/a%22b%0Ac");
    assert_eq!(
        (one.status, one.json()["name"].as_str()),
        (200, Some("a\"b\nc"))
    );
    assert_eq!(get(admin.addr(), "/breakers/nope").status, 404);
    assert_eq!(get(admin.addr(), "/breakers/%zz").status, 400);
}

#[test]
fn the_page_is_served() {
    let (_clock, _r, admin) = start(None);
    let a = get(admin.addr(), "/");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert!(a.body.starts_with("<!doctype html>"));
    assert!(a.body.contains("new EventSource(\"events\")"));
    assert!(a.body.contains("fetch(\"breakers\""));
}

/// Read from the stream until `want` has been seen; return what was read.
fn read_until(s: &mut std::net::TcpStream, seen: &mut String, want: &str) {
    let mut buf = [0u8; 4096];
    while !seen.contains(want) {
        let n = s
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("waiting for {want:?}: {e}; got {seen:?}"));
        assert!(n > 0, "stream closed before {want:?}; got {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[test]
fn events_stream_the_transitions_the_test_causes() {
    use std::io::Write;
    let (clock, r, admin) = start(None);
    let mut s = connect(admin.addr());
    s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut seen = String::new();
    read_until(&mut s, &mut seen, ": connected\n\n");
    assert!(seen.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(seen.contains("Content-Type: text/event-stream\r\n"));

    // Two failures open it; the clock past open_timeout makes it half-open.
    let pay = r.get("payment:pay").unwrap();
    let opened_at = clock.now_ns();
    pay.call(|| Err::<(), _>(())).unwrap_err();
    assert_eq!(pay.state(), State::Open);
    read_until(&mut s, &mut seen, "\"to\":\"open\"");
    clock.advance(Duration::from_secs(31));
    pay.try_acquire().unwrap().success();
    read_until(&mut s, &mut seen, "\"to\":\"half_open\"");

    let events: Vec<serde_json::Value> = seen
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(events[0]["breaker"], "payment:pay");
    assert_eq!(events[0]["from"], "closed");
    assert_eq!(events[0]["state"], "open");
    assert_eq!(events[0]["at_ns"], opened_at);
    assert_eq!(events[1]["from"], "open");
    assert_eq!(events[1]["at_ns"], opened_at + 31_000_000_000);
    assert!(seen.contains("event: transition\ndata: {"));

    // Stopping the server ends the stream: its last chunk.
    admin.stop();
    read_until(&mut s, &mut seen, "\r\n0\r\n\r\n");
    assert!(seen.ends_with("\r\n0\r\n\r\n"));
}

#[test]
fn controls_need_the_configured_token() {
    let (_clock, r, admin) = start(Some(TOKEN));
    let addr = admin.addr();
    let post = |path: &str, headers: &[&str]| request(addr, "POST", path, headers);
    let good = format!("Authorization: Bearer {TOKEN}");

    let missing = post("/breakers/payment:pay/force_open", &[]);
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("WWW-Authenticate"), Some("Bearer"));
    let wrong = post(
        "/breakers/payment:pay/force_open",
        &["Authorization: Bearer nope"],
    );
    assert_eq!(wrong.status, 401);
    let basic = post(
        "/breakers/payment:pay/force_open",
        &["Authorization: Basic dDB rZW4="],
    );
    assert_eq!(basic.status, 401);
    assert_eq!(
        r.get("payment:pay").unwrap().state(),
        State::Closed,
        "refused: untouched"
    );

    let opened = post("/breakers/payment%3Apay/force_open", &[&good]);
    assert_eq!(opened.status, 200);
    assert_eq!(opened.json()["phase"], "forced_open");
    assert_eq!(r.get("payment:pay").unwrap().state(), State::Open);

    let disabled = post("/breakers/payment:pay/disable", &[&good]);
    assert_eq!(disabled.json()["phase"], "disabled");
    let reset = post("/breakers/payment:pay/reset", &[&good]);
    assert_eq!(
        (reset.status, reset.json()["phase"].as_str()),
        (200, Some("closed"))
    );

    assert_eq!(post("/breakers/nope/reset", &[&good]).status, 404);
    assert_eq!(post("/breakers/payment:pay/explode", &[&good]).status, 404);
    // Who has no token learns nothing about which breakers exist.
    assert_eq!(post("/breakers/nope/reset", &[]).status, 401);
}

#[test]
fn controls_without_a_configured_token_are_forbidden() {
    let (_clock, r, admin) = start(None);
    for h in [&[][..], &["Authorization: Bearer anything"][..]] {
        let a = request(admin.addr(), "POST", "/breakers/payment:pay/force_open", h);
        assert_eq!(a.status, 403, "{a:?}");
        assert!(a.json()["error"].as_str().unwrap().contains("no token"));
    }
    assert_eq!(r.get("payment:pay").unwrap().state(), State::Closed);
}

#[test]
fn bad_paths_are_404_and_bad_methods_405() {
    let (_clock, _r, admin) = start(Some(TOKEN));
    let addr = admin.addr();
    for path in [
        "/nope",
        "/metrics/x",
        "/breakers/payment:pay/reset/x",
        "/events/",
        "//",
        "/breakers/",
    ] {
        assert_eq!(get(addr, path).status, 404, "{path}");
    }
    for (method, path, allow) in [
        ("POST", "/metrics", "GET, HEAD"),
        ("DELETE", "/breakers", "GET, HEAD"),
        ("PUT", "/", "GET, HEAD"),
        ("POST", "/events", "GET, HEAD"),
        ("POST", "/breakers/payment:pay", "GET, HEAD"),
        ("GET", "/breakers/payment:pay/reset", "POST"),
        ("DELETE", "/breakers/payment:pay/force_open", "POST"),
    ] {
        let a = request(addr, method, path, &[]);
        assert_eq!(
            (a.status, a.header("Allow")),
            (405, Some(allow)),
            "{method} {path}"
        );
        assert!(a.json()["error"].is_string());
    }
}

#[test]
fn a_taken_port_is_an_error() {
    let (_clock, r, admin) = start(None);
    let port = admin.addr().port();
    let err = serve(r, AdminConfig::loopback(port)).unwrap_err();
    assert_eq!(err.addr, admin.addr());
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on 127.0.0.1:{port}: ")),
        "{err}"
    );
    assert_eq!(
        get(admin.addr(), "/breakers").status,
        200,
        "the first still serves"
    );
}

#[test]
fn the_global_registry_can_be_served() {
    fusebox::Registry::global()
        .get_or_create("admin-test:global")
        .unwrap();
    let admin = serve(fusebox::Registry::global(), AdminConfig::loopback(0)).unwrap();
    let one = get(admin.addr(), "/breakers/admin-test:global");
    assert_eq!(
        (one.status, one.json()["state"].as_str()),
        (200, Some("closed"))
    );
}

/// A client that asks for a large answer and never reads it holds one
/// worker, not the endpoint: another client is still answered.
#[test]
fn a_client_that_stops_reading_does_not_stall_the_others() {
    use std::io::Write;
    let clock = Arc::new(ManualClock::new());
    let r = registry(&clock);
    for i in 0..20_000 {
        r.get_or_create(&format!("breaker-{i:05}")).unwrap();
    }
    let admin = serve(r.clone(), AdminConfig::loopback(0)).unwrap();
    let size = fusebox::prometheus::render_registry(&r).len();
    assert!(
        size > 16 << 20,
        "more than loopback buffers hold: {size} bytes"
    );
    let mut stalled = connect(admin.addr());
    stalled
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Its answer fills the socket buffers and the worker blocks writing.
    let one = get(admin.addr(), "/breakers/breaker-00042");
    assert_eq!(
        (one.status, one.json()["name"].as_str()),
        (200, Some("breaker-00042"))
    );
    assert_eq!(request(admin.addr(), "HEAD", "/events", &[]).status, 200);
    drop(stalled);
}

/// Stopping frees the port at once: the same port is served again right
/// after, 20 times in a row, each time with a keep-alive client connected.
#[test]
fn stop_frees_the_port() {
    let (_clock, r, mut admin) = start(None);
    let port = admin.addr().port();
    for _ in 0..20 {
        let _kept = connect(admin.addr());
        assert_eq!(get(admin.addr(), "/breakers").status, 200);
        admin.stop();
        admin = serve(r.clone(), AdminConfig::loopback(port)).expect("port free after stop");
        assert_eq!(admin.addr().port(), port);
    }
}
