//! The statistical verdict table and section, and the canary phases.

use std::fmt::Write as _;

use super::super::rundir::Run;
use crate::config::metric::Metric;
use crate::measure::decision::{Decision, DecisionKind, PairVerdict};
use crate::measure::metrics::TargetMetrics;
use crate::measure::stats;
use crate::measure::verdict::{MetricVerdict, BOOTSTRAP_ITERS, CONFIDENCE, MIN_EFFECT};

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

/// The "Statistical verdict" section of a run report for one judged pair, from the decision's rows.
pub fn pair_markdown(v: &PairVerdict, only_pair: bool) -> String {
    let mut o = String::new();
    let title = if only_pair {
        "gateway vs legacy".to_string()
    } else {
        format!("`{}` vs `{}`", v.b, v.a)
    };
    let _ = writeln!(
        o,
        "## Statistical verdict ({title})\n\nMann-Whitney U test and a percentile-bootstrap ({BOOTSTRAP_ITERS} resamples) interval of the difference for p50 (a shift of the bulk needs both); a p99 is judged on its own interval (with at least {} samples per side, 10 beyond the percentile); Wilson-score (Newcombe) interval for the error-rate difference. A difference under {:.0}% is not called better or worse.\n",
        stats::needed_for_quantile(0.99),
        MIN_EFFECT * 100.0
    );
    verdict_table(&mut o, &v.rows, &v.a, &v.b);
    let worse: Vec<&str> = v
        .rows
        .iter()
        .filter(|r| r.worse)
        .map(|r| r.metric.as_str())
        .collect();
    let _ = writeln!(
        o,
        "**Pair `{}` vs `{}`: {}**\n",
        v.b,
        v.a,
        match v.kind {
            DecisionKind::NotSafe =>
                format!("NOT SAFE — significantly worse on {}", worse.join(", ")),
            DecisionKind::Undecided =>
                "UNDECIDED — too few samples for some metrics (see above); run longer".to_string(),
            DecisionKind::Safe => "no metric is significantly worse".to_string(),
        }
    );
    o
}

/// One section per canary phase: figures per path and the phase's go / no-go.
pub fn canary_markdown(run: &Run, decision: &Decision) -> String {
    let checks = &decision.checks;
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
            let _ = writeln!(
                o,
                "No requests were scheduled in this phase.\n\n**Phase {}: UNDECIDED — no data**\n",
                ph.name
            );
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
                m.value(name, Metric::MeanMs)
                    .map_or("-".into(), |v| format!("{v:.1}")),
                m.value(name, Metric::P99Ms)
                    .map_or("-".into(), |v| format!("{v:.1}")),
                m.value(name, Metric::TtftP95Ms)
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
        for c in checks.iter().filter(|c| c.scope == scope) {
            let _ = writeln!(
                o,
                "- {} `{}` ({})",
                super::check_label(c),
                c.expression,
                c.measured
            );
        }
        let verdict = match decision.phases.get(i) {
            Some(p) if p.kind == DecisionKind::Safe => "GO".to_string(),
            Some(p) if p.kind == DecisionKind::NotSafe => "NO-GO".to_string(),
            Some(p) => format!("UNDECIDED — {}", p.text),
            None => "not judged".to_string(),
        };
        let _ = writeln!(o, "\n**Phase {}: {verdict}**\n", ph.name);
    }
    let _ = writeln!(
        o,
        "Users are routed by a stable hash of the user id (salted with `canary.salt`); a user on the gateway in one phase stays there in every later phase, and within a phase every conversation of a user takes one path.\n"
    );
    o
}
