//! The plain table sections of report.md: thresholds, accounting, latency by model, chunk gaps, cost, charts and
//! definitions.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::super::rundir::Run;
use super::super::tables::cost_lines;
use crate::format::{opt, usd};
use crate::measure::metrics::{mean, pct, TargetMetrics};
use crate::measure::threshold::Check;

type Cols<'a> = [(&'a String, &'a TargetMetrics)];

pub(super) fn thresholds(o: &mut String, checks: &[Check]) {
    if !checks.is_empty() {
        let _ = writeln!(o, "## Thresholds\n\n| | Scope | Threshold | Measured (left vs right) |\n|---|---|---|---|");
        for c in checks {
            let _ = writeln!(
                o,
                "| {} | {} | `{}` | {} |",
                super::check_label(c),
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
}

pub(super) fn accounting(o: &mut String, cols: &Cols<'_>, run: &Run) {
    let _ = writeln!(o, "## Accounting\n");
    let _ = writeln!(
        o,
        "Every scheduled request ends as exactly one row of `requests.csv`: scheduled = ok + errors + cancelled + not sent.\n"
    );
    let _ = writeln!(o, "| Target | scheduled | ok | errors | cancelled | not sent | retries |\n|---|---:|---:|---:|---:|---:|---:|");
    for (name, t) in cols {
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
            run.meta.scenario.traffic.warmup_s
        );
    }
    let mut any = false;
    for (name, t) in cols {
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
}

pub(super) fn latency_by_model(
    o: &mut String,
    cols: &Cols<'_>,
    traffic: &crate::config::scenario::Traffic,
) {
    let closed = traffic.closed.is_some();
    let _ = writeln!(o, "## Latency by model\n");
    let _ = writeln!(
        o,
        "| Target | model | stream | ok | errors | mean ms | p50 | p95 | p99 | TTFT p50 | TTFT p99 | ITL mean |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (name, t) in cols {
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
    if closed {
        let _ = writeln!(
            o,
            "Coordinated omission check: none in a closed run (`traffic.closed`): a virtual user sends each request when its previous answer arrived, so its schedule is its send.\n"
        );
        return generator(o, cols);
    }
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
    generator(o, cols);
    if traffic.timer_slack_us != crate::config::scenario::TIMER_SLACK_US {
        let _ = writeln!(
            o,
            "Timer slack {} µs (`traffic.timer_slack_us`, default {}): arrivals close together were sent in \
             one wake-up of the generator, each up to that much late.\n",
            traffic.timer_slack_us,
            crate::config::scenario::TIMER_SLACK_US
        );
    }
}

/// The load generator's send lag and dropped arrivals, with a warning when it, not the target, limited the rate.
fn generator(o: &mut String, cols: &Cols) {
    let figures: Vec<_> = cols
        .iter()
        .map(|(n, t)| (n, crate::measure::generator::generator_figures(t)))
        .collect();
    let lag: Vec<String> = figures
        .iter()
        .map(|(n, g)| {
            format!(
                "`{n}` p50 {} ms, p99 {} ms, max {} ms, {} late (over {} ms), {} dropped",
                opt(g.send_lag_p50_ms, 1),
                opt(g.send_lag_p99_ms, 1),
                opt(g.send_lag_max_ms, 1),
                g.late_sends,
                crate::measure::generator::LATE_MS,
                g.dropped_max_in_flight
            )
        })
        .collect();
    let _ = writeln!(
        o,
        "Load generator, send lag behind schedule (every sent request): {}.\n",
        lag.join("; ")
    );
    for (n, g) in &figures {
        if let Some(why) = &g.limited_by_generator {
            let _ = writeln!(
                o,
                "> **Warning: the load generator, not `{n}`, limited the offered rate.** {why}.\n"
            );
        }
    }
}

pub(super) fn chunk_gaps(o: &mut String, run: &Run) {
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
}

pub(super) fn cost(o: &mut String, run: &Run) {
    let m = &run.meta;
    let s = &m.scenario;
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
            crate::format::thousands(l.requests),
            crate::format::thousands(l.input_tokens),
            crate::format::thousands(l.output_tokens),
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
    // Sums saturate at the 64-bit limit instead of wrapping (a server can claim any usage): say so where it happened.
    let saturated: Vec<&str> = run
        .metrics
        .targets
        .iter()
        .filter(|(_, t)| {
            let a = t.all();
            [a.input_tokens, a.output_tokens, a.cost_nano].contains(&u64::MAX)
        })
        .map(|(n, _)| n.as_str())
        .collect();
    if !saturated.is_empty() {
        let _ = writeln!(
            o,
            "**Token or cost sums saturated at the 64-bit limit** for `{}`: a server reported a usage too large to add up; those totals are a floor, not a figure.\n",
            saturated.join("`, `")
        );
    }
}

/// What each chart shows, by file stem (the Charts section's captions).
const CHART_CAPTIONS: &[(&str, &str)] = &[
    ("latency", "Latency by percentile: non-streamed latency solid, streamed TTFT dashed, one colour per target."),
    ("errors", "Ok chat requests and errors per second (conversation-create calls not counted)."),
    ("cost", "Projected monthly cost by model, one bar per target; the title gives the saving."),
    ("latency-over-time", "Latency (p99 solid, p95 dashed, p50 dotted) and error rate per interval of the run."),
    ("latency-cdf", "Latency CDF of non-streamed ok chat requests, with the scenario's latency limits as dashed lines."),
    ("ttft-vs-tokens", "TTFT against output tokens of streamed ok requests (sampled), with each target's fitted line."),
    ("e2e-vs-tokens", "End-to-end time against output tokens of ok chat requests (sampled): streamed filled with a solid fitted line, non-streamed hollow with a dashed one."),
    ("canary-phases", "Per canary phase: each target's p99 latency and error rate."),
];

pub(super) fn charts(o: &mut String, charts_written: &[String]) {
    if !charts_written.is_empty() {
        let _ = writeln!(o, "## Charts\n");
        for c in charts_written {
            let stem = c.rsplit_once('.').map_or(c.as_str(), |(s, _)| s);
            if let Some((_, caption)) = CHART_CAPTIONS.iter().find(|(s, _)| *s == stem) {
                let _ = writeln!(o, "{caption}\n");
            }
            let _ = writeln!(o, "![{c}]({c})\n");
        }
    }
}

pub(super) fn definitions(o: &mut String, run: &Run) {
    let s = &run.meta.scenario;
    let _ = writeln!(
        o,
        "## Definitions\n\n- Latency: send → last byte of the attempt that decided the outcome; retries and their waits are excluded (see `e2e_ms` in requests.csv for the figure with them). Headline latency is non-streamed chat requests. For Coze non-stream chats latency is chat create → `completed` status observed by polling every {} ms, so it includes up to one poll interval.\n- Percentiles (pNN): HdrHistogram `value_at_quantile` (3 significant digits: the smallest recorded value with at least that share of samples at or below it), rounded to 0.1 ms. Every table, verdict row, chart legend, `summary.csv`, `results.json` and the terminal print this one figure. Verdict intervals resample the raw samples.\n- TTFT: send → first chunk with non-empty answer content (role-only chunks and Coze status events do not count). ITL: (last content chunk − first content chunk) / (output tokens − 1).\n- Error rate: failed / finished requests after retries (creates included). Failed attempts: every attempt that failed, retried ones and 429s included, over all attempts. Availability: 1 − (requests that got no answer: 5xx, 408, a 429 that exhausted its retries, timeouts, resets, cut streams) / finished. Other 4xx such as 401/404 are errors, not unavailability.\n- Monthly cost: measured cost per conversation × conversations/day × 30, over the conversations measured whole on every target that saw them (every request finished), so all targets are projected from the same conversations; after a stop (interruption, cap) the level leans low, since long conversations are cut more often.\n- Decision: not safe when a threshold fails, a verdict row is significantly worse, or every request of a target failed; otherwise undecided when a verdict row or a canary phase has too little data, a threshold has no data, or a target finished no request; otherwise safe.\n- Failed requests never enter latency histograms.",
        s.targets
            .iter()
            .find_map(|t| t.coze.as_ref().map(|c| c.poll_interval_ms))
            .unwrap_or(1000)
    );
}
