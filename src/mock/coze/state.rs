//! Conversation and chat state: sharded maps (16 `Mutex<HashMap>` shards each for conversations and chats, keyed by
//! id; a lock is held only for a map operation, never across an await, and never two at once). A sweeper forgets
//! conversations idle and chats finished for longer than `coze.expire_s`, so memory stays bounded under a long run.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use tokio_util::sync::CancellationToken;

use super::wire::{MsgObj, CODE_INTERNAL, EMPTY_META, VERBOSE_FINISH};
use crate::mock::capacity::Slot;
use crate::mock::profile::CozeSpec;
use crate::mock::text::{follow_up, unix_now};
use crate::mock::Shared;

const SHARDS: usize = 16;

/// A kept message. Its texts are shared: a chat's answer is kept in the chat and in its conversation (one copy, two
/// references), and the fixed texts (the role, the verbose finish) once for all chats. A mock that keeps chats for
/// `coze.expire_s` (600 s in mocks/legacy.yaml) held ~2.4 KB per chat with owned copies (heaptrack, bench/RESULTS.md).
#[derive(Clone)]
pub(crate) struct StoredMsg {
    pub(crate) id: u64,
    pub(crate) chat_id: Option<u64>,
    pub(crate) role: Arc<str>,
    pub(crate) kind: &'static str,
    pub(crate) content: Arc<str>,
    pub(crate) created_at: u64,
    pub(crate) visible_at: Instant,
}

pub(crate) struct Conv {
    pub(crate) bot_id: String,
    pub(crate) touched: Instant,
    pub(crate) busy_until: Option<Instant>,
    pub(crate) messages: VecDeque<StoredMsg>,
}

pub(crate) struct Chat {
    pub(crate) conv: u64,
    pub(crate) bot_id: String,
    pub(crate) created_at: u64,
    pub(crate) done_at: Instant,
    pub(crate) completed_at: u64,
    pub(crate) failed: Option<(i64, String)>,
    pub(crate) input: u32,
    pub(crate) output: u32,
    /// Answer, verbose and follow-up messages (empty for a failed or canceled chat).
    pub(crate) messages: Vec<StoredMsg>,
    /// Ended by `POST /v3/chat/cancel`.
    pub(crate) canceled: bool,
    /// A polled chat's capacity slot: the worker is busy until the chat completes or is canceled.
    pub(crate) slot: Option<Slot>,
}

pub(crate) struct CozeState {
    pub(crate) convs: Vec<Mutex<HashMap<u64, Conv>>>,
    pub(crate) chats: Vec<Mutex<HashMap<u64, Chat>>>,
    pub(crate) next_id: AtomicU64,
    pub(crate) expire: Duration,
    pub(crate) history_limit: usize,
    pub(crate) follow_ups: usize,
}

pub(crate) fn shard<T>(v: &[Mutex<T>], id: u64) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a shard lock leaves plain data behind: keep serving.
    v[(id % SHARDS as u64) as usize]
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

impl CozeState {
    pub(crate) fn new(spec: &CozeSpec) -> CozeState {
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

    pub(crate) fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn sweep_every(&self) -> Duration {
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
    pub(crate) fn sizes(&self) -> (usize, usize) {
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

    pub(crate) fn new_conv(
        &self,
        bot_id: &str,
        msgs: Vec<(String, &'static str, String)>,
    ) -> (u64, u64) {
        let id = self.id();
        let now = Instant::now();
        let created = unix_now();
        let mut messages: VecDeque<StoredMsg> = msgs
            .into_iter()
            .map(|(role, kind, content)| StoredMsg {
                id: self.id(),
                chat_id: None,
                role: role.into(),
                kind,
                content: content.into(),
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

    pub(crate) fn finish_stream(
        &self,
        conv: u64,
        chat: u64,
        result: Option<Vec<StoredMsg>>,
        save: bool,
    ) {
        let now = Instant::now();
        let mut canceled = false;
        if let Some(c) = shard(&self.chats, chat).get_mut(&chat) {
            canceled = c.canceled;
        }
        if canceled {
            return;
        }
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
        }
        if let (true, Some(r)) = (save, result) {
            let shown: Vec<StoredMsg> = r
                .into_iter()
                .map(|mut m| {
                    m.visible_at = now;
                    m
                })
                .collect();
            self.save_history(conv, shown.iter());
        }
    }

    /// A polled chat's capacity slot is freed when the chat completes (`done_at`) or is canceled, whichever first.
    pub(super) fn hold_until_done(sh: &Arc<Shared>, chat: u64, done_at: Instant) {
        let sh = sh.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(done_at)).await;
            if let Some(st) = &sh.coze {
                let slot = shard(&st.chats, chat)
                    .get_mut(&chat)
                    .and_then(|c| c.slot.take());
                drop(slot);
            }
        });
    }

    /// A canceled chat frees its conversation, and its answer (saved ahead, visible later) is withdrawn.
    pub(crate) fn release_canceled(&self, conv: u64, chat: u64, now: Instant) {
        if let Some(c) = shard(&self.convs, conv).get_mut(&conv) {
            c.busy_until = None;
            c.touched = now;
            c.messages
                .retain(|m| m.chat_id != Some(chat) || m.visible_at <= now);
        }
    }

    /// Append a finished chat's messages to its conversation's history, the same way for a streamed and a polled
    /// chat: the verbose message stays in the chat's own message list, never in the conversation's history.
    pub(crate) fn save_history<'a>(&self, conv: u64, msgs: impl Iterator<Item = &'a StoredMsg>) {
        if let Some(c) = shard(&self.convs, conv).get_mut(&conv) {
            c.messages
                .extend(msgs.filter(|m| m.kind != "verbose").cloned());
            while c.messages.len() > self.history_limit {
                c.messages.pop_front();
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

pub(crate) fn answer_messages(
    st: &CozeState,
    chat_id: u64,
    answer: &str,
    created_at: u64,
    visible_at: Instant,
    rng: &mut ChaCha8Rng,
) -> Vec<StoredMsg> {
    let mk = |id, kind, content: Arc<str>| StoredMsg {
        id,
        chat_id: Some(chat_id),
        role: assistant(),
        kind,
        content,
        created_at,
        visible_at,
    };
    let mut v = Vec::with_capacity(2 + st.follow_ups);
    v.push(mk(st.id(), "answer", answer.into()));
    v.push(mk(st.id(), "verbose", verbose_finish()));
    for _ in 0..st.follow_ups {
        v.push(mk(st.id(), "follow_up", follow_up(rng).into()));
    }
    v
}

/// `assistant`, one allocation for every message of every chat.
pub(crate) fn assistant() -> Arc<str> {
    static A: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| "assistant".into());
    A.clone()
}

/// The verbose finish message's text, one allocation for every chat.
fn verbose_finish() -> Arc<str> {
    static V: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| VERBOSE_FINISH.into());
    V.clone()
}

impl StoredMsg {
    /// The wire object of this message in conversation `conv` of bot `bot_id`.
    pub(crate) fn obj<'a>(&'a self, conv: u64, bot_id: &'a str) -> MsgObj<'a> {
        MsgObj {
            id: self.id.to_string(),
            conversation_id: conv.to_string(),
            bot_id,
            chat_id: self.chat_id.map(|c| c.to_string()).unwrap_or_default(),
            role: &self.role,
            kind: self.kind,
            content: &self.content,
            content_type: "text",
            created_at: self.created_at,
            updated_at: self.created_at,
            section_id: conv.to_string(),
            meta_data: EMPTY_META,
        }
    }
}
