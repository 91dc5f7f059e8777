//! `report.md`: one function per section, each rendered from the run's metrics and checks.

use std::fmt::Write as _;

use super::rundir::Run;
use crate::config::metric::Metric;
use crate::format::{change, opt, pct_str, usd};
use crate::measure::metrics::TargetMetrics;

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

mod fallback;
mod sections;
mod verdict;
mod webhook;

pub(crate) use verdict::verdict_table;
pub use verdict::{canary_markdown, pair_markdown};

use crate::measure::decision::{Decision, PairVerdict};

pub(crate) fn markdown(run: &Run, decision: &Decision, charts_written: &[String]) -> String {
    let mut o = String::new();
    header(&mut o, run, decision);
    for (i, p) in decision.pairs.iter().enumerate() {
        before_after(&mut o, run, p, decision.pairs.len() == 1 && i == 0);
    }
    sections::thresholds(&mut o, &decision.checks);
    let cols = target_cols(run);
    sections::accounting(&mut o, &cols, run);
    fallback::fallback(&mut o, run);
    webhook::webhook(&mut o, run);
    o.push_str(&crate::report::soak::sections(run));
    sections::latency_by_model(&mut o, &cols, &run.meta.scenario.traffic);
    sections::chunk_gaps(&mut o, run);
    sections::cost(&mut o, run);
    if !run.phases.is_empty() || run.meta.scenario.canary.is_some() {
        o.push_str(&canary_markdown(run, decision));
    }
    sections::charts(&mut o, charts_written);
    sections::definitions(&mut o, run);
    o
}

/// `PASS`, `FAIL` or `NO DATA` for a threshold check.
pub(crate) fn check_label(c: &crate::measure::threshold::Check) -> &'static str {
    if c.passed {
        "PASS"
    } else if c.no_data {
        "NO DATA"
    } else {
        "FAIL"
    }
}

/// The decision banner: the first thing after the title.
fn banner(o: &mut String, decision: &Decision) {
    let _ = writeln!(o, "> **Decision: {}**\n>", decision.kind.label());
    for r in &decision.reasons {
        let _ = writeln!(o, "> - {}", r.text);
    }
    o.push('\n');
}

fn header(o: &mut String, run: &Run, decision: &Decision) {
    let m = &run.meta;
    let s = &m.scenario;
    let _ = writeln!(o, "# cutover report: {}\n", s.name);
    banner(o, decision);
    if let Some(reason) = m.stopped.as_ref().filter(|r| r.starts_with("aborted: ")) {
        let _ = writeln!(
            o,
            "> **ABORTED** — {reason} (an abort-on-fail threshold was breached; arrivals stopped). Figures cover what was measured before the stop.\n"
        );
    } else if let Some(reason) = &m.stopped {
        let incomplete: u64 = run
            .metrics
            .targets
            .values()
            .map(|t| t.incomplete_conversations())
            .sum();
        let _ = writeln!(
            o,
            "> **INTERRUPTED** — {reason}. Figures cover what was measured before the stop; not-sent requests are listed below. The monthly projection is made from the conversations completed on every target before the stop ({incomplete} target-conversations cut by it are left out); a stop cuts long conversations more often, so the projected level leans low, on every target alike.\n"
        );
    }
    if let Some(note) = crate::report::merge::note(m) {
        let _ = writeln!(o, "{note}\n");
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
    let _ = match s.traffic.closed {
        None => writeln!(
            o,
            "- Traffic: {} conversations/day replayed at time scale {ts} for {} s (seed {}), {:.0}% streamed; the same conversations went to every target.",
            s.traffic.conversations_per_day,
            s.traffic.duration_s,
            s.seed,
            s.traffic.stream_share * 100.0
        ),
        Some(c) => writeln!(
            o,
            "- Traffic: closed, {} virtual users per target running conversations back to back for {} s (seed {}), {:.0}% streamed; every target got the same conversations in the same order, as many as it answered.",
            c.vus,
            s.traffic.duration_s,
            s.seed,
            s.traffic.stream_share * 100.0
        ),
    };
    for t in &m.targets {
        let _ = writeln!(
            o,
            "- Target `{}` ({}, {}): {}",
            t.name, t.role, t.protocol, t.endpoint
        );
    }
    o.push('\n');
}

fn before_after(o: &mut String, run: &Run, p: &PairVerdict, only_pair: bool) {
    let s = &run.meta.scenario;
    let (l, g) = (p.a.as_str(), p.b.as_str());
    {
        if only_pair {
            let _ = writeln!(o, "## Before / after\n");
        } else {
            let _ = writeln!(o, "## Before / after: `{g}` vs `{l}`\n");
        }
        let _ = writeln!(
            o,
            "| Metric | legacy (`{l}`) | gateway (`{g}`) | change |\n|---|---:|---:|---:|"
        );
        let rows: &[(&str, Metric, usize)] = &[
            ("Mean latency, non-stream (ms)", Metric::MeanMs, 1),
            ("p50 latency (ms)", Metric::P50Ms, 1),
            ("p95 latency (ms)", Metric::P95Ms, 1),
            ("p99 latency (ms)", Metric::P99Ms, 1),
            ("TTFT p50, stream (ms)", Metric::TtftP50Ms, 1),
            ("TTFT p95, stream (ms)", Metric::TtftP95Ms, 1),
            ("Inter-token latency mean (ms)", Metric::ItlMeanMs, 2),
            ("Output tokens/s per stream", Metric::OutputTokensPerS, 1),
        ];
        for (label, key, d) in rows {
            let (a, b) = (run.metrics.value(l, *key), run.metrics.value(g, *key));
            let _ = writeln!(
                o,
                "| {label} | {} | {} | {} |",
                opt(a, *d),
                opt(b, *d),
                change(a, b)
            );
        }
        let (a, b) = (
            run.metrics.value(l, Metric::ErrorRate),
            run.metrics.value(g, Metric::ErrorRate),
        );
        let _ = writeln!(
            o,
            "| Error rate | {} | {} | {} |",
            pct_str(a),
            pct_str(b),
            change(a, b)
        );
        let (a, b) = (
            run.metrics.value(l, Metric::Availability),
            run.metrics.value(g, Metric::Availability),
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
        if let Some(sv) = &p.saving {
            let (a, b) = (sv.a_monthly_usd, sv.b_monthly_usd);
            let _ = writeln!(
                o,
                "Projected saving of the gateway: **{} per month ({:.1}%)** at {} conversations/day; {}\n",
                usd(a - b),
                if a > 0.0 { (a - b) / a * 100.0 } else { 0.0 },
                s.traffic.conversations_per_day,
                saving_call(sv)
            );
        }
        o.push_str(&pair_markdown(p, only_pair));
    }
}

fn saving_call(sv: &crate::measure::saving::Saving) -> String {
    match sv.ci {
        Some((lo, hi)) => format!(
            "95% interval {} to {} ({} over conversations): {}.",
            usd(lo),
            usd(hi),
            match sv.method {
                crate::measure::saving::IntervalMethod::Bootstrap => "bootstrap",
                crate::measure::saving::IntervalMethod::Normal => "normal approximation",
            },
            if lo > 0.0 {
                "a saving"
            } else if hi < 0.0 {
                "an extra cost"
            } else {
                "not distinguishable from no change, so no saving is called"
            }
        ),
        None => "too few conversations for an interval, so no saving is called.".into(),
    }
}
