//! Fallback to another target when a request's retries are exhausted (the seed's retry handler falls back to the
//! legacy API): the same turn goes once to the named target, and the outcome lands in the original request's row
//! (`fallback_target`, `fallback_outcome`, `fallback_latency_ms`), so every scheduled request stays one row.
//!
//! One attempt on the fallback, no retries of its own, bounded by the scenario's request timeout and cancelled by an
//! interruption. The fallback's cost is added to the row's `cost_nano_usd` (priced with the fallback target's
//! pricing); the token columns stay the original target's. The fallback target's own rate limiter and caps do not
//! apply: the fallback path is a different client of it than the load it gets as a target of its own.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::record::{ms, Outcome, Record};
use super::state::{FallbackTarget, Shared, TargetState};
use super::traffic::TurnPlan;
use crate::client::{Attempt, ConvState, ErrorKind};
use crate::config::prices as cost;

/// If the request in `res` (its record, answer and end, as `request` returns them) ended as an error and its target
/// has a fallback, send the turn there and record what happened in the record; when the fallback answers, `res` gets
/// its answer and end. `fb` keeps the conversation on the fallback target (a Coze conversation is created on first
/// use and kept for the later turns of this conversation).
pub(super) async fn after_error(
    shared: &Shared,
    state: &TargetState,
    fb: &mut Option<ConvState>,
    cs: &ConvState,
    turn: &TurnPlan,
    res: &mut (Record, Option<String>, Instant),
) {
    let (r, answer, ended) = res;
    let Some(target) = state.target.fallback.as_ref() else {
        return;
    };
    if r.outcome != Some(Outcome::Error) || !r.is_chat() || shared.control.abort.is_cancelled() {
        return;
    }
    r.fallback_target = target.name.clone();
    // Boxed: taken only after a failure, and inline it would size every conversation task for it.
    let a = Box::pin(attempt(shared, target, fb, cs, turn)).await;
    let done = a.done.max(*ended);
    r.fallback_latency_ms = Some(ms(done.saturating_duration_since(*ended)));
    r.fallback_outcome = if a.ok() { "ok" } else { "error" }.to_string();
    if !a.ok() {
        return;
    }
    let (input, output) = a.usage.unwrap_or_else(|| {
        let hist: u64 = cs
            .history
            .iter()
            .map(|(_, c)| cost::estimate_tokens(c))
            .sum();
        (
            cost::estimate_tokens(&turn.prompt) + hist,
            a.estimated_output_tokens(),
        )
    });
    if let Ok(price) = shared.prices.price(&turn.model) {
        let p = &target.pricing;
        let nano = cost::request_cost_nano(price, input, output, p.markup_pct, p.per_request_usd);
        r.cost_nano_usd += nano;
        state.spent_nano.fetch_add(nano, Ordering::Relaxed);
    }
    *answer = Some(a.answer);
    *ended = done;
}

/// The fallback's one attempt (after creating its conversation if the protocol needs one and it has none yet).
async fn attempt(
    shared: &Shared,
    target: &FallbackTarget,
    fb: &mut Option<ConvState>,
    cs: &ConvState,
    turn: &TurnPlan,
) -> Attempt {
    let ep = &target.endpoint;
    let work = async {
        let mut st = fb.take().unwrap_or_else(|| ConvState {
            user: cs.user.clone(),
            ..Default::default()
        });
        if ep.needs_conversation() && st.coze_conversation_id.is_none() {
            let a = ep
                .create_conversation(&shared.client, &mut st, &turn.model)
                .await;
            if !a.ok() {
                return a;
            }
        }
        // The history the user has seen, whichever target answered it.
        st.history = cs.history.clone();
        let a = ep
            .send_turn(&shared.client, &st, &turn.prompt, &turn.model, turn.stream)
            .await;
        *fb = Some(st);
        a
    };
    let t0 = Instant::now();
    tokio::select! {
        res = tokio::time::timeout(shared.timeout, work) => res.unwrap_or_else(|_| {
            Attempt::new(t0).fail(ErrorKind::Timeout, "fallback: no complete answer in time")
        }),
        _ = shared.control.abort.cancelled() => {
            Attempt::new(t0).fail(ErrorKind::Cancelled, "fallback cancelled by interruption")
        }
    }
}

/// Give every target with `fallback:` in the scenario its fallback's endpoint (validation made sure it exists).
pub(crate) fn resolve(
    s: &crate::config::scenario::Scenario,
    targets: &mut [super::state::RunTarget],
) {
    let wiring: Vec<(usize, FallbackTarget)> = s
        .targets
        .iter()
        .filter_map(|spec| {
            let name = spec.fallback.as_ref()?;
            let me = targets.iter().position(|t| t.name == spec.name)?;
            let other = targets.iter().find(|t| &t.name == name)?;
            Some((
                me,
                FallbackTarget {
                    name: other.name.clone(),
                    endpoint: other.endpoint.clone(),
                    pricing: other.pricing.clone(),
                },
            ))
        })
        .collect();
    for (i, f) in wiring {
        targets[i].fallback = Some(f);
    }
}
