//! Lines over time: throughput and errors, generic time series.

use super::style::*;
use super::*;
use plotters::coord::types::RangedCoordf64;
use plotters::style::text_anchor::{HPos, Pos, VPos};

// ---------------------------------------------------------------------------------------------------------------
// Time series

struct Panel<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    /// Text shown when there are series but every value is zero, e.g. "no errors".
    all_zero_note: &'a str,
    legend_pos: SeriesLabelPosition,
    /// Whole counts per second: drawn as steps (each value held for its second), not as spiky lines.
    steps: bool,
}

/// Lines over time, one per series, with a legend.
#[cfg(test)]
pub(crate) fn time_series<'o>(
    out: impl Into<Out<'o>>,
    title: &str,
    y_label: &str,
    series: &[TimeSeries],
) -> Result<(), ChartError> {
    let panel = Panel {
        title,
        x_desc: "seconds since start",
        y_desc: y_label,
        all_zero_note: "",
        legend_pos: SeriesLabelPosition::UpperRight,
        steps: false,
    };
    render!(out, (WIDTH, HEIGHT), draw_panel_root(&panel, series))
}

/// Two stacked panels sharing colours by index: throughput (ok requests/s) on top, errors/s below.
pub(crate) fn errors_and_throughput<'o>(
    out: impl Into<Out<'o>>,
    throughput: &[TimeSeries],
    errors: &[TimeSeries],
) -> Result<(), ChartError> {
    render!(
        out,
        (WIDTH, TALL_HEIGHT),
        draw_errors_and_throughput(throughput, errors)
    )
}

#[cfg(test)]
fn draw_panel_root<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panel: &Panel,
    series: &[TimeSeries],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    draw_panel(root, panel, series)
}

fn draw_errors_and_throughput<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    throughput: &[TimeSeries],
    errors: &[TimeSeries],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (_, h) = root.dim_in_pixel();
    let (top, bottom) = root.split_vertically(h as i32 * 55 / 100);
    draw_panel(
        &top,
        &Panel {
            title: "Throughput",
            x_desc: "seconds since start",
            y_desc: "ok requests/s",
            all_zero_note: "no successful requests",
            legend_pos: SeriesLabelPosition::UpperRight,
            steps: false,
        },
        throughput,
    )?;
    draw_panel(
        &bottom,
        &Panel {
            title: "Errors",
            x_desc: "seconds since start",
            y_desc: "errors/s",
            all_zero_note: "no errors",
            legend_pos: SeriesLabelPosition::UpperRight,
            steps: true,
        },
        errors,
    )
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    series: &[TimeSeries],
) -> DrawResult<DB> {
    let series: Vec<(usize, &str, Points)> = indexed_series(series)
        .into_iter()
        .map(|(i, l, p)| (i, l, if panel.steps { steps(&p) } else { p }))
        .collect();
    if series.is_empty() {
        return no_data(area, panel.title, "no samples in this series");
    }
    let all = || series.iter().flat_map(|(_, _, p)| p.iter().copied());
    let (x_lo, x_hi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (x, _)| {
        (lo.min(x), hi.max(x))
    });
    let (x_lo, x_hi) = span(x_lo, x_hi);
    let (y_min, y_max) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, y)| {
        (lo.min(y), hi.max(y))
    });
    // Value axes start at zero unless values go negative.
    let (_, h) = area.dim_in_pixel();
    let title_size = if h < 450 { 22 } else { TITLE_SIZE };
    let (y_lo, y_hi) = if y_min >= 0.0 {
        (
            0.0,
            top_with_legend(y_max, series.len(), plot_height(area, 18, 55, title_size)),
        )
    } else {
        let (lo, hi) = span(y_min, y_max.max(0.0));
        let pad = (hi - lo) * 0.08;
        (lo - pad, hi + pad)
    };
    let all_zero = y_min == 0.0 && y_max == 0.0;
    let y_step = step_for(y_lo, y_hi, 8);
    let x_step = step_for(x_lo, x_hi, 12);
    let y_sample = tick(y_hi, y_step);
    let y_sample = if tick(y_lo, y_step).len() > y_sample.len() {
        tick(y_lo, y_step)
    } else {
        y_sample
    };
    let y_labels = if h < 450 { 6 } else { 9 };

    let mut chart = ChartBuilder::on(area)
        .caption(shorten(panel.title, 90), bold(title_size))
        .margin(18)
        .margin_right(45)
        .x_label_area_size(55)
        .y_label_area_size(label_area(&y_sample))
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
    let x_fmt = |x: &f64| tick(*x, x_step);
    let y_fmt = |y: &f64| tick(*y, y_step);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(panel.x_desc)
        .y_desc(panel.y_desc)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .y_labels(y_labels)
        .label_style(font(LABEL_SIZE))
        .axis_desc_style(font(DESC_SIZE))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(BLACK.mix(0.03));
    mesh.x_labels(12);
    mesh.draw()?;

    draw_lines(&mut chart, panel, &series, all_zero)
}

/// The series of a panel, its legend, and the note shown when every value is zero.
fn draw_lines<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    panel: &Panel,
    series: &[(usize, &str, Points)],
    all_zero: bool,
) -> DrawResult<DB> {
    for (i, label, pts) in series {
        let c = colour(*i);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
            .label(shorten(label, 48))
            .legend(legend_marker(c));
        if pts.len() <= 2 {
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, c.filled())))?;
        }
    }
    chart
        .configure_series_labels()
        .position(panel.legend_pos.clone())
        .margin(10)
        .label_font(font(LEGEND_SIZE))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    if all_zero && !panel.all_zero_note.is_empty() {
        let plot = chart.plotting_area().strip_coord_spec();
        let (pw, ph) = plot.dim_in_pixel();
        plot.draw(&Text::new(
            panel.all_zero_note.to_string(),
            (pw as i32 / 2, ph as i32 / 2),
            font(DESC_SIZE + 2)
                .color(&GREY)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// Each value held until the next x (the last for one more unit): a step line for per-second counts.
fn steps(p: &[(f64, f64)]) -> Points {
    let mut out = Vec::with_capacity(p.len() * 2);
    for (i, (x, y)) in p.iter().enumerate() {
        let next = p.get(i + 1).map_or(x + 1.0, |n| n.0);
        out.push((*x, *y));
        out.push((next, *y));
    }
    out
}
