//! The one answer of a run (or of a comparison with a baseline): [`Decision`] `safe`, `not_safe` or `undecided`, with
//! the reasons behind it. Computed once, from the threshold checks, the statistical verdict of every judged pair, the
//! accounting and the canary phases; every output (exit code, terminal, results.json, report.md/html, JUnit) is
//! rendered from it and never recomputes it.

use serde::Serialize;

use crate::measure::metrics::{Metrics, TargetMetrics};
use crate::measure::saving::{saving_interval, Saving};
use crate::measure::stats::MIN_SAMPLES;
use crate::measure::threshold::Check;
use crate::measure::verdict::{compare_targets, MetricVerdict};

/// The answer to "is it safe to cut over?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Safe,
    Undecided,
    NotSafe,
}

impl DecisionKind {
    /// `safe`, `not_safe`, `undecided`: the results.json spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Safe => "safe",
            DecisionKind::NotSafe => "not_safe",
            DecisionKind::Undecided => "undecided",
        }
    }

    /// `SAFE`, `NOT SAFE`, `UNDECIDED`: the terminal and report spelling.
    pub fn label(self) -> &'static str {
        match self {
            DecisionKind::Safe => "SAFE",
            DecisionKind::NotSafe => "NOT SAFE",
            DecisionKind::Undecided => "UNDECIDED",
        }
    }
}

/// Why: one finding, with the figures behind it.
#[derive(Debug, Clone, Serialize)]
pub struct Reason {
    /// What this finding alone would decide.
    pub(crate) kind: DecisionKind,
    /// `run`, `phase <name>`, `accounting` or `baseline`.
    pub(crate) scope: String,
    /// `<b> vs <a>` for a verdict row.
    pub(crate) pair: Option<String>,
    /// The metric, threshold expression or target concerned.
    pub(crate) metric: String,
    pub(crate) a: Option<f64>,
    pub(crate) b: Option<f64>,
    /// 95% interval of b - a.
    pub(crate) ci: Option<(f64, f64)>,
    pub(crate) text: String,
}

impl Reason {
    /// A finding without figures (a threshold, an abort, a phase, the run as a whole).
    pub(crate) fn note(
        kind: DecisionKind,
        scope: impl Into<String>,
        metric: impl Into<String>,
        text: String,
    ) -> Reason {
        Reason {
            kind,
            scope: scope.into(),
            pair: None,
            metric: metric.into(),
            a: None,
            b: None,
            ci: None,
            text,
        }
    }
}

/// One judged pair: B (gateway / current) against A (legacy / baseline).
#[derive(Debug, Clone, Serialize)]
pub struct PairVerdict {
    pub(crate) a: String,
    pub(crate) b: String,
    pub(crate) kind: DecisionKind,
    pub(crate) rows: Vec<MetricVerdict>,
    /// Projected monthly saving of B over A with its bootstrap interval (run pairs only).
    pub(crate) saving: Option<Saving>,
}

/// A canary phase as configured, with its metrics when any request fell in it.
pub(crate) struct PhaseInput<'a> {
    pub(crate) name: String,
    pub(crate) metrics: Option<&'a Metrics>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PhaseDecision {
    pub(crate) name: String,
    pub(crate) kind: DecisionKind,
    pub(crate) text: String,
}

/// The decision and everything it was computed from.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub kind: DecisionKind,
    pub(crate) reasons: Vec<Reason>,
    pub(crate) checks: Vec<Check>,
    pub(crate) pairs: Vec<PairVerdict>,
    pub(crate) phases: Vec<PhaseDecision>,
}

/// What a run's decision is computed from.
pub(crate) struct RunInputs<'a> {
    pub(crate) metrics: &'a Metrics,
    /// Every target of the scenario, in its order: (name, role).
    pub(crate) targets: Vec<(String, String)>,
    pub(crate) checks: Vec<Check>,
    pub(crate) phases: Vec<PhaseInput<'a>>,
    pub(crate) seed: u64,
    /// Why the run stopped early, if it did (`aborted: <expr>` for an abort-on-fail threshold).
    pub(crate) stopped: Option<&'a str>,
}

/// The judged pairs of a run: every `gateway` target against the first `legacy` target.
pub(crate) fn run_pairs(targets: &[(String, String)]) -> Vec<(String, String)> {
    let Some(legacy) = targets.iter().find(|(_, r)| r == "legacy") else {
        return Vec::new();
    };
    targets
        .iter()
        .filter(|(_, r)| r == "gateway")
        .map(|(g, _)| (legacy.0.clone(), g.clone()))
        .collect()
}

/// Judge B against A on the verdict rows; the pair's kind and its reasons.
pub fn judge_pair(
    a_name: &str,
    b_name: &str,
    a: &TargetMetrics,
    b: &TargetMetrics,
    seed: u64,
    scope: &str,
) -> (PairVerdict, Vec<Reason>) {
    let rows = compare_targets(a, b, seed);
    let pair = format!("{b_name} vs {a_name}");
    let mut reasons = Vec::new();
    for r in &rows {
        let kind = if r.worse {
            DecisionKind::NotSafe
        } else if r.insufficient() {
            DecisionKind::Undecided
        } else {
            continue;
        };
        reasons.push(Reason {
            kind,
            scope: scope.into(),
            pair: Some(pair.clone()),
            metric: r.metric.clone(),
            a: r.a,
            b: r.b,
            ci: r.ci,
            text: format!("{pair}: {}: {}{}", r.metric, r.verdict, figures(r)),
        });
    }
    let kind = worst(reasons.iter().map(|r| r.kind)).unwrap_or(DecisionKind::Safe);
    let v = PairVerdict {
        a: a_name.into(),
        b: b_name.into(),
        kind,
        rows,
        saving: None,
    };
    (v, reasons)
}

fn figures(r: &MetricVerdict) -> String {
    let rate = r.metric == "error rate";
    let f = |v: Option<f64>| match v {
        Some(v) if rate => format!("{:.3}%", v * 100.0),
        Some(v) => format!("{v:.1} ms"),
        None => "-".into(),
    };
    let ci = match r.ci {
        Some((l, h)) if rate => format!(", difference [{:+.3}, {:+.3}] pp", l * 100.0, h * 100.0),
        Some((l, h)) => format!(", difference [{l:+.1}, {h:+.1}] ms"),
        None => String::new(),
    };
    format!(" ({} -> {}{ci})", f(r.a), f(r.b))
}

fn worst(kinds: impl Iterator<Item = DecisionKind>) -> Option<DecisionKind> {
    kinds.max()
}

/// Accounting findings: a target that sent nothing leaves the run undecided; one whose every request failed makes it
/// not safe (a run where every request failed is never safe).
fn accounting_reasons(m: &Metrics, targets: &[(String, String)]) -> Vec<Reason> {
    let mut out = Vec::new();
    for (name, _) in targets {
        let g = m.targets.get(name).map(|t| t.all()).unwrap_or_default();
        let (kind, text) = if g.finished() == 0 {
            (
                DecisionKind::Undecided,
                format!(
                    "`{name}`: no request finished ({} scheduled, {} not sent, {} cancelled)",
                    g.requests, g.not_sent, g.cancelled
                ),
            )
        } else if g.ok == 0 {
            (
                DecisionKind::NotSafe,
                format!("`{name}`: every one of its {} requests failed", g.errors),
            )
        } else {
            continue;
        };
        out.push(Reason {
            kind,
            scope: "accounting".into(),
            pair: None,
            metric: name.clone(),
            a: None,
            b: Some(g.finished() as f64),
            ci: None,
            text,
        });
    }
    out
}

fn check_reasons(checks: &[Check]) -> Vec<Reason> {
    checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| {
            Reason::note(
                if c.no_data {
                    DecisionKind::Undecided
                } else {
                    DecisionKind::NotSafe
                },
                c.scope.clone(),
                c.expression.clone(),
                format!(
                    "{}: threshold `{}` {} ({})",
                    c.scope,
                    c.expression,
                    if c.no_data { "has no data" } else { "failed" },
                    c.measured
                ),
            )
        })
        .collect()
}

/// A phase is undecided without data (the run ended before it) or with fewer than [`MIN_SAMPLES`] finished requests
/// on a path; not safe when one of its thresholds failed.
fn phase_decision(p: &PhaseInput<'_>, checks: &[Check]) -> PhaseDecision {
    let scope = format!("phase {}", p.name);
    let mine: Vec<&Check> = checks.iter().filter(|c| c.scope == scope).collect();
    let (kind, text) = match p.metrics {
        None => (
            DecisionKind::Undecided,
            format!("{scope}: no request fell in this phase (the run ended before it)"),
        ),
        Some(m) => {
            let thin: Vec<String> = m
                .targets
                .iter()
                .filter(|(_, t)| t.all().finished() < MIN_SAMPLES as u64)
                .map(|(n, t)| format!("`{n}` {}", t.all().finished()))
                .collect();
            if mine.iter().any(|c| !c.passed && !c.no_data) {
                (
                    DecisionKind::NotSafe,
                    format!("{scope}: NO-GO, a threshold failed"),
                )
            } else if !thin.is_empty() || m.targets.len() < 2 {
                (
                    DecisionKind::Undecided,
                    format!(
                        "{scope}: too little data to judge (finished requests per path: {}; at least {MIN_SAMPLES} needed on both paths)",
                        if thin.is_empty() { "one path only".to_string() } else { thin.join(", ") }
                    ),
                )
            } else {
                (DecisionKind::Safe, format!("{scope}: GO"))
            }
        }
    };
    PhaseDecision {
        name: p.name.clone(),
        kind,
        text,
    }
}

/// The decision of a run.
pub(crate) fn decide_run(inp: RunInputs<'_>) -> Decision {
    let mut reasons = accounting_reasons(inp.metrics, &inp.targets);
    if let Some(expr) = inp.stopped.and_then(|s| s.strip_prefix("aborted: ")) {
        // An abort-on-fail threshold was breached long enough to stop the run: that is a failed threshold.
        reasons.push(Reason::note(
            DecisionKind::NotSafe,
            "run",
            "abort_on_fail",
            format!("the run was aborted: `{expr}` was breached"),
        ));
    }
    reasons.extend(check_reasons(&inp.checks));
    let mut pairs = Vec::new();
    for (l, g) in run_pairs(&inp.targets) {
        let (Some(a), Some(b)) = (inp.metrics.targets.get(&l), inp.metrics.targets.get(&g)) else {
            continue;
        };
        let (mut v, rs) = judge_pair(&l, &g, a, b, inp.seed, "run");
        v.saving = saving_interval(a, b, inp.metrics.conversations_per_day, inp.seed);
        pairs.push(v);
        reasons.extend(rs);
    }
    let phases: Vec<PhaseDecision> = inp
        .phases
        .iter()
        .map(|p| phase_decision(p, &inp.checks))
        .collect();
    for p in &phases {
        if p.kind != DecisionKind::Safe {
            reasons.push(Reason::note(
                p.kind,
                format!("phase {}", p.name),
                "phase",
                p.text.clone(),
            ));
        }
    }
    finish(reasons, inp.checks, pairs, phases)
}

/// The kind from the reasons (not safe over undecided over safe), with a closing reason when safe or when nothing
/// was judged at all.
pub(crate) fn finish(
    mut reasons: Vec<Reason>,
    checks: Vec<Check>,
    pairs: Vec<PairVerdict>,
    phases: Vec<PhaseDecision>,
) -> Decision {
    // not safe first, then undecided: the reasons that decide come first
    reasons.sort_by_key(|r| std::cmp::Reverse(r.kind));
    let kind = match worst(reasons.iter().map(|r| r.kind)) {
        Some(k) => k,
        None if checks.is_empty() && pairs.is_empty() => {
            reasons.push(Reason::note(
                DecisionKind::Undecided,
                "run",
                "-",
                "nothing was judged: no thresholds and no legacy/gateway pair".into(),
            ));
            DecisionKind::Undecided
        }
        None => {
            let rows: usize = pairs.iter().map(|p| p.rows.len()).sum();
            reasons.push(Reason::note(
                DecisionKind::Safe,
                "run",
                "-",
                format!(
                    "{}; no metric is significantly worse ({} verdict rows over {} judged pairs)",
                    if checks.is_empty() {
                        "no thresholds".to_string()
                    } else {
                        format!("all {} thresholds passed", checks.len())
                    },
                    rows,
                    pairs.len()
                ),
            ));
            DecisionKind::Safe
        }
    };
    Decision {
        kind,
        reasons,
        checks,
        pairs,
        phases,
    }
}

impl Decision {
    /// Combine with another decision (a run and its baseline comparison): the worse kind wins, reasons of both.
    pub(crate) fn merge(mut self, other: Decision) -> Decision {
        self.kind = self.kind.max(other.kind);
        self.reasons.retain(|r| r.kind == self.kind);
        self.reasons
            .extend(other.reasons.into_iter().filter(|r| r.kind == self.kind));
        self
    }
}

#[cfg(test)]
mod tests;
