//! Keep-alive HTTP/1.1 connections to one plain-`http` origin, each carrying one request at a time through our own
//! HTTP/1.1 client (`super::h1`; issue 12).
//!
//! A request takes the most recently used idle connection, or opens one; the connection goes back to the pool when
//! the answer's body has been read to its end and the answer allows it (an answer dropped before that closes it, as
//! HTTP/1 has no other way to abandon a response). An idle connection the server closed or wrote to is let go at
//! checkout, seen from the reactor's readiness without a system call; a request whose write fails on a reused
//! connection goes on another one (nothing of it reached the server's application).
//!
//! What goes on the wire is what reqwest and hyper send: the request in origin form, `Host` from the URL (the port
//! only when it is not 80), `content-length`, no other header added.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;

use super::attempt::ErrorKind;
pub(crate) use super::h1::SendError;
use super::h1::{io_failure, BodyReader, Conn, Head};

/// Connections kept idle at most, and for how long: reqwest's settings, which this client had before.
const MAX_IDLE: usize = 1024;
const IDLE_FOR: Duration = Duration::from_secs(30);
/// A connect that takes longer fails (the request timeout around every attempt ends a sooner one).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
    conn: Conn,
    since: Instant,
}

impl Pool {
    fn put(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() >= MAX_IDLE {
            idle.pop_front();
        }
        idle.push_back(Idle {
            conn,
            since: Instant::now(),
        });
    }
}

/// An answer whose head arrived, with the connection its body comes on.
pub(crate) struct Answer {
    pub(crate) head: Head,
    body: BodyReader,
    pool: Arc<Pool>,
}

impl Answer {
    /// The body alone; the head is let go (its field values share the allocation the head was read into).
    pub(crate) fn into_body(self) -> PlainBody {
        PlainBody {
            reader: Some(self.body),
            pool: self.pool,
        }
    }
}

/// An answer's body; its connection goes back to the pool at the body's end.
pub(crate) struct PlainBody {
    /// None once the body has ended.
    reader: Option<BodyReader>,
    pool: Arc<Pool>,
}

impl PlainBody {
    /// The next piece of the body as it arrives; None at its end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, SendError> {
        let Some(r) = &mut self.reader else {
            return Ok(None);
        };
        if let Some(d) = r.chunk().await? {
            return Ok(Some(d));
        }
        if let Some(conn) = self.reader.take().and_then(BodyReader::reusable) {
            self.pool.put(conn);
        }
        Ok(None)
    }

    /// The body's end has not been reached yet.
    pub(crate) fn pending(&self) -> bool {
        self.reader.is_some()
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

    /// A POST of the JSON `body` to `target` (origin form) as it goes on the wire, with `headers` and `accept`, and
    /// this origin's `Host` unless `headers` name one.
    pub(crate) fn request(
        &self,
        target: &str,
        headers: &http::HeaderMap,
        accept: &str,
        body: &[u8],
    ) -> Vec<u8> {
        super::h1::encode_post(target, headers, accept, &self.0.host, body)
    }

    /// Send a request made by [`PlainClient::request`]; ready at the answer's status line and headers.
    pub(crate) async fn send(self, wire: Vec<u8>) -> Result<Answer, SendError> {
        while let Some(mut conn) = self.checkout() {
            // A write that fails put nothing before the server's application: another connection takes it.
            if conn.write(&wire).await.is_ok() {
                return self.answer(conn).await;
            }
        }
        // Boxed: a connect's state is far larger than the rest, and this future lives until the answer's head.
        let mut conn = Box::pin(self.connect()).await?;
        conn.write(&wire)
            .await
            .map_err(|e| io_failure(ErrorKind::NoResponse, "writing the request", &e))?;
        self.answer(conn).await
    }

    async fn answer(&self, mut conn: Conn) -> Result<Answer, SendError> {
        let head = conn.read_head().await?;
        let body = BodyReader::new(conn, &head);
        Ok(Answer {
            head,
            body,
            pool: self.0.clone(),
        })
    }

    /// The most recently used idle connection still open and not idle too long.
    fn checkout(&self) -> Option<Conn> {
        let mut idle = self.0.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut c) = idle.pop_back() {
            if c.since.elapsed() < IDLE_FOR && c.conn.is_open() {
                return Some(c.conn);
            }
        }
        None
    }

    /// A new connection: TCP with `TCP_NODELAY`.
    async fn connect(&self) -> Result<Conn, SendError> {
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
        .map_err(|e| io_failure(ErrorKind::Connect, "tcp connect error", &e))?;
        // As hyper_util's connector: a failure to set it is not a reason to fail the request.
        let _ = stream.set_nodelay(true);
        Ok(Conn::new(stream))
    }
}
