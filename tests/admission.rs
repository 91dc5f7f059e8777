//! Admission under a binding send-rate cap (issue 10): requests leave in arrival order, so the backlog's wait grows
//! with the arrival index instead of being dealt out at random by the rate limiter's wake-up order.

mod common;

use common::*;
use cutover::run::state::Control;
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_leave_in_arrival_order_when_max_rps_binds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4.1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
        })))
        .mount(&server)
        .await;
    let tmp = tempfile::tempdir().unwrap();
    // The plan: 40 arrivals evenly spaced over one second (every 25 ms) against a cap of 10 requests/s (one every
    // 100 ms, burst 1). The backlog grows by 75 ms per arrival, so in arrival order each request waits longer than
    // the one before it.
    let text = openai_scenario(&server.uri(), 40, "")
        .replace("limits:\n", "limits:\n  max_rps: 10\n")
        .replace("grace_s: 2", "grace_s: 10");
    let sc = write_scenario(tmp.path(), &text);
    set_test_key("sk-admission-test-000000");
    let r = run_in(tmp.path(), &sc, Control::default()).await.unwrap();
    let mut rows = records(&r.dir);
    assert_eq!(rows.len(), 40);
    assert!(rows
        .iter()
        .all(|r| r.outcome == Some(cutover::run::record::Outcome::Ok)));
    rows.sort_by(|a, b| a.scheduled_ms.total_cmp(&b.scheduled_ms));
    let sent: Vec<f64> = rows.iter().map(|r| r.sent_ms.unwrap()).collect();
    let out_of_order: Vec<usize> = (1..sent.len()).filter(|&i| sent[i] < sent[i - 1]).collect();
    assert!(
        out_of_order.is_empty(),
        "sent out of arrival order at {out_of_order:?}: {sent:?}"
    );
    // From-schedule latency is monotone with arrival (up to the answer's own jitter of a few ms).
    let from: Vec<f64> = rows.iter().map(|r| r.from_scheduled_ms.unwrap()).collect();
    for i in 1..from.len() {
        assert!(
            from[i] + 20.0 >= from[i - 1],
            "from-schedule not monotone at {i}: {from:?}"
        );
    }
    assert!(from[39] > from[0] + 1500.0, "the backlog grew: {from:?}");
}
