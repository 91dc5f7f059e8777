//! `report.md`: one function per section, each rendered from the run's metrics and checks.

use std::fmt::Write as _;

use super::rundir::Run;
use crate::format::{change, opt, pct_str, usd};
use crate::measure::metrics::TargetMetrics;
use crate::measure::threshold::Check;

fn target_cols(run: &Run) -> Vec<(&String, &TargetMetrics)> {
    // legacy first, then gateway, then others: the before/after order
    let mut v: Vec<_> = run.metrics.targets.iter().collect();
    v.sort_by_key(|(_, t)| match t.role.as_str() {
        "legacy" => 0,
        "gateway" => 1,
        _ => 2,
    });
    v
}

mod sections;
mod verdict;

pub(crate) use verdict::verdict_table;
pub use verdict::{canary_markdown, comparison_markdown};

pub(crate) fn markdown(run: &Run, checks: &[Check], charts_written: &[String]) -> String {
    let mut o = String::new();
    header(&mut o, run);
    before_after(&mut o, run);
    sections::thresholds(&mut o, checks);
    let cols = target_cols(run);
    sections::accounting(&mut o, &cols);
    sections::latency_by_model(&mut o, &cols);
    sections::chunk_gaps(&mut o, run);
    sections::cost(&mut o, run);
    if !run.phases.is_empty() {
        o.push_str(&canary_markdown(run, checks));
    }
    sections::charts(&mut o, charts_written);
    sections::definitions(&mut o, run);
    o
}

fn header(o: &mut String, run: &Run) {
    let m = &run.meta;
    let s = &m.scenario;
    let _ = writeln!(o, "# cutover report: {}\n", s.name);
    if let Some(reason) = &m.stopped {
        let _ = writeln!(
            o,
            "> **INTERRUPTED** — {reason}. Figures cover what was measured before the stop; not-sent requests are listed below.\n"
        );
    }
    if let Some(d) = &s.description {
        let _ = writeln!(o, "{}\n", d.trim());
    }
    let _ = writeln!(
        o,
        "- Run: {} → {} UTC ({:.1} s), {} {} from `{}`",
        m.started_utc, m.finished_utc, m.elapsed_s, m.tool, m.version, m.scenario_file
    );
    let ts = s.traffic.time_scale.unwrap_or(1.0);
    let _ = writeln!(
        o,
        "- Traffic: {} conversations/day replayed at time scale {ts} for {} s (seed {}), {:.0}% streamed; the same conversations went to every target.",
        s.traffic.conversations_per_day,
        s.traffic.duration_s,
        s.seed,
        s.traffic.stream_share * 100.0
    );
    for t in &m.targets {
        let _ = writeln!(
            o,
            "- Target `{}` ({}, {}): {}",
            t.name, t.role, t.protocol, t.endpoint
        );
    }
    o.push('\n');
}

fn before_after(o: &mut String, run: &Run) {
    let s = &run.meta.scenario;
    let legacy = run.role_target("legacy");
    let gateway = run.role_target("gateway");
    if let (Some(l), Some(g)) = (legacy, gateway) {
        let _ = writeln!(o, "## Before / after\n");
        let _ = writeln!(
            o,
            "| Metric | legacy (`{l}`) | gateway (`{g}`) | change |\n|---|---:|---:|---:|"
        );
        let rows: &[(&str, &str, usize)] = &[
            ("Mean latency, non-stream (ms)", "mean_ms", 1),
            ("p50 latency (ms)", "p50_ms", 1),
            ("p95 latency (ms)", "p95_ms", 1),
            ("p99 latency (ms)", "p99_ms", 1),
            ("TTFT p50, stream (ms)", "ttft_p50_ms", 1),
            ("TTFT p95, stream (ms)", "ttft_p95_ms", 1),
            ("Inter-token latency mean (ms)", "itl_mean_ms", 2),
            ("Output tokens/s per stream", "output_tokens_per_s", 1),
        ];
        for (label, key, d) in rows {
            let (a, b) = (run.metrics.metric(l, key), run.metrics.metric(g, key));
            let _ = writeln!(
                o,
                "| {label} | {} | {} | {} |",
                opt(a, *d),
                opt(b, *d),
                change(a, b)
            );
        }
        let (a, b) = (
            run.metrics.metric(l, "error_rate"),
            run.metrics.metric(g, "error_rate"),
        );
        let _ = writeln!(
            o,
            "| Error rate | {} | {} | {} |",
            pct_str(a),
            pct_str(b),
            change(a, b)
        );
        let (a, b) = (
            run.metrics.metric(l, "availability"),
            run.metrics.metric(g, "availability"),
        );
        let delta = match (a, b) {
            (Some(a), Some(b)) => format!("{:+.2} pp", (b - a) * 100.0),
            _ => "-".into(),
        };
        let _ = writeln!(
            o,
            "| Availability | {} | {} | {delta} |",
            pct_str(a),
            pct_str(b)
        );
        let (a, b) = (
            run.metrics.monthly_cost_usd(l),
            run.metrics.monthly_cost_usd(g),
        );
        let _ = writeln!(
            o,
            "| Monthly cost (projected) | {} | {} | {} |\n",
            a.map_or("-".into(), usd),
            b.map_or("-".into(), usd),
            change(a, b)
        );
        if let (Some(a), Some(b)) = (a, b) {
            let _ = writeln!(
                o,
                "Projected saving of the gateway: **{} per month ({:.1}%)** at {} conversations/day.\n",
                usd(a - b),
                if a > 0.0 { (a - b) / a * 100.0 } else { 0.0 },
                s.traffic.conversations_per_day
            );
        }
        o.push_str(&comparison_markdown(&run.metrics, l, g));
    }
}
