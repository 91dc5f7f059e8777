//! CLI conventions: help text on every argument, `--version` with the git commit, shell completions for every shell
//! clap_complete knows, and no colour when the output is not a terminal.

use std::process::Command;

// The binary's own command definitions, compiled into this test so the tree walked is the one `cutover` parses.
#[allow(dead_code)]
#[path = "../src/main.rs"]
mod cli_main;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn cutover(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .output()
        .unwrap()
}

/// Every argument (flag or positional) of every subcommand, with the path that names it.
fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
    for a in cmd.get_arguments() {
        out.push((format!("{path} {}", a.get_id()), a.clone()));
    }
    for sub in cmd.get_subcommands() {
        walk(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

#[test]
fn every_argument_and_subcommand_has_help_text() {
    let mut cmd = cli_main::command();
    cmd.build();
    let mut args = Vec::new();
    walk(&cmd, "cutover", &mut args);
    // The tree is the real one: the subcommands and positionals the README uses are in it.
    for name in [
        "cutover run scenario",
        "cutover validate scenario",
        "cutover mock profile",
        "cutover report dir",
        "cutover compare baseline",
        "cutover schema kind",
        "cutover completions shell",
    ] {
        assert!(
            args.iter().any(|(n, _)| n == name),
            "{name} missing from the walked tree"
        );
    }
    let missing: Vec<&str> = args
        .iter()
        .filter(|(_, a)| a.get_help().is_none_or(|h| h.to_string().trim().is_empty()))
        .map(|(n, _)| n.as_str())
        .collect();
    assert!(missing.is_empty(), "arguments without help: {missing:#?}");
    let subs_without_about: Vec<&str> = cmd
        .get_subcommands()
        .filter(|s| s.get_about().is_none())
        .map(|s| s.get_name())
        .collect();
    assert!(
        subs_without_about.is_empty(),
        "subcommands without help: {subs_without_about:?}"
    );
}

/// The commit `git rev-parse --short HEAD` gives here, or "unknown" where this is not a git checkout.
fn expected_commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(ROOT)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[test]
fn version_names_the_package_version_and_the_commit() {
    let out = cutover(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        format!(
            "cutover {} (commit {})",
            env!("CARGO_PKG_VERSION"),
            expected_commit()
        )
    );
}

#[test]
fn completions_for_every_shell_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = cutover(&["completions", shell]);
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["validate", "compare", "completions", "allow-undecided"] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
    }
    // The bash script is valid bash (when bash is here to say so).
    let script = cutover(&["completions", "bash"]).stdout;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cutover.bash");
    std::fs::write(&p, script).unwrap();
    if let Ok(s) = Command::new("bash").arg("-n").arg(&p).status() {
        assert!(s.success(), "bash -n refused the completion script");
    }
    let bad = cutover(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// Piped (not a terminal), the summary carries no escape sequence even with colours otherwise allowed.
#[test]
fn piped_output_has_no_colour() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    // A finished run directory from the test data, re-rendered by `cutover report` (prints the decision).
    let data = std::path::Path::new(ROOT).join("tests/data/run-small");
    for f in ["run.json", "requests.csv"] {
        std::fs::copy(data.join(f), run.join(f)).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["report", run.to_str().unwrap(), "--allow-undecided"])
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("decision: "), "{text}");
    assert!(!text.contains('\x1b'), "{text:?}");
}

/// One HTTP/1.1 GET on loopback; returns the status code.
fn get_status(base_url: &str, path: &str, key: Option<&str>) -> u16 {
    use std::io::{Read, Write};
    let addr = base_url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let auth = key.map_or(String::new(), |k| format!("authorization: Bearer {k}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}connection: close\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

/// `cutover mock` says which key it accepts, and that key (the profile's `auth.bearer`) is the one that gets a 200.
#[test]
fn cutover_mock_prints_the_key_it_accepts() {
    use std::io::BufRead;
    let profile = format!("{ROOT}/mocks/gateway.yaml");
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&profile).unwrap()).unwrap();
    let want = doc["auth"]["bearer"].as_str().unwrap().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["mock", &profile, "--port", "0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut url = None;
    let mut key = None;
    for line in lines.by_ref().take(5) {
        let line = line.unwrap();
        if let Some(rest) = line.split_once("listening on ") {
            url = rest.1.split_whitespace().next().map(str::to_string);
        }
        if let Some((_, rest)) = line.split_once("accepts `Authorization: Bearer ") {
            key = rest.split('`').next().map(str::to_string);
            break;
        }
    }
    let (url, key) = (url.expect("listening line"), key.expect("key line"));
    assert_eq!(key, want);
    let (with, without) = (
        get_status(&url, "/v1/models", Some(&key)),
        get_status(&url, "/v1/models", None),
    );
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!((with, without), (200, 401));
}

/// `--progress` without a terminal writes progress lines on stderr: the total they show is the exact number of
/// conversations the run then records (distinct target + conversation in requests.csv), canary routing included,
/// the last line has them all done with nothing in flight, and nothing of it reaches stdout or the report.
#[test]
fn progress_shows_the_exact_planned_total_and_the_drain() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = format!("{ROOT}/scenarios/coze-canary.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["run", &scenario, "--duration", "3", "--progress", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("cutover: "))
        .filter(|l| l.contains(" | "))
        .collect();
    assert!(lines.len() >= 2, "{stderr}");
    let dir = std::fs::read_dir(tmp.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let convs: std::collections::BTreeSet<(String, u64)> =
        cutover::run::record::read_records(&dir.join("requests.csv"))
            .unwrap()
            .map(|r| {
                let r = r.unwrap();
                (r.target, r.conversation)
            })
            .collect();
    assert!(convs.len() > 10, "{}", convs.len());
    // "M:SS done/total ..." or "M:SS draining N in flight, done/total ..."
    let done_total = |l: &str| -> (u64, u64) {
        let w = l
            .split_whitespace()
            .find(|w| w.contains('/') && w.chars().next().unwrap().is_ascii_digit())
            .unwrap();
        let (d, t) = w.trim_end_matches(',').split_once('/').unwrap();
        (d.parse().unwrap(), t.parse().unwrap())
    };
    for l in &lines {
        assert_eq!(done_total(l).1, convs.len() as u64, "{l}");
    }
    let last = lines.last().unwrap();
    assert!(last.contains("draining 0 in flight"), "{last}");
    assert_eq!(done_total(last).0, convs.len() as u64, "{last}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("in flight"), "{stdout}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(!md.contains("in flight,"), "progress text in report.md");
}

/// Piped and without `--progress`: no progress line at all.
#[test]
fn no_progress_line_when_stderr_is_not_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = format!("{ROOT}/scenarios/coze-migration.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["run", &scenario, "--duration", "0.5", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1 | 5)), "{stderr}");
    assert!(!stderr.contains(" | "), "{stderr}");
}

/// The GitHub Actions example (deploy/github/nightly.yml): every flag it passes exists, and its jq programs, run on
/// the results.json of a real run directory, print the decision and every threshold (when jq is installed here).
#[test]
fn the_nightly_workflow_uses_real_flags_and_its_jq_reads_results_json() {
    let wf = std::fs::read_to_string(format!("{ROOT}/deploy/github/nightly.yml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&wf).unwrap();
    let steps = doc["jobs"]["cutover"]["steps"].as_sequence().unwrap();
    let script: String = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let line = script
        .lines()
        .find(|l| l.trim_start().starts_with("cutover run "))
        .expect("a cutover run line");
    let run = cli_main::command().find_subcommand("run").unwrap().clone();
    for flag in line.split_whitespace().filter(|w| w.starts_with("--")) {
        let name = flag.trim_start_matches('-');
        assert!(
            run.get_arguments().any(|a| a.get_long() == Some(name)),
            "{flag} is not a `cutover run` flag"
        );
    }
    // It uploads the report directory, publishes the JUnit file and fails on cutover's exit code.
    for want in [
        "actions/upload-artifact",
        "junit.xml",
        "results.json",
        "exit ${{ steps.run.outputs.code }}",
    ] {
        assert!(wf.contains(want), "{want} missing from the workflow");
    }

    let programs: Vec<String> = script
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("jq -r '"))
        .map(|l| l[..l.rfind('\'').unwrap()].to_string())
        .collect();
    assert_eq!(programs.len(), 2, "{script}");
    let tmp = tempfile::tempdir().unwrap();
    let data = std::path::Path::new(ROOT).join("tests/data/run-small");
    for f in ["run.json", "requests.csv"] {
        std::fs::copy(data.join(f), tmp.path().join(f)).unwrap();
    }
    let r = cutover(&["report", tmp.path().to_str().unwrap(), "--allow-undecided"]);
    assert!(r.status.code().is_some_and(|c| c != 2), "{r:?}");
    let results = tmp.path().join("results.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    let Ok(probe) = Command::new("jq").arg("--version").output() else {
        return; // no jq on this machine: the structural checks above still ran
    };
    assert!(probe.status.success());
    let mut text = String::new();
    for p in programs {
        let o = Command::new("jq")
            .args(["-r", &p])
            .arg(&results)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{p}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        text.push_str(&String::from_utf8_lossy(&o.stdout));
    }
    let decision = doc["decision"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("## cutover: {decision}\n")),
        "{text}"
    );
    for t in doc["thresholds"].as_array().unwrap() {
        let e = t["expression"].as_str().unwrap();
        assert!(text.contains(&format!("`{e}`")), "{e} missing: {text}");
    }
}
