//! Goodput and the per-minute series of long runs. Both are fed from `Metrics::add` (metrics.rs)
//! (after the warm-up filter), with one small histogram and three counters per target-minute (~33 KB).

use hdrhistogram::Histogram;

use crate::config::goodput::Goodput;
use crate::run::record::{Outcome, Record};

/// One minute of a target's chat requests, by completion time.
#[derive(Debug, Clone)]
pub(crate) struct Minute {
    /// Latency of ok non-streamed chat requests (microseconds, 2 significant digits: ~1% resolution).
    pub(crate) latency: Histogram<u64>,
    pub(crate) ok: u64,
    pub(crate) errors: u64,
}

impl Default for Minute {
    fn default() -> Self {
        Minute {
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid bounds"),
            ok: 0,
            errors: 0,
        }
    }
}

impl Minute {
    pub(crate) fn error_rate(&self) -> Option<f64> {
        let n = self.ok + self.errors;
        (n > 0).then(|| self.errors as f64 / n as f64)
    }

    pub(crate) fn pct(&self, q: f64) -> Option<f64> {
        (!self.latency.is_empty()).then(|| self.latency.value_at_quantile(q) as f64 / 1000.0)
    }
}

/// Whether a chat request is good: it succeeded within every goodput limit that applies to it.
pub(crate) fn is_good(g: &Goodput, r: &Record) -> bool {
    if !r.is_chat() || r.outcome != Some(Outcome::Ok) {
        return false;
    }
    let within = |limit: Option<f64>, v: Option<f64>| match (limit, v) {
        (Some(l), Some(v)) => v <= l,
        (Some(_), None) => false,
        (None, _) => true,
    };
    if r.stream {
        within(g.ttft_ms, r.ttft_ms)
    } else {
        within(g.latency_ms, r.latency_ms)
    }
}

/// Add a finished chat request to the minute it completed in.
pub(crate) fn add_to_minutes(minutes: &mut Vec<Minute>, r: &Record) {
    add_to_intervals(minutes, r, 60_000.0);
}

/// A width for the over-time chart's intervals: about 40 of them over a run of `elapsed_s`, at a round number of
/// seconds (1, 2, 5, 10, 15, 30, 60, then whole minutes).
pub(crate) fn chart_interval_s(elapsed_s: f64) -> f64 {
    let raw = if elapsed_s.is_finite() {
        elapsed_s / 40.0
    } else {
        1.0
    };
    [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0]
        .into_iter()
        .find(|w| *w >= raw)
        .unwrap_or_else(|| (raw / 60.0).ceil() * 60.0)
}

/// Add a finished chat request to the interval of `width_ms` it completed in (the per-minute series at another
/// width: the report's over-time chart uses the same definition at a width that suits the run's length).
pub(crate) fn add_to_intervals(minutes: &mut Vec<Minute>, r: &Record, width_ms: f64) {
    let (Some(sent), true) = (r.sent_ms, r.is_chat()) else {
        return;
    };
    let done = sent + r.e2e_ms.unwrap_or(0.0);
    let i = (done / width_ms.max(1.0)).floor().max(0.0) as usize;
    if minutes.len() <= i {
        minutes.resize_with(i + 1, Minute::default);
    }
    let m = &mut minutes[i];
    match r.outcome {
        Some(Outcome::Ok) => {
            m.ok += 1;
            if let (false, Some(l)) = (r.stream, r.latency_ms) {
                m.latency
                    .saturating_record((l * 1000.0).round().max(1.0) as u64);
            }
        }
        Some(Outcome::Error) => m.errors += 1,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::record::OP_CHAT;

    fn chat(stream: bool, ok: bool, lat: f64, ttft: f64, done_s: f64) -> Record {
        Record {
            op: OP_CHAT.into(),
            stream,
            outcome: Some(if ok { Outcome::Ok } else { Outcome::Error }),
            latency_ms: Some(lat),
            e2e_ms: Some(lat),
            ttft_ms: stream.then_some(ttft),
            sent_ms: Some(done_s * 1000.0 - lat),
            ..Default::default()
        }
    }

    #[test]
    fn good_means_ok_and_within_the_limits_that_apply() {
        let g = Goodput {
            latency_ms: Some(400.0),
            ttft_ms: Some(800.0),
        };
        assert!(is_good(&g, &chat(false, true, 399.0, 0.0, 1.0)));
        assert!(!is_good(&g, &chat(false, true, 401.0, 0.0, 1.0)));
        assert!(!is_good(&g, &chat(false, false, 10.0, 0.0, 1.0)));
        // a stream is judged on its TTFT, not its (long) total latency
        assert!(is_good(&g, &chat(true, true, 5000.0, 700.0, 1.0)));
        assert!(!is_good(&g, &chat(true, true, 500.0, 900.0, 1.0)));
        let only_ttft = Goodput {
            latency_ms: None,
            ttft_ms: Some(800.0),
        };
        assert!(is_good(&only_ttft, &chat(false, true, 9000.0, 0.0, 1.0)));
    }

    #[test]
    fn minutes_split_by_completion_time() {
        let mut m = Vec::new();
        add_to_minutes(&mut m, &chat(false, true, 100.0, 0.0, 30.0));
        add_to_minutes(&mut m, &chat(false, true, 300.0, 0.0, 59.9));
        add_to_minutes(&mut m, &chat(false, false, 50.0, 0.0, 61.0));
        add_to_minutes(&mut m, &chat(true, true, 2000.0, 100.0, 130.0));
        assert_eq!(m.len(), 3);
        assert_eq!((m[0].ok, m[0].errors), (2, 0));
        assert!((m[0].pct(1.0).unwrap() - 300.0).abs() < 3.0);
        assert_eq!(m[1].error_rate(), Some(1.0));
        // streams count in ok/errors but not in the (non-stream) latency histogram
        assert_eq!((m[2].ok, m[2].pct(0.5)), (1, None));
    }
}
