//! The hot path's two transports (`client::transport`): our HTTP/1.1 client and reqwest put the same request on
//! the wire, and our client's errors fall in the same kinds.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;

use super::attempt::ErrorKind;
use super::http::{read_body, Endpoint};
use super::secret::Secret;
use crate::config::scenario::ProtocolKind;

/// One request as the server read it: its head's lines and its body.
type Captured = (Vec<String>, String);

/// A one-shot HTTP/1 server on loopback: for each of `n` connections, reads one request (head and a
/// `content-length` body), answers `answer` and closes; hands back each request's head lines and body.
fn capture(n: usize, answer: &'static str) -> (u16, std::thread::JoinHandle<Vec<Captured>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        (0..n)
            .map(|_| {
                let (mut s, _) = l.accept().unwrap();
                s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                    .unwrap();
                let mut buf = Vec::new();
                let mut b = [0u8; 4096];
                let (head, body) = loop {
                    let k = s.read(&mut b).unwrap();
                    assert!(k > 0, "the client closed before a whole request");
                    buf.extend_from_slice(&b[..k]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break (head.to_string(), body.to_string());
                    }
                };
                s.write_all(answer.as_bytes()).unwrap();
                (head.lines().map(str::to_string).collect(), body)
            })
            .collect()
    });
    (port, t)
}

fn endpoint(port: u16, plain: bool) -> Endpoint {
    let extra = BTreeMap::from([("x-team".to_string(), "care".to_string())]);
    let base = format!("http://127.0.0.1:{port}");
    let mut ep = Endpoint::new(
        ProtocolKind::Openai,
        &base,
        Some(Secret::new("sk-test-1")),
        &extra,
        None,
        None,
    )
    .unwrap();
    if !plain {
        ep.plain = None;
    }
    ep
}

/// Header lines, lower-cased names, sorted, without the request line.
fn headers(head: &[String]) -> Vec<String> {
    let mut h: Vec<String> = head[1..]
        .iter()
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            format!("{}: {}", n.to_ascii_lowercase(), v.trim())
        })
        .collect();
    h.sort();
    h
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";

#[tokio::test]
async fn our_client_sends_what_reqwest_sends() {
    let (port, server) = capture(2, OK);
    let client = reqwest::Client::new();
    let body = serde_json::json!({"model": "gpt-4.1", "stream": false});
    for plain in [true, false] {
        let ep = endpoint(port, plain);
        assert_eq!(ep.plain.is_some(), plain);
        let (a, bytes) = ep.post_for_bytes(&client, ep.chat_url.clone(), &body).await;
        assert_eq!(
            (a.error, a.status, bytes),
            (None, Some(200), b"{}".to_vec())
        );
    }
    let got = server.join().unwrap();
    let (plain, reqwest) = (&got[0], &got[1]);
    assert_eq!(plain.0[0], "POST /v1/chat/completions HTTP/1.1");
    assert_eq!(plain.0[0], reqwest.0[0]);
    let sent = r#"{"model":"gpt-4.1","stream":false}"#;
    assert_eq!((plain.1.as_str(), reqwest.1.as_str()), (sent, sent));
    let want = vec![
        "accept: */*".to_string(),
        "authorization: Bearer sk-test-1".to_string(),
        format!("content-length: {}", sent.len()),
        "content-type: application/json".to_string(),
        format!("host: 127.0.0.1:{port}"),
        "x-team: care".to_string(),
    ];
    assert_eq!(headers(&plain.0), want);
    assert_eq!(headers(&reqwest.0), want);
}

#[tokio::test]
async fn a_stream_asks_for_event_stream_on_either_path() {
    let sse = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n\
               data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n";
    let (port, server) = capture(2, sse);
    for plain in [true, false] {
        let ep = endpoint(port, plain);
        let a = super::wire_tests::stream(&ep).await;
        assert_eq!(a.error, None, "{:?}", a.detail);
        assert_eq!(a.timer.content_chunks(), 1);
    }
    for (head, _) in server.join().unwrap() {
        assert!(
            headers(&head).contains(&"accept: text/event-stream".to_string()),
            "{head:?}"
        );
    }
}

#[tokio::test]
async fn refused_is_connect_and_a_cut_body_is_body_interrupted() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = reqwest::Client::new();
    let ep = endpoint(closed, true);
    let (a, _) = ep.post_for_bytes(&client, ep.chat_url.clone(), &()).await;
    assert_eq!(a.error, Some(ErrorKind::Connect), "{:?}", a.detail);

    // 10 of the 100 bytes promised, then the connection closes.
    let cut = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"id\":\"x\",";
    let (port, server) = capture(1, cut);
    let ep = endpoint(port, true);
    let resp = ep
        .post(&client, ep.chat_url.clone(), &(), None)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.content_length(), Some(100));
    let err = read_body(resp, 1 << 20).await.unwrap_err();
    assert_eq!(err.0, ErrorKind::BodyInterrupted, "{}", err.1);
    server.join().unwrap();
}
