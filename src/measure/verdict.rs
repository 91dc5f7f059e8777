//! The statistical comparison of two sets of requests (legacy vs gateway in one run, or a baseline run vs the current
//! one), as data: one [`MetricVerdict`] per metric. Rendering lives in `report`.

use crate::measure::metrics::{pct, TargetMetrics};
use crate::measure::stats;

/// Confidence level of every interval and test here.
pub(crate) const CONFIDENCE: f64 = 0.95;
/// Bootstrap resamples.
pub(crate) const BOOTSTRAP_ITERS: usize = 1000;
/// A difference smaller than this (relative) is not called better or worse, however significant.
pub(crate) const MIN_EFFECT: f64 = 0.02;

/// One metric compared between A (before / baseline) and B (after / current). Lower is better for all of them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MetricVerdict {
    pub metric: String,
    /// A's and B's values, by the one quantile definition every output uses ([`pct`]).
    pub(crate) a: Option<f64>,
    pub(crate) b: Option<f64>,
    /// Confidence interval of B - A.
    pub(crate) ci: Option<(f64, f64)>,
    pub verdict: String,
    pub(crate) worse: bool,
    pub(crate) direction: stats::Direction,
}

impl MetricVerdict {
    pub(crate) fn insufficient(&self) -> bool {
        matches!(self.direction, stats::Direction::InsufficientData { .. })
    }

    /// `better`, `no_significant_difference`, `worse` or `insufficient_data` (results.json, JUnit).
    pub(crate) fn direction_name(&self) -> &'static str {
        match self.direction {
            stats::Direction::Better => "better",
            stats::Direction::NoSignificantDifference => "no_significant_difference",
            stats::Direction::Worse => "worse",
            stats::Direction::InsufficientData { .. } => "insufficient_data",
        }
    }
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

/// Compare two targets' samples: latency p50 / p99 and TTFT p50 / p99 (bootstrap interval of the difference; p50 also
/// needs the Mann-Whitney rank test, a p99 is judged on its own interval), and the error rate.
pub fn compare_targets(a: &TargetMetrics, b: &TargetMetrics, seed: u64) -> Vec<MetricVerdict> {
    let mut out = Vec::new();
    let mut sample_rows = |name: &str, xa: &[f64], xb: &[f64], ha, hb| {
        for (q, label) in [(0.5, "p50"), (0.99, "p99")] {
            let v =
                stats::compare_latency(xa, xb, q, BOOTSTRAP_ITERS, CONFIDENCE, MIN_EFFECT, seed);
            let (text, worse) = verdict_text(&v);
            out.push(MetricVerdict {
                metric: format!("{name} {label} (ms)"),
                a: pct(ha, q),
                b: pct(hb, q),
                ci: v.ci.map(|c| (c.low, c.high)),
                verdict: text,
                worse,
                direction: v.direction,
            });
        }
    };
    sample_rows(
        "latency",
        &a.latency_samples,
        &b.latency_samples,
        &a.chat_plain.latency,
        &b.chat_plain.latency,
    );
    if !a.ttft_samples.is_empty() || !b.ttft_samples.is_empty() {
        sample_rows(
            "TTFT",
            &a.ttft_samples,
            &b.ttft_samples,
            &a.chat_stream.ttft,
            &b.chat_stream.ttft,
        );
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
        direction: v.direction,
    });
    out
}
