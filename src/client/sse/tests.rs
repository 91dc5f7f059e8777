use super::*;

fn ev(event: Option<&str>, data: &str) -> SseEvent {
    SseEvent {
        event: event.map(str::to_owned),
        data: data.to_owned(),
        id: None,
    }
}

/// Parse `bytes` cut at `cuts` (ascending positions), draining after every push.
fn parse_cut(p: &mut SseParser, bytes: &[u8], cuts: &[usize]) -> (Vec<SseEvent>, StreamEnd) {
    let mut out = Vec::new();
    let mut from = 0;
    for &c in cuts.iter().chain(std::iter::once(&bytes.len())) {
        p.push(&bytes[from..c]).unwrap();
        while let Some(e) = p.next_event() {
            out.push(e);
        }
        from = c;
    }
    let end = p.finish();
    while let Some(e) = p.next_event() {
        out.push(e);
    }
    (out, end)
}

fn parse(bytes: &[u8]) -> (Vec<SseEvent>, StreamEnd) {
    parse_cut(&mut SseParser::new(), bytes, &[])
}

/// Same events and end whole, cut once at every position, cut twice at nearby positions, and byte by byte.
fn check_all_splits(bytes: &[u8], want: &[SseEvent], partial: bool) {
    let mut p = SseParser::new(); // reused: finish() must leave it ready for the next stream
    let (got, end) = parse_cut(&mut p, bytes, &[]);
    assert_eq!(got, want, "whole");
    assert_eq!(end.partial, partial, "whole");
    for i in 0..=bytes.len() {
        let (got, end) = parse_cut(&mut p, bytes, &[i]);
        assert_eq!(got, want, "cut at {i}");
        assert_eq!(end.partial, partial, "cut at {i}");
        for j in i..bytes.len().min(i + 6) {
            let (got, _) = parse_cut(&mut p, bytes, &[i, j]);
            assert_eq!(got, want, "cut at {i} and {j}");
        }
    }
    let every: Vec<usize> = (1..bytes.len()).collect();
    let (got, end) = parse_cut(&mut p, bytes, &every);
    assert_eq!(got, want, "byte by byte");
    assert_eq!(end.partial, partial, "byte by byte");
}

const O1: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}"#;
const O2: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}"#;
const O3: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"lo ✓ é"},"finish_reason":null}],"usage":null}"#;
const O4: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#;
const O5: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;

fn openai_body() -> String {
    format!(
        "data: {O1}\n\ndata: {O2}\n\n: keep-alive\n\ndata: {O3}\n\ndata: {O4}\n\ndata: {O5}\n\ndata: [DONE]\n\n"
    )
}

fn openai_events() -> Vec<SseEvent> {
    vec![
        ev(None, O1),
        ev(None, O2),
        ev(None, O3),
        ev(None, O4),
        ev(None, O5),
        ev(None, "[DONE]"),
    ]
}

#[test]
fn openai_stream_every_split_lf_crlf_cr() {
    let body = openai_body();
    let want = openai_events();
    check_all_splits(body.as_bytes(), &want, false);
    check_all_splits(body.replace('\n', "\r\n").as_bytes(), &want, false);
    check_all_splits(body.replace('\n', "\r").as_bytes(), &want, false);
    let items: Vec<StreamItem> = want.iter().map(classify_openai).collect();
    assert_eq!(
        items,
        vec![
            StreamItem::Ignored,
            StreamItem::Content("Hel".into()),
            StreamItem::Content("lo ✓ é".into()),
            StreamItem::Ignored,
            StreamItem::Usage {
                input: 12,
                output: 3
            },
            StreamItem::Done,
        ]
    );
}

const COZE: &str = r#"event:conversation.chat.created
data:{"id":"ch1","conversation_id":"cv1","bot_id":"b1","status":"created"}

event:conversation.chat.in_progress
data:{"id":"ch1","conversation_id":"cv1","bot_id":"b1","status":"in_progress"}

event:conversation.message.delta
data:{"id":"m0","chat_id":"ch1","role":"assistant","type":"function_call","content":"{\"name\":\"search\"}","content_type":"text"}

event:conversation.message.delta
data:{"id":"m1","chat_id":"ch1","role":"assistant","type":"answer","content":"你好","content_type":"text"}

event:conversation.message.delta
data:{"id":"m1","chat_id":"ch1","role":"assistant","type":"answer","content":"!","content_type":"text"}

event:conversation.message.completed
data:{"id":"m1","chat_id":"ch1","role":"assistant","type":"answer","content":"你好!","content_type":"text"}

event:conversation.message.completed
data:{"id":"m2","chat_id":"ch1","role":"assistant","type":"follow_up","content":"Tell me more?","content_type":"text"}

event:conversation.chat.completed
data:{"id":"ch1","conversation_id":"cv1","bot_id":"b1","completed_at":1718792949,"last_error":{"code":0,"msg":""},"status":"completed","usage":{"token_count":30,"output_count":4,"input_count":26}}

event:done
data:"[DONE]"

"#;

#[test]
fn coze_stream_every_split() {
    let want = vec![
        ev(
            Some("conversation.chat.created"),
            r#"{"id":"ch1","conversation_id":"cv1","bot_id":"b1","status":"created"}"#,
        ),
        ev(
            Some("conversation.chat.in_progress"),
            r#"{"id":"ch1","conversation_id":"cv1","bot_id":"b1","status":"in_progress"}"#,
        ),
        ev(
            Some("conversation.message.delta"),
            r#"{"id":"m0","chat_id":"ch1","role":"assistant","type":"function_call","content":"{\"name\":\"search\"}","content_type":"text"}"#,
        ),
        ev(
            Some("conversation.message.delta"),
            r#"{"id":"m1","chat_id":"ch1","role":"assistant","type":"answer","content":"你好","content_type":"text"}"#,
        ),
        ev(
            Some("conversation.message.delta"),
            r#"{"id":"m1","chat_id":"ch1","role":"assistant","type":"answer","content":"!","content_type":"text"}"#,
        ),
        ev(
            Some("conversation.message.completed"),
            r#"{"id":"m1","chat_id":"ch1","role":"assistant","type":"answer","content":"你好!","content_type":"text"}"#,
        ),
        ev(
            Some("conversation.message.completed"),
            r#"{"id":"m2","chat_id":"ch1","role":"assistant","type":"follow_up","content":"Tell me more?","content_type":"text"}"#,
        ),
        ev(
            Some("conversation.chat.completed"),
            r#"{"id":"ch1","conversation_id":"cv1","bot_id":"b1","completed_at":1718792949,"last_error":{"code":0,"msg":""},"status":"completed","usage":{"token_count":30,"output_count":4,"input_count":26}}"#,
        ),
        ev(Some("done"), r#""[DONE]""#),
    ];
    check_all_splits(COZE.as_bytes(), &want, false);
    check_all_splits(COZE.replace('\n', "\r\n").as_bytes(), &want, false);
    let items: Vec<StreamItem> = want.iter().map(classify_coze).collect();
    assert_eq!(
        items,
        vec![
            StreamItem::Ignored,
            StreamItem::Ignored,
            StreamItem::Ignored,
            StreamItem::Content("你好".into()),
            StreamItem::Content("!".into()),
            StreamItem::Ignored,
            StreamItem::Ignored,
            StreamItem::Usage {
                input: 26,
                output: 4
            },
            StreamItem::Done,
        ]
    );
}

#[test]
fn coze_failures_and_usage_fallback() {
    let failed = ev(
        Some("conversation.chat.failed"),
        r#"{"id":"ch1","status":"failed","last_error":{"code":4011,"msg":"insufficient balance"}}"#,
    );
    assert_eq!(
        classify_coze(&failed),
        StreamItem::Error("chat failed: code 4011: insufficient balance".into())
    );
    let err = ev(Some("error"), r#"{"code":4000,"msg":"bad request"}"#);
    assert_eq!(
        classify_coze(&err),
        StreamItem::Error("code 4000: bad request".into())
    );
    let only_total = ev(
        Some("conversation.chat.completed"),
        r#"{"status":"completed","usage":{"token_count":30,"input_count":26}}"#,
    );
    assert_eq!(
        classify_coze(&only_total),
        StreamItem::Usage {
            input: 26,
            output: 4
        }
    );
    let no_usage = ev(
        Some("conversation.chat.completed"),
        r#"{"status":"completed"}"#,
    );
    assert_eq!(classify_coze(&no_usage), StreamItem::Ignored);
    let empty_answer = ev(
        Some("conversation.message.delta"),
        r#"{"type":"answer","content":""}"#,
    );
    assert_eq!(classify_coze(&empty_answer), StreamItem::Ignored);
    let bad = ev(Some("conversation.message.delta"), r#"{"type":"answer","#);
    assert!(matches!(classify_coze(&bad), StreamItem::Malformed(_)));
    assert!(matches!(
        classify_coze(&ev(Some("conversation.chat.requires_action"), "{}")),
        StreamItem::Error(_)
    ));
    assert_eq!(
        classify_coze(&ev(Some("conversation.audio.delta"), "{}")),
        StreamItem::Ignored
    );
}

#[test]
fn openai_error_mid_stream_and_malformed() {
    let body = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"A\"}}]}\n\n",
        "event: error\n",
        "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\",\"code\":null}}\n\n",
        "data: {\"error\":{\"message\":\"Rate limit\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}\n\n",
        "data: {\"choices\":[\n\n",
        "data: 42\n\n",
        "event: error\ndata: upstream gone\n\n",
        "data: [DONE]\n\n",
    );
    let (evs, end) = parse(body.as_bytes());
    assert!(end.is_clean());
    let items: Vec<StreamItem> = evs.iter().map(classify_openai).collect();
    assert_eq!(items.len(), 7);
    assert_eq!(items[0], StreamItem::Content("A".into()));
    assert_eq!(items[1], StreamItem::Error("overloaded".into()));
    assert_eq!(
        items[2],
        StreamItem::Error("code rate_limit_exceeded: Rate limit".into())
    );
    assert!(matches!(&items[3], StreamItem::Malformed(m) if m.contains("{\"choices\":[")));
    assert!(matches!(&items[4], StreamItem::Malformed(_)));
    assert_eq!(items[5], StreamItem::Error("upstream gone".into()));
    assert_eq!(items[6], StreamItem::Done);
}

#[test]
fn openai_tool_call_and_null_content_ignored() {
    let tool = ev(
        None,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]},"finish_reason":null}]}"#,
    );
    assert_eq!(classify_openai(&tool), StreamItem::Ignored);
    let null = ev(
        None,
        r#"{"choices":[{"index":0,"delta":{"content":null}}]}"#,
    );
    assert_eq!(classify_openai(&null), StreamItem::Ignored);
    let error_null = ev(
        None,
        r#"{"error":null,"choices":[{"delta":{"content":"x"}}]}"#,
    );
    assert_eq!(
        classify_openai(&error_null),
        StreamItem::Content("x".into())
    );
}

#[test]
fn multiline_data_fields_and_spaces() {
    let body = b"data: a\ndata:b\ndata\ndata:  c\n\n";
    check_all_splits(body, &[ev(None, "a\nb\n\n c")], false);
    // The event type applies to one event only; comments and unknown fields are ignored.
    let body = b"event: x\n: comment\nfoo: bar\ndata: 1\n\ndata: 2\n\n";
    check_all_splits(body, &[ev(Some("x"), "1"), ev(None, "2")], false);
    // `event` without a colon sets an empty type: the default.
    check_all_splits(b"event: x\nevent\ndata: 1\n\n", &[ev(None, "1")], false);
    // Mixed line endings: CR CR, LF LF, CRLF LF.
    check_all_splits(
        b"data: a\r\rdata: b\n\ndata: c\r\n\n",
        &[ev(None, "a"), ev(None, "b"), ev(None, "c")],
        false,
    );
}

#[test]
fn empty_data_not_dispatched_but_empty_value_is() {
    // No data field: nothing dispatched, and the event type is reset by the blank line.
    check_all_splits(b"event: x\n\ndata: 1\n\n", &[ev(None, "1")], false);
    // `data:` with an empty value is data (empty string), and is dispatched.
    check_all_splits(b"data:\n\ndata\n\n", &[ev(None, ""), ev(None, "")], false);
    // Blank lines only.
    check_all_splits(b"\n\n\r\n\r\r", &[], false);
}

#[test]
fn ids_persist_and_retry() {
    let body = b"id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 9\nid: x\0y\ndata: d\n\n";
    let mut a = ev(None, "a");
    a.id = Some("7".into());
    let mut b = ev(None, "b");
    b.id = Some("7".into());
    let mut d = ev(None, "d");
    d.id = Some("9".into());
    check_all_splits(body, &[a, b, ev(None, "c"), d], false);

    let mut p = SseParser::new();
    p.push(b"retry: 1500\n").unwrap();
    assert_eq!(p.retry(), Some(1500));
    p.push(b"retry: 15a\nretry:\nretry: -1\n").unwrap();
    assert_eq!(p.retry(), Some(1500));
    p.push(b"retry:20\n").unwrap();
    assert_eq!(p.retry(), Some(20));
}

#[test]
fn bom_stripped_once() {
    check_all_splits(b"\xEF\xBB\xBFdata: x\n\n", &[ev(None, "x")], false);
    // A second BOM is part of the first field name, which then is unknown.
    check_all_splits(
        b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n",
        &[ev(None, "y")],
        false,
    );
    // Not a BOM: the bytes are content (here a line with an unknown field name).
    check_all_splits(b"\xEF\xBB\ndata: y\n\n", &[ev(None, "y")], false);
    // A BOM only mid-stream is content.
    let (evs, _) = parse(b"data: \xEF\xBB\xBFz\n\n");
    assert_eq!(evs, vec![ev(None, "\u{FEFF}z")]);
    // Invalid UTF-8 becomes U+FFFD.
    let (evs, _) = parse(b"data: a\xFFb\n\n");
    assert_eq!(evs, vec![ev(None, "a\u{FFFD}b")]);
}

#[test]
fn cut_streams_detected_by_finish() {
    let body = openai_body();
    let done_at = body.find("data: [DONE]").unwrap();
    // Cut on an event boundary: clean for the parser (no [DONE] seen is the caller's business).
    let (evs, end) = parse(&body.as_bytes()[..done_at]);
    assert_eq!(evs, openai_events()[..5]);
    assert!(end.is_clean());
    assert_eq!(end.unterminated, None);
    // `[DONE]` without its blank line: partial, and the unterminated event is reported, not dispatched.
    let (evs, end) = parse(&body.as_bytes()[..done_at + "data: [DONE]\n".len()]);
    assert_eq!(evs.len(), 5);
    assert!(end.partial);
    assert_eq!(end.unterminated, Some(ev(None, "[DONE]")));
    // Cut in the middle of a data line (inside the multi-byte "✓"): partial, nothing pending.
    let mid = body.find('✓').unwrap() + 1;
    for cut in [mid, mid + 1] {
        let (evs, end) = parse(&body.as_bytes()[..cut]);
        assert_eq!(evs, openai_events()[..2]);
        assert!(end.partial);
        assert_eq!(end.unterminated, None);
    }
    // Cut after an event line but before the blank line.
    let (_, end) = parse(b"event: x\n");
    assert!(end.partial);
    // A trailing comment, finished or not, is not an event.
    let (evs, end) = parse(b"data: a\n\n: ping\n: pi");
    assert_eq!(evs, vec![ev(None, "a")]);
    assert!(end.is_clean());
    // Half a BOM then EOF: content bytes without a line end.
    let (_, end) = parse(b"\xEF\xBB");
    assert!(end.partial);
    let (_, end) = parse(b"");
    assert!(end.is_clean());
}

#[test]
fn oversize_line_and_event() {
    // "data: 0123456789" is 16 bytes: at the limit, allowed.
    let mut p = SseParser::with_max_event_bytes(16);
    p.push(b"data: 0123456789\n\n").unwrap();
    assert_eq!(p.next_event(), Some(ev(None, "0123456789")));
    // 17 bytes in one chunk.
    assert_eq!(
        p.push(b"data: 0123456789a\n"),
        Err(SseError::LineTooLong { limit: 16 })
    );
    // Failed for good.
    assert_eq!(
        p.push(b"data: x\n\n"),
        Err(SseError::LineTooLong { limit: 16 })
    );
    // A line that never ends is refused once it passes the limit, before any line end.
    let mut p = SseParser::with_max_event_bytes(16);
    p.push(b"data: 01234567").unwrap();
    assert_eq!(
        p.push(b"89abcdef"),
        Err(SseError::LineTooLong { limit: 16 })
    );
    // Same line finished in a later chunk.
    let mut p = SseParser::with_max_event_bytes(16);
    p.push(b"data: 0123456789").unwrap();
    assert_eq!(p.push(b"a\n"), Err(SseError::LineTooLong { limit: 16 }));
    // Two data lines of 10 bytes: 11 + 11 > 16.
    let mut p = SseParser::with_max_event_bytes(16);
    assert_eq!(
        p.push(b"data: 0123456789\ndata: 0123456789\n"),
        Err(SseError::EventTooLarge { limit: 16 })
    );
    // reset() clears the error.
    p.reset();
    p.push(b"data: ok\n\n").unwrap();
    assert_eq!(p.next_event(), Some(ev(None, "ok")));
}

#[test]
fn find_eol_matches_naive() {
    let mut buf = Vec::new();
    for len in 0..40 {
        for pos in 0..=len {
            for b in [b'\r', b'\n', b'x'] {
                buf.clear();
                buf.extend((0..len).map(|i| [0u8, 1, 0x0C, 0x0E, 0x8D, 0x8A, b'a'][i % 7]));
                if pos < len {
                    buf[pos] = b;
                }
                let naive = buf.iter().position(|&c| c == b'\r' || c == b'\n');
                assert_eq!(find_eol(&buf), naive, "len {len} pos {pos} byte {b}");
            }
        }
    }
}

fn at(base: Instant, ms: u64) -> Instant {
    base + Duration::from_millis(ms)
}

#[test]
fn timer_exact_figures() {
    let b = Instant::now();
    let mut t = StreamTimer::new(at(b, 0));
    t.on_first_byte(at(b, 100));
    t.on_first_byte(at(b, 150)); // ignored
    t.on_content(at(b, 200), 0); // empty content: not a token
    t.on_content(at(b, 250), 3);
    t.on_content(at(b, 300), 5);
    t.on_content(at(b, 380), 4);
    t.on_content(at(b, 500), 2);
    let ms = Duration::from_millis;
    assert_eq!(t.ttfb(), Some(ms(100)));
    assert_eq!(t.ttft(), Some(ms(250)));
    assert_eq!(t.gaps().listed(), &[ms(50), ms(80), ms(120)]);
    assert_eq!(t.gaps().max(), Some(ms(120)));
    assert_eq!(t.content_span(), Some(ms(250)));
    assert_eq!(t.content_chunks(), 4);
    assert_eq!(t.heap_bytes(), t.gaps().heap_bytes());
}

#[test]
fn timer_without_content_and_gap_limit() {
    let b = Instant::now();
    let mut t = StreamTimer::new(at(b, 0));
    t.on_first_byte(at(b, 40));
    assert_eq!(t.ttft(), None);
    assert_eq!(t.content_span(), None);

    let mut t = StreamTimer::new(at(b, 0));
    for ms in [10, 20, 40, 70] {
        t.on_content(at(b, ms), 1);
    }
    // No first byte recorded: the first content is.
    assert_eq!(t.ttfb(), Some(Duration::from_millis(10)));
    let ms = Duration::from_millis;
    assert_eq!(t.gaps().listed(), &[ms(10), ms(20), ms(30)]);
    assert_eq!(t.gaps().count(), 3);
    // A stream of a million chunks holds bounded state: the list, then a counter per histogram cell reached.
    let mut t = StreamTimer::new(at(b, 0));
    for k in 0..1_000_000u64 {
        t.on_content(b + Duration::from_micros(k * 150 + k % 7 * 10), 1);
    }
    assert_eq!(t.gaps().count(), 999_999);
    assert!(t.heap_bytes() < 100_000, "{}", t.heap_bytes());
    // The span runs from the first content (k = 0, at 0) to the last (k = 999,999: 999,999 % 7 = 0).
    assert_eq!(t.content_span(), Some(Duration::from_micros(999_999 * 150)));
}

#[test]
fn parser_drives_timer() {
    // Each event arrives 10 ms after the previous one, the first at 100 ms; the role-only chunk does not
    // count, so TTFT is the second event's instant.
    let b = Instant::now();
    let body = openai_body();
    let mut t = StreamTimer::new(at(b, 0));
    let mut p = SseParser::new();
    let mut done = false;
    let mut usage = None;
    for (k, piece) in body.split_inclusive("\n\n").enumerate() {
        let now = at(b, 100 + 10 * k as u64);
        t.on_first_byte(now);
        p.push(piece.as_bytes()).unwrap();
        while let Some(e) = p.next_event() {
            match classify_openai(&e) {
                StreamItem::Content(s) => t.on_content(now, s.len() as u64),
                StreamItem::Usage { output, .. } => usage = Some(output),
                StreamItem::Done => done = true,
                _ => {}
            }
        }
    }
    assert!(done && p.finish().is_clean());
    // Pieces: O1@100, O2@110, comment@120, O3@130, O4@140, O5@150, DONE@160.
    assert_eq!(t.ttfb(), Some(Duration::from_millis(100)));
    assert_eq!(t.ttft(), Some(Duration::from_millis(110)));
    assert_eq!(t.gaps().listed(), &[Duration::from_millis(20)]);
    assert_eq!(usage, Some(3));
    // Two chunks carry content, at 110 and 130 ms (one gap, listed above).
    assert_eq!(t.content_span(), Some(Duration::from_millis(20)));
    assert_eq!(t.content_chunks(), 2);
}
