//! Keep-alive HTTP/1 connections to one plain-`http` origin, on hyper's connection-level client (issue 12).
//!
//! hyper_util's pooled client, which this replaces on the hot path, spent about 11,000 instructions a request of its
//! own (callgrind, 2,000 requests against nginx): a race between the pool checkout and a new connect set up for every
//! request, the `Host` header formatted again each time, and a task spawned per request only to hand the connection
//! back once it is ready again. Here a request takes the most recently used idle connection, or opens one; the
//! connection goes back to the pool when the answer's body has been read to its end (an answer dropped before that
//! closes it, as HTTP/1 has no other way to abandon a response).
//!
//! What goes on the wire is what hyper_util's client sent: the request in origin form, `Host` from the URL (the port
//! only when it is not 80), no other header added. A request that found its reused connection closing before it was
//! written goes on another connection, as hyper_util's `retry_canceled_requests` does.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HOST;
use http::HeaderValue;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use super::attempt::ErrorKind;

/// Connections kept idle at most, and for how long: reqwest's settings, which this client had before.
const MAX_IDLE: usize = 1024;
const IDLE_FOR: Duration = Duration::from_secs(30);
/// A connect that takes longer fails (the request timeout around every attempt ends a sooner one).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request got no answer: its kind and a message (not yet redacted).
pub(crate) type SendError = (ErrorKind, String);

/// The pool of one endpoint (clones share it).
#[derive(Clone)]
pub(crate) struct PlainClient(Arc<Pool>);

impl std::fmt::Debug for PlainClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainClient")
            .field("host", &self.0.host)
            .finish()
    }
}

struct Pool {
    /// What to connect to: a literal address, or a name to resolve at each connect (as hyper_util's connector does).
    origin: Origin,
    host: HeaderValue,
    idle: Mutex<VecDeque<Idle>>,
}

enum Origin {
    Addr(SocketAddr),
    Name(String, u16),
}

struct Idle {
    tx: SendRequest<Full<Bytes>>,
    since: Instant,
}

/// A connection lent to one request until its answer's body has been read to the end.
pub(crate) struct Lease {
    pool: Arc<Pool>,
    tx: SendRequest<Full<Bytes>>,
}

impl Lease {
    /// The answer was read to its end: the connection can carry the next request.
    pub(crate) fn release(self) {
        if self.tx.is_closed() {
            return;
        }
        let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() >= MAX_IDLE {
            idle.pop_front();
        }
        idle.push_back(Idle {
            tx: self.tx,
            since: Instant::now(),
        });
    }
}

impl PlainClient {
    /// The pool for `url`'s origin; None when the URL has no host (the caller then uses reqwest, whose error says so).
    pub(crate) fn new(url: &reqwest::Url) -> Option<PlainClient> {
        let port = url.port_or_known_default()?;
        let name = url.host_str()?;
        // An IPv6 literal comes bracketed, as the `Host` header wants it.
        let literal = name.trim_start_matches('[').trim_end_matches(']');
        let origin = match literal.parse::<std::net::IpAddr>() {
            Ok(ip) => Origin::Addr((ip, port).into()),
            Err(_) => Origin::Name(name.to_string(), port),
        };
        let host = name.to_string();
        let host = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        Some(PlainClient(Arc::new(Pool {
            origin,
            host: HeaderValue::from_str(&host).ok()?,
            idle: Mutex::new(VecDeque::new()),
        })))
    }

    /// Send `req`, whose URI its caller gives in origin form (`Endpoint::post`), with the pool's `Host` unless it has
    /// one; ready at the answer's status line and headers.
    pub(crate) async fn send(
        self,
        mut req: http::Request<Full<Bytes>>,
    ) -> Result<(http::Response<Incoming>, Lease), SendError> {
        if !req.headers().contains_key(HOST) {
            req.headers_mut().insert(HOST, self.0.host.clone());
        }
        while let Some(mut tx) = self.checkout() {
            // It went back to the pool when its last answer ended; its connection task may not have run since.
            if tx.ready().await.is_err() {
                continue;
            }
            match tx.try_send_request(req).await {
                Ok(resp) => return Ok((resp, self.lease(tx))),
                Err(mut e) => match e.take_message() {
                    // Never written: the connection was closing. Another one takes it.
                    Some(r) => req = r,
                    None => return Err(answer_error(e.into_error())),
                },
            }
        }
        // Boxed: a connect's state is far larger than the rest, and this future lives until the answer's head.
        let mut tx = Box::pin(self.connect()).await?;
        match tx.try_send_request(req).await {
            Ok(resp) => Ok((resp, self.lease(tx))),
            Err(e) => Err(answer_error(e.into_error())),
        }
    }

    fn lease(&self, tx: SendRequest<Full<Bytes>>) -> Lease {
        Lease {
            pool: self.0.clone(),
            tx,
        }
    }

    /// The most recently used idle connection still open and not idle too long.
    fn checkout(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.0.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(c) = idle.pop_back() {
            if !c.tx.is_closed() && c.since.elapsed() < IDLE_FOR {
                return Some(c.tx);
            }
        }
        None
    }

    /// A new connection: TCP with `TCP_NODELAY`, HTTP/1's handshake, and its task on the current runtime.
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, SendError> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, async {
            match &self.0.origin {
                Origin::Addr(a) => tokio::net::TcpStream::connect(a).await,
                Origin::Name(n, p) => tokio::net::TcpStream::connect((n.as_str(), *p)).await,
            }
        })
        .await
        .map_err(|_| {
            let secs = CONNECT_TIMEOUT.as_secs();
            (
                ErrorKind::Timeout,
                format!("tcp connect error: no connection within {secs} s"),
            )
        })?
        .map_err(|e| {
            let kind = match e.kind() {
                std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
                _ => ErrorKind::Connect,
            };
            (kind, format!("tcp connect error: {e}"))
        })?;
        // As hyper_util's connector: a failure to set it is not a reason to fail the request.
        let _ = stream.set_nodelay(true);
        let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| (ErrorKind::Connect, chain(&e)))?;
        // Ends when the connection closes (its error is the request's, reported there).
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(tx)
    }
}

/// A request that was written (or may have been) but got no answer.
fn answer_error(e: hyper::Error) -> SendError {
    let kind = match timed_out(&e) {
        true => ErrorKind::Timeout,
        false => ErrorKind::NoResponse,
    };
    (kind, chain(&e))
}

/// An error and its causes, `outer: inner: ...` (hyper's own message names only the outermost, e.g. `client error
/// (Connect)`).
pub(super) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// An error that is a time-out (an I/O `TimedOut` anywhere in the causes).
pub(super) fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
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
