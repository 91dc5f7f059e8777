//! `cutover sweep`: per target, offer a constant rate step by step (geometric steps up, then bisection between the
//! last passing and the first failing rate) and find the highest rate at which every SLO holds.
//!
//! Each step is a short run of its own (one target, constant arrivals, no thresholds) in
//! `<run dir>/steps/<target>-<n>/`, long enough for its SLOs to be stable: at least `min_step_s`, and long enough
//! for the samples [`Slo::samples_needed`] asks (1,000 for a p99), capped at `max_step_s` (a capped step says
//! `enough_samples = false` in sweep.csv). The sweep stops after `max_steps` steps per target or `max_total_s`.
//!
//! A step opens with a warm-up (`step_warmup_s`, default a quarter of the measured time), sent and recorded but kept
//! out of its figures: a step starts from an idle target, and requests that hold it for seconds (a stream of 100
//! tokens) fill it only after about one such service time, so a step measured from its first arrival sees less load
//! than it offers and the knee shows late.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use super::{bad_input, harness, load_scenario, new_run_dir, prepare_targets, AppError};
use crate::config::metric::{Metric, Scope, Unit};
use crate::config::scenario::Loaded;
use crate::config::shape::{Constant, Shape};
use crate::measure::capacity::{Search, Slo};
use crate::measure::metrics::Metrics;
use crate::report::sweep::{Capacity, StepRow};
use crate::run::state::Control;

#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub out_root: PathBuf,
    /// Targets to sweep (all when empty).
    pub targets: Vec<String>,
    pub slos: Vec<String>,
    /// First offered rate, chat requests/s (default: the scenario's peak).
    pub start_rps: Option<f64>,
    pub factor: f64,
    /// Stop bisecting when first failing / last passing <= this.
    pub precision: f64,
    pub max_steps: u32,
    pub min_step_s: f64,
    pub max_step_s: f64,
    pub max_total_s: f64,
    /// Warm-up before each step's measured time (default: a quarter of it).
    pub step_warmup_s: Option<f64>,
    pub allow_remote: bool,
    /// sweep.png or sweep.svg (`--chart-format`).
    pub chart_format: crate::report::charts::ChartFormat,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            out_root: "reports".into(),
            targets: vec![],
            slos: vec![],
            start_rps: None,
            factor: 2.0,
            precision: 1.1,
            max_steps: 12,
            min_step_s: 10.0,
            max_step_s: 60.0,
            max_total_s: 1800.0,
            step_warmup_s: None,
            allow_remote: false,
            chart_format: Default::default(),
        }
    }
}

pub struct SweepResult {
    pub dir: PathBuf,
    pub capacity: BTreeMap<String, Capacity>,
    pub rows: Vec<StepRow>,
    /// One line per target, for the terminal.
    pub summary: String,
}

/// What a sweep needs to know about the scenario's traffic.
struct Plan {
    slos: Vec<Slo>,
    /// Chat turns per conversation (mean).
    turns: f64,
    stream_share: f64,
    peak_rps: f64,
}

impl Plan {
    /// Seconds a step at `rps` chat requests/s must last for every SLO's samples, within the options' bounds.
    fn step_s(&self, rps: f64, o: &SweepOptions) -> (f64, bool) {
        let mut need: f64 = 0.0;
        for s in &self.slos {
            let share = match (s.metric.unit(), s.metric.scope()) {
                (Unit::Ms, Scope::ChatStream) => self.stream_share,
                (Unit::Ms, _) => 1.0 - self.stream_share,
                _ => 1.0,
            };
            need = need.max(s.samples_needed() as f64 / (rps * share.max(1e-6)));
        }
        let s = need.max(o.min_step_s);
        (s.min(o.max_step_s), s <= o.max_step_s)
    }
}

pub async fn sweep(
    scenario_path: &std::path::Path,
    opts: &SweepOptions,
    control: Control,
) -> Result<SweepResult, AppError> {
    let loaded = load_scenario(scenario_path)?;
    let s = &loaded.scenario;
    let slos = checked_slos(opts, s, scenario_path)?;
    let turns: f64 = s
        .traffic
        .turns
        .iter()
        .map(|w| f64::from(w.turns) * w.weight)
        .sum();
    let peak = crate::run::traffic::planned_profile(&loaded, s.traffic.duration_s).peak_rate();
    let plan = Plan {
        slos,
        turns,
        stream_share: s.traffic.stream_share,
        peak_rps: peak * turns,
    };
    let start = opts.start_rps.unwrap_or(plan.peak_rps);
    if !(start.is_finite() && start > 0.0) {
        return Err(bad_input(format!("sweep: start rate {start} must be > 0")));
    }
    let dir = new_run_dir(&opts.out_root, &format!("{}-sweep", s.name))?;
    let began = Instant::now();
    let mut rows = Vec::new();
    let mut capacity = BTreeMap::new();
    for t in &s.targets {
        if !opts.targets.is_empty() && !opts.targets.contains(&t.name) {
            continue;
        }
        let mut search = Search::new(start, opts.factor, opts.precision, s.limits.max_rps);
        let mut mine: Vec<StepRow> = Vec::new();
        while let Some(rps) = search.next_rate() {
            let out_of_time = began.elapsed().as_secs_f64() >= opts.max_total_s;
            if mine.len() as u32 >= opts.max_steps
                || out_of_time
                || control.stop_arrivals.is_cancelled()
            {
                break;
            }
            let row = step(
                &loaded,
                &t.name,
                &plan,
                rps,
                mine.len() as u32,
                &dir,
                opts,
                &control,
            )
            .await?;
            search.record(rps, row.meets_slo);
            mine.push(row);
        }
        capacity.insert(t.name.clone(), found(&search, &mine, &plan));
        rows.extend(mine);
    }
    let rule = "each step measures at least --min-step-s and long enough for 10 samples beyond each SLO's \
                percentile (1,000 for p99; 10 / x requests for a rate below x), at most --max-step-s, after a \
                warm-up kept out of its figures (--step-warmup-s, default a quarter of the measured time)";
    crate::report::sweep::write(&dir, &rows, &capacity, &plan.slos, rule)
        .map_err(|e| harness(e.to_string()))?;
    let names: Vec<String> = s.targets.iter().map(|t| t.name.clone()).collect();
    let chart = dir.join(opts.chart_format.file("sweep"));
    crate::report::sweep::chart(&chart, &rows, &plan.slos, &names)
        .map_err(|e| harness(e.to_string()))?;
    let summary = summary(&capacity, &plan);
    Ok(SweepResult {
        dir,
        capacity,
        rows,
        summary,
    })
}

/// The options checked against the scenario, and the SLOs parsed.
fn checked_slos(
    opts: &SweepOptions,
    s: &crate::config::scenario::Scenario,
    scenario_path: &std::path::Path,
) -> Result<Vec<Slo>, AppError> {
    if opts.slos.is_empty() {
        return Err(bad_input(
            "sweep: give at least one --slo, e.g. --slo \"p99_ms < 400\"",
        ));
    }
    let slos = opts
        .slos
        .iter()
        .map(|t| Slo::parse(t).map_err(bad_input))
        .collect::<Result<Vec<_>, _>>()?;
    if !(opts.factor > 1.0 && opts.precision > 1.0 && opts.max_steps > 0 && opts.min_step_s > 0.0)
        || opts.max_step_s < opts.min_step_s
    {
        return Err(bad_input(
            "sweep: need factor > 1, precision > 1, max-steps > 0, 0 < min-step-s <= max-step-s",
        ));
    }
    if let Some(w) = opts.step_warmup_s.filter(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err(bad_input(format!(
            "sweep: --step-warmup-s {w} must be a number of seconds >= 0"
        )));
    }
    for t in &opts.targets {
        if s.target(t).is_none() {
            return Err(bad_input(format!(
                "--target `{t}`: no such target in {}",
                scenario_path.display()
            )));
        }
    }
    Ok(slos)
}

fn found(search: &Search, rows: &[StepRow], plan: &Plan) -> Capacity {
    let limiting = search.hi.and_then(|hi| {
        let r = rows.iter().find(|r| r.offered_rps == hi)?;
        r.breached.split(';').next().map(str::to_string)
    });
    Capacity {
        max_rps_meeting_slo: search.lo,
        first_failing_rps: search.hi,
        limiting_metric: limiting.filter(|l| !l.is_empty()),
        peak_rps: plan.peak_rps,
        headroom_over_peak: search.lo.map(|lo| lo / plan.peak_rps),
    }
}

fn summary(capacity: &BTreeMap<String, Capacity>, plan: &Plan) -> String {
    let mut o = String::new();
    for (t, c) in capacity {
        let line = match (c.max_rps_meeting_slo, c.first_failing_rps) {
            (Some(lo), hi) => format!(
                "{t}: meets the SLO up to {lo:.1} requests/s ({:.1}x the scenario's peak of {:.1}/s){}",
                lo / plan.peak_rps,
                plan.peak_rps,
                hi.map(|h| format!("; fails at {h:.1}/s on {}", c.limiting_metric.as_deref().unwrap_or("?")))
                    .unwrap_or_else(|| "; no failing rate found below limits.max_rps or the step budget".into())
            ),
            (None, Some(h)) => format!("{t}: fails the SLO at every rate tried, down to {h:.2} requests/s"),
            (None, None) => format!("{t}: no step ran"),
        };
        o.push_str(&line);
        o.push('\n');
    }
    o
}

/// One step: `rps` chat requests/s on one target for as long as its SLOs need.
#[allow(clippy::too_many_arguments)]
async fn step(
    loaded: &Loaded,
    target: &str,
    plan: &Plan,
    rps: f64,
    n: u32,
    dir: &std::path::Path,
    opts: &SweepOptions,
    parent: &Control,
) -> Result<StepRow, AppError> {
    let (step_s, enough) = plan.step_s(rps, opts);
    let warm = opts.step_warmup_s.unwrap_or(step_s / 4.0);
    let mut l = loaded.clone();
    let sc = &mut l.scenario;
    sc.targets.retain(|t| t.name == target);
    sc.thresholds.clear();
    sc.canary = None;
    // A sweep steps the offered rate: each step is open-model, even from a closed scenario.
    sc.traffic.closed = None;
    sc.traffic.warmup_s = warm;
    sc.traffic.duration_s = warm + step_s;
    sc.traffic.shape = Some(Shape {
        constant: Some(Constant {
            rate: rps / plan.turns,
        }),
        ..Default::default()
    });
    let lim = &mut sc.limits;
    lim.max_duration_s = warm + step_s + lim.request_timeout_s + 5.0;
    lim.grace_s = lim.grace_s.min(5.0);
    lim.max_requests = lim.max_requests.max((rps * (warm + step_s) * 3.0) as u64);
    let prepared = prepare_targets(&l, opts.allow_remote).await?;
    let out = dir.join("steps").join(format!("{target}-{n}"));
    std::fs::create_dir_all(&out).map_err(|e| harness(format!("{}: {e}", out.display())))?;
    let ctl = Control::default();
    let link = {
        let (p, c) = (parent.clone(), ctl.clone());
        tokio::spawn(async move {
            p.stop_arrivals.cancelled().await;
            c.stop("interrupted");
        })
    };
    let ran = crate::run::runner::run(
        &l,
        prepared.targets,
        &out,
        ctl,
        false,
        crate::run::shard::Slice::default(),
    )
    .await;
    link.abort();
    for m in prepared.mocks {
        m.shutdown().await;
    }
    let ran = ran.map_err(|e| harness(format!("{}: {e}", out.display())))?;
    let m = Metrics::from_csv(
        &ran.requests_csv,
        l.scenario.traffic.conversations_per_day,
        step_s,
    )
    .map_err(|e| harness(format!("{}: {e}", ran.requests_csv.display())))?;
    let v = |metric: Metric| m.value(target, metric);
    let mut breached: Vec<(f64, String)> = plan
        .slos
        .iter()
        .filter(|s| !s.met(v(s.metric)))
        .map(|s| (s.severity(v(s.metric)), s.metric.to_string()))
        .collect();
    if let Some(reason) = &ran.stopped {
        breached.push((f64::INFINITY, format!("stopped: {reason}")));
    }
    breached.sort_by(|a, b| b.0.total_cmp(&a.0));
    let chat = m
        .targets
        .get(target)
        .map(|t| t.chat.clone())
        .unwrap_or_default();
    Ok(StepRow {
        target: target.to_string(),
        step: n,
        offered_rps: rps,
        achieved_rps: chat.finished() as f64 / step_s,
        ok: chat.ok,
        errors: chat.errors,
        p50_ms: v(Metric::P50Ms),
        p99_ms: v(Metric::P99Ms),
        ttft_p99_ms: v(Metric::TtftP99Ms),
        error_rate: v(Metric::ErrorRate),
        meets_slo: breached.is_empty(),
        step_s,
        enough_samples: enough,
        breached: breached
            .into_iter()
            .map(|b| b.1)
            .collect::<Vec<_>>()
            .join(";"),
    })
}
