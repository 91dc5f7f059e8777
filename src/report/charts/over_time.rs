//! Latency (p50, p95, p99) and error rate per interval of the run, one colour per target, one line style per
//! percentile: a drift, a warm-up or a burst of errors shows where the run's headline figures cannot.

use super::style::*;
use super::*;
use plotters::coord::types::RangedCoordf64;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One interval of one target (chat requests by completion time, as in the report's per-minute table).
#[derive(Clone, Debug, Default)]
pub struct IntervalPoint {
    /// Middle of the interval, seconds since the run started.
    pub t_s: f64,
    /// Non-streamed ok requests' latency percentiles; None when the interval has none.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Failed / finished chat requests; None when none finished in the interval.
    pub error_rate: Option<f64>,
}

/// One target's intervals, in time order.
#[derive(Clone, Debug)]
pub struct IntervalSeries {
    pub label: String,
    /// Palette index: the target's.
    pub colour: usize,
    pub points: Vec<IntervalPoint>,
}

/// Two panels over the run: latency percentiles per interval on top (p99 solid, p95 dashed, p50 dotted), error
/// rate per interval below (a marker per interval). An interval without data breaks the line rather than bridging it.
pub fn over_time<'o>(
    out: impl Into<Out<'o>>,
    title: &str,
    width_s: f64,
    series: &[IntervalSeries],
) -> Result<(), ChartError> {
    render!(
        out,
        (WIDTH, TALL_HEIGHT),
        draw_over_time(title, width_s, series)
    )
}

/// Runs of consecutive intervals that have a value of `f`.
fn runs(points: &[IntervalPoint], f: impl Fn(&IntervalPoint) -> Option<f64>) -> Vec<Points> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for p in points {
        match f(p).filter(|v| v.is_finite() && p.t_s.is_finite()) {
            Some(v) => cur.push((p.t_s, v)),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn draw_over_time<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    width_s: f64,
    series: &[IntervalSeries],
) -> DrawResult<DB> {
    let any = series.iter().any(|s| {
        !runs(&s.points, |p| p.error_rate).is_empty() || !runs(&s.points, |p| p.p99_ms).is_empty()
    });
    if !any {
        return no_data(root, title, "no chat request finished");
    }
    root.fill(&WHITE)?;
    let body = root.titled(&shorten(title, 90), bold(TITLE_SIZE))?;
    let (_, h) = body.dim_in_pixel();
    let (top, bottom) = body.split_vertically(h as i32 * 58 / 100);
    let width_s = if width_s.is_finite() && width_s > 0.0 {
        width_s
    } else {
        1.0
    };
    let x_hi = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.t_s))
        .filter(|x| x.is_finite())
        .fold(0.0f64, f64::max)
        + width_s / 2.0;
    latency_panel(&top, x_hi, width_s, series)?;
    error_panel(&bottom, x_hi, series)
}

fn mesh<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    y_desc: &str,
    x_hi: f64,
    y_fmt: &dyn Fn(&f64) -> String,
) -> DrawResult<DB> {
    let x_step = step_for(0.0, x_hi, 12);
    chart
        .configure_mesh()
        .x_desc("seconds since start")
        .y_desc(y_desc)
        .x_label_formatter(&|x| tick(*x, x_step))
        .y_label_formatter(y_fmt)
        .x_labels(12)
        .y_labels(6)
        .label_style(font(LABEL_SIZE))
        .axis_desc_style(font(DESC_SIZE))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(BLACK.mix(0.03))
        .draw()
}

fn latency_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    x_hi: f64,
    width_s: f64,
    series: &[IntervalSeries],
) -> DrawResult<DB> {
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().flat_map(|p| [p.p50_ms, p.p95_ms, p.p99_ms]))
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let top = top_with_legend(max, series.len(), plot_height(area, 10, 45, 20));
    let y_step = step_for(0.0, top, 6);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "Latency per {} s interval (non-streamed ok chat requests)",
                thousands(width_s, 0)
            ),
            bold(20),
        )
        .margin(12)
        .margin_right(45)
        .x_label_area_size(45)
        .y_label_area_size(label_area(&tick(top, y_step)))
        .build_cartesian_2d(0.0..x_hi, 0.0..top)?;
    mesh(
        &mut chart,
        "ms (p99 solid, p95 dashed, p50 dotted)",
        x_hi,
        &|y| tick(*y, y_step),
    )?;
    for s in series {
        let c = colour(s.colour);
        let mut labelled = false;
        for run in runs(&s.points, |p| p.p99_ms) {
            let drawn = chart.draw_series(LineSeries::new(run, c.stroke_width(3)))?;
            if !labelled {
                drawn.label(shorten(&s.label, 40)).legend(legend_marker(c));
                labelled = true;
            }
        }
        for run in runs(&s.points, |p| p.p95_ms) {
            chart.draw_series(DashedLineSeries::new(run, 10, 6, c.stroke_width(2)))?;
        }
        for run in runs(&s.points, |p| p.p50_ms) {
            chart.draw_series(DashedLineSeries::new(run, 2, 5, c.stroke_width(2)))?;
        }
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

fn error_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    x_hi: f64,
    series: &[IntervalSeries],
) -> DrawResult<DB> {
    let pct: Vec<(usize, &str, Vec<Points>)> = series
        .iter()
        .map(|s| {
            let r = runs(&s.points, |p| p.error_rate.map(|e| e * 100.0));
            (s.colour, s.label.as_str(), r)
        })
        .collect();
    let max = pct
        .iter()
        .flat_map(|(_, _, r)| r.iter().flatten().map(|(_, y)| *y))
        .fold(0.0f64, f64::max);
    let top = if max > 0.0 {
        top_with_legend(max, series.len(), plot_height(area, 10, 45, 20))
    } else {
        1.0
    };
    // Label precision from a finer step than the ~6 ticks drawn, so 0.25% never prints as "0%".
    let y_step = step_for(0.0, top, 12);
    let mut chart = ChartBuilder::on(area)
        .caption("Error rate per interval (chat requests)", bold(20))
        .margin(12)
        .margin_right(45)
        .x_label_area_size(45)
        .y_label_area_size(label_area(&format!("{}%", tick(top, y_step))))
        .build_cartesian_2d(0.0..x_hi, 0.0..top)?;
    mesh(&mut chart, "failed / finished", x_hi, &|y| {
        format!("{}%", tick(*y, y_step))
    })?;
    for (i, label, runs) in &pct {
        let c = colour(*i);
        for (k, run) in runs.iter().enumerate() {
            let drawn =
                chart.draw_series(LineSeries::new(run.iter().copied(), c.stroke_width(2)))?;
            if k == 0 {
                drawn.label(shorten(label, 40)).legend(legend_marker(c));
            }
            chart.draw_series(run.iter().map(|p| Circle::new(*p, 4, c.filled())))?;
        }
    }
    if max == 0.0 {
        let plot = chart.plotting_area().strip_coord_spec();
        let (pw, ph) = plot.dim_in_pixel();
        plot.draw(&Text::new(
            "no errors".to_string(),
            (pw as i32 / 2, ph as i32 / 3),
            font(DESC_SIZE + 2)
                .color(&GREY)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}
