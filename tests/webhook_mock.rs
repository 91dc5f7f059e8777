//! The webhook mock's two modes against a callback listener this test owns. The model's latency is set here to a
//! lognormal of mean 300 ms and p99 301 ms (sigma ~0.0014: every draw within a few ms of 300 ms) and the answer to
//! exactly 5 words, so: `sync` acknowledges no sooner than 300 ms, after the answer reached the listener; `async`
//! acknowledges long before 300 ms and the answer arrives about 300 ms after the event; a sync delivery the sender
//! gives up on is still answered.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use cutover::mock::{serve, MockHandle, MockProfile};
use serde_json::{json, Value};

type Seen = Arc<Mutex<Vec<(Instant, Value)>>>;

/// A listener on 127.0.0.1 that keeps every answer with its arrival instant.
async fn listener() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let l = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let url = format!("http://{}/cb", l.local_addr().unwrap());
    let app = axum::Router::new()
        .route(
            "/cb",
            axum::routing::post(|State(s): State<Seen>, body: Bytes| async move {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                s.lock().unwrap().push((Instant::now(), v));
                "{}"
            }),
        )
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, seen)
}

async fn mock(mode: &str) -> MockHandle {
    let yaml = format!(
        "name: w\nprotocol: webhook\nseed: 1\nwebhook: {{mode: {mode}}}\nlatency: {{mean_ms: 300, p99_ms: 301}}\noutput_tokens: {{min: 5, max: 5}}\n"
    );
    let p = MockProfile::from_yaml_str(&yaml, "test.yaml").unwrap();
    serve(p, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
}

fn event(id: &str, callback: &str) -> Value {
    json!({
        "event_id": id, "event": "message.received", "bot_id": "b", "conversation_id": "c1",
        "message_id": "m1", "content": "where is my order", "user_id": "u1", "timestamp": 0,
        "callback_url": callback,
    })
}

async fn wait_for(seen: &Seen, n: usize, within: Duration) {
    let end = Instant::now() + within;
    while seen.lock().unwrap().len() < n && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn check_answer(v: &Value, id: &str) {
    assert_eq!(v["event_id"], id);
    assert_eq!(v["message_id"], "m1");
    assert_eq!(v["conversation_id"], "c1");
    assert_eq!(
        v["answer"].as_str().unwrap().split_whitespace().count(),
        5,
        "{v}"
    );
    assert_eq!(v["usage"]["output_tokens"], 5);
}

#[tokio::test]
async fn sync_acknowledges_after_the_answer_async_before_it() {
    let (cb, seen) = listener().await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    let sync = mock("sync").await;
    let t0 = Instant::now();
    let r = client
        .post(format!("{}/webhook", sync.base_url()))
        .json(&event("e-sync", &cb))
        .send()
        .await
        .unwrap();
    let acked = Instant::now();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    assert!(acked - t0 >= Duration::from_millis(295), "{:?}", acked - t0);
    {
        let s = seen.lock().unwrap();
        assert_eq!(
            s.len(),
            1,
            "the answer is posted before the acknowledgement"
        );
        assert!(s[0].0 <= acked);
        check_answer(&s[0].1, "e-sync");
    }

    let asyn = mock("async").await;
    let t0 = Instant::now();
    let r = client
        .post(format!("{}/webhook", asyn.base_url()))
        .json(&event("e-async", &cb))
        .send()
        .await
        .unwrap();
    let acked = Instant::now();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status": "received"})
    );
    assert!(acked - t0 < Duration::from_millis(200), "{:?}", acked - t0);
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "no answer before the model call ends"
    );
    wait_for(&seen, 2, Duration::from_secs(5)).await;
    let s = seen.lock().unwrap();
    assert_eq!(s.len(), 2);
    assert!(
        s[1].0 - t0 >= Duration::from_millis(295),
        "{:?}",
        s[1].0 - t0
    );
    check_answer(&s[1].1, "e-async");
}

#[tokio::test]
async fn a_sync_delivery_the_sender_gave_up_on_is_still_answered() {
    let (cb, seen) = listener().await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let sync = mock("sync").await;
    let t0 = Instant::now();
    let r = client
        .post(format!("{}/webhook", sync.base_url()))
        .timeout(Duration::from_millis(100))
        .json(&event("e-late", &cb))
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());
    assert!(seen.lock().unwrap().is_empty());
    wait_for(&seen, 1, Duration::from_secs(5)).await;
    let s = seen.lock().unwrap();
    assert_eq!(
        s.len(),
        1,
        "the server finished the delivery the platform dropped"
    );
    assert!(s[0].0 - t0 >= Duration::from_millis(295));
    check_answer(&s[0].1, "e-late");
}

#[tokio::test]
async fn bad_events_and_non_loopback_callbacks_are_refused() {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let m = mock("async").await;
    let url = format!("{}/webhook", m.base_url());
    let post = |body: Value| client.post(&url).json(&body).send();
    let r = post(event("e1", "http://203.0.113.9/cb")).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("loopback"));
    let r = post(json!({"event_id": "e2"})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = client
        .post(format!("{}/elsewhere", m.base_url()))
        .json(&event("e3", "http://127.0.0.1:9/cb"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // A chat-API setting in a webhook profile, and a webhook profile without its mode, are profile errors.
    let e = MockProfile::from_yaml_str(
        "name: w\nprotocol: webhook\nmodels: [m]\nwebhook: {mode: sync}\n",
        "p.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("p.yaml:3:") && e.contains("models"), "{e}");
    let e = MockProfile::from_yaml_str("name: w\nprotocol: webhook\n", "p.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("webhook") && e.contains("mode"), "{e}");
}
