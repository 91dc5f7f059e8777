//! A webhook target's settings (`protocol: webhook`, section `webhook:`): cutover plays the bot platform and POSTs
//! one event per chat turn to the team's webhook URL, with the platform's acknowledgement timeout and retry policy,
//! and serves the callback URL the server posts its answer to.
//!
//! Defaults follow the platforms that do this (Slack's Events API: 3 s to acknowledge, 3 retries; Stripe and Coze
//! retry any non-2xx or late answer with the same event id, waiting longer each time).

use serde::{Deserialize, Serialize};

use super::scenario::{RetryPolicy, ScenarioError, TargetSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Path of the webhook under `base_url` (or the mock's address).
    #[serde(default = "default_path")]
    pub path: String,
    /// The `event` field of every delivery.
    #[serde(default = "default_event")]
    pub event: String,
    /// The `bot_id` field of every delivery.
    #[serde(default = "default_bot")]
    pub bot_id: String,
    /// The platform's acknowledgement timeout: a delivery not answered 2xx within it is a timeout and is retried.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout_ms: u64,
    /// Redeliveries after the first (on a timeout or a non-2xx), each with the same event id.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first redelivery; doubled for each further one (less up to 25% jitter).
    #[serde(default = "default_backoff")]
    pub retry_backoff_ms: u64,
    /// How long after the first delivery the answer may take to reach the callback URL; later, it counts as lost.
    #[serde(default = "default_answer_timeout")]
    pub answer_timeout_ms: u64,
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
pub const MAX_WEBHOOK_RETRIES: u64 = 20;

impl WebhookSettings {
    /// The platform's redelivery policy in the runner's terms: `retries` redeliveries, exponential backoff from
    /// `retry_backoff_ms`, no budget beyond what the redeliveries take, and every failure retried.
    pub fn retry_policy(&self) -> RetryPolicy {
        let cap = self
            .retry_backoff_ms
            .saturating_mul(1u64 << self.retries.min(20));
        RetryPolicy {
            max_retries: self.retries,
            initial_backoff_ms: self.retry_backoff_ms,
            max_backoff_ms: cap.max(1),
            max_retry_after_s: 0.0,
            budget_s: super::scenario::ranges::MAX_SECONDS,
            retry_server_errors: true,
        }
    }
}

type At<'a> = &'a dyn Fn(&str, String) -> ScenarioError;

/// Checks of target `i`'s `webhook:` section: present only on a webhook target, every field in range, the
/// acknowledgement timeout within the scenario's request timeout (which would otherwise cut it first).
pub(crate) fn check(
    at: At,
    i: usize,
    t: &TargetSpec,
    all: &[TargetSpec],
    request_timeout_s: f64,
) -> Result<(), ScenarioError> {
    use super::scenario::ProtocolKind;
    let f = |k: &str| format!("targets[{i}].{k}");
    let to_webhook = t
        .fallback
        .as_ref()
        .and_then(|n| all.iter().find(|o| &o.name == n));
    if t.protocol != ProtocolKind::Webhook
        && to_webhook.is_some_and(|o| o.protocol == ProtocolKind::Webhook)
    {
        return Err(at(
            &f("fallback"),
            "cannot fall back to a webhook target: it takes events, not chat turns".into(),
        ));
    }
    if t.protocol != ProtocolKind::Webhook {
        if t.webhook.is_some() {
            return Err(at(
                &f("webhook"),
                "`webhook` settings are for `protocol: webhook` targets".into(),
            ));
        }
        return Ok(());
    }
    if t.coze.is_some() {
        return Err(at(
            &f("coze"),
            "`coze` settings are for coze targets; a webhook target has `webhook:`".into(),
        ));
    }
    if t.fallback.is_some() {
        return Err(at(
            &f("fallback"),
            "a webhook target cannot fall back: the platform redelivers the event instead".into(),
        ));
    }
    let w = t.webhook.clone().unwrap_or_default();
    if !w.path.starts_with('/') || w.path.contains(['?', '#', ' ']) {
        return Err(at(
            &f("webhook.path"),
            format!(
                "must be a path starting with `/`, without query or spaces, got `{}`",
                w.path
            ),
        ));
    }
    for (k, v) in [("event", &w.event), ("bot_id", &w.bot_id)] {
        if v.is_empty() || v.len() > 200 {
            return Err(at(
                &f(&format!("webhook.{k}")),
                "must be 1 to 200 characters".into(),
            ));
        }
    }
    let max_ms = super::scenario::ranges::MAX_MS;
    let int = |k: &str, v: u64, lo: u64, hi: u64| {
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(at(
                &f(&format!("webhook.{k}")),
                format!("must be in [{lo}, {hi}], got {v}"),
            ))
        }
    };
    int("ack_timeout_ms", w.ack_timeout_ms, 1, max_ms)?;
    int("retries", u64::from(w.retries), 0, MAX_WEBHOOK_RETRIES)?;
    int("retry_backoff_ms", w.retry_backoff_ms, 0, 3_600_000)?;
    int("answer_timeout_ms", w.answer_timeout_ms, 1, max_ms)?;
    if w.ack_timeout_ms as f64 > request_timeout_s * 1000.0 {
        return Err(at(
            &f("webhook.ack_timeout_ms"),
            format!(
                "{} ms is longer than limits.request_timeout_s ({request_timeout_s} s), which would cut every delivery first",
                w.ack_timeout_ms
            ),
        ));
    }
    Ok(())
}
