//! The runner: open-model arrivals at their planned instants, one tokio task per conversation, a governor limiter on
//! the send rate, per-request timeouts, 429/5xx retries (Retry-After honoured, capped; else exponential backoff with
//! jitter; bounded by count and by a time budget), hard caps, and cancellation that never loses a record.
//!
//! Every scheduled request ends as exactly one [`Record`]: ok, error, cancelled (in flight when the grace period ran
//! out) or not sent (with the reason), so `scheduled = ok + errors + cancelled + not sent` holds exactly.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::cost::{self, PriceTable};
use crate::metrics::{ms, Outcome, Record, OP_CHAT, OP_CREATE};
use crate::protocol::{Attempt, ConvState, Endpoint, ErrorKind};
use crate::scenario::{Loaded, RetryPolicy, Role, TargetPricing};
use crate::traffic::{canary_route, ConvPlan, TrafficGen};

/// A target ready to be driven.
pub struct RunTarget {
    pub name: String,
    pub role: Role,
    pub endpoint: Endpoint,
    pub pricing: TargetPricing,
    /// Mock targets cost nothing real: the spend cap does not apply to them.
    pub is_mock: bool,
}

/// Signals from outside (Ctrl-C, SIGTERM, the duration cap) into a run.
#[derive(Clone, Default)]
pub struct Control {
    /// Stop new arrivals and new turns; in-flight requests may finish within the grace period.
    pub stop_arrivals: CancellationToken,
    /// Cancel in-flight requests now (recorded as `cancelled`).
    pub abort: CancellationToken,
    /// Write the rows already complete and exit at once (second Ctrl-C).
    pub hard_exit: CancellationToken,
    /// Why arrivals stopped early, if they did.
    pub reason: Arc<std::sync::Mutex<Option<String>>>,
}

impl Control {
    pub fn stop(&self, reason: &str) {
        let mut r = self.reason.lock().expect("reason lock");
        if r.is_none() {
            *r = Some(reason.to_string());
        }
        self.stop_arrivals.cancel();
    }

    pub fn stopped_reason(&self) -> Option<String> {
        self.reason.lock().expect("reason lock").clone()
    }
}

/// Accounting of a finished run, per target.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Accounting {
    pub target: String,
    pub scheduled: u64,
    pub ok: u64,
    pub errors: u64,
    pub cancelled: u64,
    pub not_sent: u64,
}

pub struct RunOutput {
    pub accounting: Vec<Accounting>,
    pub stopped: Option<String>,
    pub elapsed: Duration,
    pub requests_csv: PathBuf,
}

struct Shared {
    start: Instant,
    client: reqwest::Client,
    prices: PriceTable,
    retry: RetryPolicy,
    timeout: Duration,
    max_requests: u64,
    max_spend_nano: Option<u64>,
    control: Control,
    tx: mpsc::Sender<Record>,
}

struct TargetState {
    target: RunTarget,
    /// Pooled gaps between content chunks of successful streams (microseconds), for `chunk_gaps.csv`.
    gaps: std::sync::Mutex<hdrhistogram::Histogram<u64>>,
    limiter: DefaultDirectRateLimiter,
    in_flight: Semaphore,
    sent: AtomicU64,
    spent_nano: AtomicU64,
}

fn limiter(max_rps: f64) -> DefaultDirectRateLimiter {
    let period = Duration::from_secs_f64(1.0 / max_rps).max(Duration::from_nanos(1));
    // Allow a burst of a tenth of a second's worth so Poisson clusters are not smoothed away.
    let burst = NonZeroU32::new(((max_rps / 10.0).ceil() as u32).max(1)).expect("non-zero");
    RateLimiter::direct(
        Quota::with_period(period)
            .expect("non-zero period")
            .allow_burst(burst),
    )
}

/// Build the HTTP client: no proxies (traffic must go where the scenario says), a pool big enough for the load.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1024)
        .pool_idle_timeout(Duration::from_secs(30))
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .tcp_nodelay(true)
        .build()
        .expect("reqwest client")
}

/// Drive every target with the scenario's traffic, writing `requests.csv` in `out_dir` as records arrive.
pub async fn run(
    loaded: &Loaded,
    targets: Vec<RunTarget>,
    out_dir: &Path,
    control: Control,
    progress: bool,
) -> std::io::Result<RunOutput> {
    let s = &loaded.scenario;
    let rate = loaded.conversations_per_wall_second();
    let window = s.traffic.duration_s;
    let csv_path = out_dir.join("requests.csv");
    let (tx, rx) = mpsc::channel::<Record>(65_536);
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let expected_convs = (rate * window).ceil() as u64 * targets.len() as u64;
    let sink = tokio::spawn(crate::sink::write_records(
        csv_path.clone(),
        rx,
        names.clone(),
        control.hard_exit.clone(),
        progress.then_some(expected_convs),
    ));
    let shared = Arc::new(Shared {
        start: Instant::now() + Duration::from_millis(20),
        client: http_client(Duration::from_secs_f64(s.limits.request_timeout_s)),
        prices: loaded.prices.clone(),
        retry: s.retry.clone(),
        timeout: Duration::from_secs_f64(s.limits.request_timeout_s),
        max_requests: s.limits.max_requests,
        max_spend_nano: s.limits.max_spend_usd.map(cost::usd_to_nano),
        control: control.clone(),
        tx,
    });
    // Hard cap on the whole run's wall time: stop arrivals, then cancel what is in flight.
    let cap = Duration::from_secs_f64(s.limits.max_duration_s);
    let grace = Duration::from_secs_f64(s.limits.grace_s);
    let watchdog = {
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
    };
    let mut dispatchers = Vec::new();
    let mut states: Vec<Arc<TargetState>> = Vec::new();
    for t in targets {
        let state = Arc::new(TargetState {
            limiter: limiter(s.limits.max_rps),
            in_flight: Semaphore::new(s.limits.max_in_flight),
            sent: AtomicU64::new(0),
            spent_nano: AtomicU64::new(0),
            gaps: std::sync::Mutex::new(
                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .expect("valid bounds"),
            ),
            target: t,
        });
        states.push(state.clone());
        let gen = TrafficGen::new(s, &loaded.prices, rate, window);
        let canary = s.canary.clone();
        let shared = shared.clone();
        dispatchers.push(tokio::spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            for conv in gen {
                let phase = match &canary {
                    Some(c) => match canary_route(c, conv.offset, conv.user) {
                        Some((phase, to_gateway)) => {
                            let mine = (state.target.role == Role::Gateway) == to_gateway;
                            if !mine {
                                continue;
                            }
                            Some(phase as u32)
                        }
                        None => break,
                    },
                    None => None,
                };
                let at = shared.start + conv.offset;
                let stopped = tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => false,
                    _ = shared.control.stop_arrivals.cancelled() => true,
                };
                if stopped || shared.control.stop_arrivals.is_cancelled() {
                    let reason = "interrupted";
                    not_sent_conversation(&shared, &state, &conv, phase, 0, reason).await;
                    continue;
                }
                let (sh, st) = (shared.clone(), state.clone());
                tasks.spawn(async move { conversation(sh, st, conv, phase).await });
                // Reap finished tasks so the set does not grow with the run.
                while let Some(r) = tasks.try_join_next() {
                    r.expect("conversation task panicked");
                }
            }
            while let Some(r) = tasks.join_next().await {
                r.expect("conversation task panicked");
            }
        }));
    }
    for d in dispatchers {
        d.await.expect("dispatcher panicked");
    }
    let elapsed = shared.start.elapsed();
    watchdog.abort();
    drop(shared);
    let accounting = sink.await.expect("sink panicked")?;
    write_gaps(&out_dir.join("chunk_gaps.csv"), &states)?;
    Ok(RunOutput {
        accounting,
        stopped: control.stopped_reason(),
        elapsed,
        requests_csv: csv_path,
    })
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

fn base_record(state: &TargetState, conv: &ConvPlan, turn: u32, phase: Option<u32>) -> Record {
    let (op, model, stream) = if turn == 0 {
        (
            OP_CREATE,
            conv.turns
                .first()
                .map(|t| t.model.to_string())
                .unwrap_or_default(),
            false,
        )
    } else {
        let t = &conv.turns[turn as usize - 1];
        (OP_CHAT, t.model.to_string(), t.stream)
    };
    Record {
        target: state.target.name.clone(),
        role: state.target.role.to_string(),
        conversation: conv.index,
        user: conv.user,
        turn,
        op: op.to_string(),
        model,
        stream,
        canary_phase: phase,
        ..Default::default()
    }
}

/// Emit `not_sent` rows for every request of `conv` from `first_turn` on (0 = the create call, when there is one).
async fn not_sent_conversation(
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

async fn emit(shared: &Shared, r: Record) {
    // The sink lives until every sender is gone, so this only fails if it crashed; then the run is lost anyway.
    let _ = shared.tx.send(r).await;
}

async fn conversation(
    shared: Arc<Shared>,
    state: Arc<TargetState>,
    conv: ConvPlan,
    phase: Option<u32>,
) {
    let mut cs = ConvState {
        user: format!("user-{}", conv.user),
        ..Default::default()
    };
    let mut intended = shared.start + conv.offset;
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
        emit(&shared, rec).await;
        if ok.is_none() {
            let reason = if shared.control.stop_arrivals.is_cancelled() {
                "interrupted"
            } else {
                "conversation_create_failed"
            };
            not_sent_conversation(&shared, &state, &conv, phase, 1, reason).await;
            return;
        }
        intended = done;
    }
    for (k, turn) in conv.turns.iter().enumerate() {
        let turn_no = k as u32 + 1;
        if k > 0 {
            intended += turn.think;
            tokio::select! {
                _ = tokio::time::sleep_until(intended.into()) => {}
                _ = shared.control.stop_arrivals.cancelled() => {}
            }
        }
        if shared.control.stop_arrivals.is_cancelled() {
            not_sent_conversation(&shared, &state, &conv, phase, turn_no, "interrupted").await;
            return;
        }
        let prompt = turn.prompt.clone();
        let model = turn.model.clone();
        let stream = turn.stream;
        let (rec, ok, done) = request(
            &shared,
            &state,
            Slot {
                conv: &conv,
                turn: turn_no,
                phase,
                intended,
            },
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
            &mut cs,
        )
        .await;
        if let Some(answer) = ok {
            // Keep a bounded history so long conversations do not grow requests without end.
            cs.history.push(("user", turn.prompt.to_string()));
            cs.history.push(("assistant", answer));
            if cs.history.len() > 20 {
                cs.history.drain(..2);
            }
        }
        emit(&shared, rec).await;
        intended = done;
    }
}

/// Which request of which conversation, and when it should be sent.
struct Slot<'a> {
    conv: &'a ConvPlan,
    turn: u32,
    phase: Option<u32>,
    intended: Instant,
}

/// One scheduled request with its retries. Returns the record, whether it succeeded, and when it finished.
async fn request<F, Fut>(
    shared: &Shared,
    state: &TargetState,
    slot: Slot<'_>,
    make: F,
    cs: &mut ConvState,
) -> (Record, Option<String>, Instant)
where
    F: Fn(&ConvState) -> Fut,
    Fut: std::future::Future<Output = (Attempt, ConvState)>,
{
    let Slot {
        conv,
        turn,
        phase,
        intended,
    } = slot;
    let mut r = base_record(state, conv, turn, phase);
    r.scheduled_ms = ms(intended.saturating_duration_since(shared.start));
    let not_sent = |mut r: Record, reason: &str| {
        r.outcome = Some(Outcome::NotSent);
        r.not_sent_reason = reason.to_string();
        (r, None, Instant::now())
    };
    if shared.control.abort.is_cancelled() {
        return not_sent(r, "interrupted");
    }
    if state.sent.fetch_add(1, Ordering::Relaxed) >= shared.max_requests {
        return not_sent(r, "max_requests");
    }
    if let Some(cap) = shared.max_spend_nano.filter(|_| !state.target.is_mock) {
        if state.spent_nano.load(Ordering::Relaxed) >= cap {
            return not_sent(r, "max_spend");
        }
    }
    let Ok(_permit) = state.in_flight.try_acquire() else {
        return not_sent(r, "max_in_flight");
    };
    let mut first_sent: Option<Instant> = None;
    let mut waited = Duration::ZERO;
    let mut attempts = 0u32;
    let budget = Duration::from_secs_f64(shared.retry.budget_s);
    let cap_after = Duration::from_secs_f64(shared.retry.max_retry_after_s);
    let attempt = loop {
        tokio::select! {
            _ = state.limiter.until_ready() => {}
            _ = shared.control.abort.cancelled() => {
                if first_sent.is_none() {
                    return not_sent(r, "interrupted");
                }
                break cancelled_attempt();
            }
        }
        attempts += 1;
        let t0 = Instant::now();
        first_sent.get_or_insert(t0);
        let fut = make(cs);
        let a = tokio::select! {
            res = tokio::time::timeout(shared.timeout, fut) => match res {
                Ok((a, st)) => {
                    if a.ok() {
                        *cs = st;
                    }
                    a
                }
                Err(_) => timeout_attempt(t0, shared.timeout),
            },
            _ = shared.control.abort.cancelled() => cancelled_attempt(),
        };
        let Some(kind) = a.error.clone() else { break a };
        if kind == ErrorKind::Cancelled
            || attempts > shared.retry.max_retries
            || !kind.retryable(shared.retry.retry_server_errors)
        {
            break a;
        }
        let wait = match a.retry_after {
            Some(ra) => ra.min(cap_after),
            None => backoff(&shared.retry, attempts),
        };
        if waited + wait > budget {
            break a;
        }
        waited += wait;
        let cancelled = tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            _ = shared.control.abort.cancelled() => true,
        };
        if cancelled {
            break cancelled_attempt();
        }
    };
    let first_sent = first_sent.expect("at least one attempt");
    let since = |t: Instant| ms(t.saturating_duration_since(shared.start));
    r.attempts = attempts;
    r.retries = attempts - 1;
    r.retry_wait_ms = ms(waited);
    r.sent_ms = Some(since(first_sent));
    r.status = attempt.status;
    r.ttfb_ms = attempt
        .first_byte
        .map(|t| ms(t.saturating_duration_since(attempt.sent)));
    r.latency_ms = Some(ms(attempt.done.saturating_duration_since(attempt.sent)));
    r.e2e_ms = Some(ms(attempt.done.saturating_duration_since(first_sent)));
    r.from_scheduled_ms = Some(ms(attempt.done.saturating_duration_since(intended)));
    r.chunks = attempt.content_chunks;
    if r.stream {
        r.ttft_ms = attempt
            .first_token
            .map(|t| ms(t.saturating_duration_since(attempt.sent)));
        r.max_gap_ms = attempt.gaps.iter().max().map(|g| ms(*g));
        if attempt.ok() && !attempt.gaps.is_empty() {
            let mut h = state.gaps.lock().expect("gap histogram lock");
            for g in &attempt.gaps {
                h.saturating_record((g.as_micros() as u64).max(1));
            }
        }
    }
    // Tokens: the server's usage, else an estimate that says so.
    if r.op == OP_CHAT {
        let (input, output, estimated) = match attempt.usage {
            Some((i, o)) => (i, o, false),
            None if attempt.ok() => {
                let prompt = &conv.turns[turn as usize - 1].prompt;
                let hist: u64 = cs
                    .history
                    .iter()
                    .map(|(_, c)| cost::estimate_tokens(c))
                    .sum();
                (
                    cost::estimate_tokens(prompt) + hist,
                    cost::estimate_tokens(&attempt.answer),
                    true,
                )
            }
            None => (0, 0, false),
        };
        r.input_tokens = input;
        r.output_tokens = output;
        r.tokens_estimated = estimated;
        if r.stream && output > 1 {
            if let (Some(f), Some(l)) = (attempt.first_token, attempt.last_token) {
                r.itl_ms = Some(ms(l.saturating_duration_since(f)) / (output - 1) as f64);
            }
        }
        if let Ok(price) = shared.prices.price(&r.model) {
            let fee = if attempt.ok() {
                state.target.pricing.per_request_usd
            } else {
                0.0
            };
            r.cost_nano_usd =
                cost::request_cost_nano(price, input, output, state.target.pricing.markup_pct, fee);
            state
                .spent_nano
                .fetch_add(r.cost_nano_usd, Ordering::Relaxed);
        }
    }
    let answer = attempt.ok().then(|| attempt.answer.clone());
    r.outcome = Some(match &attempt.error {
        None => Outcome::Ok,
        Some(ErrorKind::Cancelled) => Outcome::Cancelled,
        Some(_) => Outcome::Error,
    });
    if let Some(k) = &attempt.error {
        r.error_kind = k.as_str();
        r.detail = attempt.detail.clone().unwrap_or_default();
    }
    (r, answer, attempt.done)
}

fn cancelled_attempt() -> Attempt {
    Attempt::new(Instant::now()).fail(ErrorKind::Cancelled, "cancelled by interruption")
}

fn timeout_attempt(sent: Instant, after: Duration) -> Attempt {
    Attempt::new(sent).fail(
        ErrorKind::Timeout,
        format!("no complete answer within {:.1} s", after.as_secs_f64()),
    )
}

/// Exponential backoff as the OpenAI SDK does it: initial * 2^(n-1), capped, minus up to 25% jitter.
pub fn backoff(p: &RetryPolicy, attempt: u32) -> Duration {
    let base = p.initial_backoff_ms as f64 * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
    let capped = base.min(p.max_backoff_ms as f64);
    let jitter = 1.0 - 0.25 * rand::thread_rng().gen::<f64>();
    Duration::from_secs_f64(capped * jitter / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters_down() {
        let p = RetryPolicy {
            initial_backoff_ms: 100,
            max_backoff_ms: 1000,
            ..Default::default()
        };
        for _ in 0..100 {
            let b1 = backoff(&p, 1).as_secs_f64();
            assert!((0.075..=0.1).contains(&b1), "{b1}");
            let b3 = backoff(&p, 3).as_secs_f64();
            assert!((0.3..=0.4).contains(&b3), "{b3}");
            let b9 = backoff(&p, 9).as_secs_f64();
            assert!((0.75..=1.0).contains(&b9), "{b9}");
        }
    }
}
