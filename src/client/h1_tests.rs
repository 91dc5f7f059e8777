//! The codec of `client::h1` on bytes alone: heads, framing and the chunked coding, each case fed whole and split at
//! every byte (a TCP read may end anywhere).

use bytes::BytesMut;
use http::{HeaderMap, HeaderValue};

use super::*;

/// Parse `wire` as one answer given in pieces of `step` bytes: its head (or the error), then every body byte (or the
/// error) as the chunked or length reader would hand them over, and the bytes left after the body.
fn read(wire: &[u8], step: usize) -> Result<(Head, Vec<u8>, usize), SendError> {
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut feed = |buf: &mut BytesMut| -> bool {
        if fed >= wire.len() {
            return false;
        }
        let k = step.min(wire.len() - fed);
        buf.extend_from_slice(&wire[fed..fed + k]);
        fed += k;
        true
    };
    let head = loop {
        if let Some(h) = parse_head(&mut buf)? {
            break h;
        }
        if !feed(&mut buf) {
            return Err((ErrorKind::NoResponse, "eof in head".into()));
        }
    };
    let mut body = Vec::new();
    match head.framing {
        Framing::Empty => {}
        Framing::Length(mut n) => {
            while n > 0 {
                if buf.is_empty() && !feed(&mut buf) {
                    return Err((ErrorKind::BodyInterrupted, "eof in body".into()));
                }
                let k = n.min(buf.len() as u64) as usize;
                body.extend_from_slice(&buf.split_to(k));
                n -= k as u64;
            }
        }
        Framing::Chunked => {
            let (mut st, mut skipped) = (Chunked::Size(0, false), 0);
            loop {
                match chunked_step(&mut st, &mut buf, &mut skipped)? {
                    Step::Data(d) => body.extend_from_slice(&d),
                    Step::End => break,
                    Step::More => {
                        if !feed(&mut buf) {
                            return Err((ErrorKind::BodyInterrupted, "eof in body".into()));
                        }
                    }
                }
            }
        }
        Framing::Close => {
            while feed(&mut buf) {}
            body.extend_from_slice(&buf.split());
        }
    }
    while feed(&mut buf) {}
    Ok((head, body, buf.len()))
}

/// `read` at every split size: all agree; the whole-buffer answer.
fn read_all_ways(wire: &str) -> Result<(Head, Vec<u8>, usize), SendError> {
    let whole = read(wire.as_bytes(), wire.len());
    for step in 1..wire.len() {
        let split = read(wire.as_bytes(), step);
        match (&whole, &split) {
            (Ok(a), Ok(b)) => {
                assert_eq!(
                    (a.0.status, &a.1, a.2),
                    (b.0.status, &b.1, b.2),
                    "step {step}"
                );
                assert_eq!(a.0.keep_alive, b.0.keep_alive, "step {step}");
            }
            (Err(a), Err(b)) => assert_eq!(a.0, b.0, "step {step}: {} / {}", a.1, b.1),
            _ => panic!(
                "step {step}: whole {:?} split {:?}",
                whole.is_ok(),
                split.is_ok()
            ),
        }
    }
    whole
}

#[test]
fn a_content_length_body_is_read_to_its_length_and_the_rest_left() {
    let (head, body, left) = read_all_ways(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":\"bcd\"}",
    )
    .unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.headers.map()["content-type"], "application/json");
    assert_eq!(head.content_length(), Some(11));
    assert!(head.keep_alive);
    assert_eq!(body, b"{\"a\":\"bcd\"}");
    assert_eq!(left, 0);
}

#[test]
fn chunked_with_extensions_and_trailers_gives_the_data_only() {
    let wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n\
                5;name=value\r\nhello\r\nA \r\n, world!!!\r\n0\r\nx-trailer: 1\r\nx-more: 2\r\n\r\n";
    let (head, body, left) = read_all_ways(wire).unwrap();
    assert_eq!(head.content_length(), None);
    assert!(head.keep_alive);
    assert_eq!(body, b"hello, world!!!");
    assert_eq!(left, 0);
}

#[test]
fn informational_answers_are_skipped() {
    let wire = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n\
                HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok";
    let (head, body, _) = read_all_ways(wire).unwrap();
    assert_eq!(head.status, 201);
    assert!(!head.headers.map().contains_key("link"));
    assert_eq!(body, b"ok");
}

#[test]
fn framing_and_keep_alive_follow_rfc_9112() {
    let case = |wire: &str| {
        let (h, body, left) = read_all_ways(wire).unwrap();
        (
            h.content_length(),
            h.keep_alive,
            String::from_utf8(body).unwrap(),
            left,
        )
    };
    // No body for 204 and 304 whatever the head says; what follows is the next answer's.
    assert_eq!(
        case("HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\nHTTP/"),
        (Some(0), true, String::new(), 5)
    );
    assert_eq!(
        case("HTTP/1.1 304 Not Modified\r\n\r\n"),
        (Some(0), true, String::new(), 0)
    );
    // Neither length nor chunked: the body runs to the connection's end, which is then not reusable.
    assert_eq!(
        case("HTTP/1.1 200 OK\r\n\r\nall of it"),
        (None, false, "all of it".into(), 0)
    );
    // HTTP/1.0 keeps the connection only when asked; `close` ends it in either version.
    assert_eq!(
        case("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\nx"),
        (Some(1), false, "x".into(), 0)
    );
    assert_eq!(
        case("HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\ncontent-length: 1\r\n\r\nx"),
        (Some(1), true, "x".into(), 0)
    );
    assert_eq!(
        case("HTTP/1.1 200 OK\r\nconnection: foo, close\r\ncontent-length: 1\r\n\r\nx"),
        (Some(1), false, "x".into(), 0)
    );
    // Chunked wins over a length, and the connection is let go.
    assert_eq!(
        case("HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"),
        (None, false, "x".into(), 0)
    );
    // A coding other than chunked last: to the connection's end.
    assert_eq!(
        case("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\nzz"),
        (None, false, "zz".into(), 0)
    );
    // The same length repeated is that length.
    assert_eq!(
        case("HTTP/1.1 200 OK\r\ncontent-length: 2, 2\r\ncontent-length: 2\r\n\r\nab"),
        (Some(2), true, "ab".into(), 0)
    );
}

#[test]
fn hostile_heads_and_bodies_are_errors_not_panics() {
    let heads = [
        "HELLO\r\n\r\n",
        "HTTP/1.1 2000 Big\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: \r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
    ];
    for wire in heads {
        let e = read_all_ways(wire)
            .err()
            .unwrap_or_else(|| panic!("{wire:?} accepted"));
        assert_eq!(e.0, ErrorKind::NoResponse, "{wire:?}: {}", e.1);
    }
    let chunked = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
    let bodies = [
        "zz\r\n",
        "\r\n",
        "ffffffffffffffffffff\r\n",
        "1 1\r\n",
        "1\nx\r\n",
        "1\r\nxy\r\n",
        "1;a\nb\r\nx\r\n0\r\n\r\n",
        "0\r\n\r\r",
    ];
    for b in bodies {
        let wire = format!("{chunked}{b}");
        let e = read_all_ways(&wire)
            .err()
            .unwrap_or_else(|| panic!("{b:?} accepted"));
        assert_eq!(e.0, ErrorKind::BodyInterrupted, "{b:?}: {}", e.1);
    }
    // Trailers without end, past the limit.
    let endless = format!("{chunked}0\r\n{}", "x-t: y\r\n".repeat(MAX_SKIPPED / 8 + 2));
    let e = read(endless.as_bytes(), 4096)
        .err()
        .expect("endless trailers");
    assert_eq!(e.0, ErrorKind::BodyInterrupted, "{}", e.1);
}

#[test]
fn the_largest_chunk_size_reads_and_one_digit_more_does_not() {
    let mut st = Chunked::Size(0, false);
    let mut buf = BytesMut::from(&b"fffffffffffffff0\r\nab"[..]);
    let d = chunked_step(&mut st, &mut buf, &mut 0).unwrap();
    assert!(matches!(d, Step::Data(ref d) if d.as_ref() == b"ab"));
    assert_eq!(st, Chunked::Data(0xffff_ffff_ffff_fff0 - 2));
    let mut st = Chunked::Size(0, false);
    let mut buf = BytesMut::from(&b"fffffffffffffff00\r\n"[..]);
    assert!(chunked_step(&mut st, &mut buf, &mut 0).is_err());
}

#[test]
fn a_post_goes_out_as_reqwest_would_write_it() {
    let mut h = HeaderMap::new();
    h.insert("authorization", HeaderValue::from_static("Bearer k"));
    // The endpoint's own framing and type give way to the request's.
    h.insert("content-type", HeaderValue::from_static("text/plain"));
    h.insert("content-length", HeaderValue::from_static("999"));
    h.insert("x-team", HeaderValue::from_static("care"));
    let host = HeaderValue::from_static("127.0.0.1:8080");
    let wire = encode_post("/v1/chat/completions?a=b", &h, "*/*", &host, b"{\"x\":1}");
    assert_eq!(
        String::from_utf8(wire).unwrap(),
        "POST /v1/chat/completions?a=b HTTP/1.1\r\nauthorization: Bearer k\r\nx-team: care\r\n\
         content-type: application/json\r\naccept: */*\r\nhost: 127.0.0.1:8080\r\ncontent-length: 7\r\n\r\n{\"x\":1}"
    );
    // A Host the endpoint names is the one sent.
    h.insert("host", HeaderValue::from_static("example.test"));
    let wire = String::from_utf8(encode_post("/", &h, "text/event-stream", &host, b"")).unwrap();
    assert_eq!(wire.matches("host: ").count(), 1);
    assert!(wire.contains("host: example.test\r\n"));
    assert!(wire.ends_with("accept: text/event-stream\r\ncontent-length: 0\r\n\r\n"));
}

/// A field read straight from the head's bytes is what the `HeaderMap` gives for it: any case of the name, the
/// first of two, None for an absent one or for a value that is not visible ASCII; the map keeps every field.
#[test]
fn fields_read_from_the_bytes_match_the_header_map() {
    let wire = b"HTTP/1.1 429 Too Many Requests\r\nCONTENT-type: text/plain; charset=utf-8\r\n\
                 Retry-After: 7\r\nx-dup: first\r\nX-Dup: second\r\nx-obs: caf\xc3\xa9\r\nx-tab: a\tb\r\n\
                 x-empty:\r\ncontent-length: 0\r\n\r\n";
    let mut buf = BytesMut::from(&wire[..]);
    let head = parse_head(&mut buf).unwrap().unwrap();
    let map = head.headers.map();
    assert_eq!(map.len(), 8);
    assert_eq!(map.get_all("x-dup").iter().count(), 2);
    for name in [
        "content-type",
        "Content-Type",
        "retry-after",
        "x-dup",
        "x-obs",
        "x-tab",
        "x-empty",
        "content-length",
        "absent",
    ] {
        let by_map = map.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(head.headers.get_str(name), by_map, "{name}");
    }
    assert_eq!(head.headers.get_str("x-dup"), Some("first"));
    assert_eq!(head.headers.get_str("x-obs"), None);
    assert_eq!(
        head.headers.get_str("content-type"),
        Some("text/plain; charset=utf-8")
    );
}

/// A name `HeaderName` would refuse (over 65,535 bytes) makes the answer invalid, as it did when every field went
/// into the map at once; the longest it takes is kept.
#[test]
fn a_header_name_longer_than_the_map_takes_is_refused() {
    for (len, ok) in [(65_535, true), (65_536, false)] {
        let wire = format!(
            "HTTP/1.1 200 OK\r\n{}: v\r\ncontent-length: 0\r\n\r\n",
            "n".repeat(len)
        );
        let mut buf = BytesMut::from(wire.as_bytes());
        match parse_head(&mut buf) {
            Ok(Some(h)) => {
                assert!(ok, "{len}");
                assert_eq!(h.headers.map().len(), 2);
            }
            Err((_, msg)) => {
                assert!(!ok, "{len}: {msg}");
                assert!(msg.starts_with("invalid header name"), "{}", &msg[..40]);
            }
            Ok(None) => panic!("{len}: incomplete"),
        }
    }
}
