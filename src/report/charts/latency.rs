//! The classic HdrHistogram latency-by-percentile plot.

use super::style::*;
use super::*;

// ---------------------------------------------------------------------------------------------------------------
// Latency by percentile

/// log10(1 / (1 - p/100)): 0% -> 0, 90% -> 1, 99% -> 2, 99.9% -> 3 ...
pub(super) fn nines(p: f64) -> f64 {
    (1.0 / (1.0 - p / 100.0)).log10()
}

/// Tick text for log10(1/(1-p)) = i: "0%", "90%", "99%", "99.9%", "99.99%" ...
/// Where p50 sits on the nines axis: -log10(1 - 0.5).
const P50: f64 = std::f64::consts::LOG10_2;

pub(super) fn nines_label(i: f64) -> String {
    if (i - P50).abs() < 1e-6 {
        return "50%".into();
    }
    let r = i.round();
    if (i - r).abs() > 1e-6 || r < 0.0 {
        return String::new();
    }
    match r as u32 {
        0 => "0%".into(),
        1 => "90%".into(),
        2 => "99%".into(),
        n => format!("99.{}%", "9".repeat((n - 2).min(12) as usize)),
    }
}

pub(super) fn percentile_label(p: f64) -> String {
    let s = format!("{p:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("p{s}")
}

/// The classic HdrHistogram plot: latency (ms) against percentile on a "number of nines" log axis.
/// Percentiles outside [0, 100) (100 itself maps to infinity) and non-finite values are dropped.
pub(crate) fn latency_percentiles<'o>(
    out: impl Into<Out<'o>>,
    title: &str,
    curves: &[LatencyCurve],
) -> Result<(), ChartError> {
    render!(out, (WIDTH, HEIGHT), draw_latency(title, curves))
}

fn draw_latency<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    curves: &[LatencyCurve],
) -> DrawResult<DB> {
    let curves: Vec<(String, Points, Points, usize, bool)> = curves
        .iter()
        .map(|c| {
            let raw: Vec<(f64, f64)> = finite_points(&c.points)
                .into_iter()
                .filter(|(p, _)| (0.0..100.0).contains(p))
                .collect();
            let pts = raw.iter().map(|(p, ms)| (nines(*p), *ms)).collect();
            (c.label.clone(), raw, pts, c.colour, c.dashed)
        })
        .filter(|(_, _, pts, _, _): &(String, _, Points, _, _)| !pts.is_empty())
        .collect();
    if curves.is_empty() {
        return no_data(root, title, "no latency samples were recorded");
    }
    root.fill(&WHITE)?;
    let max_x = curves
        .iter()
        .flat_map(|(_, _, p, _, _)| p.iter().map(|(x, _)| *x))
        .fold(0.0f64, f64::max);
    // Whole decades, at least up to 99%, at most 99.9999999999%.
    let decades = (max_x - 1e-9).ceil().clamp(2.0, 14.0);
    let max_y = curves
        .iter()
        .flat_map(|(_, _, p, _, _)| p.iter().map(|(_, y)| *y))
        .fold(0.0f64, f64::max);
    let top = top_with_legend(max_y, curves.len(), plot_height(root, 20, 60, TITLE_SIZE));
    let y_step = step_for(0.0, top, 10);

    // A tick at p50 as well as at every nine.
    let mut bold_points: Vec<f64> = (0..=decades as u32).map(f64::from).collect();
    bold_points.insert(1, P50);
    let light_points: Vec<f64> = (0..decades as u32)
        .flat_map(|d| (2..10).map(move |k| d as f64 + (k as f64).log10()))
        .collect();
    let x_range = FixedTicks {
        lo: 0.0,
        hi: decades,
        bold: bold_points,
        light: light_points,
    };

    let mut chart = ChartBuilder::on(root)
        .caption(shorten(title, 90), bold(TITLE_SIZE))
        .margin(20)
        .margin_right(50)
        .x_label_area_size(60)
        .y_label_area_size(label_area(&tick(top, y_step)))
        .build_cartesian_2d(x_range, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_label_formatter(&|x| nines_label(*x))
        .y_label_formatter(&|y| tick(*y, y_step))
        .y_labels(10)
        .label_style(font(LABEL_SIZE))
        .axis_desc_style(font(DESC_SIZE))
        .bold_line_style(BLACK.mix(0.18))
        .light_line_style(BLACK.mix(0.06))
        .draw()?;

    for (label, raw, pts, colour_i, dashed) in &curves {
        let c = colour(*colour_i);
        let legend = legend_text(label, raw);
        let style = c.stroke_width(3);
        let drawn = if *dashed {
            chart.draw_series(DashedLineSeries::new(pts.iter().copied(), 10, 6, style))?
        } else {
            chart.draw_series(LineSeries::new(pts.iter().copied(), style))?
        };
        drawn.label(legend).legend(legend_marker(c));
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .margin(12)
        .label_font(font(LEGEND_SIZE))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

/// Legend: the curve's label plus the headline percentiles it has.
fn legend_text(label: &str, raw: &[(f64, f64)]) -> String {
    // Legend: label plus the headline percentiles the curve has.
    let mut legend = shorten(label, 48);
    let key: Vec<String> = [50.0, 99.0]
        .iter()
        .filter_map(|want| {
            raw.iter()
                .find(|(p, _)| (p - want).abs() < 1e-9)
                .map(|(p, ms)| format!("{} {} ms", percentile_label(*p), thousands(*ms, 1)))
        })
        .collect();
    if !key.is_empty() {
        legend = format!("{legend}  ({})", key.join(", "));
    }
    legend
}
