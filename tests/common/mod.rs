#![allow(dead_code)]
//! Shared helpers for integration tests: small scenarios pointed at loopback servers, run into a temp directory.

use std::path::{Path, PathBuf};

use cutover::commands::{self, RunOptions};
use cutover::run::record::Record;
use cutover::run::state::Control;

pub const PRICES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/prices/default.yaml");

/// A one-target OpenAI scenario with `convs` conversations of one non-stream turn each, evenly spaced over one second.
pub fn openai_scenario(base_url: &str, convs: u32, extra: &str) -> String {
    format!(
        r#"name: t
seed: 7
targets:
  - name: gw
    role: gateway
    protocol: openai
    base_url: {base_url}
    api_key_env: CUTOVER_TEST_KEY
traffic:
  conversations_per_day: {cpd}
  duration_s: 1
  arrival: uniform
  turns: [{{turns: 1, weight: 1.0}}]
  stream_share: 0.0
  models: [{{model: gpt-4.1, weight: 1.0}}]
  prompts: ["hello there"]
limits:
  request_timeout_s: 5
  grace_s: 2
retry:
  max_retries: 2
  initial_backoff_ms: 50
  max_backoff_ms: 200
  max_retry_after_s: 5
  budget_s: 10
prices: {PRICES}
{extra}
"#,
        cpd = convs as f64 * 86_400.0 - 1.0
    )
}

pub fn write_scenario(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("scenario.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

pub async fn run_in(
    dir: &Path,
    scenario: &Path,
    control: Control,
) -> Result<commands::RunResult, commands::AppError> {
    let opts = RunOptions {
        out_root: dir.join("reports"),
        ..Default::default()
    };
    commands::run(scenario, &opts, control).await
}

pub fn records(run_dir: &Path) -> Vec<Record> {
    cutover::run::record::read_records(&run_dir.join("requests.csv"))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Set the test key variable once per test binary (every test uses the same value, so no test races another).
pub fn set_test_key(value: &'static str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("CUTOVER_TEST_KEY", value));
}

/// Validate a run directory's results.json against `schemas/results.schema.json`; returns the parsed document.
pub fn validate_results(run_dir: &Path) -> serde_json::Value {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/results.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let p = run_dir.join("results.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}: {errors:#?}", p.display());
    doc
}

/// The bundled scenario's text with its mock and price paths made absolute, so a test can write it anywhere.
pub fn bundled_scenario() -> String {
    const ROOT: &str = env!("CARGO_MANIFEST_DIR");
    std::fs::read_to_string(format!("{ROOT}/scenarios/coze-migration.yaml"))
        .unwrap()
        .replace("mock: ../mocks/", &format!("mock: {ROOT}/mocks/"))
        .replace("prices: ../prices/", &format!("prices: {ROOT}/prices/"))
}
