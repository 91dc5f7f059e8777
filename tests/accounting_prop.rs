//! Property: whatever mix of faults a target throws, with whatever retry settings and stream share, every
//! scheduled request ends as exactly one row, and scheduled = ok + errors + cancelled + not sent.

mod common;

use common::*;
use cutover::mock::{self, MockProfile};
use cutover::run::record::Outcome;
use cutover::run::state::Control;
use proptest::prelude::*;

const FAULTS: &[&str] = &[
    "reset_before_response",
    "reset_during_response",
    "http_500",
    "http_503",
    "rate_limit_no_retry_after",
    "malformed_json",
    "truncated_sse",
    "wrong_content_type",
    "stream_error_event",
];

fn run_case(rates: Vec<u8>, retries: u32, stream_share: f64, convs: u32, turns: u32) {
    let faults: String = FAULTS
        .iter()
        .zip(&rates)
        .filter(|(_, r)| **r > 0)
        .map(|(k, r)| format!("  - {{kind: {k}, rate: {}}}\n", f64::from(*r) / 100.0))
        .collect();
    let profile = MockProfile::from_yaml_str(
        &format!(
            "name: p\nprotocol: openai\nmodels: [gpt-4.1]\nlatency: {{mean_ms: 10, p99_ms: 30}}\n\
             stream: {{ttft: {{mean_ms: 10, p99_ms: 30}}, inter_token_ms: {{mean_ms: 1, p99_ms: 3}}}}\n\
             output_tokens: {{min: 5, max: 20}}\nerrors: {{rate: 0.05}}\nfaults:{}\n",
            if faults.is_empty() { " []\n".to_string() } else { format!("\n{faults}") }
        ),
        "prop.yaml",
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let handle = mock::serve(profile, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let text = openai_scenario(&handle.base_url(), convs, "")
            .replace("    api_key_env: CUTOVER_TEST_KEY\n", "")
            .replace(
                "stream_share: 0.0",
                &format!("stream_share: {stream_share}"),
            )
            .replace(
                "turns: [{turns: 1, weight: 1.0}]",
                &format!("turns: [{{turns: {turns}, weight: 1.0}}]"),
            )
            .replace("max_retries: 2", &format!("max_retries: {retries}"))
            .replace("initial_backoff_ms: 50", "initial_backoff_ms: 5")
            .replace("max_backoff_ms: 200", "max_backoff_ms: 20");
        let sc = write_scenario(tmp.path(), &text);
        let r = run_in(tmp.path(), &sc, Control::default()).await.unwrap();
        let rows = records(&r.dir);
        // scheduled requests, counted independently of the runner: conversations x turns
        assert_eq!(rows.len() as u32, convs * turns);
        let meta = cutover::report::RunMeta::load(&r.dir).unwrap();
        let a = &meta.accounting[0];
        let count = |o: Outcome| rows.iter().filter(|r| r.outcome == Some(o)).count() as u64;
        assert_eq!(a.scheduled, rows.len() as u64);
        assert_eq!(
            (a.ok, a.errors, a.cancelled, a.not_sent),
            (
                count(Outcome::Ok),
                count(Outcome::Error),
                count(Outcome::Cancelled),
                count(Outcome::NotSent)
            )
        );
        assert_eq!(a.scheduled, a.ok + a.errors + a.cancelled + a.not_sent);
        // every (conversation, turn) exactly once
        let mut keys: Vec<(u64, u32)> = rows.iter().map(|r| (r.conversation, r.turn)).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), rows.len());
        // attempts seen by the runner = requests the mock received
        let attempts: u64 = rows.iter().map(|r| u64::from(r.attempts)).sum();
        assert_eq!(
            attempts,
            handle.stats().requests("POST /v1/chat/completions")
        );
        handle.shutdown().await;
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]
    #[test]
    fn every_scheduled_request_is_accounted_for_exactly_once(
        rates in proptest::collection::vec(0u8..=30, FAULTS.len()),
        retries in 0u32..=2,
        stream_share in prop_oneof![Just(0.0), Just(0.5), Just(1.0)],
        convs in 1u32..=6,
        turns in 1u32..=3,
    ) {
        run_case(rates, retries, stream_share, convs, turns);
    }
}
