//! A capacity sweep's outputs: `sweep.csv` (one row per step), `results.json` (capacity per target) and `sweep.png`
//! (latency percentiles and error rate against offered rate, one colour per target, the SLO lines drawn).

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use super::charts::{ensure_font, target_colour, ChartError, FONT};
use super::error::{io, ReportError};
use crate::config::metric::Metric;
use crate::measure::capacity::Slo;

/// One step of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct StepRow {
    pub(crate) target: String,
    pub(crate) step: u32,
    /// Chat requests per second offered (conversations/s x chat turns per conversation).
    pub offered_rps: f64,
    /// Chat requests finished (ok or error) per second of the step.
    pub(crate) achieved_rps: f64,
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
    pub(crate) ttft_p99_ms: Option<f64>,
    pub(crate) error_rate: Option<f64>,
    pub meets_slo: bool,
    /// Seconds of arrivals in the step.
    pub(crate) step_s: f64,
    /// Whether the step reached the samples its SLOs need (see `Slo::samples_needed`).
    pub(crate) enough_samples: bool,
    /// The SLOs this step breached, `;`-separated.
    pub breached: String,
}

/// What a sweep found for one target.
#[derive(Debug, Clone, Serialize)]
pub struct Capacity {
    pub max_rps_meeting_slo: Option<f64>,
    pub first_failing_rps: Option<f64>,
    /// The SLO metric breached furthest at the first failing rate.
    pub(crate) limiting_metric: Option<String>,
    /// The scenario's peak offered rate (chat requests/s).
    pub(crate) peak_rps: f64,
    /// max_rps_meeting_slo / peak_rps.
    pub(crate) headroom_over_peak: Option<f64>,
}

fn data_err(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Data {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Write `sweep.csv` and the sweep's `results.json` (`{"kind": "sweep", "capacity": {target: ...}, "slo": [...],
/// "step_rule": "..."}`): the same file name as a run's machine-readable document, told apart by `kind`.
pub(crate) fn write(
    dir: &Path,
    rows: &[StepRow],
    capacity: &BTreeMap<String, Capacity>,
    slos: &[Slo],
    step_rule: &str,
) -> Result<(), ReportError> {
    let p = dir.join("sweep.csv");
    let mut w = csv::Writer::from_path(&p).map_err(|e| data_err(&p, e))?;
    for r in rows {
        w.serialize(r).map_err(|e| data_err(&p, e))?;
    }
    w.flush().map_err(io(&p))?;
    let p = dir.join("results.json");
    let doc = serde_json::json!({
        "kind": "sweep",
        "capacity": capacity,
        "slo": slos.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "step_rule": step_rule,
    });
    let text = serde_json::to_string_pretty(&doc).expect("serialisable");
    std::fs::write(&p, text).map_err(io(&p))
}

/// `sweep.png`: p50 (dashed) and p99 latency on top, error rate below, against offered rate; SLO lines in grey.
/// `targets` are all the scenario's target names: a target has the colour the run report gives it (its place among
/// them in name order), whichever targets were swept. An SVG file when `path` ends in `.svg` (`--chart-format svg`).
pub(crate) fn chart(
    path: &Path,
    rows: &[StepRow],
    slos: &[Slo],
    targets: &[String],
) -> Result<(), ChartError> {
    ensure_font()?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
    {
        chart_on(
            SVGBackend::new(path, SIZE).into_drawing_area(),
            path,
            rows,
            slos,
            targets,
        )
    } else {
        chart_on(
            BitMapBackend::new(path, SIZE).into_drawing_area(),
            path,
            rows,
            slos,
            targets,
        )
    }
}

fn chart_on<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    path: &Path,
    rows: &[StepRow],
    slos: &[Slo],
    targets: &[String],
) -> Result<(), ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError::Draw {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    render(&root, rows, slos, targets).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

/// Width and height of the sweep chart, pixels.
const SIZE: (u32, u32) = (1100, 900);

fn render<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    rows: &[StepRow],
    slos: &[Slo],
    targets: &[String],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(520);
    let x_max = rows.iter().map(|r| r.offered_rps).fold(1.0, f64::max) * 1.05;
    let slo_at = |m: Metric| slos.iter().find(|s| s.metric == m).map(|s| s.value);
    let y_max = rows
        .iter()
        .flat_map(|r| [r.p50_ms, r.p99_ms])
        .flatten()
        .chain(slo_at(Metric::P99Ms))
        .fold(1.0, f64::max)
        * 1.1;
    let e_max = rows
        .iter()
        .filter_map(|r| r.error_rate)
        .chain(slo_at(Metric::ErrorRate))
        .fold(0.01, f64::max)
        * 1.1;
    let latency = Panel {
        title: "Latency vs offered rate",
        y_desc: "latency, ms (p99 solid, p50 dashed)",
        x_max,
        y_max,
        slo: slo_at(Metric::P99Ms),
        value: |r| r.p99_ms,
        dashed: Some(|r| r.p50_ms),
    };
    draw(&top, rows, &latency, targets)?;
    let errors = Panel {
        title: "Error rate vs offered rate",
        y_desc: "error rate",
        x_max,
        y_max: e_max,
        slo: slo_at(Metric::ErrorRate),
        value: |r| r.error_rate,
        dashed: None,
    };
    draw(&bottom, rows, &errors, targets)
}

/// The place of `target` among `all` in name order (the report's `metrics.targets` order); unknown names after them.
fn palette_index(all: &[String], target: &str) -> usize {
    let mut names: Vec<&str> = all.iter().map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();
    names
        .iter()
        .position(|n| *n == target)
        .unwrap_or(names.len())
}

struct Panel {
    title: &'static str,
    y_desc: &'static str,
    x_max: f64,
    y_max: f64,
    slo: Option<f64>,
    value: fn(&StepRow) -> Option<f64>,
    dashed: Option<fn(&StepRow) -> Option<f64>>,
}

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    rows: &[StepRow],
    p: &Panel,
    all: &[String],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mut c = ChartBuilder::on(area)
        .caption(p.title, (FONT, 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..p.x_max, 0.0..p.y_max)?;
    c.configure_mesh()
        .x_desc("offered chat requests/s")
        .y_desc(p.y_desc)
        .label_style((FONT, 15))
        .draw()?;
    let mut targets: Vec<&str> = rows.iter().map(|r| r.target.as_str()).collect();
    targets.dedup();
    for t in &targets {
        let colour = target_colour(palette_index(all, t));
        let points = |f: fn(&StepRow) -> Option<f64>| {
            let mut v: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.target == *t)
                .filter_map(|r| f(r).map(|y| (r.offered_rps, y.min(p.y_max))))
                .collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            v
        };
        let main = points(p.value);
        c.draw_series(LineSeries::new(main.clone(), colour.stroke_width(3)))?
            .label(*t)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
            });
        c.draw_series(main.iter().map(|q| Circle::new(*q, 4, colour.filled())))?;
        if let Some(f) = p.dashed {
            c.draw_series(DashedLineSeries::new(
                points(f),
                8,
                6,
                colour.stroke_width(2),
            ))?;
        }
    }
    if let Some(v) = p.slo {
        let grey = RGBColor(110, 110, 110);
        c.draw_series(LineSeries::new(
            vec![(0.0, v), (p.x_max, v)],
            grey.stroke_width(2),
        ))?
        .label(format!("SLO {v}"))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey.stroke_width(2)));
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: &str, rps: f64, p99: f64) -> StepRow {
        StepRow {
            target: target.into(),
            step: 0,
            offered_rps: rps,
            achieved_rps: rps,
            ok: 100,
            errors: 0,
            p50_ms: Some(p99 / 2.0),
            p99_ms: Some(p99),
            ttft_p99_ms: None,
            error_rate: Some(0.0),
            meets_slo: true,
            step_s: 1.0,
            enough_samples: true,
            breached: String::new(),
        }
    }

    /// Pixels of exactly `c` in an RGB buffer.
    fn count(buf: &[u8], c: RGBColor) -> usize {
        buf.chunks_exact(3)
            .filter(|p| (p[0], p[1], p[2]) == (c.0, c.1, c.2))
            .count()
    }

    /// The run report colours target i (name order) with palette entry i: gateway blue, legacy orange in the
    /// bundled scenario. The sweep chart must agree, also when only one of them was swept.
    #[test]
    fn a_target_has_the_report_palette_colour() {
        ensure_font().unwrap();
        let all = ["legacy".to_string(), "gateway".to_string()];
        let (blue, orange) = (target_colour(0), target_colour(1));
        let draw = |rows: &[StepRow]| {
            let mut buf = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
            {
                let root = BitMapBackend::with_buffer(&mut buf, SIZE).into_drawing_area();
                render(&root, rows, &[], &all).unwrap();
                root.present().unwrap();
            }
            buf
        };
        let legacy_only = draw(&[row("legacy", 10.0, 100.0), row("legacy", 20.0, 300.0)]);
        assert!(count(&legacy_only, orange) > 500, "legacy is drawn orange");
        assert_eq!(count(&legacy_only, blue), 0, "no blue without the gateway");
        let both = draw(&[
            row("legacy", 10.0, 100.0),
            row("legacy", 20.0, 300.0),
            row("gateway", 10.0, 50.0),
            row("gateway", 20.0, 60.0),
        ]);
        assert!(count(&both, blue) > 500, "gateway is drawn blue");
        assert!(count(&both, orange) > 500);
        assert_eq!(palette_index(&all, "gateway"), 0);
        assert_eq!(palette_index(&all, "legacy"), 1);
        assert_eq!(palette_index(&all, "other"), 2);
    }
}
