//! Behaviour tests over loopback HTTP (reqwest client, ephemeral ports, bounded timeouts).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;

const KEY: &str = "sk-mock-test";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Base lines (one top-level key each) overridden by the top-level keys of `extra`.
fn merged(base: &[String], extra: &str) -> String {
    let overridden: Vec<&str> = extra
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('-'))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k))
        .collect();
    let mut y: String = base
        .iter()
        .filter(|l| !overridden.contains(&l.split_once(':').unwrap().0))
        .map(|l| format!("{l}\n"))
        .collect();
    y.push_str(extra);
    y
}

fn fast_lines() -> Vec<String> {
    vec![
        "name: t".into(),
        "seed: 1".into(),
        format!("auth: {{bearer: {KEY}}}"),
        "latency: {mean_ms: 2, p99_ms: 4}".into(),
        "stream: {ttft: {mean_ms: 2, p99_ms: 4}, inter_token_ms: {mean_ms: 1, p99_ms: 2}}".into(),
        "output_tokens: {min: 5, max: 9}".into(),
        "errors: {rate: 0}".into(),
    ]
}

/// A fast openai profile (ms latencies, short answers, no random failures), top-level keys overridden by `extra`.
fn openai_profile(extra: &str) -> MockProfile {
    let mut base = fast_lines();
    base.push("protocol: openai".into());
    base.push("models: [gpt-4.1, deepseek-v3.2]".into());
    MockProfile::from_yaml_str(&merged(&base, extra), "test.yaml").unwrap()
}

fn coze_profile(extra: &str) -> MockProfile {
    let mut base = fast_lines();
    base.push("protocol: coze".into());
    base.push("bots: {\"7350000000000000001\": gpt-4.1}".into());
    MockProfile::from_yaml_str(&merged(&base, extra), "test.yaml").unwrap()
}

fn fault(kind: &str, params: &str) -> String {
    format!("faults:\n  - {{kind: {kind}, rate: 1.0{params}}}\n")
}

/// Split an SSE body into (event name, data) pairs; `data:` with or without a space after the colon.
fn sse(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut ev = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    ev = v.trim_start().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            (ev, data)
        })
        .collect()
}

async fn chat(h: &MockHandle, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/chat/completions", h.base_url()))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn chat_body(stream: bool) -> Value {
    json!({"model": "gpt-4.1", "messages": [
        {"role": "system", "content": "You are a helpful support agent."},
        {"role": "user", "content": "Where is my order?"}], "stream": stream,
        "stream_options": {"include_usage": true}})
}

// ---------------------------------------------------------------- profiles

#[test]
fn shipped_profiles_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mocks");
    let legacy = MockProfile::from_yaml_file(dir.join("legacy.yaml")).unwrap();
    let gateway = MockProfile::from_yaml_file(dir.join("gateway.yaml")).unwrap();
    let faults = MockProfile::from_yaml_file(dir.join("faults.yaml")).unwrap();
    assert_eq!(legacy.protocol_kind(), ProtocolKind::Coze);
    assert_eq!(legacy.bots.len(), 4);
    assert_eq!(
        legacy.latency(),
        DistSpec {
            mean_ms: 420.0,
            p99_ms: 890.0
        }
    );
    assert_eq!(legacy.errors().rate, 0.012);
    assert_eq!(gateway.protocol_kind(), ProtocolKind::Openai);
    assert_eq!(gateway.models.len(), 4);
    assert_eq!(
        gateway.latency(),
        DistSpec {
            mean_ms: 180.0,
            p99_ms: 340.0
        }
    );
    assert_eq!(gateway.errors().rate, 0.002);
    assert_eq!(
        gateway.bearer().as_deref(),
        Some("sk-mock-gateway-0000000000")
    );
    assert!(faults.faults.len() >= 10);
    // Same models on both sides.
    let mut bot_models: Vec<&String> = legacy.bots.values().collect();
    bot_models.sort();
    let mut models: Vec<&String> = gateway.models.iter().collect();
    models.sort();
    assert_eq!(bot_models, models);
}

/// 2,000 draws from each shipped profile's non-stream latency distribution: mean and p99 within 5%.
#[test]
fn shipped_latency_distributions_match() {
    use rand::SeedableRng;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mocks");
    for f in ["legacy.yaml", "gateway.yaml"] {
        let p = MockProfile::from_yaml_file(dir.join(f)).unwrap();
        let spec = p.latency();
        let d = LogNormalMs::fit(spec.mean_ms, spec.p99_ms).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(p.seed.unwrap());
        let mut v: Vec<f64> = (0..2000).map(|_| d.sample_ms(&mut rng)).collect();
        v.sort_by(f64::total_cmp);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let p99 = v[1979];
        eprintln!(
            "{f}: mean {mean:.1} ms (want {}), p99 {p99:.1} ms (want {})",
            spec.mean_ms, spec.p99_ms
        );
        assert!((mean / spec.mean_ms - 1.0).abs() < 0.05, "{f} mean {mean}");
        assert!((p99 / spec.p99_ms - 1.0).abs() < 0.05, "{f} p99 {p99}");
    }
}

#[test]
fn parse_errors_name_file_line_column_and_field() {
    let y = "name: g\nprotocol: openai\nmodels: [a]\nlatency:\n  mean_ms: 180\n  p99: 340\n";
    let e = MockProfile::from_yaml_str(y, "mocks/gateway.yaml")
        .unwrap_err()
        .to_string();
    eprintln!("{e}");
    assert!(e.starts_with("mocks/gateway.yaml:6:"), "{e}");
    assert!(e.contains("latency") && e.contains("p99"), "{e}");

    let y =
        "name: g\nprotocol: openai\nmodels: [a]\nlatency:\n  mean_ms: 180\n  p99_ms: \"fast\"\n";
    let e = MockProfile::from_yaml_str(y, "g.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("g.yaml:6:") && e.contains("latency.p99_ms"),
        "{e}"
    );

    let y = "name: g\nprotocol: openai\nmodels: [a]\nlatency:\n  mean_ms: 180\n  p99_ms: 100\n";
    let e = MockProfile::from_yaml_str(y, "g.yaml")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "g.yaml:6:3: latency.p99_ms: must be greater than mean_ms (180), got 100"
    );

    let y = "name: g\nprotocol: openai\nmodels: [a]\nerrors:\n  rate: 1.5\n";
    let e = MockProfile::from_yaml_str(y, "g.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("g.yaml:5:3: errors.rate:"), "{e}");

    let y = "name: g\nprotocol: openai\nmodels: [a]\nfaults:\n  - kind: hang\n    rate: 0.1\n  - kind: http_500\n    interval_ms: 5\n    rate: 1\n";
    let e = MockProfile::from_yaml_str(y, "g.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("g.yaml:8:5: faults[1].interval_ms: only applies to slow_drip"),
        "{e}"
    );

    let y = "name: g\nprotocol: openai\nmodels: [a]\nfaults:\n  - kind: explode\n    rate: 0.1\n";
    let e = MockProfile::from_yaml_str(y, "g.yaml")
        .unwrap_err()
        .to_string();
    eprintln!("{e}");
    assert!(e.starts_with("g.yaml:5:") && e.contains("explode"), "{e}");
    let y = "name: g\nprotocol: openai\nmodels: [a]\nrate_limit:\n  rate: 0.1\n  retry_after: {secs: 1}\n";
    let e = MockProfile::from_yaml_str(y, "g.yaml")
        .unwrap_err()
        .to_string();
    eprintln!("{e}");
    assert!(
        e.starts_with("g.yaml:5:3: rate_limit: retry_after: unknown key `secs`"),
        "{e}"
    );

    let y = "name: c\nprotocol: coze\nmodels: [a]\n";
    let e = MockProfile::from_yaml_str(y, "c.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("bots"), "{e}");
}

#[test]
fn retry_after_forms() {
    for (y, want) in [
        ("{seconds: 2}", RetryAfter::Seconds(2.0)),
        ("{seconds: 0.5}", RetryAfter::Seconds(0.5)),
        ("{http_date_in_s: 3}", RetryAfter::HttpDateInS(3)),
        ("none", RetryAfter::None),
    ] {
        let p = openai_profile(&format!("rate_limit: {{rate: 0.1, retry_after: {y}}}\n"));
        assert_eq!(p.rate_limit().retry_after, want, "{y}");
    }
}

// ---------------------------------------------------------------- openai

#[tokio::test]
async fn openai_auth_models_and_404() {
    let h = serve(openai_profile(""), loopback()).await.unwrap();
    assert!(h.base_url().starts_with("http://127.0.0.1:"));
    let c = client();
    for key in [Some("sk-wrong"), None] {
        let mut r = c
            .post(format!("{}/v1/chat/completions", h.base_url()))
            .json(&chat_body(false));
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 401);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "invalid_api_key");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"].is_string());
    }
    let r = chat(
        &h,
        json!({"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_not_found");

    let r = c
        .get(format!("{}/v1/models", h.base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gpt-4.1", "deepseek-v3.2"]);

    // 400: not JSON, and JSON without messages.
    for body in [
        "{not json",
        "{\"model\":\"gpt-4.1\"}",
        "{\"model\":\"gpt-4.1\",\"messages\":[]}",
    ] {
        let r = c
            .post(format!("{}/v1/chat/completions", h.base_url()))
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }
    let s = h.stats();
    assert_eq!(s.outcome("unauthorized"), 2);
    assert_eq!(s.outcome("not_found"), 1);
    assert_eq!(s.outcome("bad_request"), 3);
    assert_eq!(s.requests("POST /v1/chat/completions"), 6);
    assert_eq!(s.requests("GET /v1/models"), 1);
    h.shutdown().await;
}

#[tokio::test]
async fn openai_non_stream_answer_and_usage() {
    let h = serve(openai_profile(""), loopback()).await.unwrap();
    let r = chat(&h, chat_body(false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4.1");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let words = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .count() as u64;
    assert!((5..=9).contains(&words));
    assert_eq!(v["usage"]["completion_tokens"], words);
    // "You are a helpful support agent." = 6 words + 4, "Where is my order?" = 4 + 4.
    assert_eq!(v["usage"]["prompt_tokens"], 18);
    assert_eq!(v["usage"]["total_tokens"], 18 + words);
    h.shutdown().await;

    // usage: false -> no usage object.
    let h = serve(openai_profile("usage: false\n"), loopback())
        .await
        .unwrap();
    let v: Value = chat(&h, chat_body(false)).await.json().await.unwrap();
    assert!(v.get("usage").is_none());
    let text = chat(&h, chat_body(true)).await.text().await.unwrap();
    assert!(sse(&text).iter().all(|(_, d)| !d.contains("\"usage\":{")));
}

#[tokio::test]
async fn openai_stream_sequence() {
    let h = serve(openai_profile(""), loopback()).await.unwrap();
    let r = chat(&h, chat_body(true)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    assert!(
        text.lines()
            .filter(|l| !l.is_empty())
            .all(|l| l.starts_with("data: ")),
        "{text}"
    );
    let ev = sse(&text);
    let (last, rest) = ev.split_last().unwrap();
    assert_eq!(last.1, "[DONE]");
    let chunks: Vec<Value> = rest
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert!(c["id"].as_str().unwrap().starts_with("chatcmpl-"));
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let content: String = chunks[1..chunks.len() - 2]
        .iter()
        .map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let words = content.split_whitespace().count() as u64;
    assert_eq!(chunks.len() - 3, words as usize, "one word per chunk");
    assert_eq!(usage["usage"]["completion_tokens"], words);
    assert_eq!(usage["usage"]["prompt_tokens"], 18);
    // Without include_usage: no usage chunk and no usage field.
    let mut b = chat_body(true);
    b.as_object_mut().unwrap().remove("stream_options");
    let text = chat(&h, b).await.text().await.unwrap();
    let ev = sse(&text);
    assert_eq!(ev.last().unwrap().1, "[DONE]");
    assert!(ev.iter().all(|(_, d)| !d.contains("usage")));
    h.shutdown().await;
}

#[tokio::test]
async fn stream_timing_follows_ttft_and_inter_token() {
    let p = openai_profile(
        "stream: {ttft: {mean_ms: 150, p99_ms: 160}, inter_token_ms: {mean_ms: 20, p99_ms: 21}}\n\
         output_tokens: {min: 10, max: 10}\n",
    );
    let h = serve(p, loopback()).await.unwrap();
    let t0 = Instant::now();
    let r = chat(&h, chat_body(true)).await;
    let headers_at = t0.elapsed();
    let mut s = r.bytes_stream();
    let mut first_content = None;
    use futures_util::StreamExt;
    let mut buf = String::new();
    while let Some(b) = s.next().await {
        buf.push_str(std::str::from_utf8(&b.unwrap()).unwrap());
        if first_content.is_none() && buf.contains("\"delta\":{\"content\"") {
            first_content = Some(t0.elapsed());
        }
    }
    let total = t0.elapsed();
    let ttft = first_content.unwrap();
    assert!(headers_at < Duration::from_millis(100), "{headers_at:?}");
    assert!(
        ttft >= Duration::from_millis(140) && ttft < Duration::from_millis(400),
        "{ttft:?}"
    );
    // 9 gaps of ~20 ms after the first content chunk.
    let rest = total - ttft;
    assert!(
        rest >= Duration::from_millis(170) && rest < Duration::from_millis(600),
        "{rest:?}"
    );
}

#[tokio::test]
async fn seeded_runs_repeat() {
    let mut answers = Vec::new();
    for _ in 0..2 {
        let h = serve(openai_profile(""), loopback()).await.unwrap();
        let mut v = Vec::new();
        for _ in 0..3 {
            let j: Value = chat(&h, chat_body(false)).await.json().await.unwrap();
            v.push(
                j["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        answers.push(v);
    }
    assert_eq!(answers[0], answers[1]);
    assert_ne!(answers[0][0], answers[0][1]);
}

// ---------------------------------------------------------------- faults (openai)

#[tokio::test]
async fn fault_resets() {
    let h = serve(
        openai_profile(&fault("reset_before_response", "")),
        loopback(),
    )
    .await
    .unwrap();
    for stream in [false, true] {
        let e = client()
            .post(format!("{}/v1/chat/completions", h.base_url()))
            .bearer_auth(KEY)
            .json(&chat_body(stream))
            .send()
            .await
            .unwrap_err();
        assert!(!e.is_timeout(), "{e:?}");
    }
    assert_eq!(h.stats().fault(FaultKind::ResetBeforeResponse), 2);

    let h = serve(
        openai_profile(&fault("reset_during_response", "")),
        loopback(),
    )
    .await
    .unwrap();
    for stream in [false, true] {
        let r = chat(&h, chat_body(stream)).await;
        assert_eq!(r.status(), 200);
        let e = r.bytes().await.unwrap_err();
        assert!(e.is_body() || e.is_decode() || e.is_request(), "{e:?}");
    }
    assert_eq!(h.stats().fault(FaultKind::ResetDuringResponse), 2);
}

#[tokio::test]
async fn fault_hang_needs_client_timeout_and_ends_at_shutdown() {
    let h = serve(openai_profile(&fault("hang", "")), loopback())
        .await
        .unwrap();
    let e = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
        .post(format!("{}/v1/chat/completions", h.base_url()))
        .bearer_auth(KEY)
        .json(&chat_body(false))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    // A hang still in flight does not hold up shutdown.
    let url = h.base_url();
    let pending = tokio::spawn(async move {
        client()
            .post(format!("{url}/v1/chat/completions"))
            .bearer_auth(KEY)
            .json(&chat_body(false))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.stats().fault(FaultKind::Hang), 2);
    let t = Instant::now();
    h.shutdown_with_grace(Duration::from_secs(5)).await;
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(pending.await.unwrap().is_err());

    // A hang gives up after max_s with a reset (the client sees a connection error, not its timeout).
    let h = serve(openai_profile(&fault("hang", ", max_s: 1")), loopback())
        .await
        .unwrap();
    let t = Instant::now();
    let e = client()
        .post(format!("{}/v1/chat/completions", h.base_url()))
        .bearer_auth(KEY)
        .json(&chat_body(false))
        .send()
        .await
        .unwrap_err();
    assert!(!e.is_timeout(), "{e:?}");
    assert!(t.elapsed() >= Duration::from_millis(950) && t.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn fault_slow_drip() {
    let p = openai_profile(&format!(
        "output_tokens: {{min: 3, max: 3}}\n{}",
        fault("slow_drip", ", interval_ms: 2")
    ));
    let h = serve(p, loopback()).await.unwrap();
    let t = Instant::now();
    let r = chat(&h, chat_body(false)).await;
    assert!(t.elapsed() < Duration::from_millis(200));
    let len: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), len);
    assert!(
        t.elapsed() >= Duration::from_millis(2 * (len as u64 - 1)),
        "{:?} for {len} bytes",
        t.elapsed()
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(h.stats().fault(FaultKind::SlowDrip), 1);
}

#[tokio::test]
async fn fault_http_errors_and_rate_limits() {
    for (kind, status) in [("http_500", 500), ("http_502", 502), ("http_503", 503)] {
        let h = serve(openai_profile(&fault(kind, "")), loopback())
            .await
            .unwrap();
        let r = chat(&h, chat_body(false)).await;
        assert_eq!(r.status().as_u16(), status);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["type"], "server_error");
        assert_eq!(h.stats().faults_total(), 1);
    }

    let h = serve(
        openai_profile(&fault("rate_limit_no_retry_after", "")),
        loopback(),
    )
    .await
    .unwrap();
    let r = chat(&h, chat_body(false)).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());
    assert!(r.headers().get("retry-after-ms").is_none());
    assert_eq!(r.headers()["x-ratelimit-remaining-requests"], "0");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");

    let h = serve(
        openai_profile(&fault("rate_limit_seconds", ", retry_after_s: 2")),
        loopback(),
    )
    .await
    .unwrap();
    let r = chat(&h, chat_body(true)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    assert_eq!(r.headers()["retry-after-ms"], "2000");
    assert_eq!(r.headers()["x-ratelimit-reset-requests"], "2s");
    assert_eq!(r.headers()["x-ratelimit-limit-requests"], "10000");

    let h = serve(
        openai_profile(&fault("rate_limit_http_date", ", retry_after_s: 2")),
        loopback(),
    )
    .await
    .unwrap();
    let r = chat(&h, chat_body(false)).await;
    assert_eq!(r.status(), 429);
    let at = httpdate::parse_http_date(r.headers()["retry-after"].to_str().unwrap()).unwrap();
    let wait = at.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(
        wait >= Duration::from_millis(1900) && wait <= Duration::from_secs(3),
        "{wait:?}"
    );
    assert_eq!(h.stats().fault(FaultKind::RateLimitHttpDate), 1);

    // The profile's own rate limit and errors (not faults).
    let h = serve(
        openai_profile("rate_limit: {rate: 1, retry_after: {seconds: 0.5}}\n"),
        loopback(),
    )
    .await
    .unwrap();
    let r = chat(&h, chat_body(false)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "0.5");
    assert_eq!(r.headers()["retry-after-ms"], "500");
    assert_eq!(h.stats().outcome("rate_limited"), 1);
    assert_eq!(h.stats().faults_total(), 0);
    let p = openai_profile("errors: {rate: 1, status: [502]}\n");
    let h = serve(p, loopback()).await.unwrap();
    assert_eq!(chat(&h, chat_body(false)).await.status(), 502);
    assert_eq!(h.stats().outcome("server_error"), 1);
}

#[tokio::test]
async fn fault_bodies() {
    // malformed JSON, both shapes.
    let h = serve(openai_profile(&fault("malformed_json", "")), loopback())
        .await
        .unwrap();
    let r = chat(&h, chat_body(false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let b = r.bytes().await.unwrap();
    assert!(serde_json::from_slice::<Value>(&b).is_err());
    let text = chat(&h, chat_body(true)).await.text().await.unwrap();
    let ev = sse(&text);
    assert!(ev
        .iter()
        .any(|(_, d)| serde_json::from_str::<Value>(d).is_err()));
    assert!(ev.iter().all(|(_, d)| d != "[DONE]"));

    // truncated SSE: ends cleanly without [DONE]; never drawn for non-stream requests.
    let h = serve(openai_profile(&fault("truncated_sse", "")), loopback())
        .await
        .unwrap();
    let text = chat(&h, chat_body(true)).await.text().await.unwrap();
    let ev = sse(&text);
    assert!(ev.len() >= 2);
    assert!(ev
        .iter()
        .all(|(_, d)| d != "[DONE]" && serde_json::from_str::<Value>(d).is_ok()));
    let v: Value = chat(&h, chat_body(false)).await.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(h.stats().fault(FaultKind::TruncatedSse), 1);

    // error event mid-stream.
    let h = serve(openai_profile(&fault("stream_error_event", "")), loopback())
        .await
        .unwrap();
    let r = chat(&h, chat_body(true)).await;
    assert_eq!(r.status(), 200);
    let ev = sse(&r.text().await.unwrap());
    let last: Value = serde_json::from_str(&ev.last().unwrap().1).unwrap();
    assert_eq!(last["error"]["type"], "server_error");
    assert!(ev
        .iter()
        .any(|(_, d)| d.contains("\"content\":\"") && !d.contains("\"content\":\"\"")));

    // wrong content type.
    let h = serve(openai_profile(&fault("wrong_content_type", "")), loopback())
        .await
        .unwrap();
    let r = chat(&h, chat_body(false)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("<html>"));

    // oversize body.
    let h = serve(
        openai_profile(&fault("oversize_body", ", size_bytes: 2097152")),
        loopback(),
    )
    .await
    .unwrap();
    let b = chat(&h, chat_body(false)).await.bytes().await.unwrap();
    assert_eq!(b.len(), 2 << 20);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["object"], "chat.completion");
    let b = chat(&h, chat_body(true)).await.bytes().await.unwrap();
    assert_eq!(b.len(), 2 << 20);
    assert_eq!(h.stats().fault(FaultKind::OversizeBody), 2);
}

#[tokio::test]
async fn fault_counts_are_exact_and_bursts_apply_in_windows() {
    let h = serve(
        openai_profile("faults: [{kind: http_503, rate: 0.3}]\n"),
        loopback(),
    )
    .await
    .unwrap();
    let mut seen = 0;
    for _ in 0..200 {
        if chat(&h, chat_body(false)).await.status() == 503 {
            seen += 1;
        }
    }
    let s = h.stats();
    assert_eq!(s.fault(FaultKind::Http503), seen);
    assert_eq!(s.outcome("ok") + seen, 200);
    assert!((30..=90).contains(&seen), "{seen}");

    let h = serve(
        openai_profile("faults: [{kind: http_500, burst: {every_s: 1000, length_s: 500}}, {kind: http_502, burst: {every_s: 1000, length_s: 1, start_s: 900}}]\n"),
        loopback(),
    )
    .await
    .unwrap();
    for _ in 0..5 {
        assert_eq!(chat(&h, chat_body(false)).await.status(), 500);
    }
    assert_eq!(h.stats().fault(FaultKind::Http500), 5);
    assert_eq!(h.stats().fault(FaultKind::Http502), 0);
}

// ---------------------------------------------------------------- coze

async fn coze_post(h: &MockHandle, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}{path}", h.base_url()))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("x-tt-logid"));
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn coze_get(h: &MockHandle, path: &str) -> Value {
    let r = client()
        .get(format!("{}{path}", h.base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn coze_chat_body(stream: bool, bot: &str) -> Value {
    json!({"bot_id": bot, "user_id": "u1", "stream": stream, "auto_save_history": true,
        "additional_messages": [{"role": "user", "type": "question", "content": "Where is my order?",
        "content_type": "text"}]})
}

async fn new_conversation(h: &MockHandle) -> String {
    let (s, v) = coze_post(
        h,
        "/v1/conversation/create",
        json!({"bot_id": "7350000000000000001"}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["code"], 0);
    v["data"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn coze_auth_and_unknown_bot() {
    let h = serve(coze_profile(""), loopback()).await.unwrap();
    let r = client()
        .post(format!("{}/v1/conversation/create", h.base_url()))
        .bearer_auth("pat-wrong")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("x-tt-logid"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], 4100);
    let conv = new_conversation(&h).await;
    let (s, v) = coze_post(
        &h,
        &format!("/v3/chat?conversation_id={conv}"),
        coze_chat_body(false, "7350000000000000099"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["code"], 4200);
    assert!(v["msg"].as_str().unwrap().contains("not found"));
    let (s, v) = coze_post(
        &h,
        "/v3/chat?conversation_id=1",
        coze_chat_body(false, "7350000000000000001"),
    )
    .await;
    assert_eq!((s, v["code"].as_i64()), (200, Some(4200)));
    let (s, v) = coze_post(
        &h,
        &format!("/v3/chat?conversation_id={conv}"),
        json!({"bot_id": "7350000000000000001", "user_id": "u"}),
    )
    .await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(4000)));
    assert_eq!(h.stats().outcome("not_found"), 2);
}

#[tokio::test]
async fn coze_non_stream_poll_lifecycle_and_busy_conversation() {
    let h = serve(
        coze_profile("latency: {mean_ms: 300, p99_ms: 400}\n"),
        loopback(),
    )
    .await
    .unwrap();
    let conv = new_conversation(&h).await;
    let (s, v) = coze_post(
        &h,
        &format!("/v3/chat?conversation_id={conv}"),
        coze_chat_body(false, "7350000000000000001"),
    )
    .await;
    assert_eq!((s, v["code"].as_i64()), (200, Some(0)));
    assert_eq!(v["data"]["status"], "in_progress");
    let chat_id = v["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["data"]["conversation_id"], conv.as_str());

    // A second chat while the first is in progress: 4016.
    let (s, v) = coze_post(
        &h,
        &format!("/v3/chat?conversation_id={conv}"),
        coze_chat_body(false, "7350000000000000001"),
    )
    .await;
    assert_eq!((s, v["code"].as_i64()), (200, Some(4016)));
    assert_eq!(h.stats().outcome("busy"), 1);

    let q = format!("conversation_id={conv}&chat_id={chat_id}");
    let v = coze_get(&h, &format!("/v3/chat/retrieve?{q}")).await;
    assert_eq!(v["data"]["status"], "in_progress");
    let v = coze_get(&h, &format!("/v3/chat/message/list?{q}")).await;
    assert_eq!(v["data"], json!([]));
    let t = Instant::now();
    let done = loop {
        let v = coze_get(&h, &format!("/v3/chat/retrieve?{q}")).await;
        if v["data"]["status"] != "in_progress" {
            break v;
        }
        assert!(t.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(done["data"]["status"], "completed");
    let usage = &done["data"]["usage"];
    assert_eq!(usage["input_count"], 8); // "Where is my order?" = 4 words + 4
    let out = usage["output_count"].as_u64().unwrap();
    assert_eq!(usage["token_count"].as_u64().unwrap(), out + 8);

    let v = coze_get(&h, &format!("/v3/chat/message/list?{q}")).await;
    let msgs = v["data"].as_array().unwrap();
    let answer = msgs.iter().find(|m| m["type"] == "answer").unwrap();
    assert_eq!(
        answer["content"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count() as u64,
        out
    );
    assert_eq!(msgs.iter().filter(|m| m["type"] == "follow_up").count(), 2);
    assert_eq!(answer["chat_id"], chat_id.as_str());

    // The conversation lists the question and the answer; the next chat sees them as history.
    let (_, v) = coze_post(
        &h,
        &format!("/v1/conversation/message/list?conversation_id={conv}"),
        json!({"order": "asc"}),
    )
    .await;
    let kinds: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["question", "answer", "follow_up", "follow_up"]);
    let (_, v) = coze_post(
        &h,
        &format!("/v3/chat?conversation_id={conv}"),
        coze_chat_body(false, "7350000000000000001"),
    )
    .await;
    assert_eq!(v["code"], 0);
    h.shutdown().await;
}

#[tokio::test]
async fn coze_stream_sequence() {
    let h = serve(coze_profile(""), loopback()).await.unwrap();
    let conv = new_conversation(&h).await;
    let r = client()
        .post(format!("{}/v3/chat?conversation_id={conv}", h.base_url()))
        .bearer_auth(KEY)
        .json(&coze_chat_body(true, "7350000000000000001"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-tt-logid"));
    let text = r.text().await.unwrap();
    // Real Coze framing: no space after the colon.
    assert!(text
        .lines()
        .filter(|l| !l.is_empty())
        .all(|l| l.starts_with("event:") || l.starts_with("data:")));
    assert!(!text.contains("data: ") && !text.contains("event: "));
    assert!(text.ends_with("event:done\ndata:\"[DONE]\"\n\n"));
    let ev = sse(&text);
    let names: Vec<&str> = ev.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        &names[..2],
        ["conversation.chat.created", "conversation.chat.in_progress"]
    );
    let n_delta = names
        .iter()
        .filter(|n| **n == "conversation.message.delta")
        .count();
    assert!((5..=9).contains(&n_delta));
    assert!(names[2..2 + n_delta]
        .iter()
        .all(|n| *n == "conversation.message.delta"));
    let tail: Vec<&str> = names[2 + n_delta..].to_vec();
    assert_eq!(
        tail,
        [
            "conversation.message.completed",
            "conversation.message.completed",
            "conversation.message.completed",
            "conversation.message.completed",
            "conversation.chat.completed",
            "done"
        ]
    );
    let deltas: String = ev[2..2 + n_delta]
        .iter()
        .map(|(_, d)| {
            let v: Value = serde_json::from_str(d).unwrap();
            assert_eq!(v["type"], "answer");
            v["content"].as_str().unwrap().to_string()
        })
        .collect();
    let completed: Value = serde_json::from_str(&ev[2 + n_delta].1).unwrap();
    assert_eq!(completed["content"].as_str().unwrap(), deltas);
    let chat: Value = serde_json::from_str(&ev[ev.len() - 2].1).unwrap();
    assert_eq!(chat["status"], "completed");
    assert_eq!(
        chat["usage"]["output_count"].as_u64().unwrap(),
        deltas.split_whitespace().count() as u64
    );
    assert_eq!(chat["usage"]["input_count"], 8);
    assert_eq!(ev.last().unwrap().1, "\"[DONE]\"");

    // After the stream the chat is retrievable, and the conversation is free again.
    let chat_id = chat["id"].as_str().unwrap();
    let v = coze_get(
        &h,
        &format!("/v3/chat/retrieve?conversation_id={conv}&chat_id={chat_id}"),
    )
    .await;
    assert_eq!(v["data"]["status"], "completed");
    let (_, v) = coze_post(
        &h,
        &format!("/v3/chat?conversation_id={conv}"),
        coze_chat_body(false, "7350000000000000001"),
    )
    .await;
    assert_eq!(v["code"], 0);
}

#[tokio::test]
async fn coze_failures_and_faults() {
    // errors drawn as failed chats.
    let h = serve(
        coze_profile("errors: {rate: 1, chat_failed_share: 1}\n"),
        loopback(),
    )
    .await
    .unwrap();
    let conv = new_conversation(&h).await;
    let (_, v) = coze_post(
        &h,
        &format!("/v3/chat?conversation_id={conv}"),
        coze_chat_body(false, "7350000000000000001"),
    )
    .await;
    let chat_id = v["data"]["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let v = coze_get(
        &h,
        &format!("/v3/chat/retrieve?conversation_id={conv}&chat_id={chat_id}"),
    )
    .await;
    assert_eq!(v["data"]["status"], "failed");
    assert_eq!(v["data"]["last_error"]["code"], 5000);
    let text = client()
        .post(format!("{}/v3/chat?conversation_id={conv}", h.base_url()))
        .bearer_auth(KEY)
        .json(&coze_chat_body(true, "7350000000000000001"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let names: Vec<String> = sse(&text).into_iter().map(|(e, _)| e).collect();
    assert_eq!(
        names,
        [
            "conversation.chat.created",
            "conversation.chat.in_progress",
            "conversation.chat.failed",
            "done"
        ]
    );
    assert_eq!(h.stats().outcome("chat_failed"), 2);

    // HTTP errors carry the envelope.
    let h = serve(
        coze_profile("errors: {rate: 1, status: [503]}\n"),
        loopback(),
    )
    .await
    .unwrap();
    let conv = new_conversation(&h).await;
    let (s, v) = coze_post(
        &h,
        &format!("/v3/chat?conversation_id={conv}"),
        coze_chat_body(false, "7350000000000000001"),
    )
    .await;
    assert_eq!((s, v["code"].as_i64()), (503, Some(5000)));

    // 429 with retry-after.
    let h = serve(
        coze_profile("rate_limit: {rate: 1, retry_after: {seconds: 1}}\n"),
        loopback(),
    )
    .await
    .unwrap();
    let conv = new_conversation(&h).await;
    let r = client()
        .post(format!("{}/v3/chat?conversation_id={conv}", h.base_url()))
        .bearer_auth(KEY)
        .json(&coze_chat_body(false, "7350000000000000001"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 4013);

    // Stream faults: truncated (no done), error event, reset. The conversation is released each time.
    for (kind, check) in [("truncated_sse", 0), ("stream_error_event", 1)] {
        let h = serve(coze_profile(&fault(kind, "")), loopback())
            .await
            .unwrap();
        let conv = new_conversation(&h).await;
        let text = client()
            .post(format!("{}/v3/chat?conversation_id={conv}", h.base_url()))
            .bearer_auth(KEY)
            .json(&coze_chat_body(true, "7350000000000000001"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let ev = sse(&text);
        assert!(ev.iter().all(|(e, _)| e != "done"), "{text}");
        assert!(ev.iter().any(|(e, _)| e == "conversation.message.delta"));
        if check == 1 {
            assert_eq!(ev.last().unwrap().0, "error");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (_, v) = coze_post(
            &h,
            &format!("/v3/chat?conversation_id={conv}"),
            coze_chat_body(false, "7350000000000000001"),
        )
        .await;
        assert_eq!(v["code"], 0, "{kind}: conversation released");
    }
    let h = serve(
        coze_profile(&fault("reset_before_response", "")),
        loopback(),
    )
    .await
    .unwrap();
    let conv = new_conversation(&h).await;
    assert!(client()
        .post(format!("{}/v3/chat?conversation_id={conv}", h.base_url()))
        .bearer_auth(KEY)
        .json(&coze_chat_body(false, "7350000000000000001"))
        .send()
        .await
        .is_err());
    assert_eq!(h.stats().fault(FaultKind::ResetBeforeResponse), 1);
}

#[tokio::test]
async fn coze_state_expires() {
    let h = serve(coze_profile("coze: {expire_s: 1}\n"), loopback())
        .await
        .unwrap();
    for _ in 0..5 {
        let conv = new_conversation(&h).await;
        coze_post(
            &h,
            &format!("/v3/chat?conversation_id={conv}"),
            coze_chat_body(false, "7350000000000000001"),
        )
        .await;
    }
    let st = h.shared.coze.as_ref().unwrap();
    assert_eq!(st.sizes(), (5, 5));
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(st.sizes(), (0, 0));
}

// ---------------------------------------------------------------- server lifecycle

#[tokio::test]
async fn port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let e = serve(openai_profile(""), addr).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(&addr.to_string()) && msg.contains("already"),
        "{msg}"
    );
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let h = serve(openai_profile(""), loopback()).await.unwrap();
    let url = h.base_url();
    assert_eq!(chat(&h, chat_body(false)).await.status(), 200);
    h.shutdown().await;
    assert!(client()
        .get(format!("{url}/v1/models"))
        .send()
        .await
        .is_err());

    let h = serve(openai_profile(""), loopback()).await.unwrap();
    let addr = h.addr;
    drop(h);
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The port is free again.
    let again = serve(openai_profile(""), addr).await.unwrap();
    assert_eq!(again.addr, addr);
}

#[tokio::test]
async fn graceful_shutdown_lets_a_stream_finish() {
    let p = openai_profile(
        "stream: {ttft: {mean_ms: 200, p99_ms: 210}, inter_token_ms: {mean_ms: 1, p99_ms: 2}}\n",
    );
    let h = serve(p, loopback()).await.unwrap();
    let url = h.base_url();
    let req = tokio::spawn(async move {
        client()
            .post(format!("{url}/v1/chat/completions"))
            .bearer_auth(KEY)
            .json(&chat_body(true))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.shutdown().await;
    let text = req.await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
}
