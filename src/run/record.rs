//! One [`Record`] per scheduled request: a row of `requests.csv`. Typed here; the sink writes its bytes by hand
//! (run/row.rs), the same bytes serde and the csv crate give, and serde reads them back.

use serde::{Deserialize, Serialize};

pub(crate) const OP_CREATE: &str = "create_conversation";
pub(crate) const OP_CHAT: &str = "chat";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Error,
    /// In flight when an interruption's grace period ran out.
    Cancelled,
    /// Scheduled but never sent; `not_sent_reason` says why.
    NotSent,
}

/// One scheduled request. Times are milliseconds with three decimals, offsets from the run start.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub target: String,
    pub role: String,
    pub conversation: u64,
    pub user: u64,
    /// 0 for the conversation-create call, 1.. for chat turns.
    pub turn: u32,
    pub op: String,
    pub model: String,
    pub stream: bool,
    pub outcome: Option<Outcome>,
    pub error_kind: String,
    pub not_sent_reason: String,
    pub status: Option<u16>,
    pub attempts: u32,
    pub retries: u32,
    pub scheduled_ms: f64,
    pub sent_ms: Option<f64>,
    pub ttfb_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub latency_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    pub from_scheduled_ms: Option<f64>,
    pub retry_wait_ms: f64,
    /// (last content chunk - first content chunk) / (output tokens - 1), streams only.
    pub itl_ms: Option<f64>,
    /// Largest gap between two content chunks, streams only.
    pub max_gap_ms: Option<f64>,
    pub chunks: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub tokens_estimated: bool,
    pub cost_nano_usd: u64,
    pub canary_phase: Option<u32>,
    pub detail: String,
    /// Part of the warm-up (`traffic.warmup_s`): counted in the accounting, in no statistic.
    #[serde(default)]
    pub warmup: bool,
    /// The target this failed request fell back to (empty when it did not); see `run::fallback`.
    #[serde(default)]
    pub fallback_target: String,
    /// `ok` or `error`: what the user saw after the fallback (empty when there was none).
    #[serde(default)]
    pub fallback_outcome: String,
    /// Time the fallback added after the original target's last attempt ended.
    #[serde(default)]
    pub fallback_latency_ms: Option<f64>,
    /// Webhook events: deliveries that got no acknowledgement within the platform's timeout (see `run::webhook`).
    #[serde(default)]
    pub ack_timeouts: u32,
    /// Webhook events: answers that reached the callback URL for this event before its row closed (0 = lost, more
    /// than 1 = the server processed a redelivery too); empty for other targets.
    #[serde(default)]
    pub answers: Option<u32>,
    /// Webhook events: first delivery sent -> first answer at the callback URL.
    #[serde(default)]
    pub answer_ms: Option<f64>,
}

impl Record {
    pub(crate) fn is_chat(&self) -> bool {
        self.op == OP_CHAT
    }
}

pub fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Iterate the whole records of a `requests.csv`. A trailing partial row (a crash or a full disk cut the last
/// write) is skipped; [`whole_rows_len`] says whether there was one.
pub fn read_records(
    path: &std::path::Path,
) -> Result<impl Iterator<Item = Result<Record, csv::Error>>, csv::Error> {
    use std::io::Read as _;
    let (file, whole) = whole_rows_len(path)?;
    let rdr = csv::Reader::from_reader(std::io::BufReader::new(file.take(whole)));
    Ok(rdr.into_deserialize::<Record>())
}

/// The file opened at its start, and the length of its whole rows: up to and including its last newline. Shorter
/// than the file exactly when the last row is partial.
pub(crate) fn whole_rows_len(path: &std::path::Path) -> std::io::Result<(std::fs::File, u64)> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    let whole = loop {
        if end == 0 {
            break 0;
        }
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            break start + i as u64 + 1;
        }
        end = start;
    };
    f.seek(SeekFrom::Start(0))?;
    Ok((f, whole))
}

/// [`Record`] with its text fields borrowed from the CSV reader's buffer: the report reads millions of rows, and seven
/// owned Strings per row were a third of its time. Same field names and types as [`Record`], so serde gives the same
/// values and the same errors; `tests::borrowed_rows_fill_every_field` fails when the two drift apart.
#[derive(Deserialize)]
struct RecordRef<'a> {
    target: &'a str,
    role: &'a str,
    conversation: u64,
    user: u64,
    turn: u32,
    op: &'a str,
    model: &'a str,
    stream: bool,
    outcome: Option<Outcome>,
    error_kind: &'a str,
    not_sent_reason: &'a str,
    status: Option<u16>,
    attempts: u32,
    retries: u32,
    scheduled_ms: f64,
    sent_ms: Option<f64>,
    ttfb_ms: Option<f64>,
    ttft_ms: Option<f64>,
    latency_ms: Option<f64>,
    e2e_ms: Option<f64>,
    from_scheduled_ms: Option<f64>,
    retry_wait_ms: f64,
    itl_ms: Option<f64>,
    max_gap_ms: Option<f64>,
    chunks: u32,
    input_tokens: u64,
    output_tokens: u64,
    tokens_estimated: bool,
    cost_nano_usd: u64,
    canary_phase: Option<u32>,
    detail: &'a str,
    #[serde(default)]
    warmup: bool,
    #[serde(default)]
    fallback_target: &'a str,
    #[serde(default)]
    fallback_outcome: &'a str,
    #[serde(default)]
    fallback_latency_ms: Option<f64>,
    #[serde(default)]
    ack_timeouts: u32,
    #[serde(default)]
    answers: Option<u32>,
    #[serde(default)]
    answer_ms: Option<f64>,
}

fn set(dst: &mut String, src: &str) {
    dst.clear();
    dst.push_str(src);
}

impl RecordRef<'_> {
    /// Overwrite every field of `r`, reusing its Strings' buffers.
    fn fill(&self, r: &mut Record) {
        set(&mut r.target, self.target);
        set(&mut r.role, self.role);
        r.conversation = self.conversation;
        r.user = self.user;
        r.turn = self.turn;
        set(&mut r.op, self.op);
        set(&mut r.model, self.model);
        r.stream = self.stream;
        r.outcome = self.outcome;
        set(&mut r.error_kind, self.error_kind);
        set(&mut r.not_sent_reason, self.not_sent_reason);
        r.status = self.status;
        r.attempts = self.attempts;
        r.retries = self.retries;
        r.scheduled_ms = self.scheduled_ms;
        r.sent_ms = self.sent_ms;
        r.ttfb_ms = self.ttfb_ms;
        r.ttft_ms = self.ttft_ms;
        r.latency_ms = self.latency_ms;
        r.e2e_ms = self.e2e_ms;
        r.from_scheduled_ms = self.from_scheduled_ms;
        r.retry_wait_ms = self.retry_wait_ms;
        r.itl_ms = self.itl_ms;
        r.max_gap_ms = self.max_gap_ms;
        r.chunks = self.chunks;
        r.input_tokens = self.input_tokens;
        r.output_tokens = self.output_tokens;
        r.tokens_estimated = self.tokens_estimated;
        r.cost_nano_usd = self.cost_nano_usd;
        r.canary_phase = self.canary_phase;
        set(&mut r.detail, self.detail);
        r.warmup = self.warmup;
        set(&mut r.fallback_target, self.fallback_target);
        set(&mut r.fallback_outcome, self.fallback_outcome);
        r.fallback_latency_ms = self.fallback_latency_ms;
        r.ack_timeouts = self.ack_timeouts;
        r.answers = self.answers;
        r.answer_ms = self.answer_ms;
    }
}

/// Call `f` with every record of a `requests.csv`, in order, without allocating per row (one [`Record`] is reused):
/// the same rows and the same errors as [`read_records`], for readers of millions of rows.
pub(crate) fn for_each_record<E: From<csv::Error>>(
    path: &std::path::Path,
    mut f: impl FnMut(&Record) -> Result<(), E>,
) -> Result<(), E> {
    use std::io::Read as _;
    // Whole rows only: a trailing partial row (a crash or a full disk cut the last write) is skipped.
    let (file, whole) = whole_rows_len(path).map_err(csv::Error::from)?;
    let mut rdr = csv::ReaderBuilder::new()
        .buffer_capacity(1 << 20)
        .from_reader(file.take(whole));
    let headers = rdr.headers()?.clone();
    // A file with the columns in [`Record`]'s order (every file cutover writes) is read by position: serde then
    // skips matching 31 column names per row. Any other order is read by name, as `read_records` does.
    let by_name = !headers.iter().eq(csv_header().iter().map(String::as_str));
    let names = by_name.then_some(&headers);
    let mut row = csv::StringRecord::new();
    let mut rec = Record::default();
    while rdr.read_record(&mut row)? {
        row.deserialize::<RecordRef>(names)?.fill(&mut rec);
        f(&rec)?;
    }
    Ok(())
}

/// The CSV header of `requests.csv`, derived from [`Record`]'s fields.
pub(crate) fn csv_header() -> Vec<String> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.serialize(Record::default()).expect("serialisable");
    let data = w.into_inner().expect("in memory");
    let text = String::from_utf8(data).expect("utf8");
    text.lines()
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests;
