//! HdrHistogram interval logs, `hlog/<target>.<metric>.hlog`: one histogram per interval of the run (by completion
//! time), in the standard log format (version 1.3 header, StartTime/BaseTime, legend, compressed V2 histograms) that
//! HdrHistogram's own readers (Java `HistogramLogReader` / `HistogramLogProcessor`, the Rust and Python ports) read.
//! Values are microseconds; `MaxValueDivisor` 1000 makes the `Interval_Max` column milliseconds.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

use crate::report::error::{io, ReportError};
use crate::report::rundir::Run;
use crate::run::record::{for_each_record, Outcome, Record};

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

/// Per interval slot, the samples (microseconds, at least 1, clamped to `u32::MAX`, above the histogram's highest
/// trackable value so `saturating_record` treats them alike). A histogram of these bounds is ~360 KB, so one per slot
/// per metric held a run's whole log in histograms (673 MB for 1,000,000 rows over 53 minutes); each is now built
/// from its samples when its line is written, and dropped.
type Intervals = BTreeMap<u64, Vec<u32>>;

/// Write the logs; returns the files written (relative to `dir`).
pub(crate) fn write(run: &Run) -> Result<Vec<String>, ReportError> {
    let dir = &run.dir;
    let csv = dir.join("requests.csv");
    let data_err = |e: csv::Error| ReportError::Data {
        path: csv.display().to_string(),
        message: e.to_string(),
    };
    let step = interval_s(run.meta.elapsed_s.max(run.meta.window_s()));
    // Per target (in first-seen order, a handful), per metric: the intervals. Rows are read borrowed into one
    // reused record (`for_each_record`), and a target's name is cloned once, not per row.
    let mut by_target: Vec<(String, BTreeMap<&'static str, Intervals>)> = Vec::new();
    for_each_record(&csv, |r: &Record| -> Result<(), csv::Error> {
        let Some((metric, v)) = sample(r) else {
            return Ok(());
        };
        let done_ms = r.sent_ms.unwrap_or(r.scheduled_ms) + r.e2e_ms.unwrap_or(0.0);
        let slot = (done_ms.max(0.0) / 1000.0) as u64 / step;
        let i = match by_target.iter().position(|(t, _)| *t == r.target) {
            Some(i) => i,
            None => {
                by_target.push((r.target.clone(), BTreeMap::new()));
                by_target.len() - 1
            }
        };
        let us = ((v * 1000.0).round() as u64).clamp(1, u64::from(u32::MAX)) as u32;
        by_target[i]
            .1
            .entry(metric)
            .or_default()
            .entry(slot)
            .or_default()
            .push(us);
        Ok(())
    })
    .map_err(data_err)?;
    let logs: BTreeMap<(String, &'static str), Intervals> = by_target
        .into_iter()
        .flat_map(|(t, m)| m.into_iter().map(move |(k, v)| ((t.clone(), k), v)))
        .collect();
    let start = chrono::DateTime::parse_from_rfc3339(&run.meta.started_utc)
        .map(|t| SystemTime::from(t.with_timezone(&chrono::Utc)))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let out = dir.join("hlog");
    if !logs.is_empty() {
        std::fs::create_dir_all(&out).map_err(io(&out))?;
    }
    let mut written = Vec::new();
    for ((target, metric), intervals) in &logs {
        let name = format!("{}.{metric}.hlog", file_part(target));
        let p = out.join(&name);
        let bytes = encode(
            start,
            step,
            intervals.iter().map(|(slot, us)| (*slot, hist_of(us))),
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

fn hist_of(us: &[u32]) -> Histogram<u64> {
    let mut h = hist();
    for &v in us {
        h.saturating_record(u64::from(v));
    }
    h
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

    #[test]
    fn interval_grows_for_long_runs() {
        assert_eq!(interval_s(10.0), 1);
        assert_eq!(interval_s(600.0), 1);
        assert_eq!(interval_s(3600.0), 6);
    }
}
