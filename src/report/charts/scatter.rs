//! A time (TTFT, or end-to-end) against output tokens per request, one colour per target, with each target's
//! least-squares line: its slope is the time per generated token, its intercept the fixed cost of a request.

use super::style::*;
use super::*;

/// One target's sampled requests.
#[derive(Clone, Debug)]
pub struct ScatterSeries {
    pub label: String,
    /// Palette index: the target's.
    pub colour: usize,
    /// (output tokens, ms).
    pub points: Vec<(f64, f64)>,
    /// How many requests the points were sampled from (said in the legend).
    pub sampled_from: u64,
    /// A second population of the same target (e.g. non-streamed beside streamed): hollow markers, dashed line.
    pub dashed: bool,
}

/// Points (faint) and each target's fitted line (solid); the legend gives intercept and slope.
pub fn tokens_scatter<'o>(
    out: impl Into<Out<'o>>,
    title: &str,
    y_desc: &str,
    series: &[ScatterSeries],
) -> Result<(), ChartError> {
    render!(out, (WIDTH, HEIGHT), draw_scatter(title, y_desc, series))
}

/// Least-squares line through `points`: (intercept, slope); None without two distinct x.
pub(super) fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= f64::EPSILON * n || !sxx.is_finite() || !sxy.is_finite() {
        return None;
    }
    let b = sxy / sxx;
    Some((my - b * mx, b))
}

fn legend_text(label: &str, n: usize, of: u64, line: Option<(f64, f64)>) -> String {
    let sample = if of > n as u64 {
        format!(
            "{} of {} requests",
            thousands(n as f64, 0),
            thousands(of as f64, 0)
        )
    } else {
        format!("{} requests", thousands(n as f64, 0))
    };
    match line {
        Some((a, b)) => format!(
            "{}: {} ms {} {:.2} ms/token  ({sample})",
            shorten(label, 32),
            thousands(a, 1),
            if b < 0.0 { "−" } else { "+" },
            b.abs()
        ),
        None => format!("{}  ({sample})", shorten(label, 32)),
    }
}

fn draw_scatter<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    series: &[ScatterSeries],
) -> DrawResult<DB> {
    let series: Vec<(&ScatterSeries, Points)> = series
        .iter()
        .map(|s| (s, finite_points(&s.points)))
        .filter(|(_, p)| !p.is_empty())
        .collect();
    if series.is_empty() {
        return no_data(root, title, "no ok request with this figure");
    }
    root.fill(&WHITE)?;
    let all = || series.iter().flat_map(|(_, p)| p.iter().copied());
    let max_x = all().map(|p| p.0).fold(0.0f64, f64::max);
    let max_y = all().map(|p| p.1).fold(0.0f64, f64::max);
    let x_hi = upper(max_x);
    let top = top_with_legend(max_y, series.len(), plot_height(root, 20, 60, TITLE_SIZE));
    let (x_step, y_step) = (step_for(0.0, x_hi, 10), step_for(0.0, top, 10));
    let mut chart = ChartBuilder::on(root)
        .caption(shorten(title, 90), bold(TITLE_SIZE))
        .margin(20)
        .margin_right(45)
        .x_label_area_size(60)
        .y_label_area_size(label_area(&tick(top, y_step)))
        .build_cartesian_2d(0.0..x_hi, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("output tokens")
        .y_desc(y_desc)
        .x_label_formatter(&|x| tick(*x, x_step))
        .y_label_formatter(&|y| tick(*y, y_step))
        .y_labels(10)
        .label_style(font(LABEL_SIZE))
        .axis_desc_style(font(DESC_SIZE))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(BLACK.mix(0.03))
        .draw()?;
    for (s, pts) in &series {
        let c = colour(s.colour);
        let style = if s.dashed {
            c.mix(0.5).stroke_width(1)
        } else {
            c.mix(0.35).filled()
        };
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 2, style)))?;
    }
    // Lines after every point, so no target's cloud hides another's line.
    for (s, pts) in &series {
        let c = colour(s.colour);
        let line = fit(pts);
        let text = legend_text(&s.label, pts.len(), s.sampled_from, line);
        let (x0, x1) = (pts[0].0, pts[pts.len() - 1].0);
        let ends = match line {
            Some((a, b)) => vec![(x0, a + b * x0), (x1, a + b * x1)],
            None => Vec::new(),
        };
        let drawn = if s.dashed {
            chart.draw_series(DashedLineSeries::new(ends, 10, 6, c.stroke_width(3)))?
        } else {
            chart.draw_series(LineSeries::new(ends, c.stroke_width(3)))?
        };
        drawn.label(text).legend(legend_marker(c));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
}
