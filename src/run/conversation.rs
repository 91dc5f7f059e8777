//! One conversation as the runner drives it: the create call where the protocol needs one, then its turns (a chat
//! request with its retries and fallback, or a webhook event), each ending as exactly one [`Record`] sent to the
//! sink; and the `not_sent` rows of the turns a stop or a failed create leaves unsent. Used by the open-model
//! dispatcher (the runner) and by a closed run's virtual users.

use std::sync::Arc;
use std::time::Instant;

use super::fallback;
use super::record::{ms, Outcome, Record};
use super::request::{request, Slot};
use super::state::{base_record, Shared, TargetState};
use super::traffic::{ConvPlan, TurnPlan};
use crate::client::ConvState;

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

async fn emit(shared: &Shared, r: Record) {
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
        // Boxed, as the webhook event below: once per conversation, where inline it would size the whole task.
        let (rec, ok, done) = Box::pin(request(
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
        ))
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
            Box::pin(super::webhook::event(&shared, &state, slot, &mut cs)).await
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::run::mutants_tests::request::{shared, state};
    use crate::run::traffic::TurnPlan;

    /// A conversation's future is allocated whole (boxed) when it is spawned and lives as long as the conversation, so
    /// its size is memory per concurrent stream (issue 12, bench/RESULTS.md "Memory per SSE stream"). An async fn
    /// holds every future it awaits inline, the largest one deciding: the rare big ones (a Coze turn, the Coze
    /// create call, a webhook event, the fallback) are boxed, so that an OpenAI stream's task is the size of its
    /// own path; the attempt loop holds neither the record nor the previous attempt across a send; the error
    /// bodies' reads are boxed. 7,912 bytes before, 4,568 after (rustc 1.95, release); the bound fails if one of
    /// them comes back inline. 4,736 since the plain-http path reads its connection itself (`client::h1`): the
    /// socket, the read buffer's handle and the body's framing (~170 bytes) moved into this future from a hyper
    /// connection task of their own, whose buffers and channel were ~17 KB a stream.
    #[tokio::test]
    async fn a_conversation_future_stays_small() {
        let shared = Arc::new(shared(Instant::now()));
        let state = Arc::new(state(None, Default::default(), 1e6));
        let conv = ConvPlan {
            index: 0,
            user: 1,
            offset: Duration::ZERO,
            warmup: false,
            turns: vec![TurnPlan {
                prompt: "hi".into(),
                model: "m".into(),
                stream: true,
                think: Duration::ZERO,
            }],
        };
        let ep = &state.target.endpoint;
        let cs = ConvState::default();
        let client = reqwest::Client::new();
        let sizes = [
            (
                "send_turn",
                std::mem::size_of_val(&ep.send_turn(&client, &cs, "hi", "m", true)),
            ),
            (
                "conversation",
                std::mem::size_of_val(&conversation(shared, state.clone(), conv, None)),
            ),
        ];
        eprintln!("future sizes: {sizes:?}");
        assert!(sizes[1].1 <= 4800, "{sizes:?}");
    }
}
