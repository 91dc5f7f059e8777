//! The polling side of a chat: `/v3/chat/retrieve`, `/v3/chat/message/list`, `/v1/conversation/message/list`.

use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use serde_json::Value;

use super::page::{page, PageReq};
use super::state::{shard, Chat, CozeState, StoredMsg};
use super::wire::{
    bad_request, id_param, not_found, ok_envelope, ChatObj, Env, LastError, MsgObj, Usage,
    CODE_NOT_CANCELABLE, EMPTY_META,
};
use crate::mock::http::{envelope_error, json, query_param, read_body};
use crate::mock::text::unix_now;
use crate::mock::{Outcome, Shared};

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

/// The wire view of chat `id` at instant `now`.
fn chat_view<'a>(sh: &Shared, id: u64, c: &'a Chat, now: Instant) -> ChatObj<'a> {
    let done = now >= c.done_at;
    let failed = c.failed.is_some() && !c.canceled;
    ChatObj {
        id: id.to_string(),
        conversation_id: c.conv.to_string(),
        bot_id: &c.bot_id,
        created_at: c.created_at,
        completed_at: (done && !failed && !c.canceled).then_some(c.completed_at),
        failed_at: (done && failed).then_some(c.completed_at),
        last_error: match (&c.failed, done && failed) {
            (Some((code, msg)), true) => LastError { code: *code, msg },
            _ => LastError { code: 0, msg: "" },
        },
        status: match (done, failed, c.canceled) {
            (_, _, true) => "canceled",
            (false, _, _) => "in_progress",
            (true, false, _) => "completed",
            (true, true, _) => "failed",
        },
        usage: (done && !failed && !c.canceled && sh.usage).then_some(Usage {
            token_count: c.input + c.output,
            output_count: c.output,
            input_count: c.input,
        }),
        meta_data: EMPTY_META,
    }
}

/// `GET` or `POST /v3/chat/retrieve?conversation_id&chat_id` (the docs say GET, the SDKs poll with POST).
pub(super) fn retrieve(sh: &Shared, st: &CozeState, req: &Request<Incoming>) -> Response<Body> {
    let now = Instant::now();
    let r = with_chat(sh, st, req, |_conv, chat, found| match found {
        Lookup::Found(c) => Some(ok_envelope(&chat_view(sh, chat, c, now))),
        Lookup::Missing => None,
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

/// A string or number id in a JSON body (the SDKs send strings; a number is accepted too).
fn json_id(v: &Option<Value>) -> Option<u64> {
    match v.as_ref()? {
        Value::String(s) if !s.is_empty() => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

#[derive(Deserialize, Default)]
struct CancelReq {
    #[serde(default)]
    conversation_id: Option<Value>,
    #[serde(default)]
    chat_id: Option<Value>,
}

/// `POST /v3/chat/cancel` `{conversation_id, chat_id}`: an in-progress chat ends as `canceled`, its conversation is
/// free again and its answer never appears; a chat that already ended answers code 4104 (the SDK then re-polls).
pub(super) async fn cancel(sh: &Shared, st: &CozeState, req: Request<Incoming>) -> Response<Body> {
    let raw = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return bad_request(sh, &e),
    };
    let cr: CancelReq = match serde_json::from_slice(&raw) {
        Ok(c) => c,
        Err(e) => return bad_request(sh, &format!("invalid request body: {e}")),
    };
    let (Some(conv), Some(chat)) = (json_id(&cr.conversation_id), json_id(&cr.chat_id)) else {
        return bad_request(sh, "conversation_id and chat_id are required");
    };
    let now = Instant::now();
    let body = {
        let mut chats = shard(&st.chats, chat);
        let Some(c) = chats.get_mut(&chat).filter(|c| c.conv == conv) else {
            drop(chats);
            return not_found(sh, "chat not found in this conversation");
        };
        if c.canceled || now >= c.done_at {
            drop(chats);
            sh.counters.outcome(Outcome::BadRequest);
            return envelope_error(
                StatusCode::OK,
                CODE_NOT_CANCELABLE,
                "the chat is not in progress and cannot be canceled",
            );
        }
        c.canceled = true;
        c.done_at = now;
        c.completed_at = unix_now();
        c.messages.clear();
        // Its worker is free again.
        drop(c.slot.take());
        serde_json::to_vec(&Env::ok(chat_view(sh, chat, c, now))).unwrap_or_default()
    };
    st.release_canceled(conv, chat, now);
    sh.counters.outcome(Outcome::Ok);
    json(StatusCode::OK, body)
}

/// `GET /v3/chat/message/list?conversation_id&chat_id` (POST accepted too): the chat's messages once it ended.
pub(super) fn chat_messages(
    sh: &Shared,
    st: &CozeState,
    req: &Request<Incoming>,
) -> Response<Body> {
    let now = Instant::now();
    let r = with_chat(sh, st, req, |conv, _chat, found| {
        let Lookup::Found(c) = found else {
            return None;
        };
        let list: Vec<MsgObj> = if now >= c.done_at {
            c.messages.iter().map(|m| m.obj(conv, &c.bot_id)).collect()
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
    #[serde(default)]
    chat_id: Option<Value>,
    #[serde(default)]
    before_id: Option<Value>,
    #[serde(default)]
    after_id: Option<Value>,
}

impl ListReq {
    /// The GET form: the same fields in the query string.
    fn from_query(q: Option<&str>) -> ListReq {
        let s = |k| query_param(q, k).map(|v| Value::String(v.to_string()));
        ListReq {
            order: query_param(q, "order").map(str::to_string),
            limit: query_param(q, "limit").and_then(|v| v.parse().ok()),
            chat_id: s("chat_id"),
            before_id: s("before_id"),
            after_id: s("after_id"),
        }
    }
}

/// `POST /v1/conversation/message/list?conversation_id` (body `{order, chat_id, before_id, after_id, limit}`), or
/// `GET` with the same fields in the query: one page of the conversation's visible messages, `{data, first_id,
/// last_id, has_more}` beside `code` and `msg`.
pub(super) async fn conversation_messages(
    sh: &Shared,
    st: &CozeState,
    req: Request<Incoming>,
) -> Response<Body> {
    let q = req.uri().query().map(str::to_string);
    let conv = match id_param(sh, q.as_deref(), "conversation_id") {
        Ok(c) => c,
        Err(r) => return r,
    };
    let raw = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return bad_request(sh, &e),
    };
    let lr: ListReq = if raw.iter().all(u8::is_ascii_whitespace) {
        ListReq::from_query(q.as_deref())
    } else {
        match serde_json::from_slice(&raw) {
            Ok(l) => l,
            Err(e) => return bad_request(sh, &format!("invalid request body: {e}")),
        }
    };
    let preq = PageReq {
        asc: lr.order.as_deref() == Some("asc"),
        before: json_id(&lr.before_id),
        after: json_id(&lr.after_id),
        limit: lr.limit.unwrap_or(50).clamp(1, 50),
    };
    let chat = json_id(&lr.chat_id);
    let now = Instant::now();
    let body = {
        let convs = shard(&st.convs, conv);
        let Some(c) = convs.get(&conv) else {
            drop(convs);
            return not_found(sh, &format!("conversation {conv} not found"));
        };
        let visible: Vec<&StoredMsg> = c
            .messages
            .iter()
            .filter(|m| m.visible_at <= now && chat.is_none_or(|id| m.chat_id == Some(id)))
            .collect();
        let (items, has_more) = page(&visible, |m| m.id, preq);
        #[derive(Serialize)]
        struct ListResp<'a> {
            code: i64,
            msg: &'static str,
            data: Vec<MsgObj<'a>>,
            first_id: String,
            last_id: String,
            has_more: bool,
        }
        let data: Vec<MsgObj> = items.iter().map(|m| m.obj(conv, &c.bot_id)).collect();
        serde_json::to_vec(&ListResp {
            first_id: data.first().map(|m| m.id.clone()).unwrap_or_default(),
            last_id: data.last().map(|m| m.id.clone()).unwrap_or_default(),
            has_more,
            code: 0,
            msg: "",
            data,
        })
        .unwrap_or_default()
    };
    sh.counters.outcome(Outcome::Ok);
    json(StatusCode::OK, body)
}
