//! Accept loop and per-connection task: hyper http1 serves each connection, and a handler can ask its connection to
//! end with a TCP RST (SO_LINGER 0, then close) through [`ConnCtl`]; routing to the protocol handlers.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::http::{envelope_error, openai_error, ConnCtl};
use super::{coze, openai, webhook, MockError, Outcome, Route, Shared};
use crate::config::scenario::ProtocolKind;

/// The TCP stream, which turns its close into a reset when asked to.
struct ConnIo {
    inner: TcpStream,
    ctl: Arc<ConnCtl>,
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.ctl.is_reset() {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Counts the accept loop and the connection tasks, so a shutdown can wait until they are all gone.
#[derive(Clone, Default)]
pub(crate) struct Tracker(Arc<TrackerInner>);

#[derive(Default)]
pub(crate) struct TrackerInner {
    active: AtomicUsize,
    idle: Notify,
}

/// Held by a tracked task; dropping it signals when the last one ends.
pub(crate) struct TrackGuard(Arc<TrackerInner>);

impl Tracker {
    pub(crate) fn enter(&self) -> TrackGuard {
        self.0.active.fetch_add(1, Ordering::SeqCst);
        TrackGuard(self.0.clone())
    }

    /// Resolves once no tracked task is left.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.0.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.0.active.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for TrackGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

pub(crate) fn bind(addr: SocketAddr) -> Result<TcpListener, MockError> {
    let e = |source| MockError::Bind { addr, source };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(e)?;
    // Lets a restarted mock reuse a port in TIME_WAIT; a port with a live listener still fails (EADDRINUSE).
    socket.set_reuseaddr(true).map_err(e)?;
    socket.bind(addr).map_err(e)?;
    socket.listen(4096).map_err(e)
}

pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    graceful: CancellationToken,
    hard: CancellationToken,
    tracker: Tracker,
    _guard: TrackGuard,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = graceful.cancelled() => break,
        };
        match accepted {
            Ok((stream, _peer)) => {
                shared.counters.connection();
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(
                    stream,
                    shared.clone(),
                    graceful.clone(),
                    hard.clone(),
                    tracker.enter(),
                ));
            }
            // Out of file descriptors and the like: back off a little instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    graceful: CancellationToken,
    hard: CancellationToken,
    _guard: TrackGuard,
) {
    let ctl = Arc::new(ConnCtl::default());
    let io = TokioIo::new(ConnIo {
        inner: stream,
        ctl: ctl.clone(),
    });
    let svc_ctl = ctl.clone();
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        let ctl = svc_ctl.clone();
        async move { Ok::<_, Infallible>(dispatch(shared, ctl, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, svc);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            biased;
            _ = ctl.notified() => {
                if ctl.is_reset() {
                    break;
                }
            }
            _ = hard.cancelled() => break,
            _ = graceful.cancelled(), if !draining => {
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
            _ = conn.as_mut() => break,
        }
    }
    // Dropping `conn` drops the ConnIo: a plain close, or an RST when a handler asked for one.
}

async fn dispatch(
    shared: Arc<Shared>,
    ctl: Arc<ConnCtl>,
    req: Request<Incoming>,
) -> Response<Body> {
    let route = route_of(shared.protocol, req.method(), req.uri().path());
    shared.counters.route(route);
    let mut resp = match route {
        Route::ChatCompletions => openai::chat_completions(&shared, &ctl, req).await,
        Route::Models => openai::models(&shared, &req),
        Route::ModelRetrieve => openai::model(&shared, &req),
        Route::Webhook => webhook::handle(&shared, req).await,
        Route::ConversationCreate
        | Route::Chat
        | Route::ChatRetrieve
        | Route::ChatMessages
        | Route::ConversationMessages
        | Route::ChatCancel => coze::handle(&shared, &ctl, route, req).await,
        Route::Unknown => {
            shared.counters.outcome(Outcome::NotFound);
            match shared.protocol {
                ProtocolKind::Openai | ProtocolKind::Webhook => openai_error(
                    StatusCode::NOT_FOUND,
                    &format!("Invalid URL ({} {})", req.method(), req.uri().path()),
                    "invalid_request_error",
                    None,
                    None,
                ),
                ProtocolKind::Coze => envelope_error(
                    StatusCode::NOT_FOUND,
                    4004,
                    &format!("no route for {} {}", req.method(), req.uri().path()),
                ),
            }
        }
    };
    if !shared.profile.shape_variants.is_empty() {
        resp = super::variants::apply(&shared.profile.shape_variants, resp).await;
    }
    // Every response carries the protocol's request id: Coze `x-tt-logid`, OpenAI `x-request-id` (the SDKs read
    // them into the response's request id).
    let n = shared.logid_no.fetch_add(1, Ordering::Relaxed);
    let (name, value) = match shared.protocol {
        ProtocolKind::Coze => ("x-tt-logid", format!("{}{n:016X}", super::text::unix_now())),
        ProtocolKind::Openai | ProtocolKind::Webhook => (
            "x-request-id",
            format!("req_mock{:016x}{n:08x}", shared.seed),
        ),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(name, v);
    }
    resp
}

fn route_of(protocol: ProtocolKind, method: &Method, path: &str) -> Route {
    let path = path.strip_suffix('/').unwrap_or(path);
    let get_or_post = method == Method::GET || method == Method::POST;
    match (protocol, path) {
        (ProtocolKind::Openai, "/v1/chat/completions") if method == Method::POST => {
            Route::ChatCompletions
        }
        (ProtocolKind::Openai, "/v1/models") if method == Method::GET => Route::Models,
        (ProtocolKind::Openai, p)
            if method == Method::GET && super::http::model_path(p).is_some() =>
        {
            Route::ModelRetrieve
        }
        (ProtocolKind::Coze, "/v1/conversation/create") if method == Method::POST => {
            Route::ConversationCreate
        }
        (ProtocolKind::Coze, "/v3/chat") if method == Method::POST => Route::Chat,
        (ProtocolKind::Coze, "/v3/chat/cancel") if method == Method::POST => Route::ChatCancel,
        // The docs say GET; the official SDKs poll with POST: a faithful server takes both.
        (ProtocolKind::Coze, "/v3/chat/retrieve") if get_or_post => Route::ChatRetrieve,
        (ProtocolKind::Coze, "/v3/chat/message/list") if get_or_post => Route::ChatMessages,
        (ProtocolKind::Coze, "/v1/conversation/message/list") if get_or_post => {
            Route::ConversationMessages
        }
        // The webhook handler checks the path against the profile's `webhook.path`.
        (ProtocolKind::Webhook, _) if method == Method::POST => Route::Webhook,
        _ => Route::Unknown,
    }
}
