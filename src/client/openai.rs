//! OpenAI-compatible chat completions adapter: `POST /v1/chat/completions` (JSON, or SSE with
//! `stream_options.include_usage`).

use serde_json::{json, Value};

use super::attempt::{Attempt, ErrorKind};
use super::http::{ConvState, Endpoint};
use super::sse;
use super::sse::token_count;

impl Endpoint {
    pub(super) async fn openai_turn(
        &self,
        client: &reqwest::Client,
        conv: &ConvState,
        prompt: &str,
        model: &str,
        stream: bool,
    ) -> Attempt {
        let mut messages: Vec<Value> = conv
            .history
            .iter()
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect();
        messages.push(json!({"role": "user", "content": prompt}));
        let mut body =
            json!({"model": model, "messages": messages, "stream": stream, "user": conv.user});
        if stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        if let Some(m) = self.max_tokens {
            body["max_tokens"] = json!(m);
        }
        let url = self.url("/v1/chat/completions", &[]);
        if stream {
            return self
                .post_stream(client, url, &body, sse::classify_openai)
                .await;
        }
        let (mut a, v) = self.post_json(client, url, &body).await;
        if a.error.is_some() {
            return a;
        }
        let Some(text) = v
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
        else {
            return a.fail(
                ErrorKind::MalformedJson,
                "choices[0].message.content missing",
            );
        };
        a.push_answer(text);
        a.usage = openai_usage(&v);
        a
    }
}
fn openai_usage(v: &Value) -> Option<(u64, u64)> {
    let u = v.get("usage")?;
    Some((
        token_count(u.get("prompt_tokens")?)?,
        token_count(u.get("completion_tokens")?)?,
    ))
}
