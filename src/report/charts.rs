//! Charts for the run report: latency by percentile, throughput and errors over time, projected cost per model,
//! and a trend over past runs.
//!
//! Every function writes one image (PNG, or SVG when the path ends in `.svg`) and never panics on odd input:
//! non-finite values are dropped, empty inputs give a chart that says "no data", a single point or all-zero values
//! still get a sensible axis. Text uses DejaVu Sans from the `dejavu` crate, registered once with plotters'
//! `ab_glyph` backend, so no system font is needed.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width of every chart, in pixels.
pub const WIDTH: u32 = 1200;
/// Height of every chart, in pixels.
pub const HEIGHT: u32 = 700;
/// Height of the two-panel errors-and-throughput chart, in pixels.
pub const TALL_HEIGHT: u32 = 900;
/// The font family all text is drawn with (registered from the `dejavu` crate).
pub const FONT: &str = "DejaVu Sans";

/// One latency-by-percentile curve, e.g. from an HDR histogram.
#[derive(Clone, Debug)]
pub struct LatencyCurve {
    /// Legend text, e.g. "legacy (non-stream)".
    pub label: String,
    /// (percentile in 0..100, e.g. 50, 90, 99, 99.9; latency in ms).
    pub points: Vec<(f64, f64)>,
}

/// One line over time (or over run index, for trends).
#[derive(Clone, Debug)]
pub struct TimeSeries {
    /// Legend text, e.g. "gateway ok/s".
    pub label: String,
    /// (seconds since run start, or run index; value).
    pub points: Vec<(f64, f64)>,
}

/// Cost of one model on one target.
#[derive(Clone, Debug)]
pub struct CostBar {
    pub target: String,
    pub model: String,
    /// What this run cost, USD.
    pub run_cost_usd: f64,
    /// Projected monthly cost, USD.
    pub monthly_usd: f64,
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("cannot load the embedded chart font {FONT}")]
    Font,
    #[error("cannot draw chart {path}: {message}")]
    Draw { path: String, message: String },
}

// ---------------------------------------------------------------------------------------------------------------
// Fonts, colours, text styles

static FONT_ONCE: Once = Once::new();
static FONT_OK: AtomicBool = AtomicBool::new(false);

pub(crate) fn ensure_font() -> Result<(), ChartError> {
    FONT_ONCE.call_once(|| {
        use plotters::style::register_font;
        let ok = register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && register_font(FONT, FontStyle::Bold, dejavu::sans::bold()).is_ok()
            // plotters' own defaults (e.g. for an element we forgot to style) ask for "sans-serif":
            // make that resolve too rather than fail with "font unavailable".
            && register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).is_ok();
        FONT_OK.store(ok, Ordering::SeqCst);
    });
    if FONT_OK.load(Ordering::SeqCst) {
        Ok(())
    } else {
        Err(ChartError::Font)
    }
}

/// Tableau-10: distinct, colour-blind-friendlier than the plotters palette, readable on white.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

const GREY: RGBColor = RGBColor(110, 110, 110);

fn font(size: u32) -> TextStyle<'static> {
    (FONT, size as f64).into_font().color(&BLACK)
}

fn bold(size: u32) -> TextStyle<'static> {
    (FONT, size as f64, FontStyle::Bold)
        .into_font()
        .color(&BLACK)
}

const TITLE_SIZE: u32 = 26;
const DESC_SIZE: u32 = 18;
const LABEL_SIZE: u32 = 15;
const LEGEND_SIZE: u32 = 16;

// ---------------------------------------------------------------------------------------------------------------
// Backend dispatch: PNG by default, SVG when asked for by extension

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn is_svg(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
}

fn draw_err(path: &Path, e: impl std::fmt::Display) -> ChartError {
    ChartError::Draw {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Run `$body` (a generic fn over the backend taking the root area) with the right backend for `$path`,
/// then flush the file.
macro_rules! render {
    ($path:expr, $size:expr, $body:ident ( $($arg:expr),* )) => {{
        let path: &Path = $path;
        ensure_font()?;
        if is_svg(path) {
            let root = SVGBackend::new(path, $size).into_drawing_area();
            $body(&root $(, $arg)*).map_err(|e| draw_err(path, e))?;
            root.present().map_err(|e| draw_err(path, e))
        } else {
            let root = BitMapBackend::new(path, $size).into_drawing_area();
            $body(&root $(, $arg)*).map_err(|e| draw_err(path, e))?;
            root.present().map_err(|e| draw_err(path, e))
        }
    }};
}

// ---------------------------------------------------------------------------------------------------------------
// Number formatting and ranges

/// 1234567.8 -> "1,234,568"; with `decimals` digits after the point.
fn thousands(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = match s.find('.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s.as_str(), ""),
    };
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    let neg = v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0');
    format!("{}{}{}", if neg { "-" } else { "" }, out, frac)
}

/// Axis tick text: thousands separators, decimals only where the step needs them.
fn tick(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 || step <= 0.0 || !step.is_finite() {
        0
    } else {
        ((-step.log10()).ceil() as usize).min(6)
    };
    thousands(v, decimals)
}

/// Dollars for an axis or label: "$12,345", cents when small.
fn usd(v: f64) -> String {
    if v > 0.0 && v < 0.005 {
        "<$0.01".to_string()
    } else if v.abs() < 10.0 && v != 0.0 {
        format!("${}", thousands(v, 2))
    } else {
        format!("${}", thousands(v, 0))
    }
}

/// Nice upper bound for a value axis that starts at zero: the max plus headroom, never empty.
fn upper(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        1.0
    } else {
        max * 1.12
    }
}

/// Top of a zero-based value axis leaving a band above the data for a legend of `rows` entries drawn in the
/// top corner of a plot `plot_h` pixels high, so the legend never hides data.
fn top_with_legend(max: f64, rows: usize, plot_h: u32) -> f64 {
    let base = upper(max);
    let legend_px = (rows as f64) * 21.0 + 40.0;
    let frac = (legend_px / f64::from(plot_h.max(1))).clamp(0.1, 0.6);
    let top = base.max(max / (1.0 - frac));
    if top.is_finite() && top > 0.0 {
        top
    } else {
        base
    }
}

/// Approximate height of the plotting area of a chart built with caption, `margin` and `x_label_area`.
fn plot_height<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    margin: u32,
    x_label_area: u32,
    title: u32,
) -> u32 {
    let (_, h) = area.dim_in_pixel();
    h.saturating_sub(2 * margin + x_label_area + title + 14)
}

/// A range around [lo, hi] that is never empty.
fn span(lo: f64, hi: f64) -> (f64, f64) {
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if hi > lo {
        (lo, hi)
    } else {
        let pad = if lo.abs() > 1.0 { lo.abs() * 0.1 } else { 1.0 };
        (lo - pad, hi + pad)
    }
}

/// Step between ~`n` ticks on [0, max] (for label precision).
fn step_for(lo: f64, hi: f64, n: usize) -> f64 {
    let raw = (hi - lo).abs() / n.max(1) as f64;
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// Pixels needed for y tick labels like `sample` (rough: DejaVu at LABEL_SIZE is ~9 px per character).
fn label_area(sample: &str) -> u32 {
    (sample.chars().count() as u32 * 9 + 24).clamp(60, 220)
}

type Points = Vec<(f64, f64)>;

fn finite_points(points: &[(f64, f64)]) -> Points {
    let mut v: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Title plus a centred "no data" message.
fn no_data<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    why: &str,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (w, h) = root.dim_in_pixel();
    let centre = Pos::new(HPos::Center, VPos::Center);
    root.draw(&Text::new(
        shorten(title, 90),
        (w as i32 / 2, 30),
        bold(TITLE_SIZE).pos(centre),
    ))?;
    root.draw(&Text::new(
        "no data".to_string(),
        (w as i32 / 2, h as i32 / 2 - 16),
        bold(32).color(&GREY).pos(centre),
    ))?;
    if !why.is_empty() {
        root.draw(&Text::new(
            why.to_string(),
            (w as i32 / 2, h as i32 / 2 + 24),
            font(DESC_SIZE).color(&GREY).pos(centre),
        ))?;
    }
    Ok(())
}

fn legend_marker(c: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3))
}

/// A linear f64 axis whose ticks (bold grid lines) and light grid lines are given, not computed.
struct FixedTicks {
    lo: f64,
    hi: f64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl Ranged for FixedTicks {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let len = f64::from(limit.1 - limit.0);
        if self.hi <= self.lo || !v.is_finite() {
            return limit.0;
        }
        let t = ((v - self.lo) / (self.hi - self.lo)).clamp(-1.0, 2.0);
        limit.0 + (len * t).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Latency by percentile

/// log10(1 / (1 - p/100)): 0% -> 0, 90% -> 1, 99% -> 2, 99.9% -> 3 ...
fn nines(p: f64) -> f64 {
    (1.0 / (1.0 - p / 100.0)).log10()
}

/// Tick text for log10(1/(1-p)) = i: "0%", "90%", "99%", "99.9%", "99.99%" ...
fn nines_label(i: f64) -> String {
    let r = i.round();
    if (i - r).abs() > 1e-6 || r < 0.0 {
        return String::new();
    }
    match r as u32 {
        0 => "0%".into(),
        1 => "90%".into(),
        2 => "99%".into(),
        n => format!("99.{}%", "9".repeat((n - 2).min(12) as usize)),
    }
}

fn percentile_label(p: f64) -> String {
    let s = format!("{p:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("p{s}")
}

/// The classic HdrHistogram plot: latency (ms) against percentile on a "number of nines" log axis.
/// Percentiles outside [0, 100) (100 itself maps to infinity) and non-finite values are dropped.
pub fn latency_percentiles(
    path: &Path,
    title: &str,
    curves: &[LatencyCurve],
) -> Result<(), ChartError> {
    render!(path, (WIDTH, HEIGHT), draw_latency(title, curves))
}

fn draw_latency<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    curves: &[LatencyCurve],
) -> DrawResult<DB> {
    let curves: Vec<(String, Points, Points)> = curves
        .iter()
        .map(|c| {
            let raw: Vec<(f64, f64)> = finite_points(&c.points)
                .into_iter()
                .filter(|(p, _)| (0.0..100.0).contains(p))
                .collect();
            let pts = raw.iter().map(|(p, ms)| (nines(*p), *ms)).collect();
            (c.label.clone(), raw, pts)
        })
        .filter(|(_, _, pts): &(String, _, Points)| !pts.is_empty())
        .collect();
    if curves.is_empty() {
        return no_data(root, title, "no latency samples were recorded");
    }
    root.fill(&WHITE)?;
    let max_x = curves
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(x, _)| *x))
        .fold(0.0f64, f64::max);
    // Whole decades, at least up to 99%, at most 99.9999999999%.
    let decades = (max_x - 1e-9).ceil().clamp(2.0, 14.0);
    let max_y = curves
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(_, y)| *y))
        .fold(0.0f64, f64::max);
    let top = top_with_legend(max_y, curves.len(), plot_height(root, 20, 60, TITLE_SIZE));
    let y_step = step_for(0.0, top, 10);

    let bold_points: Vec<f64> = (0..=decades as u32).map(f64::from).collect();
    let light_points: Vec<f64> = (0..decades as u32)
        .flat_map(|d| (2..10).map(move |k| d as f64 + (k as f64).log10()))
        .collect();
    let x_range = FixedTicks {
        lo: 0.0,
        hi: decades,
        bold: bold_points,
        light: light_points,
    };

    let mut chart = ChartBuilder::on(root)
        .caption(shorten(title, 90), bold(TITLE_SIZE))
        .margin(20)
        .margin_right(50)
        .x_label_area_size(60)
        .y_label_area_size(label_area(&tick(top, y_step)))
        .build_cartesian_2d(x_range, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_label_formatter(&|x| nines_label(*x))
        .y_label_formatter(&|y| tick(*y, y_step))
        .y_labels(10)
        .label_style(font(LABEL_SIZE))
        .axis_desc_style(font(DESC_SIZE))
        .bold_line_style(BLACK.mix(0.18))
        .light_line_style(BLACK.mix(0.06))
        .draw()?;

    for (i, (label, raw, pts)) in curves.iter().enumerate() {
        let c = colour(i);
        // Legend: label plus the headline percentiles the curve has.
        let mut legend = shorten(label, 48);
        let key: Vec<String> = [50.0, 99.0]
            .iter()
            .filter_map(|want| {
                raw.iter()
                    .find(|(p, _)| (p - want).abs() < 1e-9)
                    .map(|(p, ms)| format!("{} {} ms", percentile_label(*p), thousands(*ms, 1)))
            })
            .collect();
        if !key.is_empty() {
            legend = format!("{legend}  ({})", key.join(", "));
        }
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(3)))?
            .label(legend)
            .legend(legend_marker(c));
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .margin(12)
        .label_font(font(LEGEND_SIZE))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Time series

struct Panel<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    /// Whole-number x ticks (run index).
    integer_x: bool,
    /// Markers on every point (otherwise only for very short series).
    markers: bool,
    /// Text shown when there are series but every value is zero, e.g. "no errors".
    all_zero_note: &'a str,
    legend_pos: SeriesLabelPosition,
}

/// Lines over time, one per series, with a legend.
pub fn time_series(
    path: &Path,
    title: &str,
    y_label: &str,
    series: &[TimeSeries],
) -> Result<(), ChartError> {
    let panel = Panel {
        title,
        x_desc: "seconds since start",
        y_desc: y_label,
        integer_x: false,
        markers: false,
        all_zero_note: "",
        legend_pos: SeriesLabelPosition::UpperRight,
    };
    render!(path, (WIDTH, HEIGHT), draw_panel_root(&panel, series))
}

/// Two stacked panels sharing colours by index: throughput (ok requests/s) on top, errors/s below.
pub fn errors_and_throughput(
    path: &Path,
    throughput: &[TimeSeries],
    errors: &[TimeSeries],
) -> Result<(), ChartError> {
    render!(
        path,
        (WIDTH, TALL_HEIGHT),
        draw_errors_and_throughput(throughput, errors)
    )
}

/// Nightly history: one line per series over run index (or date ordinal), with markers.
pub fn trend(path: &Path, title: &str, series: &[TimeSeries]) -> Result<(), ChartError> {
    let panel = Panel {
        title,
        x_desc: "run (oldest first)",
        y_desc: "",
        integer_x: true,
        markers: true,
        all_zero_note: "",
        legend_pos: SeriesLabelPosition::UpperLeft,
    };
    render!(path, (WIDTH, HEIGHT), draw_panel_root(&panel, series))
}

fn draw_panel_root<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panel: &Panel,
    series: &[TimeSeries],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    draw_panel(root, panel, series)
}

fn draw_errors_and_throughput<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    throughput: &[TimeSeries],
    errors: &[TimeSeries],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (_, h) = root.dim_in_pixel();
    let (top, bottom) = root.split_vertically(h as i32 * 55 / 100);
    draw_panel(
        &top,
        &Panel {
            title: "Throughput",
            x_desc: "seconds since start",
            y_desc: "ok requests/s",
            integer_x: false,
            markers: false,
            all_zero_note: "no successful requests",
            legend_pos: SeriesLabelPosition::UpperRight,
        },
        throughput,
    )?;
    draw_panel(
        &bottom,
        &Panel {
            title: "Errors",
            x_desc: "seconds since start",
            y_desc: "errors/s",
            integer_x: false,
            markers: false,
            all_zero_note: "no errors",
            legend_pos: SeriesLabelPosition::UpperRight,
        },
        errors,
    )
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    series: &[TimeSeries],
) -> DrawResult<DB> {
    // Keep the index of every input series so colours match across panels even if one is empty.
    let series: Vec<(usize, &str, Points)> = series
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.label.as_str(), finite_points(&s.points)))
        .filter(|(_, _, p)| !p.is_empty())
        .collect();
    if series.is_empty() {
        return no_data(area, panel.title, "no samples in this series");
    }
    let all = || series.iter().flat_map(|(_, _, p)| p.iter().copied());
    let (x_lo, x_hi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (x, _)| {
        (lo.min(x), hi.max(x))
    });
    let (x_raw_lo, x_raw_hi) = (x_lo, x_hi);
    let (x_lo, x_hi) = span(x_lo, x_hi);
    let (y_min, y_max) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, y)| {
        (lo.min(y), hi.max(y))
    });
    // Value axes start at zero unless values go negative.
    let (_, h) = area.dim_in_pixel();
    let title_size = if h < 450 { 22 } else { TITLE_SIZE };
    let (y_lo, y_hi) = if y_min >= 0.0 {
        (
            0.0,
            top_with_legend(y_max, series.len(), plot_height(area, 18, 55, title_size)),
        )
    } else {
        let (lo, hi) = span(y_min, y_max.max(0.0));
        let pad = (hi - lo) * 0.08;
        (lo - pad, hi + pad)
    };
    let all_zero = y_min == 0.0 && y_max == 0.0;
    let y_step = step_for(y_lo, y_hi, 8);
    let x_step = step_for(x_lo, x_hi, 12);
    let y_sample = tick(y_hi, y_step);
    let y_sample = if tick(y_lo, y_step).len() > y_sample.len() {
        tick(y_lo, y_step)
    } else {
        y_sample
    };
    let y_labels = if h < 450 { 6 } else { 9 };

    let x_int_lo = x_raw_lo.floor();
    let x_int_hi = x_raw_hi.ceil();
    let int_x = panel.integer_x && x_int_hi - x_int_lo <= 40.0;
    let (x_lo, x_hi) = if int_x {
        (x_int_lo - 0.5, x_int_hi + 0.5)
    } else {
        (x_lo, x_hi)
    };

    let mut chart = ChartBuilder::on(area)
        .caption(shorten(panel.title, 90), bold(title_size))
        .margin(18)
        .margin_right(45)
        .x_label_area_size(55)
        .y_label_area_size(label_area(&y_sample))
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
    let x_fmt = |x: &f64| {
        if int_x {
            if (x - x.round()).abs() < 1e-9 {
                thousands(*x, 0)
            } else {
                String::new()
            }
        } else {
            tick(*x, x_step)
        }
    };
    let y_fmt = |y: &f64| tick(*y, y_step);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(panel.x_desc)
        .y_desc(panel.y_desc)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .y_labels(y_labels)
        .label_style(font(LABEL_SIZE))
        .axis_desc_style(font(DESC_SIZE))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(BLACK.mix(0.03));
    if int_x {
        mesh.x_labels(((x_int_hi - x_int_lo) as usize + 1).max(2));
    } else {
        mesh.x_labels(12);
    }
    mesh.draw()?;

    for (i, label, pts) in &series {
        let c = colour(*i);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
            .label(shorten(label, 48))
            .legend(legend_marker(c));
        if panel.markers || pts.len() <= 2 {
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, c.filled())))?;
        }
    }
    chart
        .configure_series_labels()
        .position(panel.legend_pos.clone())
        .margin(10)
        .label_font(font(LEGEND_SIZE))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    if all_zero && !panel.all_zero_note.is_empty() {
        let plot = chart.plotting_area().strip_coord_spec();
        let (pw, ph) = plot.dim_in_pixel();
        plot.draw(&Text::new(
            panel.all_zero_note.to_string(),
            (pw as i32 / 2, ph as i32 / 2),
            font(DESC_SIZE + 2)
                .color(&GREY)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Cost

/// Grouped bars: one group per model, one bar (colour) per target, monthly USD on the y axis; the legend gives
/// each target's monthly total and what the run itself cost. Entries for the same (target, model) are added up;
/// negative or non-finite amounts count as zero.
pub fn cost(path: &Path, title: &str, bars: &[CostBar]) -> Result<(), ChartError> {
    render!(path, (WIDTH, HEIGHT), draw_cost(title, bars))
}

fn clean_usd(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v
    } else {
        0.0
    }
}

fn draw_cost<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    bars: &[CostBar],
) -> DrawResult<DB> {
    if bars.is_empty() {
        return no_data(root, title, "no cost lines (no priced requests)");
    }
    let mut models: Vec<&str> = Vec::new();
    let mut targets: Vec<&str> = Vec::new();
    for b in bars {
        if !models.contains(&b.model.as_str()) {
            models.push(&b.model);
        }
        if !targets.contains(&b.target.as_str()) {
            targets.push(&b.target);
        }
    }
    // monthly[target][model], run totals per target
    let mut monthly = vec![vec![0.0f64; models.len()]; targets.len()];
    let mut present = vec![vec![false; models.len()]; targets.len()];
    let mut run_total = vec![0.0f64; targets.len()];
    for b in bars {
        let t = targets.iter().position(|t| *t == b.target).unwrap_or(0);
        let m = models.iter().position(|m| *m == b.model).unwrap_or(0);
        monthly[t][m] += clean_usd(b.monthly_usd);
        present[t][m] = true;
        run_total[t] += clean_usd(b.run_cost_usd);
    }
    root.fill(&WHITE)?;
    let max = monthly
        .iter()
        .flat_map(|r| r.iter().copied())
        .fold(0.0f64, f64::max);
    let top = top_with_legend(max, targets.len(), plot_height(root, 20, 60, TITLE_SIZE));
    let y_step = step_for(0.0, top, 10);
    let y_fmt = |y: &f64| {
        if y_step < 1.0 {
            format!("${}", tick(*y, y_step))
        } else {
            usd(*y)
        }
    };
    let n_models = models.len();
    let n_targets = targets.len();
    let group_w = 0.8;
    let bar_w = group_w / n_targets as f64;
    let centres: Vec<f64> = (0..n_models).map(|i| i as f64 + 0.5).collect();
    let x_range = FixedTicks {
        lo: 0.0,
        hi: n_models as f64,
        bold: centres,
        light: Vec::new(),
    };
    let max_label = (1100 / n_models.max(1) / 9).clamp(6, 40);
    let model_names: Vec<String> = models.iter().map(|m| shorten(m, max_label)).collect();
    let x_fmt = |x: &f64| {
        let i = (x - 0.5).round();
        if (x - 0.5 - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < model_names.len() {
            model_names[i as usize].clone()
        } else {
            String::new()
        }
    };
    let mut chart = ChartBuilder::on(root)
        .caption(shorten(title, 90), bold(TITLE_SIZE))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(label_area(&y_fmt(&top)))
        .build_cartesian_2d(x_range, 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("model")
        .y_desc("projected monthly cost (USD)")
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .y_labels(10)
        .label_style(font(LABEL_SIZE))
        .axis_desc_style(font(DESC_SIZE))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(TRANSPARENT)
        .draw()?;

    // Value labels on the bars only while they fit.
    let bar_px = 1100.0 * bar_w / n_models as f64;
    let value_labels = bar_px >= 60.0;
    for (t, name) in targets.iter().enumerate() {
        let c = colour(t);
        let total: f64 = monthly[t].iter().sum();
        let rects: Vec<Rectangle<(f64, f64)>> = (0..n_models)
            .filter(|m| present[t][*m])
            .map(|m| {
                let x0 = m as f64 + (1.0 - group_w) / 2.0 + t as f64 * bar_w;
                Rectangle::new(
                    [(x0 + 0.01, 0.0), (x0 + bar_w - 0.01, monthly[t][m])],
                    c.filled(),
                )
            })
            .collect();
        chart
            .draw_series(rects)?
            .label(format!(
                "{}: {}/month (this run {})",
                shorten(name, 32),
                usd(total),
                usd(run_total[t])
            ))
            .legend(move |(x, y)| Rectangle::new([(x, y - 7), (x + 20, y + 7)], c.filled()));
        if value_labels {
            let labels: Vec<Text<'_, (f64, f64), String>> = (0..n_models)
                .filter(|m| present[t][*m])
                .map(|m| {
                    let x = m as f64 + (1.0 - group_w) / 2.0 + (t as f64 + 0.5) * bar_w;
                    Text::new(
                        usd(monthly[t][m]),
                        (x, monthly[t][m]),
                        font(14).pos(Pos::new(HPos::Center, VPos::Bottom)),
                    )
                })
                .collect();
            chart.draw_series(labels)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .margin(12)
        .label_font(font(LEGEND_SIZE))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests;
