//! One scheduled request with its retries: admission (caps, in-flight limit, rate limiter), the attempt loop
//! (timeouts, 429 -> Retry-After, backoff with jitter, budget), and the [`Record`] it ends as.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::Rng;

use super::record::{ms, Outcome, Record, OP_CHAT};
use super::state::{base_record, Shared, TargetState};
use super::traffic::ConvPlan;
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
    r.ttfb_ms = attempt.timer.ttfb().map(ms);
    r.latency_ms = Some(ms(attempt.done.saturating_duration_since(attempt.sent)));
    r.e2e_ms = Some(ms(attempt.done.saturating_duration_since(first_sent)));
    r.from_scheduled_ms = Some(ms(attempt.done.saturating_duration_since(intended)));
    r.chunks = u32::try_from(attempt.timer.content_chunks()).unwrap_or(u32::MAX);
    if r.stream {
        r.ttft_ms = attempt.timer.ttft().map(ms);
        r.max_gap_ms = attempt.timer.gaps().max().map(ms);
        if attempt.ok() && attempt.timer.gaps().count() > 0 {
            let mut h = state.gaps.lock().expect("gap histogram lock");
            attempt.timer.gaps().record_into(&mut h);
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
                    attempt.estimated_output_tokens(),
                    true,
                )
            }
            None => (0, 0, false),
        };
        r.input_tokens = input;
        r.output_tokens = output;
        r.tokens_estimated = estimated;
        if r.stream && output > 1 {
            if let Some(span) = attempt.timer.content_span() {
                r.itl_ms = Some(ms(span) / (output - 1) as f64);
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
