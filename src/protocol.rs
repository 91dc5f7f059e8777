//! Protocol adapters: one per API shape. The runner hands over a turn (prompt, model, stream flag) and gets back an
//! [`Attempt`] with timings, status, error kind, tokens and a Retry-After hint; it never sees a URL or a JSON field.
//!
//! - OpenAI-compatible: `POST /v1/chat/completions` (JSON, or SSE with `stream_options.include_usage`).
//! - Coze bot API v3: `POST /v1/conversation/create`, `POST /v3/chat` (SSE, or poll `GET /v3/chat/retrieve` until
//!   completed, then `GET /v3/chat/message/list`). Non-stream latency = chat create -> completed status observed.

use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};

use crate::scenario::{CozeSettings, ProtocolKind};
use crate::secret::Secret;
use crate::sse::{self, SseParser, StreamItem};

/// Largest response body read; a bigger one is an `oversize_body` failure (and is not buffered).
pub const MAX_BODY_BYTES: usize = 4 << 20;

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

    fn content(&mut self, at: Instant, text: &str) {
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

/// A target endpoint as the adapters need it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub kind: ProtocolKind,
    pub base_url: String,
    pub key: Option<Secret>,
    pub headers: HeaderMap,
    pub coze: Option<CozeSettings>,
    pub max_tokens: Option<u32>,
}

/// Per-conversation state the protocol keeps between turns.
#[derive(Debug, Default, Clone)]
pub struct ConvState {
    pub coze_conversation_id: Option<String>,
    pub history: Vec<(&'static str, String)>,
    pub user: String,
}

impl Endpoint {
    pub fn new(
        kind: ProtocolKind,
        base_url: &str,
        key: Option<Secret>,
        extra: &std::collections::BTreeMap<String, String>,
        coze: Option<CozeSettings>,
        max_tokens: Option<u32>,
    ) -> Result<Endpoint, String> {
        let mut headers = HeaderMap::new();
        for (k, v) in extra {
            let name =
                HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("header `{k}`: {e}"))?;
            let value = HeaderValue::from_str(v).map_err(|e| format!("header `{k}`: {e}"))?;
            headers.insert(name, value);
        }
        if let Some(key) = &key {
            let mut v = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                .map_err(|_| "API key has characters not allowed in a header".to_string())?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        Ok(Endpoint {
            kind,
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
            headers,
            coze,
            max_tokens,
        })
    }

    /// Does this protocol need a conversation created before the first turn?
    pub fn needs_conversation(&self) -> bool {
        self.kind == ProtocolKind::Coze
    }

    /// Create the server-side conversation (Coze). One attempt.
    pub async fn create_conversation(
        &self,
        client: &reqwest::Client,
        conv: &mut ConvState,
        model: &str,
    ) -> Attempt {
        let url = format!("{}/v1/conversation/create", self.base_url);
        let body = json!({ "bot_id": self.bot_for(model) });
        let (mut a, v) = self.post_json(client, &url, &body).await;
        if a.error.is_some() {
            return a;
        }
        let v = match coze_envelope(&mut a, v) {
            Some(d) => d,
            None => return a,
        };
        match v.get("id").and_then(json_id) {
            Some(id) => conv.coze_conversation_id = Some(id),
            None => {
                return a.fail(
                    ErrorKind::MalformedJson,
                    "conversation/create: data.id missing",
                )
            }
        }
        a
    }

    fn bot_for(&self, model: &str) -> String {
        let c = self.coze.as_ref().expect("coze settings validated");
        c.model_bots
            .get(model)
            .or(c.bot_id.as_ref())
            .cloned()
            .unwrap_or_default()
    }

    /// Send one user turn and read the whole answer. One attempt: the runner does retries.
    pub async fn send_turn(
        &self,
        client: &reqwest::Client,
        conv: &ConvState,
        prompt: &str,
        model: &str,
        stream: bool,
    ) -> Attempt {
        match self.kind {
            ProtocolKind::Openai => self.openai_turn(client, conv, prompt, model, stream).await,
            ProtocolKind::Coze => self.coze_turn(client, conv, prompt, model, stream).await,
        }
    }

    async fn openai_turn(
        &self,
        client: &reqwest::Client,
        conv: &ConvState,
        prompt: &str,
        model: &str,
        stream: bool,
    ) -> Attempt {
        let mut messages: Vec<Value> = conv
            .history
            .iter()
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect();
        messages.push(json!({"role": "user", "content": prompt}));
        let mut body =
            json!({"model": model, "messages": messages, "stream": stream, "user": conv.user});
        if stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        if let Some(m) = self.max_tokens {
            body["max_tokens"] = json!(m);
        }
        let url = format!("{}/v1/chat/completions", self.base_url);
        if stream {
            return self
                .post_stream(client, &url, &body, sse::classify_openai)
                .await;
        }
        let (mut a, v) = self.post_json(client, &url, &body).await;
        if a.error.is_some() {
            return a;
        }
        let Some(text) = v
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
        else {
            return a.fail(
                ErrorKind::MalformedJson,
                "choices[0].message.content missing",
            );
        };
        a.answer = text.to_string();
        a.usage = openai_usage(&v);
        a
    }

    async fn coze_turn(
        &self,
        client: &reqwest::Client,
        conv: &ConvState,
        prompt: &str,
        model: &str,
        stream: bool,
    ) -> Attempt {
        let conv_id = conv.coze_conversation_id.clone().unwrap_or_default();
        let url = format!("{}/v3/chat?conversation_id={}", self.base_url, conv_id);
        let body = json!({
            "bot_id": self.bot_for(model),
            "user_id": conv.user,
            "additional_messages": [{"role": "user", "type": "question", "content": prompt, "content_type": "text"}],
            "stream": stream,
            "auto_save_history": true,
        });
        if stream {
            return self
                .post_stream(client, &url, &body, sse::classify_coze)
                .await;
        }
        let (mut a, v) = self.post_json(client, &url, &body).await;
        if a.error.is_some() {
            return a;
        }
        let Some(data) = coze_envelope(&mut a, v) else {
            return a;
        };
        let Some(chat_id) = data.get("id").and_then(json_id) else {
            return a.fail(ErrorKind::MalformedJson, "v3/chat: data.id missing");
        };
        let poll = Duration::from_millis(
            self.coze
                .as_ref()
                .map(|c| c.poll_interval_ms)
                .unwrap_or(1000),
        );
        let retrieve = format!(
            "{}/v3/chat/retrieve?conversation_id={}&chat_id={}",
            self.base_url, conv_id, chat_id
        );
        loop {
            tokio::time::sleep(poll).await;
            let (mut p, v) = self.get_json(client, &retrieve).await;
            if let Some(e) = p.error.take() {
                // A failing poll fails the chat: the caller decides about retrying the whole turn.
                a.status = p.status;
                a.retry_after = p.retry_after;
                return a.fail(
                    e,
                    format!("chat/retrieve: {}", p.detail.unwrap_or_default()),
                );
            }
            let Some(d) = coze_envelope(&mut p, v) else {
                a.status = p.status;
                return a.fail(
                    p.error.unwrap_or(ErrorKind::MalformedJson),
                    p.detail.unwrap_or_default(),
                );
            };
            match d.get("status").and_then(Value::as_str) {
                Some("completed") => {
                    a.done = Instant::now();
                    a.usage = coze_usage(&d);
                    break;
                }
                Some("failed") | Some("canceled") => {
                    let msg = d
                        .pointer("/last_error/msg")
                        .and_then(Value::as_str)
                        .unwrap_or("failed");
                    return a.fail(ErrorKind::ChatFailed, format!("chat failed: {msg}"));
                }
                Some(_) => continue,
                None => {
                    return a.fail(
                        ErrorKind::MalformedJson,
                        "chat/retrieve: data.status missing",
                    )
                }
            }
        }
        let done = a.done;
        let list = format!(
            "{}/v3/chat/message/list?conversation_id={}&chat_id={}",
            self.base_url, conv_id, chat_id
        );
        let (mut m, v) = self.get_json(client, &list).await;
        if let Some(e) = m.error.take() {
            return a.fail(e, format!("message/list: {}", m.detail.unwrap_or_default()));
        }
        let Some(d) = coze_envelope(&mut m, v) else {
            return a.fail(
                m.error.unwrap_or(ErrorKind::MalformedJson),
                m.detail.unwrap_or_default(),
            );
        };
        let answer: String = d
            .as_array()
            .map(|msgs| {
                msgs.iter()
                    .filter(|m| m.get("type").and_then(Value::as_str) == Some("answer"))
                    .filter_map(|m| m.get("content").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        a.answer = answer;
        a.done = done;
        a
    }

    fn request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
    ) -> reqwest::RequestBuilder {
        client.request(method, url).headers(self.headers.clone())
    }

    async fn get_json(&self, client: &reqwest::Client, url: &str) -> (Attempt, Value) {
        let rb = self.request(client, reqwest::Method::GET, url);
        self.send_json(rb).await
    }

    async fn post_json(
        &self,
        client: &reqwest::Client,
        url: &str,
        body: &Value,
    ) -> (Attempt, Value) {
        let rb = self.request(client, reqwest::Method::POST, url).json(body);
        self.send_json(rb).await
    }

    async fn send_json(&self, rb: reqwest::RequestBuilder) -> (Attempt, Value) {
        let a = Attempt::new(Instant::now());
        let (mut a, resp) = match self.start(a, rb).await {
            Ok(x) => x,
            Err(a) => return (a, Value::Null),
        };
        let ct = content_type(&resp);
        let body = match read_body(resp).await {
            Ok(b) => b,
            Err((kind, d)) => return (a.fail(kind, d), Value::Null),
        };
        a.done = Instant::now();
        if !ct.contains("json") {
            return (
                a.fail(ErrorKind::WrongContentType, format!("content-type `{ct}`")),
                Value::Null,
            );
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => (a, v),
            Err(e) => (
                a.fail(ErrorKind::MalformedJson, format!("body is not JSON: {e}")),
                Value::Null,
            ),
        }
    }

    /// Send and classify the status line. `Err` carries a finished failed attempt.
    async fn start(
        &self,
        mut a: Attempt,
        rb: reqwest::RequestBuilder,
    ) -> Result<(Attempt, reqwest::Response), Attempt> {
        a.sent = Instant::now();
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => return Err(a.fail(classify_send_error(&e), self.redact(&e.to_string()))),
        };
        a.first_byte = Some(Instant::now());
        let status = resp.status().as_u16();
        a.status = Some(status);
        if status == 429 || status >= 400 {
            a.retry_after = retry_after(resp.headers(), SystemTime::now());
            let kind = if status == 429 {
                ErrorKind::RateLimited
            } else {
                ErrorKind::Http(status)
            };
            // Read (bounded) the error body for the detail, ignoring failures: the status already decided.
            let detail = match read_body(resp).await {
                Ok(b) => error_message(&b).unwrap_or_else(|| format!("HTTP {status}")),
                Err(_) => format!("HTTP {status}"),
            };
            return Err(a.fail(kind, self.redact(&detail)));
        }
        Ok((a, resp))
    }

    async fn post_stream(
        &self,
        client: &reqwest::Client,
        url: &str,
        body: &Value,
        classify: fn(&sse::SseEvent) -> StreamItem,
    ) -> Attempt {
        let rb = self
            .request(client, reqwest::Method::POST, url)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(body);
        let a = Attempt::new(Instant::now());
        let (mut a, resp) = match self.start(a, rb).await {
            Ok(x) => x,
            Err(a) => return a,
        };
        let ct = content_type(&resp);
        if !ct.starts_with("text/event-stream") {
            // A JSON envelope error (Coze answers errors as JSON even for stream requests) is still an error.
            let body = read_body(resp).await.unwrap_or_default();
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                if let Some(code) = v.get("code").and_then(Value::as_i64).filter(|c| *c != 0) {
                    return a.fail(
                        ErrorKind::Envelope(code),
                        self.redact(&error_message(&body).unwrap_or_default()),
                    );
                }
            }
            return a.fail(
                ErrorKind::WrongContentType,
                format!("content-type `{ct}` for a stream"),
            );
        }
        let mut parser = SseParser::new();
        let mut bytes = resp.bytes_stream();
        let mut finished = false;
        'read: while let Some(chunk) = bytes.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => return a.fail(classify_body_error(&e), self.redact(&e.to_string())),
            };
            let now = Instant::now();
            if let Err(e) = parser.push(&chunk) {
                return a.fail(ErrorKind::OversizeBody, e.to_string());
            }
            while let Some(ev) = parser.next_event() {
                match classify(&ev) {
                    StreamItem::Content(t) => a.content(now, &t),
                    StreamItem::Usage { input, output } => a.usage = Some((input, output)),
                    StreamItem::Ignored => {}
                    StreamItem::Error(msg) => {
                        return a.fail(ErrorKind::StreamError, self.redact(&msg))
                    }
                    StreamItem::Malformed(msg) => return a.fail(ErrorKind::MalformedJson, msg),
                    StreamItem::Done => {
                        finished = true;
                        break 'read;
                    }
                }
            }
        }
        a.done = Instant::now();
        if !finished {
            return a.fail(ErrorKind::StreamCut, "stream ended before its end marker");
        }
        a
    }

    /// Remove the API key from any text that might echo it (error bodies, transport errors).
    pub fn redact(&self, text: &str) -> String {
        match &self.key {
            Some(k) => k.redact(text),
            None => text.to_string(),
        }
    }
}

fn json_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Check a Coze envelope: `code == 0` gives `data`; else the attempt fails with `envelope_<code>`.
fn coze_envelope(a: &mut Attempt, v: Value) -> Option<Value> {
    match v.get("code").and_then(Value::as_i64) {
        Some(0) => match v.get("data") {
            Some(d) => Some(d.clone()),
            None => {
                a.error = Some(ErrorKind::MalformedJson);
                a.detail = Some("envelope without data".into());
                a.done = Instant::now();
                None
            }
        },
        Some(code) => {
            let msg = v.get("msg").and_then(Value::as_str).unwrap_or("");
            a.error = Some(ErrorKind::Envelope(code));
            a.detail = Some(format!("code {code}: {msg}"));
            a.done = Instant::now();
            None
        }
        None => {
            a.error = Some(ErrorKind::MalformedJson);
            a.detail = Some("envelope without code".into());
            a.done = Instant::now();
            None
        }
    }
}

fn openai_usage(v: &Value) -> Option<(u64, u64)> {
    let u = v.get("usage")?;
    Some((
        u.get("prompt_tokens")?.as_u64()?,
        u.get("completion_tokens")?.as_u64()?,
    ))
}

fn coze_usage(d: &Value) -> Option<(u64, u64)> {
    let u = d.get("usage")?;
    Some((
        u.get("input_count")?.as_u64()?,
        u.get("output_count")?.as_u64()?,
    ))
}

fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

async fn read_body(resp: reqwest::Response) -> Result<Vec<u8>, (ErrorKind, String)> {
    if resp
        .content_length()
        .is_some_and(|l| l as usize > MAX_BODY_BYTES)
    {
        return Err((
            ErrorKind::OversizeBody,
            format!("content-length over {MAX_BODY_BYTES} bytes"),
        ));
    }
    let mut out = Vec::new();
    let mut s = resp.bytes_stream();
    while let Some(c) = s.next().await {
        let c = c.map_err(|e| (classify_body_error(&e), e.to_string()))?;
        if out.len() + c.len() > MAX_BODY_BYTES {
            return Err((
                ErrorKind::OversizeBody,
                format!("body over {MAX_BODY_BYTES} bytes"),
            ));
        }
        out.extend_from_slice(&c);
    }
    Ok(out)
}

fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let msg = v
        .pointer("/error/message")
        .or_else(|| v.get("msg"))
        .and_then(Value::as_str)?;
    Some(msg.chars().take(200).collect())
}

fn classify_send_error(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::NoResponse
    }
}

fn classify_body_error(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::BodyInterrupted
    }
}

/// Server wait hint: `retry-after-ms`, then `retry-after` as (fractional) seconds, then as an HTTP date.
pub fn retry_after(h: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(ms) = h
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(2)));
        h.insert("retry-after", HeaderValue::from_static("0.5"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(500)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        h.insert("retry-after", HeaderValue::from_str(&date).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        // a date in the past means "now"
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        h.insert("retry-after", HeaderValue::from_str(&past).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(250)));
        h.remove("retry-after-ms");
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

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
