//! The webhook section of report.md: shown only when the run had a webhook target (`protocol: webhook`).

use std::fmt::Write as _;

use super::super::rundir::Run;
use crate::format::{opt, pct_str};

pub(super) fn webhook(o: &mut String, run: &Run) {
    let mut figures = run.webhooks.figures();
    // Legacy first, then gateway: the before / after order of the other tables.
    let role = |t: &str| {
        run.metrics
            .targets
            .get(t)
            .map_or(2, |m| match m.role.as_str() {
                "legacy" => 0,
                "gateway" => 1,
                _ => 2,
            })
    };
    figures.sort_by_key(|f| role(&f.target));
    if figures.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Webhook\n");
    let _ = writeln!(
        o,
        "cutover played the bot platform: one event per user message, redelivered with the same event id after a timeout or a non-2xx (`webhook.retries`), and the answer awaited at cutover's callback URL. Acknowledgement latency is the acknowledged delivery's (a delivery that timed out has none; it counts in *timeouts*); the timeout rate is per delivery. A *duplicate* is an event answered more than once: the server also processed a delivery the platform had given up on (answers are counted until the event's row closes, at its first answer after its last delivery; a later one is not). An answer is *lost* when none reached the callback URL within `webhook.answer_timeout_ms` of the first delivery.\n"
    );
    let _ = writeln!(
        o,
        "| Target | events | acknowledged | ack p50 (ms) | ack p95 (ms) | ack p99 (ms) | deliveries | timeouts | timeout rate | retries | duplicates | answer p50 (ms) | answer p99 (ms) | answers lost |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for f in &figures {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} ({}) |",
            f.target,
            f.events,
            f.acknowledged,
            opt(f.ack_p50_ms, 1),
            opt(f.ack_p95_ms, 1),
            opt(f.ack_p99_ms, 1),
            f.deliveries,
            f.timeouts,
            pct_str(f.timeout_rate),
            f.retries,
            f.duplicates,
            opt(f.answer_p50_ms, 1),
            opt(f.answer_p99_ms, 1),
            f.answers_lost,
            pct_str(f.answers_lost_rate),
        );
    }
    o.push('\n');
}
