//! OpenAI-compatible chat completions adapter: `POST /v1/chat/completions` (JSON, or SSE with
//! `stream_options.include_usage`).

use serde::Serialize;
use serde_json::Value;

use super::attempt::{Attempt, ErrorKind};
use super::http::{parse_json, ConvState, Endpoint};
use super::json_scan;
use super::sse;
use super::sse::usage_counts;

impl Endpoint {
    pub(super) async fn openai_turn(
        &self,
        client: &reqwest::Client,
        conv: &ConvState,
        prompt: &str,
        model: &str,
        stream: bool,
    ) -> Attempt {
        let mut messages: Vec<Message> = conv
            .history
            .iter()
            .map(|(role, content)| Message { role, content })
            .collect();
        messages.push(Message {
            role: "user",
            content: prompt,
        });
        let body = ChatBody {
            max_tokens: self.max_tokens,
            messages,
            model,
            stream,
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
            }),
            user: &conv.user,
        };
        let url = self.chat_url.clone();
        if stream {
            return self
                .post_stream(client, url, &body, sse::classify_openai)
                .await;
        }
        let (a, bytes) = self.post_for_bytes(client, url, &body).await;
        if a.error.is_some() {
            return a;
        }
        match json_scan::scan(&bytes, b"message") {
            Some(s) => answered(a, s.text.as_deref(), s.usage),
            None => {
                let (a, v) = parse_json(a, &bytes);
                if a.error.is_some() {
                    return a;
                }
                let text = v
                    .pointer("/choices/0/message/content")
                    .and_then(Value::as_str);
                answered(
                    a,
                    text,
                    usage_counts(&v, "prompt_tokens", "completion_tokens"),
                )
            }
        }
    }
}

/// The attempt with the answer's text and token counts; no text is a `malformed_json` failure.
fn answered(mut a: Attempt, text: Option<&str>, usage: Option<(u64, u64)>) -> Attempt {
    let Some(text) = text else {
        return a.fail(
            ErrorKind::MalformedJson,
            "choices[0].message.content missing",
        );
    };
    a.push_answer(text);
    a.usage = usage;
    a
}

/// The request body, borrowed from the conversation: serialized straight to bytes, where a `serde_json::Value` tree
/// cost an allocation per key and value. Fields in alphabetical order, as the `Value` map wrote them, so the bytes
/// on the wire are the same.
#[derive(Serialize)]
struct ChatBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    messages: Vec<Message<'a>>,
    model: &'a str,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    user: &'a str,
}

#[derive(Serialize)]
struct Message<'a> {
    content: &'a str,
    role: &'a str,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The typed body writes the bytes the `json!` tree wrote (serde_json's map sorts keys).
    #[test]
    fn typed_body_is_the_json_tree_byte_for_byte() {
        for (stream, max_tokens) in [(false, None), (true, Some(64u32))] {
            let body = ChatBody {
                max_tokens,
                messages: vec![
                    Message {
                        role: "assistant",
                        content: "a \"quoted\"\nanswer",
                    },
                    Message {
                        role: "user",
                        content: "é?",
                    },
                ],
                model: "m-1",
                stream,
                stream_options: stream.then_some(StreamOptions {
                    include_usage: true,
                }),
                user: "u-7",
            };
            let mut tree = json!({"model": "m-1", "stream": stream, "user": "u-7", "messages": [
                {"role": "assistant", "content": "a \"quoted\"\nanswer"},
                {"role": "user", "content": "é?"},
            ]});
            if stream {
                tree["stream_options"] = json!({"include_usage": true});
            }
            if let Some(m) = max_tokens {
                tree["max_tokens"] = json!(m);
            }
            assert_eq!(
                serde_json::to_string(&body).unwrap(),
                serde_json::to_string(&tree).unwrap()
            );
        }
    }
}
