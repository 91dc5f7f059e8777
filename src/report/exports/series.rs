//! The run's headline figures as labelled time series: one list, rendered by the OpenMetrics file and sent by
//! remote-write, so both carry the same names and values.

use super::super::rundir::Run;

/// One sample: `name{labels} value`, of a metric family (a gauge, or a summary whose samples are the quantiles,
/// `_sum` and `_count`).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub family: String,
    /// `gauge` or `summary`.
    pub kind: &'static str,
    pub name: String,
    pub help: &'static str,
    /// Label pairs, sorted by name (remote-write requires it); `__name__` is not among them.
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Gauges: (metric name in `Metrics::metric`, exported name, help).
const GAUGES: &[(&str, &str, &str)] = &[
    (
        "requests",
        "cutover_requests",
        "Scheduled requests (one row of requests.csv each).",
    ),
    (
        "ok",
        "cutover_requests_ok",
        "Requests that succeeded (after retries).",
    ),
    (
        "errors",
        "cutover_requests_failed",
        "Requests that failed (after retries).",
    ),
    (
        "not_sent",
        "cutover_requests_not_sent",
        "Scheduled requests never sent (caps, interruption).",
    ),
    ("retries", "cutover_retries", "Retried attempts."),
    (
        "error_rate",
        "cutover_error_ratio",
        "Failed / finished requests.",
    ),
    (
        "availability",
        "cutover_availability_ratio",
        "1 - unavailable / finished requests.",
    ),
    (
        "run_cost_usd",
        "cutover_run_cost_usd",
        "Cost of the run's requests.",
    ),
    (
        "monthly_cost_usd",
        "cutover_monthly_cost_usd",
        "Projected monthly cost (30 days).",
    ),
];

/// Summaries in seconds: (exported name, help, metric-name prefix, quantiles as (label, metric suffix)).
const SUMMARIES: &[(&str, &str, &str)] = &[
    (
        "cutover_latency_seconds",
        "Latency of ok non-stream chat requests.",
        "",
    ),
    (
        "cutover_ttft_seconds",
        "Time to first token of ok streams.",
        "ttft_",
    ),
    (
        "cutover_itl_seconds",
        "Inter-token latency of ok streams.",
        "itl_",
    ),
];
const QUANTILES: &[(&str, &str)] = &[
    ("0.5", "p50_ms"),
    ("0.9", "p90_ms"),
    ("0.95", "p95_ms"),
    ("0.99", "p99_ms"),
];

/// Every figure of every target that has a value (a metric without data is left out, never written as 0).
pub fn run_series(run: &Run) -> Vec<Series> {
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
            if let Some(v) = run.metrics.metric(target, metric) {
                push(name, "gauge", name.to_string(), help, None, v);
            }
        }
        let counts = [
            t.chat_plain.latency.len(),
            t.chat_stream.ttft.len(),
            t.chat_stream.itl.len(),
        ];
        for ((name, help, prefix), count) in SUMMARIES.iter().zip(counts) {
            if count == 0 {
                continue;
            }
            for (q, suffix) in QUANTILES {
                let metric = if prefix.is_empty() {
                    suffix.to_string()
                } else {
                    format!("{prefix}{suffix}")
                };
                if let Some(v) = run.metrics.metric(target, &metric) {
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
            let mean = run
                .metrics
                .metric(target, &format!("{prefix}mean_ms"))
                .unwrap_or(0.0);
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
