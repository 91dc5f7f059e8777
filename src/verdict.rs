//! The answer to "is it safe to cut over?" and "did tonight get worse?": statistical comparison of two sets of
//! requests (legacy vs gateway in one run, or a baseline run vs the current one), canary phase go / no-go, JUnit XML
//! for CI systems, and a trend chart over past runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::metrics::{Metrics, TargetMetrics};
use crate::report::{Check, ReportError, Run};
use crate::stats;

/// Confidence level of every interval and test here.
pub const CONFIDENCE: f64 = 0.95;
/// Bootstrap resamples.
pub const BOOTSTRAP_ITERS: usize = 1000;
/// A difference smaller than this (relative) is not called better or worse, however significant.
pub const MIN_EFFECT: f64 = 0.02;

/// One metric compared between A (before / baseline) and B (after / current). Lower is better for all of them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MetricVerdict {
    pub metric: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// Confidence interval of B - A.
    pub ci: Option<(f64, f64)>,
    pub verdict: String,
    pub worse: bool,
}

fn verdict_text(v: &stats::Verdict) -> (String, bool) {
    match &v.direction {
        stats::Direction::Better => (
            format!("better ({:.0}% confidence)", v.confidence * 100.0),
            false,
        ),
        stats::Direction::Worse => (
            format!("worse ({:.0}% confidence)", v.confidence * 100.0),
            true,
        ),
        stats::Direction::NoSignificantDifference => ("no significant difference".into(), false),
        stats::Direction::InsufficientData { needed_per_side } => (
            format!("insufficient data: about {needed_per_side} samples per side needed"),
            false,
        ),
    }
}

/// Compare two targets' samples: latency p50 / p99 (Mann-Whitney U + bootstrap CI), TTFT p50 / p99, error rate.
pub fn compare_targets(a: &TargetMetrics, b: &TargetMetrics, seed: u64) -> Vec<MetricVerdict> {
    let mut out = Vec::new();
    let mut sample_rows = |name: &str, xa: &[f64], xb: &[f64]| {
        for (q, label) in [(0.5, "p50"), (0.99, "p99")] {
            let v =
                stats::compare_latency(xa, xb, q, BOOTSTRAP_ITERS, CONFIDENCE, MIN_EFFECT, seed);
            let (text, worse) = verdict_text(&v);
            out.push(MetricVerdict {
                metric: format!("{name} {label} (ms)"),
                a: stats::quantile_unsorted(xa, q),
                b: stats::quantile_unsorted(xb, q),
                ci: v.ci.map(|c| (c.low, c.high)),
                verdict: text,
                worse,
            });
        }
    };
    sample_rows("latency", &a.latency_samples, &b.latency_samples);
    if !a.ttft_samples.is_empty() || !b.ttft_samples.is_empty() {
        sample_rows("TTFT", &a.ttft_samples, &b.ttft_samples);
    }
    let (ga, gb) = (a.all(), b.all());
    let v = stats::compare_error_rate(
        ga.errors,
        ga.finished(),
        gb.errors,
        gb.finished(),
        CONFIDENCE,
        MIN_EFFECT,
    );
    let (text, worse) = verdict_text(&v);
    out.push(MetricVerdict {
        metric: "error rate".into(),
        a: ga.error_rate(),
        b: gb.error_rate(),
        ci: v.ci.map(|c| (c.low, c.high)),
        verdict: text,
        worse,
    });
    out
}

fn verdict_table(o: &mut String, rows: &[MetricVerdict], a: &str, b: &str) {
    let _ = writeln!(
        o,
        "| Metric | {a} | {b} | difference, {:.0}% CI | verdict |\n|---|---:|---:|---|---|",
        CONFIDENCE * 100.0
    );
    for r in rows {
        let rate = r.metric == "error rate";
        let f = |v: Option<f64>| match v {
            Some(v) if rate => format!("{:.3}%", v * 100.0),
            Some(v) => format!("{v:.1}"),
            None => "-".into(),
        };
        let ci = match r.ci {
            Some((l, h)) if rate => format!("[{:+.3}, {:+.3}] pp", l * 100.0, h * 100.0),
            Some((l, h)) => format!("[{l:+.1}, {h:+.1}] ms"),
            None => "-".into(),
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {ci} | {} |",
            r.metric,
            f(r.a),
            f(r.b),
            r.verdict
        );
    }
    o.push('\n');
}

/// The "Statistical verdict" section of a run report (legacy vs gateway).
pub fn comparison_markdown(m: &Metrics, legacy: &str, gateway: &str) -> String {
    let (Some(a), Some(b)) = (m.targets.get(legacy), m.targets.get(gateway)) else {
        return String::new();
    };
    let rows = compare_targets(a, b, 1);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "## Statistical verdict (gateway vs legacy)\n\nMann-Whitney U test on the latency samples and a percentile-bootstrap ({BOOTSTRAP_ITERS} resamples) interval of the difference in p50 / p99; Wilson-score (Newcombe) interval for the error-rate difference. A difference under {:.0}% is not called better or worse.\n",
        MIN_EFFECT * 100.0
    );
    verdict_table(&mut o, &rows, legacy, gateway);
    let worse: Vec<&str> = rows
        .iter()
        .filter(|r| r.worse)
        .map(|r| r.metric.as_str())
        .collect();
    let insufficient = rows.iter().any(|r| r.verdict.starts_with("insufficient"));
    let _ = writeln!(
        o,
        "**Cutover verdict: {}**\n",
        if !worse.is_empty() {
            format!(
                "NOT SAFE — the gateway is significantly worse on {}",
                worse.join(", ")
            )
        } else if insufficient {
            "UNDECIDED — too few samples for some metrics (see above); run longer".to_string()
        } else {
            "no metric is significantly worse on the gateway".to_string()
        }
    );
    o
}

/// One section per canary phase: figures per path and the phase's go / no-go.
pub fn canary_markdown(run: &Run, checks: &[Check]) -> String {
    let Some(c) = &run.meta.scenario.canary else {
        return String::new();
    };
    let mut o = String::new();
    let _ = writeln!(o, "## Canary phases\n");
    for (i, ph) in c.phases.iter().enumerate() {
        let _ = writeln!(
            o,
            "### Phase {}: {} — {:.0}% of users on the gateway\n",
            i + 1,
            ph.name,
            ph.share * 100.0
        );
        let Some(m) = run.phases.get(&(i as u32)) else {
            let _ = writeln!(o, "No requests were scheduled in this phase.\n");
            continue;
        };
        let _ = writeln!(
            o,
            "| Path | users | requests | ok | errors | error rate | mean ms | p99 ms | TTFT p95 ms |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for (name, t) in &m.targets {
            let g = t.all();
            let _ = writeln!(
                o,
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
                t.users.len(),
                g.requests,
                g.ok,
                g.errors,
                g.error_rate()
                    .map_or("-".into(), |v| format!("{:.2}%", v * 100.0)),
                m.metric(name, "mean_ms")
                    .map_or("-".into(), |v| format!("{v:.1}")),
                m.metric(name, "p99_ms")
                    .map_or("-".into(), |v| format!("{v:.1}")),
                m.metric(name, "ttft_p95_ms")
                    .map_or("-".into(), |v| format!("{v:.1}")),
            );
        }
        o.push('\n');
        let needed = stats::needed_for_quantile(0.99);
        for (name, t) in &m.targets {
            let n = t.latency_samples.len();
            if n < needed {
                let _ = writeln!(
                    o,
                    "Note: `{name}` p99 in this phase rests on {n} non-stream samples; about {needed} are needed for a stable p99.\n"
                );
            }
        }
        let paths: Vec<&TargetMetrics> = m.targets.values().collect();
        let split = if paths.len() == 2 {
            paths[0].users.intersection(&paths[1].users).count()
        } else {
            0
        };
        let _ = writeln!(
            o,
            "Users seen on both paths in this phase: {split} (must be 0: routing is sticky per user).\n"
        );
        let scope = format!("phase {}", ph.name);
        let mine: Vec<&Check> = checks.iter().filter(|c| c.scope == scope).collect();
        for c in &mine {
            let _ = writeln!(
                o,
                "- {} `{}` ({})",
                if c.passed { "PASS" } else { "FAIL" },
                c.expression,
                c.measured
            );
        }
        let go = mine.iter().all(|c| c.passed);
        let _ = writeln!(
            o,
            "\n**Phase {}: {}**\n",
            ph.name,
            if mine.is_empty() {
                "no checks configured".to_string()
            } else if go {
                "GO".to_string()
            } else {
                "NO-GO".to_string()
            }
        );
    }
    let _ = writeln!(
        o,
        "Users are routed by a stable hash of the user id (salted with `canary.salt`); a user on the gateway in one phase stays there in every later phase, and within a phase every conversation of a user takes one path.\n"
    );
    o
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `junit.xml` (or `junit-<suite>.xml`): one test case per check.
pub fn write_junit(dir: &Path, suite: &str, checks: &[Check]) -> Result<(), ReportError> {
    let failures = checks.iter().filter(|c| !c.passed).count();
    let mut x = String::new();
    let _ = writeln!(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = writeln!(
        x,
        "<testsuites><testsuite name=\"cutover {}\" tests=\"{}\" failures=\"{failures}\">",
        xml_escape(suite),
        checks.len()
    );
    for c in checks {
        let _ = write!(
            x,
            "  <testcase classname=\"cutover.{}\" name=\"{}\">",
            xml_escape(&c.scope.replace(' ', "_")),
            xml_escape(&c.expression)
        );
        if !c.passed {
            let _ = write!(x, "<failure message=\"{}\"/>", xml_escape(&c.measured));
        }
        let _ = writeln!(
            x,
            "<system-out>{}</system-out></testcase>",
            xml_escape(&c.measured)
        );
    }
    let _ = writeln!(x, "</testsuite></testsuites>");
    let name = if suite == "thresholds" {
        "junit.xml".to_string()
    } else {
        format!("junit-{suite}.xml")
    };
    let p = dir.join(name);
    std::fs::write(&p, x).map_err(|source| ReportError::Io {
        path: p.display().to_string(),
        source,
    })
}

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
    let ts: Vec<crate::charts::TimeSeries> = series
        .into_iter()
        .map(|(label, points)| crate::charts::TimeSeries { label, points })
        .collect();
    let p = out_dir.join("trend.png");
    crate::charts::trend(&p, "p99 latency over runs (oldest first)", &ts).map_err(|e| {
        ReportError::Data {
            path: p.display().to_string(),
            message: e.to_string(),
        }
    })?;
    Ok(p)
}
