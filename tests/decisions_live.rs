//! The decisions a run makes, checked through the binary: thresholds at their exact boundary (every operator),
//! canary routing on data where each user has many conversations per phase, and `compare` on a genuinely worse run
//! as well as on an equivalent one.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::*;

const MS: Duration = Duration::from_millis(1);

fn ok_server(delay_ms: Arc<AtomicU64>) -> Server {
    Server::start(move |r| match openai_problem(r, "t8-model", false) {
        Some(why) => Reply::refuse(&why),
        None => openai_json(
            "t8-model",
            10,
            5,
            MS * delay_ms.load(Ordering::SeqCst) as u32,
        ),
    })
}

/// Three conversations, all answered: `gw.ok`, `gw.requests` are exactly 3 and `gw.error_rate` exactly 0.
fn threshold_run(
    tmp: &std::path::Path,
    out: &str,
    thresholds: &[(&str, bool)],
) -> (Out, std::path::PathBuf) {
    let server = ok_server(Arc::new(AtomicU64::new(5)));
    let mut s = Scn::new(
        vec![Target::openai("gw", "gateway", &server.base_url)],
        4.0,
        0.625,
    );
    s.thresholds = thresholds.iter().map(|(t, _)| t.to_string()).collect();
    let sdir = tmp.join(format!("{out}-scenario"));
    std::fs::create_dir_all(&sdir).unwrap();
    let sc = s.write(&sdir);
    let r = run_scenario(tmp, &sc, out);
    assert_eq!(server.count(), 3);
    r
}

#[test]
fn every_threshold_operator_is_exact_at_its_boundary() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&str, bool)] = &[
        ("gw.ok >= 3", true),
        ("gw.ok > 3", false),
        ("gw.ok <= 3", true),
        ("gw.ok < 3", false),
        ("gw.ok == 3", true),
        ("gw.ok != 3", false),
        ("gw.requests >= gw.ok", true),
        ("gw.requests > gw.ok", false),
        ("gw.error_rate <= 0", true),
        ("gw.error_rate < 0", false),
        ("gw.error_rate >= 0", true),
        ("gw.error_rate > 0", false),
    ];
    let (o, dir) = threshold_run(tmp.path(), "all", cases);
    assert_eq!(
        o.code, 1,
        "a failed threshold exits 1: {}{}",
        o.stdout, o.stderr
    );
    let junit = junit_cases(&dir.join("junit.xml"));
    let got: BTreeMap<String, bool> = junit.into_iter().collect();
    for (expr, passes) in cases {
        let failed = got
            .get(*expr)
            .unwrap_or_else(|| panic!("no JUnit case `{expr}` in {got:?}"));
        assert_eq!(
            !failed, *passes,
            "`{expr}` with ok = requests = 3 and error rate 0"
        );
        let line = format!("{} run: {expr}", if *passes { "PASS" } else { "FAIL" });
        assert!(
            o.stdout.contains(&line),
            "missing `{line}` in\n{}",
            o.stdout
        );
    }
    // Only the ones that hold at the boundary: the run passes.
    let holding: Vec<(&str, bool)> = cases.iter().copied().filter(|(_, p)| *p).collect();
    let (o, dir) = threshold_run(tmp.path(), "pass", &holding);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(junit_cases(&dir.join("junit.xml"))
        .iter()
        .all(|(_, failed)| !failed));
}

#[test]
fn canary_keeps_each_user_on_one_path_per_phase_and_never_moves_back() {
    let tmp = tempfile::tempdir().unwrap();
    let legacy = ok_server(Arc::new(AtomicU64::new(5)));
    let gateway = ok_server(Arc::new(AtomicU64::new(5)));
    // 41 conversations a second over three 0.5 s phases (62 conversations, none on a phase boundary: phase of
    // conversation k is floor(2k / 41)), shared by only 4 users: each user has about five conversations per phase.
    let mut s = Scn::new(
        vec![
            Target::openai("legacy", "legacy", &legacy.base_url),
            Target::openai("gateway", "gateway", &gateway.base_url),
        ],
        41.0,
        1.5,
    );
    s.users = 4;
    s.canary = "canary:\n  salt: t8-e\n  phases:\n    - {name: a, share: 0.3, duration_s: 0.5}\n    - {name: b, share: 0.6, duration_s: 0.5}\n    - {name: c, share: 1.0, duration_s: 0.5}\n".into();
    let (o, dir) = run_scenario(tmp.path(), &s.write(tmp.path()), "reports");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let rows = rows(&dir);
    // Each planned conversation went to exactly one target, in the phase its arrival falls in.
    let convs: BTreeSet<u64> = rows.iter().map(|r| r.conversation).collect();
    assert_eq!(convs, (0..62).collect::<BTreeSet<u64>>());
    assert_eq!(rows.len(), 62);
    assert_eq!(legacy.count() + gateway.count(), 62);
    assert_eq!(
        rows.iter().filter(|r| r.target == "gateway").count(),
        gateway.count()
    );
    // user -> phase -> targets, from the rows
    let mut seen: BTreeMap<u64, BTreeMap<u32, BTreeSet<String>>> = BTreeMap::new();
    for r in &rows {
        assert_eq!(r.outcome, "ok", "{r:?}");
        assert_eq!(
            r.canary_phase,
            Some((2 * r.conversation / 41) as u32),
            "{r:?}"
        );
        seen.entry(r.user)
            .or_default()
            .entry(r.canary_phase.unwrap())
            .or_default()
            .insert(r.target.clone());
    }
    let mut busy = 0;
    for (user, phases) in &seen {
        let mut on_gateway = false;
        for (phase, targets) in phases {
            assert_eq!(
                targets.len(),
                1,
                "user {user} phase {phase} split over {targets:?}"
            );
            let gw = targets.contains("gateway");
            assert!(
                gw || !on_gateway,
                "user {user} moved back to legacy in phase {phase}"
            );
            on_gateway |= gw;
            if *phase == 2 {
                assert!(gw, "phase c sends everyone to the gateway");
            }
        }
        busy += phases.len();
    }
    // the data really has repeat users: 4 users cover the 3 phases
    assert!(seen.len() == 4 && busy >= 10, "{seen:?}");
    // Both paths carried traffic before the last phase, so the split was really exercised.
    let early: BTreeSet<&String> = rows
        .iter()
        .filter(|r| r.canary_phase < Some(2))
        .map(|r| &r.target)
        .collect();
    assert_eq!(early.len(), 2, "{seen:?}");
    // The servers agree: the users the gateway saw are exactly the gateway rows' users.
    let gw_users: BTreeSet<String> = gateway
        .requests()
        .iter()
        .map(|r| r.body["user"].as_str().unwrap().to_string())
        .collect();
    let row_users: BTreeSet<String> = rows
        .iter()
        .filter(|r| r.target == "gateway")
        .map(|r| format!("user-{}", r.user))
        .collect();
    assert_eq!(gw_users, row_users);
}

#[test]
fn compare_flags_a_twice_slower_run_and_passes_an_equivalent_one() {
    let tmp = tempfile::tempdir().unwrap();
    // Each run's 40 answers take scale x (0.5, 0.525, ..., 0.975): the same spread of 200..590 ms in the baseline
    // and the equivalent run, twice that in the worse one. The spread keeps a few milliseconds of scheduling noise
    // on a busy machine (a shift of a tight distribution) from looking significant; a 2x slowdown still is.
    let delay = Arc::new(AtomicU64::new(400));
    let scale = delay.clone();
    let server = Server::start(move |r| match openai_problem(r, "t8-model", false) {
        Some(why) => Reply::refuse(&why),
        None => {
            let ms = scale.load(Ordering::SeqCst) * (20 + r.index as u64 % 40) / 40;
            openai_json("t8-model", 10, 5, MS * ms as u32)
        }
    });
    // 40 conversations a second for 1 s: 40 latency samples per run.
    let s = Scn::new(
        vec![Target::openai("gw", "gateway", &server.base_url)],
        40.0,
        0.9875,
    );
    let sc = s.write(tmp.path());
    let (o, base) = run_scenario(tmp.path(), &sc, "base");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let (o, same) = run_scenario(tmp.path(), &sc, "same");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    delay.store(800, Ordering::SeqCst);
    let (o, worse) = run_scenario(tmp.path(), &sc, "worse");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert_eq!(server.count(), 120);
    for d in [&base, &same, &worse] {
        assert_eq!(rows(d).iter().filter(|r| r.outcome == "ok").count(), 40);
    }

    let c = cutover(
        tmp.path(),
        &["compare", base.to_str().unwrap(), same.to_str().unwrap()],
    );
    // 40 samples a side decide the median but not the p99: equivalent runs are undecided (exit 5), never a
    // regression; --allow-undecided turns that into 0.
    assert_eq!(c.code, 5, "equivalent runs: {}{}", c.stdout, c.stderr);
    assert!(c.stdout.contains("**Decision: UNDECIDED**"), "{}", c.stdout);
    assert!(
        c.stdout.contains("| latency p50 (ms) |") && !c.stdout.contains("worse ("),
        "{}",
        c.stdout
    );
    let c = cutover(
        tmp.path(),
        &[
            "compare",
            "--allow-undecided",
            base.to_str().unwrap(),
            same.to_str().unwrap(),
        ],
    );
    assert_eq!(c.code, 0, "equivalent runs: {}{}", c.stdout, c.stderr);
    let cases = junit_cases(&same.join("junit-compare.xml"));
    assert!(
        !cases.is_empty() && cases.iter().all(|(_, f)| !f),
        "{cases:?}"
    );

    let c = cutover(
        tmp.path(),
        &["compare", base.to_str().unwrap(), worse.to_str().unwrap()],
    );
    assert_eq!(
        c.code, 1,
        "a 2x slower run is a regression: {}{}",
        c.stdout, c.stderr
    );
    assert!(c.stdout.contains("**Decision: NOT SAFE**"), "{}", c.stdout);
    let cases = junit_cases(&worse.join("junit-compare.xml"));
    let failed: Vec<&String> = cases.iter().filter(|(_, f)| *f).map(|(n, _)| n).collect();
    assert!(
        failed.iter().any(|n| n.contains("latency p50")),
        "{cases:?}"
    );
    assert!(
        !failed.iter().any(|n| n.contains("error rate")),
        "{cases:?}"
    );
}
