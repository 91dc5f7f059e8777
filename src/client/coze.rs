//! Coze bot API v3 adapter: `POST /v1/conversation/create`, `POST /v3/chat` (SSE, or poll `/v3/chat/retrieve` until
//! completed, then `/v3/chat/message/list`). Non-stream latency = chat create -> completed status observed.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::attempt::{Attempt, ErrorKind};
use super::http::{ConvState, Endpoint};
use super::sse;
use super::sse::usage_counts;

impl Endpoint {
    /// Create the server-side conversation (Coze). One attempt.
    pub(crate) async fn create_conversation(
        &self,
        client: &reqwest::Client,
        conv: &mut ConvState,
        model: &str,
    ) -> Attempt {
        let url = self.url("/v1/conversation/create", &[]);
        let bot_id = self.bot_for(model);
        let body = json!({ "bot_id": bot_id });
        let (mut a, v) = self
            .with_bot_header(&bot_id)
            .post_json(client, url, &body)
            .await;
        if a.error.is_some() {
            return self.scrub(a);
        }
        let v = match coze_envelope(&mut a, v) {
            Some(d) => d,
            None => return self.scrub(a),
        };
        match v.get("id").and_then(json_id) {
            Some(id) => conv.coze_conversation_id = Some(id),
            None => {
                return a.fail(
                    ErrorKind::MalformedJson,
                    "conversation/create: data.id missing",
                )
            }
        }
        a
    }

    /// This endpoint with the bot id also in `coze.bot_id_header` when the target names one (a Coze-shaped gateway
    /// reads it there); this endpoint itself otherwise.
    pub(crate) fn with_bot_header(&self, bot_id: &str) -> std::borrow::Cow<'_, Endpoint> {
        let header = self.coze.as_ref().and_then(|c| c.bot_id_header.as_deref());
        let parsed = header.and_then(|h| {
            let name = reqwest::header::HeaderName::from_bytes(h.as_bytes()).ok()?;
            Some((name, reqwest::header::HeaderValue::from_str(bot_id).ok()?))
        });
        match parsed {
            Some((name, value)) => {
                let mut ep = self.clone();
                ep.headers.insert(name, value);
                std::borrow::Cow::Owned(ep)
            }
            None => std::borrow::Cow::Borrowed(self),
        }
    }

    pub(crate) fn bot_for(&self, model: &str) -> String {
        let c = self.coze.as_ref().expect("coze settings validated");
        c.model_bots
            .get(model)
            .or(c.bot_id.as_ref())
            .cloned()
            .unwrap_or_default()
    }

    pub(super) async fn coze_turn(
        &self,
        client: &reqwest::Client,
        conv: &ConvState,
        prompt: &str,
        model: &str,
        stream: bool,
    ) -> Attempt {
        let conv_id = conv.coze_conversation_id.clone().unwrap_or_default();
        let url = self.url("/v3/chat", &[("conversation_id", &conv_id)]);
        let bot_id = self.bot_for(model);
        let body = ChatBody {
            additional_messages: [Question {
                content: prompt,
                content_type: "text",
                role: "user",
                r#type: "question",
            }],
            auto_save_history: true,
            bot_id: &bot_id,
            stream,
            user_id: &conv.user,
        };
        let ep = self.with_bot_header(&bot_id);
        if stream {
            return ep.post_stream(client, url, &body, sse::classify_coze).await;
        }
        let (mut a, v) = ep.post_json(client, url, &body).await;
        if a.error.is_some() {
            return a;
        }
        let Some(data) = coze_envelope(&mut a, v) else {
            return a;
        };
        let Some(chat_id) = data.get("id").and_then(json_id) else {
            return a.fail(ErrorKind::MalformedJson, "v3/chat: data.id missing");
        };
        let ids = [
            ("conversation_id", conv_id.as_str()),
            ("chat_id", chat_id.as_str()),
        ];
        let a = match self.poll_until_completed(client, a, &ids).await {
            Ok(a) => a,
            Err(a) => return a,
        };
        let done = a.done;
        let list = self.url("/v3/chat/message/list", &ids);
        let (mut m, v) = self.get_json(client, list).await;
        if let Some(e) = m.error.take() {
            return a.fail(e, format!("message/list: {}", m.detail.unwrap_or_default()));
        }
        let Some(d) = coze_envelope(&mut m, v) else {
            return a.fail(
                m.error.unwrap_or(ErrorKind::MalformedJson),
                m.detail.unwrap_or_default(),
            );
        };
        let mut a = a;
        if let Some(msgs) = d.as_array() {
            let answers = msgs
                .iter()
                .filter(|m| m.get("type").and_then(Value::as_str) == Some("answer"))
                .filter_map(|m| m.get("content").and_then(Value::as_str));
            for text in answers {
                a.push_answer(text);
            }
        }
        a.done = done;
        a
    }

    /// Poll `/v3/chat/retrieve` every `poll_interval_ms` until the chat is completed (`Ok`, with `done` and usage
    /// set) or fails (`Err`, the finished failed attempt). The runner's timeout bounds the loop.
    async fn poll_until_completed(
        &self,
        client: &reqwest::Client,
        mut a: Attempt,
        ids: &[(&str, &str)],
    ) -> Result<Attempt, Attempt> {
        let poll = Duration::from_millis(
            self.coze
                .as_ref()
                .map(|c| c.poll_interval_ms)
                .unwrap_or(1000),
        );
        let retrieve = self.url("/v3/chat/retrieve", ids);
        loop {
            tokio::time::sleep(poll).await;
            let (mut p, v) = self.get_json(client, retrieve.clone()).await;
            if let Some(e) = p.error.take() {
                // A failing poll fails the chat: the caller decides about retrying the whole turn.
                a.status = p.status;
                a.retry_after = p.retry_after;
                return Err(a.fail(
                    e,
                    format!("chat/retrieve: {}", p.detail.unwrap_or_default()),
                ));
            }
            let Some(d) = coze_envelope(&mut p, v) else {
                a.status = p.status;
                return Err(a.fail(
                    p.error.unwrap_or(ErrorKind::MalformedJson),
                    p.detail.unwrap_or_default(),
                ));
            };
            match d.get("status").and_then(Value::as_str) {
                Some("completed") => {
                    a.done = Instant::now();
                    a.usage = usage_counts(&d, "input_count", "output_count");
                    return Ok(a);
                }
                Some("failed") | Some("canceled") => {
                    let msg = d
                        .pointer("/last_error/msg")
                        .and_then(Value::as_str)
                        .unwrap_or("failed");
                    return Err(a.fail(ErrorKind::ChatFailed, format!("chat failed: {msg}")));
                }
                Some(_) => continue,
                None => {
                    return Err(a.fail(
                        ErrorKind::MalformedJson,
                        "chat/retrieve: data.status missing",
                    ))
                }
            }
        }
    }
}
/// The `/v3/chat` body, borrowed and serialized straight to bytes (no `serde_json::Value` tree). Fields in
/// alphabetical order, as the `Value` map wrote them, so the bytes on the wire are the same.
#[derive(serde::Serialize)]
struct ChatBody<'a> {
    additional_messages: [Question<'a>; 1],
    auto_save_history: bool,
    bot_id: &'a str,
    stream: bool,
    user_id: &'a str,
}

#[derive(serde::Serialize)]
struct Question<'a> {
    content: &'a str,
    content_type: &'a str,
    role: &'a str,
    r#type: &'a str,
}

fn json_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Check a Coze envelope: `code == 0` gives `data`; else the attempt fails with `envelope_<code>`.
fn coze_envelope(a: &mut Attempt, v: Value) -> Option<Value> {
    match v.get("code").and_then(Value::as_i64) {
        Some(0) => match v.get("data") {
            Some(d) => Some(d.clone()),
            None => {
                a.error = Some(ErrorKind::MalformedJson);
                a.detail = Some("envelope without data".into());
                a.done = Instant::now();
                None
            }
        },
        Some(code) => {
            let msg = v.get("msg").and_then(Value::as_str).unwrap_or("");
            a.error = Some(ErrorKind::Envelope(code));
            a.detail = Some(format!("code {code}: {msg}"));
            a.done = Instant::now();
            None
        }
        None => {
            a.error = Some(ErrorKind::MalformedJson);
            a.detail = Some("envelope without code".into());
            a.done = Instant::now();
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed chat body writes the bytes the `json!` tree wrote (serde_json's map sorts keys).
    #[test]
    fn typed_chat_body_is_the_json_tree_byte_for_byte() {
        let body = ChatBody {
            additional_messages: [Question {
                content: "hi \"there\"",
                content_type: "text",
                role: "user",
                r#type: "question",
            }],
            auto_save_history: true,
            bot_id: "b1",
            stream: true,
            user_id: "u-3",
        };
        let tree = json!({
            "bot_id": "b1",
            "user_id": "u-3",
            "additional_messages": [{"role": "user", "type": "question", "content": "hi \"there\"", "content_type": "text"}],
            "stream": true,
            "auto_save_history": true,
        });
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            serde_json::to_string(&tree).unwrap()
        );
    }
}
