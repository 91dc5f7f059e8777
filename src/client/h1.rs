//! HTTP/1.1 on one connection, the client's side (RFC 9112): a request written in one piece, the answer's head
//! parsed with `httparse` (the parser hyper uses), and its body framed by `Content-Length`, chunked coding or the
//! connection's end. Only what the hot path sends is here: requests with a body of known length, no `Expect`, no
//! upgrade, no pipelining (one request at a time on a connection).
//!
//! Why not hyper's client connection (which this replaced on the plain-http hot path, issue 12): it runs every
//! connection as a task of its own behind a channel, so a request is two tasks, a channel hand-off each way and
//! three fixed buffers per connection (an 8 KiB read buffer, an 8 KiB request-head buffer and a 32-slot channel
//! block, ~17.7 KB of heap per open stream before any of ours, bench/RESULTS.md). Here the conversation's own task
//! writes and reads its connection, whose only state is the socket and one read buffer.
//!
//! The limits are hyper's defaults: at most [`MAX_HEADERS`] header fields and [`MAX_HEAD`] bytes of head; chunk
//! extensions and trailers are read and let go, within [`MAX_SKIPPED`] bytes per message.

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::attempt::ErrorKind;

/// Header fields of an answer's head at most (hyper's default).
const MAX_HEADERS: usize = 100;
/// Bytes of an answer's head at most (hyper's default buffer limit, 8 KiB + 100 x 4 KiB).
pub(super) const MAX_HEAD: usize = 8192 + 4096 * 100;
/// Bytes of chunk extensions and trailers read and let go, at most, per message.
const MAX_SKIPPED: usize = 16 * 1024;
/// A read asks for at least this much room.
const READ_ROOM: usize = 4096;

/// Why a request got no (whole) answer: its kind and a message (not yet redacted).
pub(crate) type SendError = (ErrorKind, String);

/// One connection, idle between answers.
pub(crate) struct Conn {
    io: TcpStream,
    /// Bytes read and not yet taken.
    buf: BytesMut,
}

/// An answer's status line and headers, and how its body is framed.
pub(crate) struct Head {
    pub(crate) status: http::StatusCode,
    pub(crate) headers: Fields,
    framing: Framing,
    /// The connection may carry another request once this body has ended.
    keep_alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body (204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Until the server closes the connection.
    Close,
}

impl Head {
    /// The body's length when the head declares it.
    pub(crate) fn content_length(&self) -> Option<u64> {
        match self.framing {
            Framing::Empty => Some(0),
            Framing::Length(n) => Some(n),
            Framing::Chunked | Framing::Close => None,
        }
    }
}

impl Conn {
    pub(crate) fn new(io: TcpStream) -> Conn {
        Conn {
            io,
            buf: BytesMut::new(),
        }
    }

    /// Still fit for a request: the server has neither closed it nor sent anything since the last answer (checked
    /// without a system call unless the reactor has seen the socket readable).
    pub(crate) fn is_open(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Write a whole request; an error means the connection is unusable (nothing of an answer was read).
    pub(crate) async fn write(&mut self, wire: &[u8]) -> std::io::Result<()> {
        self.io.write_all(wire).await
    }

    /// Read what has arrived (waiting for something); false at the connection's end.
    async fn fill(&mut self) -> std::io::Result<bool> {
        if self.buf.capacity() - self.buf.len() < READ_ROOM {
            self.buf.reserve(READ_ROOM);
        }
        Ok(self.io.read_buf(&mut self.buf).await? > 0)
    }

    /// The answer's head, informational (1xx) answers skipped.
    pub(crate) async fn read_head(&mut self) -> Result<Head, SendError> {
        loop {
            if !self.buf.is_empty() {
                if let Some(head) = parse_head(&mut self.buf)? {
                    return Ok(head);
                }
                if self.buf.len() >= MAX_HEAD {
                    return Err(no_answer(format!(
                        "the answer's head is over {MAX_HEAD} bytes"
                    )));
                }
            }
            match self.fill().await {
                Ok(true) => {}
                Ok(false) if self.buf.is_empty() => {
                    return Err(no_answer("connection closed before an answer".into()))
                }
                Ok(false) => {
                    return Err(no_answer(
                        "connection closed in the middle of the answer's head".into(),
                    ))
                }
                Err(e) => return Err(io_failure(ErrorKind::NoResponse, "reading the answer", &e)),
            }
        }
    }
}

fn no_answer(msg: String) -> SendError {
    (ErrorKind::NoResponse, msg)
}

/// An I/O error as a failure of `kind` (a time-out is a time-out whatever the step).
pub(crate) fn io_failure(kind: ErrorKind, doing: &str, e: &std::io::Error) -> SendError {
    let kind = match e.kind() {
        std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
        _ => kind,
    };
    (kind, format!("{doing}: {e}"))
}

/// A POST of a JSON `body` on the wire: `POST target HTTP/1.1`, the endpoint's headers in their order, then
/// `content-type: application/json`, `accept`, `host` (unless the endpoint names one) and `content-length`, then the
/// body. The endpoint's own `content-type`, `accept` and `content-length`, if any, give way to these.
pub(crate) fn encode_post(
    target: &str,
    headers: &HeaderMap,
    accept: &str,
    host: &HeaderValue,
    body: &[u8],
) -> Vec<u8> {
    use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HOST};
    let mut w = Vec::with_capacity(256 + body.len());
    w.extend_from_slice(b"POST ");
    w.extend_from_slice(target.as_bytes());
    w.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if name != CONTENT_TYPE && name != ACCEPT && name != CONTENT_LENGTH {
            field(&mut w, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    field(&mut w, b"content-type", b"application/json");
    field(&mut w, b"accept", accept.as_bytes());
    if !headers.contains_key(HOST) {
        field(&mut w, b"host", host.as_bytes());
    }
    field(
        &mut w,
        b"content-length",
        itoa::Buffer::new().format(body.len()).as_bytes(),
    );
    w.extend_from_slice(b"\r\n");
    w.extend_from_slice(body);
    w
}

fn field(w: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    w.extend_from_slice(name);
    w.extend_from_slice(b": ");
    w.extend_from_slice(value);
    w.extend_from_slice(b"\r\n");
}

/// Parse a whole head at the start of `buf` and take it out; None when more bytes are needed. A 1xx answer (other
/// than 101) is taken out and the next one looked for.
fn parse_head(buf: &mut BytesMut) -> Result<Option<Head>, SendError> {
    loop {
        let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
        let (n, code, version_11, at) = {
            let mut r = httparse::Response::new(&mut []);
            let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut r,
                buf,
                &mut fields,
            );
            let n = match parsed {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(e) => return Err(no_answer(format!("invalid HTTP answer: {e}"))),
            };
            let base = buf.as_ptr() as usize;
            // Where each field's name and value are in `buf`, to take them from the head's own bytes once it is
            // cut out. Offsets fit in u32: a head is at most MAX_HEAD bytes.
            let at: Box<[[u32; 4]]> = r
                .headers
                .iter()
                .map(|h| {
                    let name = (h.name.as_ptr() as usize - base) as u32;
                    let value = (h.value.as_ptr() as usize - base) as u32;
                    [
                        name,
                        name + h.name.len() as u32,
                        value,
                        value + h.value.len() as u32,
                    ]
                })
                .collect();
            (n, r.code.unwrap_or(0), r.version == Some(1), at)
        };
        if (100..200).contains(&code) && code != 101 {
            buf.advance(n);
            continue;
        }
        let status = http::StatusCode::from_u16(code)
            .map_err(|_| no_answer(format!("invalid HTTP status {code}")))?;
        let raw = buf.split_to(n).freeze();
        let mut f = FramingFields::default();
        for &[n0, n1, v0, v1] in &at {
            let name = &raw[n0 as usize..n1 as usize];
            // httparse took only token characters in a name and only the bytes `HeaderValue` takes in a value;
            // `HeaderName` also refuses a name longer than this, so such an answer is refused here as it was.
            if name.len() > MAX_NAME {
                return Err(no_answer(format!(
                    "invalid header name `{}`",
                    String::from_utf8_lossy(name)
                )));
            }
            f.see(name, &raw[v0 as usize..v1 as usize])?;
        }
        let headers = Fields {
            raw,
            at,
            map: std::sync::OnceLock::new(),
        };
        let (framing, keep_alive) = f.decide(status, version_11)?;
        return Ok(Some(Head {
            status,
            headers,
            framing,
            keep_alive,
        }));
    }
}

/// The longest header name `http::HeaderName` takes.
const MAX_NAME: usize = (1 << 16) - 1;

/// An answer's header fields: the head's bytes and where each field lies in them. The `http::HeaderMap` of
/// [`Fields::map`] is built on first use (an error's `Retry-After`, a redirect's `Location`); an ordinary answer is
/// read for its `Content-Type` and framing straight from the bytes, where building the map for every answer cost
/// ~3,000 instructions (bench/RESULTS.md, "Session of 2026-12-07 (sixth)").
pub(crate) struct Fields {
    raw: Bytes,
    /// Per field: name start and end, value start and end, in `raw`.
    at: Box<[[u32; 4]]>,
    /// Boxed: the fields live in every request's future until its body is read, so they are kept small.
    map: std::sync::OnceLock<Box<HeaderMap>>,
}

impl Fields {
    fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.at.iter().map(|&[n0, n1, v0, v1]| {
            (
                &self.raw[n0 as usize..n1 as usize],
                &self.raw[v0 as usize..v1 as usize],
            )
        })
    }

    /// The first field named `name` (any case) as text, as `HeaderMap::get` and `HeaderValue::to_str` give it:
    /// None when there is none or its value is not visible ASCII.
    pub(crate) fn get_str(&self, name: &str) -> Option<&str> {
        let (_, v) = self
            .pairs()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))?;
        if !v.iter().all(|&b| (32..127).contains(&b) || b == b'\t') {
            return None;
        }
        std::str::from_utf8(v).ok()
    }

    /// Every field, in order, as a `HeaderMap` whose values share the head's bytes (as hyper's do).
    pub(crate) fn map(&self) -> &HeaderMap {
        self.map.get_or_init(|| {
            let mut m = Box::new(HeaderMap::with_capacity(self.at.len()));
            for &[n0, n1, v0, v1] in &self.at {
                // Both were checked by httparse (and the name's length by `parse_head`), so neither fails.
                let name = HeaderName::from_bytes(&self.raw[n0 as usize..n1 as usize]);
                let value =
                    HeaderValue::from_maybe_shared(self.raw.slice(v0 as usize..v1 as usize));
                if let (Ok(name), Ok(value)) = (name, value) {
                    m.append(name, value);
                }
            }
            m
        })
    }
}

/// What the head says of the body's framing and of the connection (RFC 9112 sections 6.3 and 9.3).
#[derive(Default)]
struct FramingFields {
    length: Option<u64>,
    /// The last transfer coding named, lower-cased, if `Transfer-Encoding` came.
    last_coding: Option<String>,
    close: bool,
    keep_alive: bool,
}

impl FramingFields {
    fn see(&mut self, name: &[u8], value: &[u8]) -> Result<(), SendError> {
        let text = || String::from_utf8_lossy(value);
        if name.eq_ignore_ascii_case(b"content-length") {
            // A list of the same length is that length; anything else is not a length.
            for part in value.split(|b| *b == b',') {
                let part = part.trim_ascii();
                let n = (!part.is_empty() && part.iter().all(u8::is_ascii_digit))
                    .then(|| std::str::from_utf8(part).ok()?.parse::<u64>().ok())
                    .flatten()
                    .ok_or_else(|| no_answer(format!("invalid content-length `{}`", text())))?;
                if self.length.is_some_and(|l| l != n) {
                    return Err(no_answer("conflicting content-length values".into()));
                }
                self.length = Some(n);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if let Some(last) = value.rsplit(|b| *b == b',').map(<[u8]>::trim_ascii).next() {
                self.last_coding = Some(String::from_utf8_lossy(last).to_ascii_lowercase());
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                self.close |= token.eq_ignore_ascii_case(b"close");
                self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        Ok(())
    }

    fn decide(
        self,
        status: http::StatusCode,
        version_11: bool,
    ) -> Result<(Framing, bool), SendError> {
        let mut keep = !self.close && (version_11 || self.keep_alive);
        let framing = if status == 204 || status == 304 || status.is_informational() {
            Framing::Empty
        } else if let (Some(_), false) = (&self.last_coding, version_11) {
            // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing.
            return Err(no_answer("transfer-encoding in an HTTP/1.0 answer".into()));
        } else if let Some(coding) = &self.last_coding {
            // Transfer-Encoding overrides Content-Length; a message that had both may be a smuggling attempt, so
            // its connection is not used again.
            keep &= self.length.is_none();
            match coding.as_str() {
                "chunked" => Framing::Chunked,
                _ => Framing::Close,
            }
        } else if let Some(n) = self.length {
            Framing::Length(n)
        } else {
            Framing::Close
        };
        if status == 101 {
            keep = false;
        }
        Ok((framing, keep && framing != Framing::Close))
    }
}

/// Where a chunked body's reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunked {
    /// In a chunk-size line: the size so far and whether a digit came.
    Size(u64, bool),
    /// After the size: spaces or tabs.
    SizeSpace(u64),
    /// In a chunk extension, until its CR.
    Extension(u64),
    /// The LF of the size line.
    SizeLf(u64),
    /// Inside a chunk's data: bytes left.
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer field line, until its LF.
    Trailer,
    /// The final line's LF.
    EndLf,
    End,
}

/// What a step of the chunked reader found.
enum Step {
    Data(Bytes),
    /// More bytes are needed.
    More,
    End,
}

/// Read the chunked coding from `buf` as far as it goes. `skipped` counts extension and trailer bytes.
fn chunked_step(
    st: &mut Chunked,
    buf: &mut BytesMut,
    skipped: &mut usize,
) -> Result<Step, SendError> {
    let bad = |what: &str| {
        (
            ErrorKind::BodyInterrupted,
            format!("invalid chunked body: {what}"),
        )
    };
    loop {
        if let Chunked::Data(left) = *st {
            if buf.is_empty() {
                return Ok(Step::More);
            }
            let k = left.min(buf.len() as u64) as usize;
            *st = match left - k as u64 {
                0 => Chunked::DataCr,
                rest => Chunked::Data(rest),
            };
            return Ok(Step::Data(buf.split_to(k).freeze()));
        }
        if *st == Chunked::End {
            return Ok(Step::End);
        }
        let Some(&b) = buf.first() else {
            return Ok(Step::More);
        };
        buf.advance(1);
        *st = match (*st, b) {
            (Chunked::Size(n, _), b) if b.is_ascii_hexdigit() => {
                let d = (b as char).to_digit(16).expect("a hex digit") as u64;
                if n > (u64::MAX >> 4) {
                    return Err(bad("chunk size too large"));
                }
                Chunked::Size(n << 4 | d, true)
            }
            (Chunked::Size(_, false), _) => return Err(bad("chunk size missing")),
            (Chunked::Size(n, true) | Chunked::SizeSpace(n), b' ' | b'\t') => Chunked::SizeSpace(n),
            (Chunked::Size(n, true) | Chunked::SizeSpace(n), b';') => Chunked::Extension(n),
            (Chunked::Size(n, true) | Chunked::SizeSpace(n), b'\r') => Chunked::SizeLf(n),
            (Chunked::Size(..) | Chunked::SizeSpace(_), _) => {
                return Err(bad("invalid chunk size line"))
            }
            (Chunked::Extension(n), b'\r') => Chunked::SizeLf(n),
            (Chunked::Extension(_), b'\n') => return Err(bad("newline in a chunk extension")),
            (Chunked::Extension(n), _) => {
                *skipped += 1;
                if *skipped > MAX_SKIPPED {
                    return Err(bad("chunk extensions too long"));
                }
                Chunked::Extension(n)
            }
            (Chunked::SizeLf(0), b'\n') => Chunked::TrailerStart,
            (Chunked::SizeLf(n), b'\n') => Chunked::Data(n),
            (Chunked::DataCr, b'\r') => Chunked::DataLf,
            (Chunked::DataLf, b'\n') => Chunked::Size(0, false),
            (Chunked::TrailerStart, b'\r') => Chunked::EndLf,
            (Chunked::EndLf, b'\n') => Chunked::End,
            (Chunked::TrailerStart | Chunked::Trailer, b) => {
                *skipped += 1;
                if *skipped > MAX_SKIPPED {
                    return Err(bad("trailers too long"));
                }
                match b {
                    b'\n' => Chunked::TrailerStart,
                    _ => Chunked::Trailer,
                }
            }
            (Chunked::SizeLf(_) | Chunked::DataCr | Chunked::DataLf | Chunked::EndLf, _) => {
                return Err(bad("missing CRLF"))
            }
            (Chunked::Data(_) | Chunked::End, _) => unreachable!("handled above"),
        };
    }
}

/// Reads one answer's body from its connection.
pub(crate) struct BodyReader {
    conn: Conn,
    state: Decode,
    keep_alive: bool,
    skipped: usize,
}

enum Decode {
    Length(u64),
    Chunked(Chunked),
    Close,
    Done,
}

impl BodyReader {
    pub(crate) fn new(conn: Conn, head: &Head) -> BodyReader {
        let state = match head.framing {
            Framing::Empty | Framing::Length(0) => Decode::Done,
            Framing::Length(n) => Decode::Length(n),
            Framing::Chunked => Decode::Chunked(Chunked::Size(0, false)),
            Framing::Close => Decode::Close,
        };
        BodyReader {
            conn,
            state,
            keep_alive: head.keep_alive,
            skipped: 0,
        }
    }

    /// The next piece of the body; None at its end, when [`BodyReader::reusable`] tells whether the connection can
    /// carry another request.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, SendError> {
        loop {
            let buf = &mut self.conn.buf;
            match &mut self.state {
                Decode::Done => return Ok(None),
                Decode::Length(left) if !buf.is_empty() => {
                    let k = (*left).min(buf.len() as u64) as usize;
                    *left -= k as u64;
                    if *left == 0 {
                        self.state = Decode::Done;
                    }
                    return Ok(Some(buf.split_to(k).freeze()));
                }
                Decode::Close if !buf.is_empty() => return Ok(Some(buf.split().freeze())),
                Decode::Chunked(st) => match chunked_step(st, buf, &mut self.skipped)? {
                    Step::Data(d) => return Ok(Some(d)),
                    Step::End => {
                        self.state = Decode::Done;
                        return Ok(None);
                    }
                    Step::More => {}
                },
                Decode::Length(_) | Decode::Close => {}
            }
            let more = self
                .conn
                .fill()
                .await
                .map_err(|e| io_failure(ErrorKind::BodyInterrupted, "reading the body", &e))?;
            if !more {
                if let Decode::Close = self.state {
                    self.state = Decode::Done;
                    self.keep_alive = false;
                    return Ok(None);
                }
                return Err((
                    ErrorKind::BodyInterrupted,
                    "connection closed before the body's end".into(),
                ));
            }
        }
    }

    /// The body has ended and its connection may carry the next request: it gives the connection back.
    pub(crate) fn reusable(self) -> Option<Conn> {
        let done = matches!(self.state, Decode::Done);
        (done && self.keep_alive && self.conn.buf.is_empty()).then_some(self.conn)
    }
}

#[cfg(test)]
#[path = "h1_tests.rs"]
mod tests;
