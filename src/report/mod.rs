//! Everything a run leaves in `reports/<scenario>-<UTC timestamp>/`, rebuilt from `run.json` and `requests.csv`
//! alone (so `cutover report DIR` re-renders an old or interrupted run exactly as the run itself did):
//! `summary.csv`, `cost.csv`, `latency.png`, `errors.png`, `cost.png`, `results.json`, `report.md`, `report.html` and
//! `junit.xml`, all rendered from the one [`Decision`] computed here.

pub mod charts;
pub mod compare;
pub(crate) mod error;
pub(crate) mod exports;
pub(crate) mod html;
pub(crate) mod junit;
pub mod markdown;
pub(crate) mod merge;
pub(crate) mod meta;
pub(crate) mod results;
mod rows;
pub mod rundir;
pub(crate) mod soak;
pub(crate) mod sweep;
pub(crate) mod tables;

use std::path::Path;

use error::io;
pub(crate) use error::ReportError;
pub use meta::{RunMeta, TargetMeta};
pub use rundir::Run;

use crate::measure::decision::{decide_run, Decision, PhaseInput, RunInputs};
use crate::measure::threshold::evaluate_thresholds;

/// Seed of the run's verdict bootstraps (fixed, so `cutover report DIR` reproduces the run's own decision).
const VERDICT_SEED: u64 = 1;

/// The decision of a loaded run: thresholds (whole run and per canary phase), every judged pair, the accounting and
/// the canary phases. Computed once per rendering; every output below is rendered from it.
pub(crate) fn decide(run: &Run) -> Decision {
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
/// decision and the loaded run, so callers need not read `requests.csv` again. Charts as PNG files.
pub fn render(dir: &Path) -> Result<(Decision, Run), ReportError> {
    render_with(dir, charts::ChartFormat::Png)
}

/// [`render`] with the chart files in `chart_format` (report.html inlines SVG either way).
pub fn render_with(
    dir: &Path,
    chart_format: charts::ChartFormat,
) -> Result<(Decision, Run), ReportError> {
    let mut run = Run::load(dir)?;
    tables::write_summary_csv(&run)?;
    tables::write_cost_csv(&run)?;
    let charts_written = charts::plan::write_charts(&run, chart_format);
    let decision = decide(&run);
    results::write_results(&run, &decision)?;
    let md = markdown::markdown(&run, &decision, &charts_written.written);
    let p = dir.join("report.md");
    std::fs::write(&p, &md).map_err(io(&p))?;
    let p = dir.join("report.html");
    std::fs::write(
        &p,
        html::page(
            &md,
            &run.meta.scenario.name,
            decision.kind,
            &charts_written.inline,
        ),
    )
    .map_err(io(&p))?;
    junit::write_junit(dir, "thresholds", &decision)?;
    exports::openmetrics::write(dir, &exports::series::run_series(&run))?;
    if let Some(logs) = run.hlog.take() {
        exports::hlog::write(dir, &run.meta.started_utc, logs)?;
    }
    Ok((decision, run))
}
