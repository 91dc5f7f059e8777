#![allow(dead_code)]
//! Helpers for the hostile-server suite (`tests/hostile.rs`), black-box only: a raw loopback HTTP server that can
//! send anything, the real binary run under a timeout with its peak RSS watched, scenario text, and readers of the
//! output files. Nothing here imports the crate: the tests see only files, exit codes, stdout and stderr.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod server;
pub use server::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_cutover");

/// The variable holding the test key, and the key: long and random-looking, and not shaped like `sk-...` or
/// `pat_...`, so only real redaction (not the key-shape heuristics) can hide it.
pub const KEY_VAR: &str = "CUTOVER_HOSTILE_KEY";
pub const KEY: &str = "Zq7vR2mXr9LpT4wYc8NbKd3FsJh6GuA1eRt5Wm";

// ---------------------------------------------------------------------------------------------------------------
// Scenarios

/// A one-target scenario against a loopback server, with an inline price table (model `m1`: $1 per million input
/// tokens, $10 per million output tokens) so the tests know every price.
#[derive(Clone)]
pub struct Scenario {
    pub name: String,
    pub protocol: &'static str,
    pub base_url: String,
    /// Conversations per wall-clock second.
    pub rate: f64,
    pub duration_s: f64,
    pub stream_share: f64,
    pub turns: u32,
    pub request_timeout_s: f64,
    pub grace_s: f64,
    pub max_duration_s: f64,
    pub max_retries: u32,
    /// Extra lines under `limits:` (two-space indent, newline-terminated).
    pub limits: String,
    /// Extra lines under `retry:`.
    pub retry: String,
    /// Extra lines under `traffic:`.
    pub traffic: String,
    /// Extra lines under the target (four-space indent).
    pub target: String,
    pub top: String,
}

pub const INPUT_PER_MTOK: f64 = 1.0;
pub const OUTPUT_PER_MTOK: f64 = 10.0;

impl Scenario {
    pub fn openai(base_url: &str) -> Scenario {
        Scenario {
            name: "hostile".into(),
            protocol: "openai",
            base_url: base_url.into(),
            rate: 4.0,
            duration_s: 1.0,
            stream_share: 0.0,
            turns: 1,
            request_timeout_s: 5.0,
            grace_s: 2.0,
            max_duration_s: 60.0,
            max_retries: 0,
            limits: String::new(),
            retry: String::new(),
            traffic: String::new(),
            target: String::new(),
            top: String::new(),
        }
    }

    pub fn coze(base_url: &str) -> Scenario {
        Scenario {
            protocol: "coze",
            target: "    coze: {bot_id: \"7300000000000000001\", poll_interval_ms: 50}\n".into(),
            ..Scenario::openai(base_url)
        }
    }

    pub fn yaml(&self) -> String {
        // Uniform arrivals: `rate * duration_s` conversations, evenly spaced (one fewer per day keeps the count exact).
        let cpd = self.rate * 86_400.0 - 1.0;
        format!(
            "name: {name}\nseed: 11\ntargets:\n  - name: gw\n    role: gateway\n    protocol: {protocol}\n    \
             base_url: {base_url}\n    api_key_env: {KEY_VAR}\n{target}\
             traffic:\n  conversations_per_day: {cpd}\n  duration_s: {duration}\n  arrival: uniform\n  \
             turns: [{{turns: {turns}, weight: 1.0}}]\n  stream_share: {share}\n  models: [{{model: m1, weight: 1.0}}]\n  \
             prompts: [\"hello there\"]\n{traffic}\
             limits:\n  request_timeout_s: {timeout}\n  grace_s: {grace}\n  max_duration_s: {maxd}\n{limits}\
             retry:\n  max_retries: {retries}\n  initial_backoff_ms: 20\n  max_backoff_ms: 100\n{retry}\
             prices:\n  currency: USD\n  models:\n    m1: {{input_per_mtok: {INPUT_PER_MTOK}, output_per_mtok: {OUTPUT_PER_MTOK}}}\n{top}",
            name = self.name,
            protocol = self.protocol,
            base_url = self.base_url,
            target = self.target,
            duration = self.duration_s,
            turns = self.turns,
            share = self.stream_share,
            traffic = self.traffic,
            timeout = self.request_timeout_s,
            grace = self.grace_s,
            maxd = self.max_duration_s,
            limits = self.limits,
            retries = self.max_retries,
            retry = self.retry,
            top = self.top,
        )
    }

    /// Write `scenario.yaml` into `dir` and return its file name (the tests run the binary from `dir`).
    pub fn write(&self, dir: &Path) -> &'static str {
        std::fs::write(dir.join("scenario.yaml"), self.yaml()).unwrap();
        "scenario.yaml"
    }
}

/// 1-based line of the first line of `text` containing `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in scenario"))
        + 1
}

// ---------------------------------------------------------------------------------------------------------------
// Running the binary

/// What a finished (or killed) child left.
#[derive(Debug)]
pub struct Out {
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Largest resident set seen while polling `/proc/<pid>/status` (VmHWM / VmRSS), KiB.
    pub peak_rss_kib: u64,
    pub timed_out: bool,
    /// Killed by the watcher because its RSS passed the safety limit.
    pub killed_for_rss: bool,
    pub elapsed: Duration,
}

impl Out {
    pub fn all(&self) -> String {
        format!(
            "exit {:?} signal {:?} timed_out {} rss {} KiB\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.signal,
            self.timed_out,
            self.peak_rss_kib,
            clip(&self.stdout, 3000),
            clip(&self.stderr, 3000)
        )
    }

    /// Neither a panic (101) nor an abort (134 / SIGABRT) nor a kill by the watcher.
    pub fn did_not_crash(&self) -> bool {
        !matches!(self.code, Some(101) | Some(134))
            && self.signal.is_none()
            && !self.timed_out
            && !self.killed_for_rss
            && !self.stderr.contains("panicked")
    }
}

pub fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}...[{} bytes]", &s[..i], s.len()),
        None => s.to_string(),
    }
}

/// Watcher's safety limit: a child above this RSS is killed so a runaway cannot take the shared machine down.
pub const RSS_KILL_KIB: u64 = 600 * 1024;

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A started child with its output going to files in the test directory.
pub struct Running {
    pub child: Child,
    started: Instant,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// Start `program args` in `dir` with the test key set. Output goes to `dir/out-N.stdout` / `.stderr`, which the
/// secret scans read too.
pub fn start_program(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let stdout = dir.join(format!("out-{n}.stdout"));
    let stderr = dir.join(format!("out-{n}.stderr"));
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .env(KEY_VAR, KEY)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Running {
        child: cmd.spawn().expect("spawn"),
        started: Instant::now(),
        stdout,
        stderr,
    }
}

pub fn start(dir: &Path, args: &[&str]) -> Running {
    // These runs are seconds long with no legacy/gateway pair: too small for a statistical decision. With
    // --allow-undecided an undecided run exits 0, so the exit code speaks of what this suite tests (a not_safe run,
    // e.g. every request failed, still exits 1).
    let args: Vec<&str> = match args.split_first() {
        Some((&"run", rest)) => ["run", "--allow-undecided"]
            .iter()
            .chain(rest)
            .copied()
            .collect(),
        _ => args.to_vec(),
    };
    start_program(dir, BIN, &args, &[])
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status();
    }

    /// Wait up to `timeout`, polling RSS; kill on timeout or when RSS passes `rss_kill_kib`.
    pub fn wait_with(mut self, timeout: Duration, rss_kill_kib: u64) -> Out {
        let mut peak = 0;
        let (mut timed_out, mut killed_for_rss) = (false, false);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            peak = peak.max(rss_kib(self.pid()));
            if peak > rss_kill_kib && !killed_for_rss {
                killed_for_rss = true;
                let _ = self.child.kill();
            }
            if self.started.elapsed() > timeout && !timed_out {
                timed_out = true;
                let _ = self.child.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        use std::os::unix::process::ExitStatusExt;
        Out {
            code: status.code(),
            signal: status.signal(),
            stdout: read_lossy(&self.stdout),
            stderr: read_lossy(&self.stderr),
            peak_rss_kib: peak,
            timed_out,
            killed_for_rss,
            elapsed: self.started.elapsed(),
        }
    }

    pub fn wait(self, timeout: Duration) -> Out {
        self.wait_with(timeout, RSS_KILL_KIB)
    }
}

fn read_lossy(p: &Path) -> String {
    let mut b = Vec::new();
    if let Ok(mut f) = std::fs::File::open(p) {
        let _ = f.read_to_end(&mut b);
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Peak (VmHWM) or current (VmRSS) resident set of a process, KiB; 0 when it is gone.
pub fn rss_kib(pid: u32) -> u64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field("VmHWM:").max(field("VmRSS:"))
}

/// Run `cutover args` in `dir`, bounded by `timeout`.
pub fn cutover(dir: &Path, args: &[&str], timeout: Duration) -> Out {
    start(dir, args).wait(timeout)
}

// ---------------------------------------------------------------------------------------------------------------
// Outputs

/// The run directory of the single run under `dir/reports`, if one was created.
pub fn run_dir(dir: &Path) -> Option<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("reports"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v.pop()
}

/// `requests.csv` rows as column -> value maps.
pub fn rows(run: &Path) -> Vec<HashMap<String, String>> {
    let mut rdr = csv::Reader::from_path(run.join("requests.csv")).expect("requests.csv");
    let headers = rdr.headers().unwrap().clone();
    rdr.records()
        .map(|r| {
            let r = r.expect("whole row");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

pub fn col<'a>(row: &'a HashMap<String, String>, name: &str) -> &'a str {
    row.get(name).map(String::as_str).unwrap_or("")
}

pub fn chat_rows(run: &Path) -> Vec<HashMap<String, String>> {
    rows(run)
        .into_iter()
        .filter(|r| col(r, "op") == "chat")
        .collect()
}

pub fn run_json(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).expect("run.json"))
        .expect("run.json is JSON")
}

/// `scheduled = ok + errors + cancelled + not_sent` per target in run.json, and the same counts from the CSV.
pub fn assert_accounting(run: &Path) {
    let meta = run_json(run);
    let rows = rows(run);
    let acc = meta["accounting"].as_array().expect("accounting").clone();
    for a in acc {
        let t = a["target"].as_str().unwrap();
        let n = |k: &str| a[k].as_u64().unwrap_or(0);
        assert_eq!(
            n("scheduled"),
            n("ok") + n("errors") + n("cancelled") + n("not_sent"),
            "identity in run.json: {a}"
        );
        let mine: Vec<_> = rows.iter().filter(|r| col(r, "target") == t).collect();
        assert_eq!(mine.len() as u64, n("scheduled"), "rows of {t} vs run.json");
        for (k, outcome) in [
            ("ok", "ok"),
            ("errors", "error"),
            ("cancelled", "cancelled"),
            ("not_sent", "not_sent"),
        ] {
            let c = mine.iter().filter(|r| col(r, "outcome") == outcome).count() as u64;
            assert_eq!(c, n(k), "{t}: {k} in run.json vs CSV");
        }
    }
}

/// Every file under `root` (recursively), as lossy text.
pub fn all_files(root: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let b = std::fs::read(&p).unwrap_or_default();
                out.push((p, String::from_utf8_lossy(&b).into_owned()));
            }
        }
    }
    out
}

/// Places where `secret` or any substring of it of `min` or more characters occurs, case-insensitively.
pub fn find_secret(texts: &[(PathBuf, String)], secret: &str, min: usize) -> Vec<String> {
    let s = secret.to_ascii_lowercase();
    let windows: Vec<&str> = (0..=s.len().saturating_sub(min))
        .map(|i| &s[i..i + min.min(s.len())])
        .collect();
    let mut hits = Vec::new();
    for (p, t) in texts {
        let lt = t.to_ascii_lowercase();
        for w in &windows {
            if let Some(i) = lt.find(w) {
                let from = lt[..i].char_indices().rev().nth(40).map_or(0, |(j, _)| j);
                let ctx: String = t[from..].chars().take(100).collect();
                hits.push(format!("{}: `{w}` in ...{ctx}...", p.display()));
                break;
            }
        }
    }
    hits
}

/// Assert the test key (and every 8+ character piece of it) is in no file under `dir` (run directory, scenario,
/// captured stdout and stderr).
pub fn assert_no_key(dir: &Path) {
    let hits = find_secret(&all_files(dir), KEY, 8);
    assert!(hits.is_empty(), "the key leaked:\n{}", hits.join("\n"));
}

/// Wait until `cond` holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

// ---------------------------------------------------------------------------------------------------------------
// Shared test steps

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn f64_of(row: &std::collections::HashMap<String, String>, name: &str) -> f64 {
    col(row, name).parse().unwrap_or(f64::NAN)
}

/// Replace the first line starting with `prefix` by `line`.
pub fn set_line(yaml: &str, prefix: &str, line: &str) -> String {
    let mut done = false;
    yaml.lines()
        .map(|l| {
            if !done && l.starts_with(prefix) {
                done = true;
                line.to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// A non-loopback address of this machine (no packet is sent to find it), if it has one.
pub fn own_non_loopback_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// A quick, well-behaved OpenAI server (non-stream and stream).
pub fn ok_server() -> Server {
    Server::start(|r, _| {
        if r.wants_stream() {
            Reply::Raw(openai_stream(&["hel", "lo"], (5, 2)))
        } else {
            Reply::Raw(openai_ok("hello", 5, 2))
        }
    })
}

/// Run `validate` then `run` on scenario text in `dir`; both must refuse it with exit 2 naming `scenario.yaml:LINE:`
/// and `field`, and nothing may be written. Returns a description of what went wrong, if anything.
pub fn refused(dir: &std::path::Path, text: &str, line: usize, field: &str) -> Option<String> {
    std::fs::write(dir.join("scenario.yaml"), text).unwrap();
    let mut problems = Vec::new();
    for args in [
        &["validate", "scenario.yaml"][..],
        &["run", "--quiet", "scenario.yaml"][..],
    ] {
        let cmd = args[0];
        // A run that should have been refused but starts anyway is stopped after 15 s (and counted as wrong).
        let out = cutover(dir, args, Duration::from_secs(15));
        let at = format!("scenario.yaml:{line}:");
        if out.code != Some(2) || !out.stderr.contains(&at) || !out.stderr.contains(field) {
            problems.push(format!(
                "{cmd}: want exit 2 naming `{at}` and `{field}`, got exit {:?} (signal {:?}): {}{}",
                out.code,
                out.signal,
                clip(out.stderr.trim(), 300),
                clip(out.stdout.trim(), 200)
            ));
        }
    }
    if run_dir(dir).is_some() {
        problems.push("a run directory was written".into());
        let _ = std::fs::remove_dir_all(dir.join("reports"));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}
