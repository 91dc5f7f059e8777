//! Server-Sent Events: an incremental parser ([`SseParser`], WHATWG EventSource rules), the timing of a streamed
//! answer ([`StreamTimer`]: TTFB, TTFT, ITL, per-chunk gaps, E2E), and the classification of one event for each
//! protocol ([`classify_openai`], [`classify_coze`]) into a [`StreamItem`].
//!
//! The parser works on bytes: lines are cut at CR, LF or CRLF (ASCII, so never inside a multi-byte UTF-8
//! sequence), and text is decoded only when an event is dispatched, so a chunk may end at any byte. Invalid UTF-8 is
//! replaced by U+FFFD, as the spec's decoder does.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) use super::gaps::GapStats;

/// Default bound on one line and on one event's data: 4 MiB.
pub(crate) const DEFAULT_MAX_EVENT_BYTES: usize = 4 << 20;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; `None` when absent or empty (the spec's default type, `message`).
    pub(crate) event: Option<String>,
    /// The `data:` lines joined with `\n` (no trailing newline).
    pub(crate) data: String,
    /// The last event ID seen on this stream (it persists across events, per spec); `None` when empty.
    pub(crate) id: Option<String>,
}

/// Parser failure. After one, the parser stays failed: every later `push` returns the same error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    /// One line was longer than the limit (bytes, without its line ending).
    LineTooLong { limit: usize },
    /// One event's joined data grew beyond the limit (bytes).
    EventTooLarge { limit: usize },
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::LineTooLong { limit } => {
                write!(f, "SSE line longer than {limit} bytes")
            }
            SseError::EventTooLarge { limit } => {
                write!(f, "SSE event data larger than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for SseError {}

/// What [`SseParser::finish`] found at the end of the stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamEnd {
    /// True when the stream stopped inside an event: after the last blank line there was a field line (anything
    /// but a comment) or an unterminated line. A stream cut mid-event.
    pub partial: bool,
    /// The event the complete lines of that unfinished event would have made. The spec says to discard it; it is
    /// given only for diagnostics (e.g. a server that omits the blank line after `data: [DONE]`).
    pub(crate) unterminated: Option<SseEvent>,
}

impl StreamEnd {
    /// True when the stream ended on an event boundary.
    pub fn is_clean(&self) -> bool {
        !self.partial
    }
}

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
/// `bom` state: this many BOM bytes matched so far at stream start; `BOM_DONE` once decided.
const BOM_DONE: u8 = 4;

/// Incremental SSE parser: [`push`](Self::push) byte chunks, drain events with [`next_event`](Self::next_event),
/// call [`finish`](Self::finish) at end of stream.
///
/// Memory: the struct plus the capacity of its buffers, which grow to the longest line that was split across
/// chunks, the largest event's data and the event queue's high-water mark, and are reused (never shrunk) until
/// the parser is dropped. Complete lines inside a chunk are parsed in place, without copying.
#[derive(Debug)]
pub struct SseParser {
    /// Start of a line cut by the end of the previous chunk.
    line: Vec<u8>,
    /// Data buffer of the event being built (each `data:` value followed by `\n`).
    data: Vec<u8>,
    /// Event type buffer.
    event_type: Vec<u8>,
    /// Last event ID buffer.
    last_id: String,
    retry: Option<u64>,
    queue: VecDeque<SseEvent>,
    max: usize,
    /// The previous chunk ended with CR: a LF at the start of the next one belongs to it.
    pending_cr: bool,
    bom: u8,
    /// A field line was seen since the last blank line.
    event_open: bool,
    failed: Option<SseError>,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// A parser with the default limit ([`DEFAULT_MAX_EVENT_BYTES`]).
    pub fn new() -> Self {
        Self::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A parser whose lines and event data may not exceed `max` bytes each.
    pub fn with_max_event_bytes(max: usize) -> Self {
        SseParser {
            line: Vec::new(),
            data: Vec::new(),
            event_type: Vec::new(),
            last_id: String::new(),
            retry: None,
            queue: VecDeque::new(),
            max,
            pending_cr: false,
            bom: 0,
            event_open: false,
            failed: None,
        }
    }

    /// Parse one chunk; complete events are queued for [`next_event`](Self::next_event). A chunk may end at any
    /// byte. On an oversize line or event the parser fails for good (see [`SseError`]).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), SseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.push_inner(chunk);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    /// Next complete event, oldest first.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        self.queue.pop_front()
    }

    /// The last valid `retry:` value seen (milliseconds).
    #[cfg(test)]
    pub(crate) fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// End of stream: report whether it stopped inside an event, then clear the per-stream state (queued events
    /// stay to be drained; buffers keep their capacity). The error state, if any, is kept.
    pub fn finish(&mut self) -> StreamEnd {
        // 1 or 2 BOM bytes seen and then EOF: they were content, an unterminated line.
        let bom_bytes = if self.bom < BOM_DONE { self.bom } else { 0 };
        let partial_line = bom_bytes > 0 || self.line.first().is_some_and(|&b| b != b':');
        let partial = self.event_open || partial_line;
        let unterminated = if self.data.is_empty() {
            None
        } else {
            Some(self.build_event())
        };
        self.line.clear();
        self.data.clear();
        self.event_type.clear();
        self.last_id.clear();
        self.pending_cr = false;
        self.bom = 0;
        self.event_open = false;
        StreamEnd {
            partial,
            unterminated,
        }
    }

    /// Forget everything (state, queued events, error) but keep the buffers' capacity, to parse a new stream.
    pub fn reset(&mut self) {
        self.finish();
        self.queue.clear();
        self.retry = None;
        self.failed = None;
    }

    /// Heap bytes held now: buffer capacities plus queued events (their strings' capacities included).
    pub fn heap_bytes(&self) -> usize {
        self.line.capacity()
            + self.data.capacity()
            + self.event_type.capacity()
            + self.last_id.capacity()
            + self.queue.capacity() * std::mem::size_of::<SseEvent>()
            + self
                .queue
                .iter()
                .map(|e| {
                    e.data.capacity()
                        + e.event.as_ref().map_or(0, String::capacity)
                        + e.id.as_ref().map_or(0, String::capacity)
                })
                .sum::<usize>()
    }

    fn push_inner(&mut self, mut input: &[u8]) -> Result<(), SseError> {
        if self.bom < BOM_DONE {
            // Match the BOM byte by byte: it may be split across chunks.
            while self.bom < 3 {
                let Some((&b, rest)) = input.split_first() else {
                    return Ok(());
                };
                if b == BOM[self.bom as usize] {
                    self.bom += 1;
                    input = rest;
                } else {
                    // Not a BOM: the bytes matched so far are content.
                    let matched = self.bom as usize;
                    self.bom = BOM_DONE;
                    self.feed(&BOM[..matched])?;
                    return self.feed(input);
                }
            }
            self.bom = BOM_DONE;
        }
        self.feed(input)
    }

    fn feed(&mut self, mut input: &[u8]) -> Result<(), SseError> {
        if self.pending_cr {
            if input.is_empty() {
                return Ok(());
            }
            self.pending_cr = false;
            if input[0] == b'\n' {
                input = &input[1..];
            }
        }
        while let Some(i) = find_eol(input) {
            if self.line.is_empty() {
                self.line_done(&input[..i])?;
            } else {
                if self.line.len() + i > self.max {
                    return Err(SseError::LineTooLong { limit: self.max });
                }
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&input[..i]);
                let r = self.line_done(&line);
                line.clear();
                self.line = line;
                r?;
            }
            if input[i] == b'\r' {
                match input.get(i + 1) {
                    Some(b'\n') => input = &input[i + 2..],
                    Some(_) => input = &input[i + 1..],
                    None => {
                        self.pending_cr = true;
                        return Ok(());
                    }
                }
            } else {
                input = &input[i + 1..];
            }
        }
        if !input.is_empty() {
            if self.line.len() + input.len() > self.max {
                return Err(SseError::LineTooLong { limit: self.max });
            }
            self.line.extend_from_slice(input);
        }
        Ok(())
    }

    /// Process one complete line (without its ending).
    fn line_done(&mut self, line: &[u8]) -> Result<(), SseError> {
        if line.is_empty() {
            self.dispatch();
            return Ok(());
        }
        if line.len() > self.max {
            return Err(SseError::LineTooLong { limit: self.max });
        }
        if line[0] == b':' {
            return Ok(()); // comment
        }
        self.event_open = true;
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(c) => {
                let v = &line[c + 1..];
                (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.data.len() + value.len() + 1 > self.max {
                    return Err(SseError::EventTooLarge { limit: self.max });
                }
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"event" => {
                self.event_type.clear();
                self.event_type.extend_from_slice(value);
            }
            b"id" if !value.contains(&0) => {
                self.last_id.clear();
                self.last_id.push_str(&String::from_utf8_lossy(value));
            }
            // Saturate rather than ignore an absurdly large value.
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry = Some(value.iter().fold(0u64, |acc, &d| {
                    acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                }));
            }
            _ => {}
        }
        Ok(())
    }

    /// Blank line: queue the event if it has data, then reset the data and event type buffers.
    fn dispatch(&mut self) {
        self.event_open = false;
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        let ev = self.build_event();
        self.data.clear();
        self.event_type.clear();
        self.queue.push_back(ev);
    }

    fn build_event(&self) -> SseEvent {
        let data = &self.data[..self.data.len() - 1]; // drop the trailing LF
        SseEvent {
            event: (!self.event_type.is_empty()).then(|| to_string(&self.event_type)),
            data: to_string(data),
            id: (!self.last_id.is_empty()).then(|| self.last_id.clone()),
        }
    }
}

fn to_string(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// Index of the first CR or LF, a word (8 bytes) at a time.
fn find_eol(s: &[u8]) -> Option<usize> {
    use super::swar::{splat, zero_bytes};
    super::swar::position(
        s,
        |v| zero_bytes(v ^ splat(b'\r')) | zero_bytes(v ^ splat(b'\n')),
        |b| b == b'\r' || b == b'\n',
    )
}

/// Timing of one streamed response, from explicit instants (it never reads the clock). The one stream timer: the
/// client's [`Attempt`](super::Attempt) records every answer through it, and the bench measures the same code.
///
/// Memory per stream is bounded however long the stream: `size_of::<StreamTimer>()` plus its [`GapStats`] (a list
/// of the first [`LISTED_GAPS`](super::gaps::LISTED_GAPS) gaps, then a counter per histogram cell reached; see
/// [`heap_bytes`](Self::heap_bytes)).
#[derive(Debug, Clone)]
pub struct StreamTimer {
    start: Instant,
    first_byte: Option<Instant>,
    first_content: Option<Instant>,
    last_content: Option<Instant>,
    content_chunks: u64,
    gaps: GapStats,
}

impl StreamTimer {
    /// `start`: the instant the request was sent.
    pub fn new(start: Instant) -> Self {
        StreamTimer {
            start,
            first_byte: None,
            first_content: None,
            last_content: None,
            content_chunks: 0,
            gaps: GapStats::default(),
        }
    }

    /// First byte of the response (status line or body); later calls are ignored.
    pub fn on_first_byte(&mut self, t: Instant) {
        self.first_byte.get_or_insert(t);
    }

    /// A chunk carrying answer content: `units` is its length or token count (the caller's choice). `units == 0`
    /// (empty content) is ignored: it does not count for TTFT. Sets the first byte too if it was not recorded.
    pub fn on_content(&mut self, t: Instant, units: u64) {
        if units == 0 {
            return;
        }
        self.first_byte.get_or_insert(t);
        match self.last_content {
            Some(prev) => self.gaps.record(t.saturating_duration_since(prev)),
            None => self.first_content = Some(t),
        }
        self.last_content = Some(t);
        self.content_chunks += 1;
    }

    /// Request sent -> first byte.
    pub(crate) fn ttfb(&self) -> Option<Duration> {
        self.first_byte
            .map(|t| t.saturating_duration_since(self.start))
    }

    /// Request sent -> first chunk with non-empty content.
    pub(crate) fn ttft(&self) -> Option<Duration> {
        self.first_content
            .map(|t| t.saturating_duration_since(self.start))
    }

    /// Gaps between consecutive content chunks: count, maximum, the first ones listed, all of them poolable.
    pub fn gaps(&self) -> &GapStats {
        &self.gaps
    }

    /// First content chunk -> last content chunk (zero with one chunk), `None` without content.
    pub(crate) fn content_span(&self) -> Option<Duration> {
        Some(
            self.last_content?
                .saturating_duration_since(self.first_content?),
        )
    }

    /// Number of chunks with non-empty content.
    pub(crate) fn content_chunks(&self) -> u64 {
        self.content_chunks
    }

    /// Heap bytes held by the gap statistics.
    pub fn heap_bytes(&self) -> usize {
        self.gaps.heap_bytes()
    }
}

/// One event as a protocol sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// Non-empty answer text.
    Content(String),
    /// Nothing for the metrics: role-only or empty chunks, non-answer messages, status events, unknown events.
    Ignored,
    /// Server token counts.
    Usage { input: u64, output: u64 },
    /// In-stream failure (error payload or event, `chat.failed`), with the server's message.
    Error(String),
    /// A payload that is not the JSON it should be.
    Malformed(String),
    /// The end marker (`[DONE]`, Coze `done`).
    Done,
}

/// Classify one event of an OpenAI-compatible chat completions stream.
///
/// `data: [DONE]` -> `Done`; an event named `error`, or a payload with a non-null `error` key -> `Error`;
/// non-empty `choices[0].delta.content` -> `Content`; else a non-null `usage` with `prompt_tokens` and
/// `completion_tokens` -> `Usage`; anything else that is a JSON object (role-only, empty content, tool calls,
/// `finish_reason`) -> `Ignored`; not a JSON object -> `Malformed`. A chunk carrying both content and usage (some
/// servers report usage on every chunk) gives `Content`: the final usage-only chunk still gives `Usage`.
pub fn classify_openai(ev: &SseEvent) -> StreamItem {
    let data = ev.data.trim();
    let named_error = ev.event.as_deref() == Some("error");
    if data == "[DONE]" && !named_error {
        return StreamItem::Done;
    }
    // The usual chunk is read without a `Value` tree; an error, or any chunk the scanner declines, goes below.
    if !named_error {
        if let Some(s) = super::json_scan::scan(data.as_bytes(), b"delta").filter(|s| !s.error) {
            return match (s.text, s.usage) {
                (Some(text), _) if !text.is_empty() => StreamItem::Content(text.into_owned()),
                (_, Some((input, output))) => StreamItem::Usage { input, output },
                _ => StreamItem::Ignored,
            };
        }
    }
    let v: Value = match serde_json::from_str(data) {
        Ok(v) => v,
        Err(_) if named_error => return StreamItem::Error(clip(data)),
        Err(e) => return StreamItem::Malformed(format!("{e}: {}", clip(data))),
    };
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        return StreamItem::Error(error_text(err));
    }
    if named_error {
        return StreamItem::Error(error_text(&v));
    }
    if !v.is_object() {
        return StreamItem::Malformed(format!("chunk is not a JSON object: {}", clip(data)));
    }
    let content = v
        .get("choices")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("delta"))
        .and_then(|d| d.get("content"))
        .and_then(Value::as_str);
    if let Some(text) = content.filter(|t| !t.is_empty()) {
        return StreamItem::Content(text.to_owned());
    }
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        let field = |k: &str| u.get(k).and_then(token_count);
        if let (Some(input), Some(output)) = (field("prompt_tokens"), field("completion_tokens")) {
            return StreamItem::Usage { input, output };
        }
    }
    StreamItem::Ignored
}

/// Classify one event of a Coze v3 chat stream.
///
/// `conversation.message.delta` with `type:"answer"` and non-empty `content` -> `Content` (other message types ->
/// `Ignored`); `conversation.chat.completed` -> `Usage` from `usage.input_count` / `usage.output_count`
/// (`output_count` missing: `token_count - input_count`; no usage: `Ignored`); `conversation.chat.failed` ->
/// `Error` (`last_error`); `conversation.chat.requires_action` -> `Error` (the bot waits for tool outputs that a load
/// test never submits, so the turn cannot complete); `error` -> `Error`; `done` -> `Done`; other events
/// (`chat.created`, `chat.in_progress`, `message.completed`, unknown) -> `Ignored`. Bad JSON where it is read ->
/// `Malformed`.
pub fn classify_coze(ev: &SseEvent) -> StreamItem {
    let name = ev.event.as_deref().unwrap_or("");
    let parse = || -> Result<Value, StreamItem> {
        serde_json::from_str::<Value>(&ev.data)
            .map_err(|e| StreamItem::Malformed(format!("{name}: {e}: {}", clip(&ev.data))))
    };
    match name {
        "conversation.message.delta" => {
            let v = match parse() {
                Ok(v) => v,
                Err(m) => return m,
            };
            let is_answer = v.get("type").and_then(Value::as_str) == Some("answer");
            match v.get("content").and_then(Value::as_str) {
                Some(text) if is_answer && !text.is_empty() => StreamItem::Content(text.to_owned()),
                _ => StreamItem::Ignored,
            }
        }
        "conversation.chat.completed" => {
            let v = match parse() {
                Ok(v) => v,
                Err(m) => return m,
            };
            let Some(u) = v.get("usage").filter(|u| u.is_object()) else {
                return StreamItem::Ignored;
            };
            let field = |k: &str| u.get(k).and_then(token_count);
            let input = field("input_count");
            let output = field("output_count")
                .or_else(|| field("token_count").map(|t| t.saturating_sub(input.unwrap_or(0))));
            match output {
                Some(output) => StreamItem::Usage {
                    input: input.unwrap_or(0),
                    output,
                },
                None => StreamItem::Ignored,
            }
        }
        "conversation.chat.failed" => match parse() {
            Ok(v) => StreamItem::Error(format!(
                "chat failed: {}",
                error_text(v.get("last_error").unwrap_or(&v))
            )),
            Err(_) => StreamItem::Error(format!("chat failed: {}", clip(&ev.data))),
        },
        "conversation.chat.requires_action" => {
            StreamItem::Error("chat requires action (tool outputs are not submitted)".into())
        }
        "error" => match parse() {
            Ok(v) => StreamItem::Error(error_text(&v)),
            Err(_) => StreamItem::Error(clip(&ev.data)),
        },
        "done" => StreamItem::Done,
        _ => StreamItem::Ignored,
    }
}

/// A readable message from an error value: `message` / `msg` (with `code` when present), a bare string, or the
/// JSON text.
fn error_text(v: &Value) -> String {
    let msg = v
        .get("message")
        .or_else(|| v.get("msg"))
        .and_then(Value::as_str);
    let code = v.get("code").filter(|c| !c.is_null()).map(|c| match c {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    match (msg, code, v) {
        (Some(m), Some(c), _) => format!("code {c}: {m}"),
        (Some(m), None, _) => m.to_owned(),
        (None, _, Value::String(s)) => s.clone(),
        _ => clip(&v.to_string()),
    }
}

/// At most 4096 characters of a payload, for error details. Generous on purpose: the client redacts the key and
/// then clips details to 300 characters, so this clip never cuts a key that the final text keeps.
fn clip(s: &str) -> String {
    clip_chars(s, 4096)
}

/// At most `n` characters of `s`, with `...` when clipped.
pub(crate) fn clip_chars(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// A token count from a usage block, saturating: integers up to `u64::MAX`, a larger or fractional JSON number
/// (serde reads it as a float) saturates at `u64::MAX` or truncates; negative, NaN or not a number gives `None`.
pub(crate) fn token_count(v: &serde_json::Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let f = v.as_f64().filter(|f| *f >= 0.0)?;
    // `as` saturates at u64::MAX for large floats.
    Some(f as u64)
}

/// The `(input, output)` token counts of a JSON body's `usage` block, under the API's names for them.
pub(crate) fn usage_counts(
    body: &serde_json::Value,
    input: &str,
    output: &str,
) -> Option<(u64, u64)> {
    let u = body.get("usage")?;
    Some((token_count(u.get(input)?)?, token_count(u.get(output)?)?))
}

#[cfg(test)]
mod tests;
