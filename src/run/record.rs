//! One [`Record`] per scheduled request: a row of `requests.csv`. Typed here; serde gives the CSV bytes.

use serde::{Deserialize, Serialize};

pub const OP_CREATE: &str = "create_conversation";
pub const OP_CHAT: &str = "chat";

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
    /// The target this failed request fell back to (empty when it did not); see `run::fallback`.
    #[serde(default)]
    pub fallback_target: String,
    /// `ok` or `error`: what the user saw after the fallback (empty when there was none).
    #[serde(default)]
    pub fallback_outcome: String,
    /// Time the fallback added after the original target's last attempt ended.
    #[serde(default)]
    pub fallback_latency_ms: Option<f64>,
}

impl Record {
    pub fn is_chat(&self) -> bool {
        self.op == OP_CHAT
    }
}

pub fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Iterate the records of a `requests.csv`.
pub fn read_records(
    path: &std::path::Path,
) -> Result<impl Iterator<Item = Result<Record, csv::Error>>, csv::Error> {
    let rdr = csv::Reader::from_path(path)?;
    Ok(rdr.into_deserialize::<Record>())
}

/// The CSV header of `requests.csv`, derived from [`Record`]'s fields.
pub fn csv_header() -> Vec<String> {
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
