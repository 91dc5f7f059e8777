//! Webhook targets through the binary: cutover plays the bot platform against the bundled webhook mocks, set up here
//! with this test's own model latency and platform timeout.
//!
//! The plan: 20 conversations/s, uniform, for 4 s -> ceil(20 * 4) = 80 conversations of 2 messages = 160 events per
//! target. The model's latency is lognormal with mean 300 ms and p99 1200 ms (sigma 0.70, median 235 ms), and the
//! platform's timeout is 400 ms: about 22% of the synchronous server's deliveries outlast it (P(X > 400 ms)), while
//! the asynchronous server acknowledges before calling the model, so none of its deliveries can. The synchronous
//! server posts its answer before acknowledging and finishes a delivery the platform gave up on, so: an acknowledged
//! event has its answer; no event has more answers than deliveries; an event answered twice was redelivered. Half
//! the traffic asks for streams, which a webhook event never is.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cutover::run::record::{Outcome, Record};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_cutover");

const EVENTS_PER_TARGET: usize = 160;

/// A bundled webhook mock with this test's model latency.
fn profile(dir: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(format!("{ROOT}/mocks/{name}.yaml")).unwrap();
    let from = "latency: {mean_ms: 350, p99_ms: 1200}";
    assert!(text.contains(from), "{name}: {from}");
    let text = text.replace(from, "latency: {mean_ms: 300, p99_ms: 1200}");
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn scenario(dir: &Path) -> PathBuf {
    let (sync, asyn) = (profile(dir, "webhook-sync"), profile(dir, "webhook-async"));
    let target = |name: &str, role: &str, mock: &str| {
        format!(
            "  - name: {name}\n    role: {role}\n    protocol: webhook\n    mock: {mock}\n    webhook:\n      ack_timeout_ms: 400\n      retries: 2\n      retry_backoff_ms: 100\n      answer_timeout_ms: 8000\n"
        )
    };
    let text = format!(
        "name: wh\nseed: 3\ntargets:\n{}{}traffic:\n  conversations_per_day: 1728000\n  duration_s: 4\n  arrival: uniform\n  turns: [{{turns: 2, weight: 1}}]\n  stream_share: 0.5\n  models: [{{model: gpt-4.1, weight: 1}}]\n  prompts: [\"Where is my order?\"]\nlimits:\n  request_timeout_s: 10\n  grace_s: 10\n  max_duration_s: 60\nprices: {ROOT}/prices/default.yaml\n",
        target("sync", "legacy", &sync),
        target("async", "gateway", &asyn),
    );
    let p = dir.join("s.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn cutover(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn by_target(rows: &[Record]) -> BTreeMap<&str, Vec<&Record>> {
    let mut m: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for r in rows {
        m.entry(r.target.as_str()).or_default().push(r);
    }
    m
}

#[test]
fn sync_server_times_out_and_answers_redeliveries_twice_async_never_times_out() {
    let tmp = tempfile::tempdir().unwrap();
    scenario(tmp.path());
    let v = cutover(tmp.path(), &["validate", "s.yaml"]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );
    let out = cutover(tmp.path(), &["run", "s.yaml", "--quiet"]);
    let code = out.status.code().unwrap_or(-1);
    assert!(
        [0, 1, 5].contains(&code),
        "exit {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = std::fs::read_dir(tmp.path().join("reports"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let rows = common::records(&run);
    let targets = by_target(&rows);
    assert_eq!(
        targets.keys().copied().collect::<Vec<_>>(),
        ["async", "sync"]
    );
    for (name, rs) in &targets {
        // Exact accounting: every scheduled event is one row, each (conversation, message) once.
        assert_eq!(rs.len(), EVENTS_PER_TARGET, "{name}");
        let keys: BTreeSet<(u64, u32)> = rs.iter().map(|r| (r.conversation, r.turn)).collect();
        assert_eq!(keys.len(), EVENTS_PER_TARGET, "{name}: duplicate rows");
        for r in rs {
            assert_eq!(r.op, "chat", "{r:?}");
            assert!(!r.stream, "an event is one POST, never a stream: {r:?}");
            let answers = r
                .answers
                .unwrap_or_else(|| panic!("no answers column: {r:?}"));
            assert!(answers <= r.attempts, "more answers than deliveries: {r:?}");
            assert_eq!(r.retries, r.attempts.saturating_sub(1), "{r:?}");
            assert!(r.ack_timeouts <= r.attempts, "{r:?}");
        }
    }

    let asyn = &targets["async"];
    for r in asyn {
        assert_eq!(r.outcome, Some(Outcome::Ok), "{r:?}");
        assert_eq!(
            (r.attempts, r.ack_timeouts),
            (1, 0),
            "async never times out: {r:?}"
        );
        assert_eq!(r.answers, Some(1), "{r:?}");
        // The answer comes after the model call, never before the acknowledgement.
        assert!(r.answer_ms.unwrap() >= r.latency_ms.unwrap(), "{r:?}");
    }

    let sync = &targets["sync"];
    let deliveries: u32 = sync.iter().map(|r| r.attempts).sum();
    let timeouts: u32 = sync.iter().map(|r| r.ack_timeouts).sum();
    let share = f64::from(timeouts) / f64::from(deliveries);
    assert!(
        (0.08..=0.40).contains(&share),
        "timeouts {timeouts} of {deliveries} deliveries"
    );
    let mut duplicates = 0;
    for r in sync {
        if r.outcome == Some(Outcome::Ok) {
            assert!(
                r.answers >= Some(1),
                "acknowledged after the answer was posted: {r:?}"
            );
            assert!(
                r.latency_ms.unwrap() < 400.0 + 50.0,
                "an acknowledged delivery beat the timeout: {r:?}"
            );
        }
        if r.answers > Some(1) {
            duplicates += 1;
            assert!(
                r.ack_timeouts >= 1 && r.retries >= 1,
                "a duplicate needs a redelivery: {r:?}"
            );
        }
    }
    assert!(
        duplicates > 0,
        "no timed-out delivery was answered as well as its redelivery"
    );

    // The report's figures are the rows' (counted here), and results.json keeps to its schema.
    let doc = common::validate_results(&run);
    let wh = doc["webhooks"].as_array().unwrap();
    let fig = |t: &str| wh.iter().find(|f| f["target"] == t).unwrap().clone();
    let (s, a) = (fig("sync"), fig("async"));
    assert_eq!(s["events"], EVENTS_PER_TARGET);
    assert_eq!(s["deliveries"], deliveries);
    assert_eq!(s["timeouts"], timeouts);
    assert_eq!(s["duplicates"], duplicates);
    assert_eq!(a["timeouts"], 0);
    assert_eq!(a["duplicates"], 0);
    assert_eq!(a["answers_lost"], 0);
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("## Webhook"), "{md}");
}

/// `file:line:col: field: message` for each bad webhook field, the line found in this test's own text.
#[test]
fn bad_webhook_fields_are_refused_with_file_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(scenario(tmp.path())).unwrap();
    let cases: [(&str, &str, &str, &str); 5] = [
        (
            "      ack_timeout_ms: 400\n",
            "      ack_timeout_ms: 0\n",
            "targets[0].webhook.ack_timeout_ms",
            "must be in [1,",
        ),
        (
            "      ack_timeout_ms: 400\n",
            "      ack_timeout_ms: 20000\n",
            "targets[0].webhook.ack_timeout_ms",
            "request_timeout_s",
        ),
        (
            "      retries: 2\n",
            "      retries: 99\n",
            "targets[0].webhook.retries",
            "must be in [0, 20]",
        ),
        (
            "      retry_backoff_ms: 100\n",
            "      retry_backof_ms: 100\n",
            "retry_backof_ms",
            "retry_backoff_ms",
        ),
        (
            "    webhook:\n      ack_timeout_ms: 400\n",
            "    webhook:\n      path: hook\n      ack_timeout_ms: 400\n",
            "targets[0].webhook.path",
            "must be a path",
        ),
    ];
    for (from, to, field, message) in cases {
        let text = good.replacen(from, to, 1);
        assert_ne!(text, good);
        std::fs::write(tmp.path().join("bad.yaml"), &text).unwrap();
        let out = cutover(tmp.path(), &["validate", "bad.yaml"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{field}: {err}");
        let key = field.rsplit('.').next().unwrap();
        let line = text
            .lines()
            .position(|l| l.trim_start().starts_with(&format!("{key}:")))
            .unwrap()
            + 1;
        assert!(
            err.contains(&format!("bad.yaml:{line}:")),
            "{field}: line {line}: {err}"
        );
        assert!(
            err.contains(field) && err.contains(message),
            "{field}: {err}"
        );
    }
    // `webhook:` on a chat target.
    let text = good.replacen("protocol: webhook", "protocol: openai", 1);
    std::fs::write(tmp.path().join("bad.yaml"), &text).unwrap();
    let out = cutover(tmp.path(), &["validate", "bad.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("targets[0].webhook") && err.contains("protocol: webhook"),
        "{err}"
    );
    // compat compares chat APIs: two webhook targets are refused, not reported as "0 differences".
    let out = cutover(
        tmp.path(),
        &["compat", "s.yaml", "--legacy", "sync", "--gateway", "async"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("compat compares chat APIs"), "{err}");
}
