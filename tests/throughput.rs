//! Output tokens per second of a stream (issue 10): N tokens arrive over N-1 gaps, so the rate is the tokens after the
//! first divided by the span from the first to the last content chunk, not N over (end of stream - first token).

use cutover::measure::metrics::Metrics;
use cutover::run::record::{ms, Outcome, Record};
use std::time::Duration;

/// A stream as a server with known timings sends it: first content chunk at `ttft`, then one token every `gap`,
/// then the end marker `tail` after the last token. The record is filled as the runner fills it.
fn stream(tokens: u64, ttft_ms: u64, gap_ms: u64, tail_ms: u64) -> Record {
    let first = Duration::from_millis(ttft_ms);
    let last = first + Duration::from_millis(gap_ms * (tokens - 1));
    let done = last + Duration::from_millis(tail_ms);
    Record {
        target: "gw".into(),
        op: "chat".into(),
        model: "m".into(),
        stream: true,
        outcome: Some(Outcome::Ok),
        attempts: 1,
        ttft_ms: Some(ms(first)),
        latency_ms: Some(ms(done)),
        itl_ms: Some(ms(last - first) / (tokens - 1) as f64),
        output_tokens: tokens,
        ..Default::default()
    }
}

#[test]
fn tokens_per_second_counts_gaps_not_tokens() {
    let mut m = Metrics::new(1.0, 1.0);
    // 20 tokens 10 ms apart: 19 gaps over 190 ms = 100 tokens/s, whatever the 50 ms before the end marker.
    m.add(&stream(20, 300, 10, 50));
    let v = m.metric("gw", "output_tokens_per_s").unwrap();
    assert!((v - 100.0).abs() < 1e-6, "{v}");
    // Pooled with a 5-token stream 25 ms apart (4 gaps over 100 ms): 23 gaps over 290 ms.
    m.add(&stream(5, 100, 25, 0));
    let v = m.metric("gw", "output_tokens_per_s").unwrap();
    assert!((v - 23.0 / 0.290).abs() < 1e-6, "{v}");
}

#[test]
fn a_single_token_stream_has_no_rate() {
    let mut m = Metrics::new(1.0, 1.0);
    let mut r = stream(2, 100, 10, 0);
    r.output_tokens = 1;
    r.itl_ms = None;
    m.add(&r);
    assert_eq!(m.metric("gw", "output_tokens_per_s"), None);
}
