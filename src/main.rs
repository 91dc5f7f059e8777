use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use cutover::commands::{self, exit, AppError};
use cutover::run::state::Control;

/// mimalloc instead of glibc's malloc: at saturation glibc's malloc/free were 17% of the profile (issue 12;
/// bench/RESULTS.md has the figures with and without).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Load-test a legacy chatbot endpoint and its replacement gateway on the same traffic, and decide with numbers
/// whether cutting over is safe.
#[derive(Parser)]
#[command(name = "cutover", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Replay a scenario against its targets and write reports/<scenario>-<UTC timestamp>/.
    Run {
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
        /// No progress bar even on a terminal.
        #[arg(long)]
        quiet: bool,
    },
    /// Check a scenario file and print what it would do, without sending anything.
    Validate { scenario: PathBuf },
    /// Serve one embedded mock endpoint standalone, for other tools to hit.
    Mock {
        profile: PathBuf,
        #[arg(long, default_value_t = 8080)]
        port: u16,
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
    },
    /// Send the same probe requests to a legacy target and a gateway that claims to serve the same API, and list
    /// every difference in status codes, JSON shapes and SSE event structure.
    Compat {
        scenario: PathBuf,
        #[arg(long, default_value = "legacy")]
        legacy: String,
        #[arg(long, default_value = "gateway")]
        gateway: String,
        #[arg(long)]
        allow_remote: bool,
    },
    /// Re-render the report of a run directory from its run.json and requests.csv.
    Report { dir: PathBuf },
    /// Compare a baseline run with a current one: deltas, verdicts, JUnit XML.
    Compare {
        baseline: PathBuf,
        current: PathBuf,
        /// Also draw a trend chart over these earlier runs (oldest first), e.g. reports/coze-migration-*.
        #[arg(long, num_args = 1..)]
        history: Vec<PathBuf>,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cutover: error: {e}");
            e.code
        }
    };
    std::process::exit(code);
}

fn real_main(cli: Cli) -> Result<i32, AppError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError {
            code: exit::HARNESS,
            message: format!("tokio runtime: {e}"),
        })?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Run { scenario, out, duration, allow_remote, baseline, quiet } => {
                let control = Control::default();
                commands::install_signal_handlers(&control);
                let opts = commands::RunOptions {
                    out_root: out,
                    allow_remote,
                    duration_s: duration,
                    progress: !quiet,
                    baseline,
                };
                let r = commands::run(&scenario, &opts, control).await?;
                print!("{}", r.summary);
                if let Some(s) = &r.stopped {
                    eprintln!("cutover: run stopped early ({s}); the report is marked interrupted");
                }
                Ok(r.exit_code())
            }
            Cmd::Validate { scenario } => {
                let l = commands::load_scenario(&scenario)?;
                let s = &l.scenario;
                let rate = l.conversations_per_wall_second();
                println!(
                    "{}: ok: {} targets, {:.1} conversations/s for {} s (~{:.0} conversations per target), {} thresholds",
                    scenario.display(),
                    s.targets.len(),
                    rate,
                    s.traffic.duration_s,
                    rate * s.traffic.duration_s,
                    s.thresholds.len()
                );
                Ok(exit::OK)
            }
            Cmd::Mock { profile, port, host } => {
                commands::serve_mock(&profile, host, port).await?;
                Ok(exit::OK)
            }
            Cmd::Compat { scenario, legacy, gateway, allow_remote } => {
                let (md, differs) = commands::compat(&scenario, &legacy, &gateway, allow_remote).await?;
                print!("{md}");
                Ok(if differs { exit::THRESHOLDS_FAILED } else { exit::OK })
            }
            Cmd::Report { dir } => {
                let (checks, _) = cutover::report::render(&dir).map_err(|e| commands::bad_input(e.to_string()))?;
                println!("report: {}", dir.join("report.md").display());
                Ok(if checks.iter().all(|c| c.passed) { exit::OK } else { exit::THRESHOLDS_FAILED })
            }
            Cmd::Compare { baseline, current, history } => {
                let c = cutover::report::compare::compare_dirs(&baseline, &current).map_err(|e| commands::bad_input(e.to_string()))?;
                print!("{}", c.text);
                if !history.is_empty() {
                    let mut dirs = history;
                    dirs.push(current.clone());
                    let p = cutover::report::compare::trend(&dirs, &current).map_err(|e| commands::bad_input(e.to_string()))?;
                    println!("trend chart: {}", p.display());
                }
                Ok(if c.regressed { exit::THRESHOLDS_FAILED } else { exit::OK })
            }
        }
    })
}
