//! Compatibility check: send the same probe requests to a legacy endpoint and to a gateway that claims to serve the
//! same API, and list every difference in what comes back: status codes, content types, JSON shapes (field paths and
//! value types) and, for streams, the SSE event structure (event names in order, each event's data shape).
//!
//! Values are not compared (ids, timestamps and answers legitimately differ); shapes are.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::client::sse::SseParser;
use crate::client::Endpoint;
use crate::config::scenario::ProtocolKind;

/// The shape of one response.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Shape {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    /// JSON path -> type name (`string`, `number`, `bool`, `null`, `object`, `array`); arrays collapsed to `[]`.
    pub(crate) fields: BTreeMap<String, String>,
    /// For SSE: event names in order with repeats collapsed (`delta*`), and per event name its data's fields.
    pub(crate) events: Vec<String>,
    pub(crate) event_fields: BTreeMap<String, BTreeMap<String, String>>,
}

/// JSON value -> flattened `path: type` map.
pub(crate) fn json_shape(v: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(v, String::new(), &mut out);
    out
}

fn walk(v: &Value, path: String, out: &mut BTreeMap<String, String>) {
    let ty = match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !path.is_empty() {
        out.insert(path.clone(), ty.to_string());
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(x, p, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                walk(x, format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// Parse an SSE body into its event structure.
pub(crate) fn sse_shape(body: &[u8]) -> (Vec<String>, BTreeMap<String, BTreeMap<String, String>>) {
    let mut p = SseParser::new();
    let mut names: Vec<String> = Vec::new();
    let mut fields: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    if p.push(body).is_err() {
        return (vec!["<oversize>".into()], fields);
    }
    p.finish();
    while let Some(ev) = p.next_event() {
        let mut name = ev.event.clone().unwrap_or_else(|| "message".into());
        let data: Option<Value> = serde_json::from_str(&ev.data).ok();
        if ev.data.trim() == "[DONE]" || ev.data.trim() == "\"[DONE]\"" {
            name = format!("{name}([DONE])");
        } else if let Some(d) = &data {
            fields
                .entry(name.clone())
                .or_default()
                .extend(json_shape(d));
        }
        let starred = format!("{name}*");
        match names.last_mut() {
            Some(last) if *last == name => *last = starred,
            Some(last) if *last == starred => {}
            _ => names.push(name),
        }
    }
    (names, fields)
}

/// One probe: a request sent to both sides.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub(crate) name: &'static str,
    pub(crate) method: reqwest::Method,
    /// Path and query; `{conversation_id}` is replaced by the id each side returned for the create probe.
    pub(crate) path: String,
    pub(crate) body: Option<Value>,
    /// Send without the Authorization header (the 401 shape).
    pub(crate) no_auth: bool,
}

fn post(name: &'static str, path: &str, body: Value) -> Probe {
    Probe {
        name,
        method: reqwest::Method::POST,
        path: path.into(),
        body: Some(body),
        no_auth: false,
    }
}

pub(crate) fn probes(kind: ProtocolKind, model: &str, bot_id: &str) -> Vec<Probe> {
    match kind {
        ProtocolKind::Openai => openai_probes(model),
        ProtocolKind::Coze => coze_probes(bot_id),
        // A webhook server answers events, not chat calls: `check` refuses it.
        ProtocolKind::Webhook => Vec::new(),
    }
}

fn openai_probes(model: &str) -> Vec<Probe> {
    let path = "/v1/chat/completions";
    let msg = json!([{"role": "user", "content": "Where is my order?"}]);
    let mut v = vec![
        post(
            "chat completion",
            path,
            json!({"model": model, "messages": msg, "stream": false}),
        ),
        post(
            "chat completion, stream",
            path,
            json!({"model": model, "messages": msg, "stream": true, "stream_options": {"include_usage": true}}),
        ),
        post(
            "unknown model",
            path,
            json!({"model": "no-such-model-cutover", "messages": msg}),
        ),
        Probe {
            no_auth: true,
            ..post(
                "missing key",
                path,
                json!({"model": model, "messages": msg}),
            )
        },
    ];
    // The model-name forms a migration meets: which ones does each side resolve, which 404?
    let forms = [
        ("model name as configured", model.to_string()),
        ("model name with provider prefix", format!("openai/{model}")),
        ("model name in capitals", model.to_uppercase()),
        ("model name, dated alias", format!("{model}-2025-04-14")),
    ];
    for (name, m) in forms {
        v.push(post(name, path, json!({"model": m, "messages": msg})));
    }
    v.push(Probe {
        name: "list models",
        method: reqwest::Method::GET,
        path: "/v1/models".into(),
        body: None,
        no_auth: false,
    });
    v
}

fn coze_probes(bot_id: &str) -> Vec<Probe> {
    let q = |stream: bool| {
        json!({"bot_id": bot_id, "user_id": "compat-probe", "stream": stream, "auto_save_history": true,
               "additional_messages": [{"role": "user", "type": "question", "content": "Where is my order?", "content_type": "text"}]})
    };
    vec![
        post(
            "create conversation",
            "/v1/conversation/create",
            json!({"bot_id": bot_id}),
        ),
        post(
            "chat, stream",
            "/v3/chat?conversation_id={conversation_id}",
            q(true),
        ),
        post(
            "list conversation messages",
            "/v1/conversation/message/list?conversation_id={conversation_id}",
            json!({}),
        ),
        post(
            "unknown bot",
            "/v1/conversation/create",
            json!({"bot_id": "0000000000000000000"}),
        ),
        Probe {
            no_auth: true,
            ..post(
                "missing key",
                "/v1/conversation/create",
                json!({"bot_id": bot_id}),
            )
        },
    ]
}

/// Send one probe and take the shape of the answer.
pub(crate) async fn probe(
    client: &reqwest::Client,
    ep: &Endpoint,
    p: &Probe,
    conversation_id: &str,
) -> Result<(Shape, Value), String> {
    let url = ep.url(&p.path.replace("{conversation_id}", conversation_id), &[]);
    let bot = p.body.as_ref().and_then(|b| b.get("bot_id")?.as_str());
    let mut headers = bot.map_or_else(
        || ep.headers.clone(),
        |b| ep.with_bot_header(b).headers.clone(),
    );
    if p.no_auth {
        headers.remove(reqwest::header::AUTHORIZATION);
    }
    let mut rb = client
        .request(p.method.clone(), url)
        .headers(headers)
        .timeout(std::time::Duration::from_secs(30));
    if let Some(b) = &p.body {
        rb = rb.json(b);
    }
    let resp = rb.send().await.map_err(|e| ep.redact(&e.to_string()))?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let hints = rate_limit_headers(resp.headers());
    // The runner's cap: an endless or huge body ends the probe at `limits.max_response_bytes`, never buffered past it.
    let body = crate::client::http::read_body(resp, ep.limits.max_response_bytes)
        .await
        .map_err(|(kind, detail)| ep.redact(&format!("{}: {detail}", kind.as_str())))?;
    let mut shape = Shape {
        status,
        content_type: content_type.clone(),
        ..Default::default()
    };
    for h in hints {
        shape
            .fields
            .insert(format!("<header {h}>"), "present".into());
    }
    let mut value = Value::Null;
    if content_type == "text/event-stream" {
        let (events, fields) = sse_shape(&body);
        shape.events = events;
        shape.event_fields = fields;
        if let Some(c) = usage_chunk_choices(&body) {
            shape
                .fields
                .insert("<usage chunk>.choices".into(), c.into());
        }
    } else if let Ok(v) = serde_json::from_slice::<Value>(&body) {
        shape.fields = json_shape(&v);
        value = v;
    } else {
        shape.fields.insert("<body>".into(), "not JSON".into());
    }
    Ok((shape, value))
}

/// Names of the wait / rate-limit headers an answer carries (the forms a client's retry must understand).
fn rate_limit_headers(h: &reqwest::header::HeaderMap) -> Vec<String> {
    let mut v: Vec<String> = h
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| {
            k.starts_with("retry-after")
                || k.starts_with("x-ratelimit-")
                || k.starts_with("llm_provider-retry-after")
        })
        .collect();
    v.sort();
    v
}

/// In an OpenAI stream, the `choices` of the usage chunk: `empty` (the spec) or `non-empty` (LiteLLM sends
/// `[{"index":0,"delta":{}}]`, which a client that treats the last chunk with choices as content may miscount).
/// `None` when there is no usage chunk.
pub(crate) fn usage_chunk_choices(body: &[u8]) -> Option<&'static str> {
    let mut p = SseParser::new();
    p.push(body).ok()?;
    p.finish();
    let mut found = None;
    while let Some(ev) = p.next_event() {
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            continue;
        };
        if v.get("usage").is_some_and(Value::is_object) {
            let empty = v
                .get("choices")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
            found = Some(if empty { "empty" } else { "non-empty" });
        }
    }
    found
}

/// Every difference between two shapes, one line each.
pub(crate) fn diff(a: &Shape, b: &Shape) -> Vec<String> {
    let mut out = Vec::new();
    if a.status != b.status {
        out.push(format!(
            "status: legacy {} vs gateway {}",
            a.status, b.status
        ));
    }
    if a.content_type != b.content_type {
        out.push(format!(
            "content-type: legacy `{}` vs gateway `{}`",
            a.content_type, b.content_type
        ));
    }
    diff_fields("", &a.fields, &b.fields, &mut out);
    if a.events != b.events {
        out.push(format!(
            "SSE events: legacy [{}] vs gateway [{}]",
            a.events.join(", "),
            b.events.join(", ")
        ));
    }
    let names: std::collections::BTreeSet<&String> =
        a.event_fields.keys().chain(b.event_fields.keys()).collect();
    let empty = BTreeMap::new();
    for n in names {
        diff_fields(
            &format!("event `{n}` data "),
            a.event_fields.get(n).unwrap_or(&empty),
            b.event_fields.get(n).unwrap_or(&empty),
            &mut out,
        );
    }
    out
}

fn diff_fields(
    prefix: &str,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    out: &mut Vec<String>,
) {
    for (k, ta) in a {
        match b.get(k) {
            None => out.push(format!("{prefix}field `{k}` ({ta}): only in legacy")),
            Some(tb) if tb != ta => {
                out.push(format!("{prefix}field `{k}`: legacy {ta} vs gateway {tb}"))
            }
            _ => {}
        }
    }
    for (k, tb) in b {
        if !a.contains_key(k) {
            out.push(format!("{prefix}field `{k}` ({tb}): only in gateway"));
        }
    }
}

/// Run every probe of the protocol against both endpoints; returns (probe name, differences) and a Markdown report.
pub async fn check(
    client: &reqwest::Client,
    legacy: &Endpoint,
    gateway: &Endpoint,
    model: &str,
    bot_id: &str,
) -> Result<(Vec<(String, Vec<String>)>, String), String> {
    if legacy.kind != gateway.kind {
        return Err(format!(
            "legacy speaks {:?} and gateway speaks {:?}: a gateway that claims to serve like legacy must expose the same API",
            legacy.kind, gateway.kind
        ));
    }
    if legacy.kind == ProtocolKind::Webhook {
        return Err(
            "webhook targets take events and answer through a callback: compat compares chat APIs; use `cutover run`"
                .into(),
        );
    }
    let mut results = Vec::new();
    let mut statuses = Vec::new();
    let (mut conv_a, mut conv_b) = (String::new(), String::new());
    for p in probes(legacy.kind, model, bot_id) {
        let (sa, va) = probe(client, legacy, &p, &conv_a)
            .await
            .map_err(|e| format!("legacy, {}: {e}", p.name))?;
        let (sb, vb) = probe(client, gateway, &p, &conv_b)
            .await
            .map_err(|e| format!("gateway, {}: {e}", p.name))?;
        if p.name == "create conversation" {
            conv_a = va
                .pointer("/data/id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            conv_b = vb
                .pointer("/data/id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
        }
        statuses.push((sa.status, sb.status));
        results.push((p.name.to_string(), diff(&sa, &sb)));
    }
    let mut md = String::from("# cutover compat\n\n");
    let total: usize = results.iter().map(|(_, d)| d.len()).sum();
    let _ = writeln!(md, "{total} differences over {} probes.\n", results.len());
    for ((name, d), (la, gb)) in results.iter().zip(&statuses) {
        let _ = writeln!(
            md,
            "## {name}: {} (legacy {la}, gateway {gb})\n",
            if d.is_empty() {
                "same shape"
            } else {
                "DIFFERENT"
            }
        );
        for line in d {
            let _ = writeln!(md, "- {line}");
        }
        if !d.is_empty() {
            md.push('\n');
        }
    }
    Ok((results, md))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_diffs() {
        let a = Shape {
            status: 200,
            content_type: "application/json".into(),
            fields: json_shape(&json!({"code": 0, "data": {"id": "1", "tags": [{"k": 1}]}})),
            ..Default::default()
        };
        let b = Shape {
            status: 201,
            content_type: "application/json".into(),
            fields: json_shape(
                &json!({"code": "0", "data": {"id": "2", "extra": null, "tags": []}}),
            ),
            ..Default::default()
        };
        assert_eq!(
            diff(&a, &b),
            vec![
                "status: legacy 200 vs gateway 201",
                "field `code`: legacy number vs gateway string",
                // the gateway's array is empty, so its element shape is missing too
                "field `data.tags[]` (object): only in legacy",
                "field `data.tags[].k` (number): only in legacy",
                "field `data.extra` (null): only in gateway",
            ]
        );
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn sse_structure_collapses_repeats() {
        let body = b"event:conversation.chat.created\ndata:{\"id\":\"1\"}\n\nevent:conversation.message.delta\ndata:{\"content\":\"a\"}\n\nevent:conversation.message.delta\ndata:{\"content\":\"b\"}\n\nevent:done\ndata:\"[DONE]\"\n\n";
        let (names, fields) = sse_shape(body);
        assert_eq!(
            names,
            vec![
                "conversation.chat.created",
                "conversation.message.delta*",
                "done([DONE])"
            ]
        );
        assert_eq!(fields["conversation.message.delta"]["content"], "string");
    }

    #[test]
    fn usage_chunk_with_choices_is_flagged() {
        let spec = b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"completion_tokens\":1}}\n\ndata: [DONE]\n\n";
        let litellm = b"data: {\"choices\":[{\"index\":0,\"delta\":{}}],\"usage\":{\"completion_tokens\":1}}\n\ndata: [DONE]\n\n";
        let none = b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n";
        assert_eq!(usage_chunk_choices(spec), Some("empty"));
        assert_eq!(usage_chunk_choices(litellm), Some("non-empty"));
        assert_eq!(usage_chunk_choices(none), None);
    }
}
