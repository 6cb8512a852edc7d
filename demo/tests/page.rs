//! The cascade's page: well-formed, a chart per series for both runs, and
//! the breakers' band open during the outage.

use fusebox_demo::cascade::{run_both, Params, Report};
use fusebox_demo::page::{self, Retries, SERIES};
use fusebox_demo::retry_storm::{self, StormParams};
use roxmltree::{Document, Node, ParsingOptions};

fn runs() -> (Params, Report, Report) {
    let p = Params::small();
    let (without, with) = run_both(&p);
    (p, without, with)
}

/// The page as XML (its `<!DOCTYPE html>` allowed).
fn parse(html: &str) -> Document<'_> {
    let options = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(html, options).unwrap_or_else(|e| panic!("not well-formed: {e}"))
}

fn by_id<'a>(doc: &'a Document, id: &str) -> Vec<Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.attribute("id") == Some(id))
        .collect()
}

/// The `(state, from, to)` of each rect in a breaker's row.
fn band(chart: Node, breaker: &str) -> Vec<(String, f64, f64)> {
    let row = chart
        .descendants()
        .find(|n| n.attribute("data-breaker") == Some(breaker))
        .unwrap_or_else(|| panic!("no row for {breaker}"));
    row.children()
        .filter(|n| n.has_tag_name("rect"))
        .map(|r| {
            let num = |a: &str| r.attribute(a).unwrap().parse::<f64>().unwrap();
            let state = r.attribute("data-state").unwrap().to_string();
            (state, num("data-from"), num("data-to"))
        })
        .collect()
}

#[test]
fn the_page_is_well_formed_with_a_chart_per_series_and_run() {
    let (p, without, with) = runs();
    let html = page::cascade(&p, &without, &with);
    let doc = parse(&html);
    assert!(doc.root_element().has_tag_name("html"));
    for run in ["without", "with"] {
        for (series, _, _) in SERIES {
            let id = format!("{run}-{series}");
            let charts = by_id(&doc, &id);
            assert_eq!(charts.len(), 1, "one chart {id}");
            assert!(charts[0].has_tag_name("svg"), "{id} is an svg");
            if series == "breakers" {
                continue;
            }
            // Every line has a point for every second shown, but latency,
            // where no order that arrived in a second got a worker.
            let seconds = (p.warmup + p.outage + p.after).as_secs() as usize;
            for line in charts[0]
                .descendants()
                .filter(|n| n.attribute("data-series").is_some())
            {
                let d = line.attribute("d").unwrap();
                let points = d.matches(['M', 'L']).count();
                let least = if series == "latency" {
                    seconds / 2
                } else {
                    seconds
                };
                assert!(points >= least, "{id}: {points} points: {d}");
            }
        }
    }
    assert!(
        html.contains("<style>") && !html.contains("<script") && !html.contains("src="),
        "self-contained, no script"
    );
}

#[test]
fn the_band_shows_the_primary_open_during_the_outage() {
    let (p, without, with) = runs();
    let html = page::cascade(&p, &without, &with);
    let doc = parse(&html);
    let chart = by_id(&doc, "with-breakers")[0];
    let primary = with
        .breakers
        .iter()
        .find(|b| b.contains("primary"))
        .expect("the inventory primary's breaker");
    let rects = band(chart, primary);
    let outage = p.outage.as_secs_f64();
    assert!(
        rects
            .iter()
            .any(|(s, from, to)| s == "open" && *from < outage && *to > 0.0),
        "{rects:?}"
    );
    assert_eq!(rects[0].0, "closed", "closed before the outage: {rects:?}");
    assert!(rects[0].1 < 0.0);
    assert_eq!(rects.last().unwrap().0, "closed", "closed again at the end");
    // Payment never opens; without fusebox there is no breaker to draw.
    let payment = band(chart, "payment");
    assert!(payment.iter().all(|(s, _, _)| s == "closed"), "{payment:?}");
    let none = by_id(&doc, "without-breakers")[0];
    assert_eq!(
        none.descendants()
            .filter(|n| n.attribute("data-state").is_some())
            .count(),
        0
    );
}

#[test]
fn the_samples_tell_the_story() {
    let (p, without, with) = runs();
    let outage = |r: &Report| {
        r.samples
            .iter()
            .filter(|s| s.t >= 0.0 && s.t < p.outage.as_secs_f64())
            .cloned()
            .collect::<Vec<_>>()
    };
    // Without breakers the pool fills and orders go unanswered; with
    // fusebox neither happens.
    assert!(outage(&without).iter().any(|s| s.busy_peak == p.workers));
    assert!(outage(&without).iter().map(|s| s.errors).sum::<u64>() > 0);
    assert!(outage(&with).iter().all(|s| s.busy_peak < p.workers));
    assert_eq!(with.samples.iter().map(|s| s.errors).sum::<u64>(), 0);
    // Every order is counted once, in the second it arrived.
    for r in [&without, &with] {
        let counted: u64 = r.samples.iter().map(|s| s.served + s.errors).sum();
        assert_eq!(counted, r.arrived, "{}", r.label);
        assert_eq!(
            r.samples.iter().map(|s| s.served).sum::<u64>(),
            r.served,
            "{}",
            r.label
        );
    }
}

#[test]
fn the_page_is_written_where_asked() {
    let (p, without, with) = runs();
    let html = page::cascade(&p, &without, &with);
    let dir = std::env::temp_dir().join(format!("fusebox-demo-page-{}", std::process::id()));
    let path = dir.join("demo").join("cascade.html");
    page::write(&path, &html).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), html);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn part_three_is_drawn_after_the_cascade() {
    let (p, without, with) = runs();
    let sp = StormParams::default();
    let (naive, budget) = retry_storm::run_both(&sp);
    let r = Retries {
        params: &sp,
        naive: &naive,
        budget: &budget,
    };
    let html = page::with_retries(&p, &without, &with, &r);
    let doc = parse(&html);
    assert_eq!(by_id(&doc, "with-breakers").len(), 1, "the cascade first");
    for (id, run) in [("naive-retries", &naive), ("budget-retries", &budget)] {
        let charts = by_id(&doc, id);
        assert_eq!(charts.len(), 1, "{id}");
        let lines: Vec<&str> = charts[0]
            .descendants()
            .filter_map(|n| n.attribute("data-series"))
            .collect();
        assert_eq!(lines, ["calls received", "orders", "served"], "{id}");
        // The seconds add up to the run's totals.
        let sum = |f: fn(&retry_storm::StormSecond) -> u64| run.seconds.iter().map(f).sum::<u64>();
        assert_eq!(sum(|s| s.attempts), run.attempts, "{id}");
        assert_eq!(sum(|s| s.orders), run.orders, "{id}");
        assert_eq!(sum(|s| s.served), run.served, "{id}");
        let total = sp.warmup + sp.outage + sp.after;
        assert_eq!(run.seconds.len() as u64, total.as_secs(), "{id}");
    }
}
