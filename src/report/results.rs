//! `results.json`: the run's one machine-readable document (schema: `schemas/results.schema.json`). The plan, per
//! target and scope the summary figures, every threshold, every verdict row, the canary phases, the accounting, and
//! the [`Decision`] with its reasons. Rendered from the decision, never recomputing it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::{io, ReportError};
use super::rundir::Run;
use crate::config::metric::{Metric, NAMED};
use crate::config::prices::nano_to_usd;
use crate::measure::decision::{Decision, DecisionKind, PhaseDecision, Reason};
use crate::measure::metrics::{mean, pct, Group, TargetMetrics};
use crate::measure::threshold::Check;
use crate::run::sink::Accounting;

/// Bumped on any change a reader could notice (a renamed or removed field; new fields keep it).
pub(crate) const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Results<'a> {
    schema_version: u32,
    tool: Tool<'a>,
    plan: Plan<'a>,
    run: RunFacts<'a>,
    targets: Vec<TargetResults>,
    thresholds: &'a [Check],
    verdicts: Vec<PairResults<'a>>,
    phases: &'a [PhaseDecision],
    accounting: &'a [Accounting],
    decision: DecisionKind,
    reasons: &'a [Reason],
    /// Per target that fell back at least once (`fallback:` in the scenario); absent when none did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fallbacks: Vec<crate::measure::fallback::FallbackFigures>,
    /// Per webhook target (`protocol: webhook`); absent when the run had none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    webhooks: Vec<crate::measure::webhook::WebhookFigures>,
}

#[derive(Serialize)]
struct Tool<'a> {
    name: &'a str,
    version: &'a str,
}

#[derive(Serialize)]
struct Plan<'a> {
    scenario: &'a str,
    scenario_file: &'a str,
    scenario_sha256: Option<&'a str>,
    seed: u64,
    duration_s: f64,
    conversations_per_day: f64,
    time_scale: f64,
    conversations_per_wall_second: f64,
    /// A closed run's virtual users per target (`traffic.closed.vus`); absent for open-model arrivals.
    #[serde(skip_serializing_if = "Option::is_none")]
    closed_vus: Option<u32>,
    stream_share: f64,
    max_rps_per_target: f64,
    targets: Vec<PlanTarget<'a>>,
    pairs: Vec<PlanPair<'a>>,
}

#[derive(Serialize)]
struct PlanTarget<'a> {
    name: &'a str,
    role: &'a str,
    protocol: &'a str,
}

#[derive(Serialize)]
struct PlanPair<'a> {
    a: &'a str,
    b: &'a str,
}

#[derive(Serialize)]
struct RunFacts<'a> {
    started_utc: &'a str,
    finished_utc: &'a str,
    elapsed_s: f64,
    interrupted: bool,
    stopped: Option<&'a str>,
}

#[derive(Serialize)]
struct TargetResults {
    name: String,
    role: String,
    /// Every threshold metric of the target (`<target>.<metric>`), as thresholds see it; null when no data.
    headline: BTreeMap<&'static str, Option<f64>>,
    scopes: Vec<ScopeFigures>,
    cost: CostFigures,
    /// The load generator's send lag and dropped arrivals: whether cutover, not the target, limited the rate.
    generator: crate::measure::generator::GeneratorFigures,
}

#[derive(Serialize)]
struct ScopeFigures {
    scope: &'static str,
    stream: Option<bool>,
    requests: u64,
    ok: u64,
    errors: u64,
    cancelled: u64,
    not_sent: u64,
    retries: u64,
    error_rate: Option<f64>,
    availability: Option<f64>,
    latency_ms: Quantiles,
    ttft_ms: Quantiles,
    itl_ms: Quantiles,
    input_tokens: u64,
    output_tokens: u64,
    estimated_token_rows: u64,
    cost_usd: f64,
}

#[derive(Serialize)]
struct Quantiles {
    count: u64,
    mean: Option<f64>,
    p50: Option<f64>,
    p90: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
    max: Option<f64>,
}

#[derive(Serialize)]
struct CostFigures {
    run_cost_usd: f64,
    measured_conversations: u64,
    incomplete_conversations: u64,
    cost_per_1k_conversations_usd: Option<f64>,
    monthly_cost_usd: Option<f64>,
    /// What the projection rests on: always the conversations measured whole.
    projection_basis: &'static str,
}

#[derive(Serialize)]
struct PairResults<'a> {
    a: &'a str,
    b: &'a str,
    decision: DecisionKind,
    rows: Vec<RowResults<'a>>,
    saving: Option<&'a crate::measure::saving::Saving>,
}

#[derive(Serialize)]
struct RowResults<'a> {
    metric: &'a str,
    a: Option<f64>,
    b: Option<f64>,
    ci_low: Option<f64>,
    ci_high: Option<f64>,
    confidence: f64,
    direction: &'static str,
    verdict: &'a str,
}

fn quantiles(h: &hdrhistogram::Histogram<u64>) -> Quantiles {
    Quantiles {
        count: h.len(),
        mean: mean(h),
        p50: pct(h, 0.5),
        p90: pct(h, 0.9),
        p95: pct(h, 0.95),
        p99: pct(h, 0.99),
        max: (!h.is_empty()).then(|| crate::measure::metrics::round_ms(h.max() as f64 / 1000.0)),
    }
}

fn scope(scope: &'static str, stream: Option<bool>, g: &Group) -> ScopeFigures {
    ScopeFigures {
        scope,
        stream,
        requests: g.requests,
        ok: g.ok,
        errors: g.errors,
        cancelled: g.cancelled,
        not_sent: g.not_sent,
        retries: g.retries,
        error_rate: g.error_rate(),
        availability: g.availability(),
        latency_ms: quantiles(&g.latency),
        ttft_ms: quantiles(&g.ttft),
        itl_ms: quantiles(&g.itl),
        input_tokens: g.input_tokens,
        output_tokens: g.output_tokens,
        estimated_token_rows: g.estimated_rows,
        cost_usd: nano_to_usd(g.cost_nano),
    }
}

fn target(run: &Run, name: &str, t: &TargetMetrics) -> TargetResults {
    let m = &run.metrics;
    TargetResults {
        name: name.to_string(),
        role: t.role.clone(),
        headline: NAMED
            .iter()
            .map(|k| (k.name(), m.value(name, *k)))
            .collect(),
        scopes: vec![
            scope("all", None, &t.all()),
            scope("create_conversation", Some(false), &t.create),
            scope("chat", None, &t.chat),
            scope("chat", Some(false), &t.chat_plain),
            scope("chat", Some(true), &t.chat_stream),
        ],
        cost: CostFigures {
            run_cost_usd: nano_to_usd(t.all().cost_nano),
            measured_conversations: t.measured_conversations(),
            incomplete_conversations: t.incomplete_conversations(),
            cost_per_1k_conversations_usd: m.value(name, Metric::CostPer1kConversationsUsd),
            monthly_cost_usd: m.monthly_cost_usd(name),
            projection_basis: "conversations measured whole (every request finished)",
        },
        generator: crate::measure::generator::generator_figures(t),
    }
}

/// Write `results.json` into the run directory.
pub(crate) fn write_results(run: &Run, d: &Decision) -> Result<(), ReportError> {
    let meta = &run.meta;
    let s = &meta.scenario;
    let ts = s.traffic.time_scale.unwrap_or(1.0);
    let doc = Results {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: &meta.tool,
            version: &meta.version,
        },
        plan: Plan {
            scenario: &s.name,
            scenario_file: &meta.scenario_file,
            scenario_sha256: meta.scenario_sha256.as_deref(),
            seed: s.seed,
            duration_s: s.traffic.duration_s,
            conversations_per_day: s.traffic.conversations_per_day,
            time_scale: ts,
            conversations_per_wall_second: s.traffic.conversations_per_day / 86_400.0 * ts,
            closed_vus: s.traffic.closed.map(|c| c.vus),
            stream_share: s.traffic.stream_share,
            max_rps_per_target: s.limits.max_rps,
            targets: meta
                .targets
                .iter()
                .map(|t| PlanTarget {
                    name: &t.name,
                    role: &t.role,
                    protocol: &t.protocol,
                })
                .collect(),
            pairs: d
                .pairs
                .iter()
                .map(|p| PlanPair { a: &p.a, b: &p.b })
                .collect(),
        },
        run: RunFacts {
            started_utc: &meta.started_utc,
            finished_utc: &meta.finished_utc,
            elapsed_s: meta.elapsed_s,
            interrupted: meta.stopped.is_some(),
            stopped: meta.stopped.as_deref(),
        },
        targets: run
            .metrics
            .targets
            .iter()
            .map(|(n, t)| target(run, n, t))
            .collect(),
        thresholds: &d.checks,
        verdicts: d
            .pairs
            .iter()
            .map(|p| PairResults {
                a: &p.a,
                b: &p.b,
                decision: p.kind,
                rows: p
                    .rows
                    .iter()
                    .map(|r| RowResults {
                        metric: &r.metric,
                        a: r.a,
                        b: r.b,
                        ci_low: r.ci.map(|c| c.0),
                        ci_high: r.ci.map(|c| c.1),
                        confidence: crate::measure::verdict::CONFIDENCE,
                        direction: r.direction_name(),
                        verdict: &r.verdict,
                    })
                    .collect(),
                saving: p.saving.as_ref(),
            })
            .collect(),
        phases: &d.phases,
        accounting: &meta.accounting,
        decision: d.kind,
        reasons: &d.reasons,
        fallbacks: run.fallbacks.figures(),
        webhooks: run.webhooks.figures(),
    };
    let p = run.dir.join("results.json");
    let text = serde_json::to_string_pretty(&doc).expect("serialisable");
    std::fs::write(&p, text + "\n").map_err(io(&p))
}
