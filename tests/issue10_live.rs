//! Behaviour issue 10 defines, written to its definition before the fix landed: the verdict gates the exit code, and
//! uniform arrivals schedule exactly `rate x duration` conversations.

mod support;

use std::time::Duration;

use support::*;

const MS: Duration = Duration::from_millis(1);

fn server(delay_ms: u32) -> Server {
    Server::start(move |r| match openai_problem(r, "t8-model", false) {
        Some(why) => Reply::refuse(&why),
        None => openai_json("t8-model", 10, 5, MS * delay_ms),
    })
}

#[test]
fn a_gateway_twice_as_slow_as_the_legacy_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let (legacy, gateway) = (server(200), server(400));
    // 40 conversations on each path, no thresholds: only the statistical verdict can fail the run.
    let s = Scn::new(
        vec![
            Target::openai("legacy", "legacy", &legacy.base_url),
            Target::openai("gateway", "gateway", &gateway.base_url),
        ],
        40.0,
        0.9875,
    );
    let (o, dir) = run_scenario(tmp.path(), &s.write(tmp.path()), "reports");
    assert_eq!((legacy.count(), gateway.count()), (40, 40));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("NOT SAFE"), "{md}");
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(
        junit_cases(&dir.join("junit.xml"))
            .iter()
            .any(|(_, failed)| *failed),
        "junit.xml has no failure"
    );
}

#[test]
fn uniform_arrivals_schedule_rate_times_duration() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = server(5);
    // 10 conversations a second for exactly 1 s: arrivals at 0.0, 0.1, ..., 0.9.
    let s = Scn::new(
        vec![Target::openai("gw", "gateway", &srv.base_url)],
        10.0,
        1.0,
    );
    let (o, dir) = run_scenario(tmp.path(), &s.write(tmp.path()), "reports");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert_eq!(srv.count(), 10);
    assert_eq!(rows(&dir).len(), 10);
}
