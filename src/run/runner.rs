//! The runner: open-model arrivals at their planned instants (or a closed run's virtual users, `super::closed`), one
//! tokio task per conversation, a governor limiter on the send rate, per-request timeouts, 429/5xx retries
//! (Retry-After honoured, capped; else exponential backoff with jitter; bounded by count and by a time budget), hard
//! caps, and cancellation that never loses a record.
//!
//! Every scheduled request ends as exactly one [`Record`]: ok, error, cancelled (in flight when the grace period ran
//! out) or not sent (with the reason), so `scheduled = ok + errors + cancelled + not sent` holds exactly.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::conversation::{conversation, not_sent_conversation};
use super::progress::Progress;
use super::record::Record;
use super::shard::Slice;
use super::sink::Accounting;
use super::state::{Control, RunTarget, Shared, TargetState};
use super::traffic::{canary_route, ConvPlan, TrafficGen};
use crate::client::http::http_client;
use crate::config::prices as cost;
use crate::config::scenario::{Loaded, Role};

pub(crate) struct RunOutput {
    pub(crate) accounting: Vec<Accounting>,
    pub(crate) stopped: Option<String>,
    pub(crate) elapsed: Duration,
    pub(crate) requests_csv: PathBuf,
    /// A second interrupt ended the run at once: the caller exits with [`super::sink::HARD_EXIT_CODE`].
    pub(crate) hard_exit: bool,
    /// The first write error of `requests.csv`; arrivals stopped when it happened.
    pub(crate) write_error: Option<String>,
    /// Records counted in the accounting but lost to the write error.
    pub(crate) lost_rows: u64,
}

/// Drive every target with the scenario's traffic, writing `requests.csv` in `out_dir` as records arrive.
pub(crate) async fn run(
    loaded: &Loaded,
    targets: Vec<RunTarget>,
    out_dir: &Path,
    control: Control,
    progress: bool,
    slice: Slice,
) -> std::io::Result<RunOutput> {
    let s = &loaded.scenario;
    let window = s.traffic.duration_s;
    let csv_path = out_dir.join("requests.csv");
    let (tx, rx) = mpsc::channel::<Record>(65_536);
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let progress = progress.then(|| new_progress(loaded, window, slice, &targets));
    let sink = tokio::spawn(crate::run::sink::write_records(
        csv_path.clone(),
        rx,
        names,
        control.clone(),
        progress.clone(),
    ));
    let shared = Arc::new(Shared {
        start: slice
            .start
            .unwrap_or_else(|| Instant::now() + Duration::from_millis(20)),
        client: http_client(Duration::from_secs_f64(s.limits.request_timeout_s)),
        prices: loaded.prices.clone(),
        retry: s.retry.clone(),
        timeout: Duration::from_secs_f64(s.limits.request_timeout_s),
        max_requests: s.limits.max_requests,
        max_spend_nano: s.limits.max_spend_usd.map(cost::usd_to_nano),
        worst_output_tokens: s
            .traffic
            .max_tokens
            .map_or(DEFAULT_WORST_OUTPUT_TOKENS, u64::from),
        control: control.clone(),
        tx,
        callbacks: match targets.iter().any(|t| t.endpoint.webhook.is_some()) {
            true => Some(super::callbacks::Callbacks::start().await?),
            false => None,
        },
        timer: super::clock::PreciseTimer::start(std::time::Duration::from_micros(
            loaded.scenario.traffic.timer_slack_us.into(),
        )),
    });
    let watchdog = watchdog(&control, s.limits.max_duration_s, s.limits.grace_s);
    let states: Vec<Arc<TargetState>> = targets
        .into_iter()
        .map(|t| Arc::new(TargetState::new(t, &s.limits)))
        .collect();
    let dispatchers: Vec<_> = states
        .iter()
        .map(|state| spawn_dispatcher(loaded, slice, &shared, state, &progress))
        .collect();
    tokio::select! {
        res = futures_util::future::join_all(dispatchers) => {
            for r in res {
                r.expect("dispatcher panicked");
            }
        }
        // A second interrupt: do not wait for in-flight requests; the sink writes what is queued and returns.
        _ = control.hard_exit.cancelled() => {}
    }
    let elapsed = shared.start.elapsed();
    watchdog.abort();
    drop(shared);
    let sunk = sink.await.expect("sink panicked")?;
    if !sunk.hard_exit && sunk.write_error.is_none() {
        write_gaps(&out_dir.join("chunk_gaps.csv"), &states)?;
    }
    Ok(RunOutput {
        accounting: sunk.accounting,
        stopped: control.stopped_reason(),
        elapsed,
        requests_csv: csv_path,
        hard_exit: sunk.hard_exit,
        write_error: sunk.write_error,
        lost_rows: sunk.lost_rows,
    })
}

/// The progress counters, with the exact planned number of conversations, counted from the deterministic plan (none
/// for a closed run, whose conversations are as many as the targets get through).
fn new_progress(
    loaded: &Loaded,
    window: f64,
    slice: Slice,
    targets: &[RunTarget],
) -> Arc<Progress> {
    let total = loaded.scenario.traffic.closed.is_none().then(|| {
        targets
            .iter()
            .map(|t| routed(loaded, window, slice, t.role).count() as u64)
            .sum()
    });
    Arc::new(Progress::new(total, targets.len()))
}

/// One target's traffic: the open-model dispatcher, or a closed run's virtual users (this shard's share of them).
fn spawn_dispatcher(
    loaded: &Loaded,
    slice: Slice,
    shared: &Arc<Shared>,
    state: &Arc<TargetState>,
    progress: &Option<Arc<Progress>>,
) -> tokio::task::JoinHandle<()> {
    let t = &loaded.scenario.traffic;
    let convs = routed(loaded, t.duration_s, slice, state.target.role);
    let (sh, st, pr) = (shared.clone(), state.clone(), progress.clone());
    match t.closed {
        None => tokio::spawn(dispatch(sh, st, convs, pr)),
        Some(c) => {
            let vus = super::closed::Vus {
                count: slice.shard.map_or(c.vus, |s| s.vus(c.vus)),
                window: Duration::from_secs_f64(t.duration_s),
                warmup: Duration::from_secs_f64(t.warmup_s),
            };
            tokio::spawn(super::closed::dispatch(sh, st, convs, vus, pr))
        }
    }
}

/// Output tokens assumed for the spend cap's worst case when the scenario sets no `traffic.max_tokens`.
pub(crate) const DEFAULT_WORST_OUTPUT_TOKENS: u64 = 4096;

/// Hard cap on the whole run's wall time: stop arrivals, then cancel what is in flight; after a stop, cancel what
/// is still in flight once the grace period ends.
fn watchdog(control: &Control, max_duration_s: f64, grace_s: f64) -> tokio::task::JoinHandle<()> {
    let cap = Duration::from_secs_f64(max_duration_s);
    let grace = Duration::from_secs_f64(grace_s);
    let control = control.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(cap) => {
                control.stop("max_duration_s reached");
                control.abort.cancel();
            }
            _ = control.stop_arrivals.cancelled() => {
                tokio::select! {
                    _ = tokio::time::sleep(grace) => control.abort.cancel(),
                    _ = tokio::time::sleep(cap) => control.abort.cancel(),
                }
            }
        }
    })
}

/// The conversations a target of `role` receives, with their canary phase: the planned arrivals this shard owns
/// (all of them when unsharded), routed by the canary phases when there are some (none after the last phase).
fn routed(
    loaded: &Loaded,
    window: f64,
    slice: Slice,
    role: Role,
) -> impl Iterator<Item = (ConvPlan, Option<u32>)> + Send + 'static {
    let canary = loaded.scenario.canary.clone();
    TrafficGen::planned(loaded, window)
        .filter(move |c| slice.owns(c.index))
        .map(move |conv| match &canary {
            None => Some(Some((conv, None))),
            Some(c) => canary_route(c, conv.offset, conv.user).map(|(phase, to_gateway)| {
                ((role == Role::Gateway) == to_gateway).then_some((conv, Some(phase as u32)))
            }),
        })
        .take_while(Option::is_some)
        .flatten()
        .flatten()
}

/// One target's arrivals: a task per conversation at its planned instant; after a stop, the rest are not sent.
async fn dispatch(
    shared: Arc<Shared>,
    state: Arc<TargetState>,
    convs: impl Iterator<Item = (ConvPlan, Option<u32>)>,
    progress: Option<Arc<Progress>>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for (conv, phase) in convs {
        if let Some(p) = &progress {
            p.arrived();
        }
        let at = shared.start + conv.offset;
        let stopped = tokio::select! {
            _ = shared.timer.sleep_until(at) => false,
            _ = shared.control.stop_arrivals.cancelled() => true,
        };
        if stopped || shared.control.stop_arrivals.is_cancelled() {
            not_sent_conversation(&shared, &state, &conv, phase, 0, "interrupted").await;
            if let Some(p) = &progress {
                p.finished();
            }
            continue;
        }
        let pr = progress.clone();
        // Boxed: the task then holds a pointer, where tokio's spawn, task cell and completion would each copy the
        // ~4.7 KB future whole (~10,000 instructions a conversation of memcpy, callgrind, bench/RESULTS.md).
        let conv = Box::pin(conversation(shared.clone(), state.clone(), conv, phase));
        tasks.spawn(async move {
            conv.await;
            if let Some(p) = pr {
                p.finished();
            }
        });
        // Reap finished tasks so the set does not grow with the run.
        while let Some(r) = tasks.try_join_next() {
            r.expect("conversation task panicked");
        }
    }
    if let Some(p) = &progress {
        p.dispatcher_done();
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("conversation task panicked");
    }
}

/// `chunk_gaps.csv`: the pooled distribution of gaps between content chunks of successful streams, per target.
fn write_gaps(path: &Path, states: &[Arc<TargetState>]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(std::io::Error::other)?;
    w.write_record([
        "target", "gaps", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms",
    ])
    .map_err(std::io::Error::other)?;
    for s in states {
        let h = s.gaps.lock().expect("gap histogram lock");
        let q = |q: f64| format!("{:.3}", h.value_at_quantile(q) as f64 / 1000.0);
        let row = if h.is_empty() {
            vec![
                s.target.name.clone(),
                "0".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]
        } else {
            vec![
                s.target.name.clone(),
                h.len().to_string(),
                format!("{:.3}", h.mean() / 1000.0),
                q(0.5),
                q(0.9),
                q(0.95),
                q(0.99),
                format!("{:.3}", h.max() as f64 / 1000.0),
            ]
        };
        w.write_record(&row).map_err(std::io::Error::other)?;
    }
    w.flush()
}
