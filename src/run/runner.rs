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

use super::fallback;
use super::progress::Progress;
use super::record::{ms, Outcome, Record};
use super::request::{request, Slot};
use super::shard::Slice;
use super::sink::Accounting;
use super::state::{base_record, Control, RunTarget, Shared, TargetState};
use super::traffic::{canary_route, ConvPlan, TrafficGen, TurnPlan};
use crate::client::http::http_client;
use crate::client::ConvState;
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
    // The exact number of conversations: the plan is deterministic, so count it.
    let closed = s.traffic.closed;
    let progress = progress.then(|| {
        // A closed run has no plan to count: its conversations are as many as the targets get through.
        let total = closed.is_none().then(|| {
            targets
                .iter()
                .map(|t| routed(loaded, window, slice, t.role).count() as u64)
                .sum()
        });
        Arc::new(Progress::new(total, targets.len()))
    });
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
        timer: super::clock::PreciseTimer::start(),
    });
    let watchdog = watchdog(&control, s.limits.max_duration_s, s.limits.grace_s);
    let states: Vec<Arc<TargetState>> = targets
        .into_iter()
        .map(|t| Arc::new(TargetState::new(t, &s.limits)))
        .collect();
    let dispatchers: Vec<_> = states
        .iter()
        .map(|state| {
            let convs = routed(loaded, window, slice, state.target.role);
            let (sh, st, pr) = (shared.clone(), state.clone(), progress.clone());
            match closed {
                None => tokio::spawn(dispatch(sh, st, convs, pr)),
                Some(c) => {
                    let vus = slice.shard.map_or(c.vus, |sh| sh.vus(c.vus));
                    let vu = super::closed::Vus {
                        count: vus,
                        window: Duration::from_secs_f64(window),
                        warmup: Duration::from_secs_f64(s.traffic.warmup_s),
                    };
                    tokio::spawn(super::closed::dispatch(sh, st, convs, vu, pr))
                }
            }
        })
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
        let (sh, st, pr) = (shared.clone(), state.clone(), progress.clone());
        tasks.spawn(async move {
            conversation(sh, st, conv, phase).await;
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

/// Emit `not_sent` rows for every request of `conv` from `first_turn` on (0 = the create call, when there is one).
pub(super) async fn not_sent_conversation(
    shared: &Shared,
    state: &TargetState,
    conv: &ConvPlan,
    phase: Option<u32>,
    first_turn: u32,
    reason: &str,
) {
    let from = if first_turn == 0 && !state.target.endpoint.needs_conversation() {
        1
    } else {
        first_turn
    };
    for turn in from..=conv.turns.len() as u32 {
        let mut r = base_record(state, conv, turn, phase);
        r.outcome = Some(Outcome::NotSent);
        r.not_sent_reason = reason.to_string();
        r.scheduled_ms = ms(conv.offset);
        emit(shared, r).await;
    }
}

pub(super) async fn emit(shared: &Shared, r: Record) {
    if let Some(observe) = &shared.control.observer {
        observe(&r);
    }
    // The sink lives until every sender is gone, so this only fails if it crashed; then the run is lost anyway.
    let _ = shared.tx.send(r).await;
}

/// One conversation: the create call where the protocol needs one, then its turns. True when a cap (max_requests,
/// max_spend, max_in_flight) refused one of its requests: a closed run's virtual user then stops, rather than
/// spinning through refusals.
pub(super) async fn conversation(
    shared: Arc<Shared>,
    state: Arc<TargetState>,
    conv: ConvPlan,
    phase: Option<u32>,
) -> bool {
    let mut cs = ConvState {
        user: format!("user-{}", conv.user),
        ..Default::default()
    };
    let mut intended = shared.start + conv.offset;
    let mut fb = None; // this conversation on the fallback target, if it falls back
    if state.target.endpoint.needs_conversation() {
        let model = conv.turns[0].model.clone();
        let (rec, ok, done) = request(
            &shared,
            &state,
            Slot {
                conv: &conv,
                turn: 0,
                phase,
                intended,
            },
            |c| {
                let ep = &state.target.endpoint;
                let client = shared.client.clone();
                let model = model.clone();
                let mut st = c.clone();
                async move {
                    let a = ep.create_conversation(&client, &mut st, &model).await;
                    (a, st)
                }
            },
            &mut cs,
        )
        .await;
        let capped = refused_by_cap(&rec);
        emit(&shared, rec).await;
        if ok.is_none() {
            let reason = if shared.control.stop_arrivals.is_cancelled() {
                "interrupted"
            } else {
                "conversation_create_failed"
            };
            not_sent_conversation(&shared, &state, &conv, phase, 1, reason).await;
            return capped;
        }
        intended = done;
    }
    let mut capped = false;
    for (k, turn) in conv.turns.iter().enumerate() {
        let turn_no = k as u32 + 1;
        if k > 0 {
            intended += turn.think;
            tokio::select! {
                _ = shared.timer.sleep_until(intended) => {}
                _ = shared.control.stop_arrivals.cancelled() => {}
            }
        }
        if shared.control.stop_arrivals.is_cancelled() {
            not_sent_conversation(&shared, &state, &conv, phase, turn_no, "interrupted").await;
            return capped;
        }
        let slot = Slot {
            conv: &conv,
            turn: turn_no,
            phase,
            intended,
        };
        let (rec, ok, done) = if state.target.endpoint.webhook.is_some() {
            super::webhook::event(&shared, &state, slot, &mut cs).await
        } else {
            chat_turn(&shared, &state, slot, turn, &mut cs, &mut fb).await
        };
        if let Some(answer) = ok {
            // Keep a bounded history so long conversations do not grow requests without end.
            cs.history.push(("user", turn.prompt.to_string()));
            cs.history.push(("assistant", answer));
            if cs.history.len() > 20 {
                cs.history.drain(..2);
            }
        }
        capped |= refused_by_cap(&rec);
        emit(&shared, rec).await;
        intended = done;
    }
    capped
}

fn refused_by_cap(r: &Record) -> bool {
    r.outcome == Some(Outcome::NotSent)
        && matches!(
            r.not_sent_reason.as_str(),
            "max_requests" | "max_spend" | "max_in_flight"
        )
}

/// One chat turn on a chat target: the request with its retries, then the fallback when it failed.
async fn chat_turn(
    shared: &Shared,
    state: &TargetState,
    slot: Slot<'_>,
    turn: &TurnPlan,
    cs: &mut ConvState,
    fb: &mut Option<ConvState>,
) -> (Record, Option<String>, Instant) {
    let (prompt, model, stream) = (turn.prompt.clone(), turn.model.clone(), turn.stream);
    let mut res = request(
        shared,
        state,
        slot,
        |c| {
            let ep = &state.target.endpoint;
            let client = shared.client.clone();
            let (prompt, model) = (prompt.clone(), model.clone());
            let st = c.clone();
            async move {
                let a = ep.send_turn(&client, &st, &prompt, &model, stream).await;
                (a, st)
            }
        },
        cs,
    )
    .await;
    fallback::after_error(shared, state, fb, cs, turn, &mut res).await;
    res
}
