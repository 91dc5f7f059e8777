//! `summary.csv` and `cost.csv`: per target and scope figures, and the cost table.

use super::error::{io, ReportError};
use super::rundir::Run;
use crate::config::prices::nano_to_usd;
use serde::Serialize;

use crate::config::metric::{Metric, Unit};
use crate::measure::cost::monthly_projection_usd;
use crate::measure::metrics::{Figure, Group, Metrics};

/// summary.csv's first columns: what the row is.
const SUMMARY_LABELS: &[&str] = &["target", "role", "scope", "model", "stream"];

/// summary.csv's figure columns, after [`SUMMARY_LABELS`]: each row's group read through [`Group::figure`].
const SUMMARY_FIGURES: &[Metric] = &[
    Metric::Requests,
    Metric::Ok,
    Metric::Errors,
    Metric::Cancelled,
    Metric::NotSent,
    Metric::ErrorRate,
    Metric::Availability,
    Metric::Retries,
    Metric::MeanMs,
    Metric::P50Ms,
    Metric::P90Ms,
    Metric::P95Ms,
    Metric::P99Ms,
    Metric::P999Ms,
    Metric::MaxMs,
    Metric::E2eP99Ms,
    Metric::SchedP99Ms,
    Metric::TtftMeanMs,
    Metric::TtftP50Ms,
    Metric::TtftP95Ms,
    Metric::TtftP99Ms,
    Metric::ItlMeanMs,
    Metric::ItlP50Ms,
    Metric::ItlP95Ms,
    Metric::ItlP99Ms,
    Metric::InputTokens,
    Metric::OutputTokens,
    Metric::EstimatedTokenRows,
    Metric::RunCostUsd,
];

/// A figure column's header: the metric's name, but for the group's cost, which summary.csv has always called
/// `cost_usd`.
fn summary_header(m: Metric) -> &'static str {
    match m {
        Metric::RunCostUsd => "cost_usd",
        m => m.name(),
    }
}

/// A figure as summary.csv prints it: counts whole, shares to 6 decimals, quantiles as every output prints them
/// (0.1 ms; see metrics::pct), other milliseconds to 3 decimals, dollars to 9; empty when there is no data.
fn summary_cell(m: Metric, g: &Group) -> String {
    match (g.figure(m), m.unit()) {
        (None, _) => String::new(),
        (Some(Figure::Count(c)), _) => c.to_string(),
        (Some(Figure::Real(v)), Unit::Ratio) => format!("{v:.6}"),
        (Some(Figure::Real(v)), Unit::Ms) if m.quantile().is_some() => crate::format::ms(v),
        (Some(Figure::Real(v)), Unit::Usd) => format!("{v:.9}"),
        (Some(Figure::Real(v)), _) => format!("{v:.3}"),
    }
}

fn group_row(
    target: &str,
    role: &str,
    scope: &str,
    model: &str,
    stream: &str,
    g: &Group,
) -> Vec<String> {
    [target, role, scope, model, stream]
        .into_iter()
        .map(str::to_string)
        .chain(SUMMARY_FIGURES.iter().map(|m| summary_cell(*m, g)))
        .collect()
}

pub(crate) fn write_summary_csv(run: &Run) -> Result<(), ReportError> {
    let p = run.dir.join("summary.csv");
    let mut w = csv::Writer::from_path(&p).map_err(|e| ReportError::Data {
        path: p.display().to_string(),
        message: e.to_string(),
    })?;
    let mut rows = vec![SUMMARY_LABELS
        .iter()
        .copied()
        .chain(SUMMARY_FIGURES.iter().map(|m| summary_header(*m)))
        .map(str::to_string)
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
pub(crate) struct CostLine {
    pub(crate) target: String,
    pub(crate) role: String,
    pub(crate) model: String,
    pub(crate) requests: u64,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cost_nano_usd: u64,
    pub(crate) run_cost_usd: f64,
    pub(crate) cost_per_1k_conversations_usd: f64,
    pub(crate) monthly_usd: f64,
}

/// The cost table. Run cost counts every request; the per-conversation and monthly figures come from the
/// conversations measured whole (an interrupted run projects from what it completed, not from what it scheduled).
pub(crate) fn cost_lines(metrics: &Metrics) -> Vec<CostLine> {
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
        let measured = t.measured_cost_by_model();
        for (model, (req, i, o, c)) in t.cost_by_model() {
            let m = measured.get(model.as_str()).copied().unwrap_or(0);
            push(&model, req, i, o, c, m);
        }
        let all = t.all();
        push(
            "TOTAL",
            all.requests,
            all.input_tokens,
            all.output_tokens,
            all.cost_nano,
            t.measured_cost_nano(),
        );
    }
    out
}
