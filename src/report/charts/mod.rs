//! Charts for the run report: latency by percentile and as a CDF, latency and error rate per interval, TTFT and
//! end-to-end time against output tokens, throughput and errors over time, projected cost per model, canary phases,
//! a baseline-vs-current overlay for `compare`, and a trend over past runs' dates.
//!
//! Every function writes one image (PNG, or SVG when the path ends in `.svg`) and never panics on odd input:
//! non-finite values are dropped, empty inputs give a chart that says "no data", a single point or all-zero values
//! still get a sensible axis. Text uses DejaVu Sans from the `dejavu` crate, registered once with plotters'
//! `ab_glyph` backend, so no system font is needed.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

pub use canary::{canary_phases, CanaryPhase};
pub use cdf::{compare_overlay, latency_cdf, CdfCurve, OverlayTarget, SloLine};
pub(crate) use cost::cost;
pub(crate) use latency::latency_percentiles;
pub use over_time::{over_time, IntervalPoint, IntervalSeries};
pub use scatter::{tokens_scatter, ScatterSeries};
pub(crate) use series::errors_and_throughput;
#[cfg(test)]
pub(crate) use series::time_series;
pub(crate) use style::ensure_font;
pub use trend::trend;

/// The image format of chart files (`--chart-format`); report.html inlines SVG either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChartFormat {
    #[default]
    Png,
    Svg,
}

impl ChartFormat {
    /// The file extension, without the dot.
    pub(crate) fn ext(self) -> &'static str {
        match self {
            ChartFormat::Png => "png",
            ChartFormat::Svg => "svg",
        }
    }

    /// `stem.png` or `stem.svg`.
    pub(crate) fn file(self, stem: &str) -> String {
        format!("{stem}.{}", self.ext())
    }
}

impl std::str::FromStr for ChartFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "png" => Ok(ChartFormat::Png),
            "svg" => Ok(ChartFormat::Svg),
            _ => Err(format!("unknown chart format {s:?}: expected png or svg")),
        }
    }
}

/// The colour of target number `i` (its place among the run's targets in name order) on every chart.
pub(crate) fn target_colour(i: usize) -> RGBColor {
    style::colour(i)
}

/// Width of every chart, in pixels.
pub(crate) const WIDTH: u32 = 1200;
/// Height of every chart, in pixels.
pub(crate) const HEIGHT: u32 = 700;
/// Height of the two-panel errors-and-throughput chart, in pixels.
pub(crate) const TALL_HEIGHT: u32 = 900;
/// The font family all text is drawn with (registered from the `dejavu` crate).
pub(crate) const FONT: &str = "DejaVu Sans";

/// One latency-by-percentile curve, e.g. from an HDR histogram.
#[derive(Clone, Debug)]
pub(crate) struct LatencyCurve {
    /// Legend text, e.g. "legacy (non-stream)".
    pub(crate) label: String,
    /// (percentile in 0..100, e.g. 50, 90, 99, 99.9; latency in ms).
    pub(crate) points: Vec<(f64, f64)>,
    /// Palette index: the target's, so a target has one colour on every chart.
    pub(crate) colour: usize,
    /// Line style per metric: dashed (e.g. TTFT) or solid (latency).
    pub(crate) dashed: bool,
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
pub(crate) struct CostBar {
    pub(crate) target: String,
    pub(crate) model: String,
    /// What this run cost, USD.
    pub(crate) run_cost_usd: f64,
    /// Projected monthly cost, USD.
    pub(crate) monthly_usd: f64,
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
// Backend dispatch: PNG by default, SVG when asked for by extension

pub(super) type DrawResult<DB> =
    Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

pub(super) fn is_svg(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
}

pub(super) fn draw_err(path: &Path, e: impl std::fmt::Display) -> ChartError {
    ChartError::Draw {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Where a chart goes: a file (PNG, or SVG by extension) or an SVG document in a string (inlined in report.html).
pub enum Out<'a> {
    File(&'a Path),
    Svg(&'a mut String),
}

impl<'a> From<&'a Path> for Out<'a> {
    fn from(p: &'a Path) -> Self {
        Out::File(p)
    }
}

impl<'a> From<&'a std::path::PathBuf> for Out<'a> {
    fn from(p: &'a std::path::PathBuf) -> Self {
        Out::File(p)
    }
}

impl<'a> From<&'a mut String> for Out<'a> {
    fn from(s: &'a mut String) -> Self {
        Out::Svg(s)
    }
}

/// Run `$body` (a generic fn over the backend taking the root area) with the right backend for `$out`,
/// then flush the file or string.
macro_rules! render {
    ($out:expr, $size:expr, $body:ident ( $($arg:expr),* )) => {{
        ensure_font()?;
        match $out.into() {
            Out::Svg(s) => {
                let path = Path::new("<inline svg>");
                let root = SVGBackend::with_string(s, $size).into_drawing_area();
                $body(&root $(, $arg)*).map_err(|e| draw_err(path, e))?;
                root.present().map_err(|e| draw_err(path, e))
            }
            Out::File(path) if is_svg(path) => {
                let root = SVGBackend::new(path, $size).into_drawing_area();
                $body(&root $(, $arg)*).map_err(|e| draw_err(path, e))?;
                root.present().map_err(|e| draw_err(path, e))
            }
            Out::File(path) => {
                let root = BitMapBackend::new(path, $size).into_drawing_area();
                $body(&root $(, $arg)*).map_err(|e| draw_err(path, e))?;
                root.present().map_err(|e| draw_err(path, e))
            }
        }
    }};
}

// The chart files come after the `render!` macro they use.
mod canary;
mod cdf;
mod cost;
mod latency;
mod over_time;
pub(crate) mod plan;
mod scatter;
mod series;
mod style;
mod trend;

#[cfg(test)]
mod tests;
