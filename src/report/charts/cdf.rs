//! Latency as a cumulative distribution: the share of requests at or under each latency, one colour per target, with
//! the scenario's latency thresholds as vertical lines. `compare` draws the baseline and current runs on one chart.

use super::style::*;
use super::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One distribution: (latency ms, percent of requests at or below it), in increasing order of both.
#[derive(Clone, Debug)]
pub struct CdfCurve {
    pub label: String,
    /// Palette index: the target's.
    pub colour: usize,
    /// Dashed (e.g. the baseline run) or solid.
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// A latency limit drawn as a vertical line, e.g. "gateway.p99_ms < 400" at 400 ms.
#[derive(Clone, Debug)]
pub struct SloLine {
    pub label: String,
    pub ms: f64,
    /// Palette index of the target it limits, None for a limit of every target.
    pub colour: Option<usize>,
}

/// The CDF of each curve; percent on the y axis from 0 to 100.
pub fn latency_cdf<'o>(
    out: impl Into<Out<'o>>,
    title: &str,
    curves: &[CdfCurve],
    slos: &[SloLine],
) -> Result<(), ChartError> {
    render!(out, (WIDTH, HEIGHT), draw_cdf(title, curves, slos))
}

/// One target of a comparison: its CDF in the baseline and in the current run.
#[derive(Clone, Debug)]
pub struct OverlayTarget {
    pub target: String,
    /// Palette index: the target's.
    pub colour: usize,
    pub baseline: Vec<(f64, f64)>,
    pub current: Vec<(f64, f64)>,
}

/// `compare`'s overlay: per target, the baseline run's CDF dashed and the current run's solid, in the target's colour.
pub fn compare_overlay<'o>(
    out: impl Into<Out<'o>>,
    title: &str,
    targets: &[OverlayTarget],
    slos: &[SloLine],
) -> Result<(), ChartError> {
    let curves: Vec<CdfCurve> = targets
        .iter()
        .flat_map(|o| {
            [
                CdfCurve {
                    label: format!("{} baseline", o.target),
                    colour: o.colour,
                    dashed: true,
                    points: o.baseline.clone(),
                },
                CdfCurve {
                    label: format!("{} current", o.target),
                    colour: o.colour,
                    dashed: false,
                    points: o.current.clone(),
                },
            ]
        })
        .collect();
    latency_cdf(out, title, &curves, slos)
}

/// Points kept: finite, percent clamped into [0, 100], sorted by latency then percent (so the line only rises).
fn clean(points: &[(f64, f64)]) -> Points {
    let mut v: Points = points
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite() && *x >= 0.0)
        .map(|(x, y)| (*x, y.clamp(0.0, 100.0)))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    v
}

fn draw_cdf<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    curves: &[CdfCurve],
    slos: &[SloLine],
) -> DrawResult<DB> {
    let curves: Vec<(&CdfCurve, Points)> = curves
        .iter()
        .map(|c| (c, clean(&c.points)))
        .filter(|(_, p)| !p.is_empty())
        .collect();
    if curves.is_empty() {
        return no_data(root, title, "no latency samples were recorded");
    }
    root.fill(&WHITE)?;
    let slos: Vec<&SloLine> = slos
        .iter()
        .filter(|s| s.ms.is_finite() && s.ms > 0.0)
        .collect();
    let max_x = curves
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .chain(slos.iter().map(|s| s.ms))
        .fold(0.0f64, f64::max);
    let x_hi = upper(max_x);
    let x_step = step_for(0.0, x_hi, 12);
    let mut chart = ChartBuilder::on(root)
        .caption(shorten(title, 90), bold(TITLE_SIZE))
        .margin(20)
        .margin_right(50)
        .x_label_area_size(60)
        .y_label_area_size(label_area("100%"))
        .build_cartesian_2d(0.0..x_hi, 0.0..100.0)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms)")
        .y_desc("requests at or below (%)")
        .x_label_formatter(&|x| tick(*x, x_step))
        .y_label_formatter(&|y| format!("{}%", tick(*y, 10.0)))
        .x_labels(12)
        .y_labels(11)
        .label_style(font(LABEL_SIZE))
        .axis_desc_style(font(DESC_SIZE))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(BLACK.mix(0.03))
        .draw()?;
    for (i, s) in slos.iter().enumerate() {
        let c = s.colour.map_or(GREY, colour);
        chart.draw_series(DashedLineSeries::new(
            vec![(s.ms, 0.0), (s.ms, 100.0)],
            6,
            4,
            c.mix(0.8).stroke_width(2),
        ))?;
        // The label on the side of the line with more room.
        let (side, x) = if s.ms < x_hi / 2.0 {
            (HPos::Left, s.ms + x_hi * 0.005)
        } else {
            (HPos::Right, s.ms - x_hi * 0.005)
        };
        chart.draw_series(std::iter::once(Text::new(
            shorten(&s.label, 40),
            (x, 97.0 - 4.0 * i as f64),
            font(LABEL_SIZE).pos(Pos::new(side, VPos::Center)),
        )))?;
    }
    for (c, pts) in &curves {
        let col = colour(c.colour);
        let style = col.stroke_width(3);
        let drawn = if c.dashed {
            chart.draw_series(DashedLineSeries::new(pts.iter().copied(), 10, 6, style))?
        } else {
            chart.draw_series(LineSeries::new(pts.iter().copied(), style))?
        };
        let drawn = drawn.label(shorten(&c.label, 48));
        if c.dashed {
            // The legend shows the dash too, so "baseline" and "current" differ there as on the plot.
            drawn.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (9, 0)], col.stroke_width(3))
                    + PathElement::new(vec![(15, 0), (24, 0)], col.stroke_width(3))
            });
        } else {
            drawn.legend(legend_marker(col));
        }
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
}
