//! The Coze wire shapes: envelope codes, chat and message objects, envelope responses, request messages.

use axum::body::Body;
use axum::http::{Response, StatusCode};
use serde::{Deserialize, Serialize};

use crate::mock::http::{envelope_error, json, query_param};
use crate::mock::{Outcome, Shared};

/// Envelope codes (HTTP 200 unless said otherwise).
pub(crate) const CODE_BAD_REQUEST: i64 = 4000;
pub(crate) const CODE_AUTH: i64 = 4100;
pub(crate) const CODE_NOT_FOUND: i64 = 4200;
pub(crate) const CODE_BUSY: i64 = 4016;
pub(crate) const CODE_INTERNAL: i64 = 5000;
/// `POST /v3/chat/cancel` on a chat that is not in progress (the SDK re-polls on it).
pub(crate) const CODE_NOT_CANCELABLE: i64 = 4104;

/// The `meta_data` the mock sends: always empty (the hosted API echoes what the caller set).
pub(crate) const EMPTY_META: EmptyMeta = EmptyMeta {};

#[derive(Serialize, Clone, Copy)]
pub(crate) struct EmptyMeta {}

pub(crate) const VERBOSE_FINISH: &str =
    "{\"msg_type\":\"generate_answer_finish\",\"data\":\"\",\"from_module\":null,\"from_unit\":null}";

/// `{"code":0,"msg":"","data":...}`.
#[derive(Serialize)]
pub(crate) struct Env<T> {
    pub(crate) code: i64,
    pub(crate) msg: &'static str,
    pub(crate) data: T,
}

impl<T> Env<T> {
    pub(crate) fn ok(data: T) -> Env<T> {
        Env {
            code: 0,
            msg: "",
            data,
        }
    }
}

pub(crate) fn ok_envelope<T: Serialize>(data: &T) -> Response<Body> {
    json(
        StatusCode::OK,
        serde_json::to_vec(&Env::ok(data)).unwrap_or_default(),
    )
}

#[derive(Serialize, Clone, Copy)]
pub(crate) struct Usage {
    pub(crate) token_count: u32,
    pub(crate) output_count: u32,
    pub(crate) input_count: u32,
}

#[derive(Serialize)]
pub(crate) struct LastError<'a> {
    pub(crate) code: i64,
    pub(crate) msg: &'a str,
}

#[derive(Serialize)]
pub(crate) struct ChatObj<'a> {
    pub(crate) id: String,
    pub(crate) conversation_id: String,
    pub(crate) bot_id: &'a str,
    pub(crate) created_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) completed_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) failed_at: Option<u64>,
    pub(crate) last_error: LastError<'a>,
    pub(crate) status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) usage: Option<Usage>,
    pub(crate) meta_data: EmptyMeta,
}

#[derive(Serialize)]
pub(crate) struct MsgObj<'a> {
    pub(crate) id: String,
    pub(crate) conversation_id: String,
    pub(crate) bot_id: &'a str,
    pub(crate) chat_id: String,
    pub(crate) role: &'a str,
    #[serde(rename = "type")]
    pub(crate) kind: &'a str,
    pub(crate) content: &'a str,
    pub(crate) content_type: &'static str,
    pub(crate) created_at: u64,
    pub(crate) updated_at: u64,
    /// The context section: the mock never clears a context, so one section per conversation.
    pub(crate) section_id: String,
    pub(crate) meta_data: EmptyMeta,
}

pub(crate) fn bad_request(sh: &Shared, msg: &str) -> Response<Body> {
    sh.counters.outcome(Outcome::BadRequest);
    envelope_error(StatusCode::BAD_REQUEST, CODE_BAD_REQUEST, msg)
}

pub(crate) fn not_found(sh: &Shared, msg: &str) -> Response<Body> {
    sh.counters.outcome(Outcome::NotFound);
    envelope_error(StatusCode::OK, CODE_NOT_FOUND, msg)
}

// The Err is the response to send, built once on a cold path.
#[allow(clippy::result_large_err)]
pub(crate) fn id_param(sh: &Shared, q: Option<&str>, key: &str) -> Result<u64, Response<Body>> {
    match query_param(q, key) {
        None | Some("") => Err(bad_request(sh, &format!("missing query parameter `{key}`"))),
        Some(v) => v
            .parse()
            .map_err(|_| not_found(sh, &format!("{key} {v} not found"))),
    }
}

#[derive(Deserialize)]
pub(crate) struct InMsg {
    pub(crate) role: String,
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) content: String,
}

pub(crate) fn kind_of(m: &InMsg) -> &'static str {
    match m.kind.as_deref() {
        Some("answer") => "answer",
        Some("question") => "question",
        _ if m.role == "assistant" => "answer",
        _ => "question",
    }
}
