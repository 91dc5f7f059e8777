//! The migration verdict on mock profile pairs with known differences, at the bundled scenario's sample size.
//! Latencies are drawn from the mock profiles' own latency distributions (the function the mock server sleeps by),
//! so hundreds of seeded "runs" take a second instead of hours.

use cutover::measure::metrics::TargetMetrics;
use cutover::measure::verdict::compare_targets;
use cutover::mock::{LogNormalMs, MockProfile};
use cutover::run::record::{Outcome, Record};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Non-stream chat requests per target in the bundled run (~3,500 conversations x 2.3 turns x 70% non-stream).
const BUNDLED_N: usize = 5_500;

fn gateway_latency() -> LogNormalMs {
    let p = MockProfile::from_yaml_file(format!("{ROOT}/mocks/gateway.yaml")).unwrap();
    let l = p.latency();
    LogNormalMs::fit(l.mean_ms, l.p99_ms).unwrap()
}

fn target(dist: &LogNormalMs, scale: f64, n: usize, seed: u64) -> TargetMetrics {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut t = TargetMetrics::default();
    for i in 0..n {
        let ms = dist.sample_ms(&mut rng) * scale;
        t.add(&Record {
            target: "t".into(),
            op: "chat".into(),
            conversation: i as u64,
            outcome: Some(Outcome::Ok),
            latency_ms: Some(ms),
            e2e_ms: Some(ms),
            sent_ms: Some(0.0),
            attempts: 1,
            ..Default::default()
        });
    }
    t
}

fn verdict_of(rows: &[cutover::measure::verdict::MetricVerdict], metric: &str) -> String {
    rows.iter()
        .find(|r| r.metric == metric)
        .unwrap()
        .verdict
        .clone()
}

#[test]
fn identical_profiles_give_no_significant_difference_in_at_least_95_percent_of_runs() {
    let d = gateway_latency();
    let runs = 200;
    let mut clean = 0;
    for seed in 0..runs {
        let a = target(&d, 1.0, BUNDLED_N, 2 * seed);
        let b = target(&d, 1.0, BUNDLED_N, 2 * seed + 1);
        let rows = compare_targets(&a, &b, seed);
        if rows
            .iter()
            .all(|r| r.verdict == "no significant difference")
        {
            clean += 1;
        }
    }
    assert!(clean as f64 >= 0.95 * runs as f64, "{clean} of {runs}");
}

#[test]
fn a_ten_percent_p99_regression_is_detected_at_the_bundled_sample_size() {
    let d = gateway_latency();
    let runs = 50;
    let mut detected = 0;
    for seed in 0..runs {
        let a = target(&d, 1.0, BUNDLED_N, 1000 + 2 * seed);
        let b = target(&d, 1.10, BUNDLED_N, 1001 + 2 * seed);
        let rows = compare_targets(&a, &b, seed);
        if verdict_of(&rows, "latency p99 (ms)").starts_with("worse") {
            detected += 1;
        }
        // never the wrong way round
        assert!(!verdict_of(&rows, "latency p99 (ms)").starts_with("better"));
    }
    assert!(detected as f64 >= 0.9 * runs as f64, "{detected} of {runs}");
}

#[test]
fn too_few_samples_say_how_many_are_needed() {
    let d = gateway_latency();
    let a = target(&d, 1.0, 40, 1);
    let b = target(&d, 1.5, 40, 2);
    let rows = compare_targets(&a, &b, 1);
    let v = verdict_of(&rows, "latency p99 (ms)");
    assert!(v.starts_with("insufficient data: about"), "{v}");
    let (pair, _) = cutover::measure::decision::judge_pair("legacy", "gateway", &a, &b, 1, "run");
    let md = cutover::report::markdown::pair_markdown(&pair, true);
    // A metric that is significantly worse decides, whatever the others lack: a 1.5x slower median over 40 samples
    // is NOT SAFE (issue 10's `not_safe` wins over `undecided`), never UNDECIDED.
    assert!(md.contains("NOT SAFE"), "{md}");
    assert!(!md.contains("UNDECIDED"), "{md}");
    assert!(!md.contains("no metric is significantly worse"), "{md}");
}
