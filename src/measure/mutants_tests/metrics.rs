//! Tests written against the `metrics.rs` mutants the run of 2026-12-07 found alive (docs/mutants.md). Expected
//! figures are worked out in the comments from the rows each test adds.

use super::{chat, ok};
use crate::config::metric::Metric;
use crate::measure::metrics::{Figure, Metrics};
use crate::run::record::{Outcome, Record, OP_CREATE};

#[test]
fn unavailable_creates_count_in_the_target_total() {
    let mut m = Metrics::new(1000.0, 10.0);
    // One chat and one create, each a 503: both are unavailability.
    let err = |conv, turn| Record {
        error_kind: "http_503".into(),
        ..chat(conv, turn, "m", false, Outcome::Error)
    };
    m.add(&err(0, 1));
    m.add(&Record {
        op: OP_CREATE.into(),
        ..err(1, 0)
    });
    let all = m.targets["g"].all();
    assert_eq!((all.errors, all.unavailable), (2, 2));
    assert_eq!(m.metric("g", "availability"), Some(0.0));
}

#[test]
fn every_count_is_a_figure_of_its_own() {
    // Two cancelled streams; one ok chat (2 attempts, 10 tokens in, 20 out); one estimated ok chat (3 in, 4 out);
    // an error; a request not sent.
    let mut m = Metrics::new(1000.0, 10.0);
    m.add(&chat(0, 1, "m", true, Outcome::Cancelled));
    m.add(&chat(1, 1, "m", true, Outcome::Cancelled));
    m.add(&Record {
        attempts: 2,
        retries: 1,
        input_tokens: 10,
        output_tokens: 20,
        ..ok(2, 1, "m", false, 100.0, 0.0)
    });
    m.add(&Record {
        input_tokens: 3,
        output_tokens: 4,
        tokens_estimated: true,
        ..ok(3, 1, "m", false, 100.0, 0.0)
    });
    m.add(&chat(4, 1, "m", false, Outcome::Error));
    m.add(&chat(5, 1, "m", false, Outcome::NotSent));
    // summary.csv's columns (thresholds name most of them, not `cancelled`).
    let all = m.targets["g"].all();
    let counts: Vec<Option<Figure>> = [
        Metric::Requests,
        Metric::Ok,
        Metric::Errors,
        Metric::Cancelled,
        Metric::NotSent,
        Metric::Retries,
        Metric::InputTokens,
        Metric::OutputTokens,
        Metric::EstimatedTokenRows,
    ]
    .into_iter()
    .map(|k| all.figure(k))
    .collect();
    let want = [6, 2, 1, 2, 1, 1, 13, 24, 1].map(|c| Some(Figure::Count(c)));
    assert_eq!(counts, want);
}

#[test]
fn retries_of_creates_count_in_the_target_total() {
    let mut m = Metrics::new(1000.0, 10.0);
    m.add(&Record {
        retries: 2,
        attempts: 3,
        ..ok(0, 1, "m", false, 100.0, 0.0)
    });
    m.add(&Record {
        op: OP_CREATE.into(),
        retries: 1,
        attempts: 2,
        ..ok(0, 0, "m", false, 5.0, 0.0)
    });
    let all = m.targets["g"].all();
    assert_eq!((all.retries, all.attempts), (3, 5));
}

#[test]
fn a_stream_that_came_in_one_chunk_adds_nothing_to_tokens_per_second() {
    // 5 tokens at ITL 10 ms: 4 tokens over 40 ms. 3 tokens in one chunk (ITL 0): no time to divide by, so its tokens
    // stay out too. 4 / 0.040 s = 100 tokens/s.
    let mut m = Metrics::new(1000.0, 10.0);
    for (conv, tokens, itl) in [(0, 5, 10.0), (1, 3, 0.0)] {
        m.add(&Record {
            output_tokens: tokens,
            itl_ms: Some(itl),
            ..ok(conv, 1, "m", true, 100.0, 0.0)
        });
    }
    assert_eq!(m.metric("g", "output_tokens_per_s"), Some(100.0));
}

#[test]
fn send_lag_is_how_late_a_request_left_after_its_scheduled_instant() {
    let mut m = Metrics::new(1000.0, 10.0);
    // Scheduled at 100 ms and 200 ms, sent at 130 ms and 200 ms: 30 ms late, and on time (the 1 µs floor).
    for (conv, sched, sent) in [(0, 100.0, 130.0), (1, 200.0, 200.0)] {
        m.add(&Record {
            scheduled_ms: sched,
            ..ok(conv, 1, "m", false, 50.0, sent)
        });
    }
    let lag = &m.targets["g"].send_lag.0;
    assert_eq!(lag.len(), 2);
    assert_eq!(lag.max(), lag.highest_equivalent(30_000));
    assert_eq!(lag.min(), 1);
}

#[test]
fn the_over_time_series_follows_the_interval_when_one_is_set() {
    // 500 ms intervals: ok chats done at 10 + 110 = 120 ms and 600 + 110 = 710 ms, an error done at 1,100 + 0.
    let mut m = Metrics::new(1000.0, 10.0);
    m.interval_s = 0.5;
    m.add(&ok(0, 1, "m", false, 100.0, 10.0));
    m.add(&ok(1, 1, "m", false, 100.0, 600.0));
    m.add(&Record {
        sent_ms: Some(1100.0),
        ..chat(2, 1, "m", false, Outcome::Error)
    });
    let series: Vec<(u64, u64)> = m.targets["g"]
        .per_interval
        .iter()
        .map(|i| (i.ok, i.errors))
        .collect();
    assert_eq!(series, [(1, 0), (1, 0), (0, 1)]);
    // Without an interval there is no such series.
    let mut m = Metrics::new(1000.0, 10.0);
    m.add(&ok(0, 1, "m", false, 100.0, 10.0));
    assert!(m.targets["g"].per_interval.is_empty());
}

#[test]
fn latency_by_model_keeps_the_stream_modes_apart() {
    // Model m streamed, then plain, then streamed again; model n plain: three groups, each with its own rows.
    let mut m = Metrics::new(1000.0, 10.0);
    m.add(&ok(0, 1, "m", true, 100.0, 0.0));
    m.add(&ok(1, 1, "m", false, 200.0, 0.0));
    m.add(&ok(2, 1, "m", true, 300.0, 0.0));
    m.add(&ok(3, 1, "n", false, 400.0, 0.0));
    let groups: Vec<(&str, bool, u64, u64)> = m.targets["g"]
        .by_model
        .iter()
        .map(|((model, stream), g)| (model.as_str(), *stream, g.requests, g.latency.len()))
        .collect();
    assert_eq!(
        groups,
        [("m", false, 1, 1), ("m", true, 2, 2), ("n", false, 1, 1)]
    );
}

#[test]
fn metrics_read_back_from_requests_csv() {
    // Conversation 0: one ok chat costing 1,000 nano-USD; conversation 1: a request never sent (incomplete).
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("requests.csv");
    let mut w = csv::Writer::from_path(&p).unwrap();
    w.serialize(Record {
        cost_nano_usd: 1000,
        ..ok(0, 1, "m", false, 100.0, 0.0)
    })
    .unwrap();
    w.serialize(chat(1, 1, "m", false, Outcome::NotSent))
        .unwrap();
    w.flush().unwrap();
    drop(w);
    let m = Metrics::from_csv(&p, 1000.0, 10.0).unwrap();
    assert_eq!(m.metric("g", "requests"), Some(2.0));
    // 1 finished request over the 10 s window.
    assert_eq!(m.metric("g", "rps"), Some(0.1));
    // Only conversation 0 is measured whole: 1,000 nano-USD x 1,000 conversations a day x 30 days = $0.03.
    assert_eq!(m.targets["g"].measured_conversations(), 1);
    let monthly = m.metric("g", "monthly_cost_usd").unwrap();
    assert!((monthly - 0.03).abs() < 1e-12, "{monthly}");
}

#[test]
fn cancelled_and_estimated_creates_count_in_the_target_total() {
    // Chat: one cancelled, one estimated ok. Creates: one cancelled, two estimated ok.
    let mut m = Metrics::new(1000.0, 10.0);
    let estimated = |conv, turn| Record {
        tokens_estimated: true,
        ..ok(conv, turn, "m", false, 5.0, 0.0)
    };
    let create = |r: Record| Record {
        op: OP_CREATE.into(),
        ..r
    };
    m.add(&chat(0, 1, "m", false, Outcome::Cancelled));
    m.add(&estimated(1, 1));
    m.add(&create(chat(2, 0, "m", false, Outcome::Cancelled)));
    m.add(&create(estimated(3, 0)));
    m.add(&create(estimated(4, 0)));
    let all = m.targets["g"].all();
    assert_eq!((all.cancelled, all.estimated_rows), (2, 3));
}

#[test]
fn failed_streams_give_no_ttft_sample_for_the_verdict() {
    // A cancelled stream and a cut one, each with a first token; one ok stream at TTFT 40 ms.
    let mut m = Metrics::new(1000.0, 10.0);
    for (conv, outcome) in [(0, Outcome::Cancelled), (1, Outcome::Error)] {
        m.add(&Record {
            ttft_ms: Some(900.0),
            ..chat(conv, 1, "m", true, outcome)
        });
    }
    m.add(&Record {
        ttft_ms: Some(40.0),
        ..ok(2, 1, "m", true, 100.0, 0.0)
    });
    assert_eq!(m.targets["g"].ttft_samples, vec![40.0]);
}
