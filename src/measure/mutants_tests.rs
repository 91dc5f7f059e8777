//! Tests written to kill the mutants `cargo mutants` found alive on the measurement path (docs/mutants.md): every
//! figure a threshold can name, the verdict rows and their wording, the threshold's printed figures. Expected values
//! are worked out by hand, in the comments, from the rows each test builds.

use crate::measure::metrics::{pct, round_ms, Metrics, TargetMetrics};
use crate::measure::stats::Direction;
use crate::measure::threshold::evaluate_thresholds;
use crate::measure::verdict::{compare_targets, MetricVerdict};
use crate::run::record::{Outcome, Record, OP_CHAT, OP_CREATE};

/// One chat row of target `g`.
fn chat(conv: u64, turn: u32, model: &str, stream: bool, outcome: Outcome) -> Record {
    Record {
        target: "g".into(),
        role: "gateway".into(),
        conversation: conv,
        turn,
        op: OP_CHAT.into(),
        model: model.into(),
        stream,
        outcome: Some(outcome),
        attempts: u32::from(outcome != Outcome::NotSent),
        ..Default::default()
    }
}

fn ok(conv: u64, turn: u32, model: &str, stream: bool, lat: f64, sent: f64) -> Record {
    Record {
        latency_ms: Some(lat),
        e2e_ms: Some(lat + if stream { 0.0 } else { 10.0 }),
        from_scheduled_ms: Some(lat + 20.0),
        sent_ms: Some(sent),
        ..chat(conv, turn, model, stream, Outcome::Ok)
    }
}

/// The fixture of [`every_metric_has_its_exact_figure`], row by row:
///
/// | # | conv/turn | op, model, mode | outcome | latency / e2e / from schedule | sent | tokens in/out | nano-USD |
/// |---|---|---|---|---|---|---|---|
/// | 1 | 0/0 | create | ok | 5 / 5 / - | 0 | - | 0 |
/// | 2 | 0/1 | chat m1 plain | ok | 100 / 110 / 120 | 10 | 10/20 | 1001 |
/// | 3 | 0/2 | chat m1 plain | ok, 2 attempts | 200 / 210 / 220 | 200 | 11/21 | 1002 |
/// | 4 | 1/1 | chat m1 plain | ok | 300 / 310 / 320 | 20 | 12/22 | 1003 |
/// | 5 | 1/2 | chat m1 plain | ok | 400 / 410 / 420 | 400 | 13/23 | 1004 |
/// | 6 | 2/1 | chat m2 stream | ok, TTFT 50, ITL 10, estimated | 500 / 500 / 520 | 30 | 14/5 | 1005 |
/// | 7 | 2/2 | chat m2 stream | ok, TTFT 70, ITL 20 | 600 / 600 / 620 | 600 | 15/11 | 1006 |
/// | 8 | 3/1 | chat m1 plain | error http_503 | - / 50 / - | 40 | - | 0 |
/// | 9 | 3/2 | chat m2 plain | error http_401 | - / 60 / - | 100 | - | 0 |
/// | 10 | 4/1 | chat m1 plain | not sent (stopped) | - | - | - | 0 |
/// | 11 | 5/1 | chat m2 stream | cancelled | - | 50 | - | 0 |
fn fixture() -> Metrics {
    let mut m = Metrics::new(1000.0, 10.0);
    let mut rows = vec![Record {
        op: OP_CREATE.into(),
        model: String::new(),
        e2e_ms: Some(5.0),
        from_scheduled_ms: None,
        ..ok(0, 0, "", false, 5.0, 0.0)
    }];
    for (i, (conv, turn, lat, sent)) in [
        (0, 1, 100.0, 10.0),
        (0, 2, 200.0, 200.0),
        (1, 1, 300.0, 20.0),
        (1, 2, 400.0, 400.0),
    ]
    .into_iter()
    .enumerate()
    {
        let i = i as u64;
        let mut r = ok(conv, turn, "m1", false, lat, sent);
        r.input_tokens = 10 + i;
        r.output_tokens = 20 + i;
        r.cost_nano_usd = 1001 + i;
        if turn == 2 && conv == 0 {
            r.attempts = 2;
            r.retries = 1;
        }
        rows.push(r);
    }
    for (turn, lat, sent, ttft, itl, input, output, cost) in [
        (1, 500.0, 30.0, 50.0, 10.0, 14, 5, 1005),
        (2, 600.0, 600.0, 70.0, 20.0, 15, 11, 1006),
    ] {
        let mut r = ok(2, turn, "m2", true, lat, sent);
        r.ttft_ms = Some(ttft);
        r.itl_ms = Some(itl);
        r.input_tokens = input;
        r.output_tokens = output;
        r.cost_nano_usd = cost;
        r.tokens_estimated = turn == 1;
        rows.push(r);
    }
    for (turn, model, kind, e2e, sent) in [
        (1, "m1", "http_503", 50.0, 40.0),
        (2, "m2", "http_401", 60.0, 100.0),
    ] {
        rows.push(Record {
            error_kind: kind.into(),
            e2e_ms: Some(e2e),
            sent_ms: Some(sent),
            ..chat(3, turn, model, false, Outcome::Error)
        });
    }
    rows.push(Record {
        not_sent_reason: "stopped".into(),
        ..chat(4, 1, "m1", false, Outcome::NotSent)
    });
    rows.push(Record {
        sent_ms: Some(50.0),
        ..chat(5, 1, "m2", true, Outcome::Cancelled)
    });
    for r in &rows {
        m.add(r);
    }
    m.align_measured_conversations();
    m
}

fn near(got: Option<f64>, want: f64, tol: f64, what: &str) {
    let g = got.unwrap_or_else(|| panic!("{what}: no value"));
    assert!((g - want).abs() <= tol, "{what}: {g}, want {want}");
}

#[test]
fn every_metric_has_its_exact_figure() {
    let m = fixture();
    let v = |name: &str| m.metric("g", name);
    // Counts over all 11 rows (the create included): 7 ok, 2 errors, 1 not sent, 1 cancelled; 9 finished.
    assert_eq!(v("requests"), Some(11.0));
    assert_eq!(v("ok"), Some(7.0));
    assert_eq!(v("errors"), Some(2.0));
    assert_eq!(v("not_sent"), Some(1.0));
    assert_eq!(v("error_rate"), Some(2.0 / 9.0));
    // Only the 503 is unavailability.
    assert_eq!(v("availability"), Some(1.0 - 1.0 / 9.0));
    assert_eq!(v("retries"), Some(1.0));
    // Attempts: 1 + 1 + 2 + 1 + 1 + 1 + 1 + 1 + 1 + 0 + 1 = 11; failed ones: 1 retried + 2 errors.
    assert_eq!(v("attempt_failure_rate"), Some(3.0 / 11.0));
    // 9 finished over a 10 s window.
    assert_eq!(v("rps"), Some(0.9));
    // Headline latency: the four ok plain chats, 100 / 200 / 300 / 400 ms (HDR keeps 3 significant digits).
    near(v("mean_ms"), 250.0, 0.1, "mean_ms");
    near(v("p50_ms"), 200.0, 0.15, "p50_ms");
    for q in ["p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms"] {
        near(v(q), 400.0, 0.25, q);
    }
    // e2e and from-schedule: ok chats of both modes (largest: row 7).
    near(v("e2e_p99_ms"), 600.0, 0.5, "e2e_p99_ms");
    near(v("sched_p99_ms"), 620.0, 0.5, "sched_p99_ms");
    // Streams: TTFT 50 and 70, ITL 10 and 20.
    near(v("ttft_mean_ms"), 60.0, 0.05, "ttft_mean_ms");
    near(v("ttft_p50_ms"), 50.0, 0.05, "ttft_p50_ms");
    near(v("ttft_p95_ms"), 70.0, 0.05, "ttft_p95_ms");
    near(v("ttft_p99_ms"), 70.0, 0.05, "ttft_p99_ms");
    near(v("itl_mean_ms"), 15.0, 0.01, "itl_mean_ms");
    near(v("itl_p50_ms"), 10.0, 0.01, "itl_p50_ms");
    near(v("itl_p95_ms"), 20.0, 0.02, "itl_p95_ms");
    near(v("itl_p99_ms"), 20.0, 0.02, "itl_p99_ms");
    // Tokens after the first: 4 + 10 = 14, over 4 x 10 + 10 x 20 = 240 ms.
    near(
        v("output_tokens_per_s"),
        14.0 / 0.240,
        1e-9,
        "output_tokens_per_s",
    );
    // 1001 + 1002 + 1003 + 1004 + 1005 + 1006 = 6,021 nano-USD.
    near(v("run_cost_usd"), 6021e-9, 1e-18, "run_cost_usd");
    // Conversations 4 (not sent) and 5 (cancelled) are incomplete: 4 measured, 6,021 nano-USD between them.
    near(
        v("cost_per_1k_conversations_usd"),
        6021e-9 / 4.0 * 1000.0,
        1e-15,
        "cost_per_1k_conversations_usd",
    );
    // 1,505.25 nano-USD per conversation x 1,000 a day x 30 days.
    near(v("monthly_cost_usd"), 0.0451575, 1e-12, "monthly_cost_usd");
    assert_eq!(v("goodput_rps"), None);
    assert_eq!(v("no_such_metric"), None);
    assert_eq!(m.metric("nobody", "requests"), None);
}

#[test]
fn groups_add_up_every_counter_and_histogram() {
    let m = fixture();
    let t = &m.targets["g"];
    let all = t.all();
    assert_eq!(
        (
            all.requests,
            all.ok,
            all.errors,
            all.cancelled,
            all.not_sent
        ),
        (11, 7, 2, 1, 1)
    );
    assert_eq!((all.unavailable, all.retries, all.attempts), (1, 1, 11));
    // Tokens: inputs 10..=13 and 14, 15; outputs 20..=23 and 5, 11.
    assert_eq!((all.input_tokens, all.output_tokens), (75, 102));
    assert_eq!((all.estimated_rows, all.cost_nano), (1, 6021));
    assert_eq!((all.stream_tokens, all.stream_gen_ms), (14, 240.0));
    // Latency: 4 plain + 2 streams + the create; e2e the same 7; from schedule the 6 chats (the create has none).
    assert_eq!(
        (all.latency.len(), all.e2e.len(), all.from_scheduled.len()),
        (7, 7, 6)
    );
    assert_eq!((all.ttft.len(), all.itl.len()), (2, 2));
    assert_eq!(
        (t.create.requests, t.create.ok, t.create.latency.len()),
        (1, 1, 1)
    );
    assert_eq!(
        (
            t.chat_plain.requests,
            t.chat_stream.requests,
            t.chat.requests
        ),
        (7, 3, 10)
    );
    assert_eq!(
        (
            t.chat_stream.ok,
            t.chat_stream.cancelled,
            t.chat_plain.not_sent
        ),
        (2, 1, 1)
    );
    assert_eq!(t.latency_samples, vec![100.0, 200.0, 300.0, 400.0]);
    assert_eq!(t.ttft_samples, vec![50.0, 70.0]);
    assert_eq!(t.errors_by_kind.len(), 2);
    assert_eq!(
        (t.errors_by_kind["http_503"], t.errors_by_kind["http_401"]),
        (1, 1)
    );
    assert_eq!(t.not_sent_by_reason["stopped"], 1);
    // Finished chats by completion second (sent + e2e): 120, 410, 330, 810, 530, 90 (error), 160 (error) in second 0;
    // 600 + 600 = 1200 in second 1.
    assert_eq!(t.per_second, vec![(5, 2), (1, 0)]);
    assert_eq!(t.first_sent_ms, Some(0.0));
    assert_eq!(t.last_done_ms, 1200.0);
    // Per model, both modes: m1 = rows 2-5, 8, 10; m2 = rows 6, 7, 9, 11.
    let by = t.cost_by_model();
    assert_eq!(by["m1"], (6, 46, 86, 4010));
    assert_eq!(by["m2"], (4, 29, 16, 2011));
    assert_eq!(by.len(), 2);
    // Conversations 0-3 are measured whole: m1 cost 2,003 + 2,007, m2 2,011.
    assert_eq!(t.measured_conversations(), 4);
    assert_eq!(t.incomplete_conversations(), 2);
    assert_eq!(t.measured_cost_nano(), 6021);
    let by_model = t.measured_cost_by_model();
    assert_eq!(
        (by_model.get("m1"), by_model.get("m2"), by_model.get("m3")),
        (Some(&4010), Some(&2011), None)
    );
    assert_eq!(m.monthly_cost_usd("nobody"), None);
}

#[test]
fn users_are_counted_once_however_their_rows_interleave() {
    let mut m = Metrics::new(1000.0, 10.0);
    for (conv, user) in [(0, 1), (1, 1), (2, 2), (3, 1), (4, 3), (5, 2)] {
        let mut r = ok(conv, 1, "m", false, 100.0, 0.0);
        r.user = user;
        m.add(&r);
    }
    let t = &m.targets["g"];
    assert_eq!(t.users.iter().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
}

#[test]
fn a_target_without_complete_conversations_has_no_projection() {
    let mut m = Metrics::new(1000.0, 10.0);
    m.add(&Record {
        cost_nano_usd: 5,
        ..chat(0, 1, "m", false, Outcome::Cancelled)
    });
    assert_eq!(m.monthly_cost_usd("g"), None);
    assert_eq!(m.metric("g", "cost_per_1k_conversations_usd"), None);
    // Nothing finished: no rate, availability or attempt failure rate; no window, no rps.
    assert_eq!(m.metric("g", "error_rate"), None);
    assert_eq!(m.metric("g", "availability"), None);
    assert_eq!(m.metric("g", "attempt_failure_rate"), Some(0.0));
    let mut z = Metrics::new(1000.0, 0.0);
    z.add(&ok(0, 1, "m", false, 100.0, 0.0));
    assert_eq!(z.metric("g", "rps"), None);
    assert_eq!(z.metric("g", "output_tokens_per_s"), None);
    // 100 ms is in the 64 us bucket 99,968..=100,031: the largest value of that bucket.
    near(z.metric("g", "max_ms"), 100.0, 0.05, "max_ms");
    // No stream: no TTFT figure at all.
    assert_eq!(z.metric("g", "ttft_p50_ms"), None);
    assert_eq!(z.metric("g", "ttft_mean_ms"), None);
}

#[test]
fn quantiles_round_to_a_tenth_of_a_millisecond() {
    assert_eq!(round_ms(1.25), 1.3);
    assert_eq!(round_ms(2.04), 2.0);
    assert_eq!(round_ms(-0.06), -0.1);
    assert_eq!(pct(&TargetMetrics::default().chat.latency, 0.5), None);
    let mut m = Metrics::new(1000.0, 10.0);
    m.add(&ok(0, 1, "m", false, 12.34, 0.0));
    // 12,340 us falls in the 8 us bucket 12,336..=12,343 (3 significant digits): 12.343 ms prints as 12.3.
    assert_eq!(m.metric("g", "p50_ms"), Some(12.3));
    // A latency below a microsecond still counts (recorded as 1 us).
    m.add(&ok(1, 1, "m", false, 0.0001, 0.0));
    assert_eq!(m.targets["g"].chat_plain.latency.len(), 2);
    assert_eq!(m.targets["g"].chat_plain.latency.min(), 1);
}

fn rows(lat: impl Iterator<Item = f64>, errors: u64) -> TargetMetrics {
    let mut m = Metrics::new(1000.0, 10.0);
    for (i, l) in lat.enumerate() {
        m.add(&ok(i as u64, 1, "m", false, l, 0.0));
    }
    for i in 0..errors {
        m.add(&Record {
            error_kind: "http_503".into(),
            ..chat(10_000 + i, 1, "m", false, Outcome::Error)
        });
    }
    m.targets.remove("g").unwrap()
}

#[test]
fn verdict_rows_say_worse_better_or_how_many_samples_are_needed() {
    // 100 requests a side: p50 is judged (30 needed), p99 is not (1,000 needed). B is 100 ms slower on every request.
    let a = rows((0..100).map(|i| 100.0 + f64::from(i)), 0);
    let b = rows((0..100).map(|i| 200.0 + f64::from(i)), 0);
    let v = compare_targets(&a, &b, 7);
    let names: Vec<&str> = v.iter().map(|r| r.metric.as_str()).collect();
    assert_eq!(
        names,
        ["latency p50 (ms)", "latency p99 (ms)", "error rate"]
    );
    assert_eq!(v[0].verdict, "worse (95% confidence)");
    assert!(v[0].worse && !v[0].insufficient());
    assert_eq!(v[0].direction_name(), "worse");
    assert_eq!(
        v[1].verdict,
        "insufficient data: about 1000 samples per side needed"
    );
    assert!(!v[1].worse && v[1].insufficient());
    assert_eq!(v[1].direction_name(), "insufficient_data");
    assert_eq!(v[2].verdict, "no significant difference");
    assert!(!v[2].worse && !v[2].insufficient());
    assert_eq!(v[2].direction_name(), "no_significant_difference");
    // The other way round B is better, which is not "worse".
    let v = compare_targets(&b, &a, 7);
    assert_eq!(v[0].verdict, "better (95% confidence)");
    assert!(!v[0].worse);
    assert_eq!(v[0].direction_name(), "better");
    // 50 errors in 150 against none in 100: the error rate is worse.
    let c = rows((0..100).map(|i| 100.0 + f64::from(i)), 50);
    let v = compare_targets(&a, &c, 7);
    assert_eq!(v[2].metric, "error rate");
    assert_eq!((v[2].a, v[2].b), (Some(0.0), Some(50.0 / 150.0)));
    assert!(v[2].worse);
}

#[test]
fn ttft_rows_appear_when_either_side_streamed() {
    let plain = rows((0..40).map(|i| 100.0 + f64::from(i)), 0);
    let mut streamed = plain.clone();
    streamed.ttft_samples = vec![50.0; 40];
    let names = |v: Vec<MetricVerdict>| v.into_iter().map(|r| r.metric).collect::<Vec<_>>();
    let with_ttft = [
        "latency p50 (ms)",
        "latency p99 (ms)",
        "TTFT p50 (ms)",
        "TTFT p99 (ms)",
        "error rate",
    ];
    assert_eq!(names(compare_targets(&streamed, &plain, 1)), with_ttft);
    assert_eq!(names(compare_targets(&plain, &streamed, 1)), with_ttft);
    assert_eq!(names(compare_targets(&streamed, &streamed, 1)), with_ttft);
    assert_eq!(
        names(compare_targets(&plain, &plain, 1)),
        ["latency p50 (ms)", "latency p99 (ms)", "error rate"]
    );
    // B without TTFT samples cannot be judged on TTFT: 30 needed per side.
    let v = compare_targets(&streamed, &plain, 1);
    assert_eq!(
        v[2].direction,
        Direction::InsufficientData {
            needed_per_side: 30
        }
    );
}

#[test]
fn thresholds_print_their_figures_at_three_precisions() {
    let m = fixture();
    let list: Vec<String> = [
        "g.p99_ms < 1000",
        "g.requests >= 11",
        "g.error_rate <= 0.5",
        "g.nope < 1",
        "g.p99_ms <",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let c = evaluate_thresholds("run", &list, &m);
    assert_eq!(c.len(), 5);
    // >= 100: one decimal; >= 1: three; below 1: five.
    assert!(c[0].passed && !c[0].no_data);
    assert!(c[0].measured.ends_with(" vs 1000.0"), "{}", c[0].measured);
    assert_eq!(c[1].measured, "11.000 vs 11.000");
    assert!(c[1].passed);
    assert_eq!(c[2].measured, "0.22222 vs 0.50000");
    assert_eq!((c[2].lhs, c[2].rhs), (Some(2.0 / 9.0), Some(0.5)));
    assert!(c[2].passed);
    // An unknown metric (a hand-edited run.json; validation refuses it) is invalid, not missing data.
    assert!(!c[3].no_data && !c[3].passed);
    assert!(c[3].measured.starts_with("invalid: "), "{}", c[3].measured);
    assert!(!c[4].no_data && !c[4].passed);
    assert!(c[4].measured.starts_with("invalid: "), "{}", c[4].measured);
    assert!(c.iter().all(|c| c.scope == "run"));
    assert_eq!(c[2].expression, "g.error_rate <= 0.5");
    // The boundaries of the bands: exactly 100 and exactly 1.
    let list = vec!["g.requests * 0 + 100 == 1 * 1".to_string()];
    assert_eq!(
        evaluate_thresholds("run", &list, &m)[0].measured,
        "100.0 vs 1.000"
    );
}

mod decision;
mod metrics;

#[test]
fn goodput_counts_ok_chats_within_their_limit() {
    // Limits: 250 ms for plain chats, 60 ms TTFT for streams; a value at the limit is within it.
    let mut m = Metrics::new(1000.0, 10.0);
    m.goodput = Some(crate::config::goodput::Goodput {
        latency_ms: Some(250.0),
        ttft_ms: Some(60.0),
    });
    let stream = |conv, ttft| Record {
        ttft_ms: Some(ttft),
        ..ok(conv, 1, "m", true, 900.0, 0.0)
    };
    let mut rows = vec![
        ok(0, 1, "m", false, 100.0, 0.0), // good
        ok(1, 1, "m", false, 250.0, 0.0), // good, at the limit
        ok(2, 1, "m", false, 300.0, 0.0),
        stream(3, 60.0), // good, at the limit
        stream(4, 70.0),
        Record {
            error_kind: "http_503".into(),
            latency_ms: Some(10.0),
            ..chat(5, 1, "m", false, Outcome::Error)
        },
        Record {
            op: OP_CREATE.into(),
            ..ok(6, 0, "m", false, 5.0, 0.0)
        },
    ];
    let mut warm = ok(7, 1, "m", false, 10.0, 0.0);
    warm.warmup = true;
    rows.push(warm);
    for r in &rows {
        m.add(r);
    }
    assert_eq!(m.targets["g"].good, 3);
    assert_eq!(m.metric("g", "goodput_rps"), Some(0.3));
    m.window_s = 0.0;
    assert_eq!(m.metric("g", "goodput_rps"), None);
}

#[test]
fn an_unknown_error_kind_counts_against_availability_and_an_empty_one_does_not() {
    use crate::measure::metrics::is_unavailability_kind;
    // A kind another tool's CSV wrote, which cutover does not know: the user got no answer.
    assert!(is_unavailability_kind("upstream_exploded"));
    // No kind at all (an ok row's column): nothing was unavailable.
    assert!(!is_unavailability_kind(""));
}

#[test]
fn all_is_the_sum_of_chat_and_create_rows_of_every_kind() {
    let mut m = Metrics::new(1000.0, 10.0);
    // Chat: one ok stream, 5 tokens at ITL 10 ms (4 x 10 = 40 ms); one not sent.
    m.add(&Record {
        itl_ms: Some(10.0),
        output_tokens: 5,
        ..ok(0, 1, "m", true, 100.0, 0.0)
    });
    m.add(&chat(1, 1, "m", false, Outcome::NotSent));
    // Create rows: one not sent, and one an odd CSV marks as a stream: 3 tokens at ITL 20 ms (2 x 20 = 40 ms).
    let create = |r: Record| Record {
        op: OP_CREATE.into(),
        ..r
    };
    m.add(&create(chat(2, 0, "m", false, Outcome::NotSent)));
    m.add(&create(Record {
        itl_ms: Some(20.0),
        output_tokens: 3,
        ..ok(3, 0, "m", true, 5.0, 0.0)
    }));
    let all = m.targets["g"].all();
    assert_eq!((all.requests, all.not_sent), (4, 2));
    assert_eq!((all.stream_tokens, all.stream_gen_ms), (4 + 2, 40.0 + 40.0));
}

#[test]
fn tokens_per_second_come_from_streams_only() {
    // A plain request carrying an ITL figure (another tool's CSV) adds nothing to the stream rate.
    let mut m = Metrics::new(1000.0, 10.0);
    m.add(&Record {
        itl_ms: Some(10.0),
        output_tokens: 5,
        ..ok(0, 1, "m", false, 100.0, 0.0)
    });
    assert_eq!(m.metric("g", "output_tokens_per_s"), None);
    let g = &m.targets["g"].chat;
    assert_eq!((g.stream_tokens, g.stream_gen_ms), (0, 0.0));
}

#[test]
fn no_attempt_means_no_attempt_failure_rate() {
    // Every request refused before it was sent: 0 attempts, so no rate (not 0 / 0).
    let mut m = Metrics::new(1000.0, 10.0);
    m.add(&chat(0, 1, "m", false, Outcome::NotSent));
    assert_eq!(m.metric("g", "attempt_failure_rate"), None);
}

#[test]
fn failed_requests_give_no_latency_sample_for_the_verdict() {
    // An error carrying its attempt's latency stays out of the samples the statistical verdict resamples.
    let mut m = Metrics::new(1000.0, 10.0);
    m.add(&ok(0, 1, "m", false, 100.0, 0.0));
    m.add(&Record {
        error_kind: "timeout".into(),
        latency_ms: Some(9000.0),
        ..chat(1, 1, "m", false, Outcome::Error)
    });
    assert_eq!(m.targets["g"].latency_samples, vec![100.0]);
}

#[test]
fn raw_samples_stop_at_the_cap() {
    // The cap itself, not a 2,000,000-row run: one below it takes a sample, at it none.
    assert!(crate::measure::metrics::has_room(0));
    assert!(crate::measure::metrics::has_room(1_999_999));
    assert!(!crate::measure::metrics::has_room(2_000_000));
}
