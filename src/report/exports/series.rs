//! The run's headline figures as labelled time series: one list, rendered by the OpenMetrics file and sent by
//! remote-write, so both carry the same names and values.

use super::super::rundir::Run;
use crate::config::metric::Metric;

/// One sample: `name{labels} value`, of a metric family (a gauge, or a summary whose samples are the quantiles,
/// `_sum` and `_count`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) family: String,
    /// `gauge` or `summary`.
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    pub(crate) help: &'static str,
    /// Label pairs, sorted by name (remote-write requires it); `__name__` is not among them.
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) value: f64,
}

/// Gauges: (metric, exported name, help).
const GAUGES: &[(Metric, &str, &str)] = &[
    (
        Metric::Requests,
        "cutover_requests",
        "Scheduled requests (one row of requests.csv each).",
    ),
    (
        Metric::Ok,
        "cutover_requests_ok",
        "Requests that succeeded (after retries).",
    ),
    (
        Metric::Errors,
        "cutover_requests_failed",
        "Requests that failed (after retries).",
    ),
    (
        Metric::NotSent,
        "cutover_requests_not_sent",
        "Scheduled requests never sent (caps, interruption).",
    ),
    (Metric::Retries, "cutover_retries", "Retried attempts."),
    (
        Metric::ErrorRate,
        "cutover_error_ratio",
        "Failed / finished requests.",
    ),
    (
        Metric::Availability,
        "cutover_availability_ratio",
        "1 - unavailable / finished requests.",
    ),
    (
        Metric::RunCostUsd,
        "cutover_run_cost_usd",
        "Cost of the run's requests.",
    ),
    (
        Metric::MonthlyCostUsd,
        "cutover_monthly_cost_usd",
        "Projected monthly cost (30 days).",
    ),
];

/// A summary in seconds: exported name, help, its mean and its quantiles as (label, metric).
struct SummarySpec {
    name: &'static str,
    help: &'static str,
    mean: Metric,
    quantiles: &'static [(&'static str, Metric)],
}

const SUMMARIES: &[SummarySpec] = &[
    SummarySpec {
        name: "cutover_latency_seconds",
        help: "Latency of ok non-stream chat requests.",
        mean: Metric::MeanMs,
        quantiles: &[
            ("0.5", Metric::P50Ms),
            ("0.9", Metric::P90Ms),
            ("0.95", Metric::P95Ms),
            ("0.99", Metric::P99Ms),
        ],
    },
    SummarySpec {
        name: "cutover_ttft_seconds",
        help: "Time to first token of ok streams.",
        mean: Metric::TtftMeanMs,
        quantiles: &[
            ("0.5", Metric::TtftP50Ms),
            ("0.95", Metric::TtftP95Ms),
            ("0.99", Metric::TtftP99Ms),
        ],
    },
    SummarySpec {
        name: "cutover_itl_seconds",
        help: "Inter-token latency of ok streams.",
        mean: Metric::ItlMeanMs,
        quantiles: &[
            ("0.5", Metric::ItlP50Ms),
            ("0.95", Metric::ItlP95Ms),
            ("0.99", Metric::ItlP99Ms),
        ],
    },
];

/// Every figure of every target that has a value (a metric without data is left out, never written as 0).
pub(crate) fn run_series(run: &Run) -> Vec<Series> {
    let mut out = Vec::new();
    let scenario = run.meta.scenario.name.clone();
    for (target, t) in &run.metrics.targets {
        let base = vec![
            ("role".to_string(), t.role.clone()),
            ("scenario".to_string(), scenario.clone()),
            ("target".to_string(), target.clone()),
        ];
        let mut push = |family: &str,
                        kind: &'static str,
                        name: String,
                        help: &'static str,
                        extra: Option<(&str, &str)>,
                        value: f64| {
            if !value.is_finite() {
                return;
            }
            let mut labels = base.clone();
            if let Some((k, v)) = extra {
                labels.push((k.to_string(), v.to_string()));
            }
            labels.sort();
            out.push(Series {
                family: family.to_string(),
                kind,
                name,
                help,
                labels,
                value,
            });
        };
        for (metric, name, help) in GAUGES {
            if let Some(v) = run.metrics.value(target, *metric) {
                push(name, "gauge", name.to_string(), help, None, v);
            }
        }
        let counts = [
            t.chat_plain.latency.len(),
            t.chat_stream.ttft.len(),
            t.chat_stream.itl.len(),
        ];
        for (spec, count) in SUMMARIES.iter().zip(counts) {
            let (name, help) = (spec.name, spec.help);
            if count == 0 {
                continue;
            }
            for (q, metric) in spec.quantiles {
                if let Some(v) = run.metrics.value(target, *metric) {
                    push(
                        name,
                        "summary",
                        name.to_string(),
                        help,
                        Some(("quantile", q)),
                        v / 1000.0,
                    );
                }
            }
            let mean = run.metrics.value(target, spec.mean).unwrap_or(0.0);
            push(
                name,
                "summary",
                format!("{name}_sum"),
                help,
                None,
                mean / 1000.0 * count as f64,
            );
            push(
                name,
                "summary",
                format!("{name}_count"),
                help,
                None,
                count as f64,
            );
        }
    }
    out
}
