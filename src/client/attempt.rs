//! One attempt at one request: its timings, status, failure kind and what it read. The adapters fill it in; the
//! runner decides what it means (retry, record, count).

use std::time::{Duration, Instant};

#[cfg(test)]
use super::sse::token_count;
use super::sse::StreamTimer;

/// What went wrong, one kind per failure mode; the CSV and report use [`ErrorKind::as_str`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ErrorKind {
    /// HTTP status >= 400 other than 429 (`http_500`, `http_401`, ...).
    Http(u16),
    /// A 3xx answer: never followed (a redirect could lead off loopback, and 301/302/303 would turn the POST into a
    /// GET). The status is kept in the record; the detail names the Location host. Counted as unavailability: the
    /// user got no answer.
    Redirect(u16),
    /// 429 still returned when retries or the retry budget ran out.
    RateLimited,
    /// Coze envelope `code != 0` with HTTP 200 (`envelope_4016`, ...).
    Envelope(i64),
    /// Coze `conversation.chat.failed`, or a polled chat whose status is `failed`.
    ChatFailed,
    /// A 200 stream that carried an error event.
    StreamError,
    /// A stream that ended before its end marker (`[DONE]` / `event:done`).
    StreamCut,
    /// 2xx with a body that is not the JSON the protocol promises.
    MalformedJson,
    /// 2xx with a content type the protocol does not use.
    WrongContentType,
    /// Body or stream larger than `limits.max_response_bytes` (or an SSE event larger than the parser's cap).
    OversizeBody,
    /// The per-request timeout fired (includes a server that accepts and never answers).
    Timeout,
    /// TCP connect failed (refused, unreachable).
    Connect,
    /// The connection closed or reset before any response byte.
    NoResponse,
    /// The connection closed or reset while the body was arriving.
    BodyInterrupted,
    /// Cancelled by an interruption while in flight.
    Cancelled,
}

impl ErrorKind {
    pub(crate) fn as_str(&self) -> String {
        match self {
            ErrorKind::Http(s) => format!("http_{s}"),
            ErrorKind::Redirect(_) => "redirect".into(),
            ErrorKind::RateLimited => "rate_limited".into(),
            ErrorKind::Envelope(c) => format!("envelope_{c}"),
            ErrorKind::ChatFailed => "chat_failed".into(),
            ErrorKind::StreamError => "stream_error".into(),
            ErrorKind::StreamCut => "stream_cut".into(),
            ErrorKind::MalformedJson => "malformed_json".into(),
            ErrorKind::WrongContentType => "wrong_content_type".into(),
            ErrorKind::OversizeBody => "oversize_body".into(),
            ErrorKind::Timeout => "timeout".into(),
            ErrorKind::Connect => "connect".into(),
            ErrorKind::NoResponse => "no_response".into(),
            ErrorKind::BodyInterrupted => "body_interrupted".into(),
            ErrorKind::Cancelled => "cancelled".into(),
        }
    }

    /// The kind a CSV `error_kind` names (the inverse of [`ErrorKind::as_str`]; a redirect's status is not in its
    /// name). None for an empty or unknown name.
    pub(crate) fn from_csv(name: &str) -> Option<ErrorKind> {
        if let Some(code) = name.strip_prefix("http_") {
            return code.parse().ok().map(ErrorKind::Http);
        }
        if let Some(code) = name.strip_prefix("envelope_") {
            return code.parse().ok().map(ErrorKind::Envelope);
        }
        Some(match name {
            "redirect" => ErrorKind::Redirect(0),
            "rate_limited" => ErrorKind::RateLimited,
            "chat_failed" => ErrorKind::ChatFailed,
            "stream_error" => ErrorKind::StreamError,
            "stream_cut" => ErrorKind::StreamCut,
            "malformed_json" => ErrorKind::MalformedJson,
            "wrong_content_type" => ErrorKind::WrongContentType,
            "oversize_body" => ErrorKind::OversizeBody,
            "timeout" => ErrorKind::Timeout,
            "connect" => ErrorKind::Connect,
            "no_response" => ErrorKind::NoResponse,
            "body_interrupted" => ErrorKind::BodyInterrupted,
            "cancelled" => ErrorKind::Cancelled,
            _ => return None,
        })
    }

    /// Failures that say the service was unavailable (counted against availability): server-side or transport
    /// failures, and a 429 that exhausted its retries (the user got no answer either way). Client-side mistakes such
    /// as 401/404, malformed requests and Coze envelope errors are errors but not unavailability. The one rule: the
    /// report's metrics read it through [`ErrorKind::from_csv`].
    pub(crate) fn is_unavailability(&self) -> bool {
        match self {
            ErrorKind::Http(s) => *s >= 500 || *s == 408 || *s == 429,
            ErrorKind::Envelope(_) | ErrorKind::Cancelled => false,
            _ => true,
        }
    }

    /// Worth another attempt: 429, 408, 409, 5xx, timeouts and connection failures (as the OpenAI SDK retries).
    pub(crate) fn retryable(&self, server_errors: bool) -> bool {
        match self {
            ErrorKind::RateLimited => true,
            ErrorKind::Http(s) => server_errors && (*s >= 500 || *s == 408 || *s == 409),
            ErrorKind::Timeout | ErrorKind::Connect | ErrorKind::NoResponse => server_errors,
            _ => false,
        }
    }
}

/// Longest failure detail kept, in characters: clipped AFTER redaction, so a key cut by the clip cannot leak a piece.
pub(crate) const DETAIL_CHARS: usize = 300;

/// Answer text kept per attempt by default (the conversation history and the token estimate need no more).
pub(crate) const DEFAULT_ANSWER_BYTES: usize = 64 << 10;

/// One attempt at one request. Its state is bounded whatever the server sends: the timer keeps running statistics
/// and the answer keeps a prefix.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) sent: Instant,
    pub(crate) done: Instant,
    pub(crate) status: Option<u16>,
    pub(crate) error: Option<ErrorKind>,
    /// Short, redacted description of a failure.
    pub(crate) detail: Option<String>,
    /// Server's wait hint (Retry-After / retry-after-ms), already parsed.
    pub(crate) retry_after: Option<Duration>,
    /// The header `retry_after` came from (`retry-after`, `llm_provider-retry-after-ms`, ...).
    pub(crate) retry_hint: Option<&'static str>,
    /// (input, output) tokens from the server's usage block.
    pub(crate) usage: Option<(u64, u64)>,
    /// The first `answer_cap` bytes of the answer (for the conversation history and the token estimate).
    pub(crate) answer: String,
    /// Bytes of answer text received, kept or not.
    pub(crate) answer_bytes: u64,
    answer_cap: usize,
    /// First byte, first and last content chunk, gaps and chunk count, from `sent`: the one stream timer.
    pub(crate) timer: StreamTimer,
}

impl Attempt {
    pub(crate) fn new(sent: Instant) -> Attempt {
        Attempt {
            sent,
            done: sent,
            status: None,
            error: None,
            detail: None,
            retry_after: None,
            retry_hint: None,
            usage: None,
            answer: String::new(),
            answer_bytes: 0,
            answer_cap: DEFAULT_ANSWER_BYTES,
            timer: StreamTimer::new(sent),
        }
    }

    pub(crate) fn with_answer_cap(mut self, cap: usize) -> Attempt {
        self.answer_cap = cap;
        self
    }

    /// The request goes out now: timings start again from here.
    pub(crate) fn restart(&mut self, sent: Instant) {
        self.sent = sent;
        self.timer = StreamTimer::new(sent);
    }

    pub(crate) fn fail(mut self, kind: ErrorKind, detail: impl Into<String>) -> Attempt {
        self.done = Instant::now();
        self.error = Some(kind);
        self.detail = Some(detail.into());
        self
    }

    /// A content chunk of a stream, read at `at`.
    pub(crate) fn content(&mut self, at: Instant, text: &str) {
        self.timer.on_content(at, text.len() as u64);
        self.push_answer(text);
    }

    /// Append answer text, keeping at most the cap (cut at a character boundary).
    pub(crate) fn push_answer(&mut self, text: &str) {
        self.answer_bytes = self.answer_bytes.saturating_add(text.len() as u64);
        let room = self.answer_cap.saturating_sub(self.answer.len());
        if text.len() <= room {
            self.answer.push_str(text);
            return;
        }
        let mut cut = room;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        self.answer.push_str(&text[..cut]);
    }

    /// Output tokens estimated from the answer (when the server sent no usage): the kept prefix's estimate, scaled
    /// by the bytes received when the answer was longer than the prefix.
    pub(crate) fn estimated_output_tokens(&self) -> u64 {
        let kept = crate::config::prices::estimate_tokens(&self.answer);
        let kept_bytes = self.answer.len() as u64;
        if self.answer_bytes <= kept_bytes || kept_bytes == 0 {
            return kept;
        }
        let scaled = kept as u128 * u128::from(self.answer_bytes) / u128::from(kept_bytes);
        u64::try_from(scaled).unwrap_or(u64::MAX)
    }

    pub(crate) fn ok(&self) -> bool {
        self.error.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_classify_availability_and_retry() {
        assert!(ErrorKind::Http(503).is_unavailability());
        assert!(!ErrorKind::Http(401).is_unavailability());
        assert!(ErrorKind::Timeout.is_unavailability());
        assert!(ErrorKind::Redirect(308).is_unavailability());
        for k in [
            ErrorKind::Http(503),
            ErrorKind::Envelope(4016),
            ErrorKind::RateLimited,
            ErrorKind::StreamCut,
            ErrorKind::Cancelled,
        ] {
            assert_eq!(ErrorKind::from_csv(&k.as_str()), Some(k));
        }
        assert_eq!(ErrorKind::from_csv(""), None);
        assert_eq!(ErrorKind::from_csv("http_x"), None);
        assert!(!ErrorKind::Redirect(307).retryable(true));
        assert_eq!(ErrorKind::Redirect(301).as_str(), "redirect");
        assert!(ErrorKind::RateLimited.retryable(false));
        assert!(!ErrorKind::Http(500).retryable(false));
        assert!(ErrorKind::Http(500).retryable(true));
        assert!(!ErrorKind::Http(404).retryable(true));
        assert_eq!(ErrorKind::Envelope(4016).as_str(), "envelope_4016");
    }

    #[test]
    fn token_counts_saturate() {
        use serde_json::json;
        assert_eq!(token_count(&json!(5)), Some(5));
        assert_eq!(token_count(&json!(9223372036854775808u64)), Some(1 << 63));
        assert_eq!(token_count(&json!(u64::MAX)), Some(u64::MAX));
        let huge: serde_json::Value = serde_json::from_str("1e30").unwrap();
        assert_eq!(token_count(&huge), Some(u64::MAX));
        let over: serde_json::Value = serde_json::from_str("18446744073709551616").unwrap();
        assert_eq!(token_count(&over), Some(u64::MAX));
        assert_eq!(token_count(&json!(-1)), None);
        assert_eq!(token_count(&json!(2.5)), Some(2));
        assert_eq!(token_count(&json!("7")), None);
    }

    #[test]
    fn answer_keeps_a_prefix_and_the_estimate_scales() {
        let t = Instant::now();
        let mut a = Attempt::new(t).with_answer_cap(9);
        a.content(t, "héllo ");
        a.content(t + Duration::from_millis(5), "wörld and more");
        // 8 of the 9 bytes allowed kept: the 2-byte ö would cross the cap, so the cut falls before it.
        assert_eq!(a.answer, "héllo w");
        assert_eq!(a.answer_bytes, 22);
        assert_eq!(a.timer.content_chunks(), 2);
        assert_eq!(a.timer.gaps().max(), Some(Duration::from_millis(5)));
        // "héllo w": 7 chars -> 2 tokens by chars, 2 words -> 2; scaled by 22 / 8 bytes -> 5.
        assert_eq!(a.estimated_output_tokens(), 5);
        let mut b = Attempt::new(t);
        b.push_answer("two words");
        assert_eq!(b.estimated_output_tokens(), 3);
    }
}
