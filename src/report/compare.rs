//! `cutover compare BASELINE CURRENT` and the trend chart over past runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::charts::{compare_overlay, plan, ChartFormat, OverlayTarget};
use super::error::ReportError;
use super::junit::write_junit;
use super::markdown::verdict_table;
use super::meta::RunMeta;
use super::rundir::Run;
use crate::config::metric::{Metric, Unit};
use crate::measure::decision::{finish, judge_pair, Decision, DecisionKind, Reason};

/// Seed of the comparison's bootstraps.
const COMPARE_SEED: u64 = 7;

pub struct Comparison {
    /// The same decision type as a run's: not safe when a metric is significantly worse than the baseline.
    pub decision: Decision,
    pub text: String,
    /// What differs between the two runs' plans (empty when they are comparable); non-empty only with `force`.
    pub mismatches: Vec<String>,
}

/// What differs between two runs' plans: scenario hash, seed, duration, targets (name and role) or tool version.
pub(crate) fn plan_mismatches(a: &RunMeta, b: &RunMeta) -> Vec<String> {
    let mut out = Vec::new();
    let mut differ = |what: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{what}: baseline {x} vs current {y}"));
        }
    };
    differ(
        "scenario sha256",
        a.scenario_sha256
            .clone()
            .unwrap_or_else(|| "unknown".into()),
        b.scenario_sha256
            .clone()
            .unwrap_or_else(|| "unknown".into()),
    );
    differ(
        "seed",
        a.scenario.seed.to_string(),
        b.scenario.seed.to_string(),
    );
    differ(
        "duration_s",
        a.scenario.traffic.duration_s.to_string(),
        b.scenario.traffic.duration_s.to_string(),
    );
    let targets = |m: &RunMeta| {
        m.targets
            .iter()
            .map(|t| format!("{}:{}", t.name, t.role))
            .collect::<Vec<_>>()
            .join(",")
    };
    differ("targets", targets(a), targets(b));
    differ("tool version", a.version.clone(), b.version.clone());
    out
}

/// `cutover compare BASELINE CURRENT`: per target present in both, deltas of the headline figures and statistical
/// verdicts, as a [`Decision`]. Refuses runs whose plans differ ([`plan_mismatches`]) unless `force`, and then says so
/// in every output. Writes `compare.md` and `junit-compare.xml` into the current run's directory.
pub fn compare_dirs(
    baseline: &Path,
    current: &Path,
    force: bool,
) -> Result<Comparison, ReportError> {
    compare_dirs_with(baseline, current, force, ChartFormat::Png)
}

/// [`compare_dirs`], also drawing `compare-latency.<png|svg>` (both runs' latency CDFs per target) into the current
/// run's directory and linking it from compare.md.
pub fn compare_dirs_with(
    baseline: &Path,
    current: &Path,
    force: bool,
    chart_format: ChartFormat,
) -> Result<Comparison, ReportError> {
    let a = Run::load(baseline)?;
    let b = Run::load(current)?;
    let mismatches = plan_mismatches(&a.meta, &b.meta);
    if !mismatches.is_empty() && !force {
        return Err(ReportError::Incomparable(format!(
            "refusing to compare {} with {}: {} (use --force to compare anyway)",
            baseline.display(),
            current.display(),
            mismatches.join("; ")
        )));
    }
    let mut o = String::new();
    let _ = writeln!(o, "# cutover compare\n");
    if !mismatches.is_empty() {
        let _ = writeln!(
            o,
            "> **FORCED COMPARISON OF DIFFERENT PLANS** — {}. Differences below may come from the plans, not the targets.\n",
            mismatches.join("; ")
        );
    }
    let _ = writeln!(
        o,
        "- baseline: `{}` ({})\n- current: `{}` ({})\n",
        baseline.display(),
        a.meta.started_utc,
        current.display(),
        b.meta.started_utc
    );
    let mut pairs = Vec::new();
    let mut reasons = Vec::new();
    for (name, tb) in &b.metrics.targets {
        let Some(ta) = a.metrics.targets.get(name) else {
            let _ = writeln!(o, "Target `{name}` has no baseline.\n");
            continue;
        };
        let _ = writeln!(o, "## {name}\n");
        figures_table(&mut o, &a, &b, name);
        let (v, rs) = judge_pair("baseline", "current", ta, tb, COMPARE_SEED, name);
        verdict_table(&mut o, &v.rows, "baseline", "current");
        reasons.extend(rs.into_iter().map(|mut r| {
            r.text = format!("`{name}` {}", r.text);
            r
        }));
        pairs.push(v);
    }
    if !mismatches.is_empty() {
        // A forced comparison of different plans cannot call the current run safe.
        reasons.push(Reason::note(
            DecisionKind::Undecided,
            "plan",
            "plan",
            format!(
                "forced comparison of different plans: {}",
                mismatches.join("; ")
            ),
        ));
    }
    let decision = finish(reasons, Vec::new(), pairs, Vec::new());
    let _ = writeln!(o, "**Decision: {}**\n", decision.kind.label());
    for r in &decision.reasons {
        let _ = writeln!(o, "- {}", r.text);
    }
    // The chart is linked from compare.md only (the terminal gets the same text without it).
    let chart = overlay_chart(&a, &b, chart_format)
        .map(|f| format!("\n## Latency CDF, baseline vs current\n\n![{f}]({f})\n"))
        .unwrap_or_default();
    let p = current.join("compare.md");
    std::fs::write(&p, format!("{o}{chart}")).map_err(|source| ReportError::Io {
        path: p.display().to_string(),
        source,
    })?;
    write_junit(current, "compare", &decision)?;
    Ok(Comparison {
        decision,
        text: o,
        mismatches,
    })
}

/// The rows of each target's figures table in compare.md.
const COMPARED: [Metric; 8] = [
    Metric::MeanMs,
    Metric::P50Ms,
    Metric::P99Ms,
    Metric::TtftP50Ms,
    Metric::TtftP95Ms,
    Metric::ErrorRate,
    Metric::Availability,
    Metric::MonthlyCostUsd,
];

fn figures_table(o: &mut String, a: &Run, b: &Run, name: &str) {
    let _ = writeln!(
        o,
        "| Figure | baseline | current | change |\n|---|---:|---:|---:|"
    );
    for key in COMPARED {
        let (x, y) = (a.metrics.value(name, key), b.metrics.value(name, key));
        let f = |v: Option<f64>| match v {
            Some(v) if key.unit() == Unit::Ms => crate::format::ms(v),
            Some(v) => format!("{v:.4}"),
            None => "-".into(),
        };
        let _ = writeln!(
            o,
            "| {key} | {} | {} | {} |",
            f(x),
            f(y),
            crate::format::change(x, y)
        );
    }
    o.push('\n');
}

/// The baseline-vs-current latency CDF overlay of the targets in both runs, drawn into the current run's directory;
/// its file name, or None when it could not be drawn (said on stderr: the comparison itself stands).
fn overlay_chart(a: &Run, b: &Run, chart_format: ChartFormat) -> Option<String> {
    let targets: Vec<OverlayTarget> = b
        .metrics
        .targets
        .iter()
        .filter_map(|(name, tb)| {
            let ta = a.metrics.targets.get(name)?;
            Some(OverlayTarget {
                target: name.clone(),
                colour: plan::colour_of(b, name),
                baseline: plan::cdf_points(&ta.chat_plain.latency),
                current: plan::cdf_points(&tb.chat_plain.latency),
            })
        })
        .collect();
    let file = chart_format.file("compare-latency");
    let p = b.dir.join(&file);
    let title = "Latency CDF: baseline (dashed) vs current (solid), non-streamed ok requests";
    match compare_overlay(&p, title, &targets, &plan::slo_lines(b)) {
        Ok(()) => Some(file),
        Err(e) => {
            eprintln!("cutover: chart {} not drawn: {e}", p.display());
            None
        }
    }
}

/// Trend chart of p99 latency per target over run directories, against each run's start date; written into
/// `out_dir` as trend.png.
pub fn trend(dirs: &[PathBuf], out_dir: &Path) -> Result<PathBuf, ReportError> {
    trend_with(dirs, out_dir, ChartFormat::Png)
}

/// [`trend`] as `trend.<png|svg>`. A run whose start time cannot be read is left out of the chart.
pub fn trend_with(
    dirs: &[PathBuf],
    out_dir: &Path,
    chart_format: ChartFormat,
) -> Result<PathBuf, ReportError> {
    let mut series: std::collections::BTreeMap<String, Vec<(f64, f64)>> = Default::default();
    for d in dirs {
        let r = Run::load(d)?;
        let Ok(started) = chrono::DateTime::parse_from_rfc3339(&r.meta.started_utc) else {
            eprintln!(
                "cutover: {}: run.json has no readable started_utc; left out of the trend",
                d.display()
            );
            continue;
        };
        let x = started.timestamp_millis() as f64 / 1000.0;
        for name in r.metrics.targets.keys() {
            if let Some(v) = r.metrics.value(name, Metric::P99Ms) {
                series
                    .entry(format!("{name} p99 ms"))
                    .or_default()
                    .push((x, v));
            }
        }
    }
    let ts: Vec<crate::report::charts::TimeSeries> = series
        .into_iter()
        .map(|(label, points)| crate::report::charts::TimeSeries { label, points })
        .collect();
    let p = out_dir.join(chart_format.file("trend"));
    crate::report::charts::trend(&p, "p99 latency over runs, by run start", &ts).map_err(|e| {
        ReportError::Data {
            path: p.display().to_string(),
            message: e.to_string(),
        }
    })?;
    Ok(p)
}
