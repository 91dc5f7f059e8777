//! Load shapes end to end: warm-up rows are sent and recorded but kept out of every figure.

mod common;

use std::time::Duration;

use common::*;
use cutover::run::state::Control;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-test-shapes-0123456789";

fn ok_body() -> serde_json::Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4.1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Your order ships today."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
    })
}

/// A "cold" server: its first 10 answers take 400 ms, the rest are immediate.
async fn cold_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(ok_body())
                .set_delay(Duration::from_millis(400)),
        )
        .up_to_n_times(10)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body()))
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

/// 20 uniform arrivals over 1 s (k / 20 s), warm-up 0.5 s: the first 10 are warm-up. The server is "cold": its first
/// 10 answers take 400 ms, the rest are immediate. The measured figures must not see the cold answers.
#[tokio::test(flavor = "multi_thread")]
async fn warmup_requests_are_recorded_and_kept_out_of_every_figure() {
    let server = cold_server().await;
    let tmp = tempfile::tempdir().unwrap();
    let text = openai_scenario(&server.uri(), 20, "").replace(
        "  prompts: [\"hello there\"]\n",
        "  prompts: [\"hello there\"]\n  warmup_s: 0.5\n",
    );
    let sc = write_scenario(tmp.path(), &text);
    set_test_key(KEY);
    let r = run_in(tmp.path(), &sc, Control::default()).await.unwrap();
    let rows = records(&r.dir);
    assert_eq!(rows.len(), 20);
    for row in &rows {
        assert_eq!(
            row.warmup,
            row.scheduled_ms < 500.0,
            "conversation {} scheduled at {} ms",
            row.conversation,
            row.scheduled_ms
        );
    }
    let slow = rows
        .iter()
        .filter(|r| r.latency_ms.unwrap() >= 390.0)
        .count();
    assert_eq!(slow, 10, "the cold answers happened (to the warm-up)");
    // the run's accounting has all 20; the statistics only the 10 measured
    let meta = cutover::report::RunMeta::load(&r.dir).unwrap();
    assert_eq!(meta.accounting[0].scheduled, 20);
    let run = cutover::report::rundir::Run::load(&r.dir).unwrap();
    let m = &run.metrics;
    assert_eq!(m.metric("gw", "requests"), Some(10.0));
    assert_eq!(m.targets["gw"].warmup, 10);
    let max = m.metric("gw", "max_ms").unwrap();
    assert!(
        max < 390.0,
        "a warm-up answer leaked into the figures: max {max} ms"
    );
    let md = std::fs::read_to_string(r.dir.join("report.md")).unwrap();
    assert!(md.contains("Warm-up: 10 more requests"), "{md}");
}

/// The embedded mock's capacity, as the knee test writes it into the profile: `concurrency` requests served at once
/// for a near-fixed `mean_ms` each (lognormal, p99 4% above the mean), `queue` more waiting FIFO, beyond that 503.
const KNEE_CONCURRENCY: f64 = 4.0;
const KNEE_QUEUE: u32 = 16;
const KNEE_MEAN_MS: f64 = 50.0;

/// Through the real binary, against the embedded mock: `cutover sweep` must find the highest rate meeting
/// `error_rate < 0.01` and `p99_ms < 200` within 15% of the mock's capacity, concurrency / mean service time
/// (Little's law: 4 / 50 ms = 80 requests/s). Uniform arrivals, no retries, 2-3 s steps. The queue of 16 absorbs
/// the scheduling jitter of a busy machine below the knee; above it, it fills (waits > 200 ms) and then overflows
/// (503).
#[test]
fn sweep_finds_the_embedded_mocks_knee_within_15_percent() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("capacity.yaml");
    std::fs::write(
        &profile,
        format!(
            "name: knee\nprotocol: openai\nseed: 3\ndraws: request\nmodels: [gpt-4.1]\n\
             latency: {{mean_ms: {KNEE_MEAN_MS}, p99_ms: {}}}\n\
             output_tokens: {{min: 20, max: 20}}\nerrors: {{rate: 0}}\nrate_limit: {{rate: 0}}\n\
             capacity: {{concurrency: {KNEE_CONCURRENCY}, queue: {KNEE_QUEUE}, reject_status: 503}}\n",
            KNEE_MEAN_MS * 1.04
        ),
    )
    .unwrap();
    let knee = KNEE_CONCURRENCY / (KNEE_MEAN_MS / 1000.0);
    let text = openai_scenario("MOCK", 1, "")
        .replace("base_url: MOCK", &format!("mock: {}", profile.display()))
        .replace("max_retries: 2", "max_retries: 0");
    let sc = write_scenario(tmp.path(), &text);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args([
            "sweep",
            "--slo",
            "error_rate < 0.01",
            "--slo",
            "p99_ms < 200",
        ])
        .args([
            "--start-rps",
            "20",
            "--min-step-s",
            "2",
            "--max-step-s",
            "3",
        ])
        .args(["--max-steps", "10", "--max-total-s", "120", "--out"])
        .arg(tmp.path().join("reports"))
        .arg(&sc)
        .env_remove("CUTOVER_TEST_KEY")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let csv_path = stdout
        .lines()
        .find_map(|l| l.strip_prefix("sweep: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let dir = std::path::Path::new(csv_path).parent().unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let c = &json["capacity"]["gw"];
    let found = c["max_rps_meeting_slo"].as_f64().unwrap();
    let csv = std::fs::read_to_string(dir.join("sweep.csv")).unwrap();
    assert!(csv.starts_with(
        "target,step,offered_rps,achieved_rps,ok,errors,p50_ms,p99_ms,ttft_p99_ms,error_rate,meets_slo"
    ));
    let steps: Vec<(f64, bool)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[2].parse().unwrap(), f[10] == "true")
        })
        .collect();
    eprintln!("knee {knee}/s: found {found:.1}/s; steps {steps:?}");
    assert!(
        (found - knee).abs() / knee <= 0.15,
        "found {found} requests/s, knee {knee}; steps {steps:?}\n{csv}"
    );
    let failing = c["first_failing_rps"].as_f64().unwrap();
    assert!(failing > found && failing <= knee * 1.15 * 1.1, "{csv}");
    // every step below the found capacity passed, every one at or above the first failure failed
    for (rps, met) in &steps {
        assert_eq!(*met, *rps <= found, "{csv}");
    }
    assert!(stdout.contains("gw: meets the SLO up to"), "{stdout}");
    assert!(std::fs::metadata(dir.join("sweep.png")).unwrap().len() > 10_000);
}

/// Through the real binary: a target answering 503 to everything, an abort-on-fail threshold (breached for 1 s with
/// at least 10 samples). Arrivals stop long before the 10 s window ends, the exit code is 1 (a failure, not an
/// interruption), and report.md and run.json say what aborted the run.
#[tokio::test(flavor = "multi_thread")]
async fn an_abort_on_fail_threshold_stops_the_run_through_the_binary() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"error": {"message": "down", "type": "server_error"}})),
        )
        .mount(&server)
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let rule = "thresholds:\n  - \"gw.p99_ms < 1000\"\n  - {expr: \"gw.error_rate < 0.5\", abort_on_fail: true, delay_s: 1, min_samples: 10}\n";
    let text = openai_scenario(&server.uri(), 20, rule)
        .replace("duration_s: 1\n", "duration_s: 10\n")
        .replace("max_retries: 2", "max_retries: 0");
    let sc = write_scenario(tmp.path(), &text);
    let started = std::time::Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["run", "--quiet", "--out"])
        .arg(tmp.path().join("reports"))
        .arg(&sc)
        .env("CUTOVER_TEST_KEY", KEY)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("aborted: gw.error_rate < 0.5"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "arrivals did not stop"
    );
    let dir = std::fs::read_dir(tmp.path().join("reports"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("> **ABORTED** — aborted: gw.error_rate < 0.5"),
        "{md}"
    );
    let meta = cutover::report::RunMeta::load(&dir).unwrap();
    assert_eq!(
        meta.stopped.as_deref(),
        Some("aborted: gw.error_rate < 0.5")
    );
    // ~20/s: the abort came after >= 10 samples and >= 1 s of breach, long before the 200 planned arrivals
    let rows = records(&dir);
    let sent = rows.iter().filter(|r| r.sent_ms.is_some()).count();
    assert_eq!(rows.len(), 200, "every planned request has its row");
    assert!((10..120).contains(&sent), "{sent} sent");
    assert!(rows
        .iter()
        .filter(|r| r.sent_ms.is_none())
        .all(|r| r.not_sent_reason == "interrupted"));
}

/// Goodput: 20 requests over 1 s, the first 10 answered in 400 ms, the rest at once; with `latency_ms: 200` exactly
/// the 10 fast ones are good, per second of the measured window.
#[tokio::test(flavor = "multi_thread")]
async fn goodput_counts_the_requests_within_the_objectives() {
    let server = cold_server().await;
    let tmp = tempfile::tempdir().unwrap();
    let text = openai_scenario(&server.uri(), 20, "goodput: {latency_ms: 200}\n");
    let sc = write_scenario(tmp.path(), &text);
    set_test_key(KEY);
    let r = run_in(tmp.path(), &sc, Control::default()).await.unwrap();
    let run = cutover::report::rundir::Run::load(&r.dir).unwrap();
    assert_eq!(run.metrics.targets["gw"].good, 10);
    // per second of the measured window: the arrival window, or the elapsed time when the run ended sooner
    let window = run.meta.window_s();
    assert!(window > 0.9 && window <= 1.0, "{window}");
    assert_eq!(run.metrics.metric("gw", "goodput_rps"), Some(10.0 / window));
    let md = std::fs::read_to_string(r.dir.join("report.md")).unwrap();
    let row = format!("| gw | {:.2} | 10 | 50.0% |", 10.0 / window);
    assert!(md.contains(&row), "{md}");
}
