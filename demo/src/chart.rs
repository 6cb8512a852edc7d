//! Inline SVG charts for the demo's page ([`crate::page`]): lines over time
//! and a band of breaker states. Plain strings, no script, no library: the
//! page stands alone.
//!
//! ```
//! use fusebox_demo::chart::{lines, Frame, Scale, Series};
//!
//! let frame = Frame::new(-10.0, 60.0, Scale::Linear { max: 100.0 });
//! let busy = Series::new("busy", "#c0392b", vec![(-10.0, Some(5.0)), (0.0, Some(100.0))]);
//! let svg = lines("busy-chart", &frame, &[busy], &|v| format!("{v:.0}"));
//! assert!(svg.starts_with("<svg") && svg.contains("id=\"busy-chart\""));
//! ```

use fusebox::State;
use std::fmt::Write as _;

const WIDTH: f64 = 520.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;
const PLOT_HEIGHT: f64 = 140.0;
const BAND_ROW: f64 = 30.0;

/// How values map to the height of a chart.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    /// From 0 to `max`.
    Linear {
        /// The top of the chart.
        max: f64,
    },
    /// Decades from `min` to `max` (both above 0).
    Log {
        /// The bottom of the chart; smaller values sit on it.
        min: f64,
        /// The top of the chart.
        max: f64,
    },
}

impl Scale {
    /// 0 at the bottom, 1 at the top (clamped).
    fn unit(self, v: f64) -> f64 {
        let u = match self {
            Scale::Linear { max } => v / max,
            Scale::Log { min, max } => (v.max(min) / min).ln() / (max / min).ln(),
        };
        u.clamp(0.0, 1.0)
    }

    /// Where the gridlines go.
    fn ticks(self) -> Vec<f64> {
        match self {
            Scale::Linear { max } => {
                let step = nice_step(max, 4);
                (0..)
                    .map(|i| i as f64 * step)
                    .take_while(|v| *v <= max + 1e-9)
                    .collect()
            }
            Scale::Log { min, max } => {
                let mut v = 10f64.powf(min.log10().ceil());
                let mut out = Vec::new();
                while v <= max * (1.0 + 1e-9) {
                    out.push(v);
                    v *= 10.0;
                }
                out
            }
        }
    }
}

/// A step from 1, 2, 5, 10, 15, 20, 30, 60, ... giving at most `n` steps
/// over `span`.
pub fn nice_step(span: f64, n: usize) -> f64 {
    let mut decade = 1.0;
    loop {
        for m in [1.0, 2.0, 5.0] {
            let step = m * decade;
            if span / step <= n as f64 {
                return step;
            }
        }
        decade *= 10.0;
    }
}

/// The time axis of a chart (seconds from T+0), its scale, and what to
/// mark on it.
#[derive(Clone, Debug)]
pub struct Frame {
    /// First second shown.
    pub from: f64,
    /// Last second shown.
    pub to: f64,
    /// The value axis.
    pub scale: Scale,
    /// A span shaded on the chart (the outage), with its label (none if
    /// empty).
    pub shade: Option<(f64, f64, String)>,
    /// A horizontal reference line (a limit), with its label.
    pub limit: Option<(f64, String)>,
}

impl Frame {
    /// From `from` to `to` seconds, nothing marked.
    pub fn new(from: f64, to: f64, scale: Scale) -> Frame {
        Frame {
            from,
            to,
            scale,
            shade: None,
            limit: None,
        }
    }

    fn x(&self, t: f64) -> f64 {
        let u = ((t - self.from) / (self.to - self.from)).clamp(0.0, 1.0);
        LEFT + u * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        TOP + (1.0 - self.scale.unit(v)) * PLOT_HEIGHT
    }
}

/// One line of a chart: `(second, value)`, `None` where there is nothing
/// to draw (the line breaks there).
#[derive(Clone, Debug)]
pub struct Series {
    /// Its name, in the legend and on the line.
    pub label: String,
    /// Its colour (CSS).
    pub colour: String,
    /// The points, by time.
    pub points: Vec<(f64, Option<f64>)>,
}

impl Series {
    /// A named line.
    pub fn new(label: &str, colour: &str, points: Vec<(f64, Option<f64>)>) -> Series {
        Series {
            label: label.to_string(),
            colour: colour.to_string(),
            points,
        }
    }
}

/// Text for XML: `&`, `<`, `>`, `"` and `'` escaped.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `T+60` style labels for the time axis.
fn time_label(t: f64) -> String {
    if t == 0.0 {
        "T+0".to_string()
    } else {
        format!("{t:+.0} s")
    }
}

/// The shaded span, gridlines and axes of a chart `height` tall.
fn axes(out: &mut String, frame: &Frame, height: f64) {
    if let Some((a, b, label)) = &frame.shade {
        let (x0, x1) = (frame.x(*a), frame.x(*b));
        let _ = write!(
            out,
            r##"<rect class="shade" x="{x0:.1}" y="{TOP}" width="{:.1}" height="{height}" fill="#fdecea"/>"##,
            x1 - x0,
        );
        if !label.is_empty() {
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#b03a2e">{}</text>"##,
                x0 + 3.0,
                TOP + 10.0,
                esc(label)
            );
        }
    }
    let step = nice_step(frame.to - frame.from, 8);
    let mut t = (frame.from / step).ceil() * step;
    while t <= frame.to + 1e-9 {
        let x = frame.x(t);
        // The last label ends at the edge rather than past it.
        let anchor = if x > WIDTH - RIGHT - 20.0 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#e5e5e5"/><text x="{x:.1}" y="{:.1}" font-size="10" text-anchor="{anchor}" fill="#555">{}</text>"##,
            TOP + height,
            TOP + height + 14.0,
            time_label(t)
        );
        t += step;
    }
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999"/>"##,
        TOP + height,
        WIDTH - RIGHT,
        TOP + height
    );
}

/// A line chart: `series` over `frame`, values labelled by `fmt`. The
/// `<svg>` has `id`; each line is a `<path data-series="label">`.
pub fn lines(id: &str, frame: &Frame, series: &[Series], fmt: &dyn Fn(f64) -> String) -> String {
    let height = TOP + PLOT_HEIGHT + BOTTOM;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="{}" class="chart" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img">"#,
        esc(id)
    );
    axes(&mut out, frame, PLOT_HEIGHT);
    for v in frame.scale.ticks() {
        let y = frame.y(v);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" fill="#555">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 4.0,
            y + 3.5,
            esc(&fmt(v))
        );
    }
    if let Some((v, label)) = &frame.limit {
        let y = frame.y(*v);
        let _ = write!(
            out,
            r##"<line class="limit" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#777" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" fill="#555">{}</text>"##,
            WIDTH - RIGHT,
            WIDTH - RIGHT - 2.0,
            y - 3.0,
            esc(label)
        );
    }
    for s in series {
        let mut d = String::new();
        let mut pen_down = false;
        for (t, v) in &s.points {
            match v {
                Some(v) => {
                    let _ = write!(
                        d,
                        "{}{:.1} {:.1} ",
                        if pen_down { "L" } else { "M" },
                        frame.x(*t),
                        frame.y(*v)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = write!(
            out,
            r#"<path data-series="{}" d="{}" fill="none" stroke="{}" stroke-width="1.5" stroke-linejoin="round"><title>{}</title></path>"#,
            esc(&s.label),
            d.trim_end(),
            esc(&s.colour),
            esc(&s.label)
        );
    }
    out.push_str("</svg>");
    out
}

/// The colour of a state on the band.
pub fn state_colour(s: State) -> &'static str {
    match s {
        State::Closed => "#27ae60",
        State::HalfOpen => "#f39c12",
        State::Open => "#c0392b",
    }
}

/// A band per breaker: its state each tick (`(second, state)`, ticks of
/// `tick` seconds), consecutive ticks in one state drawn as one
/// `<rect data-state=".." data-from=".." data-to="..">`. No rows: the
/// chart says `empty`.
pub fn band(
    id: &str,
    frame: &Frame,
    tick: f64,
    rows: &[(String, Vec<(f64, State)>)],
    empty: &str,
) -> String {
    let plot = if rows.is_empty() {
        BAND_ROW
    } else {
        BAND_ROW * rows.len() as f64
    };
    let height = TOP + plot + BOTTOM;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="{}" class="chart band" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img">"#,
        esc(id)
    );
    axes(&mut out, frame, plot);
    if rows.is_empty() {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#555">{}</text>"##,
            LEFT + 6.0,
            TOP + BAND_ROW / 2.0 + 4.0,
            esc(empty)
        );
    }
    for (i, (name, states)) in rows.iter().enumerate() {
        let top = TOP + i as f64 * BAND_ROW;
        let _ = write!(
            out,
            r##"<g data-breaker="{}"><text x="{:.1}" y="{:.1}" font-size="10" fill="#333">{}</text>"##,
            esc(name),
            LEFT + 2.0,
            top + 10.0,
            esc(name)
        );
        let mut i = 0;
        while i < states.len() {
            let (from, state) = states[i];
            let mut j = i;
            while j + 1 < states.len() && states[j + 1].1 == state {
                j += 1;
            }
            let to = states[j].0 + tick;
            let (x0, x1) = (frame.x(from), frame.x(to));
            let _ = write!(
                out,
                r#"<rect data-state="{s}" data-from="{from}" data-to="{to}" x="{x0:.1}" y="{:.1}" width="{:.1}" height="14" fill="{}"><title>{} {s}: {} to {}</title></rect>"#,
                top + 13.0,
                (x1 - x0).max(0.5),
                state_colour(state),
                esc(name),
                time_label(from),
                time_label(to),
                s = state.as_str(),
            );
            i = j + 1;
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_band_merges_ticks_of_one_state() {
        let frame = Frame::new(0.0, 4.0, Scale::Linear { max: 1.0 });
        let states = vec![
            (0.0, State::Closed),
            (1.0, State::Open),
            (2.0, State::Open),
            (3.0, State::Closed),
        ];
        let svg = band("b", &frame, 1.0, &[("a<b".into(), states)], "none");
        assert_eq!(svg.matches("<rect data-state=").count(), 3, "{svg}");
        assert!(svg.contains(r#"data-state="open" data-from="1" data-to="3""#));
        assert!(svg.contains("a&lt;b") && !svg.contains("a<b"));
    }

    #[test]
    fn a_line_breaks_where_values_are_missing() {
        let frame = Frame::new(0.0, 3.0, Scale::Log { min: 1.0, max: 1e4 });
        let s = Series::new(
            "p99",
            "red",
            vec![
                (0.0, Some(10.0)),
                (1.0, None),
                (2.0, Some(1e3)),
                (3.0, Some(1e5)),
            ],
        );
        let svg = lines("l", &frame, &[s], &|v| format!("{v}"));
        let d = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 1, "{d}");
        // Clamped to the top.
        assert!(d.ends_with(&format!("{TOP:.1}")), "{d}");
        assert_eq!(Scale::Log { min: 1.0, max: 1e4 }.ticks().len(), 5);
        assert_eq!(nice_step(430.0, 8), 100.0);
    }
}
