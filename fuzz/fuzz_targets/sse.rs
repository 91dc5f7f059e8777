#![no_main]
//! Differential: any byte stream parsed whole and parsed in two pieces (split where the first byte says) gives the
//! same events, the same end state, and classification never panics.
use cutover::client::sse::{classify_coze, classify_openai, SseEvent, SseParser};
use libfuzzer_sys::fuzz_target;

fn parse(pieces: &[&[u8]]) -> (Vec<SseEvent>, bool, bool) {
    let mut p = SseParser::with_max_event_bytes(1 << 16);
    let mut out = Vec::new();
    let mut failed = false;
    for piece in pieces {
        if p.push(piece).is_err() {
            failed = true;
            break;
        }
        while let Some(ev) = p.next_event() {
            out.push(ev);
        }
    }
    let end = p.finish();
    while let Some(ev) = p.next_event() {
        out.push(ev);
    }
    (out, end.partial, failed)
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let cut = (data[0] as usize * data.len()) / 256;
    let body = &data[1..];
    let cut = cut.min(body.len());
    let whole = parse(&[body]);
    let split = parse(&[&body[..cut], &body[cut..]]);
    if !whole.2 && !split.2 {
        assert_eq!(whole, split);
    }
    for ev in &whole.0 {
        let _ = classify_openai(ev);
        let _ = classify_coze(ev);
    }
});
