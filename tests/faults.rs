//! Every fault of the mock's menu against the runner: each lands under its own error kind, and the accounting is
//! exact (scheduled = ok + errors + cancelled + not sent; no request lost or counted twice; the mock injected
//! exactly as many faults as the runner recorded failures).

mod common;

use std::collections::BTreeMap;

use common::*;
use cutover::mock::{self, FaultKind, MockProfile};
use cutover::run::record::Outcome;
use cutover::run::state::Control;

/// (fault, streamed request?, expected error kind)
const CASES: &[(&str, bool, &str)] = &[
    ("reset_before_response", false, "no_response"),
    ("reset_during_response", false, "body_interrupted"),
    ("hang", false, "timeout"),
    ("slow_drip", false, "timeout"),
    ("http_500", false, "http_500"),
    ("http_502", false, "http_502"),
    ("http_503", true, "http_503"),
    ("rate_limit_no_retry_after", false, "rate_limited"),
    ("rate_limit_seconds", false, "rate_limited"),
    ("rate_limit_http_date", false, "rate_limited"),
    ("malformed_json", false, "malformed_json"),
    ("malformed_json", true, "malformed_json"),
    ("truncated_sse", true, "stream_cut"),
    ("oversize_body", false, "oversize_body"),
    ("wrong_content_type", false, "wrong_content_type"),
    ("wrong_content_type", true, "wrong_content_type"),
    ("stream_error_event", true, "stream_error"),
];

const CONVS: u32 = 3;

async fn run_fault(
    kind: &str,
    stream: bool,
) -> (
    BTreeMap<String, u64>,
    Vec<cutover::run::record::Record>,
    u64,
) {
    let profile = MockProfile::from_yaml_str(
        &format!(
            "name: f\nprotocol: openai\nseed: 1\nauth: {{bearer: \"sk-fault-test-000000\"}}\nmodels: [gpt-4.1]\n\
             latency: {{mean_ms: 20, p99_ms: 40}}\nstream: {{ttft: {{mean_ms: 20, p99_ms: 40}}, inter_token_ms: {{mean_ms: 2, p99_ms: 5}}}}\n\
             errors: {{rate: 0.0}}\nfaults:\n  - {{kind: {kind}, rate: 1.0}}\n"
        ),
        "fault.yaml",
    )
    .unwrap();
    let handle = mock::serve(profile, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // No retries, a 1.5 s timeout: each conversation is exactly one request that fails by the fault.
    let text = openai_scenario(&handle.base_url(), CONVS, "")
        .replace(
            "stream_share: 0.0",
            if stream {
                "stream_share: 1.0"
            } else {
                "stream_share: 0.0"
            },
        )
        .replace("request_timeout_s: 5", "request_timeout_s: 1.5")
        .replace("max_retries: 2", "max_retries: 0");
    let sc = write_scenario(tmp.path(), &text);
    set_test_key("sk-fault-test-000000");
    let r = run_in(tmp.path(), &sc, Control::default()).await.unwrap();
    let rows = records(&r.dir);
    let stats = handle.stats();
    let injected = stats.faults_total();
    let mut kinds = BTreeMap::new();
    for row in &rows {
        *kinds.entry(row.error_kind.clone()).or_default() += 1;
    }
    handle.shutdown().await;
    (kinds, rows, injected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_its_own_error_kind_and_accounting_is_exact() {
    // every kind of the mock's menu is covered here
    for k in FaultKind::ALL {
        assert!(
            CASES.iter().any(|(n, _, _)| *n == k.name()),
            "fault {} not tested",
            k.name()
        );
    }
    for (fault, stream, expected) in CASES {
        let (kinds, rows, injected) = run_fault(fault, *stream).await;
        let ctx = format!("{fault} (stream {stream})");
        assert_eq!(
            rows.len() as u32,
            CONVS,
            "{ctx}: one row per scheduled request"
        );
        assert!(
            rows.iter().all(|r| r.outcome == Some(Outcome::Error)),
            "{ctx}: {rows:?}"
        );
        assert_eq!(
            kinds.get(*expected),
            Some(&(CONVS as u64)),
            "{ctx}: {kinds:?}"
        );
        assert!(
            rows.iter().all(|r| r.attempts == 1 && r.stream == *stream),
            "{ctx}"
        );
        assert_eq!(
            injected, CONVS as u64,
            "{ctx}: the mock injected one fault per request"
        );
        // failed requests never carry latency into the histograms, and cost nothing without usage
        let m = {
            let mut m = cutover::measure::metrics::Metrics::new(1.0, 1.0);
            rows.iter().for_each(|r| m.add(r));
            m
        };
        assert_eq!(m.metric("gw", "mean_ms"), None, "{ctx}");
        assert_eq!(m.metric("gw", "error_rate"), Some(1.0), "{ctx}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_from_a_rate_limit_storm_is_capped_and_bounded_by_the_budget() {
    let profile = MockProfile::from_yaml_str(
        "name: f\nprotocol: openai\nseed: 1\nmodels: [gpt-4.1]\nlatency: {mean_ms: 20, p99_ms: 40}\nerrors: {rate: 0.0}\n\
         faults:\n  - {kind: rate_limit_seconds, rate: 1.0, retry_after_s: 30}\n",
        "storm.yaml",
    )
    .unwrap();
    let handle = mock::serve(profile, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // Server says 30 s; the cap is 0.2 s; the budget allows 0.5 s of waiting: 2 retries fit (0.4 s), a third does not.
    let text = openai_scenario(&handle.base_url(), 1, "")
        .replace("    api_key_env: CUTOVER_TEST_KEY\n", "")
        .replace("max_retries: 2", "max_retries: 5")
        .replace("max_retry_after_s: 5", "max_retry_after_s: 0.2")
        .replace("budget_s: 10", "budget_s: 0.5");
    let sc = write_scenario(tmp.path(), &text);
    let started = std::time::Instant::now();
    let r = run_in(tmp.path(), &sc, Control::default()).await.unwrap();
    assert!(started.elapsed().as_secs_f64() < 5.0);
    let rows = records(&r.dir);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.error_kind, "rate_limited");
    assert_eq!((row.attempts, row.retries), (3, 2));
    assert!(
        (row.retry_wait_ms - 400.0).abs() < 1.0,
        "{}",
        row.retry_wait_ms
    );
    assert_eq!(handle.stats().faults_total(), 3);
}
