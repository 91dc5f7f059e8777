//! Webhook figures per target, from the rows of webhook events (those with an `answers` column): acknowledgement
//! latency, timeouts, redeliveries, duplicates, answer latency and answers lost. Quantiles are the report's one
//! definition ([`crate::measure::stats::quantile`]). Warm-up rows are counted in the accounting, in no figure here.
//!
//! - acknowledgement latency: the acknowledged delivery's own latency (`latency_ms` of ok rows); a delivery that
//!   timed out has none (it is censored at the timeout and counted in `timeouts` instead);
//! - timeout rate: deliveries that timed out / deliveries (first deliveries and redeliveries alike);
//! - duplicates: events whose answer reached the callback URL more than once (the server processed a redelivery as
//!   well as the delivery the platform gave up on);
//! - answers lost: events delivered at least once whose answer never reached the callback URL within
//!   `webhook.answer_timeout_ms` (or before the run was cut off).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::measure::stats::quantile;
use crate::run::record::{Outcome, Record};

#[derive(Debug, Default, Clone)]
struct Tally {
    events: u64,
    sent: u64,
    acknowledged: u64,
    deliveries: u64,
    timeouts: u64,
    retries: u64,
    redelivered: u64,
    duplicates: u64,
    answered: u64,
    ack_ms: Vec<f64>,
    answer_ms: Vec<f64>,
}

/// One webhook target's figures, as the report and `results.json` show them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct WebhookFigures {
    pub(crate) target: String,
    /// Scheduled events (rows), sent ones, and those finally acknowledged.
    pub(crate) events: u64,
    pub(crate) sent: u64,
    pub(crate) acknowledged: u64,
    /// Deliveries (first ones and redeliveries) and those that timed out.
    pub(crate) deliveries: u64,
    pub(crate) timeouts: u64,
    pub(crate) timeout_rate: Option<f64>,
    /// Redeliveries, and the events redelivered at least once.
    pub(crate) retries: u64,
    pub(crate) redelivered_events: u64,
    /// Events answered more than once at the callback URL.
    pub(crate) duplicates: u64,
    pub(crate) answered: u64,
    /// Sent events never answered before their deadline.
    pub(crate) answers_lost: u64,
    pub(crate) answers_lost_rate: Option<f64>,
    pub(crate) ack_p50_ms: Option<f64>,
    pub(crate) ack_p95_ms: Option<f64>,
    pub(crate) ack_p99_ms: Option<f64>,
    pub(crate) answer_p50_ms: Option<f64>,
    pub(crate) answer_p99_ms: Option<f64>,
}

/// Every webhook target's figures.
#[derive(Debug, Default, Clone)]
pub(crate) struct Webhooks {
    targets: BTreeMap<String, Tally>,
}

impl Webhooks {
    pub(crate) fn add(&mut self, r: &Record) {
        // Every row of a webhook target has `answers` (0 until an answer comes); other rows have none.
        let Some(answers) = r.answers else {
            return;
        };
        if r.warmup {
            return;
        }
        if !self.targets.contains_key(&r.target) {
            self.targets.insert(r.target.clone(), Default::default());
        }
        let t = self.targets.get_mut(&r.target).expect("inserted above");
        t.events += 1;
        if r.sent_ms.is_none() {
            return; // not sent or cancelled before its first delivery: no figure beyond the count
        }
        t.sent += 1;
        t.deliveries += u64::from(r.attempts);
        t.timeouts += u64::from(r.ack_timeouts);
        t.retries += u64::from(r.retries);
        t.redelivered += u64::from(r.retries > 0);
        t.duplicates += u64::from(answers > 1);
        t.answered += u64::from(answers > 0);
        if r.outcome == Some(Outcome::Ok) {
            t.acknowledged += 1;
            if let Some(ms) = r.latency_ms {
                t.ack_ms.push(ms);
            }
        }
        if let Some(ms) = r.answer_ms {
            t.answer_ms.push(ms);
        }
    }

    /// Figures of every target that had webhook events, by target name.
    pub(crate) fn figures(&self) -> Vec<WebhookFigures> {
        self.targets
            .iter()
            .map(|(name, t)| {
                let mut ack = t.ack_ms.clone();
                ack.sort_by(f64::total_cmp);
                let mut ans = t.answer_ms.clone();
                ans.sort_by(f64::total_cmp);
                let ratio = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
                // Milliseconds with three decimals, as in requests.csv.
                let q = |v: &[f64], p: f64| quantile(v, p).map(|x| (x * 1e3).round() / 1e3);
                let lost = t.sent - t.answered;
                WebhookFigures {
                    target: name.clone(),
                    events: t.events,
                    sent: t.sent,
                    acknowledged: t.acknowledged,
                    deliveries: t.deliveries,
                    timeouts: t.timeouts,
                    timeout_rate: ratio(t.timeouts, t.deliveries),
                    retries: t.retries,
                    redelivered_events: t.redelivered,
                    duplicates: t.duplicates,
                    answered: t.answered,
                    answers_lost: lost,
                    answers_lost_rate: ratio(lost, t.sent),
                    ack_p50_ms: q(&ack, 0.5),
                    ack_p95_ms: q(&ack, 0.95),
                    ack_p99_ms: q(&ack, 0.99),
                    answer_p50_ms: q(&ans, 0.5),
                    answer_p99_ms: q(&ans, 0.99),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(outcome: Outcome, attempts: u32, timeouts: u32, answers: u32, ack: f64) -> Record {
        Record {
            target: "w".into(),
            outcome: Some(outcome),
            sent_ms: Some(1.0),
            attempts,
            retries: attempts.saturating_sub(1),
            ack_timeouts: timeouts,
            answers: Some(answers),
            latency_ms: Some(ack),
            answer_ms: (answers > 0).then_some(ack + 100.0),
            ..Default::default()
        }
    }

    #[test]
    fn figures_count_deliveries_timeouts_duplicates_and_lost_answers() {
        let mut w = Webhooks::default();
        w.add(&row(Outcome::Ok, 1, 0, 1, 10.0));
        w.add(&row(Outcome::Ok, 2, 1, 2, 30.0)); // timed out, redelivered, answered twice
        w.add(&row(Outcome::Error, 3, 3, 0, 0.0)); // never acknowledged, never answered
        w.add(&row(Outcome::Ok, 1, 0, 1, 20.0));
        w.add(&Record {
            target: "w".into(),
            outcome: Some(Outcome::NotSent),
            answers: Some(0),
            ..Default::default()
        });
        w.add(&Record {
            target: "chat".into(),
            outcome: Some(Outcome::Ok),
            ..Default::default()
        }); // not a webhook row
        w.add(&Record {
            warmup: true,
            ..row(Outcome::Ok, 2, 1, 2, 99.0)
        });
        let v = w.figures();
        assert_eq!(v.len(), 1);
        let f = &v[0];
        assert_eq!((f.events, f.sent, f.acknowledged), (5, 4, 3));
        assert_eq!((f.deliveries, f.timeouts, f.retries), (7, 4, 3));
        assert_eq!(f.timeout_rate, Some(4.0 / 7.0));
        assert_eq!((f.redelivered_events, f.duplicates), (2, 1));
        assert_eq!((f.answered, f.answers_lost), (3, 1));
        assert_eq!(f.answers_lost_rate, Some(0.25));
        // Acknowledged deliveries 10, 20, 30 ms; answers 110, 120, 130 ms (linear interpolation).
        assert_eq!(f.ack_p50_ms, Some(20.0));
        assert_eq!(f.ack_p99_ms, Some(29.8));
        assert_eq!(f.answer_p50_ms, Some(120.0));
    }
}
