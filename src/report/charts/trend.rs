//! Nightly history: a figure per run against the run's start time (UTC), a colour per series, ticks on whole
//! minutes, hours, days or weeks so a label names the instant its tick stands at.

use super::style::*;
use super::*;

/// One line per series against the runs' start times (x: Unix seconds), a marker per run.
pub fn trend<'o>(
    out: impl Into<Out<'o>>,
    title: &str,
    series: &[TimeSeries],
) -> Result<(), ChartError> {
    render!(out, (WIDTH, HEIGHT), draw_trend(title, series))
}

const MINUTE: f64 = 60.0;
const HOUR: f64 = 3600.0;
const DAY: f64 = 86_400.0;
/// Tick steps, seconds: the first that gives at most 8 ticks is used.
const STEPS: &[f64] = &[
    MINUTE,
    5.0 * MINUTE,
    15.0 * MINUTE,
    30.0 * MINUTE,
    HOUR,
    3.0 * HOUR,
    6.0 * HOUR,
    12.0 * HOUR,
    DAY,
    2.0 * DAY,
    7.0 * DAY,
    14.0 * DAY,
    28.0 * DAY,
    91.0 * DAY,
    364.0 * DAY,
];

/// A date axis over [lo, hi] (Unix seconds, padded by 5%, at least 30 minutes each side) with ticks at whole steps
/// (whole days fall on UTC midnight); returns the axis and its step.
pub(super) fn date_axis(lo: f64, hi: f64) -> (FixedTicks, f64) {
    let pad = ((hi - lo) * 0.05).max(30.0 * MINUTE);
    let (lo, hi) = (lo - pad, hi + pad);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| (hi - lo) / s <= 8.0)
        .unwrap_or_else(|| ((hi - lo) / 8.0 / DAY).ceil() * DAY);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let bold = (first..=last).map(|k| k as f64 * step).collect();
    (
        FixedTicks {
            lo,
            hi,
            bold,
            light: Vec::new(),
        },
        step,
    )
}

/// The text of a tick: the day when ticks are days apart, else day and time.
pub(super) fn date_label(x: f64, step: f64) -> String {
    let Some(t) = chrono::DateTime::from_timestamp(x.round() as i64, 0) else {
        return String::new();
    };
    if step >= DAY {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.format("%m-%d %H:%M").to_string()
    }
}

fn draw_trend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[TimeSeries],
) -> DrawResult<DB> {
    let series = indexed_series(series);
    if series.is_empty() {
        return no_data(root, title, "no run has this figure");
    }
    root.fill(&WHITE)?;
    let all = || series.iter().flat_map(|(_, _, p)| p.iter().copied());
    let x_lo = all().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let x_hi = all().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let y_max = all().map(|p| p.1).fold(0.0f64, f64::max);
    let y_min = all().map(|p| p.1).fold(0.0f64, f64::min);
    let (x_axis, step) = date_axis(x_lo, x_hi);
    let top = top_with_legend(y_max, series.len(), plot_height(root, 20, 60, TITLE_SIZE));
    let y_lo = if y_min < 0.0 { y_min * 1.1 } else { 0.0 };
    let y_step = step_for(y_lo, top, 8);
    let mut chart = ChartBuilder::on(root)
        .caption(shorten(title, 90), bold(TITLE_SIZE))
        .margin(20)
        .margin_right(60)
        .x_label_area_size(60)
        .y_label_area_size(label_area(&tick(top, y_step)))
        .build_cartesian_2d(x_axis, y_lo..top)?;
    chart
        .configure_mesh()
        .x_desc("run start (UTC)")
        .x_label_formatter(&|x| date_label(*x, step))
        .y_label_formatter(&|y| tick(*y, y_step))
        .y_labels(9)
        .label_style(font(LABEL_SIZE))
        .axis_desc_style(font(DESC_SIZE))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(TRANSPARENT)
        .draw()?;
    for (i, label, pts) in &series {
        let c = colour(*i);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
            .label(shorten(label, 48))
            .legend(legend_marker(c));
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, c.filled())))?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
}
