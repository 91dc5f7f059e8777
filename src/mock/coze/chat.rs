//! `POST /v1/conversation/create` and `POST /v3/chat` (streamed or created-then-polled).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use bytes::Bytes;
use hyper::body::Incoming;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::state::{answer_messages, shard, Chat, CozeState, StoredMsg};
use super::stream::{coze_stream_response, ChatGuard, CozeStream, Phase};
use super::wire::{
    bad_request, kind_of, not_found, ok_envelope, ChatObj, InMsg, LastError, Usage, CODE_BUSY,
    CODE_INTERNAL, EMPTY_META,
};
use crate::mock::body::{json_with_fault, BodyFault};
use crate::mock::capacity::Slot;
use crate::mock::draw_key::identity;
use crate::mock::faults::{apply_plan, take_slot, FaultKind};
use crate::mock::http::{envelope_error, query_param, read_body, ConnCtl};
use crate::mock::text::{follow_up, message_tokens, unix_now};
use crate::mock::{Outcome, Plan, Shared};

/// A streamed chat holds its conversation at most this long if its body is never dropped (it always is).
const STREAM_HOLD: Duration = Duration::from_secs(600);

#[derive(Deserialize, Default)]
struct CreateReq {
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    messages: Option<Vec<InMsg>>,
}

/// The profile's `coze.bot_id_header`, if it takes the bot id from a header.
fn bot_header(sh: &Shared) -> Option<&str> {
    sh.profile.coze.as_ref()?.bot_id_header.as_deref()
}

/// The bot id a request names in the profile's bot id header (`Ok(None)`: the profile reads it from the body).
// The Err is the response to send, built once on a cold path.
#[allow(clippy::result_large_err)]
fn header_bot(sh: &Shared, req: &Request<Incoming>) -> Result<Option<String>, Response<Body>> {
    let Some(name) = bot_header(sh) else {
        return Ok(None);
    };
    match req.headers().get(name).and_then(|v| v.to_str().ok()) {
        Some(v) if !v.is_empty() => Ok(Some(v.to_string())),
        _ => Err(bad_request(
            sh,
            &format!("header {name} (the bot id) is required"),
        )),
    }
}

pub(super) async fn conversation_create(
    sh: &Shared,
    st: &CozeState,
    req: Request<Incoming>,
) -> Response<Body> {
    // Creating a conversation needs no bot: without the header it belongs to none, as without `bot_id`.
    let from_header = match header_bot(sh, &req) {
        Ok(b) => b,
        Err(_) => Some(String::new()),
    };
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
    let bot_id = from_header.or(body.bot_id).unwrap_or_default();
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
    /// Required unless the profile reads the bot id from a header (`coze.bot_id_header`), which then wins.
    #[serde(default)]
    bot_id: Option<String>,
    user_id: String,
    #[serde(default)]
    additional_messages: Option<Vec<InMsg>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    auto_save_history: Option<bool>,
}

/// A chat request that passed its checks.
struct Admitted {
    conv_id: u64,
    user_id: String,
    bot_id: String,
    add: Vec<InMsg>,
    stream: bool,
    save: bool,
}

/// Body, bot and conversation checks: the admitted chat, or the error response to send.
// The Err is the response to send, built once on a cold path.
#[allow(clippy::result_large_err)]
async fn admit(
    sh: &Shared,
    st: &CozeState,
    req: Request<Incoming>,
) -> Result<Admitted, Response<Body>> {
    let conv_param = query_param(req.uri().query(), "conversation_id").map(str::to_string);
    let from_header = header_bot(sh, &req)?;
    let raw = read_body(req.into_body())
        .await
        .map_err(|e| bad_request(sh, &e))?;
    let mut cr: ChatReq = serde_json::from_slice(&raw)
        .map_err(|e| bad_request(sh, &format!("invalid request body: {e}")))?;
    let Some(bot_id) = from_header.or(cr.bot_id.take()) else {
        return Err(bad_request(
            sh,
            "invalid request body: missing field `bot_id`",
        ));
    };
    let Some(add) = cr.additional_messages.filter(|m| !m.is_empty()) else {
        return Err(bad_request(
            sh,
            "additional_messages is required and must not be empty",
        ));
    };
    if cr.user_id.is_empty() {
        return Err(bad_request(sh, "user_id is required"));
    }
    let stream = cr.stream.unwrap_or(false);
    let save = cr.auto_save_history.unwrap_or(true);
    if !stream && !save {
        return Err(bad_request(
            sh,
            "auto_save_history must be true when stream is false",
        ));
    }
    if !sh.bots.contains_key(&bot_id) {
        let msg = format!("bot {bot_id} not found or not published to the API channel");
        return Err(not_found(sh, &msg));
    }
    let conv_id = match conv_param.as_deref() {
        None | Some("") => st.new_conv(&bot_id, Vec::new()).0,
        Some(v) => match v.parse::<u64>() {
            Ok(id) if shard(&st.convs, id).contains_key(&id) => id,
            _ => return Err(not_found(sh, &format!("conversation {v} not found"))),
        },
    };
    Ok(Admitted {
        conv_id,
        user_id: cr.user_id,
        bot_id,
        add,
        stream,
        save,
    })
}

/// What a chat that runs is: its ids, its instants and its draws.
struct Run {
    chat_id: u64,
    now: Instant,
    created_at: u64,
    delay: Duration,
    n_words: u32,
    failed: bool,
}

/// Busy check, then (if this request starts a chat) claim the conversation and save the question: one lock.
/// Returns the input tokens (0 when the request does not start a chat).
#[allow(clippy::result_large_err)]
fn claim(
    sh: &Shared,
    st: &CozeState,
    a: &Admitted,
    run: &Run,
    claims: bool,
) -> Result<u32, Response<Body>> {
    let now = run.now;
    let mut convs = shard(&st.convs, a.conv_id);
    let Some(c) = convs.get_mut(&a.conv_id) else {
        drop(convs);
        return Err(not_found(
            sh,
            &format!("conversation {} not found", a.conv_id),
        ));
    };
    if c.busy_until.is_some_and(|b| b > now) {
        drop(convs);
        sh.counters.outcome(Outcome::Busy);
        return Err(envelope_error(
            StatusCode::OK,
            CODE_BUSY,
            "conversation occupied: a chat is already in progress in this conversation; wait for it to \
             finish or cancel it",
        ));
    }
    if !claims {
        return Ok(0);
    }
    let history: u32 = c
        .messages
        .iter()
        .filter(|m| m.visible_at <= now && matches!(m.kind, "question" | "answer"))
        .map(|m| message_tokens(&m.content))
        .sum();
    let input = history
        + a.add
            .iter()
            .map(|m| message_tokens(&m.content))
            .sum::<u32>();
    c.touched = now;
    c.busy_until = Some(now + if a.stream { STREAM_HOLD } else { run.delay });
    if a.save {
        for m in &a.add {
            c.messages.push_back(StoredMsg {
                id: st.id(),
                chat_id: Some(run.chat_id),
                role: m.role.as_str().into(),
                kind: kind_of(m),
                content: m.content.as_str().into(),
                created_at: run.created_at,
                visible_at: now,
            });
        }
    }
    Ok(input)
}

pub(super) async fn chat(
    sh: &Arc<Shared>,
    st: &CozeState,
    ctl: &Arc<ConnCtl>,
    req: Request<Incoming>,
) -> Response<Body> {
    let a = match admit(sh, st, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    // Held while the chat runs: to the end of its stream, or until a polled chat completes.
    let slot = match take_slot(sh).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (mut rng, key) = sh.rng(|| {
        // The conversation's length encodes the turn (its id depends on arrival order, so it is left out).
        let turn = shard(&st.convs, a.conv_id)
            .get(&a.conv_id)
            .map_or(0, |c| c.messages.len())
            .to_string();
        let texts = a.add.iter().map(|m| m.content.as_str());
        identity(
            [a.user_id.as_str(), a.bot_id.as_str(), turn.as_str()]
                .into_iter()
                .chain(texts),
        )
    });
    let plan = sh.draw(&mut rng, a.stream, key);
    let failed = matches!(plan, Plan::ChatFailed);
    let claims = match &plan {
        Plan::Answer | Plan::ChatFailed => true,
        Plan::Fault(f) => a.stream && needs_answer(f.kind),
        Plan::RateLimited | Plan::ServerError(_) => false,
    };
    let run = Run {
        n_words: sh.answer_len(&mut rng),
        delay: sh.latency.sample(&mut rng),
        now: Instant::now(),
        created_at: unix_now(),
        chat_id: st.id(),
        failed,
    };
    let input = match claim(sh, st, &a, &run, claims) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let body_fault = match apply_plan(sh, ctl, plan, a.stream).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let usage = sh.usage.then_some(Usage {
        token_count: input + run.n_words,
        output_count: run.n_words,
        input_count: input,
    });
    if a.stream {
        return stream_chat(sh, st, ctl, a, run, (rng, slot), input, usage, body_fault);
    }
    if claims {
        // The chat keeps its slot while it generates, as a real backend's worker stays busy after answering the
        // create call: until it completes, or is canceled.
        let holds = slot.is_some();
        accept_chat(st, &a, &run, input, &mut rng, slot);
        if holds {
            CozeState::hold_until_done(sh, run.chat_id, run.now + run.delay);
        }
    }
    json_with_fault(in_progress_body(&a, &run), body_fault, ctl)
}

fn failure(failed: bool) -> Option<(i64, String)> {
    failed.then(|| {
        (
            CODE_INTERNAL,
            "the model failed to generate an answer".into(),
        )
    })
}

/// A streamed chat: the chat exists while it streams; the guard records how it ended when the body is dropped.
#[allow(clippy::too_many_arguments)]
fn stream_chat(
    sh: &Arc<Shared>,
    st: &CozeState,
    ctl: &Arc<ConnCtl>,
    a: Admitted,
    run: Run,
    (mut rng, slot): (ChaCha8Rng, Option<Slot>),
    input: u32,
    usage: Option<Usage>,
    body_fault: Option<BodyFault>,
) -> Response<Body> {
    shard(&st.chats, run.chat_id).insert(
        run.chat_id,
        Chat {
            conv: a.conv_id,
            bot_id: a.bot_id.clone(),
            created_at: run.created_at,
            done_at: run.now + STREAM_HOLD,
            completed_at: 0,
            failed: failure(run.failed),
            input,
            output: run.n_words,
            messages: Vec::new(),
            canceled: false,
            slot: None,
        },
    );
    let guard = ChatGuard {
        sh: sh.clone(),
        conv: a.conv_id,
        chat: run.chat_id,
        save: a.save,
        result: None,
    };
    let src = CozeStream {
        ttft: sh.ttft,
        itl: sh.itl,
        start: run.now,
        next_at: run.now,
        conv: a.conv_id,
        chat: run.chat_id,
        bot_id: a.bot_id,
        answer_id: st.id(),
        created_at: run.created_at,
        words_left: run.n_words,
        per_chunk: sh.tokens_per_chunk,
        answer: String::with_capacity(run.n_words as usize * 8),
        follow_ups: (0..st.follow_ups)
            .map(|_| (st.id(), follow_up(&mut rng)))
            .collect(),
        verbose_id: st.id(),
        extra: Vec::new(),
        usage,
        failed: run.failed,
        phase: Phase::Created,
        guard: Some(guard),
        in_progress_first: sh
            .profile
            .shape_variants
            .contains(&crate::mock::ShapeVariant::SseOrder),
        _slot: slot,
        rng,
    };
    coze_stream_response(ctl, body_fault, src)
}

/// A polled chat: accepted at once, completes `delay` later (its messages become visible then).
fn accept_chat(
    st: &CozeState,
    a: &Admitted,
    run: &Run,
    input: u32,
    rng: &mut ChaCha8Rng,
    slot: Option<Slot>,
) {
    let done_at = run.now + run.delay;
    let completed_at = run.created_at + run.delay.as_secs_f64().round() as u64;
    let messages = if run.failed {
        Vec::new()
    } else {
        let answer = crate::mock::text::answer(rng, run.n_words);
        answer_messages(st, run.chat_id, &answer, completed_at, done_at, rng)
    };
    if a.save && !run.failed {
        st.save_history(a.conv_id, messages.iter());
    }
    shard(&st.chats, run.chat_id).insert(
        run.chat_id,
        Chat {
            conv: a.conv_id,
            bot_id: a.bot_id.clone(),
            created_at: run.created_at,
            done_at,
            completed_at,
            failed: failure(run.failed),
            input,
            output: run.n_words,
            messages,
            canceled: false,
            slot,
        },
    );
}

/// The envelope of a chat just accepted (`status: in_progress`).
fn in_progress_body(a: &Admitted, run: &Run) -> Bytes {
    let chat_obj = ChatObj {
        id: run.chat_id.to_string(),
        conversation_id: a.conv_id.to_string(),
        bot_id: &a.bot_id,
        created_at: run.created_at,
        completed_at: None,
        failed_at: None,
        last_error: LastError { code: 0, msg: "" },
        status: "in_progress",
        usage: None,
        meta_data: EMPTY_META,
    };
    #[derive(Serialize)]
    struct Env<'a> {
        code: i64,
        msg: &'static str,
        data: ChatObj<'a>,
    }
    Bytes::from(
        serde_json::to_vec(&Env {
            code: 0,
            msg: "",
            data: chat_obj,
        })
        .unwrap_or_default(),
    )
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
