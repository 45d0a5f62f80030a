//! Charts as inline SVG: grouped bars or lines over a 0–max axis. In: a [`Chart`] and
//! the reader's language. Out: SVG markup and its legend.

use super::number;
use crate::pages::Chart;
use cchc_common::kpi::round1;
use cchc_common::Lang;
use maud::{html, Markup};

const PALETTE: [&str; 4] = ["#1f5fa8", "#e08a1e", "#2f9e5a", "#b8322f"];

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;

/// Where the points of one series sit: (x, y, value), `None` where it has no value.
type Points = Vec<Option<(f64, f64, f64)>>;

/// The SVG path through a line series, broken where a value is missing.
fn line_path(points: &Points) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for p in points {
        match p {
            Some((x, y, _)) => {
                let cmd = if pen_down { 'L' } else { 'M' };
                if !d.is_empty() {
                    d.push(' ');
                }
                d.push_str(&format!("{cmd}{x:.1},{y:.1}"));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    d
}

/// A chart as inline SVG with its legend.
pub fn svg(c: &Chart, lang: Lang) -> Markup {
    let plot_w = W - LEFT - 8.0;
    let plot_h = H - BOTTOM - TOP;
    // Counts (communes, dossiers) get whole-number ticks: the axis goes up to a
    // multiple of its four steps.
    let whole = !c.percent
        && c.series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .all(|v| v.fract() == 0.0);
    let max = if c.percent {
        100.0
    } else {
        let top = c
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .fold(0.0f64, |a, b| a.max(*b))
            .max(1.0);
        if whole {
            (top / 4.0).ceil() * 4.0
        } else {
            top
        }
    };
    let y = |v: f64| TOP + plot_h - v / max * plot_h;
    let band = plot_w / c.categories.len().max(1) as f64;
    let k = c.series.len().max(1) as f64;
    let bw = band * 0.8 / k;
    let ticks: Vec<(f64, String)> = (0..=4)
        .map(|i| {
            let v = max * i as f64 / 4.0;
            (
                y(v),
                number(v, if whole || max >= 4.0 { 0 } else { 1 }, lang),
            )
        })
        .collect();
    let series: Vec<(&str, String, Points)> = c
        .series
        .iter()
        .enumerate()
        .map(|(si, s)| {
            let points = s
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.map(|v| {
                        let x = if c.lines {
                            LEFT + band * (i as f64 + 0.5)
                        } else {
                            LEFT + band * i as f64 + band * 0.1 + bw * si as f64
                        };
                        (x, y(v), v)
                    })
                })
                .collect();
            (
                PALETTE[si % PALETTE.len()],
                lang.pick(s.vi, s.en).to_string(),
                points,
            )
        })
        .collect();
    let decimals = if c.lines || c.percent { 1 } else { 0 };
    html! {
        svg.chart viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(lang.pick(&c.vi, &c.en)) xmlns="http://www.w3.org/2000/svg" {
            @for (yy, label) in &ticks {
                line x1=(LEFT) x2=(W - 8.0) y1=(format!("{yy:.1}")) y2=(format!("{yy:.1}")) stroke="#ddd" {}
                text x=(LEFT - 4.0) y=(format!("{:.1}", yy + 3.0)) font-size="10" text-anchor="end" { (label) }
            }
            @for (i, (vi, en)) in c.categories.iter().enumerate() {
                text x=(format!("{:.1}", LEFT + band * (i as f64 + 0.5))) y=(format!("{:.1}", H - BOTTOM + 14.0)) font-size="10" text-anchor="middle" { (lang.pick(vi, en)) }
            }
            @for (color, name, points) in &series {
                @if c.lines {
                    @for (x, yy, v) in points.iter().flatten() {
                        circle cx=(format!("{x:.1}")) cy=(format!("{yy:.1}")) r="2.5" fill=(color) {
                            title { (name) ": " (number(round1(*v), decimals, lang)) }
                        }
                    }
                    path d=(line_path(points)) fill="none" stroke=(color) stroke-width="2" {}
                } @else {
                    @for (x, yy, v) in points.iter().flatten() {
                        rect x=(format!("{x:.1}")) y=(format!("{yy:.1}")) width=(format!("{bw:.1}")) height=(format!("{:.1}", TOP + plot_h - yy)) fill=(color) {
                            title { (name) ": " (number(round1(*v), decimals, lang)) }
                        }
                    }
                }
            }
        }
        div.legend {
            @for (color, name, _) in &series {
                span { i style=(format!("background:{color}")) {} (name) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_breaks_where_a_value_is_missing() {
        let pts: Points = vec![
            Some((1.0, 2.0, 0.0)),
            Some((3.0, 4.0, 0.0)),
            None,
            Some((5.0, 6.0, 0.0)),
        ];
        assert_eq!(line_path(&pts), "M1.0,2.0 L3.0,4.0 M5.0,6.0");
        assert_eq!(line_path(&vec![None]), "");
    }
}
