//! Protocol adapters: one per API shape. The runner hands over a turn (prompt, model, stream flag) and gets back an
//! [`Attempt`] with timings, status, error kind, tokens and a Retry-After hint; it never sees a URL or a JSON field.
//!
//! - OpenAI-compatible: `POST /v1/chat/completions` (JSON, or SSE with `stream_options.include_usage`).
//! - Coze bot API v3: `POST /v1/conversation/create`, `POST /v3/chat` (SSE, or poll `GET /v3/chat/retrieve` until
//!   completed, then `GET /v3/chat/message/list`). Non-stream latency = chat create -> completed status observed.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

use super::attempt::{Attempt, ErrorKind};
use super::secret::Secret;
use super::sse::{self, SseParser, StreamItem};
use super::transport::{Outgoing, PlainClient, Response, SendFuture};
use crate::config::scenario::{CozeSettings, ProtocolKind};

/// Build the HTTP client: no proxies and no redirects (traffic must go where the scenario says: a followed redirect
/// could leave loopback, and 301/302/303 would turn a POST into a GET), a pool big enough for the load.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1024)
        .pool_idle_timeout(Duration::from_secs(30))
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .tcp_nodelay(true)
        .build()
        .expect("reqwest client")
}

/// Default `limits.max_response_bytes`: a bigger body or stream is an `oversize_body` failure (and is not buffered).
pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: u64 = 4 << 20;

/// What one response may hold: the bytes read (body or stream) and the answer text kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResponseLimits {
    pub(crate) max_response_bytes: u64,
    pub(crate) max_answer_bytes: usize,
}

impl Default for ResponseLimits {
    fn default() -> Self {
        ResponseLimits {
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_answer_bytes: super::attempt::DEFAULT_ANSWER_BYTES,
        }
    }
}

/// A target endpoint as the adapters need it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub(crate) kind: ProtocolKind,
    /// The scenario's `base_url`, parsed; API paths are joined to its path and its query is kept (see [`Self::url`]).
    pub(crate) base: reqwest::Url,
    pub(crate) key: Option<Secret>,
    pub(crate) headers: HeaderMap,
    pub(crate) coze: Option<CozeSettings>,
    pub(crate) max_tokens: Option<u32>,
    pub(crate) limits: ResponseLimits,
    /// `protocol: webhook` only: path, acknowledgement timeout, redeliveries (see `client::webhook`).
    pub(crate) webhook: Option<crate::config::webhook::WebhookSettings>,
    /// `POST /v1/chat/completions` under `base`, joined once: joining per request re-parsed the URL (~13,000
    /// instructions a request, callgrind).
    pub(crate) chat_url: reqwest::Url,
    /// Our own HTTP/1.1 client for a plain-`http` target's POSTs (see `client::transport`); None for https, or when
    /// `CUTOVER_TRANSPORT=reqwest` asks for reqwest everywhere (to compare the two).
    pub(crate) plain: Option<PlainClient>,
    /// `chat_url`'s path and query as our client sends it (origin form), checked once to be a valid target.
    chat_target: Option<String>,
}

/// Per-conversation state the protocol keeps between turns.
#[derive(Debug, Default, Clone)]
pub struct ConvState {
    pub(crate) coze_conversation_id: Option<String>,
    pub(crate) history: Vec<(&'static str, String)>,
    pub(crate) user: String,
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
        let base =
            reqwest::Url::parse(base_url).map_err(|e| format!("base_url `{base_url}`: {e}"))?;
        let chat_url = join(&base, "/v1/chat/completions", &[]);
        let reqwest_only = std::env::var_os("CUTOVER_TRANSPORT").is_some_and(|v| v == "reqwest");
        let plain = match base.scheme() == "http" && !reqwest_only {
            true => PlainClient::new(&base),
            false => None,
        };
        Ok(Endpoint {
            plain,
            chat_target: origin_form(&chat_url),
            kind,
            base,
            key,
            headers,
            coze,
            max_tokens,
            limits: ResponseLimits::default(),
            webhook: None,
            chat_url,
        })
    }

    /// A webhook target's settings (the defaults when `None` is given for a webhook target).
    pub(crate) fn with_webhook(
        mut self,
        w: Option<crate::config::webhook::WebhookSettings>,
    ) -> Endpoint {
        if self.kind == ProtocolKind::Webhook {
            self.webhook = Some(w.unwrap_or_default());
        }
        self
    }

    /// The scenario's caps on what one response may hold (the defaults otherwise).
    pub(crate) fn with_limits(mut self, limits: ResponseLimits) -> Endpoint {
        self.limits = limits;
        self
    }

    /// A fresh attempt, sent now, with this endpoint's answer cap.
    pub(crate) fn attempt(&self) -> Attempt {
        Attempt::new(Instant::now()).with_answer_cap(self.limits.max_answer_bytes)
    }

    /// The URL of an API path (which may carry its own `?query`) under `base_url`: the path is appended to the base's
    /// path, the base's query (e.g. Azure's `?api-version=...`) comes first, then the path's, then `params`
    /// (percent-encoded, so an id from the server cannot inject parameters).
    pub(crate) fn url(&self, path: &str, params: &[(&str, &str)]) -> reqwest::Url {
        join(&self.base, path, params)
    }

    /// Does this protocol need a conversation created before the first turn?
    pub(crate) fn needs_conversation(&self) -> bool {
        self.kind == ProtocolKind::Coze
    }

    pub(super) fn request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        url: reqwest::Url,
    ) -> reqwest::RequestBuilder {
        client.request(method, url).headers(self.headers.clone())
    }

    pub(super) async fn get_json(
        &self,
        client: &reqwest::Client,
        url: reqwest::Url,
    ) -> (Attempt, Value) {
        let rb = self.request(client, reqwest::Method::GET, url);
        self.send_json(Outgoing::from(rb).send()).await
    }

    pub(super) async fn post_json(
        &self,
        client: &reqwest::Client,
        url: reqwest::Url,
        body: &impl serde::Serialize,
    ) -> (Attempt, Value) {
        let out = self.post(client, url, body, None);
        self.send_json(out.send()).await
    }

    /// POST a JSON body and take the whole answer's bytes, checked to be declared JSON (not parsed: the caller
    /// parses what it needs, see [`parse_json`]).
    pub(super) async fn post_for_bytes(
        &self,
        client: &reqwest::Client,
        url: reqwest::Url,
        body: &impl serde::Serialize,
    ) -> (Attempt, Vec<u8>) {
        let out = self.post(client, url, body, None);
        self.send_for_bytes(out.send()).await
    }

    /// A POST of `body` as JSON: through our own HTTP/1.1 client for a plain-`http` target, through reqwest
    /// otherwise (see `client::transport`); the same headers either way.
    pub(super) fn post(
        &self,
        client: &reqwest::Client,
        url: reqwest::Url,
        body: &impl serde::Serialize,
        accept: Option<&'static str>,
    ) -> Outgoing {
        let via_reqwest = |url: reqwest::Url| {
            let rb = self.request(client, reqwest::Method::POST, url);
            let rb = match accept {
                Some(v) => rb.header(ACCEPT, v),
                None => rb,
            };
            rb.json(body).into()
        };
        let Some(plain) = &self.plain else {
            return via_reqwest(url);
        };
        let target = match (&self.chat_target, url == self.chat_url) {
            (Some(t), true) => std::borrow::Cow::Borrowed(t.as_str()),
            _ => match origin_form(&url) {
                Some(t) => std::borrow::Cow::Owned(t),
                None => return via_reqwest(url),
            },
        };
        // Serialising our own structs to JSON cannot fail.
        let Ok(json) = serde_json::to_vec(body) else {
            return via_reqwest(url);
        };
        let wire = plain.request(&target, &self.headers, accept.unwrap_or("*/*"), &json);
        Outgoing::Plain(plain.clone(), wire)
    }

    async fn send_for_bytes(&self, send: SendFuture) -> (Attempt, Vec<u8>) {
        let (mut a, resp) = match self.start(self.attempt(), send).await {
            Ok(x) => x,
            Err(a) => return (a, Vec::new()),
        };
        let ct = content_type(&resp);
        let body = match read_body(resp, self.limits.max_response_bytes).await {
            Ok(b) => b,
            Err((kind, d)) => return (a.fail(kind, d), Vec::new()),
        };
        a.done = Instant::now();
        if !ct.contains("json") {
            let detail = self.redact(&format!("content-type `{ct}`"));
            return (a.fail(ErrorKind::WrongContentType, detail), Vec::new());
        }
        (a, body)
    }

    async fn send_json(&self, send: SendFuture) -> (Attempt, Value) {
        let (a, body) = self.send_for_bytes(send).await;
        if a.error.is_some() {
            return (a, Value::Null);
        }
        parse_json(a, &body)
    }

    /// Send and classify the status line. `Err` carries a finished failed attempt.
    pub(super) async fn start(
        &self,
        mut a: Attempt,
        send: SendFuture,
    ) -> Result<(Attempt, Response), Attempt> {
        a.restart(Instant::now());
        let resp = match send.await {
            Ok(r) => r,
            Err((kind, e)) => return Err(a.fail(kind, self.redact(&e))),
        };
        a.timer.on_first_byte(Instant::now());
        let status = resp.status();
        a.status = Some(status);
        if (300..400).contains(&status) {
            let detail = redirect_detail(&resp, &self.base);
            return Err(a.fail(ErrorKind::Redirect(status), self.redact(&detail)));
        }
        if status == 429 || status >= 400 {
            let hint = super::retry_hint::retry_hint(resp.headers(), SystemTime::now());
            a.retry_after = hint.map(|(d, _)| d);
            a.retry_hint = hint.map(|(_, w)| w.name());
            let kind = if status == 429 {
                ErrorKind::RateLimited
            } else {
                ErrorKind::Http(status)
            };
            // Read (bounded) the error body for the detail, ignoring failures: the status already decided. Boxed, as
            // the other error path's read in `post_stream`: inline, it would size every request's task.
            let detail = match Box::pin(read_body(resp, self.limits.max_response_bytes)).await {
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
        url: reqwest::Url,
        body: &impl serde::Serialize,
        classify: fn(&sse::SseEvent) -> StreamItem,
    ) -> Attempt {
        let out = self.post(client, url, body, Some("text/event-stream"));
        let (a, resp) = match self.start(self.attempt(), out.send()).await {
            Ok(x) => x,
            Err(a) => return a,
        };
        let ct = content_type(&resp);
        if !ct.starts_with("text/event-stream") {
            // A JSON envelope error (Coze answers errors as JSON even for stream requests) is still an error.
            let body = Box::pin(read_body(resp, self.limits.max_response_bytes))
                .await
                .unwrap_or_default();
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
                self.redact(&format!("content-type `{ct}` for a stream")),
            );
        }
        self.read_stream(a, resp, classify).await
    }

    /// Read an SSE answer to its end marker, at most `limits.max_response_bytes` of it, feeding the stream timer.
    async fn read_stream(
        &self,
        mut a: Attempt,
        resp: Response,
        classify: fn(&sse::SseEvent) -> StreamItem,
    ) -> Attempt {
        let mut body = resp.into_body();
        let cap = self.limits.max_response_bytes;
        let event_cap = usize::try_from(cap).map_or(sse::DEFAULT_MAX_EVENT_BYTES, |c| {
            c.min(sse::DEFAULT_MAX_EVENT_BYTES)
        });
        let mut parser = SseParser::with_max_event_bytes(event_cap);
        let mut read = 0u64;
        let mut finished = false;
        'read: loop {
            let chunk = match body.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err((kind, e)) => return a.fail(kind, self.redact(&e)),
            };
            let now = Instant::now();
            read = read.saturating_add(chunk.len() as u64);
            if read > cap {
                return a.fail(ErrorKind::OversizeBody, format!("stream over {cap} bytes"));
            }
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
                    StreamItem::Malformed(msg) => {
                        return a.fail(ErrorKind::MalformedJson, self.redact(&msg))
                    }
                    StreamItem::Done => {
                        finished = true;
                        break 'read;
                    }
                }
            }
        }
        a.done = Instant::now();
        // Boxed: its timers would otherwise sit in every stream's task for the stream's whole life.
        Box::pin(body.finish()).await;
        if !finished {
            return a.fail(ErrorKind::StreamCut, "stream ended before its end marker");
        }
        a
    }

    /// Remove the API key from any text that might echo it (error bodies, transport errors).
    pub(crate) fn redact(&self, text: &str) -> String {
        match &self.key {
            Some(k) => k.redact(text),
            None => text.to_string(),
        }
    }
}

/// A JSON answer's body as a `Value`; not JSON is a `malformed_json` failure.
pub(super) fn parse_json(a: Attempt, body: &[u8]) -> (Attempt, Value) {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => (a, v),
        Err(e) => (
            a.fail(ErrorKind::MalformedJson, format!("body is not JSON: {e}")),
            Value::Null,
        ),
    }
}

/// `path` (which may carry its own `?query`) joined under `base`, as [`Endpoint::url`] says.
fn join(base: &reqwest::Url, path: &str, params: &[(&str, &str)]) -> reqwest::Url {
    let mut u = base.clone();
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    let joined = format!("{}{p}", u.path().trim_end_matches('/'));
    u.set_path(&joined);
    let query: Vec<&str> = [u.query().unwrap_or(""), q]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let query = query.join("&");
    u.set_query((!query.is_empty()).then_some(query.as_str()));
    u.set_fragment(None);
    if !params.is_empty() {
        let mut pairs = u.query_pairs_mut();
        for (k, v) in params {
            pairs.append_pair(k, v);
        }
    }
    u
}

fn content_type(resp: &Response) -> String {
    resp.header_str(&CONTENT_TYPE)
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The whole body, at most `cap` bytes: a larger one (by Content-Length or as it arrives) is `oversize_body` and is
/// never buffered past the cap. Used by the adapters and by `compat`.
pub(crate) async fn read_body(
    resp: impl Into<Response>,
    cap: u64,
) -> Result<Vec<u8>, (ErrorKind, String)> {
    let resp: Response = resp.into();
    if resp.content_length().is_some_and(|l| l > cap) {
        return Err((
            ErrorKind::OversizeBody,
            format!("content-length over {cap} bytes"),
        ));
    }
    let mut out = Vec::new();
    let mut body = resp.into_body();
    while let Some(c) = body.chunk().await? {
        if (out.len() + c.len()) as u64 > cap {
            return Err((ErrorKind::OversizeBody, format!("body over {cap} bytes")));
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
    // Generous: the detail is clipped to DETAIL_CHARS after redaction (see Endpoint::scrub).
    Some(msg.chars().take(4096).collect())
}

/// `HTTP 308 redirect to host:port (not followed)`: the Location's host only, so credentials, path and query in it
/// never reach an output. A relative Location names the request's own host (`base`'s, for our own client's answers,
/// which do not carry their URL: the same host).
fn redirect_detail(resp: &Response, base: &reqwest::Url) -> String {
    let status = resp.status();
    let url = match resp {
        Response::Reqwest(r) => r.url(),
        Response::Plain(..) => base,
    };
    let Some(loc) = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
    else {
        return format!("HTTP {status} redirect without a Location (not followed)");
    };
    match url.join(loc) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            match u.port_or_known_default() {
                Some(p) => format!("HTTP {status} redirect to {host}:{p} (not followed)"),
                None => format!("HTTP {status} redirect to {host} (not followed)"),
            }
        }
        Err(_) => format!("HTTP {status} redirect to an unparsable Location (not followed)"),
    }
}

/// Server wait hint (see [`super::retry_hint`] for the forms and their order); the tests' view of it.
#[cfg(test)]
fn retry_after(h: &HeaderMap, now: SystemTime) -> Option<Duration> {
    super::retry_hint::retry_hint(h, now).map(|(d, _)| d)
}

/// A URL's path and query: the request target of an HTTP/1 request to an origin server (RFC 9112, 3.2.1); None
/// when `http` does not take it as one (such a request goes through reqwest, whose error then says why).
fn origin_form(url: &reqwest::Url) -> Option<String> {
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    target
        .parse::<http::uri::PathAndQuery>()
        .is_ok()
        .then_some(target)
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

    fn endpoint(base: &str) -> Endpoint {
        let none = std::collections::BTreeMap::new();
        Endpoint::new(ProtocolKind::Openai, base, None, &none, None, None).unwrap()
    }

    #[test]
    fn urls_join_the_base_path_and_keep_its_query() {
        let e = endpoint("http://127.0.0.1:9/openai/?api-version=2024-02-01");
        assert_eq!(
            e.url("/v1/chat/completions", &[]).as_str(),
            "http://127.0.0.1:9/openai/v1/chat/completions?api-version=2024-02-01"
        );
        assert_eq!(
            e.url("/v3/chat", &[("conversation_id", "a&b=c#d")]).as_str(),
            "http://127.0.0.1:9/openai/v3/chat?api-version=2024-02-01&conversation_id=a%26b%3Dc%23d"
        );
        assert_eq!(
            e.url("/v3/chat?conversation_id=1", &[("chat_id", "2")])
                .as_str(),
            "http://127.0.0.1:9/openai/v3/chat?api-version=2024-02-01&conversation_id=1&chat_id=2"
        );
        let e = endpoint("http://[::1]:8080");
        assert_eq!(
            e.url("/v1/models", &[]).as_str(),
            "http://[::1]:8080/v1/models"
        );
    }

    #[test]
    fn absurd_hints_saturate_instead_of_panicking() {
        let now = SystemTime::UNIX_EPOCH;
        let mut h = HeaderMap::new();
        for huge in ["1e20", "1e30", "1e308", "inf", "+Infinity"] {
            h.insert("retry-after", HeaderValue::from_static(huge));
            assert_eq!(retry_after(&h, now), Some(Duration::MAX), "{huge}");
        }
        for bad in ["NaN", "-1", "-inf", "-1e30"] {
            h.insert("retry-after", HeaderValue::from_static(bad));
            assert_eq!(retry_after(&h, now), None, "{bad}");
        }
        h.remove("retry-after");
        h.insert("retry-after-ms", HeaderValue::from_static("1e30"));
        assert_eq!(retry_after(&h, now), Some(Duration::MAX));
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(1500)));
        // A bad ms hint falls back to retry-after.
        h.insert("retry-after-ms", HeaderValue::from_static("nan"));
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(3)));
        h.insert("retry-after", HeaderValue::from_static(" 0 "));
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
    }
}
