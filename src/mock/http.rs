//! Protocol-neutral HTTP pieces shared by every mock route: whole responses, bounded body reads, query parameters,
//! and the per-connection control a handler uses to end its connection with a TCP RST. A leaf: it depends on nothing
//! else in `mock/`.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use hyper::body::Incoming;
use tokio::sync::Notify;

/// Largest request body read (larger -> 400).
pub(crate) const MAX_REQUEST_BODY: usize = 4 << 20;

/// Per-connection control shared with the handlers of that connection.
#[derive(Default)]
pub(crate) struct ConnCtl {
    reset: AtomicBool,
    notify: Notify,
}

impl ConnCtl {
    /// End this connection with a TCP RST as soon as the connection task sees it.
    pub(crate) fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Whether a handler asked for a reset.
    pub(crate) fn is_reset(&self) -> bool {
        self.reset.load(Ordering::SeqCst)
    }

    /// Resolves when a handler asks for a reset (check [`ConnCtl::is_reset`] after it).
    pub(crate) async fn notified(&self) {
        self.notify.notified().await
    }
}

/// A complete response with a fixed body.
pub(crate) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response<Body> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let len = body.len();
    with_len(respond(status, "application/json", body), len)
}

pub(crate) fn with_len(mut r: Response<Body>, len: usize) -> Response<Body> {
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

pub(crate) fn sse_response(body: Body) -> Response<Body> {
    let mut r = respond(StatusCode::OK, "text/event-stream; charset=utf-8", body);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// Read the whole request body, bounded.
pub(crate) async fn read_body(body: Incoming) -> Result<bytes::Bytes, String> {
    axum::body::to_bytes(Body::new(body), MAX_REQUEST_BODY)
        .await
        .map_err(|e| {
            format!("could not read the request body (at most {MAX_REQUEST_BODY} bytes): {e}")
        })
}

/// `key`'s value in a query string (no percent-decoding: the ids are digits).
pub(crate) fn query_param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The OpenAI error body `{"error":{"message","type","param","code"}}`.
pub(crate) fn openai_error(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response<Body> {
    #[derive(serde::Serialize)]
    struct Inner<'a> {
        message: &'a str,
        #[serde(rename = "type")]
        kind: &'a str,
        param: Option<&'a str>,
        code: Option<&'a str>,
    }
    #[derive(serde::Serialize)]
    struct Outer<'a> {
        error: Inner<'a>,
    }
    let body = serde_json::to_vec(&Outer {
        error: Inner {
            message,
            kind,
            param,
            code,
        },
    })
    .unwrap_or_default();
    json(status, body)
}

/// The Coze envelope error `{"code":N,"msg":".."}` with an HTTP status.
pub(crate) fn envelope_error(status: StatusCode, code: i64, msg: &str) -> Response<Body> {
    #[derive(serde::Serialize)]
    struct E<'a> {
        code: i64,
        msg: &'a str,
    }
    json(
        status,
        serde_json::to_vec(&E { code, msg }).unwrap_or_default(),
    )
}

/// The model id of `/v1/models/{id}` (ids may hold slashes, e.g. `openai/gpt-4.1`).
pub(crate) fn model_path(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/models/").filter(|m| !m.is_empty())
}
