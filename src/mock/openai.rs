//! OpenAI-compatible routes: `POST /v1/chat/completions` (JSON or SSE) and `GET /v1/models`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use bytes::Bytes;
use hyper::body::Incoming;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::body::{json_with_fault, stream_with_fault, BodyFault, EventSource, StreamFaultText};
use super::capacity::Slot;
use super::dist::LogNormalMs;
use super::draw_key::identity;
use super::faults::{apply_plan, take_slot};
use super::http::{json, openai_error as error, read_body, ConnCtl};
use super::text::{json_str, message_tokens, unix_now, word};
use super::{Outcome, Shared};

fn unauthorized(req_has_key: bool) -> Response<Body> {
    let msg = if req_has_key {
        "Incorrect API key provided. You can find your API key in the mock profile (auth.bearer)."
    } else {
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer \
         auth (i.e. Authorization: Bearer YOUR_KEY)."
    };
    error(
        StatusCode::UNAUTHORIZED,
        msg,
        "invalid_request_error",
        None,
        Some("invalid_api_key"),
    )
}

#[derive(Serialize)]
struct Model<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

fn model_obj(id: &str) -> Model<'_> {
    Model {
        id,
        object: "model",
        created: 1_700_000_000,
        owned_by: "cutover-mock",
    }
}

/// `GET /v1/models`: the catalogue.
pub(crate) fn models(sh: &Shared, req: &Request<Incoming>) -> Response<Body> {
    if !sh.auth_ok(req.headers()) {
        sh.counters.outcome(Outcome::Unauthorized);
        return unauthorized(req.headers().contains_key(header::AUTHORIZATION));
    }
    #[derive(Serialize)]
    struct List<'a> {
        object: &'static str,
        data: Vec<Model<'a>>,
    }
    let body = List {
        object: "list",
        data: sh.profile.models.iter().map(|m| model_obj(m)).collect(),
    };
    sh.counters.outcome(Outcome::Ok);
    json(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

/// `GET /v1/models/{id}`: one model of the catalogue, or 404 `model_not_found`.
pub(crate) fn model(sh: &Shared, req: &Request<Incoming>) -> Response<Body> {
    if !sh.auth_ok(req.headers()) {
        sh.counters.outcome(Outcome::Unauthorized);
        return unauthorized(req.headers().contains_key(header::AUTHORIZATION));
    }
    let id = super::http::model_path(req.uri().path().trim_end_matches('/')).unwrap_or("");
    if !sh.models.contains(id) {
        sh.counters.outcome(Outcome::NotFound);
        return model_not_found(id);
    }
    sh.counters.outcome(Outcome::Ok);
    json(
        StatusCode::OK,
        serde_json::to_vec(&model_obj(id)).unwrap_or_default(),
    )
}

#[derive(Deserialize)]
struct ChatRequest {
    model: String,
    /// Any JSON (the spec says string; a lenient server takes what it gets): only hashed for the draw key.
    #[serde(default)]
    user: Option<serde_json::Value>,
    messages: Vec<RequestMessage>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct RequestMessage {
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

fn prompt_tokens(messages: &[RequestMessage]) -> u32 {
    messages
        .iter()
        .map(|m| match &m.content {
            Some(Content::Text(t)) => message_tokens(t),
            Some(Content::Parts(p)) => {
                4 + p
                    .iter()
                    .filter_map(|p| p.text.as_deref())
                    .map(|t| message_tokens(t) - 4)
                    .sum::<u32>()
            }
            None => 4,
        })
        .sum()
}

#[derive(Serialize, Clone, Copy)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
}

impl Usage {
    fn new(prompt: u32, completion: u32) -> Usage {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        }
    }
}

fn bad_request(sh: &Shared, msg: &str, param: Option<&str>) -> Response<Body> {
    sh.counters.outcome(Outcome::BadRequest);
    error(
        StatusCode::BAD_REQUEST,
        msg,
        "invalid_request_error",
        param,
        None,
    )
}

/// Auth, body and model checks: the parsed request, or the error response to send.
// The Err is the response to send, built once on a cold path.
#[allow(clippy::result_large_err)]
async fn admit(sh: &Shared, req: Request<Incoming>) -> Result<ChatRequest, Response<Body>> {
    if !sh.auth_ok(req.headers()) {
        sh.counters.outcome(Outcome::Unauthorized);
        return Err(unauthorized(
            req.headers().contains_key(header::AUTHORIZATION),
        ));
    }
    let raw = read_body(req.into_body())
        .await
        .map_err(|e| bad_request(sh, &e, None))?;
    let cr: ChatRequest = serde_json::from_slice(&raw).map_err(|e| {
        bad_request(
            sh,
            &format!("We could not parse the JSON body of your request: {e}"),
            None,
        )
    })?;
    if cr.messages.is_empty() {
        return Err(bad_request(
            sh,
            "[] is too short - 'messages'",
            Some("messages"),
        ));
    }
    if !sh.models.contains(&cr.model) {
        sh.counters.outcome(Outcome::NotFound);
        return Err(model_not_found(&cr.model));
    }
    Ok(cr)
}

pub(crate) fn model_not_found(model: &str) -> Response<Body> {
    error(
        StatusCode::NOT_FOUND,
        &format!("The model `{model}` does not exist or you do not have access to it."),
        "invalid_request_error",
        None,
        Some("model_not_found"),
    )
}

pub(crate) async fn chat_completions(
    sh: &Shared,
    ctl: &Arc<ConnCtl>,
    req: Request<Incoming>,
) -> Response<Body> {
    let cr = match admit(sh, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    // Held while the server works on this request: to the end of this function, or of the stream's body.
    let slot = match take_slot(sh).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let stream = cr.stream.unwrap_or(false);
    let include_usage = cr
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let (mut rng, key) = sh.rng(|| {
        let user = cr.user.as_ref().map(|u| u.to_string()).unwrap_or_default();
        let texts = cr.messages.iter().map(|m| match &m.content {
            Some(Content::Text(t)) => t.as_str(),
            _ => "",
        });
        identity([user.as_str(), cr.model.as_str()].into_iter().chain(texts))
    });
    let plan = sh.draw(&mut rng, stream, key);
    let body_fault = match apply_plan(sh, ctl, plan, stream).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let n_words = sh.answer_len(&mut rng);
    let prompt = prompt_tokens(&cr.messages);
    let id = format!("chatcmpl-mock{:016x}", rand::Rng::gen::<u64>(&mut rng));
    let created = unix_now();
    if stream {
        let mut src = OaStream::new(
            sh,
            rng,
            &id,
            created,
            &cr.model,
            n_words,
            prompt,
            include_usage,
        );
        src._slot = slot;
        return stream_response(ctl, body_fault, src);
    }
    // Non-stream: the whole answer after one latency sample (a drip starts at once and is slow by itself).
    let delay = sh.latency.sample(&mut rng);
    let content = super::text::answer(&mut rng, n_words);
    let usage = sh.usage.then(|| Usage::new(prompt, n_words));
    let body = completion_body(&id, created, &cr.model, content, usage);
    if !matches!(body_fault, Some(BodyFault::Drip(_))) {
        tokio::time::sleep(delay).await;
    }
    let resp = json_with_fault(body, body_fault, ctl);
    drop(slot);
    resp
}

fn completion_body(
    id: &str,
    created: u64,
    model: &str,
    content: String,
    usage: Option<Usage>,
) -> Bytes {
    #[derive(Serialize)]
    struct Message {
        role: &'static str,
        content: String,
        refusal: Option<()>,
    }
    #[derive(Serialize)]
    struct Choice {
        index: u32,
        message: Message,
        logprobs: Option<()>,
        finish_reason: &'static str,
    }
    #[derive(Serialize)]
    struct Completion<'a> {
        id: &'a str,
        object: &'static str,
        created: u64,
        model: &'a str,
        choices: [Choice; 1],
        #[serde(skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
        system_fingerprint: &'static str,
    }
    Bytes::from(
        serde_json::to_vec(&Completion {
            id,
            object: "chat.completion",
            created,
            model,
            choices: [Choice {
                index: 0,
                message: Message {
                    role: "assistant",
                    content,
                    refusal: None,
                },
                logprobs: None,
                finish_reason: "stop",
            }],
            usage,
            system_fingerprint: "fp_mock",
        })
        .unwrap_or_default(),
    )
}

fn stream_response(ctl: &Arc<ConnCtl>, fault: Option<BodyFault>, src: OaStream) -> Response<Body> {
    let text = StreamFaultText {
        cut_after: 1 + (src.chunks() / 2).max(1) as usize,
        broken: Bytes::from(format!(
            "data: {}[{{\"index\":0,\"delta\":{{\"content\":\"brok\n\n",
            src.prefix
        )),
        error_event: Bytes::from_static(
            b"data: {\"error\":{\"message\":\"The server had an error while processing your request.\",\
\"type\":\"server_error\",\"param\":null,\"code\":\"internal_error\"}}\n\n",
        ),
    };
    stream_with_fault(src, fault, text, ctl)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Role,
    Content,
    Finish,
    Usage,
    Done,
    End,
}

/// The chunks of one streamed completion, produced lazily: role chunk at once, first content chunk after the TTFT
/// sample, then one chunk per inter-token sample, the finish chunk, the usage chunk (with `include_usage`), `[DONE]`.
struct OaStream {
    /// The capacity slot, freed when the body is dropped.
    _slot: Option<Slot>,
    rng: ChaCha8Rng,
    ttft: LogNormalMs,
    itl: LogNormalMs,
    start: Instant,
    next_at: Instant,
    /// `{"id":..,"object":..,"created":..,"model":..,"system_fingerprint":..,"choices":` (the chunk's common head).
    prefix: String,
    include_usage: bool,
    usage: Option<Usage>,
    words_left: u32,
    per_chunk: u32,
    sent_any: bool,
    phase: Phase,
}

impl OaStream {
    #[allow(clippy::too_many_arguments)]
    fn new(
        sh: &Shared,
        rng: ChaCha8Rng,
        id: &str,
        created: u64,
        model: &str,
        n_words: u32,
        prompt: u32,
        include_usage: bool,
    ) -> OaStream {
        let now = Instant::now();
        OaStream {
            rng,
            ttft: sh.ttft,
            itl: sh.itl,
            start: now,
            next_at: now,
            prefix: format!(
                "{{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":{},\
                 \"system_fingerprint\":\"fp_mock\",\"choices\":",
                json_str(model)
            ),
            include_usage,
            usage: (include_usage && sh.usage).then(|| Usage::new(prompt, n_words)),
            words_left: n_words,
            per_chunk: sh.tokens_per_chunk,
            sent_any: false,
            _slot: None,
            phase: Phase::Role,
        }
    }

    fn chunks(&self) -> u32 {
        self.words_left.div_ceil(self.per_chunk)
    }

    fn chunk(&self, choices: &str) -> Bytes {
        let tail = if self.include_usage {
            ",\"usage\":null"
        } else {
            ""
        };
        Bytes::from(format!("data: {}{choices}{tail}}}\n\n", self.prefix))
    }
}

impl EventSource for OaStream {
    fn next_event(&mut self) -> Option<(Option<Instant>, Bytes)> {
        match self.phase {
            Phase::Role => {
                self.phase = Phase::Content;
                self.next_at = self.start + self.ttft.sample(&mut self.rng);
                Some((
                    None,
                    self.chunk(
                        "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\
                         \"finish_reason\":null}]",
                    ),
                ))
            }
            Phase::Content => {
                let k = self.per_chunk.min(self.words_left);
                let mut text = String::with_capacity(k as usize * 8);
                for _ in 0..k {
                    if self.sent_any {
                        text.push(' ');
                    }
                    text.push_str(word(&mut self.rng));
                    self.sent_any = true;
                }
                self.words_left -= k;
                let at = self.next_at;
                if self.words_left == 0 {
                    self.phase = Phase::Finish;
                } else {
                    self.next_at += self.itl.sample(&mut self.rng);
                }
                let choices = format!(
                    "[{{\"index\":0,\"delta\":{{\"content\":{}}},\"logprobs\":null,\"finish_reason\":null}}]",
                    json_str(&text)
                );
                Some((Some(at), self.chunk(&choices)))
            }
            Phase::Finish => {
                self.phase = if self.usage.is_some() {
                    Phase::Usage
                } else {
                    Phase::Done
                };
                Some((
                    None,
                    self.chunk(
                        "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]",
                    ),
                ))
            }
            Phase::Usage => {
                self.phase = Phase::Done;
                let u = serde_json::to_string(&self.usage?).ok()?;
                Some((
                    None,
                    Bytes::from(format!("data: {}[],\"usage\":{u}}}\n\n", self.prefix)),
                ))
            }
            Phase::Done => {
                self.phase = Phase::End;
                Some((None, Bytes::from_static(b"data: [DONE]\n\n")))
            }
            Phase::End => None,
        }
    }
}
