//! report.html rendered in headless Chromium: one self-contained page (no file, no network), the decision and key
//! figures in the DOM, every inline SVG chart drawn. Needs Debian's `chromium` at /usr/bin/chromium; without it the
//! test SKIPs with a message, unless CUTOVER_REQUIRE_CHROMIUM=1 (CI installs chromium and sets it).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
const CHROMIUM: &str = "/usr/bin/chromium";

/// A short real run of the bundled scenario; returns its run directory.
fn short_run(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("s.yaml"), common::bundled_scenario()).unwrap();
    let out = Command::new(BIN)
        .args(["run", "s.yaml", "--duration", "3", "--allow-undecided"])
        .current_dir(dir)
        .output()
        .unwrap();
    // 0 (safe or undecided) or 1 (a threshold failed, e.g. p99 on a loaded debug build): either way a full report;
    // the test reads the decision from results.json.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "run failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_dir(dir.join("reports"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn chromium_available() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var("CUTOVER_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
        "CUTOVER_REQUIRE_CHROMIUM=1 but {CHROMIUM} is missing (apt-get install chromium)"
    );
    eprintln!("SKIP report_html: {CHROMIUM} not installed (Debian package `chromium`)");
    false
}

/// `chromium --headless --dump-dom` of `page`: the DOM after parsing and layout, as Chromium serialises it.
fn dump_dom(page: &Path, profile: &Path) -> String {
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every value of `attr="..."` in `html` (attribute names matched as whole words, case-insensitively).
fn attr_values(html: &str, attr: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let pat = format!("{attr}=");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find(&pat) {
        let at = from + i;
        from = at + pat.len();
        let before = lower[..at].chars().last().unwrap_or(' ');
        if before.is_ascii_alphanumeric() || before == '-' {
            continue;
        }
        let rest = &html[from..];
        let v = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or(""),
            _ => rest.split([' ', '>']).next().unwrap_or(""),
        };
        out.push(v.to_string());
    }
    out
}

/// The `<svg ...>...</svg>` elements of `dom` (charts are not nested).
fn svgs(dom: &str) -> Vec<&str> {
    dom.match_indices("<svg")
        .map(|(i, _)| {
            let end = dom[i..].find("</svg>").expect("unclosed svg") + i;
            &dom[i..end]
        })
        .collect()
}

fn number_attr(tag: &str, name: &str) -> f64 {
    let head = &tag[..tag.find('>').unwrap()];
    let v = attr_values(head, name);
    assert_eq!(v.len(), 1, "{name} on {head}");
    v[0].parse()
        .unwrap_or_else(|_| panic!("{name}={} on {head}", v[0]))
}

/// Figures of the "all" row of `target` in summary.csv, by column name.
fn summary_all(run: &Path, target: &str, col: &str) -> u64 {
    let text = std::fs::read_to_string(run.join("summary.csv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let idx = head.iter().position(|h| *h == col).unwrap();
    let row = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r[0] == target && r[2] == "all")
        .unwrap();
    row[idx].parse().unwrap()
}

fn grouped(v: u64) -> String {
    let d = v.to_string();
    let mut s = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            s.push(',');
        }
        s.push(c);
    }
    s
}

#[test]
fn report_html_renders_self_contained_in_headless_chromium() {
    if !chromium_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let run = short_run(tmp.path());
    let page = run.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();

    // Self-contained: no attribute points anywhere (file, http, data fetched later), no CSS import or url().
    for attr in [
        "src",
        "href",
        "xlink:href",
        "srcset",
        "action",
        "poster",
        "data",
    ] {
        let v = attr_values(&html, attr);
        assert!(v.is_empty(), "report.html references {attr}={v:?}");
    }
    let lower = html.to_ascii_lowercase();
    assert!(
        !lower.contains("url(") && !lower.contains("@import"),
        "CSS fetches a resource"
    );
    assert!(!lower.contains("<img") && !lower.contains("<script") && !lower.contains("<link"));
    // Moved alone (as a CI artefact would be), the page still has everything.
    let alone = tmp.path().join("alone");
    std::fs::create_dir(&alone).unwrap();
    std::fs::copy(&page, alone.join("report.html")).unwrap();
    let dom = dump_dom(&alone.join("report.html"), &tmp.path().join("profile"));

    // The decision first, styled by outcome and saying it in words.
    let results: String = std::fs::read_to_string(run.join("results.json")).unwrap();
    let decision = ["not_safe", "safe", "undecided"]
        .into_iter()
        .find(|d| results.contains(&format!("\n  \"decision\": \"{d}\"")))
        .expect("decision in results.json");
    let (label, class) = match decision {
        "safe" => ("SAFE", "safe"),
        "not_safe" => ("NOT SAFE", "not-safe"),
        _ => ("UNDECIDED", "undecided"),
    };
    let banner = dom.find("<blockquote").expect("banner");
    assert!(
        dom[banner..].starts_with(&format!("<blockquote class=\"decision {class}\"")),
        "{}",
        &dom[banner..banner + 80]
    );
    let first_table = dom.find("<table").unwrap();
    let said = dom
        .find(&format!("Decision: {label}</strong>"))
        .expect("decision text");
    assert!(
        banner < said && said < first_table,
        "decision comes before every table"
    );

    // Key figures: both targets' token totals with thousands separators, threshold outcomes coloured.
    for t in ["legacy", "gateway"] {
        for col in ["input_tokens", "output_tokens"] {
            let v = summary_all(&run, t, col);
            assert!(
                v >= 1000,
                "{t} {col} {v}: the run is too short to test separators"
            );
            assert!(
                dom.contains(&format!(">{}</td>", grouped(v))),
                "{t} {col} {v}"
            );
        }
    }
    assert!(
        dom.contains("<td class=\"pass\">PASS</td>")
            || dom.contains("<td class=\"fail\">FAIL</td>")
    );

    // Every chart is an inline SVG with a size and drawn content, captioned with its file name.
    let charts = svgs(&dom);
    assert_eq!(charts.len(), CHARTS.len(), "one inline SVG per chart");
    for (stem, min_shapes) in CHARTS {
        let caption = format!("<figcaption>{stem}.png</figcaption>");
        let at = dom
            .find(&caption)
            .unwrap_or_else(|| panic!("{stem}: no figure"));
        let start = dom[..at].rfind("<svg").expect("svg before its caption");
        let svg = svgs(&dom[start..])[0];
        assert!(
            number_attr(svg, "width") > 100.0 && number_attr(svg, "height") > 100.0,
            "{stem}"
        );
        let drawn = ["<path", "<rect", "<polyline", "<line", "<circle"]
            .iter()
            .map(|t| svg.matches(t).count())
            .sum::<usize>();
        assert!(drawn >= *min_shapes, "{stem}: only {drawn} drawn elements");
        assert!(svg.matches("<text").count() >= 5, "{stem}: no labels");
        assert!(!svg.contains("no data"), "{stem} says no data");
    }
}

/// The charts of a run of the bundled (non-canary) scenario, with the fewest drawn shapes each must have: lines and
/// grid at least; a marker per second or per interval; a dot per sampled request on the scatters.
const CHARTS: &[(&str, usize)] = &[
    ("latency", 20),
    ("errors", 20),
    ("cost", 20),
    ("latency-over-time", 40),
    ("latency-cdf", 20),
    ("ttft-vs-tokens", 100),
    ("e2e-vs-tokens", 100),
];
