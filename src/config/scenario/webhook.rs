//! Checks of a webhook target's `webhook:` section (`protocol: webhook`; the settings are `config::webhook`).

use super::{ranges, ProtocolKind, ScenarioError, TargetSpec};

type At<'a> = &'a dyn Fn(&str, String) -> ScenarioError;

/// Checks of target `i`'s `webhook:` section: present only on a webhook target, every field in range, the
/// acknowledgement timeout within the scenario's request timeout (which would otherwise cut it first).
pub(super) fn check(
    at: At,
    i: usize,
    t: &TargetSpec,
    all: &[TargetSpec],
    request_timeout_s: f64,
) -> Result<(), ScenarioError> {
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
    let max_ms = ranges::MAX_MS;
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
    int(
        "retries",
        u64::from(w.retries),
        0,
        crate::config::webhook::MAX_WEBHOOK_RETRIES,
    )?;
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
