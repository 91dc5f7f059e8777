//! The fault menu: what each kind does on the wire, and the per-request draw.

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use bytes::Bytes;

use super::body::BodyFault;
use super::capacity::Slot;
pub use super::fault_kind::FaultKind;
use super::http::{envelope_error, openai_error, respond, ConnCtl};
use super::profile::{BurstSpec, FaultSpec, RetryAfter};
use super::{Outcome, Plan, Shared};
use crate::config::scenario::ProtocolKind;

/// A fault ready to draw, its parameters resolved.
#[derive(Debug)]
pub(crate) struct FaultRt {
    pub(crate) kind: FaultKind,
    pub(crate) rate: f64,
    pub(crate) burst: Option<BurstSpec>,
    pub(crate) interval: Duration,
    pub(crate) size_bytes: usize,
    pub(crate) max_hang: Duration,
    pub(crate) retry_after_s: f64,
    protocol: ProtocolKind,
    oversize_json: OnceLock<Bytes>,
    oversize_sse: OnceLock<Bytes>,
}

impl FaultRt {
    pub(crate) fn new(spec: &FaultSpec, protocol: ProtocolKind) -> FaultRt {
        FaultRt {
            kind: spec.kind,
            rate: spec
                .rate
                .unwrap_or(if spec.burst.is_some() { 1.0 } else { 0.0 }),
            burst: spec.burst,
            interval: Duration::from_millis(spec.interval_ms.unwrap_or(1000)),
            size_bytes: spec.size_bytes.unwrap_or(8 << 20) as usize,
            max_hang: Duration::from_secs(spec.max_s.unwrap_or(300)),
            retry_after_s: spec.retry_after_s.unwrap_or(1.0),
            protocol,
            oversize_json: OnceLock::new(),
            oversize_sse: OnceLock::new(),
        }
    }

    pub(crate) fn active(&self, elapsed_s: f64) -> bool {
        self.burst.is_none_or(|b| b.active(elapsed_s))
    }

    /// The oversize body, built once per fault (cheap to clone afterwards).
    pub(crate) fn oversize(&self, stream: bool) -> Bytes {
        let cell = if stream {
            &self.oversize_sse
        } else {
            &self.oversize_json
        };
        cell.get_or_init(|| build_oversize(self.protocol, stream, self.size_bytes))
            .clone()
    }
}

/// A syntactically valid response of exactly `size` bytes (or its minimal frame if `size` is smaller).
fn build_oversize(protocol: ProtocolKind, stream: bool, size: usize) -> Bytes {
    let (head, tail): (&str, &str) = match (protocol, stream) {
        (ProtocolKind::Openai | ProtocolKind::Webhook, false) => (
            "{\"id\":\"chatcmpl-oversize\",\"object\":\"chat.completion\",\"created\":0,\"model\":\"oversize\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"",
            "\"},\"finish_reason\":\"stop\"}]}",
        ),
        (ProtocolKind::Openai | ProtocolKind::Webhook, true) => (
            "data: {\"id\":\"chatcmpl-oversize\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"oversize\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"",
            "\"},\"finish_reason\":null}]}\n\ndata: [DONE]\n\n",
        ),
        (ProtocolKind::Coze, false) => (
            "{\"code\":0,\"msg\":\"\",\"data\":{\"id\":\"0\",\"conversation_id\":\"0\",\"bot_id\":\"0\",\"status\":\"in_progress\",\"padding\":\"",
            "\"}}",
        ),
        (ProtocolKind::Coze, true) => (
            "event:conversation.message.delta\ndata:{\"id\":\"0\",\"conversation_id\":\"0\",\"bot_id\":\"0\",\"chat_id\":\"0\",\"role\":\"assistant\",\"type\":\"answer\",\"content_type\":\"text\",\"content\":\"",
            "\"}\n\nevent:done\ndata:\"[DONE]\"\n\n",
        ),
    };
    let fill = size.saturating_sub(head.len() + tail.len());
    let mut v = Vec::with_capacity(head.len() + fill + tail.len());
    v.extend_from_slice(head.as_bytes());
    let word = b"lorem ";
    v.extend(word.iter().cycle().take(fill));
    v.extend_from_slice(tail.as_bytes());
    Bytes::from(v)
}

/// Inject `f` (counting it). Faults that do not depend on the answer are answered here; the others come back as a
/// [`BodyFault`] for the protocol handler. Resets and hangs never return (the connection task drops the handler).
pub(crate) async fn inject(
    sh: &Shared,
    ctl: &ConnCtl,
    f: &FaultRt,
    stream: bool,
) -> Result<Response<Body>, BodyFault> {
    sh.counters.fault(f.kind);
    match f.kind {
        FaultKind::ResetBeforeResponse => {
            ctl.reset();
            std::future::pending().await
        }
        FaultKind::Hang => {
            tokio::select! {
                _ = tokio::time::sleep(f.max_hang) => {}
                _ = sh.shutdown.cancelled() => {}
            }
            ctl.reset();
            std::future::pending().await
        }
        FaultKind::Http500 => Ok(server_error(sh, StatusCode::INTERNAL_SERVER_ERROR)),
        FaultKind::Http502 => Ok(server_error(sh, StatusCode::BAD_GATEWAY)),
        FaultKind::Http503 => Ok(server_error(sh, StatusCode::SERVICE_UNAVAILABLE)),
        FaultKind::RateLimitNoRetryAfter => Ok(rate_limited(sh, RetryAfter::None)),
        FaultKind::RateLimitSeconds => Ok(rate_limited(sh, RetryAfter::Seconds(f.retry_after_s))),
        FaultKind::RateLimitHttpDate => Ok(rate_limited(
            sh,
            RetryAfter::HttpDateInS(f.retry_after_s.ceil().max(1.0) as u64),
        )),
        FaultKind::WrongContentType => Ok(respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            WRONG_CONTENT_TYPE_PAGE,
        )),
        FaultKind::OversizeBody => {
            let b = f.oversize(stream);
            let len = b.len();
            let ct = if stream {
                "text/event-stream"
            } else {
                "application/json"
            };
            let mut r = respond(StatusCode::OK, ct, b);
            r.headers_mut().insert(header::CONTENT_LENGTH, len.into());
            Ok(r)
        }
        FaultKind::ResetDuringResponse => Err(BodyFault::ResetMid),
        FaultKind::SlowDrip => Err(BodyFault::Drip(f.interval)),
        FaultKind::MalformedJson => Err(BodyFault::Malformed),
        FaultKind::TruncatedSse => Err(BodyFault::Truncate),
        FaultKind::StreamErrorEvent => Err(BodyFault::ErrorEvent),
    }
}

const WRONG_CONTENT_TYPE_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\
<body><h1>Session expired</h1><p>Please sign in again to continue.</p></body></html>\n";

/// An HTTP error with the protocol's error body.
pub(crate) fn server_error(sh: &Shared, status: StatusCode) -> Response<Body> {
    match sh.protocol {
        ProtocolKind::Openai | ProtocolKind::Webhook => {
            let msg = match status.as_u16() {
                500 => "The server had an error while processing your request. Sorry about that!",
                502 => "Bad gateway.",
                503 => "The server is overloaded or not ready yet.",
                504 => "Gateway timeout.",
                _ => "The server could not process your request.",
            };
            openai_error(status, msg, "server_error", None, None)
        }
        ProtocolKind::Coze => envelope_error(
            status,
            5000,
            &format!("internal server error (HTTP {})", status.as_u16()),
        ),
    }
}

/// A 429 with the protocol's error body; `retry` decides the `retry-after` headers.
pub(crate) fn rate_limited(sh: &Shared, retry: RetryAfter) -> Response<Body> {
    let wait_s = match retry {
        RetryAfter::None => None,
        RetryAfter::Seconds(s) => Some(s),
        RetryAfter::HttpDateInS(n) => Some(n as f64),
    };
    let mut r = match sh.protocol {
        ProtocolKind::Openai | ProtocolKind::Webhook => {
            let msg = match wait_s {
                Some(s) => format!(
                    "Rate limit reached for requests on this mock. Please try again in {}.",
                    go_duration(s)
                ),
                None => "Rate limit reached for requests on this mock.".to_string(),
            };
            openai_error(
                StatusCode::TOO_MANY_REQUESTS,
                &msg,
                "requests",
                None,
                Some("rate_limit_exceeded"),
            )
        }
        ProtocolKind::Coze => envelope_error(
            StatusCode::TOO_MANY_REQUESTS,
            4013,
            "the request rate exceeds the limit, retry later",
        ),
    };
    let h = r.headers_mut();
    match retry {
        RetryAfter::None => {}
        RetryAfter::Seconds(s) => {
            let v = if s.fract() == 0.0 {
                format!("{}", s as u64)
            } else {
                format!("{s}")
            };
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert("retry-after", v);
            }
            if sh.protocol == ProtocolKind::Openai {
                h.insert(
                    "retry-after-ms",
                    HeaderValue::from((s * 1000.0).round() as u64),
                );
            }
        }
        RetryAfter::HttpDateInS(n) => {
            // Whole seconds only: round "now" up so the announced wait is at least n seconds.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let at = std::time::UNIX_EPOCH + Duration::from_secs(now.as_secs() + 1 + n);
            if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(at)) {
                h.insert("retry-after", v);
            }
        }
    }
    if sh.protocol == ProtocolKind::Openai {
        h.insert(
            "x-ratelimit-limit-requests",
            HeaderValue::from_static("10000"),
        );
        h.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from_static("0"),
        );
        h.insert(
            "x-ratelimit-limit-tokens",
            HeaderValue::from_static("2000000"),
        );
        h.insert(
            "x-ratelimit-remaining-tokens",
            HeaderValue::from_static("1998000"),
        );
        h.insert("x-ratelimit-reset-tokens", HeaderValue::from_static("60ms"));
        if let Some(s) = wait_s {
            if let Ok(v) = HeaderValue::from_str(&go_duration(s)) {
                h.insert("x-ratelimit-reset-requests", v);
            }
        }
    }
    r
}

/// Go-style duration as in OpenAI's `x-ratelimit-reset-*` headers: `250ms`, `1s`, `1.5s`, `6m0s`.
pub(crate) fn go_duration(s: f64) -> String {
    if s < 1.0 {
        format!("{}ms", (s * 1000.0).round() as u64)
    } else if s < 60.0 {
        format!("{}s", (s * 1000.0).round() / 1000.0)
    } else {
        let whole = s.round() as u64;
        if whole < 3600 {
            format!("{}m{}s", whole / 60, whole % 60)
        } else {
            format!("{}h{}m{}s", whole / 3600, whole % 3600 / 60, whole % 60)
        }
    }
}

/// The drawn plan applied (and counted): an error response to send now, or the fault (if any) the handler applies
/// to its answer. The same for both protocols.
// The Err is the response to send, built once on a cold path.
#[allow(clippy::result_large_err)]
pub(crate) async fn apply_plan(
    sh: &Shared,
    ctl: &ConnCtl,
    plan: Plan<'_>,
    stream: bool,
) -> Result<Option<BodyFault>, Response<Body>> {
    match plan {
        Plan::Fault(f) => match inject(sh, ctl, f, stream).await {
            Ok(resp) => Err(resp),
            Err(bf) => Ok(Some(bf)),
        },
        Plan::RateLimited => {
            sh.counters.outcome(Outcome::RateLimited);
            Err(rate_limited(sh, sh.retry_after))
        }
        Plan::ServerError(s) => {
            sh.counters.outcome(Outcome::ServerError);
            Err(server_error(
                sh,
                StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ))
        }
        Plan::ChatFailed => {
            sh.counters.outcome(Outcome::ChatFailed);
            Ok(None)
        }
        Plan::Answer => {
            sh.counters.outcome(Outcome::Ok);
            Ok(None)
        }
    }
}

/// A slot of the profile's capacity (`None` without one), waiting FIFO if needed; beyond `concurrency + queue` the
/// error response to send (`reject_status`, counted as overloaded).
// The Err is the response to send, built once on a cold path.
#[allow(clippy::result_large_err)]
pub(crate) async fn take_slot(sh: &Shared) -> Result<Option<Slot>, Response<Body>> {
    let Some(cap) = &sh.capacity else {
        return Ok(None);
    };
    match cap.admit().await {
        Some(slot) => Ok(Some(slot)),
        None => {
            sh.counters.outcome(Outcome::Overloaded);
            Err(if cap.reject_status == 429 {
                rate_limited(sh, RetryAfter::Seconds(1.0))
            } else {
                server_error(sh, StatusCode::SERVICE_UNAVAILABLE)
            })
        }
    }
}
