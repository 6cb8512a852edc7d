//! The dashboard page in a real headless browser: Chromium loads `/`, its
//! script fetches `/breakers` and draws a row per breaker; after the test
//! opens a breaker (failures, on a ManualClock), a fresh load shows it open.
//!
//! Runs when `FUSEBOX_CHROMIUM` names a Chromium binary
//! (scripts/test.d/35-admin.sh installs Debian's and sets it).

use fusebox::{Config, ManualClock, Registry, State};
use fusebox_admin::{serve, AdminConfig};
use std::process::{Command, Stdio};
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
