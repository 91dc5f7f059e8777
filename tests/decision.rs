//! The decision through the real binary: exit codes, results.json (validated against its schema), JUnit, the
//! terminal's last lines, and the same p99 figure in every output. Every scenario here runs embedded mocks on
//! loopback for a few seconds.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_cutover");

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_dir(dir: &Path, out: &str) -> PathBuf {
    std::fs::read_dir(dir.join(out))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

/// An OpenAI mock profile whose non-streamed answers take a lognormal latency of this mean and p99, never failing.
fn profile(dir: &Path, file: &str, mean_ms: f64, p99_ms: f64) {
    std::fs::write(
        dir.join(file),
        format!(
            "name: {file}\nprotocol: openai\nseed: 3\nmodels: [gpt-4.1]\nlatency: {{mean_ms: {mean_ms}, p99_ms: {p99_ms}}}\n\
             output_tokens: {{min: 5, max: 10}}\nerrors: {{rate: 0.0}}\n"
        ),
    )
    .unwrap();
}

/// A scenario of one legacy and the given gateways, all OpenAI mocks: `convs_per_s` one-turn non-stream
/// conversations a second for `secs` seconds.
fn scenario(dir: &Path, gateways: &[(&str, &str)], convs_per_s: f64, secs: f64) -> PathBuf {
    let mut t =
        String::from("  - {name: legacy, role: legacy, protocol: openai, mock: legacy.yaml}\n");
    for (name, mock) in gateways {
        t.push_str(&format!(
            "  - {{name: {name}, role: gateway, protocol: openai, mock: {mock}}}\n"
        ));
    }
    let text = format!(
        "name: judged\nseed: 5\ntargets:\n{t}traffic:\n  conversations_per_day: {cpd}\n  duration_s: {secs}\n  arrival: uniform\n  \
         turns: [{{turns: 1, weight: 1.0}}]\n  stream_share: 0.0\n  models: [{{model: gpt-4.1, weight: 1.0}}]\n  prompts: [\"hello\"]\n\
         limits: {{request_timeout_s: 5, grace_s: 2}}\nprices: {ROOT}/prices/default.yaml\n",
        cpd = convs_per_s * 86_400.0
    );
    let p = dir.join("s.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_slower_gateway_exits_1_not_safe_with_junit_failures_and_says_why_last() {
    let tmp = tempfile::tempdir().unwrap();
    profile(tmp.path(), "legacy.yaml", 40.0, 80.0);
    profile(tmp.path(), "slow.yaml", 120.0, 240.0); // 3x the legacy's latency
    let s = scenario(tmp.path(), &[("gateway", "slow.yaml")], 100.0, 2.0);
    let (code, out, err) = run(tmp.path(), &["run", "--quiet", s.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    let dir = run_dir(tmp.path(), "reports");
    let doc = common::validate_results(&dir);
    assert_eq!(doc["decision"], "not_safe");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(!junit.contains("failures=\"0\""), "{junit}");
    assert!(junit.contains("<failure message=\"worse"), "{junit}");
    // The terminal ends with the decision, its reasons, then the two report paths.
    let lines: Vec<&str> = out.lines().collect();
    let n = lines.len();
    assert!(
        lines[n - 2].ends_with("report.md") && lines[n - 1].ends_with("report.html"),
        "{out}"
    );
    let at = lines
        .iter()
        .position(|l| *l == "decision: NOT SAFE")
        .expect("decision line");
    assert!(
        lines[at + 1].starts_with("  - gateway vs legacy: latency p50 (ms): worse"),
        "{out}"
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.starts_with("# cutover report: judged\n\n> **Decision: NOT SAFE**"),
        "{md}"
    );
}

#[test]
fn two_gateways_are_both_judged_against_the_legacy() {
    let tmp = tempfile::tempdir().unwrap();
    profile(tmp.path(), "legacy.yaml", 40.0, 80.0);
    profile(tmp.path(), "same.yaml", 40.0, 80.0);
    profile(tmp.path(), "slow.yaml", 120.0, 240.0);
    let s = scenario(
        tmp.path(),
        &[("gw-a", "same.yaml"), ("gw-b", "slow.yaml")],
        100.0,
        2.0,
    );
    let (code, out, err) = run(tmp.path(), &["run", "--quiet", s.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    let doc = common::validate_results(&run_dir(tmp.path(), "reports"));
    let pairs: Vec<(String, String, String)> = doc["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["a"].as_str().unwrap().to_string(),
                p["b"].as_str().unwrap().to_string(),
                p["decision"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // gw-a serves like the legacy: its p50 is not worse, only its p99 lacks samples (undecided); gw-b is worse.
    assert_eq!(
        pairs,
        vec![
            ("legacy".into(), "gw-a".into(), "undecided".into()),
            ("legacy".into(), "gw-b".into(), "not_safe".into()),
        ]
    );
    assert!(
        out.contains("  - gw-b vs legacy: latency p50 (ms): worse"),
        "{out}"
    );
}

#[test]
fn a_too_short_run_is_undecided_exit_5_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    profile(tmp.path(), "legacy.yaml", 20.0, 40.0);
    profile(tmp.path(), "gw.yaml", 20.0, 40.0);
    let s = scenario(tmp.path(), &[("gateway", "gw.yaml")], 10.0, 1.0);
    let (code, out, err) = run(tmp.path(), &["run", "--quiet", s.to_str().unwrap()]);
    assert_eq!(code, 5, "{out}{err}");
    let dir = run_dir(tmp.path(), "reports");
    assert_eq!(common::validate_results(&dir)["decision"], "undecided");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<skipped message=\"insufficient data"),
        "{junit}"
    );
    let (code, out, err) = run(
        tmp.path(),
        &[
            "run",
            "--quiet",
            "--allow-undecided",
            "--out",
            "again",
            s.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
}
