//! Sharded runs and their merge (issue 16), black-box through the binary: `run --shard I/N [--start-at T]` and
//! `merge DIR... --out DIR`. The CLI contract these tests hold the binary to is written out in `deploy/README.md`; the
//! Kubernetes manifests that drive it are checked in `tests/deploy_k8s.rs`.
//!
//! Exactness: most tests here use profiles whose random draws cannot change a count or a cost (no errors, no rate
//! limits, a fixed answer length, no follow-up messages, latencies in a band a few percent wide), so they hold
//! whatever the mocks' `draws:`. The last one runs the bundled scenario and mocks as they ship: they draw by request
//! (`draws: request`), so every request's outcome, answer length and tokens are the single run's in any shard.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

mod common;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_cutover");

/// The process-spawning tests run one at a time: their latencies are compared, and the machine has two cores.
static SERIAL: Mutex<()> = Mutex::new(());

const BOTS: &str = r#"
  "7350000000000000001": gpt-4.1
  "7350000000000000002": claude-sonnet-4-5
  "7350000000000000003": gemini-2.5-flash
  "7350000000000000004": deepseek-v3.2"#;

/// Answer length of both mocks, in words (= output tokens): fixed, so token counts do not depend on draw order.
const ANSWER_WORDS: u64 = 12;

/// Mock profiles whose random draws cannot change a count or a cost (see the module comment).
fn exact_profiles(dir: &Path) {
    let common = format!(
        "seed: 7\n\
         latency: {{mean_ms: 45, p99_ms: 47}}\n\
         stream:\n  ttft: {{mean_ms: 45, p99_ms: 47}}\n  inter_token_ms: {{mean_ms: 4, p99_ms: 4.2}}\n\
         output_tokens: {{min: {ANSWER_WORDS}, max: {ANSWER_WORDS}}}\n\
         errors: {{rate: 0}}\n\
         rate_limit: {{rate: 0}}\n"
    );
    std::fs::create_dir_all(dir.join("mocks")).unwrap();
    std::fs::write(
        dir.join("mocks/gateway.yaml"),
        format!(
            "name: gateway-exact\nprotocol: openai\n{common}\
             models: [gpt-4.1, claude-sonnet-4-5, gemini-2.5-flash, deepseek-v3.2]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("mocks/legacy.yaml"),
        format!(
            "name: legacy-exact\nprotocol: coze\n{common}coze: {{follow_ups: 0}}\nbots:{BOTS}\n"
        ),
    )
    .unwrap();
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "bundled scenario changed: `{from}`"
    );
    text.replacen(from, to, 1)
}

/// The bundled scenario against the exact mocks, at `dir/s.yaml` (`dir/s-seed2.yaml`: another seed).
fn exact_scenario(dir: &Path) -> PathBuf {
    exact_profiles(dir);
    let mut t = std::fs::read_to_string(format!("{ROOT}/scenarios/coze-migration.yaml")).unwrap();
    let d = dir.display();
    t = replace_once(
        &t,
        "mock: ../mocks/legacy.yaml",
        &format!("mock: {d}/mocks/legacy.yaml"),
    );
    t = replace_once(
        &t,
        "mock: ../mocks/gateway.yaml",
        &format!("mock: {d}/mocks/gateway.yaml"),
    );
    t = replace_once(&t, "prices: ../prices/", &format!("prices: {ROOT}/prices/"));
    // Polls every 10 ms: non-stream legacy latency is quantised to the poll interval.
    t = replace_once(&t, "poll_interval_ms: 50", "poll_interval_ms: 10");
    let (head, _) = t.split_once("thresholds:").unwrap();
    let t = format!("{head}thresholds:\n  - \"gateway.requests > 0\"\n");
    std::fs::write(dir.join("s.yaml"), &t).unwrap();
    std::fs::write(
        dir.join("s-seed2.yaml"),
        replace_once(&t, "seed: 20261125", "seed: 20261126"),
    )
    .unwrap();
    dir.join("s.yaml")
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("COZE_API_TOKEN")
        .env_remove("GATEWAY_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `run --quiet SCENARIO --duration SECS --out OUT EXTRA...` in `dir`, started.
fn spawn_run(dir: &Path, scenario: &str, secs: &str, out: &str, extra: &[&str]) -> Child {
    // Short test runs are too small for a decision: --allow-undecided keeps "undecided" at exit 0 (issue 10), so the
    // exit code here speaks of the run and the shard flags only.
    let mut args = vec![
        "run",
        "--quiet",
        "--allow-undecided",
        scenario,
        "--duration",
        secs,
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    spawn(dir, &args)
}

fn finish(child: Child) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    finish(spawn(dir, args))
}

/// The one run directory `run --out parent` wrote.
fn run_dir(parent: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap_or_else(|e| panic!("{}: {e}", parent.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("run.json").exists())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.into_iter().next().unwrap()
}

/// An instant `secs` from now, RFC 3339 UTC with milliseconds.
fn instant_in(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::milliseconds(secs * 1000))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

type Row = BTreeMap<String, String>;

fn rows(csv_path: &Path) -> Vec<Row> {
    let mut r =
        csv::Reader::from_path(csv_path).unwrap_or_else(|e| panic!("{}: {e}", csv_path.display()));
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            h.iter()
                .zip(rec.unwrap().iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn num(r: &Row, col: &str) -> f64 {
    r[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = {:?}", r[col]))
}

/// Per target: rows, ok, errors, retries, input tokens, output tokens, cost (nano-USD), all summed from requests.csv.
fn tally(rows: &[Row]) -> BTreeMap<String, [u64; 7]> {
    let mut t: BTreeMap<String, [u64; 7]> = BTreeMap::new();
    for r in rows {
        let e = t.entry(r["target"].clone()).or_default();
        e[0] += 1;
        e[1] += u64::from(r["outcome"] == "ok");
        e[2] += u64::from(r["outcome"] == "error");
        e[3] += num(r, "retries") as u64;
        e[4] += num(r, "input_tokens") as u64;
        e[5] += num(r, "output_tokens") as u64;
        e[6] += num(r, "cost_nano_usd") as u64;
    }
    t
}

fn key(r: &Row) -> (String, u64, u32, String) {
    (
        r["target"].clone(),
        num(r, "conversation") as u64,
        num(r, "turn") as u32,
        r["op"].clone(),
    )
}

/// summary.csv's `all` row of each target.
fn summary(dir: &Path) -> BTreeMap<String, Row> {
    rows(&dir.join("summary.csv"))
        .into_iter()
        .filter(|r| r["scope"] == "all")
        .map(|r| (r["target"].clone(), r))
        .collect()
}

fn monthly_total(dir: &Path) -> BTreeMap<String, f64> {
    rows(&dir.join("cost.csv"))
        .into_iter()
        .filter(|r| r["model"] == "TOTAL")
        .map(|r| (r["target"].clone(), num(&r, "monthly_usd")))
        .collect()
}

/// Nearest-rank quantile (rank ceil(q * n)) of the ok rows' latency of one target.
fn row_quantile(rows: &[Row], target: &str, q: f64) -> f64 {
    let mut v: Vec<f64> = rows
        .iter()
        .filter(|r| r["target"] == target && r["outcome"] == "ok" && !r["latency_ms"].is_empty())
        .map(|r| num(r, "latency_ms"))
        .collect();
    v.sort_by(f64::total_cmp);
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

fn close(a: f64, b: f64, rel: f64, abs_ms: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()) + abs_ms
}

/// Runs the scenario once unsharded and as three shards with a common start instant, merges the shards, and returns
/// (the single run's directory, the merged directory, the three shards' rows together).
fn single_and_merged_three_shards(d: &Path) -> (PathBuf, PathBuf, Vec<Row>) {
    exact_scenario(d);
    let (code, out, err) = finish(spawn_run(d, "s.yaml", "4", "single", &[]));
    assert_eq!(code, 0, "{out}{err}");
    // Three shards started together, with a common start instant a few seconds ahead.
    let start = instant_in(3);
    let children: Vec<Child> = (0..3)
        .map(|i| {
            let (shard, out) = (format!("{i}/3"), format!("shard-{i}"));
            spawn_run(
                d,
                "s.yaml",
                "4",
                &out,
                &["--shard", &shard, "--start-at", &start],
            )
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let (code, out, err) = finish(c);
        assert_eq!(code, 0, "shard {i}: {out}{err}");
    }
    let mut shard_rows = Vec::new();
    for i in 0..3u64 {
        let dir = run_dir(&d.join(format!("shard-{i}")));
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
        assert_eq!(
            meta["shard"]["index"].as_u64(),
            Some(i),
            "{}",
            meta["shard"]
        );
        assert_eq!(meta["shard"]["count"].as_u64(), Some(3));
        assert_eq!(meta["seed"].as_u64(), Some(20261125));
        assert!(meta["scenario_hash"]
            .as_str()
            .is_some_and(|h| !h.is_empty()));
        // Conversation ids are the unsharded run's: shard i has exactly those with id % 3 == i.
        for r in rows(&dir.join("requests.csv")) {
            assert_eq!(num(&r, "conversation") as u64 % 3, i, "{r:?}");
            shard_rows.push(r);
        }
    }
    // The folders holding the run directories, in any order: each run.json carries its index.
    let (code, out, err) = run(
        d,
        &[
            "merge",
            "--allow-undecided",
            "shard-2",
            "shard-0",
            "shard-1",
            "--out",
            "merged",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    (run_dir(&d.join("single")), d.join("merged"), shard_rows)
}

/// summary.csv of the merge against the single run's and against the shards' rows.
fn assert_summaries_match(merged: &Path, single: &Path, shard_rows: &[Row]) {
    let (ms, ss) = (summary(merged), summary(single));
    let mt = tally(shard_rows);
    assert_eq!(ms.keys().collect::<Vec<_>>(), ss.keys().collect::<Vec<_>>());
    for (target, m) in &ms {
        let s = &ss[target];
        for col in [
            "requests",
            "ok",
            "errors",
            "not_sent",
            "retries",
            "input_tokens",
            "output_tokens",
            "cost_usd",
        ] {
            assert_eq!(m[col], s[col], "{target} {col}");
        }
        assert_eq!(
            num(m, "requests") as u64,
            mt[target][0],
            "{target}: summary vs the shards' rows"
        );
        // Latency: the merged histogram is the union of the shards' rows, so its quantiles are those rows'
        // nearest-rank quantiles up to HDR precision (3 significant digits; the HDR rank is ceil(q * n) too).
        // The single run measured the same traffic at another moment: on a shared 2-core machine two unsharded runs
        // back to back differed by 40% at p50 (97 vs 136 ms), and at a load average of 13-15 (three shard processes
        // against one, other builds beside) merged vs single reached 225 vs 77 ms at p50 and 496 vs 1266 ms at p99.
        // So that comparison only catches a unit slip (a factor of 1000); the check against the rows above is the
        // precise one (summed shard percentiles would be 3x the rows' quantile).
        for (col, q) in [("p50_ms", 0.5), ("p99_ms", 0.99)] {
            let (mv, sv) = (num(m, col), num(s, col));
            let rq = row_quantile(shard_rows, target, q);
            assert!(
                close(mv, rq, 0.002, 0.002),
                "{target} {col}: summary {mv} vs the shards' rows {rq}"
            );
            assert!(
                mv < 5.0 * sv + 50.0 && sv < 5.0 * mv + 50.0,
                "{target} {col}: merged {mv} vs single {sv}"
            );
        }
    }
}

#[test]
fn three_shards_merged_equal_one_unsharded_run() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let (single, merged, shard_rows) = single_and_merged_three_shards(tmp.path());
    let m_rows = rows(&merged.join("requests.csv"));
    let s_rows = rows(&single.join("requests.csv"));

    // The same requests, each once: the shards' together, the merge's, the single run's.
    let m_keys: Vec<_> = m_rows.iter().map(key).collect();
    let m_set: BTreeSet<_> = m_keys.iter().cloned().collect();
    assert_eq!(m_keys.len(), shard_rows.len());
    assert_eq!(m_set, shard_rows.iter().map(key).collect::<BTreeSet<_>>());
    assert_eq!(
        m_set.len(),
        m_keys.len(),
        "a request appears twice in the merge"
    );
    assert_eq!(m_set, s_rows.iter().map(key).collect::<BTreeSet<_>>());

    // Counts, tokens and cost: exact, from the rows, and as the test's mock profiles make them.
    let mt = tally(&m_rows);
    assert_eq!(mt, tally(&s_rows));
    for (target, t) in &mt {
        assert_eq!(
            (t[2], t[3]),
            (0, 0),
            "{target}: the profiles inject no errors and no 429s"
        );
        let chats_ok = m_rows
            .iter()
            .filter(|r| {
                &r["target"] == target && r["op"] != "create_conversation" && r["outcome"] == "ok"
            })
            .count() as u64;
        assert_eq!(
            t[5],
            chats_ok * ANSWER_WORDS,
            "{target}: fixed answer length"
        );
    }
    assert_summaries_match(&merged, &single, &shard_rows);

    // The monthly projection is cost per conversation times the daily volume: not multiplied by the shard count.
    let (mm, sm) = (monthly_total(&merged), monthly_total(&single));
    for (target, m) in &mm {
        let conversations: BTreeSet<u64> = m_rows
            .iter()
            .filter(|r| &r["target"] == target)
            .map(|r| num(r, "conversation") as u64)
            .collect();
        let expect = mt[target][6] as f64 / 1e9 / conversations.len() as f64 * 50_000.0 * 30.0;
        assert!(
            close(*m, expect, 0.001, 0.0),
            "{target}: merged monthly {m} vs {expect} from the rows"
        );
        assert!(
            close(*m, sm[target], 0.01, 0.0),
            "{target}: merged monthly {m} vs single {}",
            sm[target]
        );
    }
}

#[test]
fn merge_refuses_shards_that_do_not_belong_together() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    exact_scenario(d);
    let plan = [
        ("a", "s.yaml", "0/3"),
        ("b", "s.yaml", "1/3"),
        ("c", "s.yaml", "2/3"),
        ("a2", "s.yaml", "0/3"),
        ("b-seed2", "s-seed2.yaml", "1/3"),
        ("b-of-2", "s.yaml", "1/2"),
    ];
    let children: Vec<Child> = plan
        .iter()
        .map(|(out, scenario, shard)| spawn_run(d, scenario, "1", out, &["--shard", shard]))
        .collect();
    for (c, (out, _, _)) in children.into_iter().zip(plan) {
        let (code, o, e) = finish(c);
        assert_eq!(code, 0, "{out}: {o}{e}");
    }
    // Run directories themselves are accepted as well as the folders holding one.
    let dir = |name: &str| run_dir(&d.join(name)).display().to_string();
    let refuse = |inputs: &[String], problem: &str, names: &[&str]| {
        let out = d.join("merged");
        let mut args = vec!["merge".to_string()];
        args.extend(inputs.iter().cloned());
        args.extend(["--out".to_string(), out.display().to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, o, e) = run(d, &args);
        assert_eq!(code, 2, "{problem}: {o}{e}");
        assert!(e.contains(problem), "expected `{problem}` in: {e}");
        for n in names {
            assert!(
                e.contains(&d.join(n).display().to_string()),
                "the message names {n}: {e}"
            );
        }
        assert!(!out.join("run.json").exists(), "{problem}: nothing merged");
    };
    refuse(&[dir("a"), dir("c")], "shard 1/3 is missing", &[]);
    refuse(
        &[dir("a"), dir("b"), dir("c"), dir("a2")],
        "shard 0/3 is given twice",
        &["a", "a2"],
    );
    refuse(&[dir("a"), dir("b-seed2"), dir("c")], "seed", &["b-seed2"]);
    refuse(&[dir("a"), dir("b-of-2")], "shard count", &["b-of-2"]);
    // The same three folders that belong together merge (the refusals above are about the mismatch, not the inputs).
    let (code, o, e) = run(
        d,
        &[
            "merge",
            "--allow-undecided",
            "a",
            "b",
            "c",
            "--out",
            "merged",
        ],
    );
    assert_eq!(code, 0, "{o}{e}");
    assert!(d.join("merged/run.json").exists());
}

#[test]
fn a_late_shard_keeps_its_schedule_and_shows_the_lateness() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    exact_scenario(d);
    // The common start instant passed 2 s before this shard's process even started.
    let late_by_ms = 2000.0;
    let start = instant_in(-2);
    let late = spawn_run(
        d,
        "s.yaml",
        "3",
        "late",
        &["--shard", "0/2", "--start-at", &start],
    );
    let (code, o, e) = finish(spawn_run(d, "s.yaml", "3", "single", &[]));
    assert_eq!(code, 0, "{o}{e}");
    let (code, o, e) = finish(late);
    assert_eq!(code, 0, "{o}{e}");

    // Arrival instant of each conversation: its first request's scheduled_ms.
    let arrivals = |dir: &Path| -> BTreeMap<(String, u64), Row> {
        let mut a: BTreeMap<(String, u64), Row> = BTreeMap::new();
        for r in rows(&dir.join("requests.csv")) {
            let k = (r["target"].clone(), num(&r, "conversation") as u64);
            let earlier = a
                .get(&k)
                .is_none_or(|x| num(&r, "scheduled_ms") < num(x, "scheduled_ms"));
            if earlier {
                a.insert(k, r);
            }
        }
        a
    };
    let (late, single) = (
        arrivals(&run_dir(&d.join("late"))),
        arrivals(&run_dir(&d.join("single"))),
    );
    assert!(!late.is_empty());
    let mut overdue = 0;
    for (k, r) in &late {
        assert_eq!(k.1 % 2, 0, "shard 0/2 runs even conversations");
        // Not shifted: the same planned instant as in the unsharded run (both measured from their start instant).
        let planned = num(&single[k], "scheduled_ms");
        assert!(
            (num(r, "scheduled_ms") - planned).abs() < 0.01,
            "{k:?}: {} vs {planned}",
            r["scheduled_ms"]
        );
        // Not hidden: an arrival planned before the process existed completed at least that late after its plan.
        if planned < late_by_ms && r["outcome"] == "ok" {
            overdue += 1;
            let waited = num(r, "from_scheduled_ms");
            assert!(
                waited >= late_by_ms - planned,
                "{k:?}: planned {planned} ms, from_scheduled {waited} ms"
            );
        }
    }
    assert!(
        overdue > 10,
        "the shard had overdue arrivals to send: {overdue}"
    );
}

#[test]
fn a_shard_shows_but_does_not_apply_thresholds_and_bad_shard_flags_exit_2() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    exact_scenario(d);
    let t = std::fs::read_to_string(d.join("s.yaml")).unwrap();
    let failing = replace_once(&t, "gateway.requests > 0", "gateway.requests > 1000000");
    std::fs::write(d.join("fail.yaml"), failing).unwrap();
    // Unsharded, the threshold fails the run; as shard 0/2 it is shown and left to the merge.
    let (code, o, e) = finish(spawn_run(d, "fail.yaml", "1", "whole", &[]));
    assert_eq!(code, 1, "{o}{e}");
    let (code, o, e) = finish(spawn_run(d, "fail.yaml", "1", "part", &["--shard", "0/2"]));
    assert_eq!(code, 0, "{o}{e}");
    assert!(o.contains("FAIL run: gateway.requests > 1000000"), "{o}");
    // Bad shard flags and a start instant too far in the past: exit 2, the flag named, nothing written.
    let past = instant_in(-120);
    for (extra, word) in [
        (vec!["--shard", "2/2"], "--shard"),
        (vec!["--shard", "0/0"], "--shard"),
        (
            vec!["--shard", "0/2", "--shard-count", "2"],
            "--shard-count",
        ),
        (vec!["--shard-count", "2"], "JOB_COMPLETION_INDEX"),
        (vec!["--start-at", "tomorrow"], "--start-at"),
        (vec!["--start-at", past.as_str()], "--max-start-delay"),
    ] {
        let (code, o, e) = finish(spawn_run(d, "s.yaml", "1", "refused", &extra));
        assert_eq!(code, 2, "{extra:?}: {o}{e}");
        assert!(e.contains(word), "{extra:?}: {e}");
        assert!(!d.join("refused").exists(), "{extra:?}: nothing written");
    }
}

/// Per (target, conversation, turn, op): what the request came to (outcome, error kind, status, retries, tokens,
/// cost, fallback).
fn outcomes(rows: &[Row]) -> BTreeMap<(String, u64, u32, String), [String; 9]> {
    rows.iter()
        .map(|r| {
            let cols = [
                "outcome",
                "error_kind",
                "status",
                "retries",
                "input_tokens",
                "output_tokens",
                "cost_nano_usd",
                "fallback_target",
                "fallback_outcome",
            ];
            (key(r), cols.map(|c| r[c].clone()))
        })
        .collect()
}

/// Per target: (outcome, error kind) -> requests.
fn kinds(rows: &[Row]) -> BTreeMap<(String, String, String), u64> {
    let mut m = BTreeMap::new();
    for r in rows {
        let k = (
            r["target"].clone(),
            r["outcome"].clone(),
            r["error_kind"].clone(),
        );
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

/// The bundled scenario with the bundled mocks, as shipped (their errors, 429s, retries, answer lengths), run once and
/// as three shards merged: every request ends the same way, so every count, token and nano-dollar is equal, and so
/// are the monthly projection and the decision.
///
/// Shortened to 6 s of arrivals (~350 conversations per target). The legacy is polled every 200 ms instead of 50 ms
/// to spare the CPU (a poll interval changes latencies, not what a request comes to). The run stays under the mocks'
/// capacities (at the bundled rate the legacy holds ~215 chats of its 300 slots, the gateway ~85 of 260; a shard a
/// third of that), so no request is turned away by load in one run and served in the other: a capacity rejection
/// depends on what else is in flight, which sharding changes on purpose.
#[test]
fn the_bundled_scenario_merged_from_three_shards_equals_one_run() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut text = replace_once(
        &common::bundled_scenario(),
        "poll_interval_ms: 50 ",
        "poll_interval_ms: 200 ",
    );
    // The thresholds on latency measure this machine as much as the mocks (a debug build, one process against three
    // on two shared cores: the gateway's p99 was 337 ms in a release run, 2,484 ms in this test under load), so the
    // decision is compared on the thresholds that counts and costs decide: error rate, availability, monthly cost.
    for latency in [
        "  - \"gateway.p99_ms < 400\"\n",
        "  - \"gateway.mean_ms < legacy.mean_ms * 0.8\"\n",
        "  - \"gateway.ttft_p95_ms < legacy.ttft_p95_ms\"\n",
    ] {
        text = replace_once(&text, latency, "");
    }
    std::fs::write(d.join("b.yaml"), text).unwrap();
    let secs = "6";
    let (code, out, err) = finish(spawn_run(d, "b.yaml", secs, "single", &[]));
    assert_eq!(code, 0, "{out}{err}");
    let start = instant_in(3);
    let children: Vec<Child> = (0..3)
        .map(|i| {
            let (shard, out) = (format!("{i}/3"), format!("shard-{i}"));
            spawn_run(
                d,
                "b.yaml",
                secs,
                &out,
                &["--shard", &shard, "--start-at", &start],
            )
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let (code, out, err) = finish(c);
        assert_eq!(code, 0, "shard {i}: {out}{err}");
    }
    let (code, out, err) = run(
        d,
        &[
            "merge",
            "--allow-undecided",
            "shard-0",
            "shard-1",
            "shard-2",
            "--out",
            "merged",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (single, merged) = (run_dir(&d.join("single")), d.join("merged"));
    let (s_rows, m_rows) = (
        rows(&single.join("requests.csv")),
        rows(&merged.join("requests.csv")),
    );

    // Request by request: the same outcome, error kind, retries, tokens and cost.
    let (so, mo) = (outcomes(&s_rows), outcomes(&m_rows));
    assert_eq!(so.len(), s_rows.len(), "a request appears twice");
    assert_eq!(
        mo.len(),
        m_rows.len(),
        "a request appears twice in the merge"
    );
    let differ: Vec<_> = so
        .iter()
        .filter(|(k, v)| mo.get(*k) != Some(*v))
        .map(|(k, v)| (k, v, mo.get(k)))
        .take(10)
        .collect();
    assert!(differ.is_empty(), "single vs merged: {differ:#?}");
    assert_eq!(so.keys().collect::<Vec<_>>(), mo.keys().collect::<Vec<_>>());

    // The draws did something: errors of several kinds and retries on both targets (else this proves little).
    let (st, mt) = (tally(&s_rows), tally(&m_rows));
    assert_eq!(st, mt);
    assert_eq!(kinds(&s_rows), kinds(&m_rows));
    for (target, t) in &st {
        assert!(t[0] > 500, "{target}: {} requests", t[0]);
        assert!(t[3] > 0, "{target}: no retry in the bundled run: {t:?}");
    }
    assert!(
        st["legacy"][2] > 0,
        "the legacy's errors: {:?}",
        st["legacy"]
    );

    // Counts, tokens and cost as the reports print them.
    let (ss, ms) = (summary(&single), summary(&merged));
    assert_eq!(ss.keys().collect::<Vec<_>>(), ms.keys().collect::<Vec<_>>());
    for (target, s) in &ss {
        for col in [
            "requests",
            "ok",
            "errors",
            "not_sent",
            "retries",
            "input_tokens",
            "output_tokens",
            "cost_usd",
        ] {
            assert_eq!(s[col], ms[target][col], "{target} {col}");
        }
    }
    // Monthly projection: cost per conversation x daily volume, from the same integers (only the order in which
    // floats are added may differ).
    let (sm, mm) = (monthly_total(&single), monthly_total(&merged));
    assert_eq!(sm.keys().collect::<Vec<_>>(), mm.keys().collect::<Vec<_>>());
    for (target, v) in &sm {
        assert!(
            close(*v, mm[target], 1e-9, 0.0),
            "{target}: single {v} vs merged {}",
            mm[target]
        );
    }
    let doc = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
    };
    let (sd, md) = (doc(&single), doc(&merged));
    assert_eq!(
        sd["decision"], md["decision"],
        "{}\nvs\n{}",
        sd["reasons"], md["reasons"]
    );
    assert_eq!(sd["accounting"], md["accounting"]);
}
