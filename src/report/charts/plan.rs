//! Which charts a run gets, and the data each is drawn from: the loaded run's metrics and plan, never recomputed from
//! requests.csv. Each chart is drawn twice: as the file report.md links (PNG or SVG) and as the SVG report.html
//! inlines. A target's colour is its index among the run's targets on every chart.

use super::{
    CanaryPhase, CdfCurve, ChartError, ChartFormat, CostBar, IntervalPoint, IntervalSeries,
    LatencyCurve, Out, ScatterSeries, SloLine, TimeSeries,
};
use crate::config::threshold::{Expr, Threshold};
use crate::measure::metrics::pct;
use crate::measure::samples::TokenPoint;
use crate::report::rundir::Run;
use crate::report::tables::cost_lines;

/// The charts written for a run.
pub(crate) struct Charts {
    /// File names written (a chart that fails is reported on stderr, not fatal).
    pub(crate) written: Vec<String>,
    /// (file name, SVG document) for every chart drawn, in the same order.
    pub(crate) inline: Vec<(String, String)>,
}

type Draw<'a> = Box<dyn Fn(Out) -> Result<(), ChartError> + 'a>;

/// Draw the charts as files in `fmt` and as inline SVG.
pub(crate) fn write_charts(run: &Run, fmt: ChartFormat) -> Charts {
    let mut out = Charts {
        written: Vec::new(),
        inline: Vec::new(),
    };
    for (stem, draw) in chart_plan(run) {
        let file = fmt.file(stem);
        match draw(Out::File(&run.dir.join(&file))) {
            Ok(()) => out.written.push(file.clone()),
            Err(e) => eprintln!("cutover: chart {file} not drawn: {e}"),
        }
        let mut svg = String::new();
        match draw(Out::Svg(&mut svg)) {
            Ok(()) => out.inline.push((file, svg)),
            Err(e) => eprintln!("cutover: chart {file} not drawn as SVG: {e}"),
        }
    }
    out
}

/// Palette index of `target`: its position among the run's targets.
pub(crate) fn colour_of(run: &Run, target: &str) -> usize {
    run.metrics
        .targets
        .keys()
        .position(|t| t == target)
        .unwrap_or(0)
}

/// The charts of a run: file stem and how to draw it.
fn chart_plan(run: &Run) -> Vec<(&'static str, Draw<'_>)> {
    let name = &run.meta.scenario.name;
    let curves = latency_curves(run);
    let (tput, errs) = per_second(run);
    let bars = cost_bars(run);
    let lat_title = format!("{name}: latency by percentile");
    let cost_title = format!(
        "{name}: projected monthly cost by model{}",
        saving_note(run)
    );
    let width = run.metrics.interval_s;
    let intervals = interval_series(run);
    let time_title = format!("{name}: latency and error rate over time");
    let cdf = cdf_curves(run);
    let slos = slo_lines(run);
    let cdf_title = format!("{name}: latency CDF (non-streamed ok chat requests)");
    let ttft = scatter(run, true);
    let e2e = scatter(run, false);
    let ttft_title = format!("{name}: TTFT vs output tokens (streamed ok requests)");
    let e2e_title = format!("{name}: end-to-end time vs output tokens (ok chat requests)");
    let mut plan: Vec<(&'static str, Draw<'_>)> = vec![
        (
            "latency",
            Box::new(move |o| super::latency_percentiles(o, &lat_title, &curves)),
        ),
        (
            "errors",
            Box::new(move |o| super::errors_and_throughput(o, &tput, &errs)),
        ),
        (
            "cost",
            Box::new(move |o| super::cost(o, &cost_title, &bars)),
        ),
        (
            "latency-over-time",
            Box::new(move |o| super::over_time(o, &time_title, width, &intervals)),
        ),
        (
            "latency-cdf",
            Box::new(move |o| super::latency_cdf(o, &cdf_title, &cdf, &slos)),
        ),
        (
            "ttft-vs-tokens",
            Box::new(move |o| super::tokens_scatter(o, &ttft_title, "TTFT (ms)", &ttft)),
        ),
        (
            "e2e-vs-tokens",
            Box::new(move |o| super::tokens_scatter(o, &e2e_title, "end-to-end (ms)", &e2e)),
        ),
    ];
    if let Some((targets, phases)) = canary(run) {
        let title = format!("{name}: canary phases");
        plan.push((
            "canary-phases",
            Box::new(move |o| super::canary_phases(o, &title, &targets, &phases)),
        ));
    }
    plan
}

const PERCENTILES: &[f64] = &[
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.9, 99.95, 99.99,
];

fn curve(
    label: String,
    h: &hdrhistogram::Histogram<u64>,
    colour: usize,
    dashed: bool,
) -> Option<LatencyCurve> {
    if h.is_empty() {
        return None;
    }
    let points = PERCENTILES
        .iter()
        .filter(|p| **p == 0.0 || h.len() as f64 >= 1.0 / (1.0 - *p / 100.0))
        .filter_map(|p| Some((*p, pct(h, p / 100.0)?)))
        .collect();
    Some(LatencyCurve {
        label,
        points,
        colour,
        dashed,
    })
}

/// One colour per target (its index), one line style per metric (latency solid, TTFT dashed).
fn latency_curves(run: &Run) -> Vec<LatencyCurve> {
    let mut curves = Vec::new();
    for (i, (t, m)) in run.metrics.targets.iter().enumerate() {
        let lat = format!("{t} non-stream latency");
        curves.extend(curve(lat, &m.chat_plain.latency, i, false));
        curves.extend(curve(
            format!("{t} stream TTFT"),
            &m.chat_stream.ttft,
            i,
            true,
        ));
    }
    curves
}

/// Ok and failed chat requests per second of the run, per target.
fn per_second(run: &Run) -> (Vec<TimeSeries>, Vec<TimeSeries>) {
    let mut tput = Vec::new();
    let mut errs = Vec::new();
    for (t, m) in &run.metrics.targets {
        let series = |f: fn(&(u64, u64)) -> u64| -> Vec<(f64, f64)> {
            m.per_second
                .iter()
                .enumerate()
                .map(|(i, c)| (i as f64, f(c) as f64))
                .collect()
        };
        tput.push(TimeSeries {
            label: format!("{t} ok/s"),
            points: series(|c| c.0),
        });
        errs.push(TimeSeries {
            label: format!("{t} errors/s"),
            points: series(|c| c.1),
        });
    }
    (tput, errs)
}

fn cost_bars(run: &Run) -> Vec<CostBar> {
    cost_lines(&run.metrics)
        .into_iter()
        .filter(|l| l.model != "TOTAL")
        .map(|l| CostBar {
            target: l.target,
            model: l.model,
            run_cost_usd: l.run_cost_usd,
            monthly_usd: l.monthly_usd,
        })
        .collect()
}

/// "; gateway saves $652/month (17.4%)" from the TOTAL cost lines of the legacy and gateway targets, if both exist.
fn saving_note(run: &Run) -> String {
    let lines = cost_lines(&run.metrics);
    let total = |role: &str| {
        let t = run.role_target(role)?;
        lines
            .iter()
            .find(|l| l.target == t && l.model == "TOTAL")
            .map(|l| (t.to_string(), l.monthly_usd))
    };
    match (total("legacy"), total("gateway")) {
        (Some((_, old)), Some((g, new))) if old > 0.0 => {
            let (verb, d) = if new <= old {
                ("saves", old - new)
            } else {
                ("costs", new - old)
            };
            let more = if new <= old { "" } else { " more" };
            format!(
                "; {g} {verb} {}/month{more} ({:.1}%)",
                crate::format::usd(d),
                d / old * 100.0
            )
        }
        _ => String::new(),
    }
}

/// Per target, the run's interval series (`Metrics::per_interval`, the per-minute table's definition at
/// `Metrics::interval_s`), each point at the middle of its interval.
fn interval_series(run: &Run) -> Vec<IntervalSeries> {
    let w = run.metrics.interval_s;
    run.metrics
        .targets
        .iter()
        .enumerate()
        .map(|(i, (t, m))| IntervalSeries {
            label: t.clone(),
            colour: i,
            points: m
                .per_interval
                .iter()
                .enumerate()
                .map(|(k, x)| IntervalPoint {
                    t_s: (k as f64 + 0.5) * w,
                    p50_ms: x.pct(0.5),
                    p95_ms: x.pct(0.95),
                    p99_ms: x.pct(0.99),
                    error_rate: x.error_rate(),
                })
                .collect(),
        })
        .collect()
}

/// Quantiles drawn for a CDF: every percent, then finer into the tail, ending at 100%.
const CDF_QUANTILES: &[f64] = &[99.5, 99.9, 99.95, 99.99, 100.0];

/// (latency ms, percent at or below) of a histogram, by the one quantile definition ([`pct`]).
pub(crate) fn cdf_points(h: &hdrhistogram::Histogram<u64>) -> Vec<(f64, f64)> {
    (0..=99)
        .map(f64::from)
        .chain(CDF_QUANTILES.iter().copied())
        .filter_map(|p| Some((pct(h, p / 100.0)?, p)))
        .collect()
}

fn cdf_curves(run: &Run) -> Vec<CdfCurve> {
    run.metrics
        .targets
        .iter()
        .enumerate()
        .map(|(i, (t, m))| CdfCurve {
            label: t.clone(),
            colour: i,
            dashed: false,
            points: cdf_points(&m.chat_plain.latency),
        })
        .collect()
}

/// Non-streamed latency metrics a vertical line on the CDF stands for.
const LATENCY_METRICS: &[&str] = &[
    "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms",
];

/// The run's latency limits: thresholds `target.<latency metric> <op> number` (either side), and goodput's
/// non-streamed latency objective.
pub(crate) fn slo_lines(run: &Run) -> Vec<SloLine> {
    let mut out = Vec::new();
    for text in run.meta.scenario.thresholds.iter() {
        let Ok(t) = Threshold::parse(text) else {
            continue;
        };
        let (metric, limit) = match (&t.lhs, &t.rhs) {
            (Expr::Metric { target, metric }, Expr::Number(n))
            | (Expr::Number(n), Expr::Metric { target, metric }) => ((target, metric), *n),
            _ => continue,
        };
        if LATENCY_METRICS.contains(&metric.1.as_str()) {
            out.push(SloLine {
                label: text.clone(),
                ms: limit,
                colour: Some(colour_of(run, metric.0)),
            });
        }
    }
    if let Some(l) = run.meta.scenario.goodput.and_then(|g| g.latency_ms) {
        out.push(SloLine {
            label: format!("goodput latency ≤ {l} ms"),
            ms: l,
            colour: None,
        });
    }
    out
}

/// Each target's sampled ok requests: (output tokens, TTFT) of streams when `ttft`; else (output tokens, e2e) of
/// streams and, apart (their e2e does not grow with the answer the same way), of non-streamed requests.
fn scatter(run: &Run, ttft: bool) -> Vec<ScatterSeries> {
    let mut out = Vec::new();
    for (i, (t, m)) in run.metrics.targets.iter().enumerate() {
        let pick = |stream: bool, y: fn(&TokenPoint) -> Option<f64>| -> Vec<(f64, f64)> {
            m.token_sample
                .points
                .iter()
                .filter(|p| p.stream == stream)
                .filter_map(|p| Some((p.output_tokens as f64, y(p)?)))
                .collect()
        };
        if ttft {
            out.push(ScatterSeries {
                label: t.clone(),
                colour: i,
                points: pick(true, |p| p.ttft_ms),
                sampled_from: m.chat_stream.ttft.len(),
                dashed: false,
            });
            continue;
        }
        for (stream, g, mode) in [
            (true, &m.chat_stream, "streamed"),
            (false, &m.chat_plain, "non-streamed"),
        ] {
            out.push(ScatterSeries {
                label: format!("{t} {mode}"),
                colour: i,
                points: pick(stream, |p| Some(p.e2e_ms)),
                sampled_from: g.ok,
                dashed: !stream,
            });
        }
    }
    out
}

/// Per canary phase: each target's p99 and error rate in it; None when the run is not a canary.
/// (target, palette index) and the phases.
type CanaryData = (Vec<(String, usize)>, Vec<CanaryPhase>);

fn canary(run: &Run) -> Option<CanaryData> {
    let c = run.meta.scenario.canary.as_ref()?;
    let targets: Vec<(String, usize)> = run
        .metrics
        .targets
        .keys()
        .enumerate()
        .map(|(i, t)| (t.clone(), i))
        .collect();
    let phases = c
        .phases
        .iter()
        .enumerate()
        .map(|(i, ph)| {
            let m = run.phases.get(&(i as u32));
            let metric = |name: &str| -> Vec<Option<f64>> {
                targets
                    .iter()
                    .map(|(t, _)| m.and_then(|m| m.metric(t, name)))
                    .collect()
            };
            CanaryPhase {
                name: ph.name.clone(),
                p99_ms: metric("p99_ms"),
                error_rate: metric("error_rate"),
            }
        })
        .collect();
    Some((targets, phases))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_points_rise_from_the_minimum_to_the_maximum_at_100_percent() {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        // 1, 2, ..., 200 ms, recorded in microseconds as the metrics do.
        for ms in 1..=200u64 {
            h.record(ms * 1000).unwrap();
        }
        let pts = cdf_points(&h);
        // Within the histogram's resolution (3 significant digits: 0.1%).
        let near = |got: (f64, f64), ms: f64, p: f64| {
            (got.0 - ms).abs() <= ms * 0.001 + 0.05 && got.1 == p
        };
        assert!(near(pts[0], 1.0, 0.0), "{pts:?}");
        assert!(near(pts[pts.len() - 1], 200.0, 100.0), "{pts:?}");
        assert!(pts.windows(2).all(|w| w[1].0 >= w[0].0 && w[1].1 > w[0].1));
        // The median of 1..=200 by value_at_quantile(0.5) is the 100th value.
        assert!(pts.iter().any(|q| near(*q, 100.0, 50.0)), "{pts:?}");
    }
}
