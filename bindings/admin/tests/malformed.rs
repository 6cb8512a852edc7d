//! Malformed requests and paths over raw TCP: each gets an HTTP error or a
//! closed connection, never a panic, and the server answers normally after
//! all of them.

mod support;

use fusebox::{Config, ManualClock, Registry};
use fusebox_admin::{serve, AdminConfig};
use std::sync::Arc;
use support::{exchange, get, parse};

/// Deterministic bytes (xorshift), for the junk requests.
fn junk(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn malformed_requests_do_not_hurt_the_server() {
    let registry = Arc::new(Registry::new(
        Config::default(),
        Arc::new(ManualClock::new()),
    ));
    registry.get_or_create("db").unwrap();
    let admin = serve(registry.clone(), AdminConfig::loopback(0).with_token("t")).unwrap();
    let addr = admin.addr();

    let long_path = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(100_000));
    let long_name = format!(
        "POST /breakers/{}/reset HTTP/1.1\r\nAuthorization: Bearer t\r\n\r\n",
        "x".repeat(10_000)
    );
    let huge_header = format!(
        "GET /metrics HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "b".repeat(1 << 20)
    );
    let many_headers = format!(
        "GET /metrics HTTP/1.1\r\n{}\r\n",
        "X-A: 1\r\n".repeat(10_000)
    );
    let mut cases: Vec<Vec<u8>> = [
        "",
        "\r\n\r\n",
        "GARBAGE\r\n\r\n",
        "GET\r\n\r\n",
        "GET /\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
        "GET / HTTP/1.1 extra\r\n\r\n",
        " / HTTP/1.1\r\n\r\n",
        "GET /%ff%fe HTTP/1.1\r\n\r\n",
        "GET /breakers/%ff HTTP/1.1\r\n\r\n",
        "GET /breakers/%zz HTTP/1.1\r\n\r\n",
        "GET /breakers/% HTTP/1.1\r\n\r\n",
        "POST /breakers/%zz/reset HTTP/1.1\r\nAuthorization: Bearer t\r\n\r\n",
        "POST /breakers/db/reset HTTP/1.1\r\nAuthorization: Bearer\r\n\r\n",
        "POST /breakers/db/reset HTTP/1.1\r\nAuthorization: \r\n\r\n",
        "POST /breakers/db/reset HTTP/1.1\r\nAuthorization: Bearer t\r\nContent-Length: -1\r\n\r\n",
        "POST /breakers/db/reset HTTP/1.1\r\nAuthorization: Bearer t\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST /breakers/db/reset HTTP/1.1\r\nAuthorization: Bearer t\r\nContent-Length: 100\r\n\r\nshort",
        "POST /breakers/db/reset HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nbad\r\n",
        "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nExpect: something-else\r\n\r\n",
        "GET http://evil.example/metrics HTTP/1.1\r\n\r\n",
        "GET * HTTP/1.1\r\n\r\n",
        "CONNECT localhost:1 HTTP/1.1\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\n\r\n",
        "get /metrics http/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1\n\n",
        "GET /metrics\0 HTTP/1.1\r\n\r\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    cases.push(long_path.into_bytes());
    cases.push(long_name.into_bytes());
    cases.push(huge_header.into_bytes());
    cases.push(many_headers.into_bytes());
    cases.push(b"GET /\xff\xfe\xfd HTTP/1.1\r\n\r\n".to_vec());
    cases.push(b"GET / HTTP/1.1\r\nX: \xff\xfe\r\n\r\n".to_vec());
    cases.push(b"POST /breakers/db/reset HTTP/1.1\r\nAuthorization: Bearer \xff\r\n\r\n".to_vec());
    for seed in 1..=40u64 {
        let mut j = junk(seed, 64 + (seed as usize * 37) % 2000);
        if seed % 2 == 0 {
            j.splice(0..0, b"GET /".iter().copied());
        }
        cases.push(j);
    }

    for case in &cases {
        let out = exchange(addr, case);
        if let Some(status) = out.get(9..12).and_then(|s| std::str::from_utf8(s).ok()) {
            let status: u16 = status.parse().unwrap_or(0);
            assert!(
                (200..600).contains(&status) && status != 500,
                "status {status} for {:?}",
                String::from_utf8_lossy(&case[..case.len().min(80)])
            );
        }
    }

    // Answers the harness can pin down.
    let status = |raw: &str| parse(&exchange(addr, raw.as_bytes())).status;
    assert_eq!(status("GET /breakers/%zz HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(
        status("POST /breakers/%zz/reset HTTP/1.1\r\nAuthorization: Bearer t\r\n\r\n"),
        400
    );
    assert_eq!(
        status("POST /breakers/db/reset HTTP/1.1\r\nAuthorization: Bearer\r\n\r\n"),
        401
    );
    assert_eq!(status("GET /breakers/%ff HTTP/1.1\r\n\r\n"), 400);

    // Still serving, and the breaker untouched by the refused controls.
    let after = get(addr, "/breakers");
    assert_eq!(after.status, 200);
    assert_eq!(after.json()["breakers"][0]["name"], "db");
    assert_eq!(get(addr, "/metrics").status, 200);
    drop(admin);
}
