use super::*;
use crate::run::record::{Outcome, Record};

/// `n` non-stream chat requests of `target` with latencies `base + i % 50` ms (and `fail` of them errors).
fn add(m: &mut Metrics, target: &str, role: &str, n: u64, base: f64, fail: u64) {
    for i in 0..n {
        let ok = i >= fail;
        let lat = base + (i % 50) as f64;
        m.add(&Record {
            target: target.into(),
            role: role.into(),
            conversation: i,
            op: "chat".into(),
            outcome: Some(if ok { Outcome::Ok } else { Outcome::Error }),
            error_kind: if ok { String::new() } else { "http_503".into() },
            latency_ms: ok.then_some(lat),
            e2e_ms: Some(lat),
            sent_ms: Some(0.0),
            attempts: 1,
            ..Default::default()
        });
    }
}

fn targets(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, r)| (n.to_string(), r.to_string()))
        .collect()
}

fn decide(m: &Metrics, t: &[(&str, &str)]) -> Decision {
    decide_run(RunInputs {
        metrics: m,
        targets: targets(t),
        checks: Vec::new(),
        phases: Vec::new(),
        seed: 1,
        stopped: None,
    })
}

#[test]
fn every_gateway_is_judged_against_the_legacy() {
    let mut m = Metrics::new(1000.0, 10.0);
    add(&mut m, "old", "legacy", 1500, 100.0, 0);
    add(&mut m, "gw-fast", "gateway", 1500, 100.0, 0);
    add(&mut m, "gw-slow", "gateway", 1500, 300.0, 0);
    let d = decide(
        &m,
        &[
            ("old", "legacy"),
            ("gw-fast", "gateway"),
            ("gw-slow", "gateway"),
        ],
    );
    let judged: Vec<(&str, &str, DecisionKind)> = d
        .pairs
        .iter()
        .map(|p| (p.a.as_str(), p.b.as_str(), p.kind))
        .collect();
    assert_eq!(
        judged,
        vec![
            ("old", "gw-fast", DecisionKind::Safe),
            ("old", "gw-slow", DecisionKind::NotSafe)
        ]
    );
    assert_eq!(d.kind, DecisionKind::NotSafe);
    assert!(
        d.reasons[0].text.starts_with("gw-slow vs old: latency p50"),
        "{:?}",
        d.reasons
    );
}

#[test]
fn a_run_where_every_request_failed_is_never_safe_and_no_requests_is_undecided() {
    let mut m = Metrics::new(1000.0, 10.0);
    add(&mut m, "gw", "gateway", 40, 100.0, 40);
    let d = decide(&m, &[("gw", "gateway")]);
    assert_eq!(d.kind, DecisionKind::NotSafe, "{:?}", d.reasons);
    let m = Metrics::new(1000.0, 10.0);
    let d = decide(&m, &[("gw", "gateway")]);
    assert_eq!(d.kind, DecisionKind::Undecided, "{:?}", d.reasons);
}

#[test]
fn too_few_samples_is_undecided_and_a_phase_without_data_is_undecided() {
    let mut m = Metrics::new(1000.0, 10.0);
    add(&mut m, "old", "legacy", 100, 100.0, 0);
    add(&mut m, "gw", "gateway", 100, 100.0, 0);
    let d = decide(&m, &[("old", "legacy"), ("gw", "gateway")]);
    assert_eq!(d.kind, DecisionKind::Undecided);
    assert!(d.reasons.iter().any(|r| r.metric == "latency p99 (ms)"));

    let mut big = Metrics::new(1000.0, 10.0);
    add(&mut big, "old", "legacy", 1500, 100.0, 0);
    add(&mut big, "gw", "gateway", 1500, 100.0, 0);
    let d = decide_run(RunInputs {
        metrics: &big,
        targets: targets(&[("old", "legacy"), ("gw", "gateway")]),
        checks: Vec::new(),
        phases: vec![
            PhaseInput {
                name: "first".into(),
                metrics: Some(&big),
            },
            PhaseInput {
                name: "late".into(),
                metrics: None,
            },
        ],
        seed: 1,
        stopped: None,
    });
    assert_eq!(d.phases[0].kind, DecisionKind::Safe);
    assert_eq!(d.phases[1].kind, DecisionKind::Undecided);
    assert_eq!(d.kind, DecisionKind::Undecided);
}

#[test]
fn a_failed_threshold_is_not_safe_and_one_without_data_undecided() {
    let mut m = Metrics::new(1000.0, 10.0);
    add(&mut m, "gw", "gateway", 40, 100.0, 0);
    let check = |passed, no_data| Check {
        scope: "run".into(),
        expression: "gw.p99_ms < 1".into(),
        passed,
        measured: String::new(),
        no_data,
        lhs: None,
        rhs: None,
    };
    let run = |checks| {
        decide_run(RunInputs {
            metrics: &m,
            targets: targets(&[("gw", "gateway")]),
            checks,
            phases: Vec::new(),
            seed: 1,
            stopped: None,
        })
        .kind
    };
    assert_eq!(run(vec![check(true, false)]), DecisionKind::Safe);
    assert_eq!(run(vec![check(false, false)]), DecisionKind::NotSafe);
    assert_eq!(run(vec![check(false, true)]), DecisionKind::Undecided);
    assert_eq!(run(vec![]), DecisionKind::Undecided);
}

#[test]
fn an_aborted_run_is_not_safe_whatever_its_figures() {
    let mut m = Metrics::new(1000.0, 10.0);
    add(&mut m, "old", "legacy", 1500, 100.0, 0);
    add(&mut m, "gw", "gateway", 1500, 100.0, 0);
    let t = targets(&[("old", "legacy"), ("gw", "gateway")]);
    let with = |stopped| {
        decide_run(RunInputs {
            metrics: &m,
            targets: t.clone(),
            checks: Vec::new(),
            phases: Vec::new(),
            seed: 1,
            stopped,
        })
    };
    assert_eq!(with(None).kind, DecisionKind::Safe);
    let d = with(Some("aborted: gw.error_rate < 0.05"));
    assert_eq!(d.kind, DecisionKind::NotSafe);
    assert!(
        d.reasons
            .iter()
            .any(|r| r.text.contains("gw.error_rate < 0.05")),
        "{:?}",
        d.reasons
    );
    // An interruption is not a failure: the figures decide.
    assert_eq!(with(Some("interrupted (SIGINT)")).kind, DecisionKind::Safe);
}
