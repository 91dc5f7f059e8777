//! What every chart shares: the font, the palette, text sizes, number formatting, axis ranges and ticks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{ChartError, DrawResult, TimeSeries, FONT};

// ---------------------------------------------------------------------------------------------------------------
// Fonts, colours, text styles

pub(super) static FONT_ONCE: Once = Once::new();
pub(super) static FONT_OK: AtomicBool = AtomicBool::new(false);

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

/// Okabe-Ito: told apart by the common colour-vision deficiencies (no red/green pair), readable on white.
/// Yellow is left out (too pale on white); index i is target number i on every chart.
pub(super) const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(230, 159, 0),   // orange
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 0, 0),       // black
];

pub(super) fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

pub(super) const GREY: RGBColor = RGBColor(110, 110, 110);

pub(super) fn font(size: u32) -> TextStyle<'static> {
    (FONT, size as f64).into_font().color(&BLACK)
}

pub(super) fn bold(size: u32) -> TextStyle<'static> {
    (FONT, size as f64, FontStyle::Bold)
        .into_font()
        .color(&BLACK)
}

pub(super) const TITLE_SIZE: u32 = 26;
pub(super) const DESC_SIZE: u32 = 18;
pub(super) const LABEL_SIZE: u32 = 15;
pub(super) const LEGEND_SIZE: u32 = 16;

// ---------------------------------------------------------------------------------------------------------------
// Number formatting and ranges

/// 1234567.8 -> "1,234,568"; with `decimals` digits after the point (the one formatter in `format.rs`).
pub(super) fn thousands(v: f64, decimals: usize) -> String {
    crate::format::decimal(v, decimals)
}

/// Axis tick text: thousands separators, decimals only where the step needs them.
pub(super) fn tick(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 || step <= 0.0 || !step.is_finite() {
        0
    } else {
        ((-step.log10()).ceil() as usize).min(6)
    };
    thousands(v, decimals)
}

/// Dollars for an axis or label: "$12,345", cents when small.
pub(super) fn usd(v: f64) -> String {
    if v > 0.0 && v < 0.005 {
        "<$0.01".to_string()
    } else if v.abs() < 10.0 && v != 0.0 {
        format!("${}", thousands(v, 2))
    } else {
        format!("${}", thousands(v, 0))
    }
}

/// Nice upper bound for a value axis that starts at zero: the max plus headroom, never empty.
pub(super) fn upper(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        1.0
    } else {
        max * 1.12
    }
}

/// Top of a zero-based value axis leaving a band above the data for a legend of `rows` entries drawn in the
/// top corner of a plot `plot_h` pixels high, so the legend never hides data.
pub(super) fn top_with_legend(max: f64, rows: usize, plot_h: u32) -> f64 {
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
pub(super) fn plot_height<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    margin: u32,
    x_label_area: u32,
    title: u32,
) -> u32 {
    let (_, h) = area.dim_in_pixel();
    h.saturating_sub(2 * margin + x_label_area + title + 14)
}

/// A range around [lo, hi] that is never empty.
pub(super) fn span(lo: f64, hi: f64) -> (f64, f64) {
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
pub(super) fn step_for(lo: f64, hi: f64, n: usize) -> f64 {
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
pub(super) fn label_area(sample: &str) -> u32 {
    (sample.chars().count() as u32 * 9 + 24).clamp(60, 220)
}

pub(super) type Points = Vec<(f64, f64)>;

pub(super) fn finite_points(points: &[(f64, f64)]) -> Points {
    let mut v: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

/// The series that have finite points, each with its index among all of them: the index is its colour, so colours
/// match across panels and charts even when one series is empty.
pub(super) fn indexed_series(series: &[TimeSeries]) -> Vec<(usize, &str, Points)> {
    series
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.label.as_str(), finite_points(&s.points)))
        .filter(|(_, _, p)| !p.is_empty())
        .collect()
}

pub(super) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Title plus a centred "no data" message.
pub(super) fn no_data<DB: DrawingBackend>(
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

pub(super) fn legend_marker(c: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3))
}

/// The legend box every chart uses, at `pos`.
pub(super) fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    pos: SeriesLabelPosition,
) -> DrawResult<DB> {
    chart
        .configure_series_labels()
        .position(pos)
        .margin(10)
        .label_font(font(LEGEND_SIZE))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()
}

/// A linear f64 axis whose ticks (bold grid lines) and light grid lines are given, not computed.
pub(super) struct FixedTicks {
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) bold: Vec<f64>,
    pub(super) light: Vec<f64>,
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
