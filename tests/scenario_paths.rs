//! Paths in a scenario resolve relative to the scenario file's folder, always (never the current directory): a
//! scenario copied to another folder with its mocks and prices runs unchanged from any working directory, and a
//! missing file is reported with the scenario's file:line and field.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn copy(from: &str, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(Path::new(ROOT).join(from), to).unwrap();
}

fn cutover(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .current_dir(cwd)
        .env_remove("COZE_API_TOKEN")
        .env_remove("GATEWAY_API_KEY")
        .output()
        .unwrap()
}

/// The repository's layout (scenarios/, mocks/, prices/) copied under a temp folder, the bundled scenario byte for
/// byte; run from an unrelated working directory, with a 1 s arrival window.
#[test]
fn a_scenario_copied_to_another_folder_with_its_mocks_runs_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("elsewhere/project");
    let scenario = tree.join("scenarios/coze-migration.yaml");
    copy("scenarios/coze-migration.yaml", &scenario);
    copy("mocks/legacy.yaml", &tree.join("mocks/legacy.yaml"));
    copy("mocks/gateway.yaml", &tree.join("mocks/gateway.yaml"));
    copy("prices/default.yaml", &tree.join("prices/default.yaml"));
    let cwd = tmp.path().join("somewhere/else");
    std::fs::create_dir_all(&cwd).unwrap();
    let s = scenario.to_str().unwrap();

    let v = cutover(&cwd, &["validate", s]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let out = tmp.path().join("reports");
    let r = cutover(
        &cwd,
        &[
            "run",
            s,
            "--duration",
            "1",
            "--quiet",
            "--allow-undecided",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&r.stderr);
    // 0 (safe), 1 (thresholds failed) or 5 is a decision; 2 would be bad input (a path that did not resolve).
    assert!(
        matches!(r.status.code(), Some(0 | 1)),
        "{:?}\n{stderr}",
        r.status
    );
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(stdout.contains("decision: "), "{stdout}");
    // Both mocks served: each target has answered requests.
    for target in ["legacy", "gateway"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(target))
            .unwrap_or_else(|| panic!("no {target} line: {stdout}"));
        assert!(!line.contains(" ok      0 "), "{line}");
    }
}

/// The old rule tried the current directory first: a scenario whose `mock:` only exists relative to the working
/// directory must now be refused, naming the scenario's file, line and field.
#[test]
fn a_path_is_never_resolved_from_the_current_directory() {
    let tmp = tempfile::tempdir().unwrap();
    // The working directory holds mocks/legacy.yaml; the scenario's folder does not.
    let cwd = tmp.path().join("cwd");
    copy("mocks/legacy.yaml", &cwd.join("mocks/legacy.yaml"));
    copy("mocks/gateway.yaml", &cwd.join("mocks/gateway.yaml"));
    let text = std::fs::read_to_string(Path::new(ROOT).join("scenarios/coze-migration.yaml"))
        .unwrap()
        .replace("mock: ../mocks/", "mock: mocks/")
        .replace("prices: ../prices/", &format!("prices: {ROOT}/prices/"));
    let line = 1 + text
        .lines()
        .position(|l| l.contains("mock: mocks/legacy.yaml"))
        .unwrap();
    let scenario = tmp.path().join("scenarios/s.yaml");
    std::fs::create_dir_all(scenario.parent().unwrap()).unwrap();
    std::fs::write(&scenario, &text).unwrap();
    let v = cutover(&cwd, &["validate", scenario.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&v.stderr);
    let at = format!("{}:{line}:", scenario.display());
    assert!(
        stderr.contains(&at) && stderr.contains("targets[0].mock"),
        "want {at} ... targets[0].mock in: {stderr}"
    );
    // The same scenario with its mocks beside it, in its own folder, validates.
    copy(
        "mocks/legacy.yaml",
        &tmp.path().join("scenarios/mocks/legacy.yaml"),
    );
    copy(
        "mocks/gateway.yaml",
        &tmp.path().join("scenarios/mocks/gateway.yaml"),
    );
    let v = cutover(&cwd, &["validate", scenario.to_str().unwrap()]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}

/// A price table that does not exist: the error names the scenario file, the line of `prices:` and the field.
#[test]
fn a_missing_price_table_names_the_scenario_line() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("scenarios/coze-migration.yaml");
    copy("scenarios/coze-migration.yaml", &scenario);
    copy("mocks/legacy.yaml", &tmp.path().join("mocks/legacy.yaml"));
    copy("mocks/gateway.yaml", &tmp.path().join("mocks/gateway.yaml"));
    let text = std::fs::read_to_string(&scenario).unwrap();
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("prices: ../prices/default.yaml"))
        .unwrap();
    let v = cutover(tmp.path(), &["validate", scenario.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&v.stderr);
    let at = format!("{}:{line}:", scenario.display());
    assert!(
        stderr.contains(&at) && stderr.contains("prices"),
        "want {at} ... prices in: {stderr}"
    );
}
