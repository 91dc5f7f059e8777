//! The capacity queue on its own, then through the OpenAI and the Coze mock.

use super::*;
use std::time::Duration;

fn cap(concurrency: u32, queue: u32) -> Arc<Capacity> {
    Arc::new(Capacity::new(&CapacitySpec {
        concurrency,
        queue,
        reject_status: 503,
    }))
}

#[tokio::test]
async fn beyond_concurrency_waits_beyond_queue_is_rejected() {
    let c = cap(2, 1);
    let a = c.admit().await.expect("1st served");
    let _b = c.admit().await.expect("2nd served");
    let c2 = c.clone();
    let waiter = tokio::spawn(async move { c2.admit().await.is_some() });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!waiter.is_finished(), "the 3rd waits in the queue");
    assert!(
        c.admit().await.is_none(),
        "the 4th finds 2 served + 1 waiting: rejected"
    );
    drop(a);
    assert!(waiter.await.unwrap(), "a freed slot goes to the waiter");
    // The waiter's slot was dropped with its task: two in the system now (b and nothing else -> 1).
    assert_eq!(c.in_system.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn waiters_are_served_in_arrival_order() {
    let c = cap(1, 3);
    let first = c.admit().await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for i in 0..3 {
        let (c, tx) = (c.clone(), tx.clone());
        tasks.push(tokio::spawn(async move {
            let s = c.admit().await.unwrap();
            tx.send(i).unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            drop(s);
        }));
        // Arrivals a little apart so their order is defined.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(first);
    for t in tasks {
        t.await.unwrap();
    }
    let order: Vec<i32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(order, [0, 1, 2]);
}

#[tokio::test]
async fn a_waiter_that_gives_up_frees_its_place() {
    let c = cap(1, 1);
    let _held = c.admit().await.unwrap();
    let gave_up = tokio::time::timeout(Duration::from_millis(10), c.admit()).await;
    assert!(gave_up.is_err());
    assert_eq!(c.in_system.load(Ordering::SeqCst), 1);
    // Its queue place is free again: another request may wait.
    let again = tokio::time::timeout(Duration::from_millis(10), c.admit()).await;
    assert!(again.is_err(), "waits (not rejected)");
}

#[tokio::test]
async fn the_server_queues_then_turns_away() {
    let y =
        "name: cap\nseed: 1\nprotocol: openai\nmodels: [m]\nlatency: {mean_ms: 300, p99_ms: 310}\n\
             errors: {rate: 0}\ncapacity: {concurrency: 2, queue: 1, reject_status: 503}\n";
    let p = crate::mock::MockProfile::from_yaml_str(y, "cap.yaml").unwrap();
    let h = crate::mock::serve(p, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("{}/v1/chat/completions", h.base_url());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let (c, u, b) = (client.clone(), url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let r = c.post(u).json(&b).send().await.unwrap();
            let status = r.status().as_u16();
            let _ = r.bytes().await;
            (status, started.elapsed())
        }));
    }
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.unwrap());
    }
    done.sort_by_key(|d| d.1);
    let statuses: Vec<u16> = done.iter().map(|d| d.0).collect();
    // Two turned away at once, two served in one service time, the queued one in two.
    assert_eq!(statuses, [503, 503, 200, 200, 200], "{done:?}");
    assert!(done[1].1 < Duration::from_millis(250), "{done:?}");
    assert!(done[4].1 >= Duration::from_millis(550), "{done:?}");
    let st = h.stats();
    assert_eq!(st.outcome("overloaded"), 2);
    assert_eq!(st.outcome("ok"), 3);
}

// ---------------------------------------------------------------- Coze: a chat holds its slot while it generates

const BOT: &str = "7350000000000000001";

/// A Coze mock whose chats take ~1.5 s to complete (polled) or to stream, with `concurrency` slots and no queue.
async fn coze_mock(concurrency: u32) -> crate::mock::MockHandle {
    let y = format!(
        "name: cap\nseed: 1\nprotocol: coze\nbots: {{\"{BOT}\": gpt-4.1}}\n\
         latency: {{mean_ms: 1500, p99_ms: 1550}}\n\
         stream: {{ttft: {{mean_ms: 1000, p99_ms: 1050}}, inter_token_ms: {{mean_ms: 50, p99_ms: 55}}}}\n\
         output_tokens: {{min: 10, max: 10}}\nerrors: {{rate: 0}}\n\
         capacity: {{concurrency: {concurrency}, queue: 0, reject_status: 429}}\n"
    );
    let p = crate::mock::MockProfile::from_yaml_str(&y, "cap.yaml").unwrap();
    crate::mock::serve(p, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn post(
    h: &crate::mock::MockHandle,
    path: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .post(format!("{}{path}", h.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A new chat in a new conversation: (HTTP status, response).
async fn start_chat(h: &crate::mock::MockHandle, stream: bool) -> (u16, reqwest::Response) {
    let conv: serde_json::Value = post(
        h,
        "/v1/conversation/create",
        serde_json::json!({"bot_id": BOT}),
    )
    .await
    .json()
    .await
    .unwrap();
    let conv = conv["data"]["id"].as_str().unwrap().to_string();
    let body = serde_json::json!({"bot_id": BOT, "user_id": "u1", "stream": stream,
        "additional_messages": [{"role": "user", "type": "question", "content": "hi", "content_type": "text"}]});
    let r = post(h, &format!("/v3/chat?conversation_id={conv}"), body).await;
    (r.status().as_u16(), r)
}

/// POST /v3/chat answers at once (in_progress), but the chat keeps its slot until it completes ~1.5 s later: with
/// two slots, a third chat meanwhile is turned away; once the two complete, a chat is served again.
#[tokio::test]
async fn a_polled_coze_chat_holds_its_slot_until_it_completes() {
    let h = coze_mock(2).await;
    let started = std::time::Instant::now();
    for _ in 0..2 {
        let (s, r) = start_chat(&h, false).await;
        assert_eq!(s, 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["data"]["status"], "in_progress", "{v}");
    }
    let (s, _) = start_chat(&h, false).await;
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "the check ran while both chats generate: {:?}",
        started.elapsed()
    );
    assert_eq!(s, 429, "both slots are held by generating chats");
    tokio::time::sleep(Duration::from_millis(1700).saturating_sub(started.elapsed())).await;
    let (s, _) = start_chat(&h, false).await;
    assert_eq!(s, 200, "the completed chats freed their slots");
    let st = h.stats();
    assert_eq!(st.outcome("overloaded"), 1);
}

/// A canceled chat frees its slot at once (its worker stops), long before it would have completed.
#[tokio::test]
async fn a_canceled_coze_chat_frees_its_slot() {
    let h = coze_mock(1).await;
    let (s, r) = start_chat(&h, false).await;
    assert_eq!(s, 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(start_chat(&h, false).await.0, 429);
    let (conv, chat) = (&v["data"]["conversation_id"], &v["data"]["id"]);
    let c = post(
        &h,
        "/v3/chat/cancel",
        serde_json::json!({"conversation_id": conv, "chat_id": chat}),
    )
    .await;
    assert_eq!(c.status().as_u16(), 200);
    let (s, _) = start_chat(&h, false).await;
    assert_eq!(s, 200, "the canceled chat's slot is free");
}

/// A streamed chat holds its slot until its stream ends (TTFT ~1 s, then 10 deltas 50 ms apart).
#[tokio::test]
async fn a_streamed_coze_chat_holds_its_slot_to_the_end_of_its_stream() {
    let h = coze_mock(1).await;
    let (s, r) = start_chat(&h, true).await;
    assert_eq!(s, 200);
    assert_eq!(
        start_chat(&h, false).await.0,
        429,
        "the stream holds the slot"
    );
    let text = r.text().await.unwrap();
    assert!(text.contains("conversation.chat.completed"), "{text}");
    // The server drops the body just after its last event.
    let mut served = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        let (s, _) = start_chat(&h, false).await;
        if s == 200 {
            served += 1;
            break;
        }
    }
    assert_eq!(served, 1, "the ended stream freed its slot");
}
