//! Exact runner behaviour against wiremock servers on loopback: retries with Retry-After, 401, 404, malformed JSON,
//! each asserted on the rows of requests.csv.

mod common;

use std::time::Duration;

use common::*;
use cutover::run::record::Outcome;
use cutover::run::state::Control;
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-test-wiremock-0123456789";

fn ok_body() -> serde_json::Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4.1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Your order ships today."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
    })
}

/// The request a correct client sends: POST, the right path, the bearer key, the model and the user's message.
fn chat_request() -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(body_partial_json(
            json!({"model": "gpt-4.1", "stream": false}),
        ))
        .and(body_partial_json(
            json!({"messages": [{"role": "user", "content": "hello there"}]}),
        ))
}

async fn run_one(
    server: &MockServer,
) -> (
    std::path::PathBuf,
    Vec<cutover::run::record::Record>,
    tempfile::TempDir,
) {
    let tmp = tempfile::tempdir().unwrap();
    let sc = write_scenario(tmp.path(), &openai_scenario(&server.uri(), 1, ""));
    set_test_key(KEY);
    let r = run_in(tmp.path(), &sc, Control::default()).await.unwrap();
    let rows = records(&r.dir);
    (r.dir, rows, tmp)
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limited_then_ok_honours_retry_after() {
    let server = MockServer::start().await;
    chat_request()
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1").set_body_json(
            json!({"error": {"message": "slow down", "type": "rate_limit", "code": "rate_limit_exceeded"}}),
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    chat_request()
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body()))
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    let (_dir, rows, _tmp) = run_one(&server).await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.outcome, Some(Outcome::Ok));
    assert_eq!((r.attempts, r.retries), (2, 1));
    assert_eq!(r.status, Some(200));
    // waited the server's 1 s (no jitter on a server-given wait), and e2e includes it while latency does not
    assert!(
        (r.retry_wait_ms - 1000.0).abs() < 1.0,
        "{}",
        r.retry_wait_ms
    );
    assert!(r.e2e_ms.unwrap() >= 1000.0, "{:?}", r.e2e_ms);
    assert!(r.latency_ms.unwrap() < 500.0, "{:?}", r.latency_ms);
    assert_eq!(
        (r.input_tokens, r.output_tokens, r.tokens_estimated),
        (11, 5, false)
    );
    // gpt-4.1: 11 * 2,000 + 5 * 8,000 nano-dollars
    assert_eq!(r.cost_nano_usd, 11 * 2_000 + 5 * 8_000);
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limited_with_http_date_is_honoured() {
    let server = MockServer::start().await;
    let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
    chat_request()
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", date.as_str()))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    chat_request()
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body()))
        .with_priority(2)
        .mount(&server)
        .await;
    let (_dir, rows, _tmp) = run_one(&server).await;
    let r = &rows[0];
    assert_eq!(r.outcome, Some(Outcome::Ok));
    assert_eq!(r.retries, 1);
    // an HTTP date has one-second resolution: the wait is between 1 and 2 s
    assert!(
        r.retry_wait_ms > 900.0 && r.retry_wait_ms <= 2000.0,
        "{}",
        r.retry_wait_ms
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthorized_is_recorded_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let (_dir, rows, _tmp) = run_one(&server).await;
    let r = &rows[0];
    assert_eq!(r.outcome, Some(Outcome::Error));
    assert_eq!(r.error_kind, "http_401");
    assert_eq!(r.status, Some(401));
    assert_eq!(r.attempts, 1);
    assert_eq!(r.detail, "Incorrect API key provided");
    assert_eq!(r.cost_nano_usd, 0);
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_model_404_is_recorded() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"model": "gpt-4.1"})))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"error": {"message": "The model `gpt-4.1` does not exist", "type": "invalid_request_error", "code": "model_not_found"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let (dir, rows, _tmp) = run_one(&server).await;
    assert_eq!(rows[0].error_kind, "http_404");
    assert_eq!(rows[0].attempts, 1);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("| gw | http_404 | 1 |"), "{md}");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_is_its_own_error_kind() {
    let server = MockServer::start().await;
    chat_request()
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("{\"id\": \"x\", \"choices\": [", "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let (_dir, rows, _tmp) = run_one(&server).await;
    let r = &rows[0];
    assert_eq!(r.outcome, Some(Outcome::Error));
    assert_eq!(r.error_kind, "malformed_json");
    assert_eq!(r.status, Some(200));
    assert!(r.latency_ms.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_retry_with_backoff_until_the_count_runs_out() {
    let server = MockServer::start().await;
    chat_request()
        .respond_with(ResponseTemplate::new(503))
        .expect(3) // first attempt + max_retries 2
        .mount(&server)
        .await;
    let (_dir, rows, _tmp) = run_one(&server).await;
    let r = &rows[0];
    assert_eq!(r.error_kind, "http_503");
    assert_eq!((r.attempts, r.retries), (3, 2));
    // backoff 50 ms then 100 ms, each minus up to 25% jitter
    assert!(
        r.retry_wait_ms >= 112.0 && r.retry_wait_ms <= 150.0,
        "{}",
        r.retry_wait_ms
    );
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_missing_means_estimated_tokens() {
    let server = MockServer::start().await;
    let mut body = ok_body();
    body.as_object_mut().unwrap().remove("usage");
    chat_request()
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let (dir, rows, _tmp) = run_one(&server).await;
    let r = &rows[0];
    assert!(r.tokens_estimated);
    // "hello there" = 11 chars -> 3 tokens; "Your order ships today." = 23 chars -> 6 tokens
    assert_eq!((r.input_tokens, r.output_tokens), (3, 6));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("1 rows have estimated token counts"), "{md}");
}

async fn run_capped(limits: &str, traffic: &str) -> Vec<cutover::run::record::Record> {
    let server = MockServer::start().await;
    chat_request()
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body()))
        .mount(&server)
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let text = openai_scenario(&server.uri(), 5, "")
        .replace("limits:\n", &format!("limits:\n{limits}"))
        .replace("  prompts:", &format!("{traffic}  prompts:"));
    let sc = write_scenario(tmp.path(), &text);
    set_test_key(KEY);
    let r = run_in(tmp.path(), &sc, Control::default()).await.unwrap();
    records(&r.dir)
}

/// (rows, ok rows, rows not sent for `reason`)
fn tally(rows: &[cutover::run::record::Record], reason: &str) -> (usize, usize, usize) {
    let ok = rows
        .iter()
        .filter(|r| r.outcome == Some(Outcome::Ok))
        .count();
    let capped = rows.iter().filter(|r| r.not_sent_reason == reason).count();
    (rows.len(), ok, capped)
}

#[tokio::test(flavor = "multi_thread")]
async fn hard_caps_stop_sending_and_say_why() {
    // Each request really costs 11 * 2,000 + 5 * 8,000 = 62,000 nano-dollars. Admission reserves the worst case:
    // the estimated input ("hello there" = 3 tokens) and max_tokens 5: 3 * 2,000 + 5 * 8,000 = 46,000. With a
    // 150,000 cap the first is admitted (then settles at 62,000), the second fits (62,000 + 46,000) and settles at
    // 124,000, the third would reach 170,000: refused, as are the rest.
    let rows = run_capped("  max_spend_usd: 0.00015\n", "  max_tokens: 5\n").await;
    assert_eq!(tally(&rows, "max_spend"), (5, 2, 3));
    // Without max_tokens the worst case assumes 4096 output tokens (32.8 million nano-dollars): nothing fits.
    let rows = run_capped("  max_spend_usd: 0.0001\n", "").await;
    assert_eq!(tally(&rows, "max_spend"), (5, 0, 5));
    let rows = run_capped("  max_requests: 2\n", "").await;
    assert_eq!(tally(&rows, "max_requests"), (5, 2, 3));
}
