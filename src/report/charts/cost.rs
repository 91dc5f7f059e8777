//! Projected monthly cost per model, one bar per target.

use super::style::*;
use super::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

// ---------------------------------------------------------------------------------------------------------------
// Cost

/// Grouped bars: one group per model, one bar (colour) per target, monthly USD on the y axis; the legend gives
/// each target's monthly total and what the run itself cost. Entries for the same (target, model) are added up;
/// negative or non-finite amounts count as zero.
pub(crate) fn cost<'o>(
    out: impl Into<Out<'o>>,
    title: &str,
    bars: &[CostBar],
) -> Result<(), ChartError> {
    render!(out, (WIDTH, HEIGHT), draw_cost(title, bars))
}

fn clean_usd(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v
    } else {
        0.0
    }
}

fn draw_cost<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    bars: &[CostBar],
) -> DrawResult<DB> {
    if bars.is_empty() {
        return no_data(root, title, "no cost lines (no priced requests)");
    }
    let (targets, models, monthly, present, run_total) = aggregate(bars);
    root.fill(&WHITE)?;
    let max = monthly
        .iter()
        .flat_map(|r| r.iter().copied())
        .fold(0.0f64, f64::max);
    let top = top_with_legend(max, targets.len(), plot_height(root, 20, 60, TITLE_SIZE));
    let y_step = step_for(0.0, top, 10);
    let y_fmt = |y: &f64| {
        if y_step < 1.0 {
            format!("${}", tick(*y, y_step))
        } else {
            usd(*y)
        }
    };
    let n_models = models.len();
    let n_targets = targets.len();
    let group_w = 0.8;
    let bar_w = group_w / n_targets as f64;
    let centres: Vec<f64> = (0..n_models).map(|i| i as f64 + 0.5).collect();
    let x_range = FixedTicks {
        lo: 0.0,
        hi: n_models as f64,
        bold: centres,
        light: Vec::new(),
    };
    let max_label = (1100 / n_models.max(1) / 9).clamp(6, 40);
    let model_names: Vec<String> = models.iter().map(|m| shorten(m, max_label)).collect();
    let x_fmt = |x: &f64| {
        let i = (x - 0.5).round();
        if (x - 0.5 - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < model_names.len() {
            model_names[i as usize].clone()
        } else {
            String::new()
        }
    };
    let mut chart = ChartBuilder::on(root)
        .caption(shorten(title, 90), bold(TITLE_SIZE))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(label_area(&y_fmt(&top)))
        .build_cartesian_2d(x_range, 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("model")
        .y_desc("projected monthly cost (USD)")
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .y_labels(10)
        .label_style(font(LABEL_SIZE))
        .axis_desc_style(font(DESC_SIZE))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(TRANSPARENT)
        .draw()?;

    // Value labels on the bars only while they fit.
    let bar_px = 1100.0 * bar_w / n_models as f64;
    let value_labels = bar_px >= 60.0;
    for (t, name) in targets.iter().enumerate() {
        let c = colour(t);
        let total: f64 = monthly[t].iter().sum();
        let rects: Vec<Rectangle<(f64, f64)>> = (0..n_models)
            .filter(|m| present[t][*m])
            .map(|m| {
                let x0 = m as f64 + (1.0 - group_w) / 2.0 + t as f64 * bar_w;
                Rectangle::new(
                    [(x0 + 0.01, 0.0), (x0 + bar_w - 0.01, monthly[t][m])],
                    c.filled(),
                )
            })
            .collect();
        chart
            .draw_series(rects)?
            .label(format!(
                "{}: {}/month (this run {})",
                shorten(name, 32),
                usd(total),
                usd(run_total[t])
            ))
            .legend(move |(x, y)| Rectangle::new([(x, y - 7), (x + 20, y + 7)], c.filled()));
        if value_labels {
            chart.draw_series(bar_labels(t, &monthly[t], &present[t], group_w, bar_w))?;
        }
    }
    legend(&mut chart)
}

fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> DrawResult<DB> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .margin(12)
        .label_font(font(LEGEND_SIZE))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

type Table<'a> = (
    Vec<&'a str>,
    Vec<&'a str>,
    Vec<Vec<f64>>,
    Vec<Vec<bool>>,
    Vec<f64>,
);

/// Targets and models in first-seen order; monthly[target][model] and whether that pair has a bar; run totals.
fn aggregate(bars: &[CostBar]) -> Table<'_> {
    let mut models: Vec<&str> = Vec::new();
    let mut targets: Vec<&str> = Vec::new();
    for b in bars {
        if !models.contains(&b.model.as_str()) {
            models.push(&b.model);
        }
        if !targets.contains(&b.target.as_str()) {
            targets.push(&b.target);
        }
    }
    // monthly[target][model], run totals per target
    let mut monthly = vec![vec![0.0f64; models.len()]; targets.len()];
    let mut present = vec![vec![false; models.len()]; targets.len()];
    let mut run_total = vec![0.0f64; targets.len()];
    for b in bars {
        let t = targets.iter().position(|t| *t == b.target).unwrap_or(0);
        let m = models.iter().position(|m| *m == b.model).unwrap_or(0);
        monthly[t][m] += clean_usd(b.monthly_usd);
        present[t][m] = true;
        run_total[t] += clean_usd(b.run_cost_usd);
    }
    (targets, models, monthly, present, run_total)
}

/// The value above each bar of target number `t`.
fn bar_labels(
    t: usize,
    monthly: &[f64],
    present: &[bool],
    group_w: f64,
    bar_w: f64,
) -> Vec<Text<'static, (f64, f64), String>> {
    (0..monthly.len())
        .filter(|m| present[*m])
        .map(|m| {
            let x = m as f64 + (1.0 - group_w) / 2.0 + (t as f64 + 0.5) * bar_w;
            Text::new(
                usd(monthly[m]),
                (x, monthly[m]),
                font(14).pos(Pos::new(HPos::Center, VPos::Bottom)),
            )
        })
        .collect()
}
