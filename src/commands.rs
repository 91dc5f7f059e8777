//! What the commands do, as library functions (the binary only parses arguments and maps errors to exit codes).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::client::secret::Secret;
use crate::client::Endpoint;
use crate::config::scenario::{Loaded, ProtocolKind, Scenario};
use crate::mock::{MockHandle, MockProfile};
use crate::report::{RunMeta, TargetMeta};
use crate::run::state::{Control, RunTarget};

pub mod sweep;

/// Exit codes (documented in README.md).
pub mod exit {
    /// Run finished and every threshold passed (or there were none); compare found no regression.
    pub const OK: i32 = 0;
    /// Run finished, report written, but a threshold failed (or compare found a significant regression).
    pub const THRESHOLDS_FAILED: i32 = 1;
    /// Bad input or environment: scenario/profile errors, missing key variable, unreachable target, port in use.
    pub const BAD_INPUT: i32 = 2;
    /// The harness failed at run time (cannot write the report directory, ...).
    pub const HARNESS: i32 = 3;
    /// Interrupted (Ctrl-C / SIGTERM / duration cap) after a graceful drain: report written, marked interrupted.
    pub const INTERRUPTED: i32 = 4;
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
}

pub struct RunResult {
    pub dir: PathBuf,
    pub checks: Vec<crate::measure::threshold::Check>,
    pub stopped: Option<String>,
    pub baseline_regressed: bool,
    pub summary: String,
}

impl RunResult {
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
        } else if self.checks.iter().any(|c| !c.passed) || self.baseline_regressed {
            exit::THRESHOLDS_FAILED
        } else {
            exit::OK
        }
    }
}

pub fn load_scenario(path: &Path) -> Result<Loaded, AppError> {
    Scenario::load(path).map_err(|e| bad_input(e.to_string()))
}

fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn host_port(url: &str) -> Option<(String, u16)> {
    let u = reqwest::Url::parse(url).ok()?;
    Some((u.host_str()?.to_string(), u.port_or_known_default()?))
}

/// Try a TCP connect to the target so an unreachable one fails fast, before any load is planned on it.
async fn check_reachable(name: &str, url: &str) -> Result<(), AppError> {
    let (host, port) = host_port(url)
        .ok_or_else(|| bad_input(format!("target `{name}`: cannot parse URL `{url}`")))?;
    let addrs: Vec<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| {
            bad_input(format!(
                "target `{name}` ({url}) is unreachable: cannot resolve {host}: {e}"
            ))
        })?
        .collect();
    let mut last = None;
    for a in addrs {
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

/// A target, resolved and ready, with the mock server that backs it if any.
pub struct Prepared {
    pub targets: Vec<RunTarget>,
    pub metas: Vec<TargetMeta>,
    pub mocks: Vec<MockHandle>,
}

/// Resolve every target: start embedded mocks, read keys from the environment, apply the loopback rule, check that
/// each endpoint answers TCP. All errors are bad input (exit 2) and happen before anything is written.
pub async fn prepare_targets(loaded: &Loaded, allow_remote: bool) -> Result<Prepared, AppError> {
    let s = &loaded.scenario;
    let allow_remote = allow_remote || s.limits.allow_non_loopback;
    let mut out = Prepared {
        targets: Vec::new(),
        metas: Vec::new(),
        mocks: Vec::new(),
    };
    for (i, t) in s.targets.iter().enumerate() {
        let (base_url, key, endpoint_desc, is_mock) = if let Some(m) = &t.mock {
            let path = loaded.resolve(m);
            let profile =
                MockProfile::from_yaml_file(&path).map_err(|e| bad_input(e.to_string()))?;
            if profile.protocol != t.protocol {
                return Err(bad_input(format!(
                    "{}: targets[{i}].mock: profile {} speaks {:?} but the target says {:?}",
                    loaded.path.display(),
                    path.display(),
                    profile.protocol,
                    t.protocol
                )));
            }
            // A mock target uses the key from its variable when that is set (so a wrong key shows the mock's 401),
            // else the profile's own key: the bundled run needs no keys.
            let key = match &t.api_key_env {
                Some(var) if std::env::var_os(var).is_some() => {
                    Some(Secret::from_env(var, &t.name).map_err(|e| bad_input(e.to_string()))?)
                }
                _ => profile.auth.as_ref().map(|a| Secret::new(a.bearer.clone())),
            };
            let handle = crate::mock::serve(profile, SocketAddr::from(([127, 0, 0, 1], 0)))
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
        } else {
            let url = t.base_url.clone().expect("validated: base_url or mock");
            let (host, _) = host_port(&url)
                .ok_or_else(|| bad_input(format!("target `{}`: bad URL `{url}`", t.name)))?;
            if !is_loopback_host(&host) && !allow_remote {
                return Err(bad_input(format!(
                    "{}: targets[{i}].base_url: `{url}` is not a loopback address; refusing to send load there without \
                     `limits.allow_non_loopback: true` in the scenario or `--allow-remote`",
                    loaded.path.display()
                )));
            }
            let key = match &t.api_key_env {
                Some(var) => {
                    Some(Secret::from_env(var, &t.name).map_err(|e| bad_input(e.to_string()))?)
                }
                None => None,
            };
            check_reachable(&t.name, &url).await?;
            (url.clone(), key, url, false)
        };
        let endpoint = Endpoint::new(
            t.protocol,
            &base_url,
            key,
            &t.headers,
            t.coze.clone(),
            s.traffic.max_tokens,
        )
        .map_err(|e| bad_input(format!("target `{}`: {e}", t.name)))?;
        out.metas.push(TargetMeta {
            name: t.name.clone(),
            role: t.role.to_string(),
            protocol: match t.protocol {
                ProtocolKind::Coze => "coze".into(),
                ProtocolKind::Openai => "openai".into(),
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
        });
    }
    Ok(out)
}

/// A fresh run directory `<root>/<scenario>-<UTC timestamp>`; never reuses an existing one.
pub fn new_run_dir(root: &Path, scenario: &str) -> Result<PathBuf, AppError> {
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
        if !(d.is_finite() && d > 0.0) {
            return Err(bad_input(format!(
                "--duration: {d} must be a positive number of seconds"
            )));
        }
        loaded.scenario.traffic.duration_s = d;
    }
    if let Some(b) = &opts.baseline {
        crate::report::RunMeta::load(b).map_err(|e| bad_input(format!("--baseline: {e}")))?;
    }
    let prepared = prepare_targets(&loaded, opts.allow_remote).await?;
    let dir = new_run_dir(&opts.out_root, &loaded.scenario.name)?;
    let started = chrono::Utc::now();
    let rules = loaded.scenario.thresholds.abort_rules();
    if let Some(watch) = crate::measure::abort::AbortWatch::new(rules, &control) {
        watch.install(&mut control);
    }
    let out = crate::run::runner::run(&loaded, prepared.targets, &dir, control, opts.progress)
        .await
        .map_err(|e| harness(format!("{}: {e}", dir.display())))?;
    for m in prepared.mocks {
        m.shutdown().await;
    }
    let meta = RunMeta {
        tool: env!("CARGO_PKG_NAME").into(),
        version: env!("CARGO_PKG_VERSION").into(),
        scenario_file: scenario_path.display().to_string(),
        started_utc: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_utc: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        elapsed_s: out.elapsed.as_secs_f64(),
        stopped: out.stopped.clone(),
        targets: prepared.metas,
        accounting: out.accounting.clone(),
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
    };
    meta.save(&dir).map_err(|e| harness(e.to_string()))?;
    let (checks, run) = crate::report::render(&dir).map_err(|e| harness(e.to_string()))?;
    let mut baseline_regressed = false;
    let mut summary = summary_text(&run, &out.accounting, &checks);
    if let Some(b) = &opts.baseline {
        let cmp =
            crate::report::compare::compare_dirs(b, &dir).map_err(|e| harness(e.to_string()))?;
        baseline_regressed = cmp.regressed;
        summary.push_str(&cmp.text);
    }
    Ok(RunResult {
        dir,
        checks,
        stopped: out.stopped,
        baseline_regressed,
        summary,
    })
}

fn summary_text(
    run: &crate::report::Run,
    acc: &[crate::run::sink::Accounting],
    checks: &[crate::measure::threshold::Check],
) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    for a in acc {
        let m = &run.metrics;
        let _ = writeln!(
            o,
            "{:<10} scheduled {:>6}  ok {:>6}  errors {:>4}  not sent {:>4}  mean {:>7} ms  p99 {:>7} ms  TTFT p50 {:>7} ms  error rate {:>6}  monthly {}",
            a.target,
            a.scheduled,
            a.ok,
            a.errors,
            a.not_sent + a.cancelled,
            m.metric(&a.target, "mean_ms").map_or("-".into(), |v| format!("{v:.1}")),
            m.metric(&a.target, "p99_ms").map_or("-".into(), |v| format!("{v:.1}")),
            m.metric(&a.target, "ttft_p50_ms").map_or("-".into(), |v| format!("{v:.1}")),
            m.metric(&a.target, "error_rate").map_or("-".into(), |v| format!("{:.2}%", v * 100.0)),
            m.metric(&a.target, "monthly_cost_usd").map_or("-".into(), |v| format!("${v:.0}")),
        );
    }
    for c in checks {
        let _ = writeln!(
            o,
            "{} {}: {} ({})",
            if c.passed { "PASS" } else { "FAIL" },
            c.scope,
            c.expression,
            c.measured
        );
    }
    let _ = writeln!(o, "report: {}", run.dir.join("report.md").display());
    o
}

/// `cutover mock PROFILE --port N`: serve one mock until Ctrl-C.
pub async fn serve_mock(profile_path: &Path, host: IpAddr, port: u16) -> Result<(), AppError> {
    let profile =
        MockProfile::from_yaml_file(profile_path).map_err(|e| bad_input(e.to_string()))?;
    let handle = crate::mock::serve(profile, SocketAddr::new(host, port))
        .await
        .map_err(|e| bad_input(format!("{}: {e}", profile_path.display())))?;
    eprintln!(
        "cutover: mock {} listening on {} (Ctrl-C to stop)",
        profile_path.display(),
        handle.base_url()
    );
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
