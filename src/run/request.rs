//! One scheduled request with its retries: admission (caps, in-flight limit, rate limiter), the attempt loop
//! (timeouts, 429 -> Retry-After, backoff with jitter, budget), and the [`Record`] it ends as.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::Rng;

use super::record::{ms, Outcome, Record, OP_CHAT};
use super::state::{base_record, Shared, TargetState};
use super::traffic::{ConvPlan, TurnPlan};
use crate::client::{Attempt, ConvState, ErrorKind};
use crate::config::prices as cost;
use crate::config::scenario::RetryPolicy;

/// Which request of which conversation, and when it should be sent.
pub(super) struct Slot<'a> {
    pub(super) conv: &'a ConvPlan,
    pub(super) turn: u32,
    pub(super) phase: Option<u32>,
    pub(super) intended: Instant,
}

/// One scheduled request with its retries. Returns the record, whether it succeeded, and when it finished.
pub(super) async fn request<F, Fut>(
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
    // The record is built once the attempts are over: held across them, its 480 bytes would sit in every
    // in-flight request's task for the whole stream (issue 12: memory per concurrent stream).
    let record = || {
        let mut r = base_record(state, slot.conv, slot.turn, slot.phase);
        r.scheduled_ms = ms(slot.intended.saturating_duration_since(shared.start));
        r
    };
    let not_sent = |reason: &str| {
        let mut r = record();
        r.outcome = Some(Outcome::NotSent);
        r.not_sent_reason = reason.to_string();
        (r, None, Instant::now())
    };
    // The worst case is only worked out where a spend cap reserves it (it reads every character of the input).
    let worst = || worst_cost_nano(shared, state, &slot, cs);
    let admission = match admit(shared, state, worst) {
        Ok(a) => a,
        Err(reason) => return not_sent(reason),
    };
    let Some(run) = attempts(shared, state, &make, cs).await else {
        return not_sent("interrupted");
    };
    let Some(run) = run else {
        return not_sent("max_requests");
    };
    let mut r = record();
    fill_timings(&mut r, shared, state, &run, slot.intended);
    if r.op == OP_CHAT {
        fill_tokens_and_cost(&mut r, shared, state, &run.attempt, slot.prompt(), cs);
    }
    admission.settle(r.cost_nano_usd);
    let a = &run.attempt;
    r.outcome = Some(match &a.error {
        None => Outcome::Ok,
        Some(ErrorKind::Cancelled) => Outcome::Cancelled,
        Some(_) => Outcome::Error,
    });
    if let Some(k) = &a.error {
        r.error_kind = k.as_str();
        r.detail = a.detail.clone().unwrap_or_default();
    }
    let answer = a.ok().then(|| a.answer.clone());
    (r, answer, a.done)
}

impl Slot<'_> {
    /// The turn of this request (none for the conversation-create call).
    fn turn(&self) -> Option<&TurnPlan> {
        (self.turn > 0).then(|| &self.conv.turns[self.turn as usize - 1])
    }

    /// The user's message of this request (none for the conversation-create call).
    fn prompt(&self) -> Option<&str> {
        self.turn().map(|t| &*t.prompt)
    }
}

/// A request let through admission: its in-flight permit and the worst-case cost reserved against the spend cap. A
/// reservation not settled (the request ended up not sent) is released when the admission is dropped.
struct Admission<'a> {
    state: &'a TargetState,
    _permit: tokio::sync::SemaphorePermit<'a>,
    reserved_nano: u64,
}

impl Admission<'_> {
    /// Replace the reservation with what the request really cost.
    fn settle(mut self, actual_nano: u64) {
        let reserved = std::mem::take(&mut self.reserved_nano);
        let _ = self
            .state
            .spent_nano
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(reserved).saturating_add(actual_nano))
            });
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if self.reserved_nano > 0 {
            let r = self.reserved_nano;
            let _ = self
                .state
                .spent_nano
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                    Some(v.saturating_sub(r))
                });
        }
    }
}

/// The caps a request must pass before it waits for the send-rate limiter: not interrupted, a free in-flight slot,
/// and room under the spend cap for its worst case (reserved now, so concurrent requests can never cross the cap).
fn admit<'a>(
    shared: &Shared,
    state: &'a TargetState,
    worst_nano: impl FnOnce() -> u64,
) -> Result<Admission<'a>, &'static str> {
    if shared.control.abort.is_cancelled() {
        return Err("interrupted");
    }
    let Ok(permit) = state.in_flight.try_acquire() else {
        return Err("max_in_flight");
    };
    let mut reserved_nano = 0;
    if let Some(cap) = shared.max_spend_nano.filter(|_| !state.target.is_mock) {
        let worst_nano = worst_nano();
        state
            .spent_nano
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                let after = v.saturating_add(worst_nano);
                (after <= cap && v < cap).then_some(after)
            })
            .map_err(|_| "max_spend")?;
        reserved_nano = worst_nano;
    }
    Ok(Admission {
        state,
        _permit: permit,
        reserved_nano,
    })
}

/// The most a request can cost: its estimated input (prompt and history) and the output token cap, at the model's
/// price with the target's markup and fee. Zero for the conversation-create call, which carries no tokens.
fn worst_cost_nano(shared: &Shared, state: &TargetState, slot: &Slot<'_>, cs: &ConvState) -> u64 {
    let Some(turn) = slot.turn() else {
        return 0;
    };
    let Ok(price) = shared.prices.price(&turn.model) else {
        return 0;
    };
    let input = estimate_input(&turn.prompt, cs);
    let p = &state.target.pricing;
    cost::request_cost_nano(
        price,
        input,
        shared.worst_output_tokens,
        p.markup_pct,
        p.per_request_usd,
    )
}

fn estimate_input(prompt: &str, cs: &ConvState) -> u64 {
    let hist: u64 = cs
        .history
        .iter()
        .map(|(_, c)| cost::estimate_tokens(c))
        .sum();
    cost::estimate_tokens(prompt).saturating_add(hist)
}

/// The attempts of one request and what they add up to.
struct Attempts {
    attempt: Attempt,
    first_sent: Instant,
    count: u32,
    waited: Duration,
}

/// Wait for the send-rate limiter in arrival order (a fair queue: the head alone waits on the limiter), or for an
/// abort. False when aborted.
async fn wait_turn(shared: &Shared, state: &TargetState) -> bool {
    let admitted = async {
        let _head = state.admission_queue.lock().await;
        state.limiter.until_ready().await;
    };
    tokio::select! {
        _ = admitted => true,
        _ = shared.control.abort.cancelled() => false,
    }
}

/// The attempt loop: retries on retryable failures after Retry-After (capped) or backoff, within the retry budget;
/// every attempt takes a ticket of `limits.max_requests`. `None` when interrupted before the first attempt,
/// `Some(None)` when the request cap left no ticket for it.
async fn attempts<F, Fut>(
    shared: &Shared,
    state: &TargetState,
    make: &F,
    cs: &mut ConvState,
) -> Option<Option<Attempts>>
where
    F: Fn(&ConvState) -> Fut,
    Fut: std::future::Future<Output = (Attempt, ConvState)>,
{
    let mut first_sent: Option<Instant> = None;
    let mut waited = Duration::ZERO;
    let mut count = 0u32;
    // A webhook target redelivers by the platform's policy, after any failure (see `run::webhook`).
    let webhook = state
        .target
        .endpoint
        .webhook
        .as_ref()
        .map(redelivery_policy);
    let policy = webhook.as_ref().unwrap_or(&shared.retry);
    let budget = Duration::from_secs_f64(policy.budget_s);
    let cap_after = Duration::from_secs_f64(policy.max_retry_after_s);
    let mut last: Option<Attempt> = None;
    let attempt = loop {
        // The previous failed attempt is needed only until this one is sent: moved out and dropped before the
        // send, it is not held across it (the loop's future would carry its 304 bytes for the whole stream).
        let previous = last;
        if !wait_turn(shared, state).await {
            match previous {
                None => return None,
                Some(_) => break cancelled_attempt(),
            }
        }
        if state.sent.fetch_add(1, Ordering::Relaxed) >= shared.max_requests {
            match previous {
                None => return Some(None),
                Some(a) => break a,
            }
        }
        drop(previous);
        count += 1;
        let t0 = Instant::now();
        first_sent.get_or_insert(t0);
        let a = one_attempt(shared, make, cs, t0).await;
        let Some(kind) = a.error.clone() else { break a };
        if kind == ErrorKind::Cancelled
            || count > policy.max_retries
            || !(webhook.is_some() || kind.retryable(policy.retry_server_errors))
        {
            break a;
        }
        let wait = match a.retry_after {
            Some(ra) if webhook.is_none() => ra.min(cap_after),
            _ => backoff(policy, count),
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
        last = Some(a);
    };
    Some(Some(Attempts {
        attempt,
        first_sent: first_sent.expect("at least one attempt"),
        count,
        waited,
    }))
}

async fn one_attempt<F, Fut>(shared: &Shared, make: &F, cs: &mut ConvState, t0: Instant) -> Attempt
where
    F: Fn(&ConvState) -> Fut,
    Fut: std::future::Future<Output = (Attempt, ConvState)>,
{
    let fut = make(cs);
    tokio::select! {
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
    }
}

fn fill_timings(
    r: &mut Record,
    shared: &Shared,
    state: &TargetState,
    run: &Attempts,
    intended: Instant,
) {
    let a = &run.attempt;
    r.attempts = run.count;
    r.retries = run.count.saturating_sub(1);
    r.retry_wait_ms = ms(run.waited);
    r.sent_ms = Some(ms(run.first_sent.saturating_duration_since(shared.start)));
    r.status = a.status;
    r.ttfb_ms = a.timer.ttfb().map(ms);
    r.latency_ms = Some(ms(a.done.saturating_duration_since(a.sent)));
    r.e2e_ms = Some(ms(a.done.saturating_duration_since(run.first_sent)));
    r.from_scheduled_ms = Some(ms(a.done.saturating_duration_since(intended)));
    r.chunks = u32::try_from(a.timer.content_chunks()).unwrap_or(u32::MAX);
    if r.stream {
        r.ttft_ms = a.timer.ttft().map(ms);
        r.max_gap_ms = a.timer.gaps().max().map(ms);
        if a.ok() && a.timer.gaps().count() > 0 {
            let mut h = state.gaps.lock().expect("gap histogram lock");
            a.timer.gaps().record_into(&mut h);
        }
    }
}

/// Tokens (the server's usage, else an estimate that says so), inter-token latency and cost of a chat request.
fn fill_tokens_and_cost(
    r: &mut Record,
    shared: &Shared,
    state: &TargetState,
    a: &Attempt,
    prompt: Option<&str>,
    cs: &ConvState,
) {
    let (input, output, estimated) = match a.usage {
        Some((i, o)) => (i, o, false),
        None if a.ok() => (
            estimate_input(prompt.unwrap_or_default(), cs),
            a.estimated_output_tokens(),
            true,
        ),
        None => (0, 0, false),
    };
    r.input_tokens = input;
    r.output_tokens = output;
    r.tokens_estimated = estimated;
    if r.stream && output > 1 {
        if let Some(span) = a.timer.content_span() {
            r.itl_ms = Some(ms(span) / (output - 1) as f64);
        }
    }
    if let Ok(price) = shared.prices.price(&r.model) {
        let p = &state.target.pricing;
        let fee = if a.ok() { p.per_request_usd } else { 0.0 };
        r.cost_nano_usd = cost::request_cost_nano(price, input, output, p.markup_pct, fee);
    }
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

/// A webhook platform's redelivery policy in the attempt loop's terms: `retries` redeliveries, exponential backoff
/// from `retry_backoff_ms`, no budget beyond what the redeliveries take (every failure is retried: see `attempts`).
fn redelivery_policy(w: &crate::config::webhook::WebhookSettings) -> RetryPolicy {
    let cap = w.retry_backoff_ms.saturating_mul(1u64 << w.retries.min(20));
    RetryPolicy {
        max_retries: w.retries,
        initial_backoff_ms: w.retry_backoff_ms,
        max_backoff_ms: cap.max(1),
        max_retry_after_s: 0.0,
        budget_s: crate::config::scenario::ranges::MAX_SECONDS,
        retry_server_errors: true,
    }
}

/// Exponential backoff as the OpenAI SDK does it: initial * 2^(n-1), capped, minus up to 25% jitter.
pub(crate) fn backoff(p: &RetryPolicy, attempt: u32) -> Duration {
    let base = p.initial_backoff_ms as f64 * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
    let capped = base.min(p.max_backoff_ms as f64);
    let jitter = 1.0 - 0.25 * rand::thread_rng().gen::<f64>();
    Duration::from_secs_f64(capped * jitter / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attempt-loop tests' fixtures with a spend cap of `cap_nano`.
    fn shared_and_state(cap_nano: u64) -> (Shared, TargetState) {
        let mut shared = crate::run::mutants_tests::request::shared(Instant::now());
        shared.max_spend_nano = Some(cap_nano);
        let state = crate::run::mutants_tests::request::state(None, Default::default(), 1e6);
        (shared, state)
    }

    #[test]
    fn spend_is_reserved_at_admission_settled_to_the_real_cost_and_released_when_unsent() {
        // Worst case 10,000,000 nano-USD (1000 output tokens at $10/M); a cap of 25,000,000 admits two at once.
        let (shared, state) = shared_and_state(25_000_000);
        let worst = || 10_000_000;
        let a = admit(&shared, &state, worst).unwrap();
        let b = admit(&shared, &state, worst).unwrap();
        assert_eq!(admit(&shared, &state, worst).err(), Some("max_spend"));
        assert_eq!(state.spent_nano.load(Ordering::Relaxed), 20_000_000);
        a.settle(1_000_000); // the first answer was short
        assert_eq!(state.spent_nano.load(Ordering::Relaxed), 11_000_000);
        drop(b); // the second was never sent: its reservation goes back
        assert_eq!(state.spent_nano.load(Ordering::Relaxed), 1_000_000);
        let c = admit(&shared, &state, worst).unwrap();
        let d = admit(&shared, &state, worst).unwrap();
        assert_eq!(admit(&shared, &state, worst).err(), Some("max_spend"));
        drop((c, d));
    }

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
