//! A webhook target's settings (`protocol: webhook`, section `webhook:`): cutover plays the bot platform and POSTs
//! one event per chat turn to the team's webhook URL, with the platform's acknowledgement timeout and retry policy,
//! and serves the callback URL the server posts its answer to.
//!
//! Defaults follow the platforms that do this (Slack's Events API: 3 s to acknowledge, 3 retries; Stripe and Coze
//! retry any non-2xx or late answer with the same event id, waiting longer each time).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookSettings {
    /// Path of the webhook under `base_url` (or the mock's address).
    #[serde(default = "default_path")]
    pub(crate) path: String,
    /// The `event` field of every delivery.
    #[serde(default = "default_event")]
    pub(crate) event: String,
    /// The `bot_id` field of every delivery.
    #[serde(default = "default_bot")]
    pub(crate) bot_id: String,
    /// The platform's acknowledgement timeout: a delivery not answered 2xx within it is a timeout and is retried.
    #[serde(default = "default_ack_timeout")]
    pub(crate) ack_timeout_ms: u64,
    /// Redeliveries after the first (on a timeout or a non-2xx), each with the same event id.
    #[serde(default = "default_retries")]
    pub(crate) retries: u32,
    /// Wait before the first redelivery; doubled for each further one (less up to 25% jitter).
    #[serde(default = "default_backoff")]
    pub(crate) retry_backoff_ms: u64,
    /// How long after the first delivery the answer may take to reach the callback URL; later, it counts as lost.
    #[serde(default = "default_answer_timeout")]
    pub(crate) answer_timeout_ms: u64,
}

fn default_path() -> String {
    "/webhook".into()
}
fn default_event() -> String {
    "message.received".into()
}
fn default_bot() -> String {
    "bot-cutover".into()
}
fn default_ack_timeout() -> u64 {
    3000
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> u64 {
    1000
}
fn default_answer_timeout() -> u64 {
    30_000
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            path: default_path(),
            event: default_event(),
            bot_id: default_bot(),
            ack_timeout_ms: default_ack_timeout(),
            retries: default_retries(),
            retry_backoff_ms: default_backoff(),
            answer_timeout_ms: default_answer_timeout(),
        }
    }
}

/// Redeliveries at most (`retries`).
pub(crate) const MAX_WEBHOOK_RETRIES: u64 = 20;
