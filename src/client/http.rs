//! Protocol adapters: one per API shape. The runner hands over a turn (prompt, model, stream flag) and gets back an
//! [`Attempt`] with timings, status, error kind, tokens and a Retry-After hint; it never sees a URL or a JSON field.
//!
//! - OpenAI-compatible: `POST /v1/chat/completions` (JSON, or SSE with `stream_options.include_usage`).
//! - Coze bot API v3: `POST /v1/conversation/create`, `POST /v3/chat` (SSE, or poll `GET /v3/chat/retrieve` until
//!   completed, then `GET /v3/chat/message/list`). Non-stream latency = chat create -> completed status observed.

use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

use super::attempt::{Attempt, ErrorKind};
use super::secret::Secret;
use super::sse::{self, SseParser, StreamItem};
use crate::config::scenario::{CozeSettings, ProtocolKind};

/// Build the HTTP client: no proxies (traffic must go where the scenario says), a pool big enough for the load.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1024)
        .pool_idle_timeout(Duration::from_secs(30))
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .tcp_nodelay(true)
        .build()
        .expect("reqwest client")
}

/// Largest response body read; a bigger one is an `oversize_body` failure (and is not buffered).
pub const MAX_BODY_BYTES: usize = 4 << 20;

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

    fn request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
    ) -> reqwest::RequestBuilder {
        client.request(method, url).headers(self.headers.clone())
    }

    pub(super) async fn get_json(&self, client: &reqwest::Client, url: &str) -> (Attempt, Value) {
        let rb = self.request(client, reqwest::Method::GET, url);
        self.send_json(rb).await
    }

    pub(super) async fn post_json(
        &self,
        client: &reqwest::Client,
        url: &str,
        body: &impl serde::Serialize,
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

    pub(super) async fn post_stream(
        &self,
        client: &reqwest::Client,
        url: &str,
        body: &impl serde::Serialize,
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
}
