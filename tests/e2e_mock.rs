//! End to end against the embedded mock endpoints: identical traffic to both targets, exact accounting, an
//! interrupted run that still writes everything, and a scan of every output file for the API key.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::*;
use cutover::run::record::{Outcome, Record};
use cutover::run::state::Control;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The bundled scenario, shortened: same targets, mocks, mix and prices; `duration` seconds of arrivals.
fn short_bundled(dir: &Path, duration: f64, time_scale: f64) -> std::path::PathBuf {
    let text = std::fs::read_to_string(format!("{ROOT}/scenarios/coze-migration.yaml")).unwrap();
    let text = text
        .replace("duration_s: 60", &format!("duration_s: {duration}"))
        .replace("time_scale: 100", &format!("time_scale: {time_scale}"))
        .replace("mock: ../mocks/", &format!("mock: {ROOT}/mocks/"))
        .replace("prices: ../prices/", &format!("prices: {ROOT}/prices/"));
    write_scenario(dir, &text)
}

fn by_target(rows: &[Record]) -> BTreeMap<String, Vec<&Record>> {
    let mut m: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for r in rows {
        m.entry(r.target.clone()).or_default().push(r);
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_targets_get_identical_traffic_and_every_request_is_accounted_for() {
    let tmp = tempfile::tempdir().unwrap();
    let sc = short_bundled(tmp.path(), 4.0, 100.0);
    let r = run_in(tmp.path(), &sc, Control::default()).await.unwrap();
    assert!(r.stopped.is_none());
    let rows = records(&r.dir);
    let t = by_target(&rows);
    let (legacy, gateway) = (&t["legacy"], &t["gateway"]);
    // The same conversations with the same turns, models and stream flags went to both targets.
    let turns = |v: &Vec<&Record>| -> BTreeSet<(u64, u32, String, bool)> {
        v.iter()
            .filter(|r| r.op == "chat")
            .map(|r| (r.conversation, r.turn, r.model.clone(), r.stream))
            .collect()
    };
    assert_eq!(turns(legacy), turns(gateway));
    assert!(turns(gateway).len() > 100, "{}", turns(gateway).len());
    // Coze needs a create call per conversation; the OpenAI protocol does not.
    let convs: BTreeSet<u64> = gateway.iter().map(|r| r.conversation).collect();
    assert_eq!(
        legacy
            .iter()
            .filter(|r| r.op == "create_conversation")
            .count(),
        convs.len()
    );
    assert_eq!(
        gateway
            .iter()
            .filter(|r| r.op == "create_conversation")
            .count(),
        0
    );
    // Accounting: the run's own totals equal the rows, bucket by bucket.
    let meta = cutover::report::RunMeta::load(&r.dir).unwrap();
    for a in &meta.accounting {
        let mine = &t[&a.target];
        let count = |o: Outcome| mine.iter().filter(|r| r.outcome == Some(o)).count() as u64;
        assert_eq!(a.scheduled, mine.len() as u64);
        assert_eq!(a.ok, count(Outcome::Ok));
        assert_eq!(a.errors, count(Outcome::Error));
        assert_eq!(a.cancelled, count(Outcome::Cancelled));
        assert_eq!(a.not_sent, count(Outcome::NotSent));
        assert_eq!(a.scheduled, a.ok + a.errors + a.cancelled + a.not_sent);
        assert!(a.ok > 0);
    }
    // Failed rows carry a kind; ok rows carry timings and tokens; streams carry TTFT.
    for r in &rows {
        match r.outcome {
            Some(Outcome::Ok) => {
                assert!(r.latency_ms.is_some() && r.error_kind.is_empty());
                if r.op == "chat" {
                    assert!(r.output_tokens > 0 && r.cost_nano_usd > 0, "{r:?}");
                    assert!(!r.tokens_estimated, "the mocks send usage");
                }
                if r.stream {
                    assert!(r.ttft_ms.unwrap() <= r.latency_ms.unwrap());
                }
            }
            Some(Outcome::Error) => assert!(!r.error_kind.is_empty()),
            _ => {}
        }
    }
    // Cost totals in cost.csv are the exact sums of the rows.
    let mut rdr = csv::Reader::from_path(r.dir.join("cost.csv")).unwrap();
    for rec in rdr.deserialize::<BTreeMap<String, String>>() {
        let rec = rec.unwrap();
        let target = &rec["target"];
        let model = &rec["model"];
        let sum: u64 = t[target]
            .iter()
            .filter(|r| model == "TOTAL" || (&r.model == model && r.op == "chat"))
            .map(|r| r.cost_nano_usd)
            .sum();
        assert_eq!(
            rec["cost_nano_usd"].parse::<u64>().unwrap(),
            sum,
            "{target} {model}"
        );
    }
    for f in [
        "summary.csv",
        "cost.csv",
        "report.md",
        "report.html",
        "run.json",
        "junit.xml",
    ] {
        assert!(r.dir.join(f).exists(), "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_writes_complete_files_marked_interrupted() {
    let tmp = tempfile::tempdir().unwrap();
    let sc = short_bundled(tmp.path(), 20.0, 50.0);
    let control = Control::default();
    let c = control.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        c.stop("interrupted (test)");
    });
    let started = std::time::Instant::now();
    let r = run_in(tmp.path(), &sc, control).await.unwrap();
    // stopped long before the 20 s window, within the 20 s grace at most
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.stopped.as_deref(), Some("interrupted (test)"));
    assert_eq!(r.exit_code(), cutover::commands::exit::INTERRUPTED);
    let rows = records(&r.dir);
    let t = by_target(&rows);
    // Every conversation of the 20 s window is accounted for on both targets, most as not sent.
    let convs = |v: &Vec<&Record>| v.iter().map(|r| r.conversation).collect::<BTreeSet<u64>>();
    assert_eq!(convs(&t["legacy"]), convs(&t["gateway"]));
    let n = convs(&t["gateway"]).len() as f64;
    let expected = 50_000.0 / 86_400.0 * 50.0 * 20.0; // ~579
    assert!(
        (n - expected).abs() < 5.0 * expected.sqrt(),
        "{n} vs {expected}"
    );
    let interrupted = rows
        .iter()
        .filter(|r| r.not_sent_reason == "interrupted")
        .count();
    assert!(
        interrupted > rows.len() / 2,
        "{interrupted} of {}",
        rows.len()
    );
    assert!(rows.iter().any(|r| r.outcome == Some(Outcome::Ok)));
    let md = std::fs::read_to_string(r.dir.join("report.md")).unwrap();
    assert!(md.contains("**INTERRUPTED** — interrupted (test)"), "{md}");
    let meta = cutover::report::RunMeta::load(&r.dir).unwrap();
    assert_eq!(meta.stopped.as_deref(), Some("interrupted (test)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_appears_in_no_output_file() {
    const SECRET: &str = "sk-cutover-secret-scan-7f3a9c2e1b";
    let tmp = tempfile::tempdir().unwrap();
    // A gateway mock that expects our secret, and a second target with a wrong key to provoke 401 bodies.
    let profile = std::fs::read_to_string(format!("{ROOT}/mocks/gateway.yaml")).unwrap();
    let re_line = profile
        .lines()
        .find(|l| l.trim_start().starts_with("bearer:"))
        .expect("gateway profile has auth.bearer")
        .to_string();
    let indent = &re_line[..re_line.len() - re_line.trim_start().len()];
    let profile = profile.replace(&re_line, &format!("{indent}bearer: \"{SECRET}\""));
    let mock_path = tmp.path().join("gw.yaml");
    std::fs::write(&mock_path, profile).unwrap();
    let text = format!(
        r#"name: secrets
targets:
  - name: gateway
    role: gateway
    protocol: openai
    mock: {mock}
    api_key_env: CUTOVER_SECRET_SCAN_KEY
  - name: wrongkey
    role: legacy
    protocol: openai
    mock: {mock}
    api_key_env: CUTOVER_SECRET_SCAN_WRONG
traffic:
  conversations_per_day: 1728000
  duration_s: 2
  turns: [{{turns: 2, weight: 1.0}}]
  stream_share: 0.5
  models: [{{model: gpt-4.1, weight: 1.0}}]
  prompts: ["where is my parcel"]
limits: {{request_timeout_s: 10, grace_s: 5}}
prices: {PRICES}
"#,
        mock = mock_path.display()
    );
    let sc = write_scenario(tmp.path(), &text);
    std::env::set_var("CUTOVER_SECRET_SCAN_KEY", SECRET);
    std::env::set_var("CUTOVER_SECRET_SCAN_WRONG", format!("{SECRET}-wrong"));
    let r = run_in(tmp.path(), &sc, Control::default()).await.unwrap();
    let rows = records(&r.dir);
    assert!(rows
        .iter()
        .any(|r| r.target == "gateway" && r.outcome == Some(Outcome::Ok)));
    assert!(rows
        .iter()
        .any(|r| r.target == "wrongkey" && r.error_kind == "http_401"));
    let mut scanned = 0;
    // Every file of the run directory, sub-folders (hlog/) included.
    let mut todo = vec![r.dir.clone()];
    let mut files = Vec::new();
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                files.push(p);
            }
        }
    }
    for p in files {
        let bytes = std::fs::read(&p).unwrap();
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains(SECRET), "{} contains the key", p.display());
        assert!(
            !hay.contains("secret-scan-7f3a"),
            "{} contains part of the key",
            p.display()
        );
        scanned += 1;
    }
    assert!(scanned >= 8, "{scanned} files");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_run_has_one_section_per_phase_and_sticky_users() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(format!("{ROOT}/scenarios/coze-canary.yaml"))
        .unwrap()
        .replace("duration_s: 15", "duration_s: 1.5")
        .replace("duration_s: 60", "duration_s: 6")
        .replace("mock: ../mocks/", &format!("mock: {ROOT}/mocks/"))
        .replace("prices: ../prices/", &format!("prices: {ROOT}/prices/"));
    let sc = write_scenario(tmp.path(), &text);
    let r = run_in(tmp.path(), &sc, Control::default()).await.unwrap();
    let rows = records(&r.dir);
    // Each conversation went to exactly one path, and each user to one path within a phase.
    let mut conv_path: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    let mut user_path: BTreeMap<(u32, u64), BTreeSet<String>> = BTreeMap::new();
    for row in &rows {
        conv_path
            .entry(row.conversation)
            .or_default()
            .insert(row.target.clone());
        user_path
            .entry((
                row.canary_phase.expect("canary rows carry their phase"),
                row.user,
            ))
            .or_default()
            .insert(row.target.clone());
    }
    assert!(conv_path.values().all(|p| p.len() == 1));
    assert!(user_path.values().all(|p| p.len() == 1));
    // The gateway's share of conversations grows phase by phase and is everything in the last one.
    let share = |phase: u32| {
        let convs: BTreeMap<u64, &str> = rows
            .iter()
            .filter(|r| r.canary_phase == Some(phase))
            .map(|r| (r.conversation, r.target.as_str()))
            .collect();
        convs.values().filter(|t| **t == "gateway").count() as f64 / convs.len().max(1) as f64
    };
    assert!(
        share(0) < 0.3 && share(2) > 0.25 && share(2) < 0.75,
        "{} {}",
        share(0),
        share(2)
    );
    assert_eq!(share(3), 1.0);
    let md = std::fs::read_to_string(r.dir.join("report.md")).unwrap();
    for (i, name) in ["5%", "15%", "50%", "100%"].iter().enumerate() {
        assert!(md.contains(&format!("### Phase {}: {name}", i + 1)), "{md}");
        assert!(md.contains(&format!("**Phase {name}: ")), "{md}");
    }
    assert_eq!(
        md.matches("Users seen on both paths in this phase: 0 ")
            .count(),
        4,
        "{md}"
    );
}
