//! The hot path's transport. Chat requests to a plain-`http` target go through our own HTTP/1.1 client
//! (`super::h1`), on connections of our own pool (`super::pool`); everything else (https, the webhook sender's
//! per-request timeout, GETs, `compat`) through reqwest.
//!
//! Why not reqwest for all of it: a callgrind profile of a closed run against nginx (issue 12) put reqwest's own
//! layers at about a third of cutover's instructions per request: its `Pending` future and `execute_request`, a
//! tower redirect layer that re-parses the URL with `url::Url::parse` even under `Policy::none()`, and a second
//! re-parse of the URL when the answer arrives (~13,000 instructions of the two); hyper's connection task and
//! channels under it cost more again (see `super::h1`). This path leaves out what cutover does not use: no proxy, no
//! redirect following, no cookies, no decompression.
//!
//! What goes on the wire is what reqwest sent: the endpoint's headers, `content-type: application/json`,
//! `accept: */*` unless the request names one, `host` and `content-length`.

use bytes::Bytes;
use reqwest::header::HeaderMap;

use super::attempt::ErrorKind;
pub(crate) use super::pool::PlainClient;
pub(crate) use super::pool::SendError;
use super::pool::{Answer, PlainBody};

/// A request ready to send, through one client or the other.
// Built and sent at once, never stored: boxing the larger variant would only add an allocation per request.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Outgoing {
    Reqwest(reqwest::RequestBuilder),
    /// The request as it goes on the wire ([`PlainClient::request`]).
    Plain(PlainClient, Vec<u8>),
}

impl From<reqwest::RequestBuilder> for Outgoing {
    fn from(rb: reqwest::RequestBuilder) -> Self {
        Outgoing::Reqwest(rb)
    }
}

/// An answer whose status line and headers arrived, its body still to read.
pub(crate) enum Response {
    Reqwest(reqwest::Response),
    /// With the connection it came on, back to the pool when the body has been read to its end.
    Plain(Answer),
}

impl From<reqwest::Response> for Response {
    fn from(r: reqwest::Response) -> Self {
        Response::Reqwest(r)
    }
}

/// A request on its way: either client's own future, which holds the request in a box of its own, so this is a
/// few words wherever it waits (the first version boxed an async wrapper around the whole `Outgoing`: 1.5 KB more
/// per request in flight, for as long as a slow server kept the answer's head back).
pub(crate) enum SendFuture {
    /// reqwest does not name its future's type: boxed (a few words).
    Reqwest(
        std::pin::Pin<
            Box<dyn std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send>,
        >,
    ),
    /// Our pool's future, boxed: it holds the request and, on a new connection, the connect.
    Plain(std::pin::Pin<Box<dyn std::future::Future<Output = PlainResult> + Send>>),
}

type PlainResult = Result<Answer, SendError>;

impl Outgoing {
    /// The request's future: sent when first polled, ready at the answer's status line and headers.
    pub(crate) fn send(self) -> SendFuture {
        match self {
            Outgoing::Reqwest(rb) => SendFuture::Reqwest(Box::pin(rb.send())),
            Outgoing::Plain(client, req) => SendFuture::Plain(Box::pin(client.send(req))),
        }
    }
}

impl std::future::Future for SendFuture {
    type Output = Result<Response, SendError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        // Both are boxes, so Unpin.
        match self.get_mut() {
            SendFuture::Reqwest(p) => p.as_mut().poll(cx).map(|r| {
                r.map(Response::Reqwest).map_err(|e| {
                    let kind = send_kind(e.is_timeout(), e.is_connect());
                    (kind, e.to_string())
                })
            }),
            SendFuture::Plain(f) => f.as_mut().poll(cx).map(|r| r.map(Response::Plain)),
        }
    }
}

impl Response {
    pub(crate) fn status(&self) -> u16 {
        match self {
            Response::Reqwest(r) => r.status().as_u16(),
            Response::Plain(a) => a.head.status.as_u16(),
        }
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        match self {
            Response::Reqwest(r) => r.headers(),
            Response::Plain(a) => a.head.headers.map(),
        }
    }

    /// The first `name` field as text (None: absent, or not visible ASCII), without building our client's map.
    pub(crate) fn header_str(&self, name: &http::HeaderName) -> Option<&str> {
        match self {
            Response::Reqwest(r) => r.headers().get(name).and_then(|v| v.to_str().ok()),
            Response::Plain(a) => a.head.headers.get_str(name.as_str()),
        }
    }

    /// The body's length when the answer declares it.
    pub(crate) fn content_length(&self) -> Option<u64> {
        match self {
            Response::Reqwest(r) => r.content_length(),
            Response::Plain(a) => a.head.content_length(),
        }
    }

    /// The body alone: the status line and headers are let go (their bytes share the allocation of the buffer the
    /// head was read into, which a stream would otherwise keep for its whole life).
    pub(crate) fn into_body(self) -> Body {
        match self {
            Response::Reqwest(r) => Body::Reqwest(Box::pin(r.bytes_stream())),
            Response::Plain(a) => Body::Plain(a.into_body()),
        }
    }
}

/// An answer's body, read as it arrives.
pub(crate) enum Body {
    /// reqwest does not name its stream's type: boxed.
    Reqwest(std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Bytes>> + Send>>),
    /// Its connection goes back to the pool at the body's end.
    Plain(PlainBody),
}

impl Body {
    /// The next piece of the body as it arrives; None at its end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, SendError> {
        use futures_util::StreamExt as _;
        match self {
            Body::Reqwest(s) => s.next().await.transpose().map_err(|e| {
                let kind = match e.is_timeout() {
                    true => ErrorKind::Timeout,
                    false => ErrorKind::BodyInterrupted,
                };
                (kind, e.to_string())
            }),
            Body::Plain(b) => b.chunk().await,
        }
    }
}

/// At most this much of a body is read after its reader stopped (see [`Body::finish`]), and for at most this long;
/// the first [`SETTLE`] of it before the reader goes on.
const DRAIN_BYTES: usize = 64 * 1024;
const DRAIN_FOR: std::time::Duration = std::time::Duration::from_secs(1);
const SETTLE: std::time::Duration = std::time::Duration::from_millis(10);

impl Body {
    /// The reader has what it needs (an SSE stream's end marker) before the body's end. A connection of our pool
    /// goes back to it once the body has ended. A server sends the end of its chunked body right after the marker:
    /// waiting [`SETTLE`] for it here lets the conversation's next request find the connection in the pool; a body
    /// that takes longer is read in the background (at most [`DRAIN_BYTES`] for [`DRAIN_FOR`]; one that goes on
    /// closes its connection, as dropping it would). The caller took its timings before.
    pub(crate) async fn finish(self) {
        if !matches!(&self, Body::Plain(b) if b.pending()) {
            return;
        }
        let mut drain = Box::pin(tokio::time::timeout(DRAIN_FOR, self.drain()));
        if tokio::time::timeout(SETTLE, drain.as_mut()).await.is_err() {
            tokio::spawn(drain);
        }
    }

    /// Read the rest (at most [`DRAIN_BYTES`]); [`Body::chunk`] gives the connection back at the end.
    async fn drain(mut self) {
        let mut left = DRAIN_BYTES;
        while let Ok(Some(d)) = self.chunk().await {
            if d.len() > left {
                return;
            }
            left -= d.len();
        }
    }
}

/// What kind of failure a request that got no answer is, either client.
fn send_kind(timed_out: bool, connect: bool) -> ErrorKind {
    if timed_out {
        ErrorKind::Timeout
    } else if connect {
        ErrorKind::Connect
    } else {
        ErrorKind::NoResponse
    }
}
