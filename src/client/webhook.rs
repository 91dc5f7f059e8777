//! Webhook wire format, cutover playing the bot platform: one event per chat turn POSTed as JSON to the team's webhook
//! URL, acknowledged by any 2xx within the platform's timeout; the answer comes back later as a POST to the callback
//! URL cutover serves.
//!
//! Event: `{event_id, event, bot_id, conversation_id, message_id, content, user_id, timestamp, callback_url}`
//! (`timestamp` in Unix seconds, as Coze and Slack send it). A redelivery carries the same body (same `event_id`) and
//! the headers `x-webhook-retry-num: N` and `x-webhook-retry-reason: http_timeout | http_error` (after Slack's
//! `X-Slack-Retry-Num` / `X-Slack-Retry-Reason`), so a server can tell it from a new event.
//!
//! Answer (callback body): `{event_id, message_id?, conversation_id?, answer?, usage?}`; only `event_id` is required.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::attempt::{Attempt, ErrorKind};
use super::http::{read_body, Endpoint};
use super::transport::Outgoing;

/// Header naming a redelivery's number (1 for the first redelivery).
pub(crate) const RETRY_NUM_HEADER: &str = "x-webhook-retry-num";
/// Header naming why the previous delivery failed.
pub(crate) const RETRY_REASON_HEADER: &str = "x-webhook-retry-reason";
/// Largest callback body read.
pub(crate) const MAX_ANSWER_BODY: usize = 1 << 20;

/// One event as the platform sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WebhookEvent {
    pub(crate) event_id: String,
    pub(crate) event: String,
    pub(crate) bot_id: String,
    pub(crate) conversation_id: String,
    pub(crate) message_id: String,
    pub(crate) content: String,
    pub(crate) user_id: String,
    pub(crate) timestamp: u64,
    pub(crate) callback_url: String,
}

impl WebhookEvent {
    /// The event of turn `turn` of conversation `conversation` on target `target` (a scenario target name: letters,
    /// digits, `_`, `-`): the ids are derived from them, so every delivery of it (and only of it) has the same
    /// `event_id`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        target: &str,
        conversation: u64,
        turn: u32,
        event: &str,
        bot_id: &str,
        user_id: &str,
        content: &str,
        callback_url: &str,
    ) -> WebhookEvent {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        WebhookEvent {
            event_id: format!("evt_{target}_{conversation}_{turn}"),
            event: event.to_string(),
            bot_id: bot_id.to_string(),
            conversation_id: format!("conv_{target}_{conversation}"),
            message_id: format!("msg_{target}_{conversation}_{turn}"),
            content: content.to_string(),
            user_id: user_id.to_string(),
            timestamp: now.as_secs(),
            callback_url: callback_url.to_string(),
        }
    }
}

/// Why the previous delivery of an event failed, as the redelivery's header says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryReason {
    HttpTimeout,
    HttpError,
}

impl RetryReason {
    pub(crate) fn of(kind: &ErrorKind) -> RetryReason {
        match kind {
            ErrorKind::Timeout => RetryReason::HttpTimeout,
            _ => RetryReason::HttpError,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RetryReason::HttpTimeout => "http_timeout",
            RetryReason::HttpError => "http_error",
        }
    }
}

/// What the webhook server posts back to the callback URL.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CallbackAnswer {
    pub(crate) event_id: String,
}

impl CallbackAnswer {
    /// Parse a callback body; `None` when it is not an answer (no `event_id`).
    pub(crate) fn parse(body: &[u8]) -> Option<CallbackAnswer> {
        serde_json::from_slice(body).ok()
    }
}

impl Endpoint {
    /// Deliver `ev` once: any 2xx within `ack_timeout` acknowledges it; a later answer is a `timeout` (the request is
    /// dropped, as a platform does), a non-2xx is `http_<status>`. `retry` names a redelivery's number and reason.
    pub(crate) async fn send_event(
        &self,
        client: &reqwest::Client,
        ev: &WebhookEvent,
        ack_timeout: Duration,
        retry: Option<(u32, RetryReason)>,
    ) -> Attempt {
        let path = self
            .webhook
            .as_ref()
            .map_or("/webhook", |w| w.path.as_str());
        let url = self.url(path, &[]);
        let mut rb = self
            .request(client, reqwest::Method::POST, url)
            .timeout(ack_timeout)
            .json(ev);
        if let Some((n, reason)) = retry {
            rb = rb
                .header(RETRY_NUM_HEADER, n)
                .header(RETRY_REASON_HEADER, reason.as_str());
        }
        let a = match self.start(self.attempt(), Outgoing::from(rb).send()).await {
            Ok((mut a, resp)) => match read_body(resp, self.limits.max_response_bytes).await {
                Ok(_) => {
                    a.done = std::time::Instant::now();
                    a
                }
                Err((kind, d)) => a.fail(kind, d),
            },
            Err(a) => a,
        };
        match &a.error {
            Some(ErrorKind::Timeout) => {
                let ms = ack_timeout.as_millis();
                let mut a = a;
                a.detail = Some(format!("no acknowledgement within {ms} ms"));
                self.scrub(a)
            }
            _ => self.scrub(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_name_the_turn_and_answers_need_an_event_id() {
        let e = WebhookEvent::new(
            "t1",
            42,
            3,
            "message.received",
            "b",
            "user-7",
            "hi",
            "http://x",
        );
        assert_eq!(e.event_id, "evt_t1_42_3");
        assert_eq!(e.message_id, "msg_t1_42_3");
        assert_eq!(e.conversation_id, "conv_t1_42");
        let v = serde_json::to_value(&e).unwrap();
        for k in [
            "event_id",
            "event",
            "bot_id",
            "conversation_id",
            "message_id",
            "content",
            "user_id",
            "timestamp",
            "callback_url",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        let a = CallbackAnswer::parse(br#"{"event_id":"evt_t1_42_3","answer":"ok"}"#).unwrap();
        assert_eq!(a.event_id, "evt_t1_42_3");
        assert!(CallbackAnswer::parse(br#"{"answer":"ok"}"#).is_none());
        assert!(CallbackAnswer::parse(b"not json").is_none());
    }
}
