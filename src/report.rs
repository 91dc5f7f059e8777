//! Everything a run leaves in `reports/<scenario>-<UTC timestamp>/`, rebuilt from `run.json` and `requests.csv`
//! alone (so `cutover report DIR` re-renders an old or interrupted run exactly as the run itself did):
//! `summary.csv`, `cost.csv`, `latency.png`, `errors.png`, `cost.png`, `report.md`, `report.html`, `verdict.json`
//! (and `junit.xml` when thresholds or a baseline are judged).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::charts;
use crate::cost::nano_to_usd;
use crate::metrics::{mean, pct, Group, Metrics, Record, TargetMetrics};
use crate::runner::Accounting;
use crate::scenario::Scenario;
use crate::threshold::Threshold;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Data { path: String, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The resolved plan and facts of a run (`run.json`). Holds no secret: keys are named by their variable only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMeta {
    pub tool: String,
    pub version: String,
    pub scenario_file: String,
    pub started_utc: String,
    pub finished_utc: String,
    pub elapsed_s: f64,
    /// Why the run stopped early (`interrupted (SIGINT)`, `max_duration_s reached`), if it did.
    pub stopped: Option<String>,
    pub targets: Vec<TargetMeta>,
    pub accounting: Vec<Accounting>,
    pub scenario: Scenario,
    pub prices: BTreeMap<String, (f64, f64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetMeta {
    pub name: String,
    pub role: String,
    pub protocol: String,
    /// `http://127.0.0.1:PORT (mock mocks/gateway.yaml)` or the base URL.
    pub endpoint: String,
    pub api_key_env: Option<String>,
}

impl RunMeta {
    pub fn load(dir: &Path) -> Result<RunMeta, ReportError> {
        let p = dir.join("run.json");
        let text = std::fs::read_to_string(&p).map_err(io(&p))?;
        serde_json::from_str(&text).map_err(|e| ReportError::Data {
            path: p.display().to_string(),
            message: e.to_string(),
        })
    }

    pub fn save(&self, dir: &Path) -> Result<(), ReportError> {
        let p = dir.join("run.json");
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        std::fs::write(&p, text).map_err(io(&p))
    }

    pub fn window_s(&self) -> f64 {
        self.scenario
            .traffic
            .duration_s
            .min(self.elapsed_s.max(0.001))
    }
}

/// The CSV header of `requests.csv`, derived from [`Record`]'s fields.
pub fn csv_header() -> Vec<String> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.serialize(Record::default()).expect("serialisable");
    let data = w.into_inner().expect("in memory");
    let text = String::from_utf8(data).expect("utf8");
    text.lines()
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::to_string)
        .collect()
}

/// A run directory's metrics, rebuilt from its files.
pub struct Run {
    pub dir: PathBuf,
    pub meta: RunMeta,
    pub metrics: Metrics,
    /// Per canary phase (index -> metrics), when the run was a canary.
    pub phases: BTreeMap<u32, Metrics>,
}

impl Run {
    pub fn load(dir: &Path) -> Result<Run, ReportError> {
        let meta = RunMeta::load(dir)?;
        let p = dir.join("requests.csv");
        let cpd = meta.scenario.traffic.conversations_per_day;
        let window = meta.window_s();
        let mut metrics = Metrics::new(cpd, window);
        let mut phases: BTreeMap<u32, Metrics> = BTreeMap::new();
        let data_err = |e: csv::Error| ReportError::Data {
            path: p.display().to_string(),
            message: e.to_string(),
        };
        for r in crate::metrics::read_records(&p).map_err(data_err)? {
            let r = r.map_err(data_err)?;
            if let Some(ph) = r.canary_phase {
                let d = meta
                    .scenario
                    .canary
                    .as_ref()
                    .and_then(|c| c.phases.get(ph as usize))
                    .map_or(window, |x| x.duration_s);
                phases
                    .entry(ph)
                    .or_insert_with(|| Metrics::new(cpd, d))
                    .add(&r);
            }
            metrics.add(&r);
        }
        Ok(Run {
            dir: dir.to_path_buf(),
            meta,
            metrics,
            phases,
        })
    }

    pub fn role_target(&self, role: &str) -> Option<&str> {
        self.meta
            .targets
            .iter()
            .find(|t| t.role == role)
            .map(|t| t.name.as_str())
    }
}

/// Result of one threshold check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub scope: String,
    pub expression: String,
    pub passed: bool,
    pub measured: String,
}

pub fn evaluate_thresholds(scope: &str, list: &[String], m: &Metrics) -> Vec<Check> {
    list.iter()
        .map(|s| match Threshold::parse(s) {
            Err(e) => Check {
                scope: scope.into(),
                expression: s.clone(),
                passed: false,
                measured: format!("invalid: {e}"),
            },
            Ok(t) => match t.evaluate(&|target: &str, metric: &str| m.metric(target, metric)) {
                Ok(ev) => Check {
                    scope: scope.into(),
                    expression: s.clone(),
                    passed: ev.passed,
                    measured: format!("{} vs {}", fmt_num(ev.lhs), fmt_num(ev.rhs)),
                },
                Err(e) => Check {
                    scope: scope.into(),
                    expression: s.clone(),
                    passed: false,
                    measured: format!("no data: {e}"),
                },
            },
        })
        .collect()
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.5}")
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn pct_str(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.2}%", v * 100.0))
}

fn usd(v: f64) -> String {
    let whole = v.trunc() as i64;
    let cents = ((v - v.trunc()).abs() * 100.0).round() as i64;
    let (whole, cents) = if cents == 100 {
        (whole + v.signum() as i64, 0)
    } else {
        (whole, cents)
    };
    let digits = whole.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if v < 0.0 { "-" } else { "" };
    format!("{sign}${grouped}.{cents:02}")
}

fn change(l: Option<f64>, g: Option<f64>) -> String {
    match (l, g) {
        (Some(l), Some(g)) if l != 0.0 => format!("{:+.1}%", (g - l) / l * 100.0),
        _ => "-".into(),
    }
}

/// Write summary.csv, cost.csv, charts, report.md/html and verdict files for the run in `dir`. Returns the checks
/// and the loaded run, so callers need not read `requests.csv` again.
pub fn render(dir: &Path) -> Result<(Vec<Check>, Run), ReportError> {
    let run = Run::load(dir)?;
    write_summary_csv(&run)?;
    write_cost_csv(&run)?;
    let charts_written = write_charts(&run);
    let mut checks = evaluate_thresholds("run", &run.meta.scenario.thresholds, &run.metrics);
    if let Some(c) = &run.meta.scenario.canary {
        for (i, ph) in c.phases.iter().enumerate() {
            if let Some(m) = run.phases.get(&(i as u32)) {
                checks.extend(evaluate_thresholds(
                    &format!("phase {}", ph.name),
                    &ph.thresholds,
                    m,
                ));
            }
        }
    }
    let md = markdown(&run, &checks, &charts_written);
    let p = dir.join("report.md");
    std::fs::write(&p, &md).map_err(io(&p))?;
    let p = dir.join("report.html");
    std::fs::write(&p, crate::html::from_markdown(&md, &run.meta.scenario.name)).map_err(io(&p))?;
    crate::verdict::write_junit(dir, "thresholds", &checks)?;
    Ok((checks, run))
}

const SUMMARY_HEADER: &[&str] = &[
    "target",
    "role",
    "scope",
    "model",
    "stream",
    "requests",
    "ok",
    "errors",
    "cancelled",
    "not_sent",
    "error_rate",
    "availability",
    "retries",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "e2e_p99_ms",
    "sched_p99_ms",
    "ttft_mean_ms",
    "ttft_p50_ms",
    "ttft_p95_ms",
    "ttft_p99_ms",
    "itl_mean_ms",
    "itl_p50_ms",
    "itl_p95_ms",
    "itl_p99_ms",
    "input_tokens",
    "output_tokens",
    "estimated_token_rows",
    "cost_usd",
];

fn group_row(
    target: &str,
    role: &str,
    scope: &str,
    model: &str,
    stream: &str,
    g: &Group,
) -> Vec<String> {
    let f = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.3}"));
    let fr = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.6}"));
    vec![
        target.into(),
        role.into(),
        scope.into(),
        model.into(),
        stream.into(),
        g.requests.to_string(),
        g.ok.to_string(),
        g.errors.to_string(),
        g.cancelled.to_string(),
        g.not_sent.to_string(),
        fr(g.error_rate()),
        fr(g.availability()),
        g.retries.to_string(),
        f(mean(&g.latency)),
        f(pct(&g.latency, 0.5)),
        f(pct(&g.latency, 0.9)),
        f(pct(&g.latency, 0.95)),
        f(pct(&g.latency, 0.99)),
        f(pct(&g.latency, 0.999)),
        f((!g.latency.is_empty()).then(|| g.latency.max() as f64 / 1000.0)),
        f(pct(&g.e2e, 0.99)),
        f(pct(&g.from_scheduled, 0.99)),
        f(mean(&g.ttft)),
        f(pct(&g.ttft, 0.5)),
        f(pct(&g.ttft, 0.95)),
        f(pct(&g.ttft, 0.99)),
        f(mean(&g.itl)),
        f(pct(&g.itl, 0.5)),
        f(pct(&g.itl, 0.95)),
        f(pct(&g.itl, 0.99)),
        g.input_tokens.to_string(),
        g.output_tokens.to_string(),
        g.estimated_rows.to_string(),
        format!("{:.9}", nano_to_usd(g.cost_nano)),
    ]
}

fn write_summary_csv(run: &Run) -> Result<(), ReportError> {
    let p = run.dir.join("summary.csv");
    let mut w = csv::Writer::from_path(&p).map_err(|e| ReportError::Data {
        path: p.display().to_string(),
        message: e.to_string(),
    })?;
    let mut rows = vec![SUMMARY_HEADER
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()];
    for (name, t) in &run.metrics.targets {
        rows.push(group_row(name, &t.role, "all", "", "", &t.all()));
        rows.push(group_row(
            name,
            &t.role,
            "create_conversation",
            "",
            "false",
            &t.create,
        ));
        rows.push(group_row(name, &t.role, "chat", "", "", &t.chat));
        rows.push(group_row(name, &t.role, "chat", "", "false", &t.chat_plain));
        rows.push(group_row(name, &t.role, "chat", "", "true", &t.chat_stream));
        for ((model, stream), g) in &t.by_model {
            rows.push(group_row(
                name,
                &t.role,
                "chat",
                model,
                &stream.to_string(),
                g,
            ));
        }
    }
    for r in rows {
        w.write_record(&r).map_err(|e| ReportError::Data {
            path: p.display().to_string(),
            message: e.to_string(),
        })?;
    }
    w.flush().map_err(io(&p))
}

/// One line of the cost table.
#[derive(Debug, Clone, Serialize)]
pub struct CostLine {
    pub target: String,
    pub role: String,
    pub model: String,
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_nano_usd: u64,
    pub run_cost_usd: f64,
    pub cost_per_1k_conversations_usd: f64,
    pub monthly_usd: f64,
}

pub fn cost_lines(run: &Run) -> Vec<CostLine> {
    let cpd = run.metrics.conversations_per_day;
    let mut out = Vec::new();
    for (name, t) in &run.metrics.targets {
        let conv = t.conversations.len() as f64;
        let mut push = |model: &str, req: u64, i: u64, o: u64, c: u64| {
            let usd = nano_to_usd(c);
            let per_conv = if conv > 0.0 { usd / conv } else { 0.0 };
            out.push(CostLine {
                target: name.clone(),
                role: t.role.clone(),
                model: model.to_string(),
                requests: req,
                input_tokens: i,
                output_tokens: o,
                cost_nano_usd: c,
                run_cost_usd: usd,
                cost_per_1k_conversations_usd: per_conv * 1000.0,
                monthly_usd: per_conv * cpd * 30.0,
            });
        };
        for (model, (req, i, o, c)) in t.cost_by_model() {
            push(&model, req, i, o, c);
        }
        let all = t.all();
        push(
            "TOTAL",
            all.requests,
            all.input_tokens,
            all.output_tokens,
            all.cost_nano,
        );
    }
    out
}

fn write_cost_csv(run: &Run) -> Result<(), ReportError> {
    let p = run.dir.join("cost.csv");
    let err = |e: csv::Error| ReportError::Data {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    let mut w = csv::Writer::from_path(&p).map_err(err)?;
    for l in cost_lines(run) {
        w.serialize(&l).map_err(err)?;
    }
    w.flush().map_err(io(&p))
}

const PERCENTILES: &[f64] = &[
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.9, 99.95, 99.99,
];

fn curve(label: String, h: &hdrhistogram::Histogram<u64>) -> Option<charts::LatencyCurve> {
    if h.is_empty() {
        return None;
    }
    let points = PERCENTILES
        .iter()
        .filter(|p| **p == 0.0 || h.len() as f64 >= 1.0 / (1.0 - *p / 100.0))
        .map(|p| (*p, h.value_at_quantile(p / 100.0) as f64 / 1000.0))
        .collect();
    Some(charts::LatencyCurve { label, points })
}

/// Draw the charts; returns the file names written (a chart that fails is reported on stderr, not fatal).
fn write_charts(run: &Run) -> Vec<String> {
    let mut written = Vec::new();
    let name = &run.meta.scenario.name;
    let mut curves = Vec::new();
    for (t, m) in &run.metrics.targets {
        curves.extend(curve(
            format!("{t} non-stream latency"),
            &m.chat_plain.latency,
        ));
        curves.extend(curve(format!("{t} stream TTFT"), &m.chat_stream.ttft));
    }
    let mut try_chart = |file: &str, r: Result<(), charts::ChartError>| match r {
        Ok(()) => written.push(file.to_string()),
        Err(e) => eprintln!("cutover: chart {file} not drawn: {e}"),
    };
    try_chart(
        "latency.png",
        charts::latency_percentiles(
            &run.dir.join("latency.png"),
            &format!("{name}: latency by percentile"),
            &curves,
        ),
    );
    let mut tput = Vec::new();
    let mut errs = Vec::new();
    for (t, m) in &run.metrics.targets {
        tput.push(charts::TimeSeries {
            label: format!("{t} ok/s"),
            points: m
                .per_second
                .iter()
                .enumerate()
                .map(|(i, (ok, _))| (i as f64, *ok as f64))
                .collect(),
        });
        errs.push(charts::TimeSeries {
            label: format!("{t} errors/s"),
            points: m
                .per_second
                .iter()
                .enumerate()
                .map(|(i, (_, e))| (i as f64, *e as f64))
                .collect(),
        });
    }
    try_chart(
        "errors.png",
        charts::errors_and_throughput(&run.dir.join("errors.png"), &tput, &errs),
    );
    let bars: Vec<charts::CostBar> = cost_lines(run)
        .into_iter()
        .filter(|l| l.model != "TOTAL")
        .map(|l| charts::CostBar {
            target: l.target,
            model: l.model,
            run_cost_usd: l.run_cost_usd,
            monthly_usd: l.monthly_usd,
        })
        .collect();
    try_chart(
        "cost.png",
        charts::cost(
            &run.dir.join("cost.png"),
            &format!("{name}: projected monthly cost by model"),
            &bars,
        ),
    );
    written
}

fn target_cols(run: &Run) -> Vec<(&String, &TargetMetrics)> {
    // legacy first, then gateway, then others: the before/after order
    let mut v: Vec<_> = run.metrics.targets.iter().collect();
    v.sort_by_key(|(_, t)| match t.role.as_str() {
        "legacy" => 0,
        "gateway" => 1,
        _ => 2,
    });
    v
}

fn markdown(run: &Run, checks: &[Check], charts_written: &[String]) -> String {
    let m = &run.meta;
    let s = &m.scenario;
    let mut o = String::new();
    let _ = writeln!(o, "# cutover report: {}\n", s.name);
    if let Some(reason) = &m.stopped {
        let _ = writeln!(
            o,
            "> **INTERRUPTED** — {reason}. Figures cover what was measured before the stop; not-sent requests are listed below.\n"
        );
    }
    if let Some(d) = &s.description {
        let _ = writeln!(o, "{}\n", d.trim());
    }
    let _ = writeln!(
        o,
        "- Run: {} → {} UTC ({:.1} s), {} {} from `{}`",
        m.started_utc, m.finished_utc, m.elapsed_s, m.tool, m.version, m.scenario_file
    );
    let ts = s.traffic.time_scale.unwrap_or(1.0);
    let _ = writeln!(
        o,
        "- Traffic: {} conversations/day replayed at time scale {ts} for {} s (seed {}), {:.0}% streamed; the same conversations went to every target.",
        s.traffic.conversations_per_day,
        s.traffic.duration_s,
        s.seed,
        s.traffic.stream_share * 100.0
    );
    for t in &m.targets {
        let _ = writeln!(
            o,
            "- Target `{}` ({}, {}): {}",
            t.name, t.role, t.protocol, t.endpoint
        );
    }
    o.push('\n');

    let cols = target_cols(run);
    let legacy = run.role_target("legacy");
    let gateway = run.role_target("gateway");
    if let (Some(l), Some(g)) = (legacy, gateway) {
        let _ = writeln!(o, "## Before / after\n");
        let _ = writeln!(
            o,
            "| Metric | legacy (`{l}`) | gateway (`{g}`) | change |\n|---|---:|---:|---:|"
        );
        let rows: &[(&str, &str, usize)] = &[
            ("Mean latency, non-stream (ms)", "mean_ms", 1),
            ("p50 latency (ms)", "p50_ms", 1),
            ("p95 latency (ms)", "p95_ms", 1),
            ("p99 latency (ms)", "p99_ms", 1),
            ("TTFT p50, stream (ms)", "ttft_p50_ms", 1),
            ("TTFT p95, stream (ms)", "ttft_p95_ms", 1),
            ("Inter-token latency mean (ms)", "itl_mean_ms", 2),
            ("Output tokens/s per stream", "output_tokens_per_s", 1),
        ];
        for (label, key, d) in rows {
            let (a, b) = (run.metrics.metric(l, key), run.metrics.metric(g, key));
            let _ = writeln!(
                o,
                "| {label} | {} | {} | {} |",
                opt(a, *d),
                opt(b, *d),
                change(a, b)
            );
        }
        let (a, b) = (
            run.metrics.metric(l, "error_rate"),
            run.metrics.metric(g, "error_rate"),
        );
        let _ = writeln!(
            o,
            "| Error rate | {} | {} | {} |",
            pct_str(a),
            pct_str(b),
            change(a, b)
        );
        let (a, b) = (
            run.metrics.metric(l, "availability"),
            run.metrics.metric(g, "availability"),
        );
        let delta = match (a, b) {
            (Some(a), Some(b)) => format!("{:+.2} pp", (b - a) * 100.0),
            _ => "-".into(),
        };
        let _ = writeln!(
            o,
            "| Availability | {} | {} | {delta} |",
            pct_str(a),
            pct_str(b)
        );
        let (a, b) = (
            run.metrics.monthly_cost_usd(l),
            run.metrics.monthly_cost_usd(g),
        );
        let _ = writeln!(
            o,
            "| Monthly cost (projected) | {} | {} | {} |\n",
            a.map_or("-".into(), usd),
            b.map_or("-".into(), usd),
            change(a, b)
        );
        if let (Some(a), Some(b)) = (a, b) {
            let _ = writeln!(
                o,
                "Projected saving of the gateway: **{} per month ({:.1}%)** at {} conversations/day.\n",
                usd(a - b),
                if a > 0.0 { (a - b) / a * 100.0 } else { 0.0 },
                s.traffic.conversations_per_day
            );
        }
        o.push_str(&crate::verdict::comparison_markdown(&run.metrics, l, g));
    }

    if !checks.is_empty() {
        let _ = writeln!(o, "## Thresholds\n\n| | Scope | Threshold | Measured (left vs right) |\n|---|---|---|---|");
        for c in checks {
            let _ = writeln!(
                o,
                "| {} | {} | `{}` | {} |",
                if c.passed { "PASS" } else { "FAIL" },
                c.scope,
                c.expression,
                c.measured
            );
        }
        let failed = checks.iter().filter(|c| !c.passed).count();
        let _ = writeln!(
            o,
            "\n{} of {} thresholds passed.\n",
            checks.len() - failed,
            checks.len()
        );
    }

    let _ = writeln!(o, "## Accounting\n");
    let _ = writeln!(
        o,
        "Every scheduled request ends as exactly one row of `requests.csv`: scheduled = ok + errors + cancelled + not sent.\n"
    );
    let _ = writeln!(o, "| Target | scheduled | ok | errors | cancelled | not sent | retries |\n|---|---:|---:|---:|---:|---:|---:|");
    for (name, t) in &cols {
        let a = t.all();
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            a.requests, a.ok, a.errors, a.cancelled, a.not_sent, a.retries
        );
    }
    o.push('\n');
    let mut any = false;
    for (name, t) in &cols {
        for (k, n) in &t.errors_by_kind {
            if !any {
                let _ = writeln!(o, "| Target | error kind | count |\n|---|---|---:|");
                any = true;
            }
            let _ = writeln!(o, "| {name} | {k} | {n} |");
        }
        for (k, n) in &t.not_sent_by_reason {
            if !any {
                let _ = writeln!(o, "| Target | error kind | count |\n|---|---|---:|");
                any = true;
            }
            let _ = writeln!(o, "| {name} | not sent: {k} | {n} |");
        }
    }
    if any {
        o.push('\n');
    }

    let _ = writeln!(o, "## Latency by model\n");
    let _ = writeln!(
        o,
        "| Target | model | stream | ok | errors | mean ms | p50 | p95 | p99 | TTFT p50 | TTFT p99 | ITL mean |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (name, t) in &cols {
        for ((model, stream), g) in &t.by_model {
            let _ = writeln!(
                o,
                "| {name} | {model} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                if *stream { "yes" } else { "no" },
                g.ok,
                g.errors,
                opt(mean(&g.latency), 1),
                opt(pct(&g.latency, 0.5), 1),
                opt(pct(&g.latency, 0.95), 1),
                opt(pct(&g.latency, 0.99), 1),
                opt(pct(&g.ttft, 0.5), 1),
                opt(pct(&g.ttft, 0.99), 1),
                opt(mean(&g.itl), 2),
            );
        }
    }
    o.push('\n');
    let sched: Vec<String> = cols
        .iter()
        .map(|(n, t)| {
            format!(
                "`{n}` p99 from send {} ms vs from schedule {} ms",
                opt(pct(&t.chat_plain.latency, 0.99), 1),
                opt(pct(&t.chat_plain.from_scheduled, 0.99), 1)
            )
        })
        .collect();
    let _ = writeln!(
        o,
        "Coordinated omission check (non-stream chat requests): {}. A large gap means the runner or the target fell behind the planned arrivals.\n",
        sched.join("; ")
    );

    if let Ok(mut rdr) = csv::Reader::from_path(run.dir.join("chunk_gaps.csv")) {
        let rows: Vec<BTreeMap<String, String>> =
            rdr.deserialize().filter_map(Result::ok).collect();
        if rows.iter().any(|r| r.get("gaps").is_some_and(|g| g != "0")) {
            let _ = writeln!(
                o,
                "Gaps between content chunks of successful streams (all chunks pooled, `chunk_gaps.csv`):\n\n| Target | gaps | mean ms | p50 | p90 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|"
            );
            for r in &rows {
                let g = |k: &str| r.get(k).cloned().unwrap_or_default();
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    g("target"),
                    g("gaps"),
                    g("mean_ms"),
                    g("p50_ms"),
                    g("p90_ms"),
                    g("p95_ms"),
                    g("p99_ms"),
                    g("max_ms")
                );
            }
            o.push('\n');
        }
    }

    let _ = writeln!(o, "## Cost\n");
    let lines = cost_lines(run);
    let _ = writeln!(
        o,
        "| Target | model | requests | input tokens | output tokens | run cost | per 1,000 conversations | monthly (projected) |\n|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for l in &lines {
        let bold = if l.model == "TOTAL" { "**" } else { "" };
        let _ = writeln!(
            o,
            "| {bold}{}{bold} | {bold}{}{bold} | {} | {} | {} | ${:.6} | {} | {bold}{}{bold} |",
            l.target,
            l.model,
            l.requests,
            l.input_tokens,
            l.output_tokens,
            l.run_cost_usd,
            usd(l.cost_per_1k_conversations_usd),
            usd(l.monthly_usd)
        );
    }
    let estimated: u64 = run
        .metrics
        .targets
        .values()
        .map(|t| t.all().estimated_rows)
        .sum();
    let _ = writeln!(
        o,
        "\nPrices: USD per million tokens (input/output) — {}. Monthly = measured cost per conversation × {} conversations/day × 30. Sums are exact integer nano-dollars.{}\n",
        m.prices
            .iter()
            .map(|(k, (i, o))| format!("{k} ${i}/${o}"))
            .collect::<Vec<_>>()
            .join(", "),
        s.traffic.conversations_per_day,
        if estimated > 0 {
            format!(" **{estimated} rows have estimated token counts** (the server sent no usage): their cost is an estimate.")
        } else {
            String::new()
        }
    );

    if !run.phases.is_empty() {
        o.push_str(&crate::verdict::canary_markdown(run, checks));
    }

    if !charts_written.is_empty() {
        let _ = writeln!(o, "## Charts\n");
        for c in charts_written {
            let _ = writeln!(o, "![{c}]({c})\n");
        }
    }
    let _ = writeln!(
        o,
        "## Definitions\n\n- Latency: send → last byte of the attempt that decided the outcome; retries and their waits are excluded (see `e2e_ms` in requests.csv for the figure with them). Headline latency is non-streamed chat requests. For Coze non-stream chats latency is chat create → `completed` status observed by polling every {} ms, so it includes up to one poll interval.\n- TTFT: send → first chunk with non-empty answer content (role-only chunks and Coze status events do not count). ITL: (last content chunk − first content chunk) / (output tokens − 1).\n- Error rate: failed / finished requests after retries (creates included). Failed attempts: every attempt that failed, retried ones and 429s included, over all attempts. Availability: 1 − (server-side or transport failures: 5xx, 408, timeouts, resets, cut streams) / finished. 4xx such as 401/404 are errors, not unavailability.\n- Failed requests never enter latency histograms.",
        s.targets
            .iter()
            .find_map(|t| t.coze.as_ref().map(|c| c.poll_interval_ms))
            .unwrap_or(1000)
    );
    o
}
