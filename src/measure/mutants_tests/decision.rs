//! The decision's mutants: phase boundaries, reason texts, merge, spellings.

use super::{chat, ok, rows};
use crate::measure::decision::{
    decide_run, finish, judge_pair, run_pairs, DecisionKind, PhaseInput, Reason, RunInputs,
};
use crate::measure::metrics::Metrics;
use crate::measure::threshold::Check;
use crate::run::record::{Outcome, Record};

fn names(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn reason(kind: DecisionKind, text: &str) -> Reason {
    Reason {
        kind,
        scope: "run".into(),
        pair: None,
        metric: "-".into(),
        a: None,
        b: None,
        ci: None,
        text: text.into(),
    }
}

fn check(scope: &str, passed: bool, no_data: bool) -> Check {
    Check {
        scope: scope.into(),
        expression: "x.requests > 0".into(),
        passed,
        measured: String::new(),
        no_data,
        lhs: None,
        rhs: None,
    }
}

/// `n` ok plain chats of `target`.
fn finished(m: &mut Metrics, target: &str, n: u64) {
    for i in 0..n {
        m.add(&Record {
            target: target.into(),
            ..ok(i, 1, "m", false, 100.0, 0.0)
        });
    }
}

#[test]
fn kinds_are_spelled_for_results_json_and_for_people() {
    use DecisionKind::*;
    let spelled: Vec<_> = [Safe, Undecided, NotSafe]
        .iter()
        .map(|k| (k.as_str(), k.label()))
        .collect();
    assert_eq!(
        spelled,
        [
            ("safe", "SAFE"),
            ("undecided", "UNDECIDED"),
            ("not_safe", "NOT SAFE")
        ]
    );
}

#[test]
fn the_pairs_are_each_gateway_against_the_first_legacy() {
    let t = names(&[
        ("a", "gateway"),
        ("l1", "legacy"),
        ("l2", "legacy"),
        ("g2", "gateway"),
        ("x", "other"),
    ]);
    assert_eq!(run_pairs(&t), names(&[("l1", "a"), ("l1", "g2")]));
    assert!(run_pairs(&names(&[("a", "gateway")])).is_empty());
}

#[test]
fn a_pair_has_one_reason_per_worse_or_undecidable_row_with_its_figures() {
    // 100 ok a side (p99 cannot be judged), B 100 ms slower and 50 errors in 150 against none.
    let a = rows((0..100).map(|i| 100.0 + f64::from(i)), 0);
    let b = rows((0..100).map(|i| 200.0 + f64::from(i)), 50);
    let (v, rs) = judge_pair("old", "gw", &a, &b, 7, "run");
    assert_eq!(
        (v.a.as_str(), v.b.as_str(), v.kind),
        ("old", "gw", DecisionKind::NotSafe)
    );
    assert_eq!(v.rows.len(), 3);
    let got: Vec<_> = rs.iter().map(|r| (r.kind, r.metric.as_str())).collect();
    assert_eq!(
        got,
        [
            (DecisionKind::NotSafe, "latency p50 (ms)"),
            (DecisionKind::Undecided, "latency p99 (ms)"),
            (DecisionKind::NotSafe, "error rate"),
        ]
    );
    assert!(rs
        .iter()
        .all(|r| r.scope == "run" && r.pair.as_deref() == Some("gw vs old")));
    let p50 = &rs[0].text;
    assert!(
        p50.starts_with("gw vs old: latency p50 (ms): worse (95% confidence) (")
            && p50.contains(" ms -> ")
            && p50.contains(" ms, difference [+")
            && p50.ends_with("] ms)"),
        "{p50}"
    );
    // No interval for a row that could not be judged.
    assert!(
        rs[1].text.ends_with(" ms)") && !rs[1].text.contains("difference"),
        "{}",
        rs[1].text
    );
    // 0 of 100 against 50 of 150: 0.000% -> 33.333%.
    let rate = &rs[2].text;
    assert!(
        rate.starts_with(
            "gw vs old: error rate: worse (95% confidence) (0.000% -> 33.333%, difference [+"
        ) && rate.ends_with("] pp)"),
        "{rate}"
    );
    assert_eq!((rs[2].a, rs[2].b), (Some(0.0), Some(50.0 / 150.0)));
    // A side judged against itself: nothing is worse; only p99, short of samples, leaves it undecided.
    let (v, rs) = judge_pair("old", "old", &a, &a, 7, "run");
    assert_eq!(v.kind, DecisionKind::Undecided);
    assert_eq!(rs.len(), 1, "only p99 lacks data: {rs:?}");
}

fn run_with_phase(phase: &Metrics, checks: Vec<Check>) -> crate::measure::decision::Decision {
    let mut m = Metrics::new(1000.0, 10.0);
    finished(&mut m, "gw", 40);
    decide_run(RunInputs {
        metrics: &m,
        targets: names(&[("gw", "gateway")]),
        checks,
        phases: vec![PhaseInput {
            name: "p".into(),
            metrics: Some(phase),
        }],
        seed: 1,
        stopped: None,
    })
}

#[test]
fn a_phase_needs_thirty_finished_requests_on_both_paths() {
    // 30 and 30: enough on both paths, nothing failed.
    let mut p = Metrics::new(1000.0, 10.0);
    finished(&mut p, "old", 30);
    finished(&mut p, "gw", 30);
    let d = run_with_phase(&p, vec![check("run", true, false)]);
    assert_eq!(
        (d.phases[0].kind, d.phases[0].text.as_str()),
        (DecisionKind::Safe, "phase p: GO")
    );
    assert_eq!(d.kind, DecisionKind::Safe);
    // 30 and 29: too little on one path, named with its count.
    let mut p = Metrics::new(1000.0, 10.0);
    finished(&mut p, "old", 30);
    finished(&mut p, "gw", 29);
    let d = run_with_phase(&p, vec![check("run", true, false)]);
    assert_eq!(d.phases[0].kind, DecisionKind::Undecided);
    assert_eq!(
        d.phases[0].text,
        "phase p: too little data to judge (finished requests per path: `gw` 29; at least 30 needed on both paths)"
    );
    assert_eq!(d.kind, DecisionKind::Undecided);
    let r = d.reasons.iter().find(|r| r.metric == "phase").unwrap();
    assert_eq!(
        (r.scope.as_str(), r.text.as_str()),
        ("phase p", d.phases[0].text.as_str())
    );
    // One path only.
    let mut p = Metrics::new(1000.0, 10.0);
    finished(&mut p, "gw", 40);
    let d = run_with_phase(&p, vec![check("run", true, false)]);
    assert_eq!(
        d.phases[0].text,
        "phase p: too little data to judge (finished requests per path: one path only; at least 30 needed on both paths)"
    );
}

#[test]
fn a_phase_fails_on_its_own_failed_thresholds_only() {
    let mut p = Metrics::new(1000.0, 10.0);
    finished(&mut p, "old", 30);
    finished(&mut p, "gw", 30);
    let d = run_with_phase(&p, vec![check("phase p", false, false)]);
    assert_eq!(
        (d.phases[0].kind, d.phases[0].text.as_str()),
        (DecisionKind::NotSafe, "phase p: NO-GO, a threshold failed")
    );
    // Another scope's failure, or a threshold without data, is not this phase's NO-GO.
    let d = run_with_phase(&p, vec![check("phase q", false, false)]);
    assert_eq!(d.phases[0].kind, DecisionKind::Safe);
    let d = run_with_phase(&p, vec![check("phase p", false, true)]);
    assert_eq!(d.phases[0].kind, DecisionKind::Safe);
    assert_eq!(
        d.kind,
        DecisionKind::Undecided,
        "the check without data: {:?}",
        d.reasons
    );
}

#[test]
fn accounting_reasons_name_the_target_and_its_counts() {
    let mut m = Metrics::new(1000.0, 10.0);
    // `idle`: 3 scheduled, 2 not sent and 1 cancelled; `down`: 4 errors.
    for (i, o) in [Outcome::NotSent, Outcome::NotSent, Outcome::Cancelled]
        .into_iter()
        .enumerate()
    {
        m.add(&Record {
            target: "idle".into(),
            ..chat(i as u64, 1, "m", false, o)
        });
    }
    for i in 0..4 {
        m.add(&Record {
            target: "down".into(),
            error_kind: "http_500".into(),
            ..chat(i, 1, "m", false, Outcome::Error)
        });
    }
    let d = decide_run(RunInputs {
        metrics: &m,
        targets: names(&[("idle", "gateway"), ("down", "gateway")]),
        checks: Vec::new(),
        phases: Vec::new(),
        seed: 1,
        stopped: None,
    });
    assert_eq!(d.kind, DecisionKind::NotSafe);
    let got: Vec<_> = d
        .reasons
        .iter()
        .map(|r| {
            (
                r.kind,
                r.scope.as_str(),
                r.metric.as_str(),
                r.b,
                r.text.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                DecisionKind::NotSafe,
                "accounting",
                "down",
                Some(4.0),
                "`down`: every one of its 4 requests failed"
            ),
            (
                DecisionKind::Undecided,
                "accounting",
                "idle",
                Some(0.0),
                "`idle`: no request finished (3 scheduled, 2 not sent, 1 cancelled)"
            ),
        ]
    );
}

#[test]
fn finishing_orders_reasons_and_says_what_was_judged() {
    // Not safe first, then undecided.
    let d = finish(
        vec![
            reason(DecisionKind::Undecided, "u"),
            reason(DecisionKind::NotSafe, "n"),
            reason(DecisionKind::Undecided, "u2"),
        ],
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    assert_eq!(d.kind, DecisionKind::NotSafe);
    let texts: Vec<_> = d.reasons.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, ["n", "u", "u2"]);
    // Nothing at all to judge.
    let d = finish(Vec::new(), Vec::new(), Vec::new(), Vec::new());
    assert_eq!(d.kind, DecisionKind::Undecided);
    assert_eq!(
        d.reasons[0].text,
        "nothing was judged: no thresholds and no legacy/gateway pair"
    );
    // Two thresholds passed, no pair.
    let d = finish(
        Vec::new(),
        vec![check("run", true, false), check("run", true, false)],
        Vec::new(),
        Vec::new(),
    );
    assert_eq!(d.kind, DecisionKind::Safe);
    assert_eq!(
        d.reasons[0].text,
        "all 2 thresholds passed; no metric is significantly worse (0 verdict rows over 0 judged pairs)"
    );
}

#[test]
fn merging_keeps_the_worse_kind_and_only_its_reasons() {
    let safe = finish(
        vec![reason(DecisionKind::Safe, "s")],
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let bad = finish(
        vec![
            reason(DecisionKind::NotSafe, "n"),
            reason(DecisionKind::Undecided, "u"),
        ],
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let m = safe.clone().merge(bad.clone());
    assert_eq!(m.kind, DecisionKind::NotSafe);
    let texts: Vec<_> = m.reasons.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, ["n"]);
    let m = bad.merge(safe);
    assert_eq!(m.kind, DecisionKind::NotSafe);
    let texts: Vec<_> = m.reasons.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, ["n"]);
}
