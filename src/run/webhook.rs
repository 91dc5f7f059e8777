//! Driving a webhook target: cutover plays the bot platform. Each chat turn is one event, delivered through the
//! runner's attempt loop (admission, rate limiter, caps) with the platform's policy instead of the scenario's retry
//! settings: `webhook.ack_timeout_ms` per delivery, `webhook.retries` redeliveries of the same event id after any
//! failure, exponential backoff from `webhook.retry_backoff_ms`.
//!
//! The callback listener (`run::callbacks`, one per run, on 127.0.0.1) takes the answers the webhook server posts back.
//! After its last delivery an event's row waits for its first answer until `webhook.answer_timeout_ms` after the
//! first delivery (or the run's abort); the row then records the answers seen so far (`answers`: 0 = lost, above 1 =
//! the server processed a redelivery as well), the first answer's latency (`answer_ms`) and the deliveries that timed
//! out (`ack_timeouts`). The conversation's next turn waits for the answer, as a user does.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::record::{ms, Record};
use super::request::{request, Slot};
use super::state::{Shared, TargetState};
use crate::client::webhook::{RetryReason, WebhookEvent};
use crate::client::{ConvState, ErrorKind};

/// What the deliveries of one event add up to, seen from inside the attempt loop.
#[derive(Default)]
struct Tally {
    deliveries: u32,
    timeouts: u32,
    last_failure: Option<RetryReason>,
}

/// One event (chat turn `slot.turn`) on a webhook target: deliveries with the platform's policy, then the wait for
/// its answer. Returns what [`request`] returns; the end instant is the answer's arrival when it came.
pub(super) async fn event(
    shared: &Shared,
    state: &TargetState,
    slot: Slot<'_>,
    cs: &mut ConvState,
) -> (Record, Option<String>, Instant) {
    let cb = shared
        .callbacks
        .as_ref()
        .expect("a run with webhook targets has callbacks");
    let w = state.target.endpoint.webhook.clone().unwrap_or_default();
    let turn = &slot.conv.turns[slot.turn as usize - 1];
    let ev = WebhookEvent::new(
        &state.target.name,
        slot.conv.index,
        slot.turn,
        &w.event,
        &w.bot_id,
        &cs.user,
        &turn.prompt,
        &cb.url,
    );
    let ack = Duration::from_millis(w.ack_timeout_ms);
    let mut first_answer = cb.expect(&ev.event_id);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let (mut r, ok, done) = request(
        shared,
        state,
        slot,
        |c| {
            let (ep, client) = (&state.target.endpoint, shared.client.clone());
            let (ev, tally, st) = (ev.clone(), tally.clone(), c.clone());
            async move {
                let retry = {
                    let t = tally.lock().expect("tally");
                    t.last_failure.map(|why| (t.deliveries, why))
                };
                let a = ep.send_event(&client, &ev, ack, retry).await;
                let mut t = tally.lock().expect("tally");
                t.deliveries += 1;
                if let Some(k) = &a.error {
                    t.timeouts += u32::from(*k == ErrorKind::Timeout);
                    t.last_failure = Some(RetryReason::of(k));
                }
                (a, st)
            }
        },
        cs,
    )
    .await;
    r.ack_timeouts = tally.lock().expect("tally").timeouts;
    let Some(sent_ms) = r.sent_ms else {
        cb.close(&ev.event_id);
        return (r, ok, done); // never delivered: no answer to wait for
    };
    let first_sent = shared.start + Duration::from_secs_f64(sent_ms / 1000.0);
    let deadline = first_sent + Duration::from_millis(w.answer_timeout_ms);
    tokio::select! {
        _ = &mut first_answer => {}
        _ = tokio::time::sleep_until(deadline.into()) => {}
        _ = shared.control.abort.cancelled() => {}
    }
    let (count, first) = cb.close(&ev.event_id);
    r.answers = Some(count);
    r.answer_ms = first.map(|at| ms(at.saturating_duration_since(first_sent)));
    (r, ok, first.map_or(done, |at| at.max(done)))
}
