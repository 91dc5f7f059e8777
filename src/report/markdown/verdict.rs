//! The statistical verdict table and section, and the canary phases.

use std::fmt::Write as _;

use super::super::rundir::Run;
use crate::measure::metrics::{Metrics, TargetMetrics};
use crate::measure::stats;
use crate::measure::threshold::Check;
use crate::measure::verdict::{
    compare_targets, MetricVerdict, BOOTSTRAP_ITERS, CONFIDENCE, MIN_EFFECT,
};

pub(crate) fn verdict_table(o: &mut String, rows: &[MetricVerdict], a: &str, b: &str) {
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
