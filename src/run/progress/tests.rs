use super::*;

fn target(name: &str, ok: u64, errors: u64, p50: f64, p99: f64) -> TargetFigures {
    TargetFigures {
        name: name.into(),
        ok,
        errors,
        p50_ms: Some(p50),
        p99_ms: Some(p99),
    }
}

fn figures(phase: Phase, targets: Vec<TargetFigures>) -> Figures {
    Figures {
        elapsed: Duration::from_secs(62),
        done: 1121,
        total: Some(3504),
        phase,
        targets,
    }
}

fn two_targets() -> Vec<TargetFigures> {
    vec![
        target("legacy", 3400, 41, 420.4, 890.0),
        target("gateway", 3512, 2, 180.0, 340.6),
    ]
}

#[test]
fn two_targets_fit_80_columns_with_ok_errors_p50_and_p99() {
    let line = format_line(&figures(Phase::Arriving, two_targets()), 80);
    assert!(line.chars().count() <= 80, "{} {line}", line.len());
    assert!(line.starts_with("1:02 1121/3504"), "{line}");
    for want in [
        "legacy", "3400", "41", "420", "890", "gateway", "3512", "180", "341",
    ] {
        assert!(line.contains(want), "{want} missing: {line}");
    }
    assert!(!line.ends_with('>'), "cut: {line}");
}

#[test]
fn a_closed_run_counts_conversations_without_a_total() {
    let mut f = figures(Phase::Arriving, two_targets());
    f.total = None;
    let line = format_line(&f, 200);
    assert!(
        line.starts_with("1:02 1121 conversations | legacy"),
        "{line}"
    );
    f.phase = Phase::Draining { in_flight: 8 };
    let line = format_line(&f, 200);
    assert!(
        line.starts_with("1:02 draining 8 in flight, 1121 conversations |"),
        "{line}"
    );
}

#[test]
fn a_wide_terminal_gets_the_fullest_form() {
    let line = format_line(&figures(Phase::Arriving, two_targets()), 200);
    assert_eq!(
        line,
        "1:02 1121/3504 conversations | legacy ok 3400 err 41 p50 420 p99 890 ms | \
         gateway ok 3512 err 2 p50 180 p99 341 ms"
    );
}

#[test]
fn draining_is_its_own_phase_with_the_count_in_flight() {
    let line = format_line(
        &figures(Phase::Draining { in_flight: 37 }, two_targets()),
        80,
    );
    assert!(line.chars().count() <= 80, "{line}");
    assert!(line.starts_with("1:02 draining 37 in flight"), "{line}");
    // Still every target's ok / errors / p50 / p99, the names abbreviated.
    assert!(line.contains("leg 3400/41 420/890"), "{line}");
    assert!(line.contains("gat 3512/2 180/341"), "{line}");
    assert!(line.chars().count() <= 79, "{line}");
    let arriving = format_line(&figures(Phase::Arriving, two_targets()), 80);
    assert!(!arriving.contains("draining"), "{arriving}");
}

#[test]
fn no_latency_yet_shows_a_dash() {
    let mut t = target("gw", 0, 0, 0.0, 0.0);
    t.p50_ms = None;
    t.p99_ms = None;
    let line = format_line(&figures(Phase::Arriving, vec![t]), 80);
    assert_eq!(
        line,
        "1:02 1121/3504 conversations | gw ok 0 err 0 p50 - p99 - ms"
    );
}

#[test]
fn every_line_fits_its_width_whatever_the_figures() {
    let long = "a-very-long-target-name-that-goes-on";
    for n in 1..=6 {
        let targets: Vec<TargetFigures> = (0..n)
            .map(|i| {
                target(
                    &format!("{long}{i}"),
                    12_345_678,
                    99_999,
                    123_456.0,
                    9_876_543.0,
                )
            })
            .collect();
        for phase in [
            Phase::Arriving,
            Phase::Draining {
                in_flight: 1_000_000,
            },
        ] {
            for width in [10, 20, 40, 79, 80, 81, 120, 300] {
                let f = Figures {
                    elapsed: Duration::from_secs(100_000),
                    done: 10_000_000,
                    total: Some(10_000_000),
                    phase,
                    targets: targets.clone(),
                };
                let line = format_line(&f, width);
                assert!(line.chars().count() <= width, "{width}: {line}");
                assert!(!line.contains('\n'));
            }
        }
    }
}

#[test]
fn the_phase_follows_the_counters() {
    let p = Progress::new(Some(3), 2);
    p.arrived();
    p.arrived();
    p.finished();
    assert_eq!(p.phase(), Phase::Arriving);
    p.dispatcher_done();
    assert_eq!(p.phase(), Phase::Arriving);
    p.dispatcher_done();
    assert_eq!(p.phase(), Phase::Draining { in_flight: 1 });
    p.finished();
    assert_eq!(p.phase(), Phase::Draining { in_flight: 0 });
}
