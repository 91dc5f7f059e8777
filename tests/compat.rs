//! The compatibility check against two live loopback servers that differ in known ways.

use std::collections::BTreeMap;

use cutover::client::secret::Secret;
use cutover::client::Endpoint;
use cutover::compat;
use cutover::config::scenario::ProtocolKind;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-compat-test-0000000";

async fn server(completion: serde_json::Value, sse: &str, models_status: u16) -> MockServer {
    let s = MockServer::start().await;
    // Matching order by priority: stream with key, gpt-4.1 with key, any other model with key (404), no key (401).
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(wiremock::matchers::body_partial_json(
            json!({"stream": true}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw(sse.to_string(), "text/event-stream"))
        .with_priority(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(wiremock::matchers::body_partial_json(
            json!({"model": "gpt-4.1"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion))
        .with_priority(2)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {"message": "no", "type": "invalid_request_error", "code": "model_not_found"}})))
        .with_priority(3)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {"message": "key", "type": "invalid_request_error", "code": "invalid_api_key"}})))
        .with_priority(4)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(models_status).set_body_json(
            json!({"object": "list", "data": [{"id": "gpt-4.1", "object": "model"}]}),
        ))
        .mount(&s)
        .await;
    s
}

fn endpoint(url: &str) -> Endpoint {
    Endpoint::new(
        ProtocolKind::Openai,
        url,
        Some(Secret::new(KEY)),
        &BTreeMap::new(),
        None,
        None,
    )
    .unwrap()
}

#[tokio::test]
async fn every_known_difference_is_listed_and_nothing_else() {
    let body = json!({"id": "1", "object": "chat.completion", "model": "gpt-4.1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}});
    let mut changed = body.clone();
    changed["usage"]["total_tokens"] = json!("4"); // a type change
    changed.as_object_mut().unwrap().remove("object"); // a missing field
    let sse_a = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\ndata: [DONE]\n\n";
    let sse_b =
        "event: message\ndata: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n";
    let legacy = server(body.clone(), sse_a, 200).await;
    let same = server(body, sse_a, 200).await;
    let gateway = server(changed, sse_b, 404).await;
    let client = cutover::client::http::http_client(std::time::Duration::from_secs(5));

    let (results, _) = compat::check(
        &client,
        &endpoint(&legacy.uri()),
        &endpoint(&same.uri()),
        "gpt-4.1",
        "",
    )
    .await
    .unwrap();
    assert!(results.iter().all(|(_, d)| d.is_empty()), "{results:?}");

    let (results, md) = compat::check(
        &client,
        &endpoint(&legacy.uri()),
        &endpoint(&gateway.uri()),
        "gpt-4.1",
        "",
    )
    .await
    .unwrap();
    let by: BTreeMap<&str, &Vec<String>> = results.iter().map(|(n, d)| (n.as_str(), d)).collect();
    assert_eq!(
        by["chat completion"],
        &vec![
            "field `object` (string): only in legacy".to_string(),
            "field `usage.total_tokens`: legacy number vs gateway string".to_string(),
        ]
    );
    // the SSE event sequence differs: two content events vs one named `message` event
    assert_eq!(
        by["chat completion, stream"].len(),
        1,
        "{:?}",
        by["chat completion, stream"]
    );
    assert!(by["chat completion, stream"][0]
        .starts_with("SSE events: legacy [message*, message([DONE])]"));
    assert!(by["unknown model"].is_empty() && by["missing key"].is_empty());
    assert_eq!(by["list models"][0], "status: legacy 200 vs gateway 404");
    assert!(md.contains("## chat completion: DIFFERENT"), "{md}");
}
