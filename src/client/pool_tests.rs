//! Our keep-alive pool (`client::pool`) against a scripted raw HTTP/1 server: which connection each request went on.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::http::Endpoint;
use crate::config::scenario::ProtocolKind;

/// What the server does with one connection: answers each request in turn, then (after the last) closes it.
type Script = Vec<&'static str>;

/// A loopback server that serves `scripts[i]` on its i-th connection and records, per request, the index of the
/// connection it came on. Stops after the last script's connection closes (every read bounded to 10 s).
fn server(scripts: Vec<Script>) -> (u16, Arc<Mutex<Vec<usize>>>, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let t = std::thread::spawn(move || {
        for (i, answers) in scripts.into_iter().enumerate() {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = Vec::new();
            for answer in answers {
                // One request: its head, then as many body bytes as it declares.
                loop {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        if buf.len() >= end + 4 + len {
                            buf.drain(..end + 4 + len);
                            break;
                        }
                    }
                    let mut b = [0u8; 4096];
                    let k = s.read(&mut b).unwrap();
                    assert!(k > 0, "the client closed connection {i} before its request");
                    buf.extend_from_slice(&b[..k]);
                }
                log.lock().unwrap().push(i);
                s.write_all(answer.as_bytes()).unwrap();
            }
        }
    });
    (port, seen, t)
}

/// A plain-http endpoint on loopback `port` (on the hot path, as the assertion checks); also the wire suite's.
pub(super) fn endpoint(port: u16) -> Endpoint {
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
    assert!(
        ep.plain.is_some(),
        "a plain-http target goes through the pool"
    );
    ep
}

const KEEP: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
const CLOSE: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";

async fn post(ep: &Endpoint) -> Option<super::attempt::ErrorKind> {
    let client = reqwest::Client::new();
    let (a, body) = ep.post_for_bytes(&client, ep.chat_url.clone(), &()).await;
    if a.error.is_none() {
        assert_eq!(body, b"{}");
    }
    a.error
}

#[tokio::test]
async fn an_answer_read_to_its_end_gives_its_connection_to_the_next_request() {
    let (port, seen, t) = server(vec![vec![KEEP, KEEP, CLOSE]]);
    let ep = endpoint(port);
    for _ in 0..3 {
        assert_eq!(post(&ep).await, None);
    }
    t.join().unwrap();
    assert_eq!(*seen.lock().unwrap(), [0, 0, 0]);
}

#[tokio::test]
async fn an_answer_left_unread_closes_its_connection() {
    // 10 of the 5,000 body bytes: the head arrives, the body never ends on this connection.
    let long = "HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n0123456789";
    let (port, seen, t) = server(vec![vec![long], vec![CLOSE]]);
    let ep = endpoint(port);
    let resp = ep
        .post(&reqwest::Client::new(), ep.chat_url.clone(), &(), None)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    drop(resp);
    assert_eq!(post(&ep).await, None);
    t.join().unwrap();
    assert_eq!(*seen.lock().unwrap(), [0, 1]);
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_not_reused() {
    // The first connection answers with keep-alive and is then closed by the server.
    let (port, seen, t) = server(vec![vec![KEEP], vec![CLOSE]]);
    let ep = endpoint(port);
    assert_eq!(post(&ep).await, None);
    // Let the connection's task see the close.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(post(&ep).await, None);
    t.join().unwrap();
    assert_eq!(*seen.lock().unwrap(), [0, 1]);
}

#[tokio::test]
async fn connection_close_is_honoured_and_the_next_request_opens_another() {
    let (port, seen, t) = server(vec![vec![CLOSE], vec![CLOSE]]);
    let ep = endpoint(port);
    assert_eq!(post(&ep).await, None);
    assert_eq!(post(&ep).await, None);
    t.join().unwrap();
    assert_eq!(*seen.lock().unwrap(), [0, 1]);
}

/// `parts` as a chunked body, one chunk each, then the last chunk.
fn chunked(parts: &[&str]) -> String {
    let mut s = String::new();
    for p in parts {
        s.push_str(&format!("{:x}\r\n{p}\r\n", p.len()));
    }
    s + "0\r\n\r\n"
}

#[tokio::test]
async fn a_stream_read_to_its_end_marker_gives_its_connection_back() {
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    let body = chunked(&[
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        "data: [DONE]\n\n",
    ]);
    let sse: &'static str = Box::leak(format!("{head}{body}").into_boxed_str());
    let (port, seen, t) = server(vec![vec![sse, CLOSE]]);
    let ep = endpoint(port);
    let client = reqwest::Client::new();
    let a = ep
        .post_stream(
            &client,
            ep.chat_url.clone(),
            &serde_json::json!({}),
            super::sse::classify_openai,
        )
        .await;
    assert_eq!(a.error, None, "{:?}", a.detail);
    assert_eq!(a.timer.content_chunks(), 1);
    assert_eq!(post(&ep).await, None);
    t.join().unwrap();
    assert_eq!(*seen.lock().unwrap(), [0, 0]);
}
