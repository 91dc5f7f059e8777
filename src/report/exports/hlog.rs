//! HdrHistogram interval logs, `hlog/<target>.<metric>.hlog`: one histogram per interval of the run (by completion
//! time), in the standard log format (version 1.3 header, StartTime/BaseTime, legend, compressed V2 histograms) that
//! HdrHistogram's own readers (Java `HistogramLogReader` / `HistogramLogProcessor`, the Rust and Python ports) read.
//! Values are microseconds; `MaxValueDivisor` 1000 makes the `Interval_Max` column milliseconds.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

use crate::report::error::{io, ReportError};
use crate::run::record::{Outcome, Record};

/// Which histogram a row feeds: non-stream chat latency or stream TTFT, ok rows only (as the report's tables).
fn sample(r: &Record) -> Option<(&'static str, f64)> {
    if r.outcome != Some(Outcome::Ok) || !r.is_chat() {
        return None;
    }
    if r.stream {
        r.ttft_ms.map(|v| ("ttft", v))
    } else {
        r.latency_ms.map(|v| ("latency", v))
    }
}

/// Interval length: one second, or longer for long runs so a log holds at most about 600 intervals.
pub(crate) fn interval_s(window_s: f64) -> u64 {
    ((window_s / 600.0).ceil() as u64).max(1)
}

fn file_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// Samples not yet folded into an interval's counts.
const PENDING: usize = 1024;

/// One interval of one log: counts per histogram bucket, sorted by the bucket's lowest value. A histogram of these
/// bounds is ~190 KB (one per interval held a 1,000,000-row run's logs in 673 MB), and the raw samples grow with the
/// rows; the distinct buckets an interval's samples fall in are bounded by the histogram's resolution (3 significant
/// digits), so a long run's intervals stay small however many rows they hold. Recording a bucket's lowest value
/// `count` times gives the histogram the samples themselves would (same counts; its max and min are reported at the
/// bucket's bounds either way), so the logs are unchanged.
#[derive(Debug, Default)]
struct Slot {
    counts: Vec<(u32, u32)>,
    pending: Vec<u32>,
}

impl Slot {
    fn push(&mut self, bucket: u32) {
        self.pending.push(bucket);
        if self.pending.len() >= PENDING {
            self.fold();
        }
    }

    /// Merge the pending samples into the sorted counts.
    fn fold(&mut self) {
        self.pending.sort_unstable();
        let mut out = Vec::with_capacity(self.counts.len() + 16);
        let mut old = self.counts.iter().copied().peekable();
        let mut new = self.pending.iter().copied().peekable();
        loop {
            let next = match (old.peek(), new.peek()) {
                (None, None) => break,
                (Some(&(k, _)), Some(&v)) if v < k => (v, 0),
                (None, Some(&v)) => (v, 0),
                _ => old.next().expect("peeked"),
            };
            let (k, mut n) = next;
            while new.next_if_eq(&k).is_some() {
                n = n.saturating_add(1);
            }
            out.push((k, n));
        }
        self.counts = out;
        self.pending.clear();
    }

    fn histogram(mut self) -> Histogram<u64> {
        self.fold();
        let mut h = hist();
        for (k, n) in self.counts {
            h.saturating_record_n(u64::from(k), u64::from(n));
        }
        h
    }
}

/// Per interval slot of one log.
type Intervals = BTreeMap<u64, Slot>;

/// The logs of a run, gathered in the report's one pass over requests.csv (`Run::load`).
#[derive(Debug)]
pub(crate) struct Logs {
    step: u64,
    /// Bucket arithmetic only (a histogram of the logs' bounds, never recorded into).
    template: Histogram<u64>,
    /// Per target (in first-seen order, a handful; its name cloned once, not per row), per metric: the intervals.
    by_target: Vec<(String, BTreeMap<&'static str, Intervals>)>,
}

impl Logs {
    /// Logs of a run whose arrivals and finish span `window_s` seconds.
    pub(crate) fn new(window_s: f64) -> Logs {
        Logs {
            step: interval_s(window_s),
            template: hist(),
            by_target: Vec::new(),
        }
    }

    /// Count a row (by its completion time) if it feeds a log.
    pub(crate) fn add(&mut self, r: &Record) {
        let Some((metric, v)) = sample(r) else {
            return;
        };
        let done_ms = r.sent_ms.unwrap_or(r.scheduled_ms) + r.e2e_ms.unwrap_or(0.0);
        let slot = (done_ms.max(0.0) / 1000.0) as u64 / self.step;
        let i = match self.by_target.iter().position(|(t, _)| *t == r.target) {
            Some(i) => i,
            None => {
                self.by_target.push((r.target.clone(), BTreeMap::new()));
                self.by_target.len() - 1
            }
        };
        // Microseconds, at least 1, at most `u32::MAX`: past the histogram's highest trackable value (3.6e9) but
        // inside its last bucket (2^32), so every sample is recorded as it is.
        let us = ((v * 1000.0).round() as u64).clamp(1, u64::from(u32::MAX));
        let bucket = self.template.lowest_equivalent(us) as u32;
        self.by_target[i]
            .1
            .entry(metric)
            .or_default()
            .entry(slot)
            .or_default()
            .push(bucket);
    }
}

/// Write the logs in `dir`/hlog for a run started at `started_utc`; returns the files written (relative to `dir`).
pub(crate) fn write(dir: &Path, started_utc: &str, logs: Logs) -> Result<Vec<String>, ReportError> {
    let step = logs.step;
    let logs: BTreeMap<(String, &'static str), Intervals> = logs
        .by_target
        .into_iter()
        .flat_map(|(t, m)| m.into_iter().map(move |(k, v)| ((t.clone(), k), v)))
        .collect();
    let start = chrono::DateTime::parse_from_rfc3339(started_utc)
        .map(|t| SystemTime::from(t.with_timezone(&chrono::Utc)))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let out = dir.join("hlog");
    if !logs.is_empty() {
        std::fs::create_dir_all(&out).map_err(io(&out))?;
    }
    let mut written = Vec::new();
    for ((target, metric), intervals) in logs {
        let name = format!("{}.{metric}.hlog", file_part(&target));
        let p = out.join(&name);
        let bytes = encode(
            start,
            step,
            intervals.into_iter().map(|(slot, s)| (slot, s.histogram())),
            &format!("{target} {metric}"),
        )
        .map_err(|e| ReportError::Data {
            path: p.display().to_string(),
            message: e,
        })?;
        std::fs::write(&p, bytes).map_err(io(&p))?;
        written.push(format!("hlog/{name}"));
    }
    Ok(written)
}

/// One log: header lines as HdrHistogram's Java writer writes them, then one line per interval.
pub(crate) fn encode<H: std::borrow::Borrow<Histogram<u64>>>(
    start: SystemTime,
    step_s: u64,
    intervals: impl IntoIterator<Item = (u64, H)>,
    what: &str,
) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let secs = start
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let _ = writeln!(
        buf,
        "#[cutover interval log: {what}, values in microseconds]"
    );
    let _ = writeln!(buf, "#[Histogram log format version 1.3]");
    let _ = writeln!(buf, "#[StartTime: {secs:.3} (seconds since epoch)]");
    let _ = writeln!(buf, "#[BaseTime: {secs:.3} (seconds since epoch)]");
    let _ = writeln!(
        buf,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    );
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut w = IntervalLogWriterBuilder::new()
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut buf, &mut serializer)
            .map_err(|e| e.to_string())?;
        for (slot, h) in intervals {
            w.write_histogram(
                h.borrow(),
                Duration::from_secs(slot * step_s),
                Duration::from_secs(step_s),
                None,
            )
            .map_err(|e| format!("{e:?}"))?;
        }
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Serializer as _;

    #[test]
    fn logs_read_back_with_the_same_counts_and_quantiles() {
        let mut a = hist();
        for v in [1_000u64, 2_000, 3_000, 250_000] {
            a.record(v).unwrap();
        }
        let mut b = hist();
        b.record(7_777).unwrap();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        let bytes = encode(start, 1, [(0, &a), (3, &b)], "gw latency").unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.contains("#[Histogram log format version 1.3]\n"),
            "{text}"
        );
        assert_eq!(text.matches("MaxValueDivisor").count(), 1, "{text}");
        let mut got = Vec::new();
        for e in IntervalLogIterator::new(&bytes) {
            if let LogEntry::Interval(i) = e.unwrap() {
                let h: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
                    .deserialize(&mut base64_decode(i.encoded_histogram()).as_slice())
                    .unwrap();
                got.push((i.start_timestamp().as_secs(), h.len(), h.max(), i.max()));
            }
        }
        assert_eq!(
            got,
            vec![
                (0, 4, a.max(), a.max() as f64 / 1000.0),
                (3, 1, b.max(), b.max() as f64 / 1000.0)
            ]
        );
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        // A tiny standard-alphabet decoder, so the test reads the log as a third party would.
        let val = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => 0,
        };
        let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=').collect();
        let mut out = Vec::new();
        for chunk in bytes.chunks(4) {
            let mut n = 0u32;
            for (i, c) in chunk.iter().enumerate() {
                n |= u32::from(val(*c)) << (18 - 6 * i);
            }
            let take = chunk.len() * 6 / 8;
            for i in 0..take {
                out.push((n >> (16 - 8 * i)) as u8);
            }
        }
        out
    }

    /// An interval fed more samples than [`PENDING`] (so folded several times), in no order, with values past the
    /// histogram's top and below its floor, serialises exactly as a histogram of the raw samples would.
    #[test]
    fn an_interval_of_bucket_counts_is_the_histogram_of_its_samples() {
        let mut logs = Logs::new(10.0);
        let mut raw = hist();
        for i in 0..5_000u64 {
            // 37 distinct latencies between 0 and ~6 s; every 1,000th sample 4e9 us, past the highest trackable value.
            let ms = match i % 1_000 {
                0 => 4.0e6,
                _ => ((i * 7_919) % 37) as f64 * 163.271,
            };
            logs.add(&Record {
                target: "gw".into(),
                op: "chat".into(),
                outcome: Some(Outcome::Ok),
                sent_ms: Some(1_000.0),
                e2e_ms: Some(5.0),
                latency_ms: Some(ms),
                ..Default::default()
            });
            raw.saturating_record(((ms * 1000.0).round() as u64).max(1));
        }
        let (_, mut metrics) = logs.by_target.pop().unwrap();
        let mut slots = metrics.remove("latency").unwrap();
        let slot = slots.remove(&1).unwrap(); // done at 1.005 s: interval 1
        assert!(slot.counts.len() <= 37 + 1 && slot.pending.len() < PENDING);
        let h = slot.histogram();
        assert_eq!(
            (h.len(), h.max(), h.min_nz()),
            (5_000, raw.max(), raw.min_nz())
        );
        let bytes = |h: &Histogram<u64>| {
            let mut v = Vec::new();
            V2DeflateSerializer::new().serialize(h, &mut v).unwrap();
            v
        };
        assert_eq!(bytes(&h), bytes(&raw));
    }

    #[test]
    fn interval_grows_for_long_runs() {
        assert_eq!(interval_s(10.0), 1);
        assert_eq!(interval_s(600.0), 1);
        assert_eq!(interval_s(3600.0), 6);
    }
}
