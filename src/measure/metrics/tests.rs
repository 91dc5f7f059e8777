use super::*;
use crate::run::record::{read_records, OP_CHAT};

fn row(target: &str, outcome: Outcome, stream: bool, lat: f64) -> Record {
    Record {
        target: target.into(),
        role: "gateway".into(),
        op: OP_CHAT.into(),
        model: "m".into(),
        stream,
        outcome: Some(outcome),
        latency_ms: Some(lat),
        e2e_ms: Some(lat),
        sent_ms: Some(10.0),
        ttft_ms: stream.then_some(lat / 4.0),
        ..Default::default()
    }
}

#[test]
fn per_second_counts_chat_requests_only() {
    // Sent at 10 ms: a chat done at 510 ms (second 0), a create done at 1510 ms and a failed chat at 2510 ms.
    let mut m = Metrics::new(1000.0, 10.0);
    m.add(&row("g", Outcome::Ok, false, 500.0));
    let mut create = row("g", Outcome::Ok, false, 1500.0);
    create.op = crate::run::record::OP_CREATE.into();
    m.add(&create);
    m.add(&row("g", Outcome::Error, false, 2500.0));
    assert_eq!(m.targets["g"].per_second, vec![(1, 0), (0, 0), (0, 1)]);
}

#[test]
fn headline_latency_is_non_stream_and_errors_do_not_enter_histograms() {
    let mut m = Metrics::new(1000.0, 10.0);
    for v in [100.0, 200.0, 300.0] {
        m.add(&row("g", Outcome::Ok, false, v));
    }
    m.add(&row("g", Outcome::Ok, true, 4000.0));
    let mut e = row("g", Outcome::Error, false, 9000.0);
    e.error_kind = "http_503".into();
    m.add(&e);
    let mut e = row("g", Outcome::Error, false, 9000.0);
    e.error_kind = "http_401".into();
    m.add(&e);
    let mean = m.metric("g", "mean_ms").unwrap();
    assert!((mean - 200.0).abs() < 0.2, "{mean}");
    assert!((m.metric("g", "max_ms").unwrap() - 300.0).abs() < 0.3);
    assert!((m.metric("g", "ttft_p50_ms").unwrap() - 1000.0).abs() < 1.0);
    assert_eq!(m.metric("g", "error_rate"), Some(2.0 / 6.0));
    // 401 is an error but not unavailability
    assert_eq!(m.metric("g", "availability"), Some(1.0 - 1.0 / 6.0));
    assert_eq!(m.targets["g"].errors_by_kind["http_503"], 1);
}

#[test]
fn interrupted_run_projects_from_completed_conversations() {
    // 4 conversations done at 1,000 nano-dollars each, 6 scheduled but never sent (Ctrl-C): the projection is
    // 1,000 nano-dollars per conversation, not 4,000 / 10.
    let mut m = Metrics::new(1000.0, 10.0);
    for c in 0..10u64 {
        let mut r = row("g", Outcome::Ok, false, 100.0);
        r.conversation = c;
        r.scheduled_ms = c as f64 * 10.0;
        if c < 4 {
            r.cost_nano_usd = 1000;
        } else {
            r.outcome = Some(Outcome::NotSent);
        }
        m.add(&r);
    }
    let want = crate::measure::cost::monthly_projection_usd(1000, 1, 1000.0);
    assert!((m.monthly_cost_usd("g").unwrap() - want).abs() < 1e-12);
    assert_eq!(m.targets["g"].measured_conversations(), 4);
    assert_eq!(m.targets["g"].incomplete_conversations(), 6);
    // On a slower target "l" the stop cut conversation 2: it leaves both targets' projections.
    for c in 0..4u64 {
        let mut r = row("l", Outcome::Ok, false, 100.0);
        r.conversation = c;
        r.scheduled_ms = c as f64 * 10.0;
        r.cost_nano_usd = 2000;
        if c == 2 {
            r.outcome = Some(Outcome::Cancelled);
        }
        m.add(&r);
    }
    m.align_measured_conversations();
    assert_eq!(m.targets["g"].measured_conversations(), 3);
    assert_eq!(m.targets["l"].measured_conversations(), 3);
    assert_eq!(m.targets["l"].measured_cost_nano(), 6000);
    assert_eq!(m.targets["g"].measured_cost_nano(), 3000);
}

#[test]
fn warmup_rows_are_counted_and_enter_no_statistic() {
    let mut m = Metrics::new(1000.0, 10.0);
    m.add(&row("g", Outcome::Ok, false, 100.0));
    let mut w = row("g", Outcome::Ok, false, 5000.0);
    w.warmup = true;
    m.add(&w);
    let mut e = row("g", Outcome::Error, false, 1.0);
    e.warmup = true;
    e.error_kind = "http_503".into();
    m.add(&e);
    assert_eq!(m.metric("g", "requests"), Some(1.0));
    assert_eq!(m.metric("g", "error_rate"), Some(0.0));
    assert!((m.metric("g", "max_ms").unwrap() - 100.0).abs() < 0.1);
    assert!(m.targets["g"].errors_by_kind.is_empty());
    assert_eq!(m.targets["g"].latency_samples, vec![100.0]);
    assert_eq!(m.targets["g"].warmup, 2);
}

#[test]
fn unavailability_kinds() {
    assert!(is_unavailability_kind("http_502"));
    assert!(is_unavailability_kind("timeout"));
    assert!(is_unavailability_kind("stream_cut"));
    assert!(!is_unavailability_kind("http_404"));
    assert!(!is_unavailability_kind("envelope_4016"));
    // a 429 that exhausted its retries left the user without an answer (report Definitions say so)
    assert!(is_unavailability_kind("rate_limited"));
    assert!(is_unavailability_kind("http_429"));
}

#[test]
fn records_round_trip_through_csv() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.csv");
    let mut w = csv::Writer::from_path(&p).unwrap();
    let mut a = row("g", Outcome::Ok, true, 123.456);
    a.canary_phase = Some(2);
    a.detail = "x, \"quoted\"\nline".into();
    let b = row("l", Outcome::NotSent, false, 1.0);
    w.serialize(&a).unwrap();
    w.serialize(&b).unwrap();
    w.flush().unwrap();
    let back: Vec<Record> = read_records(&p).unwrap().map(Result::unwrap).collect();
    assert_eq!(back, vec![a, b]);
}
