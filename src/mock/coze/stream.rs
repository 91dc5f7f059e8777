//! A streamed chat's events, produced lazily with their due instants.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::Response;
use bytes::Bytes;
use rand_chacha::ChaCha8Rng;

use super::state::StoredMsg;
use super::wire::{ChatObj, LastError, MsgObj, Usage, CODE_INTERNAL, EMPTY_META, VERBOSE_FINISH};
use crate::mock::body::{stream_with_fault, BodyFault, EventSource, StreamFaultText};
use crate::mock::capacity::Slot;
use crate::mock::dist::LogNormalMs;
use crate::mock::http::ConnCtl;
use crate::mock::text::{unix_now, word};
use crate::mock::Shared;

/// Records how a streamed chat ended: when its last chat event is produced, or when its body is dropped before that
/// (cut, or the client went away).
pub(crate) struct ChatGuard {
    pub(crate) sh: Arc<Shared>,
    pub(crate) conv: u64,
    pub(crate) chat: u64,
    pub(crate) save: bool,
    /// The chat's messages, when `conversation.chat.completed` is produced.
    pub(crate) result: Option<Vec<StoredMsg>>,
}

impl Drop for ChatGuard {
    fn drop(&mut self) {
        if let Some(st) = &self.sh.coze {
            st.finish_stream(self.conv, self.chat, self.result.take(), self.save);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
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
pub(crate) struct CozeStream {
    pub(crate) rng: ChaCha8Rng,
    pub(crate) ttft: LogNormalMs,
    pub(crate) itl: LogNormalMs,
    pub(crate) start: Instant,
    pub(crate) next_at: Instant,
    pub(crate) conv: u64,
    pub(crate) chat: u64,
    pub(crate) bot_id: String,
    pub(crate) answer_id: u64,
    pub(crate) created_at: u64,
    pub(crate) words_left: u32,
    pub(crate) per_chunk: u32,
    pub(crate) answer: String,
    pub(crate) follow_ups: Vec<(u64, &'static str)>,
    pub(crate) verbose_id: u64,
    /// Completed non-answer messages, kept for the chat's message list.
    pub(crate) extra: Vec<StoredMsg>,
    pub(crate) usage: Option<Usage>,
    pub(crate) failed: bool,
    pub(crate) phase: Phase,
    pub(crate) guard: Option<ChatGuard>,
    /// Shape variant `sse_order`: `chat.in_progress` before `chat.created`.
    pub(crate) in_progress_first: bool,
    /// The capacity slot, freed when the body is dropped.
    pub(crate) _slot: Option<Slot>,
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
            meta_data: EMPTY_META,
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
            updated_at: self.created_at,
            section_id: self.conv.to_string(),
            meta_data: EMPTY_META,
        };
        Self::event(name, &serde_json::to_vec(&m).unwrap_or_default())
    }

    fn stored(&self, id: u64, kind: &'static str, content: &str) -> StoredMsg {
        StoredMsg {
            id,
            chat_id: Some(self.chat),
            role: super::state::assistant(),
            kind,
            content: content.into(),
            created_at: self.created_at,
            visible_at: Instant::now(),
        }
    }
    /// `conversation.chat.in_progress` when `in_progress`, else `conversation.chat.created`.
    fn start_event(&self, in_progress: bool) -> Bytes {
        if in_progress {
            self.chat_event("conversation.chat.in_progress", "in_progress")
        } else {
            self.chat_event("conversation.chat.created", "created")
        }
    }

    /// The next answer delta: `per_chunk` words, due at the TTFT and then one inter-token sample apart.
    fn delta(&mut self) -> (Option<Instant>, Bytes) {
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
        (Some(at), ev)
    }
}

impl CozeStream {
    /// The chat ends as its last chat event is produced, before the client can see it: its conversation is free and
    /// its messages are saved by the time the client can ask for the next turn (not when the body is dropped a moment
    /// later, which a fast client could beat: "conversation occupied" by chance).
    fn finish(&mut self, result: Option<Vec<StoredMsg>>, event: Bytes) -> Bytes {
        if let Some(mut g) = self.guard.take() {
            g.result = result;
        }
        event
    }
}

impl EventSource for CozeStream {
    fn next_event(&mut self) -> Option<(Option<Instant>, Bytes)> {
        match self.phase {
            Phase::Created => {
                self.phase = Phase::InProgress;
                Some((None, self.start_event(self.in_progress_first)))
            }
            Phase::InProgress => {
                self.next_at = self.start + self.ttft.sample(&mut self.rng);
                self.phase = if self.failed {
                    Phase::ChatFailed
                } else {
                    Phase::Delta
                };
                Some((None, self.start_event(!self.in_progress_first)))
            }
            Phase::ChatFailed => {
                self.phase = Phase::Done;
                let ev = self.chat_event("conversation.chat.failed", "failed");
                Some((Some(self.next_at), self.finish(None, ev)))
            }
            Phase::Delta => Some(self.delta()),
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
                let ev = self.chat_event("conversation.chat.completed", "completed");
                Some((None, self.finish(Some(result), ev)))
            }
            Phase::Done => {
                self.phase = Phase::End;
                Some((None, Bytes::from_static(b"event:done\ndata:\"[DONE]\"\n\n")))
            }
            Phase::End => None,
        }
    }
}

pub(crate) fn coze_stream_response(
    ctl: &Arc<ConnCtl>,
    fault: Option<BodyFault>,
    src: CozeStream,
) -> Response<Body> {
    let text = StreamFaultText {
        cut_after: 2 + (src.chunks() / 2).max(1) as usize,
        broken: Bytes::from(format!(
            "event:conversation.message.delta\ndata:{{\"id\":\"{}\",\"conversation_id\":\"{}\",\"content\":\"brok\n\n",
            src.answer_id, src.conv
        )),
        error_event: Bytes::from_static(
            b"event:error\ndata:{\"code\":5000,\"msg\":\"internal error while generating the answer\"}\n\n",
        ),
    };
    stream_with_fault(src, fault, text, ctl)
}
