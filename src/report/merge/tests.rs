//! The merged run.json: accounting summed, the shards' span, rows sorted once, refusals that write nothing.

use super::*;
use crate::run::record::Outcome;

/// A shard run directory `root/name` with `rows` (scheduled_ms, target, conversation) and its accounting.
fn shard(
    root: &Path,
    name: &str,
    index: u64,
    times: (&str, &str, f64),
    rows: &[(f64, &str, u64)],
) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/coze-migration.yaml");
    let scenario = crate::config::scenario::Scenario::load(&p)
        .unwrap()
        .scenario;
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let records: Vec<Record> = rows
        .iter()
        .map(|(at, target, conversation)| Record {
            target: target.to_string(),
            conversation: *conversation,
            turn: 1,
            outcome: Some(Outcome::Ok),
            scheduled_ms: *at,
            ..Default::default()
        })
        .collect();
    write_rows(&dir.join("requests.csv"), &records).unwrap();
    let accounting = ["gateway", "legacy"]
        .iter()
        .map(|t| Accounting {
            target: t.to_string(),
            scheduled: rows.iter().filter(|r| r.1 == *t).count() as u64,
            ok: rows.iter().filter(|r| r.1 == *t).count() as u64,
            ..Default::default()
        })
        .collect();
    let meta = RunMeta {
        tool: "cutover".into(),
        version: "0".into(),
        scenario_file: "s.yaml".into(),
        scenario_sha256: None,
        started_utc: times.0.into(),
        finished_utc: times.1.into(),
        elapsed_s: times.2,
        stopped: None,
        targets: Vec::new(),
        accounting,
        scenario,
        prices: BTreeMap::new(),
        shard: Some(Shard { index, count: 2 }),
        seed: Some(1),
        start_at: Some("2026-11-25T14:00:00Z".into()),
        scenario_hash: Some("h".into()),
        merged_from: Vec::new(),
    };
    meta.save(&dir).unwrap();
    dir
}

#[test]
fn merged_run_json_sums_accounting_and_spans_the_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let b = shard(
        t,
        "b",
        1,
        ("2026-11-25T14:00:00.002Z", "2026-11-25T14:00:09Z", 9.0),
        &[(5.0, "legacy", 1), (1.0, "gateway", 3)],
    );
    let a = shard(
        t,
        "a",
        0,
        ("2026-11-25T14:00:00.001Z", "2026-11-25T14:00:07Z", 7.5),
        &[(3.0, "gateway", 0), (1.0, "gateway", 2)],
    );
    let out = t.join("merged");
    let m = merge(&[b.clone(), a.clone()], &out).unwrap();
    assert_eq!(m.shard, None);
    assert_eq!(
        (m.started_utc.as_str(), m.finished_utc.as_str()),
        ("2026-11-25T14:00:00.001Z", "2026-11-25T14:00:09Z")
    );
    assert_eq!(m.elapsed_s, 9.0);
    let acc: Vec<(&str, u64, u64)> = m
        .accounting
        .iter()
        .map(|a| (a.target.as_str(), a.scheduled, a.ok))
        .collect();
    assert_eq!(acc, [("gateway", 3, 3), ("legacy", 1, 1)]);
    let from: Vec<(u64, String)> = m
        .merged_from
        .iter()
        .map(|f| (f.index, f.dir.clone()))
        .collect();
    assert_eq!(
        from,
        [(0, a.display().to_string()), (1, b.display().to_string())]
    );
    let rows: Vec<(f64, String, u64)> = read_records(&out.join("requests.csv"))
        .unwrap()
        .map(|r| r.unwrap())
        .map(|r| (r.scheduled_ms, r.target, r.conversation))
        .collect();
    let want = [
        (1.0, "gateway", 2),
        (1.0, "gateway", 3),
        (3.0, "gateway", 0),
        (5.0, "legacy", 1),
    ];
    assert_eq!(rows, want.map(|(a, t, c)| (a, t.to_string(), c)));
    // The reports say what their figures cover.
    let merged = note(&m).unwrap();
    assert!(merged.starts_with("> **Merged** from 2 shards"), "{merged}");
    let part = note(&RunMeta::load(&a).unwrap()).unwrap();
    assert!(
        part.contains("**Shard 0/2**") && part.contains("not applied"),
        "{part}"
    );
    assert_eq!(
        note(&RunMeta {
            merged_from: Vec::new(),
            ..m.clone()
        }),
        None
    );
    // A second merge into the same folder is refused: it holds a run now.
    let again = merge(&[a.clone(), b.clone()], &out)
        .unwrap_err()
        .to_string();
    assert!(again.contains("already holds a run"), "{again}");
    // Shards started at other instants do not belong together.
    let mut late = RunMeta::load(&b).unwrap();
    late.start_at = Some("2026-11-25T14:05:00Z".into());
    late.save(&b).unwrap();
    let e = merge(&[a, b], &t.join("m2")).unwrap_err().to_string();
    assert!(e.starts_with("merge: shards disagree on start_at: "), "{e}");
    assert!(!t.join("m2").exists(), "nothing written");
}
