//! report.md rendered from a fixed run directory (tests/data/run-small: run.json and requests.csv of a short bundled
//! run) must match the committed snapshot byte for byte. A deliberate change of the report updates the snapshot with
//! `UPDATE_SNAPSHOTS=1 cargo test --test report_snapshot` and says why in its commit.

mod common;

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn fixture_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let src = Path::new(ROOT).join("tests/data").join(name);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    for f in ["run.json", "requests.csv", "chunk_gaps.csv"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    (tmp, dir)
}

fn check_snapshot(rendered: &str, snap: &Path) {
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(snap, rendered).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(snap).unwrap();
    if rendered != expected {
        let first = rendered
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{} differs from the rendering at line {}:\nrendered: {:?}\nexpected: {:?}",
            snap.display(),
            first + 1,
            rendered.lines().nth(first),
            expected.lines().nth(first)
        );
    }
}

#[test]
fn report_md_of_the_fixed_run_matches_the_snapshot() {
    let (_tmp, dir) = fixture_copy("run-small");
    cutover::report::render(&dir).unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    check_snapshot(
        &md,
        &Path::new(ROOT).join("tests/data/run-small/report.md.snap"),
    );
}
