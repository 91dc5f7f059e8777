//! `report.md`: every section rendered from the run's metrics and checks.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::rundir::Run;
use super::tables::cost_lines;
use crate::format::{change, opt, pct_str, usd};
use crate::measure::metrics::{mean, pct, Metrics, TargetMetrics};
use crate::measure::stats;
use crate::measure::threshold::Check;
use crate::measure::verdict::{
    compare_targets, MetricVerdict, BOOTSTRAP_ITERS, CONFIDENCE, MIN_EFFECT,
};

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

pub(crate) fn markdown(run: &Run, checks: &[Check], charts_written: &[String]) -> String {
    let m = &run.meta;
    let s = &m.scenario;
    let mut o = String::new();
    let _ = writeln!(o, "# cutover report: {}\n", s.name);
    if let Some(reason) = m.stopped.as_ref().filter(|r| r.starts_with("aborted: ")) {
        let _ = writeln!(
            o,
            "> **ABORTED** — {reason} (an abort-on-fail threshold was breached; arrivals stopped). Figures cover what was measured before the stop.\n"
        );
    } else if let Some(reason) = &m.stopped {
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

    let cols = target_cols(run);
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

    if !checks.is_empty() {
        let _ = writeln!(o, "## Thresholds\n\n| | Scope | Threshold | Measured (left vs right) |\n|---|---|---|---|");
        for c in checks {
            let _ = writeln!(
                o,
                "| {} | {} | `{}` | {} |",
                if c.passed { "PASS" } else { "FAIL" },
                c.scope,
                c.expression,
                c.measured
            );
        }
        let failed = checks.iter().filter(|c| !c.passed).count();
        let _ = writeln!(
            o,
            "\n{} of {} thresholds passed.\n",
            checks.len() - failed,
            checks.len()
        );
    }

    let _ = writeln!(o, "## Accounting\n");
    let _ = writeln!(
        o,
        "Every scheduled request ends as exactly one row of `requests.csv`: scheduled = ok + errors + cancelled + not sent.\n"
    );
    let _ = writeln!(o, "| Target | scheduled | ok | errors | cancelled | not sent | retries |\n|---|---:|---:|---:|---:|---:|---:|");
    for (name, t) in &cols {
        let a = t.all();
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            a.requests, a.ok, a.errors, a.cancelled, a.not_sent, a.retries
        );
    }
    o.push('\n');
    let warmup: u64 = cols.iter().map(|(_, t)| t.warmup).sum();
    if warmup > 0 {
        let _ = writeln!(
            o,
            "Warm-up: {warmup} more requests (conversations arriving in the first {} s) were sent and recorded with `warmup=true` in requests.csv; they are in run.json's accounting and in no figure of this report.\n",
            s.traffic.warmup_s
        );
    }
    let mut any = false;
    for (name, t) in &cols {
        for (k, n) in &t.errors_by_kind {
            if !any {
                let _ = writeln!(o, "| Target | error kind | count |\n|---|---|---:|");
                any = true;
            }
            let _ = writeln!(o, "| {name} | {k} | {n} |");
        }
        for (k, n) in &t.not_sent_by_reason {
            if !any {
                let _ = writeln!(o, "| Target | error kind | count |\n|---|---|---:|");
                any = true;
            }
            let _ = writeln!(o, "| {name} | not sent: {k} | {n} |");
        }
    }
    if any {
        o.push('\n');
    }

    o.push_str(&super::soak::sections(run));
    let _ = writeln!(o, "## Latency by model\n");
    let _ = writeln!(
        o,
        "| Target | model | stream | ok | errors | mean ms | p50 | p95 | p99 | TTFT p50 | TTFT p99 | ITL mean |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (name, t) in &cols {
        for ((model, stream), g) in &t.by_model {
            let _ = writeln!(
                o,
                "| {name} | {model} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                if *stream { "yes" } else { "no" },
                g.ok,
                g.errors,
                opt(mean(&g.latency), 1),
                opt(pct(&g.latency, 0.5), 1),
                opt(pct(&g.latency, 0.95), 1),
                opt(pct(&g.latency, 0.99), 1),
                opt(pct(&g.ttft, 0.5), 1),
                opt(pct(&g.ttft, 0.99), 1),
                opt(mean(&g.itl), 2),
            );
        }
    }
    o.push('\n');
    let sched: Vec<String> = cols
        .iter()
        .map(|(n, t)| {
            format!(
                "`{n}` p99 from send {} ms vs from schedule {} ms",
                opt(pct(&t.chat_plain.latency, 0.99), 1),
                opt(pct(&t.chat_plain.from_scheduled, 0.99), 1)
            )
        })
        .collect();
    let _ = writeln!(
        o,
        "Coordinated omission check (non-stream chat requests): {}. A large gap means the runner or the target fell behind the planned arrivals.\n",
        sched.join("; ")
    );

    if let Ok(mut rdr) = csv::Reader::from_path(run.dir.join("chunk_gaps.csv")) {
        let rows: Vec<BTreeMap<String, String>> =
            rdr.deserialize().filter_map(Result::ok).collect();
        if rows.iter().any(|r| r.get("gaps").is_some_and(|g| g != "0")) {
            let _ = writeln!(
                o,
                "Gaps between content chunks of successful streams (all chunks pooled, `chunk_gaps.csv`):\n\n| Target | gaps | mean ms | p50 | p90 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|"
            );
            for r in &rows {
                let g = |k: &str| r.get(k).cloned().unwrap_or_default();
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    g("target"),
                    g("gaps"),
                    g("mean_ms"),
                    g("p50_ms"),
                    g("p90_ms"),
                    g("p95_ms"),
                    g("p99_ms"),
                    g("max_ms")
                );
            }
            o.push('\n');
        }
    }

    let _ = writeln!(o, "## Cost\n");
    let lines = cost_lines(&run.metrics);
    let _ = writeln!(
        o,
        "| Target | model | requests | input tokens | output tokens | run cost | per 1,000 conversations | monthly (projected) |\n|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for l in &lines {
        let bold = if l.model == "TOTAL" { "**" } else { "" };
        let _ = writeln!(
            o,
            "| {bold}{}{bold} | {bold}{}{bold} | {} | {} | {} | ${:.6} | {} | {bold}{}{bold} |",
            l.target,
            l.model,
            l.requests,
            l.input_tokens,
            l.output_tokens,
            l.run_cost_usd,
            usd(l.cost_per_1k_conversations_usd),
            usd(l.monthly_usd)
        );
    }
    let estimated: u64 = run
        .metrics
        .targets
        .values()
        .map(|t| t.all().estimated_rows)
        .sum();
    let _ = writeln!(
        o,
        "\nPrices: USD per million tokens (input/output) — {}. Monthly = measured cost per conversation × {} conversations/day × 30. Sums are exact integer nano-dollars.{}\n",
        m.prices
            .iter()
            .map(|(k, (i, o))| format!("{k} ${i}/${o}"))
            .collect::<Vec<_>>()
            .join(", "),
        s.traffic.conversations_per_day,
        if estimated > 0 {
            format!(" **{estimated} rows have estimated token counts** (the server sent no usage): their cost is an estimate.")
        } else {
            String::new()
        }
    );

    if !run.phases.is_empty() {
        o.push_str(&canary_markdown(run, checks));
    }

    if !charts_written.is_empty() {
        let _ = writeln!(o, "## Charts\n");
        for c in charts_written {
            let _ = writeln!(o, "![{c}]({c})\n");
        }
    }
    let _ = writeln!(
        o,
        "## Definitions\n\n- Latency: send → last byte of the attempt that decided the outcome; retries and their waits are excluded (see `e2e_ms` in requests.csv for the figure with them). Headline latency is non-streamed chat requests. For Coze non-stream chats latency is chat create → `completed` status observed by polling every {} ms, so it includes up to one poll interval.\n- TTFT: send → first chunk with non-empty answer content (role-only chunks and Coze status events do not count). ITL: (last content chunk − first content chunk) / (output tokens − 1).\n- Error rate: failed / finished requests after retries (creates included). Failed attempts: every attempt that failed, retried ones and 429s included, over all attempts. Availability: 1 − (server-side or transport failures: 5xx, 408, timeouts, resets, cut streams) / finished. 4xx such as 401/404 are errors, not unavailability.\n- Failed requests never enter latency histograms.",
        s.targets
            .iter()
            .find_map(|t| t.coze.as_ref().map(|c| c.poll_interval_ms))
            .unwrap_or(1000)
    );
    o
}

pub(crate) fn verdict_table(o: &mut String, rows: &[MetricVerdict], a: &str, b: &str) {
    let _ = writeln!(
        o,
        "| Metric | {a} | {b} | difference, {:.0}% CI | verdict |\n|---|---:|---:|---|---|",
        CONFIDENCE * 100.0
    );
    for r in rows {
        let rate = r.metric == "error rate";
        let f = |v: Option<f64>| match v {
            Some(v) if rate => format!("{:.3}%", v * 100.0),
            Some(v) => format!("{v:.1}"),
            None => "-".into(),
        };
        let ci = match r.ci {
            Some((l, h)) if rate => format!("[{:+.3}, {:+.3}] pp", l * 100.0, h * 100.0),
            Some((l, h)) => format!("[{l:+.1}, {h:+.1}] ms"),
            None => "-".into(),
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {ci} | {} |",
            r.metric,
            f(r.a),
            f(r.b),
            r.verdict
        );
    }
    o.push('\n');
}

/// The "Statistical verdict" section of a run report (legacy vs gateway).
pub fn comparison_markdown(m: &Metrics, legacy: &str, gateway: &str) -> String {
    let (Some(a), Some(b)) = (m.targets.get(legacy), m.targets.get(gateway)) else {
        return String::new();
    };
    let rows = compare_targets(a, b, 1);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "## Statistical verdict (gateway vs legacy)\n\nMann-Whitney U test on the latency samples and a percentile-bootstrap ({BOOTSTRAP_ITERS} resamples) interval of the difference in p50 / p99; Wilson-score (Newcombe) interval for the error-rate difference. A difference under {:.0}% is not called better or worse.\n",
        MIN_EFFECT * 100.0
    );
    verdict_table(&mut o, &rows, legacy, gateway);
    let worse: Vec<&str> = rows
        .iter()
        .filter(|r| r.worse)
        .map(|r| r.metric.as_str())
        .collect();
    let insufficient = rows.iter().any(|r| r.verdict.starts_with("insufficient"));
    let _ = writeln!(
        o,
        "**Cutover verdict: {}**\n",
        if !worse.is_empty() {
            format!(
                "NOT SAFE — the gateway is significantly worse on {}",
                worse.join(", ")
            )
        } else if insufficient {
            "UNDECIDED — too few samples for some metrics (see above); run longer".to_string()
        } else {
            "no metric is significantly worse on the gateway".to_string()
        }
    );
    o
}

/// One section per canary phase: figures per path and the phase's go / no-go.
pub fn canary_markdown(run: &Run, checks: &[Check]) -> String {
    let Some(c) = &run.meta.scenario.canary else {
        return String::new();
    };
    let mut o = String::new();
    let _ = writeln!(o, "## Canary phases\n");
    for (i, ph) in c.phases.iter().enumerate() {
        let _ = writeln!(
            o,
            "### Phase {}: {} — {:.0}% of users on the gateway\n",
            i + 1,
            ph.name,
            ph.share * 100.0
        );
        let Some(m) = run.phases.get(&(i as u32)) else {
            let _ = writeln!(o, "No requests were scheduled in this phase.\n");
            continue;
        };
        let _ = writeln!(
            o,
            "| Path | users | requests | ok | errors | error rate | mean ms | p99 ms | TTFT p95 ms |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for (name, t) in &m.targets {
            let g = t.all();
            let _ = writeln!(
                o,
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
                t.users.len(),
                g.requests,
                g.ok,
                g.errors,
                g.error_rate()
                    .map_or("-".into(), |v| format!("{:.2}%", v * 100.0)),
                m.metric(name, "mean_ms")
                    .map_or("-".into(), |v| format!("{v:.1}")),
                m.metric(name, "p99_ms")
                    .map_or("-".into(), |v| format!("{v:.1}")),
                m.metric(name, "ttft_p95_ms")
                    .map_or("-".into(), |v| format!("{v:.1}")),
            );
        }
        o.push('\n');
        let needed = stats::needed_for_quantile(0.99);
        for (name, t) in &m.targets {
            let n = t.latency_samples.len();
            if n < needed {
                let _ = writeln!(
                    o,
                    "Note: `{name}` p99 in this phase rests on {n} non-stream samples; about {needed} are needed for a stable p99.\n"
                );
            }
        }
        let paths: Vec<&TargetMetrics> = m.targets.values().collect();
        let split = if paths.len() == 2 {
            paths[0].users.intersection(&paths[1].users).count()
        } else {
            0
        };
        let _ = writeln!(
            o,
            "Users seen on both paths in this phase: {split} (must be 0: routing is sticky per user).\n"
        );
        let scope = format!("phase {}", ph.name);
        let mine: Vec<&Check> = checks.iter().filter(|c| c.scope == scope).collect();
        for c in &mine {
            let _ = writeln!(
                o,
                "- {} `{}` ({})",
                if c.passed { "PASS" } else { "FAIL" },
                c.expression,
                c.measured
            );
        }
        let go = mine.iter().all(|c| c.passed);
        let _ = writeln!(
            o,
            "\n**Phase {}: {}**\n",
            ph.name,
            if mine.is_empty() {
                "no checks configured".to_string()
            } else if go {
                "GO".to_string()
            } else {
                "NO-GO".to_string()
            }
        );
    }
    let _ = writeln!(
        o,
        "Users are routed by a stable hash of the user id (salted with `canary.salt`); a user on the gateway in one phase stays there in every later phase, and within a phase every conversation of a user takes one path.\n"
    );
    o
}
