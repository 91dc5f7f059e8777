//! The live progress line, on stderr only (never in a report): the exact planned number of conversations (counted
//! from the deterministic plan, not estimated), how many are done, per target the requests ok and failed so far with
//! their p50 / p99 latency, and a distinct "draining N in flight" phase once the last conversation has arrived.
//!
//! On a terminal the line is redrawn in place four times a second and fits its width (80 columns when unknown); with
//! `--progress` and no terminal (a CI log) a full line is written every 5 s instead.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::record::{Outcome, Record, OP_CHAT};

/// Counters the dispatchers and conversation tasks update; the sink reads them to draw the line.
#[derive(Debug)]
pub struct Progress {
    /// Conversations the plan holds, over every target (exact); None in a closed run, which has no plan to count.
    total: Option<u64>,
    arrived: AtomicU64,
    finished: AtomicU64,
    /// Dispatchers still issuing arrivals.
    dispatching: AtomicUsize,
    started: Instant,
}

impl Progress {
    pub(crate) fn new(total: Option<u64>, dispatchers: usize) -> Progress {
        Progress {
            total,
            arrived: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            dispatching: AtomicUsize::new(dispatchers),
            started: Instant::now(),
        }
    }

    /// A conversation arrived (started, or was recorded as not sent).
    pub(crate) fn arrived(&self) {
        self.arrived.fetch_add(1, Ordering::Relaxed);
    }

    /// A conversation wrote its last record.
    pub(crate) fn finished(&self) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }

    /// A dispatcher issued its last arrival.
    pub(crate) fn dispatcher_done(&self) {
        self.dispatching.fetch_sub(1, Ordering::Relaxed);
    }

    fn phase(&self) -> Phase {
        if self.dispatching.load(Ordering::Relaxed) > 0 {
            Phase::Arriving
        } else {
            let (a, f) = (
                self.arrived.load(Ordering::Relaxed),
                self.finished.load(Ordering::Relaxed),
            );
            Phase::Draining {
                in_flight: a.saturating_sub(f),
            }
        }
    }
}

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Phase {
    Arriving,
    /// Every conversation has arrived; these are still being answered.
    Draining {
        in_flight: u64,
    },
}

/// One target's live figures.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TargetFigures {
    pub(crate) name: String,
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
}

/// Everything one progress line shows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Figures {
    pub(crate) elapsed: Duration,
    pub(crate) done: u64,
    pub(crate) total: Option<u64>,
    pub(crate) phase: Phase,
    pub(crate) targets: Vec<TargetFigures>,
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

fn lat(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.0}"))
}

/// One target's segment at a level of detail (0 = fullest).
fn segment(t: &TargetFigures, level: usize) -> String {
    let (ok, err, p50, p99) = (t.ok, t.errors, lat(t.p50_ms), lat(t.p99_ms));
    match level {
        0 => format!("{} ok {ok} err {err} p50 {p50} p99 {p99} ms", t.name),
        1 => format!("{} ok {ok} err {err} p50/99 {p50}/{p99}ms", t.name),
        2 => format!("{} {ok}ok {err}err {p50}/{p99}ms", t.name),
        3 => format!("{} {ok}/{err} {p50}/{p99}", short(&t.name, 7)),
        4 => format!("{} {ok}/{err} {p50}/{p99}", short(&t.name, 3)),
        _ => format!("{} {ok}/{err} {p99}", short(&t.name, 3)),
    }
}

fn short(name: &str, n: usize) -> String {
    name.chars().take(n).collect()
}

const SEGMENT_LEVELS: usize = 6;

/// The line's head: time, phase and conversations, fuller (0) or shorter (1).
fn head(f: &Figures, level: usize) -> String {
    let t = clock(f.elapsed);
    let done = match f.total {
        Some(total) => format!("{}/{total}", f.done),
        None => f.done.to_string(),
    };
    match (f.phase, level) {
        (Phase::Arriving, 0) => format!("{t} {done} conversations"),
        (Phase::Arriving, _) => format!("{t} {done}"),
        (Phase::Draining { in_flight }, 0) => {
            format!("{t} draining {in_flight} in flight, {done} conversations")
        }
        (Phase::Draining { in_flight }, _) => {
            format!("{t} draining {in_flight} in flight {done}")
        }
    }
}

/// The progress line for `width` columns: the fullest form that fits, else the shortest cut to the width.
pub(crate) fn format_line(f: &Figures, width: usize) -> String {
    let width = width.max(10);
    let build = |h: usize, s: usize| {
        let mut line = head(f, h);
        for t in &f.targets {
            line.push_str(" | ");
            line.push_str(&segment(t, s));
        }
        line
    };
    let mut shortest = String::new();
    for s in 0..SEGMENT_LEVELS {
        for h in 0..2 {
            let line = build(h, s);
            if line.chars().count() <= width {
                return line;
            }
            shortest = line;
        }
    }
    let mut cut: String = shortest.chars().take(width - 1).collect();
    cut.push('>');
    cut
}

/// The sink's side: per target latency histograms of finished chat requests, and the drawing.
pub(crate) struct Meter {
    progress: std::sync::Arc<Progress>,
    latency: BTreeMap<String, hdrhistogram::Histogram<u64>>,
    tty: bool,
    last_line: Option<Instant>,
}

/// Lines written without a terminal: one every this often, at most this wide.
const PLAIN_EVERY: Duration = Duration::from_secs(5);
const LOG_WIDTH: usize = 240;

impl Meter {
    pub(crate) fn new(progress: std::sync::Arc<Progress>) -> Meter {
        use std::io::IsTerminal;
        Meter {
            progress,
            latency: BTreeMap::new(),
            tty: std::io::stderr().is_terminal(),
            last_line: None,
        }
    }

    pub(crate) fn observe(&mut self, r: &Record) {
        // The report's headline latency (`p50_ms`, `p99_ms`): successful non-streamed chat requests.
        if r.op != OP_CHAT || r.stream || r.outcome != Some(Outcome::Ok) {
            return;
        }
        let Some(ms) = r.latency_ms else { return };
        let h = self.latency.entry(r.target.clone()).or_insert_with(|| {
            hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid bounds")
        });
        let _ = h.record((ms * 1000.0).max(1.0) as u64);
    }

    /// `counts`: per target, its name and the requests ok and failed so far (the sink's accounting).
    fn figures<'a>(&self, counts: impl IntoIterator<Item = (&'a str, u64, u64)>) -> Figures {
        let p = &self.progress;
        let q = |name: &str, q: f64| {
            self.latency
                .get(name)
                .filter(|h| !h.is_empty())
                .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
        };
        Figures {
            elapsed: p.started.elapsed(),
            done: p.finished.load(Ordering::Relaxed),
            total: p.total,
            phase: p.phase(),
            targets: counts
                .into_iter()
                .map(|(name, ok, errors)| TargetFigures {
                    name: name.to_string(),
                    ok,
                    errors,
                    p50_ms: q(name, 0.5),
                    p99_ms: q(name, 0.99),
                })
                .collect(),
        }
    }

    /// Redraw (terminal) or, every [`PLAIN_EVERY`], write a line (no terminal).
    pub(crate) fn tick<'a>(&mut self, counts: impl IntoIterator<Item = (&'a str, u64, u64)>) {
        let now = Instant::now();
        if !self.tty && self.last_line.is_some_and(|t| now - t < PLAIN_EVERY) {
            return;
        }
        self.last_line = Some(now);
        let figures = self.figures(counts);
        let mut err = std::io::stderr().lock();
        // One column spare on a terminal: a line that fills the last column wraps on some terminals.
        let _ = if self.tty {
            let line = format_line(&figures, terminal_width().saturating_sub(1));
            write!(err, "\r{line}\x1b[K")
        } else {
            // A log line is not redrawn: it may be as long as the figures need.
            writeln!(err, "cutover: {}", format_line(&figures, LOG_WIDTH))
        };
        let _ = err.flush();
    }

    /// Clear the line on a terminal, so the summary starts on a clean line; without one, write the final figures.
    pub(crate) fn finish<'a>(&mut self, counts: impl IntoIterator<Item = (&'a str, u64, u64)>) {
        if self.tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        } else {
            self.last_line = None;
            self.tick(counts);
        }
    }
}

/// Columns of the terminal on stderr, 80 when unknown.
fn terminal_width() -> usize {
    console::Term::stderr()
        .size_checked()
        .map_or(80, |(_, cols)| usize::from(cols))
}

#[cfg(test)]
mod tests;
