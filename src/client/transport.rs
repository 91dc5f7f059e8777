//! The hot path's transport. Chat requests to a plain-`http` target go through hyper's pooled HTTP/1 client
//! directly; everything else (https, the webhook sender's per-request timeout, GETs, `compat`) through reqwest.
//!
//! Why not reqwest for all of it: a callgrind profile of a closed run against nginx (issue 12) put reqwest's own
//! layers at about a third of cutover's instructions per request: its `Pending` future and `execute_request`, a
//! tower redirect layer that re-parses the URL with `url::Url::parse` even under `Policy::none()`, and a second
//! re-parse of the URL when the answer arrives (~13,000 instructions of the two). hyper's client underneath is the
//! same one reqwest drives (same pool, same HTTP/1 codec); this module only leaves out the layers cutover does not
//! use: no proxy, no redirect following, no cookies, no decompression.
//!
//! What goes on the wire is what reqwest sent: the endpoint's headers, `content-type: application/json`,
//! `accept: */*` unless the request names one, `host` and `content-length`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use reqwest::header::HeaderMap;

use super::attempt::ErrorKind;

/// hyper's pooled client for plain-`http` targets, one per endpoint (clones share the pool).
pub(crate) type PlainClient = Client<HttpConnector, Full<Bytes>>;

/// The settings of the reqwest client (`http_client`), for plain `http`: keep-alive pool of up to 1,024 idle connections
/// kept 30 s, `TCP_NODELAY`, a 10 s connect timeout (the request timeout around every attempt ends a sooner one).
pub(crate) fn plain_client() -> PlainClient {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    c.set_connect_timeout(Some(Duration::from_secs(10)));
    c.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1024)
        .build(c)
}

/// A request ready to send, through one client or the other.
// Built and sent at once, never stored: boxing the larger variant would only add an allocation per request.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Outgoing {
    Reqwest(reqwest::RequestBuilder),
    Plain(PlainClient, http::Request<Full<Bytes>>),
}

impl From<reqwest::RequestBuilder> for Outgoing {
    fn from(rb: reqwest::RequestBuilder) -> Self {
        Outgoing::Reqwest(rb)
    }
}

/// An answer whose status line and headers arrived, its body still to read.
pub(crate) enum Response {
    Reqwest(reqwest::Response),
    Plain(http::Response<hyper::body::Incoming>),
}

impl From<reqwest::Response> for Response {
    fn from(r: reqwest::Response) -> Self {
        Response::Reqwest(r)
    }
}

/// Why a request got no answer: its kind and a message (not yet redacted).
pub(crate) type SendError = (ErrorKind, String);

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
    Plain(hyper_util::client::legacy::ResponseFuture),
}

impl Outgoing {
    /// The request's future: sent when first polled, ready at the answer's status line and headers.
    pub(crate) fn send(self) -> SendFuture {
        match self {
            Outgoing::Reqwest(rb) => SendFuture::Reqwest(Box::pin(rb.send())),
            Outgoing::Plain(client, req) => SendFuture::Plain(client.request(req)),
        }
    }
}

impl std::future::Future for SendFuture {
    type Output = Result<Response, SendError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        // Both are Unpin: a box, and hyper_util's future (which boxes its state).
        match self.get_mut() {
            SendFuture::Reqwest(p) => p.as_mut().poll(cx).map(|r| {
                r.map(Response::Reqwest).map_err(|e| {
                    let kind = send_kind(e.is_timeout(), e.is_connect());
                    (kind, e.to_string())
                })
            }),
            SendFuture::Plain(f) => std::pin::Pin::new(f).poll(cx).map(|r| {
                r.map(Response::Plain).map_err(|e| {
                    let kind = send_kind(timed_out(&e), e.is_connect());
                    (kind, chain(&e))
                })
            }),
        }
    }
}

impl Response {
    pub(crate) fn status(&self) -> u16 {
        match self {
            Response::Reqwest(r) => r.status().as_u16(),
            Response::Plain(r) => r.status().as_u16(),
        }
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        match self {
            Response::Reqwest(r) => r.headers(),
            Response::Plain(r) => r.headers(),
        }
    }

    /// The body's length when the answer declares it.
    pub(crate) fn content_length(&self) -> Option<u64> {
        match self {
            Response::Reqwest(r) => r.content_length(),
            Response::Plain(r) => hyper::body::Body::size_hint(r.body()).exact(),
        }
    }

    /// The body alone: the status line and headers are let go (their bytes share the allocation of the buffer the
    /// head was read into, which a stream would otherwise keep for its whole life).
    pub(crate) fn into_body(self) -> Body {
        match self {
            Response::Reqwest(r) => Body::Reqwest(Box::pin(r.bytes_stream())),
            Response::Plain(r) => Body::Plain(r.into_body()),
        }
    }
}

/// An answer's body, read as it arrives.
pub(crate) enum Body {
    /// reqwest does not name its stream's type: boxed.
    Reqwest(std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Bytes>> + Send>>),
    Plain(hyper::body::Incoming),
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
            Body::Plain(b) => loop {
                match b.frame().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err((ErrorKind::BodyInterrupted, chain(&e))),
                    // Trailers carry no body bytes.
                    Some(Ok(f)) => match f.into_data() {
                        Ok(d) if !d.is_empty() => return Ok(Some(d)),
                        _ => continue,
                    },
                }
            },
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

/// An error and its causes, `outer: inner: ...` (hyper's own message names only the outermost, e.g. `client error
/// (Connect)`).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A connect that ran out of time (an I/O `TimedOut` anywhere in the causes).
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cur = c.source();
    }
    false
}
