//! `cutover compare BASELINE CURRENT` and the trend chart over past runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::error::ReportError;
use super::junit::write_junit;
use super::markdown::verdict_table;
use super::rundir::Run;
use crate::measure::threshold::Check;
use crate::measure::verdict::{compare_targets, MetricVerdict};

pub struct Comparison {
    pub regressed: bool,
    pub text: String,
    pub rows: Vec<(String, MetricVerdict)>,
}

/// `cutover compare BASELINE CURRENT`: per target present in both, deltas of the headline figures and statistical
/// verdicts. Writes `compare.md` and `junit-compare.xml` into the current run's directory.
pub fn compare_dirs(baseline: &Path, current: &Path) -> Result<Comparison, ReportError> {
    let a = Run::load(baseline)?;
    let b = Run::load(current)?;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# cutover compare\n\n- baseline: `{}` ({})\n- current: `{}` ({})\n",
        baseline.display(),
        a.meta.started_utc,
        current.display(),
        b.meta.started_utc
    );
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    for (name, tb) in &b.metrics.targets {
        let Some(ta) = a.metrics.targets.get(name) else {
            let _ = writeln!(o, "Target `{name}` has no baseline.\n");
            continue;
        };
        let _ = writeln!(o, "## {name}\n");
        let _ = writeln!(
            o,
            "| Figure | baseline | current | change |\n|---|---:|---:|---:|"
        );
        for key in [
            "mean_ms",
            "p50_ms",
            "p99_ms",
            "ttft_p50_ms",
            "ttft_p95_ms",
            "error_rate",
            "availability",
            "monthly_cost_usd",
        ] {
            let (x, y) = (a.metrics.metric(name, key), b.metrics.metric(name, key));
            let ch = match (x, y) {
                (Some(x), Some(y)) if x != 0.0 => format!("{:+.1}%", (y - x) / x * 100.0),
                _ => "-".into(),
            };
            let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
            let _ = writeln!(o, "| {key} | {} | {} | {ch} |", f(x), f(y));
        }
        o.push('\n');
        let verdicts = compare_targets(ta, tb, 7);
        verdict_table(&mut o, &verdicts, "baseline", "current");
        for v in verdicts {
            checks.push(Check {
                scope: name.clone(),
                expression: format!("{} not worse than baseline", v.metric),
                passed: !v.worse,
                measured: v.verdict.clone(),
            });
            rows.push((name.clone(), v));
        }
    }
    let regressed = rows.iter().any(|(_, v)| v.worse);
    let _ = writeln!(
        o,
        "**Regression verdict: {}**",
        if regressed {
            "REGRESSED — see the metrics marked worse"
        } else {
            "no significant regression"
        }
    );
    let p = current.join("compare.md");
    std::fs::write(&p, &o).map_err(|source| ReportError::Io {
        path: p.display().to_string(),
        source,
    })?;
    write_junit(current, "compare", &checks)?;
    Ok(Comparison {
        regressed,
        text: o,
        rows,
    })
}

/// Trend chart of p99 latency and error rate per target over run directories (oldest first); written into `out_dir`.
pub fn trend(dirs: &[PathBuf], out_dir: &Path) -> Result<PathBuf, ReportError> {
    let mut series: std::collections::BTreeMap<String, Vec<(f64, f64)>> = Default::default();
    for (i, d) in dirs.iter().enumerate() {
        let r = Run::load(d)?;
        for name in r.metrics.targets.keys() {
            if let Some(v) = r.metrics.metric(name, "p99_ms") {
                series
                    .entry(format!("{name} p99 ms"))
                    .or_default()
                    .push((i as f64, v));
            }
        }
    }
    let ts: Vec<crate::report::charts::TimeSeries> = series
        .into_iter()
        .map(|(label, points)| crate::report::charts::TimeSeries { label, points })
        .collect();
    let p = out_dir.join("trend.png");
    crate::report::charts::trend(&p, "p99 latency over runs (oldest first)", &ts).map_err(|e| {
        ReportError::Data {
            path: p.display().to_string(),
            message: e.to_string(),
        }
    })?;
    Ok(p)
}
