//! The raw loopback HTTP/1.1 server of the hostile suite and the replies it sends: anything, byte for byte.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Hard lifetime of every test server: it stops accepting and drops its connections after this.
const SERVER_LIFETIME: Duration = Duration::from_secs(240);

// ---------------------------------------------------------------------------------------------------------------
// Raw loopback server

/// One request as the test server read it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Request target: path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The key the client sent (`Authorization: Bearer <key>`), so echoing servers echo what they received.
    pub fn bearer(&self) -> String {
        self.header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("")
            .to_string()
    }

    pub fn wants_stream(&self) -> bool {
        self.json()
            .get("stream")
            .and_then(serde_json::Value::as_bool)
            == Some(true)
    }
}

/// What the server does with one request. Every reply closes the connection afterwards.
pub enum Reply {
    /// Write these bytes.
    Raw(Vec<u8>),
    /// Wait, then write these bytes.
    After(Duration, Vec<u8>),
    /// Write `head`, then `chunk` again and again until the client goes away or `max_bytes` were written.
    Endless {
        head: Vec<u8>,
        chunk: Vec<u8>,
        max_bytes: u64,
    },
    /// Close without answering.
    Close,
}

type Handler = dyn Fn(&Req, usize) -> Reply + Send + Sync;

/// A loopback HTTP/1.1 server on its own thread and runtime; stops on drop (or after [`SERVER_LIFETIME`]).
pub struct Server {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Req>>>,
    written: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serve on 127.0.0.1 with an ephemeral port. The handler gets each request and its index (0-based).
    pub fn start(handler: impl Fn(&Req, usize) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_on("127.0.0.1:0", handler).expect("bind 127.0.0.1")
    }

    pub fn start_on(
        addr: &str,
        handler: impl Fn(&Req, usize) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Server> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let written = Arc::new(AtomicU64::new(0));
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let handler: Arc<Handler> = Arc::new(handler);
        let (seen2, written2) = (seen.clone(), written.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
                let counter = Arc::new(AtomicUsize::new(0));
                let deadline = tokio::time::sleep(SERVER_LIFETIME);
                tokio::pin!(deadline);
                tokio::pin!(stop_rx);
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        _ = &mut deadline => break,
                        acc = listener.accept() => {
                            let Ok((sock, _)) = acc else { continue };
                            let (h, s, w, c) = (handler.clone(), seen2.clone(), written2.clone(), counter.clone());
                            tokio::spawn(async move {
                                let _ = tokio::time::timeout(SERVER_LIFETIME, serve_conn(sock, h, s, w, c)).await;
                            });
                        }
                    }
                }
            });
            rt.shutdown_background();
        });
        Ok(Server {
            addr,
            seen,
            written,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn base_url(&self) -> String {
        match self.addr {
            SocketAddr::V4(a) => format!("http://127.0.0.1:{}", a.port()),
            SocketAddr::V6(a) => format!("http://[::1]:{}", a.port()),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn requests(&self) -> Vec<Req> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Bytes of replies the server managed to write (for endless streams: how much the client read, plus socket
    /// buffers).
    pub fn bytes_written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve_conn(
    mut sock: tokio::net::TcpStream,
    handler: Arc<Handler>,
    seen: Arc<Mutex<Vec<Req>>>,
    written: Arc<AtomicU64>,
    counter: Arc<AtomicUsize>,
) {
    let Ok(Some(req)) =
        tokio::time::timeout(Duration::from_secs(30), read_request(&mut sock)).await
    else {
        return;
    };
    let idx = counter.fetch_add(1, Ordering::SeqCst);
    seen.lock().unwrap().push(req.clone());
    let reply = handler(&req, idx);
    match reply {
        Reply::Raw(b) => {
            if sock.write_all(&b).await.is_ok() {
                written.fetch_add(b.len() as u64, Ordering::Relaxed);
            }
        }
        Reply::After(d, b) => {
            tokio::time::sleep(d).await;
            if sock.write_all(&b).await.is_ok() {
                written.fetch_add(b.len() as u64, Ordering::Relaxed);
            }
        }
        Reply::Endless {
            head,
            chunk,
            max_bytes,
        } => {
            if sock.write_all(&head).await.is_err() {
                return;
            }
            let mut sent = head.len() as u64;
            while sent < max_bytes {
                if sock.write_all(&chunk).await.is_err() {
                    break;
                }
                sent += chunk.len() as u64;
                written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }
        Reply::Close => {}
    }
    let _ = sock.shutdown().await;
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Req> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
        .min(16 << 20);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Some(Req {
        method,
        target,
        headers,
        body,
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Replies

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A complete response with `content-length` and `connection: close`.
pub fn http(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut b = out.into_bytes();
    b.extend_from_slice(body);
    b
}

pub fn json(status: u16, v: &serde_json::Value) -> Vec<u8> {
    http(
        status,
        &[("content-type", "application/json")],
        v.to_string().as_bytes(),
    )
}

/// An OpenAI chat completion with this answer and usage.
pub fn openai_ok(text: &str, prompt_tokens: u64, completion_tokens: u64) -> Vec<u8> {
    json(
        200,
        &serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens.saturating_add(completion_tokens)}
        }),
    )
}

/// Head of a close-delimited SSE response (no length: the body ends when the server closes).
pub fn sse_head() -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
        .to_vec()
}

/// One OpenAI stream chunk carrying `text`.
pub fn openai_chunk(text: &str) -> String {
    format!(
        "data: {}\n\n",
        serde_json::json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m1",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
    )
}

/// A whole, well-formed OpenAI stream: a few content chunks, usage, `[DONE]`.
pub fn openai_stream(parts: &[&str], usage: (u64, u64)) -> Vec<u8> {
    let mut b = sse_head();
    for p in parts {
        b.extend_from_slice(openai_chunk(p).as_bytes());
    }
    b.extend_from_slice(
        format!(
            "data: {}\n\ndata: [DONE]\n\n",
            serde_json::json!({"choices": [], "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1}})
        )
        .as_bytes(),
    );
    b
}
