//! A canary rollout phase by phase: p99 latency and error rate side by side, one group of bars per phase, one bar
//! (colour) per target, so a phase where the gateway degrades as its share grows stands out.

use super::style::*;
use super::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One canary phase's figures, per target in the order of the chart's target list.
#[derive(Clone, Debug)]
pub struct CanaryPhase {
    pub name: String,
    /// Non-streamed ok chat requests' p99, ms; None when the target served none in the phase.
    pub p99_ms: Vec<Option<f64>>,
    /// Failed / finished requests; None when the target finished none in the phase.
    pub error_rate: Vec<Option<f64>>,
}

/// Two panels: p99 per phase (left), error rate per phase (right). `targets` are (name, palette index).
pub fn canary_phases<'o>(
    out: impl Into<Out<'o>>,
    title: &str,
    targets: &[(String, usize)],
    phases: &[CanaryPhase],
) -> Result<(), ChartError> {
    render!(out, (WIDTH, HEIGHT), draw_canary(title, targets, phases))
}

fn draw_canary<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    targets: &[(String, usize)],
    phases: &[CanaryPhase],
) -> DrawResult<DB> {
    if phases.is_empty() || targets.is_empty() {
        return no_data(root, title, "not a canary run");
    }
    root.fill(&WHITE)?;
    let body = root.titled(&shorten(title, 90), bold(TITLE_SIZE))?;
    let (w, _) = body.dim_in_pixel();
    let (left, right) = body.split_horizontally(w as i32 / 2);
    let p99: Vec<&[Option<f64>]> = phases.iter().map(|p| p.p99_ms.as_slice()).collect();
    let err: Vec<Vec<Option<f64>>> = phases
        .iter()
        .map(|p| p.error_rate.iter().map(|e| e.map(|e| e * 100.0)).collect())
        .collect();
    let err: Vec<&[Option<f64>]> = err.iter().map(Vec::as_slice).collect();
    let names: Vec<&str> = phases.iter().map(|p| p.name.as_str()).collect();
    let p99_panel = BarPanel {
        caption: "p99 latency (non-streamed)",
        y_desc: "ms",
        unit: "",
        names: &names,
        values: &p99,
    };
    bars(&left, &p99_panel, targets)?;
    let err_panel = BarPanel {
        caption: "error rate",
        y_desc: "failed / finished",
        unit: "%",
        names: &names,
        values: &err,
    };
    bars(&right, &err_panel, targets)
}

struct BarPanel<'a> {
    caption: &'a str,
    y_desc: &'a str,
    /// Appended to tick and bar labels, e.g. "%".
    unit: &'a str,
    /// Phase names.
    names: &'a [&'a str],
    /// values[phase][target].
    values: &'a [&'a [Option<f64>]],
}

/// One panel of grouped bars: a group per phase, a bar per target; "–" where a target has no figure.
fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &BarPanel,
    targets: &[(String, usize)],
) -> DrawResult<DB> {
    let n_phases = p.names.len();
    let n_targets = targets.len();
    let value = |ph: usize, t: usize| {
        p.values
            .get(ph)
            .and_then(|v| v.get(t))
            .copied()
            .flatten()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let max = (0..n_phases)
        .flat_map(|ph| (0..n_targets).filter_map(move |t| value(ph, t)))
        .fold(0.0f64, f64::max);
    let top = top_with_legend(max, n_targets, plot_height(area, 12, 50, 20));
    let y_step = step_for(0.0, top, 8);
    let centres: Vec<f64> = (0..n_phases).map(|i| i as f64 + 0.5).collect();
    let x_range = FixedTicks {
        lo: 0.0,
        hi: n_phases as f64,
        bold: centres,
        light: Vec::new(),
    };
    let max_label = (540 / n_phases.max(1) / 9).clamp(4, 30);
    let x_fmt = |x: &f64| {
        let i = (x - 0.5).round();
        match p.names.get(i as usize) {
            Some(n) if i >= 0.0 && (x - 0.5 - i).abs() < 1e-6 => shorten(n, max_label),
            _ => String::new(),
        }
    };
    let y_fmt = |y: &f64| format!("{}{}", tick(*y, y_step), p.unit);
    let mut chart = ChartBuilder::on(area)
        .caption(p.caption, bold(20))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(label_area(&y_fmt(&top)))
        .build_cartesian_2d(x_range, 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("canary phase")
        .y_desc(p.y_desc)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .y_labels(8)
        .label_style(font(LABEL_SIZE))
        .axis_desc_style(font(DESC_SIZE))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(TRANSPARENT)
        .draw()?;
    let group_w = 0.8;
    let bar_w = group_w / n_targets as f64;
    let label_style = font(13).pos(Pos::new(HPos::Center, VPos::Bottom));
    for (t, (name, ci)) in targets.iter().enumerate() {
        let c = colour(*ci);
        let x0 = |ph: usize| ph as f64 + (1.0 - group_w) / 2.0 + t as f64 * bar_w;
        let rects: Vec<Rectangle<(f64, f64)>> = (0..n_phases)
            .filter_map(|ph| {
                let v = value(ph, t)?;
                Some(Rectangle::new(
                    [(x0(ph) + 0.01, 0.0), (x0(ph) + bar_w - 0.01, v)],
                    c.filled(),
                ))
            })
            .collect();
        chart
            .draw_series(rects)?
            .label(shorten(name, 32))
            .legend(move |(x, y)| Rectangle::new([(x, y - 7), (x + 20, y + 7)], c.filled()));
        let labels: Vec<Text<'_, (f64, f64), String>> = (0..n_phases)
            .map(|ph| {
                let x = x0(ph) + bar_w / 2.0;
                match value(ph, t) {
                    Some(v) => Text::new(
                        format!("{}{}", tick(v, y_step / 10.0), p.unit),
                        (x, v),
                        label_style.clone(),
                    ),
                    None => Text::new("–".to_string(), (x, 0.0), label_style.clone()),
                }
            })
            .collect();
        if bar_w * 540.0 / n_phases as f64 >= 36.0 {
            chart.draw_series(labels)?;
        }
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}
