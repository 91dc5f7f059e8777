//! A capacity sweep's outputs: `sweep.csv` (one row per step), `sweep.json` (capacity per target) and `sweep.png`
//! (latency percentiles and error rate against offered rate, one colour per target, the SLO lines drawn).

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use super::charts::{ensure_font, ChartError, FONT};
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

/// Write `sweep.csv` and `sweep.json` (`{"capacity": {target: ...}, "slo": [...], "step_rule": "..."}`).
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
    let p = dir.join("sweep.json");
    let doc = serde_json::json!({
        "capacity": capacity,
        "slo": slos.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "step_rule": step_rule,
    });
    let text = serde_json::to_string_pretty(&doc).expect("serialisable");
    std::fs::write(&p, text).map_err(io(&p))
}

const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

/// `sweep.png`: p50 (dashed) and p99 latency on top, error rate below, against offered rate; SLO lines in grey.
pub(crate) fn chart(path: &Path, rows: &[StepRow], slos: &[Slo]) -> Result<(), ChartError> {
    ensure_font()?;
    let err = |e: &dyn std::fmt::Display| ChartError::Draw {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let root = BitMapBackend::new(path, (1100, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
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
    draw(&top, rows, &latency).map_err(|e| err(&e))?;
    let errors = Panel {
        title: "Error rate vs offered rate",
        y_desc: "error rate",
        x_max,
        y_max: e_max,
        slo: slo_at(Metric::ErrorRate),
        value: |r| r.error_rate,
        dashed: None,
    };
    draw(&bottom, rows, &errors).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
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

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
type DrawError = DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;

fn draw(area: &Area, rows: &[StepRow], p: &Panel) -> Result<(), DrawError> {
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
    for (k, t) in targets.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
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
