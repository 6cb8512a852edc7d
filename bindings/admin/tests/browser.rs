//! The dashboard page in a real headless browser: Chromium loads `/`, its
//! script fetches `/breakers` and draws a row per breaker; after the test
//! opens a breaker (failures, on a ManualClock), a fresh load shows it open.
//!
//! A second test keeps the page open (`?events`: no polling, refreshed only
//! by `/events`) and reads its DOM through the DevTools protocol while the
//! test opens a breaker: the row turns open from the event stream alone.
//!
//! Runs when `FUSEBOX_CHROMIUM` names a Chromium binary
//! (scripts/test.d/35-admin.sh installs Debian's and sets it).

mod support;

use fusebox::{Config, ManualClock, Registry, State};
use fusebox_admin::{serve, AdminConfig};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The page's DOM after its scripts ran (`--dump-dom`; `?poll` because an
/// open event stream would hold the virtual-time budget back).
fn dump_dom(chromium: &str, url: &str) -> String {
    let profile =
        std::env::temp_dir().join(format!("fusebox-admin-chromium-{}", std::process::id()));
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=2000", "--dump-dom"])
        .arg(format!("{url}?poll"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {chromium}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{chromium} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20)); // polling a process, not moving breaker time
    }
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `data-state` of the row of `breaker`.
fn row_state(dom: &str, breaker: &str) -> Option<String> {
    let start = dom.find(&format!("<tr data-breaker=\"{breaker}\""))?;
    let row = &dom[start..start + dom[start..].find('>')?];
    let state = row.split("data-state=\"").nth(1)?;
    Some(state[..state.find('"')?].to_owned())
}

#[test]
fn the_page_shows_each_breakers_state_after_a_transition() {
    let Ok(chromium) = std::env::var("FUSEBOX_CHROMIUM") else {
        eprintln!("FUSEBOX_CHROMIUM not set: the browser test runs in scripts/test.d/35-admin.sh");
        return;
    };
    let clock = Arc::new(ManualClock::new());
    let config = Config::builder()
        .consecutive_failures(Some(2))
        .build()
        .unwrap();
    let registry = Arc::new(Registry::new(config, clock));
    let orders = registry.get_or_create("orders:place").unwrap();
    registry.get_or_create("search:query").unwrap();
    let admin = serve(registry.clone(), AdminConfig::loopback(0)).unwrap();

    let before = dump_dom(&chromium, &admin.url());
    assert!(
        before.contains("data-loaded=\"true\""),
        "the script did not load /breakers:\n{before}"
    );
    assert_eq!(
        row_state(&before, "orders:place").as_deref(),
        Some("closed"),
        "{before}"
    );
    assert_eq!(
        row_state(&before, "search:query").as_deref(),
        Some("closed")
    );

    for _ in 0..2 {
        orders.call(|| Err::<(), _>("down")).unwrap_err();
    }
    assert_eq!(orders.state(), State::Open);

    let after = dump_dom(&chromium, &admin.url());
    assert_eq!(
        row_state(&after, "orders:place").as_deref(),
        Some("open"),
        "{after}"
    );
    assert_eq!(row_state(&after, "search:query").as_deref(), Some("closed"));
    assert!(after.contains("class=\"state open\""), "the badge is drawn");
}

/// Evaluate `expression` until it gives `want`; panics after 30 s (a bound
/// on a browser's work, never a measure of speed). Returns how long it took.
fn wait_for(page: &mut support::cdp::Page, expression: &str, want: &str) -> Duration {
    let start = Instant::now();
    loop {
        if page.eval(expression) == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{expression} never became {want:?}: {}",
            page.eval("document.body.outerHTML")
        );
        std::thread::sleep(Duration::from_millis(10)); // polling the browser, not moving breaker time
    }
}

#[test]
fn the_open_page_turns_a_breaker_open_from_the_event_stream() {
    let Ok(chromium) = std::env::var("FUSEBOX_CHROMIUM") else {
        eprintln!("FUSEBOX_CHROMIUM not set: the browser test runs in scripts/test.d/35-admin.sh");
        return;
    };
    let clock = Arc::new(ManualClock::new());
    let config = Config::builder()
        .consecutive_failures(Some(2))
        .build()
        .unwrap();
    let registry = Arc::new(Registry::new(config, clock));
    let orders = registry.get_or_create("orders:place").unwrap();
    let admin = serve(registry.clone(), AdminConfig::loopback(0)).unwrap();

    let profile = std::env::temp_dir().join(format!("fusebox-admin-live-{}", std::process::id()));
    let page_url = format!("{}?events", admin.url());
    let mut child = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args(["--remote-debugging-port=0", "--remote-allow-origins=*"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(&page_url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {chromium}: {e}"));
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let browser_ws = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("chromium printed no DevTools address");
    let debug_port: std::net::SocketAddr = browser_ws
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let page_ws = {
        let start = Instant::now();
        loop {
            let list = support::fetch(debug_port, "/json/list").json();
            let found = list.as_array().unwrap().iter().find_map(|t| {
                (t["type"] == "page" && t["url"] == page_url.as_str())
                    .then(|| t["webSocketDebuggerUrl"].as_str().unwrap().to_owned())
            });
            if let Some(ws) = found {
                break ws;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no page target: {list}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut page = support::cdp::Page::connect(debug_port, &page_ws);
    let state = r#"(document.querySelector('tr[data-breaker="orders:place"]') || {dataset: {}}).dataset.state || """#;
    wait_for(&mut page, state, "closed");
    wait_for(&mut page, "document.body.dataset.events || \"\"", "on");

    for _ in 0..2 {
        orders.call(|| Err::<(), _>("down")).unwrap_err();
    }
    assert_eq!(orders.state(), State::Open);
    let took = wait_for(&mut page, state, "open");
    eprintln!("the page showed the breaker open {took:?} after it opened");

    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&profile);
}
