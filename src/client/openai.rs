//! OpenAI-compatible chat completions adapter: `POST /v1/chat/completions` (JSON, or SSE with
//! `stream_options.include_usage`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::attempt::{Attempt, ErrorKind};
use super::http::{parse_json, ConvState, Endpoint};
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
        match typed_answer(&bytes) {
            Some((text, usage)) => answered(a, text.as_deref(), usage),
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

/// A completion's answer text (None: missing) and its (input, output) token counts (None: no usable usage block).
type Answer<'a> = (Option<Cow<'a, str>>, Option<(u64, u64)>);

/// The fast path of a chat completion: `choices[0].message.content` and `usage` read into borrowed typed fields,
/// skipping the rest, instead of a `serde_json::Value` tree of the whole body (~30,000 instructions a request,
/// callgrind). `None` when the body does not fit these types (not an object, a field of another type, a duplicate
/// key, not JSON at all): the caller then reads it through `Value` as before, so every such body gets exactly the
/// answer it got before.
fn typed_answer(body: &[u8]) -> Option<Answer<'_>> {
    let MapOnly(c) = serde_json::from_slice::<MapOnly<Completion<'_>>>(body).ok()?;
    let text = c
        .choices
        .into_iter()
        .next()
        .and_then(|ch| ch.0.message)
        .and_then(|m| m.0.content);
    let usage = c.usage.and_then(|MapOnly(u)| {
        let n = |v: Option<serde_json::Number>| -> Option<u64> {
            let v = v?;
            // as `sse::token_count`: a whole count, or a non-negative float truncated (saturating)
            v.as_u64()
                .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        };
        Some((n(u.prompt_tokens)?, n(u.completion_tokens)?))
    });
    Some((text, usage))
}

/// A struct read from a JSON object only: serde's derive would also take an array, field by field in order, where
/// the `Value` path finds no such key.
struct MapOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Objects<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Objects<T> {
            type Value = MapOnly<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(MapOnly)
            }
        }
        d.deserialize_map(Objects(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct Completion<'a> {
    #[serde(default, borrow)]
    choices: Vec<MapOnly<Choice<'a>>>,
    #[serde(default)]
    usage: Option<MapOnly<Usage>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default, borrow)]
    message: Option<MapOnly<ChoiceMessage<'a>>>,
}

#[derive(Deserialize)]
struct ChoiceMessage<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<serde_json::Number>,
    #[serde(default)]
    completion_tokens: Option<serde_json::Number>,
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

    /// What the `Value` path reads from a body: the answer text and the token counts (None: not JSON).
    fn by_value(body: &str) -> Option<Answer<'static>> {
        let v: Value = serde_json::from_str(body).ok()?;
        let text = v
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .map(|t| Cow::Owned(t.to_string()));
        Some((text, usage_counts(&v, "prompt_tokens", "completion_tokens")))
    }

    /// The typed fast path answers exactly what the `Value` path answers whenever it answers at all, on ordinary,
    /// odd and hostile bodies; where it declines (None) the `Value` path runs, so nothing changes for those.
    #[test]
    fn the_typed_answer_agrees_with_the_value_path_or_declines() {
        let choices = [
            r#""choices": [{"index": 0, "message": {"role": "assistant", "content": "Your order ships today."}}]"#,
            r#""choices": [{"message": {"content": "esc \"q\" \u00e9 \n\ud83d\ude00"}}, {"message": {"content": "second"}}]"#,
            r#""choices": []"#,
            r#""choices": null"#,
            r#""choices": [{"message": null}]"#,
            r#""choices": [{"message": {"content": null}}]"#,
            r#""choices": [{"message": {"content": 5}}]"#,
            r#""choices": [{"message": {"content": [{"type": "text", "text": "parts"}]}}]"#,
            r#""choices": [{"message": "text"}]"#,
            r#""choices": [7]"#,
            r#""choices": {"0": {"message": {"content": "map"}}}"#,
            r#""choices": [{"message": {"content": "a", "content": "b"}}]"#,
            r#""nested": [[[[{"deep": [1, 2, {"x": null}]}]]]], "choices": [{"message": {"content": "after"}}]"#,
        ];
        let usages = [
            "",
            r#", "usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}"#,
            r#", "usage": {"prompt_tokens": 1.9, "completion_tokens": 1e3}"#,
            r#", "usage": {"prompt_tokens": -1, "completion_tokens": 3}"#,
            r#", "usage": {"prompt_tokens": "12", "completion_tokens": 3}"#,
            r#", "usage": {"prompt_tokens": 18446744073709551615, "completion_tokens": 1e30}"#,
            r#", "usage": {"prompt_tokens": 12}"#,
            r#", "usage": null"#,
            r#", "usage": [1, 2]"#,
            r#", "usage": {"prompt_tokens": 1e400, "completion_tokens": 1}"#,
        ];
        let mut answered = 0;
        for c in choices {
            for u in usages {
                let body = format!("{{\"id\": \"x\", {c}{u}}}");
                let typed = typed_answer(body.as_bytes())
                    .map(|(t, u)| (t.map(|t| Cow::<str>::Owned(t.into_owned())), u));
                if let Some(t) = typed {
                    answered += 1;
                    assert_eq!(Some(t), by_value(&body), "{body}");
                }
            }
        }
        // Every well-typed combination (7 choices x 6 usages) takes the fast path; the others may decline.
        assert!(answered >= 42, "{answered}");
        let ordinary = format!("{{{}{}}}", choices[0], usages[1]);
        assert_eq!(
            typed_answer(ordinary.as_bytes())
                .map(|(t, u)| (t.map(|t| Cow::<str>::Owned(t.into_owned())), u)),
            Some((
                Some(Cow::Owned("Your order ships today.".to_string())),
                Some((12, 34))
            ))
        );
        for body in [
            "[]",
            "[[], null]",
            " 7",
            "\"s\"",
            "null",
            "{",
            "",
            "{} x",
            "{\"choices\": [}",
        ] {
            assert!(typed_answer(body.as_bytes()).is_none(), "{body}");
        }
        // Duplicate top-level keys: serde_json's Value keeps the last; the typed path declines.
        let dup = r#"{"choices": [{"message": {"content": "a"}}], "choices": [{"message": {"content": "b"}}]}"#;
        assert!(typed_answer(dup.as_bytes()).is_none());
    }

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
