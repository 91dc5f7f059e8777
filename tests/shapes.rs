//! Load shapes end to end: warm-up rows are sent and recorded but kept out of every figure.

mod common;

use std::time::Duration;

use common::*;
use cutover::run::state::Control;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-test-shapes-0123456789";

fn ok_body() -> serde_json::Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4.1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Your order ships today."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
    })
}

/// 20 uniform arrivals over 1 s (k / 20 s), warm-up 0.5 s: the first 10 are warm-up. The server is "cold": its first
/// 10 answers take 400 ms, the rest are immediate. The measured figures must not see the cold answers.
#[tokio::test(flavor = "multi_thread")]
async fn warmup_requests_are_recorded_and_kept_out_of_every_figure() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(ok_body())
                .set_delay(Duration::from_millis(400)),
        )
        .up_to_n_times(10)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body()))
        .with_priority(2)
        .mount(&server)
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let text = openai_scenario(&server.uri(), 20, "").replace(
        "  prompts: [\"hello there\"]\n",
        "  prompts: [\"hello there\"]\n  warmup_s: 0.5\n",
    );
    let sc = write_scenario(tmp.path(), &text);
    set_test_key(KEY);
    let r = run_in(tmp.path(), &sc, Control::default()).await.unwrap();
    let rows = records(&r.dir);
    assert_eq!(rows.len(), 20);
    for row in &rows {
        assert_eq!(
            row.warmup,
            row.scheduled_ms < 500.0,
            "conversation {} scheduled at {} ms",
            row.conversation,
            row.scheduled_ms
        );
    }
    let slow = rows
        .iter()
        .filter(|r| r.latency_ms.unwrap() >= 390.0)
        .count();
    assert_eq!(slow, 10, "the cold answers happened (to the warm-up)");
    // the run's accounting has all 20; the statistics only the 10 measured
    let meta = cutover::report::RunMeta::load(&r.dir).unwrap();
    assert_eq!(meta.accounting[0].scheduled, 20);
    let run = cutover::report::rundir::Run::load(&r.dir).unwrap();
    let m = &run.metrics;
    assert_eq!(m.metric("gw", "requests"), Some(10.0));
    assert_eq!(m.targets["gw"].warmup, 10);
    let max = m.metric("gw", "max_ms").unwrap();
    assert!(
        max < 390.0,
        "a warm-up answer leaked into the figures: max {max} ms"
    );
    let md = std::fs::read_to_string(r.dir.join("report.md")).unwrap();
    assert!(md.contains("Warm-up: 10 more requests"), "{md}");
}
