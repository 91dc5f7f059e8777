//! One attempt at one request: its timings, status, failure kind and what it read. The adapters fill it in; the
//! runner decides what it means (retry, record, count).

use std::time::{Duration, Instant};

/// What went wrong, one kind per failure mode; the CSV and report use [`ErrorKind::as_str`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// HTTP status >= 400 other than 429 (`http_500`, `http_401`, ...).
    Http(u16),
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
    /// Body larger than [`MAX_BODY_BYTES`] (or an SSE event larger than the parser's cap).
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
    pub fn as_str(&self) -> String {
        match self {
            ErrorKind::Http(s) => format!("http_{s}"),
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

    /// Failures that say the service was unavailable (counted against availability); client-side mistakes such as
    /// 401/404 or malformed requests are errors but not unavailability.
    pub fn is_unavailability(&self) -> bool {
        match self {
            ErrorKind::Http(s) => *s >= 500 || *s == 408,
            ErrorKind::Envelope(_) | ErrorKind::Cancelled => false,
            _ => true,
        }
    }

    /// Worth another attempt: 429, 408, 409, 5xx, timeouts and connection failures (as the OpenAI SDK retries).
    pub fn retryable(&self, server_errors: bool) -> bool {
        match self {
            ErrorKind::RateLimited => true,
            ErrorKind::Http(s) => server_errors && (*s >= 500 || *s == 408 || *s == 409),
            ErrorKind::Timeout | ErrorKind::Connect | ErrorKind::NoResponse => server_errors,
            _ => false,
        }
    }
}

/// One attempt at one request.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub sent: Instant,
    pub first_byte: Option<Instant>,
    /// First chunk with non-empty answer content (streams only).
    pub first_token: Option<Instant>,
    pub last_token: Option<Instant>,
    pub done: Instant,
    pub status: Option<u16>,
    pub error: Option<ErrorKind>,
    /// Short, redacted description of a failure.
    pub detail: Option<String>,
    /// Server's wait hint (Retry-After / retry-after-ms), already parsed.
    pub retry_after: Option<Duration>,
    /// The header `retry_after` came from (`retry-after`, `llm_provider-retry-after-ms`, ...).
    pub retry_hint: Option<&'static str>,
    /// (input, output) tokens from the server's usage block.
    pub usage: Option<(u64, u64)>,
    /// Answer text (for the conversation history and, without usage, the token estimate).
    pub answer: String,
    /// Non-empty content chunks received.
    pub content_chunks: u32,
    /// Gaps between consecutive content chunks.
    pub gaps: Vec<Duration>,
}

impl Attempt {
    pub(crate) fn new(sent: Instant) -> Attempt {
        Attempt {
            sent,
            first_byte: None,
            first_token: None,
            last_token: None,
            done: sent,
            status: None,
            error: None,
            detail: None,
            retry_after: None,
            retry_hint: None,
            usage: None,
            answer: String::new(),
            content_chunks: 0,
            gaps: Vec::new(),
        }
    }

    pub(crate) fn fail(mut self, kind: ErrorKind, detail: impl Into<String>) -> Attempt {
        self.done = Instant::now();
        self.error = Some(kind);
        self.detail = Some(detail.into());
        self
    }

    pub(crate) fn content(&mut self, at: Instant, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(prev) = self.last_token {
            self.gaps.push(at.saturating_duration_since(prev));
        } else {
            self.first_token = Some(at);
        }
        self.last_token = Some(at);
        self.content_chunks += 1;
        self.answer.push_str(text);
    }

    pub fn ok(&self) -> bool {
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
        assert!(ErrorKind::RateLimited.retryable(false));
        assert!(!ErrorKind::Http(500).retryable(false));
        assert!(ErrorKind::Http(500).retryable(true));
        assert!(!ErrorKind::Http(404).retryable(true));
        assert_eq!(ErrorKind::Envelope(4016).as_str(), "envelope_4016");
    }
}
