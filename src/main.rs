//! The `cutover` binary: clap parses the command line, `commands` does the work, and every outcome leaves as one exit code.
use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use cutover::commands::{self, exit, AppError};
use cutover::report::charts::ChartFormat;
use cutover::run::state::Control;

/// mimalloc instead of glibc's malloc: at saturation glibc's malloc/free were 17% of the profile (issue 12;
/// bench/RESULTS.md has the figures with and without).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's option setter (mimalloc.h), in the library the `mimalloc` crate links.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc 3.3's `mi_option_e` (libmimalloc-sys 0.1.49, pinned by Cargo.lock): the
/// 16th option, after `show_errors`, `show_stats`, `verbose`, `deprecated_eager_commit`, `arena_eager_commit`,
/// `purge_decommits`, `allow_large_os_pages`, `reserve_huge_os_pages(_at)`, `reserve_os_memory` and five deprecated
/// ones; `use_numa_nodes` follows it (16 in libmimalloc-sys's own constants).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// mimalloc's RSS per concurrent SSE stream (issue 12, bench/RESULTS.md "Memory per SSE stream"): by default it asks
/// for transparent huge pages on its arenas (madvise), so memory is resident in 2 MiB steps, and keeps freed pages
/// for a second before returning them. 2,000 open streams held 125-136 MiB; without huge pages and with freed pages
/// returned after 10 ms, 66 MiB, at the same CPU per request at saturation (17-18 us either way: 64 closed-model
/// users against bench/mock-zero.yaml). Set before the runtime starts: what mimalloc mapped before is unaffected.
fn tune_allocator() {
    // SAFETY: PR_SET_THP_DISABLE takes one integer argument and only stops huge pages for this process's later page
    // faults (it wins over madvise(MADV_HUGEPAGE)).
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    // SAFETY: mi_option_set stores the value of a valid option index; mimalloc reads the purge delay at every purge
    // decision, so it applies from here on.
    unsafe {
        mi_option_set(MI_OPTION_PURGE_DELAY, 10);
    }
}

/// Load-test a legacy chatbot endpoint and its replacement gateway on the same traffic, and decide with numbers
/// whether cutting over is safe.
/// `cutover --version`: the package version and the git commit it was built from (build.rs; "unknown" outside a
/// git checkout, e.g. a Docker build).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CUTOVER_GIT_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(name = "cutover", version = VERSION, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Replay a scenario against its targets and write reports/<scenario>-<UTC timestamp>/.
    Run(RunArgs),
    /// Merge the run directories of the N shards of one run into one run directory and report.
    Merge {
        /// The shards' run directories (or folders holding one each), in any order.
        #[arg(required = true, num_args = 1..)]
        dirs: Vec<PathBuf>,
        /// The merged run directory to write (created if missing; must not hold a run.json).
        #[arg(long)]
        out: PathBuf,
        /// Exit 0 instead of 5 when the merged run's decision is undecided.
        #[arg(long)]
        allow_undecided: bool,
    },
    /// Check a scenario file and print what it would do, without sending anything.
    Validate {
        /// The scenario file (its paths resolve relative to its folder).
        scenario: PathBuf,
        /// Accept targets that are not on loopback, as `run --allow-remote` would.
        #[arg(long)]
        allow_remote: bool,
    },
    /// Serve one embedded mock endpoint standalone, for other tools to hit.
    Mock {
        /// The mock profile file, e.g. mocks/gateway.yaml.
        profile: PathBuf,
        /// Port to listen on (0 = any free port).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Address to listen on; keep it on loopback unless other machines must reach the mock.
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
    },
    /// Send the same probe requests to a legacy target and a gateway that claims to serve the same API, and list
    /// every difference in status codes, JSON shapes and SSE event structure.
    Compat {
        /// The scenario naming both targets.
        scenario: PathBuf,
        /// Name of the reference target (the API being replaced).
        #[arg(long, default_value = "legacy")]
        legacy: String,
        /// Name of the target that claims to serve the same API.
        #[arg(long, default_value = "gateway")]
        gateway: String,
        /// Accept targets that are not on loopback.
        #[arg(long)]
        allow_remote: bool,
    },
    /// Find each target's capacity: step the offered rate up geometrically, then bisect, until the SLOs break.
    /// Writes a run directory with sweep.csv, results.json (capacity per target) and sweep.png.
    Sweep(SweepArgs),
    /// Re-render the report of a run directory from its run.json and requests.csv.
    Report {
        /// The run directory (holding run.json and requests.csv).
        dir: PathBuf,
        /// Exit 0 instead of 5 when the decision is undecided.
        #[arg(long)]
        allow_undecided: bool,
        /// Also push the run's figures to this Prometheus remote-write URL.
        #[arg(long, value_name = "URL")]
        prometheus_remote_write: Option<String>,
        /// Chart files as png or svg (report.html inlines SVG either way).
        #[arg(long, value_name = "png|svg", default_value = "png")]
        chart_format: ChartFormat,
    },
    /// Compare a baseline run with a current one: deltas, verdicts, JUnit XML.
    Compare(CompareArgs),
    /// Print the JSON Schema of a scenario file or a mock profile (the files in schemas/), for editors and CI.
    Schema {
        /// Which file kind to describe.
        #[arg(value_enum)]
        kind: SchemaKind,
    },
    /// Print a shell completion script, e.g. `cutover completions bash > ~/.local/share/bash-completion/completions/cutover`.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SchemaKind {
    /// A scenario file (scenarios/*.yaml).
    Scenario,
    /// A mock endpoint profile (mocks/*.yaml).
    Mock,
}

#[derive(Args)]
struct RunArgs {
    /// The scenario file (its paths resolve relative to its folder).
    scenario: PathBuf,
    /// Parent directory of the run directory.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// Override traffic.duration_s (seconds of arrivals).
    #[arg(long)]
    duration: Option<f64>,
    /// Allow targets that are not on loopback (real, possibly paid endpoints).
    #[arg(long)]
    allow_remote: bool,
    /// Compare with an earlier run directory (nightly regression gate).
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Compare with the baseline even when the two plans differ (every output then says so).
    #[arg(long)]
    force: bool,
    /// Exit 0 instead of 5 when the decision is undecided.
    #[arg(long)]
    allow_undecided: bool,
    /// No progress line even on a terminal.
    #[arg(long, conflicts_with = "progress")]
    quiet: bool,
    /// Show the progress line even when stderr is not a terminal (then a line every 5 s, e.g. in a CI log).
    #[arg(long)]
    progress: bool,
    /// Also push the run's figures to this Prometheus remote-write URL (e.g. http://127.0.0.1:9090/api/v1/write).
    #[arg(long, value_name = "URL")]
    prometheus_remote_write: Option<String>,
    /// Run shard I (0-based) of N: the conversations whose arrival index k has k % N == I (see deploy/README.md).
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Run shard $JOB_COMPLETION_INDEX of N (Kubernetes Indexed Jobs).
    #[arg(long, value_name = "N")]
    shard_count: Option<String>,
    /// Common start instant (RFC 3339): wait for it, and measure the schedule from it.
    #[arg(long, value_name = "RFC3339")]
    start_at: Option<String>,
    /// Refuse to run when started more than this many seconds after --start-at.
    #[arg(long, value_name = "SECONDS", default_value_t = commands::DEFAULT_MAX_START_DELAY_S)]
    max_start_delay: f64,
    /// Chart files as png or svg (report.html inlines SVG either way).
    #[arg(long, value_name = "png|svg", default_value = "png")]
    chart_format: ChartFormat,
}

#[derive(Args)]
struct SweepArgs {
    /// The scenario file whose targets and traffic mix are swept.
    scenario: PathBuf,
    /// Sweep only this target (repeatable; default: every target).
    #[arg(long = "target")]
    targets: Vec<String>,
    /// An objective every step must meet, e.g. "p99_ms < 400" (repeatable).
    #[arg(long = "slo", required = true)]
    slos: Vec<String>,
    /// Parent directory of the run directory.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// First offered rate in chat requests/s (default: the scenario's peak).
    #[arg(long)]
    start_rps: Option<f64>,
    /// Most steps per target.
    #[arg(long, default_value_t = 12)]
    max_steps: u32,
    /// Shortest step, seconds of arrivals.
    #[arg(long, default_value_t = 10.0)]
    min_step_s: f64,
    /// Longest step, seconds of arrivals.
    #[arg(long, default_value_t = 60.0)]
    max_step_s: f64,
    /// Cap on the whole sweep's time; no new step starts after it.
    #[arg(long, default_value_t = 1800.0)]
    max_total_s: f64,
    /// Warm-up before each step's measured time, kept out of its figures (default: a quarter of the measured time).
    #[arg(long)]
    step_warmup_s: Option<f64>,
    /// Accept targets that are not on loopback.
    #[arg(long)]
    allow_remote: bool,
    /// Chart files as png or svg (report.html inlines SVG either way).
    #[arg(long, value_name = "png|svg", default_value = "png")]
    chart_format: ChartFormat,
}

#[derive(Args)]
struct CompareArgs {
    /// The earlier run directory (e.g. last night's).
    baseline: PathBuf,
    /// The run directory judged against it.
    current: PathBuf,
    /// Also draw a trend chart over these earlier runs (oldest first), e.g. reports/coze-migration-*.
    #[arg(long, num_args = 1..)]
    history: Vec<PathBuf>,
    /// Compare even when the two runs' plans (scenario hash, seed, duration, targets, tool version) differ.
    #[arg(long)]
    force: bool,
    /// Exit 0 instead of 5 when the decision is undecided.
    #[arg(long)]
    allow_undecided: bool,
    /// Chart files as png or svg (report.html inlines SVG either way).
    #[arg(long, value_name = "png|svg", default_value = "png")]
    chart_format: ChartFormat,
}

/// The whole command tree (tests/cli_conventions.rs walks it).
pub(crate) fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Print a command's text on stdout, its verdict words coloured on a terminal unless `NO_COLOR` is set.
fn print_out(text: &str) {
    use std::io::IsTerminal;
    let colour = cutover::format::color_enabled(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    if colour {
        print!("{}", cutover::format::paint_verdicts(text));
    } else {
        print!("{text}");
    }
}

fn main() {
    tune_allocator();
    let cli = Cli::parse();
    // The commands that only print text need no runtime.
    match cli.cmd {
        Cmd::Schema { kind } => {
            print!(
                "{}",
                match kind {
                    SchemaKind::Scenario => cutover::config::scenario::Scenario::json_schema_text(),
                    SchemaKind::Mock => cutover::mock::schema::mock_schema(),
                }
            );
            return;
        }
        Cmd::Completions { shell } => {
            let mut cmd = command();
            clap_complete::generate(shell, &mut cmd, "cutover", &mut std::io::stdout());
            return;
        }
        _ => {}
    }
    let code = match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cutover: error: {e}");
            e.code
        }
    };
    std::process::exit(code);
}

/// The variable that sets how many threads drive a run's traffic (see [`runtime`]).
const WORKERS_VAR: &str = "CUTOVER_WORKERS";

/// The runtime a command runs on. `cutover mock` is a server, and a run whose open-model peak is above
/// `commands::ONE_THREAD_MAX_RPS` needs more than one core: tokio's multi-threaded runtime, a worker per core
/// (`many`). Everything else (a run's generator, its sink, its report) runs on one thread, as wrk and oha give each of
/// their threads its own event loop: a multi-threaded runtime wakes an idle worker to steal every task spawned or
/// woken, and at 20,000 requests/s those cross-thread wake-ups were a quarter of the generator's CPU (bench/RESULTS.md,
/// "Session of 2026-12-07 (third)"). `CUTOVER_WORKERS=N` sets it: 1 for one thread, N > 1 for N worker threads.
/// Embedded mocks get a thread of their own either way (`mock::serve_apart`).
fn runtime(many: bool) -> Result<tokio::runtime::Runtime, AppError> {
    let workers = match std::env::var(WORKERS_VAR) {
        Err(std::env::VarError::NotPresent) => None,
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=1024).contains(&n) => Some(n),
            _ => {
                return Err(AppError {
                    code: exit::BAD_INPUT,
                    message: format!(
                        "{WORKERS_VAR}={v:?}: expected a whole number of threads from 1 to 1024"
                    ),
                })
            }
        },
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(AppError {
                code: exit::BAD_INPUT,
                message: format!("{WORKERS_VAR}: not valid UTF-8"),
            })
        }
    };
    let mut b = match (many, workers) {
        (true, None) => tokio::runtime::Builder::new_multi_thread(),
        (_, Some(n)) if n > 1 => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    b.enable_all().build().map_err(|e| AppError {
        code: exit::HARNESS,
        message: format!("tokio runtime: {e}"),
    })
}

fn real_main(cli: Cli) -> Result<i32, AppError> {
    let many = match &cli.cmd {
        Cmd::Mock { .. } => true,
        Cmd::Run(a) => commands::run_wants_workers(&a.scenario, a.duration),
        _ => false,
    };
    let rt = runtime(many)?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Run(a) => run_cmd(a).await,
            Cmd::Merge {
                dirs,
                out,
                allow_undecided,
            } => {
                let (decision, summary) = commands::merge(&dirs, &out)?;
                print_out(&summary);
                Ok(exit::for_decision(decision.kind, allow_undecided))
            }
            Cmd::Validate {
                scenario,
                allow_remote,
            } => {
                print!("{}", commands::validate(&scenario, allow_remote).await?);
                Ok(exit::OK)
            }
            Cmd::Mock {
                profile,
                port,
                host,
            } => {
                commands::serve_mock(&profile, host, port).await?;
                Ok(exit::OK)
            }
            Cmd::Compat {
                scenario,
                legacy,
                gateway,
                allow_remote,
            } => {
                let (md, differs) =
                    commands::compat(&scenario, &legacy, &gateway, allow_remote).await?;
                print!("{md}");
                Ok(if differs {
                    exit::THRESHOLDS_FAILED
                } else {
                    exit::OK
                })
            }
            Cmd::Sweep(a) => sweep_cmd(a).await,
            Cmd::Report {
                dir,
                allow_undecided,
                prometheus_remote_write,
                chart_format,
            } => {
                let (d, run) = cutover::report::render_with(&dir, chart_format)
                    .map_err(|e| commands::bad_input(e.to_string()))?;
                note_partial(&run);
                if let Some(url) = &prometheus_remote_write {
                    commands::push_remote_write(&run, url).await;
                }
                print_out(&commands::decision_text(&d, &dir));
                Ok(exit::for_decision(d.kind, allow_undecided))
            }
            Cmd::Compare(a) => compare_cmd(a).await,
            Cmd::Schema { .. } | Cmd::Completions { .. } => Ok(exit::OK),
        }
    })
}

async fn run_cmd(a: RunArgs) -> Result<i32, AppError> {
    let RunArgs {
        scenario,
        out,
        duration,
        allow_remote,
        baseline,
        force,
        allow_undecided,
        quiet,
        progress,
        prometheus_remote_write,
        shard,
        shard_count,
        start_at,
        max_start_delay,
        chart_format,
    } = a;
    let shard = commands::shard_from_flags(shard.as_deref(), shard_count.as_deref())?;
    let control = Control::default();
    commands::install_signal_handlers(&control);
    let opts = commands::RunOptions {
        out_root: out,
        allow_remote,
        duration_s: duration,
        progress: progress || (!quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())),
        baseline,
        force,
        allow_undecided,
        prometheus_remote_write,
        shard,
        start_at,
        max_start_delay_s: Some(max_start_delay),
        chart_format,
    };
    let r = commands::run(&scenario, &opts, control).await?;
    print_out(&r.summary);
    if let Some(s) = &r.stopped {
        eprintln!("cutover: run stopped early ({s}); the report is marked interrupted");
    }
    // A shard sees 1/N of the traffic: its decision is shown, the merge decides.
    let code = r.exit_code();
    let partial = code == exit::THRESHOLDS_FAILED || code == exit::UNDECIDED;
    Ok(if shard.is_some() && partial {
        exit::OK
    } else {
        code
    })
}

async fn sweep_cmd(a: SweepArgs) -> Result<i32, AppError> {
    let SweepArgs {
        scenario,
        targets,
        slos,
        out,
        start_rps,
        max_steps,
        min_step_s,
        max_step_s,
        max_total_s,
        step_warmup_s,
        allow_remote,
        chart_format,
    } = a;
    let control = Control::default();
    commands::install_signal_handlers(&control);
    let opts = commands::sweep::SweepOptions {
        out_root: out,
        targets,
        slos,
        start_rps,
        max_steps,
        min_step_s,
        max_step_s,
        max_total_s,
        step_warmup_s,
        allow_remote,
        chart_format,
        ..Default::default()
    };
    let r = commands::sweep::sweep(&scenario, &opts, control).await?;
    print!("{}", r.summary);
    println!("sweep: {}", r.dir.join("sweep.csv").display());
    Ok(exit::OK)
}

async fn compare_cmd(a: CompareArgs) -> Result<i32, AppError> {
    let CompareArgs {
        baseline,
        current,
        history,
        force,
        allow_undecided,
        chart_format,
    } = a;
    let c = cutover::report::compare::compare_dirs_with(&baseline, &current, force, chart_format)
        .map_err(|e| commands::bad_input(e.to_string()))?;
    print_out(&c.text);
    if !c.mismatches.is_empty() {
        eprintln!(
            "cutover: WARNING: forced comparison of different plans: {}",
            c.mismatches.join("; ")
        );
    }
    if !history.is_empty() {
        let mut dirs = history;
        dirs.push(current.clone());
        let p = cutover::report::compare::trend_with(&dirs, &current, chart_format)
            .map_err(|e| commands::bad_input(e.to_string()))?;
        println!("trend chart: {}", p.display());
    }
    print_out(&format!("decision: {}\n", c.decision.kind.label()));
    Ok(exit::for_decision(c.decision.kind, allow_undecided))
}

/// Say on stderr when `cutover report` skipped a partial trailing row of requests.csv.
fn note_partial(run: &cutover::report::Run) {
    if let Some(note) = run.partial_note() {
        eprintln!("cutover: note: {note}");
    }
}
