//! Coze-style bot API v3: conversations, chats (streamed, or created then polled), message listings.
//!
//! State lives in sharded maps (16 `Mutex<HashMap>` shards each for conversations and chats, keyed by id; a lock is
//! held only for a map operation, never across an await, and never two at once). A sweeper forgets conversations
//! idle and chats finished for longer than `coze.expire_s`, so memory stays bounded under a long run.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use bytes::Bytes;
use hyper::body::Incoming;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::body::{drip_body, half_then_reset, materialize, timed_body, Cut, CutKind, EventSource};
use super::dist::LogNormalMs;
use super::faults::{inject, rate_limited, server_error, BodyFault, FaultKind};
use super::openai::{sse_response, with_len};
use super::profile::CozeSpec;
use super::server::{json, query_param, read_body, ConnCtl};
use super::text::{follow_up, message_tokens, unix_now, word};
use super::{Outcome, Plan, Route, Shared};

const SHARDS: usize = 16;
/// A streamed chat holds its conversation at most this long if its body is never dropped (it always is).
const STREAM_HOLD: Duration = Duration::from_secs(600);

/// Envelope codes (HTTP 200 unless said otherwise).
const CODE_BAD_REQUEST: i64 = 4000;
const CODE_AUTH: i64 = 4100;
const CODE_NOT_FOUND: i64 = 4200;
const CODE_BUSY: i64 = 4016;
const CODE_INTERNAL: i64 = 5000;

#[derive(Clone)]
struct StoredMsg {
    id: u64,
    chat_id: Option<u64>,
    role: String,
    kind: &'static str,
    content: String,
    created_at: u64,
    visible_at: Instant,
}

struct Conv {
    bot_id: String,
    touched: Instant,
    busy_until: Option<Instant>,
    messages: VecDeque<StoredMsg>,
}

struct Chat {
    conv: u64,
    bot_id: String,
    created_at: u64,
    done_at: Instant,
    completed_at: u64,
    failed: Option<(i64, String)>,
    input: u32,
    output: u32,
    /// Answer, verbose and follow-up messages (empty for a failed chat).
    messages: Vec<StoredMsg>,
}

pub(crate) struct CozeState {
    convs: Vec<Mutex<HashMap<u64, Conv>>>,
    chats: Vec<Mutex<HashMap<u64, Chat>>>,
    next_id: AtomicU64,
    expire: Duration,
    history_limit: usize,
    follow_ups: usize,
}

fn shard<T>(v: &[Mutex<T>], id: u64) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a shard lock leaves plain data behind: keep serving.
    v[(id % SHARDS as u64) as usize]
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

impl CozeState {
    pub fn new(spec: &CozeSpec) -> CozeState {
        CozeState {
            convs: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            chats: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            // Coze ids are 19-digit numbers, sent as strings.
            next_id: AtomicU64::new(7_400_000_000_000_000_000),
            expire: Duration::from_secs(spec.expire_s),
            history_limit: spec.history_limit,
            follow_ups: spec.follow_ups,
        }
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn sweep_every(&self) -> Duration {
        (self.expire / 4).clamp(Duration::from_secs(1), Duration::from_secs(30))
    }

    fn sweep(&self) {
        let now = Instant::now();
        for s in &self.convs {
            let mut m = s.lock().unwrap_or_else(|p| p.into_inner());
            m.retain(|_, c| {
                c.busy_until.is_some_and(|b| b > now) || now.duration_since(c.touched) < self.expire
            });
        }
        for s in &self.chats {
            let mut m = s.lock().unwrap_or_else(|p| p.into_inner());
            m.retain(|_, c| c.done_at > now || now.duration_since(c.done_at) < self.expire);
        }
    }

    /// Conversations and chats currently kept (for tests and diagnostics).
    #[cfg(test)]
    pub fn sizes(&self) -> (usize, usize) {
        let n = |v: &Vec<Mutex<HashMap<u64, Conv>>>| {
            v.iter().map(|s| s.lock().unwrap().len()).sum::<usize>()
        };
        let c = self
            .chats
            .iter()
            .map(|s| s.lock().unwrap().len())
            .sum::<usize>();
        (n(&self.convs), c)
    }

    fn new_conv(&self, bot_id: &str, msgs: Vec<(String, &'static str, String)>) -> (u64, u64) {
        let id = self.id();
        let now = Instant::now();
        let created = unix_now();
        let mut messages: VecDeque<StoredMsg> = msgs
            .into_iter()
            .map(|(role, kind, content)| StoredMsg {
                id: self.id(),
                chat_id: None,
                role,
                kind,
                content,
                created_at: created,
                visible_at: now,
            })
            .collect();
        while messages.len() > self.history_limit {
            messages.pop_front();
        }
        shard(&self.convs, id).insert(
            id,
            Conv {
                bot_id: bot_id.to_string(),
                touched: now,
                busy_until: None,
                messages,
            },
        );
        (id, created)
    }

    fn finish_stream(&self, conv: u64, chat: u64, result: Option<Vec<StoredMsg>>, save: bool) {
        let now = Instant::now();
        if let Some(c) = shard(&self.chats, chat).get_mut(&chat) {
            c.done_at = now;
            c.completed_at = unix_now();
            if result.is_none() && c.failed.is_none() {
                c.failed = Some((
                    CODE_INTERNAL,
                    "stream interrupted before the chat completed".into(),
                ));
            }
            if let Some(r) = &result {
                c.messages = r.clone();
            }
        }
        if let Some(c) = shard(&self.convs, conv).get_mut(&conv) {
            c.busy_until = None;
            c.touched = now;
            if let (true, Some(r)) = (save, result) {
                for mut m in r {
                    m.visible_at = now;
                    c.messages.push_back(m);
                }
                while c.messages.len() > self.history_limit {
                    c.messages.pop_front();
                }
            }
        }
    }
}

pub(crate) async fn sweeper(sh: Arc<Shared>, stop: CancellationToken, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        if let Some(c) = &sh.coze {
            c.sweep();
        }
    }
}

/// `{"code":N,"msg":"..","detail":{"logid":""}}` with an HTTP status.
pub(crate) fn envelope_error(status: StatusCode, code: i64, msg: &str) -> Response<Body> {
    #[derive(Serialize)]
    struct E<'a> {
        code: i64,
        msg: &'a str,
    }
    json(
        status,
        serde_json::to_vec(&E { code, msg }).unwrap_or_default(),
    )
}

fn ok_envelope<T: Serialize>(data: &T) -> Response<Body> {
    #[derive(Serialize)]
    struct Env<'a, T> {
        code: i64,
        msg: &'static str,
        data: &'a T,
    }
    json(
        StatusCode::OK,
        serde_json::to_vec(&Env {
            code: 0,
            msg: "",
            data,
        })
        .unwrap_or_default(),
    )
}

#[derive(Serialize, Clone, Copy)]
struct Usage {
    token_count: u32,
    output_count: u32,
    input_count: u32,
}

#[derive(Serialize)]
struct LastError<'a> {
    code: i64,
    msg: &'a str,
}

#[derive(Serialize)]
struct ChatObj<'a> {
    id: String,
    conversation_id: String,
    bot_id: &'a str,
    created_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed_at: Option<u64>,
    last_error: LastError<'a>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize)]
struct MsgObj<'a> {
    id: String,
    conversation_id: String,
    bot_id: &'a str,
    chat_id: String,
    role: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    content: &'a str,
    content_type: &'static str,
    created_at: u64,
}

fn msg_obj<'a>(m: &'a StoredMsg, conv: u64, bot_id: &'a str) -> MsgObj<'a> {
    MsgObj {
        id: m.id.to_string(),
        conversation_id: conv.to_string(),
        bot_id,
        chat_id: m.chat_id.map(|c| c.to_string()).unwrap_or_default(),
        role: &m.role,
        kind: m.kind,
        content: &m.content,
        content_type: "text",
        created_at: m.created_at,
    }
}

fn bad_request(sh: &Shared, msg: &str) -> Response<Body> {
    sh.counters.outcome(Outcome::BadRequest);
    envelope_error(StatusCode::BAD_REQUEST, CODE_BAD_REQUEST, msg)
}

fn not_found(sh: &Shared, msg: &str) -> Response<Body> {
    sh.counters.outcome(Outcome::NotFound);
    envelope_error(StatusCode::OK, CODE_NOT_FOUND, msg)
}

// The Err is the response to send, built once on a cold path.
#[allow(clippy::result_large_err)]
fn id_param(sh: &Shared, q: Option<&str>, key: &str) -> Result<u64, Response<Body>> {
    match query_param(q, key) {
        None | Some("") => Err(bad_request(sh, &format!("missing query parameter `{key}`"))),
        Some(v) => v
            .parse()
            .map_err(|_| not_found(sh, &format!("{key} {v} not found"))),
    }
}

pub(crate) async fn handle(
    sh: &Arc<Shared>,
    ctl: &Arc<ConnCtl>,
    route: Route,
    req: Request<Incoming>,
) -> Response<Body> {
    if !sh.auth_ok(req.headers()) {
        sh.counters.outcome(Outcome::Unauthorized);
        let msg = if req.headers().contains_key(header::AUTHORIZATION) {
            "authentication is invalid: the access token is wrong or expired"
        } else {
            "authentication is invalid: missing `Authorization: Bearer <token>`"
        };
        return envelope_error(StatusCode::UNAUTHORIZED, CODE_AUTH, msg);
    }
    let state = sh.coze.as_ref().expect("coze profile has coze state");
    match route {
        Route::ConversationCreate => conversation_create(sh, state, req).await,
        Route::Chat => chat(sh, state, ctl, req).await,
        Route::ChatRetrieve => retrieve(sh, state, &req),
        Route::ChatMessages => chat_messages(sh, state, &req),
        Route::ConversationMessages => conversation_messages(sh, state, req).await,
        _ => not_found(sh, "no such route"),
    }
}

#[derive(Deserialize, Default)]
struct CreateReq {
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    messages: Option<Vec<InMsg>>,
}

#[derive(Deserialize)]
struct InMsg {
    role: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    content: String,
}

fn kind_of(m: &InMsg) -> &'static str {
    match m.kind.as_deref() {
        Some("answer") => "answer",
        Some("question") => "question",
        _ if m.role == "assistant" => "answer",
        _ => "question",
    }
}

async fn conversation_create(
    sh: &Shared,
    st: &CozeState,
    req: Request<Incoming>,
) -> Response<Body> {
    let raw = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return bad_request(sh, &e),
    };
    let body: CreateReq = if raw.iter().all(u8::is_ascii_whitespace) {
        CreateReq::default()
    } else {
        match serde_json::from_slice(&raw) {
            Ok(b) => b,
            Err(e) => return bad_request(sh, &format!("invalid request body: {e}")),
        }
    };
    let bot_id = body.bot_id.unwrap_or_default();
    if !bot_id.is_empty() && !sh.bots.contains_key(&bot_id) {
        return not_found(
            sh,
            &format!("bot {bot_id} not found or not published to the API channel"),
        );
    }
    let msgs = body
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let k = kind_of(&m);
            (m.role, k, m.content)
        })
        .collect();
    let (id, created_at) = st.new_conv(&bot_id, msgs);
    #[derive(Serialize)]
    struct Data {
        id: String,
        created_at: u64,
        meta_data: serde_json::Map<String, serde_json::Value>,
        last_section_id: String,
    }
    sh.counters.outcome(Outcome::Ok);
    ok_envelope(&Data {
        id: id.to_string(),
        created_at,
        meta_data: serde_json::Map::new(),
        last_section_id: id.to_string(),
    })
}

#[derive(Deserialize)]
struct ChatReq {
    bot_id: String,
    user_id: String,
    #[serde(default)]
    additional_messages: Option<Vec<InMsg>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    auto_save_history: Option<bool>,
}

async fn chat(
    sh: &Arc<Shared>,
    st: &CozeState,
    ctl: &Arc<ConnCtl>,
    req: Request<Incoming>,
) -> Response<Body> {
    let conv_param = query_param(req.uri().query(), "conversation_id").map(str::to_string);
    let raw = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return bad_request(sh, &e),
    };
    let cr: ChatReq = match serde_json::from_slice(&raw) {
        Ok(c) => c,
        Err(e) => return bad_request(sh, &format!("invalid request body: {e}")),
    };
    let Some(add) = cr.additional_messages.filter(|m| !m.is_empty()) else {
        return bad_request(sh, "additional_messages is required and must not be empty");
    };
    if cr.user_id.is_empty() {
        return bad_request(sh, "user_id is required");
    }
    let stream = cr.stream.unwrap_or(false);
    let save = cr.auto_save_history.unwrap_or(true);
    if !stream && !save {
        return bad_request(sh, "auto_save_history must be true when stream is false");
    }
    if !sh.bots.contains_key(&cr.bot_id) {
        return not_found(
            sh,
            &format!(
                "bot {} not found or not published to the API channel",
                cr.bot_id
            ),
        );
    }
    let conv_id = match conv_param.as_deref() {
        None | Some("") => st.new_conv(&cr.bot_id, Vec::new()).0,
        Some(v) => match v.parse::<u64>() {
            Ok(id) if shard(&st.convs, id).contains_key(&id) => id,
            _ => return not_found(sh, &format!("conversation {v} not found")),
        },
    };

    let mut rng = sh.rng();
    let plan = sh.draw(&mut rng, stream);
    let failed = matches!(plan, Plan::ChatFailed);
    let claims = match &plan {
        Plan::Answer | Plan::ChatFailed => true,
        Plan::Fault(f) => stream && needs_answer(f.kind),
        Plan::RateLimited | Plan::ServerError(_) => false,
    };
    let n_words = sh.answer_len(&mut rng);
    let delay = sh.latency.sample(&mut rng);
    let now = Instant::now();
    let created_at = unix_now();
    let chat_id = st.id();
    let bot_id = cr.bot_id;

    // Busy check, then (if this request starts a chat) claim the conversation: one lock.
    let input = {
        let mut convs = shard(&st.convs, conv_id);
        let Some(c) = convs.get_mut(&conv_id) else {
            drop(convs);
            return not_found(sh, &format!("conversation {conv_id} not found"));
        };
        if c.busy_until.is_some_and(|b| b > now) {
            drop(convs);
            sh.counters.outcome(Outcome::Busy);
            return envelope_error(
                StatusCode::OK,
                CODE_BUSY,
                "conversation occupied: a chat is already in progress in this conversation; wait for it to \
                 finish or cancel it",
            );
        }
        if !claims {
            0
        } else {
            let history: u32 = c
                .messages
                .iter()
                .filter(|m| m.visible_at <= now && matches!(m.kind, "question" | "answer"))
                .map(|m| message_tokens(&m.content))
                .sum();
            let input = history + add.iter().map(|m| message_tokens(&m.content)).sum::<u32>();
            c.touched = now;
            c.busy_until = Some(if stream {
                now + STREAM_HOLD
            } else {
                now + delay
            });
            if save {
                for m in &add {
                    c.messages.push_back(StoredMsg {
                        id: st.id(),
                        chat_id: Some(chat_id),
                        role: m.role.clone(),
                        kind: kind_of(m),
                        content: m.content.clone(),
                        created_at,
                        visible_at: now,
                    });
                }
            }
            input
        }
    };

    let body_fault = match plan {
        Plan::Fault(f) => match inject(sh, ctl, f, stream).await {
            Ok(resp) => {
                return resp;
            }
            Err(bf) => Some(bf),
        },
        Plan::RateLimited => {
            sh.counters.outcome(Outcome::RateLimited);
            return rate_limited(sh, sh.retry_after);
        }
        Plan::ServerError(s) => {
            sh.counters.outcome(Outcome::ServerError);
            return server_error(
                sh,
                StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            );
        }
        Plan::ChatFailed => {
            sh.counters.outcome(Outcome::ChatFailed);
            None
        }
        Plan::Answer => {
            sh.counters.outcome(Outcome::Ok);
            None
        }
    };

    let usage = |input: u32| {
        sh.usage.then_some(Usage {
            token_count: input + n_words,
            output_count: n_words,
            input_count: input,
        })
    };

    if stream {
        // The chat exists while it streams; the guard records how it ended when the body is dropped.
        shard(&st.chats, chat_id).insert(
            chat_id,
            Chat {
                conv: conv_id,
                bot_id: bot_id.clone(),
                created_at,
                done_at: now + STREAM_HOLD,
                completed_at: 0,
                failed: failed.then(|| {
                    (
                        CODE_INTERNAL,
                        "the model failed to generate an answer".into(),
                    )
                }),
                input,
                output: n_words,
                messages: Vec::new(),
            },
        );
        let guard = ChatGuard {
            sh: sh.clone(),
            conv: conv_id,
            chat: chat_id,
            save,
            result: None,
        };
        let src = CozeStream {
            ttft: sh.ttft,
            itl: sh.itl,
            start: now,
            next_at: now,
            conv: conv_id,
            chat: chat_id,
            bot_id,
            answer_id: st.id(),
            created_at,
            words_left: n_words,
            per_chunk: sh.tokens_per_chunk,
            answer: String::with_capacity(n_words as usize * 8),
            follow_ups: (0..st.follow_ups)
                .map(|_| (st.id(), follow_up(&mut rng)))
                .collect(),
            verbose_id: st.id(),
            extra: Vec::new(),
            usage: usage(input),
            failed,
            phase: Phase::Created,
            guard: Some(guard),
            rng,
        };
        return coze_stream_response(ctl, body_fault, src);
    }

    // Non-stream: the chat is accepted at once and completes `delay` later.
    let chat_obj = ChatObj {
        id: chat_id.to_string(),
        conversation_id: conv_id.to_string(),
        bot_id: &bot_id,
        created_at,
        completed_at: None,
        failed_at: None,
        last_error: LastError { code: 0, msg: "" },
        status: "in_progress",
        usage: None,
    };
    #[derive(Serialize)]
    struct Env<'a> {
        code: i64,
        msg: &'static str,
        data: ChatObj<'a>,
    }
    let body = Bytes::from(
        serde_json::to_vec(&Env {
            code: 0,
            msg: "",
            data: chat_obj,
        })
        .unwrap_or_default(),
    );
    if claims {
        let done_at = now + delay;
        let completed_at = created_at + delay.as_secs_f64().round() as u64;
        let messages = if failed {
            Vec::new()
        } else {
            let answer = super::text::answer(&mut rng, n_words);
            answer_messages(st, chat_id, &answer, completed_at, done_at, &mut rng)
        };
        if save && !failed {
            let mut convs = shard(&st.convs, conv_id);
            if let Some(c) = convs.get_mut(&conv_id) {
                c.messages
                    .extend(messages.iter().filter(|m| m.kind != "verbose").cloned());
                while c.messages.len() > st.history_limit {
                    c.messages.pop_front();
                }
            }
        }
        shard(&st.chats, chat_id).insert(
            chat_id,
            Chat {
                conv: conv_id,
                bot_id,
                created_at,
                done_at,
                completed_at,
                failed: failed.then(|| {
                    (
                        CODE_INTERNAL,
                        "the model failed to generate an answer".into(),
                    )
                }),
                input,
                output: n_words,
                messages,
            },
        );
    }
    match body_fault {
        Some(BodyFault::Drip(interval)) => with_len(
            super::server::respond(
                StatusCode::OK,
                "application/json",
                drip_body(body.clone(), interval),
            ),
            body.len(),
        ),
        Some(BodyFault::ResetMid) => with_len(
            super::server::respond(
                StatusCode::OK,
                "application/json",
                half_then_reset(body.clone(), ctl.clone()),
            ),
            body.len(),
        ),
        Some(BodyFault::Malformed) => json(StatusCode::OK, body[..body.len() / 2].to_vec()),
        Some(BodyFault::Truncate | BodyFault::ErrorEvent) | None => {
            json(StatusCode::OK, body.to_vec())
        }
    }
}

/// Fault kinds that mangle a real answer (and so, when streamed, run a real chat).
fn needs_answer(k: FaultKind) -> bool {
    matches!(
        k,
        FaultKind::ResetDuringResponse
            | FaultKind::SlowDrip
            | FaultKind::MalformedJson
            | FaultKind::TruncatedSse
            | FaultKind::StreamErrorEvent
    )
}

fn answer_messages(
    st: &CozeState,
    chat_id: u64,
    answer: &str,
    created_at: u64,
    visible_at: Instant,
    rng: &mut ChaCha8Rng,
) -> Vec<StoredMsg> {
    let mk = |id, kind, content: String| StoredMsg {
        id,
        chat_id: Some(chat_id),
        role: "assistant".into(),
        kind,
        content,
        created_at,
        visible_at,
    };
    let mut v = Vec::with_capacity(2 + st.follow_ups);
    v.push(mk(st.id(), "answer", answer.to_string()));
    v.push(mk(st.id(), "verbose", VERBOSE_FINISH.to_string()));
    for _ in 0..st.follow_ups {
        v.push(mk(st.id(), "follow_up", follow_up(rng).to_string()));
    }
    v
}

const VERBOSE_FINISH: &str =
    "{\"msg_type\":\"generate_answer_finish\",\"data\":\"\",\"from_module\":null,\"from_unit\":null}";

enum Lookup<'a> {
    Found(&'a Chat),
    Missing,
}

#[allow(clippy::result_large_err)]
fn with_chat<T>(
    sh: &Shared,
    st: &CozeState,
    req: &Request<Incoming>,
    f: impl FnOnce(u64, u64, Lookup<'_>) -> T,
) -> Result<T, Response<Body>> {
    let q = req.uri().query();
    let conv = id_param(sh, q, "conversation_id")?;
    let chat = id_param(sh, q, "chat_id")?;
    let chats = shard(&st.chats, chat);
    let found = match chats.get(&chat) {
        Some(c) if c.conv == conv => Lookup::Found(c),
        _ => Lookup::Missing,
    };
    Ok(f(conv, chat, found))
}

fn retrieve(sh: &Shared, st: &CozeState, req: &Request<Incoming>) -> Response<Body> {
    let now = Instant::now();
    let r = with_chat(sh, st, req, |conv, chat, found| {
        let Lookup::Found(c) = found else {
            return None;
        };
        let done = now >= c.done_at;
        let obj = ChatObj {
            id: chat.to_string(),
            conversation_id: conv.to_string(),
            bot_id: &c.bot_id,
            created_at: c.created_at,
            completed_at: (done && c.failed.is_none()).then_some(c.completed_at),
            failed_at: (done && c.failed.is_some()).then_some(c.completed_at),
            last_error: match (&c.failed, done) {
                (Some((code, msg)), true) => LastError { code: *code, msg },
                _ => LastError { code: 0, msg: "" },
            },
            status: match (done, c.failed.is_some()) {
                (false, _) => "in_progress",
                (true, false) => "completed",
                (true, true) => "failed",
            },
            usage: (done && c.failed.is_none() && sh.usage).then_some(Usage {
                token_count: c.input + c.output,
                output_count: c.output,
                input_count: c.input,
            }),
        };
        Some(ok_envelope(&obj))
    });
    match r {
        Ok(Some(resp)) => {
            sh.counters.outcome(Outcome::Ok);
            resp
        }
        Ok(None) => not_found(sh, "chat not found in this conversation"),
        Err(resp) => resp,
    }
}

fn chat_messages(sh: &Shared, st: &CozeState, req: &Request<Incoming>) -> Response<Body> {
    let now = Instant::now();
    let r = with_chat(sh, st, req, |conv, _chat, found| {
        let Lookup::Found(c) = found else {
            return None;
        };
        let list: Vec<MsgObj> = if now >= c.done_at {
            c.messages
                .iter()
                .map(|m| msg_obj(m, conv, &c.bot_id))
                .collect()
        } else {
            Vec::new()
        };
        Some(ok_envelope(&list))
    });
    match r {
        Ok(Some(resp)) => {
            sh.counters.outcome(Outcome::Ok);
            resp
        }
        Ok(None) => not_found(sh, "chat not found in this conversation"),
        Err(resp) => resp,
    }
}

#[derive(Deserialize, Default)]
struct ListReq {
    #[serde(default)]
    order: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

async fn conversation_messages(
    sh: &Shared,
    st: &CozeState,
    req: Request<Incoming>,
) -> Response<Body> {
    let conv = match id_param(sh, req.uri().query(), "conversation_id") {
        Ok(c) => c,
        Err(r) => return r,
    };
    let raw = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return bad_request(sh, &e),
    };
    let lr: ListReq = if raw.iter().all(u8::is_ascii_whitespace) {
        ListReq::default()
    } else {
        match serde_json::from_slice(&raw) {
            Ok(l) => l,
            Err(e) => return bad_request(sh, &format!("invalid request body: {e}")),
        }
    };
    let limit = lr.limit.unwrap_or(50).clamp(1, 50);
    let asc = lr.order.as_deref() == Some("asc");
    let now = Instant::now();
    let body = {
        let convs = shard(&st.convs, conv);
        let Some(c) = convs.get(&conv) else {
            drop(convs);
            return not_found(sh, &format!("conversation {conv} not found"));
        };
        let visible: Vec<&StoredMsg> = c.messages.iter().filter(|m| m.visible_at <= now).collect();
        let ordered: Vec<&StoredMsg> = if asc {
            visible.iter().copied().take(limit).collect()
        } else {
            visible.iter().rev().copied().take(limit).collect()
        };
        #[derive(Serialize)]
        struct ListResp<'a> {
            code: i64,
            msg: &'static str,
            data: Vec<MsgObj<'a>>,
            first_id: String,
            last_id: String,
            has_more: bool,
        }
        let data: Vec<MsgObj> = ordered
            .iter()
            .map(|m| msg_obj(m, conv, &c.bot_id))
            .collect();
        serde_json::to_vec(&ListResp {
            first_id: data.first().map(|m| m.id.clone()).unwrap_or_default(),
            last_id: data.last().map(|m| m.id.clone()).unwrap_or_default(),
            has_more: visible.len() > limit,
            code: 0,
            msg: "",
            data,
        })
        .unwrap_or_default()
    };
    sh.counters.outcome(Outcome::Ok);
    json(StatusCode::OK, body)
}

/// Records how a streamed chat ended when its body is dropped (finished, cut, or the client went away).
struct ChatGuard {
    sh: Arc<Shared>,
    conv: u64,
    chat: u64,
    save: bool,
    /// Set when `conversation.chat.completed` was produced.
    result: Option<Vec<StoredMsg>>,
}

impl Drop for ChatGuard {
    fn drop(&mut self) {
        if let Some(st) = &self.sh.coze {
            st.finish_stream(self.conv, self.chat, self.result.take(), self.save);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Created,
    InProgress,
    Delta,
    AnswerCompleted,
    Verbose,
    FollowUp(usize),
    ChatCompleted,
    ChatFailed,
    Done,
    End,
}

/// The events of one streamed chat: `conversation.chat.created`, `conversation.chat.in_progress` at once;
/// `conversation.message.delta` (type answer) after the TTFT sample, then one per inter-token sample;
/// `conversation.message.completed` for the answer, a verbose message and the follow-ups;
/// `conversation.chat.completed` with usage; `done`. A failed chat sends `conversation.chat.failed` at the TTFT.
struct CozeStream {
    rng: ChaCha8Rng,
    ttft: LogNormalMs,
    itl: LogNormalMs,
    start: Instant,
    next_at: Instant,
    conv: u64,
    chat: u64,
    bot_id: String,
    answer_id: u64,
    created_at: u64,
    words_left: u32,
    per_chunk: u32,
    answer: String,
    follow_ups: Vec<(u64, &'static str)>,
    verbose_id: u64,
    /// Completed non-answer messages, kept for the chat's message list.
    extra: Vec<StoredMsg>,
    usage: Option<Usage>,
    failed: bool,
    phase: Phase,
    guard: Option<ChatGuard>,
}

impl CozeStream {
    fn chunks(&self) -> u32 {
        self.words_left.div_ceil(self.per_chunk)
    }

    fn event(name: &str, data: &[u8]) -> Bytes {
        let mut v = Vec::with_capacity(name.len() + data.len() + 16);
        v.extend_from_slice(b"event:");
        v.extend_from_slice(name.as_bytes());
        v.extend_from_slice(b"\ndata:");
        v.extend_from_slice(data);
        v.extend_from_slice(b"\n\n");
        Bytes::from(v)
    }

    fn chat_event(&self, name: &str, status: &'static str) -> Bytes {
        let now = unix_now();
        let obj = ChatObj {
            id: self.chat.to_string(),
            conversation_id: self.conv.to_string(),
            bot_id: &self.bot_id,
            created_at: self.created_at,
            completed_at: (status == "completed").then_some(now),
            failed_at: (status == "failed").then_some(now),
            last_error: if status == "failed" {
                LastError {
                    code: CODE_INTERNAL,
                    msg: "the model failed to generate an answer",
                }
            } else {
                LastError { code: 0, msg: "" }
            },
            status,
            usage: if status == "completed" {
                self.usage
            } else {
                None
            },
        };
        Self::event(name, &serde_json::to_vec(&obj).unwrap_or_default())
    }

    fn message_event(&self, name: &str, id: u64, kind: &str, content: &str) -> Bytes {
        let m = MsgObj {
            id: id.to_string(),
            conversation_id: self.conv.to_string(),
            bot_id: &self.bot_id,
            chat_id: self.chat.to_string(),
            role: "assistant",
            kind,
            content,
            content_type: "text",
            created_at: self.created_at,
        };
        Self::event(name, &serde_json::to_vec(&m).unwrap_or_default())
    }

    fn stored(&self, id: u64, kind: &'static str, content: &str) -> StoredMsg {
        StoredMsg {
            id,
            chat_id: Some(self.chat),
            role: "assistant".into(),
            kind,
            content: content.to_string(),
            created_at: self.created_at,
            visible_at: Instant::now(),
        }
    }
}

impl EventSource for CozeStream {
    fn next_event(&mut self) -> Option<(Option<Instant>, Bytes)> {
        match self.phase {
            Phase::Created => {
                self.phase = Phase::InProgress;
                Some((
                    None,
                    self.chat_event("conversation.chat.created", "created"),
                ))
            }
            Phase::InProgress => {
                self.next_at = self.start + self.ttft.sample(&mut self.rng);
                self.phase = if self.failed {
                    Phase::ChatFailed
                } else {
                    Phase::Delta
                };
                Some((
                    None,
                    self.chat_event("conversation.chat.in_progress", "in_progress"),
                ))
            }
            Phase::ChatFailed => {
                self.phase = Phase::Done;
                Some((
                    Some(self.next_at),
                    self.chat_event("conversation.chat.failed", "failed"),
                ))
            }
            Phase::Delta => {
                let k = self.per_chunk.min(self.words_left);
                let from = self.answer.len();
                for _ in 0..k {
                    if !self.answer.is_empty() {
                        self.answer.push(' ');
                    }
                    self.answer.push_str(word(&mut self.rng));
                }
                self.words_left -= k;
                let at = self.next_at;
                if self.words_left == 0 {
                    self.phase = Phase::AnswerCompleted;
                } else {
                    self.next_at += self.itl.sample(&mut self.rng);
                }
                let ev = self.message_event(
                    "conversation.message.delta",
                    self.answer_id,
                    "answer",
                    &self.answer[from..],
                );
                Some((Some(at), ev))
            }
            Phase::AnswerCompleted => {
                self.phase = Phase::Verbose;
                let ev = self.message_event(
                    "conversation.message.completed",
                    self.answer_id,
                    "answer",
                    &self.answer,
                );
                Some((None, ev))
            }
            Phase::Verbose => {
                self.phase = Phase::FollowUp(0);
                let ev = self.message_event(
                    "conversation.message.completed",
                    self.verbose_id,
                    "verbose",
                    VERBOSE_FINISH,
                );
                self.extra
                    .push(self.stored(self.verbose_id, "verbose", VERBOSE_FINISH));
                Some((None, ev))
            }
            Phase::FollowUp(i) => {
                let Some(&(id, text)) = self.follow_ups.get(i) else {
                    self.phase = Phase::ChatCompleted;
                    return self.next_event();
                };
                self.phase = Phase::FollowUp(i + 1);
                self.extra.push(self.stored(id, "follow_up", text));
                Some((
                    None,
                    self.message_event("conversation.message.completed", id, "follow_up", text),
                ))
            }
            Phase::ChatCompleted => {
                self.phase = Phase::Done;
                let mut result = vec![self.stored(self.answer_id, "answer", &self.answer)];
                result.append(&mut self.extra);
                if let Some(g) = &mut self.guard {
                    g.result = Some(result);
                }
                Some((
                    None,
                    self.chat_event("conversation.chat.completed", "completed"),
                ))
            }
            Phase::Done => {
                self.phase = Phase::End;
                Some((None, Bytes::from_static(b"event:done\ndata:\"[DONE]\"\n\n")))
            }
            Phase::End => None,
        }
    }
}

fn coze_stream_response(
    ctl: &Arc<ConnCtl>,
    fault: Option<BodyFault>,
    src: CozeStream,
) -> Response<Body> {
    let cut_at = 2 + (src.chunks() / 2).max(1) as usize;
    let cut = |kind| {
        Some(Cut {
            after: cut_at,
            kind,
        })
    };
    let body = match fault {
        None => timed_body(src, None, ctl.clone()),
        Some(BodyFault::Drip(interval)) => {
            let all = materialize(src);
            let len = all.len();
            return with_len(sse_response(drip_body(all, interval)), len);
        }
        Some(BodyFault::ResetMid) => timed_body(src, cut(CutKind::Reset), ctl.clone()),
        Some(BodyFault::Truncate) => timed_body(src, cut(CutKind::End), ctl.clone()),
        Some(BodyFault::Malformed) => {
            let broken = format!(
                "event:conversation.message.delta\ndata:{{\"id\":\"{}\",\"conversation_id\":\"{}\",\"content\":\"brok\n\n",
                src.answer_id, src.conv
            );
            timed_body(src, cut(CutKind::Then(Bytes::from(broken))), ctl.clone())
        }
        Some(BodyFault::ErrorEvent) => timed_body(
            src,
            cut(CutKind::Then(Bytes::from_static(
                b"event:error\ndata:{\"code\":5000,\"msg\":\"internal error while generating the answer\"}\n\n",
            ))),
            ctl.clone(),
        ),
    };
    sse_response(body)
}
