//! Each shape's achieved arrival rate per segment against its plan. The expected counts are integrals of the rate
//! written from the shape's own parameters here, not read from the profile under test.

use super::super::arrivals::Arrivals;
use super::*;
use crate::config::scenario::{Arrival, Scenario};
use crate::config::shape::{Constant, Diurnal, Ramp, ReplayHour, Spike, Step};
use rand::SeedableRng;

fn traffic() -> Traffic {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/coze-migration.yaml"
    ))
    .unwrap();
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"));
    Scenario::load_str(&text, "s.yaml", dir).unwrap().0.traffic
}

fn shaped(shape: Shape, window: f64) -> Traffic {
    let mut t = traffic();
    t.shape = Some(shape);
    t.duration_s = window;
    t
}

/// Arrivals of `t` (both arrival kinds) counted in each interval of `plan` (start, end, expected count); every
/// count within 2% of its plan.
fn assert_plan(t: &Traffic, plan: &[(f64, f64, f64)]) {
    for kind in [Arrival::Poisson, Arrival::Uniform] {
        let profile = profile(t, 1.0, t.duration_s);
        let mut a = Arrivals::new(profile, kind);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut counts = vec![0u64; plan.len()];
        let mut last = 0.0;
        while let Some(at) = a.next_offset(&mut rng) {
            assert!(at >= last && at < t.duration_s, "{at} after {last}");
            last = at;
            for (i, (s, e, _)) in plan.iter().enumerate() {
                if at >= *s && at < *e {
                    counts[i] += 1;
                }
            }
        }
        for ((s, e, want), got) in plan.iter().zip(&counts) {
            let err = (*got as f64 - want).abs() / want;
            assert!(
                err < 0.02,
                "{kind:?} [{s}, {e}): {got} arrivals, planned {want:.0} ({:.2}% off)",
                err * 100.0
            );
        }
    }
}

fn shape() -> Shape {
    Shape::default()
}

#[test]
fn constant_rate_holds_over_the_window() {
    let t = shaped(
        Shape {
            constant: Some(Constant { rate: 500.0 }),
            ..shape()
        },
        200.0,
    );
    assert_plan(&t, &[(0.0, 100.0, 50_000.0), (100.0, 200.0, 50_000.0)]);
}

#[test]
fn ramp_rises_linearly_then_holds() {
    // 200 -> 2,000/s over 200 s, then 2,000/s: rate(t) = 200 + 9 t, integral 200 t + 4.5 t^2
    let t = shaped(
        Shape {
            ramp: Some(Ramp {
                from: 200.0,
                to: 2000.0,
                over_s: 200.0,
            }),
            ..shape()
        },
        300.0,
    );
    let integral = |t: f64| 200.0 * t + 4.5 * t * t;
    assert_plan(
        &t,
        &[
            (0.0, 100.0, integral(100.0)),
            (100.0, 200.0, integral(200.0) - integral(100.0)),
            (200.0, 300.0, 2000.0 * 100.0),
        ],
    );
}

#[test]
fn steps_hold_each_rate_and_the_last_one_after() {
    let steps = vec![
        Step {
            rate: 300.0,
            hold_s: 200.0,
        },
        Step {
            rate: 800.0,
            hold_s: 100.0,
        },
        Step {
            rate: 100.0,
            hold_s: 400.0,
        },
    ];
    let t = shaped(
        Shape {
            steps: Some(steps),
            ..shape()
        },
        1100.0,
    );
    assert_plan(
        &t,
        &[
            (0.0, 200.0, 60_000.0),
            (200.0, 300.0, 80_000.0),
            (300.0, 700.0, 40_000.0),
            (700.0, 1100.0, 40_000.0),
        ],
    );
}

#[test]
fn spike_bursts_then_returns_to_base() {
    let t = shaped(
        Shape {
            spike: Some(Spike {
                base: 200.0,
                peak: 2000.0,
                at_s: 200.0,
                duration_s: 50.0,
            }),
            ..shape()
        },
        500.0,
    );
    assert_plan(
        &t,
        &[
            (0.0, 200.0, 40_000.0),
            (200.0, 250.0, 100_000.0),
            (250.0, 500.0, 50_000.0),
        ],
    );
}

/// Weights 1, 2, 3, 1, 2, 3, ... (sum 48): with time_scale 36 an hour lasts 100 wall seconds.
fn day_weights() -> Vec<f64> {
    (0..24).map(|h| (h % 3 + 1) as f64).collect()
}

#[test]
fn diurnal_replays_every_hour_compressed() {
    let mut t = shaped(
        Shape {
            diurnal: Some(Diurnal {
                hourly_weights: day_weights(),
                replay_hour: None,
            }),
            ..shape()
        },
        2400.0,
    );
    t.time_scale = Some(36.0);
    t.conversations_per_day = 1_440_000.0;
    // hour h carries weight / 48 of the day's volume, in 100 wall seconds
    let plan: Vec<(f64, f64, f64)> = (0..24)
        .map(|h| {
            let s = h as f64 * 100.0;
            (s, s + 100.0, 1_440_000.0 * (h % 3 + 1) as f64 / 48.0)
        })
        .collect();
    assert_plan(&t, &plan);
}

#[test]
fn diurnal_replays_the_peak_hour_at_its_real_rate() {
    let mut w = day_weights();
    w[10] = 9.0; // the peak: 9 / 55 of the day (48 - 2 + 9)
    let mut t = shaped(
        Shape {
            diurnal: Some(Diurnal {
                hourly_weights: w,
                replay_hour: Some(ReplayHour::Named("peak".into())),
            }),
            ..shape()
        },
        600.0,
    );
    t.time_scale = None;
    t.conversations_per_day = 5_280_000.0;
    // 5,280,000 x 9/55 per 3,600 s = 240/s
    assert_plan(&t, &[(0.0, 300.0, 72_000.0), (300.0, 600.0, 72_000.0)]);
}

#[test]
fn a_shape_cut_by_a_short_window_stops_at_the_window() {
    // the ramp would run 100 s; a 50 s window ends midway at 100 + 50 x 9 = 550/s
    let t = shaped(
        Shape {
            ramp: Some(Ramp {
                from: 100.0,
                to: 1000.0,
                over_s: 100.0,
            }),
            ..shape()
        },
        50.0,
    );
    let p = profile(&t, 1.0, 50.0);
    let last = p.segments().last().unwrap();
    assert_eq!((last.end, last.r1), (50.0, 550.0));
    assert_plan(&t, &[(0.0, 50.0, 100.0 * 50.0 + 4.5 * 2500.0)]);
}
