//! The load generator's own health, so a result limited by cutover (or by the scenario's caps) is not read as the
//! target's: the send lag (first send - scheduled instant) of every sent request, and the arrivals dropped because
//! `limits.max_in_flight` was full. k6 warns the same way ("insufficient VUs", dropped iterations).

use serde::Serialize;

use super::metrics::{pct, round_ms, TargetMetrics};

/// A send this far behind its schedule counts as late.
pub(crate) const LATE_MS: f64 = 10.0;
/// The generator is flagged when more than 1% of sends, and at least this many, were late: one slow start-up send
/// in a short run is not a rate problem.
pub(crate) const MIN_LATE: u64 = 10;

/// The `not_sent_reason` of an arrival dropped because the in-flight cap was full.
pub(crate) const DROPPED_REASON: &str = "max_in_flight";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct GeneratorFigures {
    /// Requests sent (the lag's sample count).
    pub(crate) sent: u64,
    pub(crate) send_lag_p50_ms: Option<f64>,
    pub(crate) send_lag_p99_ms: Option<f64>,
    pub(crate) send_lag_max_ms: Option<f64>,
    /// Sends more than [`LATE_MS`] behind their schedule.
    pub(crate) late_sends: u64,
    /// Arrivals not sent because `limits.max_in_flight` requests were already in flight.
    pub(crate) dropped_max_in_flight: u64,
    /// Why the offered rate fell short of the plan, when it did; None when the generator kept up.
    pub(crate) limited_by_generator: Option<String>,
}

pub(crate) fn generator_figures(t: &TargetMetrics) -> GeneratorFigures {
    let h = &t.send_lag;
    let p99 = pct(h, 0.99);
    let dropped = t
        .not_sent_by_reason
        .get(DROPPED_REASON)
        .copied()
        .unwrap_or(0);
    let mut why = Vec::new();
    if dropped > 0 {
        why.push(format!(
            "{dropped} arrivals dropped: limits.max_in_flight was full (raise it, or run more shards)"
        ));
    }
    // Over LATE_MS: from the first histogram bucket above the one holding LATE_MS itself (3 significant digits).
    let late = h.count_between(
        h.highest_equivalent((LATE_MS * 1000.0) as u64) + 1,
        u64::MAX,
    );
    if late >= MIN_LATE && late * 100 > h.len() {
        why.push(format!(
            "{late} of {} sends left over {LATE_MS} ms behind the schedule (p99 {} ms): the generator's CPU or \
             limits.max_rps held the rate back",
            h.len(),
            crate::format::opt(p99, 1)
        ));
    }
    GeneratorFigures {
        sent: h.len(),
        send_lag_p50_ms: pct(h, 0.5),
        send_lag_p99_ms: p99,
        send_lag_max_ms: (!h.is_empty()).then(|| round_ms(h.max() as f64 / 1000.0)),
        late_sends: late,
        dropped_max_in_flight: dropped,
        limited_by_generator: (!why.is_empty()).then(|| why.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::record::{Outcome, Record};

    fn sent(lag_ms: f64) -> Record {
        Record {
            target: "g".into(),
            op: crate::run::record::OP_CHAT.into(),
            outcome: Some(Outcome::Ok),
            scheduled_ms: 1000.0,
            sent_ms: Some(1000.0 + lag_ms),
            latency_ms: Some(10.0),
            ..Default::default()
        }
    }

    #[test]
    fn a_punctual_generator_is_not_flagged() {
        let mut t = TargetMetrics::default();
        for i in 0..100 {
            t.add(&sent(0.05 + f64::from(i) * 0.001));
        }
        let g = generator_figures(&t);
        assert_eq!(g.sent, 100);
        assert_eq!(g.send_lag_p50_ms, Some(0.1)); // 0.099 ms at 0.1 ms precision
        assert_eq!(g.limited_by_generator, None);
    }

    #[test]
    fn late_sends_and_dropped_arrivals_are_named() {
        let mut t = TargetMetrics::default();
        for i in 0..1000 {
            // 980 on time, 20 a full 40 ms late (2%): p99 is late.
            t.add(&sent(if i < 980 { 0.1 } else { 40.0 }));
        }
        let mut dropped = sent(0.0);
        dropped.outcome = Some(Outcome::NotSent);
        dropped.sent_ms = None;
        dropped.not_sent_reason = DROPPED_REASON.into();
        t.add(&dropped);
        let g = generator_figures(&t);
        assert_eq!(g.sent, 1000, "an unsent arrival has no lag");
        assert_eq!(g.dropped_max_in_flight, 1);
        assert_eq!(g.late_sends, 20);
        assert_eq!(g.send_lag_p99_ms, Some(40.0));
        let why = g.limited_by_generator.expect("flagged");
        assert!(
            why.contains("1 arrivals dropped") && why.contains("20 of 1000 sends"),
            "{why}"
        );
    }

    #[test]
    fn a_few_late_sends_in_a_short_run_are_not_a_rate_problem() {
        let mut t = TargetMetrics::default();
        for i in 0..100 {
            // 9 of 100 late: over 1%, but under the minimum count.
            t.add(&sent(if i < 91 { 0.1 } else { 40.0 }));
        }
        let g = generator_figures(&t);
        assert_eq!(g.late_sends, 9);
        assert_eq!(g.limited_by_generator, None);
        // exactly 10 ms is not late; just over it is
        let mut t = TargetMetrics::default();
        for _ in 0..10 {
            t.add(&sent(10.0));
        }
        assert_eq!(generator_figures(&t).late_sends, 0);
        for _ in 0..10 {
            t.add(&sent(10.05));
        }
        assert_eq!(generator_figures(&t).late_sends, 10);
    }
}
