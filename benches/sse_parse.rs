//! SSE parsing throughput: a realistic OpenAI-style stream (1,000 content chunks of ~40 bytes) parsed in memory
//! through `SseParser` alone and with `classify_openai`, fed in 64 B, 4 KiB and whole-body chunks. Prints the
//! median MB/s over several repetitions and the memory held per stream. Needs `harness = false`.
//!
//! Run: `cargo bench --bench sse_parse`

use std::hint::black_box;
use std::mem::size_of;
use std::time::{Duration, Instant};

use cutover::client::sse::{classify_openai, SseParser, StreamItem, StreamTimer};

const CONTENT_CHUNKS: usize = 1_000;
const REPS: usize = 11;

fn body() -> Vec<u8> {
    let head = r#"{"id":"chatcmpl-9bXyZ123abc","object":"chat.completion.chunk","created":1718000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0123456789","choices":[{"index":0,"delta":"#;
    let tail = r#","logprobs":null,"finish_reason":null}],"usage":null}"#;
    let mut s = String::new();
    s.push_str(&format!(
        "data: {head}{{\"role\":\"assistant\",\"content\":\"\"}}{tail}\n\n"
    ));
    let words = [
        "the ",
        "load ",
        "test ",
        "measures ",
        "latency ",
        "of ",
        "each ",
        "token ",
        "as ",
        "it ",
        "arrives, ",
        "ünïcödé ",
        "流式 ",
    ];
    for i in 0..CONTENT_CHUNKS {
        // ~40 bytes of content, JSON-escaped quotes now and then.
        let mut c = String::new();
        let mut k = i;
        while c.len() < 38 {
            c.push_str(words[k % words.len()]);
            k = k.wrapping_mul(7).wrapping_add(3);
        }
        if i % 10 == 0 {
            c.push_str("\\\"q\\\"");
        }
        s.push_str(&format!("data: {head}{{\"content\":\"{c}\"}}{tail}\n\n"));
    }
    s.push_str(&format!(
        "data: {head}{{}}{}\n\n",
        tail.replace("\"finish_reason\":null", "\"finish_reason\":\"stop\"")
    ));
    s.push_str(r#"data: {"id":"chatcmpl-9bXyZ123abc","object":"chat.completion.chunk","created":1718000000,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":512,"completion_tokens":9876,"total_tokens":10388}}"#);
    s.push_str("\n\ndata: [DONE]\n\n");
    s.into_bytes()
}

/// Parse the body once in `chunk`-byte pieces; returns (events, content chunks).
fn run(p: &mut SseParser, body: &[u8], chunk: usize, classify: bool) -> (usize, usize) {
    p.reset();
    let (mut events, mut content) = (0, 0);
    for piece in body.chunks(chunk) {
        p.push(piece).expect("parse");
        while let Some(ev) = p.next_event() {
            events += 1;
            if classify {
                match classify_openai(&ev) {
                    StreamItem::Content(t) => {
                        black_box(t);
                        content += 1;
                    }
                    StreamItem::Malformed(m) | StreamItem::Error(m) => panic!("{m}"),
                    other => {
                        black_box(other);
                    }
                }
            } else {
                black_box(&ev);
            }
        }
    }
    assert!(p.finish().is_clean());
    (events, content)
}

fn median_mbps(body: &[u8], chunk: usize, classify: bool, per_rep: usize) -> (f64, f64, f64) {
    let mut p = SseParser::new();
    let (events, content) = run(&mut p, body, chunk, classify); // warm-up and check
    assert_eq!(events, CONTENT_CHUNKS + 4);
    if classify {
        assert_eq!(content, CONTENT_CHUNKS);
    }
    let mut rates = Vec::with_capacity(REPS);
    for _ in 0..REPS {
        let t0 = Instant::now();
        for _ in 0..per_rep {
            black_box(run(&mut p, black_box(body), chunk, classify));
        }
        let secs = t0.elapsed().max(Duration::from_nanos(1)).as_secs_f64();
        rates.push((body.len() * per_rep) as f64 / secs / 1e6);
    }
    rates.sort_by(f64::total_cmp);
    (rates[REPS / 2], rates[0], rates[REPS - 1])
}

fn main() {
    let body = body();
    println!(
        "body: {} bytes, {} events ({} content chunks of ~40 B), {} repetitions each",
        body.len(),
        CONTENT_CHUNKS + 4,
        CONTENT_CHUNKS,
        REPS
    );
    for (classify, per_rep) in [(false, 40), (true, 8)] {
        let what = if classify {
            "SseParser + classify_openai"
        } else {
            "SseParser only"
        };
        for (label, chunk) in [("64 B", 64), ("4 KiB", 4096), ("whole", body.len())] {
            let (med, lo, hi) = median_mbps(&body, chunk, classify, per_rep);
            println!(
                "{what:<28} chunks {label:>5}: median {med:8.1} MB/s (min {lo:.1}, max {hi:.1})"
            );
        }
    }

    // Memory held per stream after a typical stream (4 KiB reads, events drained as they come).
    let mut p = SseParser::new();
    run(&mut p, &body, 4096, true);
    let parser_total = size_of::<SseParser>() + p.heap_bytes();
    let base = Instant::now();
    let mut t = StreamTimer::new(base);
    t.on_first_byte(base + Duration::from_millis(80));
    for i in 0..CONTENT_CHUNKS as u64 {
        t.on_content(base + Duration::from_millis(100 + 20 * i), 40);
    }
    let timer_total = size_of::<StreamTimer>() + t.heap_bytes();
    println!(
        "memory per stream: SseParser {} B struct + {} B buffers = {} B; \
         StreamTimer {} B struct + {} B gap statistics ({} gaps) = {} B; total {} B",
        size_of::<SseParser>(),
        p.heap_bytes(),
        parser_total,
        size_of::<StreamTimer>(),
        t.heap_bytes(),
        t.gaps().count(),
        timer_total,
        parser_total + timer_total
    );
}
