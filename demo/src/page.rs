//! The cascade drawn: one self-contained HTML page (inline SVG from
//! [`crate::chart`], no script, nothing fetched) with the runs without and
//! with fusebox side by side: worker-pool occupancy, latency, orders served
//! and failed a second, and the breakers' states as a coloured band.
//!
//! Every chart's `<svg>` has an id `{run}-{series}`: run `without` or
//! `with`, series `occupancy`, `latency`, `orders` or `breakers`.
//! [`with_retries`] adds part 3: the calls a slow dependency receives
//! under naive retries and under a retry budget (`naive-retries`,
//! `budget-retries`).
//!
//! ```
//! use fusebox_demo::cascade::{run_both, Params};
//! use fusebox_demo::page;
//!
//! let p = Params::small();
//! let (without, with) = run_both(&p);
//! let html = page::cascade(&p, &without, &with);
//! assert!(html.contains(r#"id="with-breakers""#));
//! ```

use crate::cascade::{Params, Report};
use crate::chart::{band, esc, lines, nice_step, state_colour, Frame, Scale, Series};
use crate::report;
use crate::retry_storm::{StormParams, StormReport};
use fusebox::State;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The series drawn for each run, in order: (id, heading, what it shows).
pub const SERIES: [(&str, &str, &str); 4] = [
    (
        "occupancy",
        "Worker pool",
        "Most workers busy at once in each second, out of the pool.",
    ),
    (
        "latency",
        "Latency",
        "Median and 99th percentile latency of the orders that arrived in each second, as \
         their clients saw it: an order given up counts the client's deadline.",
    ),
    (
        "orders",
        "Orders",
        "Of the orders that arrived in each second: served (answered within the \
         deadline), and no answer (failed, given up or refused).",
    ),
    (
        "breakers",
        "Breakers",
        "Each breaker's state each second (the worst it was in that second).",
    ),
];

/// The two runs' charts of one series: `(without, with)`.
fn pair(p: &Params, without: &Report, with: &Report, series: &str) -> (String, String) {
    let runs = [("without", without), ("with", with)];
    let from = -p.warmup.as_secs_f64();
    // Until the last arrival: after it the service only drains.
    let to = (p.outage + p.after).as_secs_f64();
    let outage = Some((0.0, p.outage.as_secs_f64(), "outage".to_string()));
    let chart = |(run, r): (&str, &Report)| -> String {
        let id = format!("{run}-{series}");
        let at = |f: &dyn Fn(&crate::samples::Sample) -> Option<f64>| -> Vec<(f64, Option<f64>)> {
            r.samples
                .iter()
                .filter(|s| s.t < to)
                .map(|s| (s.t, f(s)))
                .collect()
        };
        match series {
            "occupancy" => {
                let mut frame = Frame::new(
                    from,
                    to,
                    Scale::Linear {
                        max: r.workers as f64,
                    },
                );
                frame.shade = outage.clone();
                let busy =
                    Series::new("busy workers", "#2c3e50", at(&|s| Some(s.busy_peak as f64)));
                lines(&id, &frame, &[busy], &|v| format!("{v:.0}"))
            }
            "latency" => {
                let mut frame = Frame::new(from, to, Scale::Log { min: 1.0, max: 1e4 });
                frame.shade = outage.clone();
                frame.limit = Some((
                    p.client_deadline.as_secs_f64() * 1e3,
                    "client deadline".to_string(),
                ));
                let p50 = Series::new("p50", "#2980b9", at(&|s| s.p50_ms));
                let p99 = Series::new("p99", "#8e44ad", at(&|s| s.p99_ms));
                lines(&id, &frame, &[p50, p99], &|v| {
                    if v >= 1e3 {
                        format!("{:.0} s", v / 1e3)
                    } else {
                        format!("{v:.0} ms")
                    }
                })
            }
            "orders" => {
                let top = runs
                    .iter()
                    .flat_map(|(_, r)| r.samples.iter())
                    .map(|s| s.served.max(s.errors))
                    .max()
                    .unwrap_or(1) as f64;
                let step = nice_step(top, 4);
                let mut frame = Frame::new(
                    from,
                    to,
                    Scale::Linear {
                        max: (top / step).ceil() * step,
                    },
                );
                frame.shade = outage.clone();
                let served = Series::new("served", "#27ae60", at(&|s| Some(s.served as f64)));
                let errors = Series::new("no answer", "#c0392b", at(&|s| Some(s.errors as f64)));
                lines(&id, &frame, &[served, errors], &|v| format!("{v:.0}"))
            }
            _ => {
                let mut frame = Frame::new(from, to, Scale::Linear { max: 1.0 });
                frame.shade = Some((0.0, p.outage.as_secs_f64(), String::new()));
                let rows: Vec<(String, Vec<(f64, State)>)> = r
                    .breakers
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let states = r
                            .samples
                            .iter()
                            .filter(|s| s.t < to)
                            .filter_map(|s| Some((s.t, *s.states.get(i)?)))
                            .collect();
                        (name.clone(), states)
                    })
                    .collect();
                band(
                    &id,
                    &frame,
                    1.0,
                    &rows,
                    "no breakers: calls wait as long as the database takes",
                )
            }
        }
    };
    (chart(runs[0]), chart(runs[1]))
}

/// A legend for the lines of a series.
fn legend(series: &str) -> String {
    let items: &[(&str, &str)] = match series {
        "occupancy" => &[("busy workers", "#2c3e50")],
        "latency" => &[("p50", "#2980b9"), ("p99", "#8e44ad")],
        "orders" => &[("served", "#27ae60"), ("no answer", "#c0392b")],
        _ => &[
            ("closed", state_colour(State::Closed)),
            ("half-open", state_colour(State::HalfOpen)),
            ("open", state_colour(State::Open)),
        ],
    };
    let mut out = String::from(r#"<p class="legend">"#);
    for (label, colour) in items {
        let _ = write!(
            out,
            r#"<span><span class="swatch" style="background:{colour}"></span>{}</span>"#,
            esc(label)
        );
    }
    out.push_str("</p>");
    out
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;color:#222;margin:24px auto;\
max-width:1120px;padding:0 16px}h1{font-size:22px}h2{font-size:17px;margin:28px 0 4px}\
.pair{display:flex;gap:24px;flex-wrap:wrap}figure{margin:0}figcaption{font-weight:600;\
margin-bottom:2px}pre{background:#f6f6f6;padding:10px;overflow-x:auto;font-size:12px}\
.legend{margin:2px 0 6px;color:#444}.legend>span{margin-right:14px}\
.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:-1px}\
.note{color:#555}";

/// Part 3's two runs, to draw after the cascade.
#[derive(Clone, Copy, Debug)]
pub struct Retries<'a> {
    /// The scenario.
    pub params: &'a StormParams,
    /// Naive retries.
    pub naive: &'a StormReport,
    /// With the retry budget.
    pub budget: &'a StormReport,
}

/// Part 3's section: per second, the calls the dependency received, the
/// orders taken and the orders served.
fn retries(r: &Retries) -> String {
    let sp = r.params;
    let top = [r.naive, r.budget]
        .iter()
        .flat_map(|run| run.seconds.iter())
        .map(|s| s.attempts.max(s.orders))
        .max()
        .unwrap_or(1) as f64;
    let step = nice_step(top, 4);
    let mut frame = Frame::new(
        -sp.warmup.as_secs_f64(),
        (sp.outage + sp.after).as_secs_f64(),
        Scale::Linear {
            max: (top / step).ceil() * step,
        },
    );
    frame.shade = Some((0.0, sp.outage.as_secs_f64(), "slow".to_string()));
    frame.limit = Some((
        f64::from(sp.capacity_in_outage),
        "what it completes while slow".to_string(),
    ));
    let chart = |id: &str, run: &StormReport| {
        let line = |f: &dyn Fn(&crate::retry_storm::StormSecond) -> u64| {
            run.seconds
                .iter()
                .map(|s| (s.t, Some(f(s) as f64)))
                .collect::<Vec<_>>()
        };
        let series = [
            Series::new("calls received", "#8e44ad", line(&|s| s.attempts)),
            Series::new("orders", "#7f8c8d", line(&|s| s.orders)),
            Series::new("served", "#27ae60", line(&|s| s.served)),
        ];
        lines(id, &frame, &series, &|v| format!("{v:.0}"))
    };
    let legend = [
        ("calls received", "#8e44ad"),
        ("orders", "#7f8c8d"),
        ("served", "#27ae60"),
    ]
    .iter()
    .map(|(label, colour)| {
        format!(
            r#"<span><span class="swatch" style="background:{colour}"></span>{}</span>"#,
            esc(label)
        )
    })
    .collect::<String>();
    format!(
        r#"<section id="retries"><h2>Part 3: retries</h2><p class="note">{} orders a second call a dependency through {} attempts; for {} s it completes {} calls a second. Each second: the calls it received, the orders taken, the orders served.</p><p class="legend">{legend}</p><div class="pair"><figure><figcaption>naive retries</figcaption>{}</figure><figure><figcaption>retry budget ({:.0} % of requests + {}/s)</figcaption>{}</figure></div></section>
"#,
        sp.orders_per_s,
        sp.attempts,
        sp.outage.as_secs(),
        sp.capacity_in_outage,
        chart("naive-retries", r.naive),
        sp.ratio * 100.0,
        sp.min_per_sec,
        chart("budget-retries", r.budget),
    )
}

/// The page: the scenario, the two runs' summary, then each series of
/// [`SERIES`] for both runs.
pub fn cascade(p: &Params, without: &Report, with: &Report) -> String {
    document(p, without, with, None)
}

/// The page of [`cascade`], then part 3 (retries).
///
/// ```
/// use fusebox_demo::cascade::{run_both, Params};
/// use fusebox_demo::page::{self, Retries};
/// use fusebox_demo::retry_storm::{self, StormParams};
///
/// let p = Params::small();
/// let (without, with) = run_both(&p);
/// let sp = StormParams::default();
/// let (naive, budget) = retry_storm::run_both(&sp);
/// let r = Retries { params: &sp, naive: &naive, budget: &budget };
/// let html = page::with_retries(&p, &without, &with, &r);
/// assert!(html.contains(r#"id="budget-retries""#));
/// ```
pub fn with_retries(p: &Params, without: &Report, with: &Report, r: &Retries) -> String {
    document(p, without, with, Some(r))
}

fn document(p: &Params, without: &Report, with: &Report, r: Option<&Retries>) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/><title>fusebox demo: a cascading failure</title><style>{STYLE}</style></head>
<body><h1>A cascading failure, without and with fusebox</h1>
<p>{}</p>
<p class="note">Left: {}; right: {}. The shaded span is the outage. Time is simulated (fusebox's ManualClock moved from event to event), so every run draws the same charts.</p>
<pre>{}</pre>
"#,
        esc(&report::scenario(p)),
        esc(&without.label),
        esc(&with.label),
        esc(&report::summary(without, with)),
    );
    for (series, heading, what) in SERIES {
        let (a, b) = pair(p, without, with, series);
        let _ = writeln!(
            out,
            r#"<section id="{series}"><h2>{}</h2><p class="note">{}</p>{}<div class="pair"><figure><figcaption>{}</figcaption>{a}</figure><figure><figcaption>{}</figcaption>{b}</figure></div></section>"#,
            esc(heading),
            esc(what),
            legend(series),
            esc(&without.label),
            esc(&with.label),
        );
    }
    if let Some(r) = r {
        out.push_str(&retries(r));
    }
    out.push_str(
        "<p class=\"note\">Written by <code>cargo run --release -p fusebox-demo</code>.</p>\n\
         </body></html>\n",
    );
    out
}

/// Where the demo writes its page: `demo/cascade.html` in the target
/// directory the demo was built in (`target/demo/cascade.html`), or in the
/// system's temporary directory when the executable is elsewhere.
pub fn default_path() -> PathBuf {
    let target = std::env::current_exe().ok().and_then(|exe| {
        // target/<profile>/fusebox-demo
        let dir = exe.parent()?.parent()?.to_path_buf();
        dir.join("CACHEDIR.TAG").exists().then_some(dir)
    });
    target
        .unwrap_or_else(std::env::temp_dir)
        .join("demo")
        .join("cascade.html")
}

/// Write `html` to `path`, creating its directory.
pub fn write(path: &Path, html: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, html)
}
