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

/// Default bound on one line and on one event's data: 4 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 4 << 20;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; `None` when absent or empty (the spec's default type, `message`).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n` (no trailing newline).
    pub data: String,
    /// The last event ID seen on this stream (it persists across events, per spec); `None` when empty.
    pub id: Option<String>,
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
    pub unterminated: Option<SseEvent>,
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

    /// Number of complete events waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The last valid `retry:` value seen (milliseconds).
    pub fn retry(&self) -> Option<u64> {
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
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const CR: u64 = LO * b'\r' as u64;
    const LF: u64 = LO * b'\n' as u64;
    let mut chunks = s.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let (a, b) = (v ^ CR, v ^ LF);
        // A flag is set at each zero byte of `a` or `b` (and possibly above one, never below the lowest).
        let m = (a.wrapping_sub(LO) & !a & HI) | (b.wrapping_sub(LO) & !b & HI);
        if m != 0 {
            return Some(base + (m.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .map(|i| base + i)
}

/// Timing of one streamed response, from explicit instants (it never reads the clock).
///
/// Memory per stream: `size_of::<StreamTimer>()` plus 16 bytes (`Duration`) per kept gap, i.e. per content chunk
/// after the first, up to the gap limit (default [`StreamTimer::DEFAULT_MAX_GAPS`], so at most 1 MiB plus `Vec`
/// growth slack); gaps past the limit are counted in [`gaps_dropped`](Self::gaps_dropped), not stored.
#[derive(Debug, Clone)]
pub struct StreamTimer {
    start: Instant,
    first_byte: Option<Instant>,
    first_content: Option<Instant>,
    last_content: Option<Instant>,
    end: Option<Instant>,
    content_chunks: u64,
    content_units: u64,
    gaps: Vec<Duration>,
    max_gaps: usize,
    gaps_dropped: u64,
}

/// The figures of one stream (see [`StreamTimer`]'s methods for each definition).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamTimes {
    pub ttfb: Option<Duration>,
    pub ttft: Option<Duration>,
    pub itl: Option<Duration>,
    pub tpot: Option<Duration>,
    pub e2e: Option<Duration>,
    pub output_tokens_per_sec: Option<f64>,
    pub content_chunks: u64,
}

impl StreamTimer {
    /// Default bound on the stored gap list: 65,536 gaps (1 MiB).
    pub const DEFAULT_MAX_GAPS: usize = 1 << 16;

    /// `start`: the instant the request was sent.
    pub fn new(start: Instant) -> Self {
        Self::with_max_gaps(start, Self::DEFAULT_MAX_GAPS)
    }

    /// As [`new`](Self::new), storing at most `max_gaps` gaps.
    pub fn with_max_gaps(start: Instant, max_gaps: usize) -> Self {
        StreamTimer {
            start,
            first_byte: None,
            first_content: None,
            last_content: None,
            end: None,
            content_chunks: 0,
            content_units: 0,
            gaps: Vec::new(),
            max_gaps,
            gaps_dropped: 0,
        }
    }

    /// First byte of the response (status line or body); later calls are ignored.
    pub fn on_first_byte(&mut self, t: Instant) {
        self.first_byte.get_or_insert(t);
    }

    /// A chunk carrying answer content: `units` is its length or token count (the caller's choice, summed in
    /// [`content_units`](Self::content_units)). `units == 0` (empty content) is ignored: it does not count for
    /// TTFT. Sets the first byte too if it was not recorded.
    pub fn on_content(&mut self, t: Instant, units: u64) {
        if units == 0 {
            return;
        }
        self.first_byte.get_or_insert(t);
        match self.last_content {
            Some(prev) => {
                if self.gaps.len() < self.max_gaps {
                    self.gaps.push(t.saturating_duration_since(prev));
                } else {
                    self.gaps_dropped += 1;
                }
            }
            None => self.first_content = Some(t),
        }
        self.last_content = Some(t);
        self.content_chunks += 1;
        self.content_units += units;
    }

    /// End of the stream (last byte); the last call wins.
    pub fn on_end(&mut self, t: Instant) {
        self.end = Some(t);
    }

    /// Request sent -> first byte.
    pub fn ttfb(&self) -> Option<Duration> {
        self.first_byte
            .map(|t| t.saturating_duration_since(self.start))
    }

    /// Request sent -> first chunk with non-empty content.
    pub fn ttft(&self) -> Option<Duration> {
        self.first_content
            .map(|t| t.saturating_duration_since(self.start))
    }

    /// Request sent -> end of stream.
    pub fn e2e(&self) -> Option<Duration> {
        self.end.map(|t| t.saturating_duration_since(self.start))
    }

    /// Inter-token latency: (last content chunk - first content chunk) / (output_tokens - 1), truncated to the
    /// nanosecond; `None` when `output_tokens < 2` or there was no content.
    pub fn itl(&self, output_tokens: u64) -> Option<Duration> {
        let span = self
            .last_content?
            .saturating_duration_since(self.first_content?);
        div(span, output_tokens.checked_sub(1)?)
    }

    /// Time per output token after the first (vLLM's TPOT): (end - first content chunk) / (output_tokens - 1).
    /// Unlike [`itl`](Self::itl) it includes the tail after the last content (usage chunk, end marker).
    pub fn tpot(&self, output_tokens: u64) -> Option<Duration> {
        let span = self.end?.saturating_duration_since(self.first_content?);
        div(span, output_tokens.checked_sub(1)?)
    }

    /// Output rate of this request: output_tokens / (end - first content chunk), in tokens per second; `None`
    /// without content, without an end, with zero tokens or a zero span.
    pub fn output_tokens_per_sec(&self, output_tokens: u64) -> Option<f64> {
        let span = self.end?.saturating_duration_since(self.first_content?);
        (output_tokens > 0 && !span.is_zero()).then(|| output_tokens as f64 / span.as_secs_f64())
    }

    /// Gaps between consecutive content chunks, in order (at most the gap limit).
    pub fn gaps(&self) -> &[Duration] {
        &self.gaps
    }

    /// Gaps not stored because the limit was reached.
    pub fn gaps_dropped(&self) -> u64 {
        self.gaps_dropped
    }

    /// Number of chunks with non-empty content.
    pub fn content_chunks(&self) -> u64 {
        self.content_chunks
    }

    /// Sum of the `units` given to [`on_content`](Self::on_content).
    pub fn content_units(&self) -> u64 {
        self.content_units
    }

    /// Heap bytes held by the gap list.
    pub fn heap_bytes(&self) -> usize {
        self.gaps.capacity() * std::mem::size_of::<Duration>()
    }

    /// All figures at once, for `output_tokens` (server usage, else an estimate such as the chunk count).
    pub fn times(&self, output_tokens: u64) -> StreamTimes {
        StreamTimes {
            ttfb: self.ttfb(),
            ttft: self.ttft(),
            itl: self.itl(output_tokens),
            tpot: self.tpot(output_tokens),
            e2e: self.e2e(),
            output_tokens_per_sec: self.output_tokens_per_sec(output_tokens),
            content_chunks: self.content_chunks,
        }
    }
}

fn div(d: Duration, n: u64) -> Option<Duration> {
    if n == 0 {
        return None;
    }
    let nanos = d.as_nanos() / u128::from(n);
    Some(Duration::from_nanos(
        u64::try_from(nanos).unwrap_or(u64::MAX),
    ))
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
        let field = |k: &str| u.get(k).and_then(Value::as_u64);
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
            let field = |k: &str| u.get(k).and_then(Value::as_u64);
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

/// At most 200 characters of a payload, for error details.
fn clip(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
            id: None,
        }
    }

    /// Parse `bytes` cut at `cuts` (ascending positions), draining after every push.
    fn parse_cut(p: &mut SseParser, bytes: &[u8], cuts: &[usize]) -> (Vec<SseEvent>, StreamEnd) {
        let mut out = Vec::new();
        let mut from = 0;
        for &c in cuts.iter().chain(std::iter::once(&bytes.len())) {
            p.push(&bytes[from..c]).unwrap();
            while let Some(e) = p.next_event() {
                out.push(e);
            }
            from = c;
        }
        let end = p.finish();
        while let Some(e) = p.next_event() {
            out.push(e);
        }
        (out, end)
    }

    fn parse(bytes: &[u8]) -> (Vec<SseEvent>, StreamEnd) {
        parse_cut(&mut SseParser::new(), bytes, &[])
    }

    /// Same events and end whole, cut once at every position, cut twice at nearby positions, and byte by byte.
    fn check_all_splits(bytes: &[u8], want: &[SseEvent], partial: bool) {
        let mut p = SseParser::new(); // reused: finish() must leave it ready for the next stream
        let (got, end) = parse_cut(&mut p, bytes, &[]);
        assert_eq!(got, want, "whole");
        assert_eq!(end.partial, partial, "whole");
        for i in 0..=bytes.len() {
            let (got, end) = parse_cut(&mut p, bytes, &[i]);
            assert_eq!(got, want, "cut at {i}");
            assert_eq!(end.partial, partial, "cut at {i}");
            for j in i..bytes.len().min(i + 6) {
                let (got, _) = parse_cut(&mut p, bytes, &[i, j]);
                assert_eq!(got, want, "cut at {i} and {j}");
            }
        }
        let every: Vec<usize> = (1..bytes.len()).collect();
        let (got, end) = parse_cut(&mut p, bytes, &every);
        assert_eq!(got, want, "byte by byte");
        assert_eq!(end.partial, partial, "byte by byte");
    }

    const O1: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}"#;
    const O2: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}"#;
    const O3: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"lo ✓ é"},"finish_reason":null}],"usage":null}"#;
    const O4: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#;
    const O5: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;

    fn openai_body() -> String {
        format!(
            "data: {O1}\n\ndata: {O2}\n\n: keep-alive\n\ndata: {O3}\n\ndata: {O4}\n\ndata: {O5}\n\ndata: [DONE]\n\n"
        )
    }

    fn openai_events() -> Vec<SseEvent> {
        vec![
            ev(None, O1),
            ev(None, O2),
            ev(None, O3),
            ev(None, O4),
            ev(None, O5),
            ev(None, "[DONE]"),
        ]
    }

    #[test]
    fn openai_stream_every_split_lf_crlf_cr() {
        let body = openai_body();
        let want = openai_events();
        check_all_splits(body.as_bytes(), &want, false);
        check_all_splits(body.replace('\n', "\r\n").as_bytes(), &want, false);
        check_all_splits(body.replace('\n', "\r").as_bytes(), &want, false);
        let items: Vec<StreamItem> = want.iter().map(classify_openai).collect();
        assert_eq!(
            items,
            vec![
                StreamItem::Ignored,
                StreamItem::Content("Hel".into()),
                StreamItem::Content("lo ✓ é".into()),
                StreamItem::Ignored,
                StreamItem::Usage {
                    input: 12,
                    output: 3
                },
                StreamItem::Done,
            ]
        );
    }

    const COZE: &str = r#"event:conversation.chat.created
data:{"id":"ch1","conversation_id":"cv1","bot_id":"b1","status":"created"}

event:conversation.chat.in_progress
data:{"id":"ch1","conversation_id":"cv1","bot_id":"b1","status":"in_progress"}

event:conversation.message.delta
data:{"id":"m0","chat_id":"ch1","role":"assistant","type":"function_call","content":"{\"name\":\"search\"}","content_type":"text"}

event:conversation.message.delta
data:{"id":"m1","chat_id":"ch1","role":"assistant","type":"answer","content":"你好","content_type":"text"}

event:conversation.message.delta
data:{"id":"m1","chat_id":"ch1","role":"assistant","type":"answer","content":"!","content_type":"text"}

event:conversation.message.completed
data:{"id":"m1","chat_id":"ch1","role":"assistant","type":"answer","content":"你好!","content_type":"text"}

event:conversation.message.completed
data:{"id":"m2","chat_id":"ch1","role":"assistant","type":"follow_up","content":"Tell me more?","content_type":"text"}

event:conversation.chat.completed
data:{"id":"ch1","conversation_id":"cv1","bot_id":"b1","completed_at":1718792949,"last_error":{"code":0,"msg":""},"status":"completed","usage":{"token_count":30,"output_count":4,"input_count":26}}

event:done
data:"[DONE]"

"#;

    #[test]
    fn coze_stream_every_split() {
        let want = vec![
            ev(
                Some("conversation.chat.created"),
                r#"{"id":"ch1","conversation_id":"cv1","bot_id":"b1","status":"created"}"#,
            ),
            ev(
                Some("conversation.chat.in_progress"),
                r#"{"id":"ch1","conversation_id":"cv1","bot_id":"b1","status":"in_progress"}"#,
            ),
            ev(
                Some("conversation.message.delta"),
                r#"{"id":"m0","chat_id":"ch1","role":"assistant","type":"function_call","content":"{\"name\":\"search\"}","content_type":"text"}"#,
            ),
            ev(
                Some("conversation.message.delta"),
                r#"{"id":"m1","chat_id":"ch1","role":"assistant","type":"answer","content":"你好","content_type":"text"}"#,
            ),
            ev(
                Some("conversation.message.delta"),
                r#"{"id":"m1","chat_id":"ch1","role":"assistant","type":"answer","content":"!","content_type":"text"}"#,
            ),
            ev(
                Some("conversation.message.completed"),
                r#"{"id":"m1","chat_id":"ch1","role":"assistant","type":"answer","content":"你好!","content_type":"text"}"#,
            ),
            ev(
                Some("conversation.message.completed"),
                r#"{"id":"m2","chat_id":"ch1","role":"assistant","type":"follow_up","content":"Tell me more?","content_type":"text"}"#,
            ),
            ev(
                Some("conversation.chat.completed"),
                r#"{"id":"ch1","conversation_id":"cv1","bot_id":"b1","completed_at":1718792949,"last_error":{"code":0,"msg":""},"status":"completed","usage":{"token_count":30,"output_count":4,"input_count":26}}"#,
            ),
            ev(Some("done"), r#""[DONE]""#),
        ];
        check_all_splits(COZE.as_bytes(), &want, false);
        check_all_splits(COZE.replace('\n', "\r\n").as_bytes(), &want, false);
        let items: Vec<StreamItem> = want.iter().map(classify_coze).collect();
        assert_eq!(
            items,
            vec![
                StreamItem::Ignored,
                StreamItem::Ignored,
                StreamItem::Ignored,
                StreamItem::Content("你好".into()),
                StreamItem::Content("!".into()),
                StreamItem::Ignored,
                StreamItem::Ignored,
                StreamItem::Usage {
                    input: 26,
                    output: 4
                },
                StreamItem::Done,
            ]
        );
    }

    #[test]
    fn coze_failures_and_usage_fallback() {
        let failed = ev(
            Some("conversation.chat.failed"),
            r#"{"id":"ch1","status":"failed","last_error":{"code":4011,"msg":"insufficient balance"}}"#,
        );
        assert_eq!(
            classify_coze(&failed),
            StreamItem::Error("chat failed: code 4011: insufficient balance".into())
        );
        let err = ev(Some("error"), r#"{"code":4000,"msg":"bad request"}"#);
        assert_eq!(
            classify_coze(&err),
            StreamItem::Error("code 4000: bad request".into())
        );
        let only_total = ev(
            Some("conversation.chat.completed"),
            r#"{"status":"completed","usage":{"token_count":30,"input_count":26}}"#,
        );
        assert_eq!(
            classify_coze(&only_total),
            StreamItem::Usage {
                input: 26,
                output: 4
            }
        );
        let no_usage = ev(
            Some("conversation.chat.completed"),
            r#"{"status":"completed"}"#,
        );
        assert_eq!(classify_coze(&no_usage), StreamItem::Ignored);
        let empty_answer = ev(
            Some("conversation.message.delta"),
            r#"{"type":"answer","content":""}"#,
        );
        assert_eq!(classify_coze(&empty_answer), StreamItem::Ignored);
        let bad = ev(Some("conversation.message.delta"), r#"{"type":"answer","#);
        assert!(matches!(classify_coze(&bad), StreamItem::Malformed(_)));
        assert!(matches!(
            classify_coze(&ev(Some("conversation.chat.requires_action"), "{}")),
            StreamItem::Error(_)
        ));
        assert_eq!(
            classify_coze(&ev(Some("conversation.audio.delta"), "{}")),
            StreamItem::Ignored
        );
    }

    #[test]
    fn openai_error_mid_stream_and_malformed() {
        let body = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"A\"}}]}\n\n",
            "event: error\n",
            "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\",\"code\":null}}\n\n",
            "data: {\"error\":{\"message\":\"Rate limit\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}\n\n",
            "data: {\"choices\":[\n\n",
            "data: 42\n\n",
            "event: error\ndata: upstream gone\n\n",
            "data: [DONE]\n\n",
        );
        let (evs, end) = parse(body.as_bytes());
        assert!(end.is_clean());
        let items: Vec<StreamItem> = evs.iter().map(classify_openai).collect();
        assert_eq!(items.len(), 7);
        assert_eq!(items[0], StreamItem::Content("A".into()));
        assert_eq!(items[1], StreamItem::Error("overloaded".into()));
        assert_eq!(
            items[2],
            StreamItem::Error("code rate_limit_exceeded: Rate limit".into())
        );
        assert!(matches!(&items[3], StreamItem::Malformed(m) if m.contains("{\"choices\":[")));
        assert!(matches!(&items[4], StreamItem::Malformed(_)));
        assert_eq!(items[5], StreamItem::Error("upstream gone".into()));
        assert_eq!(items[6], StreamItem::Done);
    }

    #[test]
    fn openai_tool_call_and_null_content_ignored() {
        let tool = ev(
            None,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]},"finish_reason":null}]}"#,
        );
        assert_eq!(classify_openai(&tool), StreamItem::Ignored);
        let null = ev(
            None,
            r#"{"choices":[{"index":0,"delta":{"content":null}}]}"#,
        );
        assert_eq!(classify_openai(&null), StreamItem::Ignored);
        let error_null = ev(
            None,
            r#"{"error":null,"choices":[{"delta":{"content":"x"}}]}"#,
        );
        assert_eq!(
            classify_openai(&error_null),
            StreamItem::Content("x".into())
        );
    }

    #[test]
    fn multiline_data_fields_and_spaces() {
        let body = b"data: a\ndata:b\ndata\ndata:  c\n\n";
        check_all_splits(body, &[ev(None, "a\nb\n\n c")], false);
        // The event type applies to one event only; comments and unknown fields are ignored.
        let body = b"event: x\n: comment\nfoo: bar\ndata: 1\n\ndata: 2\n\n";
        check_all_splits(body, &[ev(Some("x"), "1"), ev(None, "2")], false);
        // `event` without a colon sets an empty type: the default.
        check_all_splits(b"event: x\nevent\ndata: 1\n\n", &[ev(None, "1")], false);
        // Mixed line endings: CR CR, LF LF, CRLF LF.
        check_all_splits(
            b"data: a\r\rdata: b\n\ndata: c\r\n\n",
            &[ev(None, "a"), ev(None, "b"), ev(None, "c")],
            false,
        );
    }

    #[test]
    fn empty_data_not_dispatched_but_empty_value_is() {
        // No data field: nothing dispatched, and the event type is reset by the blank line.
        check_all_splits(b"event: x\n\ndata: 1\n\n", &[ev(None, "1")], false);
        // `data:` with an empty value is data (empty string), and is dispatched.
        check_all_splits(b"data:\n\ndata\n\n", &[ev(None, ""), ev(None, "")], false);
        // Blank lines only.
        check_all_splits(b"\n\n\r\n\r\r", &[], false);
    }

    #[test]
    fn ids_persist_and_retry() {
        let body = b"id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 9\nid: x\0y\ndata: d\n\n";
        let mut a = ev(None, "a");
        a.id = Some("7".into());
        let mut b = ev(None, "b");
        b.id = Some("7".into());
        let mut d = ev(None, "d");
        d.id = Some("9".into());
        check_all_splits(body, &[a, b, ev(None, "c"), d], false);

        let mut p = SseParser::new();
        p.push(b"retry: 1500\n").unwrap();
        assert_eq!(p.retry(), Some(1500));
        p.push(b"retry: 15a\nretry:\nretry: -1\n").unwrap();
        assert_eq!(p.retry(), Some(1500));
        p.push(b"retry:20\n").unwrap();
        assert_eq!(p.retry(), Some(20));
    }

    #[test]
    fn bom_stripped_once() {
        check_all_splits(b"\xEF\xBB\xBFdata: x\n\n", &[ev(None, "x")], false);
        // A second BOM is part of the first field name, which then is unknown.
        check_all_splits(
            b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n",
            &[ev(None, "y")],
            false,
        );
        // Not a BOM: the bytes are content (here a line with an unknown field name).
        check_all_splits(b"\xEF\xBB\ndata: y\n\n", &[ev(None, "y")], false);
        // A BOM only mid-stream is content.
        let (evs, _) = parse(b"data: \xEF\xBB\xBFz\n\n");
        assert_eq!(evs, vec![ev(None, "\u{FEFF}z")]);
        // Invalid UTF-8 becomes U+FFFD.
        let (evs, _) = parse(b"data: a\xFFb\n\n");
        assert_eq!(evs, vec![ev(None, "a\u{FFFD}b")]);
    }

    #[test]
    fn cut_streams_detected_by_finish() {
        let body = openai_body();
        let done_at = body.find("data: [DONE]").unwrap();
        // Cut on an event boundary: clean for the parser (no [DONE] seen is the caller's business).
        let (evs, end) = parse(&body.as_bytes()[..done_at]);
        assert_eq!(evs, openai_events()[..5]);
        assert!(end.is_clean());
        assert_eq!(end.unterminated, None);
        // `[DONE]` without its blank line: partial, and the unterminated event is reported, not dispatched.
        let (evs, end) = parse(&body.as_bytes()[..done_at + "data: [DONE]\n".len()]);
        assert_eq!(evs.len(), 5);
        assert!(end.partial);
        assert_eq!(end.unterminated, Some(ev(None, "[DONE]")));
        // Cut in the middle of a data line (inside the multi-byte "✓"): partial, nothing pending.
        let mid = body.find('✓').unwrap() + 1;
        for cut in [mid, mid + 1] {
            let (evs, end) = parse(&body.as_bytes()[..cut]);
            assert_eq!(evs, openai_events()[..2]);
            assert!(end.partial);
            assert_eq!(end.unterminated, None);
        }
        // Cut after an event line but before the blank line.
        let (_, end) = parse(b"event: x\n");
        assert!(end.partial);
        // A trailing comment, finished or not, is not an event.
        let (evs, end) = parse(b"data: a\n\n: ping\n: pi");
        assert_eq!(evs, vec![ev(None, "a")]);
        assert!(end.is_clean());
        // Half a BOM then EOF: content bytes without a line end.
        let (_, end) = parse(b"\xEF\xBB");
        assert!(end.partial);
        let (_, end) = parse(b"");
        assert!(end.is_clean());
    }

    #[test]
    fn oversize_line_and_event() {
        // "data: 0123456789" is 16 bytes: at the limit, allowed.
        let mut p = SseParser::with_max_event_bytes(16);
        p.push(b"data: 0123456789\n\n").unwrap();
        assert_eq!(p.next_event(), Some(ev(None, "0123456789")));
        // 17 bytes in one chunk.
        assert_eq!(
            p.push(b"data: 0123456789a\n"),
            Err(SseError::LineTooLong { limit: 16 })
        );
        // Failed for good.
        assert_eq!(
            p.push(b"data: x\n\n"),
            Err(SseError::LineTooLong { limit: 16 })
        );
        // A line that never ends is refused once it passes the limit, before any line end.
        let mut p = SseParser::with_max_event_bytes(16);
        p.push(b"data: 01234567").unwrap();
        assert_eq!(
            p.push(b"89abcdef"),
            Err(SseError::LineTooLong { limit: 16 })
        );
        // Same line finished in a later chunk.
        let mut p = SseParser::with_max_event_bytes(16);
        p.push(b"data: 0123456789").unwrap();
        assert_eq!(p.push(b"a\n"), Err(SseError::LineTooLong { limit: 16 }));
        // Two data lines of 10 bytes: 11 + 11 > 16.
        let mut p = SseParser::with_max_event_bytes(16);
        assert_eq!(
            p.push(b"data: 0123456789\ndata: 0123456789\n"),
            Err(SseError::EventTooLarge { limit: 16 })
        );
        // reset() clears the error.
        p.reset();
        p.push(b"data: ok\n\n").unwrap();
        assert_eq!(p.next_event(), Some(ev(None, "ok")));
    }

    #[test]
    fn find_eol_matches_naive() {
        let mut buf = Vec::new();
        for len in 0..40 {
            for pos in 0..=len {
                for b in [b'\r', b'\n', b'x'] {
                    buf.clear();
                    buf.extend((0..len).map(|i| [0u8, 1, 0x0C, 0x0E, 0x8D, 0x8A, b'a'][i % 7]));
                    if pos < len {
                        buf[pos] = b;
                    }
                    let naive = buf.iter().position(|&c| c == b'\r' || c == b'\n');
                    assert_eq!(find_eol(&buf), naive, "len {len} pos {pos} byte {b}");
                }
            }
        }
    }

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn timer_exact_figures() {
        let b = Instant::now();
        let mut t = StreamTimer::new(at(b, 0));
        t.on_first_byte(at(b, 100));
        t.on_first_byte(at(b, 150)); // ignored
        t.on_content(at(b, 200), 0); // empty content: not a token
        t.on_content(at(b, 250), 3);
        t.on_content(at(b, 300), 5);
        t.on_content(at(b, 380), 4);
        t.on_content(at(b, 500), 2);
        t.on_end(at(b, 520));
        let ms = Duration::from_millis;
        assert_eq!(t.ttfb(), Some(ms(100)));
        assert_eq!(t.ttft(), Some(ms(250)));
        assert_eq!(t.gaps(), &[ms(50), ms(80), ms(120)]);
        assert_eq!(t.content_chunks(), 4);
        assert_eq!(t.content_units(), 14);
        assert_eq!(t.e2e(), Some(ms(520)));
        // (500 - 250) / (6 - 1) = 50 ms; / (4 - 1) = 83.333333 ms truncated.
        assert_eq!(t.itl(6), Some(ms(50)));
        assert_eq!(t.itl(4), Some(Duration::from_nanos(83_333_333)));
        assert_eq!(t.itl(1), None);
        assert_eq!(t.itl(0), None);
        // (520 - 250) / (6 - 1) = 54 ms.
        assert_eq!(t.tpot(6), Some(ms(54)));
        // 27 tokens / 0.270 s = 100 tokens/s.
        let r = t.output_tokens_per_sec(27).unwrap();
        assert!((r - 100.0).abs() < 1e-9, "{r}");
        assert_eq!(t.output_tokens_per_sec(0), None);
        let all = t.times(6);
        assert_eq!(all.itl, Some(ms(50)));
        assert_eq!(all.content_chunks, 4);
        assert_eq!(t.heap_bytes(), t.gaps.capacity() * 16);
    }

    #[test]
    fn timer_without_content_and_gap_limit() {
        let b = Instant::now();
        let mut t = StreamTimer::new(at(b, 0));
        t.on_first_byte(at(b, 40));
        t.on_end(at(b, 90));
        assert_eq!(t.ttft(), None);
        assert_eq!(t.itl(10), None);
        assert_eq!(t.tpot(10), None);
        assert_eq!(t.output_tokens_per_sec(10), None);
        assert_eq!(t.e2e(), Some(Duration::from_millis(90)));

        let mut t = StreamTimer::with_max_gaps(at(b, 0), 2);
        for ms in [10, 20, 40, 70] {
            t.on_content(at(b, ms), 1);
        }
        // No first byte recorded: the first content is.
        assert_eq!(t.ttfb(), Some(Duration::from_millis(10)));
        assert_eq!(
            t.gaps(),
            &[Duration::from_millis(10), Duration::from_millis(20)]
        );
        assert_eq!(t.gaps_dropped(), 1);
        // ITL still uses first and last content: (70 - 10) / 3.
        assert_eq!(t.itl(4), Some(Duration::from_millis(20)));
        // Same instant for first content and end: no rate.
        let mut t = StreamTimer::new(at(b, 0));
        t.on_content(at(b, 5), 1);
        t.on_end(at(b, 5));
        assert_eq!(t.output_tokens_per_sec(1), None);
    }

    #[test]
    fn parser_drives_timer() {
        // Each event arrives 10 ms after the previous one, the first at 100 ms; the role-only chunk does not
        // count, so TTFT is the second event's instant.
        let b = Instant::now();
        let body = openai_body();
        let mut t = StreamTimer::new(at(b, 0));
        let mut p = SseParser::new();
        let mut done = false;
        let mut usage = None;
        for (k, piece) in body.split_inclusive("\n\n").enumerate() {
            let now = at(b, 100 + 10 * k as u64);
            t.on_first_byte(now);
            p.push(piece.as_bytes()).unwrap();
            while let Some(e) = p.next_event() {
                match classify_openai(&e) {
                    StreamItem::Content(s) => t.on_content(now, s.len() as u64),
                    StreamItem::Usage { output, .. } => usage = Some(output),
                    StreamItem::Done => done = true,
                    _ => {}
                }
            }
            t.on_end(now);
        }
        assert!(done && p.finish().is_clean());
        // Pieces: O1@100, O2@110, comment@120, O3@130, O4@140, O5@150, DONE@160.
        assert_eq!(t.ttfb(), Some(Duration::from_millis(100)));
        assert_eq!(t.ttft(), Some(Duration::from_millis(110)));
        assert_eq!(t.gaps(), &[Duration::from_millis(20)]);
        assert_eq!(usage, Some(3));
        assert_eq!(t.content_units(), 3 + "lo ✓ é".len() as u64);
        // (130 - 110) / (3 - 1) = 10 ms.
        assert_eq!(t.itl(3), Some(Duration::from_millis(10)));
        assert_eq!(t.e2e(), Some(Duration::from_millis(160)));
    }
}
