//! The report's charts drawn from data of known shape, asserted on the SVG they produce: point counts per series,
//! monotone CDFs ending at 100%, threshold lines where the limit is, one bar group per canary phase, the palette's
//! colour per target, fitted lines from exact data, dates on the trend axis, and `--chart-format svg` end to end.

use std::collections::BTreeMap;
use std::path::Path;

use cutover::report::charts::{
    canary_phases, compare_overlay, latency_cdf, over_time, tokens_scatter, trend, CanaryPhase,
    CdfCurve, IntervalPoint, IntervalSeries, OverlayTarget, ScatterSeries, SloLine, TimeSeries,
};

/// Okabe-Ito, as published: blue for target 0, orange for target 1.
const BLUE: &str = "#0072B2";
const ORANGE: &str = "#E69F00";

/// One SVG element: its attributes, and its text content for `<text>`.
#[derive(Debug)]
struct El {
    attrs: BTreeMap<String, String>,
    text: String,
}

impl El {
    fn get(&self, k: &str) -> &str {
        self.attrs.get(k).map_or("", String::as_str)
    }
    fn num(&self, k: &str) -> f64 {
        self.get(k)
            .parse()
            .unwrap_or_else(|_| panic!("{k} of {self:?}"))
    }
    fn points(&self) -> Vec<(f64, f64)> {
        self.get("points")
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }
}

/// Every `<tag ...>` of `svg` (plotters writes one element per tag, attributes in double quotes).
fn elements(svg: &str, tag: &str) -> Vec<El> {
    let open = format!("<{tag} ");
    svg.match_indices(&open)
        .map(|(i, _)| {
            let head_end = svg[i..].find('>').unwrap() + i;
            let head = &svg[i + open.len()..head_end];
            let mut attrs = BTreeMap::new();
            let mut rest = head;
            while let Some(eq) = rest.find("=\"") {
                let key = rest[..eq].trim().to_string();
                let after = &rest[eq + 2..];
                let end = after.find('"').unwrap();
                attrs.insert(key, after[..end].to_string());
                rest = &after[end + 1..];
            }
            let text = if tag == "text" {
                let close = svg[head_end..].find("</text>").unwrap() + head_end;
                svg[head_end + 1..close].trim().to_string()
            } else {
                String::new()
            };
            El { attrs, text }
        })
        .collect()
}

fn polylines_of<'a>(els: &'a [El], colour: &str, width: &str) -> Vec<&'a El> {
    els.iter()
        .filter(|e| e.get("stroke") == colour && e.get("stroke-width") == width)
        .collect()
}

fn texts(svg: &str) -> Vec<String> {
    elements(svg, "text").into_iter().map(|e| e.text).collect()
}

fn interval(t: f64, p99: Option<f64>, err: Option<f64>) -> IntervalPoint {
    IntervalPoint {
        t_s: t,
        p50_ms: p99.map(|v| v / 4.0),
        p95_ms: p99.map(|v| v / 2.0),
        p99_ms: p99,
        error_rate: err,
    }
}

#[test]
fn over_time_has_one_point_per_interval_per_target_in_the_targets_colour() {
    const N: usize = 9;
    let series: Vec<IntervalSeries> = (0..2)
        .map(|k| IntervalSeries {
            label: format!("t{k}"),
            colour: k,
            // p99 rises by 100 ms per interval; error rate 1% per interval index.
            points: (0..N)
                .map(|i| {
                    let p99 = 100.0 * (i + 1) as f64 + 50.0 * k as f64;
                    interval(2.0 * i as f64 + 1.0, Some(p99), Some(i as f64 / 100.0))
                })
                .collect(),
        })
        .collect();
    let mut svg = String::new();
    over_time(&mut svg, "over time", 2.0, &series).unwrap();
    let lines = elements(&svg, "polyline");
    for c in [BLUE, ORANGE] {
        // The p99 line (width 3): one polyline of N points, rising (SVG y falls) interval after interval.
        let p99: Vec<&El> = polylines_of(&lines, c, "3")
            .into_iter()
            .filter(|e| e.points().len() > 2)
            .collect();
        assert_eq!(p99.len(), 1, "{c}: one p99 line");
        let pts = p99[0].points();
        assert_eq!(pts.len(), N, "{c}: {pts:?}");
        assert!(
            pts.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 < w[0].1),
            "{c}: {pts:?}"
        );
        // The error-rate panel: a marker per interval.
        let markers = elements(&svg, "circle")
            .into_iter()
            .filter(|e| e.get("fill") == c)
            .count();
        assert_eq!(markers, N, "{c}");
    }
}

#[test]
fn over_time_breaks_the_line_at_an_interval_without_data() {
    let mut points: Vec<IntervalPoint> = (0..7)
        .map(|i| interval(i as f64 + 0.5, Some(100.0 + i as f64), Some(0.0)))
        .collect();
    points[3] = interval(3.5, None, None);
    let s = [IntervalSeries {
        label: "only".into(),
        colour: 0,
        points,
    }];
    let mut svg = String::new();
    over_time(&mut svg, "gap", 1.0, &s).unwrap();
    let lines = elements(&svg, "polyline");
    let mut runs: Vec<usize> = polylines_of(&lines, BLUE, "3")
        .iter()
        .map(|e| e.points().len())
        .filter(|n| *n != 2) // the legend's marker
        .collect();
    runs.sort();
    assert_eq!(
        runs,
        vec![3, 3],
        "two runs of three intervals around the gap"
    );
    assert!(texts(&svg).iter().any(|t| t == "no errors"));
}

#[test]
fn cdf_is_monotone_ends_at_100_percent_and_draws_the_limit_where_it_is() {
    // Given out of order: the chart sorts; 25 ms is both a vertex of the curve and the limit.
    let curve = CdfCurve {
        label: "gateway".into(),
        colour: 0,
        dashed: false,
        points: vec![
            (40.0, 90.0),
            (10.0, 0.0),
            (25.0, 50.0),
            (60.0, 100.0),
            (15.0, 20.0),
        ],
    };
    let slo = SloLine {
        label: "gateway.p50_ms < 25".into(),
        ms: 25.0,
        colour: Some(1),
    };
    let mut svg = String::new();
    latency_cdf(&mut svg, "cdf", &[curve], &[slo]).unwrap();
    let lines = elements(&svg, "polyline");
    let curve = polylines_of(&lines, BLUE, "3")
        .into_iter()
        .find(|e| e.points().len() == 5)
        .expect("the curve");
    let pts = curve.points();
    assert!(
        pts.windows(2).all(|w| w[1].0 >= w[0].0 && w[1].1 <= w[0].1),
        "monotone: {pts:?}"
    );
    let label_y = |s: &str| {
        elements(&svg, "text")
            .into_iter()
            .find(|e| e.text == s)
            .unwrap_or_else(|| panic!("no tick {s}"))
            .num("y")
    };
    assert_eq!(pts[4].1, label_y("100%"), "ends at 100%");
    assert_eq!(pts[0].1, label_y("0%"), "starts at 0%");
    // The limit: vertical dashes in target 1's colour at the x of the curve's 25 ms vertex.
    let dashes: Vec<&El> = polylines_of(&lines, ORANGE, "2");
    assert!(dashes.len() >= 5, "dashed limit line");
    for d in &dashes {
        assert!(
            d.points().iter().all(|p| p.0 == pts[2].0),
            "{d:?} vs x {}",
            pts[2].0
        );
    }
    assert!(texts(&svg).iter().any(|t| t == "gateway.p50_ms &lt; 25"));
}

#[test]
fn scatter_fits_the_line_the_points_lie_on() {
    // 41 requests exactly on 100 ms + 2 ms/token, sampled from 1,000.
    let points: Vec<(f64, f64)> = (10..=50)
        .map(|x| (x as f64, 100.0 + 2.0 * x as f64))
        .collect();
    let s = [
        ScatterSeries {
            label: "gateway".into(),
            colour: 0,
            points: points.clone(),
            sampled_from: 1000,
            dashed: false,
        },
        ScatterSeries {
            label: "legacy".into(),
            colour: 1,
            points: points.iter().map(|(x, y)| (*x, 500.0 - y)).collect(),
            sampled_from: 41,
            dashed: false,
        },
    ];
    let mut svg = String::new();
    tokens_scatter(&mut svg, "e2e vs tokens", "ms", &s).unwrap();
    let t = texts(&svg);
    assert!(
        t.iter()
            .any(|x| x == "gateway: 100.0 ms + 2.00 ms/token  (41 of 1,000 requests)"),
        "{t:?}"
    );
    assert!(
        t.iter()
            .any(|x| x == "legacy: 400.0 ms − 2.00 ms/token  (41 requests)"),
        "{t:?}"
    );
    for c in [BLUE, ORANGE] {
        let dots = elements(&svg, "circle")
            .into_iter()
            .filter(|e| e.get("fill") == c)
            .count();
        assert_eq!(dots, 41, "{c}");
    }
    // The gateway's line rises from its first point to its last, through both.
    let circles = elements(&svg, "circle");
    let blue: Vec<(f64, f64)> = circles
        .iter()
        .filter(|e| e.get("fill") == BLUE)
        .map(|e| (e.num("cx"), e.num("cy")))
        .collect();
    let lines = elements(&svg, "polyline");
    let fit = polylines_of(&lines, BLUE, "3")
        .into_iter()
        .map(|e| e.points())
        .find(|p| p.len() == 2 && p[0].0 == blue[0].0)
        .expect("fitted line from the first point");
    assert_eq!(fit[0], blue[0]);
    assert_eq!(fit[1], blue[40]);
}

#[test]
fn canary_has_one_bar_group_per_phase_in_each_panel() {
    let phases: Vec<CanaryPhase> = ["5%", "15%", "50%"]
        .iter()
        .enumerate()
        .map(|(i, n)| CanaryPhase {
            name: n.to_string(),
            p99_ms: vec![Some(100.0), if i == 2 { None } else { Some(200.0) }],
            error_rate: vec![Some(0.01), if i == 2 { None } else { Some(0.02) }],
        })
        .collect();
    let targets = vec![("gateway".to_string(), 0), ("legacy".to_string(), 1)];
    let mut svg = String::new();
    canary_phases(&mut svg, "canary", &targets, &phases).unwrap();
    let rects = elements(&svg, "rect");
    let bars = |c: &str| -> Vec<&El> { rects.iter().filter(|e| e.get("fill") == c).collect() };
    // Per panel: a bar per phase where the target has data, plus its legend swatch.
    assert_eq!(bars(BLUE).len(), 2 * (3 + 1));
    assert_eq!(bars(ORANGE).len(), 2 * (2 + 1));
    let t = texts(&svg);
    for name in ["5%", "15%", "50%"] {
        assert_eq!(
            t.iter().filter(|x| *x == name).count(),
            2,
            "{name} under both panels"
        );
    }
    assert_eq!(
        t.iter().filter(|x| *x == "–").count(),
        2,
        "no legacy figure in the last phase"
    );
    // Heights follow the values: legacy's 200 ms bar is twice gateway's 100 ms (same panel, first phase).
    let (g, l) = (bars(BLUE)[0].num("height"), bars(ORANGE)[0].num("height"));
    assert!((l / g - 2.0).abs() < 0.03, "{g} vs {l}");
}

#[test]
fn compare_overlay_draws_baseline_dashed_and_current_solid_per_target() {
    let cdf = |scale: f64| -> Vec<(f64, f64)> {
        (0..=10)
            .map(|i| (scale * i as f64, i as f64 * 10.0))
            .collect()
    };
    let targets = [OverlayTarget {
        target: "gateway".into(),
        colour: 1,
        baseline: cdf(20.0),
        current: cdf(10.0),
    }];
    let mut svg = String::new();
    compare_overlay(&mut svg, "compare", &targets, &[]).unwrap();
    let t = texts(&svg);
    assert!(t.iter().any(|x| x == "gateway baseline") && t.iter().any(|x| x == "gateway current"));
    let lines = elements(&svg, "polyline");
    let orange = polylines_of(&lines, ORANGE, "3");
    let solid: Vec<&&El> = orange.iter().filter(|e| e.points().len() == 11).collect();
    assert_eq!(solid.len(), 1, "current: one solid line");
    // The baseline is dashed: many short pieces, ending further right (twice the latency) at the same 100% height.
    let dashes: Vec<&&El> = orange.iter().filter(|e| e.points().len() == 2).collect();
    assert!(dashes.len() > 10, "{}", dashes.len());
    let right = |e: &El| e.points().iter().map(|p| p.0).fold(0.0, f64::max);
    let base_right = dashes.iter().map(|e| right(e)).fold(0.0, f64::max);
    assert!(base_right > right(solid[0]) * 1.5);
}

#[test]
fn trend_is_drawn_against_dates() {
    let day = |d: i64| chrono_ts(2026, 11, d);
    let s = [TimeSeries {
        label: "gateway p99 ms".into(),
        points: vec![(day(10), 300.0), (day(17), 320.0), (day(24), 310.0)],
    }];
    let mut svg = String::new();
    trend(&mut svg, "trend", &s).unwrap();
    let circles = elements(&svg, "circle");
    let xs: Vec<f64> = circles.iter().map(|e| e.num("cx")).collect();
    assert_eq!(xs.len(), 3);
    // Runs a week apart each: equal spacing on a date axis.
    assert!(((xs[1] - xs[0]) - (xs[2] - xs[1])).abs() <= 1.0, "{xs:?}");
    // Every tick is a date standing at that date's midnight (placed by the runs at midnights of the 10th and 17th).
    let px_per_day = (xs[1] - xs[0]) / 7.0;
    let dates: Vec<(u32, f64)> = elements(&svg, "text")
        .into_iter()
        .filter(|e| e.text.len() == 10 && e.text.starts_with("2026-11-"))
        .map(|e| (e.text[8..].parse().unwrap(), e.num("x")))
        .collect();
    assert!(dates.len() >= 3, "date ticks: {dates:?}");
    for (d, x) in &dates {
        let want = xs[0] + (f64::from(*d) - 10.0) * px_per_day;
        assert!(
            (x - want).abs() <= 1.5,
            "tick {d} at {x}, midnight at {want}"
        );
    }
}

/// Unix seconds of a UTC midnight (days from the civil calendar, no chrono needed in the test).
fn chrono_ts(y: i64, m: i64, d: i64) -> f64 {
    let (y, m) = if m <= 2 { (y - 1, m + 12) } else { (y, m) };
    let era_days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * (m - 3) + 2) / 5 + d - 719_469;
    era_days as f64 * 86_400.0
}

#[test]
fn report_writes_svg_files_with_chart_format_svg() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/run-small");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    for f in ["run.json", "requests.csv", "chunk_gaps.csv"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["report", "--allow-undecided", "--chart-format", "svg"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 1),
        "{out:?}"
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for stem in [
        "latency",
        "errors",
        "cost",
        "latency-over-time",
        "latency-cdf",
        "e2e-vs-tokens",
    ] {
        let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{stem}"
        );
        assert!(!dir.join(format!("{stem}.png")).exists(), "{stem}.png");
        assert!(md.contains(&format!("![{stem}.svg]({stem}.svg)")), "{stem}");
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["report", "--chart-format", "gif"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("png or svg"));
}
