use super::latency::*;
use super::style::*;
use super::*;
use std::path::PathBuf;

fn out(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("cutover-charts-test-{}-{name}", std::process::id()))
}

/// Checks the PNG signature and the IHDR width/height and returns them; removes the file.
fn png_dims(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    let _ = std::fs::remove_file(path);
    assert!(
        b.len() > 1000,
        "{} is only {} bytes",
        path.display(),
        b.len()
    );
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "not a PNG: {}",
        path.display()
    );
    assert_eq!(&b[12..16], b"IHDR");
    let w = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
    let h = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
    (w, h)
}

fn curve(label: &str, pts: &[(f64, f64)]) -> LatencyCurve {
    LatencyCurve {
        label: label.into(),
        points: pts.to_vec(),
        colour: 0,
        dashed: false,
    }
}

fn ts(label: &str, pts: &[(f64, f64)]) -> TimeSeries {
    TimeSeries {
        label: label.into(),
        points: pts.to_vec(),
    }
}

fn bar(target: &str, model: &str, run: f64, monthly: f64) -> CostBar {
    CostBar {
        target: target.into(),
        model: model.into(),
        run_cost_usd: run,
        monthly_usd: monthly,
    }
}

fn normal_curves() -> Vec<LatencyCurve> {
    vec![
        curve(
            "legacy (non-stream)",
            &[
                (0.0, 120.0),
                (50.0, 410.0),
                (90.0, 640.0),
                (99.0, 890.0),
                (99.9, 1210.0),
            ],
        ),
        curve(
            "gateway (non-stream)",
            &[
                (0.0, 60.0),
                (50.0, 170.0),
                (90.0, 260.0),
                (99.0, 340.0),
                (99.9, 450.0),
            ],
        ),
    ]
}

#[test]
fn latency_normal_and_edges() {
    let cases: Vec<(&str, Vec<LatencyCurve>)> = vec![
        ("lat-normal.png", normal_curves()),
        ("lat-empty.png", vec![]),
        ("lat-empty-points.png", vec![curve("x", &[])]),
        ("lat-single.png", vec![curve("one", &[(50.0, 12.0)])]),
        (
            "lat-zero.png",
            vec![curve("zero", &[(0.0, 0.0), (50.0, 0.0), (99.0, 0.0)])],
        ),
        (
            "lat-nonfinite.png",
            vec![curve(
                "bad",
                &[
                    (f64::NAN, 1.0),
                    (50.0, f64::INFINITY),
                    (100.0, 5.0),
                    (-3.0, 1.0),
                    (99.0, f64::NAN),
                ],
            )],
        ),
        (
            "lat-huge.png",
            vec![curve(
                "huge",
                &[(0.0, 0.001), (50.0, 3.0), (99.0, 1e9), (99.9999999, 1e12)],
            )],
        ),
    ];
    for (name, curves) in cases {
        let p = out(name);
        latency_percentiles(&p, "latency by percentile", &curves).unwrap();
        assert_eq!(png_dims(&p), (WIDTH, HEIGHT), "{name}");
    }
}

#[test]
fn time_series_normal_and_edges() {
    let normal: Vec<TimeSeries> = vec![
        ts(
            "legacy ok/s",
            &(0..60)
                .map(|s| (s as f64, 40.0 + (s % 7) as f64))
                .collect::<Vec<_>>(),
        ),
        ts(
            "gateway ok/s",
            &(0..60)
                .map(|s| (s as f64, 48.0 + (s % 5) as f64))
                .collect::<Vec<_>>(),
        ),
    ];
    let cases: Vec<(&str, Vec<TimeSeries>)> = vec![
        ("ts-normal.png", normal),
        ("ts-empty.png", vec![]),
        ("ts-single.png", vec![ts("one", &[(3.0, 7.0)])]),
        (
            "ts-zero.png",
            vec![ts("zero", &[(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)])],
        ),
        (
            "ts-nonfinite.png",
            vec![ts(
                "bad",
                &[(f64::NAN, 1.0), (1.0, f64::NEG_INFINITY), (2.0, 3.0)],
            )],
        ),
        (
            "ts-negative.png",
            vec![ts("neg", &[(0.0, -5.0), (1.0, 2.0)])],
        ),
        ("ts-huge.png", vec![ts("huge", &[(0.0, 1e-9), (1e9, 1e15)])]),
    ];
    for (name, series) in cases {
        let p = out(name);
        time_series(&p, "throughput", "requests/s", &series).unwrap();
        assert_eq!(png_dims(&p), (WIDTH, HEIGHT), "{name}");
    }
}

#[test]
fn errors_and_throughput_normal_and_edges() {
    let tput = vec![ts("legacy ok/s", &[(0.0, 10.0), (1.0, 12.0), (2.0, 11.0)])];
    let errs = vec![ts("legacy errors/s", &[(0.0, 0.0), (1.0, 2.0), (2.0, 0.0)])];
    let zero_errs = vec![ts("legacy errors/s", &[(0.0, 0.0), (1.0, 0.0)])];
    let cases: Vec<(&str, Vec<TimeSeries>, Vec<TimeSeries>)> = vec![
        ("et-normal.png", tput.clone(), errs),
        ("et-empty.png", vec![], vec![]),
        ("et-zero-errors.png", tput.clone(), zero_errs),
        ("et-one-empty.png", tput, vec![ts("e", &[])]),
        (
            "et-single.png",
            vec![ts("t", &[(0.0, 1.0)])],
            vec![ts("e", &[(0.0, 1.0)])],
        ),
    ];
    for (name, t, e) in cases {
        let p = out(name);
        errors_and_throughput(&p, &t, &e).unwrap();
        assert_eq!(png_dims(&p), (WIDTH, TALL_HEIGHT), "{name}");
    }
}

#[test]
fn cost_normal_and_edges() {
    let normal = vec![
        bar("legacy", "gpt-4.1", 1.2, 4200.0),
        bar("gateway", "gpt-4.1", 1.1, 3900.0),
        bar("legacy", "deepseek-v3.2", 0.1, 300.0),
    ];
    let cases: Vec<(&str, Vec<CostBar>)> = vec![
        ("cost-normal.png", normal),
        ("cost-empty.png", vec![]),
        (
            "cost-single.png",
            vec![bar("legacy", "gpt-4.1", 0.01, 12.5)],
        ),
        (
            "cost-zero.png",
            vec![bar("a", "m", 0.0, 0.0), bar("b", "m", 0.0, 0.0)],
        ),
        (
            "cost-nonfinite.png",
            vec![
                bar("a", "m", f64::NAN, f64::INFINITY),
                bar("a", "n", -1.0, 5.0),
            ],
        ),
        (
            "cost-huge.png",
            vec![bar("a", "m", 1e6, 1e13), bar("b", "m", 0.0, 0.5)],
        ),
    ];
    for (name, bars) in cases {
        let p = out(name);
        cost(&p, "projected monthly cost", &bars).unwrap();
        assert_eq!(png_dims(&p), (WIDTH, HEIGHT), "{name}");
    }
}

#[test]
fn trend_normal_and_edges() {
    let cases: Vec<(&str, Vec<TimeSeries>)> = vec![
        (
            "trend-normal.png",
            vec![ts(
                "legacy p99 ms",
                &[(0.0, 880.0), (1.0, 900.0), (2.0, 870.0)],
            )],
        ),
        ("trend-empty.png", vec![]),
        (
            "trend-single.png",
            vec![ts("gateway p99 ms", &[(0.0, 340.0)])],
        ),
        (
            "trend-many.png",
            vec![ts(
                "x",
                &(0..200).map(|i| (i as f64, i as f64)).collect::<Vec<_>>(),
            )],
        ),
    ];
    for (name, series) in cases {
        let p = out(name);
        trend(&p, "p99 latency over runs", &series).unwrap();
        assert_eq!(png_dims(&p), (WIDTH, HEIGHT), "{name}");
    }
}

#[test]
fn svg_by_extension() {
    let p = out("lat.svg");
    latency_percentiles(&p, "latency", &normal_curves()).unwrap();
    let s = std::fs::read_to_string(&p).unwrap();
    let _ = std::fs::remove_file(&p);
    assert!(
        s.starts_with("<svg") && s.contains("DejaVu Sans"),
        "{}",
        &s[..s.len().min(200)]
    );
}

#[test]
fn unwritable_path_is_an_error_not_a_panic() {
    let p = Path::new("/nonexistent-dir-for-cutover-charts/x.png");
    let e = cost(p, "t", &[bar("a", "m", 1.0, 2.0)]).unwrap_err();
    assert!(e.to_string().contains("x.png"), "{e}");
}

#[test]
fn formatting() {
    assert_eq!(thousands(1234567.0, 0), "1,234,567");
    assert_eq!(thousands(999.0, 0), "999");
    assert_eq!(thousands(-1234.5, 1), "-1,234.5");
    assert_eq!(thousands(-0.0001, 0), "0");
    assert_eq!(usd(12345.4), "$12,345");
    assert_eq!(usd(1.234), "$1.23");
    assert_eq!(usd(0.0004), "<$0.01");
    assert_eq!(usd(0.0), "$0");
    assert_eq!(nines_label(0.0), "0%");
    assert_eq!(nines_label(2f64.log10()), "50%");
    assert_eq!(nines_label(1.0), "90%");
    assert_eq!(nines_label(2.0), "99%");
    assert_eq!(nines_label(4.0), "99.99%");
    assert_eq!(nines_label(1.5), "");
    assert!((nines(99.9) - 3.0).abs() < 1e-9);
    assert_eq!(percentile_label(99.9), "p99.9");
    assert_eq!(percentile_label(50.0), "p50");
}
