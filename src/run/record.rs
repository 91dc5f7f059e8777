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
    /// Part of the warm-up (`traffic.warmup_s`): counted in the accounting, in no statistic.
    #[serde(default)]
    pub warmup: bool,
}

impl Record {
    pub fn is_chat(&self) -> bool {
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
pub fn whole_rows_len(path: &std::path::Path) -> std::io::Result<(std::fs::File, u64)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_partial_row_is_skipped_and_detected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("requests.csv");
        let mut w = csv::Writer::from_writer(vec![]);
        for i in 0..3 {
            w.serialize(Record {
                target: "gw".into(),
                conversation: i,
                outcome: Some(Outcome::Ok),
                ..Default::default()
            })
            .unwrap();
        }
        let whole = w.into_inner().unwrap();
        std::fs::write(&p, &whole).unwrap();
        assert_eq!(whole_rows_len(&p).unwrap().1, whole.len() as u64);
        let mut cut = whole.clone();
        cut.extend_from_slice(b"gw,gateway,999,3,1,chat,m1,fal");
        std::fs::write(&p, &cut).unwrap();
        assert_eq!(whole_rows_len(&p).unwrap().1, whole.len() as u64);
        let rows: Vec<Record> = read_records(&p).unwrap().map(Result::unwrap).collect();
        assert_eq!(
            rows.iter().map(|r| r.conversation).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        std::fs::write(&p, b"target,ro").unwrap();
        assert_eq!(whole_rows_len(&p).unwrap().1, 0);
        assert_eq!(read_records(&p).unwrap().count(), 0);
    }
}
