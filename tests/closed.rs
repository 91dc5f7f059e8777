//! The closed model (`traffic.closed.vus`, k6's constant-vus): N virtual users per target, each starting its next
//! conversation when the previous one ended, for `duration_s`. Checked through the binary against scripted servers
//! that answer after a fixed delay, so every bound comes from the script: a user's requests are at least that delay
//! apart, and none starts a conversation after the window.

mod support;

use std::time::{Duration, Instant};

use support::*;

const MS: Duration = Duration::from_millis(1);

/// A server that answers every authorized chat request after `delay` (and refuses anything else).
fn server(delay: Duration) -> Server {
    Server::start(move |r| {
        if !r.authorized() || r.path_only() != "/v1/chat/completions" {
            return Reply::refuse("unexpected request");
        }
        if let Some(p) = openai_problem(r, "t8-model", false) {
            return Reply::refuse(&p);
        }
        openai_json("t8-model", 7, 3, delay)
    })
}

/// A 1 s window of `vus` closed users per target (the arrival rate is then unused).
fn closed_with(targets: Vec<Target>, vus: u32) -> Scn {
    let mut scn = Scn::new(targets, 1.0, 1.0);
    scn.closed_vus = Some(vus);
    scn
}

/// One OpenAI gateway on `srv`.
fn closed(srv: &Server, vus: u32) -> Scn {
    closed_with(vec![Target::openai("gw", "gateway", &srv.base_url)], vus)
}

/// A legacy target on `legacy` and a gateway on `gw`, both OpenAI.
fn closed_pair(legacy: &Server, gw: &Server, vus: u32) -> Scn {
    let targets = vec![
        Target::openai("legacy", "legacy", &legacy.base_url),
        Target::openai("gw", "gateway", &gw.base_url),
    ];
    closed_with(targets, vus)
}

/// The most requests the server received within any span shorter than `span` (sliding over its own receipt log).
fn most_within(at: &[Instant], span: Duration) -> usize {
    let mut at = at.to_vec();
    at.sort();
    (0..at.len())
        .map(|i| at[i..].iter().take_while(|t| **t - at[i] < span).count())
        .max()
        .unwrap_or(0)
}

#[test]
fn virtual_users_run_conversations_back_to_back_never_more_than_n_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(100 * MS);
    let mut scn = closed(&srv, 4);
    scn.turns = 2;
    let path = scn.write(dir.path());
    let (out, run) = run_scenario(dir.path(), &path, "r");
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let rows = rows(&run);
    assert!(rows.iter().all(|r| r.outcome == "ok"), "{rows:?}");
    // Each request is answered 100 ms after it arrives, so a conversation of 2 turns takes at least 200 ms: a user
    // starts at most 5 in the 1 s window (at 0, 200, 400, 600, 800 ms). With up to 25 ms of client and scheduling
    // overhead per request a conversation takes at most 250 ms, so each user starts at least 4 (0, 250, 500, 750).
    let convs: std::collections::BTreeSet<u64> = rows.iter().map(|r| r.conversation).collect();
    assert!(
        (16..=20).contains(&convs.len()),
        "4 users x 4..=5 conversations, got {}",
        convs.len()
    );
    // Users take the plan's conversations in order: exactly the first N, each with both turns.
    assert_eq!(
        convs.iter().copied().collect::<Vec<_>>(),
        (0..convs.len() as u64).collect::<Vec<_>>()
    );
    assert_eq!(rows.len(), 2 * convs.len());
    assert_eq!(srv.count(), rows.len(), "one request per row");
    // Closed: a user's next request leaves only after its previous answer, >= 100 ms later, so any 90 ms span holds
    // at most one request per user: at most 4. All 4 start together, so some span holds exactly 4. An open-model
    // dispatcher (arrivals on a clock, not on answers) would not be bounded by the user count.
    let at: Vec<Instant> = srv.requests().iter().map(|r| r.at).collect();
    assert_eq!(most_within(&at, 90 * MS), 4);
    // The schedule of a closed request is its send: from-schedule latency is latency (no omission to correct).
    for r in &rows {
        let (sent, lat, from) = (
            r.sent_ms.unwrap(),
            r.latency_ms.unwrap(),
            r.from_scheduled_ms.unwrap(),
        );
        assert!(sent - r.scheduled_ms < 20.0, "{r:?}");
        assert!(from - lat < 20.0, "{r:?}");
        assert!(lat >= 100.0, "answered 100 ms after receipt: {r:?}");
    }
    let first_turns = rows.iter().filter(|r| r.turn == 1);
    assert!(
        first_turns.clone().all(|r| r.scheduled_ms < 1000.0),
        "no conversation starts after the 1 s window"
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["plan"]["closed_vus"], 4);
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        report.contains("closed, 4 virtual users per target"),
        "{report}"
    );
}

#[test]
fn every_target_gets_the_same_conversations_in_the_same_order_as_many_as_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (fast, slow) = (server(50 * MS), server(200 * MS));
    let mut scn = closed_pair(&fast, &slow, 2);
    scn.users = 1_000_000;
    let path = scn.write(dir.path());
    let (out, run) = run_scenario(dir.path(), &path, "r");
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let rows = rows(&run);
    let by = |t: &str| -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = rows
            .iter()
            .filter(|r| r.target == t)
            .map(|r| (r.conversation, r.user))
            .collect();
        v.sort();
        v
    };
    let (l, g) = (by("legacy"), by("gw"));
    // 2 users x 1 s: at most 40 answers of 50 ms, at most 10 of 200 ms; at least 8 of 200 ms (50 ms overhead each).
    assert!(
        l.len() <= 40 && g.len() <= 10 && g.len() >= 8,
        "{l:?} {g:?}"
    );
    assert!(
        l.len() > g.len(),
        "the faster target answers more: {l:?} {g:?}"
    );
    // The same seeded conversations in the same order: the slower target's are a prefix of the faster one's.
    assert_eq!(&l[..g.len()], &g[..]);
}

#[test]
fn a_closed_run_refuses_a_shape_a_canary_no_users_and_more_shards_than_users() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(MS);
    let base = || closed_pair(&srv, &srv, 2);
    let check = |scn: Scn, args: &[&str], field: &str| {
        let path = scn.write(dir.path());
        let mut a = args.to_vec();
        a.push(path.to_str().unwrap());
        let o = cutover(dir.path(), &a);
        assert_eq!(o.code, 2, "{args:?} {field}: {}{}", o.stdout, o.stderr);
        assert!(o.stderr.contains(field), "{args:?}: {}", o.stderr);
    };
    let mut zero = base();
    zero.closed_vus = Some(0);
    check(zero, &["validate"], "traffic.closed.vus");
    let mut canary = base();
    canary.canary =
        "canary:\n  salt: s\n  phases:\n    - {name: a, share: 0.5, duration_s: 1}\n".into();
    check(canary, &["validate"], "canary");
    let shaped = base();
    let path = shaped.write(dir.path());
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "  closed: {vus: 2}\n",
        "  closed: {vus: 2}\n  shape: {spike: {base: 1, peak: 2, at_s: 0.2, duration_s: 0.2}}\n",
    );
    std::fs::write(&path, text).unwrap();
    let o = cutover(dir.path(), &["validate", path.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("traffic.closed"), "{}", o.stderr);
    // 2 users over 3 shards: shard 0 would have none (shares 0, 1, 1).
    let out = dir.path().join("out");
    check(
        base(),
        &[
            "run",
            "--quiet",
            "--shard",
            "0/3",
            "--out",
            out.to_str().unwrap(),
        ],
        "--shard 0/3",
    );
}

#[test]
fn a_sweep_of_a_closed_scenario_steps_open_model_rates() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(10 * MS);
    let path = closed(&srv, 2).write(dir.path());
    let out = dir.path().join("sweep");
    let o = cutover(
        dir.path(),
        &[
            "sweep",
            "--slo",
            "error_rate < 0.5",
            "--start-rps",
            "20",
            "--min-step-s",
            "1",
            "--max-step-s",
            "1",
            "--step-warmup-s",
            "0.5",
            "--max-steps",
            "1",
            "--out",
            out.to_str().unwrap(),
            path.to_str().unwrap(),
        ],
    );
    // The one step meets the SLO (every request answers): the sweep ends on its step cap, a capacity found.
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    // One step at 20 requests/s for 0.5 + 1 s: 30 uniform arrivals. Two closed users answered in 10 ms would send
    // ~250 in the same time.
    assert_eq!(srv.count(), 30, "{}{}", o.stdout, o.stderr);
}
