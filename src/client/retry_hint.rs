//! The server's wait hint on a 429 / 5xx, in every form seen in practice, and which header gave it:
//! `retry-after-ms` (OpenAI), `llm_provider-retry-after-ms` (LiteLLM's rename of the upstream hint),
//! `retry-after` (seconds, possibly fractional, or an HTTP date), `llm_provider-retry-after`, and, when nothing
//! else states a wait, `x-ratelimit-reset-requests` / `-tokens` (Go-style durations such as `1s`, `6m0s`, `250ms`)
//! for an exhausted limit (its `x-ratelimit-remaining-*` is 0 or absent). Parsing saturates: an absurd value becomes a
//! very long wait (the runner caps it with `max_retry_after_s`), never a panic.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// Which header a wait came from (the `retry_hint` a record can carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryHint {
    RetryAfterMs,
    ProviderRetryAfterMs,
    RetryAfter,
    ProviderRetryAfter,
    ResetRequests,
    ResetTokens,
}

impl RetryHint {
    /// The header's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            RetryHint::RetryAfterMs => "retry-after-ms",
            RetryHint::ProviderRetryAfterMs => "llm_provider-retry-after-ms",
            RetryHint::RetryAfter => "retry-after",
            RetryHint::ProviderRetryAfter => "llm_provider-retry-after",
            RetryHint::ResetRequests => "x-ratelimit-reset-requests",
            RetryHint::ResetTokens => "x-ratelimit-reset-tokens",
        }
    }
}

/// Seconds as a duration, saturating (negative or NaN -> none).
fn secs(s: f64) -> Option<Duration> {
    if s.is_nan() || s < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)?.to_str().ok().map(str::trim)
}

fn millis(h: &HeaderMap, name: &str) -> Option<Duration> {
    secs(header(h, name)?.parse::<f64>().ok()? / 1000.0)
}

/// `retry-after`: seconds or an HTTP date (a date in the past means now).
fn seconds_or_date(h: &HeaderMap, name: &str, now: SystemTime) -> Option<Duration> {
    let v = header(h, name)?;
    if let Ok(s) = v.parse::<f64>() {
        return secs(s);
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A Go duration (`1h2m3.5s`, `250ms`, `6m0s`, `1us`, `0s`); `None` if it is not one.
pub(crate) fn go_duration(s: &str) -> Option<Duration> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let (unit, len) = [
            ("ns", 1e-9),
            ("us", 1e-6),
            ("µs", 1e-6),
            ("ms", 1e-3),
            ("h", 3600.0),
            ("m", 60.0),
            ("s", 1.0),
        ]
        .into_iter()
        .find(|(u, _)| rest.starts_with(u))
        .map(|(u, f)| (f, u.len()))?;
        total += value * unit;
        rest = &rest[len..];
    }
    secs(total)
}

/// An exhausted limit's reset: `x-ratelimit-reset-<what>` when `x-ratelimit-remaining-<what>` is 0 or absent.
fn reset(h: &HeaderMap, what: &str) -> Option<Duration> {
    let remaining = header(h, &format!("x-ratelimit-remaining-{what}"));
    if remaining.is_some_and(|r| r.parse::<f64>().map_or(true, |n| n > 0.0)) {
        return None;
    }
    go_duration(header(h, &format!("x-ratelimit-reset-{what}"))?)
}

/// The wait the server asks for and the header that said it, in the order above.
pub(crate) fn retry_hint(h: &HeaderMap, now: SystemTime) -> Option<(Duration, RetryHint)> {
    if let Some(d) = millis(h, "retry-after-ms") {
        return Some((d, RetryHint::RetryAfterMs));
    }
    if let Some(d) = millis(h, "llm_provider-retry-after-ms") {
        return Some((d, RetryHint::ProviderRetryAfterMs));
    }
    if let Some(d) = seconds_or_date(h, "retry-after", now) {
        return Some((d, RetryHint::RetryAfter));
    }
    if let Some(d) = seconds_or_date(h, "llm_provider-retry-after", now) {
        return Some((d, RetryHint::ProviderRetryAfter));
    }
    let req = reset(h, "requests").map(|d| (d, RetryHint::ResetRequests));
    let tok = reset(h, "tokens").map(|d| (d, RetryHint::ResetTokens));
    match (req, tok) {
        (Some(a), Some(b)) => Some(if b.0 > a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn hint(pairs: &[(&'static str, &'static str)]) -> Option<(Duration, &'static str)> {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        retry_hint(
            &h,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
        .map(|(d, w)| (d, w.name()))
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(
            go_duration("1h2m3.5s"),
            Some(Duration::from_millis(3_723_500))
        );
        assert_eq!(go_duration("1.5s"), Some(Duration::from_millis(1500)));
        for bad in ["", "s", "1", "1x", "-1s", "1s2", "1..2s"] {
            assert_eq!(go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn litellm_and_reset_forms_and_their_order() {
        assert_eq!(
            hint(&[("llm_provider-retry-after", "6")]),
            Some((Duration::from_secs(6), "llm_provider-retry-after"))
        );
        assert_eq!(
            hint(&[
                ("llm_provider-retry-after-ms", "1500"),
                ("llm_provider-retry-after", "9")
            ]),
            Some((Duration::from_millis(1500), "llm_provider-retry-after-ms"))
        );
        // The standard headers win over the provider's copies.
        assert_eq!(
            hint(&[
                ("retry-after", "2"),
                ("llm_provider-retry-after-ms", "1500")
            ]),
            Some((Duration::from_millis(1500), "llm_provider-retry-after-ms"))
        );
        assert_eq!(
            hint(&[
                ("retry-after-ms", "100"),
                ("llm_provider-retry-after-ms", "1500")
            ]),
            Some((Duration::from_millis(100), "retry-after-ms"))
        );
        // A reset counts only for an exhausted limit (the OpenAI mock's 429: requests exhausted, tokens not).
        assert_eq!(
            hint(&[
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "6m0s"),
                ("x-ratelimit-remaining-tokens", "1998000"),
                ("x-ratelimit-reset-tokens", "60ms"),
            ]),
            Some((Duration::from_secs(360), "x-ratelimit-reset-requests"))
        );
        assert_eq!(
            hint(&[("x-ratelimit-reset-tokens", "250ms")]),
            Some((Duration::from_millis(250), "x-ratelimit-reset-tokens"))
        );
        assert_eq!(
            hint(&[
                ("x-ratelimit-remaining-requests", "3"),
                ("x-ratelimit-reset-requests", "1s")
            ]),
            None
        );
        assert_eq!(hint(&[]), None);
    }

    #[test]
    fn absurd_values_saturate_without_panic() {
        assert_eq!(
            hint(&[("retry-after", "1e300")]),
            Some((Duration::MAX, "retry-after"))
        );
        assert_eq!(
            hint(&[("retry-after-ms", "1e308")]).map(|h| h.1),
            Some("retry-after-ms")
        );
        assert_eq!(hint(&[("retry-after", "-5")]), None);
        assert_eq!(hint(&[("retry-after", "NaN")]), None);
        assert_eq!(
            hint(&[("retry-after", "inf")]),
            Some((Duration::MAX, "retry-after"))
        );
        assert_eq!(go_duration("99999999999999999999h"), Some(Duration::MAX));
    }
}
