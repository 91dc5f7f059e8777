//! Everything a run leaves in `reports/<scenario>-<UTC timestamp>/`, rebuilt from `run.json` and `requests.csv`
//! alone (so `cutover report DIR` re-renders an old or interrupted run exactly as the run itself did):
//! `summary.csv`, `cost.csv`, `latency.png`, `errors.png`, `cost.png`, `results.json`, `report.md`, `report.html` and
//! `junit.xml`, all rendered from the one [`Decision`] computed here.

pub(crate) mod charts;
pub mod compare;
pub(crate) mod error;
pub(crate) mod exports;
pub(crate) mod html;
pub(crate) mod junit;
pub mod markdown;
pub(crate) mod merge;
pub(crate) mod meta;
pub(crate) mod results;
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
use tables::cost_lines;

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
/// decision and the loaded run, so callers need not read `requests.csv` again.
pub fn render(dir: &Path) -> Result<(Decision, Run), ReportError> {
    let run = Run::load(dir)?;
    tables::write_summary_csv(&run)?;
    tables::write_cost_csv(&run)?;
    let charts_written = write_charts(&run);
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
    exports::hlog::write(&run)?;
    Ok((decision, run))
}

const PERCENTILES: &[f64] = &[
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.9, 99.95, 99.99,
];

fn curve(
    label: String,
    h: &hdrhistogram::Histogram<u64>,
    colour: usize,
    dashed: bool,
) -> Option<charts::LatencyCurve> {
    if h.is_empty() {
        return None;
    }
    let points = PERCENTILES
        .iter()
        .filter(|p| **p == 0.0 || h.len() as f64 >= 1.0 / (1.0 - *p / 100.0))
        .filter_map(|p| Some((*p, crate::measure::metrics::pct(h, p / 100.0)?)))
        .collect();
    Some(charts::LatencyCurve {
        label,
        points,
        colour,
        dashed,
    })
}

/// One chart drawn twice: as the file report.md links and as the SVG report.html inlines.
pub(crate) struct Charts {
    /// File names written (a chart that fails is reported on stderr, not fatal).
    pub(crate) written: Vec<String>,
    /// (file name, SVG document) for every chart drawn, in the same order.
    pub(crate) inline: Vec<(String, String)>,
}

type Draw<'a> = Box<dyn Fn(charts::Out) -> Result<(), charts::ChartError> + 'a>;

/// Draw the charts as files and as inline SVG.
fn write_charts(run: &Run) -> Charts {
    let mut out = Charts {
        written: Vec::new(),
        inline: Vec::new(),
    };
    for (file, draw) in chart_plan(run) {
        match draw(charts::Out::File(&run.dir.join(&file))) {
            Ok(()) => out.written.push(file.clone()),
            Err(e) => eprintln!("cutover: chart {file} not drawn: {e}"),
        }
        let mut svg = String::new();
        match draw(charts::Out::Svg(&mut svg)) {
            Ok(()) => out.inline.push((file, svg)),
            Err(e) => eprintln!("cutover: chart {file} not drawn as SVG: {e}"),
        }
    }
    out
}

/// "; gateway saves $652/month (17.4%)" from the TOTAL cost lines of the legacy and gateway targets, if both exist.
fn saving_note(run: &Run) -> String {
    let lines = cost_lines(&run.metrics);
    let total = |role: &str| {
        let t = run.role_target(role)?;
        lines
            .iter()
            .find(|l| l.target == t && l.model == "TOTAL")
            .map(|l| (t.to_string(), l.monthly_usd))
    };
    match (total("legacy"), total("gateway")) {
        (Some((_, old)), Some((g, new))) if old > 0.0 => {
            let (verb, d) = if new <= old {
                ("saves", old - new)
            } else {
                ("costs", new - old)
            };
            let more = if new <= old { "" } else { " more" };
            format!(
                "; {g} {verb} {}/month{more} ({:.1}%)",
                crate::format::usd(d),
                d / old * 100.0
            )
        }
        _ => String::new(),
    }
}

/// The charts of a run: file name and how to draw it.
fn chart_plan(run: &Run) -> Vec<(String, Draw<'_>)> {
    let name = &run.meta.scenario.name;
    let mut curves = Vec::new();
    // One colour per target (its index), one line style per metric (latency solid, TTFT dashed).
    for (i, (t, m)) in run.metrics.targets.iter().enumerate() {
        let lat = format!("{t} non-stream latency");
        curves.extend(curve(lat, &m.chat_plain.latency, i, false));
        curves.extend(curve(
            format!("{t} stream TTFT"),
            &m.chat_stream.ttft,
            i,
            true,
        ));
    }
    let mut tput = Vec::new();
    let mut errs = Vec::new();
    for (t, m) in &run.metrics.targets {
        // One series per second of the run, of the ok (0) or error (1) count.
        let per_second = |label: String, pick: fn(&(u64, u64)) -> u64| charts::TimeSeries {
            label,
            points: m
                .per_second
                .iter()
                .enumerate()
                .map(|(i, c)| (i as f64, pick(c) as f64))
                .collect(),
        };
        tput.push(per_second(format!("{t} ok/s"), |c| c.0));
        errs.push(per_second(format!("{t} errors/s"), |c| c.1));
    }
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
    let lat_title = format!("{name}: latency by percentile");
    let cost_title = format!(
        "{name}: projected monthly cost by model{}",
        saving_note(run)
    );
    vec![
        (
            "latency.png".to_string(),
            Box::new(move |o: charts::Out<'_>| charts::latency_percentiles(o, &lat_title, &curves))
                as Draw,
        ),
        (
            "errors.png".to_string(),
            Box::new(move |o: charts::Out<'_>| charts::errors_and_throughput(o, &tput, &errs)),
        ),
        (
            "cost.png".to_string(),
            Box::new(move |o: charts::Out<'_>| charts::cost(o, &cost_title, &bars)),
        ),
    ]
}
