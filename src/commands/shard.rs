//! Sharded runs and their merge (issue 16): the `--shard` / `--shard-count` / `--start-at` side of `cutover run`, and
//! `cutover merge`. The contract is written out in `deploy/README.md`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{bad_input, harness, AppError, RunOptions};
use crate::config::scenario::Loaded;
use crate::measure::decision::Decision;
use crate::report::merge::MergeError;
use crate::run::shard::{Shard, Slice, INDEX_ENV};
use crate::run::state::Control;

/// How late a shard may start after `--start-at` when `--max-start-delay` is not given (seconds).
pub const DEFAULT_MAX_START_DELAY_S: f64 = 60.0;

/// The shard from `--shard I/N` or `--shard-count N` (index from `JOB_COMPLETION_INDEX`); `None` for neither.
pub fn shard_from_flags(
    shard: Option<&str>,
    shard_count: Option<&str>,
) -> Result<Option<Shard>, AppError> {
    let env = std::env::var(INDEX_ENV).ok();
    Shard::from_flags(shard, shard_count, env.as_deref()).map_err(bad_input)
}

/// A closed run splits its virtual users over the shards (`Shard::vus`); a shard left with none is refused.
fn check_vus(loaded: &Loaded, opts: &RunOptions) -> Result<(), AppError> {
    if let (Some(c), Some(sh)) = (loaded.scenario.traffic.closed, opts.shard) {
        if sh.vus(c.vus) == 0 {
            return Err(bad_input(format!(
                "--shard {sh}: traffic.closed.vus {} leaves this shard no virtual user; run at most {} shards",
                c.vus, c.vus
            )));
        }
    }
    Ok(())
}

/// `--start-at` as stored in run.json: the instant in RFC 3339 UTC, so shards given `Z` or `+00:00` agree.
pub(super) fn start_at_utc(opts: &RunOptions) -> Result<Option<String>, AppError> {
    Ok(parse_start_at(opts)?.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
}

fn parse_start_at(opts: &RunOptions) -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
    let Some(t) = &opts.start_at else {
        return Ok(None);
    };
    let at = chrono::DateTime::parse_from_rfc3339(t.trim()).map_err(|e| {
        bad_input(format!(
            "--start-at: `{t}` is not an RFC 3339 instant (e.g. 2026-11-25T14:00:00Z): {e}"
        ))
    })?;
    Ok(Some(at.with_timezone(&chrono::Utc)))
}

/// Which conversations this process sends and the instant its schedule starts: `--start-at` mapped onto the
/// monotonic clock, possibly in the past (a late shard keeps its schedule), refused when later than
/// `--max-start-delay`; a shard a closed run leaves without a virtual user is refused too.
pub(super) fn slice(opts: &RunOptions, loaded: &Loaded) -> Result<Slice, AppError> {
    check_vus(loaded, opts)?;
    let max_delay = opts.max_start_delay_s.unwrap_or(DEFAULT_MAX_START_DELAY_S);
    if !(max_delay.is_finite() && max_delay >= 0.0) {
        return Err(bad_input(format!(
            "--max-start-delay: {max_delay} must be a number of seconds, 0 or more"
        )));
    }
    let Some(at) = parse_start_at(opts)? else {
        return Ok(Slice {
            shard: opts.shard,
            start: None,
        });
    };
    let (now_utc, now) = (chrono::Utc::now(), Instant::now());
    let ahead_s = (at - now_utc).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
    let start = if ahead_s >= 0.0 {
        Some(now + Duration::from_secs_f64(ahead_s))
    } else {
        let late = -ahead_s;
        if late > max_delay {
            return Err(bad_input(format!(
                "--start-at {}: this process started {late:.1} s after that instant, more than --max-start-delay \
                 {max_delay} s; refusing to send its overdue arrivals as one burst",
                opts.start_at.as_deref().unwrap_or_default()
            )));
        }
        now.checked_sub(Duration::from_secs_f64(late))
    };
    let start =
        start.ok_or_else(|| bad_input("--start-at: the instant is out of this clock's range"))?;
    Ok(Slice {
        shard: opts.shard,
        start: Some(start),
    })
}

/// Sleep until the common start instant (or an interruption); a late shard does not wait.
pub(super) async fn wait_for_start(slice: &Slice, control: &Control) {
    let Some(start) = slice.start else { return };
    let wait = start.saturating_duration_since(Instant::now());
    if wait > Duration::from_secs(1) {
        eprintln!(
            "cutover: waiting {:.1} s for --start-at",
            wait.as_secs_f64()
        );
    }
    tokio::select! {
        _ = tokio::time::sleep_until(start.into()) => {}
        _ = control.stop_arrivals.cancelled() => {}
    }
}

/// The scenario as this process drives it: a shard enforces 1/N of each cap (run.json keeps the scenario's own).
pub(super) fn for_run(loaded: &Loaded, shard: Option<Shard>) -> Loaded {
    let mut l = loaded.clone();
    if let Some(s) = shard {
        l.scenario.limits = s.limits(&loaded.scenario.limits);
    }
    l
}

/// `cutover merge DIR... --out DIR`: merge the shards' run directories into `out` and render its report.
/// Returns the threshold checks and a short summary.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<(Decision, String), AppError> {
    let meta = crate::report::merge::merge(inputs, out).map_err(|e| match e {
        MergeError::Refused(m) => bad_input(m),
        MergeError::Write(e) => harness(e.to_string()),
    })?;
    let (decision, run) = crate::report::render(out).map_err(|e| harness(e.to_string()))?;
    let mut summary = super::summary_text(&run, &meta.accounting, &decision.checks);
    summary.push_str(&super::decision_text(&decision, out));
    Ok((decision, summary))
}
