//! HTTP/1.1 response framing (RFC 9112) on the plain-`http` hot path, through `Endpoint`'s stable interface only
//! (`post_for_bytes`, `post_stream`), against a scripted raw server on loopback: whatever client carries the
//! requests, the body bytes, the failure and the connection each request arrives on must be these. Also our pool
//! (`client::pool`): which connection each request goes on.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::attempt::{Attempt, ErrorKind};
use super::http::Endpoint;
use crate::config::scenario::ProtocolKind;

/// One answer, as the pieces the server writes one after another (each flushed, with a short pause between them,
/// so the client reads them apart).
type Answer = Vec<Vec<u8>>;

/// What the server does after a connection's last scripted answer.
#[derive(Clone, Copy, PartialEq)]
enum End {
    /// Keep the connection open: a further request on it is logged and never answered.
    Hold,
    /// Close its sending side (the client reads end-of-stream), then log any further request as `Hold` does.
    Close,
}

/// One connection's script: its answers, in turn, one per request, then what it does.
struct Conn {
    answers: Vec<Answer>,
    end: End,
}

fn conn(answers: Vec<Answer>, end: End) -> Conn {
    Conn { answers, end }
}

/// The whole answer in one write.
fn whole(s: &str) -> Answer {
    vec![s.as_bytes().to_vec()]
}

/// One write per byte.
fn bytewise(s: &str) -> Answer {
    s.bytes().map(|b| vec![b]).collect()
}

/// `s` cut before each of the byte offsets `at` (increasing).
fn cut(s: &str, at: &[usize]) -> Answer {
    let mut out = Vec::new();
    let mut from = 0;
    for &i in at {
        out.push(s.as_bytes()[from..i].to_vec());
        from = i;
    }
    out.push(s.as_bytes()[from..].to_vec());
    out
}

/// A loopback server: its i-th connection follows `scripts[i]` (a connection beyond them gets an empty script,
/// held). `log` gets, per request, the index of the connection it arrived on. Every wait is bounded: 10 s, or until
/// `stop`, which the test sets once its client is done.
struct Server {
    port: u16,
    log: Arc<Mutex<Vec<usize>>>,
    stop: Arc<AtomicBool>,
    acceptor: std::thread::JoinHandle<Vec<std::thread::JoinHandle<()>>>,
}

const WAIT: Duration = Duration::from_secs(10);

fn server(scripts: Vec<Conn>) -> Server {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (log2, stop2) = (log.clone(), stop.clone());
    let acceptor = std::thread::spawn(move || {
        let mut scripts = scripts.into_iter();
        let mut threads = Vec::new();
        let started = Instant::now();
        while !stop2.load(Ordering::SeqCst) && started.elapsed() < WAIT {
            let Ok((s, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            let i = threads.len();
            let c = scripts.next().unwrap_or_else(|| conn(vec![], End::Hold));
            let (log, stop) = (log2.clone(), stop2.clone());
            threads.push(std::thread::spawn(move || serve(i, s, c, &log, &stop)));
        }
        threads
    });
    Server {
        port,
        log,
        stop,
        acceptor,
    }
}

impl Server {
    /// Stop the server (the client is done) and hand back the connection index of each request it read.
    fn finish(self) -> Vec<usize> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.acceptor.join().unwrap() {
            t.join().unwrap();
        }
        let log = self.log.lock().unwrap().clone();
        log
    }
}

fn serve(i: usize, mut s: TcpStream, c: Conn, log: &Mutex<Vec<usize>>, stop: &AtomicBool) {
    s.set_nonblocking(false).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    let mut buf = Vec::new();
    for answer in c.answers {
        if !read_request(&mut s, &mut buf, stop) {
            return;
        }
        log.lock().unwrap().push(i);
        for (k, piece) in answer.iter().enumerate() {
            if k > 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            // The client may have given up on a hostile answer and closed: the script ends there.
            if s.write_all(piece).and_then(|()| s.flush()).is_err() {
                return;
            }
        }
    }
    if c.end == End::Close {
        let _ = s.shutdown(Shutdown::Write);
    }
    // A request here went on a connection the client should not have used again: logged, never answered.
    if read_request(&mut s, &mut buf, stop) {
        log.lock().unwrap().push(i);
    }
}

/// Read one whole request (its head and its `content-length` body) off `buf` and the socket. False when the client
/// closed first, or the test stopped the server, or 10 s passed.
fn read_request(s: &mut TcpStream, buf: &mut Vec<u8>, stop: &AtomicBool) -> bool {
    let started = Instant::now();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                buf.drain(..end + 4 + len);
                return true;
            }
        }
        if stop.load(Ordering::SeqCst) || started.elapsed() > WAIT {
            return false;
        }
        let mut b = [0u8; 4096];
        match s.read(&mut b) {
            Ok(0) => return false,
            Ok(k) => buf.extend_from_slice(&b[..k]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return false,
        }
    }
}

/// A plain-http endpoint on loopback `port` (on the hot path, as the assertion checks).
fn endpoint(port: u16) -> Endpoint {
    let base = format!("http://127.0.0.1:{port}");
    let ep = Endpoint::new(
        ProtocolKind::Openai,
        &base,
        None,
        &Default::default(),
        None,
        None,
    )
    .unwrap();
    assert!(ep.plain.is_some(), "a plain-http target takes the hot path");
    ep
}

/// One OpenAI stream request through `ep` (also `transport_tests`').
pub(super) async fn stream(ep: &Endpoint) -> Attempt {
    let client = reqwest::Client::new();
    let body = serde_json::json!({"stream": true});
    ep.post_stream(
        &client,
        ep.chat_url.clone(),
        &body,
        super::sse::classify_openai,
    )
    .await
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("the client hung on this answer")
}

async fn post(ep: &Endpoint) -> (Attempt, Vec<u8>) {
    let client = reqwest::Client::new();
    bounded(ep.post_for_bytes(&client, ep.chat_url.clone(), &serde_json::json!({"q": 1}))).await
}

/// A request whose answer must be `want`, without error.
async fn post_ok(ep: &Endpoint, want: &str) {
    let (a, body) = post(ep).await;
    assert_eq!(a.error, None, "{:?}", a.detail);
    assert_eq!(String::from_utf8_lossy(&body), want);
}

/// A keep-alive answer whose body is `{}`, and one that closes its connection.
const KEEP: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
const CLOSE: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";

/// A JSON body of 63 bytes, none of its characters needing an escape.
const JSON: &str = r#"{"id":"chatcmpl-1","choices":[{"text":"framing holds, 12345"}]}"#;

/// `JSON` as a 200 with its content-length.
fn json_answer() -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{JSON}",
        JSON.len()
    )
}

#[tokio::test]
async fn a_content_length_body_written_byte_by_byte_arrives_whole() {
    let answer = json_answer();
    let srv = server(vec![conn(vec![bytewise(&answer), whole(KEEP)], End::Hold)]);
    let ep = endpoint(srv.port);
    post_ok(&ep, JSON).await;
    // The connection is at a message boundary: the next request goes on it.
    post_ok(&ep, "{}").await;
    drop(ep);
    assert_eq!(srv.finish(), [0, 0]);
}

#[tokio::test]
async fn a_head_cut_mid_line_and_mid_name_still_parses() {
    let answer = json_answer();
    // Inside the status line, between its CR and LF, inside a header name, inside the length's digits, between the
    // last line's CR and LF, between the two CRLFs, between the blank line's CR and LF.
    let pieces = cut(&answer, &[5, 16, 24, 60, 66, 68, 69, 70]);
    assert_eq!(&answer[16..17], "\n");
    assert_eq!(&answer[65..67], JSON.len().to_string());
    assert_eq!(&answer[67..71], "\r\n\r\n");
    let srv = server(vec![conn(vec![pieces, whole(KEEP)], End::Hold)]);
    let ep = endpoint(srv.port);
    post_ok(&ep, JSON).await;
    post_ok(&ep, "{}").await;
    drop(ep);
    assert_eq!(srv.finish(), [0, 0]);
}

/// [`JSON`] as a chunked answer: sizes in upper and lower case hex, a chunk extension, trailers after the last chunk.
/// Its chunks are 10 (`A`, with an extension), 27 (`1b`), 16 (`10`, with a quoted extension) and 10 (`a`) bytes.
fn chunked_json() -> String {
    let (a, rest) = JSON.split_at(10);
    let (b, rest) = rest.split_at(27);
    let (c, d) = rest.split_at(16);
    assert_eq!(d.len(), 10);
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n\
         A;name=value\r\n{a}\r\n1b\r\n{b}\r\n10;x=\"q s\"\r\n{c}\r\na\r\n{d}\r\n\
         0\r\nx-trailer: yes\r\nx-checksum: 1\r\n\r\n"
    )
}

#[tokio::test]
async fn a_chunked_body_with_extensions_and_trailers_arrives_whole_and_keeps_its_connection() {
    let answer = chunked_json();
    let body_at = answer.find("A;").unwrap();
    // Inside the first size line, between its CR and LF, inside chunk data, inside "1b", right after the last
    // chunk's size, inside a trailer, between the final CR and LF.
    let n = answer.len();
    let at = [
        body_at + 3,
        body_at + 12,
        body_at + 13,
        body_at + 20,
        body_at + 27,
        answer.find("0\r\nx-").unwrap() + 1,
        answer.find("checksum").unwrap(),
        n - 1,
    ];
    assert_eq!(&answer[body_at + 12..body_at + 13], "\r");
    assert_eq!(&answer[body_at + 27..body_at + 28], "b");
    for pieces in [cut(&answer, &at), bytewise(&answer)] {
        let srv = server(vec![conn(vec![pieces, whole(KEEP)], End::Hold)]);
        let ep = endpoint(srv.port);
        post_ok(&ep, JSON).await;
        post_ok(&ep, "{}").await;
        drop(ep);
        assert_eq!(srv.finish(), [0, 0]);
    }
}

/// `parts` as a chunked body, one chunk each, then the last chunk.
/// `parts` as a chunked body, one chunk each, then the last chunk.
fn chunked(parts: &[&str]) -> String {
    let mut s = String::new();
    for p in parts {
        s.push_str(&format!("{:x}\r\n{p}\r\n", p.len()));
    }
    s + "0\r\n\r\n"
}

fn delta(text: &str) -> String {
    format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n")
}

#[tokio::test]
async fn a_chunked_sse_stream_gives_its_text_and_keeps_its_connection() {
    let (hello, comma, world) = (delta("Hello"), delta(", "), delta("world"));
    // The second event is split over two chunks; the third chunk carries the rest of it and the whole third one.
    let (c1, c2) = comma.split_at(9);
    let second = format!("{c2}{world}");
    let body = chunked(&[&hello, c1, &second, "data: [DONE]\n\n"]);
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    let sse = format!("{head}{body}");
    // Byte by byte up to the end marker's chunk, which comes in one write with the body's end: a client that has
    // the marker finds the rest of the body already there and can give the connection back at once.
    let done_at = sse.rfind("e\r\ndata: [DONE]").unwrap();
    let mut pieces = bytewise(&sse[..done_at]);
    pieces.push(sse.as_bytes()[done_at..].to_vec());
    let srv = server(vec![conn(vec![pieces, whole(KEEP)], End::Hold)]);
    let ep = endpoint(srv.port);
    let a = bounded(stream(&ep)).await;
    assert_eq!(a.error, None, "{:?}", a.detail);
    assert_eq!(a.answer, "Hello, world");
    assert_eq!(a.timer.content_chunks(), 3);
    post_ok(&ep, "{}").await;
    drop(ep);
    assert_eq!(srv.finish(), [0, 0]);
}

#[tokio::test]
async fn connection_close_sends_the_next_request_on_a_new_connection() {
    let srv = server(vec![
        conn(vec![whole(CLOSE)], End::Close),
        conn(vec![whole(KEEP)], End::Hold),
    ]);
    let ep = endpoint(srv.port);
    post_ok(&ep, "{}").await;
    post_ok(&ep, "{}").await;
    drop(ep);
    assert_eq!(srv.finish(), [0, 1]);
}

#[tokio::test]
async fn an_http_1_0_answer_without_keep_alive_is_not_reused() {
    // The server does not close: only the version says this connection ends with the answer (RFC 9112, 9.3).
    let old = "HTTP/1.0 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
    let srv = server(vec![
        conn(vec![whole(old)], End::Hold),
        conn(vec![whole(KEEP)], End::Hold),
    ]);
    let ep = endpoint(srv.port);
    post_ok(&ep, "{}").await;
    post_ok(&ep, "{}").await;
    drop(ep);
    assert_eq!(srv.finish(), [0, 1]);
}

#[tokio::test]
async fn a_body_without_length_or_chunking_is_read_until_close() {
    let answer = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{JSON}");
    let (head, body) = answer.split_at(answer.len() - JSON.len());
    let mut pieces = whole(head);
    pieces.extend(bytewise(body));
    let srv = server(vec![
        conn(vec![pieces], End::Close),
        conn(vec![whole(KEEP)], End::Hold),
    ]);
    let ep = endpoint(srv.port);
    post_ok(&ep, JSON).await;
    post_ok(&ep, "{}").await;
    drop(ep);
    assert_eq!(srv.finish(), [0, 1]);
}

#[tokio::test]
async fn informational_answers_are_skipped_for_the_final_one() {
    let answer = format!(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n\
         HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{JSON}",
        JSON.len()
    );
    let first_final = answer.find("HTTP/1.1 200").unwrap();
    // Cut inside the second informational status line, and inside the final one.
    let pieces = cut(&answer, &[27, first_final + 3]);
    let srv = server(vec![conn(vec![pieces, whole(KEEP)], End::Hold)]);
    let ep = endpoint(srv.port);
    let (a, body) = post(&ep).await;
    assert_eq!((a.error, a.status), (None, Some(200)), "{:?}", a.detail);
    assert_eq!(String::from_utf8_lossy(&body), JSON);
    post_ok(&ep, "{}").await;
    drop(ep);
    assert_eq!(srv.finish(), [0, 0]);
}

#[tokio::test]
async fn a_204_has_no_body_even_without_content_length() {
    // The server keeps the connection open: a client that read this body until close would hang here.
    let none = "HTTP/1.1 204 No Content\r\ncontent-type: application/json\r\n\r\n";
    let srv = server(vec![conn(vec![whole(none), whole(KEEP)], End::Hold)]);
    let ep = endpoint(srv.port);
    let (a, body) = post(&ep).await;
    assert_eq!((a.error, a.status), (None, Some(204)), "{:?}", a.detail);
    assert!(body.is_empty());
    post_ok(&ep, "{}").await;
    drop(ep);
    assert_eq!(srv.finish(), [0, 0]);
}

/// A hostile answer on the first connection: the attempt fails with one of `kinds` (no hang, no panic), and the
/// next request goes on a new connection and succeeds.
async fn fails_and_is_not_reused(answer: Answer, end: End, kinds: &[ErrorKind]) {
    let srv = server(vec![
        conn(vec![answer], end),
        conn(vec![whole(KEEP)], End::Hold),
    ]);
    let ep = endpoint(srv.port);
    let (a, body) = post(&ep).await;
    let kind = a.error.clone().expect("a hostile answer is a failure");
    assert!(kinds.contains(&kind), "{kind:?}: {:?}", a.detail);
    assert!(body.is_empty());
    post_ok(&ep, "{}").await;
    drop(ep);
    assert_eq!(srv.finish(), [0, 1], "{kind:?}");
}

/// The answer failed before its head was whole.
const HEAD: &[ErrorKind] = &[ErrorKind::NoResponse];
/// The head was whole, its body was not: either kind, as a client may or may not hand over the head first.
const BODY: &[ErrorKind] = &[ErrorKind::BodyInterrupted, ErrorKind::NoResponse];

fn json_head(framing: &str) -> String {
    format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{framing}\r\n\r\n")
}

#[tokio::test]
async fn a_chunk_size_that_is_not_hex_fails() {
    let answer = json_head("transfer-encoding: chunked") + "2\r\n{}\r\nzz\r\n{}\r\n0\r\n\r\n";
    fails_and_is_not_reused(whole(&answer), End::Hold, BODY).await;
}

#[tokio::test]
async fn a_chunk_size_over_64_bits_fails() {
    let answer =
        json_head("transfer-encoding: chunked") + "ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n";
    fails_and_is_not_reused(whole(&answer), End::Hold, BODY).await;
}

#[tokio::test]
async fn a_content_length_that_is_not_a_count_fails() {
    for bad in ["-1", "abc", "+2", "2 2", "0x2", "99999999999999999999999"] {
        let answer = json_head(&format!("content-length: {bad}")) + "{}";
        fails_and_is_not_reused(whole(&answer), End::Hold, HEAD).await;
    }
}

#[tokio::test]
async fn two_different_content_lengths_fail() {
    for framing in [
        "content-length: 2\r\ncontent-length: 3",
        "content-length: 2, 3",
    ] {
        let answer = json_head(framing) + "{}";
        fails_and_is_not_reused(whole(&answer), End::Hold, HEAD).await;
    }
}

#[tokio::test]
async fn a_head_larger_than_a_mib_fails() {
    // 2 MiB of header lines that never end the head; then the server stops writing and holds the connection.
    let mut pieces = vec![b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n".to_vec()];
    let line = format!("x-filler: {}\r\n", "a".repeat(1013)).into_bytes();
    assert_eq!(line.len(), 1025);
    let mut sent = 0;
    while sent < 2 << 20 {
        let block: Vec<u8> = line.repeat(64);
        sent += block.len();
        pieces.push(block);
    }
    fails_and_is_not_reused(pieces, End::Hold, HEAD).await;
}

#[tokio::test]
async fn a_server_that_closes_after_the_request_fails_once() {
    // Nothing at all, then end-of-stream: the request was sent once and is not sent again on its own.
    fails_and_is_not_reused(vec![], End::Close, HEAD).await;
}

#[tokio::test]
async fn a_garbage_status_line_fails() {
    for garbage in [
        "HELLO\r\n\r\n",
        "HTTP/1.1 2xx OK\r\n\r\n",
        "HTTP/9.9 200 OK\r\n\r\n",
    ] {
        fails_and_is_not_reused(whole(garbage), End::Hold, HEAD).await;
    }
}

#[tokio::test]
async fn an_http_1_0_answer_with_transfer_encoding_fails() {
    // RFC 9112, 6.1: an HTTP/1.0 message with transfer-encoding has faulty framing, whatever else it declares.
    let answer =
        "HTTP/1.0 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\
                  content-length: 7\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    fails_and_is_not_reused(whole(answer), End::Hold, HEAD).await;
}

/// Chunked and a (wrong) content-length both: the body is the chunked one (RFC 9112, 6.3 item 3).
fn chunked_and_length() -> String {
    json_head("content-length: 2\r\ntransfer-encoding: chunked")
        + &chunked(&[&JSON[..30], &JSON[30..]])
}

#[tokio::test]
async fn chunked_wins_over_content_length() {
    // The server closes after it: whether such a connection may carry another request is the next test's question.
    let srv = server(vec![conn(vec![whole(&chunked_and_length())], End::Close)]);
    let ep = endpoint(srv.port);
    post_ok(&ep, JSON).await;
    drop(ep);
    assert_eq!(srv.finish(), [0]);
}

#[tokio::test]
async fn an_answer_with_chunked_and_content_length_does_not_keep_its_connection() {
    let srv = server(vec![
        conn(vec![whole(&chunked_and_length())], End::Hold),
        conn(vec![whole(KEEP)], End::Hold),
    ]);
    let ep = endpoint(srv.port);
    post_ok(&ep, JSON).await;
    post_ok(&ep, "{}").await;
    drop(ep);
    assert_eq!(srv.finish(), [0, 1]);
}

#[tokio::test]
async fn header_names_and_the_chunked_token_in_any_case() {
    let length = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: Application/JSON\r\nCONTENT-LENGTH: {}\r\n\r\n{JSON}",
        JSON.len()
    );
    let chunks = chunked(&[&JSON[..7], &JSON[7..]]);
    let te = format!(
        "HTTP/1.1 200 OK\r\ncontent-TYPE: application/json\r\nTRANSFER-ENCODING: Chunked\r\n\r\n{chunks}"
    );
    let close = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: CLOSE\r\n\r\n{}";
    let srv = server(vec![
        conn(vec![whole(&length), whole(&te), whole(close)], End::Hold),
        conn(vec![whole(KEEP)], End::Hold),
    ]);
    let ep = endpoint(srv.port);
    post_ok(&ep, JSON).await;
    post_ok(&ep, JSON).await;
    post_ok(&ep, "{}").await;
    post_ok(&ep, "{}").await;
    drop(ep);
    assert_eq!(srv.finish(), [0, 0, 0, 1]);
}

#[tokio::test]
async fn an_idle_connection_the_server_closed_is_replaced_and_the_request_sent_once() {
    let srv = server(vec![
        conn(vec![whole(KEEP)], End::Close),
        conn(vec![whole(KEEP)], End::Hold),
    ]);
    let ep = endpoint(srv.port);
    post_ok(&ep, "{}").await;
    // The server closes while the connection is idle; the client has time to see it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    post_ok(&ep, "{}").await;
    drop(ep);
    // A request written on the closed connection would show as a second 0 (the server still reads after closing).
    assert_eq!(srv.finish(), [0, 1]);
}

#[tokio::test]
async fn an_answer_read_to_its_end_gives_its_connection_to_the_next_request() {
    let srv = server(vec![conn(
        vec![whole(KEEP), whole(KEEP), whole(CLOSE)],
        End::Close,
    )]);
    let ep = endpoint(srv.port);
    for _ in 0..3 {
        post_ok(&ep, "{}").await;
    }
    drop(ep);
    assert_eq!(srv.finish(), [0, 0, 0]);
}

#[tokio::test]
async fn an_answer_left_unread_closes_its_connection() {
    // 10 of the 5,000 body bytes: the head arrives, the body never ends on this connection.
    let long = "HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n0123456789";
    let srv = server(vec![
        conn(vec![whole(long)], End::Hold),
        conn(vec![whole(CLOSE)], End::Close),
    ]);
    let ep = endpoint(srv.port);
    let resp = bounded(
        ep.post(&reqwest::Client::new(), ep.chat_url.clone(), &(), None)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    drop(resp);
    post_ok(&ep, "{}").await;
    drop(ep);
    assert_eq!(srv.finish(), [0, 1]);
}
