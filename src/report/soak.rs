//! report.md sections for goodput (when the scenario sets `goodput:`) and, for runs of five minutes or more, the
//! per-minute latency and error series, so a slow leak or drift shows.

use std::fmt::Write as _;

use super::rundir::Run;
use crate::config::metric::Metric;

/// Runs at least this long get the per-minute table.
pub(crate) const SOAK_MIN_S: f64 = 300.0;

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.1}"))
}

pub(crate) fn sections(run: &Run) -> String {
    let mut o = String::new();
    let m = &run.metrics;
    if let Some(g) = &run.meta.scenario.goodput {
        let mut limits = Vec::new();
        if let Some(l) = g.latency_ms {
            limits.push(format!("latency ≤ {l} ms (non-streamed)"));
        }
        if let Some(t) = g.ttft_ms {
            limits.push(format!("TTFT ≤ {t} ms (streamed)"));
        }
        let _ = writeln!(
            o,
            "## Goodput\n\nChat requests that succeeded within {}, per second of the measured window ({:.0} s).\n\n| Target | goodput/s | good | of finished chat requests |\n|---|---:|---:|---:|",
            limits.join(" and "),
            m.window_s
        );
        for (name, t) in &m.targets {
            let finished = t.chat.finished();
            let share = if finished > 0 {
                format!("{:.1}%", t.good as f64 / finished as f64 * 100.0)
            } else {
                "–".into()
            };
            let rate = m.value(name, Metric::GoodputRps).unwrap_or(0.0);
            let _ = writeln!(o, "| {name} | {rate:.2} | {} | {share} |", t.good);
        }
        o.push('\n');
    }
    if run.meta.elapsed_s >= SOAK_MIN_S {
        let _ = writeln!(
            o,
            "## Over time (per minute)\n\nChat requests by the minute they completed in; latency is non-streamed ok requests.\n\n| Minute | Target | ok | errors | error rate | p50 ms | p99 ms |\n|---:|---|---:|---:|---:|---:|---:|"
        );
        let minutes = m
            .targets
            .values()
            .map(|t| t.per_minute.len())
            .max()
            .unwrap_or(0);
        for i in 0..minutes {
            for (name, t) in &m.targets {
                let Some(x) = t.per_minute.get(i) else {
                    continue;
                };
                let er = x
                    .error_rate()
                    .map_or_else(|| "–".into(), |e| format!("{:.2}%", e * 100.0));
                let _ = writeln!(
                    o,
                    "| {i} | {name} | {} | {} | {er} | {} | {} |",
                    x.ok,
                    x.errors,
                    ms(x.pct(0.5)),
                    ms(x.pct(0.99))
                );
            }
        }
        o.push('\n');
    }
    o
}
