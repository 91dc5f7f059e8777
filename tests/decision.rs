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

#[test]
fn compare_refuses_runs_of_different_plans_unless_forced_and_then_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    profile(tmp.path(), "legacy.yaml", 20.0, 40.0);
    profile(tmp.path(), "gw.yaml", 20.0, 40.0);
    let s = scenario(tmp.path(), &[("gateway", "gw.yaml")], 20.0, 1.0);
    let a = s.to_str().unwrap();
    run(tmp.path(), &["run", "--quiet", "--out", "one", a]);
    let text = std::fs::read_to_string(&s)
        .unwrap()
        .replace("seed: 5", "seed: 6");
    std::fs::write(&s, text).unwrap();
    run(tmp.path(), &["run", "--quiet", "--out", "two", a]);
    let (one, two) = (run_dir(tmp.path(), "one"), run_dir(tmp.path(), "two"));
    let (one, two) = (one.to_str().unwrap(), two.to_str().unwrap());
    let (code, out, err) = run(tmp.path(), &["compare", one, two]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("seed: baseline 5 vs current 6"), "{err}");
    assert!(err.contains("scenario sha256"), "{err}");
    let (code, out, err) = run(tmp.path(), &["compare", "--force", one, two]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(
        out.contains("**FORCED COMPARISON OF DIFFERENT PLANS**"),
        "{out}"
    );
    assert!(err.contains("WARNING: forced comparison"), "{err}");
    let junit = std::fs::read_to_string(Path::new(two).join("junit-compare.xml")).unwrap();
    assert!(
        junit.contains("forced comparison of different plans"),
        "{junit}"
    );
}

/// A canary cut short by --duration: the later phases have no data, so the run is undecided, never GO.
#[test]
fn a_canary_cut_short_is_undecided() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(format!("{ROOT}/scenarios/coze-canary.yaml"))
        .unwrap()
        .replace("mock: ../mocks/", &format!("mock: {ROOT}/mocks/"))
        .replace("prices: ../prices/", &format!("prices: {ROOT}/prices/"));
    std::fs::write(tmp.path().join("c.yaml"), text).unwrap();
    let (code, out, err) = run(tmp.path(), &["run", "--quiet", "--duration", "2", "c.yaml"]);
    assert_eq!(code, 5, "{out}{err}");
    let doc = common::validate_results(&run_dir(tmp.path(), "reports"));
    let phases = doc["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 4);
    assert!(
        phases.iter().all(|p| p["kind"] == "undecided"),
        "{phases:?}"
    );
    assert!(out.contains("no request fell in this phase"), "{out}");
}
