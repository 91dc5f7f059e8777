//! The Coze mock driven with the request sequence the official Python SDK (cozepy 0.20) sends: `create_and_poll`
//! (POST create, POST retrieve polling, GET chat message list), `cancel` on a poll timeout (then code 4104 for a chat
//! that already ended), and the conversation message pager (POST list with `after_id` = the previous page's
//! `last_id` while `has_more`). Every answer is checked for the SDK model's field names and JSON types.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};

use super::{serve, MockHandle, MockProfile};

const KEY: &str = "pat-sdk-test";
const BOT: &str = "7350000000000000001";
const FOLLOW_UPS: usize = 1;

fn profile(latency: &str) -> MockProfile {
    let y = format!(
        "name: sdk\nseed: 7\nprotocol: coze\nauth: {{bearer: {KEY}}}\nbots: {{\"{BOT}\": gpt-4.1}}\n\
         latency: {latency}\nstream: {{ttft: {{mean_ms: 2, p99_ms: 4}}, inter_token_ms: {{mean_ms: 1, p99_ms: 2}}}}\n\
         output_tokens: {{min: 3, max: 5}}\nerrors: {{rate: 0}}\ncoze: {{follow_ups: {FOLLOW_UPS}}}\n"
    );
    MockProfile::from_yaml_str(&y, "sdk.yaml").unwrap()
}

async fn start(latency: &str) -> MockHandle {
    serve(profile(latency), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
}

/// One SDK call: `method path` with the SDK's headers and optional JSON body; the envelope must have code 0 unless
/// `want_code` says otherwise. Returns the whole envelope.
async fn call(
    h: &MockHandle,
    method: &str,
    path: &str,
    body: Option<Value>,
    want_code: i64,
) -> Value {
    let c = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("{}{path}", h.base_url());
    let mut rb = match method {
        "GET" => c.get(url),
        _ => c.post(url),
    }
    .bearer_auth(KEY)
    .header("content-type", "application/json");
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    assert_eq!(r.status(), 200, "{method} {path}");
    assert!(r.headers().contains_key("x-tt-logid"), "{method} {path}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], want_code, "{method} {path}: {v}");
    assert!(v["msg"].is_string(), "{v}");
    v
}

fn is_id(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| !s.is_empty() && s.parse::<u64>().is_ok())
}

/// cozepy `Chat`: id, conversation_id str; bot_id str; created_at int; completed_at/failed_at int when present;
/// meta_data dict; last_error {code int, msg str}; status one of the ChatStatus values; usage ints when present.
fn check_chat(c: &Value) {
    assert!(is_id(&c["id"]) && is_id(&c["conversation_id"]), "{c}");
    assert!(c["bot_id"].is_string() && c["created_at"].is_u64(), "{c}");
    for k in ["completed_at", "failed_at"] {
        assert!(c.get(k).is_none_or(Value::is_u64), "{k}: {c}");
    }
    assert!(c["meta_data"].is_object(), "{c}");
    assert!(
        c["last_error"]["code"].is_i64() && c["last_error"]["msg"].is_string(),
        "{c}"
    );
    let statuses = [
        "created",
        "in_progress",
        "completed",
        "failed",
        "requires_action",
        "canceled",
    ];
    assert!(
        statuses.contains(&c["status"].as_str().unwrap_or("")),
        "{c}"
    );
    if let Some(u) = c.get("usage") {
        for k in ["token_count", "output_count", "input_count"] {
            assert!(u[k].is_u64(), "{k}: {c}");
        }
    }
}

/// cozepy `Message`: role, type, content, content_type str; meta_data dict; id, conversation_id, section_id, bot_id,
/// chat_id str; created_at, updated_at int.
fn check_message(m: &Value) {
    for k in [
        "role",
        "type",
        "content",
        "content_type",
        "bot_id",
        "chat_id",
    ] {
        assert!(m[k].is_string(), "{k}: {m}");
    }
    for k in ["id", "conversation_id", "section_id"] {
        assert!(is_id(&m[k]), "{k}: {m}");
    }
    assert!(m["meta_data"].is_object(), "{m}");
    assert!(m["created_at"].is_u64() && m["updated_at"].is_u64(), "{m}");
}

fn question(text: &str) -> Value {
    json!({"role": "user", "type": "question", "content": text, "content_type": "text"})
}

async fn create_chat(h: &MockHandle, conv: &str, text: &str) -> Value {
    let body = json!({"bot_id": BOT, "user_id": "u-1", "stream": false, "auto_save_history": true,
        "additional_messages": [question(text)]});
    let v = call(
        h,
        "POST",
        &format!("/v3/chat?conversation_id={conv}"),
        Some(body),
        0,
    )
    .await;
    check_chat(&v["data"]);
    assert_eq!(v["data"]["status"], "in_progress");
    v["data"].clone()
}

/// `create_and_poll` after its create: POST retrieve (params only, no body) until the status leaves in_progress,
/// then GET the chat's messages.
async fn poll(h: &MockHandle, chat: &Value) -> (Value, Vec<Value>) {
    let q = format!(
        "conversation_id={}&chat_id={}",
        chat["conversation_id"].as_str().unwrap(),
        chat["id"].as_str().unwrap()
    );
    let mut last = chat.clone();
    for _ in 0..200 {
        if last["status"] != "in_progress" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        last = call(h, "POST", &format!("/v3/chat/retrieve?{q}"), None, 0).await["data"].clone();
        check_chat(&last);
    }
    assert_eq!(last["status"], "completed", "{last}");
    let list = call(h, "GET", &format!("/v3/chat/message/list?{q}"), None, 0).await;
    let msgs = list["data"].as_array().unwrap().clone();
    msgs.iter().for_each(check_message);
    (last, msgs)
}

async fn new_conversation(h: &MockHandle) -> String {
    let v = call(
        h,
        "POST",
        "/v1/conversation/create",
        Some(json!({"bot_id": BOT})),
        0,
    )
    .await;
    assert!(is_id(&v["data"]["id"]), "{v}");
    v["data"]["id"].as_str().unwrap().to_string()
}

/// The SDK pager: POST list with `{order, chat_id, before_id, after_id, limit}`, next page `after_id = last_id`
/// while `has_more`. Returns every message id in the order listed, and the number of pages.
async fn list_all(
    h: &MockHandle,
    conv: &str,
    chat_id: Option<&str>,
    limit: usize,
) -> (Vec<u64>, usize) {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    for pages in 1..=100 {
        let body = json!({"order": "desc", "chat_id": chat_id, "before_id": null, "after_id": after,
            "limit": limit});
        let v = call(
            h,
            "POST",
            &format!("/v1/conversation/message/list?conversation_id={conv}"),
            Some(body),
            0,
        )
        .await;
        let data = v["data"].as_array().unwrap();
        assert!(data.len() <= limit);
        data.iter().for_each(check_message);
        assert!(
            v["has_more"].is_boolean() && v["first_id"].is_string() && v["last_id"].is_string(),
            "{v}"
        );
        if let (Some(f), Some(l)) = (data.first(), data.last()) {
            assert_eq!(v["first_id"], f["id"]);
            assert_eq!(v["last_id"], l["id"]);
        }
        ids.extend(
            data.iter()
                .map(|m| m["id"].as_str().unwrap().parse::<u64>().unwrap()),
        );
        if !v["has_more"].as_bool().unwrap() {
            return (ids, pages);
        }
        after = Some(v["last_id"].as_str().unwrap().to_string());
    }
    panic!("the pager did not end in 100 pages");
}

#[tokio::test]
async fn sdk_create_and_poll_then_page_the_history() {
    let h = start("{mean_ms: 20, p99_ms: 40}").await;
    let conv = new_conversation(&h).await;
    const CHATS: usize = 4;
    let mut chat_ids = Vec::new();
    for i in 0..CHATS {
        let chat = create_chat(&h, &conv, &format!("question number {i}")).await;
        let (done, msgs) = poll(&h, &chat).await;
        assert!(done["usage"]["output_count"].as_u64().unwrap() >= 3);
        // The chat's own list: the answer, the verbose message and the follow-ups.
        let kinds: Vec<&str> = msgs.iter().map(|m| m["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["answer", "verbose", "follow_up"]);
        chat_ids.push(chat["id"].as_str().unwrap().to_string());
    }
    // The conversation keeps, per chat, the question, the answer and the follow-ups (never the verbose message).
    let per_chat = 2 + FOLLOW_UPS;
    let (ids, pages) = list_all(&h, &conv, None, 5).await;
    assert_eq!(ids.len(), CHATS * per_chat);
    assert_eq!(pages, (CHATS * per_chat).div_ceil(5));
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "desc order, no repeats: {ids:?}"
    );
    // Filtered by chat: exactly that chat's messages.
    let (one, _) = list_all(&h, &conv, Some(&chat_ids[1]), 2).await;
    assert_eq!(one.len(), per_chat);
    // GET with the fields in the query works the same as POST.
    let v = call(
        &h,
        "GET",
        &format!("/v1/conversation/message/list?conversation_id={conv}&limit=2&order=asc"),
        None,
        0,
    )
    .await;
    let asc: Vec<u64> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(asc, [ids[ids.len() - 1], ids[ids.len() - 2]]);
    assert_eq!(v["has_more"], true);
}

#[tokio::test]
async fn sdk_cancel_on_poll_timeout() {
    // Chats take seconds: the SDK's poll timeout fires and it cancels.
    let h = start("{mean_ms: 3000, p99_ms: 5000}").await;
    let conv = new_conversation(&h).await;
    let chat = create_chat(&h, &conv, "a slow one").await;
    let body = json!({"conversation_id": chat["conversation_id"], "chat_id": chat["id"]});
    let v = call(&h, "POST", "/v3/chat/cancel", Some(body.clone()), 0).await;
    check_chat(&v["data"]);
    assert_eq!(v["data"]["status"], "canceled");
    let q = format!(
        "conversation_id={conv}&chat_id={}",
        chat["id"].as_str().unwrap()
    );
    let r = call(&h, "POST", &format!("/v3/chat/retrieve?{q}"), None, 0).await;
    assert_eq!(r["data"]["status"], "canceled");
    // A chat that already ended cannot be canceled: code 4104, on which the SDK re-polls.
    call(&h, "POST", "/v3/chat/cancel", Some(body), 4104).await;
    // The conversation is free again (no 4016) and the canceled answer never shows up in it.
    create_chat(&h, &conv, "next question").await;
    let (ids, _) = list_all(&h, &conv, None, 50).await;
    assert_eq!(ids.len(), 2, "the two questions only");
    let m = call(&h, "GET", &format!("/v3/chat/message/list?{q}"), None, 0).await;
    assert_eq!(m["data"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn streamed_and_polled_chats_leave_the_same_history() {
    let h = start("{mean_ms: 5, p99_ms: 10}").await;
    let polled = new_conversation(&h).await;
    let chat = create_chat(&h, &polled, "same question").await;
    poll(&h, &chat).await;
    let streamed = new_conversation(&h).await;
    let body = json!({"bot_id": BOT, "user_id": "u-1", "stream": true, "auto_save_history": true,
        "additional_messages": [question("same question")]});
    let r = reqwest::Client::new()
        .post(format!(
            "{}/v3/chat?conversation_id={streamed}",
            h.base_url()
        ))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("event:done"), "{text}");
    let kinds = |v: Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["type"].as_str().unwrap().to_string())
            .collect()
    };
    let list = |c: String| {
        let h = &h;
        async move {
            call(
                h,
                "POST",
                &format!("/v1/conversation/message/list?conversation_id={c}"),
                Some(json!({})),
                0,
            )
            .await
        }
    };
    let a = kinds(list(polled).await);
    let b = kinds(list(streamed).await);
    assert_eq!(a, ["follow_up", "answer", "question"]);
    assert_eq!(a, b);
}

#[tokio::test]
async fn openai_request_id_and_model_retrieve() {
    let y = "name: oa\nseed: 1\nprotocol: openai\nmodels: [gpt-4.1]\nlatency: {mean_ms: 2, p99_ms: 4}\n";
    let h = serve(
        MockProfile::from_yaml_str(y, "oa.yaml").unwrap(),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap();
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut seen = std::collections::HashSet::new();
    for (path, status) in [
        ("/v1/models/gpt-4.1", 200),
        ("/v1/models/openai/gpt-4.1", 404),
        ("/v1/models/GPT-4.1", 404),
        ("/v1/models", 200),
    ] {
        let r = c
            .get(format!("{}{path}", h.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{path}");
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert!(seen.insert(id), "request ids differ per response");
        let v: Value = r.json().await.unwrap();
        if path == "/v1/models/gpt-4.1" {
            assert_eq!(v["id"], "gpt-4.1");
            assert_eq!(v["object"], "model");
        } else if status == 404 {
            assert_eq!(v["error"]["code"], "model_not_found");
        }
    }
    let r = c
        .post(format!("{}/v1/chat/completions", h.base_url()))
        .json(&json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
}
