//! Everything a run leaves in `reports/<scenario>-<UTC timestamp>/`, rebuilt from `run.json` and `requests.csv`
//! alone (so `cutover report DIR` re-renders an old or interrupted run exactly as the run itself did):
//! `summary.csv`, `cost.csv`, `latency.png`, `errors.png`, `cost.png`, `results.json`, `report.md`, `report.html` and
//! `junit.xml`, all rendered from the one [`Decision`] computed here.

pub mod charts;
pub mod compare;
pub mod error;
pub mod exports;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod meta;
pub mod results;
pub mod rundir;
pub mod soak;
pub mod sweep;
pub mod tables;

use std::path::Path;

use error::io;
pub use error::ReportError;
pub use meta::{RunMeta, TargetMeta};
pub use rundir::Run;

use crate::measure::decision::{decide_run, Decision, PhaseInput, RunInputs};
use crate::measure::threshold::evaluate_thresholds;
use tables::cost_lines;

/// Seed of the run's verdict bootstraps (fixed, so `cutover report DIR` reproduces the run's own decision).
const VERDICT_SEED: u64 = 1;

/// The decision of a loaded run: thresholds (whole run and per canary phase), every judged pair, the accounting and
/// the canary phases. Computed once per rendering; every output below is rendered from it.
pub fn decide(run: &Run) -> Decision {
    let mut checks = evaluate_thresholds("run", &run.meta.scenario.thresholds, &run.metrics);
    let mut phases = Vec::new();
    if let Some(c) = &run.meta.scenario.canary {
        for (i, ph) in c.phases.iter().enumerate() {
            let m = run.phases.get(&(i as u32));
            if let Some(m) = m {
                checks.extend(evaluate_thresholds(
                    &format!("phase {}", ph.name),
                    &ph.thresholds,
                    m,
                ));
            }
            phases.push(PhaseInput {
                name: ph.name.clone(),
                metrics: m,
            });
        }
    }
    decide_run(RunInputs {
        metrics: &run.metrics,
        targets: run
            .meta
            .targets
            .iter()
            .map(|t| (t.name.clone(), t.role.clone()))
            .collect(),
        checks,
        phases,
        seed: VERDICT_SEED,
        stopped: run.meta.stopped.as_deref(),
    })
}

/// Write summary.csv, cost.csv, charts, results.json, report.md/html and junit.xml for the run in `dir`. Returns the
/// decision and the loaded run, so callers need not read `requests.csv` again.
pub fn render(dir: &Path) -> Result<(Decision, Run), ReportError> {
    let run = Run::load(dir)?;
    tables::write_summary_csv(&run)?;
    tables::write_cost_csv(&run)?;
    let charts_written = write_charts(&run);
    let decision = decide(&run);
    results::write_results(&run, &decision)?;
    let md = markdown::markdown(&run, &decision, &charts_written);
    let p = dir.join("report.md");
    std::fs::write(&p, &md).map_err(io(&p))?;
    let p = dir.join("report.html");
    std::fs::write(&p, html::from_markdown(&md, &run.meta.scenario.name)).map_err(io(&p))?;
    junit::write_junit(dir, "thresholds", &decision)?;
    exports::openmetrics::write(dir, &exports::series::run_series(&run))?;
    exports::hlog::write(&run)?;
    Ok((decision, run))
}

const PERCENTILES: &[f64] = &[
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.9, 99.95, 99.99,
];

fn curve(label: String, h: &hdrhistogram::Histogram<u64>) -> Option<charts::LatencyCurve> {
    if h.is_empty() {
        return None;
    }
    let points = PERCENTILES
        .iter()
        .filter(|p| **p == 0.0 || h.len() as f64 >= 1.0 / (1.0 - *p / 100.0))
        .filter_map(|p| Some((*p, crate::measure::metrics::pct(h, p / 100.0)?)))
        .collect();
    Some(charts::LatencyCurve { label, points })
}

/// Draw the charts; returns the file names written (a chart that fails is reported on stderr, not fatal).
fn write_charts(run: &Run) -> Vec<String> {
    let mut written = Vec::new();
    let name = &run.meta.scenario.name;
    let mut curves = Vec::new();
    for (t, m) in &run.metrics.targets {
        curves.extend(curve(
            format!("{t} non-stream latency"),
            &m.chat_plain.latency,
        ));
        curves.extend(curve(format!("{t} stream TTFT"), &m.chat_stream.ttft));
    }
    let mut try_chart = |file: &str, r: Result<(), charts::ChartError>| match r {
        Ok(()) => written.push(file.to_string()),
        Err(e) => eprintln!("cutover: chart {file} not drawn: {e}"),
    };
    try_chart(
        "latency.png",
        charts::latency_percentiles(
            &run.dir.join("latency.png"),
            &format!("{name}: latency by percentile"),
            &curves,
        ),
    );
    let mut tput = Vec::new();
    let mut errs = Vec::new();
    for (t, m) in &run.metrics.targets {
        tput.push(charts::TimeSeries {
            label: format!("{t} ok/s"),
            points: m
                .per_second
                .iter()
                .enumerate()
                .map(|(i, (ok, _))| (i as f64, *ok as f64))
                .collect(),
        });
        errs.push(charts::TimeSeries {
            label: format!("{t} errors/s"),
            points: m
                .per_second
                .iter()
                .enumerate()
                .map(|(i, (_, e))| (i as f64, *e as f64))
                .collect(),
        });
    }
    try_chart(
        "errors.png",
        charts::errors_and_throughput(&run.dir.join("errors.png"), &tput, &errs),
    );
    let bars: Vec<charts::CostBar> = cost_lines(&run.metrics)
        .into_iter()
        .filter(|l| l.model != "TOTAL")
        .map(|l| charts::CostBar {
            target: l.target,
            model: l.model,
            run_cost_usd: l.run_cost_usd,
            monthly_usd: l.monthly_usd,
        })
        .collect();
    try_chart(
        "cost.png",
        charts::cost(
            &run.dir.join("cost.png"),
            &format!("{name}: projected monthly cost by model"),
            &bars,
        ),
    );
    written
}
