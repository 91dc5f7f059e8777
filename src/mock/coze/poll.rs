//! The polling side of a chat: `/v3/chat/retrieve`, `/v3/chat/message/list`, `/v1/conversation/message/list`.

use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::state::{shard, Chat, CozeState, StoredMsg};
use super::wire::{
    bad_request, id_param, not_found, ok_envelope, ChatObj, LastError, MsgObj, Usage,
};
use crate::mock::http::{json, read_body};
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

pub(super) fn retrieve(sh: &Shared, st: &CozeState, req: &Request<Incoming>) -> Response<Body> {
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
}

pub(super) async fn conversation_messages(
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
        let data: Vec<MsgObj> = ordered.iter().map(|m| m.obj(conv, &c.bot_id)).collect();
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
