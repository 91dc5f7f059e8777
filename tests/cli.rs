//! The binary's exit codes and error messages (documented in README.md).

mod common;

use std::path::Path;
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

/// The run directory a test's single run wrote under `<dir>/reports`.
fn only_run_dir(dir: &Path) -> std::path::PathBuf {
    std::fs::read_dir(dir.join("reports"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn reports_written(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("reports"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn bad_scenario_is_exit_2_naming_file_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let text = common::bundled_scenario().replace("stream_share: 0.3", "stream_share: -0.3");
    std::fs::write(tmp.path().join("bad.yaml"), &text).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("stream_share: -0.3"))
        .unwrap()
        + 1;
    for cmd in ["validate", "run"] {
        let (code, _, err) = run(tmp.path(), &[cmd, "bad.yaml"]);
        assert_eq!(code, 2, "{cmd}: {err}");
        assert!(
            err.contains(&format!("bad.yaml:{line}:3: traffic.stream_share:")),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "one-line error: {err}");
    }
    assert_eq!(reports_written(tmp.path()), 0);
}

#[test]
fn malformed_yaml_is_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("bad.yaml"), "name: x\ntargets: [\n").unwrap();
    let (code, _, err) = run(tmp.path(), &["run", "bad.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.yaml:"), "{err}");
}

#[test]
fn non_loopback_target_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let text = common::bundled_scenario().replacen(
        &format!("mock: {ROOT}/mocks/gateway.yaml"),
        "base_url: https://gateway.example.com",
        1,
    );
    std::fs::write(tmp.path().join("s.yaml"), text).unwrap();
    let (code, _, err) = run(tmp.path(), &["run", "s.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a loopback address"), "{err}");
    assert_eq!(reports_written(tmp.path()), 0);
}

#[test]
fn missing_key_variable_and_unreachable_target_are_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let text = common::bundled_scenario().replacen(
        &format!("mock: {ROOT}/mocks/gateway.yaml"),
        "base_url: http://127.0.0.1:9",
        1,
    );
    std::fs::write(tmp.path().join("s.yaml"), &text).unwrap();
    let out = Command::new(BIN)
        .args(["run", "s.yaml"])
        .current_dir(tmp.path())
        .env_remove("GATEWAY_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`GATEWAY_API_KEY`") && err.contains("is not set"),
        "{err}"
    );

    let out = Command::new(BIN)
        .args(["run", "s.yaml"])
        .current_dir(tmp.path())
        .env("GATEWAY_API_KEY", "sk-unreachable-test-000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("target `gateway` (http://127.0.0.1:9) is unreachable"),
        "{err}"
    );
    assert!(!err.contains("sk-unreachable-test-000"));
    assert_eq!(reports_written(tmp.path()), 0);
}

#[test]
fn failed_threshold_is_exit_1_and_passing_is_0() {
    let tmp = tempfile::tempdir().unwrap();
    let base = common::bundled_scenario()
        .replace("duration_s: 60", "duration_s: 2")
        .replace("time_scale: 100", "time_scale: 50");
    let (head, _) = base.split_once("thresholds:").unwrap();
    std::fs::write(
        tmp.path().join("fail.yaml"),
        format!("{head}thresholds:\n  - \"gateway.p99_ms < 1\"\n"),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("pass.yaml"),
        format!("{head}thresholds:\n  - \"gateway.requests > 0\"\n"),
    )
    .unwrap();
    // The failing run goes to its own parent directory so `reports/` holds only the passing run.
    let (code, out, err) = run(
        tmp.path(),
        &["run", "--quiet", "--out", "failed", "fail.yaml"],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAIL run: gateway.p99_ms < 1"), "{out}");
    // Two seconds of traffic pass the threshold but are too few samples for a p99 verdict: undecided, exit 5, unless
    // --allow-undecided.
    let (code, out, err) = run(
        tmp.path(),
        &["run", "--quiet", "--out", "pass-reports", "pass.yaml"],
    );
    assert_eq!(code, 5, "{out}{err}");
    assert!(out.contains("PASS run: gateway.requests > 0"), "{out}");
    assert!(out.contains("decision: UNDECIDED\n"), "{out}");
    assert!(out.contains("insufficient data"), "{out}");
    let dir = std::fs::read_dir(tmp.path().join("pass-reports"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (code, out, err) = run(
        tmp.path(),
        &["report", "--allow-undecided", dir.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}{err}");

    // A run compared with itself: no regression but too few samples: undecided (exit 5); compare.md and JUnit XML
    // written.
    let d = dir.to_str().unwrap();
    let (code, out, err) = run(tmp.path(), &["compare", d, d]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(out.contains("**Decision: UNDECIDED**"), "{out}");
    let junit = std::fs::read_to_string(dir.join("junit-compare.xml")).unwrap();
    assert!(junit.contains("failures=\"0\""), "{junit}");
    // `report` re-renders the same run from its CSV.
    let before = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    std::fs::remove_file(dir.join("summary.csv")).unwrap();
    // Re-rendering the passing (undecided) run decides the same again; re-rendering the failing one fails again.
    let (code, _, err) = run(tmp.path(), &["report", d]);
    assert_eq!(code, 5, "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("summary.csv")).unwrap(),
        before
    );
    let failed = std::fs::read_dir(tmp.path().join("failed"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (code, _, err) = run(tmp.path(), &["report", failed.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn mock_port_in_use_is_exit_2() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = run(
        tmp.path(),
        &[
            "mock",
            &format!("{ROOT}/mocks/gateway.yaml"),
            "--port",
            &port,
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&port), "{err}");
}

fn wait_for_rows(dir: &Path, min_rows: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let rows = std::fs::read_dir(dir.join("reports"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| std::fs::read_to_string(e.ok()?.path().join("requests.csv")).ok())
            .map_or(0, |t| t.lines().count());
        if rows > min_rows {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no rows written");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Start `run s.yaml` in `dir`, wait until it has written rows, then send it a SIGINT.
fn start_and_interrupt(dir: &Path) -> std::process::Child {
    let child = Command::new(BIN)
        .args(["run", "--quiet", "s.yaml"])
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_rows(dir, 50);
    signal(child.id(), "-INT");
    child
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn sigint_drains_and_writes_an_interrupted_report_and_a_second_exits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("s.yaml"),
        common::bundled_scenario().replace("duration_s: 60", "duration_s: 30"),
    )
    .unwrap();
    // First SIGINT: arrivals stop, in-flight requests drain, the report is written and marked, exit 4.
    let child = start_and_interrupt(tmp.path());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = only_run_dir(tmp.path());
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("**INTERRUPTED** — interrupted (SIGINT)"),
        "{md}"
    );
    // The interrupted run still has a decision, and its projection says what it rests on.
    assert!(md.contains(
        "The monthly projection is made from the conversations completed on every target before the stop"
    ));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["run"]["interrupted"], true);
    assert!(results["decision"].is_string(), "{results}");
    let rows: Vec<cutover::run::record::Record> =
        cutover::run::record::read_records(&dir.join("requests.csv"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    assert!(rows.iter().any(|r| r.not_sent_reason == "interrupted"));

    // Second SIGINT during the drain: exit 130 at once, every row in requests.csv whole.
    std::fs::remove_dir_all(tmp.path().join("reports")).unwrap();
    let child = start_and_interrupt(tmp.path());
    std::thread::sleep(std::time::Duration::from_millis(50));
    signal(child.id(), "-INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = only_run_dir(tmp.path());
    let text = std::fs::read_to_string(dir.join("requests.csv")).unwrap();
    assert!(text.ends_with('\n'), "last row is complete");
    let n = cutover::run::record::read_records(&dir.join("requests.csv"))
        .unwrap()
        .map(Result::unwrap)
        .count();
    assert!(n > 50, "{n}");
}
