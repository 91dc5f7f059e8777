//! The fault menu's names: the YAML vocabulary of `faults[].kind`, shared by the profile and the injector.

use serde::{Deserialize, Serialize};

/// What a fault does. Stream-only kinds are never drawn for a non-streamed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// TCP RST before any response byte (SO_LINGER 0, then close).
    ResetBeforeResponse,
    /// Status line, headers and part of the body, then a TCP RST.
    ResetDuringResponse,
    /// Read the request, never answer (until `max_s`, then RST; server shutdown ends it too).
    Hang,
    /// The normal response, one byte every `interval_ms`.
    SlowDrip,
    /// HTTP 500 with the protocol's error body.
    #[serde(rename = "http_500")]
    Http500,
    /// HTTP 502 with the protocol's error body.
    #[serde(rename = "http_502")]
    Http502,
    /// HTTP 503 with the protocol's error body.
    #[serde(rename = "http_503")]
    Http503,
    /// 429 without `retry-after` / `retry-after-ms`.
    RateLimitNoRetryAfter,
    /// 429 with `retry-after: <retry_after_s>` (and `retry-after-ms` for openai).
    RateLimitSeconds,
    /// 429 with `retry-after: <HTTP date retry_after_s ahead>`.
    RateLimitHttpDate,
    /// 200 with a JSON body cut in half (streams: a broken `data:` payload, then the end).
    MalformedJson,
    /// Stream only: the stream stops halfway, before `[DONE]` / `done`, and the response ends cleanly.
    TruncatedSse,
    /// 200 with a body of `size_bytes` (a valid completion with a huge content; streams: one huge event).
    OversizeBody,
    /// 200 `text/html` for a JSON / SSE endpoint.
    WrongContentType,
    /// Stream only: a 200 stream carrying an error event halfway.
    StreamErrorEvent,
}

impl FaultKind {
    pub const ALL: [FaultKind; 15] = [
        FaultKind::ResetBeforeResponse,
        FaultKind::ResetDuringResponse,
        FaultKind::Hang,
        FaultKind::SlowDrip,
        FaultKind::Http500,
        FaultKind::Http502,
        FaultKind::Http503,
        FaultKind::RateLimitNoRetryAfter,
        FaultKind::RateLimitSeconds,
        FaultKind::RateLimitHttpDate,
        FaultKind::MalformedJson,
        FaultKind::TruncatedSse,
        FaultKind::OversizeBody,
        FaultKind::WrongContentType,
        FaultKind::StreamErrorEvent,
    ];

    /// The YAML name, also the key in `MockStats::faults`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::ResetBeforeResponse => "reset_before_response",
            FaultKind::ResetDuringResponse => "reset_during_response",
            FaultKind::Hang => "hang",
            FaultKind::SlowDrip => "slow_drip",
            FaultKind::Http500 => "http_500",
            FaultKind::Http502 => "http_502",
            FaultKind::Http503 => "http_503",
            FaultKind::RateLimitNoRetryAfter => "rate_limit_no_retry_after",
            FaultKind::RateLimitSeconds => "rate_limit_seconds",
            FaultKind::RateLimitHttpDate => "rate_limit_http_date",
            FaultKind::MalformedJson => "malformed_json",
            FaultKind::TruncatedSse => "truncated_sse",
            FaultKind::OversizeBody => "oversize_body",
            FaultKind::WrongContentType => "wrong_content_type",
            FaultKind::StreamErrorEvent => "stream_error_event",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn stream_only(self) -> bool {
        matches!(self, FaultKind::TruncatedSse | FaultKind::StreamErrorEvent)
    }
}
