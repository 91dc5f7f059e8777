//! The fallback section of report.md: shown only when some request fell back to another target.

use std::fmt::Write as _;

use super::super::rundir::Run;
use crate::format::{opt, pct_str};

pub(super) fn fallback(o: &mut String, run: &Run) {
    let figures = run.fallbacks.figures();
    if figures.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Fallback\n");
    let _ = writeln!(
        o,
        "A request whose retries were exhausted went once to its fallback target; the row stays the original target's (its `error_rate` above is without fallback). The fallback's cost is included in the row's cost.\n"
    );
    let _ = writeln!(
        o,
        "| Target | falls back to | finished | fell back | rescued | share fell back | error rate without | error rate with | added p50 (ms) | added p99 (ms) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for f in &figures {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            f.target,
            f.fallback_target,
            f.finished,
            f.fell_back,
            f.rescued,
            pct_str(f.fallback_share),
            pct_str(f.error_rate_without),
            pct_str(f.error_rate_with),
            opt(f.added_p50_ms, 1),
            opt(f.added_p99_ms, 1),
        );
    }
    o.push('\n');
}
