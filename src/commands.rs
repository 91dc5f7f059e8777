//! What the commands do, as library functions (the binary only parses arguments and maps errors to exit codes).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::client::secret::Secret;
use crate::client::Endpoint;
use crate::config::scenario::{Loaded, ProtocolKind, Scenario};
use crate::mock::{MockHandle, MockProfile};
use crate::report::compare::compare_dirs_with;
use crate::report::{render_with, RunMeta, TargetMeta};
use crate::run::state::{Control, RunTarget};

mod shard;
pub mod sweep;
pub use shard::{merge, shard_from_flags, DEFAULT_MAX_START_DELAY_S};

/// Requests per second above which a run gets a worker thread per core instead of one thread (see `main.rs`): one
/// thread holds a closed run at ~110,000/s, but an open run's arrivals cost more (a task per conversation, a wake-up
/// per arrival): at 50,000/s one thread was saturated and 0.7% of arrivals found `max_in_flight` reached, where two
/// workers sent them all (bench/lag.sh, bench/RESULTS.md "Session of 2026-12-07 (third)").
pub const ONE_THREAD_MAX_RPS: f64 = 30_000.0;

/// Whether `cutover run SCENARIO` needs more than one thread: its open-model peak above [`ONE_THREAD_MAX_RPS`].
/// A scenario that does not load says no here; the run itself then reports why.
pub fn run_wants_workers(scenario: &std::path::Path, duration_s: Option<f64>) -> bool {
    let Ok(loaded) = crate::config::scenario::Scenario::load(scenario) else {
        return false;
    };
    let window = duration_s.unwrap_or(loaded.scenario.traffic.duration_s);
    crate::run::plan::peak_offered_rps(&loaded, window).is_some_and(|r| r > ONE_THREAD_MAX_RPS)
}

/// Exit codes (documented in README.md), and the one mapping of a decision to its code.
pub mod exit {
    use crate::measure::decision::DecisionKind;

    /// The decision is `safe` (run, report, compare).
    pub const OK: i32 = 0;
    /// The decision is `not_safe`: a threshold failed, a metric is significantly worse (than the legacy or the
    /// baseline), or every request of a target failed. The report is written.
    pub const THRESHOLDS_FAILED: i32 = 1;
    /// Bad input or environment: scenario/profile errors, missing key variable, unreachable target, port in use,
    /// runs that cannot be compared.
    pub const BAD_INPUT: i32 = 2;
    /// The harness failed at run time (cannot write the report directory, ...).
    pub const HARNESS: i32 = 3;
    /// Interrupted (Ctrl-C / SIGTERM / duration cap) after a graceful drain: report written, marked interrupted;
    /// results.json still holds the decision.
    pub const INTERRUPTED: i32 = 4;
    /// The decision is `undecided` (too little data, nothing judged, a phase without data), unless
    /// `--allow-undecided` maps it to 0.
    pub const UNDECIDED: i32 = 5;

    /// The exit code of a decision.
    pub fn for_decision(kind: DecisionKind, allow_undecided: bool) -> i32 {
        match kind {
            DecisionKind::Safe => OK,
            DecisionKind::NotSafe => THRESHOLDS_FAILED,
            DecisionKind::Undecided if allow_undecided => OK,
            DecisionKind::Undecided => UNDECIDED,
        }
    }
}

/// An error with the exit code it maps to. Messages never contain a secret.
#[derive(Debug)]
pub struct AppError {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

pub fn bad_input(message: impl Into<String>) -> AppError {
    AppError {
        code: exit::BAD_INPUT,
        message: message.into(),
    }
}

fn harness(message: impl Into<String>) -> AppError {
    AppError {
        code: exit::HARNESS,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Parent of the run directory (default `reports`).
    pub out_root: PathBuf,
    /// Allow non-loopback targets (also settable in the scenario's limits).
    pub allow_remote: bool,
    /// Override `traffic.duration_s`.
    pub duration_s: Option<f64>,
    pub progress: bool,
    /// Compare against this earlier run directory after the run.
    pub baseline: Option<PathBuf>,
    /// Compare with the baseline even when the plans differ (every output says so).
    pub force: bool,
    /// Exit 0 instead of [`exit::UNDECIDED`] when the decision is undecided.
    pub allow_undecided: bool,
    /// Push the run's figures to this Prometheus remote-write URL after the report is written.
    pub prometheus_remote_write: Option<String>,
    /// Run only this shard of the traffic (`--shard`, `--shard-count`).
    pub shard: Option<crate::run::shard::Shard>,
    /// Common start instant, RFC 3339 (`--start-at`).
    pub start_at: Option<String>,
    /// How late after `start_at` this process may start, seconds (default 60).
    pub max_start_delay_s: Option<f64>,
    /// Chart files as PNG or SVG (`--chart-format`).
    pub chart_format: crate::report::charts::ChartFormat,
}

pub struct RunResult {
    pub dir: PathBuf,
    /// The run's decision (merged with the baseline comparison's when there is one).
    pub(crate) decision: crate::measure::decision::Decision,
    pub stopped: Option<String>,
    pub(crate) allow_undecided: bool,
    pub summary: String,
}

impl RunResult {
    /// Interrupted runs exit 4 (their results.json still holds a decision); otherwise the decision's code.
    pub fn exit_code(&self) -> i32 {
        if self
            .stopped
            .as_deref()
            .is_some_and(|s| s.starts_with("aborted: "))
        {
            // an abort-on-fail threshold stopped the run: a failure, not an interruption
            exit::THRESHOLDS_FAILED
        } else if self.stopped.is_some() {
            exit::INTERRUPTED
        } else {
            exit::for_decision(self.decision.kind, self.allow_undecided)
        }
    }
}

fn report_error(e: crate::report::ReportError) -> AppError {
    match e {
        crate::report::ReportError::Incomparable(m) => bad_input(m),
        e => harness(e.to_string()),
    }
}

pub(crate) fn load_scenario(path: &Path) -> Result<Loaded, AppError> {
    Scenario::load(path).map_err(|e| bad_input(e.to_string()))
}

/// The host of `url` and every socket address it stands for: an IP literal (IPv6 in brackets included) is its own
/// address; a name (`localhost` too) is resolved, so the loopback rule judges addresses, never names.
async fn resolve_target(url: &str) -> Result<(String, Vec<SocketAddr>), String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("cannot parse URL: {e}"))?;
    let port = u
        .port_or_known_default()
        .ok_or_else(|| "URL has no port".to_string())?;
    let host = u.host_str().ok_or_else(|| "URL has no host".to_string())?;
    // `host_str` keeps an IPv6 literal's brackets; a socket address wants the bare address.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok((bare.to_string(), vec![SocketAddr::new(ip, port)]));
    }
    let lookup = tokio::net::lookup_host((bare, port));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(Duration::from_secs(10), lookup).await {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => return Err(format!("cannot resolve {bare}: {e}")),
        Err(_) => return Err(format!("cannot resolve {bare}: timed out after 10 s")),
    };
    if addrs.is_empty() {
        return Err(format!("cannot resolve {bare}: no address"));
    }
    Ok((bare.to_string(), addrs))
}

/// The addresses of target `i` (`name`, `url`), refused unless every one is loopback or remote targets are allowed.
async fn loopback_rule(
    loaded: &Loaded,
    i: usize,
    name: &str,
    url: &str,
    allow_remote: bool,
) -> Result<Vec<SocketAddr>, AppError> {
    let resolved = resolve_target(url).await;
    let loopback = resolved
        .as_ref()
        .is_ok_and(|(_, addrs)| addrs.iter().all(|a| a.ip().is_loopback()));
    if !loopback && !allow_remote {
        let why = match &resolved {
            Ok((host, addrs)) => {
                let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                format!("{host} resolves to {}", list.join(", "))
            }
            Err(e) => e.clone(),
        };
        return Err(bad_input(loaded.error_at(
            &format!("targets[{i}].base_url"),
            &format!(
                "`{url}` is not a loopback address ({why}); refusing to send load there without \
                 `limits.allow_non_loopback: true` in the scenario or `--allow-remote`"
            ),
        )));
    }
    let (_, addrs) =
        resolved.map_err(|e| bad_input(format!("target `{name}` ({url}) is unreachable: {e}")))?;
    Ok(addrs)
}

/// Try a TCP connect to the target's addresses so an unreachable one fails fast, before any load is planned on it.
async fn check_reachable(name: &str, url: &str, addrs: &[SocketAddr]) -> Result<(), AppError> {
    let mut last = None;
    for &a in addrs {
        match tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(a)).await
        {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => last = Some(e.to_string()),
            Err(_) => last = Some("connect timed out after 3 s".into()),
        }
    }
    Err(bad_input(format!(
        "target `{name}` ({url}) is unreachable: {}",
        last.unwrap_or_else(|| "no address".into())
    )))
}

/// What [`check_target_sources`] found for one target, handed to [`prepare_targets`] so that nothing is loaded or
/// resolved twice.
pub(crate) enum Source {
    /// The target's mock profile, loaded and checked.
    Mock(Box<MockProfile>),
    /// A `base_url`'s addresses, when the loopback rule resolved them (None: remote targets are allowed and the rule
    /// did not run).
    Url(Option<Vec<SocketAddr>>),
}

/// What `run` would refuse about the targets, checked without starting anything or reading keys: every mock profile
/// loads and speaks the target's protocol, and every `base_url` is on loopback unless allowed. `validate` and `run`
/// both call it, so they agree; `run` goes on with what it found, one [`Source`] per target.
pub(crate) async fn check_target_sources(
    loaded: &Loaded,
    allow_remote: bool,
) -> Result<Vec<Source>, AppError> {
    let s = &loaded.scenario;
    let allow_remote = allow_remote || s.limits.allow_non_loopback;
    let mut out = Vec::with_capacity(s.targets.len());
    for (i, t) in s.targets.iter().enumerate() {
        if let Some(m) = &t.mock {
            let field = format!("targets[{i}].mock");
            let path = loaded.resolve(m);
            let profile = MockProfile::from_yaml_file(&path)
                .map_err(|e| bad_input(loaded.error_at(&field, &e.to_string())))?;
            if profile.protocol != t.protocol {
                return Err(bad_input(loaded.error_at(
                    &field,
                    &format!(
                        "profile {} speaks {:?} but the target says {:?}",
                        path.display(),
                        profile.protocol,
                        t.protocol
                    ),
                )));
            }
            out.push(Source::Mock(Box::new(profile)));
        } else {
            // The same rule as `run`: every address the host resolves to must be loopback unless allowed.
            let addrs = match &t.base_url {
                Some(url) if !allow_remote => {
                    Some(loopback_rule(loaded, i, &t.name, url, allow_remote).await?)
                }
                _ => None,
            };
            out.push(Source::Url(addrs));
        }
    }
    Ok(out)
}

/// `cutover validate`: everything `run` would refuse before sending, then the plan.
pub async fn validate(path: &Path, allow_remote: bool) -> Result<String, AppError> {
    let loaded = load_scenario(path)?;
    check_target_sources(&loaded, allow_remote).await?;
    let mut plan = crate::run::plan::plan(&loaded, loaded.scenario.traffic.duration_s);
    for t in &loaded.scenario.targets {
        match &t.api_key_env {
            Some(var) if t.mock.is_none() && std::env::var_os(var).is_none() => {
                plan.warnings.push(format!(
                    "target `{}`: ${var} is not set here; `run` refuses to start without it",
                    t.name
                ));
            }
            _ => {}
        }
    }
    let mut text = crate::run::plan::describe(&loaded, &plan);
    for t in &loaded.scenario.targets {
        if let Some(fb) = &t.fallback {
            text += &format!(
                "fallback: `{}` -> `{fb}` when its retries are exhausted\n",
                t.name
            );
        }
    }
    Ok(text)
}

/// `--duration`: the same range and plan size as `traffic.duration_s`.
fn override_duration(loaded: &mut Loaded, d: f64) -> Result<(), AppError> {
    use crate::config::scenario::{check_plan, ranges};
    if !(d.is_finite() && d > 0.0 && d <= ranges::MAX_SECONDS) {
        return Err(bad_input(format!(
            "--duration: {d} is outside the accepted range (0, {}] seconds",
            ranges::MAX_SECONDS
        )));
    }
    check_plan(&loaded.scenario, d).map_err(|(_, m)| bad_input(format!("--duration {d}: {m}")))?;
    loaded.scenario.traffic.duration_s = d;
    Ok(())
}

/// A target, resolved and ready, with the mock server that backs it if any.
pub(crate) struct Prepared {
    pub(crate) targets: Vec<RunTarget>,
    pub(crate) metas: Vec<TargetMeta>,
    pub(crate) mocks: Vec<MockHandle>,
}

/// Resolve every target: start embedded mocks, read keys from the environment, apply the loopback rule, check that
/// each endpoint answers TCP. All errors are bad input (exit 2) and happen before anything is written.
pub(crate) async fn prepare_targets(
    loaded: &Loaded,
    allow_remote: bool,
) -> Result<Prepared, AppError> {
    let sources = check_target_sources(loaded, allow_remote).await?;
    let s = &loaded.scenario;
    let allow_remote = allow_remote || s.limits.allow_non_loopback;
    let mut out = Prepared {
        targets: Vec::new(),
        metas: Vec::new(),
        mocks: Vec::new(),
    };
    for ((i, t), source) in s.targets.iter().enumerate().zip(sources) {
        let (base_url, key, endpoint_desc, is_mock) = match source {
            Source::Mock(profile) => {
                let m = t.mock.as_deref().unwrap_or_default();
                let path = loaded.resolve(m);
                // A mock target uses the key from its variable when that is set (so a wrong key shows the mock's 401),
                // else the profile's own key: the bundled run needs no keys.
                let key = match &t.api_key_env {
                    Some(var) if std::env::var_os(var).is_some() => {
                        Some(Secret::from_env(var, &t.name).map_err(|e| bad_input(e.to_string()))?)
                    }
                    _ => profile.auth.as_ref().map(|a| Secret::new(a.bearer.clone())),
                };
                let handle =
                    crate::mock::serve_apart(*profile, SocketAddr::from(([127, 0, 0, 1], 0)))
                        .await
                        .map_err(|e| {
                            bad_input(format!("target `{}`: mock {}: {e}", t.name, path.display()))
                        })?;
                let url = handle.base_url();
                out.mocks.push(handle);
                (
                    url.clone(),
                    key,
                    format!("{url} (embedded mock `{m}`)"),
                    true,
                )
            }
            Source::Url(addrs) => {
                let url = t.base_url.clone().expect("validated: base_url or mock");
                let addrs = match addrs {
                    Some(a) => a,
                    None => loopback_rule(loaded, i, &t.name, &url, allow_remote).await?,
                };
                let key = match &t.api_key_env {
                    Some(var) => {
                        Some(Secret::from_env(var, &t.name).map_err(|e| bad_input(e.to_string()))?)
                    }
                    None => None,
                };
                check_reachable(&t.name, &url, &addrs).await?;
                (url.clone(), key, url, false)
            }
        };
        let endpoint = Endpoint::new(
            t.protocol,
            &base_url,
            key,
            &t.headers,
            t.coze.clone(),
            s.traffic.max_tokens,
        )
        .map_err(|e| bad_input(format!("target `{}`: {e}", t.name)))?
        .with_limits(crate::client::http::ResponseLimits {
            max_response_bytes: s.limits.max_response_bytes,
            max_answer_bytes: s.limits.max_answer_bytes,
        })
        .with_webhook(t.webhook.clone());
        out.metas.push(TargetMeta {
            name: t.name.clone(),
            role: t.role.to_string(),
            protocol: match t.protocol {
                ProtocolKind::Coze => "coze".into(),
                ProtocolKind::Openai => "openai".into(),
                ProtocolKind::Webhook => "webhook".into(),
            },
            endpoint: endpoint_desc,
            api_key_env: t.api_key_env.clone(),
        });
        out.targets.push(RunTarget {
            name: t.name.clone(),
            role: t.role,
            endpoint,
            pricing: t.pricing.clone(),
            is_mock,
            fallback: None,
        });
    }
    crate::run::fallback::resolve(s, &mut out.targets);
    Ok(out)
}

/// A fresh run directory `<root>/<scenario>-<UTC timestamp>`; never reuses an existing one.
pub(crate) fn new_run_dir(root: &Path, scenario: &str) -> Result<PathBuf, AppError> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    std::fs::create_dir_all(root).map_err(|e| harness(format!("{}: {e}", root.display())))?;
    for n in 0..1000 {
        let name = if n == 0 {
            format!("{scenario}-{stamp}")
        } else {
            format!("{scenario}-{stamp}-{n}")
        };
        let dir = root.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(harness(format!("{}: {e}", dir.display()))),
        }
    }
    Err(harness("too many runs in the same second"))
}

/// Ctrl-C / SIGTERM: the first stops arrivals (in-flight requests drain within the grace period), the second exits
/// at once after the sink has written its complete rows.
pub fn install_signal_handlers(control: &Control) {
    let c = control.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut count = 0;
        loop {
            #[cfg(unix)]
            let which = tokio::select! {
                r = tokio::signal::ctrl_c() => { if r.is_err() { return; } "SIGINT" }
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => "SIGTERM",
            };
            #[cfg(not(unix))]
            let which = {
                if tokio::signal::ctrl_c().await.is_err() {
                    return;
                }
                "SIGINT"
            };
            count += 1;
            if count == 1 {
                eprintln!("cutover: {which}: stopping arrivals, draining in-flight requests (again to exit now)");
                c.stop(&format!("interrupted ({which})"));
            } else {
                c.hard_exit.cancel();
            }
        }
    });
}

/// `cutover run`: the main job.
pub async fn run(
    scenario_path: &Path,
    opts: &RunOptions,
    mut control: Control,
) -> Result<RunResult, AppError> {
    let mut loaded = load_scenario(scenario_path)?;
    if let Some(d) = opts.duration_s {
        override_duration(&mut loaded, d)?;
    }
    let plan = crate::run::plan::plan(&loaded, loaded.scenario.traffic.duration_s);
    for w in &plan.warnings {
        eprintln!("cutover: warning: {w}");
    }
    let scenario_sha256 = std::fs::read(scenario_path)
        .map(|b| crate::report::meta::sha256_hex(&b))
        .map_err(|e| bad_input(format!("{}: {e}", scenario_path.display())))?;
    if let Some(b) = &opts.baseline {
        crate::report::RunMeta::load(b).map_err(|e| bad_input(format!("--baseline: {e}")))?;
    }
    let (slice, start_at) = (shard::slice(opts, &loaded)?, shard::start_at_utc(opts)?);
    let prepared = prepare_targets(&loaded, opts.allow_remote).await?;
    let dir = new_run_dir(&opts.out_root, &loaded.scenario.name)?;
    shard::wait_for_start(&slice, &control).await;
    let started = chrono::Utc::now();
    // run.json holds the plan before the first request, so a run killed at any point can still be re-rendered.
    let mut meta = run_meta(
        &loaded,
        scenario_path,
        &prepared.metas,
        started,
        RunIdentity {
            scenario_sha256,
            shard: opts.shard,
            start_at,
        },
    );
    meta.save(&dir).map_err(|e| harness(e.to_string()))?;
    let rules = loaded.scenario.thresholds.abort_rules();
    if let Some(watch) = crate::measure::abort::AbortWatch::new(rules, &control) {
        watch.install(&mut control);
    }
    let driven = shard::for_run(&loaded, opts.shard);
    let out = crate::run::runner::run(
        &driven,
        prepared.targets,
        &dir,
        control,
        opts.progress,
        slice,
    )
    .await
    .map_err(|e| harness(format!("{}: {e}", dir.display())))?;
    if out.hard_exit {
        return Err(AppError {
            code: crate::run::sink::HARD_EXIT_CODE,
            message: format!(
                "second interrupt: exited at once; the rows written so far are in {}",
                out.requests_csv.display()
            ),
        });
    }
    for m in prepared.mocks {
        m.shutdown().await;
    }
    meta.finished_utc = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    meta.elapsed_s = out.elapsed.as_secs_f64();
    meta.stopped = out.stopped.clone();
    meta.accounting = out.accounting.clone();
    if let Some(e) = &out.write_error {
        // Best effort: the disk may be full; `cutover report DIR` re-renders what was written.
        let _ = meta.save(&dir);
        let _ = render_with(&dir, opts.chart_format);
        return Err(harness(format!(
            "write error, arrivals stopped: {e} ({} records lost); re-render with `cutover report {}`",
            out.lost_rows,
            dir.display()
        )));
    }
    meta.save(&dir).map_err(|e| harness(e.to_string()))?;
    let (mut decision, run) =
        render_with(&dir, opts.chart_format).map_err(|e| harness(e.to_string()))?;
    if let Some(url) = &opts.prometheus_remote_write {
        push_remote_write(&run, url).await;
    }
    let mut summary = summary_text(&run, &out.accounting, &decision.checks);
    if let Some(b) = &opts.baseline {
        let cmp =
            compare_dirs_with(b, &dir, opts.force, opts.chart_format).map_err(report_error)?;
        summary.push_str(&cmp.text);
        decision = decision.merge(cmp.decision);
    }
    summary.push_str(&decision_text(&decision, &dir));
    Ok(RunResult {
        dir,
        decision,
        stopped: out.stopped,
        allow_undecided: opts.allow_undecided,
        summary,
    })
}

/// The last lines of every command that decides: the decision, its reasons, then the report paths.
pub fn decision_text(d: &crate::measure::decision::Decision, dir: &Path) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "decision: {}", d.kind.label());
    for r in &d.reasons {
        let _ = writeln!(o, "  - {}", r.text);
    }
    let _ = writeln!(o, "report: {}", dir.join("report.md").display());
    let _ = writeln!(o, "report: {}", dir.join("report.html").display());
    o
}

/// `run.json` as written before the first request: the plan, marked unfinished until the run ends.
fn run_meta(
    loaded: &Loaded,
    scenario_path: &Path,
    metas: &[TargetMeta],
    started: chrono::DateTime<chrono::Utc>,
    id: RunIdentity,
) -> RunMeta {
    let mut meta = RunMeta {
        tool: env!("CARGO_PKG_NAME").into(),
        version: env!("CARGO_PKG_VERSION").into(),
        scenario_file: scenario_path.display().to_string(),
        scenario_sha256: Some(id.scenario_sha256),
        started_utc: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_utc: String::new(),
        elapsed_s: 0.0,
        stopped: Some(
            "unfinished: the run ended before writing its results (killed or crashed)".into(),
        ),
        targets: metas.to_vec(),
        accounting: Vec::new(),
        scenario: loaded.scenario.clone(),
        prices: loaded
            .prices
            .models()
            .map(|(k, p)| {
                (
                    k.to_string(),
                    (p.input as f64 / 1000.0, p.output as f64 / 1000.0),
                )
            })
            .collect(),
        shard: id.shard,
        seed: Some(loaded.scenario.seed),
        start_at: id.start_at,
        scenario_hash: None,
        merged_from: Vec::new(),
    };
    meta.scenario_hash = Some(crate::report::meta::plan_hash(&meta.scenario, &meta.prices));
    meta
}

/// What names a run beside its plan: the scenario file's hash, and the shard and start instant it ran with.
struct RunIdentity {
    scenario_sha256: String,
    shard: Option<crate::run::shard::Shard>,
    start_at: Option<String>,
}

fn summary_text(
    run: &crate::report::Run,
    acc: &[crate::run::sink::Accounting],
    checks: &[crate::measure::threshold::Check],
) -> String {
    use crate::config::metric::Metric;
    use std::fmt::Write as _;
    let mut o = String::new();
    for a in acc {
        let m = &run.metrics;
        let _ = writeln!(
            o,
            "{:<10} scheduled {:>6}  ok {:>6}  errors {:>4}  not sent {:>4}  cancelled {:>4}  mean {:>7} ms  p99 {:>7} ms  TTFT p50 {:>7} ms  error rate {:>6}  monthly {}",
            a.target,
            a.scheduled,
            a.ok,
            a.errors,
            a.not_sent,
            a.cancelled,
            m.value(&a.target, Metric::MeanMs).map_or("-".into(), crate::format::ms),
            m.value(&a.target, Metric::P99Ms).map_or("-".into(), crate::format::ms),
            m.value(&a.target, Metric::TtftP50Ms).map_or("-".into(), crate::format::ms),
            m.value(&a.target, Metric::ErrorRate).map_or("-".into(), |v| format!("{:.2}%", v * 100.0)),
            m.value(&a.target, Metric::MonthlyCostUsd).map_or("-".into(), |v| format!("${v:.0}")),
        );
    }
    for c in checks {
        let _ = writeln!(
            o,
            "{} {}: {} ({})",
            crate::report::markdown::check_label(c),
            c.scope,
            c.expression,
            c.measured
        );
    }
    o
}

/// `cutover mock PROFILE --port N`: serve one mock until Ctrl-C.
pub async fn serve_mock(profile_path: &Path, host: IpAddr, port: u16) -> Result<(), AppError> {
    let profile =
        MockProfile::from_yaml_file(profile_path).map_err(|e| bad_input(e.to_string()))?;
    let key = profile.bearer();
    let handle = crate::mock::serve(profile, SocketAddr::new(host, port))
        .await
        .map_err(|e| bad_input(format!("{}: {e}", profile_path.display())))?;
    eprintln!(
        "cutover: mock {} listening on {} (Ctrl-C to stop)",
        profile_path.display(),
        handle.base_url()
    );
    // The profile's test key (a fixture in the file, not a secret from the environment): the first curl needs it.
    match key {
        Some(k) => eprintln!(
            "cutover: mock accepts `Authorization: Bearer {k}` (auth.bearer of the profile)"
        ),
        None => eprintln!("cutover: mock checks no key (the profile has no auth.bearer)"),
    }
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    Ok(())
}

/// `cutover compat SCENARIO --legacy A --gateway B`: probe both with the same requests and list shape differences.
/// Returns the Markdown report and whether any difference was found.
pub async fn compat(
    scenario_path: &Path,
    legacy: &str,
    gateway: &str,
    allow_remote: bool,
) -> Result<(String, bool), AppError> {
    let loaded = load_scenario(scenario_path)?;
    for name in [legacy, gateway] {
        if loaded.scenario.target(name).is_none() {
            return Err(bad_input(format!(
                "{}: no target named `{name}`",
                scenario_path.display()
            )));
        }
    }
    let prepared = prepare_targets(&loaded, allow_remote).await?;
    let find = |n: &str| {
        prepared
            .targets
            .iter()
            .find(|t| t.name == n)
            .expect("checked above")
    };
    let (l, g) = (find(legacy), find(gateway));
    let model = loaded.scenario.traffic.models[0].model.clone();
    let bot = l
        .endpoint
        .coze
        .as_ref()
        .and_then(|c| {
            c.model_bots
                .get(&model)
                .cloned()
                .or_else(|| c.bot_id.clone())
        })
        .unwrap_or_default();
    let client = crate::client::http::http_client(Duration::from_secs(30));
    let (results, md) = crate::compat::check(&client, &l.endpoint, &g.endpoint, &model, &bot)
        .await
        .map_err(bad_input)?;
    for m in prepared.mocks {
        m.shutdown().await;
    }
    Ok((md, results.iter().any(|(_, d)| !d.is_empty())))
}

/// `--prometheus-remote-write URL`: push the run's series, stamped with the run's finish time (so re-rendering a run
/// pushes the same samples). A failed push is a loud warning, not a failed gate: the run's decision stands.
pub async fn push_remote_write(run: &crate::report::Run, url: &str) {
    use crate::report::exports::{remote_write, series};
    let ts = chrono::DateTime::parse_from_rfc3339(&run.meta.finished_utc)
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(|_| chrono::Utc::now().timestamp_millis());
    let s = series::run_series(run);
    match remote_write::send(url, &s, ts).await {
        Ok(()) => eprintln!("cutover: pushed {} series to {url}", s.len()),
        Err(e) => eprintln!("cutover: warning: Prometheus remote write failed: {e}"),
    }
}
