//! `summary.csv` and `cost.csv`: per target and scope figures, and the cost table.

use super::error::{io, ReportError};
use super::rundir::Run;
use crate::config::prices::nano_to_usd;
use serde::Serialize;

use crate::measure::cost::monthly_projection_usd;
use crate::measure::metrics::Metrics;
use crate::measure::metrics::{mean, pct, Group};

const SUMMARY_HEADER: &[&str] = &[
    "target",
    "role",
    "scope",
    "model",
    "stream",
    "requests",
    "ok",
    "errors",
    "cancelled",
    "not_sent",
    "error_rate",
    "availability",
    "retries",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "e2e_p99_ms",
    "sched_p99_ms",
    "ttft_mean_ms",
    "ttft_p50_ms",
    "ttft_p95_ms",
    "ttft_p99_ms",
    "itl_mean_ms",
    "itl_p50_ms",
    "itl_p95_ms",
    "itl_p99_ms",
    "input_tokens",
    "output_tokens",
    "estimated_token_rows",
    "cost_usd",
];

fn group_row(
    target: &str,
    role: &str,
    scope: &str,
    model: &str,
    stream: &str,
    g: &Group,
) -> Vec<String> {
    let f = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.3}"));
    let fr = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.6}"));
    // quantiles print as every other output prints them (0.1 ms; see metrics::pct)
    let fq = |v: Option<f64>| v.map_or_else(String::new, crate::format::ms);
    vec![
        target.into(),
        role.into(),
        scope.into(),
        model.into(),
        stream.into(),
        g.requests.to_string(),
        g.ok.to_string(),
        g.errors.to_string(),
        g.cancelled.to_string(),
        g.not_sent.to_string(),
        fr(g.error_rate()),
        fr(g.availability()),
        g.retries.to_string(),
        f(mean(&g.latency)),
        fq(pct(&g.latency, 0.5)),
        fq(pct(&g.latency, 0.9)),
        fq(pct(&g.latency, 0.95)),
        fq(pct(&g.latency, 0.99)),
        fq(pct(&g.latency, 0.999)),
        f((!g.latency.is_empty()).then(|| g.latency.max() as f64 / 1000.0)),
        fq(pct(&g.e2e, 0.99)),
        fq(pct(&g.from_scheduled, 0.99)),
        f(mean(&g.ttft)),
        fq(pct(&g.ttft, 0.5)),
        fq(pct(&g.ttft, 0.95)),
        fq(pct(&g.ttft, 0.99)),
        f(mean(&g.itl)),
        fq(pct(&g.itl, 0.5)),
        fq(pct(&g.itl, 0.95)),
        fq(pct(&g.itl, 0.99)),
        g.input_tokens.to_string(),
        g.output_tokens.to_string(),
        g.estimated_rows.to_string(),
        format!("{:.9}", nano_to_usd(g.cost_nano)),
    ]
}

pub(crate) fn write_summary_csv(run: &Run) -> Result<(), ReportError> {
    let p = run.dir.join("summary.csv");
    let mut w = csv::Writer::from_path(&p).map_err(|e| ReportError::Data {
        path: p.display().to_string(),
        message: e.to_string(),
    })?;
    let mut rows = vec![SUMMARY_HEADER
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()];
    for (name, t) in &run.metrics.targets {
        rows.push(group_row(name, &t.role, "all", "", "", &t.all()));
        rows.push(group_row(
            name,
            &t.role,
            "create_conversation",
            "",
            "false",
            &t.create,
        ));
        rows.push(group_row(name, &t.role, "chat", "", "", &t.chat));
        rows.push(group_row(name, &t.role, "chat", "", "false", &t.chat_plain));
        rows.push(group_row(name, &t.role, "chat", "", "true", &t.chat_stream));
        for ((model, stream), g) in &t.by_model {
            rows.push(group_row(
                name,
                &t.role,
                "chat",
                model,
                &stream.to_string(),
                g,
            ));
        }
    }
    for r in rows {
        w.write_record(&r).map_err(|e| ReportError::Data {
            path: p.display().to_string(),
            message: e.to_string(),
        })?;
    }
    w.flush().map_err(io(&p))
}

pub(crate) fn write_cost_csv(run: &Run) -> Result<(), ReportError> {
    let p = run.dir.join("cost.csv");
    let err = |e: csv::Error| ReportError::Data {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    let mut w = csv::Writer::from_path(&p).map_err(err)?;
    for l in cost_lines(&run.metrics) {
        w.serialize(&l).map_err(err)?;
    }
    w.flush().map_err(io(&p))
}

/// One line of the cost table.
#[derive(Debug, Clone, Serialize)]
pub struct CostLine {
    pub target: String,
    pub role: String,
    pub model: String,
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_nano_usd: u64,
    pub run_cost_usd: f64,
    pub cost_per_1k_conversations_usd: f64,
    pub monthly_usd: f64,
}

/// The cost table. Run cost counts every request; the per-conversation and monthly figures come from the
/// conversations measured whole (an interrupted run projects from what it completed, not from what it scheduled).
pub fn cost_lines(metrics: &Metrics) -> Vec<CostLine> {
    let cpd = metrics.conversations_per_day;
    let mut out = Vec::new();
    for (name, t) in &metrics.targets {
        let conv = t.measured_conversations();
        let mut push = |model: &str, req: u64, i: u64, o: u64, c: u64, measured: u64| {
            let per_conv = if conv > 0 {
                nano_to_usd(measured) / conv as f64
            } else {
                0.0
            };
            out.push(CostLine {
                target: name.clone(),
                role: t.role.clone(),
                model: model.to_string(),
                requests: req,
                input_tokens: i,
                output_tokens: o,
                cost_nano_usd: c,
                run_cost_usd: nano_to_usd(c),
                cost_per_1k_conversations_usd: per_conv * 1000.0,
                monthly_usd: monthly_projection_usd(measured, conv, cpd),
            });
        };
        for (model, (req, i, o, c)) in t.cost_by_model() {
            push(&model, req, i, o, c, t.measured_cost_nano(Some(&model)));
        }
        let all = t.all();
        push(
            "TOTAL",
            all.requests,
            all.input_tokens,
            all.output_tokens,
            all.cost_nano,
            t.measured_cost_nano(None),
        );
    }
    out
}
